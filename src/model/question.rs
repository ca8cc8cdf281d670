//! A question a plan asks the person, with the choices that answer it, and the answers given:
//! what `POST /requests/{id}/answer`, `chiffon answer` and the UI's choice buttons work on.
//!
//! A question's id names what is asked about, not its position (`service`, `verb:kuma`,
//! `instance:postgres`, `target:mars`, `reach:kuma-deployment.yml`, `template:navidrome`, an
//! upgrade's `version:jellyfin`, an undo's `conflict:lola:/srv/kuma/monitors.json`, and
//! `none:booklore` when the repository has nothing to run for it), so the planner asked again
//! with the answers finds the one it would ask and uses the choice.

use serde::{Deserialize, Serialize};

use crate::model::Plan;

/// One question of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Question {
    /// Stable across the plan versions of one request: what the question is about.
    pub id: String,
    /// The question in plain words (the same text as in `open_questions` while it is open).
    pub text: String,
    /// What the person can pick; empty when only a change in words can answer it.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// A template offer: generating a playbook for the service answers the question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateOffer>,
    /// The choice id the person gave; answered questions stay on the plan as the record, and
    /// the next version (made by another answer) keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

/// One thing the person can answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Choice {
    /// What `chiffon answer <request> <id>` takes: a service id, a verb, a group, …
    pub id: String,
    /// How a person reads it.
    pub label: String,
}

/// A playbook template the person can have written to answer the question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TemplateOffer {
    pub service: String,
    /// The service catalogue's usual image (without a tag: the person pins one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The catalogue's default port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// The choice id a template answer records.
pub const TEMPLATE_WRITTEN: &str = "template-written";

impl Question {
    /// A question only words can answer.
    pub fn open(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            text: text.into(),
            choices: Vec::new(),
            template: None,
            answer: None,
        }
    }

    /// A question with choices, given as `(id, label)`.
    pub fn with_choices(
        id: impl Into<String>,
        text: impl Into<String>,
        choices: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut question = Self::open(id, text);
        question.choices = choices
            .into_iter()
            .map(|(id, label)| Choice { id, label })
            .collect();
        question
    }

    /// The label of choice `id`, or `id` itself (a template answer has no listed choice).
    pub fn label_of(&self, id: &str) -> String {
        self.choices
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| id.to_owned(), |c| c.label.clone())
    }
}

impl Plan {
    /// True when the plan cannot run as it is: no step, or a question still open. Such a
    /// request waits for an answer (or a change), never for an approval.
    pub fn needs_answer(&self) -> bool {
        self.steps.is_empty() || !self.open_questions.is_empty()
    }

    /// The questions the person answered on the way to this version.
    pub fn answered(&self) -> Vec<Question> {
        self.questions
            .iter()
            .filter(|q| q.answer.is_some())
            .cloned()
            .collect()
    }

    /// The open question a person means: by id, or the one whose choices include `choice`
    /// (or, for a template answer, the one open template offer).
    pub fn open_question(&self, id: Option<&str>, choice: Option<&str>) -> Option<&Question> {
        let mut open = self.questions.iter().filter(|q| q.answer.is_none());
        match (id, choice) {
            (Some(id), _) => open.find(|q| q.id == id),
            (None, Some(choice)) => open.find(|q| q.choices.iter().any(|c| c.id == choice)),
            (None, None) => open.find(|q| q.template.is_some()),
        }
    }

    /// Every open question has a structured counterpart: a model-made plan only says them in
    /// words, so those get a question without choices (answered by a change in words).
    pub fn index_questions(&mut self) {
        for (n, text) in self.open_questions.iter().enumerate() {
            if !self
                .questions
                .iter()
                .any(|q| q.answer.is_none() && &q.text == text)
            {
                self.questions
                    .push(Question::open(format!("question-{}", n + 1), text.clone()));
            }
        }
        let open = &self.open_questions;
        self.questions
            .retain(|q| q.answer.is_some() || open.contains(&q.text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Risk, RiskLevel};

    fn plan(open: &[&str], questions: Vec<Question>) -> Plan {
        Plan {
            version: 1,
            planner: "test".into(),
            steps: vec![],
            risk: Risk {
                level: RiskLevel::Low,
                reasons: vec![],
            },
            approval_required: true,
            estimated_duration_s: 0,
            open_questions: open.iter().map(|q| (*q).to_owned()).collect(),
            questions,
        }
    }

    #[test]
    fn a_question_is_found_by_its_id_or_by_one_of_its_choices() {
        let service = Question::with_choices(
            "service",
            "Which service should I restart?",
            [
                ("grafana".to_owned(), "Grafana".to_owned()),
                ("homepage".to_owned(), "Homepage".to_owned()),
            ],
        );
        let plan = plan(&["Which service should I restart?"], vec![service]);
        assert_eq!(
            plan.open_question(None, Some("homepage"))
                .map(|q| &q.id[..]),
            Some("service")
        );
        assert!(plan.open_question(Some("service"), None).is_some());
        assert!(plan.open_question(None, Some("jellyfin")).is_none());
        assert!(plan.needs_answer());
    }

    #[test]
    fn questions_said_only_in_words_get_an_id_and_answered_ones_stay() {
        let mut answered = Question::open("service", "Which service?");
        answered.answer = Some("grafana".into());
        let mut plan = plan(&["Where should it run?"], vec![answered.clone()]);
        plan.index_questions();
        assert_eq!(plan.questions.len(), 2);
        assert_eq!(plan.questions[1].id, "question-1");
        assert!(plan.questions[1].choices.is_empty());
        assert_eq!(plan.answered(), vec![answered]);
    }
}
