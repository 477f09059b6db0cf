// One conversation: windowed history (only ~WINDOW messages are in the DOM, whatever is
// loaded, so 10,000 messages scroll as smoothly as 50), older pages on scroll, optimistic
// sending with retry, typing, presence, receipts, edit/delete/reply/report, acknowledgements.
import { Component, html, useEffect, useLayoutEffect, useMemo, useRef, useState } from "../lib.js";
import { api } from "../api.js";
import * as c from "../chat.js";
import { formatDateTime, formatTime, t } from "../i18n.js";
import { queryPresence } from "../realtime.js";
import { useStore } from "../store.js";
import { ConversationInfo } from "./conversation_info.js";
import { ReadList } from "./read_list.js";
import { confirmDialog, noticeDialog } from "../dialog.js";
import { Attachments } from "../files.js";
import { AttachButton, UploadList, useUploads, VoiceButton } from "./attach.js";

const WINDOW = 120;
const STEP = 40;
const EDGE_PX = 400;

function useThread(cid) {
  return useStore(c.chat, (s) => s.threads[cid] || c.thread(cid));
}

function Presence({ conv }) {
  const state = useStore(c.chat);
  if (conv.kind !== "direct") return html`<span class="muted">${t("chat.members", { n: (state.threads[conv.id]?.participants || []).length || "…" })}</span>`;
  const peer = (conv.peer_ids || [])[0];
  const p = peer && state.presence[peer];
  if (!p) return null;
  return html`<span class=${p.online ? "online" : "muted"} data-presence=${p.online ? "online" : "offline"}>
    ${p.online ? t("presence.online") : p.last_seen ? t("presence.last_seen", { when: formatDateTime(p.last_seen) }) : t("presence.offline")}</span>`;
}

function TypingLine({ cid }) {
  const typing = useStore(c.chat, (s) => s.typing[cid] || {});
  const names = useStore(c.chat, (s) => s.names);
  const [, tick] = useState(0);
  const now = Date.now();
  const who = Object.entries(typing).filter(([, until]) => until > now).map(([uid]) => names[uid] || "…");
  useEffect(() => {
    if (!who.length) return undefined;
    const timer = setTimeout(() => tick((x) => x + 1), 1000);
    return () => clearTimeout(timer);
  });
  return html`<div class="typing" aria-live="polite">${who.length ? t("chat.typing", { who: who.join(", ") }) : ""}</div>`;
}

function Receipt({ m, conv, participants, me }) {
  if (m.sender_id !== me.id || m.deleted_at || !participants) return null;
  const others = participants.filter((p) => p.user_id !== me.id);
  const read = others.filter((p) => p.last_read_seq >= m.seq).length;
  if (conv.kind === "direct") {
    return html`<span class="receipt" data-receipt=${read ? "read" : "sent"}>${read ? t("receipt.read") : t("receipt.sent")}</span>`;
  }
  if (conv.kind === "announcement") return null;
  return html`<span class="receipt" data-receipt=${read}>${t("receipt.read_by", { n: read, total: others.length })}</span>`;
}

// Re-render a message only when something it shows changed (the window moves often).
class Memo extends Component {
  shouldComponentUpdate(next, nextState) {
    if (nextState !== this.state) return true; // the message's own hooks changed (its menu)
    for (const k in next) if (next[k] !== this.props[k]) return true;
    return false;
  }
  render(props) { return props.render(props); }
}

function Bubble(props) {
  return html`<${Memo} ...${props} render=${BubbleView} />`;
}

