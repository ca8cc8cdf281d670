// The requests screen: the list of earlier requests, the box to type a new one, and one
// request's conversation: its status, the plan card(s), approve / reject / change, then the
// live run and the summary (run.js).

import { api, ApiError, isUnknownRoute, live } from "./api.js";
import { h, fill, badge, REQUEST_STATUS, estimate, ago, executionOrder, notice, diffView, plural } from "./dom.js";
import { Run } from "./run.js";
import { questionBlock, richText, shownStatus } from "./answer.js";

const EXAMPLES = [
  "Deploy Uptime Kuma to the homelab and add our existing portals to its config",
  "Restart Jellyfin",
  "Deploy Pi-hole",
];

// Plan versions this tab has seen, per request, so a changed plan can be shown beside the one it
// replaced (the API returns only the current version).
const seenPlans = new Map();

function remember(view) {
  if (!view || !view.plan) return;
  let versions = seenPlans.get(view.id);
  if (!versions) seenPlans.set(view.id, (versions = new Map()));
  versions.set(view.plan.version, view.plan);
}

/** Renders the requests screen; `selected` is a request id or null. Returns a cleanup. */
export function renderChat(main, selected) {
  const historyList = h("ul", { class: "history-list", id: "history-list" });
  const thread = h("section", { class: "thread", "aria-label": "Conversation" });
  const composer = buildComposer();
  fill(
    main,
    h(
      "div",
      { class: "chat" },
      h("div", { class: "chat-main" }, thread, composer),
      h(
        "aside",
        { class: "history", "aria-labelledby": "history-title" },
        h("h2", { id: "history-title" }, "Earlier requests"),
        historyList,
      ),
    ),
  );

  let page = null;
  if (selected) {
    page = new RequestPage(thread, selected);
  } else {
    fill(
      thread,
      h("h1", {}, "What should Chiffon do?"),
      h(
        "p",
        { class: "lead" },
        "Describe a change to your homelab in your own words. Chiffon answers with a plan you can read, and nothing runs until you approve it.",
      ),
      h("p", { class: "muted" }, "For example:"),
      h(
        "ul",
        { class: "examples" },
        EXAMPLES.map((text) =>
          h("li", {}, h("button", { type: "button", class: "link", onclick: () => useExample(composer, text) }, text)),
        ),
      ),
    );
  }

  let historyTimer = null;
  const loadHistory = async () => {
    try {
      const list = await api("/requests?limit=50");
      renderHistory(historyList, list.items, selected);
    } catch (error) {
      fill(historyList, h("li", {}, notice(error.message)));
    }
  };
  loadHistory();
  const offLive = live.on((event) => {
    if (event.type === "request") {
      clearTimeout(historyTimer);
      historyTimer = setTimeout(loadHistory, 250);
    }
    if (page) page.onLive(event);
  });
  const offReconnect = live.onReconnect(() => {
    loadHistory();
    if (page) page.refresh();
  });
  return () => {
    offLive();
    offReconnect();
    clearTimeout(historyTimer);
    if (page) page.close();
  };
}

function useExample(composer, text) {
  const box = composer.querySelector("textarea");
  box.value = text;
  box.focus();
}

function renderHistory(list, items, selected) {
  if (!items.length) {
    fill(list, h("li", { class: "muted" }, "No requests yet."));
    return;
  }
  fill(
    list,
    items.map((request) =>
      h(
        "li",
        {},
        h(
          "a",
          {
            href: `#/r/${request.id}`,
            class: "history-item",
            "aria-current": request.id === selected ? "page" : null,
            dataset: { requestId: request.id },
          },
          h("span", { class: "history-text" }, request.text),
          h("span", { class: "history-meta" }, badge(REQUEST_STATUS, shownStatus(request)), " ", ago(request.created_at)),
        ),
      ),
    ),
  );
}

