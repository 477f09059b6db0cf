// A student sits an exam: start or resume, the server's deadline as a countdown, one question
// at a time (CBT, CAT) or the whole form (fixed), live proctoring, then the result.
import { html, useEffect, useRef, useState } from "../lib.js";
import { api, ApiError } from "../api.js";
import { t } from "../i18n.js";
import { watchExam } from "../proctoring.js";
import { confirmDialog } from "../dialog.js";

function Countdown({ deadline }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => { const id = setInterval(() => setNow(Date.now()), 500); return () => clearInterval(id); }, []);
  if (!deadline) return null;
  const left = Math.max(0, Math.round((deadline - now) / 1000));
  const mm = String(Math.floor(left / 60)).padStart(2, "0");
  const ss = String(left % 60).padStart(2, "0");
  return html`<div class=${`timer ${left < 60 ? "low" : ""}`} role="timer" aria-label=${t("exam.time_left")} data-left=${left}>${mm}:${ss}</div>`;
}

// The answers, once the exam has closed or the teacher released the review (else the hub
// refuses and the score alone is shown).
function Review({ attempt }) {
  const [answers, setAnswers] = useState(null);
  useEffect(() => {
    api("GET", `/exams/${attempt.exam_id}/results?with_answers=true`).then(
      (r) => setAnswers((r.attempts.find((a) => a.attempt_id === attempt.id) || {}).answers || null), () => null);
  }, [attempt.id]);
  if (!answers) return null;
  return html`<details><summary>${t("exam.review")}</summary><ol class="review">
    ${answers.map((a) => html`<li class=${a.correct ? "online" : "error"}>${t("exam.question", { n: a.position + 1 })}: ${a.correct ? t("exam.correct") : t("exam.wrong")}</li>`)}
  </ol></details>`;
}

function Result({ attempt }) {
  return html`<div class="card" data-result="submitted"><h2>${t("exam.done")}</h2>
    <${Review} attempt=${attempt} />
    ${attempt.score != null && html`<p>${t("exam.score")}: <strong>${attempt.score}/${attempt.max_score}</strong></p>`}
    ${attempt.theta != null && html`<p>θ = ${attempt.theta.toFixed(2)}${attempt.se != null ? ` (SE ${attempt.se.toFixed(2)})` : ""}</p>`}
    <p class="muted">${t(`exam.finished_by`, { by: attempt.finished_by || "" })}</p>
    <a class="button" href="#/dashboard">${t("nav.dashboard")}</a></div>`;
}

export function SitExam({ examId }) {
  const [exam, setExam] = useState(null);
  const [attempt, setAttempt] = useState(null);
  const [deadline, setDeadline] = useState(null);
  const [warning, setWarning] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const questionNo = useRef(null);
  function take(a) {
    setAttempt(a);
    setDeadline(a.time_left_s != null ? Date.now() + a.time_left_s * 1000 : null);
    questionNo.current = a.questions[0] ? a.questions[0].position + 1 : null;
  }
  useEffect(() => {
    api("GET", `/exams/${examId}`).then(setExam, (e) => setError(e.message));
    api("GET", `/exams/${examId}/attempts/current`).then(take, (e) => { if (!(e instanceof ApiError && e.status === 404)) setError(e.message); });
  }, [examId]);
  const active = attempt && attempt.status === "active";
  useEffect(() => {
    if (!active) return undefined;
    const refetch = () => api("GET", `/attempts/${attempt.id}`).then(take, () => null);
    return watchExam(attempt.id, {
      question: () => questionNo.current,
      onWarning: (w) => setWarning(w.message || t("exam.warned")),
      onExtended: refetch,
      onFinished: refetch,
    });
  }, [active && attempt.id]);
  useEffect(() => {
    if (!active || !deadline) return undefined;
    const id = setTimeout(() => api("GET", `/attempts/${attempt.id}`).then(take, () => null), Math.max(deadline - Date.now() + 1500, 0));
    return () => clearTimeout(id);
  }, [deadline, active]);
  async function start() {
    setBusy(true);
    try { take(await api("POST", `/exams/${examId}/attempts`)); } catch (e) { setError(e.message); } finally { setBusy(false); }
  }
  async function answer(q, choice) {
    setBusy(true);
    try { take((await api("POST", `/attempts/${attempt.id}/answers`, { item_id: q.item_id, choice })).attempt); } catch (e) { setError(e.message); } finally { setBusy(false); }
  }
  async function submit() {
    if (!(await confirmDialog(t("exam.submit_confirm"), t("exam.submit")))) return;
    try { take(await api("POST", `/exams/${examId}/submit`, { attempt_id: attempt.id })); } catch (e) { setError(e.message); }
  }
  return html`<section class="page exam-sit">
    <div class="list-head"><h1>${exam ? exam.title : "…"}</h1>${active && html`<${Countdown} deadline=${deadline} />`}</div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${warning && html`<p class="warning" role="alert">${t("exam.warning")}: ${warning}</p>`}
    ${!attempt && exam && html`<div class="card"><p>${t(`mode.${exam.mode}`)} · ${t("exam.items", { n: exam.item_count })}</p>
      <p class="muted">${t("exam.proctored")}</p>
      <button type="button" class="primary" disabled=${busy} onClick=${start}>${t("exam.start")}</button></div>`}
    ${active && html`<div>
      <p class="muted">${t("exam.progress", { n: attempt.answered, total: attempt.item_count })}
        <button type="button" class="small" onClick=${() => document.documentElement.requestFullscreen?.().catch(() => null)}>${t("exam.fullscreen")}</button></p>
      ${attempt.questions.map((q) => html`<fieldset class="question" data-question=${q.position}>
        <legend>${t("exam.question", { n: q.position + 1 })}</legend>
        <p class="stem">${q.stem}</p>
        <div class="choices">${q.choices.map((choice, i) => html`<button type="button" disabled=${busy} onClick=${() => answer(q, i)}>${i + 1}. ${choice}</button>`)}</div>
      </fieldset>`)}
      <button type="button" onClick=${submit}>${t("exam.submit")}</button>
    </div>`}
    ${attempt && !active && html`<${Result} attempt=${attempt} />`}
    ${attempt && !active && exam && attempt.number < exam.max_attempts && html`<button type="button" onClick=${start}>${t("exam.again")}</button>`}
  </section>`;
}
