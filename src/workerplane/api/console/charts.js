// Live charts of one scaling group's metrics (the body of GET .../metrics), drawn with the
// vendored uPlot (a global from vendor/uPlot.iife.min.js). Scale actions are vertical markers.
// Each chart's element carries what it shows as data attributes (samples, the peak of each
// series, actions) so tests can wait on the page's state rather than on time.

import { fill, h } from "./dom.js";

/** The window choices: the value is the API's `since` duration. */
export const WINDOWS = [["15m", "15 min"], ["1h", "1 h"], ["6h", "6 h"], ["24h", "24 h"]];

const ACTION_COLORS = {
  scale_up: "#2e7d32",
  scale_down: "#ef6c00",
  invoke: "#1565c0",
  reconcile: "#757575",
};

const CHARTS = [
  {
    id: "backlog", title: "Backlog and in-flight tasks",
    series: [["backlog", "backlog", "#c62828"], ["in_flight", "in flight", "#6a1b9a"]],
  },
  { id: "backlog-age", title: "Backlog age (s)", series: [["backlog_age_s", "oldest task age s", "#ad1457"]] },
  {
    id: "workers", title: "Workers",
    series: [
      ["workers_running", "running", "#1565c0"], ["workers_ready", "ready", "#2e7d32"],
      ["desired", "desired", "#f9a825"], ["pollers", "pollers", "#00838f"],
    ],
  },
  {
    id: "rates", title: "Task rates (per second)",
    series: [["add_rate", "added", "#c62828"], ["dispatch_rate", "dispatched", "#2e7d32"]],
  },
  {
    // What the tasks really waited, as the workers measured each one, against the group's SLO.
    id: "schedule-to-start", title: "Schedule-to-start p95 (s), measured per task",
    series: [
      ["schedule_to_start_p95_s", "achieved p95", "#6a1b9a"],
      ["slo_s", "SLO", "#9e9e9e", (_sample, metrics) => metrics.schedule_to_start?.slo_s ?? null],
    ],
  },
];

/** A row of buttons to pick the chart window; `onChange(since)` when one is picked. */
export function windowSelector(selected, onChange) {
  const buttons = WINDOWS.map(([value, label]) =>
    h("button", {
      type: "button", class: value === selected ? "active" : null, "data-window": value,
      "aria-pressed": String(value === selected),
    }, label));
  for (const button of buttons) {
    button.addEventListener("click", () => {
      for (const other of buttons) {
        other.classList.toggle("active", other === button);
        other.setAttribute("aria-pressed", String(other === button));
      }
      onChange(button.dataset.window);
    });
  }
  return h("div", { class: "window-selector", role: "group", "aria-label": "Chart window" },
    h("span", { class: "muted" }, "Window: "), buttons);
}

function markers(getActions) {
  return {
    hooks: {
      draw: [
        (u) => {
          const { ctx } = u;
          const { top, height } = u.bbox;
          ctx.save();
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
          for (const action of getActions()) {
            const x = Math.round(u.valToPos(action.at, "x", true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.strokeStyle = ACTION_COLORS[action.kind] || "#000";
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
          }
          ctx.restore();
        },
      ],
    },
  };
}

function peak(values) {
  let best = null;
  for (const v of values) if (v !== null && v !== undefined && (best === null || v > best)) best = v;
  return best;
}

/** The charts of one group, in `container`; `update(metrics)` redraws them with new data. */
export function metricCharts(container) {
  const now = Date.now() / 1000;
  let metrics = { since: now - 900, until: now, samples: [], actions: [] };
  const plots = [];
  const legend = h("div", { class: "marker-legend" },
    h("span", { class: "muted" }, "Markers: "),
    Object.entries(ACTION_COLORS).map(([kind, color]) =>
      h("span", { class: `marker marker-${kind}`, title: color }, kind.replace("_", " "))));
  const actionsList = h("ul", { class: "actions-list", id: "actions-list" });
  const grid = h("div", { class: "charts" });
  fill(container, legend, grid, h("details", {}, h("summary", {}, "Scale actions in this window"), actionsList));

  for (const spec of CHARTS) {
    const box = h("div", { class: "chart", id: `chart-${spec.id}`, "data-samples": "0", "data-actions": "0" });
    grid.append(h("figure", {}, h("figcaption", {}, spec.title), box));
    const opts = {
      width: Math.max(300, box.clientWidth || 520),
      height: 200,
      scales: { x: { time: true, range: () => [metrics.since, metrics.until] } },
      series: [{}, ...spec.series.map(([, label, stroke]) => ({ label, stroke, width: 2, spanGaps: false }))],
      axes: [{}, { size: 50 }],
      plugins: [markers(() => metrics.actions)],
    };
    const data = [[], ...spec.series.map(() => [])];
    plots.push({ spec, box, plot: new window.uPlot(opts, data, box) });
  }

  const resize = () => {
    for (const { box, plot } of plots) plot.setSize({ width: Math.max(300, box.clientWidth), height: 200 });
  };
  window.addEventListener("resize", resize);
  requestAnimationFrame(resize);

  return {
    update(next) {
      metrics = next;
      const xs = next.samples.map((s) => s.at);
      for (const { spec, box, plot } of plots) {
        const columns = spec.series.map(([key, , , derive]) =>
          next.samples.map((s) => (derive ? derive(s, next) : s[key]) ?? null));
        plot.setData([xs, ...columns]);
        box.dataset.samples = String(xs.length);
        box.dataset.actions = String(next.actions.length);
        box.dataset.windowS = String(Math.round(next.until - next.since));
        spec.series.forEach(([key], i) => {
          box.dataset[`peak_${key}`.replace(/_(.)/g, (_, c) => c.toUpperCase())] = String(peak(columns[i]) ?? "");
        });
      }
      fill(actionsList, next.actions.slice().reverse().map((a) =>
        h("li", { class: `marker-${a.kind}` },
          `${new Date(a.at * 1000).toLocaleTimeString()} ${a.kind} to ${a.size}: ${a.reason}`)));
    },
    dispose() {
      window.removeEventListener("resize", resize);
      for (const { plot } of plots) plot.destroy();
    },
  };
}
