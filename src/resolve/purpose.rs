//! What a request says a service is for, read against the catalogue and the repository's apps:
//! the one app that fits, a question between several, or none.

use std::collections::BTreeSet;

use super::instances::part_of;
use super::names::{by_own_words, owning_a_name_part};
use super::{Answer, Mention, NOT_NAMES, Verb, runs_on, which_one};
use crate::discovery::Repository;
use crate::services::catalogue;

/// Words for the kind of machine something runs on.
const MACHINE_KINDS: &[&str] = &["lxc", "lxcs", "ct", "cts", "vm", "vms", "box", "boxes"];

/// The service a request describes rather than names, read without the target's words: the
/// one wired app that fits, else a question between those that fit, else none (with the
/// catalogue's best idea).
#[allow(clippy::result_large_err)]
pub(super) fn by_purpose(
    repository: &Repository,
    verb: Verb,
    tokens: &[String],
    target_positions: &BTreeSet<usize>,
    target: Option<&str>,
    order_words: Option<&str>,
    reasons: &mut Vec<String>,
) -> Result<String, (Answer, Option<String>)> {
    // What it is for, read without the target's words.
    // Nor the kind of machine it runs on ("the subtitle fetcher's lxc"): that is where, not
    // what; a request about the hypervisor itself names it.
    let without_target: String = tokens
        .iter()
        .enumerate()
        .filter(|(i, t)| !target_positions.contains(i) && !MACHINE_KINDS.contains(&t.as_str()))
        .map(|(_, t)| t.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    // Logs asked for are the order; logs mentioned otherwise say what the service is.
    let keep: &[&str] = if verb == Verb::Logs {
        &[]
    } else {
        &["log", "logs"]
    };
    let (scored, close) = fitting_apps(repository, &without_target, keep);
    let close = on_the_target(repository, close, target);
    // A word that is a part of one app's name ("the discord bot", `karutuogg-bot`) settles it
    // when what the request describes fits none or several of the repository's apps.
    // Among several that fit, a host's name counts too ("the gitea runner", host
    // `gitea-runner` running `forgejo-runner`).
    let owner = if close.len() > 1 {
        let owners = owning_a_name_part(repository, tokens, &BTreeSet::new(), NOT_NAMES);
        // Or, when none of them has one, an app the catalogue does not know whose own name
        // has a word of the request: "the family dashboard" is `family-hub`, not one of the
        // dashboards the catalogue knows.
        let unknown: Vec<&String> = owners
            .iter()
            .filter(|o| repository.apps.iter().any(|a| &a.service == *o && !a.known))
            .collect();
        let fitting: Vec<&String> = owners.iter().filter(|o| close.contains(o)).collect();
        match (fitting.as_slice(), unknown.as_slice()) {
            ([one], _) | ([], [one]) => Some((*one).clone()),
            _ => None,
        }
    } else if close.is_empty() {
        let owners = owning_a_name_part(repository, tokens, target_positions, NOT_NAMES);
        (owners.len() == 1).then(|| owners[0].clone())
    } else {
        None
    };
    if let Some(owner) = owner {
        reasons.push(format!("{owner} has a word of the request in its name"));
        return Ok(owner);
    }
    // What the repository itself writes about an app (its task and play names, paths, files):
    // "the receipts app" is `receep`, which mounts `/receipts`. Taken when nothing the
    // catalogue knows fits (apps it knows count too then), when it settles what one catalogue
    // guess does not touch, or, among several guesses, when two or more of the repository's
    // distinctive words match ("the thing that keeps refreshing the protonvpn port forward").
    let own = by_own_words(
        repository,
        tokens,
        target_positions,
        NOT_NAMES,
        close.is_empty(),
    );
    if let Some(best) = own.first() {
        let clear = own
            .get(1)
            .is_none_or(|second| best.score >= second.score * 1.5);
        let guess_untouched = close
            .first()
            .is_none_or(|c| !own.iter().any(|o| &o.app.service == c));
        let strong = if close.len() > 1 {
            best.distinctive >= 2
        } else {
            best.distinctive >= 2 || close.is_empty() && best.distinctive >= 1
        };
        if clear && strong && guess_untouched && !close.contains(&best.app.service) {
            reasons.push(format!(
                "the repository's own words for {} match the request",
                best.app.service
            ));
            return Ok(best.app.service.clone());
        }
    }
    match close.as_slice() {
        [] => {
            let idea = scored.first().map(|(id, _)| id.clone());
            reasons.push("nothing in this repository does what the request describes".to_owned());
            Err((
                Answer::None {
                    reason: "absent".to_owned(),
                    catalogue: idea.clone(),
                },
                idea,
            ))
        }
        [one] => {
            reasons.push(format!("{one} is what the request describes"));
            Ok(one.clone())
        }
        several => {
            // The clause that gives the order says what it is about; the others say why
            // ("subtitles stopped showing up for new episodes, show me the subtitle fetcher's
            // logs"): among those that fit, the one the order's own words fit.
            if let Some(words) = order_words {
                let (_, in_order) = fitting_apps(repository, words, keep);
                if let [one] = in_order.as_slice()
                    && several.contains(one)
                {
                    reasons.push(format!("the order's own words describe {one}"));
                    return Ok(one.clone());
                }
            }
            reasons.push("several apps of this repository fit".to_owned());
            Err((
                Answer::Question {
                    about: "service".to_owned(),
                    prompt: which_one(verb, "service"),
                    choices: several.to_vec(),
                },
                None,
            ))
        }
    }
}

/// The one app the words of the order clauses describe (as the catalogue reads them, without
/// the target's words), when it is none of the apps `named` elsewhere.
pub(super) fn described_in_order(
    repository: &Repository,
    tokens: &[String],
    target_positions: &BTreeSet<usize>,
    clause_ends: &[usize],
    orders: &BTreeSet<usize>,
    named: &[&Mention],
) -> Option<String> {
    let order_words = order_words(tokens, target_positions, clause_ends, orders);
    // "pull up its logs": the order points back at the app named.
    if order_words
        .split(' ')
        .any(|w| matches!(w, "it" | "its" | "them" | "their" | "that" | "this"))
    {
        return None;
    }
    let (_, close) = fitting_apps(repository, &order_words, &[]);
    match close.as_slice() {
        [one] if named.iter().all(|m| &m.service != one) => Some(one.clone()),
        _ => None,
    }
}

/// The words of the clauses that give the order, without the target's words.
pub(super) fn order_words(
    tokens: &[String],
    target_positions: &BTreeSet<usize>,
    clause_ends: &[usize],
    orders: &BTreeSet<usize>,
) -> String {
    let clause = |i: usize| clause_ends.iter().filter(|end| **end <= i).count();
    tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| orders.contains(&clause(*i)) && !target_positions.contains(i))
        .map(|(_, t)| t.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The services the catalogue reads in `words` (best first, with their scores), and the wired
/// apps of the repository among them that fit nearly as well as the best of those present.
fn fitting_apps(
    repository: &Repository,
    words: &str,
    keep: &[&str],
) -> (Vec<(String, f64)>, Vec<String>) {
    let scored: Vec<(String, f64)> = catalogue()
        .for_purpose_keeping(words, keep)
        .into_iter()
        .map(|(s, score)| (s.id.clone(), score))
        .collect();
    // An app of its own outranks one that is only a part of another app's project (the
    // `nextcloud-nginx` beside the repository's own reverse proxy), unless the words describe
    // that app too ("the photo server's database").
    let described = |owner: &str| scored.iter().any(|(id, _)| id == owner);
    let present_as = |own: bool| -> Vec<&(String, f64)> {
        scored
            .iter()
            .filter(|(id, _)| {
                repository.apps.iter().any(|a| {
                    &a.service == id
                        && a.wired()
                        && (!own || part_of(repository, a).is_none_or(described))
                })
            })
            .collect()
    };
    let present = match present_as(true) {
        own if own.is_empty() => present_as(false),
        own => own,
    };
    let close = match present.first() {
        Some(best) => present
            .iter()
            .filter(|(_, s)| *s >= best.1 * 0.8)
            .map(|(id, _)| id.clone())
            .collect(),
        None => Vec::new(),
    };
    (scored, close)
}

/// The apps that fit narrowed by the target named: several that fit, one of them running there
/// ("bump the runner on gitea-runner"), is that one; none that fit, the known apps running there
/// ("restart the app on docker-1").
fn on_the_target(repository: &Repository, close: Vec<String>, target: Option<&str>) -> Vec<String> {
    let close: Vec<String> = match close.is_empty() {
        false => close,
        true => match target {
            // "restart the app on docker-1": the apps that run there.
            Some(target) => {
                let mut on_target: Vec<String> = repository
                    .apps
                    .iter()
                    .filter(|a| a.wired() && a.known)
                    .filter(|a| runs_on(repository, a, target))
                    .map(|a| a.service.clone())
                    .collect();
                on_target.sort();
                on_target.dedup();
                on_target
            }
            None => Vec::new(),
        },
    };
    // Several fit, and one of them runs on the target named ("bump the runner on gitea-runner"):
    // that one.
    match target {
        Some(target) if close.len() > 1 => {
            let on_target: Vec<String> = close
                .iter()
                .filter(|id| {
                    repository
                        .apps
                        .iter()
                        .filter(|a| &a.service == *id)
                        .any(|a| runs_on(repository, a, target))
                })
                .cloned()
                .collect();
            if on_target.len() == 1 {
                on_target
            } else {
                close
            }
        }
        _ => close,
    }
}

/// "stop the docker web ui": a front end for the thing named (absent here), which this
/// repository may run under its own name (Portainer): what the request describes, when that is
/// another app.
pub(super) fn front_end(
    repository: &Repository,
    verb: Verb,
    tokens: &[String],
    mention: &super::mentions::Mention,
    target_positions: &BTreeSet<usize>,
    target: Option<&str>,
) -> Option<String> {
    let said_after = tokens.get(mention.end).map(String::as_str);
    if !matches!(
        said_after,
        Some("ui" | "gui" | "web" | "webui" | "dashboard" | "frontend" | "interface")
    ) {
        return None;
    }
    by_purpose(
        repository,
        verb,
        tokens,
        target_positions,
        target,
        None,
        &mut Vec::new(),
    )
    .ok()
    .filter(|front| *front != mention.service)
}
