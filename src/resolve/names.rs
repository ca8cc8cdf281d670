//! Names in a request read against the repository's apps: a word that is part of a role's name,
//! a role shared by a stack, a cut-off name.

use std::collections::BTreeSet;

use crate::discovery::{App, Repository};
use crate::services::{catalogue, words};
use crate::text::normalize;

/// "the wireguard vpn" with no WireGuard app but a role `portainer_wireguard_easy` running
/// wg-easy: the one app of the same kind whose role or file name has the word as a part.
pub(super) fn role_named_like<'a>(
    repository: &'a Repository,
    word: &str,
    named: &str,
) -> Option<&'a App> {
    let kinds = |id: &str| {
        catalogue()
            .get(id)
            .map(|s| s.categories.clone())
            .unwrap_or_default()
    };
    let wanted = kinds(named);
    let fits: Vec<&App> = repository
        .apps
        .iter()
        .filter(|a| a.service != named && kinds(&a.service).iter().any(|k| wanted.contains(k)))
        .filter(|a| {
            let place = a.role.as_deref().unwrap_or(&a.file);
            let last = place.rsplit('/').next().unwrap_or(place);
            words(last).any(|part| part == word)
        })
        .collect();
    let services: BTreeSet<&str> = fits.iter().map(|a| a.service.as_str()).collect();
    (services.len() == 1).then(|| fits[0])
}

/// A name that is the role of two or more apps (`arr-stack`): it names the stack, not one app.
pub(super) fn shared_role_name(repository: &Repository, name: &str) -> bool {
    repository
        .apps
        .iter()
        .filter(|a| {
            a.role
                .as_deref()
                .and_then(|r| r.rsplit('/').next())
                .is_some_and(|r| normalize(r) == name)
        })
        .map(|a| &a.service)
        .collect::<BTreeSet<_>>()
        .len()
        > 1
}

/// `jelly` against `jellyfin` is not a typo; a cut-off name is only one when long.
pub(super) fn prefix_distance(token: &str, name: &str) -> usize {
    if token.len() >= 4 && name.starts_with(token) && name.len() - token.len() <= 2 {
        1
    } else {
        usize::MAX
    }
}
