// Attachments: uploads with progress (XHR, whose upload events fetch() lacks), signed URLs
// for <img>/<audio> (they work without the bearer token, for FILE_URL_TTL_S), downloads, and
// the file events that change a message's attachments after it was sent.
import { html, useEffect, useState } from "./lib.js";
import { ApiError, api, token } from "./api.js";
import { chat } from "./chat.js";
import { t } from "./i18n.js";
import { Doc } from "./icons.js";
import { createStore } from "./store.js";

// Files this device uploaded that the worker refused later (file.refused).
export const refusals = createStore({ items: [] });

// `orgId`: the school of the conversation it is for (someone in two schools must say which).
export async function upload(file, onProgress, name = file.name, orgId = null) {
  const bearer = await token();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/files?name=${encodeURIComponent(name)}${orgId ? `&org_id=${orgId}` : ""}`);
    xhr.setRequestHeader("authorization", `Bearer ${bearer}`);
    xhr.setRequestHeader("content-type", "application/octet-stream");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(Math.round((e.loaded / e.total) * 100)); };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 201) { onProgress(100); resolve(body); } else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new ApiError(0, { error: { message: t("file.upload_failed") } }));
    xhr.send(file);
  });
}

const urls = new Map();
export function signedUrl(id, thumbnail = false) {
  const key = `${id}:${thumbnail}`;
  const hit = urls.get(key);
  if (hit && hit.expires > Date.now() / 1000 + 30) return hit.promise;
  const promise = api("GET", `/files/${id}/url${thumbnail ? "?thumbnail=true" : ""}`).then((r) => {
    urls.set(key, { promise: Promise.resolve(r.url), expires: r.expires_at });
    return r.url;
  });
  urls.set(key, { promise, expires: Date.now() / 1000 + 60 });
  promise.catch(() => urls.delete(key));
  return promise;
}

async function download(e, f) {
  e.preventDefault();
  const link = document.createElement("a");
  link.href = await signedUrl(f.id);
  link.download = f.name;
  document.body.append(link);
  link.click();
  link.remove();
}

const size = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`);

function Attachment({ f }) {
  const ready = f.state === "clean";
  const media = f.kind === "image" || f.kind === "audio";
  const [url, setUrl] = useState(null);
  useEffect(() => { if (ready && media) signedUrl(f.id, f.kind === "image").then(setUrl, () => null); }, [f.id, ready]);
  if (f.state === "infected" || f.state === "refused") {
    return html`<span class="error" data-file-state=${f.state}>${t("file.refused", { name: f.name, reason: f.reason || "" })}</span>`;
  }
  if (!ready) return html`<span class="muted" data-file-state="pending">${t("file.checking", { name: f.name })}</span>`;
  if (f.kind === "image") {
    return html`<img src=${url || undefined} alt=${f.name} width=${f.width && Math.min(240, f.width)} data-file-id=${f.id} />`;
  }
  if (f.kind === "audio") {
    return html`<audio controls preload="metadata" src=${url || undefined} aria-label=${t("file.voice")} data-file-id=${f.id}></audio>
      ${f.transcript && html`<p class="transcript" data-transcript>${f.transcript.text || "…"}</p>`}`;
  }
  return html`<a class="doc" href=${f.url} download=${f.name} onClick=${(e) => download(e, f)} data-file-id=${f.id}><${Doc} /> ${f.name} <span class="muted">(${size(f.size)})</span></a>`;
}

export function Attachments({ m }) {
  return html`<div class="attachments">${m.attachments.map((f) => html`<${Attachment} f=${f} />`)}</div>`;
}

function patchAttachments(fn) {
  chat.set((s) => {
    const threads = {};
    for (const [cid, th] of Object.entries(s.threads)) {
      const list = th.list.map((m) => (m.attachments?.length ? fn(m) : m));
      threads[cid] = list.some((m, i) => m !== th.list[i]) ? { ...th, list } : th;
    }
    return { threads };
  });
}

function updated(file) {
  patchAttachments((m) => (m.attachments.some((f) => f.id === file.id)
    ? { ...m, attachments: m.attachments.map((f) => (f.id === file.id ? { ...f, ...file, transcript: f.transcript ?? file.transcript ?? null } : f)) } : m));
}

function refused(e) {
  updated({ id: e.id, state: e.state, reason: e.reason });
  refusals.set((s) => ({ items: [...s.items.filter((x) => x.id !== e.id), e] }));
}

function transcript(e) {
  patchAttachments((m) => (m.id === e.message_id
    ? { ...m, attachments: m.attachments.map((f) => (f.id === e.file_id ? { ...f, transcript: e.transcript } : f)) } : m));
}

export function bind(s) {
  s.on("file.updated", updated);
  s.on("file.refused", refused);
  s.on("message.transcript", transcript);
}
