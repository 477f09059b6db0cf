// The conversation list (by activity, unread badges, last message), search across my
// conversations, and the open conversation beside it (desktop) or instead of it (phone).
import { html, useEffect, useState } from "../lib.js";
import { api, query } from "../api.js";
import { chat, displayTitle, jumpTo, sortedConversations } from "../chat.js";
import { formatTime, t } from "../i18n.js";
import { go } from "../router.js";
import { useStore } from "../store.js";
import { Conversation } from "./conversation.js";

function preview(conv) {
  const m = conv.last_message;
  if (!m) return t("chat.empty");
  if (m.deleted_at) return t("msg.deleted");
  if (m.content) return m.content;
  if (m.message_type === "voice") return t("file.voice");
  return (m.attachments || []).map((f) => f.name).join(", ");
}

function Search({ onClose }) {
  const [q, setQ] = useState("");
  const [hits, setHits] = useState(null);
  const [error, setError] = useState("");
  async function run(e) {
    e.preventDefault();
    if (!q.trim()) return;
    try {
      setError("");
      setHits((await api("GET", `/search${query({ q: q.trim(), limit: 30 })}`)).items);
    } catch (err) { setError(err.message); }
  }
  async function open(hit) {
    await jumpTo(hit.message.conversation_id, hit.message.seq);
    go(`c/${hit.message.conversation_id}/${hit.message.seq}`);
    onClose();
  }
  return html`<section class="search" aria-label=${t("search.title")}>
    <form onSubmit=${run} role="search">
      <label for="search-q" class="sr-only">${t("search.title")}</label>
      <input id="search-q" type="search" placeholder=${t("search.placeholder")} value=${q} onInput=${(e) => setQ(e.target.value)} />
      <button type="submit">${t("search.go")}</button>
      <button type="button" class="link" onClick=${onClose}>${t("common.close")}</button>
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${hits && html`<ul class="hits" aria-live="polite">
      ${hits.length === 0 && html`<li class="muted">${t("search.none")}</li>`}
      ${hits.map((h) => html`<li><button type="button" class="hit" onClick=${() => open(h)}>
        <span class="hit-title">${h.conversation_title || t("chat.direct")}</span>
        <span class="hit-text">${h.message.content}</span>
        <time>${formatTime(h.message.created_at)}</time></button></li>`)}
    </ul>`}
  </section>`;
}

export function ConversationList({ openId }) {
  const state = useStore(chat);
  const [searching, setSearching] = useState(false);
  const convs = sortedConversations(state);
  return html`<aside class="conv-list" aria-label=${t("nav.chats")}>
    <div class="list-head">
      <h1>${t("nav.chats")}</h1>
      <button type="button" onClick=${() => setSearching(!searching)} aria-expanded=${searching}>${t("search.title")}</button>
      <a class="button" href="#/new">${t("chat.new")}</a>
    </div>
    ${searching && html`<${Search} onClose=${() => setSearching(false)} />`}
    <ul class="convs">
      ${convs.map((c) => html`<li>
        <a href=${c.kind === "tutor" ? "#/tutor" : `#/c/${c.id}`} class=${`conv ${c.id === openId ? "active" : ""}`} aria-current=${c.id === openId ? "true" : undefined} data-conversation=${c.id}>
          <span class=${`kind kind-${c.kind}`} aria-hidden="true"></span>
          <span class="conv-main">
            <span class="conv-title">${c.kind === "tutor" && !c.title ? t("tutor.title") : displayTitle(c, state)}</span>
            <span class="conv-last">${preview(c)}</span>
          </span>
          <span class="conv-side">
            <time>${formatTime(c.last_message_at)}</time>
            ${c.unread_count > 0 && html`<span class="badge unread" aria-label=${t("unread.count", { n: c.unread_count })}>${c.unread_count}</span>`}
          </span>
        </a></li>`)}
    </ul>
  </aside>`;
}

export function Chats({ openId, jump }) {
  useEffect(() => { chat.set({ openId: openId || null }); return () => chat.set({ openId: null }); }, [openId]);
  return html`<div class=${`chats ${openId ? "has-open" : ""}`}>
    <${ConversationList} openId=${openId} />
    ${openId ? html`<${Conversation} key=${openId} cid=${openId} jump=${jump ? Number(jump) : null} />`
      : html`<section class="conv-empty muted"><p>${t("chat.pick")}</p></section>`}
  </div>`;
}
