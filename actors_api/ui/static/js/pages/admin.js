// For admins, everything in the tenant: executions and workers counted per actor (GET
// /actors/admin/executions and /actors/admin/workers) and the latest executions of everyone.
// A token without the admin role gets the API's 403 here, shown as the page.

import {paths} from "../api.js";
import {h, link, replace, table} from "../dom.js";
import {bytes, count, cpu, duration, timeNode} from "../format.js";
import {badge, pageHeader, stat} from "../widgets.js";

const REFRESH_MS = 4000;
const LATEST = 15;

export async function render(ctx) {
  const {api, identity, main, signal} = ctx;
  document.title = "Admin · actors";
  const stats = h("div", {class: "stats", id: "admin-stats"});
  const perActor = h("div", {id: "admin-actors"});
  const latest = h("div", {id: "admin-latest"});
  let first = true;

  async function refresh() {
    const [executions, workers, actors, recent] = await Promise.all([
      api.get(paths.adminExecutions(), {signal}),
      api.get(paths.adminWorkers(), {signal}),
      api.get(paths.actors(), {signal}),
      latestExecutions(api, signal),
    ]);
    if (first) {
      first = false;
      replace(main,
        pageHeader("Admin", {subtitle: `Everything in tenant ${identity.tenant}.`}),
        stats,
        h("section", {class: "card card-flush"}, h("div", {class: "card-head"},
          h("h2", null, "Actors")), perActor),
        h("section", {class: "card card-flush"}, h("div", {class: "card-head"},
          h("h2", null, `Latest executions`), h("span", {class: "live-dot"}, "live")), latest));
    }
    const byId = new Map(actors.map((a) => [a.id, a]));
    const workersOf = new Map(workers.actors.map((w) => [w.actor_id, w]));
    replace(stats,
      stat("Actors", count(actors.length)),
      stat("Executions", count(executions.executions)),
      stat("Running", count(executions.RUNNING)),
      stat("Queued", count(executions.SUBMITTED)),
      stat("Errors", count(executions.ERROR)),
      stat("Workers busy", `${workers.BUSY} / ${workers.total_workers}`),
      stat("CPU time", cpu(executions.total_cpu)),
      stat("I/O", bytes(executions.total_io)));
    replace(perActor, table(
      ["Actor", "Owner", "Executions", "Queued", "Running", "Complete", "Error", "Workers",
       "CPU time", "Run time"],
      executions.actors.map((row) => {
        const actor = byId.get(row.actor_id) || {id: row.actor_id};
        const w = workersOf.get(row.actor_id);
        return [link(["actors", row.actor_id], actor.name || row.actor_id), actor.owner || "",
          num(row.executions), num(row.SUBMITTED), num(row.RUNNING), num(row.COMPLETE),
          num(row.ERROR), w ? `${w.BUSY} / ${w.workers}` : "0", cpu(row.total_cpu),
          duration(row.total_runtime)];
      }), {empty: "No actors in this tenant."}));
    replace(latest, table(["Execution", "Actor", "Sent by", "Status", "Received", "Exit code"],
      recent.map((e) => [
        link(["actors", e.actor_id, "executions", e.id], h("span", {class: "mono"}, e.id)),
        link(["actors", e.actor_id], (byId.get(e.actor_id) || {}).name || e.actor_id),
        e.executor || "",
        badge(e.status),
        timeNode(e.message_received_time, {short: true}),
        e.exit_code ?? "",
      ]), {empty: "No executions yet."}));
  }

  await refresh();
  ctx.live(refresh, REFRESH_MS);
}

function num(n) {
  return h("span", {class: "num"}, count(n || 0));
}

/** The newest executions the token can read (search lists them oldest first). */
async function latestExecutions(api, signal) {
  const search = paths.search("executions");
  const {_metadata: {total_count: total}} = await api.get(search, {params: {limit: 0}, signal});
  if (!total) return [];
  const page = await api.get(search, {params: {skip: Math.max(0, total - LATEST), limit: LATEST},
                                      signal});
  return page.search.reverse();
}
