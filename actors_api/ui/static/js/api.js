// The dashboard's only way to the platform: the public HTTP API, called with the user's own
// bearer token. The server decides what that token may see; nothing here is privileged.

/** A refusal or failure answered by the API, with the envelope's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Where the API is: the path in front of /ui/ (empty when the API is at the root). */
export function apiBase(location = window.location) {
  const path = location.pathname;
  const at = path.lastIndexOf("/ui");
  return location.origin + (at >= 0 ? path.slice(0, at) : "");
}

// The API answers in camelCase when ACTORS_CASE=camel. The pages read snake_case, so results
// are renamed here as actors_api/casing.py does it, leaving user data (environment variables,
// actor state, Docker's State) as it is.
const OPAQUE_KEYS = new Set(["default_environment", "state", "final_state", "environment"]);

function toSnake(name) {
  return name.replace(/(?<=[a-z0-9])([A-Z])/g, (_, letter) => "_" + letter.toLowerCase());
}

export function snakeKeys(value) {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== "object") return value;
  const renamed = {};
  for (const [key, item] of Object.entries(value)) {
    const snake = toSnake(key);
    renamed[snake] = OPAQUE_KEYS.has(snake) ? item : snakeKeys(item);
  }
  return renamed;
}

export class Api {
  /**
   * @param {string} token  the bearer token
   * @param {object} options  base: the API's URL; onUnauthorized(error): called on any 401
   */
  constructor(token, {base = apiBase(), onUnauthorized = null} = {}) {
    this.token = token;
    this.base = base;
    this.onUnauthorized = onUnauthorized;
  }

  /** The envelope's `result`, keys in snake_case; an ApiError for any answer but 2xx. */
  async request(method, path, {params, form, signal} = {}) {
    const response = await this.fetch(method, path, {params, form, signal});
    const envelope = await response.json();
    return snakeKeys(envelope.result);
  }

  /** The raw Response of a 2xx answer (downloads); an ApiError otherwise. */
  async fetch(method, path, {params, form, signal, accept = "application/json"} = {}) {
    const url = new URL(this.base + path);
    for (const [name, value] of Object.entries(params || {})) url.searchParams.set(name, value);
    const headers = {Authorization: `Bearer ${this.token}`, Accept: accept};
    const init = {method, headers, signal, cache: "no-store", credentials: "omit"};
    if (form) init.body = new URLSearchParams(form);
    const response = await fetchRetrying(url, init);
    if (response.ok) return response;
    const error = new ApiError(response.status, await errorMessage(response));
    if (response.status === 401 && this.onUnauthorized) this.onUnauthorized(error);
    throw error;
  }

  get(path, options) {
    return this.request("GET", path, options);
  }

  post(path, form, options = {}) {
    return this.request("POST", path, {...options, form});
  }

  delete(path, options) {
    return this.request("DELETE", path, options);
  }
}

// fetch() rejects only when no answer came at all: the server is down, the connection was
// reset, or the browser gave up on it because a network interface came or went (Chromium's
// ERR_NETWORK_CHANGED, which Docker causes on the same machine whenever a container starts or
// stops). A request that changes nothing, or changes the same thing again (GET, DELETE), is
// asked again; a POST is not, since it may have arrived.
const RETRIED_METHODS = new Set(["GET", "HEAD", "DELETE"]);
const ATTEMPTS = 4;

async function fetchRetrying(url, init) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fetch(url, init);
    } catch (error) {
      if (error.name === "AbortError" || !RETRIED_METHODS.has(init.method) || attempt >= ATTEMPTS) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      if (init.signal && init.signal.aborted) throw error;
    }
  }
}

async function errorMessage(response) {
  try {
    const envelope = await response.json();
    if (envelope && envelope.message) return envelope.message;
  } catch (_) {
    // not JSON: fall through to the status line
  }
  return `${response.status} ${response.statusText}`.trim();
}

/** Paths of the API, so that ids are always URL-encoded. */
export const paths = {
  actors: () => "/actors",
  actor: (id) => `/actors/${encodeURIComponent(id)}`,
  messages: (id) => `/actors/${encodeURIComponent(id)}/messages`,
  executions: (id) => `/actors/${encodeURIComponent(id)}/executions`,
  execution: (id, eid) => `/actors/${encodeURIComponent(id)}/executions/${encodeURIComponent(eid)}`,
  logs: (id, eid) => `${paths.execution(id, eid)}/logs`,
  outputs: (id, eid) => `${paths.execution(id, eid)}/outputs`,
  output: (id, eid, path) =>
    `${paths.outputs(id, eid)}/${path.split("/").map(encodeURIComponent).join("/")}`,
  search: (kind) => `/actors/search/${encodeURIComponent(kind)}`,
  utilization: () => "/actors/utilization",
  hosts: () => "/actors/admin/hosts",
  adminExecutions: () => "/actors/admin/executions",
  adminWorkers: () => "/actors/admin/workers",
};
