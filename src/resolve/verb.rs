//! The verb of a request: deploy, remove, upgrade, configure, restart, stop, start, status or
//! logs, from the words people use ("bounce it", "bump … to the newest release", "is … up?").

use serde::Serialize;

use crate::services::words;

/// What a person wants done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    Deploy,
    Remove,
    Upgrade,
    Configure,
    Restart,
    Stop,
    Start,
    Status,
    Logs,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Deploy => "deploy",
            Verb::Remove => "remove",
            Verb::Upgrade => "upgrade",
            Verb::Configure => "configure",
            Verb::Restart => "restart",
            Verb::Stop => "stop",
            Verb::Start => "start",
            Verb::Status => "status",
            Verb::Logs => "logs",
        }
    }

    /// The planner's name for an action (`check` is a status).
    pub fn from_action(action: &str) -> Option<Verb> {
        Some(match action {
            "deploy" | "install" => Verb::Deploy,
            "remove" | "uninstall" => Verb::Remove,
            "upgrade" | "update" => Verb::Upgrade,
            "configure" => Verb::Configure,
            "restart" => Verb::Restart,
            "stop" => Verb::Stop,
            "start" => Verb::Start,
            "status" | "check" => Verb::Status,
            "logs" => Verb::Logs,
            _ => return None,
        })
    }

    /// Verbs Chiffon answers with its own action playbooks.
    pub fn is_builtin(self) -> bool {
        matches!(
            self,
            Verb::Restart | Verb::Stop | Verb::Start | Verb::Status | Verb::Logs
        )
    }
}

/// A clause that opens with a lifecycle verb is the order, whatever the rest tells
/// ("owui has been down since the reboot, start it"; "drop linkding, i use bookmarks now").
/// Only verbs with one meaning at the head of a clause count: "update the config" is a
/// setting, "check the logs" asks for logs, so neither is read here.
fn imperative(text: &str) -> Option<Verb> {
    const FILLERS: &[&str] = &[
        "please", "pls", "just", "now", "then", "so", "can", "could", "would", "you", "go",
        "ahead", "and", "ok", "okay",
    ];
    let lower = text.to_lowercase();
    lower
        .split([',', ';', '—', '!', '?'])
        .flat_map(|clause| clause.split(". "))
        .find_map(|clause| {
            let mut tokens = words(clause).skip_while(|t| FILLERS.contains(&t.as_str()));
            let head = tokens.next()?;
            let next = tokens.next();
            // "drop has a new release out": the head is a name the clause says something
            // about, not an order.
            if next.as_deref().is_some_and(says_how_it_is) {
                return None;
            }
            Some(match head.as_str() {
                // "reinstall the docker engine on earth-docker, the daemon won't start".
                "reinstall" | "redeploy" => Verb::Deploy,
                // "kick off the docker auto-update now": run it, not restart it.
                "kick" if next.as_deref() == Some("off") => Verb::Start,
                "restart" | "bounce" | "reboot" | "kick" | "cycle" => Verb::Restart,
                // "get rid of onlyoffice, I don't edit documents anymore".
                "get" if clause.contains("get rid of") => Verb::Remove,
                // "stop shipping the logs to loki", "start sending alerts to ntfy": what a
                // service does, a setting; "stop sonarr" is an order.
                "stop" | "halt" | "start" if gerund(next.as_deref()) => Verb::Configure,
                "stop" | "halt" => Verb::Stop,
                "start" | "boot" if !gerund(next.as_deref()) => Verb::Start,
                // "set them to europe/paris", not "set up immich" or "set it up".
                "set" if !words(clause).any(|w| w == "up") => Verb::Configure,
                // "drop the stream to 360p", "drop retention to 7 days": a level lowered.
                "drop" if to_a_value(clause) => Verb::Configure,
                "remove" | "uninstall" | "delete" | "drop" | "purge" | "decommission" => {
                    Verb::Remove
                }
                // "tear down loki, the logs go elsewhere now"; "take qbittorrent out of the
                // stack".
                "tear" if next.as_deref() == Some("down") => Verb::Remove,
                // "shut the game server down for now", "shut it off".
                "shut"
                    if words(clause).any(|w| w == "down" || w == "off")
                        && !lower.contains("for good")
                        && !lower.contains("permanently") =>
                {
                    Verb::Stop
                }
                "take" if clause.contains(" out of ") => Verb::Remove,
                // "make the update checker run once a day", "have the monitoring ping
                // 1.1.1.1 as well", "let the phones subscribe": how a service behaves.
                "make" | "have" | "let"
                    if !next
                        .as_deref()
                        .is_some_and(|n| matches!(n, "sure" | "s" | "us" | "me")) =>
                {
                    Verb::Configure
                }
                _ => return None,
            })
        })
}

