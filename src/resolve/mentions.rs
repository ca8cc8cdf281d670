//! Which services a request names, and where: the repository's app names, the catalogue's
//! names and close typos of either; the clauses of the sentence and a description ("the thing
//! that …") whose names say what the service works with rather than which it is; and the app
//! that stands in for a named service the repository lacks; and what the words around a name
//! say (a path is no place, "add … to <app>", "the part <app> uses").

use std::collections::BTreeSet;

use super::NOT_NAMES;
use super::names::{begins_like, prefix_distance, shared_role_name};
use crate::discovery::{App, Repository};
use crate::services::{catalogue, typo_allowance, words};
use crate::text::{edit_distance, is_ordinary_word, normalize};

/// A name said in the request.
#[derive(Debug, Clone)]
pub(super) struct Mention {
    pub service: String,
    /// Where the name starts, and where the words after it start (a name said as several
    /// words, "docker socket proxy", ends after its last).
    pub position: usize,
    pub end: usize,
    pub exact: bool,
}

/// Names said in the request: the repository's own app names first, then the catalogue, then
/// typos (which keep their first letter).
pub(super) fn mentions(
    repository: &Repository,
    tokens: &[String],
    target_positions: &BTreeSet<usize>,
) -> Vec<Mention> {
    let mut mentions: Vec<Mention> = Vec::new();
    let mut covered = target_positions.clone();
    for length in (1..=3).rev() {
        for start in 0..tokens.len().saturating_sub(length - 1) {
            if (start..start + length).any(|i| covered.contains(&i)) {
                continue;
            }
            let parts = &tokens[start..start + length];
            // A two-letter word is a name only as the nickname of an app the repository has
            // ("jf didn't come back" for Jellyfin).
            let short_nickname = |word: &str| {
                catalogue()
                    .lookup(word)
                    .is_some_and(|s| repository.apps.iter().any(|a| a.service == s.id))
            };
            if length == 1
                && (NOT_NAMES.contains(&parts[0].as_str())
                    || parts[0].len() < 3 && !short_nickname(&parts[0]))
            {
                continue;
            }
            let joined = parts.concat();
            // The app of that service first, then one named so — unless the catalogue knows
            // the word as a service the repository runs: "paperless" is Paperless-ngx, not the
            // database whose only name is its project's.
            let known = catalogue()
                .lookup(&joined)
                .map(|s| s.id.clone())
                .filter(|id| repository.apps.iter().any(|a| &a.service == id));
            let found = repository
                .apps
                .iter()
                .find(|a| a.service == joined || normalize(&a.service) == joined)
                .map(|a| a.service.clone())
                .or(known)
                .or_else(|| {
                    repository
                        .apps
                        .iter()
                        .find(|a| a.names.first() == Some(&joined))
                        .map(|a| a.service.clone())
                })
                .or_else(|| catalogue().lookup(&joined).map(|s| s.id.clone()))
                .or_else(|| {
                    repository
                        .apps
                        .iter()
                        // Not a kind of service the catalogue names ("the s3
                        // storage" beside a role `storage` running NFS): a description.
                        .find(|a| {
                            a.names.contains(&joined)
                                && !shared_role_name(repository, &joined)
                                && !shared_name(repository, &joined)
                                && !catalogue().is_category_word(&joined)
                        })
                        .map(|a| a.service.clone())
                })
                // Words said apart that one app's name runs together: "the sms bot" for
                // `grizzlysmsbot`.
                .or_else(|| {
                    // Each word a name's part of three letters or more, and together no
                    // ordinary word ("back up" is not `docker-db-backup`).
                    let name_like = |t: &String| {
                        t.len() >= 3
                            && !NOT_NAMES.contains(&t.as_str())
                            && !STOP_WORDS.contains(&t.as_str())
                    };
                    if length < 2
                        || joined.len() < 5
                        || !parts.iter().all(name_like)
                        || catalogue().knows_word(&joined)
                    {
                        return None;
                    }
                    let holding: BTreeSet<&str> = repository
                        .apps
                        .iter()
                        .filter(|a| a.wired() && normalize(&a.service).contains(&joined))
                        .map(|a| a.service.as_str())
                        .collect();
                    match holding.into_iter().collect::<Vec<_>>().as_slice() {
                        [one] => Some((*one).to_owned()),
                        _ => None,
                    }
                })
                // Two words in the other order of an app's name: "the radarr mcp server" for
                // `mcp-radarr`.
                .or_else(|| {
                    let swapped = (length == 2).then(|| format!("{}{}", parts[1], parts[0]))?;
                    repository
                        .apps
                        .iter()
                        .find(|a| {
                            a.names.first() == Some(&swapped) || normalize(&a.service) == swapped
                        })
                        .map(|a| a.service.clone())
                });
            if let Some(service) = found {
                mentions.push(Mention {
                    service,
                    position: start,
                    end: start + length,
                    exact: true,
                });
                covered.extend(start..start + length);
            }
        }
    }
    for (position, token) in tokens.iter().enumerate() {
        // "allow the iot vlan too" says allow, not Alloy.
        if covered.contains(&position)
            || NOT_NAMES.contains(&token.as_str())
            || token.len() < 4
            || is_ordinary_word(token)
        {
            continue;
        }
        // A part several apps' names share ("pubgolf" for `pubgolf-frontend` and
        // `pubgolf-backend`) names none of them: which one is asked (`sharing_a_name_part`).
        let Some(slipped) = slipped_name(repository, token) else {
            continue;
        };
        if let Some(app) = slipped {
            mentions.push(Mention {
                service: app.service.clone(),
                position,
                end: position + 1,
                exact: false,
            });
        } else if let Some((service, _)) = catalogue().lookup_typo(token) {
            mentions.push(Mention {
                service: service.id.clone(),
                position,
                end: position + 1,
                exact: false,
            });
        }
    }
    mentions.extend(initialisms(repository, tokens, &covered));
    mentions
}

