// The messenger's client state: conversations, their loaded history, pending sends, typing and
// presence. Messages are keyed by seq, so whatever delivers one (the ack, `message.new`, `sync`,
// a history page) stores it once.
import { api, query } from "./api.js";
import { createStore } from "./store.js";

export const PAGE = 100;
export const chat = createStore({
  me: null,
  conversations: {},
  threads: {},
  names: {},
  presence: {},
  typing: {},
  connection: "connecting",
  badge: 0,
  openId: null,
});

const emptyThread = () => ({
  list: [],
  loaded: false,
  pending: [],
  hasOlder: true,
  hasNewer: false,
  loading: false,
  participants: null,
  jumpSeq: null,
});

let socketRef = null;
export const bindSocket = (s) => { socketRef = s; };
export const socket = () => socketRef;

export function thread(cid) {
  return chat.get().threads[cid] || emptyThread();
}

function putThread(cid, fn) {
  chat.set((s) => ({ threads: { ...s.threads, [cid]: fn(s.threads[cid] || emptyThread()) } }));
}

function putConversation(cid, fn) {
  chat.set((s) => {
    const conv = s.conversations[cid];
    return conv ? { conversations: { ...s.conversations, [cid]: fn(conv) } } : {};
  });
}

export function sortedConversations(state) {
  return Object.values(state.conversations).sort((a, b) =>
    (b.last_message_at || b.created_at || "").localeCompare(a.last_message_at || a.created_at || ""));
}

export function displayTitle(conv, state) {
  if (conv.title) return conv.title;
  const other = (conv.peer_ids || []).map((id) => state.names[id]).filter(Boolean);
  return other.join(", ") || "…";
}

// Merge messages (by seq) into a sorted list without duplicates; later versions win.
const isSorted = (a) => a.every((m, i) => i === 0 || a[i - 1].seq < m.seq);

// The index of the first message with seq >= `seq` (binary search over the sorted list).
export function indexOfSeq(list, seq) {
  let lo = 0, hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].seq < seq) lo = mid + 1; else hi = mid;
  }
  return lo;
}

