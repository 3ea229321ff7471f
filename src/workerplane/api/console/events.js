// Events the way `kubectl get events` lists them (newest first: age, type, reason, object,
// message) and the decision log (the events of kind "decision", with the scaler's reason).

import { get } from "./api.js";
import { age, clock, fill, h, table } from "./dom.js";

export const EVENT_KINDS = [
  "decision", "provider_error", "worker_exit", "metrics_unavailable", "metrics_recovered",
  "readiness", "start_failure",
];

const objectOf = (e) => [e.deployment, e.build_id, e.group].filter(Boolean).join("/");

function eventRow(e, withObject) {
  return h(
    "tr",
    { class: `severity-${e.severity}`, "data-kind": e.kind, "data-event-id": String(e.id) },
    [
      h("span", { title: clock(e.at) }, age(e.at)),
      h("span", { class: `badge sev-${e.severity}` }, e.severity),
      e.kind,
      e.reason,
      withObject ? objectOf(e) : null,
      h("span", { class: "message" }, e.message),
    ].filter((c) => c !== null).map((c) => h("td", {}, c)),
  );
}

/** The event stream: `events` newest first, as the API returns them. */
export function eventTable(events, { withObject = true, id = "events-table" } = {}) {
  if (events.length === 0) return h("p", { class: "muted", id }, "No events in this window.");
  const columns = ["Age", "Type", "Kind", "Reason", ...(withObject ? ["Object"] : []), "Message"];
  return table(columns, events.map((e) => eventRow(e, withObject)), { class: "grid events", id });
}

/** The decision log: each decision with its reason. */
export function decisionLog(events) {
  if (events.length === 0) {
    return h("p", { class: "muted", id: "decision-log" }, "No decisions in this window.");
  }
  const rows = events.map((e) =>
    h("tr", { "data-event-id": String(e.id) }, [
      h("span", { title: clock(e.at) }, age(e.at)),
      // The message says what was decided and the scaler's reason ("scaled up to 3: ...").
      h("span", { class: "message", title: e.reason }, e.message),
    ].map((c) => h("td", {}, c))));
  return table(["Age", "Decision and reason"], rows, { class: "grid decisions", id: "decision-log" });
}

/** Every event of the control plane, newest first, filtered by kind, a page more on demand. */
export function eventsView(container) {
  let kind = "";
  let pages = 1;
  const select = h("select", { id: "event-kind", "aria-label": "Event kind" },
    h("option", { value: "" }, "all kinds"), EVENT_KINDS.map((k) => h("option", { value: k }, k)));
  const list = h("section", {});
  const showError = (err) => fill(list, h("div", { class: "error" }, err.message));
  const refresh = async (signal) => {
    const events = [];
    let until = null;
    for (let page = 0; page < pages; page += 1) {
      const answer = await get("events", { since: "24h", until, kind, limit: 200 }, signal);
      events.push(...answer.events);
      until = answer.next_until;
      if (until === null) break;
    }
    const older = until === null ? null : h("button", { type: "button", id: "older-events" }, "Older events");
    older?.addEventListener("click", () => {
      pages += 1;
      refresh().catch(showError);
    });
    fill(list, eventTable(events), older);
  };
  select.addEventListener("change", () => {
    kind = select.value;
    pages = 1;
    refresh().catch(showError);
  });
  fill(container,
    h("h1", {}, "Events"),
    h("p", { class: "muted" }, "Newest first, the last 24 hours. ", h("label", {}, "Kind: ", select)),
    list);
  return { refresh };
}
