// Join a school (and class) with the invitation code a teacher or the school handed out.
import { html, useState } from "../lib.js";
import { api } from "../api.js";
import { loadConversations, loadMe } from "../chat.js";
import { t } from "../i18n.js";

export function JoinWithCode() {
  const [code, setCode] = useState("");
  const [msg, setMsg] = useState(null);
  async function join(e) {
    e.preventDefault();
    try {
      const r = await api("POST", "/invitations/redeem", { code });
      setMsg({ ok: true, text: r.already ? t("join.already") : t("join.done", { role: t(`role.${r.role}`) }) });
      setCode("");
      await loadMe();
      await loadConversations();
    } catch (err) {
      setMsg({ ok: false, text: err.code === "invitation_invalid" ? t("join.invalid") : err.message });
    }
  }
  return html`<form class="stack join" onSubmit=${join} aria-labelledby="join-h">
    <h2 id="join-h">${t("join.title")}</h2>
    <label for="join-code">${t("join.code")}</label>
    <input id="join-code" required minlength="4" maxlength="40" autocomplete="off" autocapitalize="characters" value=${code} onInput=${(e) => setCode(e.target.value)} />
    <button type="submit" class="primary">${t("join.submit")}</button>
    ${msg && html`<p class=${msg.ok ? "online" : "error"} role=${msg.ok ? "status" : "alert"}>${msg.text}</p>`}
  </form>`;
}