function BubbleView({ m, conv, participants, me, names, reply, onReply, onEdit, onReadList, highlight }) {
  const [menu, setMenu] = useState(false);
  const [acked, setAcked] = useState(false);
  const [problem, setProblem] = useState("");
  const [reporting, setReporting] = useState(false);
  const [reason, setReason] = useState("");
  const mine = m.sender_id === me.id;
  const admin = conv.my_role === "admin";
  async function act(fn) {
    setMenu(false);
    setProblem("");
    try { await fn(); } catch (e) { setProblem(e.message); }
  }
  async function report(e) {
    e.preventDefault();
    await act(async () => {
      await api("POST", `/messages/${m.id}/report`, { reason });
      setReporting(false);
      setProblem(t("msg.reported"));
    });
  }
  return html`<li class=${`msg ${mine ? "mine" : ""} ${highlight ? "hit" : ""}`} data-seq=${m.seq} data-id=${m.id}>
    ${!mine && conv.kind !== "direct" && html`<span class="sender">${names[m.sender_id] || ""}</span>`}
    <div class="bubble">
      ${reply && html`<blockquote class="reply-quote">${reply.deleted_at ? t("msg.deleted") : reply.content}</blockquote>`}
      ${!m.deleted_at && m.attachments?.length > 0 && html`<${Attachments} m=${m} />`}
      ${m.deleted_at ? html`<em class="muted">${t("msg.deleted")}</em>` : (m.content || !m.attachments?.length) && html`<span class="text">${m.content}</span>`}
      ${m.ack_required && html`<span class="ack-tag">${t("msg.ack_required")}</span>`}
    </div>
    <div class="meta">
      <time datetime=${m.created_at}>${formatTime(m.created_at)}</time>
      ${m.edited_at && !m.deleted_at && html`<span class="muted">${t("msg.edited")}</span>`}
      <${Receipt} m=${m} conv=${conv} participants=${participants} me=${me} />
      ${m.ack_required && !mine && !m.deleted_at && (acked ? html`<span class="acked" role="status">${t("msg.acked")} ✓</span>`
        : html`<button type="button" class="small" onClick=${() => act(() => c.emitAck("message.ack", { message_id: m.id }).then(() => setAcked(true)))}>${t("msg.ack")}</button>`)}
      ${!m.deleted_at && html`<button type="button" class="icon" aria-label=${t("msg.menu")} aria-expanded=${menu} onClick=${() => setMenu(!menu)}>⋯</button>`}
    </div>
    ${menu && html`<div class="msg-actions" role="group" aria-label=${t("msg.menu")}>
      ${(conv.kind !== "announcement" || admin) && html`<button type="button" onClick=${() => { setMenu(false); onReply(m); }}>${t("msg.reply")}</button>`}
      ${mine && html`<button type="button" onClick=${() => { setMenu(false); onEdit(m); }}>${t("msg.edit")}</button>`}
      ${(mine || admin) && html`<button type="button" onClick=${() => act(async () => { if (await confirmDialog(t("msg.delete_confirm"), t("msg.delete"))) await c.emitAck("message.delete", { message_id: m.id }); })}>${t("msg.delete")}</button>`}
      ${!mine && html`<button type="button" onClick=${() => { setMenu(false); setReporting(true); }}>${t("msg.report")}</button>`}
      ${mine && admin && conv.kind !== "direct" && html`<button type="button" onClick=${() => { setMenu(false); onReadList(m); }}>${t("msg.read_list")}</button>`}
    </div>`}
    ${reporting && html`<form class="report-form" onSubmit=${report}>
      <label for=${`report-${m.seq}`}>${t("msg.report_reason")}</label>
      <input id=${`report-${m.seq}`} required maxlength="1000" value=${reason} onInput=${(e) => setReason(e.target.value)} />
      <button type="submit" class="small">${t("msg.report")}</button>
      <button type="button" class="small" onClick=${() => setReporting(false)}>${t("common.cancel")}</button>
    </form>`}
    ${problem && html`<span class="msg-status" role="status">${problem}</span>`}
  </li>`;
}

function Pending({ p, cid }) {
  return html`<li class=${`msg mine pending ${p.status}`} data-client-msg-id=${p.client_msg_id}>
    <div class="bubble">${p.attachments && html`<span class="muted">${p.attachments.map((f) => f.name).join(", ")}</span>`}<span class="text">${p.content}</span></div>
    <div class="meta">
      ${p.status === "sending" ? html`<span class="muted">${t("msg.sending")}</span>`
        : html`<span class="error">${t("msg.failed")}</span>
          <button type="button" class="small" onClick=${() => c.retry(cid, p.client_msg_id)}>${t("msg.retry")}</button>`}
    </div>
  </li>`;
}

