// My settings: language (also saved to my profile), quiet hours and the e-mail digest.
import { html, useEffect, useState } from "../lib.js";
import { api } from "../api.js";
import { lang, setLanguage, t, useLang } from "../i18n.js";
import { JoinWithCode } from "./join.js";

export function Settings() {
  const code = useLang();
  const [prefs, setPrefs] = useState(null);
  const [msg, setMsg] = useState("");
  useEffect(() => { api("GET", "/users/me/notification-preferences").then(setPrefs, (e) => setMsg(e.message)); }, []);
  async function save(e) {
    e.preventDefault();
    try {
      const body = {
        quiet_start: prefs.quiet_start || null,
        quiet_end: prefs.quiet_end || null,
        digest_delay_s: prefs.digest_delay_s,
        email_digest: prefs.email_digest,
        language: lang.get().code,
      };
      setPrefs(await api("PUT", "/users/me/notification-preferences", body));
      setMsg(t("common.saved"));
    } catch (err) { setMsg(err.message); }
  }
  async function switchTo(next) {
    setLanguage(next);
    await api("PUT", "/users/me", { language: next }).catch(() => null);
  }
  const hhmm = (v) => (v ? v.slice(0, 5) : "");
  return html`<section class="page"><h1>${t("nav.settings")}</h1>
    <fieldset class="settings-box"><legend>${t("settings.language")}</legend>
      <label class="check"><input type="radio" name="lang" checked=${code === "ko"} onChange=${() => switchTo("ko")} /> 한국어</label>
      <label class="check"><input type="radio" name="lang" checked=${code === "en"} onChange=${() => switchTo("en")} /> English</label>
    </fieldset>
    ${prefs && html`<form class="settings-box stack" onSubmit=${save}>
      <h2>${t("settings.quiet")}</h2>
      <p class="muted">${t("settings.quiet_hint")}</p>
      <label for="quiet-start">${t("settings.quiet_start")}</label>
      <input id="quiet-start" type="time" value=${hhmm(prefs.quiet_start)} onInput=${(e) => setPrefs({ ...prefs, quiet_start: e.target.value || null })} />
      <label for="quiet-end">${t("settings.quiet_end")}</label>
      <input id="quiet-end" type="time" value=${hhmm(prefs.quiet_end)} onInput=${(e) => setPrefs({ ...prefs, quiet_end: e.target.value || null })} />
      <label class="check"><input type="checkbox" checked=${prefs.email_digest} onChange=${(e) => setPrefs({ ...prefs, email_digest: e.target.checked })} /> ${t("settings.digest")}</label>
      <button type="submit" class="primary">${t("common.save")}</button>
      ${msg && html`<p role="status">${msg}</p>`}
    </form>`}
    <${JoinWithCode} />
  </section>`;
}
