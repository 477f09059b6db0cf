// The login page: e-mail and password, the demo logins while the demo school exists, and a
// link to the API documentation.
import { html, useEffect, useState } from "../lib.js";
import { login } from "../api.js";
import { setLanguage, t, useLang } from "../i18n.js";

export function Login({ onDone }) {
  const code = useLang();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [demo, setDemo] = useState([]);
  useEffect(() => {
    fetch("/web/config.json").then((r) => r.json()).then((c) => setDemo(c.demo || []), () => null);
  }, []);
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await login(email.trim(), password);
      onDone();
    } catch (err) {
      setError(err.status === 401 ? t("login.wrong") : err.message);
    } finally {
      setBusy(false);
    }
  }
  const pick = (u) => { setEmail(u.email); setPassword(u.password); };
  return html`
    <main class="login">
      <div class="login-card">
        <h1>DreamSeed</h1>
        <p class="muted">${t("login.tagline")}</p>
        <form onSubmit=${submit}>
          <label for="email">${t("login.email")}</label>
          <input id="email" type="email" autocomplete="username" required value=${email}
            onInput=${(e) => setEmail(e.target.value)} />
          <label for="password">${t("login.password")}</label>
          <input id="password" type="password" autocomplete="current-password" required value=${password}
            onInput=${(e) => setPassword(e.target.value)} />
          ${error && html`<p class="error" role="alert">${error}</p>`}
          <button type="submit" class="primary" disabled=${busy}>${t("login.submit")}</button>
        </form>
        <div class="lang-switch" role="group" aria-label=${t("settings.language")}>
          <button type="button" aria-pressed=${code === "ko"} onClick=${() => setLanguage("ko")}>한국어</button>
          <button type="button" aria-pressed=${code === "en"} onClick=${() => setLanguage("en")}>English</button>
        </div>
        ${demo.length > 0 && html`
          <section class="demo" aria-labelledby="demo-title">
            <h2 id="demo-title">${t("login.demo")}</h2>
            <p class="muted">${t("login.demo_hint", { password: demo[0].password })}</p>
            <ul>
              ${demo.map((u) => html`<li><button type="button" class="link" onClick=${() => pick(u)}>
                <span class="role">${t(`role.${u.role}`)}</span> ${u.email}</button></li>`)}
            </ul>
          </section>`}
        <p class="docs-link"><a href="/api/docs">${t("login.api_docs")}</a></p>
      </div>
    </main>`;
}
