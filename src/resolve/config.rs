//! Which configuration file a configure request means, and the tag that runs only that file:
//! scored on the request's words against each candidate's file name, the variables it sets, the
//! other services its text mentions and its text.

use std::collections::{BTreeMap, BTreeSet};

use crate::discovery::{App, Reach, Repository};
use crate::services::{catalogue, stem, words};
use crate::text::normalize;

use super::NOT_NAMES;

mod home;

/// The configuration file a configure request means: the candidate sharing most with the
/// request — its file name's words, a variable it sets named with the request's words
/// (`jellyfin_port` for "the port jellyfin listens on"), another service the request names that
/// its text mentions (the Home Assistant tile of a dashboard), the request's words in its text —
/// else the most specific. A staging or test copy ranks after the real one.
pub(super) fn best_config(
    repository: &Repository,
    app: &App,
    text: &str,
    target: Option<&str>,
) -> Option<String> {
    scored(repository, app, text, target).map(|(file, _)| file)
}

/// The configuration file a configure request means among several apps deployed together (a
/// stack's role): the one whose best file shares most with the request.
pub(super) fn best_config_among(
    repository: &Repository,
    apps: &[&App],
    text: &str,
    target: Option<&str>,
) -> Option<String> {
    apps.iter()
        .filter_map(|app| scored(repository, app, text, target))
        .max_by_key(|(_, hits)| *hits)
        .map(|(file, _)| file)
}

/// How many of the request's own words (not the app's names, not doing-words) a setting of the
/// app has, in its best configuration file: in the file's name, a variable it sets, or its text.
/// "send gatus alerts to discord" has one (`gatus_discord_webhook`): a setting is meant.
pub(super) fn setting_words(repository: &Repository, app: &App, text: &str) -> usize {
    scored(repository, app, text, None).map_or(0, |(_, hits)| hits)
}

