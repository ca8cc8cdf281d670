//! The homelab's portals: the web UIs its compose stacks publish, found the way the example's
//! `kuma-config-update.yml` finds them, so a plan can say which portals a step will monitor and
//! a person can drop some before approving.
//!
//! A portal is a stack at `stacks/<name>/compose.yml` (or `compose.yaml`,
//! `docker-compose.yml`). Its URL is `https://<host>` from the first Traefik router rule
//! `Host(`<host>`)`, else `http://<inventory host>:<first published port>`, plus the optional
//! `x-homelab.path`; its name is `x-homelab.name`, else the directory name; its inventory host is
//! the first host of the `x-homelab.hosts` group.
//!
//! A playbook that takes a list of portals says so in its first play:
//! `vars: { chiffon_portals: <variable name> }`. The plan then passes the chosen stack names in
//! that variable (`Core::attach_portals`).
//!
//! Invariant: only reads files; a stack that cannot be read is left out, not fatal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One web UI the homelab publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Portal {
    /// The stack's directory name: what a playbook is given.
    pub stack: String,
    pub name: String,
    pub url: String,
}

const COMPOSE_FILES: &[&str] = &["compose.yml", "compose.yaml", "docker-compose.yml"];

/// The portals under `<repo>/stacks`, by stack name.
pub fn discover(repo: &Path, groups: &BTreeMap<String, BTreeSet<String>>) -> Vec<Portal> {
    let Ok(entries) = std::fs::read_dir(repo.join("stacks")) else {
        return Vec::new();
    };
    let mut portals: Vec<Portal> = entries
        .flatten()
        .filter(|e| crate::repo::is_real_dir(&e.path()))
        .filter_map(|e| {
            let stack = e.file_name().to_str()?.to_owned();
            let file = COMPOSE_FILES
                .iter()
                .map(|f| e.path().join(f))
                .find(|p| p.is_file())?;
            let text = crate::repo::read_text(&file)?;
            let compose: serde_json::Value = serde_saphyr::from_str(&text).ok()?;
            portal(&stack, &compose, groups)
        })
        .collect();
    portals.sort_by(|a, b| a.stack.cmp(&b.stack));
    portals
}

fn portal(
    stack: &str,
    compose: &serde_json::Value,
    groups: &BTreeMap<String, BTreeSet<String>>,
) -> Option<Portal> {
    let meta = &compose["x-homelab"];
    let services = compose["services"].as_object()?;
    let service = meta["service"]
        .as_str()
        .and_then(|name| services.get(name))
        .or_else(|| services.values().next())?;
    let labels: Vec<String> = match &service["labels"] {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|l| l.as_str().map(str::to_owned))
            .collect(),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect(),
        _ => Vec::new(),
    };
    let fqdn = labels
        .iter()
        .find(|l| l.starts_with("traefik.http.routers.") && l.contains(".rule="))
        .and_then(|rule| {
            let start = rule.find("Host(`")? + "Host(`".len();
            let end = rule[start..].find('`')? + start;
            Some(rule[start..end].to_owned())
        });
    let hosts = meta["hosts"].as_str().unwrap_or(stack);
    let host = groups
        .get(hosts)
        .and_then(|members| members.iter().next())
        .map_or(hosts, String::as_str);
    let base = match fqdn {
        Some(fqdn) => format!("https://{fqdn}"),
        None => {
            let port = published_port(service["ports"].as_array()?.first()?)?;
            format!("http://{host}:{port}")
        }
    };
    Some(Portal {
        stack: stack.to_owned(),
        name: meta["name"].as_str().unwrap_or(stack).to_owned(),
        url: format!("{base}{}", meta["path"].as_str().unwrap_or_default()),
    })
}

