// Teachers start a direct conversation, or create a group or announcement channel with members.
import { html, useEffect, useState } from "../lib.js";
import { api } from "../api.js";
import { chat, loadConversations } from "../chat.js";
import { t } from "../i18n.js";
import { firstOrg, isStaff } from "../roles.js";
import { go } from "../router.js";
import { useStore } from "../store.js";

export function NewConversation() {
  const me = useStore(chat, (s) => s.me);
  const orgId = firstOrg(me, ["teacher", "org_admin"]) || firstOrg(me);
  const staff = isStaff(me);
  const [kind, setKind] = useState(staff ? "group" : "direct");
  const [title, setTitle] = useState("");
  const [members, setMembers] = useState([]);
  const [picked, setPicked] = useState([]);
  const [error, setError] = useState("");
  useEffect(() => { if (orgId) api("GET", `/organizations/${orgId}/members`).then((r) => setMembers(r.items.filter((m) => m.user_id !== me.id)), (e) => setError(e.message)); }, [orgId]);
  const seen = new Set();
  const people = members.filter((m) => !seen.has(m.user_id) && seen.add(m.user_id));
  function toggle(uid, on) {
    if (kind === "direct") setPicked(on ? [uid] : []);
    else setPicked(on ? [...picked, uid] : picked.filter((x) => x !== uid));
  }
  async function create(e) {
    e.preventDefault();
    setError("");
    try {
      const body = kind === "direct" ? { kind, member_ids: picked } : { kind, org_id: orgId, title, member_ids: picked };
      const conv = await api("POST", "/conversations", body);
      await loadConversations();
      go(`c/${conv.id}`);
    } catch (err) { setError(err.message); }
  }
  return html`<section class="page"><h1>${t("chat.new")}</h1>
    <form onSubmit=${create} class="stack">
      <fieldset><legend>${t("new.kind")}</legend>
        ${(staff ? ["direct", "group", "announcement"] : ["direct"]).map((k) => html`<label class="check"><input type="radio" name="kind" value=${k} checked=${kind === k} onChange=${() => { setKind(k); setPicked([]); }} /> ${t(`kind.${k}`)}</label>`)}
      </fieldset>
      ${kind !== "direct" && html`<label for="new-title">${t("new.title")}</label>
        <input id="new-title" required value=${title} onInput=${(e) => setTitle(e.target.value)} />`}
      <fieldset><legend>${kind === "direct" ? t("new.with") : t("new.members")}</legend>
        <div class="pick-list">${people.map((m) => html`<label class="check">
          <input type=${kind === "direct" ? "radio" : "checkbox"} name="member" checked=${picked.includes(m.user_id)} onChange=${(e) => toggle(m.user_id, e.target.checked)} />
          ${m.display_name} <span class="muted">${t(`role.${m.role}`)}</span></label>`)}</div>
      </fieldset>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button type="submit" class="primary" disabled=${kind === "direct" ? picked.length !== 1 : !title.trim()}>${t("new.create")}</button>
    </form>
  </section>`;
}
