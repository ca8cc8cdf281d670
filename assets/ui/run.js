// A request's run: each step with its status and Ansible's events as they arrive (the DOM holds
// at most a page of lines per step, older ones a click away, so long output stays fast), the
// Abort button, and when it is over the summary with suggestions and links to the audit entries.

import { api, ApiError } from "./api.js";
import { h, fill, badge, STEP_STATUS, duration, executionOrder, notice, diffView, shownTaskStatus, plural } from "./dom.js";
import { watchSuggestions, progressView, findingList, groupsView, lintNote, applyFinding, everyFinding, keepOpen } from "./suggest.js";

/** Lines of a step's log kept in the page at once; more are shown a page at a time on request. */
const PAGE = 200;
/** Events kept in memory per step; the full list stays on the server (History). */
const KEEP = 20000;
const ACTIVE = new Set(["approved", "running", "paused"]);
const FINISHED = new Set(["succeeded", "failed", "aborted"]);

export class Run {
  constructor(requestId) {
    this.requestId = requestId;
    this.view = null;
    this.logs = new Map(); // task id → Log
    this.loading = new Set();
    this.stepStatus = new Map(); // step id → live status
    this.confirming = false;
    this.aborting = false;
    this.abortMessage = null;
    this.suggestions = null; // null: not asked; {loading} | {report} | {error} (suggest.js)
    this.stopSuggestions = null;
    this.applied = new Map(); // suggestion id → {commit} | {error} | "busy"
    this.root = h("section", { class: "run", "aria-labelledby": "run-title", hidden: true });
    this.head = h("div", { class: "run-head" });
    this.stepsEl = h("ol", { class: "run-steps" });
    this.summaryEl = h("div", { class: "summary-slot" });
    this.root.append(this.head, this.stepsEl, this.summaryEl);
    this.stepEls = new Map();
    this.keys = {};
  }

  close() {
    for (const log of this.logs.values()) log.close();
    if (this.stopSuggestions) this.stopSuggestions();
  }

  /** The request as the API shows it (after approval, on each change). */
  async update(view) {
    this.view = view;
    const started = view.tasks.length > 0 || ACTIVE.has(view.status) || FINISHED.has(view.status);
    this.root.hidden = !started;
    if (!started) return;
    for (const task of this.currentTasks()) this.stepStatus.set(task.step_id, shownTaskStatus(task));
    this.render();
    await Promise.all(this.currentTasks().map((task) => this.load(task.id)));
  }

  /** The latest task of each step of the current plan version. */
  currentTasks() {
    const byStep = new Map();
    for (const task of this.view.tasks) {
      if (task.plan_version === this.view.plan.version) byStep.set(task.step_id, task);
    }
    return [...byStep.values()];
  }

  onTask(event) {
    this.stepStatus.set(event.step_id, liveTaskStatus(event));
    if (!this.view) return;
    this.root.hidden = false;
    this.log(event.task_id, event.step_id);
    this.render();
  }

  onExecution(event) {
    this.log(event.task_id, event.step_id).add(event.event);
  }

  log(taskId, stepId) {
    let log = this.logs.get(taskId);
    if (!log) {
      log = new Log(taskId);
      this.logs.set(taskId, log);
    }
    if (stepId) log.stepId = stepId;
    return log;
  }

  /** Reads a task's stored events once, merging the live ones that arrived meanwhile. */
  async load(taskId) {
    const log = this.log(taskId);
    if (log.loaded || this.loading.has(taskId)) return;
    this.loading.add(taskId);
    try {
      const task = await api(`/tasks/${taskId}`);
      log.stepId = task.step_id;
      log.merge(task.events.map((e) => e.event));
      this.render();
    } catch {
      // Live events still show; the History screen has the full record.
    } finally {
      this.loading.delete(taskId);
    }
  }

