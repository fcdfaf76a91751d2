// Live data. Today every feed polls the API. Pages never poll themselves: they hand callbacks
// to a feed here, so a push source can replace polling without touching them.
//
// The seam: when the API serves an execution's status feed (GET
// /actors/{id}/executions/{eid}/status with Accept: text/event-stream), followExecution reads
// that stream instead of sleeping between polls (through fetch and a ReadableStream, since
// EventSource cannot send the Authorization header) and re-reads the record and the logs on
// each event; watchExecutions does the same with the actor's feed (GET /actors/{id}/status).
// The callbacks and what they receive stay as they are.

import {paths} from "./api.js";

export const FINISHED = new Set(["COMPLETE", "ERROR"]);

// Answers after which asking again cannot help: signed out, no longer allowed, gone.
const FINAL_ERRORS = new Set([401, 403, 404]);

/** Resolves after ms, or at once when signal aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, {once: true});
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * Run task() now, then again intervalMs after each run ends, until signal aborts or task
 * returns true. A failed run goes to onError and the loop goes on (a lost connection heals
 * by itself), except for 401/403/404, which end it.
 */
export async function poll(task, intervalMs, signal, {onError = () => {}, onSuccess = () => {}} = {}) {
  while (!signal.aborted) {
    try {
      const finished = await task();
      if (signal.aborted) return;
      onSuccess();
      if (finished === true) return;
    } catch (error) {
      if (signal.aborted) return;
      onError(error);
      if (FINAL_ERRORS.has(error.status)) return;
    }
    await sleep(intervalMs, signal);
  }
}

/**
 * Follow one execution until it has finished: onRecord(execution) whenever its record changes,
 * onLogs(text) whenever its logs change. The logs handed over last were read after the record
 * showed the final status, so they are complete.
 */
export function followExecution(api, actorId, executionId, {onRecord, onLogs}, signal,
                                {intervalMs = 1000, ...handlers} = {}) {
  let lastRecord = null;
  let lastLogs = null;
  return poll(async () => {
    const record = await api.get(paths.execution(actorId, executionId), {signal});
    const seen = JSON.stringify(record);
    if (seen !== lastRecord) {
      lastRecord = seen;
      onRecord(record);
    }
    const logs = (await api.get(paths.logs(actorId, executionId), {signal})).logs || "";
    if (logs !== lastLogs) {
      lastLogs = logs;
      onLogs(logs);
    }
    return FINISHED.has(record.status);
  }, intervalMs, signal, handlers);
}

/** An actor's executions, newest first, to onList(listing) whenever they change; never ends. */
export function watchExecutions(api, actorId, onList, signal, {intervalMs = 2000, ...handlers} = {}) {
  let last = null;
  return poll(async () => {
    const listing = await api.get(paths.executions(actorId), {signal});
    const seen = JSON.stringify(listing);
    if (seen !== last) {
      last = seen;
      listing.executions = [...(listing.executions || [])].sort(newestFirst);
      onList(listing);
    }
  }, intervalMs, signal, handlers);
}

function newestFirst(a, b) {
  return String(b.message_received_time || "").localeCompare(String(a.message_received_time || ""));
}
