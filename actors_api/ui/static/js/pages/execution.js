// One execution: its figures, its logs following live while it runs, its final state, a
// force-quit button while it can be stopped, and its outputs when the record lists any.

import {paths} from "../api.js";
import {code, dl, h, link, replace, table} from "../dom.js";
import {between, bytes, cpu, duration, NONE, percent, timeNode, yesNo} from "../format.js";
import {FINISHED, followExecution} from "../feeds.js";
import {badge, notice, pageHeader, stat} from "../widgets.js";

export async function render(ctx) {
  const {api, main, signal, params: [actorId, executionId]} = ctx;
  const first = await api.get(paths.execution(actorId, executionId), {signal});
  const actor = await api.get(paths.actor(actorId), {signal}).catch(() => ({id: actorId}));
  document.title = `Execution ${executionId} · actors`;

  const status = h("span", {id: "execution-status"});
  const stopper = stopControls(api, first.actor_id || actorId, executionId);
  const figures = h("div", {class: "stats", id: "figures"});
  const facts = h("div", {id: "execution-facts"});
  const finalState = h("section", {class: "card", id: "final-state", hidden: true});
  const gpus = h("section", {class: "card", id: "gpus", hidden: true});
  const outputs = h("section", {class: "card", id: "outputs", hidden: true});
  const logState = h("span", {class: "log-state", id: "log-state"});
  const logs = h("pre", {class: "logs", id: "logs", tabindex: 0});
  const record = h("pre", {class: "record", id: "record"});

  replace(main,
    pageHeader(`Execution ${executionId}`, {
      crumbs: [link(["actors"], "Actors"),
               link(["actors", actor.id || actorId], actor.name || actor.id || actorId),
               h("span", {class: "mono"}, executionId)],
      aside: h("div", {class: "aside-row"}, status, stopper.node),
    }),
    figures,
    h("div", {class: "columns"},
      h("div", {class: "column-main"},
        h("section", {class: "card card-logs"},
          h("div", {class: "card-head"}, h("h2", null, "Logs"), logState),
          logs),
        h("details", {class: "card record-card"},
          h("summary", null, "Full record (JSON, as the API returns it)"), record)),
      h("div", {class: "column-side"},
        h("section", {class: "card"}, h("h2", null, "Details"), facts),
        finalState, gpus, outputs)));

  let current = first;
  const ticker = setInterval(() => showFigures(figures, current), 1000);
  signal.addEventListener("abort", () => clearInterval(ticker), {once: true});

  await followExecution(api, actorId, executionId, {
    onRecord(execution) {
      current = execution;
      replace(status, badge(execution.status));
      stopper.update(execution.status);
      showFigures(figures, execution);
      replace(facts, executionFacts(execution));
      showFinalState(finalState, execution.final_state);
      showGpus(gpus, execution);
      showOutputs(outputs, api, actorId, execution);
      replace(record, JSON.stringify(execution, null, 2));
      replace(logState, FINISHED.has(execution.status)
        ? h("span", {class: "muted"}, "final")
        : h("span", {class: "live-dot"}, "following live"));
    },
    onLogs(text) {
      const atBottom = logs.scrollHeight - logs.scrollTop - logs.clientHeight < 40;
      replace(logs, text || h("span", {class: "muted"}, "No output yet."));
      if (atBottom) logs.scrollTop = logs.scrollHeight;
    },
  }, signal, ctx.feed);
  clearInterval(ticker);
}

function showFigures(node, e) {
  const running = e.status === "RUNNING";
  // While it runs, the record's runtime is not yet measured: count from its start.
  const runtime = FINISHED.has(e.status) && e.runtime !== null && e.runtime !== undefined
    ? duration(e.runtime) : e.start_time ? duration(between(e.start_time, e.finish_time)) : NONE;
  const cards = [
    stat("Exit code", e.exit_code ?? NONE, {id: "figure-exit-code"}),
    stat(running ? "Running for" : "Run time", runtime, {id: "figure-runtime"}),
    stat("CPU time", cpu(e.cpu), {id: "figure-cpu"}),
    stat("I/O", bytes(e.io), {hint: "block and network", id: "figure-io"}),
  ];
  if ((e.gpus || []).length) {
    const gpuStats = e.gpu_stats;
    cards.push(stat("GPUs", String(e.gpus.length), {
      id: "figure-gpus",
      hint: gpuStats ? `mean use ${percent(gpuStats.mean_utilization)}` : "no samples",
    }));
  }
  replace(node, cards);
}

function executionFacts(e) {
  return dl([
    ["Status", e.status_message ? `${e.status} — ${e.status_message}` : e.status],
    ["Actor", h("span", {class: "mono"}, e.actor_id)],
    ["Worker", e.worker_id ? h("span", {class: "mono"}, e.worker_id) : null],
    ["Sent by", e.executor],
    ["Message type", e.content_type],
    ["Received", timeNode(e.message_received_time)],
    ["Started", timeNode(e.start_time)],
    ["Finished", timeNode(e.finish_time)],
  ]);
}