function buildComposer() {
  const box = h("textarea", {
    id: "request-text",
    name: "text",
    rows: 2,
    required: true,
    maxlength: 4000,
    placeholder: "e.g. Deploy Uptime Kuma and add our portals to it",
  });
  const error = h("div", { class: "composer-error" });
  const send = h("button", { type: "submit", class: "primary" }, "Send request");
  const form = h(
    "form",
    { class: "composer" },
    h("label", { for: "request-text" }, "New request"),
    h("div", { class: "composer-row" }, box, send),
    h("p", { class: "hint" }, "Press Ctrl+Enter to send."),
    error,
  );
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = box.value.trim();
    if (!text) return;
    fill(error);
    send.disabled = true;
    // "Pending": shown until the plan comes back.
    const thread = document.querySelector(".thread");
    fill(
      thread,
      h("div", { class: "bubble user" }, text),
      statusTracker("pending"),
      h("p", { class: "muted", role: "status" }, "Chiffon is making a plan…"),
    );
    try {
      const view = await api("/requests", { method: "POST", body: { text } });
      remember(view);
      box.value = "";
      location.hash = `#/r/${view.id}`;
    } catch (e) {
      fill(error, notice(e.message));
      fill(thread, h("div", { class: "bubble user" }, text), notice(`Chiffon could not plan this: ${e.message}`));
    } finally {
      send.disabled = false;
    }
  });
  return form;
}

// ---- the status tracker ---------------------------------------------------------------------

const TRACK = [
  ["pending", "Planning"],
  ["awaiting_approval", "Awaiting approval"],
  ["approved", "Approved"],
  ["executing", "Executing"],
  ["done", "Finished"],
];

function trackPosition(status) {
  switch (status) {
    case "pending":
      return 0;
    case "awaiting_approval":
      return 1;
    case "approved":
      return 2;
    case "running":
    case "paused":
      return 3;
    default:
      return 4;
  }
}

function statusTracker(status, outcome, shown = status) {
  const position = trackPosition(status);
  const warned = status === "succeeded" && outcome === "succeeded_with_warnings";
  const finalWords = { succeeded: warned ? "Done with warnings" : "Completed", failed: "Failed", aborted: "Aborted", rejected: "Rejected" };
  return h(
    "div",
    { class: "tracker-wrap" },
    h(
      "p",
      { class: "request-status", role: "status", "aria-live": "polite" },
      "Status: ",
      badge(REQUEST_STATUS, warned ? outcome : shown),
    ),
    h(
      "ol",
      { class: "tracker", "aria-label": "Progress", dataset: { status } },
      TRACK.map(([key, words], index) => {
        let label = words;
        if (key === "done" && finalWords[status]) label = finalWords[status];
        if (key === "executing" && status === "paused") label = "Waiting for a machine";
        if (key === "awaiting_approval" && shown === "needs_answer") label = "Needs your answer";
        const state = index < position ? "past" : index === position ? "current" : "future";
        const tone = index === 4 && position === 4 ? ` ${warned ? outcome : status}` : "";
        return h(
          "li",
          { class: `${state}${tone}`, "aria-current": state === "current" ? "step" : null },
          label,
        );
      }),
    ),
  );
}

// ---- one request ------------------------------------------------------------------------------

const ACTION_WORDS = {
  deploy: (s) => `Sets up ${s} (writes its settings and starts it)`,
  configure: (s) => `Changes ${s}'s settings`,
  upgrade: (s) => `Updates ${s} to a newer version`,
  restart: (s) => `Restarts ${s}`,
  remove: (s) => `Removes ${s}`,
  check: (s) => `Checks that ${s} is healthy, changing nothing`,
  revert_commit: () => "Undoes an applied suggestion with a new commit in the playbook repository (no host is touched)",
  change_pin: (s) => `Changes the version ${s} is pinned to, as a commit in the playbook repository (no host is touched)`,
};

function plainWords(step) {
  const service = step.service || "the service";
  const words = (ACTION_WORDS[step.action] || (() => `Runs ${step.playbook || step.action}`))(service);
  return step.limit ? `${words}, on ${step.limit}.` : `${words}.`;
}

function resourcesText(resources) {
  const parts = [];
  if (resources && resources.gpu_vram_gb > 0) parts.push(`${resources.gpu_vram_gb} GB of graphics-card memory`);
  if (resources && resources.cpu_cores > 0) parts.push(`${resources.cpu_cores} CPU cores`);
  return parts.length ? parts.join(" and ") : "nothing special";
}

