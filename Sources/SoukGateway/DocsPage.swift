// The /docs page: HTML, script and style, served by the gateway itself (no CDN). Kept as
// Swift strings rather than bundle resources: a resource bundle needs Foundation's Bundle,
// which souk-gateway does not load.

enum DocsPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Souk REST API</title>
<link rel="stylesheet" href="/docs/docs.css">
</head>
<body>
<header>
  <h1 id="title">Souk REST API</h1>
  <p id="summary">Loading <a href="/openapi.json">/openapi.json</a>…</p>
</header>
<nav id="toc"></nav>
<main id="routes"></main>
<section id="schemas"></section>
<noscript>This page renders <a href="/openapi.json">the OpenAPI document</a> with JavaScript.</noscript>
<script src="/docs/docs.js"></script>
</body>
</html>
"""#

    static let script = #"""
// Renders /openapi.json (served by the same gateway) as a list of routes with their
// parameters, request bodies, answers and schemas. No other asset is needed.
"use strict";

const verbs = ["get", "post", "put", "patch", "delete"];

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function schemaName(reference) {
  return reference.replace("#/components/schemas/", "");
}

function typeOf(schema) {
  if (!schema) return "any";
  if (schema.$ref) {
    const name = schemaName(schema.$ref);
    return element("a", { href: "#schema-" + name }, name);
  }
  if (schema.type === "array") {
    const inner = typeOf(schema.items);
    return element("span", {}, "array of ", inner);
  }
  let text = schema.type || "any";
  if (schema.format) text += " (" + schema.format + ")";
  if (schema.enum) text += ": " + schema.enum.join(" | ");
  return text;
}

function schemaTable(schema) {
  if (!schema || !schema.properties) return element("p", { class: "type" }, typeOf(schema));
  const rows = Object.entries(schema.properties).map(([name, property]) =>
    element("tr", {}, element("td", {}, element("code", {}, name)), element("td", { class: "type" }, typeOf(property)),
            element("td", { class: "description" }, property.description || "")));
  return element("table", {}, element("tr", {}, element("th", {}, "field"), element("th", {}, "type"),
                                      element("th", {}, "description")), ...rows);
}

function renderOperation(path, verb, operation) {
  const id = (operation.operationId || verb + path).replace(/[^A-Za-z0-9_-]/g, "_");
  const box = element("section", { class: "route", id: "route-" + id },
    element("h3", {}, element("span", { class: "verb " + verb }, verb.toUpperCase()), path),
    operation.summary ? element("p", {}, element("strong", {}, operation.summary)) : null,
    operation.description ? element("p", { class: "description" }, operation.description) : null,
    operation.tags ? element("p", { class: "tag" }, operation.tags.join(", ")) : null);
  const parameters = operation.parameters || [];
  if (parameters.length) {
    box.append(element("h4", {}, "Parameters"), element("table", {},
      element("tr", {}, element("th", {}, "name"), element("th", {}, "in"), element("th", {}, "type"), element("th", {}, "description")),
      ...parameters.map((parameter) => element("tr", {},
        element("td", {}, element("code", {}, parameter.name)), element("td", {}, parameter.in),
        element("td", { class: "type" }, typeOf(parameter.schema)), element("td", { class: "description" }, parameter.description || "")))));
  }
  const body = operation.requestBody && operation.requestBody.content && operation.requestBody.content["application/json"];
  if (body) box.append(element("h4", {}, "Request body"), element("p", { class: "type" }, typeOf(body.schema)));
  const answers = Object.entries(operation.responses || {});
  if (answers.length) {
    box.append(element("h4", {}, "Answers"), element("table", {},
      ...answers.map(([status, answer]) => {
        const content = answer.content && answer.content["application/json"];
        return element("tr", {}, element("td", {}, element("code", {}, status)),
                       element("td", { class: "type" }, content ? typeOf(content.schema) : ""),
                       element("td", {}, answer.description || ""));
      })));
  }
  return box;
}

function render(document_) {
  const info = document_.info || {};
  document.getElementById("title").textContent = info.title || "REST API";
  document.getElementById("summary").textContent = (info.description || "") + (info.version ? " (version " + info.version + ")" : "");
  const routes = document.getElementById("routes");
  const toc = document.getElementById("toc");
  routes.append(element("h2", {}, "Routes"));
  let count = 0;
  for (const [path, item] of Object.entries(document_.paths || {})) {
    for (const verb of verbs) {
      if (!item[verb]) continue;
      const box = renderOperation(path, verb, item[verb]);
      routes.append(box);
      toc.append(element("a", { href: "#" + box.id }, verb.toUpperCase() + " " + path));
      count += 1;
    }
  }
  routes.setAttribute("data-route-count", String(count));
  const schemas = document.getElementById("schemas");
  schemas.append(element("h2", {}, "Schemas"));
  const components = (document_.components && document_.components.schemas) || {};
  for (const name of Object.keys(components).sort()) {
    const schema = components[name];
    schemas.append(element("div", { id: "schema-" + name }, element("h3", {}, name),
      schema.description ? element("p", { class: "description" }, schema.description) : null, schemaTable(schema)));
  }
  document.body.setAttribute("data-rendered", "true");
}

fetch("/openapi.json")
  .then((answer) => answer.json())
  .then(render)
  .catch((error) => {
    document.getElementById("summary").textContent = "Could not load /openapi.json: " + error;
  });
"""#

    static let style = #"""
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem 1.5rem; color: #1d1d1f; }
h1 { margin-bottom: .25rem; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .25rem; margin-top: 2rem; }
.route { border: 1px solid #ddd; border-radius: 6px; margin: 1rem 0; padding: .5rem 1rem; }
.route h3 { margin: .25rem 0; font-family: ui-monospace, monospace; font-size: 1rem; }
.verb { display: inline-block; min-width: 4.5rem; text-align: center; border-radius: 4px; color: #fff; padding: 0 .4rem; margin-right: .5rem; }
.verb.get { background: #1a7f37; } .verb.post { background: #0969da; } .verb.patch { background: #9a6700; }
.verb.put { background: #8250df; } .verb.delete { background: #cf222e; }
.description { white-space: pre-wrap; color: #444; }
table { border-collapse: collapse; margin: .5rem 0; }
td, th { border: 1px solid #e5e5e5; padding: .2rem .5rem; text-align: left; vertical-align: top; font-size: .9rem; }
code, .type { font-family: ui-monospace, monospace; font-size: .85rem; }
.tag { color: #666; font-size: .8rem; }
nav a { margin-right: 1rem; }
"""#
}
