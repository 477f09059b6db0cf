// Hash routes (#/chats, #/c/<id>, ...): one page, deep-linkable, no server routes needed.
import { createStore } from "./store.js";

const parse = () => (location.hash.replace(/^#\/?/, "") || "chats").split("/");
export const route = createStore({ parts: parse() });
window.addEventListener("hashchange", () => route.set({ parts: parse() }));
export const go = (path) => { location.hash = `#/${path}`; };
