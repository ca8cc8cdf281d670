//! Rules for variables: versions and image tags that move (`latest`, `main`, an empty
//! version meaning "the newest") unless the inventory pins them, and on/off switches a role
//! defines that no task, template or condition reads.

use crate::repo::outline::Node;
use crate::suggest::Severity;
use crate::suggest::findings::Findings;
use crate::suggest::rules::containers::moving_tag;
use crate::suggest::source::{Kind, Source, View};

pub(crate) fn check(found: &mut Findings<'_>, source: &Source, view: &View) {
    let Kind::Vars { role } = source.kind else {
        return;
    };
    for entry in source.nodes.iter().filter(|n| n.key.is_some()) {
        version(found, entry, view, source);
        if role {
            toggle(found, entry, view);
        }
    }
}

/// Where a variable is used: in an image reference, a download, or neither.
fn usage(view: &View, key: &str, defined_in: &str) -> (bool, bool) {
    let (mut image, mut download) = (false, false);
    for source in view.sources.iter().filter(|s| s.file != defined_in) {
        for line in source.text.lines().filter(|l| mentions(l, key)) {
            let line = line.to_ascii_lowercase();
            image |= line.contains("image");
            download |= ["url", "http", "src:", "download", "curl", "wget"]
                .iter()
                .any(|w| line.contains(w));
        }
    }
    (image, download)
}

/// `key` as a whole word in `line`.
fn mentions(line: &str, key: &str) -> bool {
    line.match_indices(key).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + key.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn version(found: &mut Findings<'_>, entry: &Node, view: &View, source: &Source) {
    let key = entry.key.as_deref().unwrap_or_default();
    let value = entry.scalar();
    let versioned = ["_version", "_tag", "_image", "_release"]
        .iter()
        .any(|s| key.ends_with(s));
    if !versioned || value.contains("{{") {
        return;
    }
    // `app_image: repo` beside `app_tag: 1.2` is joined into a pinned reference.
    let stem = key.rsplit_once('_').map_or(key, |(stem, _)| stem);
    if key.ends_with("_image")
        && ["_tag", "_version", "_image_tag", "_image_version"]
            .iter()
            .any(|s| view.vars.contains_key(&format!("{stem}{s}")))
    {
        return;
    }
    let moving = if key.ends_with("_image") {
        let last = value.rsplit('/').next().unwrap_or(value);
        !value.contains(' ')
            && match last.split_once(':') {
                None => !value.contains('@') && !value.is_empty(),
                Some((_, tag)) => moving_tag(tag),
            }
    } else if value.is_empty() {
        // An empty version that the file itself says means "the newest".
        let previous = found
            .line_text(entry.line.saturating_sub(1))
            .to_ascii_lowercase();
        previous.contains("latest") || previous.contains("newest")
    } else {
        moving_tag(value)
    };
    if !moving {
        return;
    }
    // The inventory (or another file) pinning it overrides the role's default.
    let pinned_elsewhere = view.vars.get(key).is_some_and(|defs| {
        defs.iter().any(|d| {
            d.file != source.file
                && !d.value.is_empty()
                && !moving_tag(&d.value)
                && !d.value.ends_with(":latest")
        })
    });
    if pinned_elsewhere {
        return;
    }
    let (image, download) = usage(view, key, &source.file);
    let as_image = image
        || (!download && (key.contains("image") || key.contains("tag") || key.contains("docker")));
    let shown = if value.is_empty() { "empty" } else { value };
    if as_image {
        found.add(
            "unpinned-image",
            entry.line,
            Severity::High,
            format!("{key} is {shown}, so the image it selects moves: a re-deploy silently upgrades (or breaks) the service, and two hosts can run two versions. Pin the version you run, and upgrade by changing it."),
            None,
        );
    } else if download || value.is_empty() {
        found.add(
            "moving-download",
            entry.line,
            Severity::Medium,
            format!("{key} is {shown}, so what gets downloaded changes under you: two runs can install two versions. Pin a release."),
            None,
        );
    } else {
        found.add(
            "unpinned-image",
            entry.line,
            Severity::Medium,
            format!("{key} is {shown}: the version it selects moves, so re-runs upgrade without anyone deciding it. Pin the version you run."),
            None,
        );
    }
}

/// A name that reads as an on/off switch.
fn is_switch(key: &str, value: &str) -> bool {
    let boolean = matches!(value, "true" | "false" | "yes" | "no" | "True" | "False");
    boolean
        && (key.ends_with("_enabled")
            || key.contains("_configure_")
            || key.starts_with("enable_")
            || key.starts_with("configure_"))
}

fn toggle(found: &mut Findings<'_>, entry: &Node, view: &View) {
    let key = entry.key.as_deref().unwrap_or_default();
    if !is_switch(key, entry.scalar()) {
        return;
    }
    // Its own definition is one mention; a name put together in Jinja is another way in.
    let used = view.count(key) > 1
        || view
            .sources
            .iter()
            .any(|source| source.text.lines().any(|line| built_name(line, key)));
    if used {
        return;
    }
    found.add(
        "toggle-gates-nothing",
        entry.line,
        Severity::Low,
        format!("{key} looks like an on/off switch, but no task, template or `when:` reads it: changing it does nothing, and whoever sets it believes otherwise. Use it in a `when:`, or remove it."),
        Some(found.replace_line(entry.line, None)),
    );
}

/// A name put together in Jinja (`arr_stack_{{ app }}_enabled`, `'x_' ~ app ~ '_enabled'`)
/// that can be `key`.
fn built_name(line: &str, key: &str) -> bool {
    let Some(cut) = key.find('_') else {
        return false;
    };
    let (prefix, suffix) = (&key[..=cut], &key[key.rfind('_').unwrap_or(cut)..]);
    line.match_indices(prefix).any(|(at, _)| {
        let rest = &line[at + prefix.len()..];
        (rest.starts_with("{{")
            || rest.starts_with("' ~")
            || rest.starts_with("' +")
            || rest.starts_with("\" ~"))
            && rest.contains(suffix)
    })
}
