// In-page dialogs instead of the browser's confirm()/prompt()/alert(): a modal <dialog>
// (focus kept inside, Escape cancels), labelled by its question, styled like the app.
import { html, useEffect, useRef, useState } from "./lib.js";
import { t } from "./i18n.js";
import { createStore, useStore } from "./store.js";

const current = createStore({ req: null });

function open(req) {
  return new Promise((resolve) => {
    current.get().req?.resolve(null);
    current.set({ req: { ...req, resolve } });
  });
}

// Resolves true (confirmed) or null.
export const confirmDialog = (message, ok) => open({ message, ok });
// Resolves the text entered, or null.
export const promptDialog = (message, value = "", ok) => open({ message, ok, input: true, value });
// Resolves when dismissed.
export const noticeDialog = (message) => open({ message, notice: true });

export function Dialogs() {
  const req = useStore(current, (s) => s.req);
  const box = useRef(null);
  const field = useRef(null);
  const [value, setValue] = useState("");
  useEffect(() => {
    if (!req || !box.current) return;
    setValue(req.value ?? "");
    if (!box.current.open) box.current.showModal();
    (field.current || box.current.querySelector("button.primary"))?.focus();
  }, [req]);
  if (!req) return null;
  function close(result) {
    box.current?.close();
    current.set({ req: null });
    req.resolve(result);
  }
  function submit(e) {
    e.preventDefault();
    if (req.input && !value.trim()) return;
    close(req.input ? value : true);
  }
  return html`<dialog ref=${box} class="dialog" aria-labelledby="dialog-text" aria-modal="true"
      onCancel=${(e) => { e.preventDefault(); close(null); }}>
    <form onSubmit=${submit}>
      ${req.input
        ? html`<label id="dialog-text" for="dialog-input">${req.message}</label>
          <input id="dialog-input" ref=${field} value=${value} maxlength="1000" onInput=${(e) => setValue(e.target.value)} />`
        : html`<p id="dialog-text">${req.message}</p>`}
      <div class="dialog-actions">
        ${!req.notice && html`<button type="button" onClick=${() => close(null)}>${t("common.cancel")}</button>`}
        <button type="submit" class="primary">${req.ok || t("common.ok")}</button>
      </div>
    </form>
  </dialog>`;
}
