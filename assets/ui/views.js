// The other screens: agents (status, free CPU, memory and each GPU's memory as bars), the
// playbook catalogue, the repository's suggestions, the history of tasks (recent activity, failures in the
// last week, changes to a service) and one task's audit entry.

import { api, isUnknownRoute, live } from "./api.js";
import { h, fill, badge, STEP_STATUS, ago, mb, duration, notice, shownTaskStatus, plural } from "./dom.js";
import { watchSuggestions, progressView, reportView, applyFinding, keepOpen } from "./suggest.js";

// ---- agents -----------------------------------------------------------------------------------

const AGENT_STATUS = {
  online: ["Online", "ok"],
  suspect: ["Not heard from lately", "warn"],
  offline: ["Offline", "err"],
  leaving: ["Stopped", "muted"],
};

export function renderAgents(main) {
  const list = h("div", { class: "agents", id: "agents" }, h("p", { class: "muted" }, "Loading agents…"));
  fill(
    main,
    h("h1", {}, "Agents"),
    h(
      "p",
      { class: "lead" },
      "The programs that do the work. The infrastructure agent runs your playbooks; desktop agents report how much CPU and graphics-card memory is free, so heavy work only goes where it fits.",
    ),
    list,
  );
  let timer = null;
  const load = async () => {
    try {
      const page = await api("/agents");
      fill(list, page.items.length ? page.items.map(agentCard) : h("p", {}, "No agent has connected yet. Start one with “chiffon agent infra” or “chiffon agent desktop”."));
    } catch (error) {
      fill(list, notice(error.message));
    }
  };
  load();
  // Capacity arrives with heartbeats, which are not live events: re-read now and then.
  const poll = setInterval(load, 10000);
  const off = live.on((event) => {
    if (event.type === "agent") {
      clearTimeout(timer);
      timer = setTimeout(load, 200);
    }
  });
  const offReconnect = live.onReconnect(load);
  return () => {
    clearInterval(poll);
    clearTimeout(timer);
    off();
    offReconnect();
  };
}

function bar(label, free, total, text) {
  const share = total > 0 ? Math.max(0, Math.min(1, free / total)) : 0;
  const tone = share < 0.1 ? "low" : share < 0.3 ? "mid" : "high";
  return h(
    "div",
    { class: "bar-row" },
    h("span", { class: "bar-label" }, label),
    h(
      "span",
      {
        class: `bar ${tone}`,
        role: "meter",
        "aria-label": `${label}: ${text}`,
        "aria-valuemin": "0",
        "aria-valuemax": String(total),
        "aria-valuenow": String(free),
      },
      h("span", { class: "bar-fill", style: { width: `${Math.round(share * 100)}%` } }),
    ),
    h("span", { class: "bar-text" }, text),
  );
}

function agentCard(agent) {
  const c = agent.capacity;
  const type = agent.type === "infra" ? "Infrastructure agent (runs playbooks)" : "Desktop agent (reports capacity)";
  return h(
    "article",
    { class: "card agent", dataset: { agentId: agent.id, status: agent.status } },
    h("header", { class: "agent-head" }, h("h2", {}, agent.id), badge(AGENT_STATUS, agent.status)),
    h("p", { class: "muted small" }, `${type} on ${agent.host}, version ${agent.version}. Last heard from `, ago(agent.last_heartbeat_at), "."),
    agent.status !== "online" && agent.status_reason ? h("p", { class: "small" }, agent.status_reason) : null,
    c
      ? h(
          "div",
          { class: "bars" },
          bar("CPU", c.free_cpu_cores, c.cpu_cores, `${round(c.free_cpu_cores)} of ${c.cpu_cores} cores free (${Math.round(c.cpu_load_percent)}% busy)`),
          bar("Memory", c.memory_free_mb, c.memory_total_mb, `${mb(c.memory_free_mb)} free of ${mb(c.memory_total_mb)}`),
          c.gpus.length
            ? c.gpus.map((g) => bar(`GPU ${g.index}`, g.vram_free_mb, g.vram_total_mb, `${g.name}: ${mb(g.vram_free_mb)} free of ${mb(g.vram_total_mb)}`))
            : h("p", { class: "muted small" }, "No graphics card found."),
        )
      : h("p", { class: "muted small" }, "No recent report, so its free capacity is unknown (and counted as none)."),
    bookedText(agent.booked),
  );
}

