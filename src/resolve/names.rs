//! Names in a request read against the repository's apps: a word that is part of a role's name,
//! a role shared by a stack, a cut-off name.

use std::collections::BTreeSet;

use super::Verb;
use crate::discovery::{App, Repository};
use crate::services::{catalogue, words};
use crate::text::{edit_distance, normalize};

/// "the wireguard vpn" with no WireGuard app but a role `portainer_wireguard_easy` running
/// wg-easy: the one app of the same kind whose role or file name has the word as a part.
pub(super) fn role_named_like<'a>(
    repository: &'a Repository,
    word: &str,
    named: &str,
) -> Option<&'a App> {
    let kinds = |id: &str| {
        catalogue()
            .get(id)
            .map(|s| s.categories.clone())
            .unwrap_or_default()
    };
    let wanted = kinds(named);
    let fits: Vec<&App> = repository
        .apps
        .iter()
        .filter(|a| a.service != named && kinds(&a.service).iter().any(|k| wanted.contains(k)))
        .filter(|a| {
            let place = a.role.as_deref().unwrap_or(&a.file);
            let last = place.rsplit('/').next().unwrap_or(place);
            words(last).any(|part| part == word)
        })
        .collect();
    // A unit only a handler restarts gives way to the apps the roles' tasks define.
    let fits: Vec<&App> = match fits.iter().any(|a| !a.from_handler()) {
        true => fits.into_iter().filter(|a| !a.from_handler()).collect(),
        false => fits,
    };
    let services: BTreeSet<&str> = fits.iter().map(|a| a.service.as_str()).collect();
    (services.len() == 1).then(|| fits[0])
}

/// A name that is the role of two or more apps (`arr-stack`): it names the stack, not one app.
pub(super) fn shared_role_name(repository: &Repository, name: &str) -> bool {
    repository
        .apps
        .iter()
        .filter(|a| {
            a.role
                .as_deref()
                .and_then(|r| r.rsplit('/').next())
                .is_some_and(|r| normalize(r) == name)
        })
        .map(|a| &a.service)
        .collect::<BTreeSet<_>>()
        .len()
        > 1
}

/// `jelly` against `jellyfin` is not a typo; a cut-off name is only one when long.
pub(super) fn prefix_distance(token: &str, name: &str) -> usize {
    if token.len() >= 4 && name.starts_with(token) && name.len() - token.len() <= 2 {
        1
    } else {
        usize::MAX
    }
}

/// "the discord bot went offline" with one app named `karutuogg-bot`: for each word of the
/// request that is one of the parts of exactly one wired app's name (and not that name alone),
/// that app, in the order the words come.
pub(super) fn owning_a_name_part(
    repository: &Repository,
    tokens: &[String],
    skip: &BTreeSet<usize>,
    not_names: &[&str],
) -> Vec<String> {
    let mut found = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if skip.contains(&i) || token.len() < 3 || not_names.contains(&token.as_str()) {
            continue;
        }
        let owners: BTreeSet<&str> = repository
            .apps
            .iter()
            .filter(|a| a.wired())
            .filter(|app| {
                // Compose's name for a container (`forgejo-runner-dind-1`) carries its
                // project's words, not its own.
                let unit = if app.compose_container.as_ref() == Some(&app.unit_name) {
                    app.container.as_str()
                } else {
                    app.unit_name.as_str()
                };
                let parts: Vec<&str> = [app.service.as_str(), unit]
                    .iter()
                    .flat_map(|name| name.split(['-', '_', '.']))
                    .collect();
                parts.len() > 1 && parts.iter().any(|p| p.eq_ignore_ascii_case(token))
            })
            .map(|a| a.service.as_str())
            .collect();
        if let [one] = owners.into_iter().collect::<Vec<_>>().as_slice()
            && !found.iter().any(|f| f == one)
        {
            found.push((*one).to_owned());
        }
    }
    found
}

/// "the karuta card game" for `karutuogg`: a long word that is, give or take one slip, how a
/// longer app name begins, and no word the catalogue uses for what services do.
pub(super) fn begins_like(token: &str, name: &str) -> bool {
    token.len() >= 6
        && name.len() > token.len() + 1
        && name.is_char_boundary(token.len())
        && name.as_bytes()[0] == token.as_bytes()[0]
        && edit_distance(token, &name[..token.len()]) <= 1
        && !catalogue().is_purpose_word(token)
}

