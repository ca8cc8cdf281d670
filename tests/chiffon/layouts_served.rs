//! Layout families through the real server, on both deployments: a request on a repository
//! shaped like real homelab repositories (tests/fixtures/layouts/) is planned, approved,
//! dispatched to the infra agent and run by `ansible-playbook` in the repository's own Ansible
//! project: the subfolder with its `ansible.cfg` and `roles_path`, or the folder whose only
//! inventory sits beside the playbooks.
//!
//! No container engine runs on these machines, so the `docker` the runs find is a script beside
//! `ansible-playbook` that records its arguments (`helpers::bin_with_recording_docker`).
//! Everything else is real.

use std::path::Path;

use chiffon::model::RequestStatus;

use crate::helpers::{TestApp, backends, bin_with_recording_docker, copy_of_layout, local_runs};

/// Plans `text`, checks the one step is what the owner would run, approves it, and waits for
/// it to succeed.
async fn run_one_step(app: &TestApp, text: &str, playbook: &str) {
    let id = app.request(text).await;
    let view = app.client.get_request(&id).await.unwrap();
    let steps = &view.request.plan.steps;
    assert_eq!(steps.len(), 1, "{text}: {steps:?}");
    assert_eq!(steps[0].playbook.as_deref(), Some(playbook), "{text}");
    let (_, done) = app.approve_and_wait(&id).await;
    assert_eq!(
        done.request.status,
        RequestStatus::Succeeded,
        "{text}: {:?}",
        done.tasks
    );
}

fn calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subfolder_project_runs_its_own_roles_and_a_built_in_restart_on_its_hosts() {
    for backend in backends() {
        eprintln!("scenario on {backend:?}");
        let scratch = tempfile::tempdir().unwrap();
        let repo = copy_of_layout("subfolder-project", scratch.path());
        let (playbook, log) = bin_with_recording_docker(scratch.path()).await;
        let app = TestApp::spawn_with(backend, local_runs(repo, Some(playbook))).await;

        // "restart jellyfin": Chiffon's restart action, on the media group of the inventory
        // that ansible/ansible.cfg names (one host): docker restarts the compose project once.
        run_one_step(
            &app,
            "restart jellyfin",
            "chiffon:ansible/actions/restart.yml",
        )
        .await;
        assert_eq!(calls(&log), ["compose -p jellyfin restart"]);

        // "deploy jellyfin": the repository's playbook in ansible/playbooks/, whose role is
        // found only through the project's roles_path. Its dry run reaches the role's tasks
        // and would write the compose file.
        let id = app.request("deploy jellyfin").await;
        let previewed = app.client.preview(&id).await.unwrap();
        let step = &previewed.preview.as_ref().expect("a preview").steps[0];
        assert_eq!(step.outcome, "would_change", "{step:?}");
        assert!(
            step.diffs
                .iter()
                .any(|d| d.diff.contains("/opt/jellyfin/docker-compose.yml")),
            "{step:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_without_ansible_cfg_runs_with_the_inventory_beside_its_playbooks() {
    for backend in backends() {
        eprintln!("scenario on {backend:?}");
        let scratch = tempfile::tempdir().unwrap();
        let repo = copy_of_layout("single-role", scratch.path());
        let (playbook, log) = bin_with_recording_docker(scratch.path()).await;
        let app = TestApp::spawn_with(backend, local_runs(repo, Some(playbook))).await;

        // The container is named in the role's task file; its host comes from hosts.ini.
        run_one_step(
            &app,
            "restart mealie",
            "chiffon:ansible/actions/restart.yml",
        )
        .await;
        assert_eq!(calls(&log), ["restart mealie"]);
        run_one_step(
            &app,
            "turn off the ad blocker for a bit",
            "chiffon:ansible/actions/stop.yml",
        )
        .await;
        assert_eq!(calls(&log), ["restart mealie", "stop pihole"]);
    }
}
