//! Answering a plan's open question (`POST /requests/{id}/answer`): the person picks one of
//! its choices, or gives the image and port of the template it offers (Chiffon writes the
//! template first). Either way the request is planned again with every answer given so far: a
//! new plan version, stored and audited like a modification, which then needs approval.

use chrono::Utc;

use crate::audit::AuditEntry;
use crate::llm::Ask;
use crate::model::question::TEMPLATE_WRITTEN;
use crate::model::{Question, Request, RequestStatus};
use crate::orchestrator::Core;
use crate::orchestrator::live::LiveEvent;
use crate::orchestrator::revert_conflicts;

/// The change text of a plan version made by an answer; `modify` leaves those out of the
/// words it re-plans from (the answers travel on the plan instead).
pub(crate) const ANSWERED: &str = "answered: ";

/// The image, port and hosts of a template the person asked for.
#[derive(Debug, Clone)]
pub struct TemplateFields {
    pub image: String,
    pub port: u16,
    pub hosts: String,
}

/// What the person answered.
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub question_id: Option<String>,
    pub choice: Option<String>,
    pub template: Option<TemplateFields>,
}

/// Why an answer was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("{0}")]
    NoSuchQuestion(String),
    #[error("{0}")]
    NotAChoice(String),
    #[error("{0}")]
    InvalidTemplate(String),
    #[error("{0}")]
    TemplateNotWritten(String),
    /// The request stopped awaiting approval, or another version was made meanwhile.
    #[error("the request changed while it was being answered; read it again")]
    Changed,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Core {
    /// Answers an open question of `request`'s current plan and plans it again: the new
    /// version, or `AnswerError` with nothing changed.
    pub async fn answer(
        &self,
        request: &Request,
        given: Given,
        actor: &str,
    ) -> Result<Request, AnswerError> {
        let actor = &*crate::redact::text(actor);
        if request.status != RequestStatus::AwaitingApproval {
            return Err(AnswerError::Changed);
        }
        let plan = &request.plan;
        let question = plan
            .open_question(given.question_id.as_deref(), given.choice.as_deref())
            .ok_or_else(|| no_such_question(request, &given))?
            .clone();
        let choice = match (&given.template, &given.choice) {
            (Some(fields), _) => {
                self.write_template(&question, fields)?;
                TEMPLATE_WRITTEN.to_owned()
            }
            (None, Some(choice)) if question.choices.iter().any(|c| &c.id == choice) => {
                choice.clone()
            }
            (None, choice) => return Err(not_a_choice(&question, choice.as_deref())),
        };
        let label = question.label_of(&choice);
        let version = plan.version + 1;
        let next = if question.id.starts_with(revert_conflicts::QUESTION_PREFIX) {
            // An undo is made from what the run recorded, not planned from words: the answer
            // settles that one path in its step.
            revert_conflicts::settle(plan, &question, &choice).ok_or_else(|| {
                AnswerError::Other(anyhow::anyhow!(
                    "plan v{} has no path for question {}",
                    plan.version,
                    question.id
                ))
            })?
        } else {
            let mut answers = plan.answered();
            answers.push(Question {
                answer: Some(choice.clone()),
                ..question.clone()
            });
            let text = self.context_text(request).await?;
            let ask = Ask {
                text: &text,
                current: Some(plan),
                change: None,
            };
            self.make_plan(&request.id, &ask, request.high_value, version, &answers)
                .await?
        };
        let change = format!("{ANSWERED}{} → {label}", question.text);
        if !self
            .store
            .add_plan_version(&request.id, plan.version, &next, &change)
            .await?
        {
            return Err(AnswerError::Changed);
        }
        self.record_answer(request, &question, &choice, &label, version, actor)
            .await?;
        tracing::info!(request = %request.id, version, question = %question.id, %choice, "question answered");
        self.emit(LiveEvent::Request {
            request_id: request.id.to_string(),
            status: RequestStatus::AwaitingApproval,
            reason: Some(format!("plan v{version}: answered {label}")),
            at: Utc::now(),
        });
        self.store
            .get_request(&request.id)
            .await?
            .ok_or(AnswerError::Changed)
    }

    /// The words a new version is planned from: the request and every change in words made
    /// to it (answers are not words; they travel on the plan).
    pub(crate) async fn context_text(&self, request: &Request) -> anyhow::Result<String> {
        let mut so_far = request.text.clone();
        for version in self.store.plan_versions(&request.id).await? {
            if let Some(earlier) = version.change.filter(|c| !c.starts_with(ANSWERED)) {
                so_far.push_str(". ");
                so_far.push_str(&earlier);
            }
        }
        Ok(so_far)
    }

    /// Writes the template the question offered (never overwriting), then reads the
    /// repository again so the new plan can use it.
    fn write_template(
        &self,
        question: &Question,
        fields: &TemplateFields,
    ) -> Result<(), AnswerError> {
        let Some(offer) = &question.template else {
            return Err(AnswerError::NotAChoice(format!(
                "\"{}\" does not offer a template; answer it with one of its choices",
                question.text
            )));
        };
        let spec = crate::template::TemplateSpec {
            service: offer.service.clone(),
            image: fields.image.clone(),
            port: fields.port,
            hosts: fields.hosts.clone(),
        };
        crate::template::validate(&spec)
            .map_err(|error| AnswerError::InvalidTemplate(error.to_string()))?;
        let files = crate::template::write(&self.config.playbooks, &spec)
            .map_err(|error| AnswerError::TemplateNotWritten(format!("{error:#}")))?;
        tracing::info!(service = %offer.service, files = ?files, "template written to answer a question");
        self.reload_catalogue();
        Ok(())
    }

    /// The decision (who answered what, on which version) and its audit entry.
    async fn record_answer(
        &self,
        request: &Request,
        question: &Question,
        choice: &str,
        label: &str,
        version: u32,
        actor: &str,
    ) -> anyhow::Result<()> {
        let reason = format!("{} → {label}", question.text);
        let decision = crate::store::Decision {
            kind: "answered".to_owned(),
            plan_version: version,
            actor: actor.to_owned(),
            reason: Some(crate::redact::text(&reason).into_owned()),
            at: Utc::now(),
        };
        self.store.record_decision(&request.id, &decision).await?;
        self.record_audit(AuditEntry {
            kind: "answer",
            subject: format!(
                "answer request {} (plan v{version}) by {actor}: {label}",
                request.id
            ),
            subject_id: request.id.to_string(),
            recorded_at: Utc::now(),
            details: serde_json::json!({
                "request": {"id": request.id, "text": request.text},
                "plan_version": version,
                "question": {"id": question.id, "text": question.text},
                "choice": choice,
                "wrote_template": choice == TEMPLATE_WRITTEN,
                "by": actor,
            }),
        })
        .await?;
        Ok(())
    }
}