function bookedText(booked) {
  if (!booked) return null;
  const vram = Object.values(booked.vram_mb || {}).reduce((a, b) => a + b, 0);
  if (!vram && !booked.cpu_cores) return null;
  return h("p", { class: "small" }, `Held for work Chiffon placed here: ${mb(vram)} graphics memory, ${round(booked.cpu_cores)} cores.`);
}

function round(x) {
  return Math.round(x * 10) / 10;
}

// ---- playbooks ----------------------------------------------------------------------------------

const ACTION_NAMES = { deploy: "sets up", configure: "changes settings of", upgrade: "updates", restart: "restarts", remove: "removes", check: "checks", run: "runs" };

export function renderPlaybooks(main) {
  const filter = h("input", { id: "playbook-filter", type: "search", placeholder: "e.g. kuma" });
  const table = h("div", { id: "playbooks" }, h("p", { class: "muted" }, "Loading the catalogue…"));
  const extra = h("div");
  const matchBox = h("input", { id: "match-text", type: "search", placeholder: "e.g. set up the status page" });
  const matchOut = h("div", { class: "match-out", role: "status" });
  fill(
    main,
    h("h1", {}, "Playbooks"),
    h("p", { class: "lead" }, "What Chiffon can do with your homelab repository: each playbook, the service it is about and what it does to it."),
    h(
      "form",
      {
        class: "inline-form match",
        onsubmit: async (event) => {
          event.preventDefault();
          const q = matchBox.value.trim();
          if (!q) return;
          fill(matchOut, h("p", { class: "muted" }, "Looking…"));
          try {
            const m = await api(`/playbooks/match?q=${encodeURIComponent(q)}`);
            fill(matchOut, matchResult(m));
          } catch (error) {
            fill(matchOut, notice(error.message));
          }
        },
      },
      h("label", { for: "match-text" }, "Which playbook would do this?"),
      h("div", { class: "composer-row" }, matchBox, h("button", { type: "submit" }, "Find")),
    ),
    matchOut,
    h("div", { class: "filter" }, h("label", { for: "playbook-filter" }, "Filter the list"), filter),
    table,
    extra,
  );
  let items = [];
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = items.filter((p) => !q || [p.service, p.path, p.action, p.description || ""].some((x) => x.toLowerCase().includes(q)));
    fill(
      table,
      h(
        "table",
        { class: "catalogue" },
        h("caption", { class: "sr-only" }, "Playbooks"),
        h("thead", {}, h("tr", {}, ["Service", "What it does", "File", "Runs on", "Needs"].map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          {},
          shown.map((p) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, p.service),
              h("td", {}, p.description || `${ACTION_NAMES[p.action] || p.action} ${p.service}`),
              h("td", {}, h("code", {}, p.path)),
              h("td", {}, p.hosts.join(", ")),
              h("td", {}, needs(p.resources)),
            ),
          ),
        ),
      ),
      shown.length ? null : h("p", { class: "muted" }, "Nothing matches."),
    );
  };
  filter.addEventListener("input", draw);
  api("/playbooks")
    .then((page) => {
      items = page.items;
      draw();
      fill(
        extra,
        page.units && page.units.length
          ? h("p", { class: "muted small" }, `Read as ${page.units.length} deployable parts (playbooks, roles, task files, compose services).`)
          : null,
        page.problems && page.problems.length
          ? h(
              "div",
              { class: "notice warn" },
              h("p", {}, "Files Chiffon could not read:"),
              h("ul", {}, page.problems.map((p) => h("li", {}, `${p.file}, line ${p.line}: ${p.message}`))),
            )
          : null,
        page.encrypted && page.encrypted.length ? h("p", { class: "muted small" }, `Encrypted (vault) files left unopened: ${page.encrypted.join(", ")}`) : null,
      );
    })
    .catch((error) => fill(table, notice(error.message)));
  return null;
}

