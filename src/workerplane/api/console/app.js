// The console's shell: login, the hash router and the refresh loop of the current view.
// Each view is `{ render(container, params) -> { refresh(signal), dispose() } }`; the shell calls
// refresh every few seconds, one call at a time, and aborts it when the user navigates away.

import { get, onUnauthorized, setToken, token } from "./api.js";
import { deploymentView } from "./deployment.js";
import { errorBox, fill, h } from "./dom.js";
import { endpointNewView, endpointView } from "./endpoints.js";
import { eventsView } from "./events.js";
import { groupView } from "./group.js";
import { overviewView } from "./overview.js";

const REFRESH_MS = 3000;

const ROUTES = [
  [/^\/$/, overviewView],
  [/^\/endpoints\/new$/, endpointNewView],
  [/^\/endpoints\/([^/]+)$/, endpointView],
  [/^\/deployments\/([^/]+)$/, deploymentView],
  [/^\/groups\/([^/]+)\/([^/]+)\/([^/]+)$/, groupView],
  [/^\/events$/, eventsView],
];

const view = document.getElementById("view");
const banner = document.getElementById("banner");
let current = null;

function showBanner(message) {
  banner.textContent = message;
  banner.hidden = !message;
}

function stop() {
  if (!current) return;
  clearTimeout(current.timer);
  current.abort.abort();
  current.instance.dispose?.();
  current = null;
}

function loginView(message) {
  stop();
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    placeholder: "paste a bearer token",
  });
  const feedback = h("div", { class: "error", id: "login-error", role: "alert", hidden: !message }, message || "");
  const form = h(
    "form",
    { class: "card login", id: "login-form", novalidate: true },
    h("h1", {}, "Log in"),
    h("p", { class: "muted" },
      "Paste an API token (from `workerplane serve --token`, `workerplane up`, or POST /v1/tokens). ",
      "It is kept in this tab only (sessionStorage) and sent as a bearer token."),
    h("label", { for: "token" }, "Token"),
    input,
    feedback,
    h("button", { type: "submit" }, "Log in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    try {
      await get("endpoints", { limit: 1 });
    } catch (err) {
      // A 401 already brought the login back with the server's reason (onUnauthorized).
      if (err.status === 401) return;
      setToken(null);
      feedback.textContent = err.message;
      feedback.hidden = false;
      return;
    }
    route();
  });
  fill(view, form);
  input.focus();
}

function route() {
  if (!token()) {
    loginView();
    return;
  }
  stop();
  showBanner("");
  document.getElementById("nav").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("who").textContent = "logged in";
  const path = (location.hash || "#/").slice(1) || "/";
  for (const [pattern, make] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    const params = match.slice(1).map(decodeURIComponent);
    const container = h("div", { class: "page" });
    fill(view, container);
    const state = { instance: make(container, params), abort: new AbortController(), timer: null };
    current = state;
    loop(state);
    return;
  }
  fill(view, errorBox(new Error(`no such page: ${path}`)));
}

async function loop(state) {
  try {
    await state.instance.refresh(state.abort.signal);
    if (current === state) showBanner("");
  } catch (err) {
    if (err.name === "AbortError" || current !== state) return;
    if (err.status !== 401) showBanner(err.message);
  }
  if (current === state) state.timer = setTimeout(() => loop(state), REFRESH_MS);
}

onUnauthorized((error) => {
  setToken(null);
  loginView(`The server refused the token: ${error.message}. Log in again.`);
});

document.getElementById("logout").addEventListener("click", () => {
  setToken(null);
  loginView("Logged out.");
});

window.addEventListener("hashchange", route);
route();