const RISK_WORDS = { low: "Low risk", medium: "Medium risk", high: "High risk" };
const PLANNER_WORDS = (planner) =>
  planner === "deterministic" || planner === "rules"
    ? "Chiffon's built-in rules (no AI)"
    : planner.startsWith("llm") || planner.includes("model")
      ? `an AI model (${planner}), checked by Chiffon's rules`
      : planner;

class RequestPage {
  constructor(root, id) {
    this.root = root;
    this.id = id;
    this.view = null;
    // Views arrive out of order (a re-read started before a reject may answer after it): each
    // read or action takes a number, and a view older than the one shown is dropped.
    this.seq = 0;
    this.shownSeq = 0;
    this.preview = null;
    this.previewing = false;
    this.modifyMessage = null;
    this.actionMessage = null;
    this.busy = false;
    this.sections = {};
    this.keys = {};
    this.run = new Run(id);
    this.refreshTimer = null;
    fill(root, h("p", { class: "muted" }, "Loading the request…"));
    this.refresh(true);
    // While the live stream is down, a running request is re-read now and then instead.
    this.poll = setInterval(() => {
      if (this.view && ["approved", "running", "paused"].includes(this.view.status) && !live.connected) this.refresh();
    }, 5000);
  }

  close() {
    clearTimeout(this.refreshTimer);
    clearInterval(this.poll);
    this.run.close();
  }

  async refresh(first = false) {
    try {
      const seq = ++this.seq;
      const view = await api(`/requests/${this.id}`);
      if (seq < this.shownSeq) return;
      this.shownSeq = seq;
      remember(view);
      this.view = view;
      if (view.preview && view.preview.plan_version === view.plan.version) this.preview = view.preview;
      if (first) this.layout();
      this.render();
      await this.run.update(view);
    } catch (error) {
      if (first) {
        fill(
          this.root,
          error instanceof ApiError && error.status === 404
            ? notice(`There is no request ${this.id}. It may have been made on another Chiffon.`)
            : notice(error.message),
        );
      }
    }
  }