/// "restart the mcp server", "is the exporter running?": a word of the request that is one
/// part of the names of two or more of the repository's apps (`mcp-radarr`, `mcp-sonarr`) and
/// the whole name of none. Their services, when there are two or more; else none.
pub(super) fn sharing_a_name_part(
    repository: &Repository,
    tokens: &[String],
    skip: &BTreeSet<usize>,
    not_names: &[&str],
) -> Vec<String> {
    let parts = |a: &App| -> BTreeSet<String> {
        [a.service.as_str(), a.unit_name.as_str()]
            .iter()
            .flat_map(|name| name.split(['-', '_', '.']))
            .map(str::to_lowercase)
            .collect()
    };
    let apps: Vec<(&App, BTreeSet<String>)> = repository
        .apps
        .iter()
        .filter(|a| a.wired())
        .map(|a| (a, parts(a)))
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        if skip.contains(&i) || token.len() < 3 || not_names.contains(&token.as_str()) {
            continue;
        }
        let whole = apps
            .iter()
            .any(|(a, _)| a.service == *token || normalize(&a.unit_name) == normalize(token));
        if whole {
            continue;
        }
        let sharing: BTreeSet<String> = apps
            .iter()
            .filter(|(_, parts)| parts.len() > 1 && parts.contains(token))
            .map(|(a, _)| a.service.clone())
            .collect();
        // A sidecar named after its app (`your-spotify-db` beside `your-spotify`) is that app's.
        let own: Vec<String> = sharing
            .iter()
            .filter(|service| {
                !apps.iter().any(|(a, _)| {
                    a.service == **service
                        && sharing
                            .iter()
                            .any(|other| other != *service && a.unit_name.contains(other.as_str()))
                })
            })
            .cloned()
            .collect();
        if own.len() >= 2 {
            // A one-word name that begins with the shared part is one of them too
            // (`mcpjungle` beside `media-server-mcp` and `workboard-mcp`).
            let mut own = own;
            for (app, parts) in &apps {
                let begun = parts.len() == 1
                    && app
                        .service
                        .strip_prefix(token.as_str())
                        .is_some_and(|rest| rest.len() >= 4);
                if begun && !own.contains(&app.service) {
                    own.push(app.service.clone());
                }
            }
            own.sort();
            // Another word of the request names a part only one of them has ("start the
            // frontend"): that one.
            let among = &own;
            let telling: BTreeSet<&String> = tokens
                .iter()
                .enumerate()
                .filter(|(j, t)| *j != i && !skip.contains(j) && t.len() >= 3)
                .filter(|(_, t)| !not_names.contains(&t.as_str()))
                .flat_map(|(_, t)| {
                    apps.iter()
                        .filter(move |(a, parts)| among.contains(&a.service) && parts.contains(t))
                        .map(|(a, _)| &a.service)
                })
                .collect();
            if telling.len() == 1 {
                return telling.into_iter().cloned().collect();
            }
            return own;
        }
    }
    Vec::new()
}

/// How strongly the words the repository writes about an app (`Repository::app_words`) match
/// a request: the app, the summed rarity of the words they share, and how many of those words
/// belong to at most two apps. Only wired apps the catalogue does not know are scored (rarity
/// is counted over every wired app); a word most apps share says nothing.
pub(super) struct OwnWords<'a> {
    pub app: &'a App,
    pub score: f64,
    pub distinctive: usize,
}

/// The apps whose own words the request uses, best first.
pub(super) fn by_own_words<'a>(
    repository: &'a Repository,
    tokens: &[String],
    skip: &BTreeSet<usize>,
    not_words: &[&str],
    include_known: bool,
) -> Vec<OwnWords<'a>> {
    const DOING: &[&str] = &[
        "restart", "start", "stop", "logs", "deploy", "install", "update", "upgrade", "remove",
        "status", "running", "check", "again", "please", "reboot", "bounce", "setup", "show",
    ];
    let request: BTreeSet<String> = tokens
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            !skip.contains(i)
                && t.len() >= 4
                && !not_words.contains(&t.as_str())
                && !DOING.contains(&t.as_str())
        })
        .map(|(_, t)| crate::services::stem(t))
        .collect();
    let wired: Vec<(usize, &App)> = repository
        .apps
        .iter()
        .enumerate()
        .filter(|(_, a)| a.wired())
        .collect();
    let total = wired.len().max(1) as f64;
    let words_of = |i: usize| repository.app_words.get(i);
    // How many wired apps write each of the request's words, counted once per word.
    let rarity: Vec<(&String, usize)> = request
        .iter()
        .map(|word| {
            let apps = wired
                .iter()
                .filter(|(j, _)| words_of(*j).is_some_and(|w| w.contains(word)))
                .count();
            (word, apps.max(1))
        })
        .filter(|(_, apps)| *apps as f64 <= (total / 5.0).max(1.0))
        .collect();
    let mut found: Vec<OwnWords<'a>> = Vec::new();
    // Only apps the catalogue does not know: one it knows is found by what it is for.
    for &(i, app) in wired.iter().filter(|(_, a)| !a.known || include_known) {
        let Some(own) = words_of(i) else { continue };
        let (mut score, mut distinctive) = (0.0, 0);
        for (word, apps) in rarity.iter().filter(|(w, _)| own.contains(*w)) {
            score += (total / *apps as f64).ln();
            if *apps <= 2 && word.len() >= 5 {
                distinctive += 1;
            }
        }
        if score > 0.0 {
            found.push(OwnWords {
                app,
                score,
                distinctive,
            });
        }
    }
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    // Apps of one service (a compose file's containers) are one answer.
    let mut seen = BTreeSet::new();
    found.retain(|f| seen.insert(f.app.service.clone()));
    found
}

/// Deploying what one role sets up, said by the role's name, when the apps sharing that part
/// of their names are all that role's ("set up kdump" for `kdump-tools` and its
/// `kdump_nmi_watchdog` unit): the role's run deploys them all, so there is nothing to ask.
pub(super) fn one_role_deploys(
    repository: &Repository,
    verb: Verb,
    sharing: &[String],
    tokens: &[String],
    reasons: &mut Vec<String>,
) -> Option<String> {
    if verb != Verb::Deploy || sharing.len() < 2 {
        return None;
    }
    let roles: BTreeSet<Option<&str>> = repository
        .apps
        .iter()
        .filter(|a| sharing.contains(&a.service))
        .map(|a| a.role.as_deref())
        .collect();
    let [Some(role)] = roles.into_iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let name = normalize(role.rsplit('/').next().unwrap_or(role));
    if !tokens.iter().any(|t| normalize(t) == name) {
        return None;
    }
    reasons.push(format!(
        "the request names the role {name}, which sets up {}",
        sharing.join(" and ")
    ));
    sharing.first().cloned()
}
