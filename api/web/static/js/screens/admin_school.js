// Running a school: the report queue (each report with the messages around it, settled with
// dismiss/delete/warn/mute), invitation codes (make, list, revoke) and the CSV class roster.
import { html, useEffect, useState } from "../lib.js";
import { api, query } from "../api.js";
import { confirmDialog } from "../dialog.js";
import { formatDateTime, t } from "../i18n.js";

function Report({ r, onDone }) {
  const [minutes, setMinutes] = useState(60);
  const [msg, setMsg] = useState("");
  async function resolve(action) {
    if (action === "delete" && !(await confirmDialog(t("report.delete_confirm"), t("report.delete")))) return;
    try {
      await api("POST", `/reports/${r.id}/resolve`, action === "mute" ? { action, mute_minutes: Number(minutes) } : { action });
      onDone();
    } catch (e) { setMsg(e.message); }
  }
  const open = !r.resolved_at;
  return html`<li class="report" data-report-id=${r.id} data-resolution=${r.resolution || "open"} aria-label=${t("report.item", { reason: r.reason })}>
    <p><strong>${t("report.reason")}:</strong> ${r.reason} <span class="muted">· ${formatDateTime(r.created_at)}</span></p>
    <ol class="context">${r.context.map((m) => html`<li class=${m.id === r.message_id ? "reported" : ""}>
      <span>${m.sender_name || "?"}:</span> ${m.deleted_at ? html`<em>${t("msg.deleted")}</em>` : m.content}</li>`)}</ol>
    ${open ? html`<div class="actions" role="group" aria-label=${t("report.actions")}>
        <button type="button" class="small" onClick=${() => resolve("dismiss")}>${t("report.dismiss")}</button>
        <button type="button" class="small" onClick=${() => resolve("delete")}>${t("report.delete")}</button>
        <button type="button" class="small" onClick=${() => resolve("warn")}>${t("report.warn")}</button>
        <label for=${`mute-${r.id}`} class="sr-only">${t("report.mute_minutes")}</label>
        <input id=${`mute-${r.id}`} type="number" min="1" max="43200" value=${minutes} onInput=${(e) => setMinutes(e.target.value)} />
        <button type="button" class="small" onClick=${() => resolve("mute")}>${t("report.mute")}</button>
      </div>` : html`<p class="muted">${t(`report.done.${r.resolution}`)}</p>`}
    ${msg && html`<p class="error" role="alert">${msg}</p>`}
  </li>`;
}

export function ReportQueue({ orgId }) {
  const [status, setStatus] = useState("open");
  const [items, setItems] = useState(null);
  const [msg, setMsg] = useState("");
  const load = () => api("GET", `/organizations/${orgId}/reports${query({ status })}`).then((r) => setItems(r.items), (e) => setMsg(e.message));
  useEffect(() => { load(); }, [orgId, status]);
  return html`<section aria-labelledby="reports-h"><h2 id="reports-h">${t("report.queue")}</h2>
    <label for="report-status">${t("report.show")}</label>
    <select id="report-status" value=${status} onChange=${(e) => setStatus(e.target.value)}>
      ${["open", "resolved", "all"].map((s) => html`<option value=${s}>${t(`report.status.${s}`)}</option>`)}
    </select>
    ${msg && html`<p class="error" role="alert">${msg}</p>`}
    ${items && !items.length && html`<p class="muted">${t("report.none")}</p>`}
    <ul class="reports">${(items || []).map((r) => html`<${Report} r=${r} onDone=${load} key=${r.id} />`)}</ul>
  </section>`;
}

