// The teacher's live proctoring dashboard over /proctor: the roster (connection, question,
// time left, flags), flags as they arrive, and warn / extend / end.
import { html, useEffect, useRef, useState } from "../lib.js";
import { io } from "/static/vendor/socket.io.esm.min.js";
import { api, token } from "../api.js";
import { formatTime, t } from "../i18n.js";
import { confirmDialog, promptDialog } from "../dialog.js";

export function Proctor({ examId }) {
  const [exam, setExam] = useState(null);
  const [roster, setRoster] = useState(null);
  const [flags, setFlags] = useState([]);
  const [error, setError] = useState("");
  const [live, setLive] = useState(false);
  const sock = useRef(null);
  useEffect(() => {
    api("GET", `/exams/${examId}`).then(setExam, (e) => setError(e.message));
    const s = io("/proctor", {
      transports: ["websocket"],
      auth: (cb) => token().then((tk) => cb({ token: tk, exam_id: examId }), () => cb({})),
      reconnectionDelay: 300,
    });
    sock.current = s;
    let pending = null;
    const refresh = () => {
      clearTimeout(pending);
      pending = setTimeout(() => s.timeout(5000).emitWithAck("roster", {}).then((r) => { if (!r.error) setRoster(r); }, () => null), 150);
    };
    s.on("connect", () => setLive(true));
    s.on("disconnect", () => setLive(false));
    s.on("connect_error", (e) => setError(e.message));
    s.on("proctor.roster", setRoster);
    s.on("proctor.student", refresh);
    s.on("proctor.progress", refresh);
    s.on("proctor.flag", (f) => { setFlags((old) => [f, ...old].slice(0, 200)); refresh(); });
    const tick = setInterval(refresh, 10_000);
    return () => { clearInterval(tick); clearTimeout(pending); s.disconnect(); };
  }, [examId]);
  async function command(event, body) {
    try {
      const ack = await sock.current.timeout(10_000).emitWithAck(event, body);
      if (ack.error) setError(ack.error.message);
      else sock.current.emitWithAck("roster", {}).then((r) => !r.error && setRoster(r));
    } catch (e) { setError(e.message); }
  }
  const names = Object.fromEntries((roster?.attempts || []).map((a) => [a.attempt_id, a.student_name]));
  return html`<section class="page proctor">
    <div class="list-head"><h1>${t("exam.proctor")}: ${exam ? exam.title : "…"}</h1>
      <span class=${live ? "online" : "muted"} role="status">${live ? t("proctor.live") : t("conn.reconnecting")}</span></div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <table aria-label=${t("proctor.roster")}><thead><tr>
      <th>${t("exam.student")}</th><th>${t("proctor.connection")}</th><th>${t("proctor.question")}</th><th>${t("exam.time_left")}</th>
      <th>${t("exam.score")}</th><th>${t("exam.flags")}</th><th>${t("proctor.actions")}</th></tr></thead>
      <tbody>${(roster?.attempts || []).map((a) => html`<tr data-attempt=${a.attempt_id} data-status=${a.status}>
        <td>${a.student_name}</td>
        <td>${a.status === "submitted" ? t("exam.st_submitted") : a.connected ? html`<span class="online">${t("presence.online")}</span>` : t("presence.offline")}</td>
        <td>${a.question ?? "–"} (${a.answered}/${exam?.item_count ?? "?"})</td>
        <td data-time-left=${a.time_left_s == null ? "" : Math.round(a.time_left_s)}>${a.time_left_s == null ? "–" : `${Math.floor(a.time_left_s / 60)}:${String(Math.round(a.time_left_s % 60)).padStart(2, "0")}`}</td>
        <td>${a.score}/${a.max_score}</td>
        <td data-flags=${a.flags.info + a.flags.warning + a.flags.serious}>${a.flags.serious ? html`<span class="flag-serious">${a.flags.serious}</span> / ` : ""}${a.flags.warning} / ${a.flags.info}</td>
        <td class="actions">${a.status === "active" && html`
          <button type="button" class="small" onClick=${async () => { const m = await promptDialog(t("proctor.warn_text"), t("proctor.warn_default"), t("proctor.warn")); if (m) command("warn", { attempt_id: a.attempt_id, message: m }); }}>${t("proctor.warn")}</button>
          <button type="button" class="small" onClick=${() => command("extend", { attempt_id: a.attempt_id, seconds: 300 })}>${t("proctor.extend")}</button>
          <button type="button" class="small" onClick=${async () => { if (await confirmDialog(t("proctor.end_confirm"), t("proctor.end"))) command("end", { attempt_id: a.attempt_id, reason: "ended by proctor" }); }}>${t("proctor.end")}</button>`}</td>
      </tr>`)}</tbody></table>
    ${roster && roster.attempts.length === 0 && html`<p class="muted">${t("exam.no_attempts")}</p>`}
    <h2>${t("proctor.flags")}</h2>
    <ul class="flags" aria-live="polite">${flags.map((f) => html`<li class=${`flag-${f.severity}`} data-flag=${f.kind}>
      <time>${formatTime(f.server_at)}</time> ${names[f.attempt_id] || ""}: ${t(`flag.${f.kind}`)} (${t(`sev.${f.severity}`)})</li>`)}</ul>
  </section>`;
}
