// Small pieces several pages share.

import {h} from "./dom.js";

/** A coloured status label: READY, SUBMITTED, RUNNING, COMPLETE, ERROR, BUSY... */
export function badge(status) {
  const text = status ? String(status) : "UNKNOWN";
  return h("span", {class: `badge badge-${text.toLowerCase().replace(/[^a-z_]/g, "")}`,
                    "data-status": text}, text);
}

/** A big number with a label under it. */
export function stat(label, value, {hint = null, id = null} = {}) {
  return h("div", {class: "stat", id},
    h("div", {class: "stat-value"}, value),
    h("div", {class: "stat-label"}, label),
    hint ? h("div", {class: "stat-hint"}, hint) : null);
}

/** A bar filled to used/total, with "used / total label" beside it. */
export function meter(used, total, label) {
  const fill = h("div", {class: "meter-fill"});
  // Through the CSSOM: the CSP bars style="" attributes, not this.
  fill.style.width = `${Math.round((total > 0 ? Math.min(1, used / total) : 0) * 100)}%`;
  return h("div", {class: "meter"},
    h("div", {class: "meter-track", role: "meter", "aria-valuemin": 0, "aria-valuemax": total,
               "aria-valuenow": used}, fill),
    h("span", {class: "meter-text"}, `${used} / ${total} ${label}`));
}

/** A notice under a form or at the top of a page: kind is "error", "ok" or "info". */
export function notice(kind, ...children) {
  return h("p", {class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status"},
    ...children);
}

/** An explanation for a page the API refused or could not answer. */
export function failure(error) {
  const why = error.status === 403 ? "The API refused this to your token."
    : error.status === 404 ? "Not found." : "The API could not answer.";
  return h("div", {class: "card failure"}, h("h2", null, why),
    h("p", {class: "failure-message"}, error.message));
}

export function pageHeader(title, {crumbs = [], aside = null, subtitle = null} = {}) {
  return h("div", {class: "page-header"},
    crumbs.length ? h("nav", {class: "crumbs", "aria-label": "Breadcrumbs"},
      crumbs.flatMap((crumb, i) => (i ? [h("span", {class: "sep"}, "/"), crumb] : [crumb]))) : null,
    h("div", {class: "page-title-row"},
      h("div", null, h("h1", null, title), subtitle ? h("p", {class: "subtitle"}, subtitle) : null),
      aside ? h("div", {class: "page-aside"}, aside) : null));
}
