//! Where a request points: the inventory's hosts and groups (and play targets) it names, and
//! whether it says every machine.

use std::collections::BTreeSet;

use super::mentions::{chunk_positions, clause_ends, path_positions};
use crate::discovery::Repository;
use crate::services::catalogue;
use crate::text::normalize;

/// The positions of the words after "instead of" up to the end of their clause: what is
/// being replaced ("hand out quad9 as the dns instead of tang"), not where the order goes.
fn replaced_positions(tokens: &[String], ends: &[usize]) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    for (i, pair) in tokens.windows(2).enumerate() {
        if pair[0] == "instead" && pair[1] == "of" {
            let end = ends
                .iter()
                .copied()
                .find(|end| *end > i + 1)
                .unwrap_or(tokens.len());
            out.extend(i + 2..end);
        }
    }
    out
}

/// The positions of the words of a domain name said as a value ("open it as
/// quoggioserver.tail", "accept home.lan too"), unless the inventory names a host so.
fn domain_positions(repository: &Repository, text: &str) -> BTreeSet<usize> {
    chunk_positions(text, |chunk| {
        let name = chunk.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let dotted = name.split('.').count() > 1
            && name.split('.').all(|part| {
                // `jellyfin.<domain>`: a placeholder for the owner's domain is a part too.
                part.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '<')
            });
        dotted && repository.inventory.spelling(name).is_none()
    })
}

/// A group said without its suffix ("the vps" for `vps_hosts`), or one host by a part of its
/// own name ("the sber vps" for `vps-sber1.devmem.ru`): a place only where the words place it.
fn loose_spelling<'a>(repository: &'a Repository, word: &str) -> Option<&'a str> {
    let inventory = &repository.inventory;
    inventory.spelling_without_suffix(word).or_else(|| {
        (!crate::text::is_ordinary_word(word))
            .then(|| inventory.host_by_part(word))
            .flatten()
    })
}

/// The place a request names, the positions of its words, and whether it says "everywhere".
pub(super) struct Place {
    pub target: Option<String>,
    pub positions: BTreeSet<usize>,
    pub everywhere: bool,
}

/// Targets said after "on", "to", "at" (or named as machines); a name that is also an app is
/// the place only when no other is said.
pub(super) fn place(
    repository: &Repository,
    text: &str,
    tokens: &[String],
    reasons: &mut Vec<String>,
) -> Place {
    let mut target = None;
    let mut target_placed = false;
    let mut target_positions = BTreeSet::new();
    let mut app_places = Vec::new();
    let ends = clause_ends(text);
    let mut in_paths = path_positions(text);
    in_paths.extend(replaced_positions(tokens, &ends));
    in_paths.extend(domain_positions(repository, text));
    for length in (1..=3).rev() {
        for start in 0..tokens.len().saturating_sub(length - 1) {
            // "/dev/video2" is a path on a machine, not the group `dev`.
            if (start..start + length).any(|i| {
                in_paths.contains(&i)
                    || app_places
                        .iter()
                        .any(|(_, at): &(String, std::ops::Range<usize>)| at.contains(&i))
            }) {
                continue;
            }
            let parts = &tokens[start..start + length];
            // "on the gateway": a role's name is a place only where the words say one.
            let placed = said_as_a_place(tokens, start);
            for joined in joins(parts) {
                let (name, loose, by_role) = match known_target(repository, &joined) {
                    Some(name) => (name, false, false),
                    None if length == 1 => match loose_spelling(repository, &joined) {
                        Some(name) => (name.to_owned(), true, false),
                        None => match placed.then(|| role_place(repository, &joined)).flatten() {
                            Some(name) => (name, true, true),
                            None => continue,
                        },
                    },
                    None => continue,
                };
                // A group said without its suffix ("the vps" for `vps_hosts`) is a place
                // only where the words around it say so: "on the vps", "the bastion rebooted".
                let said_a_machine = names_a_machine(tokens.get(start + length));
                if loose && !placed && !said_a_machine {
                    continue;
                }
                // "tails all the container logs": a quantity; "on all" is a place.
                if joined == "all" && !placed {
                    continue;
                }
                let as_service = catalogue().lookup(&joined).map(|s| s.id.clone());
                // The owner's hints say this group is never a service: a place, wherever it is.
                let owners_place = repository.hints.not_a_service(&joined);
                let is_app = !owners_place
                    && repository.apps.iter().any(|a| {
                        a.names.contains(&normalize(&joined))
                            || as_service.as_ref() == Some(&a.service)
                    });
                // A group named for an app (`homepage_host`) said without its suffix is the
                // app: "the widget on the homepage dashboard".
                // A role's name said as a place ("on the gateway") is where its play runs,
                // though the role is an app of its own too.
                // Said as machines where the words place them ("on the proxmox nodes" for
                // `proxmox_hosts`), it is the group, though an app is named so too.
                if loose && is_app && !(by_role && placed) && !(placed && said_a_machine) {
                    continue;
                }
                let is_app = is_app && !by_role;
                let why = format!("{joined} is a role; the play applying it runs on {name}");
                if by_role && placed && !reasons.contains(&why) {
                    reasons.push(why);
                }
                // An unplaced single word that names a kind of service ("change the upstream
                // dns resolvers" with a group `dns`) says what, not where.
                let kind_word =
                    !owners_place && length == 1 && catalogue().is_category_word(&joined);
                // "the ai vm", "the media box": a machine, unless it is an app's name ("the
                // plex server" is Plex).
                // "the dev vm" with `dev` in the group `vm`: the host, though an app is named so.
                let held_by_next = tokens
                    .get(start + length)
                    .and_then(|w| repository.inventory.spelling(w))
                    .is_some_and(|group| {
                        group != name && repository.inventory.resolve(group).contains(&name)
                    });
                let is_app = is_app && !held_by_next;
                // "the media server is moving to its own box": a kind of service and "server"
                // name the service; "the media box" is a machine.
                let kind_of_server = kind_word
                    && tokens
                        .get(start + length)
                        .is_some_and(|w| matches!(w.as_str(), "server" | "servers"));
                let placed = placed || said_a_machine && !is_app && !kind_of_server;
                // An app's name after "to" that a noun of the same clause follows ("let the
                // phones subscribe to ntfy topics") says which app's things, not where.
                let next = start + length;
                let names_its_things = is_app
                    && start > 0
                    && tokens[start - 1] == "to"
                    && !said_a_machine
                    && !ends.contains(&next)
                    && tokens
                        .get(next)
                        .is_some_and(|w| w.len() >= 3 && !FUNCTION_WORDS.contains(&w.as_str()));
                if names_its_things {
                    continue;
                }
                // A place that is also an app ("add a disk to the mergerfs pool on the qnap",
                // group and role `mergerfs`) is the place only when no other place is said.
                if placed && is_app {
                    app_places.push((name, start..start + length));
                } else if placed || !is_app && !kind_word {
                    // A place said with "on"/"to" is where the order goes, before one named
                    // only as context ("bigboi can't reach the vps, … logs on the vps").
                    if target.is_none() || placed && !target_placed {
                        target = Some(name);
                        target_placed = placed;
                    }
                    target_positions.extend(start..start + length);
                }
            }
        }
    }
    if target.is_none()
        && let Some((name, positions)) = app_places.into_iter().next()
    {
        target = Some(name);
        target_positions.extend(positions);
    }
    if target.is_some() {
        reasons.push(format!(
            "\"{}\" is a host or group of the inventory: the target",
            target.clone().unwrap_or_default()
        ));
    }
    let everywhere = says_everywhere(tokens);
    Place {
        target,
        positions: target_positions,
        everywhere,
    }
}

