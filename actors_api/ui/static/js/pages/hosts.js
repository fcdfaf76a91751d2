// The live spawners: their slots for everyone (GET /actors/utilization), and for admins their
// host names, runtimes, heartbeats and GPUs (GET /actors/admin/hosts).

import {paths} from "../api.js";
import {code, dl, h, link, replace, table} from "../dom.js";
import {ago, bytes, count, NONE, timeNode} from "../format.js";
import {badge, meter, notice, pageHeader, stat} from "../widgets.js";

const REFRESH_MS = 3000;

export async function render(ctx) {
  const {api, identity, main, signal} = ctx;
  document.title = "Hosts · actors";
  const summary = h("div", {class: "stats", id: "hosts-summary"});
  const note = h("div");
  const list = h("div", {class: "hosts", id: "hosts"});
  replace(main, pageHeader("Hosts", {subtitle: "Spawners with a current heartbeat."}),
    summary, note, list);
  const owners = new Map(); // execution id -> actor id, for links to GPU holders
  let adminView = identity.isAdmin;

  async function refresh() {
    const utilization = await api.get(paths.utilization(), {signal});
    let hosts = null;
    if (adminView) {
      try {
        hosts = await api.get(paths.hosts(), {signal});
      } catch (error) {
        if (error.status !== 403) throw error;
        adminView = false; // the token's roles claim says admin, the API does not agree
      }
    }
    replace(note, adminView ? null : notice("info",
      "Host names, runtimes and GPUs are shown to admins only (GET /actors/admin/hosts); " +
      "your token sees how many slots each spawner has."));
    const inUse = new Map(utilization.hosts.map((host) => [host.name, host]));
    const gpus = (hosts || []).flatMap((host) => host.gpus || []);
    replace(summary,
      stat("Spawners", count(utilization.hosts.length)),
      stat("Slots in use", `${utilization.slots_in_use} / ${utilization.total_slots}`),
      stat("Queued messages", count(utilization.queued_messages)),
      adminView ? stat("GPUs busy", `${gpus.filter((g) => g.busy).length} / ${gpus.length}`) : null);
    await resolveOwners(api, gpus, owners, signal);
    const cards = hosts
      ? hosts.map((host) => hostCard(host, inUse.get(host.name), owners))
      : utilization.hosts.map((host) => hostCard(host, host, owners));
    replace(list, cards.length ? cards
      : h("div", {class: "card"}, h("p", {class: "muted"},
        "No spawner is running: start one with `actors spawner` (executions wait until then).")));
  }

  await refresh();
  ctx.live(refresh, REFRESH_MS);
}

function hostCard(host, usage, owners) {
  const used = usage ? usage.slots_in_use : 0;
  return h("section", {class: "card host", dataset: {host: host.name}},
    h("div", {class: "card-head"},
      h("h2", null, host.name),
      host.runtime ? h("span", {class: "chip"}, host.runtime) : null),
    meter(used, host.slots, "slots in use"),
    dl([
      ["Host", host.hostname],
      ["Queues", (host.queues || []).length ? host.queues.map((q) => code(q)) : NONE],
      ["Started", host.started ? timeNode(host.started) : null],
      ["Heartbeat", host.last_heartbeat ? ago(host.last_heartbeat) : null],
    ]),
    (host.gpus || []).length ? table(["GPU", "Name", "Memory", "State", "Held by"],
      host.gpus.map((gpu) => [
        String(gpu.index),
        h("span", {title: gpu.uuid}, gpu.name),
        h("span", {class: "nowrap"}, bytes(gpu.memory_total)),
        badge(gpu.busy ? "BUSY" : "FREE"),
        holder(gpu, owners),
      ]), {className: "grid grid-compact gpus"}) : host.gpus ? h("p", {class: "muted small"}, "No GPUs.") : null);
}

function holder(gpu, owners) {
  if (!gpu.busy) return NONE;
  if (!gpu.execution_id) return h("span", {class: "muted"}, "another tenant");
  const actorId = owners.get(gpu.execution_id);
  const label = h("span", {class: "mono"}, gpu.execution_id);
  return actorId ? link(["actors", actorId, "executions", gpu.execution_id], label) : label;
}

/** Find the actor of each GPU-holding execution (for its link), once per execution. */
async function resolveOwners(api, gpus, owners, signal) {
  const unknown = [...new Set(gpus.map((g) => g.execution_id).filter((e) => e && !owners.has(e)))];
  await Promise.all(unknown.map(async (eid) => {
    const found = await api.get(paths.search("executions"), {params: {id: eid, limit: 1}, signal});
    const [execution] = found.search;
    if (execution) owners.set(eid, execution.actor_id);
  }));
}
