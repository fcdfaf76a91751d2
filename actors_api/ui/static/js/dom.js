// Building the page. Every piece of data reaches the document as a text node or an
// attribute value, never as markup: nothing in this dashboard parses a string as HTML, so an
// actor described as `<img src=x onerror=...>` is shown as those characters
// (tests/unit/test_ui.py keeps it so).

/**
 * h("a", {href: "#/x", class: "link", onclick: fn}, "text", child, [more, children])
 *
 * Strings and numbers become text nodes; null, undefined and false are left out;
 * arrays are flattened. Props named on* are event listeners; `class` is the class
 * attribute; a value of false or null leaves the attribute out.
 */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (name === "value" || name === "checked" || name === "disabled") {
      node[name] = value;
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

/** Append children (strings as text) to node. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace all of node's children. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** An in-page link to a dashboard route, e.g. link(["actors", id], id). */
export function link(parts, ...children) {
  return h("a", {href: route(...parts)}, ...children);
}

/** The hash of a route, each part URL-encoded: route("actors", id) -> "#/actors/<id>". */
export function route(...parts) {
  return "#/" + parts.map(encodeURIComponent).join("/");
}

/** A key/value list: dl([["Owner", "alice"], ["Image", code("x")]]); null values are left out. */
export function dl(rows, className = "facts") {
  return h("dl", {class: className},
    rows.filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([term, value]) => [h("dt", null, term), h("dd", null, value)]));
}

export function code(text) {
  return h("code", null, text);
}

/** A table with a header row; rows are arrays of cells (strings or nodes). */
export function table(headings, rows, {className = "grid", empty = "Nothing here yet."} = {}) {
  return h("table", {class: className},
    h("thead", null, h("tr", null, headings.map((heading) => h("th", {scope: "col"}, heading)))),
    h("tbody", null, rows.length
      ? rows.map((cells) => h("tr", null, cells.map((cell) => h("td", null, cell))))
      : h("tr", {class: "empty"}, h("td", {colspan: headings.length}, empty))));
}

export function card(title, ...children) {
  return h("section", {class: "card"}, title ? h("h2", null, title) : null, ...children);
}
