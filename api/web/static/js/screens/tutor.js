// The student's AI tutor: their tutor conversation, the answer growing as it streams (or its
// place in line), stop, and the reason when the tutor cannot answer.
import { html, useEffect, useLayoutEffect, useRef, useState } from "../lib.js";
import * as c from "../chat.js";
import { formatTime, t } from "../i18n.js";
import { firstOrg } from "../roles.js";
import { useStore } from "../store.js";
import { ask, cancel, resume, tutor } from "../tutor.js";

const REASONS = new Set(["tutor_not_configured", "exam_in_progress", "tutor_disabled", "tutor_refused", "rate_limited", "too_many_in_flight", "model_unavailable", "model_timeout", "model_failed"]);
const reason = (code, message) => (REASONS.has(code) ? t(`tutor.why.${code}`) : message || t("common.error"));

function Live({ a }) {
  const busy = a.status === "streaming" || a.status === "queued";
  return html`<li class="msg tutor-live" data-status=${a.status} data-answer-id=${a.id}>
    <div class="bubble">
      ${a.status === "queued" && !a.text && html`<span class="muted queued" role="status">${t("tutor.queued", { n: a.position ?? "…" })}</span>`}
      ${a.status === "streaming" && !a.text && html`<span class="muted" role="status">${t("tutor.thinking")}</span>`}
      <span class="text">${a.text}</span>${busy && html`<span class="caret" aria-hidden="true">▍</span>`}
    </div>
    ${a.error && html`<p class="error" role="alert">${reason(a.code, a.error)}</p>`}
  </li>`;
}

export function Tutor() {
  const me = useStore(c.chat, (s) => s.me);
  const conv = useStore(c.chat, (s) => Object.values(s.conversations).find((x) => x.kind === "tutor"));
  // (useStore keeps its first selector: pick the thread here, not in one that names conv)
  const threads = useStore(c.chat, (s) => s.threads);
  const th = (conv && threads[conv.id]) || c.thread("none");
  const { answers, liveId } = useStore(tutor);
  const [question, setQuestion] = useState("");
  const [problem, setProblem] = useState(null);
  const [lastId, setLastId] = useState(liveId);
  const box = useRef(null);
  useEffect(() => {
    if (!conv) return undefined;
    c.chat.set({ openId: conv.id }); // new messages here count as read while the pane is open
    c.loadLatest(conv.id).catch(() => null);
    return () => c.chat.set({ openId: null });
  }, [conv?.id]);
  useEffect(() => { if (liveId) { setLastId(liveId); if (!answers[liveId]) resume(liveId); } }, [liveId]);
  useEffect(() => { if (conv && th.list.length) c.markRead(conv.id, th.list[th.list.length - 1].seq); }, [th.list.length]);
  const live = lastId && answers[lastId];
  useLayoutEffect(() => { if (box.current) box.current.scrollTop = box.current.scrollHeight; });
  const busy = live && (live.status === "streaming" || live.status === "queued");
  async function submit(e) {
    e?.preventDefault();
    const q = question.trim();
    if (!q || busy) return;
    setProblem(null);
    try {
      const r = await ask(q, firstOrg(me, ["student"]));
      setQuestion("");
      setLastId(r.answer_id);
    } catch (err) {
      setProblem(reason(err.code, err.message));
    }
  }
  async function stop() {
    try { await cancel(live.id); } catch (err) { setProblem(err.message); }
  }
  const shown = th.list.filter((m) => !(live && !live.finished && m.client_msg_id === `tutor:${live.id}`));
  return html`<section class="conversation tutor" aria-label=${t("tutor.title")}>
    <header class="conv-head"><div class="conv-title"><h2>${t("tutor.title")}</h2>
      <span class="muted">${t("tutor.hint")}</span></div></header>
    <ol class="messages tutor-thread" ref=${box} aria-live="polite">
      ${!shown.length && !live && html`<li class="muted center">${t("tutor.empty")}</li>`}
      ${shown.map((m) => html`<li class=${`msg ${m.sender_id === me.id ? "mine" : "tutor-answer"}`} data-seq=${m.seq}>
        <div class="bubble"><span class="text">${m.content}</span></div>
        <div class="meta"><time datetime=${m.created_at}>${formatTime(m.created_at)}</time></div></li>`)}
      ${live && !live.finished && html`<${Live} a=${live} />`}
      ${live && live.finished && live.finished !== "done" && html`<li class="tutor-note muted" data-status=${live.finished} role="status">${t(`tutor.status.${live.finished}`)}</li>`}
      ${live && live.finished && live.error && html`<li class="error" role="alert">${reason(live.code, live.error)}</li>`}
    </ol>
    ${problem && html`<p class="error tutor-problem" role="alert">${problem}</p>`}
    <form class="composer" onSubmit=${submit}>
      <label for="tutor-question" class="sr-only">${t("tutor.ask_label")}</label>
      <textarea id="tutor-question" rows="1" maxlength="2000" placeholder=${t("tutor.placeholder")} value=${question}
        onInput=${(e) => setQuestion(e.target.value)}
        onKeyDown=${(e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); } }}></textarea>
      ${busy ? html`<button type="button" class="stop" onClick=${stop}>${t("tutor.stop")}</button>`
        : html`<button type="submit" class="primary">${t("tutor.ask")}</button>`}
    </form>
  </section>`;
}