/// "the too good to go bot" for `tgtg`: words in a row whose initials spell the whole name
/// (four to six letters) of an app the catalogue does not know.
fn initialisms(
    repository: &Repository,
    tokens: &[String],
    covered: &BTreeSet<usize>,
) -> Vec<Mention> {
    let mut out = Vec::new();
    for app in repository.apps.iter().filter(|a| a.wired()) {
        let name = normalize(&app.service);
        if !(4..=6).contains(&name.len())
            || !name.chars().all(|c| c.is_ascii_lowercase())
            || catalogue().lookup(&name).is_some()
            || out.iter().any(|m: &Mention| m.service == app.service)
        {
            continue;
        }
        let at = (0..=tokens.len().saturating_sub(name.len())).find(|&start| {
            let window = tokens.get(start..start + name.len()).unwrap_or_default();
            window.len() == name.len()
                && !(start..start + name.len()).any(|i| covered.contains(&i))
                && window
                    .iter()
                    .filter_map(|t| t.chars().next())
                    .collect::<String>()
                    == name
        });
        if let Some(start) = at {
            out.push(Mention {
                service: app.service.clone(),
                position: start,
                end: start + name.len(),
                exact: false,
            });
        }
    }
    out
}

/// Words too common to be a part of a name said apart.
const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "our", "you", "its", "that", "this", "with", "from", "into", "onto",
    "back", "out", "off", "all", "any", "one", "new", "old", "was", "are", "has", "had", "not",
];

