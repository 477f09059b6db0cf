// The signed-in frame: navigation (a side bar on desktop, a bottom bar on phones), the
// connection banner, and the screen the route names.
import { html } from "./lib.js";
import { logout } from "./api.js";
import { chat } from "./chat.js";
import { setLanguage, t, useLang } from "./i18n.js";
import { isAdmin, isParent, isStaff, isStudent } from "./roles.js";
import { route } from "./router.js";
import { useStore } from "./store.js";
import { Chats } from "./screens/chats.js";
import { Notifications } from "./screens/notifications.js";
import { Settings } from "./screens/settings.js";
import { NewConversation } from "./screens/newconv.js";
import { Exams } from "./screens/exams.js";
import { ExamBuilder } from "./screens/exam_builder.js";
import { SitExam } from "./screens/exam_sit.js";
import { Proctor } from "./screens/proctor.js";
import { Dashboard } from "./screens/dashboard.js";
import { Links } from "./screens/links.js";
import { Admin } from "./screens/admin.js";
import { Dialogs } from "./dialog.js";
import { Tutor } from "./screens/tutor.js";

function screenFor(parts) {
  switch (parts[0]) {
    case "c": return html`<${Chats} openId=${parts[1]} jump=${parts[2]} />`;
    case "new": return html`<${NewConversation} />`;
    case "notifications": return html`<${Notifications} />`;
    case "settings": return html`<${Settings} />`;
    case "exams": return parts[1] === "new" ? html`<${ExamBuilder} />` : html`<${Exams} />`;
    case "exam": return parts[2] === "proctor" ? html`<${Proctor} examId=${parts[1]} />` : html`<${SitExam} examId=${parts[1]} />`;
    case "dashboard": return html`<${Dashboard} />`;
    case "links": return html`<${Links} />`;
    case "admin": return html`<${Admin} />`;
    case "tutor": return html`<${Tutor} />`;
    default: return html`<${Chats} />`;
  }
}

function Banner() {
  const connection = useStore(chat, (s) => s.connection);
  if (connection === "online") return null;
  return html`<div class="banner" role="status" aria-live="polite">
    ${connection === "reconnecting" ? t("conn.reconnecting") : t("conn.connecting")}</div>`;
}

export function Shell() {
  const code = useLang();
  const parts = useStore(route, (s) => s.parts);
  const me = useStore(chat, (s) => s.me);
  const badge = useStore(chat, (s) => s.badge);
  const unread = useStore(chat, (s) => Object.values(s.conversations).reduce((n, c) => n + (c.unread_count || 0), 0));
  const here = parts[0] === "c" ? "chats" : parts[0] === "exam" ? "exams" : parts[0];
  const items = [
    ["chats", t("nav.chats"), unread],
    isStudent(me) && ["tutor", t("nav.tutor"), 0],
    ["notifications", t("nav.notifications"), badge],
    (isStaff(me) || isStudent(me)) && ["exams", t("nav.exams"), 0],
    ["dashboard", t("nav.dashboard"), 0],
    (isParent(me) || isStudent(me)) && ["links", t("nav.links"), 0],
    isAdmin(me) && ["admin", t("nav.admin"), 0],
    ["settings", t("nav.settings"), 0],
  ].filter(Boolean);
  return html`
    <div class="shell">
      <a class="skip" href="#main">${t("nav.skip")}</a>
      <nav class="nav" aria-label=${t("nav.label")}>
        <div class="brand">DreamSeed</div>
        <ul>
          ${items.map(([key, label, count]) => html`<li>
            <a href=${`#/${key}`} aria-current=${here === key || (key === "chats" && !here) ? "page" : undefined} data-nav=${key}>
              <span>${label}</span>${count > 0 && html`<span class="badge" aria-label=${t("unread.count", { n: count })}>${count > 99 ? "99+" : count}</span>`}
            </a></li>`)}
        </ul>
        <div class="nav-foot">
          <span class="me" title=${me?.email}>${me?.display_name}</span>
          <button type="button" class="link" onClick=${() => setLanguage(code === "ko" ? "en" : "ko")}
            aria-label=${t("settings.language")}>${code === "ko" ? "English" : "한국어"}</button>
          <button type="button" class="link" onClick=${() => logout()}>${t("nav.logout")}</button>
        </div>
      </nav>
      <div class="main" id="main" tabindex="-1">
        <${Banner} />
        ${screenFor(parts)}
      </div>
      <${Dialogs} />
    </div>`;
}
