// The student's exam client on the /proctor namespace: heartbeats, and the browser's real
// signals (tab hidden, window blur, leaving full screen, copy/paste, devtools when the window
// size gives it away) reported as events with a retry key.
import { io } from "/static/vendor/socket.io.esm.min.js";
import { token } from "./api.js";

const HEARTBEAT_MS = 5000;

export function watchExam(attemptId, { question, onWarning, onExtended, onFinished }) {
  const s = io("/proctor", {
    transports: ["websocket"],
    auth: (cb) => token().then((tk) => cb({ token: tk, attempt_id: attemptId }), () => cb({})),
    reconnectionDelay: 300,
    reconnectionDelayMax: 3000,
  });
  let seq = 0;
  const report = (kind, details = {}) => {
    const event = { kind, client_time: new Date().toISOString(), details, event_id: `${attemptId.slice(0, 8)}-${Date.now()}-${seq++}` };
    const attempt = () => s.timeout(5000).emitWithAck("event", event).catch(() => setTimeout(attempt, 2000));
    attempt();
  };
  const beat = () => { if (s.connected) s.emit("heartbeat", { client_time: new Date().toISOString(), question: question() || null }); };
  s.on("connect", beat);
  s.on("proctor.warning", onWarning);
  s.on("exam.time_extended", onExtended);
  s.on("exam.finished", onFinished);
  const timer = setInterval(beat, HEARTBEAT_MS);
  const onVisibility = () => report(document.visibilityState === "hidden" ? "tab_hidden" : "tab_visible");
  const onBlur = () => report("focus_lost");
  const onFocus = () => report("focus_returned");
  const onFullscreen = () => { if (!document.fullscreenElement) report("fullscreen_exit"); };
  const onCopy = () => report("copy");
  const onPaste = () => report("paste");
  let devtools = false;
  const onResize = () => {
    const open = window.outerWidth - window.innerWidth > 200 || window.outerHeight - window.innerHeight > 250;
    if (open && !devtools) report("devtools_opened", { how: "window_size" });
    devtools = open;
  };
  document.addEventListener("visibilitychange", onVisibility);
  window.addEventListener("blur", onBlur);
  window.addEventListener("focus", onFocus);
  document.addEventListener("fullscreenchange", onFullscreen);
  document.addEventListener("copy", onCopy);
  document.addEventListener("paste", onPaste);
  window.addEventListener("resize", onResize);
  return () => {
    clearInterval(timer);
    document.removeEventListener("visibilitychange", onVisibility);
    window.removeEventListener("blur", onBlur);
    window.removeEventListener("focus", onFocus);
    document.removeEventListener("fullscreenchange", onFullscreen);
    document.removeEventListener("copy", onCopy);
    document.removeEventListener("paste", onPaste);
    window.removeEventListener("resize", onResize);
    s.disconnect();
  };
}
