// Dashboards: a teacher's exam statistics (score distribution, item statistics, drift flags),
// a student's results and θ over time, a parent's children.
import { html, useEffect, useState } from "../lib.js";
import { api } from "../api.js";
import { chat } from "../chat.js";
import { Bars, Line } from "../chart.js";
import { formatDateTime, t } from "../i18n.js";
import { isParent, isStaff, isStudent } from "../roles.js";
import { useStore } from "../store.js";

// A drifted item's proposed parameters: accept them as current, or reject them.
function DriftReview({ item }) {
  const [history, setHistory] = useState(null);
  const [done, setDone] = useState("");
  const [error, setError] = useState("");
  const open = () => api("GET", `/items/${item.item_id}/parameters`).then(setHistory, (e) => setError(e.message));
  const proposed = history?.versions.find((v) => v.status === "proposed");
  async function decide(accept) {
    try {
      await api("POST", `/items/${item.item_id}/parameters/review`, { version: proposed.version, accept });
      setDone(accept ? t("dash.accepted") : t("dash.rejected"));
    } catch (e) { setError(e.message); }
  }
  if (done) return html`<span role="status">${done}</span>`;
  if (error) return html`<span class="error">${error}</span>`;
  if (!history) return html`<button type="button" class="small" onClick=${open}>${t("dash.drift_flag")}</button>`;
  if (!proposed) return html`<span class="muted">–</span>`;
  return html`<span class="actions">a ${proposed.a.toFixed(2)} b ${proposed.b.toFixed(2)} (RMSD ${proposed.drift_rmsd?.toFixed(2) ?? "–"})
    <button type="button" class="small" onClick=${() => decide(true)}>${t("dash.accept")}</button>
    <button type="button" class="small" onClick=${() => decide(false)}>${t("dash.reject")}</button></span>`;
}

function ExamStats({ e }) {
  const bars = e.distribution.map((b) => ({ label: `${Math.round(b.lower * 100)}`, value: b.count }));
  return html`<li class="card" data-exam=${e.exam_id}><h2>${e.title}</h2>
    <span class="muted">${t(`mode.${e.mode}`)} · ${t("dash.attempts", { n: e.attempts.submitted, active: e.attempts.active })}
      ${e.mean_ratio != null ? ` · ${t("dash.mean", { pct: Math.round(e.mean_ratio * 100) })}` : ""}</span>
    ${e.attempts.submitted > 0 ? html`<${Bars} data=${bars} label=${t("dash.distribution")} />` : html`<p class="muted">${t("exam.no_attempts")}</p>`}
    <details><summary>${t("dash.items")}</summary>
      <table><thead><tr><th>#</th><th>p</th><th>r<sub>pb</sub></th><th>a / b / c</th><th>${t("dash.drift")}</th></tr></thead>
      <tbody>${e.items.map((i) => html`<tr><td>${i.position}</td><td>${i.p_value == null ? "–" : i.p_value.toFixed(2)}</td>
        <td>${i.point_biserial == null ? "–" : i.point_biserial.toFixed(2)}</td><td>${i.a.toFixed(2)} / ${i.b.toFixed(2)} / ${i.c.toFixed(2)}</td>
        <td>${i.drift_flagged ? html`<${DriftReview} item=${i} />` : ""}</td></tr>`)}</tbody></table>
    </details></li>`;
}

function StudentView({ d, title }) {
  const points = d.theta_history.map((p) => ({ y: p.theta, label: `${p.exam_title} ${formatDateTime(p.finished_at)}` }));
  return html`<section class="stack">
    ${title && html`<h2>${title}</h2>`}
    ${points.length > 0 && html`<${Line} points=${points} label=${t("dash.theta")} />`}
    <table><thead><tr><th>${t("exam.title")}</th><th>${t("exam.status")}</th><th>${t("exam.score")}</th><th>θ</th><th>${t("dash.when")}</th></tr></thead>
      <tbody>${d.attempts.map((a) => html`<tr><td>${a.exam_title}</td><td>${t(`exam.st_${a.status}`)}</td>
        <td>${a.score == null ? "–" : `${a.score}/${a.max_score}`}</td><td>${a.theta == null ? "–" : a.theta.toFixed(2)}</td>
        <td>${formatDateTime(a.finished_at || a.started_at)}</td></tr>`)}</tbody></table>
    ${d.attempts.length === 0 && html`<p class="muted">${t("exam.no_attempts")}</p>`}
  </section>`;
}

export function Dashboard() {
  const me = useStore(chat, (s) => s.me);
  const [data, setData] = useState(null);
  const [error, setError] = useState("");
  const kind = isStaff(me) ? "teacher" : isStudent(me) ? "student" : isParent(me) ? "parent" : null;
  useEffect(() => { if (kind) api("GET", `/dashboard/${kind}`).then(setData, (e) => setError(e.message)); }, [kind]);
  return html`<section class="page"><h1>${t("nav.dashboard")}</h1>
    ${error && html`<p class="error">${error}</p>`}
    ${!kind && html`<p class="muted">${t("dash.none")}</p>`}
    ${data && kind === "teacher" && html`<ul class="cards">${data.exams.map((e) => html`<${ExamStats} e=${e} />`)}</ul>`}
    ${data && kind === "student" && html`<${StudentView} d=${data} />`}
    ${data && kind === "parent" && data.children.map((c) => html`<${StudentView} d=${c} title=${c.display_name} />`)}
    ${data && kind === "parent" && data.children.length === 0 && html`<p class="muted">${t("links.none")}</p>`}
  </section>`;
}
