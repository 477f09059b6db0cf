// Parent-student links: a parent asks by the student's e-mail; the student approves or rejects.
import { html, useEffect, useState } from "../lib.js";
import { api } from "../api.js";
import { chat } from "../chat.js";
import { formatDateTime, t } from "../i18n.js";
import { isParent } from "../roles.js";
import { useStore } from "../store.js";

export function Links() {
  const me = useStore(chat, (s) => s.me);
  const [links, setLinks] = useState(null);
  const [email, setEmail] = useState("");
  const [msg, setMsg] = useState("");
  const load = () => api("GET", "/links").then((r) => setLinks(r.items), (e) => setMsg(e.message));
  useEffect(() => {
    load();
    const onLinks = () => load();
    window.addEventListener("ds:links", onLinks);
    return () => window.removeEventListener("ds:links", onLinks);
  }, []);
  async function request(e) {
    e.preventDefault();
    try { await api("POST", "/parent/link-student", { student_email: email.trim() }); setEmail(""); setMsg(t("links.sent")); load(); } catch (err) { setMsg(err.message); }
  }
  async function answer(link, approve) {
    try { await api("POST", `/student/${approve ? "approve" : "reject"}-parent/${link.id}`); load(); } catch (err) { setMsg(err.message); }
  }
  return html`<section class="page"><h1>${t("nav.links")}</h1>
    ${isParent(me) && html`<form class="stack" onSubmit=${request}>
      <label for="link-email">${t("links.student_email")}</label>
      <input id="link-email" type="email" required value=${email} onInput=${(e) => setEmail(e.target.value)} />
      <button type="submit" class="primary">${t("links.request")}</button></form>`}
    ${msg && html`<p role="status">${msg}</p>`}
    <ul class="cards">${(links || []).map((l) => html`<li class="card" data-link=${l.id} data-status=${l.status}>
      <strong>${l.parent_id === me.id ? t("links.to_student") : t("links.from_parent")}</strong>
      <span>${t(`links.st_${l.status}`)}</span>
      <span class="muted">${formatDateTime(l.requested_at)}</span>
      ${l.status === "pending" && l.student_id === me.id && html`<div class="actions">
        <button type="button" class="primary" onClick=${() => answer(l, true)}>${t("links.approve")}</button>
        <button type="button" onClick=${() => answer(l, false)}>${t("links.reject")}</button></div>`}
    </li>`)}</ul>
    ${links && links.length === 0 && html`<p class="muted">${t("links.none")}</p>`}
  </section>`;
}
