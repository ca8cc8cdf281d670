//! Rules about the repository as a whole: roles listed twice in a play, roles no play uses,
//! plays whose roles carry no tags (so one service cannot be run alone), and stray files
//! Ansible never loads (editor copies, backups).

use crate::repo::outline::Node;
use crate::suggest::findings::Findings;
use crate::suggest::source::{Kind, Source, View, each_task};
use crate::suggest::{Severity, Suggestion};

/// The role a `roles:` entry names (`- name`, `- role: name`, `- { role: name, … }`).
fn role_name(entry: &Node) -> Option<String> {
    let name = match entry.get("role").or_else(|| entry.get("name")) {
        Some(node) => node.scalar().to_owned(),
        None if entry.children.is_empty() => {
            let value = entry.scalar();
            match value.strip_prefix('{') {
                Some(inner) => inner
                    .split(',')
                    .find_map(|kv| kv.trim().strip_prefix("role:"))?
                    .trim()
                    .trim_matches(['"', '\''])
                    .to_owned(),
                None => value.to_owned(),
            }
        }
        None => return None,
    };
    (!name.is_empty()).then_some(name)
}

/// Plays: the same role twice, and roles without tags.
pub(crate) fn plays(found: &mut Findings<'_>, source: &Source, view: &View) {
    if source.kind != Kind::Playbook {
        return;
    }
    for play in source.nodes.iter().filter(|p| p.get("hosts").is_some()) {
        let Some(roles) = play.get("roles") else {
            continue;
        };
        let entries: Vec<(&Node, String)> = roles
            .children
            .iter()
            .filter_map(|e| Some((e, role_name(e)?)))
            .collect();
        for (i, (entry, name)) in entries.iter().enumerate() {
            let twice = entries[..i].iter().any(|(first, other)| {
                other == name && first.get("vars").is_none() && entry.get("vars").is_none()
            });
            if twice {
                found.add(
                    "duplicate-role",
                    entry.line,
                    Severity::Medium,
                    format!("role {name} is listed twice in this play, so it runs twice (and a role with side effects does them twice). Remove the second entry."),
                    Some(found.replace_line(entry.line, None)),
                );
            }
        }
        let untagged = entries
            .iter()
            .filter(|(entry, name)| entry.get("tags").is_none() && !tagged_inside(view, name))
            .count();
        if entries.len() >= 2 && untagged == entries.len() {
            found.add(
                "untagged-roles",
                play.line,
                Severity::Low,
                format!("this play applies {} roles and none carries a tag, so one service cannot be deployed or fixed alone (`--tags`) without running all of them. Tag each role entry (`- role: x` with `tags: [x]`).", entries.len()),
                None,
            );
        }
    }
}

/// Whether every task at the top of a role's `tasks/main.yml` carries tags.
fn tagged_inside(view: &View, role: &str) -> bool {
    let main = view.sources.iter().find(|s| {
        let parts: Vec<&str> = s.file.split('/').collect();
        parts.len() >= 3
            && parts[parts.len() - 3] == role.rsplit('/').next().unwrap_or(role)
            && parts[parts.len() - 2] == "tasks"
            && parts[parts.len() - 1].starts_with("main.")
    });
    main.is_some_and(|main| {
        let mut tasks = Vec::new();
        each_task(&main.nodes, &mut tasks);
        !tasks.is_empty() && tasks.iter().all(|t| t.get("tags").is_some())
    })
}

/// Roles (a folder under `roles/` with `tasks/main.yml`) whose name no other file mentions.
pub(crate) fn unused_roles(view: &View, out: &mut Vec<Suggestion>) {
    // Without a playbook the roles are a library (a collection), used from elsewhere.
    if !view.sources.iter().any(|s| s.kind == Kind::Playbook) {
        return;
    }
    for main in view.files.iter().filter(|f| is_role_main(f)) {
        let Some(role_dir) = main.rsplitn(3, '/').nth(2) else {
            continue;
        };
        let name = role_dir.rsplit('/').next().unwrap_or(role_dir);
        let used = view
            .mentioned_in(name)
            .any(|s| !s.file.starts_with(&format!("{role_dir}/")));
        if used {
            continue;
        }
        let text = view
            .sources
            .iter()
            .find(|s| &s.file == main)
            .map_or("", |s| s.text.as_str());
        let mut found = Findings {
            file: main,
            text,
            out,
        };
        found.add(
            "unused-role",
            1,
            Severity::Low,
            format!("role {name} is not used by any playbook, role dependency or include: it is never run, so it drifts from the rest and misleads whoever reads it. Use it in a play or delete it."),
            None,
        );
    }
}

fn is_role_main(file: &str) -> bool {
    let parts: Vec<&str> = file.split('/').collect();
    parts.len() >= 4
        && parts[..parts.len() - 3].contains(&"roles")
        && parts[parts.len() - 2] == "tasks"
        && matches!(parts[parts.len() - 1], "main.yml" | "main.yaml")
}

/// Editor copies and backups: Ansible loads none of them, and they drift.
pub(crate) fn stray_files(view: &View, out: &mut Vec<Suggestion>) {
    for file in &view.files {
        let name = file.rsplit('/').next().unwrap_or(file);
        let lower = name.to_ascii_lowercase();
        let stray = [
            ".bak", ".orig", ".rej", ".swp", ".swo", "~", ".old", ".save", ".backup", ".tmp",
        ]
        .iter()
        .any(|s| lower.ends_with(s))
            || lower.starts_with('#')
            || lower.contains(" copy")
            || lower.contains("(copy)")
            || lower.starts_with("copy of");
        if !stray {
            continue;
        }
        let mut found = Findings {
            file,
            text: "",
            out,
        };
        found.add(
            "stray-file",
            1,
            Severity::Low,
            format!("{name} looks like an editor copy or a backup: Ansible never loads it, it drifts from the real file, and it may hold an old secret. Delete it (git keeps the history)."),
            None,
        );
    }
}
