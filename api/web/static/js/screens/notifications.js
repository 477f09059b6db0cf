// The notification centre: everything I was told, newest first; mark one or all read.
import { html, useEffect, useState } from "../lib.js";
import { api, query } from "../api.js";
import { chat } from "../chat.js";
import { formatDateTime, t } from "../i18n.js";
import { useStore } from "../store.js";

export function Notifications() {
  const badge = useStore(chat, (s) => s.badge);
  const [items, setItems] = useState(null);
  const [error, setError] = useState("");
  const load = () => api("GET", `/notifications${query({ limit: 50 })}`).then((p) => { setItems(p.items); chat.set({ badge: p.unread }); }, (e) => setError(e.message));
  useEffect(() => { load(); }, [badge]);
  async function read(n) {
    const b = await api("POST", `/notifications/${n.id}/read`);
    chat.set({ badge: b.unread });
    setItems(items.map((x) => (x.id === n.id ? { ...x, read_at: new Date().toISOString() } : x)));
  }
  async function readAll() {
    const b = await api("POST", "/notifications/read-all");
    chat.set({ badge: b.unread });
    load();
  }
  return html`<section class="page"><div class="list-head"><h1>${t("nav.notifications")}</h1>
      <button type="button" onClick=${readAll} disabled=${!badge}>${t("notify.read_all")}</button></div>
    ${error && html`<p class="error">${error}</p>`}
    ${items && items.length === 0 && html`<p class="muted">${t("notify.none")}</p>`}
    <ul class="notifications">${(items || []).map((n) => html`<li class=${n.read_at ? "read" : "unread"}>
      <div><strong>${n.title}</strong>${n.urgent && html` <span class="badge">${t("notify.urgent")}</span>`}<p>${n.body}</p>
      <time class="muted">${formatDateTime(n.created_at)}</time></div>
      ${!n.read_at && html`<button type="button" class="small" onClick=${() => read(n)}>${t("notify.mark_read")}</button>`}
    </li>`)}</ul>
  </section>`;
}
