//! Improvement suggestions, as `chiffon playbooks lint` and `GET /api/v1/suggestions` show
//! them: Chiffon's rules with lines and diffs, merged with ansible-lint's findings when it is
//! installed (CI installs it).

use std::path::Path;

use serde_json::Value;

use crate::helpers::TestApp;

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messy-homelab")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_points_at_each_mistake_with_a_reason_and_a_change() {
    let cache = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args(["playbooks", "lint", "--json", "--cache-dir"])
        .arg(cache.path())
        .arg(fixture())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let found: Vec<Value> = answer["items"].as_array().unwrap().clone();
    // Low-severity findings are folded into a group per rule, each kept there.
    let folded = every_finding(&answer);
    assert!(
        found
            .iter()
            .all(|s| s["severity"] != "low" || s["origin"] == "ansible_lint"),
        "{answer}"
    );
    let mut ours: Vec<(String, String, u64)> = folded
        .iter()
        .filter(|s| !s["rule"].as_str().unwrap().starts_with("ansible-lint/"))
        .map(|s| {
            (
                s["rule"].as_str().unwrap().to_owned(),
                s["file"].as_str().unwrap().to_owned(),
                s["line"].as_u64().unwrap(),
            )
        })
        .collect();
    ours.sort_by(|a, b| (&a.1, a.2, &a.0).cmp(&(&b.1, b.2, &b.0)));
    let expected = [
        (
            "default-password",
            "roles/media/jellyfin/defaults/main.yml",
            2,
        ),
        (
            "toggle-gates-nothing",
            "roles/media/jellyfin/defaults/main.yml",
            3,
        ),
        (
            "command-not-idempotent",
            "roles/media/jellyfin/tasks/main.yml",
            3,
        ),
        (
            "command-not-idempotent",
            "roles/media/jellyfin/tasks/main.yml",
            6,
        ),
        ("restart-in-tasks", "roles/media/jellyfin/tasks/main.yml", 9),
        (
            "unconditional-reboot",
            "roles/media/jellyfin/tasks/main.yml",
            14,
        ),
        ("unused-role", "roles/orphans/plex/tasks/main.yml", 1),
        ("no-healthcheck", "stacks/gitea/docker-compose.yml", 2),
        ("no-restart-policy", "stacks/gitea/docker-compose.yml", 2),
        ("unpinned-image", "stacks/gitea/docker-compose.yml", 3),
        ("plaintext-secret", "stacks/gitea/docker-compose.yml", 5),
        ("admin-ui-exposed", "stacks/gitea/docker-compose.yml", 7),
    ];
    assert_eq!(
        ours,
        expected
            .iter()
            .map(|(r, f, l)| (r.to_string(), f.to_string(), *l))
            .collect::<Vec<_>>()
    );
    for (rule, file) in [
        ("no-healthcheck", "stacks/gitea/docker-compose.yml"),
        ("unused-role", "roles/orphans/plex/tasks/main.yml"),
        ("restart-in-tasks", "roles/media/jellyfin/tasks/main.yml"),
    ] {
        let group = answer["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["rule"] == rule)
            .unwrap_or_else(|| panic!("no group for {rule}: {answer}"));
        assert_eq!(group["origin"], "chiffon");
        assert_eq!(group["count"], group["items"].as_array().unwrap().len());
        assert!(
            group["examples"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e.as_str().unwrap().starts_with(file)),
            "{group}"
        );
    }
    for suggestion in &folded {
        for field in ["id", "rule", "file", "severity", "message"] {
            assert!(suggestion[field].is_string(), "{field} in {suggestion}");
        }
        assert!(suggestion["line"].as_u64().unwrap() >= 1);
        // Every diff applies to the file as it is: its removed and context lines are there.
        if let Some(diff) = suggestion["diff"].as_str() {
            let text =
                std::fs::read_to_string(fixture().join(suggestion["file"].as_str().unwrap()))
                    .unwrap();
            for line in diff.lines().skip(3) {
                if let Some(old) = line.strip_prefix(' ').or_else(|| line.strip_prefix('-')) {
                    assert!(text.lines().any(|l| l == old), "{old:?} not in the file");
                }
            }
        }
    }
    // ansible-lint's findings: those that matter among the items, style folded into groups.
    let groups = answer["groups"].as_array().unwrap();
    let lint: Vec<&str> = found
        .iter()
        .chain(groups)
        .filter_map(|s| s["rule"].as_str())
        .filter(|r| r.starts_with("ansible-lint/"))
        .collect();
    if chiffon::tools::ansible::find_ansible_lint(None).is_some() {
        assert_eq!(answer["lint"]["status"], "done", "{answer}");
        // Merged, without repeating what Chiffon's own rule already says.
        assert!(
            lint.contains(&"ansible-lint/command-instead-of-shell"),
            "{lint:?}"
        );
        assert!(!lint.contains(&"ansible-lint/no-changed-when"), "{lint:?}");
        assert!(groups.iter().all(|g| g["count"].as_u64().unwrap() >= 1));
        // Ranked: no finding comes after a less severe one.
        let rank = |s: &Value| match s["severity"].as_str().unwrap() {
            "high" => 2,
            "medium" => 1,
            _ => 0,
        };
        assert!(
            found.windows(2).all(|w| rank(&w[0]) >= rank(&w[1])),
            "{answer}"
        );
    } else {
        assert_eq!(answer["lint"]["status"], "not_run", "{answer}");
    }
}