fn scored(
    repository: &Repository,
    app: &App,
    text: &str,
    target: Option<&str>,
) -> Option<(String, usize)> {
    // The machine named says where, not what ("on docker-host, add …" names neither Docker
    // nor a setting of `host_vars/docker-host.yml`).
    let place_words: BTreeSet<String> = target.into_iter().flat_map(words).collect();
    let mut others = other_services(text, app);
    others.retain(|o| !o.split(' ').all(|w| place_words.contains(w)));
    let mut request = request_words(app, text, &others);
    for word in &place_words {
        request.remove(&stem(word));
    }
    // Not a piece of the app's own name ("433" of "rtl_433").
    let literals: Vec<String> = literals(text)
        .into_iter()
        .filter(|l| {
            let key = normalize(l);
            !app.names.iter().any(|n| n.contains(&key)) && !normalize(&app.service).contains(&key)
        })
        .collect();
    // The app's files, and where a place is said, that place's own inventory file setting
    // what the app's role reads (`host_vars/qnap.yml` for "… on the qnap").
    let candidates: Vec<&String> = app
        .config
        .iter()
        .chain(
            app.place_config
                .iter()
                .filter(|f| target.is_some_and(|t| is_place_file(repository, f, t))),
        )
        .collect();
    let (var_parts, own_var_parts) = variable_parts(repository, app, &candidates);
    // (score, a real file, not another service's), its rank, the file.
    type Best<'a> = ((bool, usize, bool, bool), usize, &'a String);
    let mut best: Option<Best> = None;
    let mut most_hits = 0;
    for (rank, file) in candidates.iter().copied().enumerate() {
        let name_words: BTreeSet<String> = words(file.rsplit('/').next().unwrap_or(""))
            .map(|w| stem(&w))
            .collect();
        let name_hits = request.intersection(&name_words).count();
        // How the app is deployed (its image, tag, state, switch) is no setting of it.
        let var_hits = request
            .iter()
            .filter(|w| !matches!(w.as_str(), "image" | "tag" | "state" | "enabled"))
            .filter(|w| var_parts.get(file.as_str()).is_some_and(|p| p.contains(*w)))
            .count();
        let own_var_hits = request
            .iter()
            .filter(|w| !matches!(w.as_str(), "image" | "tag" | "state" | "enabled"))
            .filter(|w| {
                own_var_parts
                    .get(file.as_str())
                    .is_some_and(|p| p.contains(*w))
            })
            .count();
        let settings = repository.settings.get(file).map_or("", String::as_str);
        let padded = if others.is_empty() {
            String::new()
        } else {
            format!(" {settings} ")
        };
        // A stem is how its word begins: only the words beginning with a request's word are
        // stemmed, once each.
        let content: BTreeSet<&str> = settings.split(' ').collect();
        let content_hits = request
            .iter()
            .filter(|r| {
                content
                    .range(r.as_str()..)
                    .take_while(|w| w.starts_with(r.as_str()))
                    .any(|w| stem(w) == **r)
            })
            .count();
        let mentioned = others
            .iter()
            .filter(|phrase| padded.contains(&format!(" {phrase} ")))
            .count();
        // Named for the other service: `nginx.jellyfin.conf` for "the nginx config of jellyfin".
        let file_name: Vec<String> = words(file.rsplit('/').next().unwrap_or("")).collect();
        let file_name = format!(" {} ", file_name.join(" "));
        let named_for = others
            .iter()
            .filter(|phrase| file_name.contains(&format!(" {phrase} ")))
            .count();
        // A value the request quotes or gives in figures ("says 'Feycce Homelab' at the top",
        // "from deny-all", "48C") written in the file: the setting is there.
        let written = if literals.is_empty() {
            0
        } else {
            let spaced = format!(" {settings} ");
            literals
                .iter()
                .filter(|l| spaced.contains(&format!(" {l} ")))
                .count()
        };
        let score = name_hits * 10
            + var_hits * 6
            + own_var_hits * 4
            + named_for * 30
            + mentioned * 20
            + written * 15
            + content_hits * 3;
        // A file named for another service (`files/fluentbit.yaml` beside z2m's own
        // configuration) configures that service, unless the request names it.
        let foreign = file_name_words(file).iter().any(|w| {
            catalogue()
                .lookup(w)
                .is_some_and(|s| s.id != app.service && !app.names.contains(w))
        }) && named_for == 0;
        let real = !staged(file);
        // A staging or test copy holds the same settings: the real one wins whenever it has any.
        let key = (score > 0 && real, score, real, !foreign);
        if best.is_none_or(|(k, r, _)| key > k || key == k && rank < r) {
            best = Some((key, rank, file));
        }
        // The request's words a setting has, in whichever file: "move ssh to port 2222" names
        // the port its defaults set, though a file mentioning proxmox ranks first.
        most_hits = most_hits.max(name_hits + var_hits + content_hits);
    }
    // Adding an entry ("add another machine to the wake-on-lan page") to a file that renders a
    // list one entry at a time is editing the list, where the list is set.
    let adds = words(text).any(|w| matches!(w.as_str(), "add" | "another" | "more" | "extra"));
    best.map(|(_, _, file)| {
        let list = adds
            .then(|| list_holding(repository, file, &candidates))
            .flatten();
        // The value itself, where the file only reads it or another definition wins.
        let chosen = list
            .or_else(|| home::value_home(repository, app, file, text, target))
            .unwrap_or_else(|| file.clone());
        (chosen, most_hits)
    })
}

/// The candidate file that sets a list `file` renders one entry at a time.
fn list_holding(repository: &Repository, file: &str, candidates: &[&String]) -> Option<String> {
    let looped = repository.loops.get(file)?;
    candidates
        .iter()
        .find(|c| {
            c.as_str() != file
                && looped.iter().any(|var| {
                    repository
                        .vars
                        .get(var)
                        .is_some_and(|defs| defs.iter().any(|d| d.file == c.as_str()))
                })
        })
        .map(|c| (*c).clone())
}

/// Whether an inventory file (`host_vars/qnap.yml`, `group_vars/nas/vars.yml`) is the said
/// place's: named for it, or for a group holding all of its hosts (not `all`).
fn is_place_file(repository: &Repository, file: &str, target: &str) -> bool {
    let Some((_, rest)) = file
        .split_once("host_vars/")
        .or_else(|| file.split_once("group_vars/"))
    else {
        return false;
    };
    let place = rest
        .split('/')
        .next()
        .unwrap_or(rest)
        .trim_end_matches(".yml")
        .trim_end_matches(".yaml");
    if place.eq_ignore_ascii_case(target) {
        return true;
    }
    let wanted = repository.inventory.resolve(target);
    place != "all" && !wanted.is_empty() && wanted.is_subset(&repository.inventory.resolve(place))
}

