// The AI tutor's answers as this device shows them: deltas applied in offset order (what is
// already held is skipped, a delta beyond the text waits for `tutor.resume`), drops cut the
// unconfirmed part, and after a reload or reconnect `tutor.resume` fills in from the length
// held, so nothing is lost or shown twice. Offsets count characters (code points).
import * as c from "./chat.js";
import { createStore } from "./store.js";

const LIVE_KEY = "dreamseed.tutor.live";
export const tutor = createStore({ answers: {}, liveId: sessionStorage.getItem(LIVE_KEY) });

const chars = (s) => Array.from(s || "");

function put(id, fn) {
  tutor.set((s) => ({ answers: { ...s.answers, [id]: fn(s.answers[id] || { id, text: "", attempt: 1, status: "streaming", held: [] }) } }));
}

function setLive(id) {
  if (id) sessionStorage.setItem(LIVE_KEY, id); else sessionStorage.removeItem(LIVE_KEY);
  tutor.set({ liveId: id });
}

function apply(a, f) {
  if (f.attempt < a.attempt) return a;
  if (f.attempt > a.attempt) return { ...a, held: [...a.held, f], gap: true };
  const have = chars(a.text);
  const text = chars(f.text);
  if (f.offset > have.length) return { ...a, held: [...a.held, f], gap: true };
  if (f.offset + text.length <= have.length) return a;
  return { ...a, text: have.slice(0, f.offset).join("") + f.text, status: a.status === "queued" ? "streaming" : a.status, position: null };
}

export function delta(f) {
  let needResume = false;
  put(f.answer_id, (a) => { const b = apply(a, f); needResume = b.gap && !a.gap; return b; });
  if (needResume) resume(f.answer_id);
}

export function drop(f) {
  put(f.answer_id, (a) => ({ ...a, attempt: f.attempt, text: chars(a.text).slice(0, f.offset).join(""), held: [] }));
}

export function queued(f) {
  put(f.answer_id, (a) => ({ ...a, status: chars(a.text).length ? a.status : "queued", position: f.position }));
}

export function error(f) {
  put(f.answer_id, (a) => ({ ...a, error: f.message || f.code, code: f.code }));
}

export function done(f) {
  if (f.message?.sender_id) c.receive(f.message);
  else if (f.message?.conversation_id) c.loadLatest(f.message.conversation_id).catch(() => null);
  put(f.answer_id, (a) => ({ ...a, status: f.status, finished: f.status, position: null, text: f.message?.content ?? a.text }));
  if (tutor.get().liveId === f.answer_id) setLive(null);
}

// Ask the hub for what follows the text held (all of it when the attempt changed).
export async function resume(id) {
  const a = tutor.get().answers[id] || { text: "", attempt: 1 };
  if (!c.socket()?.connected) return; // the connect handler asks once connected
  try {
    const r = await c.emitAck("tutor.resume", { answer_id: id, offset: chars(a.text).length, attempt: a.attempt });
    put(id, (x) => {
      let text = r.attempt !== x.attempt ? [] : chars(x.text).slice(0, r.offset);
      text = text.join("") + r.text;
      let next = { ...x, attempt: r.attempt, text, gap: false, held: [], position: r.position ?? null,
        status: r.done ? r.done.status : r.position ? "queued" : "streaming" };
      for (const f of x.held) next = apply(next, f);
      return { ...next, gap: false, held: [] };
    });
    if (r.done) done({ ...r.done, answer_id: id });
  } catch (e) {
    put(id, (x) => ({ ...x, gap: false, error: e.message }));
    if (e.code === "not_found") setLive(null);
  }
}

export async function ask(question, orgId) {
  const r = await c.emitAck("tutor.ask", { client_msg_id: `q-${crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`}`, question, ...(orgId ? { org_id: orgId } : {}) });
  put(r.answer_id, (a) => a);
  setLive(r.answer_id);
  if (!c.chat.get().conversations[r.conversation_id]) await c.loadConversations();
  if (r.question) c.receive(r.question);
  return r;
}

export const cancel = (id) => c.emitAck("tutor.cancel", { answer_id: id });

export function bind(s) {
  s.on("tutor.delta", delta);
  s.on("tutor.drop", drop);
  s.on("tutor.queued", queued);
  s.on("tutor.error", error);
  s.on("tutor.done", done);
  s.on("connect", () => { const id = tutor.get().liveId; if (id) resume(id); });
}