fn no_such_question(request: &Request, given: &Given) -> AnswerError {
    let open: Vec<String> = request
        .plan
        .questions
        .iter()
        .filter(|q| q.answer.is_none())
        .map(|q| format!("{} (\"{}\")", q.id, q.text))
        .collect();
    let asked = match (&given.question_id, &given.choice) {
        (Some(id), _) => format!("plan v{} has no open question {id}", request.plan.version),
        (None, Some(choice)) => format!(
            "no open question of plan v{} has the choice {choice}",
            request.plan.version
        ),
        (None, None) => format!(
            "plan v{} offers no template; give a choice",
            request.plan.version
        ),
    };
    if open.is_empty() {
        AnswerError::NoSuchQuestion(format!("{asked}: it has no open question"))
    } else {
        AnswerError::NoSuchQuestion(format!("{asked}; open: {}", open.join("; ")))
    }
}

fn not_a_choice(question: &Question, choice: Option<&str>) -> AnswerError {
    let choices: Vec<String> = question
        .choices
        .iter()
        .map(|c| format!("{} ({})", c.id, c.label))
        .collect();
    let template = if question.template.is_some() {
        "; or give a template's image and port"
    } else {
        ""
    };
    let said = choice.map_or_else(|| "no choice".to_owned(), |c| format!("\"{c}\""));
    if choices.is_empty() && question.template.is_none() {
        return AnswerError::NotAChoice(format!(
            "\"{}\" has no choices to pick: change the request in words (modify) instead",
            question.text
        ));
    }
    AnswerError::NotAChoice(format!(
        "{said} is not a choice of \"{}\"; pick one of: {}{template}",
        question.text,
        if choices.is_empty() {
            "none listed".to_owned()
        } else {
            choices.join(", ")
        }
    ))
}
