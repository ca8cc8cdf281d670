//! The version 1 story, as a homelab owner lives it, on the embedded default and on PostgreSQL
//! with RabbitMQ and the infra agent as a separate process: the Kuma request becomes a two-step
//! plan that names the portals it will monitor; the owner drops one through Modify; approval
//! runs both playbooks live; the tasks, the rendered monitors and the audit trail hold what
//! happened, `chiffon audit show` and `audit verify` agree; a suggested healthcheck for the Kuma
//! deployment is accepted, committed and audited, and re-runs stay idempotent; a service the
//! repository lacks ends with a template the owner reviews, and then a plan, not a failure.
//!
//! With `CHIFFON_VALIDATION_OUT=<dir>` the step timings are written there as
//! `story-<deployment>.json` for docs/validation.md.

use std::time::{Duration, Instant};

use chiffon::api::LiveEvent;
use chiffon::model::{RequestStatus, TaskStatus};
use serde_json::{Value, json};

use crate::helpers::{Backend, Options, TestAgent, TestApp};

const KUMA: &str = "Deploy Kuma Uptime to homelab and add our existing portals to the config";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kuma_story_from_request_to_audit_on_both_deployments() {
    for backend in crate::helpers::backends() {
        if backend == Backend::Distributed && std::env::var_os("CHIFFON_TEST_AMQP_URL").is_none() {
            continue;
        }
        eprintln!("story on {backend:?}");
        let (mut app, _repo, _agent) = kuma_story(backend, None).await;
        app.restart().await; // and it still comes back clean
        app.wait_until_serving().await;
        app.stop().await;
    }
}

