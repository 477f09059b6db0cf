// A small observable store: screens select what they need and re-render when it changes.
import { useEffect, useState } from "./lib.js";

export function createStore(initial) {
  let state = initial;
  const subs = new Set();
  return {
    get: () => state,
    set(patch) {
      state = { ...state, ...(typeof patch === "function" ? patch(state) : patch) };
      for (const fn of subs) fn(state);
    },
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
  };
}

export function useStore(store, select = (s) => s) {
  const [value, setValue] = useState(() => select(store.get()));
  useEffect(() => {
    setValue(select(store.get()));
    return store.subscribe((s) => setValue(select(s)));
  }, [store]);
  return value;
}