/// The app a word of the request names with a slip or only begins ("raddar", "vaultwardn",
/// "karuta" for `karutuogg`): `Some(Some(app))`, `Some(None)` when no app's name is near, and
/// `None` when the word is a part several apps' names share (no app is meant by it alone).
fn slipped_name<'a>(repository: &'a Repository, token: &str) -> Option<Option<&'a App>> {
    let allowed = typo_allowance(token.len());
    let in_repo = repository
        .apps
        .iter()
        .flat_map(|a| a.names.iter().take(2).map(move |n| (n, a)))
        .chain(repository.apps.iter().map(|a| (&a.service, a)))
        .filter(|(n, _)| n.len() >= 4 && n.as_bytes()[0] == token.as_bytes()[0])
        .map(|(n, a)| {
            let begins = if begins_like(token, n) { 1 } else { usize::MAX };
            let distance = edit_distance(token, n).min(prefix_distance(token, n));
            (distance.min(begins), n, a)
        })
        // Against the few names the repository has, a six-letter name may carry two
        // slips when its first two letters hold ("raddar" for `radarr`).
        .filter(|(d, n, _)| {
            let slips = if token.len() >= 6
                && n.len().abs_diff(token.len()) <= 1
                && n.get(..2) == token.get(..2)
            {
                2
            } else {
                allowed.max(1)
            };
            *d <= slips && *d > 0
        })
        // At the same distance, the app that *is* the name ("gitea") beats one that only
        // carries it (its database, "gitea-db").
        // A slip in the whole name ("vaultwardn") beats a name it only begins
        // (`vaultwarden-backup`).
        // An app's own first name beats the project name its parts carry too (`paperless`
        // for the `paperless-db` beside it).
        .map(|(d, n, a)| {
            let whole = edit_distance(token, n);
            let slip = if whole <= 2 { whole } else { usize::MAX };
            let borrowed = a.names.first() != Some(n) && &a.service != n;
            ((d, normalize(&a.service) != *n, slip, borrowed), a)
        })
        .collect::<Vec<_>>();
    let best = in_repo.iter().map(|(key, _)| *key).min();
    let closest: BTreeSet<&str> = in_repo
        .iter()
        .filter(|(key, _)| Some(*key) == best)
        .map(|(_, a)| a.service.as_str())
        .collect();
    let shared_part = closest.len() > 1
        && closest
            .iter()
            .all(|service| service.split(['-', '_', '.']).any(|part| part == token));
    if shared_part {
        return None;
    }
    Some(
        in_repo
            .iter()
            .find(|(key, _)| Some(*key) == best)
            .map(|(_, a)| *a),
    )
}

/// The one wired app of the repository that is compatible with `service` (either names the
/// other in `compatible_with`), if exactly one is.
pub(super) fn stand_in_for(repository: &Repository, service: &str) -> Option<String> {
    let catalogue = catalogue();
    let named = catalogue.get(service)?;
    let mut found: Vec<String> = repository
        .apps
        .iter()
        .filter(|a| a.wired())
        .filter(|a| {
            named.compatible_with.contains(&a.service)
                || catalogue
                    .get(&a.service)
                    .is_some_and(|s| s.compatible_with.iter().any(|c| c == service))
        })
        .map(|a| a.service.clone())
        .collect();
    found.sort();
    found.dedup();
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// Where a description of the service begins: the word after "the thing that", "the app
/// which", "something that" …; `None` when the request names rather than describes.
pub(super) fn described_from(tokens: &[String]) -> Option<usize> {
    tokens.windows(2).enumerate().find_map(|(i, pair)| {
        let noun = matches!(
            pair[0].as_str(),
            "thing" | "app" | "one" | "tool" | "something" | "service" | "container"
        );
        (noun && matches!(pair[1].as_str(), "that" | "which" | "who")).then_some(i + 2)
    })
}

/// The word positions (as `words` counts them) where a clause of `text` ends: at a comma,
/// semicolon, full stop or dash between words, and before a word that opens a reason
/// ("set up drone so gitea pushes trigger builds").
pub(super) fn clause_ends(text: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut count = 0;
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_alphanumeric() {
            if word.is_empty() {
                count += 1;
            }
            word.push(c.to_ascii_lowercase());
            if chars.peek().is_none_or(|n| !n.is_ascii_alphanumeric())
                && matches!(word.as_str(), "so" | "because" | "cause")
                && count > 1
                && ends.last() != Some(&(count - 1))
            {
                ends.push(count - 1);
            }
            continue;
        }
        word.clear();
        // A full stop inside a name or version (`media.lan`, `1.2`) ends nothing.
        let at_break = chars.peek().is_none_or(|next| next.is_whitespace());
        let ends_clause = matches!(c, ',' | ';' | '—') || matches!(c, '.' | '!' | '?') && at_break;
        if ends_clause && count > 0 && ends.last() != Some(&count) {
            ends.push(count);
        }
    }
    ends
}

