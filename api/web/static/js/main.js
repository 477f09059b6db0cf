// Boots the client: the login page, or the signed-in app with its live connection.
import { html, render, useEffect, useState } from "./lib.js";
import { api, hasSession, onSessionChange } from "./api.js";
import { chat, loadConversations, loadMe } from "./chat.js";
import { setLanguage, useLang } from "./i18n.js";
import { connect, disconnect } from "./realtime.js";
import { Login } from "./screens/login.js";
import { Shell } from "./shell.js";

async function start() {
  const me = await loadMe();
  if (!localStorage.getItem("dreamseed.lang")) setLanguage(me.language === "en" ? "en" : "ko");
  else setLanguage(localStorage.getItem("dreamseed.lang"));
  await loadConversations();
  connect();
  api("GET", "/notifications?limit=1").then((p) => chat.set({ badge: p.unread }), () => null);
}

function App() {
  useLang();
  const [phase, setPhase] = useState(hasSession() ? "loading" : "login");
  useEffect(() => onSessionChange((ok) => {
    if (!ok) { disconnect(); chat.set({ me: null, conversations: {}, threads: {}, openId: null }); setPhase("login"); }
  }), []);
  useEffect(() => {
    if (phase === "loading") start().then(() => setPhase("ready"), () => setPhase("login"));
  }, [phase]);
  if (phase === "login") return html`<${Login} onDone=${() => setPhase("loading")} />`;
  if (phase === "loading") return html`<p class="boot" role="status">…</p>`;
  return html`<${Shell} />`;
}

render(html`<${App} />`, document.getElementById("app"));
