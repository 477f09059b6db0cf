// Small SVG charts (no library): bars for a distribution, a line for θ over time.
import { html } from "./lib.js";

export function Bars({ data, label }) {
  const w = 320, h = 140, pad = 20;
  const max = Math.max(1, ...data.map((d) => d.value));
  const bw = (w - pad * 2) / Math.max(data.length, 1);
  return html`<figure class="chart"><svg viewBox=${`0 0 ${w} ${h}`} role="img" aria-label=${label}>
    <line class="axis" x1=${pad} y1=${h - pad} x2=${w - pad} y2=${h - pad} />
    ${data.map((d, i) => {
      const bh = ((h - pad * 2) * d.value) / max;
      return html`<g><rect class="bar" x=${pad + i * bw + 2} y=${h - pad - bh} width=${Math.max(bw - 4, 1)} height=${bh}><title>${d.label}: ${d.value}</title></rect>
        <text x=${pad + i * bw + bw / 2} y=${h - 6} text-anchor="middle">${d.label}</text>
        ${d.value > 0 && html`<text x=${pad + i * bw + bw / 2} y=${h - pad - bh - 3} text-anchor="middle">${d.value}</text>`}</g>`;
    })}
  </svg><figcaption class="muted">${label}</figcaption></figure>`;
}

export function Line({ points, label }) {
  const w = 320, h = 160, pad = 24;
  if (!points.length) return null;
  const ys = points.map((p) => p.y);
  const lo = Math.min(-1, ...ys), hi = Math.max(1, ...ys);
  const x = (i) => pad + (points.length === 1 ? (w - pad * 2) / 2 : (i * (w - pad * 2)) / (points.length - 1));
  const y = (v) => h - pad - ((v - lo) * (h - pad * 2)) / (hi - lo);
  const d = points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.y).toFixed(1)}`).join(" ");
  return html`<figure class="chart"><svg viewBox=${`0 0 ${w} ${h}`} role="img" aria-label=${label}>
    <line class="axis" x1=${pad} y1=${y(0)} x2=${w - pad} y2=${y(0)} />
    <text x="2" y=${y(hi) + 4}>${hi.toFixed(1)}</text><text x="2" y=${y(lo) + 4}>${lo.toFixed(1)}</text>
    <path class="line" d=${d} />
    ${points.map((p, i) => html`<circle cx=${x(i)} cy=${y(p.y)} r="3" class="bar"><title>${p.label}: ${p.y.toFixed(2)}</title></circle>`)}
  </svg><figcaption class="muted">${label}</figcaption></figure>`;
}
