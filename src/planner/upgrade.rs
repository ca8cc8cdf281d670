//! Upgrading a pinned app (`discovery::Pin`): the version to move to, read from the request
//! ("upgrade jellyfin to 10.9.2", "bump pihole to v2024.07.0") or picked by the person from the
//! question the plan asks, and the first step that changes the pin in the playbook repository
//! (run by the orchestrator itself, as a commit the approval covers) before the playbook runs.
//! An unpinned `latest` stays a re-run that pulls again.
//!
//! Invariant: pure; the version is never guessed (no version said and none picked is a
//! question), and the step names exactly the file, variable and values it changes.

use crate::discovery::Pin;
use crate::model::{AgentType, Question, Resources, Step};
use crate::planner::ask;
use crate::planner::display_name;

/// The step action the orchestrator performs itself: changing a pin in the playbook
/// repository (`orchestrator::pin_change`).
pub const CHANGE_PIN: &str = "change_pin";
/// The step's variables: the file, the variable (as discovery names it), its value now and
/// the value it gets.
pub const PIN_FILE: &str = "chiffon_pin_file";
pub const PIN_VAR: &str = "chiffon_pin_var";
pub const PIN_FROM: &str = "chiffon_pin_from";
pub const PIN_TO: &str = "chiffon_pin_to";
/// The choice that re-runs the playbook at the version pinned now.
pub const KEEP: &str = "keep";

/// What an upgrade does about its pin.
#[derive(Debug)]
pub(crate) enum PinPlan {
    /// Change the pin first (this step), then run the playbook; the words go in its title.
    Change(Box<Step>, String),
    /// Run the playbook as it is (the words say why: a re-pull, or the version stays).
    Rerun(String),
    /// Which version? Nothing runs until the person says.
    Ask(Question),
}

/// The question's id for `service`.
pub fn question_id(service: &str) -> String {
    format!("version:{service}")
}

/// What an upgrade of `service` pinned by `pin` does, for the request `text` and the answers
/// given so far; `None` when there is no pin to speak of.
pub(crate) fn plan_pin(
    service: &str,
    pin: Option<&Pin>,
    text: &str,
    answers: &[Question],
) -> Option<PinPlan> {
    let (file, var, value) = match pin? {
        Pin::Latest => {
            return Some(PinPlan::Rerun(
                "; the image is not pinned (latest): the run pulls it again".to_owned(),
            ));
        }
        Pin::Var { file, var, value } => (file, var, value),
    };
    let image_form = is_image_pin(var);
    let current = if image_form {
        value.as_str()
    } else {
        current_tag(value)
    };
    // An image written without a tag: said so, not as an empty version.
    let current = if current.is_empty() || current.contains('/') && current == value {
        "no tag"
    } else {
        current
    };
    let answer = ask::answer_to(answers, &question_id(service));
    // "Re-run at the pinned version" stands, whatever version the words name (it also answers
    // a pin Chiffon could not change as written).
    if answer == Some(KEEP) {
        return Some(PinPlan::Rerun(format!(
            "; at the pinned version {current} ({var} in {file}), as asked"
        )));
    }
    let said = version_asked(text);
    let picked = answer;
    // Where a picked version came from (the registry's newest, looked up), for the title.
    let source = picked
        .and_then(|a| {
            let question = answers.iter().find(|q| q.id == question_id(service))?;
            let label = question.label_of(a);
            (label != a).then_some(label)
        })
        .filter(|_| said.is_none());
    let asked = said.or_else(|| picked.map(str::to_owned));
    let Some(asked) = asked else {
        return Some(PinPlan::Ask(version_question(service, file, var, current)));
    };
    let to = shaped_like(current, &asked);
    if to.eq_ignore_ascii_case(current) {
        return Some(PinPlan::Rerun(format!(
            "; {var} in {file} already pins {current}: nothing to change, the playbook runs again"
        )));
    }
    let (from, new_value) = if image_form {
        (value.clone(), to.clone())
    } else {
        (value.clone(), moved_value(value, &to))
    };
    let mut extra_vars = serde_json::Map::new();
    extra_vars.insert(PIN_FILE.to_owned(), file.clone().into());
    extra_vars.insert(PIN_VAR.to_owned(), var.clone().into());
    extra_vars.insert(PIN_FROM.to_owned(), from.into());
    extra_vars.insert(PIN_TO.to_owned(), new_value.into());
    let step = Step {
        id: "s1".to_owned(),
        title: format!(
            "Change the pin of {}: {var} in {file} from {current} to {to} (a commit to the playbook repository)",
            display_name(service)
        ),
        action: CHANGE_PIN.to_owned(),
        agent_type: AgentType::Infra,
        playbook: None,
        service: Some(service.to_owned()),
        limit: None,
        depends_on: Vec::new(),
        estimated_duration_s: 1,
        resources: Resources::default(),
        tags: Vec::new(),
        extra_vars,
        status: "pending".to_owned(),
        warnings: Vec::new(),
        details: Vec::new(),
    };
    let words = match source {
        Some(source) => format!(" at {to} ({source})"),
        None => format!(" at {to}"),
    };
    Some(PinPlan::Change(Box::new(step), words))
}

