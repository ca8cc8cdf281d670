//! The owner's hints for a service (`[service.<id>]` in `.chiffon/hints.toml`) applied to what
//! `resolve` found: the hinted playbook and tags replace the guessed entrypoint, the hinted
//! hosts are the limit (or where a built-in action acts) when the request names none, the
//! hinted configuration file is the one to change, and a service the repository does not show
//! as an app still runs through its hinted playbook.

use std::collections::BTreeMap;

use crate::discovery::{HINTS_FILE, Repository};
use crate::resolve::{Answer, Resolution, Verb};

/// `resolution` with the service's hints applied; unchanged when there are none.
pub(crate) fn apply(repository: &Repository, mut resolution: Resolution) -> Resolution {
    let named = resolution
        .service
        .clone()
        .or_else(|| match &resolution.answer {
            Answer::None { catalogue, .. } => catalogue.clone(),
            _ => None,
        });
    let Some(service) = named else {
        return resolution;
    };
    let Some(hint) = repository.hints.service.get(&service) else {
        return resolution;
    };
    let verb = resolution.verb;
    let target = resolution.target.clone();
    let configure = verb == Verb::Configure;
    match &mut resolution.answer {
        Answer::Entrypoint {
            playbook,
            tags,
            limit,
            config,
            ..
        } => {
            if let Some(hinted) = &hint.playbook {
                hinted.clone_into(playbook);
            }
            if !hint.tags.is_empty() {
                tags.clone_from(&hint.tags);
            }
            if limit.is_none() {
                limit.clone_from(&hint.hosts);
            }
            if configure && hint.config.is_some() {
                config.clone_from(&hint.config);
            }
        }
        Answer::Builtin { hosts, .. } => {
            if let (None, Some(hinted)) = (&target, &hint.hosts) {
                *hosts = vec![hinted.clone()];
            }
        }
        Answer::None { .. } => {
            let Some(hinted) = hint.playbook.clone().filter(|_| !verb.is_builtin()) else {
                return resolution;
            };
            resolution.answer = Answer::Entrypoint {
                playbook: hinted,
                alt_playbooks: Vec::new(),
                tags: hint.tags.clone(),
                extra_vars: BTreeMap::new(),
                limit: target.or_else(|| hint.hosts.clone()),
                pin: None,
                config: hint.config.clone().filter(|_| configure),
                switch: None,
            };
            resolution.service = Some(service.clone());
        }
        Answer::Question { .. } => return resolution,
    }
    resolution
        .reasons
        .push(format!("the owner's hints for {service} ({HINTS_FILE})"));
    resolution
}
