//! The repository's own entrypoint for an app: the playbook whose play reaches it, the tags
//! that select it, the switch values and limit, the pin or configuration file the plan
//! proposes to change; a teardown playbook for removal; a playbook named for a service the
//! repository has no app of.

use std::collections::BTreeMap;

use super::config::{best_config, config_tag, rendering_tags};
use super::{Answer, Verb};
use crate::discovery::{App, Pin, Reach, Repository, Switch};
use crate::services::catalogue;
use crate::text::{normalize, without_doing_prefix};

/// A playbook whose file is named for `service` (`docker.yml`, `install-tailscale.yml`), when
/// exactly one is.
pub(super) fn playbook_named_for(repository: &Repository, service: &str) -> Option<String> {
    let key = normalize(service);
    the_playbook_named(repository, |stem| {
        let bare = without_doing_prefix(stem);
        normalize(bare) == key
            || catalogue()
                .lookup(bare)
                .is_some_and(|s| normalize(&s.id) == key)
    })
}

/// "run the base setup on it", "rerun the cleanup playbook": a playbook named by a word said
/// just after "run" (its file's name, `plays/setup.yml`), when exactly one is and no app of
/// the repository is called so.
pub(super) fn playbook_run_by_name(repository: &Repository, tokens: &[String]) -> Option<String> {
    let runs = tokens
        .iter()
        .position(|t| matches!(t.as_str(), "run" | "rerun"))?;
    // A name of several words is said as they are written ("run dev-tooling again").
    let next: Vec<&String> = tokens.iter().skip(runs + 1).take(4).collect();
    let said: Vec<String> = (1..=3)
        .flat_map(|n| {
            next.windows(n)
                .map(|w| normalize(&w.iter().map(|t| t.as_str()).collect::<String>()))
        })
        .collect();
    the_playbook_named(repository, |stem| {
        let key = normalize(stem);
        key.len() >= 4 && said.contains(&key) && !repository.names_an_app(&key)
    })
}

/// The one playbook whose file name (without folder and extension) `fits`.
fn the_playbook_named(repository: &Repository, fits: impl Fn(&str) -> bool) -> Option<String> {
    let named: Vec<&str> = repository
        .playbooks
        .iter()
        .map(|p| p.path.as_str())
        .filter(|path| {
            let stem = path
                .rsplit('/')
                .next()
                .unwrap_or("")
                .trim_end_matches(".yml")
                .trim_end_matches(".yaml");
            fits(stem)
        })
        .collect();
    match named.as_slice() {
        [one] => Some((*one).to_owned()),
        _ => None,
    }
}

/// "docker compose on the dev boxes is still 2.16.0, get them onto a current release": no app
/// of that name, but a role pins the tool's version (`docker_compose_version` in its vars or
/// defaults). The playbook that runs the role, with that pin; none when several fit.
pub(super) fn pinned_tool(
    repository: &Repository,
    tokens: &[String],
    target: Option<&str>,
) -> Option<(String, Answer)> {
    let mut found: Vec<(String, Answer)> = Vec::new();
    for (var, defs) in &repository.vars {
        let Some(prefix) = var.strip_suffix("_version") else {
            continue;
        };
        let parts: Vec<&str> = prefix.split(['_', '-']).collect();
        if prefix.len() < 3 || parts.iter().any(|p| p.is_empty()) {
            continue;
        }
        let said = tokens
            .windows(parts.len())
            .any(|w| w.iter().zip(&parts).all(|(t, p)| t == p))
            || tokens.iter().any(|t| *t == parts.concat());
        if !said {
            continue;
        }
        for def in defs {
            let Some(role) = ["/vars/", "/defaults/"]
                .iter()
                .find_map(|folder| def.file.split_once(folder).map(|(role, _)| role))
            else {
                continue;
            };
            let Some(reach) = repository
                .role_reaches(role)
                .find(|r| !is_teardown(&r.playbook))
            else {
                continue;
            };
            let role_name = normalize(role.rsplit('/').next().unwrap_or(role));
            let tags: Vec<String> = reach
                .tags
                .iter()
                .flatten()
                .filter(|t| normalize(t) == role_name)
                .take(1)
                .cloned()
                .collect();
            found.push((
                prefix.replace('_', "-"),
                Answer::Entrypoint {
                    playbook: reach.playbook.clone(),
                    alt_playbooks: Vec::new(),
                    tags,
                    extra_vars: BTreeMap::new(),
                    limit: target.map(str::to_owned).filter(|t| t != "all"),
                    pin: Some(Pin::Var {
                        file: def.file.clone(),
                        var: var.clone(),
                        value: def.value.clone(),
                    }),
                    config: None,
                    switch: None,
                },
            ));
        }
    }
    match found.as_slice() {
        [_] => found.pop(),
        _ => None,
    }
}

