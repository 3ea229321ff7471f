// Endpoints: create one, see one (status, workers, telemetry), edit its min/max, delete it.
// Every rule is the API's: the forms send what was typed and show the API's messages.

import { call, get, seg } from "./api.js";
import { fill, h, status } from "./dom.js";
import { field, formErrors, numberValue, onSubmit } from "./forms.js";
import { telemetryPanel } from "./group.js";

const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);

function envOf(text) {
  const env = {};
  for (const line of lines(text)) {
    const at = line.indexOf("=");
    if (at < 0) env[line] = "";
    else env[line.slice(0, at)] = line.slice(at + 1);
  }
  return env;
}

const input = (name, attrs = {}) => h("input", { name, type: "text", autocomplete: "off", ...attrs });
const numberInput = (name, attrs = {}) => input(name, { type: "number", ...attrs });

export function endpointNewView(container) {
  const source = h("select", { name: "source" },
    h("option", { value: "command" }, "command (a process)"), h("option", { value: "image" }, "image (a container)"));
  const command = h("textarea", { name: "command", rows: 3, placeholder: "python\n-m\nexamples.worker" });
  const image = input("image", { placeholder: "registry/worker:1.0" });
  const form = h("form", { class: "card", id: "endpoint-create", novalidate: true },
    formErrors(),
    field("Name", input("name", { placeholder: "orders" }), "a DNS label: lowercase letters, digits and '-'"),
    field("Task queue", input("temporal_task_queue")),
    field("Temporal namespace", input("temporal_namespace", { placeholder: "(the server's default)" })),
    field("Workers run", source),
    field("Command", command, "one argument per line"),
    field("Image", image),
    h("div", { class: "row" },
      field("Min workers", numberInput("min_workers", { value: 0 })),
      field("Max workers", numberInput("max_workers", { value: 1 })),
      field("Tasks per worker", numberInput("per_worker", { value: 10 }))),
    h("div", { class: "row" },
      field("CPUs", numberInput("cpus", { step: "any" })),
      field("Memory", input("memory", { placeholder: "512Mi" }))),
    field("Environment", h("textarea", { name: "env", rows: 3, placeholder: "KEY=value" }), "one KEY=value per line"),
    h("button", { type: "submit" }, "Create endpoint"));
  const sync = () => {
    form.querySelector('[data-field="command"]').hidden = source.value !== "command";
    form.querySelector('[data-field="image"]').hidden = source.value !== "image";
  };
  source.addEventListener("change", sync);
  sync();
  const value = (name) => form.elements[name].value.trim();
  onSubmit(form, async () => {
    const body = {
      name: value("name"),
      endpoint_type: "temporal",
      temporal_task_queue: value("temporal_task_queue"),
      temporal_namespace: value("temporal_namespace") || undefined,
      min_workers: numberValue(form.elements.min_workers),
      max_workers: numberValue(form.elements.max_workers),
      per_worker: numberValue(form.elements.per_worker),
      cpus: numberValue(form.elements.cpus),
      memory: value("memory") || undefined,
      env: envOf(form.elements.env.value),
    };
    if (source.value === "command") body.command = lines(command.value);
    else body.image = image.value.trim();
    const created = await call("POST", "endpoints", { body });
    location.hash = `#/endpoints/${seg(created.name)}`;
  });
  fill(container, h("p", {}, h("a", { href: "#/" }, "← Overview")), h("h1", {}, "New endpoint"), form);
  return { refresh: async () => {} };
}

function details(e) {
  const item = (label, ...value) => h("div", { class: "stat" }, h("span", { class: "label" }, label), h("span", {}, ...value));
  return h("div", { class: "stats", id: "endpoint-summary", "data-status": e.status },
    item("Status", status(e.status, e.status_reason)),
    item("Task queue", e.temporal_task_queue),
    item("Workers", `${e.available_workers} available, ${e.unavailable_workers} starting`),
    item("Bounds", `min ${e.min_workers}, max ${e.max_workers}`, h("span", { class: "muted" }, `, ${e.per_worker} tasks per worker`)),
    item("Runs", e.command ? e.command.join(" ") : e.image),
    item("Deployment", h("a", { href: `#/deployments/${seg(e.deployment_name)}` }, e.deployment_name)),
    item("Scaling group", h("a", { href: `#/groups/${seg(e.deployment_name)}/${seg(e.build_id)}/workers` },
      `${e.deployment_name} / ${e.build_id} / workers`)));
}