/// "Which version should Jellyfin move to?", with re-running at the pinned version as the one
/// choice Chiffon can offer without looking anything up (the orchestrator adds the registry's
/// newest tag when it finds one).
pub(crate) fn version_question(service: &str, file: &str, var: &str, current: &str) -> Question {
    let name = display_name(service);
    Question::with_choices(
        question_id(service),
        format!(
            "Which version should {name} move to? It is pinned at {current} by {var} in {file}; say it (\"upgrade {} to <version>\") or re-run at {current}.",
            service.replace('-', " ")
        ),
        [(
            KEEP.to_owned(),
            format!("Re-run at the pinned version {current}"),
        )],
    )
}

pub use crate::text::version_asked;

/// The version asked for, written the way the pin writes its versions: with or without the
/// leading `v` as the current one has it.
pub fn shaped_like(current: &str, asked: &str) -> String {
    let bare = asked.strip_prefix(['v', 'V']).unwrap_or(asked);
    let current_v = current.starts_with('v')
        && current[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit());
    if current_v {
        format!("v{bare}")
    } else if current.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        bare.to_owned()
    } else {
        asked.to_owned()
    }
}

/// Where an image reference's tag starts (after the `:` following the last `/`) and ends;
/// `None` without a tag, for a digest, or when the reference is a template.
pub fn tag_span(image: &str) -> Option<(usize, usize)> {
    if image.contains("{{") || image.contains('@') {
        return None;
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    let colon = image[last_slash..].find(':')? + last_slash;
    (colon + 1 < image.len()).then_some((colon + 1, image.len()))
}

/// Whether a pin names an image written in place, whose tag changes (`image` of a container
/// task, `services.<svc>.image` of a compose file, `<fact>.image`, a Quadlet unit's `Image`),
/// rather than a variable whose whole value does.
pub fn is_image_pin(var: &str) -> bool {
    var == "image" || var == "Image" || var.contains('.')
}

/// Whether an image written in place has no tag to change (`grafana/grafana`): not empty, no
/// Jinja, no digest, no `:` after its last `/`.
pub fn is_untagged(image: &str) -> bool {
    !image.is_empty()
        && !image.contains("{{")
        && !image.contains('@')
        && !image.rsplit('/').next().unwrap_or(image).contains(':')
}

/// `value` (a variable's whole value: a bare version or a full image reference) moved to
/// version `to`: the tag replaced in an image reference, else the whole value.
pub fn moved_value(value: &str, to: &str) -> String {
    match tag_span(value) {
        Some((at, _)) => format!("{}{to}", &value[..at]),
        // An image reference written without a tag (`grafana/grafana`): the tag is added.
        None if value.contains('/') && is_untagged(value) => format!("{value}:{to}"),
        None => to.to_owned(),
    }
}

/// The version part of a pin's value (a full image reference's tag, or the bare version).
pub fn current_tag(value: &str) -> &str {
    tag_span(value).map_or(value, |(at, _)| &value[at..])
}

/// The risk reasons of a plan's pin changes.
pub(crate) fn risk_reasons(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| s.action == CHANGE_PIN)
        .map(|s| {
            let var = |k: &str| s.extra_vars.get(k).and_then(|v| v.as_str()).unwrap_or("");
            format!(
                "changes {} in {} from {} to {} as a commit to the playbook repository (Chiffon's, naming this request); the steps after it run the new version",
                var(PIN_VAR),
                var(PIN_FILE),
                var(PIN_FROM),
                var(PIN_TO)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_read_where_the_request_says_it() {
        for (text, want) in [
            ("upgrade jellyfin to 10.9.2", Some("10.9.2")),
            ("bump pihole to v2024.07.0", Some("v2024.07.0")),
            ("upgrade home assistant to 2025.1.", Some("2025.1")),
            ("move sonarr to version 4.0.16 please", Some("4.0.16")),
            ("upgrade gitea -> 1.22.3", Some("1.22.3")),
            ("upgrade jellyfin", None),
            ("bump pihole to the newest release", None),
            ("move jellyfin to the media box", None),
            ("upgrade sonarr to latest", None),
            (
                "upgrade gitea to 1.22. make it 1.23 instead: upgrade gitea to 1.23",
                Some("1.23"),
            ),
        ] {
            assert_eq!(version_asked(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn the_version_keeps_the_shape_of_the_pinned_one() {
        assert_eq!(shaped_like("v0.107.52", "0.107.53"), "v0.107.53");
        assert_eq!(shaped_like("2024.06.0", "v2024.07.0"), "2024.07.0");
        assert_eq!(shaped_like("10.9.11", "10.9.2"), "10.9.2");
        assert_eq!(shaped_like("latest-alpine", "1.2"), "1.2");
    }

    #[test]
    fn no_version_asks_and_the_answer_or_the_text_changes_the_pin() {
        let pin = Pin::Var {
            file: "roles/jellyfin/defaults/main.yml".to_owned(),
            var: "jellyfin_version".to_owned(),
            value: "10.9.11".to_owned(),
        };
        let Some(PinPlan::Ask(question)) =
            plan_pin("jellyfin", Some(&pin), "upgrade jellyfin", &[])
        else {
            panic!("asks");
        };
        assert_eq!(question.id, "version:jellyfin");
        assert!(question.text.contains("10.9.11"), "{}", question.text);
        let mut keep = question.clone();
        keep.answer = Some(KEEP.to_owned());
        assert!(matches!(
            plan_pin(
                "jellyfin",
                Some(&pin),
                "upgrade jellyfin",
                std::slice::from_ref(&keep)
            ),
            Some(PinPlan::Rerun(_))
        ));
        // Also when the words named a version Chiffon could not write: no question again.
        assert!(matches!(
            plan_pin(
                "jellyfin",
                Some(&pin),
                "upgrade jellyfin to 10.9.2",
                &[keep]
            ),
            Some(PinPlan::Rerun(_))
        ));
        let mut picked = question;
        picked.answer = Some("10.10.0".to_owned());
        let Some(PinPlan::Change(step, _)) =
            plan_pin("jellyfin", Some(&pin), "upgrade jellyfin", &[picked])
        else {
            panic!("changes");
        };
        assert_eq!(step.extra_vars[PIN_TO], "10.10.0");

        let image = Pin::Var {
            file: "group_vars/all/versions.yml".to_owned(),
            var: "sonarr_image".to_owned(),
            value: "docker.io/linuxserver/sonarr:4.0.15".to_owned(),
        };
        let Some(PinPlan::Change(step, _)) =
            plan_pin("sonarr", Some(&image), "upgrade sonarr to 4.0.16", &[])
        else {
            panic!("changes");
        };
        assert_eq!(
            step.extra_vars[PIN_FROM],
            "docker.io/linuxserver/sonarr:4.0.15"
        );
        assert_eq!(
            step.extra_vars[PIN_TO],
            "docker.io/linuxserver/sonarr:4.0.16"
        );
        assert!(matches!(
            plan_pin("sonarr", Some(&Pin::Latest), "upgrade sonarr to 5", &[]),
            Some(PinPlan::Rerun(words)) if words.contains("pulls it again")
        ));
    }
}