/// A word after a clause's first word that makes that first word its subject ("drop has …",
/// "start is …"): a state said about something, not an order.
fn says_how_it_is(word: &str) -> bool {
    matches!(
        word,
        "has"
            | "is"
            | "was"
            | "keeps"
            | "isn"
            | "isnt"
            | "won"
            | "wont"
            | "doesn"
            | "doesnt"
            | "seems"
            | "looks"
            | "stopped"
            | "went"
            | "will"
            | "got"
    )
}

/// Whether the request opens with a question about a state ("is loki up?", "are the arr apps
/// running?"), a question mark closing it.
fn asks_whether_up(lower: &str) -> bool {
    let Some((question, _)) = lower.split_once('?') else {
        return false;
    };
    if question.contains([',', ';', '.']) {
        return false;
    }
    let tokens: Vec<String> = words(question).collect();
    matches!(tokens.first().map(String::as_str), Some("is" | "are"))
        && tokens.iter().skip(1).any(|t| {
            matches!(
                t.as_str(),
                "up" | "running"
                    | "alive"
                    | "online"
                    | "down"
                    | "working"
                    | "healthy"
                    | "answering"
                    | "responding"
                    | "reachable"
            )
        })
}

/// "shipping", "sending": a verb going on, not a name ("stop sonarr", "start syncthing").
fn gerund(word: Option<&str>) -> bool {
    word.is_some_and(|w| {
        w.len() > 4
            && w.ends_with("ing")
            && !matches!(w, "nothing" | "everything" | "something")
            && crate::services::catalogue().lookup(w).is_none()
    })
}

/// Whether a clause sets something "to" a value: a number, or a number with its unit
/// ("to 360p", "to 7 days", "to 200m").
fn to_a_value(clause: &str) -> bool {
    let tokens: Vec<String> = words(clause).collect();
    tokens
        .windows(2)
        .any(|w| w[0] == "to" && w[1].chars().next().is_some_and(|c| c.is_ascii_digit()))
}

/// Reads the verb of a request.
pub fn verb_of(text: &str) -> Verb {
    stated_verb(text).unwrap_or(Verb::Deploy)
}

