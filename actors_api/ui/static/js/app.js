// The dashboard's entry point: sign-in, the top bar, and hash routes to pages.
//
// A page is a module exporting `render(ctx)`, which fills ctx.main and keeps it up to date
// until ctx.signal aborts (the user went elsewhere). ctx.live(task, ms) re-runs task every
// ms with the connection banner; ctx.feed is the same handlers for the feeds in feeds.js.

import {Api} from "./api.js";
import {h, replace, route} from "./dom.js";
import {poll, sleep} from "./feeds.js";
import {describeToken, forgetToken, savedToken, saveToken} from "./session.js";
import {failure} from "./widgets.js";
import * as actorPage from "./pages/actor.js";
import * as actorsPage from "./pages/actors.js";
import * as adminPage from "./pages/admin.js";
import * as executionPage from "./pages/execution.js";
import * as hostsPage from "./pages/hosts.js";
import * as signinPage from "./pages/signin.js";

const ROUTES = [
  [/^(actors)?$/, actorsPage],
  [/^actors\/([^/]+)$/, actorPage],
  [/^actors\/([^/]+)\/executions\/([^/]+)$/, executionPage],
  [/^hosts$/, hostsPage],
  [/^admin$/, adminPage],
];

const main = document.getElementById("main");
const topbar = document.getElementById("topbar");
const banner = document.getElementById("banner");
let shown = null; // the AbortController of the page on screen

function currentPath() {
  return window.location.hash.replace(/^#\/?/, "").replace(/\/$/, "");
}

function signOut(message = null) {
  forgetToken();
  show(message);
}

function show(signInMessage = null) {
  if (shown) shown.abort();
  shown = new AbortController();
  setBanner(null);
  const token = savedToken();
  if (!token) {
    topbar.hidden = true;
    document.title = "Sign in · actors";
    signinPage.render({main, message: signInMessage, signIn});
    return;
  }
  const identity = describeToken(token);
  const api = new Api(token, {onUnauthorized: (error) => signOut(error.message)});
  const path = currentPath();
  renderTopbar(identity, path);
  const found = ROUTES.map(([pattern, page]) => [path.match(pattern), page])
    .find(([match]) => match);
  if (!found) {
    replace(main, failure({status: 404, message: `No page at #/${path}.`}));
    return;
  }
  const [match, page] = found;
  const signal = shown.signal;
  const feed = {onError: (error) => setBanner(error), onSuccess: () => setBanner(null)};
  const ctx = {
    api, identity, main, signal, feed,
    params: match.slice(1).filter((p) => p !== undefined).map(decodeURIComponent),
    // Called after the page's first render: the next run is intervalMs away.
    live: async (task, intervalMs) => {
      await sleep(intervalMs, signal);
      return poll(task, intervalMs, signal, feed);
    },
  };
  replace(main, h("p", {class: "loading"}, "Loading…"));
  Promise.resolve(page.render(ctx)).catch((error) => {
    if (signal.aborted) return;
    if (error.status === 401) return; // signOut has taken over
    replace(main, failure(error), error.status ? null : h("p", null,
      h("button", {type: "button", class: "button", id: "try-again", onclick: () => show()},
        "Try again")));
  });
}

/** Check the token against the API before keeping it: GET /actors needs a valid one. */
async function signIn(token) {
  const api = new Api(token);
  await api.get("/actors");
  saveToken(token);
  if (!currentPath() && window.location.hash !== route("actors")) {
    window.location.hash = route("actors"); // the hashchange shows the page
    return;
  }
  show();
}

function renderTopbar(identity, path) {
  topbar.hidden = false;
  const section = path.split("/")[0] || "actors";
  const sections = [["actors", "Actors"], ["hosts", "Hosts"]];
  if (identity.isAdmin) sections.push(["admin", "Admin"]);
  replace(document.getElementById("nav"), sections.map(([name, label]) =>
    h("a", {href: route(name), class: name === section ? "active" : null,
            "aria-current": name === section ? "page" : null}, label)));
  const roles = identity.roles.length ? identity.roles.join(", ") : "user";
  replace(document.getElementById("who"),
    h("span", {class: "who-name", id: "who-name"}, identity.user),
    h("span", {class: "who-meta"}, `${roles} · tenant ${identity.tenant}`),
    h("button", {type: "button", class: "button button-quiet", id: "sign-out",
                 onclick: () => signOut("Signed out.")}, "Sign out"));
}

function setBanner(error) {
  if (!error || error.status === 401) {
    banner.hidden = true;
    return;
  }
  const what = error.status ? `the API answered ${error.status}: ${error.message}`
    : `no answer from the API (${error.message})`;
  replace(banner, `Live updates paused: ${what}. Retrying…`);
  banner.hidden = false;
}

window.addEventListener("hashchange", () => show());
document.documentElement.dataset.app = "started"; // the modules loaded (tests wait for it)
show();
