// Sign-in with a bearer token, checked against the API before it is kept.

import {code, h, replace} from "../dom.js";
import {notice} from "../widgets.js";

export function render({main, message, signIn}) {
  const field = h("textarea", {id: "token", name: "token", rows: 5, required: true,
                               spellcheck: "false", autocomplete: "off",
                               placeholder: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…"});
  const status = h("div", {class: "form-status"},
    message ? notice("info", message) : null);
  const button = h("button", {type: "submit", class: "button button-primary", id: "sign-in"},
    "Sign in");

  async function submit(event) {
    event.preventDefault();
    const token = field.value.trim().replace(/^Bearer\s+/i, "");
    if (!token) return;
    button.disabled = true;
    replace(status, notice("info", "Checking the token…"));
    try {
      await signIn(token);
    } catch (error) {
      replace(status, notice("error", error.status === 401
        ? `The API refused this token: ${error.message}` : `Could not sign in: ${error.message}`));
      button.disabled = false;
    }
  }

  replace(main, h("div", {class: "signin"},
    h("form", {class: "card signin-card", onsubmit: submit},
      h("div", {class: "signin-brand"}, h("img", {src: "img/icon.svg", alt: "", width: 36, height: 36}),
        h("div", null, h("h1", null, "actors"), h("p", {class: "subtitle"}, "Dashboard"))),
      h("label", {for: "token"}, "API token"),
      field,
      h("p", {class: "hint"},
        "Paste a bearer token (a JWT). It is kept in this browser tab only and sent to no one " +
        "but this server's API. Operators mint one with ", code("actors token --user NAME"), "."),
      button,
      status)));
  field.focus();
}
