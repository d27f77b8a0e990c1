// The JSON API, called with the session cookie; state-changing calls carry the CSRF token.

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || '';
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `the request failed (HTTP ${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = error.code || null;
    this.param = error.param || null;
    this.body = body;
  }
}

function toLogin() {
  const here = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(here)}`);
}

/** fetch() with the session's CSRF token; a 401 sends the person to the sign-in page. */
export async function request(path, { method = 'GET', json, body, headers = {}, signal, accept } = {}) {
  const sent = { ...headers };
  if (json !== undefined) {
    sent['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  if (!SAFE.has(method)) sent['X-CSRF-Token'] = csrfToken();
  if (accept) sent.Accept = accept;
  const response = await fetch(path, { method, headers: sent, body, signal, credentials: 'same-origin' });
  if (response.status === 401 && !path.startsWith('/auth/')) {
    toLogin();
    throw new ApiError(401, { error: { message: 'your session has ended: sign in again' } });
  }
  return response;
}

export async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { error: { message: text.slice(0, 300) } };
  }
}

/** A JSON call: the parsed body, or an ApiError carrying the server's message and code. */
export async function api(path, options = {}) {
  const response = await request(path, options);
  const data = await readJson(response);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
