// One worker deployment: its routing, its versions and scaling groups, and the rollout of its
// newest build (GET .../rollout) with the user's commands (POST .../rollout/{command}). Every
// rule is the API's: the page shows the status as the API computed it, and a refused command
// (409: nothing to act on; 403: a read-only token) in the API's own words.

import { call, get, seg } from "./api.js";
import { age, clock, fill, h, status } from "./dom.js";
import { eventTable } from "./events.js";

const COMMANDS = [
  ["pause", "Pause"],
  ["resume", "Resume"],
  ["promote", "Promote"],
  ["rollback", "Roll back"],
];

const DONE = { pause: "Paused.", resume: "Resumed.", promote: "Promotion asked.", rollback: "Rollback asked." };

const PHASE_CLASS = { succeeded: "ok", failed: "bad", "rolled-back": "bad" };

const item = (label, ...value) =>
  h("div", { class: "stat" }, h("span", { class: "label" }, label), h("span", {}, ...value));

function routingSummary(dep, versions) {
  const ramp = dep.ramping_version ? `${dep.ramping_version} (${dep.ramping_percentage}%)` : "none";
  const groups = versions.flatMap((v) =>
    Object.keys(v.compute_status.scaling_groups).map((groupId) => h("li", {},
      h("a", { href: `#/groups/${seg(dep.name)}/${seg(v.build_id)}/${seg(groupId)}` }, `${v.build_id} / ${groupId}`),
      " ", status(v.status, v.status_reason),
      v.draining ? h("span", { class: "tag" }, "draining") : null)));
  return h("div", { class: "stats", id: "deployment-summary" },
    item("Current version", h("span", { id: "deployment-current" }, dep.current_version || "none")),
    item("Ramping version", h("span", { id: "deployment-ramping" }, ramp)),
    item("Builds", dep.build_ids.join(", ") || "none"),
    item("Scaling groups", groups.length ? h("ul", {}, groups) : "none"));
}

/** The next step's time: a clock time and how far off (none while paused or between steps). */
function nextStep(rollout) {
  if (rollout.paused) return "paused";
  if (rollout.next_step_at === null) return "–";
  const now = Date.now() / 1000;
  // age(a, b) is how far b is past a: here, how far the step is ahead of now.
  const when = rollout.next_step_at >= now ? `in ${age(now, rollout.next_step_at)}` : "due";
  return `${clock(rollout.next_step_at)} (${when})`;
}

/** What the API says of the rollout: phase, step and ramp, what it waits for, gate, errors. */
function rolloutStatus(rollout) {
  const ramp = rollout.ramp_percentage === null ? "none" : `${rollout.ramp_percentage}%`;
  const step = rollout.steps ? `${rollout.step} / ${rollout.steps}` : "–";
  const gate = rollout.gate === null ? "none" : rollout.gate;
  const phase = h("span", { class: `badge ${PHASE_CLASS[rollout.phase] || "busy"}` }, rollout.phase);
  return h("div", { class: "stats", id: "rollout-status", "data-phase": rollout.phase, "data-paused": String(rollout.paused) },
    item("Phase", phase, rollout.paused ? h("span", { class: "tag" }, "paused") : null),
    item("Rollout", `${rollout.previous_version || "unversioned workers"} → ${rollout.target_version}`,
      h("span", { class: "reason" }, rollout.strategy)),
    item("Step", h("span", { id: "rollout-step" }, step)),
    item("Ramp (as Temporal shows it)", h("span", { id: "rollout-ramp" }, ramp)),
    item("Next step", h("span", { id: "rollout-next-step" }, nextStep(rollout))),
    item("Waiting for", h("span", { id: "rollout-waiting-for" }, rollout.waiting_for || "–")),
    item("Gate", gate, rollout.gate_workflow_id ? h("span", { class: "reason", id: "rollout-gate-workflow" }, rollout.gate_workflow_id) : null),
    rollout.reason ? item("Reason", h("span", { class: "bad-text", id: "rollout-reason" }, rollout.reason)) : null,
    rollout.last_error ? item("Last Temporal error", h("span", { class: "bad-text", id: "rollout-last-error" }, rollout.last_error)) : null,
    item("Updated", `${age(rollout.updated_at)} ago`));
}

/** The rollout's own events, newest first, in the shape of the event stream's table. */
function rolloutEvents(rollout) {
  const events = [...rollout.events].reverse().map((e, index) => ({
    id: index, at: e.at, severity: e.phase === "failed" ? "error" : "info", kind: "rollout",
    reason: e.phase, message: e.message,
  }));
  return eventTable(events, { withObject: false, id: "rollout-events" });
}

/** Pause/resume/promote/rollback: each is the API's POST; what it answers shows beside them. */
function rolloutControls(name, onChanged) {
  const feedback = h("div", { class: "error", id: "rollout-feedback", role: "alert", hidden: true });
  const done = h("div", { class: "form-ok", id: "rollout-done", role: "status", hidden: true });
  const buttons = COMMANDS.map(([command, label]) => {
    const button = h("button", { type: "button", "data-command": command }, label);
    button.addEventListener("click", async () => {
      feedback.hidden = true;
      done.hidden = true;
      for (const b of buttons) b.disabled = true;
      try {
        onChanged(await call("POST", `worker-deployments/${seg(name)}/rollout/${command}`));
        done.textContent = DONE[command];
        done.hidden = false;
      } catch (err) {
        feedback.textContent = err.status === 409 ? `Refused: ${err.message}` : err.message;
        feedback.hidden = false;
      } finally {
        for (const b of buttons) b.disabled = false;
      }
    });
    return button;
  });
  return h("div", { class: "rollout-controls", id: "rollout-controls" }, buttons, feedback, done);
}

export function deploymentView(container, [name]) {
  const path = `worker-deployments/${seg(name)}`;
  const summary = h("section", {});
  const rolloutBox = h("section", { id: "rollout" });
  const eventsBox = h("section", {});
  const show = (rollout) => {
    fill(rolloutBox, rolloutStatus(rollout));
    fill(eventsBox, h("h3", {}, "Rollout events"), rolloutEvents(rollout));
  };
  const controls = rolloutControls(name, show);
  controls.hidden = true;
  fill(container,
    h("p", {}, h("a", { href: "#/" }, "← Overview")),
    h("h1", {}, `Deployment ${name}`),
    summary,
    h("h2", {}, "Rollout"), rolloutBox, controls, eventsBox);
  return {
    async refresh(signal) {
      const [dep, versions] = await Promise.all([
        get(path, null, signal),
        get(`${path}/versions`, null, signal),
      ]);
      fill(summary, routingSummary(dep, versions.items));
      let rollout;
      try {
        rollout = await get(`${path}/rollout`, null, signal);
      } catch (err) {
        if (err.status !== 404) throw err;
        controls.hidden = true;
        fill(rolloutBox, h("p", { class: "muted", id: "rollout-none" }, "No rollout: no build was rolled out with a rollout section."));
        fill(eventsBox);
        return;
      }
      controls.hidden = false;
      show(rollout);
    },
  };
}