function editForm(endpoint) {
  const form = h("form", { class: "card", id: "endpoint-edit", novalidate: true },
    formErrors(),
    h("div", { class: "row" },
      field("Min workers", numberInput("min_workers")),
      field("Max workers", numberInput("max_workers")),
      field("Tasks per worker", numberInput("per_worker"))),
    h("div", { class: "form-ok", role: "status", hidden: true }),
    h("button", { type: "submit" }, "Save"));
  const ok = form.querySelector(".form-ok");
  const set = (e) => {
    for (const name of ["min_workers", "max_workers", "per_worker"]) form.elements[name].value = e[name];
  };
  set(endpoint.current);
  onSubmit(form, async () => {
    ok.hidden = true;
    const body = { conflict_token: endpoint.current.conflict_token };
    for (const name of ["min_workers", "max_workers", "per_worker"]) body[name] = numberValue(form.elements[name]);
    endpoint.current = await call("PUT", `endpoints/${seg(endpoint.current.name)}`, { body });
    set(endpoint.current);
    ok.textContent = `Saved: min ${endpoint.current.min_workers}, max ${endpoint.current.max_workers}.`;
    ok.hidden = false;
  });
  return form;
}

function deleteControls(name, onDeleted) {
  const box = h("div", { class: "delete" });
  const feedback = h("div", { class: "error", role: "alert", hidden: true });
  const ask = h("button", { type: "button", class: "danger", id: "delete-endpoint" }, "Delete endpoint");
  const confirm = h("span", { class: "confirm", hidden: true },
    `Delete ${name} and drain its workers? `,
    h("button", { type: "button", class: "danger", id: "confirm-delete" }, "Yes, delete"),
    h("button", { type: "button", id: "cancel-delete" }, "Cancel"));
  ask.addEventListener("click", () => {
    ask.hidden = true;
    confirm.hidden = false;
  });
  confirm.querySelector("#cancel-delete").addEventListener("click", () => {
    ask.hidden = false;
    confirm.hidden = true;
  });
  confirm.querySelector("#confirm-delete").addEventListener("click", async () => {
    feedback.hidden = true;
    try {
      await call("DELETE", `endpoints/${seg(name)}`);
      confirm.hidden = true;
      onDeleted();
    } catch (err) {
      feedback.textContent = err.message;
      feedback.hidden = false;
    }
  });
  return fill(box, ask, confirm, feedback);
}

export function endpointView(container, [name]) {
  const summary = h("section", {});
  const edit = h("section", {});
  const panelBox = h("section", {});
  const gone = h("div", { class: "notice", id: "endpoint-deleted", hidden: true },
    `Endpoint ${name} is deleted. `, h("a", { href: "#/" }, "Back to the overview"));
  let deleting = false;
  const endpoint = { current: null };
  const onDeleted = () => {
    deleting = true;
    gone.textContent = `Deleting ${name}: draining its workers…`;
    gone.hidden = false;
  };
  fill(container,
    h("p", {}, h("a", { href: "#/" }, "← Overview")),
    h("h1", {}, `Endpoint ${name}`),
    gone, summary,
    h("h2", {}, "Scale"), edit, deleteControls(name, onDeleted),
    panelBox);
  const panel = telemetryPanel(panelBox, {
    metricsPath: `endpoints/${seg(name)}/metrics`,
    eventsPath: `endpoints/${seg(name)}/events`,
  });
  return {
    async refresh(signal) {
      let current;
      try {
        current = await get(`endpoints/${seg(name)}`, null, signal);
      } catch (err) {
        if (err.status !== 404 || !deleting) throw err;
        fill(gone, `Endpoint ${name} is deleted. `, h("a", { href: "#/" }, "Back to the overview"));
        fill(summary);
        return;
      }
      fill(summary, details(current));
      if (!endpoint.current) {
        endpoint.current = current;
        fill(edit, editForm(endpoint));
      } else if (current.conflict_token !== endpoint.current.conflict_token) {
        endpoint.current = current;
      }
      if (!deleting) await panel.refresh(signal);
    },
    dispose: panel.dispose,
  };
}
