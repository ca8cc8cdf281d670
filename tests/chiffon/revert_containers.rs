//! Containers are undone too (docs/revert.md): with real `ansible-playbook`, Chiffon's real
//! callback plugin, and a test-only stand-in for community.docker's `docker_container`
//! (tests/fixtures/collections: these machines run neither Docker nor that collection; it keeps
//! the "daemon" in a JSON file and reports its diff in the real module's format), a run that
//! changes a container's image and environment is undone by putting the container back on the
//! image and definition the first run gave it; undoing the first run removes the containers it
//! created. A container whose definition holds a password is named as irreversible, and the
//! password is stored nowhere.

use std::path::{Path, PathBuf};

use chiffon::api::RevertBody;
use chiffon::model::RequestStatus;
use serde_json::Value;

use crate::helpers::{Options, TestApp, backends};
use crate::revert::run_kuma;

const CONTAINERS_PLAYBOOK: &str = "chiffon:ansible/actions/revert_containers.yml";

/// The database's root password: it must never reach Chiffon's store.
const PASSWORD: &str = "hunter2-kept-by-nobody";

/// A play the example homelab's Kuma deployment gains in the copy: two containers whose
/// settings come from `containers.yml` beside it, which the test rewrites between runs.
const CONTAINER_PLAY: &str = r#"
- name: Run Uptime Kuma's checker and its database as containers on the monitoring host
  hosts: monitoring
  gather_facts: false
  vars_files:
    - containers.yml
  tasks:
    - name: Run the status checker
      community.docker.docker_container:
        name: kuma-checker
        image: "{{ checker_image }}"
        state: started
        restart_policy: unless-stopped
        published_ports:
          - "3002:3001"
        labels:
          homelab.role: monitoring
        env:
          CHECK_INTERVAL: "{{ checker_interval }}"

    - name: Run the checker's database
      community.docker.docker_container:
        name: kuma-db
        image: "{{ db_image }}"
        env:
          MARIADB_ROOT_PASSWORD: "{{ db_root_password }}"
"#;

fn settings(checker_image: &str, interval: &str, db_image: &str) -> String {
    format!(
        "checker_image: {checker_image}\nchecker_interval: \"{interval}\"\ndb_image: {db_image}\ndb_root_password: {PASSWORD}\n"
    )
}

/// A folder with an `ansible-playbook` that finds the stand-in collection and keeps its
/// daemon in `docker.json` there: returns (that `ansible-playbook`, the daemon file).
async fn bin_with_fake_docker(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let daemon = bin.join("docker.json");
    let collections = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/collections");
    let script = format!(
        "#!/bin/sh\nexport ANSIBLE_COLLECTIONS_PATH='{}'\nexport CHIFFON_FAKE_DOCKER='{}'\nexec '{}' \"$@\"\n",
        collections.display(),
        daemon.display(),
        crate::helpers::ansible_playbook().await.display()
    );
    let playbook = bin.join("ansible-playbook");
    std::fs::write(&playbook, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&playbook, std::fs::Permissions::from_mode(0o755)).unwrap();
    (playbook, daemon)
}

/// The daemon's containers, by name.
fn containers(daemon: &Path) -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(daemon).unwrap_or_else(|_| "{}".to_owned());
    let state: Value = serde_json::from_str(&text).unwrap();
    state["containers"].as_object().cloned().unwrap_or_default()
}