/// A repository whose own `.ansible-lint` makes ansible-lint refuse to run (exit 1): the
/// answer still has every finding of Chiffon's own, and says what ansible-lint did; asked
/// again, the same tree answers from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_keeps_its_own_findings_when_ansible_lint_fails_on_the_repository() {
    let Some(program) = chiffon::tools::ansible::find_ansible_lint(None) else {
        eprintln!("ansible-lint is not installed: nothing to fail");
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let repo = scratch.path().join("homelab");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join(".ansible-lint"), "skip_list:\n  - load-failure\n").unwrap();
    std::fs::write(
        repo.join("site.yml"),
        "- name: Patch\n  hosts: all\n  tasks:\n    - name: Reboot\n      ansible.builtin.reboot:\n",
    )
    .unwrap();
    let cache = scratch.path().join("cache");
    let run = || {
        let (repo, cache, program) = (repo.clone(), cache.clone(), program.clone());
        async move {
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
                .args(["playbooks", "lint", "--json", "--ansible-lint"])
                .arg(&program)
                .arg("--cache-dir")
                .arg(&cache)
                .arg(&repo)
                .output()
                .await
                .unwrap();
            assert!(output.status.success(), "{output:?}");
            serde_json::from_slice::<Value>(&output.stdout).unwrap()
        }
    };
    let answer = run().await;
    let rules: Vec<&str> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["unconditional-reboot"], "{answer}");
    assert_eq!(answer["lint"]["status"], "failed", "{answer}");
    let message = answer["lint"]["message"].as_str().unwrap();
    assert!(message.contains("load-failure"), "{message}");
    assert_eq!(answer["lint"]["cached"], false);
    // The same tree: from the cache, the same answer.
    let again = run().await;
    assert_eq!(again["lint"]["cached"], true, "{again}");
    assert_eq!(again["items"], answer["items"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_suggestions_for_the_served_repository() {
    let app = TestApp::spawn_on(crate::helpers::Backend::Embedded).await;
    let (code, page) = app.get("/api/v1/suggestions").await;
    assert_eq!(code, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    // The example homelab is tidy but for healthchecks, folded as one low-severity group.
    let groups = page["groups"].as_array().unwrap();
    let health = groups
        .iter()
        .find(|g| g["rule"] == "no-healthcheck")
        .unwrap_or_else(|| panic!("{page}"));
    assert!(
        health["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["file"] == "stacks/jellyfin/compose.yml"),
        "{page}"
    );
    // On top only web UIs published on every interface, each saying why it matters.
    assert!(!items.is_empty(), "{page}");
    assert!(
        items.iter().all(|s| s["rule"] == "admin-ui-exposed"),
        "{page}"
    );
    assert!(
        items
            .iter()
            .all(|s| s["message"].as_str().unwrap().contains("127.0.0.1")),
        "{page}"
    );
    assert!(page["lint"]["status"].is_string(), "{page}");
    app.stop().await;
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

async fn chiffon(args: &[&str], repo: &Path) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args(args)
        .arg("--playbooks")
        .arg(repo)
        .arg("--ansible-playbook")
        .arg(crate::helpers::ansible_playbook().await)
        .output()
        .await
        .unwrap()
}

async fn suggestions(repo: &Path) -> Vec<Value> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args(["playbooks", "lint", "--no-ansible-lint", "--json"])
        .arg(repo)
        .output()
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    every_finding(&answer)
}

/// The items of a report and every finding folded in its groups (Chiffon's groups keep them).
fn every_finding(answer: &Value) -> Vec<Value> {
    let folded = answer["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["items"].as_array().unwrap().iter());
    answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(folded)
        .cloned()
        .collect()
}

fn id_of(found: &[Value], rule: &str) -> String {
    found.iter().find(|s| s["rule"] == rule).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_suggestion_is_applied_checked_and_committed() {
    // A git repository of the untidy fixture, as a homelab keeps its playbooks.
    let scratch = tempfile::tempdir().unwrap();
    let repo = scratch.path().join("homelab");
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(fixture())
        .arg(&repo)
        .status()
        .unwrap();
    assert!(copied.success());
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "homelab"]);

    let found = suggestions(&repo).await;
    let restart = id_of(&found, "no-restart-policy");
    let out = chiffon(&["playbooks", "apply", &restart], &repo).await;
    assert!(out.status.success(), "{out:?}");
    let compose = std::fs::read_to_string(repo.join("stacks/gitea/docker-compose.yml")).unwrap();
    assert!(
        compose.contains("    image: gitea/gitea:latest\n    restart: unless-stopped\n"),
        "{compose}"
    );
    let subject = git(&repo, &["log", "-1", "--format=%s%n%an"]);
    assert!(
        subject.starts_with(&format!("Apply suggestion {restart} (no-restart-policy)")),
        "{subject}"
    );
    assert!(subject.contains("Chiffon"), "{subject}");
    assert_eq!(
        git(&repo, &["status", "--porcelain"]),
        "",
        "committed, nothing left over"
    );

    // Applied once: the same id is gone now.
    let again = chiffon(&["playbooks", "apply", &restart], &repo).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("list the suggestions again"));

    // A role change is checked with ansible-playbook --syntax-check, then committed.
    let toggle = id_of(&found, "toggle-gates-nothing");
    let out = chiffon(&["playbooks", "apply", &toggle], &repo).await;
    assert!(out.status.success(), "{out:?}");
    let defaults =
        std::fs::read_to_string(repo.join("roles/media/jellyfin/defaults/main.yml")).unwrap();
    assert!(!defaults.contains("jellyfin_hwaccel_enabled"), "{defaults}");

    // No automatic change for an image pin: refused with the reason, nothing touched.
    let pin = id_of(&found, "unpinned-image");
    let out = chiffon(&["playbooks", "apply", &pin], &repo).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no automatic change"),
        "{out:?}"
    );

    // Someone's staged work is never swept into Chiffon's commit.
    std::fs::write(
        repo.join("site.yml"),
        "---\n- name: Media\n  hosts: media\n",
    )
    .unwrap();
    git(&repo, &["add", "site.yml"]);
    let reboot = id_of(&suggestions(&repo).await, "unconditional-reboot");
    let out = chiffon(&["playbooks", "apply", &reboot], &repo).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("staged changes"),
        "{out:?}"
    );
    let tasks = std::fs::read_to_string(repo.join("roles/media/jellyfin/tasks/main.yml")).unwrap();
    assert!(!tasks.contains("reboot_required"), "left as it was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_template_passes_every_check_and_is_idempotent() {
    let scratch = tempfile::tempdir().unwrap();
    let repo = scratch.path().join("homelab");
    std::fs::create_dir_all(repo.join("inventory")).unwrap();
    std::fs::write(
        repo.join("ansible.cfg"),
        "[defaults]\ninventory = inventory/hosts.yml\nroles_path = roles\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("inventory/hosts.yml"),
        "all:\n  children:\n    docker_hosts:\n      hosts:\n        box:\n          ansible_connection: local\n          ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n",
    )
    .unwrap();
    let ansible = crate::helpers::ansible_playbook().await;
    let template = |service: &str| {
        let repo = repo.clone();
        let service = service.to_owned();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
                .args([
                    "playbooks",
                    "template",
                    &service,
                    "--image",
                    "gitea/gitea:1.22.3",
                ])
                .args(["--port", "3000", "--playbooks"])
                .arg(&repo)
                .output()
                .await
                .unwrap()
        }
    };
    let out = template("gitea").await;
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("gitea-deployment.yml"));

    // Ansible accepts it, ansible-lint has nothing to say, and neither do Chiffon's rules.
    let checked =
        chiffon::tools::ansible::syntax_check(&ansible, &repo, &["gitea-deployment.yml".into()])
            .await
            .unwrap();
    assert_eq!(checked, Ok(()));
    if let Some(lint) = chiffon::tools::ansible::find_ansible_lint(Some(&ansible)) {
        let findings = chiffon::tools::ansible::ansible_lint(&lint, &repo)
            .await
            .unwrap();
        assert!(findings.is_empty(), "{findings:#?}");
    }
    assert!(
        chiffon::suggest::analyse(&repo).is_empty(),
        "{:#?}",
        chiffon::suggest::analyse(&repo)
    );

    // It runs, and a second run changes nothing (no container runtime here: files only).
    let run = || {
        let (repo, ansible, root) = (repo.clone(), ansible.clone(), scratch.path().join("root"));
        async move {
            let out = tokio::process::Command::new(&ansible)
                .arg("gitea-deployment.yml")
                .arg("-e")
                .arg(format!("homelab_root={}", root.display()))
                .current_dir(&repo)
                .output()
                .await
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let first = run().await;
    assert!(first.contains("changed=2"), "{first}");
    assert!(
        scratch
            .path()
            .join("root/box/stacks/gitea/compose.yml")
            .is_file(),
        "{first}"
    );
    let second = run().await;
    assert!(second.contains("changed=0"), "{second}");

    // Never overwrites.
    let again = template("gitea").await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_a_template_that_would_be_bad() {
    let app = TestApp::spawn_on(crate::helpers::Backend::Embedded).await;
    let (code, body) = app
        .post(
            "/playbooks/templates",
            r#"{"service": "gitea", "image": "gitea/gitea:latest", "port": 3000}"#,
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (422, Some("invalid_template"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not pinned")
    );
    assert!(
        !crate::helpers::example_repo()
            .join("gitea-deployment.yml")
            .exists()
    );
    // Applying names the task that prompted it; a bogus one is refused before anything runs.
    let (code, body) = app
        .post("/suggestions/abc/apply", r#"{"task_id": "not-a-task"}"#)
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (422, Some("invalid_task_id"))
    );
    let (code, body) = app.post("/suggestions/abc/apply", "").await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (404, Some("suggestion_not_found"))
    );
    app.stop().await;
}

/// A repository with ansible-vault encrypted variables runs when the vault password file is
/// configured, and fails with Ansible's reason when it is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_encrypted_variables_decrypt_with_the_configured_password_file() {
    use chiffon::agent::ansible::{Ansible, RunSpec};
    let scratch = tempfile::tempdir().unwrap();
    let repo = scratch.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let password = scratch.path().join("vault-password");
    std::fs::write(&password, "correct horse battery staple\n").unwrap();
    std::fs::write(repo.join("secrets.yml"), "db_password: hunter2\n").unwrap();
    let playbook_bin = crate::helpers::ansible_playbook().await;
    let vault_bin = playbook_bin.with_file_name("ansible-vault");
    let encrypted = std::process::Command::new(&vault_bin)
        .args(["encrypt", "--vault-password-file"])
        .arg(&password)
        .arg(repo.join("secrets.yml"))
        .output()
        .unwrap();
    assert!(encrypted.status.success(), "{encrypted:?}");
    assert!(
        std::fs::read_to_string(repo.join("secrets.yml"))
            .unwrap()
            .starts_with("$ANSIBLE_VAULT")
    );
    std::fs::write(
        repo.join("check.yml"),
        "---\n- name: Use a secret\n  hosts: localhost\n  connection: local\n  gather_facts: false\n  vars_files: [secrets.yml]\n  tasks:\n    - name: The secret is readable\n      ansible.builtin.assert:\n        that: db_password == 'hunter2'\n",
    )
    .unwrap();
    let spec = RunSpec {
        playbook: "check.yml".into(),
        limit: None,
        check_mode: false,
        tags: Vec::new(),
        extra_vars: serde_json::Map::new(),
        deadline: std::time::Duration::from_secs(120),
    };
    let run = |ansible: Ansible| {
        let (repo, spec) = (repo.clone(), spec.clone());
        async move {
            let (events, _keep) = tokio::sync::mpsc::unbounded_channel();
            let (_cancel, cancelled) = tokio::sync::oneshot::channel();
            ansible.run(&repo, &spec, events, cancelled).await.unwrap()
        }
    };
    let data = scratch.path().join("data");
    let ansible = Ansible::locate_or_install(Some(&playbook_bin), &data)
        .await
        .unwrap();

    let without = run(ansible.clone()).await;
    let error = without.error.expect("no password: it must fail");
    assert!(error.to_lowercase().contains("vault"), "{error}");

    let with = run(ansible.with_vault_password_file(Some(&password)).unwrap()).await;
    assert_eq!(with.error, None, "{:?}", with.failures);

    // A missing file is refused up front, with the setting to fix.
    let missing = Ansible::locate_or_install(Some(&playbook_bin), &data)
        .await
        .unwrap()
        .with_vault_password_file(Some(&scratch.path().join("nope")))
        .unwrap_err();
    assert!(
        missing.to_string().contains("vault_password_file"),
        "{missing}"
    );
}

/// "Accept and apply" on a server started the way a new owner starts it: no ansible-playbook
/// configured, the embedded agents find it on PATH — and applying a suggestion checks the change
/// with that same program instead of answering 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suggestion_applies_on_a_default_server_that_finds_ansible_playbook_on_path() {
    let ansible = crate::helpers::ansible_playbook().await;
    let scratch = tempfile::tempdir().unwrap();
    let repo = scratch.path().join("homelab");
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(crate::helpers::example_repo())
        .arg(&repo)
        .status()
        .unwrap();
    assert!(copied.success());
    let _ = std::fs::remove_dir_all(repo.join(".rendered"));
    // A playbook with a mechanical fix outside compose files, so the apply runs the syntax check.
    std::fs::write(
        repo.join("disk-check.yml"),
        "---\n- name: Check the disks\n  hosts: homelab\n  gather_facts: false\n  tasks:\n    - name: Show free space\n      ansible.builtin.command: df -h\n",
    )
    .unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "homelab"]);

    let log = scratch.path().join("serve.log");
    let path = format!("{}:/usr/bin:/bin", ansible.parent().unwrap().display());
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(scratch.path().join("data"))
        .arg("--playbooks")
        .arg(&repo)
        .env("PATH", path)
        .env_remove("CHIFFON_ANSIBLE_PLAYBOOK")
        .env_remove("CHIFFON_CONFIG")
        .env_remove("CHIFFON_API_TOKEN")
        .env_remove("CHIFFON_DATABASE_URL")
        .env_remove("CHIFFON_AMQP_URL")
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let serve_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let address = loop {
        if let Some(rest) = serve_log().split("starting on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
        assert!(
            server.try_wait().unwrap().is_none(),
            "serve stopped: {}",
            serve_log()
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "no address: {}",
            serve_log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let client = chiffon::client::Client::new(&address).unwrap();
    let online = || async {
        client
            .agents(&[("online", "true".into())])
            .await
            .map_or(0, |p| p.items.len())
    };
    while online().await != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "agents: {}",
            serve_log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let http = reqwest::Client::new();
    let page: Value = http
        .get(format!("{address}/api/v1/suggestions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let found = every_finding(&page);
    let fix = found
        .iter()
        .find(|s| s["rule"] == "command-not-idempotent" && s["file"] == "disk-check.yml")
        .unwrap_or_else(|| panic!("{page}"));
    assert!(fix["diff"].is_string(), "{fix}");
    let id = fix["id"].as_str().unwrap();

    let apply = || async {
        let response = http
            .post(format!("{address}/api/v1/suggestions/{id}/apply"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    let (status, applied) = apply().await;
    assert_eq!(status, 200, "{applied}\n{}", serve_log());
    let commit = applied["commit"].as_str().unwrap();
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]).trim(), commit);
    let playbook = std::fs::read_to_string(repo.join("disk-check.yml")).unwrap();
    assert!(
        playbook.contains("      changed_when: false\n"),
        "{playbook}"
    );
    // Applied once: asked again, the answer says what to do, in the error body the UI shows.
    let (status, again) = apply().await;
    assert_eq!(status, 404, "{again}");
    assert!(
        again["error"]["message"]
            .as_str()
            .unwrap()
            .contains("list the suggestions again"),
        "{again}"
    );
    // Stopped as systemd stops it, so it ends its background ansible-lint run too.
    let pid = server.id().unwrap().to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(term.success());
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(20), server.wait()).await;
    assert!(
        stopped.is_ok(),
        "serve did not stop on SIGTERM: {}",
        serve_log()
    );
}

/// A run's summary carries the findings about what it ran — the Kuma stack's published port —
/// and not those of stacks it never touched, on both deployments, without waiting for
/// ansible-lint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_summary_carries_the_findings_of_the_files_its_playbook_used() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app.request("Deploy Uptime Kuma to the homelab").await;
        let (_, view) = app.approve_and_wait(&id).await;
        let kuma = view
            .tasks
            .iter()
            .find(|t| t.playbook.as_deref() == Some("kuma-deployment.yml"))
            .unwrap_or_else(|| panic!("no Kuma step: {:?}", view.tasks));
        let found = kuma.suggestions.as_array().expect("a list");
        assert!(
            found.iter().any(|s| s["rule"] == "admin-ui-exposed"
                && s["file"] == "templates/uptime-kuma/compose.yml.j2"
                && s["about"] == "repository"
                && s["diff"].is_string()),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .all(|s| !s["file"].as_str().unwrap().starts_with("stacks/")),
            "only what the Kuma run used: {found:?}"
        );
        app.stop().await;
    }
}