  render() {
    const view = this.view;
    if (!view) return;
    const active = ACTIVE.has(view.status);
    const headKey = JSON.stringify([view.status, this.confirming, this.aborting, this.abortMessage]);
    if (this.keys.head !== headKey) {
      this.keys.head = headKey;
      const hadFocus = this.head.contains(document.activeElement);
      fill(this.head, h("h2", { id: "run-title" }, FINISHED.has(view.status) ? "What happened" : "Running now"), this.abortControls(active));
      if (hadFocus) this.head.querySelector("button")?.focus();
    }
    const tasksByStep = new Map(this.currentTasks().map((t) => [t.step_id, t]));
    for (const step of executionOrder(view.plan.steps)) {
      let el = this.stepEls.get(step.id);
      if (!el) {
        el = {
          li: h("li", { class: "run-step", dataset: { stepId: step.id } }),
          head: h("div", { class: "run-step-head" }),
          detail: h("div", { class: "run-step-detail" }),
          logSlot: h("div", { class: "log-slot" }),
        };
        el.li.append(el.head, el.detail, el.logSlot);
        this.stepEls.set(step.id, el);
        this.stepsEl.append(el.li);
      }
      const task = tasksByStep.get(step.id);
      const status = this.stepStatus.get(step.id) || (task ? task.status : step.status) || "pending";
      el.li.dataset.status = status;
      const key = JSON.stringify([status, step.title, task && task.id, task && task.outcome, task && task.error, task && task.audit_commit, task && task.warnings]);
      if (el.key !== key) {
        el.key = key;
        fill(
          el.head,
          badge(STEP_STATUS, status),
          h("span", { class: "run-step-title" }, step.title),
          task && task.resource_usage && task.resource_usage.duration_ms !== undefined
            ? h("span", { class: "muted small" }, duration(task.resource_usage.duration_ms / 1000))
            : null,
        );
        fill(
          el.detail,
          task && task.error ? h("p", { class: "step-error" }, plainError(task.error)) : null,
          task && task.outcome && !task.error ? h("p", { class: "muted small" }, task.outcome) : null,
          task && FINISHED.has(task.status) ? whatChanged(task.id) : null,
          task ? warningList(task.warnings) : null,
        );
      }
      const log = task ? this.logs.get(task.id) : [...this.logs.values()].find((l) => l.stepId === step.id);
      if (log && el.logSlot.firstChild !== log.root) fill(el.logSlot, log.root);
    }
    this.renderSummary();
  }