function needs(resources) {
  const parts = [];
  if (resources.gpu_vram_gb) parts.push(`${resources.gpu_vram_gb} GB GPU`);
  if (resources.cpu_cores) parts.push(`${resources.cpu_cores} cores`);
  return parts.join(", ") || "—";
}

function matchResult(m) {
  if (m.verdict === "none") {
    // The advice is the planner's own answer (what a request with this text would ask).
    return h("p", { class: "notice warn" }, m.advice || "No playbook does that yet: a custom playbook is needed.");
  }
  const top = m.candidates.slice(0, m.verdict === "ambiguous" ? 3 : 1);
  return h(
    "div",
    {},
    h("p", {}, m.verdict === "ambiguous" ? "A few could; be more specific:" : "This one:"),
    h("ul", {}, top.map((c) => h("li", {}, h("code", {}, c.entrypoint ? c.entrypoint.playbook : c.path), ` (${c.service}): ${c.why}`))),
  );
}

// ---- suggestions ---------------------------------------------------------------------------------

export function renderSuggestions(main) {
  const status = h("div", { id: "suggestions-status" });
  const body = h("div", { id: "suggestions", class: "suggestions" });
  fill(
    main,
    h("h1", {}, "Suggestions"),
    h(
      "p",
      { class: "lead" },
      "What an experienced homelabber would fix in your playbook repository, most important first. Where the fix is mechanical, Chiffon can apply it for you: it checks the change and commits it.",
    ),
    status,
    body,
  );
  const applied = new Map();
  let state = null;
  const draw = () => {
    const report = state && state.report;
    fill(status, state && state.loading ? progressView(state) : null, state && state.error ? notice(`Could not read the suggestions: ${state.error}`) : null);
    body.dataset.state = report ? (report.lint.status === "running" ? "linting" : "done") : "loading";
    if (!report) return;
    const folded = report.groups.reduce((sum, g) => sum + g.count, 0);
    keepOpen(body, () => fill(
      body,
      h(
        "p",
        { class: "small", id: "suggestions-count" },
        `${plural(report.items.length, "finding")} that matter${report.items.length === 1 ? "s" : ""}`,
        folded ? `, ${folded} more folded below` : "",
        ".",
      ),
      reportView(report, applied, (item) => applyFinding(item, applied, draw), { emptyText: "Nothing that matters: no medium or high-severity finding." }),
    ));
  };
  const stop = watchSuggestions((next) => {
    state = next;
    draw();
  });
  return stop;
}

// ---- history (audit) ---------------------------------------------------------------------------------

