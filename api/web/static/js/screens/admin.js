// Organization admin: members and classes of my school, and the audit log where I may read it.
import { html, useEffect, useState } from "../lib.js";
import { api, query } from "../api.js";
import { chat } from "../chat.js";
import { formatDateTime, t } from "../i18n.js";
import { firstOrg } from "../roles.js";
import { useStore } from "../store.js";
import { Invitations, ReportQueue, RosterImport, TutorSettings } from "./admin_school.js";

function Audit() {
  const [items, setItems] = useState(null);
  const [error, setError] = useState("");
  useEffect(() => { api("GET", `/audit-log${query({ limit: 50 })}`).then((r) => setItems(r.items), (e) => setError(e.message)); }, []);
  if (error) return html`<p class="muted">${t("admin.audit_refused")}: ${error}</p>`;
  return html`<table><thead><tr><th>${t("dash.when")}</th><th>${t("admin.action")}</th><th>${t("admin.target")}</th></tr></thead>
    <tbody>${(items || []).map((a) => html`<tr><td>${formatDateTime(a.at)}</td><td>${a.action}</td><td>${a.target_type || ""}</td></tr>`)}</tbody></table>`;
}

export function Admin() {
  const me = useStore(chat, (s) => s.me);
  const orgId = firstOrg(me, ["org_admin"]) || firstOrg(me);
  const [members, setMembers] = useState(null);
  const [classes, setClasses] = useState(null);
  const [name, setName] = useState("");
  const [msg, setMsg] = useState("");
  const load = () => {
    if (!orgId) return;
    api("GET", `/organizations/${orgId}/members`).then((r) => setMembers(r.items), (e) => setMsg(e.message));
    api("GET", `/organizations/${orgId}/classes`).then((r) => setClasses(r.items), (e) => setMsg(e.message));
  };
  useEffect(load, [orgId]);
  async function addClass(e) {
    e.preventDefault();
    try { await api("POST", `/organizations/${orgId}/classes`, { name }); setName(""); load(); } catch (err) { setMsg(err.message); }
  }
  return html`<section class="page"><h1>${t("nav.admin")}</h1>
    ${msg && html`<p role="status">${msg}</p>`}
    ${orgId && html`<h2>${t("admin.members")}</h2>
    <table><thead><tr><th>${t("admin.name")}</th><th>${t("admin.role")}</th></tr></thead>
      <tbody>${(members || []).map((m) => html`<tr><td>${m.display_name}</td><td>${t(`role.${m.role}`)}</td></tr>`)}</tbody></table>
    <h2>${t("admin.classes")}</h2>
    <ul>${(classes || []).map((c) => html`<li>${c.name}</li>`)}</ul>
    <form class="stack" onSubmit=${addClass}><label for="class-name">${t("admin.new_class")}</label>
      <input id="class-name" required value=${name} onInput=${(e) => setName(e.target.value)} />
      <button type="submit">${t("new.create")}</button></form>
    <${ReportQueue} orgId=${orgId} />
    <${Invitations} orgId=${orgId} classes=${classes} />
    <${RosterImport} classes=${classes} />
    <${TutorSettings} orgId=${orgId} />`}
    <h2>${t("admin.audit")}</h2>
    <${Audit} />
  </section>`;
}
