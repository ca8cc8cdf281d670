// Chiffon's web UI in a real headless Chromium against a real `chiffon serve` running real
// ansible-playbook (run.sh starts both servers). Each step asserts what a person would see,
// and waits for it with a deadline: never a bare sleep.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const URL = process.env.CHIFFON_URL;
const TOKEN_URL = process.env.CHIFFON_TOKEN_URL;
const TOKEN = process.env.CHIFFON_TOKEN;
const ARTEFACTS = process.env.ARTEFACTS || "artefacts";
const KUMA = "Deploy Uptime Kuma to the homelab and add our existing portals to its config";
/** Real playbooks run here: generous, but bounded. */
const RUN_TIMEOUT = 120_000;

let context;
let page;
let profile;
const consoleErrors = [];

before(async () => {
  assert.ok(URL, "CHIFFON_URL is not set: run tests/browser/run.sh");
  profile = mkdtempSync(join(tmpdir(), "chiffon-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
    colorScheme: "light",
    reducedMotion: "reduce",
  });
  context.setDefaultTimeout(15_000);
  page = context.pages()[0] || (await context.newPage());
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function shot(name, target = page, fullPage = true) {
  await target.screenshot({ path: join(ARTEFACTS, `${name}.png`), fullPage });
}

/** The request page's status as the tracker shows it. */
async function waitForStatus(statuses, timeout = RUN_TIMEOUT) {
  const wanted = [].concat(statuses);
  await page.waitForFunction(
    (wanted) => wanted.includes(document.querySelector(".tracker")?.dataset.status),
    wanted,
    { timeout },
  );
  return page.locator(".tracker").getAttribute("data-status");
}

/**
 * No cell of the summary's table is squeezed to a letter a line (it once was, by a long title).
 * The cells are found and measured in one step inside the page: the summary is drawn again
 * when the suggestions arrive, and a cell found before that and measured after it is detached
 * (0 px wide) without anything being wrong on the screen.
 */
async function summaryTableFits(tab) {
  const cells = await tab.evaluate(() =>
    [...document.querySelectorAll("#summary table.results tbody td")].map((td) => {
      // The width the text needs on one line, in the cell's own font ("4 s" needs little).
      const probe = document.createElement("span");
      probe.style.cssText = "position:absolute;visibility:hidden;white-space:nowrap";
      probe.textContent = td.innerText.trim();
      td.appendChild(probe);
      const natural = probe.getBoundingClientRect().width;
      probe.remove();
      return { text: td.innerText.trim(), natural, width: td.getBoundingClientRect().width, height: td.getBoundingClientRect().height };
    }),
  );
  assert.ok(cells.length > 0, "the summary has a results table");
  for (const cell of cells) {
    if (!cell.text || cell.text === "—") continue;
    // A short value may be narrow; a longer one must keep room for at least a word.
    assert.ok(cell.width >= Math.min(40, cell.natural), `a result cell is ${cell.width}px wide: ${JSON.stringify(cell)}`);
    assert.ok(cell.height <= 90, `a result cell is ${cell.height}px tall: ${JSON.stringify(cell)}`);
  }
}

test("the page is served at / and works without any outside host", async () => {
  const outside = [];
  page.on("request", (request) => {
    const url = new globalThis.URL(request.url());
    if (!["127.0.0.1", "localhost"].includes(url.hostname) && url.protocol !== "data:") outside.push(request.url());
  });
  await page.goto(URL + "/");
  await page.getByRole("heading", { name: "What should Chiffon do?" }).waitFor();
  await page.locator("#live-state[data-state=live]").waitFor();
  assert.deepEqual(outside, []);
  // The API docs stay where they were.
  const docs = await page.request.get(URL + "/docs");
  assert.equal(docs.status(), 200);
});

let kumaId;

test("a typed request gets a plan card a person can read", async () => {
  await page.getByLabel("New request").fill(KUMA);
  await page.getByRole("button", { name: "Send request" }).click();
  await page.waitForURL(/#\/r\/req_/);
  kumaId = page.url().split("#/r/")[1];
  assert.equal(await waitForStatus("awaiting_approval", 15_000), "awaiting_approval");
  await page.getByText("Waiting for your approval").first().waitFor();

  const plan = page.locator("article.plan.current");
  await plan.getByRole("heading", { name: "Plan v1" }).waitFor();
  await plan.getByText("Approval needed").waitFor();
  await plan.locator(".badge[class*=risk-]").waitFor();
  assert.match(await plan.locator(".plan-summary").innerText(), /2 steps, about .* in all\. Made by Chiffon's built-in rules/);
  // Steps in order, in plain words, with their playbooks, estimates and needs.
  const steps = plan.locator("li.step");
  assert.equal(await steps.count(), 2);
  assert.match(await steps.nth(0).innerText(), /kuma-deployment\.yml/);
  assert.match(await steps.nth(0).locator(".step-words").innerText(), /^Sets up .*kuma/i);
  assert.match(await steps.nth(1).innerText(), /kuma-config-update\.yml/);
  assert.match(await steps.nth(1).innerText(), /After\s+“/);
  // Short titles; the portals (with their URLs) are a list under the title, not in it.
  const second = steps.nth(1);
  assert.match(await second.locator(".step-title").innerText(), /portals?$/);
  assert.doesNotMatch(await second.locator(".step-title").innerText(), /https?:/);
  assert.ok((await second.locator(".step-details li").count()) >= 1, "the portals are listed");
  assert.match(await plan.locator(".facts").first().innerText(), /Takes\s+about/);
  assert.ok((await plan.locator(".risk li").count()) >= 1, "the risk level comes with its reasons");
  // The history lists it.
  await page.locator(`#history-list a[data-request-id="${kumaId}"]`).waitFor();
  await shot("plan");
});

test("the dry run shows what each step would change, with the diffs", async () => {
  await page.getByRole("button", { name: "Show what would change (dry run)" }).click();
  await page.locator("article.plan.current .preview").first().waitFor({ timeout: RUN_TIMEOUT });
  const first = page.locator("article.plan.current li.step").first().locator(".preview");
  assert.equal(await first.getAttribute("data-outcome"), "would_change");
  await first.getByText(/Show the( \d+)? changes?/).click();
  await first.locator("pre.diff .add").first().waitFor();
  // Diffs name the files the playbook writes, not Ansible's temporary copies.
  const diffs = await first.locator("pre.diff").allInnerTexts();
  assert.ok(diffs.some((d) => /compose\.yml/.test(d)), diffs.join("\n"));
  assert.ok(diffs.every((d) => !/ansible-local-|\.ansible\/tmp/.test(d)), diffs.join("\n"));
  // The configuration step needs the deployment's files, which a dry run does not write: it is
  // checked after step 1 runs, said neutrally, not a red "Would fail".
  const second = page.locator("article.plan.current li.step").nth(1).locator(".preview");
  assert.equal(await second.getAttribute("data-outcome"), "checked_after");
  assert.match(await second.innerText(), /Checked after step 1 runs/);
  assert.doesNotMatch(await second.innerText(), /Would fail/);
  await page.getByText(/Dry run done/).waitFor();
  await shot("dry-run");
});

test("approving runs the steps live, then the summary shows results and the audit link", async () => {
  const approve = page.locator("#approve");
  const label = await approve.innerText();
  // The name this browser approves as, given once and kept, goes into the audit trail.
  await page.locator("#approver-name").fill("Lola");
  await approve.click();
  // The tracker moves through approved / executing to completed.
  await waitForStatus(["approved", "running", "succeeded"], 15_000);
  await page.locator(".run-step .ev-result").first().waitFor({ timeout: RUN_TIMEOUT });
  assert.equal(await waitForStatus(["succeeded", "failed", "aborted"]), "succeeded", await page.locator("main").innerText());
  // No container engine answers here: the deployment wrote the files but started nothing, and
  // its step says so instead of a plain "Done".
  await page.locator(".run-step[data-status=succeeded_with_warnings]").first().waitFor();
  await page.locator(".run-step[data-status=succeeded]").first().waitFor();
  assert.equal(await page.locator(".run-step[data-status=succeeded_with_warnings]").count(), 1);
  assert.equal(await page.locator(".run-step[data-status=succeeded]").count(), 1);
  const deploy = page.locator(".run-step").first();
  assert.match(await deploy.locator("ul.warnings").innerText(), /Uptime Kuma was not started on lola/);
  // Ansible's own task names arrived as they ran, each task on one line (its pending line
  // became its result), never twice.
  const log = await deploy.locator(".log-lines").innerText();
  assert.match(log, /Playbook kuma-deployment\.yml started[\s\S]*Recap: lola/);
  assert.equal(log.split("\n").filter((l) => l.includes("Render the Uptime Kuma compose file")).length, 1, log);
  assert.equal(await deploy.locator(".ev-start").count(), 0, log);
  // A finished plan no longer asks for approval.
  const plan = page.locator("article.plan.current");
  assert.equal(await plan.getByText("Approval needed").count(), 0);
  await plan.locator(".plan-head .badge", { hasText: "Approved" }).waitFor();
  await page.locator(".request-status .badge", { hasText: "Done with warnings" }).waitFor();

  const summary = page.locator("#summary");
  await summary.waitFor();
  assert.match(await summary.locator(".verdict").innerText(), /^Done with warnings: all 2 steps ran in .+, but 1 step warned \(see below\)\.$/);
  assert.match(await summary.locator(".summary-warnings").innerText(), /Step 1: Uptime Kuma was not started on lola/);
  assert.match(await summary.locator("tbody tr").first().innerText(), /Done with warnings/);
  await summaryTableFits(page);
  assert.equal(await summary.locator("tbody tr").count(), 2);
  assert.match(await summary.locator(".resources").innerText(), /Agents: infra-/);
  assert.match(await summary.locator(".resources").innerText(), /lola \(\d+ checks, \d+ changed\)/);
  await summary.locator("#suggestions-title").waitFor();
  // Chiffon's own findings come at once; ansible-lint's when its background run is done (the
  // page asks again until then): tens of seconds on a busy 2-core machine.
  await summary.locator(".suggestions[data-state=loaded]").waitFor({ timeout: RUN_TIMEOUT });
  await summary.locator(".lint-note").waitFor();
  assert.ok(label.startsWith("Approve plan v"));
  await shot("run");
  await summary.screenshot({ path: join(ARTEFACTS, "summary.png") });
});

test("a finished step shows what it changed on each machine, and the summary offers Undo", async () => {
  const changed = page.locator(".run-step .what-changed").nth(1);
  await changed.locator("summary").click();
  await changed.locator(".change-list li").first().waitFor({ timeout: RUN_TIMEOUT });
  const text = await changed.innerText();
  assert.match(text, /On lola/);
  assert.match(text, /file \S*monitors\.json/);
  assert.match(text, /absent → file/);
  assert.match(text, /Can be undone/);
  await page.locator("#summary #undo").waitFor();
  assert.equal(await page.locator("#summary #undo").innerText(), "Undo these changes");
});

test("the audit entry opens from the summary", async () => {
  await page.locator("#summary a.audit-link").first().click();
  await page.waitForURL(/#\/audit\/task_/);
  await page.getByRole("heading", { name: "Audit entry" }).waitFor();
  await page.waitForFunction(() => /^[0-9a-f]{40}$/.test(document.querySelector("#audit-commit code")?.textContent || ""));
  assert.match(await page.locator("#audit-state").innerText(), /Written to the audit trail/);
  // Readable first: who approved, when, what ran; the recorded JSON is folded away.
  assert.match(await page.locator("#audit-approver").innerText(), /^Lola \(web page\), .+ \(plan v1\)$/);
  assert.match(await page.locator("#audit-ran").innerText(), /kuma-deployment\.yml/);
  await shot("audit-entry");
  const raw = page.locator("details.audit-raw");
  assert.equal(await raw.getAttribute("open"), null);
  await raw.locator("summary").click();
  await page.locator("#audit-json").waitFor();
});

test("changing a plan shows the new version beside the old; approval names the version shown; reject", async () => {
  await page.goto(URL + "/#/");
  await page.getByLabel("New request").fill("Deploy Pi-hole");
  await page.getByRole("button", { name: "Send request" }).click();
  await page.waitForURL(/#\/r\/req_/);
  const id = page.url().split("#/r/")[1];
  await waitForStatus("awaiting_approval", 15_000);
  // Until the server has POST /requests/{id}/modify, the page says so plainly ...
  const api = await (await page.request.get(`${URL}/api/v1/openapi.json`)).json();
  const serverCanModify = "/api/v1/requests/{id}/modify" in api.paths;
  if (!serverCanModify) {
    await page.getByRole("button", { name: "Change the plan…" }).click();
    await page.getByLabel(/What should change/).fill("only on the staging host");
    await page.getByRole("button", { name: "Make a new plan" }).click();
    const unsupported = page.getByText("This Chiffon server cannot change a plan yet");
    await unsupported.waitFor();
    await unsupported.scrollIntoViewIfNeeded();
    await shot("modify-unsupported", page, false);
    // ... and the comparison is checked against the answer that endpoint is specified to give
    // (the request view with plan v2), the rest staying real.
    await page.route(`**/api/v1/requests/${id}/modify`, async (route) => {
      const current = await (await page.request.get(`${URL}/api/v1/requests/${id}`)).json();
      const plan = structuredClone(current.plan);
      plan.version = 2;
      plan.steps[0].limit = "staging";
      plan.steps[0].title += " (staging host only)";
      await route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ ...current, plan }) });
    });
  }
  await page.getByRole("button", { name: "Change the plan…" }).click();
  // Keyboard: the text box has the focus as soon as it opens.
  assert.equal(await page.evaluate(() => document.activeElement.id), "modify-text");
  await page.keyboard.type("only on the staging host");
  await page.getByRole("button", { name: "Make a new plan" }).click();
  const compare = page.locator(".plans.compare");
  await compare.getByRole("heading", { name: "Plan v1 (replaced)" }).waitFor();
  await compare.getByRole("heading", { name: "Plan v2", exact: true }).waitFor();
  await compare.scrollIntoViewIfNeeded();
  // Plan v2 says what changed from v1.
  const changes = compare.locator("article.plan.current .version-changes");
  await changes.getByRole("heading", { name: "What changed from v1" }).waitFor();
  assert.match(await changes.innerText(), /(Removed|Added|Changed): /);
  await shot("modify", page, false);
  const approve = page.getByRole("button", { name: "Approve plan v2" });
  if (!serverCanModify) {
    await compare.locator("article.plan.current .badge", { hasText: "new in this version" }).waitFor();
    // The server's plan is still v1: approving the v2 on screen is refused, nothing runs.
    const sent = page.waitForRequest((r) => r.url().endsWith(`/requests/${id}/approve`));
    await approve.click();
    assert.deepEqual((await sent).postDataJSON(), { plan_version: 2, by: "Lola (web page)" });
    await page.getByText(/you approved plan v2 but the current plan is v1/).waitFor();
    await page.unroute(`**/api/v1/requests/${id}/modify`);
  } else {
    await approve.waitFor();
  }
  assert.equal(await page.locator(".tracker").getAttribute("data-status"), "awaiting_approval");
  await page.getByRole("button", { name: "Reject…" }).click();
  await page.getByLabel(/Why not/).fill("not during movie night");
  await page.getByRole("button", { name: "Reject this plan" }).click();
  assert.equal(await waitForStatus("rejected", 15_000), "rejected");
  await page.getByText("You rejected this plan: “not during movie night”. Nothing was run.").waitFor();
});

test("a running request can be aborted mid-way from the page", async () => {
  await page.goto(URL + "/#/");
  const box = page.getByLabel("New request");
  await box.fill("Deploy PhotoPrism");
  await box.press("Control+Enter");
  await page.waitForURL(/#\/r\/req_/);
  await waitForStatus("awaiting_approval", 15_000);
  await page.locator("#approve").click();
  // The long step is running: its first task has reported and the pause has started.
  const step = page.locator(".run-step").first();
  await step.locator(".ev-start", { hasText: "Index the photo library" }).waitFor({ timeout: RUN_TIMEOUT });
  assert.equal(await step.getAttribute("data-status"), "running");
  await page.getByRole("button", { name: "Abort this run" }).click();
  await page.getByRole("button", { name: "Yes, abort" }).click();
  assert.equal(await waitForStatus(["succeeded", "failed", "aborted"], 60_000), "aborted");
  await page.locator(".run-step[data-status=aborted]").first().waitFor();
  await page.locator("#summary .verdict", { hasText: /^Aborted/ }).waitFor();
  assert.match(await page.locator("#summary").innerText(), /Aborted from the web page/);
  // The playbook it ran has a suggestion with a mechanical fix: accept it from the summary.
  const suggestion = page.locator("#summary li.suggestion", { hasText: "changed_when: false" });
  await suggestion.waitFor({ timeout: RUN_TIMEOUT });
  assert.match(await suggestion.innerText(), /photoprism-deployment\.yml, line \d+/);
  await shot("aborted");
  await suggestion.getByRole("button", { name: "Accept and apply" }).click();
  await suggestion.getByText(/^Applied and committed to the playbook repository as [0-9a-f]{12}\.$/).waitFor({ timeout: 60_000 });
});

test("a long log stays a page long in the DOM, with earlier lines a click away", async () => {
  const seen = await page.evaluate(async () => {
    const { Log } = await import("/ui/run.js");
    const log = new Log("task_long");
    log.merge([]);
    document.querySelector("main").append(log.root);
    for (let i = 0; i < 5000; i++) log.add({ kind: "task_result", task: `task ${i}`, host: "lola", status: "ok", duration_ms: 3 });
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    const lines = log.list.childElementCount;
    const last = log.list.lastElementChild.textContent;
    log.more.click();
    return { lines, last, after: log.list.childElementCount, more: log.more.textContent, count: log.count.textContent };
  });
  assert.equal(seen.lines, 200);
  assert.match(seen.last, /task 4999 on lola/);
  assert.equal(seen.after, 400);
  assert.equal(seen.more, "Show earlier lines (4600 hidden)");
  assert.equal(seen.count, "(5000 lines)");
});

test("the agents view shows each agent's status and free capacity as bars", async () => {
  await page.getByRole("link", { name: "Agents" }).click();
  const infra = page.locator("article.agent[data-agent-id^=infra-]");
  await infra.waitFor();
  assert.equal(await infra.getAttribute("data-status"), "online");
  const desktop = page.locator("article.agent[data-agent-id^=desktop-]");
  await desktop.locator('[role=meter][aria-label^="CPU"]').waitFor();
  await desktop.locator('[role=meter][aria-label^="Memory"]').waitFor();
  assert.match(await desktop.innerText(), /cores free/);
  await shot("agents");
});

test("the playbook catalogue and the history views answer", async () => {
  await page.getByRole("link", { name: "Playbooks" }).click();
  await page.locator("table.catalogue tbody tr").first().waitFor();
  await page.getByLabel("Filter the list").fill("kuma");
  await page.waitForFunction(() => document.querySelectorAll("table.catalogue tbody tr").length === 2);
  await page.getByLabel("Which playbook would do this?").fill("set up the status page");
  await page.getByRole("button", { name: "Find" }).click();
  await page.locator(".match-out code", { hasText: "kuma-deployment.yml" }).waitFor();
  await shot("playbooks");

  await page.getByRole("link", { name: "History" }).click();
  // History opens on what happened lately, not on an empty list of failures.
  await page.getByRole("heading", { name: /Recent activity/ }).waitFor();
  assert.ok((await page.locator("table.tasks tbody tr").count()) >= 2);
  await page.getByRole("link", { name: "Failures in the last week" }).click();
  await page.getByRole("heading", { name: /Failures in the last week/ }).waitFor();
  await page.getByLabel("Changes to a service").fill("kuma");
  await page.getByRole("button", { name: "Show" }).click();
  await page.getByRole("heading", { name: /Changes to kuma/ }).waitFor();
  assert.ok((await page.locator("table.tasks tbody tr").count()) >= 2);
  await shot("history");
});

test("the suggestions view shows progress, ranks what matters, folds the rest, and keeps Apply after an error", async () => {
  // Hold the first answer until the page has shown that it is looking; then answer it as if
  // ansible-lint were still running, so the page must show that and ask again by itself.
  let release;
  const held = new Promise((resolve) => (release = resolve));
  let asked = 0;
  await page.route("**/api/v1/suggestions", async (route) => {
    asked += 1;
    if (asked > 1) return route.continue();
    await held;
    const response = await route.fetch();
    const body = await response.json();
    body.lint = { status: "running", message: "ansible-lint is checking the repository in the background (3 s so far); its findings are added to the next answer once it is done.", seconds: null, cached: false };
    return route.fulfill({ response, json: body });
  });
  await page.getByRole("link", { name: "Suggestions" }).click();
  await page.getByRole("heading", { name: "Suggestions", exact: true }).waitFor();
  await page.locator(".suggest-progress", { hasText: "Looking for improvements" }).waitFor();
  release();
  const body = page.locator("#suggestions");
  await body.locator(".lint-note[data-lint=running]", { hasText: "Looking for more with ansible-lint" }).waitFor();
  // Chiffon's own findings are there while ansible-lint runs.
  assert.ok((await body.locator("li.suggestion").count()) >= 1);
  await shot("suggestions-linting");
  // It asks again by itself until ansible-lint is done (or has said why not).
  await page.waitForFunction(() => document.querySelector("#suggestions")?.dataset.state === "done", null, { timeout: RUN_TIMEOUT });
  assert.ok(asked >= 2, "the page asked again");
  assert.notEqual(await body.locator(".lint-note").getAttribute("data-lint"), "running");
  await page.unroute("**/api/v1/suggestions");

  // What matters first: the example's web UIs published beside the reverse proxy, saying why.
  const first = body.locator("li.suggestion").first();
  assert.match(await first.innerText(), /publishes .* on every interface/);
  assert.match(await body.innerText(), /the reverse proxy already serves this UI/);
  // Code in a finding's words (`condition: service_healthy`) shows as code, not as backticks.
  assert.ok((await body.locator("li.suggestion strong code").count()) >= 1);
  assert.doesNotMatch(await body.evaluate((el) => el.textContent), /`condition: service_healthy`/);
  // The rest folded per rule, with a count, each finding a click away.
  const health = body.locator('details.suggestion-group[data-rule="no-healthcheck"]');
  assert.ok(Number(await health.getAttribute("data-count")) >= 1);
  assert.match(await health.locator(":scope > summary").innerText(), /^\d+ × no-healthcheck — Containers without a healthcheck/);
  await health.locator(":scope > summary").click();
  await health.locator("li.suggestion").first().waitFor();
  await shot("suggestions");

  // A refused apply shows why and leaves the button to try again.
  await page.route("**/api/v1/suggestions/*/apply", (route) =>
    route.fulfill({ status: 409, json: { error: { code: "repository_not_ready", message: "the playbook repository has staged changes; commit or unstage them first" } } }),
  );
  await first.getByRole("button", { name: "Accept and apply" }).click();
  await first.getByText("Not applied: the playbook repository has staged changes; commit or unstage them first").waitFor();
  const again = first.getByRole("button", { name: "Try again" });
  assert.equal(await again.isEnabled(), true);
  await page.unroute("**/api/v1/suggestions/*/apply");
  await again.click();
  await first.getByText(/^Applied and committed to the playbook repository as [0-9a-f]{12}\.$/).waitFor({ timeout: 60_000 });

  // Applied, it can be undone from the same place. A refusal is said in plain words under the
  // button, and nothing opens.
  await page.route("**/api/v1/suggestions/applied/*/revert", (route) =>
    route.fulfill({ status: 409, json: { error: { code: "file_changed", message: "conflict: later commits changed the same lines of stacks/jellyfin/compose.yml since commit 3f2a9c1; resolve it with `git revert 3f2a9c1` in the playbook repository yourself" } } }),
  );
  await first.getByRole("button", { name: "Undo this change" }).click();
  await first.getByText(/^Cannot undo: later changes to the playbook repository touch the same lines\./).waitFor();
  assert.match(page.url(), /#\/suggestions$/);
  await page.unroute("**/api/v1/suggestions/applied/*/revert");
  // The undo is a new request reverting that commit, opened to preview and approve.
  await first.getByRole("button", { name: "Undo this change" }).click();
  await page.waitForURL(/#\/r\/req_/);
  await page.getByText(/Revert playbook commit [0-9a-f]+ as a new commit/).first().waitFor();
  await page.getByRole("button", { name: /^Approve plan v1/ }).waitFor();

  const phone = await context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(`${URL}/#/suggestions`);
  await phone.locator("#suggestions li.suggestion").first().waitFor();
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await shot("phone-suggestions", phone);
  await phone.close();
});

test("on a phone-width screen the plan and the agents fit", async () => {
  const phone = await context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(`${URL}/#/r/${kumaId}`);
  await phone.locator("#summary").waitFor();
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await summaryTableFits(phone);
  await shot("phone-request", phone);
  await phone.close();
});

test("a server that requires a token asks for it once and keeps it for the session", async () => {
  if (!TOKEN_URL) return;
  const tab = await context.newPage();
  await tab.goto(TOKEN_URL + "/");
  const dialog = tab.getByRole("dialog", { name: "This Chiffon needs its access token" });
  await dialog.waitFor();
  await shot("token", tab);
  await tab.getByLabel("Access token", { exact: true }).fill("wrong");
  await tab.getByRole("button", { name: "Use this token" }).click();
  await dialog.getByText("That token was not accepted").waitFor();
  await tab.getByLabel("Access token", { exact: true }).fill(TOKEN);
  await tab.getByRole("button", { name: "Use this token" }).click();
  await dialog.waitFor({ state: "hidden" });
  await tab.getByText("No requests yet.").waitFor();
  await tab.locator("#live-state[data-state=live]").waitFor();
  // Other screens use the kept token without asking again.
  await tab.getByRole("link", { name: "Agents" }).click();
  await tab.getByText(/No agent has connected yet/).waitFor();
  assert.equal(await dialog.isVisible(), false);
  await tab.close();
});

test("a question is answered with a click: its choices are buttons and the next plan can be approved", async () => {
  await page.goto(URL + "/#/");
  await page.getByLabel("New request").fill("uptime kuma");
  await page.getByRole("button", { name: "Send request" }).click();
  await page.waitForURL(/#\/r\/req_/);
  const id = page.url().split("#/r/")[1];
  await waitForStatus("awaiting_approval", 15_000);
  // A plan that cannot run waits for an answer, not for an approval.
  await page.locator(".request-status").getByText("Needs your answer").waitFor();
  await page.locator(`#history-list a[data-request-id="${id}"]`).getByText("Needs your answer").waitFor();
  const plan = page.locator("article.plan.current");
  await plan.getByText("Chiffon needs your answer").waitFor();
  assert.ok(await page.getByRole("button", { name: "Approve plan v1" }).isDisabled());
  await shot("question");
  const sent = page.waitForRequest((r) => r.url().endsWith(`/requests/${id}/answer`));
  await plan.getByRole("button", { name: "Deploy", exact: true }).click();
  assert.deepEqual((await sent).postDataJSON(), { question_id: "verb:kuma", choice: "deploy" });
  const next = page.locator("article.plan.current");
  await next.getByRole("heading", { name: "Plan v2", exact: true }).waitFor();
  await next.getByText("You answered: Deploy").waitFor();
  assert.match(await next.locator("li.step").first().innerText(), /kuma-deployment\.yml/);
  assert.ok(await page.getByRole("button", { name: "Approve plan v2" }).isEnabled());
  await page.locator(".request-status").getByText("Waiting for your approval").waitFor();
  await page.getByRole("button", { name: "Reject…" }).click();
  await page.getByLabel(/Why not/).fill("only trying the answer buttons");
  await page.getByRole("button", { name: "Reject this plan" }).click();
  assert.equal(await waitForStatus("rejected", 15_000), "rejected");
});

test("a template offer is a form with image and port, and backticks show as code", async () => {
  await page.goto(URL + "/#/");
  await page.getByLabel("New request").fill("Generate a template for Navidrome");
  await page.getByRole("button", { name: "Send request" }).click();
  await page.waitForURL(/#\/r\/req_/);
  await waitForStatus("awaiting_approval", 15_000);
  const plan = page.locator("article.plan.current");
  const question = plan.locator("li.question").first();
  await question.waitFor();
  // The command in the question is code, not text between backticks.
  assert.match(await question.locator(".question-text code").first().innerText(), /^chiffon playbooks template navidrome/);
  assert.ok(!(await question.locator(".question-text").innerText()).includes("`"));
  // The catalogue's usual image and port are filled in; the person pins a version.
  assert.equal(await question.getByLabel("Port it listens on").inputValue(), "4533");
  await question.getByLabel("Image, with a pinned version").fill("deluan/navidrome:0.53.3");
  await shot("template-offer");
  await question.getByRole("button", { name: "Generate the template" }).click();
  const next = page.locator("article.plan.current");
  await next.getByRole("heading", { name: "Plan v2", exact: true }).waitFor();
  await next.getByText(/a template was written for navidrome/).waitFor();
  assert.match(await next.locator("li.step").first().innerText(), /navidrome-deployment\.yml/);
  assert.ok(await page.getByRole("button", { name: "Approve plan v2" }).isEnabled());
});

test("the page logged no errors", () => {
  // Chromium logs every 4xx fetch; the ones the page handles (the token prompt, a missing
  // route, a refused approval) are expected. Anything else here is a bug.
  const real = consoleErrors.filter((e) => !/^Failed to load resource: the server responded with a status of (401|404|409)/.test(e));
  assert.deepEqual(real, []);
});