/// The clauses (counted as `clause_ends` splits them) that give the order: they open with an
/// order ("show me the squid logs", "restart it") or ask after a state ("is db-auto-backup
/// running on grimes?"), where another clause only tells why ("proxy logins with my freeipa
/// account keep failing").
pub(super) fn order_clauses(tokens: &[String], ends: &[usize]) -> BTreeSet<usize> {
    const FILLERS: &[&str] = &[
        "please", "pls", "just", "now", "then", "so", "and", "ok", "okay",
    ];
    const HEADS: &[&str] = &[
        "show",
        "restart",
        "stop",
        "start",
        "bounce",
        "reboot",
        "kick",
        "cycle",
        "tail",
        "check",
        "upgrade",
        "update",
        "bump",
        "deploy",
        "install",
        "remove",
        "uninstall",
        "delete",
        "drop",
        "purge",
        "give",
        "fetch",
        "pull",
        "grab",
        "print",
        "dump",
        "tell",
        "is",
        "are",
        "make",
        "have",
        "let",
        "set",
        "change",
        "point",
        "move",
        "raise",
        "lower",
        "turn",
        "enable",
        "disable",
        "switch",
        "boot",
        "kill",
        "shut",
        "bring",
    ];
    let mut out = BTreeSet::new();
    let mut start = 0;
    for (index, end) in ends
        .iter()
        .copied()
        .chain(std::iter::once(tokens.len()))
        .enumerate()
    {
        let head = tokens
            .get(start..end.min(tokens.len()))
            .unwrap_or_default()
            .iter()
            .find(|t| !FILLERS.contains(&t.as_str()));
        if head.is_some_and(|h| HEADS.contains(&h.as_str())) {
            out.insert(index);
        }
        start = end;
    }
    out
}

/// "update the search engine karakeep uses": the app named is followed by "uses" (or "needs",
/// "runs on"), so the request is about the part of it the words before describe — another app
/// defined in the same file (its `meilisearch` beside `karakeep`), the one those words fit.
pub(super) fn part_it_uses(
    repository: &Repository,
    tokens: &[String],
    named: &Mention,
) -> Option<String> {
    let next = tokens.get(named.end)?;
    if !matches!(next.as_str(), "uses" | "needs" | "relies" | "depends") {
        return None;
    }
    let files: BTreeSet<&str> = repository
        .apps
        .iter()
        .filter(|a| a.service == named.service)
        .map(|a| a.file.as_str())
        .collect();
    let parts: BTreeSet<&str> = repository
        .apps
        .iter()
        .filter(|a| a.service != named.service && files.contains(a.file.as_str()))
        .map(|a| a.service.as_str())
        .collect();
    let described = tokens[..named.position].join(" ");
    catalogue()
        .for_purpose(&described)
        .into_iter()
        .find(|(s, _)| parts.contains(s.id.as_str()))
        .map(|(s, _)| s.id.clone())
}

/// The positions (as `words` counts them) of the words inside a path (`/dev/video2`,
/// `config/app.yml`) or an address (`root@localhost`).
pub(super) fn path_positions(text: &str) -> BTreeSet<usize> {
    chunk_positions(text, |chunk| chunk.contains('/') || chunk.contains('@'))
}