function Composer({ cid, conv, replyTo, setReplyTo, editing, setEditing, onSend }) {
  const [text, setText] = useState("");
  const [ack, setAck] = useState(false);
  const typingSent = useRef(0);
  const idle = useRef(null);
  const area = useRef(null);
  const uploads = useUploads(conv.org_id);
  useEffect(() => { if (editing) { setText(editing.content); area.current?.focus(); } }, [editing]);
  useEffect(() => { if (replyTo) area.current?.focus(); }, [replyTo]);
  const readOnly = conv.kind === "announcement" && conv.my_role !== "admin";
  if (readOnly) return html`<p class="read-only muted">${t("chat.read_only")}</p>`;
  function typing(on) {
    const s = c.socket();
    if (!s || !s.connected) return;
    const now = Date.now();
    if (on && now - typingSent.current < 3000) return;
    typingSent.current = on ? now : 0;
    s.emit("message.typing", { conversation_id: cid, typing: on });
  }
  function onInput(e) {
    setText(e.target.value);
    typing(true);
    clearTimeout(idle.current);
    idle.current = setTimeout(() => typing(false), 2500);
  }
  async function submit(e) {
    e?.preventDefault();
    const content = text;
    const files = editing ? [] : uploads.ready;
    if (!content.trim() && !files.length) return;
    if (uploads.busy && !editing) return;
    setText("");
    clearTimeout(idle.current);
    typing(false);
    if (editing) {
      const m = editing;
      setEditing(null);
      try { await c.emitAck("message.edit", { message_id: m.id, content }); } catch (err) { noticeDialog(err.message); }
      return;
    }
    const reply = replyTo;
    setReplyTo(null);
    await onSend();
    const kind = files.length ? (files.every((f) => f.kind === "image") ? "image" : "file") : "text";
    c.send(cid, content, { replyTo: reply ? reply.id : null, ackRequired: ack, attachments: files.length ? files : null, messageType: kind });
    uploads.clear();
    setAck(false);
  }
  async function voice(blob, name) {
    const record = await uploads.add(blob, name);
    if (!record) return;
    uploads.clear();
    await onSend();
    c.send(cid, "", { attachments: [record], messageType: "voice" });
  }
  function onKey(e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    if (e.key === "Escape") { setReplyTo(null); setEditing(null); setText(""); }
  }
  return html`<form class="composer" onSubmit=${submit}>
    ${(replyTo || editing) && html`<div class="composer-context">
      <span>${editing ? t("msg.editing") : t("msg.replying", { text: (replyTo.content || "").slice(0, 60) })}</span>
      <button type="button" class="link" onClick=${() => { setReplyTo(null); setEditing(null); setText(""); }}>${t("common.cancel")}</button>
    </div>`}
    <${UploadList} uploads=${uploads} />
    <${AttachButton} uploads=${uploads} />
    <label for="composer-text" class="sr-only">${t("chat.message")}</label>
    <textarea id="composer-text" ref=${area} rows="1" placeholder=${t("chat.placeholder")} value=${text}
      onInput=${onInput} onKeyDown=${onKey} onBlur=${() => typing(false)}></textarea>
    ${conv.kind === "announcement" && html`<label class="check"><input type="checkbox" checked=${ack} onChange=${(e) => setAck(e.target.checked)} /> ${t("msg.ack_required")}</label>`}
    ${!editing && !text && !uploads.ready.length ? html`<${VoiceButton} onRecorded=${voice} />`
      : html`<button type="submit" class="primary" disabled=${uploads.busy}>${editing ? t("common.save") : t("chat.send")}</button>`}
  </form>`;
}

function anchorOf(box) {
  const top = box.getBoundingClientRect().top;
  for (const el of box.querySelectorAll("li[data-seq]")) {
    const r = el.getBoundingClientRect();
    if (r.bottom > top) return { seq: el.dataset.seq, offset: r.top - top };
  }
  return null;
}