/// The verb the words of `text` state, other than deploy (which is also what a request that
/// states none means).
pub fn stated_verb(text: &str) -> Option<Verb> {
    if let Some(verb) = imperative(text) {
        return Some(verb);
    }
    let lower = format!(" {} ", text.to_lowercase());
    let tokens: Vec<String> = words(&lower).collect();
    let has = |w: &str| tokens.iter().any(|t| t == w);
    let phrase = |p: &str| lower.contains(p);
    let signs_in = signs_in(&tokens);
    // "keep two weeks of journal logs": how long something is kept, a setting; so is when
    // people are logged out ("after a day idle").
    if keeps_for_a_while(&tokens) || signs_in && tokens.iter().any(|t| period(t) || t == "idle") {
        return Some(Verb::Configure);
    }
    // "is loki up? grafana shows no logs since noon": the question asked is the order; the
    // logs are what the person saw.
    if asks_whether_up(&lower) {
        return Some(Verb::Status);
    }
    // A setting said as a change from one value to another ("check every 30 seconds instead of
    // every minute"), or turned up or down to a level ("turn z2m logging up to debug", "turn
    // pangolin's log level up to debug"): how much a service logs is a setting.
    if turns_a_level(&tokens) {
        return Some(Verb::Configure);
    }
    // "show me what the ups daemon has been logging, the nas shut down last night": what it
    // wrote is asked for; the shutdown is what happened.
    if asks_for_logs(&lower, &tokens, signs_in) {
        return Some(Verb::Logs);
    }
    // "the nightly backups start at 6am, run them at 3am": when something runs, a schedule.
    let at_a_time = tokens.windows(3).any(|w| {
        matches!(
            w[0].as_str(),
            "start" | "starts" | "run" | "runs" | "fire" | "fires"
        ) && w[1] == "at"
            && w[2].chars().next().is_some_and(|c| c.is_ascii_digit())
    });
    if phrase(" instead of ") || at_a_time {
        return Some(Verb::Configure);
    }
    let asked = asks_after_a_state(&lower, &tokens);
    // "the status page" names a kind of service, not a question about one.
    let status_asked = tokens
        .windows(2)
        .any(|w| w[0] == "status" && !w[1].starts_with("page"))
        || tokens.last().is_some_and(|t| t == "status");
    if status_asked || has("healthy") || has("health") || has("check") || has("verify") || asked {
        return Some(Verb::Status);
    }
    // Switching something on or off *in* a service is a setting of it ("turn on the ratio
    // limit in transmission"), not starting or stopping the service.
    let switches = phrase("turn on") || phrase("turn off") || has("enable") || has("disable");
    if switches && has("in") {
        return Some(Verb::Configure);
    }
    if [
        "change",
        "edit",
        "configure",
        "config",
        "configuration",
        "tweak",
        "modify",
        "settings",
        "signups",
        "rewrite",
        "tile",
        "widget",
    ]
    .iter()
    .any(|w| has(w))
        || phrase(" add a ")
        // "switch caddy from the self-signed certs to let's encrypt": a setting changed.
        || has("switch") && has("from") && has("to")
        // "open port 9090 from the lan in the firewall": a rule changed.
        || tokens.windows(2).any(|w| {
            matches!(w[0].as_str(), "open" | "close" | "forward" | "unblock")
                && matches!(w[1].as_str(), "port" | "ports")
        })
        // "point it at the new nas", not "the next point release".
        || tokens.windows(2).any(|w| {
            w[0] == "point" && !matches!(w[1].as_str(), "release" | "releases" | "version")
        })
    {
        return Some(Verb::Configure);
    }
    if [
        "remove",
        "uninstall",
        "delete",
        "decommission",
        "teardown",
        "purge",
    ]
    .iter()
    .any(|w| has(w))
        || phrase("tear down")
        || phrase("get rid of")
        || phrase("take down")
        || phrase("rip out")
        // "take jellyfin off the lxc", not "take it offline" (a stop).
        || has("take") && has("off")
        || (has("offline") || has("down")) && (phrase("for good") || has("permanently"))
    {
        return Some(Verb::Remove);
    }
    if changes_version(&tokens) {
        return Some(Verb::Upgrade);
    }
    if ["upgrade", "update", "bump", "newest", "newer", "upgrades"]
        .iter()
        .any(|w| has(w))
        || phrase("new release")
        || phrase("new version")
        || phrase("latest version")
        || phrase("latest release")
        || phrase("current release")
        || phrase("current version")
    {
        return Some(Verb::Upgrade);
    }
    if ["restart", "bounce", "reboot", "reload", "kick", "cycle"]
        .iter()
        .any(|w| has(w))
    {
        return Some(Verb::Restart);
    }
    if ["stop", "halt", "pause", "disable"].iter().any(|w| has(w))
        || phrase("turn off")
        || has("offline")
        || phrase("shut down")
        || phrase("shut off")
    {
        return Some(Verb::Stop);
    }
    // "the start page says …" names a page, not an order.
    let start = tokens
        .windows(2)
        .any(|w| w[0] == "start" && !matches!(w[1].as_str(), "page" | "menu"))
        || tokens.last().is_some_and(|t| t == "start");
    if start || phrase("turn on") || brought_back_up(&tokens) || phrase("power on") {
        return Some(Verb::Start);
    }
    // "the render group is gid 992 now": a fact that changed, for a setting to follow.
    if states_a_new_value(&tokens) {
        return Some(Verb::Configure);
    }
    None
}

/// Logs asked for: the word (not "log in"), what a service has been logging or complains of.
fn asks_for_logs(lower: &str, tokens: &[String], signs_in: bool) -> bool {
    let has = |w: &str| tokens.iter().any(|t| t == w);
    (has("log") && !signs_in)
        || has("logs")
        || [
            "been logging",
            "complaining",
            "error messages",
            "what went wrong",
        ]
        .iter()
        .any(|p| lower.contains(p))
}

/// A setting turned up or down to a level ("turn z2m logging up to debug"), or a log level
/// named: how much a service logs is a setting, not its logs.
fn turns_a_level(tokens: &[String]) -> bool {
    let has = |w: &str| tokens.iter().any(|t| t == w);
    let turned = tokens.windows(3).any(|w| {
        matches!(w[0].as_str(), "up" | "down") && w[1] == "to" && w[2].parse::<f64>().is_err()
    }) && has("turn");
    turned
        || tokens
            .windows(2)
            .any(|w| matches!(w[0].as_str(), "log" | "logging") && w[1] == "level")
        || has("loglevel")
        || has("verbosity")
}

/// "bring it back up", not "so the phones can back up their photos" (a backup).
fn brought_back_up(tokens: &[String]) -> bool {
    const OBJECTS: &[&str] = &[
        "their",
        "my",
        "our",
        "your",
        "the",
        "all",
        "everything",
        "photos",
        "files",
        "data",
    ];
    tokens.windows(2).enumerate().any(|(i, w)| {
        w[0] == "back"
            && w[1] == "up"
            && !tokens
                .get(i + 2)
                .is_some_and(|next| OBJECTS.contains(&next.as_str()))
    })
}

