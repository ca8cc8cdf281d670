//! The whole loop on the embedded default: request → plan → approval → real Ansible run →
//! task rows in SQLite → one audit commit per finished task.

use chiffon::api::LiveEvent;
use chiffon::model::{RequestStatus, RiskLevel, TaskStatus};
use chiffon::store::TaskFilter;

use crate::helpers::{KUMA_REQUEST, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kuma_request_runs_the_real_playbooks_and_is_stored_and_audited() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);

        // The plan a person reads before anything happens.
        let view = app
            .client
            .create_request(KUMA_REQUEST, false)
            .await
            .unwrap();
        let plan = &view.request.plan;
        assert_eq!(view.request.status, RequestStatus::AwaitingApproval);
        assert!(plan.approval_required);
        assert!(plan.open_questions.is_empty(), "{:?}", plan.open_questions);
        let playbooks: Vec<_> = plan
            .steps
            .iter()
            .map(|s| s.playbook.clone().unwrap())
            .collect();
        assert_eq!(playbooks, ["kuma-deployment.yml", "kuma-config-update.yml"]);
        assert_eq!(plan.steps[1].depends_on, [plan.steps[0].id.clone()]);
        assert_eq!(plan.risk.level, RiskLevel::Medium);
        assert!(
            plan.risk
                .reasons
                .iter()
                .any(|r| r.contains("never run through Chiffon")),
            "{:?}",
            plan.risk.reasons
        );
        assert!(plan.estimated_duration_s > 0);
        // A first guess for playbooks never run is seconds, not minutes (the example runs in
        // a few seconds).
        assert!(
            plan.estimated_duration_s <= 60,
            "{}",
            plan.estimated_duration_s
        );
        // Planning ran nothing.
        assert!(app.rendered_files().is_empty());
        assert!(view.tasks.is_empty());

        let id = view.request.id.to_string();
        let (events, done) = app.approve_and_wait(&id).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.request.reason
        );
        // No container engine answers on this machine: the playbook wrote Kuma's files but
        // started nothing, and the request says so instead of a plain success.
        assert_eq!(
            done.outcome.as_deref(),
            Some("succeeded_with_warnings"),
            "{:?}",
            done.tasks
        );
        let deploy = &done.request.plan.steps[0];
        assert!(
            deploy
                .warnings
                .iter()
                .any(|w| w.starts_with("Uptime Kuma was not started on lola")
                    && w.contains("no container runtime answers")),
            "{:?}",
            deploy.warnings
        );
        assert!(
            deploy
                .warnings
                .iter()
                .any(|w| w
                    == "A key task was skipped on lola: Run docker compose up for Uptime Kuma"),
            "{:?}",
            deploy.warnings
        );
        assert!(done.request.plan.steps[1].warnings.is_empty());
        // The same, as the API's JSON says it.
        let (_, raw) = app.get(&format!("/api/v1/requests/{id}")).await;
        assert_eq!(raw["status"], "succeeded");
        assert_eq!(raw["outcome"], "succeeded_with_warnings", "{raw}");
        assert_eq!(
            raw["plan"]["steps"][0]["warnings"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert!(raw["plan"]["steps"][1].get("warnings").is_none(), "{raw}");
        // A listing says so too: the sidebar and `chiffon status` read it from there.
        let (_, listed) = app.get("/api/v1/requests").await;
        let item = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{listed}"));
        assert_eq!(item["outcome"], "succeeded_with_warnings", "{item}");
        let deploy_task = raw["tasks"][0]["id"].as_str().unwrap();
        let (_, task) = app.get(&format!("/api/v1/tasks/{deploy_task}")).await;
        assert_eq!(
            task["warnings"], raw["plan"]["steps"][0]["warnings"],
            "{task}"
        );
        assert!(
            task["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["event"]["kind"] == "warning"),
            "the warnings were streamed live too"
        );

        // The live stream showed each step running, the playbook's own tasks, and the end.
        let running = events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    LiveEvent::Task {
                        status: TaskStatus::Running,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(running, 2);
        assert!(events.iter().any(|e| matches!(e,
        LiveEvent::Execution { event, .. }
            if event.kind == "task_result"
            && event.task.as_deref().is_some_and(|t| t.contains("Render the Uptime Kuma compose file"))
            && event.status.as_deref() == Some("changed"))));

        // The playbooks really ran: Kuma's stack and the monitors for the existing portals.
        assert_eq!(
            app.rendered_files(),
            [
                "lola/stacks/uptime-kuma/compose.yml",
                "lola/stacks/uptime-kuma/monitors.json"
            ]
        );
        let monitors = std::fs::read_to_string(
            app.homelab_root
                .join("lola/stacks/uptime-kuma/monitors.json"),
        )
        .unwrap();
        for portal in ["Portainer", "Jellyfin", "Pi-hole", "Home Assistant"] {
            assert!(
                monitors.contains(portal),
                "{portal} missing from {monitors}"
            );
        }

        // The task rows, read straight from the SQLite file.
        let store = app.store().await;
        let tasks = store
            .list_tasks(&TaskFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(tasks.len(), 2);
        for (task, playbook) in tasks.iter().zip(&playbooks) {
            assert_eq!(task.status, TaskStatus::Succeeded);
            assert_eq!(task.request_id.as_str(), id);
            assert_eq!(task.playbook.as_ref(), Some(playbook));
            assert_eq!(task.service_touched.as_deref(), Some("kuma"));
            assert!(
                task.agent_id
                    .as_deref()
                    .is_some_and(|a| a.starts_with("infra-"))
            );
            assert!(task.started_at.is_some() && task.finished_at >= task.started_at);
            assert!(task.error.is_none());
            assert!(
                task.resource_usage["hosts"]["lola"]["changed"]
                    .as_u64()
                    .unwrap()
                    > 0,
                "{}",
                task.resource_usage
            );
            assert!(task.outcome.as_deref().unwrap().contains("lola ok="));
            // The deployment's warnings are on its row and in its audit entry's result.
            let warned = playbook == "kuma-deployment.yml";
            assert_eq!(!task.warnings.is_empty(), warned, "{:?}", task.warnings);
            assert_eq!(
                task.outcome
                    .as_deref()
                    .unwrap()
                    .starts_with("succeeded with 2 warnings: "),
                warned,
                "{:?}",
                task.outcome
            );
            let commit = task
                .audit_commit
                .as_deref()
                .expect("audit commit on the row");
            // The commit names the task, and its entry carries request, plan, dispatch and result.
            let message = app.git(&["log", "-1", "--format=%s", commit]);
            assert!(message.contains(task.id.as_str()), "{message}");
            let files = app.git(&["show", "--name-only", "--format=", commit]);
            let entry = app.git(&["show", &format!("{commit}:{}", files.trim())]);
            let entry: serde_json::Value = serde_json::from_str(&entry).unwrap();
            assert_eq!(entry["details"]["request"]["text"], KUMA_REQUEST);
            assert_eq!(entry["details"]["plan"]["version"], 1);
            assert_eq!(entry["details"]["dispatch"]["playbook"], playbook.as_str());
            assert_eq!(entry["details"]["result"]["outcome"], "succeeded");
            assert_eq!(
                entry["details"]["result"]["warnings"]
                    .as_array()
                    .map(Vec::len),
                warned.then_some(2),
                "{entry}"
            );
        }
        // Events were stored with the task.
        let events = store.task_events(&tasks[0].id).await.unwrap();
        assert!(events.iter().any(|e| e.event.kind == "stats"));

        // The second run changes nothing, and history now informs the plan.
        let again = app
            .client
            .create_request(KUMA_REQUEST, false)
            .await
            .unwrap();
        assert!(
            !again
                .request
                .plan
                .risk
                .reasons
                .iter()
                .any(|r| r.contains("never run")),
            "{:?}",
            again.request.plan.risk.reasons
        );
        // History informs the plan: each step's estimate is now its playbook's last run (the
        // first plan had only the defaults for playbooks never run).
        for (step, task) in again.request.plan.steps.iter().zip(&tasks) {
            let ran_s = task.resource_usage["duration_ms"]
                .as_u64()
                .unwrap()
                .div_ceil(1000)
                .max(1);
            assert_eq!(step.estimated_duration_s, ran_s, "{}", step.title);
        }
        let (_, second) = app.approve_and_wait(again.request.id.as_str()).await;
        assert_eq!(second.request.status, RequestStatus::Succeeded);
        for task in &second.tasks {
            assert_eq!(
                task.resource_usage["hosts"]["lola"]["changed"], 0,
                "{}",
                task.resource_usage
            );
        }

        // One audit commit per finished task, on top of the approvals, in order.
        let log = app.git(&["log", "--reverse", "--format=%s"]);
        let subjects: Vec<&str> = log.lines().collect();
        assert_eq!(subjects.len(), 1 + 2 * (1 + 2), "{log}");
        assert_eq!(subjects[0], "Start the Chiffon audit trail");
        assert!(subjects[1].starts_with("approve request"));
        assert!(subjects[2].contains("succeeded: Deploy Uptime Kuma"));
        assert_eq!(
            subjects.iter().filter(|s| s.starts_with("task ")).count(),
            4
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_fails_the_request_with_the_playbooks_reason() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        // Configuring Kuma before it is deployed: the playbook itself refuses.
        let id = app
            .request("add our existing portals to the kuma config")
            .await;
        let (_, done) = app.approve_and_wait(&id).await;
        assert_eq!(done.request.status, RequestStatus::Failed);
        assert_eq!(done.tasks.len(), 1);
        let task = &done.tasks[0];
        assert_eq!(task.status, TaskStatus::Failed);
        let error = task.error.as_deref().unwrap();
        assert!(
            error.contains("Uptime Kuma is not deployed on lola"),
            "{error}"
        );
        assert!(task.resource_state_at_failure.is_some());
        assert!(task.audit_commit.is_some());
        assert!(app.rendered_files().is_empty());
        // A failure Chiffon does not recognise gets no made-up advice (the findings about the
        // files the step used are marked as such).
        let advice: Vec<&serde_json::Value> = task
            .suggestions
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["about"] != "repository")
            .collect();
        assert!(advice.is_empty(), "{advice:?}");
        // A person notes what happened for the post-mortem; a secret in it is not kept.
        let path = format!("/tasks/{}/annotations", task.id);
        let (code, note) = app
            .post(&path, r#"{"text": "ran config before deploy; admin password=hunter2", "author": "alice"}"#)
            .await;
        assert_eq!(code, 201, "{note}");
        let (_, detail) = app
            .get(&format!("/api/v1{}", path.trim_end_matches("/annotations")))
            .await;
        let notes = detail["annotations"].as_array().unwrap();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["author"], "alice");
        let text = notes[0]["text"].as_str().unwrap();
        assert!(
            text.contains("ran config before deploy") && !text.contains("hunter2"),
            "{text}"
        );
        let (code, body) = app.post(&path, r#"{"text": "  "}"#).await;
        assert_eq!(
            (code, body["error"]["code"].as_str()),
            (422, Some("invalid_text"))
        );
        let (code, _) = app
            .post(
                "/tasks/task_0000000000000000000000000000dead/annotations",
                r#"{"text": "x"}"#,
            )
            .await;
        assert_eq!(code, 404);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_chiffon_recognises_comes_with_advice_at_the_failed_task() {
    // /sys cannot be written to, even as root: the first task that creates a directory fails
    // with "Operation not permitted".
    let app = crate::helpers::TestApp::spawn_with(
        crate::helpers::Backend::Embedded,
        crate::helpers::Options {
            homelab_root: Some("/sys/chiffon-test".into()),
            ..Default::default()
        },
    )
    .await;
    let id = app.request("deploy uptime kuma").await;
    let (_, done) = app.approve_and_wait(&id).await;
    assert_eq!(done.request.status, RequestStatus::Failed);
    let task = &done.tasks[0];
    // The advice about the failure; the findings about the step's files are marked apart.
    let hints: Vec<&serde_json::Value> = task
        .suggestions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["about"] != "repository")
        .collect();
    assert_eq!(hints.len(), 1, "{hints:?}");
    assert_eq!(hints[0]["rule"], "permission-denied");
    assert_eq!(
        hints[0]["file"], "roles/compose_stack/tasks/main.yml",
        "{hints:?} {:?}",
        task.error
    );
    let line = hints[0]["line"].as_u64().unwrap() as usize;
    let tasks = std::fs::read_to_string(
        crate::helpers::example_repo().join("roles/compose_stack/tasks/main.yml"),
    )
    .unwrap();
    assert!(
        tasks
            .lines()
            .nth(line - 1)
            .unwrap()
            .contains("name: Create the stack directory"),
        "line {line}"
    );
    assert!(
        hints[0]["message"]
            .as_str()
            .unwrap()
            .contains("become: true")
    );
    // Stored with the task and in its audit commit.
    let commit = task.audit_commit.as_deref().unwrap();
    let entry = app.git(&["show", "--format=", commit]);
    assert!(entry.contains("permission-denied"), "{entry}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejecting_a_request_runs_nothing_and_is_audited() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app.request(KUMA_REQUEST).await;
        let rejected = app
            .client
            .reject(&id, "not during the movie night")
            .await
            .unwrap();
        assert_eq!(rejected.request.status, RequestStatus::Rejected);
        assert_eq!(
            rejected.request.reason.as_deref(),
            Some("not during the movie night")
        );

        let (status, body) = app.post(&format!("/requests/{id}/approve"), "").await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "invalid_state");

        let view = app.client.get_request(&id).await.unwrap();
        assert_eq!(view.request.status, RequestStatus::Rejected);
        assert!(view.tasks.is_empty());
        assert!(app.rendered_files().is_empty());
        let log = app.git(&["log", "--format=%s"]);
        let first = log.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("reject request {id} by "))
                && first.ends_with(": not during the movie night"),
            "{log}"
        );
        assert_eq!(view.decisions.len(), 1);
        assert_eq!(view.decisions[0].kind, "rejected");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_request_can_be_aborted() {
    use chiffon::api::LiveEvent;
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app.request(KUMA_REQUEST).await;
        let mut stream = app.client.subscribe(&id).await.unwrap();
        app.client.approve(&id, None).await.unwrap();
        // As soon as the first playbook runs, a person stops it.
        loop {
            if let Some(LiveEvent::Task {
                status: TaskStatus::Running,
                ..
            }) = stream.next().await
            {
                break;
            }
        }
        let (code, body) = app
            .post(
                &format!("/requests/{id}/abort"),
                r#"{"reason": "movie night"}"#,
            )
            .await;
        assert_eq!(code, 202, "{body}");
        let (_, done) = app.approve_and_wait_after_approval(&id).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Aborted,
            "{:?}",
            done.tasks
        );
        assert!(
            done.request
                .reason
                .as_deref()
                .unwrap()
                .contains("movie night")
        );
        let (first, second) = (&done.tasks[0], &done.tasks[1]);
        assert_eq!(first.status, TaskStatus::Aborted, "{first:?}");
        assert_eq!(second.status, TaskStatus::Cancelled);
        assert!(
            second
                .error
                .as_deref()
                .unwrap()
                .contains("aborted (movie night)")
        );
        assert!(first.audit_commit.is_some() && second.audit_commit.is_some());
        // A finished request cannot be aborted.
        let (code, body) = app.post(&format!("/requests/{id}/abort"), "").await;
        assert_eq!(
            (code, body["error"]["code"].as_str()),
            (409, Some("invalid_state"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_is_previewed_in_check_mode_before_approval_and_changes_nothing() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app.request(KUMA_REQUEST).await;
        let (code, view) = app.post(&format!("/requests/{id}/preview"), "").await;
        assert_eq!(code, 200, "{view}");
        let steps = view["preview"]["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2, "{view}");
        // Deploying would render the compose file: the diff shows its new lines.
        assert_eq!(steps[0]["outcome"], "would_change", "{view}");
        // And the person learns before approving that nothing would start here; the dry
        // run's own skips (it never starts containers) raise no alarm.
        let warnings = steps[0]["warnings"].as_array().unwrap();
        assert!(
            warnings.iter().any(|w| w
                .as_str()
                .unwrap()
                .starts_with("Uptime Kuma was not started on lola")),
            "{view}"
        );
        assert!(
            !warnings
                .iter()
                .any(|w| w.as_str().unwrap().contains("key task was skipped")),
            "{view}"
        );
        let diffs = steps[0]["diffs"].as_array().unwrap();
        assert!(
            diffs.iter().any(|d| d["diff"]
                .as_str()
                .unwrap()
                .contains("+    image: louislam/uptime-kuma")),
            "{diffs:#?}"
        );
        // Configuring needs the deployment first, which a dry run does not make: it is checked
        // after step 1 runs (not a red "would fail"), and the stumble says why.
        assert_eq!(steps[1]["outcome"], "checked_after", "{view}");
        assert_eq!(
            steps[1]["after_steps"],
            serde_json::json!([steps[0]["step_id"]]),
            "{view}"
        );
        assert!(
            steps[1]["error"].as_str().unwrap().contains("not deployed"),
            "{view}"
        );
        // Nothing happened: no files, no tasks, still waiting for a person.
        assert!(
            app.rendered_files().is_empty(),
            "{:?}",
            app.rendered_files()
        );
        let current = app.client.get_request(&id).await.unwrap();
        assert_eq!(current.request.status, RequestStatus::AwaitingApproval);
        assert!(current.tasks.is_empty());
        assert_eq!(current.preview.unwrap().steps.len(), 2);
        // The real run still works, and a preview after approval is refused.
        let (_, done) = app.approve_and_wait(&id).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );
        let (code, body) = app.post(&format!("/requests/{id}/preview"), "").await;
        assert_eq!(
            (code, body["error"]["code"].as_str()),
            (409, Some("invalid_state"))
        );
    }
}
