//! Questions are answered, not typed around: a plan that cannot run says so
//! (`needs_answer`), its questions come with choices, and `POST /requests/{id}/answer` (or
//! `chiffon answer`) makes the next plan version from the choice, or from a template's image
//! and port, which then runs once approved.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::helpers::{Options, TestApp, backends};

/// A copy of `source` in a fresh temp dir, so an answer that writes a template changes no
/// checked-in file.
fn copy_of(source: &Path) -> (tempfile::TempDir, PathBuf) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let temp = tempfile::tempdir().unwrap();
    let repo = temp.path().join("repo");
    copy(source, &repo);
    (temp, repo)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/layouts")
        .join(name)
}

/// Each back-end, serving a copy of `repo`.
async fn apps_on(repo: &Path) -> Vec<(TestApp, tempfile::TempDir, PathBuf)> {
    let mut apps = Vec::new();
    for backend in backends() {
        let (temp, copy) = copy_of(repo);
        let options = Options {
            playbooks: Some(copy.clone()),
            ..Options::default()
        };
        apps.push((TestApp::spawn_with(backend, options).await, temp, copy));
    }
    apps
}

fn open_questions(view: &Value) -> Vec<&Value> {
    view["plan"]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["answer"].is_null())
        .collect()
}

fn choice_ids(question: &Value) -> Vec<&str> {
    question["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picking_one_of_two_services_makes_an_approvable_plan_for_the_one_picked() {
    for (app, _temp, _repo) in apps_on(&fixture("host-named")).await {
        eprintln!("scenario on {:?}", app.backend);
        let (status, view) = app
            .post("/requests", r#"{"text": "restart the app on docker-1"}"#)
            .await;
        assert_eq!(status, 201, "{view}");
        assert_eq!(view["status"], "awaiting_approval");
        assert_eq!(view["needs_answer"], true, "{view}");
        let open = open_questions(&view);
        assert_eq!(open.len(), 1, "{view}");
        assert_eq!(open[0]["id"], "service");
        assert_eq!(choice_ids(open[0]), ["uptime-kuma", "vaultwarden"]);
        let id = view["id"].as_str().unwrap();

        // A dead end cannot be approved, and the refusal says how to go on.
        let (status, refused) = app.post(&format!("/requests/{id}/approve"), "{}").await;
        assert_eq!(status, 409, "{refused}");
        assert_eq!(refused["error"]["code"], "plan_not_executable");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains("chiffon answer"), "{message}");

        // Wrong answers change nothing and say what would do.
        let (status, wrong) = app
            .post(
                &format!("/requests/{id}/answer"),
                r#"{"choice": "jellyfin"}"#,
            )
            .await;
        assert_eq!(status, 404, "{wrong}");
        assert_eq!(wrong["error"]["code"], "question_not_found");
        let (status, wrong) = app
            .post(
                &format!("/requests/{id}/answer"),
                r#"{"question_id": "service", "choice": "jellyfin"}"#,
            )
            .await;
        assert_eq!(status, 422, "{wrong}");
        assert_eq!(wrong["error"]["code"], "not_a_choice");
        assert!(
            wrong["error"]["message"]
                .as_str()
                .unwrap()
                .contains("vaultwarden"),
            "{wrong}"
        );
        let (status, wrong) = app
            .post(&format!("/requests/{id}/answer"), r#"{"by": "alice"}"#)
            .await;
        assert_eq!(status, 422, "{wrong}");
        let (_, unchanged) = app.get(&format!("/api/v1/requests/{id}")).await;
        assert_eq!(unchanged["plan"]["version"], 1);

        let (status, answered) = app
            .post(
                &format!("/requests/{id}/answer"),
                r#"{"question_id": "service", "choice": "vaultwarden", "by": "alice"}"#,
            )
            .await;
        assert_eq!(status, 200, "{answered}");
        assert_eq!(answered["plan"]["version"], 2);
        assert_eq!(answered["needs_answer"], false, "{answered}");
        assert!(open_questions(&answered).is_empty(), "{answered}");
        let steps = answered["plan"]["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 1, "{answered}");
        assert_eq!(steps[0]["playbook"], "chiffon:ansible/actions/restart.yml");
        assert_eq!(steps[0]["extra_vars"]["chiffon_unit_name"], "vaultwarden");
        assert_eq!(steps[0]["extra_vars"]["chiffon_hosts"], "docker-1");
        let record = &answered["plan"]["questions"][0];
        assert_eq!(record["answer"], "vaultwarden");

        // Recorded like a modification: a decision, a plan version with its change, the audit.
        let decision = answered["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["kind"] == "answered")
            .expect("an answered decision");
        assert_eq!(decision["plan_version"], 2);
        assert_eq!(decision["actor"], "alice");
        let (_, versions) = app.get(&format!("/api/v1/requests/{id}/plans")).await;
        let change = versions[1]["change"].as_str().unwrap();
        assert!(change.contains("Vaultwarden"), "{change}");
        let entries = app.store().await.audit_entries_for(id).await.unwrap();
        assert!(
            entries.iter().any(|e| e.kind == "answer"),
            "no audit entry for the answer"
        );

        // Answered: nothing is left to answer, and a stale answer is refused.
        let (status, again) = app
            .post(
                &format!("/requests/{id}/answer"),
                r#"{"choice": "uptime-kuma"}"#,
            )
            .await;
        assert_eq!(status, 404, "{again}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verb_picked_for_a_bare_service_name_plans_and_runs_that_playbook() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let (status, view) = app.post("/requests", r#"{"text": "uptime kuma"}"#).await;
        assert_eq!(status, 201, "{view}");
        assert_eq!(view["needs_answer"], true, "{view}");
        let open = open_questions(&view);
        assert_eq!(open[0]["id"], "verb:kuma", "{view}");
        assert!(choice_ids(open[0]).contains(&"deploy"));
        let id = view["id"].as_str().unwrap();

        // The question is found by its choice alone.
        let (status, answered) = app
            .post(&format!("/requests/{id}/answer"), r#"{"choice": "deploy"}"#)
            .await;
        assert_eq!(status, 200, "{answered}");
        assert_eq!(answered["needs_answer"], false, "{answered}");
        assert_eq!(
            answered["plan"]["steps"][0]["playbook"],
            "kuma-deployment.yml"
        );

        let (_, done) = app.approve_and_wait(id).await;
        assert_eq!(
            done.request.status,
            chiffon::model::RequestStatus::Succeeded,
            "{:?}",
            done.request.reason
        );
        assert_eq!(done.request.plan.version, 2);
        assert_eq!(done.tasks.len(), 1);
        assert_eq!(
            done.tasks[0].playbook.as_deref(),
            Some("kuma-deployment.yml")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_offer_is_answered_with_an_image_and_a_port_and_the_next_plan_deploys_it() {
    let example = crate::helpers::example_repo();
    for (app, _temp, repo) in apps_on(&example).await {
        eprintln!("scenario on {:?}", app.backend);
        let (status, view) = app
            .post("/requests", r#"{"text": "deploy navidrome"}"#)
            .await;
        assert_eq!(status, 201, "{view}");
        assert_eq!(view["needs_answer"], true, "{view}");
        let open = open_questions(&view);
        assert_eq!(open[0]["id"], "template:navidrome", "{view}");
        assert_eq!(open[0]["template"]["service"], "navidrome");
        assert_eq!(open[0]["template"]["image"], "deluan/navidrome");
        assert_eq!(open[0]["template"]["port"], 4533);
        let id = view["id"].as_str().unwrap();

        // An unpinned image is refused and nothing is written.
        let (status, refused) = app
            .post(
                &format!("/requests/{id}/answer"),
                r#"{"template": {"image": "deluan/navidrome:latest", "port": 4533}}"#,
            )
            .await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["error"]["code"], "invalid_template");
        assert!(!repo.join("navidrome-deployment.yml").exists());

        let (status, answered) = app
            .post(
                &format!("/requests/{id}/answer"),
                r#"{"question_id": "template:navidrome", "template": {"image": "deluan/navidrome:0.53.3", "port": 4533}}"#,
            )
            .await;
        assert_eq!(status, 200, "{answered}");
        assert!(repo.join("navidrome-deployment.yml").exists());
        assert_eq!(answered["plan"]["version"], 2);
        assert_eq!(answered["needs_answer"], false, "{answered}");
        assert_eq!(
            answered["plan"]["steps"][0]["playbook"],
            "navidrome-deployment.yml"
        );
        assert_eq!(
            answered["plan"]["questions"][0]["answer"],
            "template-written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exits_1_on_a_dead_end_and_prints_the_answer_command() {
    let app = TestApp::spawn_on(backends().remove(0)).await;
    let out = app.chiffon(&["request", "uptime", "kuma"]).await;
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(printed.contains("[needs your answer]"), "{printed}");
    assert!(
        printed.contains("What should happen to Uptime Kuma?"),
        "{printed}"
    );
    let id = printed
        .split_whitespace()
        .nth(1)
        .expect("the request id after `Request`")
        .to_owned();
    let command = format!("chiffon answer {id} deploy");
    assert!(printed.contains(&command), "{printed}");
    assert!(!printed.contains("Approval needed"), "{printed}");
    let listed = app.chiffon(&["status"]).await;
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("needs your answer")),
        "{listed}"
    );

    // A choice that is not offered: exit 1, the choices named, nothing changed.
    let wrong = app
        .chiffon(&["answer", &id, "--question", "verb:kuma", "dance"])
        .await;
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("deploy (Deploy)"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );

    let answered = app.chiffon(&["answer", &id, "deploy"]).await;
    let printed = String::from_utf8_lossy(&answered.stdout);
    assert_eq!(answered.status.code(), Some(0), "{printed}");
    assert!(printed.contains("Plan v2"), "{printed}");
    assert!(printed.contains("Approval needed"), "{printed}");
    assert!(
        printed.contains(&format!("chiffon approve {id}")),
        "{printed}"
    );
}