/// The positions (as `words` counts them) of the words of each whitespace-separated chunk of
/// `text` that `keep` accepts.
pub(super) fn chunk_positions(text: &str, keep: impl Fn(&str) -> bool) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut count = 0;
    for chunk in text.split_whitespace() {
        let n = words(chunk).count();
        if keep(chunk) {
            out.extend(count..count + n);
        }
        count += n;
    }
    out
}

/// "add X to <app>" / "add X into our <app>", with the app one of the repository's.
pub(super) fn adds_to_an_app(
    repository: &Repository,
    tokens: &[String],
    mentions: &[Mention],
    repo_services: &BTreeSet<&str>,
) -> bool {
    let Some(add) = tokens.iter().position(|t| t == "add") else {
        return false;
    };
    tokens.iter().enumerate().skip(add + 1).any(|(i, t)| {
        let determiners = |k: &usize| {
            tokens
                .get(*k)
                .is_some_and(|w| matches!(w.as_str(), "the" | "our" | "my"))
        };
        let mut next = i + 1;
        while determiners(&next) {
            next += 1;
        }
        matches!(t.as_str(), "to" | "into")
            && mentions.iter().filter(|m| m.position == next).any(|m| {
                repo_services.contains(m.service.as_str())
                    || stand_in_for(repository, &m.service).is_some()
            })
    })
}

/// "put immich behind the reverse proxy on its own subdomain": the change is the proxy's. The
/// app named after "behind", or the repository's one reverse proxy when the words say proxy.
pub(super) fn behind_a_proxy(
    repository: &Repository,
    tokens: &[String],
    mentions: &[Mention],
    repo_services: &BTreeSet<&str>,
) -> Option<String> {
    let behind = tokens.iter().position(|t| t == "behind")?;
    let window = behind + 1..(behind + 5).min(tokens.len());
    // Only what people put apps behind: a proxy, a login, a tunnel ("the log database behind
    // grafana's explore tab" puts nothing behind grafana).
    let fronts = |service: &str| {
        catalogue().get(service).is_some_and(|s| {
            s.categories.iter().any(|c| {
                matches!(
                    c.as_str(),
                    "reverse-proxy" | "identity" | "vpn" | "remote-access"
                )
            })
        })
    };
    if let Some(named) = mentions.iter().find(|m| {
        window.contains(&m.position)
            && repo_services.contains(m.service.as_str())
            && fronts(&m.service)
    }) {
        return Some(named.service.clone());
    }
    if !tokens[window].iter().any(|t| t == "proxy") {
        return None;
    }
    let mut proxies: Vec<&str> = repository
        .apps
        .iter()
        .filter(|a| a.wired())
        .filter(|a| {
            catalogue()
                .get(&a.service)
                .is_some_and(|s| s.categories.iter().any(|c| c == "reverse-proxy"))
        })
        .map(|a| a.service.as_str())
        .collect();
    proxies.sort_unstable();
    proxies.dedup();
    match proxies.as_slice() {
        [one] => Some((*one).to_owned()),
        _ => None,
    }
}

