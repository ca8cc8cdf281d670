// A plan's questions, answered with a click: each open question shows its choices as buttons,
// and a template offer a small form (image, port) that has Chiffon write the playbook and plan
// again. Also: text in `backticks` shown as code, and a request that cannot run shown as
// "needs your answer" rather than waiting for an approval.

import { h } from "./dom.js";

/** Plain text with `backticked` parts as <code> (built as nodes, never parsed as HTML). */
export function richText(text) {
  const parts = String(text ?? "").split("`");
  // An unmatched backtick is shown as it is.
  if (parts.length % 2 === 0) return [String(text)];
  return parts.map((part, i) => (i % 2 ? h("code", {}, part) : part)).filter((p) => p !== "");
}

/** True when the plan cannot run: no step, or a question still open. */
export function needsAnswer(plan) {
  return Boolean(plan) && (plan.steps.length === 0 || plan.open_questions.length > 0);
}

/** The status a person should see: "needs_answer" instead of waiting for an approval. */
export function shownStatus(request) {
  if (request.status === "awaiting_approval" && needsAnswer(request.plan)) return "needs_answer";
  // A run that warned is not a plain success, in a listing as on its own page.
  if (request.outcome === "succeeded_with_warnings") return request.outcome;
  return request.status;
}

/** The open questions of `plan`, as structured questions (older plans say them in words only). */
function openQuestions(plan) {
  const structured = (plan.questions || []).filter((q) => !q.answer);
  const words = plan.open_questions
    .filter((text) => !structured.some((q) => q.text === text))
    .map((text, i) => ({ id: `words-${i}`, text, choices: [] }));
  return [...structured, ...words];
}

/**
 * The "Chiffon needs to know" block of a plan card. `onAnswer(body)` posts an answer; without it
 * (a replaced plan, or one no longer awaiting approval) the questions are shown without buttons.
 */
export function questionBlock(plan, { onAnswer, busy } = {}) {
  const open = openQuestions(plan);
  const answered = (plan.questions || []).filter((q) => q.answer);
  if (!open.length && !answered.length) return null;
  return h(
    "div",
    { class: "questions", role: "note" },
    open.length ? h("h3", {}, "Chiffon needs your answer") : null,
    open.length
      ? h(
          "ul",
          {},
          open.map((question) =>
            h(
              "li",
              { class: "question", dataset: { questionId: question.id } },
              h("p", { class: "question-text" }, richText(question.text)),
              onAnswer ? choiceButtons(question, onAnswer, busy) : null,
              onAnswer && question.template ? templateForm(question, onAnswer, busy) : null,
            ),
          ),
        )
      : null,
    answered.length
      ? h(
          "p",
          { class: "small answered" },
          "You answered: ",
          answered.map((q, i) => [i ? "; " : "", answerLabel(q)]),
        )
      : null,
  );
}

function answerLabel(question) {
  if (question.answer === "template-written") return `a template was written for ${question.template?.service || "the service"}`;
  const choice = (question.choices || []).find((c) => c.id === question.answer);
  return choice ? choice.label : question.answer;
}

function choiceButtons(question, onAnswer, busy) {
  if (!question.choices || !question.choices.length) return null;
  return h(
    "div",
    { class: "actions choices", role: "group", "aria-label": "Choices" },
    question.choices.map((choice) =>
      h(
        "button",
        {
          type: "button",
          class: "choice",
          disabled: busy,
          dataset: { choice: choice.id },
          onclick: () => onAnswer({ question_id: question.id, choice: choice.id }),
        },
        choice.label,
      ),
    ),
  );
}

function templateForm(question, onAnswer, busy) {
  const offer = question.template;
  const key = offer.service.replace(/[^a-z0-9-]/g, "");
  const image = h("input", {
    id: `template-image-${key}`,
    name: "image",
    required: true,
    autocomplete: "off",
    placeholder: offer.image ? `${offer.image}:1.2.3` : "image:tag",
    value: offer.image ? `${offer.image}:` : "",
  });
  const port = h("input", {
    id: `template-port-${key}`,
    name: "port",
    type: "number",
    min: 1,
    max: 65535,
    required: true,
    value: offer.port ?? "",
  });
  return h(
    "form",
    {
      class: "inline-form template-form",
      onsubmit: (event) => {
        event.preventDefault();
        const number = Number(port.value);
        onAnswer({ question_id: question.id, template: { image: image.value.trim(), port: number } });
      },
    },
    h("p", { class: "small" }, `Chiffon writes a playbook and role for ${offer.service} to your repository (nothing runs), then makes a new plan for you to read and approve.`),
    h("label", { for: image.id }, "Image, with a pinned version"),
    image,
    h("label", { for: port.id }, "Port it listens on"),
    port,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: `template-send-${key}`, disabled: busy }, "Generate the template")),
  );
}
