// One scaling group: its live status, charts over the chosen window, its decision log and its
// event stream. The telemetry part is shared with the endpoint page (an endpoint is one group).

import { get, seg } from "./api.js";
import { metricCharts, windowSelector } from "./charts.js";
import { decisionLog, eventTable } from "./events.js";
import { age, clock, fill, h, num, status, unmanagedBadge } from "./dom.js";

/**
 * Charts, decision log and events of one group, in `container`.
 * `metricsPath` and `eventsPath` are API paths ("endpoints/x/metrics", "events"), and
 * `eventFilter` the query that selects the group's events there.
 */
export function telemetryPanel(container, { metricsPath, eventsPath, eventFilter = {} }) {
  let since = "15m";
  const chartsBox = h("div", {});
  const chartError = h("div", { class: "error", hidden: true });
  const achievedBox = h("p", { id: "achieved-latency" });
  const targetBox = h("p", { id: "target-wait" });
  const decisions = h("section", {});
  const events = h("section", {});
  const charts = metricCharts(chartsBox);
  fill(container,
    h("h2", {}, "Metrics"),
    windowSelector(since, (value) => {
      since = value;
      refresh().catch((err) => {
        chartError.textContent = err.message;
        chartError.hidden = false;
      });
    }),
    chartError, achievedBox, targetBox, chartsBox,
    h("div", { class: "columns" },
      h("div", {}, h("h2", {}, "Decision log"), decisions),
      h("div", {}, h("h2", {}, "Events"), events)));

  const show = (box, error) => fill(box, h("div", { class: "error" }, error.message));
  async function refresh(signal) {
    const window = { since };
    const [metrics, decided, recent] = await Promise.allSettled([
      get(metricsPath, { ...window, max_points: 600 }, signal),
      get(eventsPath, { ...eventFilter, ...window, kind: "decision", limit: 50 }, signal),
      get(eventsPath, { ...eventFilter, ...window, limit: 100 }, signal),
    ]);
    for (const result of [metrics, decided, recent]) {
      if (result.status === "rejected" && result.reason.name === "AbortError") throw result.reason;
      if (result.status === "rejected" && result.reason.status === 401) throw result.reason;
    }
    chartError.hidden = metrics.status === "fulfilled";
    if (metrics.status === "fulfilled") {
      charts.update(metrics.value);
      fill(achievedBox, achievedLine(metrics.value.schedule_to_start, "in this window"));
      const target = targetWait(metrics.value.schedule_to_start);
      fill(targetBox, target ? ["Target wait: ", target] : null);
    }
    else chartError.textContent = `metrics: ${metrics.reason.message}`;
    if (decided.status === "fulfilled") fill(decisions, decisionLog(decided.value.events));
    else show(decisions, decided.reason);
    if (recent.status === "fulfilled") fill(events, eventTable(recent.value.events, { withObject: false }));
    else show(events, recent.reason);
  }
  return { refresh, dispose: () => charts.dispose() };
}

/** What the tasks really waited (`AchievedLatencyOut`), against the SLO, in one line. */
function achievedLine(achieved, when) {
  if (!achieved) return h("span", { class: "muted" }, `Schedule-to-start: no task measured ${when}`);
  const s = (v) => (v === null || v === undefined ? "–" : `${num(v, 2)} s`);
  const slo = achieved.slo_s === null ? "" : ` against an SLO of ${achieved.slo_s} s`;
  return h("span", { class: achieved.missing_slo ? "bad-text" : null, "data-count": String(achieved.count) },
    `Schedule-to-start ${when}: p50 ${s(achieved.p50_s)}, p95 ${s(achieved.p95_s)}, ` +
      `p99 ${s(achieved.p99_s)} over ${achieved.count} tasks${slo}`,
    achieved.missing_slo ? ` – missing it: ${achieved.reason}` : "");
}

/** Seconds with two decimals at most and no trailing zeros, as `workerplane status` prints them. */
const seconds = (value) => `${Number(value.toFixed(2))} s`;

/**
 * The wait the `slo` scaler plans waiting tasks to start within, and why it is what it is: as
 * configured, or tightened or relaxed by the achieved p95. The words of `workerplane status`
 * (`terminal.target_wait`); `null` for scalers without an SLO.
 */
