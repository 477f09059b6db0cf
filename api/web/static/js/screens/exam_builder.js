// A teacher builds an exam from the item bank: fixed form, timed CBT, or CAT over a pool.
import { html, useEffect, useState } from "../lib.js";
import { api, query } from "../api.js";
import { chat } from "../chat.js";
import { t } from "../i18n.js";
import { firstOrg } from "../roles.js";
import { go } from "../router.js";
import { useStore } from "../store.js";

export function ExamBuilder() {
  const me = useStore(chat, (s) => s.me);
  const orgId = firstOrg(me, ["teacher", "org_admin"]);
  const [items, setItems] = useState([]);
  const [picked, setPicked] = useState([]);
  const [form, setForm] = useState({ title: "", mode: "cbt", minutes: 10, attempts: 1, se: 0.3, max: 20 });
  const [error, setError] = useState("");
  useEffect(() => { if (orgId) api("GET", `/items${query({ org_id: orgId })}`).then((r) => setItems(r.items), (e) => setError(e.message)); }, [orgId]);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.type === "number" ? Number(e.target.value) : e.target.value });
  async function create(e) {
    e.preventDefault();
    setError("");
    try {
      const body = { org_id: orgId, title: form.title, mode: form.mode, item_ids: picked, max_attempts: form.attempts };
      if (form.mode !== "fixed" || form.minutes) body.time_limit_s = Math.round(form.minutes * 60);
      if (form.mode === "cat") body.cat = { se_stop: form.se, max_items: form.max };
      await api("POST", "/exams", body);
      go("exams");
    } catch (err) { setError(err.message); }
  }
  return html`<section class="page"><h1>${t("exam.new")}</h1>
    <form class="stack" onSubmit=${create}>
      <label for="exam-title">${t("exam.title")}</label>
      <input id="exam-title" required value=${form.title} onInput=${set("title")} />
      <label for="exam-mode">${t("exam.mode")}</label>
      <select id="exam-mode" value=${form.mode} onChange=${set("mode")}>
        ${["fixed", "cbt", "cat"].map((m) => html`<option value=${m}>${t(`mode.${m}`)}</option>`)}
      </select>
      <label for="exam-minutes">${t("exam.time_limit")}</label>
      <input id="exam-minutes" type="number" min="1" max="1440" value=${form.minutes} onInput=${set("minutes")} />
      <label for="exam-attempts">${t("exam.max_attempts")}</label>
      <input id="exam-attempts" type="number" min="1" max="20" value=${form.attempts} onInput=${set("attempts")} />
      ${form.mode === "cat" && html`<label for="exam-se">${t("exam.se_stop")}</label>
        <input id="exam-se" type="number" step="0.05" min="0.1" max="1" value=${form.se} onInput=${set("se")} />
        <label for="exam-max">${t("exam.max_items")}</label>
        <input id="exam-max" type="number" min="1" max="50" value=${form.max} onInput=${set("max")} />`}
      <fieldset><legend>${t("exam.pick_items", { n: picked.length })}</legend>
        <button type="button" class="small" onClick=${() => setPicked(picked.length ? [] : items.map((i) => i.id))}>${t("exam.all_items")}</button>
        <div class="pick-list">${items.map((i) => html`<label class="check"><input type="checkbox" checked=${picked.includes(i.id)}
          onChange=${(e) => setPicked(e.target.checked ? [...picked, i.id] : picked.filter((x) => x !== i.id))} /> ${i.stem} <span class="muted">${i.content_area || ""} · b=${i.b}</span></label>`)}</div>
      </fieldset>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button type="submit" class="primary" disabled=${!picked.length || !form.title.trim()}>${t("new.create")}</button>
    </form>
  </section>`;
}
