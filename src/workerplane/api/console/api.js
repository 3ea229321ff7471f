// The console's only way to the server: /v1 calls with the bearer token the user pasted.
// Every error becomes an ApiError carrying the API's own message and field details, so views
// show what the API said (401: log in again; 403: the token's scope; 400: per field).

const TOKEN_KEY = "workerplane.token";

// Relative to the page (/ui/), so the console also works behind a path prefix.
const API_ROOT = new URL("../v1/", document.baseURI);

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Listeners told when the server refuses the token (the app shows the login again). */
const unauthorizedListeners = [];
export function onUnauthorized(listener) {
  unauthorizedListeners.push(listener);
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy's error page): the status line is all there is
  }
  const error = body && body.error;
  if (error && typeof error.message === "string") {
    return new ApiError(response.status, error.code, error.message, error.details || []);
  }
  const detail = body && typeof body.detail === "string" ? body.detail : response.statusText;
  return new ApiError(response.status, "error", `${response.status} ${detail}`, []);
}

/**
 * Call the API: `path` is relative to /v1/ ("endpoints", "endpoints/x/metrics"), `query` an
 * object of query parameters (null values left out), `body` sent as JSON.
 */
export async function call(method, path, { query = null, body = undefined, signal } = {}) {
  const url = new URL(path, API_ROOT);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json" };
  const current = token();
  if (current) headers.Authorization = `Bearer ${current}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "unreachable", `the server cannot be reached: ${err.message}`, []);
  }
  if (response.status === 401) {
    const error = await errorOf(response);
    for (const listener of unauthorizedListeners) listener(error);
    throw error;
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, query, signal) => call("GET", path, { query, signal });

/** A path segment, escaped. */
export const seg = (value) => encodeURIComponent(value);
