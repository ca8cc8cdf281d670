// Suggestions as a person reads them, shared by the Suggestions screen and a run's summary:
// the findings that matter first (ranked by the server: severity, then homelab impact), the
// rest folded per rule with a count, what ansible-lint did, and progress while it runs — the
// server answers at once with Chiffon's own findings and checks with ansible-lint in the
// background, so the page asks again until that is done.

import { api } from "./api.js";
import { h, diffView, notice, plural } from "./dom.js";
import { richText } from "./answer.js";

/** How often to ask again while ansible-lint runs in the background. */
const POLL_MS = 2000;
/** Findings shown at once in a list; the rest are a click away. */
const SHOWN = 30;

const SEVERITY = { high: "High", medium: "Medium", low: "Low" };

/**
 * Loads GET /suggestions and, while ansible-lint runs, again every two seconds. `onChange` gets
 * {report} | {error} | {loading, since} each time something changes. Returns a stop function.
 */
export function watchSuggestions(onChange) {
  let stopped = false;
  let timer = null;
  const since = Date.now();
  const ask = async () => {
    try {
      const report = await api("/suggestions");
      if (stopped) return;
      onChange({ report, asked: Date.now() });
      if (report.lint && report.lint.status === "running") timer = setTimeout(ask, POLL_MS);
    } catch (error) {
      if (!stopped) onChange({ error: error.message });
    }
  };
  onChange({ loading: true, since });
  ask();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Every finding of a report: the items, and those folded in Chiffon's groups. */
export function everyFinding(report) {
  return [...report.items, ...report.groups.flatMap((g) => g.items || [])];
}

/** "Looking for improvements…" with what is happening, updated as it goes. */
export function progressView(state) {
  if (state.loading) {
    return h(
      "p",
      { class: "muted suggest-progress", role: "status", dataset: { phase: "reading" } },
      "Looking for improvements: reading the repository with Chiffon's rules…",
    );
  }
  return null;
}

/** What ansible-lint did, as a note: running (with a spinner-like dot), failed, timed out… */
export function lintNote(lint) {
  if (!lint) return null;
  const tone = { done: "ok", running: "info", failed: "warn", timed_out: "warn", not_run: "muted" }[lint.status] || "muted";
  const lead = {
    done: "ansible-lint checked it too.",
    running: "Looking for more with ansible-lint…",
    failed: "ansible-lint could not check this repository.",
    timed_out: "ansible-lint took too long.",
    not_run: "Chiffon's own rules only.",
  }[lint.status];
  return h(
    "p",
    { class: `lint-note ${tone}`, role: "status", dataset: { lint: lint.status } },
    lead ? h("strong", {}, lead, " ") : null,
    lint.message,
  );
}

/**
 * One finding: what and why, where, the change when there is one, and "Accept and apply".
 * `state` is this finding's apply state: undefined, "busy", {commit, undo} or {error}. After an
 * error the button stays (to try again) under the error; once applied, "Undo this change".
 */
export function findingView(item, state, onApply) {
  const button = () =>
    h(
      "button",
      { type: "button", class: "apply", dataset: { suggestion: item.id }, disabled: state === "busy", onclick: () => onApply(item) },
      state === "busy" ? "Applying…" : state && state.error ? "Try again" : "Accept and apply",
    );
  let action;
  if (state && state.commit) {
    action = [
      h("p", { class: "notice ok", role: "status" }, `Applied and committed to the playbook repository as ${state.commit.slice(0, 12)}.`),
      undoView(item, state),
    ];
  } else if (item.diff) {
    action = [state && state.error ? notice(`Not applied: ${state.error}`) : null, button()];
  } else {
    action = h("p", { class: "muted small" }, "This one needs a person to fix it by hand.");
  }
  return h(
    "li",
    { class: `suggestion severity-${item.severity}`, dataset: { rule: item.rule, id: item.id } },
    h("p", {}, h("span", { class: `severity ${item.severity}` }, SEVERITY[item.severity] || item.severity), " ", h("strong", {}, richText(item.message))),
    h("p", { class: "muted small" }, `${item.file}, line ${item.line} (${item.rule}${item.origin === "ansible_lint" ? "" : ", Chiffon"})`),
    item.diff ? h("details", { dataset: { key: `diff:${item.id}` } }, h("summary", {}, "Show the change"), diffView(item.diff)) : null,
    action,
  );
}

/** A list of findings, the first SHOWN at once. */
export function findingList(items, applied, onApply) {
  const first = items.slice(0, SHOWN);
  const rest = items.slice(SHOWN);
  return [
    h("ul", { class: "suggestion-list" }, first.map((x) => findingView(x, applied.get(x.id), onApply))),
    rest.length
      ? h(
          "details",
          { class: "more-findings", dataset: { key: `more:${rest[0].id}` } },
          h("summary", {}, `${rest.length} more`),
          h("ul", { class: "suggestion-list" }, rest.map((x) => findingView(x, applied.get(x.id), onApply))),
        )
      : null,
  ];
}

/** One folded rule: its count and why it matters, a few places, and (Chiffon's) each finding. */
function groupView(group, applied, onApply) {
  const own = group.origin === "chiffon";
  return h(
    "details",
    { class: `suggestion-group severity-${group.severity}`, dataset: { rule: group.rule, count: String(group.count), key: `group:${group.rule}` } },
    h(
      "summary",
      {},
      h("span", { class: "count" }, `${group.count} ×`),
      " ",
      h("code", {}, group.rule),
      " — ",
      richText(group.message),
    ),
    own
      ? findingList(group.items || [], applied, onApply)
      : h("p", { class: "muted small" }, "For example: ", group.examples.join(", "), group.count > group.examples.length ? ", …" : ""),
  );
}

/** The folded findings: Chiffon's less urgent ones, then ansible-lint's style findings. */
export function groupsView(groups, applied, onApply) {
  const own = groups.filter((g) => g.origin === "chiffon");
  const style = groups.filter((g) => g.origin !== "chiffon");
  const total = (list) => list.reduce((sum, g) => sum + g.count, 0);
  return [
    own.length
      ? h(
          "section",
          { class: "groups", dataset: { kind: "chiffon" } },
          h("h4", {}, `Less urgent: ${plural(total(own), "finding")} folded by rule`),
          own.map((g) => groupView(g, applied, onApply)),
        )
      : null,
    style.length
      ? h(
          "section",
          { class: "groups", dataset: { kind: "style" } },
          h("h4", {}, `Style: ${plural(total(style), "finding")} of ansible-lint, folded by rule`),
          style.map((g) => groupView(g, applied, onApply)),
        )
      : null,
  ];
}

/** The whole report: what matters, then the folded rest, then the ansible-lint note. */
export function reportView(report, applied, onApply, { emptyText = "Nothing that matters was found." } = {}) {
  return [
    report.items.length ? findingList(report.items, applied, onApply) : h("p", { class: "muted" }, emptyText),
    groupsView(report.groups, applied, onApply),
    lintNote(report.lint),
  ];
}

/** Applies one finding, keeping its state in `applied`; `redraw` after each change. */
export async function applyFinding(item, applied, redraw, taskId) {
  applied.set(item.id, "busy");
  redraw();
  try {
    const result = await api(`/suggestions/${encodeURIComponent(item.id)}/apply`, { method: "POST", body: taskId ? { task_id: taskId } : {} });
    const state = { commit: result.commit };
    state.undo = () => undoApplied(item, state, applied, redraw);
    applied.set(item.id, state);
  } catch (error) {
    applied.set(item.id, { error: error.message });
  }
  redraw();
}

/** "Undo this change" under an applied finding, with its progress or why it cannot be undone. */
function undoView(item, state) {
  if (!state.undo) return null;
  return h(
    "div",
    { class: "undo-applied" },
    state.undoError ? notice(state.undoError) : null,
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        { type: "button", class: "undo", dataset: { undo: item.id }, disabled: Boolean(state.undoing), onclick: () => state.undo() },
        state.undoing ? "Planning the undo…" : "Undo this change",
      ),
    ),
    h("p", { class: "muted small" }, "Plans a new commit that reverts this one, for you to preview and approve. Nothing changes until you approve it."),
  );
}