/// Whether the request states that something now has a new value: "now", and "is" or "are"
/// followed within three words by one with a figure ("is gid 992 now", "is on /dev/video2
/// now").
fn states_a_new_value(tokens: &[String]) -> bool {
    tokens.iter().any(|t| t == "now")
        && tokens.iter().enumerate().any(|(i, t)| {
            matches!(t.as_str(), "is" | "are")
                && tokens
                    .iter()
                    .skip(i + 1)
                    .take(3)
                    .any(|w| w.chars().any(|c| c.is_ascii_digit()))
        })
}

/// "is it up?", "is prometheus up on nas", "radarr alive? movies aren't being grabbed": a
/// question after a service's state.
fn asks_after_a_state(lower: &str, tokens: &[String]) -> bool {
    let has = |w: &str| tokens.iter().any(|t| t == w);
    // "up" as a state, not "set up" / "spin up" / "back up".
    let up = tokens.iter().enumerate().any(|(i, t)| {
        t == "up"
            && !i
                .checked_sub(1)
                .and_then(|p| tokens.get(p))
                .is_some_and(|p| {
                    matches!(
                        p.as_str(),
                        "set" | "spin" | "bring" | "stand" | "back" | "fire" | "start" | "turn"
                    )
                })
    });
    let state_word = has("running") || up || has("alive") || has("down");
    lower.trim_end().ends_with('?') && (lower.trim_start().starts_with("is ") || state_word)
        || lower.split('?').rev().skip(1).any(|before| {
            before
                .split_whitespace()
                .last()
                .is_some_and(|w| matches!(w, "alive" | "up" | "running" | "down" | "ok" | "okay"))
        })
        || matches!(tokens.first().map(String::as_str), Some("is" | "are")) && state_word
}

/// "log in" / "log into" / "log out" / "log people out" is signing in, not logs.
fn signs_in(tokens: &[String]) -> bool {
    let signing = |w: &str| matches!(w, "in" | "into" | "on" | "out" | "off");
    tokens.iter().enumerate().any(|(i, t)| {
        let after = |k: usize| tokens.get(i + k).map_or("", String::as_str);
        t == "log"
            && (signing(after(1))
                || matches!(
                    after(1),
                    "people"
                        | "everyone"
                        | "everybody"
                        | "users"
                        | "me"
                        | "us"
                        | "them"
                        | "him"
                        | "her"
                ) && signing(after(2)))
    })
}

/// A length of time: "day", "weeks", "hours".
fn period(word: &str) -> bool {
    matches!(
        word,
        "minute"
            | "minutes"
            | "hour"
            | "hours"
            | "day"
            | "days"
            | "week"
            | "weeks"
            | "month"
            | "months"
            | "year"
            | "years"
    )
}

/// "keep two weeks of logs", "keep the dumps for 30 days", "retain 90 days": a retention.
fn keeps_for_a_while(tokens: &[String]) -> bool {
    // Not "keeps": "it keeps crashing for days" is a complaint; so is "sessions keep dropping
    // after a minute".
    let keeps = |w: &str| matches!(w, "keep" | "retain");
    tokens.iter().enumerate().any(|(i, t)| {
        keeps(t)
            && !tokens.get(i + 1).is_some_and(|w| w.ends_with("ing"))
            && tokens.iter().skip(i + 1).take(6).any(|w| period(w))
    })
}

/// "move it to 17", "move it to the next minor", "pin n8n to 1.107.0", "still on 16": a version
/// change, not a port ("move grafana to port 3300").
fn changes_version(tokens: &[String]) -> bool {
    let has = |w: &str| tokens.iter().any(|t| t == w);
    let versionish = |w: &str| {
        let w = w.strip_prefix('v').unwrap_or(w);
        w.chars().next().is_some_and(|c| c.is_ascii_digit())
    };
    let moves_version = (has("move") || has("pin") || has("downgrade"))
        && tokens.iter().enumerate().any(|(i, t)| {
            let after = |k: usize| tokens.get(i + k).map_or("", String::as_str);
            t == "to"
                && (versionish(after(1)) && (i == 0 || tokens[i - 1] != "port")
                    // "move it to a 25.x release"
                    || matches!(after(1), "a" | "the") && versionish(after(2))
                    // "move uptime kuma to version 2"
                    || matches!(after(1), "version" | "release") && versionish(after(2))
                    || matches!(after(2), "minor" | "major" | "release" | "version")
                    || matches!(after(3), "minor" | "major" | "release" | "version"))
        });
    let still_on = tokens
        .windows(3)
        .any(|w| w[0] == "still" && w[1] == "on" && versionish(&w[2]))
        || tokens.windows(2).any(|w| {
            w[0] == "still" && versionish(&w[1]) && w[1].contains(|c: char| c.is_ascii_digit())
        });
    moves_version || still_on
}