/// The request's own words, stemmed: not the app's names, not another service it names, not
/// doing-words; said how often, the words of a schedule too.
fn request_words(app: &App, text: &str, others: &[String]) -> BTreeSet<String> {
    const DOING: &[&str] = &[
        "add", "set", "edit", "modify", "tweak", "adjust", "put", "make",
    ];
    // Another service's name counts once, as a mention, not again as a word.
    let other_words: BTreeSet<&str> = others.iter().flat_map(|o| o.split(' ')).collect();
    let request: BTreeSet<String> = words(text)
        .filter(|w| {
            !other_words.contains(w.as_str())
                && !app.names.contains(w)
                // The app's own name, however it is said ("kuma" for uptime-kuma).
                && !app.service.split('-').any(|part| part == w)
                && catalogue().lookup(w).is_none_or(|s| s.id != app.service)
        })
        .map(|w| stem(&w))
        .filter(|w| {
            w.len() > 2
                && !NOT_NAMES.contains(&w.as_str())
                && !DOING.contains(&w.as_str())
                && !app.names.contains(w)
        })
        .collect();
    with_schedule_words(request)
}

/// The parts of the names of the variables each candidate file sets, stemmed (read from the
/// repository's variables once, not once per word and file), and the same for the variables
/// named for the app (`monitoring_grafana_host_port`): a word of the request there is the app's
/// own setting, not another's in a shared file.
#[allow(clippy::type_complexity)]
fn variable_parts<'a>(
    repository: &'a Repository,
    app: &App,
    candidates: &[&'a String],
) -> (
    BTreeMap<&'a str, BTreeSet<String>>,
    BTreeMap<&'a str, BTreeSet<String>>,
) {
    let mut var_parts: BTreeMap<&str, BTreeSet<String>> = candidates
        .iter()
        .map(|f| (f.as_str(), BTreeSet::new()))
        .collect();
    let mut own_var_parts: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    // Its own name, not its role's (`monitoring` holds Grafana and cAdvisor alike).
    let service_key = normalize(&app.service);
    let app_keys: Vec<&String> = app
        .names
        .first()
        .into_iter()
        .chain([&service_key])
        .filter(|n| n.len() >= 3)
        .collect();
    for (var, defs) in &repository.vars {
        let own = {
            let key = normalize(var);
            app_keys.iter().any(|n| key.contains(n.as_str()))
        };
        for def in defs {
            if let Some(parts) = var_parts.get_mut(def.file.as_str()) {
                parts.extend(var.split('_').map(stem));
                if own {
                    own_var_parts
                        .entry(def.file.as_str())
                        .or_default()
                        .extend(var.split('_').map(stem));
                }
            }
        }
    }
    (var_parts, own_var_parts)
}

/// The one wired app whose configuration writes a value the request gives in a form no plain
/// word takes ("from deny-all to read-only", "'Feycce Homelab'", "port 3129"): quoted text,
/// words joined by hyphens, or numbers of three figures or more.
pub(super) fn app_writing_a_value(repository: &Repository, text: &str) -> Option<String> {
    let mut values: Vec<String> = literals(text)
        .into_iter()
        .filter(|l| l.contains(' ') || l.chars().filter(char::is_ascii_digit).count() >= 3)
        .collect();
    for token in text.split_whitespace() {
        let token = token.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let parts: Vec<String> = words(token).collect();
        if token.contains('-') && parts.len() >= 2 && parts.iter().all(|p| p.len() >= 2) {
            values.push(parts.join(" "));
        }
    }
    values.retain(|v| {
        // Not a name: "uptime-kuma" names an app, it is no value.
        catalogue().lookup(&v.replace(' ', "")).is_none()
            && !repository
                .apps
                .iter()
                .any(|a| normalize(&a.service) == v.replace(' ', ""))
    });
    if values.is_empty() {
        return None;
    }
    let mut found: BTreeSet<&str> = BTreeSet::new();
    for app in repository.apps.iter().filter(|a| a.wired()) {
        let writes = app.config.iter().any(|file| {
            repository.settings.get(file).is_some_and(|settings| {
                let spaced = format!(" {settings} ");
                values.iter().any(|v| spaced.contains(&format!(" {v} ")))
            })
        });
        if writes {
            found.insert(app.service.as_str());
        }
    }
    match found.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => Some((*one).to_owned()),
        _ => None,
    }
}