function showFinalState(node, state) {
  node.hidden = !state || !Object.keys(state).length;
  if (node.hidden) return;
  const rows = Object.entries(state).map(([key, value]) => [key,
    typeof value === "boolean" ? h("span", {class: value ? "flag-on" : null}, yesNo(value))
      : value === "" || value === null ? NONE
      : typeof value === "object" ? code(JSON.stringify(value)) : String(value)]);
  replace(node, h("h2", null, "Final state"), dl(rows, "facts facts-compact"),
    state.ForceQuit ? notice("info", "This execution was force-quit.") : null);
}

function showGpus(node, e) {
  node.hidden = !(e.gpus || []).length;
  if (node.hidden) return;
  const s = e.gpu_stats;
  replace(node, h("h2", null, "GPUs"),
    table(["#", "Name", "UUID"], e.gpus.map((g) => [String(g.index), g.name, code(g.uuid)]),
      {className: "grid grid-compact"}),
    s ? dl([
      ["Peak memory", bytes(s.peak_memory_used)],
      ["Mean use", percent(s.mean_utilization)],
      ["Peak use", percent(s.peak_utilization)],
      ["Samples", s.samples !== undefined ? `${s.samples} every ${s.interval} s` : null],
    ], "facts facts-compact") : h("p", {class: "muted small"}, "No usage samples (simulated GPUs)."));
}

/** Outputs exist only on records that list them (`outputs: [{path, size, sha256}]`). */
function showOutputs(node, api, actorId, e) {
  node.hidden = !Array.isArray(e.outputs);
  if (node.hidden) return;
  const files = e.outputs;
  const eid = e.id;
  const status = h("div", {class: "form-status"});
  const save = (path, filename) => () => download(api, path, filename)
    .catch((error) => replace(status, notice("error", `Download failed: ${error.message}`)));
  replace(node, h("div", {class: "card-head"}, h("h2", null, "Outputs"),
      files.length ? downloadButton("Download all (zip)", "download-outputs",
        save(paths.outputs(actorId, eid), `${eid}-outputs.zip`)) : null),
    files.length ? table(["File", "Size", ""], files.map((file) => [
      h("span", {class: "mono", title: file.sha256 ? `sha256 ${file.sha256}` : null}, file.path),
      h("span", {class: "nowrap"}, bytes(file.size)),
      downloadButton("Download", null,
        save(paths.output(actorId, eid, file.path), file.path.split("/").pop())),
    ]), {className: "grid grid-compact"}) : h("p", {class: "muted"}, "The execution wrote no outputs."),
    status);
}

function downloadButton(label, id, action) {
  return h("button", {type: "button", class: "button button-small", id, onclick: action}, label);
}

/** Fetch with the token (a plain link could not send it) and save the answer as a file. */
async function download(api, path, filename) {
  const response = await api.fetch("GET", path, {accept: "*/*"});
  const url = URL.createObjectURL(await response.blob());
  const anchor = h("a", {href: url, download: filename, hidden: true});
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/**
 * "Force quit" (RUNNING) or "Cancel" (SUBMITTED), asking once more before it sends
 * DELETE .../executions/{eid}; gone once the execution has finished.
 */
function stopControls(api, actorId, executionId) {
  const node = h("div", {class: "stop-controls", id: "stop-controls"});
  const message = h("div", {id: "stop-status"});
  let status = null;
  let asking = false;
  let sent = false;

  function draw() {
    if (FINISHED.has(status)) {
      replace(node); // nothing left to stop; the final state says how it ended
      return;
    }
    const verb = status === "SUBMITTED" ? "Cancel" : "Force quit";
    if (asking) {
      replace(node,
        h("span", {class: "confirm-text"}, status === "SUBMITTED"
          ? "Cancel this execution?" : "Kill its container now?"),
        h("button", {type: "button", class: "button button-danger", id: "confirm-force-quit",
                     onclick: stop}, `Yes, ${verb.toLowerCase()}`),
        h("button", {type: "button", class: "button button-quiet", id: "keep-running",
                     onclick: () => { asking = false; draw(); }}, "No"),
        message);
    } else {
      replace(node, h("button", {type: "button", class: "button button-danger-outline",
                                 id: "force-quit", disabled: sent,
                                 onclick: () => { asking = true; draw(); }}, verb), message);
    }
  }

  async function stop() {
    asking = false;
    sent = true;
    draw();
    try {
      const answer = await api.request("DELETE", paths.execution(actorId, executionId));
      replace(message, notice("info", "Stop requested."));
      return answer;
    } catch (error) {
      sent = false;
      replace(message, notice("error", `Not stopped: ${error.message}`));
      draw();
    }
  }

  return {
    node,
    update(newStatus) {
      status = newStatus;
      draw();
    },
  };
}
