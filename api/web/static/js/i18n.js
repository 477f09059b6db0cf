// Korean and English. The user's language comes from their profile; the switch changes it.
import { createStore, useStore } from "./store.js";
import { ko, en } from "./strings.js";

const dictionaries = { ko, en };
export const lang = createStore({ code: localStorage.getItem("dreamseed.lang") || "ko" });

export function setLanguage(code) {
  if (!dictionaries[code]) return;
  localStorage.setItem("dreamseed.lang", code);
  document.documentElement.lang = code;
  lang.set({ code });
}

export function t(key, vars = {}) {
  const dict = dictionaries[lang.get().code] || ko;
  let text = dict[key] ?? en[key] ?? key;
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

// Re-render the calling component when the language changes.
export const useLang = () => useStore(lang, (s) => s.code);

export function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const today = new Date();
  const locale = lang.get().code === "ko" ? "ko-KR" : "en-GB";
  if (d.toDateString() === today.toDateString()) {
    return d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
  }
  return d.toLocaleDateString(locale, { month: "short", day: "numeric" });
}

export function formatDateTime(iso) {
  if (!iso) return "";
  const locale = lang.get().code === "ko" ? "ko-KR" : "en-GB";
  return new Date(iso).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}
