// One actor: its description, a form to send it a message, and its executions, live.

import {paths} from "../api.js";
import {code, dl, h, link, replace, table} from "../dom.js";
import {between, bytes, count, cpu, duration, NONE, timeNode, yesNo} from "../format.js";
import {watchExecutions} from "../feeds.js";
import {badge, notice, pageHeader, stat} from "../widgets.js";

const ACTOR_REFRESH_MS = 5000;

export async function render(ctx) {
  const {api, main, signal, params: [actorId]} = ctx;
  let actor = await api.get(paths.actor(actorId), {signal});
  document.title = `${actor.name || actor.id} · actors`;

  const header = h("div");
  const stats = h("div", {class: "stats", id: "actor-stats"});
  const details = h("div", {id: "actor-details"});
  const executions = h("div", {id: "executions"}, h("p", {class: "loading"}, "Loading…"));
  replace(main,
    header,
    stats,
    h("div", {class: "columns"},
      h("div", {class: "column-main"},
        h("section", {class: "card card-flush"},
          h("div", {class: "card-head"}, h("h2", null, "Executions"),
            h("span", {class: "live-dot", title: "Updated live"}, "live")),
          executions)),
      h("div", {class: "column-side"},
        sendForm(api, actor),
        h("section", {class: "card"}, h("h2", null, "Details"), details))));

  function showActor() {
    replace(header, pageHeader(actor.name || actor.id, {
      crumbs: [link(["actors"], "Actors"), h("span", {class: "mono"}, actor.id)],
      subtitle: actor.description || null,
      aside: badge(actor.status),
    }));
    replace(details, actorFacts(actor));
  }
  showActor();

  ctx.live(async () => {
    actor = await api.get(paths.actor(actorId), {signal});
    showActor();
  }, ACTOR_REFRESH_MS);

  await watchExecutions(api, actor.id, (listing) => {
    const list = listing.executions;
    const running = list.filter((e) => e.status === "RUNNING").length;
    const queued = list.filter((e) => e.status === "SUBMITTED").length;
    replace(stats,
      stat("Executions", count(list.length)),
      stat("Running", count(running)),
      stat("Queued", count(queued)),
      stat("CPU time", cpu(listing.total_cpu), {hint: "finished executions"}),
      stat("I/O", bytes(listing.total_io), {hint: "block and network"}),
      stat("Run time", duration(listing.total_runtime), {hint: "wall clock, summed"}));
    replace(executions, table(
      ["Execution", "Status", "Received", "Started", "Finished", "Took"],
      list.map((e) => [
        link(["actors", actor.id, "executions", e.id], h("span", {class: "mono"}, e.id)),
        badge(e.status),
        timeNode(e.message_received_time, {short: true}),
        timeNode(e.start_time, {short: true}),
        timeNode(e.finish_time, {short: true}),
        e.start_time ? duration(between(e.start_time, e.finish_time)) : NONE,
      ]),
      {empty: "No executions yet: send the actor a message."}));
    executions.querySelector("table").id = "executions-table";
    executions.querySelectorAll("tbody tr").forEach((row, i) => {
      if (list[i]) row.dataset.executionId = list[i].id;
    });
  }, signal, ctx.feed);
}

function actorFacts(actor) {
  const gpus = actor.gpus && actor.gpus !== 0 ? String(actor.gpus) : null;
  return dl([
    ["Id", h("span", {class: "mono"}, actor.id)],
    ["Image", code(actor.image)],
    ["Owner", actor.owner],
    ["Status", actor.status_message ? `${actor.status} — ${actor.status_message}` : actor.status],
    ["Revision", actor.revision],
    ["Queue", actor.queue],
    ["Stateless", yesNo(actor.stateless)],
    ["Max workers", actor.max_workers],
    ["GPUs", gpus],
    ["Memory limit", actor.mem_limit],
    ["CPUs", actor.max_cpus],
    ["Hints", (actor.hints || []).length ? actor.hints.join(", ") : null],
    ["Link", actor.link],
    ["Webhook", actor.webhook],
    ["Cron", actor.cron_schedule ? `${actor.cron_schedule}${actor.cron_on ? "" : " (off)"}` : null],
    ["Next cron run", actor.cron_next_ex ? timeNode(actor.cron_next_ex) : null],
    ["Created", timeNode(actor.create_time)],
    ["Updated", timeNode(actor.last_update_time)],
  ]);
}

/** Send a text message (the form field `message`, as `actors send ID TEXT` does). */
function sendForm(api, actor) {
  const text = h("textarea", {id: "message", name: "message", rows: 3, required: true,
                              placeholder: "The message: the execution sees it as $MSG"});
  const status = h("div", {class: "form-status", id: "send-status"});
  const button = h("button", {type: "submit", class: "button button-primary", id: "send"}, "Send");
  async function submit(event) {
    event.preventDefault();
    button.disabled = true;
    try {
      const sent = await api.post(paths.messages(actor.id), {message: text.value});
      replace(status, notice("ok", "Sent: execution ",
        link(["actors", actor.id, "executions", sent.execution_id],
          h("span", {class: "mono", id: "sent-execution"}, sent.execution_id)), "."));
      text.value = "";
    } catch (error) {
      replace(status, notice("error", error.status ? `Not sent: ${error.message}`
        : `No answer from the API (${error.message}): the message may or may not have ` +
          "arrived; the executions list will show it if it did."));
    } finally {
      button.disabled = false;
    }
  }
  return h("form", {class: "card", onsubmit: submit},
    h("h2", null, "Send a message"),
    text,
    h("div", {class: "form-row"}, button),
    status);
}
