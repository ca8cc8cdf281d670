//! Secrets written in clear: in a container's environment, in variables (role defaults, group
//! variables, play vars), in a task's module arguments and in configuration templates; and
//! passwords anyone would guess first (a product's default, the app's or user's own name).

use crate::repo::outline::Node;
use crate::suggest::Severity;
use crate::suggest::findings::Findings;
use crate::suggest::source::{Kind, Source, module, tasks_of};

/// Passwords that ship as defaults and are the first ones tried.
const DEFAULT_PASSWORDS: &[&str] = &[
    "admin", "password", "changeme", "changeit", "secret", "123456", "12345678", "default", "root",
    "pass", "test", "letmein", "qwerty", "welcome", "toor",
];

/// A value that is a literal secret worth reporting (not a template, a vault reference, a
/// file path, a flag or a number).
fn literal(key: &str, value: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let skipped_key = [
        "public",
        "_file",
        "_path",
        "_length",
        "_name",
        "_id",
        "default",
        "_user",
        "test",
        "example",
        "dummy",
        "authorization",
        "_policy",
        "_method",
        "_alg",
        "url",
        "uri",
        "_endpoint",
        "_type",
        "_mode",
        "_expiry",
        "_header",
    ]
    .iter()
    .any(|w| key.contains(w));
    let value = value.trim_end_matches(',').trim_matches(['"', '\'']);
    let lower = value.to_ascii_lowercase();
    let placeholder = [
        "placeholder",
        "do_not_use",
        "dummy",
        "fixture",
        "example",
        "xxxx",
    ]
    .iter()
    .any(|w| lower.contains(w));
    !skipped_key
        && !placeholder
        && crate::redact::is_secret_key(&key)
        && !value.is_empty()
        && !value.contains("{{")
        && !value.contains("${")
        && !value.contains("lookup(")
        && !value.starts_with(['!', '|', '>', '/', '~', '[', '{', '*', '%', '$'])
        && !matches!(value, "true" | "false" | "yes" | "no" | "null" | "~")
        && value.parse::<f64>().is_err()
}

/// A password anyone would try: a shipped default, a very short one, one that says
/// "password", or the name of the app, user or database it protects.
fn guessable(value: &str, key: &str, context: &str) -> bool {
    let value = value.to_ascii_lowercase();
    let words = |text: &str| {
        text.to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| w.len() >= 3)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    DEFAULT_PASSWORDS.contains(&value.as_str())
        || value.chars().count() <= 3
        || value.contains("password")
        || value.contains("changeme")
        || words(key).contains(&value)
        || words(context).contains(&value)
}

/// A file whose secrets are stand-ins on purpose: tests, samples, examples.
fn placeholder_file(file: &str) -> bool {
    file.split('/').any(|part| {
        let part = part.to_ascii_lowercase();
        let stem = part.split('.').next().unwrap_or(&part);
        stem == "test" || stem == "tests" || part.contains("example") || part.contains("sample")
    })
}

/// Reports one clear-text secret `key: value` at `line`, with the replacement line.
fn report(
    found: &mut Findings<'_>,
    line: usize,
    key: &str,
    value: &str,
    owner: &str,
    replacement: Option<String>,
) {
    if placeholder_file(found.file) || found.silenced(line, &["secret", "password"]) {
        return;
    }
    let default = guessable(value, key, &format!("{owner} {}", found.file));
    let (rule, what) = if default {
        ("default-password", "a password anyone would guess first")
    } else {
        ("plaintext-secret", "a secret in clear text")
    };
    let fix = if found.file.ends_with(".yml") || found.file.ends_with(".yaml") {
        "Put the real value in an ansible-vault encrypted file and refer to it here"
    } else {
        "Template it from an ansible-vault encrypted variable"
    };
    found.add(
        rule,
        line,
        Severity::High,
        format!("{owner}: {key} is {what}, readable by anyone who can read the repository (and its history). {fix}."),
        replacement.map(|r| found.replace_line(line, Some(r))),
    );
}

/// `environment:` of a container: `KEY: value` or `- KEY=value`.
pub(crate) fn environment(found: &mut Findings<'_>, environment: &Node, owner: &str) {
    for entry in &environment.children {
        let (key, value, listed) = match &entry.key {
            Some(key) => (key.clone(), entry.scalar().to_owned(), false),
            None => match entry.scalar().split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned(), true),
                None => continue,
            },
        };
        if !literal(&key, &value) {
            continue;
        }
        let original = found.line_text(entry.line).to_owned();
        let compose = found.file.contains("compose") && !found.file.ends_with(".j2");
        let reference = if compose {
            format!("${{{key}}}")
        } else {
            format!("{{{{ vault_{} }}}}", key.to_ascii_lowercase())
        };
        let replaced = if listed {
            original.replacen(&format!("{key}={value}"), &format!("{key}={reference}"), 1)
        } else {
            let indent = &original[..original.len() - original.trim_start().len()];
            if compose {
                format!("{indent}{key}: {reference}")
            } else {
                format!("{indent}{key}: \"{reference}\"")
            }
        };
        let replaced = (replaced != original).then_some(replaced);
        report(found, entry.line, &key, &value, owner, replaced);
    }
}

/// Variables (top-level keys of a variables file, a play's `vars:`).
fn variables(found: &mut Findings<'_>, entries: &[Node]) {
    for entry in entries.iter().filter(|e| e.key.is_some()) {
        let key = entry.key.as_deref().unwrap_or_default();
        let value = entry.scalar();
        if !literal(key, value) {
            continue;
        }
        let original = found.line_text(entry.line).to_owned();
        let indent = &original[..original.len() - original.trim_start().len()];
        let replacement = format!("{indent}{key}: \"{{{{ vault_{key} }}}}\"");
        report(found, entry.line, key, value, "variable", Some(replacement));
    }
}

/// Secret-named keys anywhere in a configuration file or template.
fn nested(found: &mut Findings<'_>, nodes: &[Node]) {
    for node in nodes {
        if let Some(key) = node.key.as_deref()
            && node.children.is_empty()
            && literal(key, node.scalar())
        {
            report(found, node.line, key, node.scalar(), "config", None);
        }
        nested(found, &node.children);
    }
}

pub(crate) fn check(found: &mut Findings<'_>, source: &Source) {
    match source.kind {
        Kind::Vars { .. } => variables(found, &source.nodes),
        Kind::Playbook => {
            for vars in source.nodes.iter().filter_map(|p| p.get("vars")) {
                variables(found, &vars.children);
            }
        }
        Kind::Template | Kind::Other => nested(found, &source.nodes),
        Kind::Compose | Kind::Tasks { .. } => {}
    }
    // A module's own arguments: `password: hunter2` on a database user task.
    for (task, _) in tasks_of(source) {
        if let Some(module) = module(task) {
            for argument in &module.children {
                let key = argument.key.as_deref().unwrap_or_default();
                if argument.children.is_empty() && literal(key, argument.scalar()) {
                    report(found, argument.line, key, argument.scalar(), "task", None);
                }
            }
        }
    }
}