/// The one playbook among `playbooks` that reaches a part on its own: umbrellas importing
/// another of them are left out; `None` when more than one remains.
pub(super) fn the_own_playbook<'a>(
    repository: &Repository,
    playbooks: &std::collections::BTreeSet<&'a str>,
) -> Option<&'a str> {
    let own: Vec<&str> = playbooks
        .iter()
        .copied()
        .filter(|p| !playbooks.iter().any(|o| repository.imports(p, o)))
        .collect();
    match own[..] {
        [playbook] => Some(playbook),
        _ => None,
    }
}

/// A playbook whose file name says it takes things away (`teardown.yml`, `remove-immich.yml`).
pub(super) fn is_teardown(playbook: &str) -> bool {
    let name = playbook
        .rsplit('/')
        .next()
        .unwrap_or(playbook)
        .to_lowercase();
    [
        "teardown",
        "remove",
        "uninstall",
        "destroy",
        "cleanup",
        "purge",
    ]
    .iter()
    .any(|w| name.contains(w))
}

/// A teardown playbook that runs the app's role (`tasks_from: teardown`).
pub(super) fn teardown_for_role(repository: &Repository, app: &App) -> Option<Reach> {
    let role = app.role.as_ref()?;
    repository
        .reach
        .get(role)?
        .iter()
        .find(|r| is_teardown(&r.playbook))
        .cloned()
}

#[allow(clippy::too_many_arguments)]
pub(super) fn entrypoint(
    repository: &Repository,
    app: &App,
    reaches: &[Reach],
    verb: Verb,
    target: Option<&str>,
    extra_vars: BTreeMap<String, serde_json::Value>,
    switch: Option<Switch>,
    text: &str,
    reasons: &mut Vec<String>,
) -> Answer {
    let names: Vec<String> = app
        .names
        .iter()
        .cloned()
        .chain([normalize(&app.service)])
        .collect();
    // The request's own words, but the app's names: a playbook they name is the one meant
    // ("on the proxmox hosts": `proxmox.yml` over `linux.yml`).
    let said: Vec<String> = crate::services::words(text)
        .map(|w| normalize(&w))
        .filter(|w| w.len() >= 4 && !names.contains(w))
        .collect();
    let verb_tags: &[&str] = match verb {
        Verb::Upgrade => &["upgrade", "update"],
        Verb::Remove => &["remove", "teardown", "uninstall"],
        _ => &["install", "deploy", "setup"],
    };
    let Some(reach) = reaches
        .iter()
        .max_by_key(|r| reach_score(r, &names, verb_tags, verb, &said))
    else {
        return Answer::None {
            reason: "unwired".to_owned(),
            catalogue: Some(app.service.clone()),
        };
    };
    let tags = chosen_tags(repository, reach, &app.own_tags, &names, verb_tags);
    // A playbook that selects by verb tags (`install`, `upgrade`): the tag for this verb, even
    // when the file that tag includes does not mention the app's files.
    let verbal_elsewhere = repository
        .reach
        .values()
        .flatten()
        .filter(|r| r.playbook == reach.playbook)
        .flat_map(|r| r.tags.iter().flatten())
        .find(|t| verb_tags.contains(&t.as_str()))
        .cloned();
    let other_verbs = [
        "install",
        "deploy",
        "setup",
        "upgrade",
        "update",
        "remove",
        "teardown",
        "uninstall",
    ];
    let mut tags = match verbal_elsewhere {
        Some(tag) if tags.iter().all(|t| other_verbs.contains(&t.as_str())) => vec![tag],
        _ => tags,
    };
    // A tag written on the block and again on its task is one tag.
    let mut seen = std::collections::BTreeSet::new();
    tags.retain(|t| seen.insert(t.clone()));
    let playbook = repository
        .playbooks
        .iter()
        .find(|p| p.path == reach.playbook);
    let limit = target
        .filter(|_| playbook.is_none_or(|p| p.limit_safe))
        .map(str::to_owned);
    let alt_playbooks = repository.importers(&reach.playbook);
    let pin = (verb == Verb::Upgrade).then(|| app.pin.clone()).flatten();
    // A version named for an image pulled at `latest`: it is written where the image is.
    let pin = match pin {
        Some(Pin::Latest) if crate::text::version_asked(text).is_some() => {
            app.image_at.clone().or(pin)
        }
        pin => pin,
    };
    let config = (verb == Verb::Configure)
        .then(|| best_config(repository, app, text, target))
        .flatten();
    let tags = match config
        .as_ref()
        .and_then(|c| config_tag(repository, c, &tags))
    {
        Some(tag) => vec![tag],
        None => tags,
    };
    let tags = config
        .as_ref()
        .and_then(|c| rendering_tags(repository, c, &reach.playbook, &tags))
        .unwrap_or(tags);
    reasons.push(format!(
        "{} reaches {} ({})",
        reach.playbook,
        app.file,
        if tags.is_empty() {
            "no tags".to_owned()
        } else {
            format!("tags {}", tags.join(","))
        }
    ));
    // The play applies the role only when a switch no file sets is on
    // (`when: xray_enabled | default(false)`): deploying turns it on.
    let mut extra_vars = extra_vars;
    if verb == Verb::Deploy
        && switch.is_none()
        && extra_vars.is_empty()
        && let Some(var) = reach
            .when
            .as_deref()
            .and_then(|w| off_switch(repository, w, &names))
    {
        reasons.push(format!("the play applies it only when {var} is on"));
        extra_vars.insert(var, serde_json::Value::Bool(true));
    }
    Answer::Entrypoint {
        playbook: reach.playbook.clone(),
        alt_playbooks,
        tags,
        extra_vars,
        limit,
        pin,
        config,
        switch,
    }
}