  /** Live events about this request: apply what they say at once, then re-read for details. */
  onLive(event) {
    if (event.request_id !== this.id) return;
    if (event.type === "execution") {
      this.run.onExecution(event);
      return;
    }
    if (!this.view) return;
    if (event.type === "request") {
      this.view.status = event.status;
      if (event.reason) this.view.reason = event.reason;
      this.render();
    } else if (event.type === "task") {
      this.run.onTask(event);
    }
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refresh(), 200);
  }

  layout() {
    const names = ["question", "tracker", "plans", "actions", "run"];
    fill(this.root);
    for (const name of names) {
      this.sections[name] = h("div", { class: `section-${name}` });
      this.root.append(this.sections[name]);
    }
    this.sections.run.append(this.run.root);
  }

  /** Re-renders a section only when what it shows changed, so focus and scroll stay put. */
  section(name, key, build) {
    if (this.keys[name] === key) return;
    this.keys[name] = key;
    const el = this.sections[name];
    const hadFocus = el.contains(document.activeElement) ? document.activeElement.id : null;
    fill(el, build());
    if (hadFocus) document.getElementById(hadFocus)?.focus();
  }

  render() {
    const view = this.view;
    this.section("question", view.text, () => [
      h("div", { class: "bubble user" }, h("span", { class: "sr-only" }, "You asked: "), view.text),
      h("p", { class: "muted small" }, "Asked ", ago(view.created_at)),
    ]);
    this.section("tracker", `${view.status}|${view.outcome}|${shownStatus(view)}`, () => statusTracker(view.status, view.outcome, shownStatus(view)));
    const versions = [...(seenPlans.get(this.id) || new Map()).values()].sort((a, b) => a.version - b.version);
    const earlier = versions.filter((p) => p.version < view.plan.version);
    const previous = earlier.length ? earlier[earlier.length - 1] : null;
    this.section(
      "plans",
      JSON.stringify([view.plan.version, view.status, previous && previous.version, this.preview, this.previewing, view.reason, this.busy]),
      () => this.renderPlans(previous),
    );
    this.section(
      "actions",
      JSON.stringify([view.plan.version, view.status, this.busy, this.modifyMessage, this.actionMessage, this.mode]),
      () => this.renderActions(),
    );
  }

  renderPlans(previous) {
    const view = this.view;
    const current = planCard(view.plan, {
      current: true,
      preview: this.preview,
      previewing: this.previewing,
      compared: previous,
      status: view.status,
      onAnswer: view.status === "awaiting_approval" ? (body) => this.answer(body) : null,
      busy: this.busy,
    });
    if (!previous) return h("div", { class: "plans" }, current);
    return h(
      "div",
      { class: "plans compare" },
      planCard(previous, { current: false }),
      current,
    );
  }

  renderActions() {
    const view = this.view;
    const out = [];
    if (this.actionMessage) out.push(notice(this.actionMessage.text, this.actionMessage.tone));
    if (view.status === "rejected" && view.reason) {
      out.push(h("p", { class: "notice muted" }, `You rejected this plan: “${view.reason}”. Nothing was run.`));
    }
    if (view.status !== "awaiting_approval") return out;
    const plan = view.plan;
    const blocked = plan.open_questions.length > 0 || plan.steps.length === 0;
    const approve = h(
      "button",
      {
        type: "button",
        class: "primary",
        id: "approve",
        disabled: this.busy || blocked,
        onclick: () => this.approve(plan.version),
      },
      `Approve plan v${plan.version}`,
    );
    const buttons = h(
      "div",
      { class: "actions", role: "group", "aria-label": "Decide" },
      approve,
      h(
        "button",
        { type: "button", id: "preview", disabled: this.busy || this.previewing || blocked, onclick: () => this.runPreview() },
        this.preview ? "Check again (dry run)" : "Show what would change (dry run)",
      ),
      h(
        "button",
        { type: "button", id: "modify-open", "aria-expanded": String(this.mode === "modify"), onclick: () => this.toggle("modify") },
        "Change the plan…",
      ),
      h(
        "button",
        { type: "button", id: "reject-open", class: "danger-outline", "aria-expanded": String(this.mode === "reject"), onclick: () => this.toggle("reject") },
        "Reject…",
      ),
    );
    out.push(buttons);
    out.push(approverField());
    if (blocked) {
      out.push(
        h(
          "p",
          { class: "notice warn" },
          plan.open_questions.length > 0
            ? "Needs your answer: pick one of the choices in the plan, or use “Change the plan…” to say what you mean."
            : "This plan has no steps, so there is nothing to approve. Change the request or reject it.",
        ),
      );
    }
    if (this.mode === "modify") out.push(this.modifyForm());
    if (this.mode === "reject") out.push(this.rejectForm());
    if (this.modifyMessage) out.push(notice(this.modifyMessage.text, this.modifyMessage.tone));
    return out;
  }

  toggle(mode) {
    this.mode = this.mode === mode ? null : mode;
    this.render();
    const first = document.getElementById(mode === "modify" ? "modify-text" : "reject-reason");
    if (first && this.mode) first.focus();
  }

  modifyForm() {
    const box = h("textarea", { id: "modify-text", rows: 2, required: true, maxlength: 4000, placeholder: "e.g. use staging Kuma first" });
    return h(
      "form",
      {
        class: "inline-form",
        onsubmit: (event) => {
          event.preventDefault();
          if (box.value.trim()) this.modify(box.value.trim());
        },
      },
      h("label", { for: "modify-text" }, "What should change? Chiffon makes a new version of the plan; you approve that one."),
      box,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "primary", id: "modify-send", disabled: this.busy }, "Make a new plan"),
        h("button", { type: "button", onclick: () => this.toggle("modify") }, "Cancel"),
      ),
    );
  }

  rejectForm() {
    const box = h("textarea", { id: "reject-reason", rows: 2, required: true, maxlength: 4000, placeholder: "e.g. not during movie night" });
    return h(
      "form",
      {
        class: "inline-form",
        onsubmit: (event) => {
          event.preventDefault();
          if (box.value.trim()) this.reject(box.value.trim());
        },
      },
      h("label", { for: "reject-reason" }, "Why not? (kept in the audit trail)"),
      box,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "danger", id: "reject-send", disabled: this.busy }, "Reject this plan"),
        h("button", { type: "button", onclick: () => this.toggle("reject") }, "Cancel"),
      ),
    );
  }

  async act(work) {
    this.busy = true;
    this.actionMessage = null;
    this.render();
    try {
      await work();
    } catch (error) {
      this.actionMessage = { text: error.message, tone: "err" };
      if (error instanceof ApiError && error.status === 409) await this.refresh();
    } finally {
      this.busy = false;
      this.render();
    }
  }

  approve(version) {
    return this.act(async () => {
      const view = await api(`/requests/${this.id}/approve`, { method: "POST", body: { plan_version: version, by: approverName() } });
      this.shownSeq = ++this.seq;
      this.view = view;
      this.mode = null;
      await this.run.update(view);
    });
  }

  reject(reason) {
    return this.act(async () => {
      const view = await api(`/requests/${this.id}/reject`, { method: "POST", body: { reason } });
      this.shownSeq = ++this.seq;
      this.view = view;
      this.mode = null;
    });
  }

  modify(text) {
    return this.act(async () => {
      this.modifyMessage = null;
      try {
        const view = await api(`/requests/${this.id}/modify`, { method: "POST", body: { text } });
        remember(view);
        this.shownSeq = ++this.seq;
        this.view = view;
        this.preview = null;
        this.mode = null;
        this.modifyMessage = { text: `Plan v${view.plan.version} replaces the earlier one. Read it, then approve it.`, tone: "ok" };
      } catch (error) {
        if (isUnknownRoute(error)) {
          this.mode = null;
          this.modifyMessage = {
            text: "This Chiffon server cannot change a plan yet (it is an older version without that feature). Reject this plan and send a new request with what you want instead.",
            tone: "warn",
          };
        } else {
          this.modifyMessage = { text: `The plan was not changed: ${error.message}`, tone: "err" };
        }
      }
    });
  }

  /** Answers an open question (a choice, or a template's fields): the new plan version comes back. */
  answer(body) {
    return this.act(async () => {
      this.modifyMessage = null;
      try {
        const view = await api(`/requests/${this.id}/answer`, { method: "POST", body });
        remember(view);
        this.shownSeq = ++this.seq;
        this.view = view;
        this.preview = null;
        this.mode = null;
        this.modifyMessage = { text: `Plan v${view.plan.version} uses your answer. Read it, then approve it.`, tone: "ok" };
      } catch (error) {
        this.modifyMessage = { text: `The answer was not taken: ${error.message}`, tone: "err" };
      }
    });
  }

  async runPreview() {
    this.previewing = true;
    this.render();
    try {
      const view = await api(`/requests/${this.id}/preview`, { method: "POST" });
      this.shownSeq = ++this.seq;
      this.view = view;
      this.preview = view.preview || null;
    } catch (error) {
      this.actionMessage = { text: `The dry run did not work: ${error.message}`, tone: "err" };
    } finally {
      this.previewing = false;
      this.render();
    }
  }
}

