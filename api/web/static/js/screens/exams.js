// Exams of my organizations: students start or resume one; teachers build, proctor and see
// results.
import { html, useEffect, useState } from "../lib.js";
import { api, query } from "../api.js";
import { chat } from "../chat.js";
import { formatDateTime, t } from "../i18n.js";
import { isStaff } from "../roles.js";
import { useStore } from "../store.js";

function Results({ exam }) {
  const [res, setRes] = useState(null);
  const [error, setError] = useState("");
  useEffect(() => { api("GET", `/exams/${exam.id}/results`).then(setRes, (e) => setError(e.message)); }, [exam.id]);
  if (error) return html`<p class="error">${error}</p>`;
  if (!res) return html`<p class="muted">${t("common.loading")}</p>`;
  if (!res.attempts.length) return html`<p class="muted">${t("exam.no_attempts")}</p>`;
  return html`<table><thead><tr><th>${t("exam.student")}</th><th>${t("exam.status")}</th><th>${t("exam.score")}</th><th>θ</th><th>${t("exam.flags")}</th></tr></thead>
    <tbody>${res.attempts.map((a) => html`<tr><td>${a.student_name}</td><td>${t(`exam.st_${a.status}`)}</td><td>${a.score}/${a.max_score}</td>
      <td>${a.theta == null ? "–" : a.theta.toFixed(2)}</td><td>${a.flags}</td></tr>`)}</tbody></table>`;
}

export function Exams() {
  const me = useStore(chat, (s) => s.me);
  const staff = isStaff(me);
  const [exams, setExams] = useState(null);
  const [open, setOpen] = useState(null);
  const [error, setError] = useState("");
  useEffect(() => { api("GET", `/exams${query({})}`).then((r) => setExams(r.items), (e) => setError(e.message)); }, []);
  return html`<section class="page">
    <div class="list-head"><h1>${t("nav.exams")}</h1>${staff && html`<a class="button primary" href="#/exams/new">${t("exam.new")}</a>`}</div>
    ${error && html`<p class="error">${error}</p>`}
    <ul class="cards">${(exams || []).map((e) => html`<li class="card" data-exam=${e.id}>
      <h2>${e.title}</h2>
      <span class="muted">${t(`mode.${e.mode}`)} · ${t("exam.items", { n: e.item_count })}${e.time_limit_s ? ` · ${t("exam.minutes", { n: Math.round(e.time_limit_s / 60) })}` : ""}</span>
      ${e.closes_at && html`<span class="muted">${t("exam.closes", { when: formatDateTime(e.closes_at) })}</span>`}
      <div class="actions">
        ${staff ? html`<a class="button" href=${`#/exam/${e.id}/proctor`}>${t("exam.proctor")}</a>
            <button type="button" onClick=${() => setOpen(open === e.id ? null : e.id)} aria-expanded=${open === e.id}>${t("exam.results")}</button>`
          : html`<a class="button primary" href=${`#/exam/${e.id}`}>${t("exam.open")}</a>`}
      </div>
      ${open === e.id && html`<${Results} exam=${e} />`}
    </li>`)}</ul>
  </section>`;
}
