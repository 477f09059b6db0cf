// REST calls and the session. The access token lives only in memory; the refresh token is
// kept in sessionStorage (this tab, until it closes) so a reload stays signed in. The strict
// CSP (scripts from this origin only, none inline) is what guards it from injected script;
// refresh tokens rotate and a reused one ends the session on the hub.
const REFRESH_KEY = "dreamseed.refresh";
const listeners = new Set();
let access = null;
let accessExpiresAt = 0;
let refreshing = null;

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "http_error";
    this.body = body;
  }
}

export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function setTokens(pair) {
  if (pair) {
    access = pair.access_token;
    accessExpiresAt = Date.now() + pair.expires_in * 1000;
    sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
  } else {
    access = null;
    accessExpiresAt = 0;
    sessionStorage.removeItem(REFRESH_KEY);
  }
  for (const fn of listeners) fn(Boolean(pair));
}

export const hasSession = () => Boolean(access || sessionStorage.getItem(REFRESH_KEY));
export const accessExpiresIn = () => accessExpiresAt - Date.now();

async function call(method, path, body, token) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = res.status === 204 ? "" : await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export async function login(email, password) {
  setTokens(await call("POST", "/auth/login", { email, password }));
}

// One refresh at a time: two concurrent rotations of the same token would look like reuse.
export function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      const token = sessionStorage.getItem(REFRESH_KEY);
      if (!token) throw new ApiError(401, { error: { code: "unauthenticated" } });
      try {
        setTokens(await call("POST", "/auth/refresh", { refresh_token: token }));
      } catch (e) {
        if (e.status === 401 || e.status === 400 || e.status === 422) setTokens(null);
        throw e;
      }
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

// A fresh access token (refreshed when it has under 30 s left).
export async function token() {
  if (!access || accessExpiresIn() < 30_000) await refresh();
  return access;
}

export async function api(method, path, body) {
  try {
    return await call(method, path, body, await token());
  } catch (e) {
    if (e.status !== 401 || !hasSession()) throw e;
    await refresh();
    return call(method, path, body, access);
  }
}

export async function logout() {
  try {
    if (access) await call("POST", "/auth/logout", undefined, access);
  } finally {
    setTokens(null);
  }
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