  abortControls(active) {
    if (this.abortMessage) return notice(this.abortMessage, "err");
    if (!active) return null;
    if (this.aborting) return h("p", { class: "notice warn", role: "status" }, "Stopping… the playbook that is running is being interrupted.");
    if (!this.confirming) {
      return h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "danger", id: "abort", onclick: () => this.confirm(true) }, "Abort this run"),
      );
    }
    return h(
      "div",
      { class: "confirm", role: "group", "aria-labelledby": "abort-question" },
      h("p", { id: "abort-question" }, "Stop now? The playbook that is running is interrupted, and the steps after it are not run. What already changed stays changed."),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "danger", id: "abort-confirm", onclick: () => this.abort() }, "Yes, abort"),
        h("button", { type: "button", onclick: () => this.confirm(false) }, "Keep running"),
      ),
    );
  }

  confirm(on) {
    this.confirming = on;
    this.render();
    this.head.querySelector(on ? "#abort-confirm" : "#abort")?.focus();
  }

  async abort() {
    this.confirming = false;
    this.aborting = true;
    this.render();
    try {
      await api(`/requests/${this.requestId}/abort`, { method: "POST", body: { reason: "aborted from the web page" } });
    } catch (error) {
      this.aborting = false;
      this.abortMessage = error instanceof ApiError && error.status === 409 ? "It had already finished; nothing to stop." : `Could not abort: ${error.message}`;
      this.render();
    }
  }

  // ---- summary ----

  renderSummary() {
    const view = this.view;
    if (!FINISHED.has(view.status)) {
      if (this.keys.summary !== "none") fill(this.summaryEl);
      this.keys.summary = "none";
      return;
    }
    if (this.suggestions === null) this.loadSuggestions();
    const tasks = this.currentTasks();
    const key = JSON.stringify([view.status, view.reason, tasks.map((t) => [t.status, t.audit_commit, t.outcome, t.suggestions]), this.suggestions, [...this.applied]]);
    if (this.keys.summary === key) return;
    this.keys.summary = key;
    const hadFocus = this.summaryEl.contains(document.activeElement) ? document.activeElement.dataset.suggestion : null;
    keepOpen(this.summaryEl, () => fill(this.summaryEl, this.summary(view, tasks)));
    if (hadFocus) this.summaryEl.querySelector(`[data-suggestion="${CSS.escape(hadFocus)}"]`)?.focus();
  }

  summary(view, tasks) {
    const order = executionOrder(view.plan.steps);
    const byStep = new Map(tasks.map((t) => [t.step_id, t]));
    const starts = tasks.map((t) => t.started_at).filter(Boolean).map((t) => Date.parse(t));
    const ends = tasks.map((t) => t.finished_at).filter(Boolean).map((t) => Date.parse(t));
    const total = starts.length && ends.length ? (Math.max(...ends) - Math.min(...starts)) / 1000 : null;
    const done = tasks.filter((t) => t.status === "succeeded").length;
    const warned = tasks.filter((t) => t.status === "succeeded" && t.warnings && t.warnings.length);
    const took = total !== null ? ` in ${duration(total)}` : "";
    const verdict = {
      succeeded: warned.length
        ? `Done with warnings: all ${plural(done, "step")} ran${took}, but ${plural(warned.length, "step")} warned (see below)`
        : `Completed: all ${plural(done, "step")} done${took}`,
      failed: `Failed: ${done} of ${order.length} steps done${took}`,
      aborted: `Aborted: ${done} of ${order.length} steps done${took}`,
    }[view.status];
    const hosts = new Map();
    for (const task of tasks) {
      for (const [host, c] of Object.entries((task.resource_usage && task.resource_usage.hosts) || {})) {
        const sum = hosts.get(host) || { ok: 0, changed: 0, failed: 0 };
        sum.ok += c.ok || 0;
        sum.changed += c.changed || 0;
        sum.failed += (c.failed || 0) + (c.unreachable || 0);
        hosts.set(host, sum);
      }
    }
    const agents = [...new Set(tasks.map((t) => t.agent_id).filter(Boolean))];
    const gpu = view.plan.steps.reduce((s, step) => s + (step.resources.gpu_vram_gb || 0), 0);
    const cores = view.plan.steps.reduce((s, step) => s + (step.resources.cpu_cores || 0), 0);
    return h(
      "article",
      { class: `card summary summary-${view.status}${warned.length ? " summary-warned" : ""}`, "aria-labelledby": "summary-title", id: "summary" },
      h("h2", { id: "summary-title" }, "Summary"),
      h("p", { class: "verdict" }, `${verdict}.`),
      summaryWarnings(order, byStep),
      view.reason && view.status !== "succeeded" ? h("p", { class: "muted" }, `Why: ${plainError(view.reason)}`) : null,
      h(
        "table",
        { class: "results" },
        h("caption", { class: "sr-only" }, "Each step's result"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Step"), h("th", { scope: "col" }, "Result"), h("th", { scope: "col" }, "Took"), h("th", { scope: "col" }, "Record"))),
        h(
          "tbody",
          {},
          order.map((step) => {
            const task = byStep.get(step.id);
            return h(
              "tr",
              { dataset: { stepId: step.id } },
              h("th", { scope: "row" }, step.title),
              h("td", {}, badge(STEP_STATUS, task ? shownTaskStatus(task) : "pending"), task && task.error ? h("div", { class: "small" }, plainError(task.error)) : null),
              h("td", {}, task && task.resource_usage && task.resource_usage.duration_ms !== undefined ? duration(task.resource_usage.duration_ms / 1000) : "—"),
              h("td", {}, task ? h("a", { href: `#/audit/${task.id}`, class: "audit-link" }, "Audit entry") : "—"),
            );
          }),
        ),
      ),
      h("h3", {}, "Resources used"),
      h(
        "ul",
        { class: "resources" },
        h("li", {}, `Agents: ${agents.length ? agents.join(", ") : "none"}`),
        hosts.size
          ? h("li", {}, "Machines: ", [...hosts].map(([host, c]) => `${host} (${c.ok} checks, ${c.changed} changed${c.failed ? `, ${c.failed} failed` : ""})`).join("; "))
          : null,
        h("li", {}, gpu || cores ? `Reserved: ${[gpu ? `${gpu} GB graphics memory` : "", cores ? `${cores} CPU cores` : ""].filter(Boolean).join(", ")}` : "Reserved: no graphics card or extra CPU"),
      ),
      undoControls(view),
      this.suggestionList(tasks),
    );
  }

  loadSuggestions() {
    // The server answers at once with Chiffon's findings; while ansible-lint checks the
    // repository in the background, suggest.js asks again and the note shows how far it is.
    this.stopSuggestions = watchSuggestions((state) => {
      this.suggestions = state;
      this.keys.summary = null;
      this.renderSummary();
    });
  }

  /**
   * The summary's suggestions: first those about what this request ran (kept on each step by
   * the server: advice from a failure, then findings in the files its playbook used), then the
   * rest of the repository's report, folded, with what ansible-lint did.
   */
  suggestionList(tasks) {
    const taskId = tasks[0] && tasks[0].id;
    const onApply = (item) => applyFinding(item, this.applied, () => this.redrawSummary(), item.task ? item.task.id : taskId);
    const seen = new Set();
    const fromRuns = tasks.flatMap((t) => (Array.isArray(t.suggestions) ? t.suggestions.map((s) => ({ ...s, task: t })) : [])).filter((s) => !seen.has(s.id) && seen.add(s.id));
    const s = this.suggestions || { loading: true };
    const report = s.report;
    const others = report ? report.items.filter((x) => !seen.has(x.id)) : [];
    const folded = report ? report.groups.reduce((sum, g) => sum + g.count, 0) : 0;
    return h(
      "section",
      { class: "suggestions", "aria-labelledby": "suggestions-title", dataset: { state: report ? (report.lint.status === "running" ? "linting" : "loaded") : "loading" } },
      h("h3", { id: "suggestions-title" }, "Suggestions"),
      fromRuns.length
        ? [h("h4", {}, "About what this request ran"), findingList(fromRuns, this.applied, onApply)]
        : report
          ? h("p", { class: "muted" }, "No improvements suggested for the playbooks this request ran.")
          : null,
      progressView(s),
      s.error ? h("p", { class: "muted" }, `Could not read suggestions: ${s.error}`) : null,
      report && (others.length || folded)
        ? h(
            "details",
            { class: "repository-findings", dataset: { key: "repository" } },
            h(
              "summary",
              {},
              `The rest of the repository: ${plural(others.length, "finding")} that matter${others.length === 1 ? "s" : ""}`,
              folded ? `, ${folded} more folded by rule` : "",
            ),
            others.length ? findingList(others, this.applied, onApply) : null,
            groupsView(report.groups, this.applied, onApply),
          )
        : null,
      report ? lintNote(report.lint) : null,
      report ? h("p", { class: "small" }, h("a", { href: "#/suggestions" }, `All ${plural(everyFinding(report).length, "suggestion")} for the repository`)) : null,
    );
  }

  redrawSummary() {
    this.keys.summary = null;
    this.renderSummary();
  }
}