// ---- who approves ---------------------------------------------------------------------------------

const APPROVER_KEY = "chiffon.approver";

/** The name this browser approves as (given once, kept in localStorage), for the audit trail. */
function approverName() {
  let name = "";
  try {
    name = (localStorage.getItem(APPROVER_KEY) || "").trim();
  } catch {
    // Storage refused (private mode): the approval is still recorded, as from the web page.
  }
  // The server takes at most 64 printable characters: the name is cut to fit with its suffix.
  const kept = name.replace(/[\u0000-\u001f\u007f]/g, "").slice(0, 50).trim();
  return kept ? `${kept} (web page)` : "web page";
}

function approverField() {
  let saved = "";
  try {
    saved = localStorage.getItem(APPROVER_KEY) || "";
  } catch {
    saved = "";
  }
  const input = h("input", { id: "approver-name", type: "text", maxlength: 50, autocomplete: "name", value: saved, placeholder: "e.g. Lola" });
  input.addEventListener("change", () => {
    try {
      localStorage.setItem(APPROVER_KEY, input.value.trim());
    } catch {
      // Not kept: asked again next time.
    }
  });
  return h(
    "p",
    { class: "approver small" },
    h("label", { for: "approver-name" }, "Approving as (kept in this browser, written in the audit trail): "),
    input,
  );
}

