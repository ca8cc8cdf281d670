//! Every verb on every layout family, run by the real server: each request below is planned
//! on a copy of a family of `tests/fixtures/layouts/`, and then
//!
//! - a built-in action (restart, stop, start, status, logs, remove of a compose project,
//!   container or systemd unit) is approved and run by `ansible-playbook`; the test reads what
//!   the host's tools were asked to do;
//! - an entrypoint of the repository's own (deploy, upgrade, configure, remove) is dry-run
//!   (`chiffon preview`: `ansible-playbook --check --diff` in the repository's Ansible project,
//!   with the plan's tags, switch values and limit), and must come out as a run that would work;
//!   an upgrade names its version, so its plan also changes the pin (`pin_upgrades.rs`), whose
//!   dry run is the diff.
//!
//! No container engine or systemd runs on these machines: the `docker`, `systemctl` and
//! `journalctl` the runs find are scripts beside `ansible-playbook` that record their arguments
//! (`helpers::bin_with_recording_docker`, `helpers::add_recording_systemd`); Ansible's own
//! modules drive them as they would the real ones. Two dry runs are out of reach here and not
//! attempted: the `enabled-list` family's entrypoints use `community.docker.docker_container`
//! (a collection ansible-core lacks, which needs a Docker daemon even in check mode), as do
//! `inline-files`' `media.yml` runs (`docker_compose_v2`; its Quadlet playbooks are dry-run), and
//! `host-named`'s whole-playbook runs install `jellyfin` from Jellyfin's own apt repository, so
//! its entrypoints are dry-run with the target named (`--limit docker-1`).
//!
//! Runs on the embedded deployment; `layouts_served.rs` runs two families on both.

use std::path::Path;

use chiffon::model::RequestStatus;

use crate::helpers::{
    Backend, TestApp, add_recording_systemd, bin_with_recording_docker, copy_of_layout, local_runs,
};

/// What must happen after the plan.
enum Then {
    /// The dry run of the repository's own playbook would work.
    DryRun,
    /// The built-in action runs; these calls reach the host's tools (systemd's reads of a
    /// unit's state, `show` and `is-enabled`, are left out).
    Calls(&'static [&'static str]),
}
use Then::{Calls, DryRun};

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("systemctl show ") && !l.starts_with("systemctl is-enabled "))
        .map(str::to_owned)
        .collect()
}

