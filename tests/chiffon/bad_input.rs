//! Bad input gets a clear 4xx error with a code, runs nothing and loses nothing.

use chiffon::model::RequestStatus;

use crate::helpers::{KUMA_REQUEST, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_requests_are_refused_with_codes() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let big = "x".repeat(100 * 1024);
        let cases: Vec<(String, u16, &str)> = vec![
            (r#"{"text": ""}"#.into(), 422, "empty_text"),
            (r#"{"text": "   "}"#.into(), 422, "empty_text"),
            (
                format!(r#"{{"text": "{}"}}"#, "deploy kuma ".repeat(400)),
                422,
                "text_too_long",
            ),
            (format!(r#"{{"text": "{big}"}}"#), 413, "body_too_large"),
            (r#"{"text": "deploy kuma""#.into(), 400, "malformed_json"),
            (
                r#"{"text": "deploy kuma", "sudo": true}"#.into(),
                422,
                "invalid_body",
            ),
            (r#"{"txt": "deploy kuma"}"#.into(), 422, "invalid_body"),
            (r#"["deploy kuma"]"#.into(), 422, "invalid_body"),
        ];
        for (body, status, code) in cases {
            let (got, answer) = app.post("/requests", &body).await;
            assert_eq!(
                (got, answer["error"]["code"].as_str()),
                (status, Some(code)),
                "{}",
                &body[..body.len().min(80)]
            );
            assert!(
                answer["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
        // Invalid UTF-8 is malformed JSON, not a crash.
        let response = app
            .http
            .post(format!("{}/api/v1/requests", app.address))
            .header("content-type", "application/json")
            .body(b"{\"text\": \"\xff\xfe\"}".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        // Not JSON at all.
        let response = app
            .http
            .post(format!("{}/api/v1/requests", app.address))
            .body("text=deploy")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 415);

        // None of that stored anything.
        let (_, list) = app.get("/api/v1/requests").await;
        assert_eq!(list["items"].as_array().unwrap().len(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_and_routes_are_404s() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        for path in [
            "/api/v1/requests/req_0000000000000000000000000000dead",
            "/api/v1/requests/../../etc/passwd",
            "/api/v1/requests/nope",
            "/api/v1/tasks/task_0000000000000000000000000000dead",
            "/api/v1/no-such-thing",
        ] {
            let (status, body) = app.get(path).await;
            assert_eq!(status, 404, "{path}: {body}");
            assert!(body["error"]["code"].is_string(), "{path}: {body}");
        }
        let (status, body) = app
            .post("/requests/req_0000000000000000000000000000dead/approve", "")
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found"))
        );
        let (status, body) = app.get("/api/v1/tasks?status=exploded").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_query"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_twice_runs_the_plan_once() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app.request(KUMA_REQUEST).await;
        let path = format!("/requests/{id}/approve");
        let (first, second) = tokio::join!(app.post(&path, ""), app.post(&path, "{}"));
        let mut statuses = [first.0, second.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [202, 409], "{first:?} {second:?}");
        let (_, done) = app.approve_and_wait_after_approval(&id).await;
        assert_eq!(done.request.status, RequestStatus::Succeeded);
        assert_eq!(done.tasks.len(), 2, "each step ran exactly once");
        // A finished request cannot be approved again either.
        let (status, body) = app.post(&path, "").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("invalid_state"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_with_open_questions_or_stale_versions_cannot_be_approved() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let view = app
            .client
            .create_request("make me a sandwich", false)
            .await
            .unwrap();
        assert!(view.request.plan.steps.is_empty());
        assert!(!view.request.plan.open_questions.is_empty());
        let id = view.request.id.to_string();
        let (status, body) = app.post(&format!("/requests/{id}/approve"), "").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("plan_not_executable")),
            "{body}"
        );

        let id = app.request(KUMA_REQUEST).await;
        let (status, body) = app
            .post(&format!("/requests/{id}/approve"), r#"{"plan_version": 7}"#)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("plan_version_mismatch")),
            "{body}"
        );
        let (status, body) = app
            .post(&format!("/requests/{id}/reject"), r#"{"reason": ""}"#)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_reason")),
            "{body}"
        );
        let view = app.client.get_request(&id).await.unwrap();
        assert_eq!(view.request.status, RequestStatus::AwaitingApproval);
        assert!(app.rendered_files().is_empty());
    }
}

/// A message about a task counts only from the agent running it: an impostor's `result`
/// changes nothing, and the real outcome is what the user sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostor_cannot_finish_another_agents_task() {
    use chiffon::api::LiveEvent;
    use chiffon::bus::Queue;
    use chiffon::protocol::{Envelope, Message, TaskResult};

    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app.request("deploy uptime kuma").await;
        let mut stream = app.client.subscribe(&id).await.unwrap();
        app.client.approve(&id, None).await.unwrap();
        // Once the first step runs on its agent, someone else claims it failed.
        let (task_id, owner) = loop {
            match stream.next().await.expect("live stream") {
                LiveEvent::Task {
                    task_id,
                    status: chiffon::model::TaskStatus::Running,
                    agent_id: Some(agent),
                    ..
                } => break (task_id, agent),
                _ => continue,
            }
        };
        let forged = TaskResult::failed(&task_id, "forged by an impostor".into(), None);
        let envelope = Envelope::new("impostor-1", Some(task_id.clone()), Message::Result(forged));
        app.bus
            .publish(&Queue::Events, envelope.encode())
            .await
            .unwrap();
        let (_, view) = app.approve_and_wait_after_approval(&id).await;
        assert_eq!(
            view.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            view.tasks
        );
        let task = view
            .tasks
            .iter()
            .find(|t| t.id.as_str() == task_id)
            .unwrap();
        assert_eq!(task.agent_id.as_deref(), Some(owner.as_str()));
        assert!(task.error.is_none(), "{:?}", task.error);
    }
}

/// With a token configured, the API and the live stream refuse anyone without it; health
/// probes stay open; the CLI sends CHIFFON_API_TOKEN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_api_refuses_strangers_but_not_health_probes() {
    let token = "test-token-0123456789abcdef";
    let app = TestApp::spawn_with(
        crate::helpers::Backend::Embedded,
        crate::helpers::Options {
            api_token: Some(token.to_owned()),
            ..Default::default()
        },
    )
    .await;
    let (code, body) = app.get("/api/v1/requests").await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (401, Some("token_required"))
    );
    let (code, _) = app.get("/api/v1/health").await;
    assert_eq!(code, 200, "probes need no token");
    let wrong = app
        .http
        .get(format!("{}/api/v1/requests", app.address))
        .bearer_auth("test-token-0123456789abcdeX")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let (code, _) = app.post("/requests", r#"{"text": "deploy kuma"}"#).await;
    assert_eq!(code, 401, "nothing is planned without the token");
    // The WebSocket too, unless the token comes with it.
    let ws = app.address.replacen("http", "ws", 1);
    assert!(
        tokio_tungstenite::connect_async(format!("{ws}/api/v1/ws"))
            .await
            .is_err()
    );
    assert!(
        tokio_tungstenite::connect_async(format!("{ws}/api/v1/ws?access_token={token}"))
            .await
            .is_ok()
    );
    // The CLI: refused with the fix, then fine with the variable.
    let cli = |with_token: bool| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"));
        command.args(["--server", &app.address, "status"]);
        command.env_remove("CHIFFON_API_TOKEN");
        if with_token {
            command.env("CHIFFON_API_TOKEN", token);
        }
        command.output()
    };
    let refused = cli(false).await.unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("CHIFFON_API_TOKEN"),
        "{refused:?}"
    );
    let allowed = cli(true).await.unwrap();
    assert!(allowed.status.success(), "{allowed:?}");
    // And a full request through the token-carrying client.
    let id = app.request("deploy uptime kuma").await;
    let (_, done) = app.approve_and_wait(&id).await;
    assert_eq!(done.request.status, RequestStatus::Succeeded);
    app.stop().await;
}