export function mergeMessages(list, incoming) {
  if (!incoming.length) return list;
  const last = list.length ? list[list.length - 1].seq : -1;
  if (incoming.length === 1 && incoming[0].seq > last) return [...list, incoming[0]];
  // An older page (history paging): sorted, all before what we hold.
  if (list.length && isSorted(incoming) && incoming[incoming.length - 1].seq < list[0].seq) return [...incoming, ...list];
  const bySeq = new Map();
  for (const m of list) bySeq.set(m.seq, m);
  for (const m of incoming) {
    const old = bySeq.get(m.seq);
    if (!old || (m.change_seq ?? 0) >= (old.change_seq ?? 0)) bySeq.set(m.seq, m);
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

export async function loadMe() {
  const me = await api("GET", "/users/me");
  chat.set((s) => ({ me, names: { ...s.names, [me.id]: me.display_name } }));
  return me;
}

// One list load at a time: a burst of messages in a conversation we do not know yet (we were
// just added) asks once, not once per message.
let listing = null;
export function loadConversations() {
  if (!listing) listing = fetchConversations().finally(() => { listing = null; });
  return listing;
}

async function fetchConversations() {
  const { items } = await api("GET", "/conversations");
  const conversations = {};
  for (const c of items) conversations[c.id] = { ...(chat.get().conversations[c.id] || {}), ...c };
  chat.set({ conversations });
  // Direct conversations have no title: learn the other person's name once.
  const untitled = items.filter((c) => !c.title && !c.peer_ids).slice(0, 40);
  await Promise.all(untitled.map((c) => loadDetail(c.id).catch(() => null)));
}

export async function loadDetail(cid) {
  const detail = await api("GET", `/conversations/${cid}`);
  const names = {};
  for (const p of detail.participants) names[p.user_id] = p.display_name;
  const me = chat.get().me;
  const peer_ids = detail.participants.filter((p) => !me || p.user_id !== me.id).map((p) => p.user_id);
  chat.set((s) => ({
    names: { ...s.names, ...names },
    conversations: { ...s.conversations, [cid]: { ...(s.conversations[cid] || {}), ...detail, last_message: s.conversations[cid]?.last_message ?? detail.last_message, peer_ids: detail.kind === "direct" ? peer_ids : [] } },
  }));
  putThread(cid, (t) => ({ ...t, participants: detail.participants }));
  return detail;
}

export async function loadLatest(cid) {
  putThread(cid, (t) => ({ ...t, loading: true }));
  let page;
  try {
    page = await api("GET", `/conversations/${cid}/messages${query({ limit: PAGE })}`);
  } catch (e) {
    // Offline or refused: not "Loading…" for ever; a reconnect loads it again (resync).
    putThread(cid, (t) => ({ ...t, loading: false }));
    throw e;
  }
  // Messages that arrived live while the page was on its way are newer than all of it.
  const top = page.items.length ? page.items[page.items.length - 1].seq : 0;
  putThread(cid, (t) => ({ ...t, list: mergeMessages(page.items, t.list.filter((m) => m.seq > top)), loaded: true, hasOlder: page.has_more, hasNewer: false, loading: false, jumpSeq: null }));
}

export async function loadOlder(cid) {
  const t = thread(cid);
  if (t.loading || !t.hasOlder || !t.list.length) return false;
  putThread(cid, (x) => ({ ...x, loading: true }));
  try {
    const page = await api("GET", `/conversations/${cid}/messages${query({ before: t.list[0].seq, limit: PAGE })}`);
    putThread(cid, (x) => ({ ...x, list: mergeMessages(x.list, page.items), hasOlder: page.has_more, loading: false }));
    return page.items.length > 0;
  } catch (e) {
    putThread(cid, (x) => ({ ...x, loading: false }));
    throw e;
  }
}

export async function loadNewer(cid) {
  const t = thread(cid);
  if (t.loading || !t.hasNewer || !t.list.length) return;
  putThread(cid, (x) => ({ ...x, loading: true }));
  const after = t.list[t.list.length - 1].seq;
  const page = await api("GET", `/conversations/${cid}/messages${query({ after, limit: PAGE })}`);
  putThread(cid, (x) => ({ ...x, list: mergeMessages(x.list, page.items), hasNewer: page.has_more, loading: false }));
}

// Show the messages around `seq` (a search hit); newer ones load as the user scrolls down.
export async function jumpTo(cid, seq) {
  const after = Math.max(seq - 20, 0);
  const page = await api("GET", `/conversations/${cid}/messages${query({ after, limit: PAGE })}`);
  putThread(cid, (t) => ({ ...t, list: page.items, loaded: true, hasOlder: after > 0, hasNewer: page.has_more, jumpSeq: seq }));
}

export function receive(m) {
  const cid = m.conversation_id;
  const conv = chat.get().conversations[cid];
  if (!conv) { loadConversations().catch(() => null); return; }
  const t = thread(cid);
  const me = chat.get().me;
  const mine = me && m.sender_id === me.id;
  if (!t.hasNewer && t.list.length && m.seq > t.list[t.list.length - 1].seq + 1) {
    // A gap: something was missed; ask for everything after what we have.
    resync([cid]);
  }
  if (!t.hasNewer) {
    putThread(cid, (x) => ({
      ...x,
      // Kept while the first page loads too (loadLatest keeps what is newer than its page).
      list: x.loaded || x.loading ? mergeMessages(x.list, [m]) : x.list,
      pending: mine ? x.pending.filter((p) => p.client_msg_id !== m.client_msg_id) : x.pending,
    }));
  }
  const open = chat.get().openId === cid && document.visibilityState === "visible";
  putConversation(cid, (c) => ({
    ...c,
    last_seq: Math.max(c.last_seq, m.seq),
    change_seq: Math.max(c.change_seq ?? 0, m.change_seq ?? 0),
    last_message_at: m.created_at,
    last_message: m.seq >= (c.last_message?.seq ?? 0) ? m : c.last_message,
    unread_count: mine || open ? c.unread_count : c.unread_count + 1,
  }));
  if (open && !mine) markRead(cid, m.seq);
}

export function update(m) {
  const cid = m.conversation_id;
  putThread(cid, (t) => ({ ...t, list: t.list.some((x) => x.seq === m.seq) ? mergeMessages(t.list, [m]) : t.list }));
  putConversation(cid, (c) => ({
    ...c,
    change_seq: Math.max(c.change_seq ?? 0, m.change_seq ?? 0),
    last_message: c.last_message && c.last_message.seq === m.seq ? m : c.last_message,
  }));
}

export function readReceipt({ conversation_id, user_id, seq }) {
  putThread(conversation_id, (t) => ({
    ...t,
    participants: t.participants && t.participants.map((p) => (p.user_id === user_id && p.last_read_seq < seq ? { ...p, last_read_seq: seq } : p)),
  }));
  const me = chat.get().me;
  if (me && user_id === me.id) {
    putConversation(conversation_id, (c) => ({ ...c, last_read_seq: Math.max(c.last_read_seq, seq), unread_count: Math.max(c.last_seq - Math.max(c.last_read_seq, seq), 0) }));
  }
}

const readSent = {};
export function markRead(cid, seq) {
  const conv = chat.get().conversations[cid];
  if (!conv || seq <= Math.max(conv.last_read_seq, readSent[cid] || 0)) return;
  readSent[cid] = seq;
  putConversation(cid, (c) => ({ ...c, last_read_seq: seq, unread_count: Math.max(c.last_seq - seq, 0) }));
  socketRef?.emit("message.read", { conversation_id: cid, seq });
}

const newId = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

export function send(cid, content, { replyTo = null, ackRequired = false, attachments = null, messageType = "text" } = {}) {
  const pending = { client_msg_id: newId(), content, reply_to: replyTo, ack_required: ackRequired, attachments, message_type: messageType, status: "sending", created_at: new Date().toISOString() };
  putThread(cid, (t) => ({ ...t, pending: [...t.pending, pending] }));
  return deliver(cid, pending);
}

export function retry(cid, clientMsgId) {
  const p = thread(cid).pending.find((x) => x.client_msg_id === clientMsgId);
  if (!p) return null;
  putThread(cid, (t) => ({ ...t, pending: t.pending.map((x) => (x.client_msg_id === clientMsgId ? { ...x, status: "sending" } : x)) }));
  return deliver(cid, p);
}

async function deliver(cid, p) {
  const body = { conversation_id: cid, client_msg_id: p.client_msg_id, content: p.content, reply_to: p.reply_to, ack_required: p.ack_required };
  if (p.attachments) Object.assign(body, { attachment_ids: p.attachments.map((f) => f.id), message_type: p.message_type });
  let ack;
  try {
    if (!socketRef || !socketRef.connected) throw new Error("offline");
    ack = await socketRef.timeout(10_000).emitWithAck("message.send", body);
  } catch {
    ack = { error: { code: "timeout", message: "No answer" } };
  }
  if (ack.error) {
    putThread(cid, (t) => ({ ...t, pending: t.pending.map((x) => (x.client_msg_id === p.client_msg_id ? { ...x, status: "failed", error: ack.error } : x)) }));
    return ack;
  }
  const me = chat.get().me;
  receive({ id: ack.id, seq: ack.seq, created_at: ack.created_at, conversation_id: cid, sender_id: me.id, client_msg_id: p.client_msg_id, content: p.content, reply_to: p.reply_to, ack_required: p.ack_required, message_type: p.message_type || "text", attachments: p.attachments ? p.attachments.map((f) => ({ ...f, transcript: null })) : undefined, change_seq: 0, edited_at: null, deleted_at: null });
  return ack;
}

export async function emitAck(event, body) {
  if (!socketRef || !socketRef.connected) throw new Error("offline");
  const ack = await socketRef.timeout(10_000).emitWithAck(event, body);
  if (ack && ack.error) throw Object.assign(new Error(ack.error.message), { code: ack.error.code });
  return ack;
}

export function setTyping({ conversation_id, user_id, typing, expires_in }) {
  chat.set((s) => {
    const now = Date.now();
    const cur = { ...(s.typing[conversation_id] || {}) };
    if (typing) cur[user_id] = now + (expires_in || 5) * 1000;
    else delete cur[user_id];
    return { typing: { ...s.typing, [conversation_id]: cur } };
  });
}

export function setPresence(users) {
  chat.set((s) => ({ presence: { ...s.presence, ...users } }));
}

// Everything after what we hold, from PostgreSQL: new messages, edits and deletions.
export async function resync(ids) {
  // The open conversation whose first page never came (it was opened as the network went):
  // load it now, or its history and the acks of its sends would stay hidden.
  const open = chat.get().openId;
  if (!ids && open && !thread(open).loaded && !thread(open).loading) await loadLatest(open).catch(() => null);
  const s = chat.get();
  const wanted = ids || Object.keys(s.threads).filter((cid) => s.threads[cid].loaded && !s.threads[cid].hasNewer);
  if (!wanted.length || !socketRef) return;
  const conversations = {};
  for (const cid of wanted) {
    const t = s.threads[cid];
    const last = t.list[t.list.length - 1];
    const change = Math.max(0, ...t.list.map((m) => m.change_seq || 0));
    conversations[cid] = { seq: last ? last.seq : 0, change };
  }
  const reply = await emitAck("sync", { conversations, limit: 100 });
  for (const [cid, entry] of Object.entries(reply.conversations)) {
    if (entry.error) continue;
    if (entry.has_more) {
      await loadLatest(cid);
    } else {
      putThread(cid, (t) => ({ ...t, list: mergeMessages(mergeMessages(t.list, entry.messages), entry.changes.filter((m) => t.list.some((x) => x.seq === m.seq))) }));
      const me = chat.get().me;
      const mineIds = new Set(entry.messages.filter((m) => me && m.sender_id === me.id).map((m) => m.client_msg_id));
      putThread(cid, (t) => ({ ...t, pending: t.pending.filter((p) => !mineIds.has(p.client_msg_id)) }));
    }
  }
}

// Someone joined or left: I see a new conversation at once, or lose one I was removed from;
// others' changes refresh the member list where it is shown.
export function membership(e, added) {
  const me = chat.get().me;
  const cid = e.conversation_id;
  if (me && e.user_id === me.id) {
    if (added) { loadConversations().catch(() => null); return; }
    chat.set((s) => {
      const conversations = { ...s.conversations };
      delete conversations[cid];
      return { conversations, openId: s.openId === cid ? null : s.openId };
    });
    if (location.hash.startsWith(`#/c/${cid}`)) location.hash = "#/chats";
    return;
  }
  if (chat.get().threads[cid]?.participants) loadDetail(cid).catch(() => null);
}
