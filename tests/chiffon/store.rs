//! The story test: every store operation, on every back-end under test, with the answers a
//! caller relies on.

use chiffon::model::{
    AgentType, Plan, Request, RequestId, RequestStatus, Resources, Risk, RiskLevel, Step, Task,
    TaskId, TaskStatus,
};
use chiffon::protocol::ExecEvent;
use chiffon::store::{Store, TaskFilter, TaskFinish};
use chrono::{Duration, Utc};

use crate::helpers::TestApp;

pub(crate) fn request(text: &str) -> Request {
    let now = Utc::now();
    Request {
        id: RequestId::generate(),
        text: text.to_owned(),
        status: RequestStatus::AwaitingApproval,
        high_value: true,
        plan: Plan {
            version: 1,
            planner: "test".into(),
            steps: vec![Step {
                id: "s1".into(),
                title: "Deploy Jellyfin".into(),
                action: "deploy".into(),
                agent_type: AgentType::Infra,
                playbook: Some("jellyfin-deployment.yml".into()),
                service: Some("jellyfin".into()),
                limit: None,
                depends_on: vec![],
                estimated_duration_s: 60,
                resources: Resources::default(),
                tags: Vec::new(),
                extra_vars: serde_json::Map::new(),
                status: "pending".into(),
                warnings: Vec::new(),
                details: Vec::new(),
            }],
            risk: Risk {
                level: RiskLevel::Low,
                reasons: vec!["a reason".into()],
            },
            approval_required: true,
            estimated_duration_s: 60,
            open_questions: vec![],
            questions: vec![],
        },
        reason: None,
        created_at: now,
        updated_at: now,
    }
}

pub(crate) fn task(request: &Request, service: &str, created_at: chrono::DateTime<Utc>) -> Task {
    Task {
        id: TaskId::generate(),
        request_id: request.id.clone(),
        step_id: "s1".into(),
        plan_version: 1,
        title: format!("Deploy {service}"),
        status: TaskStatus::Queued,
        outcome: None,
        resource_usage: serde_json::json!({}),
        service_touched: Some(service.into()),
        agent_id: None,
        playbook: Some(format!("{service}-deployment.yml")),
        error: None,
        resource_state_at_failure: None,
        suggestions: serde_json::json!([]),
        audit_commit: None,
        created_at,
        updated_at: created_at,
        started_at: None,
        finished_at: None,
        warnings: Vec::new(),
    }
}

fn finish(status: TaskStatus) -> TaskFinish {
    TaskFinish {
        status,
        outcome: format!("{status}: lola ok=1"),
        resource_usage: serde_json::json!({"duration_ms": 1200}),
        error: (status == TaskStatus::Failed).then(|| "it broke".to_owned()),
        resource_state_at_failure: (status == TaskStatus::Failed)
            .then(|| serde_json::json!({"cpu_cores": 2})),
        warnings: if status == TaskStatus::Succeeded {
            vec!["Uptime Kuma was not started on lola".to_owned()]
        } else {
            Vec::new()
        },
    }
}