/// A word after a name that says the name is a machine: "the bastion box", "the vps rebooted".
/// Inventory hosts and groups (and play targets) of that name, as the repository spells them.
fn known_target(repository: &Repository, name: &str) -> Option<String> {
    if let Some(spelling) = repository.inventory.spelling(name) {
        return Some(spelling.to_owned());
    }
    repository
        .playbooks
        .iter()
        .flat_map(|p| &p.plays)
        .find(|p| p.hosts.eq_ignore_ascii_case(name))
        .map(|p| p.hosts.clone())
}

/// Whether the word at `start` follows "on", "to", "at", "from" (or "the" after "on", "to",
/// "at").
pub(super) fn said_as_a_place(tokens: &[String], start: usize) -> bool {
    let word = |i: usize| tokens.get(i).map_or("", String::as_str);
    start > 0 && matches!(word(start - 1), "on" | "to" | "at" | "from")
        || start > 1 && word(start - 1) == "the" && matches!(word(start - 2), "on" | "to" | "at")
}

/// The ways a name of several words may be written (`home-assistant`, `home_assistant`,
/// `homeassistant`); one word is written once.
fn joins(parts: &[String]) -> Vec<String> {
    if let [one] = parts {
        vec![one.clone()]
    } else {
        vec![parts.join("-"), parts.join("_"), parts.join("")]
    }
}

/// "everywhere", "on every box", "on all the hosts".
fn says_everywhere(tokens: &[String]) -> bool {
    tokens.iter().any(|t| t == "everywhere")
        || tokens.windows(2).chain(tokens.windows(3)).any(|w| {
            matches!(w[0].as_str(), "every" | "all" | "each")
                && w[1..]
                    .last()
                    .is_some_and(|last| MACHINES.contains(&last.as_str()))
        })
}

/// "on the gateway": the one host or group the plays applying a role of that name target, when
/// the role is no service ("on the nginx" names an app) and not applied everywhere.
fn role_place(repository: &Repository, name: &str) -> Option<String> {
    if name.len() < 3 || catalogue().lookup(name).is_some() {
        return None;
    }
    let hosts: BTreeSet<&str> = repository
        .reach
        .iter()
        .filter(|(key, _)| {
            (key.starts_with("roles/") || key.contains("/roles/"))
                && key.rsplit('/').next() == Some(name)
        })
        .flat_map(|(_, reaches)| reaches.iter().map(|r| r.hosts.as_str()))
        .collect();
    match hosts.into_iter().collect::<Vec<_>>().as_slice() {
        [one] if *one != "all" && !one.contains(['{', ':', ',', '!']) => Some((*one).to_owned()),
        _ => None,
    }
}

pub(super) fn names_a_machine(next: Option<&String>) -> bool {
    next.is_some_and(|w| {
        MACHINES.contains(&w.as_str())
            || matches!(
                w.as_str(),
                "vm" | "vms" | "vps" | "lxc" | "rebooted" | "restarted" | "died" | "crashed"
            )
    })
}

/// Words that go on after a place without naming a thing of it ("on jellyfin and sonarr",
/// "to lola too").
const FUNCTION_WORDS: &[&str] = &[
    "and", "too", "again", "now", "please", "then", "for", "with", "because", "since", "instead",
    "tonight", "today", "asap", "when", "while", "but", "also", "all", "only", "first", "after",
    "before", "until", "from", "into", "onto", "over", "via", "the", "its", "their", "this",
    "that", "once", "twice", "every", "each", "without", "not", "yet", "though",
];

/// Words for machines: "every box", "the bastion server".
const MACHINES: &[&str] = &[
    "box", "boxes", "host", "hosts", "machine", "machines", "server", "servers", "node", "nodes",
];
