// The UI library in one place: Preact with hooks and htm (vendored, see api/web/VENDORED.md).
export {
  html, render, Component, createContext, useState, useReducer, useEffect, useLayoutEffect,
  useRef, useMemo, useCallback, useContext,
} from "/static/vendor/htm-preact-standalone.module.js";