export function Invitations({ orgId, classes }) {
  const [items, setItems] = useState(null);
  const [form, setForm] = useState({ role: "student", class_id: "", max_uses: 30, expires_in_hours: 168 });
  const [msg, setMsg] = useState("");
  const load = () => api("GET", `/organizations/${orgId}/invitations`).then((r) => setItems(r.items), (e) => setMsg(e.message));
  useEffect(() => { load(); }, [orgId]);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  async function create(e) {
    e.preventDefault();
    setMsg("");
    try {
      const body = { role: form.role, max_uses: Number(form.max_uses), expires_in_hours: Number(form.expires_in_hours) };
      if (form.class_id) body.class_id = form.class_id;
      const made = await api("POST", `/organizations/${orgId}/invitations`, body);
      setMsg(t("invite.made", { code: made.code }));
      load();
    } catch (err) { setMsg(err.message); }
  }
  async function revoke(inv) {
    if (!(await confirmDialog(t("invite.revoke_confirm", { code: inv.code }), t("invite.revoke")))) return;
    try { await api("DELETE", `/invitations/${inv.id}`); load(); } catch (err) { setMsg(err.message); }
  }
  const className = (id) => (classes || []).find((c) => c.id === id)?.name || "";
  const state = (inv) => (inv.revoked_at ? "revoked" : new Date(inv.expires_at) < new Date() ? "expired" : inv.uses >= inv.max_uses ? "used" : "active");
  return html`<section aria-labelledby="invite-h"><h2 id="invite-h">${t("invite.title")}</h2>
    <form class="stack" onSubmit=${create}>
      <label for="invite-role">${t("admin.role")}</label>
      <select id="invite-role" value=${form.role} onChange=${set("role")}>
        ${["student", "parent", "teacher"].map((r) => html`<option value=${r}>${t(`role.${r}`)}</option>`)}</select>
      <label for="invite-class">${t("invite.class")}</label>
      <select id="invite-class" value=${form.class_id} onChange=${set("class_id")}>
        <option value="">${t("invite.no_class")}</option>
        ${(classes || []).map((c) => html`<option value=${c.id}>${c.name}</option>`)}</select>
      <label for="invite-uses">${t("invite.max_uses")}</label>
      <input id="invite-uses" type="number" min="1" max="1000" value=${form.max_uses} onInput=${set("max_uses")} />
      <label for="invite-hours">${t("invite.hours")}</label>
      <input id="invite-hours" type="number" min="1" max="2160" value=${form.expires_in_hours} onInput=${set("expires_in_hours")} />
      <button type="submit" class="primary">${t("invite.create")}</button>
    </form>
    ${msg && html`<p role="status" class="invite-status">${msg}</p>`}
    <table class="codes" aria-label=${t("invite.title")}><thead><tr><th>${t("invite.code")}</th><th>${t("admin.role")}</th><th>${t("invite.class")}</th>
      <th>${t("invite.uses")}</th><th>${t("invite.expires")}</th><th>${t("invite.state")}</th><th></th></tr></thead>
      <tbody>${(items || []).map((inv) => html`<tr data-code=${inv.code} data-state=${state(inv)}>
        <td><code>${inv.code}</code></td><td>${t(`role.${inv.role}`)}</td><td>${className(inv.class_id)}</td>
        <td>${inv.uses}/${inv.max_uses}</td><td>${formatDateTime(inv.expires_at)}</td><td>${t(`invite.st.${state(inv)}`)}</td>
        <td>${state(inv) === "active" && html`<button type="button" class="small" onClick=${() => revoke(inv)}>${t("invite.revoke")}</button>`}</td>
      </tr>`)}</tbody></table>
  </section>`;
}

const SAMPLE = "role,name,email,student_email,language\nstudent,홍길동,hong@school.kr,,ko\nparent,홍부모,hong.parent@school.kr,hong@school.kr,ko";