/** The plain words for a refused undo of an applied suggestion (the server's reason after). */
function undoRefusal(error) {
  if (error.code === "file_changed") return `Cannot undo: later changes to the playbook repository touch the same lines. ${error.message}`;
  if (error.status === 404) return `Cannot undo: the playbook repository no longer has this commit. ${error.message}`;
  if (error.status === 409) return `Cannot undo: ${error.message}`;
  return `The undo was not planned: ${error.message}`;
}

/**
 * Plans the undo of an applied finding's commit (`POST /suggestions/applied/{commit}/revert`):
 * on success the new request opens, to preview and approve; a refusal is said under the button.
 */
async function undoApplied(item, state, applied, redraw) {
  state.undoing = true;
  state.undoError = null;
  redraw();
  try {
    const undo = await api(`/suggestions/applied/${encodeURIComponent(state.commit)}/revert`, { method: "POST" });
    location.hash = `#/r/${undo.id}`;
  } catch (error) {
    state.undoError = undoRefusal(error);
  } finally {
    state.undoing = false;
    if (applied.get(item.id) === state) redraw();
  }
}

/**
 * Rebuilds `container` with `rebuild()` keeping open what the person opened (details with a
 * `data-key`): the report is redrawn every poll while ansible-lint runs.
 */
export function keepOpen(container, rebuild) {
  const open = new Set([...container.querySelectorAll("details[open][data-key]")].map((d) => d.dataset.key));
  rebuild();
  for (const details of container.querySelectorAll("details[data-key]")) {
    if (open.has(details.dataset.key)) details.open = true;
  }
}
