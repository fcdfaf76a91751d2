// The actors the token can read (an admin's: all of the tenant's), with their counts.

import {paths} from "../api.js";
import {code, h, link, replace, table} from "../dom.js";
import {count, timeNode} from "../format.js";
import {badge, pageHeader} from "../widgets.js";

const REFRESH_MS = 4000;

export async function render(ctx) {
  const {api, identity, main, signal} = ctx;
  document.title = "Actors · actors";
  const list = h("div", {id: "actors"});
  const subtitle = h("span", {id: "actors-subtitle"});
  replace(main, pageHeader("Actors", {subtitle}), h("section", {class: "card card-flush"}, list));

  async function refresh() {
    const [actors, utilization] = await Promise.all([
      api.get(paths.actors(), {signal}),
      api.get(paths.utilization(), {signal}),
    ]);
    const counts = await executionCounts(api, actors, identity.isAdmin, signal);
    const load = new Map((utilization.actors || []).map((a) => [a.actor_id, a]));
    actors.sort((a, b) => String(b.create_time).localeCompare(String(a.create_time)));
    const counted = `${actors.length} ${actors.length === 1 ? "actor" : "actors"}`;
    replace(subtitle, identity.isAdmin
      ? `${counted}: every actor of tenant ${identity.tenant} (you are an admin).`
      : `${counted} that you own or that are shared with you.`);
    replace(list, table(
      ["Actor", "Status", "Image", "Owner", "Executions", "Running", "Queued", "Updated"],
      actors.map((actor) => {
        const using = load.get(actor.id) || {};
        return [
          actorCell(actor),
          h("div", {class: "status-cell"}, badge(actor.status),
            actor.status_message ? h("div", {class: "muted small"}, actor.status_message) : null),
          code(actor.image),
          actor.owner,
          h("span", {class: "num"}, count(counts.get(actor.id))),
          h("span", {class: "num"}, count(using.busy_workers)),
          h("span", {class: "num"}, count(using.queued_messages)),
          timeNode(actor.last_update_time || actor.create_time, {short: true}),
        ];
      }),
      {empty: "No actors yet: register one with `actors create IMAGE` or POST /actors."}));
    list.querySelector("table").id = "actors-table";
    for (const [row, actor] of zip(list.querySelectorAll("tbody tr"), actors)) {
      row.dataset.actorId = actor.id;
    }
  }

  await refresh();
  ctx.live(refresh, REFRESH_MS);
}

function actorCell(actor) {
  return h("div", {class: "actor-cell"},
    link(["actors", actor.id], h("span", {class: "actor-name"}, actor.name || actor.id)),
    actor.name ? h("div", {class: "mono small muted"}, actor.id) : null,
    actor.description ? h("div", {class: "description"}, actor.description) : null);
}

/**
 * Executions per actor: for an admin, the tenant's summary in one request; otherwise one count
 * per actor from the search API (answered from its indexes, without reading the executions).
 */
async function executionCounts(api, actors, isAdmin, signal) {
  if (isAdmin) {
    try {
      const summary = await api.get(paths.adminExecutions(), {signal});
      return new Map(summary.actors.map((row) => [row.actor_id, row.executions]));
    } catch (error) {
      if (error.status !== 403) throw error; // the token's roles claim said admin; the API did not
    }
  }
  const totals = await Promise.all(actors.map((actor) =>
    api.get(paths.search("executions"), {params: {actor_id: actor.id, limit: 0}, signal})
      .then((found) => found._metadata.total_count)));
  return new Map(actors.map((actor, i) => [actor.id, totals[i]]));
}

function* zip(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i += 1) yield [a[i], b[i]];
}
