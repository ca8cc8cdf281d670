//! Where an app's version is pinned: the image tag written inline (in a compose file, a
//! task, a fact), the variable that holds the image or its tag (followed through a variable
//! that writes the tag with another), or, for an app built without an image, a
//! `<name>_version` variable. A tag without a digit is a channel: an upgrade re-pulls, when
//! the deployment pulls again; when nothing pulls, the image line itself is the pin to write.

use crate::discovery::apps::{Definition, Pin};
use crate::discovery::index::{Index, under};
use crate::discovery::plays::Reach;
use crate::discovery::{Repository, VarDef, unquote, var_rank};
use crate::text::normalize;

/// Whether re-running what deploys an app pulls its image again: `pull: always` (or `true`,
/// `yes`, `newer`) on a container or compose task, a `docker compose pull` or `podman pull`
/// command, `pull_policy: always` in the compose file, `Pull=always` or `AutoUpdate=registry`
/// in a unit. Read in the file writing the image, its role's tasks (or, outside a role, its
/// folder), and the playbooks reaching it.
pub(super) fn repulls(index: &Index<'_>, file: &str, role: Option<&str>, reach: &[Reach]) -> bool {
    let folder = match role {
        Some(role) => format!("{role}/tasks/"),
        None => {
            let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
            // `playbooks/sonarr/templates/x` is deployed by `playbooks/sonarr/*.yaml`.
            let dir = match dir.rsplit_once('/') {
                Some((up, "templates" | "files")) => up,
                _ => dir,
            };
            format!("{dir}/")
        }
    };
    index.pulls(file)
        || under(index.by_path, &folder).any(|(path, _)| index.pulls(path))
        || reach.iter().any(|r| index.pulls(&r.playbook))
}

/// Whether a file's text pulls images on every run.
pub(super) fn says_pull(text: &str) -> bool {
    text.lines().any(|line| {
        let line: String = line
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, '"' | '\''))
            .collect();
        let line = line.trim().trim_start_matches("- ");
        let setting = |key: &str| {
            line.strip_prefix(key)
                .and_then(|rest| rest.trim_start().strip_prefix(':'))
                .is_some_and(|v| matches!(v.trim(), "true" | "yes" | "always" | "newer"))
        };
        setting("pull")
            || setting("pull_policy")
            || setting("force_source")
            || line.contains("compose pull")
            || line.contains("docker pull")
            || line.contains("podman pull")
            || line.match_indices("--pull").any(|(at, said)| {
                // `--pull always`, `--pull=always`, or an argv list's `--pull, always`.
                let rest = line[at + said.len()..].trim_start_matches([' ', ',', '=']);
                rest.starts_with("always") || rest.starts_with("newer")
            })
            || line.starts_with("pull=always")
            || line.starts_with("pull=newer")
            || line.starts_with("autoupdate=registry")
    })
}

pub(super) fn pin(repository: &Repository, definition: &Definition, repulled: bool) -> Option<Pin> {
    let written = definition.image.as_deref()?;
    let tag_of = |image: &str| {
        let image = image.trim().split('@').next().unwrap_or("");
        let last_slash = image.rfind('/').map_or(0, |i| i + 1);
        image[last_slash..]
            .split_once(':')
            .map(|(_, tag)| tag.to_lowercase())
    };
    // No tag, or a channel rather than a version (`latest`, `stable`, `main`, `nightly`,
    // `alpine`: no digit in it): a re-run pulls whatever the channel points at now.
    let latest = |image: &str| {
        tag_of(image)
            .is_none_or(|t| t.starts_with("latest") || !t.chars().any(|c| c.is_ascii_digit()))
    };
    if written.contains("{{") {
        // A variable followed by a `/` names the registry or namespace
        // (`{{ username }}/nextcloud-custom`), not the version.
        let vars: Vec<&str> = written
            .split("{{")
            .skip(1)
            .filter_map(|part| part.split_once("}}"))
            .filter(|(_, after)| !after.starts_with('/'))
            .map(|(v, _)| v.split('|').next().unwrap_or("").trim())
            .collect();
        for var in vars.iter().rev() {
            if let Some((var, definition)) = tag_variable(repository, var) {
                let value = repository.expand(&definition.value);
                // A full image reference at `latest` is a re-pull; a tag variable (even one
                // set to `latest`) is the pin to change.
                let holds_image = value.contains('/') || value.contains(':');
                if holds_image && latest(&value) && repulled {
                    return Some(Pin::Latest);
                }
                return Some(Pin::Var {
                    file: definition.file.clone(),
                    var,
                    value,
                });
            }
        }
        return None;
    }
    if latest(written) && repulled {
        return Some(Pin::Latest);
    }
    // A Quadlet unit, written inline or as a file, names its image on its `Image=` line.
    let quadlet = definition.inline.is_some() && !definition.compose
        || crate::discovery::apps::is_quadlet_file(&definition.file);
    let var = match (&definition.key, &definition.fact) {
        _ if quadlet => "Image".to_owned(),
        (Some(key), _) if definition.compose => format!("services.{key}.image"),
        (_, Some(fact)) => format!("{fact}.image"),
        (Some(key), None) => format!("services.{key}.image"),
        _ => "image".to_owned(),
    };
    Some(Pin::Var {
        file: definition.file.clone(),
        var,
        value: tag_of(written).unwrap_or_default(),
    })
}

