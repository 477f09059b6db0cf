// The composer's attachments: the attach button with a progress bar per upload, a refused
// file's reason, and voice recording (MediaRecorder, WebM/Opus) sent as a voice message.
import { html, useRef, useState } from "../lib.js";
import { refusals, upload } from "../files.js";
import { t } from "../i18n.js";
import { Clip, Mic } from "../icons.js";
import { useStore } from "../store.js";

const ACCEPT = "image/png,image/jpeg,image/webp,image/heic,application/pdf,.docx,.xlsx,.pptx,audio/*";

// Uploads held by the composer until the message is sent.
export function useUploads(orgId) {
  const [items, setItems] = useState([]);
  const seq = useRef(0);
  const patch = (key, change) => setItems((xs) => xs.map((x) => (x.key === key ? { ...x, ...change } : x)));
  async function add(file, name) {
    const key = ++seq.current;
    setItems((xs) => [...xs, { key, name: name || file.name, progress: 0, state: "uploading" }]);
    try {
      const record = await upload(file, (progress) => patch(key, { progress }), name || file.name, orgId);
      patch(key, { state: "ready", record, progress: 100 });
      return record;
    } catch (e) {
      patch(key, { state: "refused", reason: e.message });
      return null;
    }
  }
  const ready = items.filter((x) => x.state === "ready").map((x) => x.record);
  return {
    items, ready, add,
    busy: items.some((x) => x.state === "uploading"),
    remove: (key) => setItems((xs) => xs.filter((x) => x.key !== key)),
    clear: () => setItems((xs) => xs.filter((x) => x.state === "uploading")),
  };
}

export function AttachButton({ uploads }) {
  const input = useRef(null);
  return html`<input type="file" id="attach-input" class="attach-input" multiple accept=${ACCEPT} tabindex="-1" aria-hidden="true"
      onChange=${(e) => { for (const f of e.target.files) uploads.add(f); e.target.value = ""; }} ref=${input} />
    <button type="button" class="attach" aria-label=${t("file.attach")} title=${t("file.attach")} onClick=${() => input.current.click()}><${Clip} /></button>`;
}

export function UploadList({ uploads }) {
  const late = useStore(refusals, (s) => s.items);
  if (!uploads.items.length && !late.length) return null;
  return html`<ul class="uploads" aria-label=${t("file.uploads")}>
    ${uploads.items.map((x) => html`<li data-upload-state=${x.state}>
      <span>${x.name}</span>
      ${x.state === "uploading" && html`<progress max="100" value=${x.progress} aria-label=${t("file.uploading", { name: x.name })}></progress>`}
      ${x.state === "ready" && html`<span class="muted">${t("file.ready")}</span>`}
      ${x.state === "refused" && html`<span class="error" role="alert">${t("file.refused", { name: x.name, reason: x.reason })}</span>`}
      ${x.state !== "uploading" && html`<button type="button" class="icon" aria-label=${t("file.remove", { name: x.name })} onClick=${() => uploads.remove(x.key)}>✕</button>`}
    </li>`)}
    ${late.map((r) => html`<li data-upload-state="refused"><span class="error" role="alert">${t("file.refused", { name: r.name, reason: r.reason || r.state })}</span>
      <button type="button" class="icon" aria-label=${t("common.close")} onClick=${() => refusals.set((s) => ({ items: s.items.filter((x) => x.id !== r.id) }))}>✕</button></li>`)}
  </ul>`;
}

// Press to record, press again to send it as a voice message.
export function VoiceButton({ onRecorded }) {
  const [rec, setRec] = useState(null);
  const [problem, setProblem] = useState("");
  async function start() {
    setProblem("");
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const type = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm"].find((x) => MediaRecorder.isTypeSupported(x));
      const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
      const chunks = [];
      recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
      recorder.onstop = () => {
        stream.getTracks().forEach((tr) => tr.stop());
        const blob = new Blob(chunks, { type: recorder.mimeType });
        onRecorded(blob, recorder.mimeType.includes("ogg") ? "voice.ogg" : "voice.webm");
      };
      recorder.start();
      setRec(recorder);
    } catch (e) {
      setProblem(t("file.mic_refused"));
    }
  }
  function stop() { rec.stop(); setRec(null); }
  return html`${rec ? html`<button type="button" class="recording" aria-pressed="true" onClick=${stop}>■ ${t("file.stop_recording")}</button>`
      : html`<button type="button" class="attach" aria-label=${t("file.record")} title=${t("file.record")} onClick=${start}><${Mic} /></button>`}
    ${problem && html`<span class="error" role="alert">${problem}</span>`}`;
}