/// The values a request writes out: quoted text ("'Feycce Homelab'") as its words, and words
/// with two or more figures ("3128", "2.16.0" as `2 16 0` is not one; "48c", "30d").
fn literals(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for quote in ['\'', '"', '`'] {
        let parts: Vec<&str> = text.split(quote).collect();
        // Inside a pair of quotes: every other part (an apostrophe in "didn't" pairs with
        // nothing when the count is odd, so quotes are read only when they pair up).
        if parts.len() >= 3 && parts.len() % 2 == 1 {
            for inside in parts.iter().skip(1).step_by(2) {
                let said: Vec<String> = words(inside).collect();
                if !said.is_empty() && said.len() <= 6 {
                    out.push(said.join(" "));
                }
            }
        }
    }
    for word in words(text) {
        if word.chars().filter(char::is_ascii_digit).count() >= 2 && !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// A file of a staging or test copy (of the inventory, of a role).
fn staged(file: &str) -> bool {
    file.split('/').any(|segment| {
        matches!(
            segment,
            "staging" | "stage" | "test" | "tests" | "testing" | "dev" | "development"
        )
    })
}

/// The words of a file's name without its extensions (`fluentbit`, `config`).
fn file_name_words(file: &str) -> Vec<String> {
    let name = file.rsplit('/').next().unwrap_or("");
    let stem = name.split('.').next().unwrap_or(name);
    words(stem).filter(|w| w.len() > 2).collect()
}

/// Said how often ("every 30 seconds", "once a day instead of every 6 hours"), a request is
/// about a schedule, whatever the file calls it.
fn with_schedule_words(mut request: BTreeSet<String>) -> BTreeSet<String> {
    const HOW_OFTEN: &[&str] = &[
        "every", "daily", "hourly", "weekly", "nightly", "once", "twice", "second", "minute",
        "hour", "day", "night",
    ];
    if request.iter().any(|w| HOW_OFTEN.contains(&w.as_str())) {
        // A systemd timer (`syncoid.timer`, `OnCalendar=hourly`) is a schedule too.
        for word in [
            "schedule",
            "cron",
            "interval",
            "frequency",
            "timer",
            "oncalendar",
        ] {
            request.insert(word.to_owned());
        }
    }
    request
}

/// The tag that runs only the configuration: the rendering task's tag that says so
/// (`homepage_config` beside `homepage`), when it is not already the one chosen.
pub(super) fn config_tag(
    repository: &Repository,
    config: &str,
    chosen: &[String],
) -> Option<String> {
    let tags = repository.config_tags.get(config)?;
    if tags.len() < 2 {
        return None;
    }
    tags.iter()
        .find(|t| {
            !chosen.contains(t)
                && words(t)
                    .any(|w| matches!(w.as_str(), "config" | "configure" | "conf" | "settings"))
        })
        .cloned()
}

/// The tags of the task file that renders the configuration (`import_tasks: prometheus.yml`
/// tagged `prometheus` in a role holding one task file per app), when the tags chosen for the
/// app (`podman`, which writes its container unit) leave that file out: a run with those would
/// not write the change.
pub(super) fn rendering_tags(
    repository: &Repository,
    config: &str,
    playbook: &str,
    chosen: &[String],
) -> Option<Vec<String>> {
    if chosen.is_empty() {
        return None;
    }
    let task_file = repository.config_rendered_by.get(config)?;
    let reaches: Vec<_> = repository
        .reach
        .get(task_file)?
        .iter()
        .filter(|r| r.playbook == playbook)
        .collect();
    let own = repository.config_tags.get(config);
    let selected = |r: &&Reach| {
        r.tags
            .iter()
            .flatten()
            .chain(own.into_iter().flatten())
            .any(|t| chosen.contains(t))
    };
    if reaches.is_empty() || reaches.iter().any(selected) {
        return None;
    }
    // The tags written on the include of that task file itself.
    reaches
        .iter()
        .find_map(|r| r.tags.last().filter(|t| !t.is_empty()))
        .cloned()
}

/// Other services a request names (as word phrases: `home assistant`, `sonarr`), not the app's.
fn other_services(text: &str, app: &App) -> Vec<String> {
    let tokens: Vec<String> = words(text).collect();
    let mut out = Vec::new();
    for length in 1..=3 {
        for start in 0..tokens.len().saturating_sub(length - 1) {
            let parts = &tokens[start..start + length];
            // The first word gives the order ("send gatus alerts to discord"), whatever
            // service shares its name.
            if length == 1
                && (NOT_NAMES.contains(&parts[0].as_str()) || parts[0].len() < 3 || start == 0)
            {
                continue;
            }
            if let Some(service) = catalogue().lookup(&parts.concat())
                && service.id != app.service
                && !app.names.contains(&parts.concat())
            {
                out.push(parts.join(" "));
            }
        }
    }
    out
}
