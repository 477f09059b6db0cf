// The live connection: the default namespace for chat, presence and notifications. It
// authenticates with a fresh access token on every (re)connect, renews it with `auth.refresh`
// before it expires, and after a reconnect asks `sync` for exactly what it missed.
import { io } from "/static/vendor/socket.io.esm.min.js";
import { accessExpiresIn, refresh, token } from "./api.js";
import * as chat from "./chat.js";
import * as tutor from "./tutor.js";
import * as files from "./files.js";

let renewTimer = null;

export function connect() {
  const s = io({
    transports: ["websocket"],
    auth: (cb) => token().then((t) => cb({ token: t }), () => cb({})),
    reconnectionDelay: 300,
    reconnectionDelayMax: 3000,
  });
  chat.bindSocket(s);
  let everConnected = false;
  s.on("connect", async () => {
    chat.chat.set({ connection: "online" });
    scheduleRenewal(s);
    if (everConnected) {
      await chat.loadConversations().catch(() => null);
      await chat.resync().catch(() => null);
    }
    everConnected = true;
    const st = chat.chat.get();
    const peers = Object.values(st.conversations).flatMap((c) => c.peer_ids || []);
    if (peers.length) queryPresence(peers);
  });
  s.on("disconnect", () => chat.chat.set({ connection: "reconnecting" }));
  s.on("connect_error", () => chat.chat.set({ connection: "reconnecting" }));
  s.on("auth.expired", () => { s.disconnect(); s.connect(); });
  s.on("message.new", chat.receive);
  s.on("message.updated", chat.update);
  s.on("message.deleted", chat.update);
  s.on("message.read", chat.readReceipt);
  s.on("message.typing", chat.setTyping);
  s.on("conversation.member_added", (e) => chat.membership(e, true));
  s.on("conversation.member_removed", (e) => chat.membership(e, false));
  s.on("message.acknowledged", (e) => window.dispatchEvent(new CustomEvent("ds:acknowledged", { detail: e })));
  s.on("user.online", (e) => chat.setPresence({ [e.user_id]: { online: true } }));
  s.on("user.offline", (e) => chat.setPresence({ [e.user_id]: { online: false, last_seen: e.last_seen } }));
  s.on("notification.badge", (e) => chat.chat.set({ badge: e.unread }));
  for (const name of ["parent_link.requested", "parent_link.approved", "parent_link.rejected", "parent_link.expired"]) {
    s.on(name, (e) => window.dispatchEvent(new CustomEvent("ds:links", { detail: { name, ...e } })));
  }
  tutor.bind(s);
  files.bind(s);
  s.on("exam.finished", (e) => window.dispatchEvent(new CustomEvent("ds:exam-finished", { detail: e })));
  return s;
}

export async function queryPresence(userIds) {
  try {
    const reply = await chat.emitAck("presence.query", { user_ids: [...new Set(userIds)].slice(0, 500) });
    chat.setPresence(reply.users);
  } catch { /* shown as unknown */ }
}

function scheduleRenewal(s) {
  clearTimeout(renewTimer);
  const wait = Math.max(accessExpiresIn() - 60_000, 5_000);
  renewTimer = setTimeout(async () => {
    try {
      await refresh();
      const fresh = await token();
      if (s.connected) await s.timeout(10_000).emitWithAck("auth.refresh", { access_token: fresh });
    } catch { /* the hub closes the socket; the reconnect authenticates afresh */ }
    scheduleRenewal(s);
  }, wait);
}

export function disconnect() {
  clearTimeout(renewTimer);
  chat.socket()?.disconnect();
  chat.bindSocket(null);
}