// ---- the plan card ------------------------------------------------------------------------------

function planCard(plan, { current, preview, previewing, compared, status, onAnswer, busy }) {
  const steps = executionOrder(plan.steps);
  const previewByStep = new Map(((preview && preview.steps) || []).map((s) => [s.step_id, s]));
  const oldTitles = compared ? new Set(compared.steps.map((s) => `${s.title}|${s.playbook}|${s.limit}`)) : null;
  return h(
    "article",
    {
      class: `card plan${current ? " current" : " replaced"}`,
      "aria-labelledby": `plan-title-${plan.version}`,
      dataset: { planVersion: plan.version },
    },
    h(
      "header",
      { class: "plan-head" },
      h("h2", { id: `plan-title-${plan.version}` }, `Plan v${plan.version}`, current ? "" : " (replaced)"),
      h("span", { class: `badge risk-${plan.risk.level}` }, RISK_WORDS[plan.risk.level] || plan.risk.level),
      approvalBadge(plan, current, status),
    ),
    current && compared ? versionChanges(compared, plan) : null,
    h(
      "p",
      { class: "plan-summary" },
      `${steps.length} step${steps.length === 1 ? "" : "s"}, ${estimate(plan.estimated_duration_s)} in all. Made by ${PLANNER_WORDS(plan.planner)}.`,
    ),
    questionBlock(plan, { onAnswer: current ? onAnswer : null, busy }),
    h(
      "ol",
      { class: "steps" },
      steps.map((step) => {
        const seen = preview && previewByStep.get(step.id);
        const isNew = oldTitles && !oldTitles.has(`${step.title}|${step.playbook}|${step.limit}`);
        return h(
          "li",
          { class: "step", dataset: { stepId: step.id } },
          h("h3", { class: "step-title" }, richText(step.title), isNew ? h("span", { class: "badge info" }, "new in this version") : null),
          titleDetails(step),
          h("p", { class: "step-words" }, plainWords(step)),
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, "Playbook"),
            h("dd", {}, h("code", {}, step.playbook || "none")),
            h("dt", {}, "Takes"),
            h("dd", {}, estimate(step.estimated_duration_s)),
            h("dt", {}, "Needs"),
            h("dd", {}, resourcesText(step.resources)),
            h("dt", {}, "Run by"),
            h("dd", {}, step.agent_type === "desktop" ? "a desktop agent with room for it" : "the infrastructure agent"),
            step.depends_on.length ? [h("dt", {}, "After"), h("dd", {}, step.depends_on.map((d) => stepName(plan, d)).join(", "))] : null,
          ),
          seen ? previewStep(seen, step, steps) : null,
        );
      }),
    ),
    h(
      "div",
      { class: "risk" },
      h("h3", {}, "Why this risk level"),
      plan.risk.reasons.length ? h("ul", {}, plan.risk.reasons.map((r) => h("li", {}, richText(r)))) : h("p", {}, "No particular risk found."),
    ),
    previewing ? h("p", { class: "muted", role: "status" }, "Doing a dry run (Ansible check mode): nothing on your machines changes…") : null,
    preview && current
      ? h("p", { class: "muted small", role: "status" }, "Dry run done ", ago(preview.previewed_at), ": each step above shows what it would change.")
      : null,
  );
}

/** Whether the plan still waits for a person: only then "Approval needed". */
function approvalBadge(plan, current, status) {
  if (!plan.approval_required) return h("span", { class: "badge muted" }, "No approval needed");
  if (!current || !status || status === "awaiting_approval") return current ? h("span", { class: "badge warn" }, "Approval needed") : null;
  if (status === "rejected") return h("span", { class: "badge muted" }, "Rejected");
  return h("span", { class: "badge ok" }, "Approved");
}