/// "the backup transmission instance", "the vaultwarden backup container", "gitea's postgres":
/// an app named together with a word for one of its parts is the app whose own name carries
/// both (`transmission-bkup`, `vaultwarden-backup`, `gitea-db`). Returns its service and
/// container.
/// Only words of the name's own clause count as beside it ("tracearr logs, the session page
/// is empty" says nothing of its session cache).
pub(super) fn qualified_part(
    repository: &Repository,
    tokens: &[String],
    clause_ends: &[usize],
    named: &[&Mention],
) -> Option<(String, String)> {
    for mention in named {
        let key = normalize(&mention.service);
        let clause_start = clause_ends
            .iter()
            .copied()
            .filter(|end| *end <= mention.position)
            .max()
            .unwrap_or(0);
        let clause_end = clause_ends
            .iter()
            .copied()
            .find(|end| *end > mention.position)
            .unwrap_or(tokens.len());
        let near = mention.position.saturating_sub(3).max(clause_start)
            ..(mention.position + 4).min(clause_end);
        let words: Vec<&str> = near
            .filter(|i| *i != mention.position)
            .map(|i| tokens[i].as_str())
            .filter(|w| w.len() >= 2)
            .collect();
        // A word for the part beside the name; else the part said in full anywhere ("restart
        // the machine learning container" for `immich-machine-learning`).
        let near = |rest: &str| words.iter().any(|w| is_part_word(rest, w));
        let in_full = |rest: &str| {
            rest.len() >= 5 && (1..=3).any(|n| tokens.windows(n).any(|w| w.concat() == rest))
        };
        for said in [&near as &dyn Fn(&str) -> bool, &in_full] {
            let mut found: Vec<(String, String)> = repository
                .apps
                .iter()
                .filter(|a| a.wired())
                .filter_map(|a| {
                    let rest = other_part(a, &key)?;
                    said(rest).then(|| (a.service.clone(), a.container.clone()))
                })
                .collect();
            found.sort();
            found.dedup();
            match found.as_slice() {
                [one] => return Some(one.clone()),
                [] => continue,
                _ => break,
            }
        }
    }
    // "paperless is still on postgres 13", "gitea's postgres": a service the repository runs in
    // several places, named beside an app whose own file runs one of them: that one.
    for owner in named {
        let files: BTreeSet<&str> = repository
            .apps
            .iter()
            .filter(|a| a.service == owner.service)
            .map(|a| a.file.as_str())
            .collect();
        for part in named.iter().filter(|m| m.service != owner.service) {
            let all: Vec<&App> = repository
                .apps
                .iter()
                .filter(|a| a.service == part.service && a.wired())
                .collect();
            // Addressed by its container, unless another of them has a container of that name
            // (two compose files' `db`): then by its compose project.
            let inside: BTreeSet<(String, String)> = all
                .iter()
                .filter(|a| files.contains(a.file.as_str()))
                .map(|a| {
                    let shared = all.iter().filter(|b| b.container == a.container).count() > 1;
                    let unit = if shared { &a.unit_name } else { &a.container };
                    (a.service.clone(), unit.clone())
                })
                .collect();
            let elsewhere = all.iter().any(|a| !files.contains(a.file.as_str()));
            if elsewhere && inside.len() == 1 {
                return inside.into_iter().next();
            }
        }
    }
    None
}

/// The rest of an app's own name around `key` (`bkup` of `transmissionbkup` for
/// `transmission`), when there is a rest.
fn other_part<'a>(app: &'a App, key: &str) -> Option<&'a str> {
    let own = app.names.first()?;
    own.strip_prefix(key)
        .or_else(|| own.strip_suffix(key))
        .filter(|rest| !rest.is_empty())
}

/// Whether the part of a name (`bkup`, `db`, `backup`) is what a word of the request says:
/// the word itself, its shortening (its letters in order, from its first), or a database.
fn is_part_word(part: &str, word: &str) -> bool {
    if part == word {
        return true;
    }
    // The two sides of a split setup: "the lan-only proxy" is `swag_internal`.
    let inside = [
        "lan", "local", "internal", "private", "intranet", "inside", "home",
    ];
    let outside = [
        "public", "external", "wan", "internet", "outside", "exposed",
    ];
    if part == "internal" && inside.contains(&word) || part == "external" && outside.contains(&word)
    {
        return true;
    }
    if part == "db"
        && matches!(
            word,
            "database" | "postgres" | "postgresql" | "mysql" | "mariadb" | "pg"
        )
    {
        return true;
    }
    // "immich's cache": the part is a service (`redis`) whose catalogue entry is that kind
    // of thing.
    let catalogued = word.len() >= 4
        && catalogue().lookup(part).is_some_and(|s| {
            s.categories
                .iter()
                .chain(&s.keywords)
                .any(|k| words(k).any(|w| w == word))
        });
    let mut letters = word.chars();
    catalogued
        || part.len() >= 3
            && part.chars().next() == word.chars().next()
            && part.chars().all(|c| letters.any(|w| w == c))
}

