// The signed-in token. It lives in sessionStorage only: it goes when the tab closes, is never
// written to localStorage or a cookie, and is sent nowhere but this server's API.

const KEY = "actors.token";

export function savedToken() {
  return sessionStorage.getItem(KEY);
}

export function saveToken(token) {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

/**
 * Who the token says it is, for display and for choosing which links to show: `{user, roles,
 * tenant, isAdmin, expires}`. Read from the JWT's payload without checking its signature, so
 * it decides nothing: every request is still judged by the server.
 */
export function describeToken(token) {
  let claims = {};
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    claims = JSON.parse(new TextDecoder().decode(bytes));
  } catch (_) {
    // not a JWT we can read: the server will say what is wrong with it
  }
  let roles = claims.roles || [];
  if (!Array.isArray(roles)) roles = [String(roles)];
  return {
    user: typeof claims.sub === "string" ? claims.sub : "unknown user",
    roles,
    tenant: claims.tenant || "default",
    isAdmin: roles.includes("admin"),
    expires: typeof claims.exp === "number" ? new Date(claims.exp * 1000) : null,
  };
}