export function renderAudit(main, params) {
  const service = params.get("service") || "";
  // History opens on what happened lately; failures and one service's changes are a click away.
  const failures = !service && params.get("view") === "failures";
  const out = h("div", { id: "audit-results" }, h("p", { class: "muted" }, "Loading…"));
  const serviceInput = h("input", { id: "audit-service", name: "service", value: service, list: "audit-services", placeholder: "e.g. kuma", required: true });
  const options = h("datalist", { id: "audit-services" });
  fill(
    main,
    h("h1", {}, "History"),
    h("p", { class: "lead" }, "Every step Chiffon ran is recorded, with an entry in the audit trail (a git repository) that says who approved what and how it went."),
    h(
      "div",
      { class: "tabs", role: "group", "aria-label": "What to show" },
      h("a", { href: "#/audit", class: "tab", "aria-current": service || failures ? null : "page" }, "Recent activity"),
      h("a", { href: "#/audit?view=failures", class: "tab", "aria-current": failures ? "page" : null }, "Failures in the last week"),
      h(
        "form",
        {
          class: "tab-form",
          onsubmit: (event) => {
            event.preventDefault();
            const value = serviceInput.value.trim();
            if (value) location.hash = `#/audit?service=${encodeURIComponent(value)}`;
          },
        },
        h("label", { for: "audit-service" }, "Changes to a service"),
        serviceInput,
        options,
        h("button", { type: "submit" }, "Show"),
      ),
    ),
    out,
  );
  api("/playbooks")
    .then((page) => fill(options, [...new Set(page.items.map((p) => p.service))].sort().map((s) => h("option", { value: s }))))
    .catch(() => {});
  const weekAgo = new Date(Date.now() - 7 * 86400 * 1000).toISOString();
  const query = service
    ? `/tasks?service=${encodeURIComponent(service)}&limit=200`
    : failures
      ? `/tasks?status=failed&since=${encodeURIComponent(weekAgo)}&limit=200`
      : "/tasks?order=desc&limit=50";
  const title = service ? `Changes to ${service}` : failures ? "Failures in the last week" : "Recent activity";
  api(query)
    .then((page) => {
      const items = page.items.slice().sort((a, b) => (b.created_at > a.created_at ? 1 : -1));
      fill(
        out,
        h("h2", {}, title, h("span", { class: "muted small" }, ` (${items.length})`)),
        items.length
          ? h(
              "table",
              { class: "tasks" },
              h("caption", { class: "sr-only" }, title),
              h("thead", {}, h("tr", {}, ["When", "Step", "Result", "Service", "Details", ""].map((c) => h("th", { scope: "col" }, c)))),
              h(
                "tbody",
                {},
                items.map((t) =>
                  h(
                    "tr",
                    { dataset: { taskId: t.id } },
                    h("td", {}, ago(t.finished_at || t.created_at)),
                    h("th", { scope: "row" }, h("a", { href: `#/r/${t.request_id}` }, t.title)),
                    h("td", {}, badge(STEP_STATUS, shownTaskStatus(t))),
                    h("td", {}, t.service_touched || "—"),
                    h("td", { class: "small" }, t.error || t.outcome || ""),
                    h("td", {}, h("a", { href: `#/audit/${t.id}` }, "Audit entry")),
                  ),
                ),
              ),
            )
          : h(
              "p",
              {},
              service ? `Chiffon has not changed ${service} yet.` : failures ? "No failures in the last week." : "Nothing has run yet. Approved plans show up here as they run.",
            ),
      );
    })
    .catch((error) => fill(out, notice(error.message)));
  return null;
}

// ---- one audit entry ---------------------------------------------------------------------------------

export function renderAuditEntry(main, taskId) {
  const body = h("div", { id: "audit-entry" }, h("p", { class: "muted" }, "Loading the audit entry…"));
  fill(main, h("p", {}, h("a", { href: "#/audit" }, "← History")), h("h1", {}, "Audit entry"), body);
  load(body, taskId);
  return null;
}

async function load(body, taskId) {
  let entry = null;
  try {
    entry = await api(`/audit/${encodeURIComponent(taskId)}`);
  } catch (error) {
    if (!isUnknownRoute(error)) {
      fill(body, notice(error.message));
      return;
    }
  }
  let task = null;
  try {
    task = await api(`/tasks/${encodeURIComponent(taskId)}`);
  } catch (error) {
    if (!entry) {
      fill(body, notice(error.message));
      return;
    }
  }
  // Who approved it: the request's decisions (the audit entry records the run, not the person).
  let request = null;
  const requestId = (task && task.request_id) || (entry && entry.entry && entry.entry.details && entry.entry.details.request && entry.entry.details.request.id);
  if (requestId) {
    try {
      request = await api(`/requests/${encodeURIComponent(requestId)}`);
    } catch {
      request = null;
    }
  }
  fill(body, entryView(taskId, entry, task, request));
}