/** Plan v2 says what changed from the version it replaced: steps removed, added, changed. */
function versionChanges(previous, plan) {
  const key = (s) => `${s.playbook}|${s.limit}|${(s.tags || []).join(",")}`;
  const before = new Map(previous.steps.map((s) => [key(s), s]));
  const after = new Map(plan.steps.map((s) => [key(s), s]));
  const lines = [];
  for (const [k, s] of before) if (!after.has(k)) lines.push(["Removed", s.title]);
  for (const [k, s] of after) if (!before.has(k)) lines.push(["Added", s.title]);
  for (const [k, s] of after) {
    const old = before.get(k);
    if (!old) continue;
    // A step kept: its particulars (the portals it monitors) say what went and what came.
    const had = new Set(old.details || []);
    const has = new Set(s.details || []);
    for (const d of had) if (!has.has(d)) lines.push(["Removed", d]);
    for (const d of has) if (!had.has(d)) lines.push(["Added", d]);
    if (old.title !== s.title && !had.size && !has.size) lines.push(["Changed", `${old.title} → ${s.title}`]);
  }
  return h(
    "div",
    { class: "version-changes", role: "note" },
    h("h3", {}, `What changed from v${previous.version}`),
    lines.length
      ? h("ul", {}, lines.map(([what, title]) => h("li", {}, h("strong", {}, `${what}: `), title)))
      : h("p", { class: "muted small" }, "The same steps; only the details above differ."),
  );
}

/** The particulars behind a step's short title (the portals it monitors, a pin change's diff), as a list. */
function titleDetails(step) {
  const items = step.details || [];
  const item = (i) => h("li", {}, i.includes("\n") ? diffView(i) : i);
  return items.length ? h("ul", { class: "step-details" }, items.map(item)) : null;
}

function stepName(plan, id) {
  const step = plan.steps.find((s) => s.id === id);
  return step ? `“${step.title}”` : id;
}

const PREVIEW_WORDS = {
  would_change: (s) => `Would change ${plural(s.changed, "thing")}`,
  no_change: () => "Already as planned: nothing would change",
  would_fail: () => "Would fail",
  not_previewed: () => "Not checked (it depends on an earlier step's changes)",
  checked_after: (s, order) => `Checked after ${afterWords(s.after_steps, order)} runs`,
};

/** "step 1", "steps 1 and 2": by their place in the order shown. */
function afterWords(ids, order) {
  const numbers = (ids || []).map((id) => {
    const index = order.findIndex((s) => s.id === id);
    return index >= 0 ? String(index + 1) : id;
  });
  if (numbers.length <= 1) return `step ${numbers[0] || "before it"}`;
  return `steps ${numbers.slice(0, -1).join(", ")} and ${numbers[numbers.length - 1]}`;
}

function previewStep(seen, step, order = []) {
  const words = (PREVIEW_WORDS[seen.outcome] || (() => seen.outcome))(seen, order);
  if (seen.outcome === "checked_after") {
    // Neutral, not red: a dry run changes nothing, so this step cannot see the earlier one's work.
    return h(
      "div",
      { class: `preview preview-${seen.outcome}`, dataset: { outcome: seen.outcome } },
      h("p", {}, h("strong", {}, "Dry run: "), words, "."),
      h("p", { class: "small muted" }, "A dry run makes no changes, so this step needs the earlier one to really run first."),
      seen.error ? h("details", { class: "small" }, h("summary", {}, "What the dry run saw"), h("p", {}, seen.error)) : null,
    );
  }
  return h(
    "div",
    { class: `preview preview-${seen.outcome}`, dataset: { outcome: seen.outcome } },
    h("p", {}, h("strong", {}, "Dry run: "), words, seen.error ? `: ${seen.error}` : ""),
    seen.warnings && seen.warnings.length ? h("ul", { class: "warnings" }, seen.warnings.map((w) => h("li", {}, `Warning: ${w}`))) : null,
    seen.outcome === "would_fail" && step.depends_on.length
      ? h("p", { class: "small" }, "A dry run changes nothing, so this step cannot see what the steps before it would do. If the reason above is one of those changes, it is expected.")
      : null,
    seen.diffs.length
      ? h(
          "details",
          {},
          h("summary", {}, seen.diffs.length === 1 ? "Show the change" : `Show the ${seen.diffs.length} changes`),
          seen.diffs.map((d) => h("div", { class: "diff-item" }, h("p", { class: "small" }, `${d.task} on ${d.host}`), diffView(d.diff))),
        )
      : null,
  );
}