/// What a container runs, as a person inspecting it would compare: its image (the ID), its
/// environment, labels, restart policy, ports and whether it runs.
fn definition(container: &Value) -> Value {
    serde_json::json!({
        "image": container["Image"],
        "env": container["Config"]["Env"],
        "labels": container["Config"]["Labels"],
        "restart": container["HostConfig"]["RestartPolicy"],
        "ports": container["HostConfig"]["PortBindings"],
        "running": container["State"]["Running"],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_goes_back_on_its_previous_image_and_definition_and_one_the_run_created_goes() {
    for backend in backends() {
        eprintln!("scenario on {backend:?}");
        let scratch = tempfile::tempdir().unwrap();
        let repo = crate::helpers::example_with_play(scratch.path(), CONTAINER_PLAY);
        let vars = repo.join("containers.yml");
        std::fs::write(
            &vars,
            settings("louislam/uptime-kuma:1.23.15", "60", "mariadb:11.4"),
        )
        .unwrap();
        let (ansible, daemon) = bin_with_fake_docker(scratch.path()).await;
        let app = TestApp::spawn_with(
            backend,
            Options {
                playbooks: Some(repo.clone()),
                ansible_playbook: Some(ansible),
                ..Options::default()
            },
        )
        .await;

        // The first run creates both containers.
        let first = run_kuma(&app, None).await;
        let created = containers(&daemon);
        assert_eq!(
            created.keys().collect::<Vec<_>>(),
            ["kuma-checker", "kuma-db"]
        );
        let checker_first = definition(&created["kuma-checker"]);
        assert!(
            checker_first["env"]
                .as_array()
                .unwrap()
                .contains(&Value::from("CHECK_INTERVAL=60")),
            "{checker_first}"
        );

        // The second changes the checker's image and an environment value, and the database's
        // image.
        std::fs::write(
            &vars,
            settings("louislam/uptime-kuma:1.23.16", "30", "mariadb:11.8"),
        )
        .unwrap();
        let second = run_kuma(&app, None).await;
        let changed = containers(&daemon);
        assert_ne!(definition(&changed["kuma-checker"]), checker_first);
        let db_second = definition(&changed["kuma-db"]);

        // What the second run recorded: the checker can be put back, the database cannot
        // (its definition holds the password), and the password is kept nowhere.
        let task = second
            .tasks
            .iter()
            .find(|t| t.playbook.as_deref() == Some("kuma-deployment.yml"))
            .unwrap();
        let recorded = app.client.task_changes(task.id.as_str()).await.unwrap();
        let container = |name: &str| {
            recorded.hosts[0]
                .changes
                .iter()
                .find(|c| c.change.kind == "container" && c.change.target == name)
                .unwrap_or_else(|| panic!("no container {name} recorded: {recorded:?}"))
                .change
                .clone()
        };
        let checker = container("kuma-checker");
        assert!(checker.reversible, "{checker:?}");
        assert_eq!(
            checker.before.as_ref().unwrap().image.as_ref(),
            checker_first["image"].as_str().map(str::to_owned).as_ref()
        );
        let diff = checker.diff.as_deref().unwrap_or_default();
        assert!(
            diff.contains("-    \"CHECK_INTERVAL\": \"60\"")
                && diff.contains("+    \"CHECK_INTERVAL\": \"30\""),
            "{diff}"
        );
        let db = container("kuma-db");
        assert!(!db.reversible, "{db:?}");
        assert!(
            db.note
                .as_deref()
                .unwrap_or_default()
                .contains("its definition holds a secret"),
            "{db:?}"
        );
        let shown = serde_json::to_string(&recorded).unwrap();
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(
            !app.dump_database().await.contains(PASSWORD),
            "the password reached the database"
        );

        // Undo the second run: one step puts the checker back; the database is named as what
        // cannot be undone.
        let undo = app
            .client
            .revert(second.request.id.as_str(), &RevertBody::default())
            .await
            .unwrap();
        let steps = &undo.request.plan.steps;
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert_eq!(steps[0].playbook.as_deref(), Some(CONTAINERS_PLAYBOOK));
        let reasons = undo.request.plan.risk.reasons.join("\n");
        assert!(
            reasons.contains(&format!(
                "on lola: puts container kuma-checker back on image {} with its previous definition",
                checker_first["image"].as_str().unwrap()
            )),
            "{reasons}"
        );
        assert!(
            reasons.contains("cannot undo: on lola: container kuma-db")
                && reasons.contains("its definition holds a secret"),
            "{reasons}"
        );
        let (_, done) = app.approve_and_wait(undo.request.id.as_str()).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );
        let now = containers(&daemon);
        assert_eq!(definition(&now["kuma-checker"]), checker_first);
        assert_eq!(definition(&now["kuma-db"]), db_second);

        // Undo the first run: the containers it created are gone, and so are its files.
        let undo = app
            .client
            .revert(first.request.id.as_str(), &RevertBody::default())
            .await
            .unwrap();
        let steps = &undo.request.plan.steps;
        assert_eq!(steps[0].playbook.as_deref(), Some(CONTAINERS_PLAYBOOK));
        let reasons = undo.request.plan.risk.reasons.join("\n");
        for name in ["kuma-checker", "kuma-db"] {
            assert!(
                reasons.contains(&format!(
                    "on lola: removes container {name}, which the run created, before the files are put back"
                )),
                "{reasons}"
            );
        }
        let (_, done) = app.approve_and_wait(undo.request.id.as_str()).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );
        assert!(containers(&daemon).is_empty(), "{:?}", containers(&daemon));
        assert!(
            app.rendered_files().is_empty(),
            "{:?}",
            app.rendered_files()
        );
        assert!(
            !app.dump_database().await.contains(PASSWORD),
            "the password reached the database"
        );
        app.stop().await;
    }
}