async fn story(store: &Store) {
    store.ping().await.unwrap();

    // Requests: create, read back, list newest first with a cursor.
    let first = request("deploy jellyfin");
    let second = request("deploy kuma");
    store.create_request(&first).await.unwrap();
    store.create_request(&second).await.unwrap();
    let read = store.get_request(&first.id).await.unwrap().unwrap();
    assert_eq!(
        (read.text.as_str(), read.status, read.high_value),
        ("deploy jellyfin", RequestStatus::AwaitingApproval, true)
    );
    assert_eq!(read.plan, first.plan);
    assert!(
        store
            .get_request(&RequestId::generate())
            .await
            .unwrap()
            .is_none()
    );
    let page = store.list_requests(None, 1).await.unwrap();
    assert_eq!(page.iter().map(|r| &r.id).collect::<Vec<_>>(), [&second.id]);
    let page = store.list_requests(Some(&second.id), 10).await.unwrap();
    assert_eq!(page.iter().map(|r| &r.id).collect::<Vec<_>>(), [&first.id]);

    // Compare-and-set transitions: only one of two approvals wins.
    let awaiting = [RequestStatus::AwaitingApproval];
    assert!(
        store
            .transition_request(&first.id, &awaiting, RequestStatus::Approved, None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .transition_request(&first.id, &awaiting, RequestStatus::Approved, None)
            .await
            .unwrap()
    );
    assert!(
        store
            .transition_request(
                &first.id,
                &[RequestStatus::Approved, RequestStatus::Paused],
                RequestStatus::Running,
                None
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .transition_request(&second.id, &awaiting, RequestStatus::Rejected, Some("no"))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_request(&second.id)
            .await
            .unwrap()
            .unwrap()
            .reason
            .as_deref(),
        Some("no")
    );

    // Tasks: insert, mark, finish once, audit commit, events in order.
    let week_ago = Utc::now() - Duration::days(7);
    let old = task(&first, "jellyfin", week_ago);
    let kuma = task(&first, "kuma", Utc::now());
    let running = task(&first, "kuma", Utc::now() + Duration::seconds(1));
    for t in [&old, &kuma, &running] {
        store.insert_task(t).await.unwrap();
    }
    store
        .mark_task(&kuma.id, TaskStatus::Dispatched, None)
        .await
        .unwrap();
    store
        .mark_task(&kuma.id, TaskStatus::Running, Some("infra-lola"))
        .await
        .unwrap();
    store
        .mark_task(&running.id, TaskStatus::Running, Some("infra-lola"))
        .await
        .unwrap();
    assert!(
        store
            .finish_task(&kuma.id, &finish(TaskStatus::Failed))
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_task(&kuma.id, &finish(TaskStatus::Succeeded))
            .await
            .unwrap(),
        "a task finishes once"
    );
    store
        .mark_task(&kuma.id, TaskStatus::Running, None)
        .await
        .unwrap();
    store
        .mark_task(&old.id, TaskStatus::Running, Some("infra-nas"))
        .await
        .unwrap();
    assert!(
        store
            .finish_task(&old.id, &finish(TaskStatus::Succeeded))
            .await
            .unwrap()
    );
    store
        .set_task_audit_commit(&kuma.id, "abc123")
        .await
        .unwrap();
    let stored = store.get_task(&kuma.id).await.unwrap().unwrap();
    assert_eq!(
        stored.status,
        TaskStatus::Failed,
        "a finished task never moves again"
    );
    assert_eq!(stored.agent_id.as_deref(), Some("infra-lola"));
    assert_eq!(stored.error.as_deref(), Some("it broke"));
    assert_eq!(
        stored.resource_state_at_failure,
        Some(serde_json::json!({"cpu_cores": 2}))
    );
    assert_eq!(stored.audit_commit.as_deref(), Some("abc123"));
    assert!(stored.started_at.is_some() && stored.finished_at.is_some());
    assert!(
        stored.warnings.is_empty(),
        "the failed run warned of nothing"
    );
    let done = store.get_task(&old.id).await.unwrap().unwrap();
    assert_eq!(
        done.warnings,
        ["Uptime Kuma was not started on lola"],
        "a run's warnings are kept with its task"
    );
    for kind in ["play_start", "task_result", "stats"] {
        store
            .append_event(
                &kuma.id,
                &ExecEvent {
                    kind: kind.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let events = store.task_events(&kuma.id).await.unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| (e.seq, e.event.kind.as_str()))
            .collect::<Vec<_>>(),
        [(1, "play_start"), (2, "task_result"), (3, "stats")]
    );

    // Queries: by status, service, request and time.
    let ids = |tasks: Vec<Task>| {
        tasks
            .into_iter()
            .map(|t| t.id.to_string())
            .collect::<Vec<_>>()
    };
    let all = TaskFilter {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_tasks(&all).await.unwrap()),
        [
            old.id.to_string(),
            kuma.id.to_string(),
            running.id.to_string()
        ]
    );
    let failed = TaskFilter {
        status: Some(TaskStatus::Failed),
        ..all.clone()
    };
    assert_eq!(
        ids(store.list_tasks(&failed).await.unwrap()),
        [kuma.id.to_string()]
    );
    let service = TaskFilter {
        service: Some("jellyfin".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(store.list_tasks(&service).await.unwrap()),
        [old.id.to_string()]
    );
    let recent = TaskFilter {
        since: Some(Utc::now() - Duration::days(1)),
        ..all.clone()
    };
    assert_eq!(store.list_tasks(&recent).await.unwrap().len(), 2);
    let older = TaskFilter {
        until: Some(Utc::now() - Duration::days(1)),
        ..all.clone()
    };
    assert_eq!(
        ids(store.list_tasks(&older).await.unwrap()),
        [old.id.to_string()]
    );
    let by_request = TaskFilter {
        request_id: Some(second.id.clone()),
        ..all.clone()
    };
    assert!(store.list_tasks(&by_request).await.unwrap().is_empty());

    // History for the planner.
    assert_eq!(
        store
            .playbook_durations("jellyfin-deployment.yml", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let mut runs = store.playbook_runs().await.unwrap();
    runs.sort();
    assert_eq!(
        runs,
        [
            ("jellyfin-deployment.yml".to_owned(), 1, false),
            ("kuma-deployment.yml".to_owned(), 1, true)
        ]
    );

    // After a restart the orchestrator finds the requests to resume by status.
    let resumable = store.requests_in(RequestStatus::Running).await.unwrap();
    assert_eq!(
        resumable.iter().map(|r| &r.id).collect::<Vec<_>>(),
        [&first.id]
    );
    assert!(
        store
            .requests_in(RequestStatus::Paused)
            .await
            .unwrap()
            .is_empty()
    );

    // Agents: a status change stores the agent's row and the change; both read back.
    let mut agent = chiffon::orchestrator::AgentInfo {
        id: "desk-1".into(),
        agent_type: chiffon::model::AgentType::Desktop,
        status: chiffon::model::AgentState::Online,
        status_reason: "said hello".into(),
        status_since: Utc::now(),
        host: "tower".into(),
        version: "0.1.0".into(),
        boot_id: "b1".into(),
        last_heartbeat_at: Some(Utc::now()),
        capacity: None,
        capacity_reported_at: None,
        booked: Default::default(),
        running_tasks: Vec::new(),
    };
    let change = |from, to, reason: &str| chiffon::registry::Transition {
        agent_id: "desk-1".into(),
        from,
        to,
        reason: reason.into(),
        at: Utc::now(),
    };
    use chiffon::model::AgentState::{Offline, Online};
    store
        .record_agent_transition(&agent, &change(Some(Offline), Online, "said hello"))
        .await
        .unwrap();
    agent.status = Offline;
    agent.status_reason = "no heartbeat for 75 s".into();
    store
        .record_agent_transition(
            &agent,
            &change(Some(Online), Offline, "no heartbeat for 75 s"),
        )
        .await
        .unwrap();
    // (The server's own local agents are in this database too.)
    let loaded = store.load_agents().await.unwrap();
    let desk = loaded.iter().find(|a| a.id == "desk-1").unwrap();
    assert_eq!((desk.status, desk.host.as_str()), (Offline, "tower"));
    let history = store.agent_events("desk-1", 10).await.unwrap();
    assert_eq!(
        history.iter().map(|c| c.to).collect::<Vec<_>>(),
        [Offline, Online],
        "newest first"
    );

    // The dispatch queue's pauses and resumes; the newest is its state.
    let paused = store
        .record_queue_event("paused", "no GPU has 8 GB free", Utc::now())
        .await
        .unwrap();
    store.set_queue_event_audit(paused, "abc123").await.unwrap();
    let resumed = store
        .record_queue_event("resumed", "room again", Utc::now())
        .await
        .unwrap();
    let events = store.queue_events(10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.id).collect::<Vec<_>>(),
        [resumed, paused]
    );
    assert_eq!(events[1].audit_commit.as_deref(), Some("abc123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_operation_behaves_the_same_on_every_backend() {
    for app in TestApp::each().await {
        eprintln!("story on {:?}", app.backend);
        story(&app.store().await).await;
    }
}