/// An image whose tag the compose file takes from its environment (`image:
/// ghcr.io/paperless-ngx/paperless-ngx:${APP_VERSION}`), written by an env file the role
/// templates beside it (`APP_VERSION={{ ppls_app_version }}` in `.env.j2`): that variable;
/// or, for a compose file written inline, the `APP_VERSION=` line of the environment written
/// inline beside it.
pub(super) fn env_pin(
    repository: &Repository,
    index: &Index<'_>,
    definition: &Definition,
    role: Option<&str>,
) -> Option<Pin> {
    let written = definition.image.as_deref()?;
    let tag = image_tag(written)?;
    let name = tag.split("${").nth(1)?;
    let name = name.split([':', '-', '}']).next()?.trim();
    if name.is_empty() {
        return None;
    }
    // Its environment file written inline beside it (`docker_compose_env: |`).
    if let Some((key, value)) = definition
        .inline
        .iter()
        .flat_map(|i| &i.env)
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
    {
        return Some(Pin::Var {
            file: definition.file.clone(),
            var: key.clone(),
            value: value.clone(),
        });
    }
    let scope = role.map_or_else(
        || crate::discovery::parent(&definition.file).to_owned(),
        str::to_owned,
    );
    let is_env = |path: &str| {
        let file = path.rsplit('/').next().unwrap_or(path);
        file.starts_with(".env") || file.ends_with(".env") || file.ends_with(".env.j2")
    };
    under(index.by_path, &format!("{scope}/"))
        .filter(|(path, _)| is_env(path))
        .flat_map(|(_, source)| source.text.lines())
        .filter_map(|line| line.trim().split_once('='))
        .filter(|(key, _)| key.trim().eq_ignore_ascii_case(name))
        .find_map(|(_, value)| {
            let var = value.split_once("{{")?.1.split_once("}}")?.0;
            let var = var.split('|').next()?.trim();
            // A key of a mapping of versions (`obs_apps_version.grafana`): the mapping's file.
            if let Some((head, _)) = var.split_once('.') {
                let found = repository.var_def(head)?;
                return Some(Pin::Var {
                    file: found.file.clone(),
                    var: var.to_owned(),
                    value: String::new(),
                });
            }
            let (var, found) = tag_variable(repository, var)?;
            Some(Pin::Var {
                file: found.file.clone(),
                var,
                value: repository.expand(&found.value),
            })
        })
}

/// The tag of an image reference written with `${…}` variables: after its last `:` outside
/// them (`${IMAGE:-ghcr.io/goauthentik/server}:${TAG:-2024.8.0}` → `${TAG:-2024.8.0}`).
fn image_tag(image: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut colon = None;
    for (at, c) in image.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => colon = Some(at),
            _ => {}
        }
    }
    Some(&image[colon? + 1..])
}

/// An app not run from an image (a binary, a package built with plugins) pinned by a
/// `<name>_version` variable (`caddy_version: 2.8.4` in its role's defaults).
pub(super) fn version_var(repository: &Repository, names: &[String]) -> Option<Pin> {
    let wanted: Vec<String> = names
        .iter()
        .take(3)
        .filter(|n| n.len() >= 3)
        // `checkmk_server_version` for the Checkmk server a collection's role installs.
        .flat_map(|n| [format!("{n}version"), format!("{n}serverversion")])
        .collect();
    let (var, definition) = repository
        .vars
        .iter()
        .filter(|(var, _)| wanted.contains(&normalize(var)))
        .flat_map(|(var, definitions)| definitions.iter().map(move |d| (var, d)))
        // A version, `latest`, or empty (the role's "newest" when unset).
        .filter(|(_, d)| {
            d.items.is_empty()
                && (d.value.chars().any(|c| c.is_ascii_digit())
                    || matches!(unquote(&d.value), "" | "latest"))
        })
        .min_by_key(|(_, d)| var_rank(&d.file))?;
    Some(Pin::Var {
        file: definition.file.clone(),
        var: var.clone(),
        value: repository.expand(&definition.value),
    })
}

/// The variable that holds the version: `var` itself, or, when its value writes the tag with
/// another variable (`prowlarr_image: "…/prowlarr:{{ prowlarr_version }}"`, also inside a
/// longer tag: `…/nextcloud:{{ nextcloud_version }}-fpm-alpine`), that one.
fn tag_variable<'a>(repository: &'a Repository, var: &str) -> Option<(String, &'a VarDef)> {
    let mut var = var.to_owned();
    let mut definition = repository.var_def(&var)?;
    for _ in 0..4 {
        let raw = definition.value.trim().trim_matches(['"', '\'']);
        let name_end = raw.rfind('/').map_or(0, |i| i + 1);
        let Some((_, tag)) = raw[name_end..].split_once(':') else {
            break;
        };
        // The variable written in the tag, with or without a suffix or prefix around it
        // (`{{ nextcloud_version }}-fpm-alpine`, `v{{ gitea_version }}`).
        let inner = tag
            .split_once("{{")
            .and_then(|(_, rest)| rest.split_once("}}"))
            .map(|(t, _)| t.split('|').next().unwrap_or("").trim());
        match inner.and_then(|v| Some((v, repository.var_def(v)?))) {
            Some((next, found)) if !next.is_empty() => {
                var = next.to_owned();
                definition = found;
            }
            _ => break,
        }
    }
    Some((var, definition))
}