/// The story on `backend`, up to the template for a missing service; returns the running app,
/// the scratch folder holding the homelab repository and, on the distributed deployment, the
/// infra agent process. With `inventory`, the repository's `inventory/hosts.yml` is that text
/// (the SSH variant, `ssh.rs`), and no timings are written.
pub async fn kuma_story(
    backend: Backend,
    inventory: Option<&str>,
) -> (TestApp, tempfile::TempDir, Option<TestAgent>) {
    // The homelab's own repository, in git, as a user has it.
    let scratch = tempfile::tempdir().unwrap();
    let repo = scratch.path().join("homelab");
    crate::audit::copy_dir(&crate::helpers::example_repo(), &repo);
    let _ = std::fs::remove_dir_all(repo.join(".rendered"));
    if let Some(inventory) = inventory {
        std::fs::write(repo.join("inventory/hosts.yml"), inventory).unwrap();
    }
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "our homelab"]);
    let distributed = backend == Backend::Distributed;
    let mut app = TestApp::spawn_with(
        backend,
        Options {
            local_agents: !distributed,
            heartbeat: Duration::from_secs(2),
            playbooks: Some(repo.clone()),
            ..Options::default()
        },
    )
    .await;
    let agent = if distributed {
        let agent = TestAgent::infra(&app, "infra-story").await;
        app.wait_until_agents_online(1).await;
        Some(agent)
    } else {
        None
    };
    let mut timings = serde_json::Map::new();
    fn timed(timings: &mut serde_json::Map<String, Value>, name: &str, since: Instant) {
        timings.insert(name.to_owned(), json!(since.elapsed().as_secs_f64()));
    }

    // 1. The request becomes a deployment and a configuration step, for approval.
    let started = Instant::now();
    let id = app.request(KUMA).await;
    timed(&mut timings, "plan", started);
    let view = app.client.get_request(&id).await.unwrap();
    let steps = &view.request.plan.steps;
    assert_eq!(view.request.status, RequestStatus::AwaitingApproval);
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0].playbook.as_deref(), Some("kuma-deployment.yml"));
    assert_eq!(steps[1].playbook.as_deref(), Some("kuma-config-update.yml"));
    assert_eq!(steps[1].depends_on, vec![steps[0].id.clone()]);
    // 2. It names the portals it found in the stacks, with their URLs: the count in the
    //    short title, each portal a line of the step's details.
    assert!(steps[1].title.ends_with("6 portals"), "{}", steps[1].title);
    assert!(
        steps[1]
            .details
            .iter()
            .any(|d| d == "Jellyfin (https://jellyfin.home.arpa)"),
        "{:?}",
        steps[1].details
    );
    assert_eq!(steps[1].details.len(), 6, "{:?}", steps[1].details);
    let started = Instant::now();
    let modified = app
        .client
        .modify(&id, "leave out the Ollama API")
        .await
        .unwrap();
    timed(&mut timings, "modify", started);
    assert_eq!(modified.request.plan.version, 2);
    assert!(modified.request.plan.steps[1].title.contains("5 portals"));

    // 3. Approval runs both playbooks, streaming each step.
    let mut stream = app.client.subscribe(&id).await.unwrap();
    let started = Instant::now();
    app.client.approve(&id, Some(2)).await.unwrap();
    let mut seen = Vec::new();
    let done = tokio::time::timeout(Duration::from_secs(240), async {
        loop {
            match stream.next().await {
                Some(LiveEvent::Task {
                    status, step_id, ..
                }) => {
                    seen.push(format!("{step_id}:{status}"));
                }
                Some(LiveEvent::Request { status, .. }) if status.is_terminal() => {
                    return status;
                }
                Some(_) => {}
                None => panic!("the live stream ended early"),
            }
        }
    })
    .await
    .expect("the story finished");
    timed(&mut timings, "approve_to_done", started);
    assert_eq!(done, RequestStatus::Succeeded, "{seen:?}");
    for step in ["s1", "s2"] {
        assert!(seen.contains(&format!("{step}:running")), "{seen:?}");
        assert!(seen.contains(&format!("{step}:succeeded")), "{seen:?}");
    }
    let view = app.client.get_request(&id).await.unwrap();
    // Nothing starts containers on this machine, and the story ends saying so.
    assert_eq!(view.outcome.as_deref(), Some("succeeded_with_warnings"));
    assert!(
        view.request.plan.steps[0]
            .warnings
            .iter()
            .any(|w| w.contains("Uptime Kuma was not started on lola")),
        "{:?}",
        view.request.plan.steps[0]
    );
    for task in &view.tasks {
        assert_eq!(task.status, TaskStatus::Succeeded);
        assert!(task.resource_usage["duration_ms"].as_u64().unwrap() > 0);
        let took = task.finished_at.unwrap() - task.started_at.unwrap();
        timings.insert(
            format!("step_{}", task.playbook.as_deref().unwrap()),
            json!(took.num_milliseconds() as f64 / 1000.0),
        );
    }
    let monitors: Value = serde_json::from_str(
        &std::fs::read_to_string(
            app.homelab_root
                .join("lola/stacks/uptime-kuma/monitors.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = monitors["monitorList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(!names.iter().any(|n| n.contains("Ollama")), "{names:?}");

    // 5. The audit trail and the database agree, from the CLI too.
    let task = &view.tasks[1];
    let out = app.chiffon(&["audit", "show", task.id.as_str()]).await;
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains(task.audit_commit.as_deref().unwrap())
            && shown.contains("kuma-config-update.yml"),
        "{shown}"
    );
    let mut verify = vec!["audit".to_owned(), "verify".to_owned()];
    verify.extend(app.verify_args());
    let verify: Vec<&str> = verify.iter().map(String::as_str).collect();
    let started = Instant::now();
    let out = app.chiffon(&verify).await;
    timed(&mut timings, "audit_verify", started);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = app.git(&["log", "--format=%s"]);
    assert_eq!(
        log.lines().filter(|l| l.starts_with("task ")).count(),
        2,
        "{log}"
    );
    assert!(
        log.contains(&format!("approve request {id} (plan v2)")),
        "{log}"
    );

    // 4. A suggestion for the Kuma deployment (the image's own healthcheck) is accepted:
    // applied, checked, committed to the homelab repository and audited; the next run
    // brings it out and the one after changes nothing.
    let (code, page) = app.get("/api/v1/suggestions").await;
    assert_eq!(code, 200, "{page}");
    // A low-severity finding: folded into its rule's group, and kept there.
    let folded = page["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["items"].as_array().unwrap());
    let suggestion = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(folded)
        .find(|s| {
            s["rule"] == "no-healthcheck" && s["file"] == "templates/uptime-kuma/compose.yml.j2"
        })
        .cloned()
        .unwrap_or_else(|| panic!("no Kuma healthcheck suggestion: {page}"));
    assert!(
        suggestion["diff"]
            .as_str()
            .unwrap()
            .contains("extra/healthcheck"),
        "{suggestion}"
    );
    let deploy_task = view.tasks[0].id.to_string();
    let started = Instant::now();
    let (code, applied) = app
        .post(
            &format!("/suggestions/{}/apply", suggestion["id"].as_str().unwrap()),
            &json!({ "task_id": deploy_task }).to_string(),
        )
        .await;
    timed(&mut timings, "apply_suggestion", started);
    assert_eq!(code, 200, "{applied}");
    assert!(applied["audit_commit"].is_string(), "{applied}");
    let head = std::process::Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["log", "-1", "--format=%H %s"])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout);
    assert!(
        head.starts_with(applied["commit"].as_str().unwrap()),
        "{head}"
    );
    assert!(
        app.git(&["log", "-1", "--format=%s"])
            .contains("apply suggestion")
    );
    for round in ["brings the healthcheck out", "changes nothing"] {
        let again = app.request("deploy uptime kuma").await;
        let (_, rerun) = app.approve_and_wait(&again).await;
        assert_eq!(rerun.request.status, RequestStatus::Succeeded, "{round}");
        assert_eq!(
            rerun.outcome.as_deref(),
            Some("succeeded_with_warnings"),
            "{round}: the stack is still not started"
        );
        let changed = rerun.tasks[0].resource_usage["hosts"]["lola"]["changed"]
            .as_u64()
            .unwrap();
        if round == "changes nothing" {
            assert_eq!(changed, 0, "a second run after the change is idempotent");
        } else {
            assert!(changed > 0, "the healthcheck reaches the compose file");
        }
    }
    let compose =
        std::fs::read_to_string(app.homelab_root.join("lola/stacks/uptime-kuma/compose.yml"))
            .unwrap();
    assert!(compose.contains("extra/healthcheck"), "{compose}");

    // The same story with a service the repository does not have: a template, then a plan.
    let gitea = app.request("deploy gitea").await;
    let view = app.client.get_request(&gitea).await.unwrap();
    assert!(view.request.plan.steps.is_empty());
    let question = view.request.plan.open_questions.join(" ").to_lowercase();
    assert!(
        question.contains("gitea") && question.contains("template"),
        "{question}"
    );
    let started = Instant::now();
    let (code, body) = app
        .post(
            "/playbooks/templates",
            r#"{"service": "gitea", "image": "gitea/gitea:1.22.3", "port": 3000}"#,
        )
        .await;
    timed(&mut timings, "template", started);
    assert_eq!(code, 201, "{body}");
    assert!(repo.join("gitea-deployment.yml").is_file());
    let again = app.request("deploy gitea").await;
    let view = app.client.get_request(&again).await.unwrap();
    assert_eq!(
        view.request.plan.steps[0].playbook.as_deref(),
        Some("gitea-deployment.yml"),
        "{:?}",
        view.request.plan
    );
    if let Ok(dir) = std::env::var("CHIFFON_VALIDATION_OUT")
        && inventory.is_none()
    {
        std::fs::create_dir_all(&dir).unwrap();
        let name = if distributed {
            "distributed"
        } else {
            "embedded"
        };
        std::fs::write(
            std::path::Path::new(&dir).join(format!("story-{name}.json")),
            serde_json::to_string_pretty(&timings).unwrap(),
        )
        .unwrap();
    }
    (app, scratch, agent)
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Owner", "-c", "user.email=owner@home.arpa"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}