export function RosterImport({ classes }) {
  const [classId, setClassId] = useState("");
  const [csv, setCsv] = useState("");
  const [result, setResult] = useState(null);
  const [problem, setProblem] = useState(null);
  const target = classId || classes?.[0]?.id || "";
  async function run(e) {
    e.preventDefault();
    setProblem(null);
    setResult(null);
    try { setResult(await api("POST", `/classes/${target}/roster`, { csv })); setCsv(""); } catch (err) {
      setProblem({ message: err.message, fields: err.body?.error?.fields || [] });
    }
  }
  async function fromFile(e) {
    const file = e.target.files[0];
    if (file) setCsv(await file.text());
  }
  return html`<section aria-labelledby="roster-h"><h2 id="roster-h">${t("roster.title")}</h2>
    <form class="stack" onSubmit=${run}>
      <label for="roster-class">${t("invite.class")}</label>
      <select id="roster-class" value=${target} onChange=${(e) => setClassId(e.target.value)}>
        ${(classes || []).map((c) => html`<option value=${c.id}>${c.name}</option>`)}</select>
      <label for="roster-file">${t("roster.file")}</label>
      <input id="roster-file" type="file" accept=".csv,text/csv" onChange=${fromFile} />
      <label for="roster-csv">${t("roster.csv")}</label>
      <textarea id="roster-csv" class="csv" required placeholder=${SAMPLE} value=${csv} onInput=${(e) => setCsv(e.target.value)}></textarea>
      <button type="submit" class="primary" disabled=${!target}>${t("roster.run")}</button>
    </form>
    ${problem && html`<div class="error" role="alert"><p>${problem.message}</p>
      <ul>${problem.fields.map((f) => html`<li>${f.field.replace("csv.line", t("roster.line") + " ")}: ${f.message}</li>`)}</ul></div>`}
    ${result && html`<div class="roster-result" role="status">
      <p>${t("roster.done", { created: result.created.length, skipped: result.skipped.length, links: result.links.length })}</p>
      ${result.created.length > 0 && html`<table aria-label=${t("roster.created")}><thead><tr><th>${t("roster.line")}</th><th>${t("login.email")}</th><th>${t("admin.role")}</th><th>${t("roster.password")}</th></tr></thead>
        <tbody>${result.created.map((c) => html`<tr><td>${c.line}</td><td>${c.email}</td><td>${t(`role.${c.role}`)}</td><td><code>${c.initial_password || t("roster.existing")}</code></td></tr>`)}</tbody></table>`}
      ${result.skipped.length > 0 && html`<ul class="skipped">${result.skipped.map((s) => html`<li>${t("roster.line")} ${s.line} ${s.email}: ${s.reason}</li>`)}</ul>`}
    </div>`}
  </section>`;
}

export function TutorSettings({ orgId }) {
  const [form, setForm] = useState(null);
  const [msg, setMsg] = useState("");
  useEffect(() => { api("GET", `/tutor/settings/${orgId}`).then(setForm, (e) => setMsg(e.message)); }, [orgId]);
  if (!form) return msg ? html`<p class="error" role="alert">${msg}</p>` : null;
  const set = (k, v) => setForm({ ...form, [k]: v });
  async function save(e) {
    e.preventDefault();
    try {
      setForm(await api("PUT", `/tutor/settings/${orgId}`, { ...form, grade: form.grade || null, language: form.language || null }));
      setMsg(t("common.saved"));
    } catch (err) { setMsg(err.message); }
  }
  return html`<form class="stack" onSubmit=${save} aria-labelledby="tutor-settings-h">
    <h2 id="tutor-settings-h">${t("tutorset.title")}</h2>
    <label class="check"><input type="checkbox" checked=${form.enabled} onChange=${(e) => set("enabled", e.target.checked)} /> ${t("tutorset.enabled")}</label>
    <label class="check"><input type="checkbox" checked=${form.observers} onChange=${(e) => set("observers", e.target.checked)} /> ${t("tutorset.observers")}</label>
    <label for="tutor-plan">${t("tutorset.plan")}</label>
    <select id="tutor-plan" value=${form.plan} onChange=${(e) => set("plan", e.target.value)}>
      <option value="basic">${t("tutorset.basic")}</option><option value="premium">${t("tutorset.premium")}</option></select>
    <label for="tutor-grade">${t("tutorset.grade")}</label>
    <input id="tutor-grade" maxlength="60" value=${form.grade || ""} onInput=${(e) => set("grade", e.target.value)} />
    <label for="tutor-lang">${t("tutorset.language")}</label>
    <select id="tutor-lang" value=${form.language || ""} onChange=${(e) => set("language", e.target.value)}>
      <option value="">${t("tutorset.school_language")}</option><option value="ko">한국어</option><option value="en">English</option></select>
    <button type="submit" class="primary">${t("common.save")}</button>
    ${msg && html`<p role="status" class="tutor-settings-status">${msg}</p>`}
  </form>`;
}
