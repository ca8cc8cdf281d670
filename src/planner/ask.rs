//! The planner's questions, each with the choices that answer it, and the answers the person
//! gave to an earlier version: where the planner would ask, it first looks for the answer.
//!
//! Ids name what is asked about (see `model::question`), so an answer given to version N is
//! found again when version N+1 is planned from the same words.

use crate::catalogue::{Catalogue, Playbook};
use crate::model::{Question, TemplateOffer};
use crate::planner::display_name;
use crate::planner::parse::Intent;
use crate::resolve::Given;

/// The choice that runs a playbook on its own hosts instead of the target named.
pub(crate) const OWN_HOSTS: &str = "own-hosts";
/// The choice that drops the staging pass.
pub(crate) const SKIP_STAGING: &str = "skip-staging";

/// The choice given for question `id`, if the person answered it.
pub(crate) fn answer_to<'a>(answers: &'a [Question], id: &str) -> Option<&'a str> {
    answers
        .iter()
        .find(|q| q.id == id)
        .and_then(|q| q.answer.as_deref())
}

/// The request as the name-based reading should see it: a service picked from a list is
/// said by name at the end (the last service named is the one meant).
pub(crate) fn clarified(text: &str, answers: &[Question]) -> String {
    match answer_to(answers, "service") {
        Some(service) => format!("{text} {}", display_name(service)),
        None => text.to_owned(),
    }
}

/// What `resolve` takes as already answered.
pub(crate) fn given(answers: &[Question]) -> Given {
    Given {
        service: answer_to(answers, "service").map(str::to_owned),
        instance: answers
            .iter()
            .find(|q| q.id.starts_with("instance:"))
            .and_then(|q| q.answer.clone()),
    }
}

/// A service id as a person reads it: the catalogue's name, else the planner's.
fn service_label(service: &str) -> String {
    crate::services::catalogue()
        .lookup(service)
        .filter(|s| s.id == service)
        .map_or_else(|| display_name(service), |s| s.name.clone())
}

/// "Which service do you mean?" with the services the repository knows as choices.
pub(crate) fn which_service(catalogue: &Catalogue) -> Question {
    let services = catalogue.services();
    let names: Vec<String> = services.iter().map(|s| display_name(s)).collect();
    Question::with_choices(
        "service",
        format!(
            "Which service do you mean? The playbook repository knows: {}.",
            names.join(", ")
        ),
        services.iter().map(|s| ((*s).to_owned(), display_name(s))),
    )
}

/// `resolve`'s question between services or between instances of one.
pub(crate) fn from_resolve(
    about: &str,
    prompt: &str,
    choices: &[String],
    service: Option<&str>,
) -> Question {
    let text = format!("{prompt} ({})", choices.join(", "));
    if about == "service" {
        return Question::with_choices(
            "service",
            text,
            choices.iter().map(|c| (c.clone(), service_label(c))),
        );
    }
    let id = format!("instance:{}", service.unwrap_or_default());
    let label = |choice: &str| match choice.split_once(':') {
        Some((hosts, service)) => format!("{} on {}", service_label(service), hosts),
        None => choice.to_owned(),
    };
    Question::with_choices(id, text, choices.iter().map(|c| (c.clone(), label(c))))
}

/// Resolve found nothing in the repository to run for `about`: why (`reason`, as
/// `resolve::Answer::None` gives it), and what the owner can do.
pub(crate) fn nothing_to_run(about: &str, reason: &str, action: &str) -> Question {
    let name = display_name(about);
    let text = match reason {
        "unwired" => format!(
            "{name} is in the repository, but no play runs it: add its role or task file to a playbook (or uncomment it), then ask again."
        ),
        "unmanaged" => format!(
            "{name} runs outside what the repository's playbooks manage: Chiffon has nothing to {action} it with."
        ),
        _ => format!(
            "The repository has no {name}: nothing to {action}. Add a playbook or role for it (`chiffon playbooks template {about} --image <image:tag> --port <port>` writes one), then ask again."
        ),
    };
    Question::open(format!("none:{about}"), text)
}

/// "mars is not a host or group …": the inventory's groups are the choices.
pub(crate) fn unknown_target(place: &str, intent: &Intent, catalogue: &Catalogue) -> Question {
    let mut known: Vec<&str> = catalogue.groups.keys().map(String::as_str).collect();
    known.retain(|g| *g != "all");
    Question::with_choices(
        format!("target:{}", place.to_lowercase()),
        format!(
            "{place} is not a host or group in the inventory (it has: {}) — where should {} go?",
            known.join(", "),
            display_name(&intent.service)
        ),
        known.iter().map(|g| ((*g).to_owned(), (*g).to_owned())),
    )
}