export function Conversation({ cid, jump }) {
  const conv = useStore(c.chat, (s) => s.conversations[cid]);
  const me = useStore(c.chat, (s) => s.me);
  const names = useStore(c.chat, (s) => s.names);
  const th = useThread(cid);
  const box = useRef(null);
  const anchor = useRef(null);
  const stick = useRef(true);
  const [win, setWin] = useState({ start: null, end: null });
  const [replyTo, setReplyTo] = useState(null);
  const [editing, setEditing] = useState(null);
  const [info, setInfo] = useState(false);
  const [readList, setReadList] = useState(null);
  const [error, setError] = useState("");

  useEffect(() => {
    c.loadDetail(cid).then((d) => { if (d.kind === "direct") queryPresence(d.participants.map((p) => p.user_id)); }).catch((e) => setError(e.message));
    if (jump) {
      if (th.jumpSeq !== jump) c.jumpTo(cid, jump).catch((e) => setError(e.message));
    } else {
      c.loadLatest(cid).catch((e) => setError(e.message));
    }
  }, [cid, jump]);

  const list = th.list;
  const byId = useMemo(() => new Map(list.map((m) => [m.id, m])), [list]);
  // The window, as indices into the loaded list: [start, end) (end null: follow the newest).
  const startIdx = win.start === null ? Math.max(0, list.length - WINDOW) : c.indexOfSeq(list, win.start);
  const endIdx = win.end === null ? list.length : c.indexOfSeq(list, win.end + 1);
  const shown = list.slice(startIdx, endIdx);
  const following = win.end === null && !th.hasNewer;
  // What a message needs of its conversation, stable while those fields stay the same.
  const bubbleConv = useMemo(() => conv && { id: conv.id, kind: conv.kind, my_role: conv.my_role }, [conv?.id, conv?.kind, conv?.my_role]);

  function moveWindow(start, end) {
    anchor.current = box.current ? anchorOf(box.current) : null;
    setWin({ start: start === null ? null : list[start]?.seq ?? null, end: end === null ? null : list[end - 1]?.seq ?? null });
  }

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (anchor.current) {
      const target = el.querySelector(`li[data-seq="${anchor.current.seq}"]`);
      if (target) el.scrollTop += target.getBoundingClientRect().top - el.getBoundingClientRect().top - anchor.current.offset;
      anchor.current = null;
    } else if (th.jumpSeq) {
      const target = el.querySelector(`li[data-seq="${th.jumpSeq}"]`);
      if (target) { target.scrollIntoView({ block: "center" }); stick.current = false; }
    } else if (stick.current) {
      el.scrollTop = el.scrollHeight;
    }
  });

  useEffect(() => {
    if (following && stick.current && list.length && conv) c.markRead(cid, list[list.length - 1].seq);
  }, [list.length, following, conv?.last_seq]);

  async function onScroll() {
    const el = box.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
    if (el.scrollTop < EDGE_PX) {
      if (startIdx > 0) {
        const start = Math.max(0, startIdx - STEP);
        moveWindow(start, Math.min(list.length, start + WINDOW) >= list.length ? null : start + WINDOW);
      } else if (th.hasOlder && !th.loading) {
        anchor.current = anchorOf(el);
        const before = list.length;
        const grew = await c.loadOlder(cid).catch(() => false);
        if (grew) {
          const added = c.thread(cid).list.length - before;
          const next = c.thread(cid).list;
          const start = Math.max(0, added - STEP);
          anchor.current = anchorOf(el);
          setWin({ start: next[start].seq, end: endIdx - startIdx + added - start > WINDOW ? next[start + WINDOW - 1].seq : (win.end === null ? null : win.end) });
        }
      }
    } else if (el.scrollHeight - el.scrollTop - el.clientHeight < EDGE_PX) {
      if (win.end !== null) {
        const end = Math.min(list.length, endIdx + STEP);
        const start = Math.max(0, end - WINDOW);
        moveWindow(start, end >= list.length ? null : end);
      } else if (th.hasNewer && !th.loading) {
        await c.loadNewer(cid).catch(() => null);
      }
    }
    if (stick.current && following && list.length) c.markRead(cid, list[list.length - 1].seq);
  }

  // Sending from further up (a search hit, older pages): show the newest again, where the
  // message will appear.
  async function backToNewest() {
    stick.current = true;
    if (win.start !== null || win.end !== null) setWin({ start: null, end: null });
    if (th.hasNewer || th.jumpSeq) await c.loadLatest(cid).catch(() => null);
  }

  if (!conv || !me) return html`<section class="conversation"><p class="muted">${error || "…"}</p></section>`;
  return html`<section class="conversation" aria-label=${c.displayTitle(conv, c.chat.get())}>
    <header class="conv-head">
      <a class="back" href="#/chats" aria-label=${t("common.back")}>‹</a>
      <div class="conv-head-main">
        <h2>${c.displayTitle(conv, c.chat.get())}</h2>
        <${Presence} conv=${conv} />
      </div>
      <button type="button" onClick=${() => setInfo(!info)} aria-expanded=${info}>${t("chat.info")}</button>
    </header>
    ${info && html`<${ConversationInfo} cid=${cid} conv=${conv} onClose=${() => setInfo(false)} />`}
    ${readList && html`<${ReadList} message=${readList} conv=${conv} onClose=${() => setReadList(null)} />`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="history" ref=${box} onScroll=${onScroll} tabindex="0" aria-label=${t("chat.history")}>
      ${th.loading && html`<p class="muted center" role="status">${t("common.loading")}</p>`}
      ${!th.hasOlder && startIdx === 0 && html`<p class="muted center">${t("chat.start")}</p>`}
      <ol class="messages" aria-live=${following ? "polite" : "off"}>
        ${shown.map((m) => html`<${Bubble} key=${m.seq} m=${m} conv=${bubbleConv} participants=${th.participants} me=${me} names=${names} reply=${m.reply_to ? byId.get(m.reply_to) : null}
          onReply=${setReplyTo} onEdit=${setEditing} onReadList=${setReadList} highlight=${th.jumpSeq === m.seq} />`)}
        ${following && th.pending.map((p) => html`<${Pending} key=${p.client_msg_id} p=${p} cid=${cid} />`)}
      </ol>
    </div>
    <${TypingLine} cid=${cid} />
    <${Composer} cid=${cid} conv=${conv} replyTo=${replyTo} setReplyTo=${setReplyTo} editing=${editing} setEditing=${setEditing} onSend=${backToNewest} />
  </section>`;
}
