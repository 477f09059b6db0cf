// Who has read (and acknowledged) one of my messages: refreshed while open, and at once when
// someone acknowledges.
import { html, useEffect, useState } from "../lib.js";
import { chat, emitAck } from "../chat.js";
import { t } from "../i18n.js";
import { useStore } from "../store.js";

export function ReadList({ message, onClose }) {
  const names = useStore(chat, (s) => s.names);
  const [status, setStatus] = useState(null);
  const [error, setError] = useState("");
  useEffect(() => {
    let live = true;
    const load = () => emitAck("message.read_status", { message_id: message.id }).then((r) => live && setStatus(r), (e) => live && setError(e.message));
    load();
    const timer = setInterval(load, 2000);
    const onAck = (e) => { if (e.detail.message_id === message.id) load(); };
    window.addEventListener("ds:acknowledged", onAck);
    return () => { live = false; clearInterval(timer); window.removeEventListener("ds:acknowledged", onAck); };
  }, [message.id]);
  const list = (ids, kind) => html`<ul class=${`people ${kind}`}>${(ids || []).map((id) => html`<li data-user=${id}>${names[id] || id}</li>`)}</ul>`;
  return html`<div class="panel" role="region" aria-label=${t("msg.read_list")}>
    <div class="panel-head"><h3>${t("msg.read_list")}</h3><button type="button" class="link" onClick=${onClose}>${t("common.close")}</button></div>
    ${error && html`<p class="error">${error}</p>`}
    ${status && html`<div class="read-columns">
      <section><h4>${t("read.read")} (${status.read.length})</h4>${list(status.read, "read")}</section>
      ${status.acknowledged && html`<section><h4>${t("read.acked")} (${status.acknowledged.length})</h4>${list(status.acknowledged, "acked")}</section>`}
      <section><h4>${t("read.unread")} (${status.unread.length})</h4>${list(status.unread, "unread")}</section>
    </div>`}
  </div>`;
}