/// The playbook does not reach the targets named: run it on its own hosts, or on one of its
/// host patterns.
pub(crate) fn reach(playbook: &Playbook, intent: &Intent, runs_on: &str) -> Question {
    let mut choices = vec![(
        OWN_HOSTS.to_owned(),
        format!("Run it on its own hosts ({})", playbook.hosts.join(", ")),
    )];
    choices.extend(
        playbook
            .hosts
            .iter()
            .filter(|h| *h != "all")
            .map(|h| (h.clone(), format!("Only on {h}"))),
    );
    Question::with_choices(
        format!("reach:{}", playbook.path),
        format!(
            "{} does not reach {} ({runs_on}) — run it on its own hosts, or name another?",
            playbook.path,
            intent.targets.join(", ")
        ),
        choices,
    )
}

/// No staging host in the playbook's reach: skip the staging pass.
pub(crate) fn staging(playbook: &Playbook, runs_on: &str) -> Question {
    Question::with_choices(
        format!("staging:{}", playbook.path),
        format!(
            "{} reaches no staging host ({runs_on}) — skip the staging pass, or add a staging host to its group?",
            playbook.path
        ),
        [(SKIP_STAGING.to_owned(), "Skip the staging pass".to_owned())],
    )
}

/// The template offer for a service: the catalogue's usual image and port as a start.
fn offer(service: &str) -> TemplateOffer {
    let known = crate::services::catalogue()
        .lookup(service)
        .filter(|s| s.id == service);
    TemplateOffer {
        service: service.to_owned(),
        image: known.and_then(|s| s.images.first().cloned()),
        port: known.and_then(|s| s.ports.first().copied()),
    }
}

/// "No playbook to <action> <service>", with what the repository has for the service; a
/// deploy gets a template offer (a template deploys; it cannot restart or upgrade).
pub(crate) fn missing_playbook(intent: &Intent, catalogue: &Catalogue) -> Question {
    let have: Vec<String> = catalogue
        .playbooks
        .iter()
        .filter(|p| p.service == intent.service)
        .map(|p| p.path.clone())
        .collect();
    let name = display_name(&intent.service);
    let text = if have.is_empty() {
        format!(
            "No playbook to {} {name} — generate a template?",
            intent.action
        )
    } else {
        format!(
            "No playbook to {} {name} (the repository has: {}) — generate a template?",
            intent.action,
            have.join(", ")
        )
    };
    let mut question = Question::open(format!("template:{}", intent.service), text);
    if intent.action == "deploy" && crate::template::valid_service(&intent.service) {
        question.template = Some(offer(&intent.service));
    }
    question
}

/// Template generation writes files for review rather than running anything, so a plan
/// cannot do it: the answer is the template (written when the person gives image and port),
/// or the playbook that already exists.
pub(crate) fn template(intent: &Intent, catalogue: &Catalogue) -> Question {
    let name = display_name(&intent.service);
    let command = format!(
        "`chiffon playbooks template {} --image <image:tag> --port <port>`",
        intent.service
    );
    let have: Vec<&str> = catalogue
        .playbooks
        .iter()
        .filter(|p| p.service == intent.service)
        .map(|p| p.path.as_str())
        .collect();
    let text = if have.is_empty() {
        format!(
            "No playbook deploys {name} yet — generate a template? {command} writes one to review; a plan never runs it unseen."
        )
    } else {
        format!(
            "{name} already has a playbook ({}) — generate a template anyway? {command}",
            have.join(", ")
        )
    };
    let mut question = Question::open(format!("template:{}", intent.service), text);
    if crate::template::valid_service(&intent.service) {
        question.template = Some(offer(&intent.service));
    }
    question
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::catalogue::Catalogue;
    use crate::model::Question;

    fn example() -> Catalogue {
        Catalogue::discover(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab-infra"))
            .unwrap()
    }

    #[test]
    fn a_template_request_offers_the_catalogues_image_and_port() {
        let plan = crate::planner::plan(
            "Generate a template for Navidrome",
            &example(),
            &BTreeMap::new(),
            1,
        );
        let question = &plan.questions[0];
        assert_eq!(question.id, "template:navidrome", "{plan:?}");
        let offer = question.template.as_ref().unwrap();
        assert_eq!(offer.image.as_deref(), Some("deluan/navidrome"));
        assert_eq!(offer.port, Some(4533));
        assert!(
            question
                .text
                .contains("`chiffon playbooks template navidrome")
        );
    }

    #[test]
    fn an_answered_target_replaces_the_unknown_place() {
        let catalogue = example();
        let first = crate::planner::plan("deploy kuma on mars", &catalogue, &BTreeMap::new(), 1);
        let question = &first.questions[0];
        assert_eq!(question.id, "target:mars");
        assert!(question.choices.iter().any(|c| c.id == "monitoring"));
        let answered = Question {
            answer: Some("monitoring".to_owned()),
            ..question.clone()
        };
        let next = crate::planner::plan_answered(
            "deploy kuma on mars",
            &catalogue,
            &BTreeMap::new(),
            2,
            std::slice::from_ref(&answered),
        );
        assert!(next.open_questions.is_empty(), "{:?}", next.open_questions);
        assert_eq!(next.steps[0].limit.as_deref(), Some("monitoring"));
        assert_eq!(next.questions, vec![answered]);
    }
}