/** A live task event's status as shown: the outcome line says when a run warned. */
function liveTaskStatus(event) {
  return event.status === "succeeded" && /^succeeded with \d+ warnings?/.test(event.outcome || "") ? "succeeded_with_warnings" : event.status;
}

/** What a step's playbook warned about, each on its own line. */
function warningList(warnings) {
  if (!warnings || !warnings.length) return null;
  return h("ul", { class: "warnings", "aria-label": "Warnings" }, warnings.map((w) => h("li", {}, w)));
}

/** Under the verdict: every warning, with the step that gave it, so "done" is never misread. */
function summaryWarnings(order, byStep) {
  const items = [];
  order.forEach((step, index) => {
    const task = byStep.get(step.id);
    for (const warning of (task && task.status === "succeeded" && task.warnings) || []) items.push(h("li", {}, h("strong", {}, `Step ${index + 1}: `), warning));
  });
  if (!items.length) return null;
  return h("div", { class: "notice warn summary-warnings", role: "status" }, h("p", {}, h("strong", {}, "Read this before you rely on it:")), h("ul", { class: "warnings" }, items));
}

/** "aborted: aborted from the web page" says it twice; say it once. */
function plainError(error) {
  const text = error.replace(/^aborted: /, "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---- one step's log ---------------------------------------------------------------------------

const RESULT_WORDS = {
  ok: ["✓", "ok, no change"],
  changed: ["✎", "changed"],
  failed: ["✗", "FAILED"],
  skipped: ["·", "skipped"],
  unreachable: ["✗", "could not reach the machine"],
  ignored: ["!", "failed, ignored by the playbook"],
};

export class Log {
  constructor(taskId) {
    this.taskId = taskId;
    this.stepId = null;
    this.events = [];
    this.dropped = 0;
    this.buffer = []; // live events that came before the stored ones were read
    this.loaded = false;
    this.first = 0; // index of the first event shown
    this.pending = [];
    this.frame = null;
    this.list = h("ol", { class: "log-lines" });
    this.more = h("button", { type: "button", class: "link more", hidden: true, onclick: () => this.showEarlier() });
    this.count = h("span", { class: "muted small log-count" });
    this.root = h(
      "details",
      { class: "log", open: true, dataset: { taskId } },
      h("summary", {}, "Ansible's output ", this.count),
      this.more,
      h("div", { class: "log-scroll", role: "log", "aria-live": "off", tabindex: "0", "aria-label": "Ansible's output" }, this.list),
    );
  }

  close() {
    if (this.frame) cancelAnimationFrame(this.frame);
  }

  add(event) {
    if (!this.loaded) {
      this.buffer.push(event);
      this.push(event);
      return;
    }
    this.push(event);
  }

  /** The stored events, then the live ones not among them (the stored list ends where they begin). */
  merge(stored) {
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    let overlap = Math.min(stored.length, this.buffer.length);
    for (; overlap > 0; overlap--) {
      let ok = true;
      for (let i = 0; i < overlap && ok; i++) ok = same(stored[stored.length - overlap + i], this.buffer[i]);
      if (ok) break;
    }
    const all = stored.concat(this.buffer.slice(overlap));
    this.loaded = true;
    this.buffer = [];
    this.events = [];
    this.dropped = 0;
    this.first = 0;
    this.pending = [];
    this.replaceLast = null;
    this.list.replaceChildren();
    for (const event of all) this.push(event);
  }

  push(event) {
    if (this.settles(event)) return;
    this.events.push(event);
    if (this.events.length > KEEP) {
      this.events.shift();
      this.dropped++;
      this.first = Math.max(0, this.first - 1);
    }
    this.pending.push(event);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  /**
   * A task's result replaces its "… started" line in place (one line per task, pending then
   * done), when that line is the last one; a task on several hosts adds a line per host.
   */
  settles(event) {
    const last = this.events[this.events.length - 1];
    if (!last || event.kind !== "task_result" || last.kind !== "task_start" || last.task !== event.task) return false;
    this.events[this.events.length - 1] = event;
    const waiting = this.pending.indexOf(last);
    if (waiting >= 0) this.pending[waiting] = event;
    else this.replaceLast = event;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
    return true;
  }

  /** Appends what arrived since the last frame, trimming the oldest lines beyond a page. */
  flush() {
    this.frame = null;
    if (this.replaceLast) {
      this.list.lastElementChild?.replaceWith(line(this.replaceLast));
      this.replaceLast = null;
    }
    const fragment = document.createDocumentFragment();
    for (const event of this.pending) fragment.append(line(event));
    this.pending = [];
    const scroller = this.list.parentElement;
    const atBottom = !scroller || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    this.list.append(fragment);
    let extra = this.list.childElementCount - Math.max(PAGE, this.expanded || 0);
    while (extra-- > 0) this.list.firstElementChild.remove();
    this.first = this.events.length - this.list.childElementCount;
    if (atBottom && scroller) scroller.scrollTop = scroller.scrollHeight;
    this.updateCounts();
  }

  showEarlier() {
    const from = Math.max(0, this.first - PAGE);
    const fragment = document.createDocumentFragment();
    for (const event of this.events.slice(from, this.first)) fragment.append(line(event));
    this.list.prepend(fragment);
    this.expanded = this.list.childElementCount;
    this.first = from;
    this.updateCounts();
  }

  updateCounts() {
    const total = this.events.length + this.dropped;
    this.count.textContent = `(${total} line${total === 1 ? "" : "s"})`;
    const hidden = this.first + this.dropped;
    this.more.hidden = this.first === 0;
    this.more.textContent = `Show earlier lines (${hidden} hidden)`;
  }
}

function line(event) {
  switch (event.kind) {
    case "playbook_start":
      return h("li", { class: "ev-playbook" }, `Playbook ${event.msg || ""} started`);
    case "play_start":
      return h("li", { class: "ev-play" }, `Play: ${event.play || ""}`);
    case "task_start":
      return h("li", { class: "ev-start" }, `… ${event.task || ""}`);
    case "task_result": {
      const [mark, words] = RESULT_WORDS[event.status] || ["?", event.status];
      return h(
        "li",
        { class: `ev-result ev-${event.status}` },
        `${mark} ${event.task || ""}`,
        event.host ? ` on ${event.host}` : "",
        `: ${words}`,
        event.duration_ms !== undefined ? ` (${duration(event.duration_ms / 1000)})` : "",
        event.msg ? h("pre", { class: "ev-msg" }, event.msg) : null,
      );
    }
    case "stats":
      return h(
        "li",
        { class: "ev-stats" },
        "Recap: ",
        Object.entries(event.hosts || {})
          .map(([host, c]) => `${host} ok=${c.ok} changed=${c.changed} failed=${c.failed} unreachable=${c.unreachable}`)
          .join("; "),
      );
    case "warning":
      return h("li", { class: "ev-warning" }, `⚠ ${event.msg || ""}`);
    case "diff":
      return h("li", { class: "ev-diff" }, `${event.task || ""} on ${event.host || ""}`, diffView(event.msg || ""));
    default:
      return h("li", {}, `${event.kind}: ${event.msg || ""}`);
  }
}

// ---- what changed, and undo (docs/revert.md) ----

/** A finished step's "What changed": read from `GET /tasks/{id}/changes` when opened. */
function whatChanged(taskId) {
  const body = h("div", { class: "changes", role: "status" }, "Reading what this step changed…");
  const details = h("details", { class: "what-changed", dataset: { task: taskId } }, h("summary", {}, "What changed"), body);
  let loaded = false;
  details.addEventListener("toggle", async () => {
    if (!details.open || loaded) return;
    loaded = true;
    try {
      fill(body, changeList(await api(`/tasks/${taskId}/changes`)));
      body.removeAttribute("role");
    } catch (error) {
      loaded = false;
      fill(body, notice(`Could not read the changes: ${error.message}`));
    }
  });
  return details;
}

/** Per host, one item per file or resource: before → after, the diff, and whether undo can. */
function changeList(changes) {
  if (!changes.hosts.length) return h("p", { class: "muted small" }, "Nothing changed on any machine.");
  const state = (s) =>
    s
      ? [
          s.state || "",
          s.enabled === true ? "enabled" : s.enabled === false ? "disabled" : "",
          s.version ? `version ${s.version}` : "",
          s.image ? `image ${s.image}` : "",
          s.sha1 ? `sha1 ${s.sha1.slice(0, 12)}` : "",
          s.mode ? `mode ${s.mode}` : "",
        ]
          .filter(Boolean)
          .join(", ") || "?"
      : "unknown";
  return changes.hosts.map((host) =>
    h(
      "section",
      { class: "changes-host" },
      h("h4", {}, `On ${host.host}`),
      h(
        "ul",
        { class: "change-list" },
        host.changes.map((c) =>
          h(
            "li",
            { class: c.reversible ? "change" : "change irreversible", dataset: { kind: c.kind } },
            h("p", {}, h("strong", {}, `${c.kind} ${c.target}`), h("span", { class: "muted small" }, ` (${c.module}, task “${c.task}”)`)),
            h("p", { class: "small" }, `${c.existed === false ? "absent" : state(c.before)} → ${state(c.after)}`),
            h("p", { class: c.reversible ? "muted small" : "small step-error" }, c.reversible ? (c.content_kept ? "Can be undone: the previous content is kept." : "Can be undone.") : "Cannot be undone."),
            c.note ? h("p", { class: "muted small" }, c.note) : null,
            c.diff ? h("details", {}, h("summary", {}, "Show the diff"), diffView(c.diff)) : null,
          ),
        ),
      ),
    ),
  );
}

/** The summary's Undo: a new request whose plan puts this one's changes back, to review. */
function undoControls(view) {
  const status = h("div", { class: "undo-status" });
  const button = h(
    "button",
    {
      type: "button",
      class: "undo",
      id: "undo",
      onclick: async () => {
        button.disabled = true;
        fill(status, h("p", { class: "muted", role: "status" }, "Planning the undo…"));
        try {
          const undo = await api(`/requests/${view.id}/revert`, { method: "POST", body: {} });
          location.hash = `#/r/${undo.id}`;
        } catch (error) {
          button.disabled = false;
          fill(status, notice(`Cannot undo: ${error.message}`));
        }
      },
    },
    "Undo these changes",
  );
  return h(
    "section",
    { class: "undo-section", "aria-labelledby": "undo-title" },
    h("h3", { id: "undo-title" }, "Undo"),
    h("p", { class: "muted small" }, "Plans a new request that puts back what this one changed, for you to preview and approve. Nothing changes until you approve it."),
    h("div", { class: "actions" }, button),
    status,
  );
}