/// Plans and runs (or dry-runs) each request on a fresh copy of `family`; returns every
/// request that did not do what it should, in words.
async fn run_family(family: &str, cases: &[(&str, Then)]) -> Vec<String> {
    let scratch = tempfile::tempdir().unwrap();
    let repo = copy_of_layout(family, scratch.path());
    let (playbook, docker_log) = bin_with_recording_docker(scratch.path()).await;
    let systemd_log = add_recording_systemd(scratch.path());
    let app = TestApp::spawn_with(Backend::Embedded, local_runs(repo, Some(playbook))).await;

    let mut wrong = Vec::new();
    for (text, then) in cases {
        let id = app.request(text).await;
        let view = app.client.get_request(&id).await.unwrap();
        let plan = &view.request.plan;
        if !plan.open_questions.is_empty() || plan.steps.is_empty() {
            wrong.push(format!(
                "{family}: {text:?} planned no step to run: {:?}",
                plan.open_questions
            ));
            continue;
        }
        match then {
            DryRun => {
                let previewed = app.client.preview(&id).await.unwrap();
                let preview = previewed.preview.expect("a preview");
                for step in &preview.steps {
                    let fine = matches!(step.outcome.as_str(), "would_change" | "no_change");
                    if !fine || step.error.is_some() {
                        wrong.push(format!(
                            "{family}: {text:?}: dry run of {:?} came out {} ({:?})",
                            plan.steps.iter().map(|s| &s.playbook).collect::<Vec<_>>(),
                            step.outcome,
                            step.error
                        ));
                    }
                }
            }
            Calls(want) => {
                let before = (lines(&docker_log).len(), lines(&systemd_log).len());
                let (_, done) = app.approve_and_wait(&id).await;
                if done.request.status != RequestStatus::Succeeded {
                    wrong.push(format!(
                        "{family}: {text:?} ended {:?}: {:?}",
                        done.request.status,
                        done.tasks.iter().map(|t| &t.outcome).collect::<Vec<_>>()
                    ));
                    continue;
                }
                let mut got = lines(&docker_log).split_off(before.0);
                got.extend(lines(&systemd_log).split_off(before.1));
                if got != *want {
                    wrong.push(format!(
                        "{family}: {text:?} made the calls {got:?}, not {want:?}"
                    ));
                }
            }
        }
    }
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_runs_on_every_layout_family() {
    let families: [(&str, Vec<(&str, Then)>); 9] = [
        (
            "subfolder-project",
            vec![
                ("deploy jellyfin", DryRun),
                ("upgrade jellyfin to 10.10.3", DryRun),
                ("change the port jellyfin listens on", DryRun),
                ("restart jellyfin", Calls(&["compose -p jellyfin restart"])),
                ("stop our git server", Calls(&["compose -p gitea stop"])),
                ("start gitea", Calls(&["compose -p gitea start"])),
                ("is jelyfin up?", Calls(&["compose -p jellyfin ps --all"])),
                (
                    "gitea logs",
                    Calls(&["compose -p gitea logs --no-color --tail 200"]),
                ),
                (
                    "remove gitea",
                    Calls(&["compose -p gitea down --remove-orphans"]),
                ),
            ],
        ),
        (
            "single-role",
            vec![
                ("deploy mealie", DryRun),
                ("bump pihole to 2024.08.0", DryRun),
                ("change the mealie settings", DryRun),
                ("restart mealie", Calls(&["restart mealie"])),
                ("turn off the ad blocker for a bit", Calls(&["stop pihole"])),
                ("start the ad blocker", Calls(&["start pihole"])),
                (
                    "is the recipe app up?",
                    Calls(&["ps --all --filter name=^mealie$"]),
                ),
                ("postgres logs", Calls(&["logs --tail 200 postgres"])),
                ("remove mealie", Calls(&["rm --force mealie"])),
            ],
        ),
        (
            "per-app-playbooks",
            vec![
                ("install paperless", DryRun),
                ("upgrade grafana", DryRun),
                ("change the grafana compose file", DryRun),
                ("restart grafana", Calls(&["compose -p grafana restart"])),
                ("stop paperles", Calls(&["compose -p paperless stop"])),
                ("start paperless", Calls(&["compose -p paperless start"])),
                (
                    "is paperless up?",
                    Calls(&["compose -p paperless ps --all"]),
                ),
                (
                    "grafana logs",
                    Calls(&["compose -p grafana logs --no-color --tail 200"]),
                ),
                (
                    "remove grafana",
                    Calls(&["compose -p grafana down --remove-orphans"]),
                ),
            ],
        ),
        (
            "central-versions",
            vec![
                ("deploy sonarr", DryRun),
                ("redeploy adguard on lab", DryRun),
                ("upgrade sonarr to 4.0.16", DryRun),
                ("change the sonarr unit", DryRun),
                (
                    "restart adguard",
                    Calls(&["systemctl restart adguard.service"]),
                ),
                ("stop sonar", Calls(&["systemctl stop sonarr.service"])),
                ("start sonarr", Calls(&["systemctl start sonarr.service"])),
                ("is the ad blocker healthy?", Calls(&[])),
                (
                    "sonarr logs",
                    Calls(&["journalctl --unit sonarr.service --lines 200 --no-pager"]),
                ),
                (
                    "remove sonarr",
                    Calls(&[
                        "systemctl disable sonarr.service",
                        "systemctl stop sonarr.service",
                    ]),
                ),
            ],
        ),
        (
            "host-named",
            vec![
                ("redeploy vaultwarden on docker-1", DryRun),
                ("upgrade uptime kuma on docker-1 to 1.23.16", DryRun),
                (
                    "restart jellyfin",
                    Calls(&["systemctl restart jellyfin.service"]),
                ),
                ("stop kuma", Calls(&["compose -p kuma stop"])),
                (
                    "start vaultwarden",
                    Calls(&["compose -p vaultwarden start"]),
                ),
                ("is jellyfin running?", Calls(&[])),
                (
                    "vaultwarden logs",
                    Calls(&["compose -p vaultwarden logs --no-color --tail 200"]),
                ),
                (
                    "take down uptime kuma",
                    Calls(&["compose -p kuma down --remove-orphans"]),
                ),
            ],
        ),
        (
            "inline-files",
            vec![
                ("deploy n8n", DryRun),
                ("pin n8n to 1.107.0", DryRun),
                ("restart n8n", Calls(&["systemctl restart n8n.service"])),
                ("stop caddy", Calls(&["systemctl stop caddy.service"])),
                ("start caddy", Calls(&["systemctl start caddy.service"])),
                ("is n8n up?", Calls(&[])),
                (
                    "n8n logs",
                    Calls(&["journalctl --unit n8n.service --lines 200 --no-pager"]),
                ),
                ("restart sonarr", Calls(&["compose -p sonarr restart"])),
                (
                    "show me the torrent client's logs",
                    Calls(&["compose -p transmission logs --no-color --tail 200"]),
                ),
                (
                    "remove sonarr",
                    Calls(&["compose -p sonarr down --remove-orphans"]),
                ),
            ],
        ),
        (
            "enabled-list",
            vec![
                ("restart sonarr", Calls(&["restart sonarr"])),
                ("stop radarr", Calls(&["stop radarr"])),
                ("start vaultwarden", Calls(&["start vaultwarden"])),
                (
                    "is the password vault up?",
                    Calls(&["ps --all --filter name=^vaultwarden$"]),
                ),
                ("sonarr logs", Calls(&["logs --tail 200 sonarr"])),
            ],
        ),
        (
            "stacks-per-host",
            vec![
                ("deploy paperless", DryRun),
                ("upgrade paperless to 2.13.0", DryRun),
                ("restart paperless", Calls(&["restart paperless-ng"])),
                ("stop linkding on box", Calls(&["stop linkding"])),
                ("start paperless", Calls(&["start paperless-ng"])),
                (
                    "is the bookmark manager up?",
                    Calls(&["ps --all --filter name=^linkding$"]),
                ),
                ("paperless logs", Calls(&["logs --tail 200 paperless-ng"])),
                ("remove linkding", DryRun),
            ],
        ),
        (
            "hinted",
            vec![
                ("redeploy tv shows on the telly box", DryRun),
                ("change the film server's network settings", DryRun),
                ("run the backups", DryRun),
                ("restart the film server", Calls(&["restart jellyfin"])),
                ("stop sonarr", Calls(&["stop sonarr"])),
            ],
        ),
    ];
    let mut wrong = Vec::new();
    for (family, cases) in &families {
        wrong.extend(run_family(family, cases).await);
    }
    assert!(wrong.is_empty(), "\n  {}", wrong.join("\n  "));
}