/** "Lola (web page), 4 Dec 2026, 23:40, plan v2": who approved the plan version that ran. */
function approvalWords(task, request) {
  if (!request || !request.decisions) return null;
  const version = task ? task.plan_version : request.plan.version;
  const approval = request.decisions.filter((d) => d.kind === "approved" && d.plan_version === version).pop();
  if (!approval) return null;
  return `${approval.actor}, ${new Date(approval.at).toLocaleString()} (plan v${approval.plan_version})`;
}

/** What ran: the playbook with its limit, tags and switches, from the entry's dispatch. */
function whatRan(entry, task) {
  const details = entry && entry.entry && entry.entry.details;
  const step = details && details.plan && details.plan.step;
  const playbook = (details && details.dispatch && details.dispatch.playbook) || (task && task.playbook);
  if (!playbook) return null;
  const parts = [playbook];
  if (step && step.limit) parts.push(`limited to ${step.limit}`);
  if (step && step.tags && step.tags.length) parts.push(`tags ${step.tags.join(", ")}`);
  return parts.join(", ");
}

function entryView(taskId, entry, task, request) {
  const commit = (entry && entry.commit) || (task && task.audit_commit);
  const state = entry ? entry.state : commit ? "written" : "queued";
  const approved = approvalWords(task, request);
  const ran = whatRan(entry, task);
  return [
    task ? h("p", { class: "lead" }, task.title, " ", badge(STEP_STATUS, shownTaskStatus(task))) : null,
    request ? h("p", {}, "Asked: “", request.text, "”") : null,
    h(
      "dl",
      { class: "facts wide" },
      h("dt", {}, "Approved by"),
      h("dd", { id: "audit-approver" }, approved || "not recorded"),
      ran ? [h("dt", {}, "What ran"), h("dd", { id: "audit-ran" }, h("code", {}, ran))] : null,
      h("dt", {}, "Task"),
      h("dd", {}, h("code", {}, taskId)),
      h("dt", {}, "Commit"),
      h("dd", { id: "audit-commit" }, commit ? h("code", {}, commit) : "not written yet"),
      h("dt", {}, "State"),
      h("dd", { id: "audit-state" }, state === "written" ? "Written to the audit trail" : "Waiting to be written (the audit repository was busy or unavailable)"),
      entry && entry.file ? [h("dt", {}, "File"), h("dd", {}, h("code", {}, entry.file))] : null,
      task ? [h("dt", {}, "Request"), h("dd", {}, h("a", { href: `#/r/${task.request_id}` }, task.request_id))] : null,
      task && task.agent_id ? [h("dt", {}, "Agent"), h("dd", {}, task.agent_id)] : null,
      task && task.started_at ? [h("dt", {}, "Ran"), h("dd", {}, new Date(task.started_at).toLocaleString(), task.finished_at ? ` for ${duration((Date.parse(task.finished_at) - Date.parse(task.started_at)) / 1000)}` : "")] : null,
      task && task.outcome ? [h("dt", {}, "Outcome"), h("dd", {}, task.outcome)] : null,
      task && task.error ? [h("dt", {}, "Error"), h("dd", { class: "step-error" }, task.error)] : null,
      task && task.warnings && task.warnings.length
        ? [h("dt", {}, "Warnings"), h("dd", {}, h("ul", { class: "warnings" }, task.warnings.map((w) => h("li", {}, w))))]
        : null,
    ),
    entry && entry.entry
      ? h(
          "details",
          { class: "audit-raw" },
          h("summary", {}, "The entry as recorded (JSON)"),
          h("pre", { class: "json", id: "audit-json", tabindex: "0" }, JSON.stringify(entry.entry, null, 2)),
        )
      : h(
          "p",
          { class: "muted", id: "audit-fallback" },
          commit
            ? `This server cannot show the entry's text yet. Read it with: git -C <data-dir>/audit show ${commit}`
            : "The entry is written when the step finishes.",
        ),
    task && task.annotations && task.annotations.length
      ? h("section", {}, h("h2", {}, "Notes"), h("ul", {}, task.annotations.map((a) => h("li", {}, `${a.author}: ${a.text}`))))
      : null,
  ];
}