/// The tags that select the app on its way through the playbook: the innermost level that has
/// any, and of that level the ones naming the app, else those naming the verb, else the one
/// selecting the least.
fn chosen_tags(
    repository: &Repository,
    reach: &Reach,
    own_tags: &[String],
    names: &[String],
    verb_tags: &[&str],
) -> Vec<String> {
    let mut levels: Vec<Vec<String>> = reach.tags.clone();
    levels.push(own_tags.to_vec());
    levels
        .iter()
        .rev()
        .find(|level| level.iter().any(|t| t != "always"))
        .map(|level| {
            let level: Vec<String> = level.iter().filter(|t| *t != "always").cloned().collect();
            let named: Vec<String> = level
                .iter()
                .filter(|t| names.contains(&normalize(t)))
                .cloned()
                .collect();
            let verbal: Vec<String> = level
                .iter()
                .filter(|t| verb_tags.contains(&t.as_str()))
                .cloned()
                .collect();
            if !named.is_empty() {
                named
            } else if !verbal.is_empty() {
                verbal
            } else if level.len() > 1 {
                // `tags: [applications, paperless]`: the tag that selects the least, not the
                // one every app shares.
                let selects = |tag: &String| {
                    repository
                        .reach
                        .iter()
                        .filter(|(_, ways)| {
                            ways.iter().any(|r| {
                                r.playbook == reach.playbook
                                    && r.tags.iter().flatten().any(|t| t == tag)
                            })
                        })
                        .count()
                };
                level
                    .iter()
                    .min_by_key(|t| selects(t))
                    .cloned()
                    .into_iter()
                    .collect()
            } else {
                level
            }
        })
        .unwrap_or_default()
}

/// How well a play fits: its tags name the verb (and no other), the request names the
/// playbook, the playbook is named for the app, it is no utility (update, backup) for another
/// verb and no scratch playbook (test, debug), and among equals the shortest path.
fn reach_score(
    reach: &Reach,
    names: &[String],
    verb_tags: &[&str],
    verb: Verb,
    said: &[String],
) -> (i32, i32, i32, i32, i32) {
    let mut segments = reach.playbook.rsplit('/');
    let playbook = normalize(segments.next().unwrap_or(""));
    // `playbooks/recyclarr/main.yaml` is named by its folder.
    let folder = matches!(
        playbook.trim_end_matches("yaml").trim_end_matches("yml"),
        "main" | "site" | "playbook" | "deploy" | "install" | "setup"
    )
    .then(|| normalize(segments.next().unwrap_or("")))
    .unwrap_or_default();
    let named = names
        .iter()
        .any(|n| n.len() >= 3 && (playbook.contains(n.as_str()) || folder.contains(n.as_str())))
        as i32;
    let stem = playbook
        .trim_end_matches("yaml")
        .trim_end_matches("yml")
        .to_owned();
    let by_request = said.iter().any(|w| *w == stem || *w == folder) as i32;
    let tag_fit = reach
        .tags
        .iter()
        .flatten()
        .any(|t| verb_tags.contains(&t.as_str())) as i32;
    let other_verb = reach.tags.iter().flatten().any(|t| {
        ["upgrade", "update", "install", "remove", "teardown"].contains(&t.as_str())
            && !verb_tags.contains(&t.as_str())
    }) as i32;
    let utility = ["update", "upgrade", "backup", "restore"]
        .iter()
        .any(|w| playbook.contains(w))
        && verb != Verb::Upgrade;
    // A playbook for trying things out is never the place, whatever the verb.
    let scratch = ["test", "verify", "debug", "sandbox"]
        .iter()
        .any(|w| playbook.contains(w));
    (
        tag_fit - other_verb,
        by_request,
        named,
        -(scratch as i32) - (utility as i32),
        -(reach.playbook.len() as i32),
    )
}

/// The variable a role entry's `when:` tests that is off unless someone sets it: one named for
/// the app (`xray_enabled`), defaulting to false in the condition and set in no vars file.
fn off_switch(repository: &Repository, when: &str, names: &[String]) -> Option<String> {
    let compact: String = when.chars().filter(|c| !c.is_whitespace()).collect();
    let var = when
        .trim()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()?;
    let named = names
        .iter()
        .any(|n| n.len() >= 3 && normalize(var).contains(n.as_str()));
    let off = compact.contains("default(false)") || compact.contains("default(False)");
    (named && off && !repository.vars.contains_key(var)).then(|| var.to_owned())
}
