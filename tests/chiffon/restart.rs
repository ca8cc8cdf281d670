//! The orchestrator restarted while a playbook runs: the agent carries on, the restarted
//! orchestrator adopts the task (its agent lists it in a heartbeat, or its result is waiting in
//! the queue), the request finishes, and each task's result and audit commit arrive once.

use std::time::Duration;

use chiffon::api::LiveEvent;
use chiffon::model::{RequestStatus, TaskStatus};

use crate::helpers::{Options, TestAgent, TestApp, backends};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_playbook_adopts_the_task_instead_of_failing_it() {
    for backend in backends() {
        if backend == crate::helpers::Backend::Distributed
            && std::env::var_os("CHIFFON_TEST_AMQP_URL").is_none()
        {
            continue;
        }
        eprintln!("scenario on {backend:?}");
        let mut app = TestApp::spawn_with(
            backend,
            Options {
                local_agents: false,
                heartbeat: Duration::from_secs(1),
                ..Options::default()
            },
        )
        .await;
        let mut agent = TestAgent::infra(&app, "infra-steady").await;
        app.wait_until_agents_online(1).await;

        let id = app
            .request("deploy uptime kuma and add our existing portals")
            .await;
        let mut stream = app.client.subscribe(&id).await.unwrap();
        app.client.approve(&id, None).await.unwrap();
        let running = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Some(LiveEvent::Task {
                    task_id,
                    status: TaskStatus::Running,
                    ..
                }) = stream.next().await
                {
                    return task_id;
                }
            }
        })
        .await
        .expect("the first step never ran");
        drop(stream);
        app.restart().await;

        let (_, view) = app.approve_and_wait_after_approval(&id).await;
        assert_eq!(
            view.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            view.tasks
        );
        assert_eq!(view.tasks.len(), 2, "no step ran twice: {:?}", view.tasks);
        let adopted = view
            .tasks
            .iter()
            .find(|t| t.id.as_str() == running)
            .unwrap();
        assert_eq!(adopted.status, TaskStatus::Succeeded);
        assert_eq!(adopted.agent_id.as_deref(), Some("infra-steady"));
        assert!(adopted.audit_commit.is_some());
        // One commit per task, and the approval: nothing lost, nothing twice.
        let log = app.git(&["log", "--format=%s"]);
        let tasks = log.lines().filter(|s| s.starts_with("task ")).count();
        assert_eq!(tasks, 2, "{log}");
        assert!(
            app.rendered_files()
                .iter()
                .any(|f| f.contains("uptime-kuma")),
            "{:?}",
            app.rendered_files()
        );
        agent.kill().await;
        app.stop().await;
    }
}
