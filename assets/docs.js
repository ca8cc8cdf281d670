// The /docs page: renders the OpenAPI description offline (served as a file so the page's
// Content-Security-Policy needs no inline script).
"use strict";
// The public copy: it holds no secret, and the page must work when the API needs a token.
const SPEC_URL = "/openapi.json";
const METHODS = ["get", "post", "put", "patch", "delete"];
let spec = null;

function esc(text) {
  return String(text).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
// A small Markdown subset: paragraphs, "- " lists, `code`, **bold**. Text is escaped first.
function inline(text) {
  return esc(text).replace(/`([^`]+)`/g, "<code>$1</code>").replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
}
function md(text) {
  if (!text) return "";
  return String(text).split(/\n\s*\n/).map(block => {
    const lines = block.split("\n");
    const intro = [], items = [];
    for (const line of lines) {
      if (/^\s*- /.test(line)) items.push(line.replace(/^\s*- /, ""));
      else if (items.length) items[items.length - 1] += " " + line.trim();
      else intro.push(line);
    }
    let html = intro.length ? "<p>" + inline(intro.join(" ")) + "</p>" : "";
    if (items.length) html += "<ul>" + items.map(i => "<li>" + inline(i) + "</li>").join("") + "</ul>";
    return html;
  }).join("");
}
function slug(text) { return String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, ""); }
function refName(ref) { return ref.split("/").pop(); }
function lookup(ref) {
  if (!ref.startsWith("#/")) return {};
  return ref.slice(2).split("/").reduce((node, part) => (node || {})[part.replace(/~1/g, "/").replace(/~0/g, "~")], spec) || {};
}
function deref(obj) { return obj && obj.$ref ? lookup(obj.$ref) : obj; }
function schemaLink(ref) { const n = refName(ref); return `<a class="schemaname" href="#schema-${slug(n)}">${esc(n)}</a>`; }

// The non-null part of a nullable schema ("anyOf: [X, null]" or "type: [t, null]"), and whether it is nullable.
function unwrapNull(schema) {
  const alts = schema.anyOf || schema.oneOf;
  if (alts && alts.length === 2 && alts.some(a => a.type === "null")) {
    return {inner: Object.assign({}, alts.find(a => a.type !== "null"), schema.description ? {description: schema.description} : {}), nullable: true};
  }
  if (Array.isArray(schema.type) && schema.type.includes("null")) {
    const rest = schema.type.filter(t => t !== "null");
    return {inner: Object.assign({}, schema, {type: rest.length === 1 ? rest[0] : rest}), nullable: true};
  }
  return {inner: schema, nullable: false};
}
function typeLabel(schema) {
  if (!schema) return "any";
  if (schema.$ref) return schemaLink(schema.$ref);
  const {inner, nullable} = unwrapNull(schema);
  if (nullable) return typeLabel(inner) + " | null";
  if (schema.const !== undefined) return "<code>" + esc(JSON.stringify(schema.const)) + "</code>";
  if (schema.oneOf || schema.anyOf) return (schema.oneOf || schema.anyOf).map(typeLabel).join(" | ");
  if (schema.allOf) return schema.allOf.map(typeLabel).join(" + ");
  let type = Array.isArray(schema.type) ? schema.type.join(" | ") : (schema.type || "any");
  if (type === "array") return "array of " + typeLabel(schema.items && Object.keys(schema.items).length ? schema.items : null);
  if (type === "object" && schema.additionalProperties && typeof schema.additionalProperties === "object" && !schema.properties) {
    return "map of string → " + typeLabel(schema.additionalProperties);
  }
  return esc(type) + (schema.format ? ` <span class="opt">(${esc(schema.format)})</span>` : "");
}
// Properties and required names of an object schema, following $ref and merging allOf parts.
function collect(schema, seen = new Set()) {
  const out = {props: {}, required: new Set(), desc: schema.description};
  if (schema.$ref) {
    if (seen.has(schema.$ref)) return out;
    seen.add(schema.$ref);
    const r = collect(lookup(schema.$ref), seen);
    r.desc = schema.description || r.desc;
    return r;
  }
  for (const part of schema.allOf || []) {
    const r = collect(part, seen);
    Object.assign(out.props, r.props);
    r.required.forEach(n => out.required.add(n));
  }
  Object.assign(out.props, schema.properties || {});
  (schema.required || []).forEach(n => out.required.add(n));
  return out;
}
function hasFields(schema) { const s = deref(schema) || {}; return !!(s.properties || s.allOf); }
function variantsOf(schema) { const s = deref(schema) || {}; return s.oneOf && !unwrapNull(s).nullable ? s.oneOf : null; }
function constraints(schema, shown) {
  const s = unwrapNull(deref(schema) || {}).inner, bits = [], text = shown === undefined ? s.description || "" : shown;
  if (s.enum && !s.enum.every(v => text.includes("`" + v + "`"))) bits.push("One of: " + s.enum.map(v => "<code>" + esc(v) + "</code>").join(", "));
  if (s.default !== undefined) bits.push("Default: <code>" + esc(JSON.stringify(s.default)) + "</code>");
  if (s.pattern) bits.push("Pattern: <code>" + esc(s.pattern) + "</code>");
  if (s.minimum !== undefined && s.minimum !== 0) bits.push("Minimum: " + esc(s.minimum));
  if (s.minLength !== undefined) bits.push("Min length: " + esc(s.minLength));
  if (s.maxLength !== undefined) bits.push("Max length: " + esc(s.maxLength));
  return bits.length ? `<div class="enum">${bits.join(" · ")}</div>` : "";
}
// What to expand under a field: the object (or array items, or map values) it holds.
function nestedTarget(schema) {
  let s = unwrapNull(schema).inner;
  const resolved = deref(s) || {};
  if (resolved.type === "array" && resolved.items) s = unwrapNull(resolved.items).inner;
  else if (resolved.additionalProperties && typeof resolved.additionalProperties === "object" && !resolved.properties) s = resolved.additionalProperties;
  return hasFields(s) || variantsOf(s) ? s : null;
}
function fieldsTable(schema, depth) {
  const {props, required} = collect(schema);
  const names = Object.keys(props);
  if (!names.length) return "";
  const rows = names.map(name => {
    const p = props[name], target = nestedTarget(p);
    const inner = unwrapNull(p).inner, target2 = deref(inner) || {};
    // A field that is just a named enum or scalar borrows that schema's description.
    const borrowed = inner.$ref && target2.type !== "object" && !target2.allOf && !target2.oneOf ? (target2.description || "").split(/\n\s*\n/)[0] : inner.description;
    const pdesc = p.description || borrowed || "";
    let nested = "";
    if (target && depth < 2) {
      const label = target.$ref ? "fields of " + esc(refName(target.$ref)) : "fields";
      nested = `<details${target.$ref ? "" : " open"}><summary>${label}</summary>${schemaBody(target, depth + 1)}</details>`;
    }
    return `<tr><td class="name"><code>${esc(name)}</code></td><td class="type">${typeLabel(p)}</td>` +
      `<td>${required.has(name) ? '<span class="req">required</span>' : '<span class="opt">optional</span>'}</td>` +
      `<td>${md(pdesc)}${constraints(p, pdesc)}${nested}</td></tr>`;
  }).join("");
  return `<table class="fields"><thead><tr><th>Field</th><th>Type</th><th></th><th>Description</th></tr></thead><tbody>${rows}</tbody></table>`;
}
function schemaBody(schema, depth) {
  const variants = variantsOf(schema);
  if (variants) {
    return `<div class="variants">` + variants.map(v => {
      const r = deref(v) || {};
      return `<div class="variant">${v.$ref ? schemaLink(v.$ref) : ""}${md(r.description)}${fieldsTable(v, depth + 1)}</div>`;
    }).join("") + `</div>`;
  }
  return fieldsTable(schema, depth);
}
// A top-level schema in a request or response: its name, description and fields.
// Within one operation, a named schema is shown in full once; later mentions just link to it.
function schemaBlock(schema, seen) {
  if (!schema) return "";
  const resolved = deref(schema) || {};
  if (schema.$ref && seen) {
    if (seen.has(schema.$ref)) return `<div>${schemaLink(schema.$ref)} <span class="opt">(fields shown above)</span></div>`;
    seen.add(schema.$ref);
  }
  let head = `<div>${schema.$ref ? schemaLink(schema.$ref) : "<strong>" + typeLabel(schema) + "</strong>"}`;
  if (resolved.type === "array" && resolved.items) head += " — array of " + typeLabel(resolved.items);
  head += "</div>";
  const target = resolved.type === "array" ? resolved.items : schema;
  return head + md(resolved.description) + constraints(schema) + (target ? schemaBody(target, 0) : "");
}
function example(media) {
  if (!media || media.example === undefined) return "";
  const text = typeof media.example === "string" ? media.example : JSON.stringify(media.example, null, 2);
  return `<details><summary>example</summary><pre><code>${esc(text)}</code></pre></details>`;
}
function contentBlock(content, seen) {
  return Object.entries(content || {}).map(([type, media]) =>
    `<div class="media">${esc(type)}</div>${schemaBlock(media.schema, seen)}${example(media)}`).join("");
}
function paramsTable(params) {
  const rows = params.map(deref).map(p => `<tr><td class="name"><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td>` +
    `<td class="type">${typeLabel(p.schema)}</td><td>${p.required ? '<span class="req">required</span>' : '<span class="opt">optional</span>'}</td>` +
    `<td>${md(p.description)}${constraints(p.schema, p.description || "")}${p.example !== undefined ? '<div class="enum">Example: <code>' + esc(p.example) + "</code></div>" : ""}</td></tr>`).join("");
  return `<table class="params"><thead><tr><th>Name</th><th>In</th><th>Type</th><th></th><th>Description</th></tr></thead><tbody>${rows}</tbody></table>`;
}
function opId(method, path) { return "op-" + method + "-" + slug(path); }
function renderOperation(method, path, op, shared) {
  let html = `<section class="op" id="${opId(method, path)}"><div class="ophead"><span class="badge m-${method}">${method}</span>` +
    `<span class="path mono">${esc(path)}</span><span class="opsum">${esc(op.summary || "")}</span></div>${md(op.description)}`;
  const params = (shared || []).concat(op.parameters || []), seen = new Set();
  if (params.length) html += "<h3>Parameters</h3>" + paramsTable(params);
  if (op.requestBody) {
    const body = deref(op.requestBody);
    html += `<h3>Request body <span class="opt">(${body.required ? "required" : "optional"})</span></h3>${md(body.description)}${contentBlock(body.content, seen)}`;
  }
  if (op["x-websocket-message"]) {
    html += "<h3>WebSocket messages</h3>" + schemaBlock(op["x-websocket-message"]);
  }
  html += "<h3>Responses</h3>";
  for (const [code, ref] of Object.entries(op.responses || {})) {
    const resp = deref(ref);
    html += `<div class="resp"><div class="code c${esc(code[0])}">${esc(code)}</div><div>${md(resp.description)}${contentBlock(resp.content, seen)}</div></div>`;
  }
  return html + "</section>";
}
function render() {
  const info = spec.info || {};
  document.title = (info.title || "API") + " reference";
  const groups = new Map((spec.tags || []).map(t => [t.name, {tag: t, ops: []}]));
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const tag = (item[method].tags || ["Other"])[0];
      if (!groups.has(tag)) groups.set(tag, {tag: {name: tag}, ops: []});
      groups.get(tag).ops.push({method, path, op: item[method], shared: item.parameters});
    }
  }
  let toc = `<div class="brand">${esc(info.title || "API")}</div><a href="#intro">Overview</a>`;
  let main = `<div id="intro"><h1>${esc(info.title || "API")}<span class="version">v${esc(info.version || "?")}</span></h1>` +
    (info.summary ? `<p class="summary">${esc(info.summary)}</p>` : "") + `<div class="intro">${md(info.description)}</div>` +
    `<p class="opt">Machine-readable description: <a href="${SPEC_URL}">${SPEC_URL}</a> (OpenAPI ${esc(spec.openapi || "")})</p></div>`;
  for (const {tag, ops} of groups.values()) {
    if (!ops.length) continue;
    toc += `<h4>${esc(tag.name)}</h4>` + ops.map(o => `<a href="#${opId(o.method, o.path)}" title="${esc(o.op.summary || "")}">` +
      `<span class="badge m-${o.method}">${o.method}</span><span class="mono">${esc(o.path.replace(/^\/api\/v1/, ""))}</span></a>`).join("");
    main += `<h2 class="tag" id="tag-${slug(tag.name)}">${esc(tag.name)}</h2>` + (tag.description ? `<p class="tagdesc">${inline(tag.description)}</p>` : "") +
      ops.map(o => renderOperation(o.method, o.path, o.op, o.shared)).join("");
  }
  const schemas = Object.entries((spec.components || {}).schemas || {});
  if (schemas.length) {
    toc += "<h4>Schemas</h4>" + schemas.map(([n]) => `<a href="#schema-${slug(n)}"><span class="mono">${esc(n)}</span></a>`).join("");
    main += `<h2 class="tag" id="schemas">Schemas</h2>` + schemas.map(([n, s]) => {
      const kind = variantsOf(s) ? "one of" : (s.type === "object" || s.allOf) ? "object" : typeLabel(s);
      return `<section class="schema" id="schema-${slug(n)}"><h4 class="mono">${esc(n)} <span class="opt">${kind}</span></h4>` +
        md(s.description) + constraints(s) + schemaBody(s, 0) + "</section>";
    }).join("");
  }
  document.getElementById("toc").innerHTML = toc;
  document.getElementById("content").innerHTML = main;
  if (location.hash) { const target = document.getElementById(decodeURIComponent(location.hash.slice(1))); if (target) target.scrollIntoView(); }
}
function fail(message) {
  document.getElementById("toc").innerHTML = '<div class="brand">Chiffon API</div>';
  document.getElementById("content").innerHTML = `<div class="notice"><strong>The API description could not be loaded.</strong>` +
    `<p>Fetching <code>${SPEC_URL}</code> failed: ${esc(message)}</p><p>Check that the Chiffon server is running and reachable from this browser, then reload the page.</p></div>`;
}
fetch(SPEC_URL, {headers: {"Accept": "application/json"}})
  .then(r => { if (!r.ok) throw new Error("the server answered HTTP " + r.status); return r.json(); })
  .then(doc => { spec = doc; try { render(); } catch (e) { fail("the document could not be rendered (" + e.message + ")"); } })
  .catch(e => fail(e.message || String(e)));