function targetWait(achieved) {
  const fraction = achieved?.target_wait_fraction;
  if (fraction === null || fraction === undefined || achieved.slo_s === null) return null;
  const configured = achieved.configured_wait_fraction;
  const text = `${seconds(fraction * achieved.slo_s)} (${fraction.toFixed(2)} of the ${achieved.slo_s} s SLO)`;
  let direction = "configured";
  let why = "as configured";
  if (configured !== null && configured !== undefined && fraction.toFixed(2) !== configured.toFixed(2)) {
    direction = fraction < configured ? "tightened" : "relaxed";
    why = fraction < configured
      ? `tightened from the configured ${configured.toFixed(2)}: tasks waited longer than the SLO`
      : `relaxed from the configured ${configured.toFixed(2)}: tasks started well within the SLO`;
    if (achieved.feedback) why += ` (last judged: ${achieved.feedback})`;
  }
  return h("span", { "data-direction": direction }, `${text}, ${why}`);
}

function groupSummary(version, groupId) {
  const g = version.compute_status.scaling_groups[groupId];
  if (!g) return h("p", { class: "error" }, `no scaling group '${groupId}' in this version`);
  const target = targetWait(g.schedule_to_start);
  const item = (label, ...value) => h("div", { class: "stat" }, h("span", { class: "label" }, label), h("span", {}, ...value));
  return h("div", { class: "stats", id: "group-summary" },
    item("Status", status(version.status, version.status_reason)),
    item("Workers / desired", `${g.current_size} / ${num(g.desired_size)}`),
    item("Ready", num(g.workers_ready)),
    item("Pollers", String(g.pollers)),
    g.unmanaged_pollers ? item("Unmanaged pollers", unmanagedBadge(g), h("span", { class: "reason", id: "unmanaged-identities" },
      `${g.unmanaged_counted ? "counted" : "not counted"} as capacity: ${(g.unmanaged_identities || []).join(", ")}`)) : null,
    item("Backlog", `${g.backlog} (oldest ${num(g.backlog_age_s, 1)} s)`),
    item("In flight", num(g.in_flight)),
    item("Provider / scaler", `${g.provider_type} / ${g.scaler_type} (${g.strategy})`),
    item("Last decision", g.last_decision || "–", g.last_reason ? h("span", { class: "reason" }, g.last_reason) : ""),
    g.last_error ? item("Last error", h("span", { class: "bad-text" }, g.last_error)) : null,
    g.last_worker_exit ? item("Last worker exit", h("span", { class: "bad-text" }, g.last_worker_exit)) : null,
    item("Schedule-to-start (15 min)", achievedLine(g.schedule_to_start, "in the last 15 min")),
    target ? item("Target wait", target) : null,
    (g.warmups || []).length ? item("Upcoming warm-ups", h("ul", {}, g.warmups.map((w) =>
      h("li", {}, `${w.workers} workers for schedule ${w.schedule_id} at ${clock(w.action_at)} ` +
        `(from ${clock(w.starts_at)}${(w.ramp || []).length ? `, all by ${clock(w.ramp[w.ramp.length - 1][0])}` : ""}; ${w.basis})`)))) : null,
    item("Updated", `${age(g.updated_at)} ago`));
}

export function groupView(container, [deployment, buildId, groupId]) {
  const versionPath = `worker-deployments/${seg(deployment)}/versions/${seg(buildId)}`;
  const summary = h("section", {});
  const panelBox = h("section", {});
  fill(container,
    h("p", {}, h("a", { href: "#/" }, "← Overview")),
    h("h1", {}, `${deployment} / ${buildId} / ${groupId}`),
    summary, panelBox);
  const panel = telemetryPanel(panelBox, {
    metricsPath: `${versionPath}/groups/${seg(groupId)}/metrics`,
    eventsPath: "events",
    eventFilter: { deployment, build_id: buildId, group: groupId },
  });
  return {
    async refresh(signal) {
      const version = await get(versionPath, null, signal);
      fill(summary, groupSummary(version, groupId));
      await panel.refresh(signal);
    },
    dispose: panel.dispose,
  };
}