/// `"8080:80"`, `"80:80/tcp"`, `"127.0.0.1:8080:80"`, `8080` or `{published: 8080, …}`.
fn published_port(spec: &serde_json::Value) -> Option<String> {
    if let Some(published) = spec.get("published") {
        return Some(published.to_string().trim_matches('"').to_owned());
    }
    let text = match spec {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let parts: Vec<&str> = text.split('/').next()?.split(':').collect();
    Some(
        if parts.len() > 1 {
            parts[parts.len() - 2]
        } else {
            parts[0]
        }
        .to_owned(),
    )
}

/// The variable a playbook takes its portal list in (`vars: chiffon_portals:` of its first
/// play that has one), if it takes one.
pub fn input_variable(repo: &Path, playbook: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Play {
        vars: Option<serde_json::Value>,
    }
    let text = crate::repo::read_text(&repo.join(playbook))?;
    let plays: Vec<Play> = serde_saphyr::from_str(&text).ok()?;
    plays.iter().find_map(|p| {
        p.vars
            .as_ref()?
            .get("chiffon_portals")?
            .as_str()
            .map(str::to_owned)
    })
}

/// The portals `text` asks to leave out: a portal named (by stack or name) within four words
/// after drop, remove, skip, without, except, exclude, not, no, don't or ignore.
pub fn dropped<'a>(text: &str, portals: &'a [Portal]) -> BTreeSet<&'a str> {
    const DROP: &[&str] = &[
        "drop", "remove", "skip", "without", "except", "exclude", "not", "no", "don't", "dont",
        "ignore", "leave",
    ];
    let words: Vec<String> = text
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let mut out = BTreeSet::new();
    for portal in portals {
        let names: Vec<String> = [portal.stack.to_lowercase(), portal.name.to_lowercase()]
            .into_iter()
            .flat_map(|n| {
                let joined = n.replace([' ', '_'], "-");
                let first = n.split_whitespace().next().unwrap_or_default().to_owned();
                [joined, first, n.replace('-', "")]
            })
            .collect();
        for (at, word) in words.iter().enumerate() {
            let plain = word.replace('-', "");
            let named = names
                .iter()
                .any(|n| n == word || n.replace('-', "") == plain);
            if named
                && words[at.saturating_sub(4)..at]
                    .iter()
                    .any(|w| DROP.contains(&w.as_str()))
            {
                out.insert(portal.stack.as_str());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Vec<Portal> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab-infra");
        let catalogue = crate::catalogue::Catalogue::discover(&repo).unwrap();
        discover(&repo, &catalogue.groups)
    }

    #[test]
    fn the_example_homelab_publishes_six_portals() {
        let portals = example();
        let by_stack: BTreeMap<&str, &str> = portals
            .iter()
            .map(|p| (p.stack.as_str(), p.url.as_str()))
            .collect();
        assert_eq!(by_stack.len(), 6, "{portals:?}");
        assert_eq!(by_stack["pihole"], "http://pi:80/admin/");
        assert_eq!(by_stack["traefik"], "https://traefik.home.arpa/dashboard/");
        let names: Vec<&str> = portals.iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"Pi-hole"), "{names:?}");
    }

    #[test]
    fn a_change_drops_the_portals_it_names_after_a_drop_word() {
        let portals = example();
        let drop = |text: &str| dropped(text, &portals).into_iter().collect::<Vec<_>>();
        assert_eq!(drop("drop pihole and traefik"), ["pihole", "traefik"]);
        assert_eq!(
            drop("monitor everything except Home Assistant"),
            ["home-assistant"]
        );
        assert_eq!(drop("don't monitor the Pi-hole admin page"), ["pihole"]);
        assert!(drop("deploy kuma and add jellyfin and pihole").is_empty());
        assert!(drop("add our existing portals to its config").is_empty());
    }

    #[test]
    fn ports_are_read_in_every_compose_form() {
        let port = |v: serde_json::Value| published_port(&v).unwrap();
        assert_eq!(port(serde_json::json!("8080:80")), "8080");
        assert_eq!(port(serde_json::json!("80:80/tcp")), "80");
        assert_eq!(port(serde_json::json!("127.0.0.1:8443:443")), "8443");
        assert_eq!(port(serde_json::json!(9000)), "9000");
        assert_eq!(
            port(serde_json::json!({"published": 8123, "target": 8123})),
            "8123"
        );
    }
}
