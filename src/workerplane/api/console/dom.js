// Small DOM helpers. Elements are built with text nodes, never innerHTML, so no value from the
// API (names, reasons, worker output) can inject markup.

/** h("a", {href: "#/", class: "x"}, "text", child...) -> an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table: `columns` are header labels, `rows` arrays of cells (text or nodes). */
export function table(columns, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((cells) => (cells instanceof Node ? cells : h("tr", {}, cells.map((c) => h("td", {}, c)))))),
  );
}

/** How long ago an epoch-seconds time was, the way kubectl prints ages: 12s, 5m, 3h, 2d. */
export function age(at, now = Date.now() / 1000) {
  const s = Math.max(0, Math.round(now - at));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function clock(at) {
  return new Date(at * 1000).toLocaleTimeString();
}

export function num(value, digits = 0) {
  if (value === null || value === undefined) return "–";
  return Number(value).toFixed(digits);
}

const STATUS_CLASS = {
  READY: "ok",
  UPDATE_FAILED: "bad",
  UPDATE_PENDING: "busy",
  UPDATE_IN_PROGRESS: "busy",
  DELETE_IN_PROGRESS: "busy",
};

/** A status badge, with the reason beside it when there is one. */
export function status(value, reason) {
  return h(
    "span",
    { class: "status-cell" },
    h("span", { class: `badge ${STATUS_CLASS[value] || "busy"}`, "data-status": value }, value),
    reason ? h("span", { class: "reason" }, reason) : null,
  );
}

/** A message block for an error (the API's message, as it said it). */
export function errorBox(error) {
  return h("div", { class: "error", role: "alert" }, error.message || String(error));
}

/** A small badge for pollers of the group's queues that workerplane did not start. */
export function unmanagedBadge(g) {
  if (!g.unmanaged_pollers) return null;
  const treated = g.unmanaged_counted ? "counted as capacity" : "not counted as capacity";
  return h("span", {
    class: `badge ${g.unmanaged_counted ? "sev-info" : "sev-warning"}`,
    "data-unmanaged": String(g.unmanaged_pollers),
    title: `${treated}: ${(g.unmanaged_identities || []).join(", ")}`,
  }, `+${g.unmanaged_pollers} unmanaged`);
}
