//! The words a repository writes about each app: its task and play names, comments, paths and
//! the text of its own files (`/receipts` mounted by `receep`, "Deploy Durin Tapo camera
//! YouTube stream service" above `stream-durin`). They let a request find an app the catalogue
//! does not know by what the owner wrote about it.

use std::collections::{BTreeMap, BTreeSet};

use crate::discovery::index::under;
use crate::discovery::{App, Repository, Source};
use crate::services::{stem, words};
use crate::text::normalize;

/// Per app (in the order of `Repository::apps`), its words, stemmed, four letters or more.
pub(crate) fn app_words(
    repository: &Repository,
    by_path: &BTreeMap<&str, &Source>,
) -> Vec<BTreeSet<String>> {
    // How many apps each playbook reaches: one written for a single app speaks for it.
    let mut apps_per_playbook: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for app in &repository.apps {
        for reach in &app.reach {
            apps_per_playbook
                .entry(reach.playbook.as_str())
                .or_default()
                .insert(app.service.as_str());
        }
    }
    repository
        .apps
        .iter()
        .map(|app| {
            let mut texts: Vec<&str> = Vec::new();
            let mut paths: Vec<&str> = vec![app.file.as_str()];
            if let Some(source) = by_path.get(app.file.as_str()) {
                texts.push(&source.text);
            }
            if let Some(role) = &app.role {
                paths.push(role);
                for (path, source) in under(by_path, &format!("{role}/tasks/")) {
                    paths.push(path);
                    texts.push(&source.text);
                }
            }
            for reach in &app.reach {
                let own = apps_per_playbook
                    .get(reach.playbook.as_str())
                    .is_some_and(|apps| apps.len() == 1);
                if own && let Some(source) = by_path.get(reach.playbook.as_str()) {
                    paths.push(&reach.playbook);
                    texts.push(&source.text);
                }
            }
            collect(app, &texts, &paths)
        })
        .collect()
}

fn collect(app: &App, texts: &[&str], paths: &[&str]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = texts
        .iter()
        .chain(paths)
        .flat_map(|text| words(text))
        .filter(|w| w.len() >= 4 && !w.chars().all(|c| c.is_ascii_digit()))
        .map(|w| stem(&w))
        .collect();
    out.extend(app.names.iter().filter(|n| n.len() >= 4).cloned());
    out.insert(normalize(&app.service));
    out
}
