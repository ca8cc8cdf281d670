// Small helpers shared by every screen: building elements (text is always set as text, never
// parsed as HTML, so nothing from the server can inject markup) and plain-words formatting.

/**
 * h("button", {class: "primary", onclick: f}, "Approve") → <button class="primary">Approve</button>.
 * Attributes starting with "on" become listeners; `dataset` sets data-*; null/false are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "style" && typeof value === "object") {
      // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
      Object.assign(el.style, value);
    } else if (key === "class") {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** "2 min 5 s", "40 s", "1.2 s". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 10) return `${Math.round(seconds * 10) / 10} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds % 60);
  if (minutes < 60) return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** "about 40 s" for estimates. */
export function estimate(seconds) {
  return seconds ? `about ${duration(seconds)}` : "a few seconds";
}

/** "3 min ago", "just now"; a <time> element with the exact time as its title. */
export function ago(iso) {
  if (!iso) return "never";
  const at = new Date(iso);
  const seconds = Math.max(0, (Date.now() - at.getTime()) / 1000);
  let text;
  if (seconds < 5) text = "just now";
  else if (seconds < 60) text = `${Math.round(seconds)} s ago`;
  else if (seconds < 3600) text = `${Math.round(seconds / 60)} min ago`;
  else if (seconds < 86400) text = `${Math.round(seconds / 3600)} h ago`;
  else text = at.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
  return h("time", { datetime: iso, title: at.toLocaleString() }, text);
}

/** Megabytes in words: "7.5 GB", "512 MB". */
export function mb(value) {
  if (value === null || value === undefined) return "?";
  return value >= 1024 ? `${Math.round((value / 1024) * 10) / 10} GB` : `${Math.round(value)} MB`;
}

/** What a request's status means, in plain words, and the badge tone. */
export const REQUEST_STATUS = {
  pending: ["Making a plan", "info"],
  awaiting_approval: ["Waiting for your approval", "warn"],
  needs_answer: ["Needs your answer", "warn"],
  approved: ["Approved, starting", "info"],
  running: ["Running", "info"],
  paused: ["Waiting for a free machine", "warn"],
  succeeded: ["Completed", "ok"],
  succeeded_with_warnings: ["Done with warnings", "warn"],
  failed: ["Failed", "err"],
  aborted: ["Aborted", "err"],
  rejected: ["Rejected", "muted"],
};

/** What a step's (task's) status means. */
export const STEP_STATUS = {
  pending: ["Not started", "muted"],
  queued: ["Queued", "muted"],
  dispatched: ["Sent to an agent", "info"],
  running: ["Running", "info"],
  succeeded: ["Done", "ok"],
  succeeded_with_warnings: ["Done with warnings", "warn"],
  failed: ["Error", "err"],
  aborted: ["Stopped", "err"],
  cancelled: ["Not run", "muted"],
};

/**
 * A request's status as shown: "succeeded_with_warnings" when it ran but a playbook warned
 * (the API's `outcome`), else its status.
 */
export function shownRequestStatus(view) {
  return view.outcome === "succeeded_with_warnings" && view.status === "succeeded" ? view.outcome : view.status;
}

/** A task's status as shown: a succeeded run with warnings is "succeeded_with_warnings". */
export function shownTaskStatus(task) {
  return task.status === "succeeded" && task.warnings && task.warnings.length ? "succeeded_with_warnings" : task.status;
}

/** "1 thing", "3 things". */
export function plural(count, word, many = `${word}s`) {
  return `${count} ${count === 1 ? word : many}`;
}

export function badge(table, status) {
  const [text, tone] = table[status] || [status, "muted"];
  return h("span", { class: `badge ${tone}`, dataset: { status } }, text);
}

/** Steps in the order they run (dependencies first), as the server orders execution. */
export function executionOrder(steps) {
  const done = new Set();
  const order = [];
  while (order.length < steps.length) {
    const before = order.length;
    for (const step of steps) {
      if (!done.has(step.id) && (step.depends_on || []).every((d) => done.has(d))) {
        done.add(step.id);
        order.push(step);
      }
    }
    if (order.length === before) break;
  }
  for (const step of steps) if (!done.has(step.id)) order.push(step);
  return order;
}

/** A status line for errors and notices that screen readers announce. */
export function notice(text, tone = "err") {
  return h("p", { class: `notice ${tone}`, role: tone === "err" ? "alert" : "status" }, text);
}

/** A unified diff, coloured by line. */
export function diffView(text) {
  const pre = h("pre", { class: "diff" });
  for (const line of String(text).split("\n")) {
    let cls = "";
    if (line.startsWith("+") && !line.startsWith("+++")) cls = "add";
    else if (line.startsWith("-") && !line.startsWith("---")) cls = "del";
    else if (line.startsWith("@@")) cls = "hunk";
    pre.append(h("span", { class: cls }, line), "\n");
  }
  return pre;
}
