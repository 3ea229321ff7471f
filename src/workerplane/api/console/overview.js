// The overview: every deployment, version and scaling group (status and reason, workers against
// desired, backlog, the last decision and why) and every endpoint.

import { get, seg } from "./api.js";
import { age, fill, h, num, status, table, unmanagedBadge } from "./dom.js";

const groupHref = (deployment, buildId, group) =>
  `#/groups/${seg(deployment)}/${seg(buildId)}/${seg(group)}`;

function versionRows(version) {
  const groups = Object.entries(version.compute_status.scaling_groups);
  const routing = version.is_current
    ? "current"
    : version.ramping_percentage !== null ? `ramping ${version.ramping_percentage}%` : "";
  const head = [
    h("a", { href: `#/deployments/${seg(version.deployment_name)}` }, version.deployment_name),
    h("span", {}, version.build_id, routing ? h("span", { class: "tag" }, routing) : null),
    status(version.status, version.status_reason),
  ];
  if (groups.length === 0) {
    return [h("tr", {}, [...head, "–", "–", "–", "–"].map((c) => h("td", {}, c)))];
  }
  return groups.map(([groupId, g]) =>
    h(
      "tr",
      { "data-group": `${version.deployment_name}/${version.build_id}/${groupId}` },
      [
        ...head,
        h("a", { href: groupHref(version.deployment_name, version.build_id, groupId) }, groupId),
        h("span", { class: "workers" },
          `${g.current_size} / ${num(g.desired_size)}`,
          g.workers_ready !== null ? h("span", { class: "muted" }, ` (${g.workers_ready} ready)`) : null,
          unmanagedBadge(g)),
        h("span", {}, String(g.backlog),
          g.backlog > 0 ? h("span", { class: "muted" }, ` (oldest ${num(g.backlog_age_s, 1)}s)`) : null),
        h("span", { class: "decision" },
          g.last_decision || "–",
          g.last_reason ? h("span", { class: "reason" }, g.last_reason) : null,
          g.last_error ? h("span", { class: "reason bad-text" }, g.last_error) : null,
          g.updated_at ? h("span", { class: "muted" }, ` ${age(g.updated_at)} ago`) : null),
      ].map((c) => h("td", {}, c)),
    ),
  );
}

function endpointRow(e) {
  return h(
    "tr",
    { "data-endpoint": e.name },
    [
      h("a", { href: `#/endpoints/${seg(e.name)}` }, e.name),
      e.temporal_task_queue,
      status(e.status, e.status_reason),
      `${e.available_workers} available` + (e.unavailable_workers ? `, ${e.unavailable_workers} starting` : ""),
      `${e.min_workers}–${e.max_workers}`,
      String(e.per_worker),
    ].map((c) => h("td", {}, c)),
  );
}

export function overviewView(container) {
  const deployments = h("section", { id: "deployments" });
  const endpoints = h("section", { id: "endpoints" });
  fill(container,
    h("h1", {}, "Overview"),
    h("h2", {}, "Deployments, versions and scaling groups"), deployments,
    h("h2", {}, "Endpoints ", h("a", { class: "button small", href: "#/endpoints/new" }, "New endpoint")),
    endpoints);
  return {
    async refresh(signal) {
      const [deps, eps] = await Promise.all([
        get("worker-deployments", { limit: 1000 }, signal),
        get("endpoints", { limit: 1000 }, signal),
      ]);
      const versions = await Promise.all(
        deps.items.map((d) => get(`worker-deployments/${seg(d.name)}/versions`, null, signal)),
      );
      const rows = versions.flatMap((list) => list.items.flatMap(versionRows));
      fill(deployments, rows.length
        ? table(["Deployment", "Version", "Status", "Group", "Workers / desired", "Backlog", "Last decision"],
          rows, { class: "grid", id: "groups-table" })
        : h("p", { class: "muted" }, "No worker deployments yet."));
      fill(endpoints, eps.items.length
        ? table(["Endpoint", "Task queue", "Status", "Workers", "Min–max", "Per worker"],
          eps.items.map(endpointRow), { class: "grid", id: "endpoints-table" })
        : h("p", { class: "muted" }, "No endpoints yet."));
    },
  };
}
