// The page's entry point: a hash router over the screens (requests, agents, playbooks,
// history) and the one live event stream they share.

import { live } from "./api.js";
import { renderChat } from "./chat.js";
import { renderAgents, renderPlaybooks, renderSuggestions, renderAudit, renderAuditEntry } from "./views.js";
import { h, fill } from "./dom.js";

const main = document.getElementById("main");
let cleanup = null;

const ROUTES = [
  [/^#?\/?$/, "chat", () => renderChat(main, null)],
  [/^#\/r\/([\w-]+)$/, "chat", (m) => renderChat(main, m[1])],
  [/^#\/agents$/, "agents", () => renderAgents(main)],
  [/^#\/playbooks$/, "playbooks", () => renderPlaybooks(main)],
  [/^#\/suggestions$/, "suggestions", () => renderSuggestions(main)],
  [/^#\/audit$/, "audit", () => renderAudit(main, new URLSearchParams())],
  [/^#\/audit\?(.*)$/, "audit", (m) => renderAudit(main, new URLSearchParams(m[1]))],
  [/^#\/audit\/([\w-]+)$/, "audit", (m) => renderAuditEntry(main, m[1])],
];

const TITLES = { chat: "Requests", agents: "Agents", playbooks: "Playbooks", suggestions: "Suggestions", audit: "History" };

function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const hash = location.hash || "#/";
  for (const [pattern, section, render] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = `${TITLES[section]} · Chiffon`;
    cleanup = render(match) || null;
    return;
  }
  fill(main, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Back to requests")));
}

window.addEventListener("hashchange", () => {
  route();
  // Move focus to the new screen so keyboard and screen-reader users land on it.
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
});
live.start();
route();