/// Parts of one app, not instances of it.
const COMPONENTS: &[&str] = &[
    "frontend", "backend", "api", "web", "ui", "worker", "server", "app", "proxy", "redis", "db",
    "cache", "client",
];

/// Among the wired apps of one service, the one whose own name's other part a word of the
/// request says ("the lan-only reverse proxy": `swag_internal` beside `swag`): its container.
pub(super) fn qualified_instance(
    repository: &Repository,
    tokens: &[String],
    service: &str,
) -> Option<String> {
    let key = normalize(service);
    let mut found: Vec<&str> = repository
        .apps
        .iter()
        .filter(|a| a.wired() && a.service == service)
        .filter(|a| {
            // A component (`piped-frontend`) is part of what the app is, not a second
            // instance of it.
            other_part(a, &key).is_some_and(|rest| {
                !COMPONENTS.contains(&rest) && tokens.iter().any(|w| is_part_word(rest, w))
            })
        })
        .map(|a| a.container.as_str())
        .collect();
    found.sort_unstable();
    found.dedup();
    match found.as_slice() {
        [one] => Some((*one).to_owned()),
        _ => None,
    }
}

/// "the jellyfin watch stats dashboard": an app named, followed in its clause by words that
/// describe another app of the repository made for it (Jellystat, whose catalogue entry says
/// Jellyfin): that one, when exactly one such companion fits those words.
pub(super) fn companion_described(
    repository: &Repository,
    tokens: &[String],
    named: &Mention,
    clause_end: usize,
) -> Option<String> {
    // The words right after the name, to the first that joins a phrase or says a state
    // ("take jellyfin off the jellyfin lxc" describes nothing).
    const JOINS: &[&str] = &[
        "on", "off", "to", "from", "in", "at", "for", "with", "of", "is", "are", "was", "isn",
        "keeps", "still", "and", "but", "again", "up", "down", "so", "it", "has", "by", "via",
    ];
    let after: Vec<&str> = tokens
        .get(named.end..clause_end.min(tokens.len()))?
        .iter()
        .map(String::as_str)
        .take_while(|w| !JOINS.contains(w))
        .collect();
    if after.is_empty() {
        return None;
    }
    let catalogue = catalogue();
    // The app as the catalogue names it, or as the request says it ("postgres").
    let names = [
        normalize(&catalogue.get(&named.service)?.name),
        normalize(tokens.get(named.position)?),
    ];
    let made_for = |id: &str| {
        catalogue.get(id).is_some_and(|s| {
            s.keywords
                .iter()
                .chain(std::iter::once(&s.purpose))
                .any(|k| words(k).any(|w| names.contains(&normalize(&w))))
        })
    };
    let wired: BTreeSet<&str> = repository
        .apps
        .iter()
        .filter(|a| a.wired() && a.service != named.service)
        .map(|a| a.service.as_str())
        .collect();
    let fitting: Vec<String> = catalogue
        .for_purpose(&after.join(" "))
        .into_iter()
        .filter(|(s, _)| wired.contains(s.id.as_str()) && made_for(&s.id))
        .map(|(s, _)| s.id.clone())
        .collect();
    match fitting.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// Whether a name the repository gives apps (`cache`, the compose key beside five apps) is
/// given to apps of more than two services: a word for what they are, not which one.
fn shared_name(repository: &Repository, name: &str) -> bool {
    repository
        .apps
        .iter()
        .filter(|a| a.names.iter().any(|n| n == name))
        .map(|a| &a.service)
        .collect::<BTreeSet<_>>()
        .len()
        > 2
}
