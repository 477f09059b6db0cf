// A conversation's members (admins add and remove them) and my notification settings for it.
import { html, useEffect, useState } from "../lib.js";
import { api } from "../api.js";
import { chat, loadDetail, thread } from "../chat.js";
import { t } from "../i18n.js";
import { useStore } from "../store.js";
import { confirmDialog, noticeDialog } from "../dialog.js";

function NotifySettings({ cid }) {
  const [s, setS] = useState(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => { api("GET", `/conversations/${cid}/notification-settings`).then(setS, () => null); }, [cid]);
  if (!s) return null;
  async function change(key, value) {
    const next = { ...s, [key]: value };
    setS(next);
    setS(await api("PUT", `/conversations/${cid}/notification-settings`, next));
    setSaved(true);
  }
  return html`<fieldset class="settings-box"><legend>${t("notify.conversation")}</legend>
    ${["muted", "push", "email"].map((k) => html`<label class="check"><input type="checkbox" checked=${s[k]} onChange=${(e) => change(k, e.target.checked)} /> ${t(`notify.${k}`)}</label>`)}
    ${saved && html`<span class="muted" role="status">${t("common.saved")}</span>`}
  </fieldset>`;
}

function AddMembers({ cid, conv, present }) {
  const [members, setMembers] = useState(null);
  const [picked, setPicked] = useState([]);
  const [error, setError] = useState("");
  useEffect(() => { api("GET", `/organizations/${conv.org_id}/members`).then((r) => setMembers(r.items), (e) => setError(e.message)); }, [conv.org_id]);
  if (error) return html`<p class="error">${error}</p>`;
  if (!members) return null;
  const candidates = members.filter((m) => !present.has(m.user_id));
  async function add() {
    try {
      await api("POST", `/conversations/${cid}/participants`, { user_ids: picked });
      setPicked([]);
      await loadDetail(cid);
    } catch (e) { setError(e.message); }
  }
  return html`<fieldset class="settings-box"><legend>${t("members.add")}</legend>
    <div class="pick-list">${candidates.map((m) => html`<label class="check"><input type="checkbox" checked=${picked.includes(m.user_id)}
      onChange=${(e) => setPicked(e.target.checked ? [...picked, m.user_id] : picked.filter((x) => x !== m.user_id))} /> ${m.display_name} <span class="muted">${t(`role.${m.role}`)}</span></label>`)}</div>
    <button type="button" disabled=${!picked.length} onClick=${add}>${t("members.add")}</button>
  </fieldset>`;
}

export function ConversationInfo({ cid, conv, onClose }) {
  const participants = useStore(chat, (s) => s.threads[cid]?.participants || thread(cid).participants || []);
  const me = useStore(chat, (s) => s.me);
  const admin = conv.my_role === "admin" && conv.kind !== "direct";
  async function remove(uid) {
    if (!(await confirmDialog(t("members.remove_confirm"), t("members.remove")))) return;
    try { await api("DELETE", `/conversations/${cid}/participants/${uid}`); await loadDetail(cid); } catch (e) { noticeDialog(e.message); }
  }
  return html`<div class="panel" role="region" aria-label=${t("chat.info")}>
    <div class="panel-head"><h3>${t("chat.info")}</h3><button type="button" class="link" onClick=${onClose}>${t("common.close")}</button></div>
    <${NotifySettings} cid=${cid} />
    <h4>${t("chat.members", { n: participants.length })}</h4>
    <ul class="members">${participants.map((p) => html`<li>${p.display_name} <span class="muted">${t(`prole.${p.role}`)}</span>
      ${admin && p.user_id !== me.id && html`<button type="button" class="small" onClick=${() => remove(p.user_id)}>${t("members.remove")}</button>`}</li>`)}</ul>
    ${admin && html`<${AddMembers} cid=${cid} conv=${conv} present=${new Set(participants.map((p) => p.user_id))} />`}
  </div>`;
}
