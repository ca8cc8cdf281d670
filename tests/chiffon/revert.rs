//! Reversible by design (docs/revert.md), with real `ansible-playbook` on the example homelab:
//! what each run changed is recorded per task and host; a revert is a new request whose
//! approved plan puts files back byte for byte or removes what the run made; a file changed
//! since the run is a conflict settled by the person; commands are shown as irreversible; a
//! revert survives an orchestrator restart mid-run like any request.

use std::path::PathBuf;
use std::time::Duration;

use chiffon::api::{Answer, LiveEvent, RequestView, RevertBody, TaskChanges};
use chiffon::model::{RequestStatus, TaskStatus};
use serde_json::Value;

use crate::helpers::{KUMA_REQUEST, Options, TestAgent, TestApp, backends};

const REVERT_PLAYBOOK: &str = "chiffon:ansible/actions/revert_files.yml";

fn monitors_file(app: &TestApp) -> PathBuf {
    app.homelab_root
        .join("lola/stacks/uptime-kuma/monitors.json")
}

/// Runs the Kuma request (with `change` as a Modify first, when given) to success.
pub(crate) async fn run_kuma(app: &TestApp, change: Option<&str>) -> RequestView {
    let id = app.request(KUMA_REQUEST).await;
    if let Some(change) = change {
        app.client.modify(&id, change).await.unwrap();
    }
    let (_, view) = app.approve_and_wait(&id).await;
    assert_eq!(
        view.request.status,
        RequestStatus::Succeeded,
        "{:?}",
        view.tasks
    );
    view
}

/// Asks for the undo of `id` and checks it is a plan awaiting approval that runs the built-in
/// revert playbook.
async fn plan_undo(app: &TestApp, id: &str, body: &RevertBody) -> RequestView {
    let view = app.client.revert(id, body).await.unwrap();
    assert_eq!(view.request.status, RequestStatus::AwaitingApproval);
    assert!(view.request.text.contains(id), "{}", view.request.text);
    assert!(!view.request.plan.steps.is_empty());
    for step in &view.request.plan.steps {
        assert_eq!(step.playbook.as_deref(), Some(REVERT_PLAYBOOK));
    }
    view
}

async fn changes_of(app: &TestApp, view: &RequestView, playbook: &str) -> TaskChanges {
    let task = view
        .tasks
        .iter()
        .find(|t| t.playbook.as_deref() == Some(playbook))
        .unwrap_or_else(|| panic!("no task ran {playbook}: {:?}", view.tasks));
    app.client.task_changes(task.id.as_str()).await.unwrap()
}

fn portal_names(bytes: &[u8]) -> Vec<String> {
    let monitors: Value = serde_json::from_slice(bytes).unwrap();
    monitors["monitorList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_run_reverts_byte_for_byte_and_the_first_run_reverts_to_nothing() {
    for backend in backends() {
        eprintln!("scenario on {backend:?}");
        let app = TestApp::spawn_on(backend).await;
        // Something of the owner's that no run touches.
        let own = app.homelab_root.join("lola/notes.txt");
        std::fs::create_dir_all(own.parent().unwrap()).unwrap();
        std::fs::write(&own, "mine\n").unwrap();

        let first = run_kuma(&app, None).await;
        let first_bytes = std::fs::read(monitors_file(&app)).unwrap();
        assert_eq!(portal_names(&first_bytes).len(), 6);
        // What the first run changed: the monitors file did not exist before.
        let config = changes_of(&app, &first, "kuma-config-update.yml").await;
        assert_eq!(config.hosts.len(), 1, "{config:?}");
        assert_eq!(config.hosts[0].host, "lola");
        let monitors = &config.hosts[0].changes[0];
        assert_eq!(monitors.change.kind, "file");
        assert!(
            monitors
                .change
                .target
                .ends_with("uptime-kuma/monitors.json")
        );
        assert_eq!(monitors.change.existed, Some(false));
        assert!(monitors.change.reversible);
        let deploy = changes_of(&app, &first, "kuma-deployment.yml").await;
        let kinds: Vec<&str> = deploy.hosts[0]
            .changes
            .iter()
            .map(|c| c.change.kind.as_str())
            .collect();
        assert!(
            kinds.contains(&"directory") && kinds.contains(&"file"),
            "{kinds:?}"
        );

        // The same request changed: a portal left out.
        let second = run_kuma(&app, Some("leave out the Ollama API")).await;
        let second_bytes = std::fs::read(monitors_file(&app)).unwrap();
        assert_eq!(portal_names(&second_bytes).len(), 5);
        let config = changes_of(&app, &second, "kuma-config-update.yml").await;
        let monitors = &config.hosts[0].changes[0];
        assert_eq!(monitors.change.existed, Some(true));
        assert!(
            monitors.content_kept && monitors.change.reversible,
            "{monitors:?}"
        );
        let diff = monitors.change.diff.as_deref().unwrap();
        assert!(
            diff.lines()
                .any(|l| l.starts_with('-') && l.contains("Ollama")),
            "{diff}"
        );
        // The deployment was already in place: its second run changed nothing.
        let deploy = changes_of(&app, &second, "kuma-deployment.yml").await;
        assert!(deploy.hosts.is_empty(), "{deploy:?}");
        // The CLI shows the same, per request.
        let out = app.chiffon(&["changes", second.request.id.as_str()]).await;
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shown}");
        assert!(
            shown.contains("monitors.json") && shown.contains("can undo"),
            "{shown}"
        );

        // Undo the second run: the monitors file is again exactly what the first wrote.
        let undo = plan_undo(&app, second.request.id.as_str(), &RevertBody::default()).await;
        let (_, done) = app.approve_and_wait(undo.request.id.as_str()).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );
        assert_eq!(std::fs::read(monitors_file(&app)).unwrap(), first_bytes);

        // Undo the first: every file it made is gone, the owner's file untouched.
        let undo = plan_undo(&app, first.request.id.as_str(), &RevertBody::default()).await;
        let (_, done) = app.approve_and_wait(undo.request.id.as_str()).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );
        assert_eq!(app.rendered_files(), vec!["lola/notes.txt".to_owned()]);
        assert!(!app.homelab_root.join("lola/stacks/uptime-kuma").exists());
        assert_eq!(std::fs::read_to_string(&own).unwrap(), "mine\n");
        // The undo's audit entries name the request they revert.
        let log = app.git(&["log", "--format=%s"]);
        assert!(log.contains("Put back"), "{log}");
        let task = &done.tasks[0];
        let out = app.chiffon(&["audit", "show", task.id.as_str()]).await;
        let entry = String::from_utf8_lossy(&out.stdout);
        assert!(entry.contains(first.request.id.as_str()), "{entry}");
        app.stop().await;
    }
}

/// Approving `id` through the API is refused with a 409 that names the conflict to answer.
async fn approval_is_refused_until_answered(app: &TestApp, id: &str, path: &str) {
    let (status, body) = app.post(&format!("/requests/{id}/approve"), "{}").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "plan_not_executable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(path)
            && message.contains("keep_theirs")
            && message.contains("chiffon answer"),
        "{message}"
    );
}

/// The undo request `chiffon revert ORIGINAL` printed.
fn undo_in(shown: &str, original: &str) -> String {
    shown
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.starts_with("req_") && *w != original)
        .unwrap_or_else(|| panic!("no undo request in {shown}"))
        .to_owned()
}

/// The undo's one open question: about `path` on lola, keep theirs or restore ours.
fn conflict_question(view: &RequestView, path: &str) -> String {
    assert!(view.needs_answer, "{:?}", view.request.plan);
    let open: Vec<_> = view
        .request
        .plan
        .questions
        .iter()
        .filter(|q| q.answer.is_none())
        .collect();
    assert_eq!(open.len(), 1, "{open:?}");
    let question = open[0];
    assert_eq!(question.id, format!("conflict:lola:{path}"));
    assert!(question.text.contains(path), "{}", question.text);
    let choices: Vec<&str> = question.choices.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(choices, ["keep_theirs", "restore_ours"]);
    question.id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_since_the_run_is_asked_about_before_approval_and_keep_theirs_leaves_it() {
    for backend in backends() {
        eprintln!("scenario on {backend:?}");
        let app = TestApp::spawn_on(backend).await;
        let first = run_kuma(&app, None).await;
        let file = monitors_file(&app);
        let path = file.display().to_string();
        // Someone edits the monitors file after the run, behind Chiffon's back.
        let theirs = b"{\"monitorList\": []}\n".to_vec();
        std::fs::write(&file, &theirs).unwrap();

        let undo = plan_undo(&app, first.request.id.as_str(), &RevertBody::default()).await;
        let id = undo.request.id.to_string();
        assert!(!undo.needs_answer, "nothing is known before the dry run");
        let reworded = app.client.modify(&id, "deploy jellyfin too").await;
        assert!(
            reworded.is_err(),
            "an undo plan is not re-planned from words"
        );
        // Approving runs the dry run first: the conflict becomes a question, nothing runs.
        approval_is_refused_until_answered(&app, &id, &path).await;
        let view = app.client.get_request(&id).await.unwrap();
        assert_eq!(view.request.status, RequestStatus::AwaitingApproval);
        assert_eq!(view.request.plan.version, 2);
        assert!(view.tasks.is_empty(), "nothing ran: {:?}", view.tasks);
        let question = conflict_question(&view, &path);
        let preview = view.preview.as_ref().expect("the dry run is kept with v2");
        let error = preview.steps[0].error.as_deref().unwrap_or_default();
        assert!(
            error.contains("conflict") && error.contains(&path) && !error.contains("[chiffon-"),
            "{error}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), theirs);
        // Asking again is still refused: the question is open.
        approval_is_refused_until_answered(&app, &id, &path).await;

        // Keep theirs: a new version, approvable, that leaves their file and undoes the rest.
        let answered = app
            .client
            .answer(
                &id,
                &Answer {
                    question_id: Some(question),
                    choice: Some("keep_theirs".into()),
                    ..Answer::default()
                },
            )
            .await
            .unwrap();
        assert!(!answered.needs_answer, "{:?}", answered.request.plan);
        assert_eq!(answered.request.plan.version, 3);
        let entries = answered.request.plan.steps[0].extra_vars["chiffon_revert_files"]
            .as_array()
            .unwrap();
        let entry = entries.iter().find(|e| e["path"] == path.as_str()).unwrap();
        assert_eq!(entry["on_conflict"], "keep_theirs");
        let (_, done) = app.approve_and_wait(&id).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );
        assert_eq!(done.request.plan.version, 3);
        assert_eq!(std::fs::read(&file).unwrap(), theirs);
        assert!(
            !app.homelab_root
                .join("lola/stacks/uptime-kuma/compose.yml")
                .exists()
        );
        assert_eq!(
            app.rendered_files(),
            vec!["lola/stacks/uptime-kuma/monitors.json".to_owned()]
        );
        // The answer is on record: a decision and an audit entry.
        assert!(
            done.decisions
                .iter()
                .any(|d| d.kind == "answered" && d.plan_version == 3),
            "{:?}",
            done.decisions
        );
        let log = app.git(&["log", "--format=%s"]);
        assert!(log.contains(&format!("answer request {id}")), "{log}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_ours_puts_a_file_changed_since_the_run_back_byte_for_byte() {
    for backend in backends() {
        eprintln!("scenario on {backend:?}");
        let app = TestApp::spawn_on(backend).await;
        run_kuma(&app, None).await;
        let before = std::fs::read(monitors_file(&app)).unwrap();
        let second = run_kuma(&app, Some("leave out the Ollama API")).await;
        let file = monitors_file(&app);
        let path = file.display().to_string();
        std::fs::write(&file, b"edited by hand\n").unwrap();

        // `chiffon revert` plans, dry-runs, and asks.
        let out = app.chiffon(&["revert", second.request.id.as_str()]).await;
        let shown = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{shown}");
        assert!(shown.contains("needs your answer"), "{shown}");
        assert!(
            shown.contains(&path)
                && shown.contains("restore_ours")
                && shown.contains("chiffon answer"),
            "{shown}"
        );
        let id = undo_in(&shown, second.request.id.as_str());
        let view = app.client.get_request(&id).await.unwrap();
        conflict_question(&view, &path);
        approval_is_refused_until_answered(&app, &id, &path).await;
        assert_eq!(std::fs::read(&file).unwrap(), b"edited by hand\n");

        let out = app.chiffon(&["answer", &id, "restore_ours"]).await;
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shown}");
        assert!(shown.contains("Approval needed"), "{shown}");
        let (_, done) = app.approve_and_wait(&id).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );
        assert_eq!(std::fs::read(&file).unwrap(), before);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_chosen_with_the_revert_is_not_asked_again() {
    for backend in backends() {
        eprintln!("scenario on {backend:?}");
        let app = TestApp::spawn_on(backend).await;
        let first = run_kuma(&app, None).await;
        let file = monitors_file(&app);
        let theirs = b"{\"monitorList\": []}\n".to_vec();
        std::fs::write(&file, &theirs).unwrap();

        let path = file.display().to_string();
        let out = app
            .chiffon(&["revert", first.request.id.as_str(), "--keep-theirs", &path])
            .await;
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shown}");
        assert!(!shown.contains("needs your answer"), "{shown}");
        assert!(shown.contains("chiffon approve"), "{shown}");
        let id = undo_in(&shown, first.request.id.as_str());
        let (_, done) = app.approve_and_wait(&id).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );
        assert_eq!(done.request.plan.version, 1, "no question was asked");
        assert_eq!(std::fs::read(&file).unwrap(), theirs);
        assert!(
            !app.homelab_root
                .join("lola/stacks/uptime-kuma/compose.yml")
                .exists()
        );
        app.stop().await;
    }
}

/// With a container runtime that answers (`helpers::bin_with_recording_docker`), the Kuma
/// request creates the proxy network (a command: irreversible, and said so) and brings the
/// stack up (a compose project: its undo takes it down before removing the files that made it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_stays_irreversible_and_the_compose_project_it_started_goes_down_with_its_files()
{
    for backend in backends() {
        eprintln!("scenario on {backend:?}");
        let scratch = tempfile::tempdir().unwrap();
        let (playbook, docker_log) =
            crate::helpers::bin_with_recording_docker(scratch.path()).await;
        let app = TestApp::spawn_with(
            backend,
            Options {
                ansible_playbook: Some(playbook),
                ..Options::default()
            },
        )
        .await;
        let first = run_kuma(&app, None).await;
        let deploy = changes_of(&app, &first, "kuma-deployment.yml").await;
        let command = deploy.hosts[0]
            .changes
            .iter()
            .find(|c| c.change.kind == "command")
            .unwrap_or_else(|| panic!("no command recorded: {deploy:?}"));
        assert!(!command.change.reversible);
        assert!(
            command
                .change
                .note
                .as_deref()
                .unwrap()
                .contains("cannot undo")
        );
        let stack = deploy.hosts[0]
            .changes
            .iter()
            .find(|c| c.change.kind == "compose")
            .unwrap_or_else(|| panic!("no compose project recorded: {deploy:?}"));
        assert!(stack.change.reversible);
        assert!(stack.change.target.ends_with("lola/stacks/uptime-kuma"));
        let out = app.chiffon(&["changes", first.request.id.as_str()]).await;
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(shown.contains("CANNOT UNDO"), "{shown}");

        let undo = plan_undo(&app, first.request.id.as_str(), &RevertBody::default()).await;
        let risk = &undo.request.plan.risk;
        assert!(
            risk.reasons
                .iter()
                .any(|r| r.starts_with("cannot undo") && r.contains("command")),
            "{risk:?}"
        );
        assert!(
            risk.reasons
                .iter()
                .any(|r| r.contains("takes compose project uptime-kuma down")),
            "{risk:?}"
        );
        assert_eq!(risk.level.to_string(), "high");

        // Approved, the undo takes the stack down, then removes the files the run made.
        let (_, done) = app.approve_and_wait(undo.request.id.as_str()).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );
        let calls = std::fs::read_to_string(&docker_log).unwrap();
        let up = calls
            .lines()
            .position(|l| l == "compose --project-name uptime-kuma up --detach --remove-orphans")
            .unwrap_or_else(|| panic!("{calls}"));
        let down = calls
            .lines()
            .position(|l| l == "compose --project-name uptime-kuma down --remove-orphans")
            .unwrap_or_else(|| panic!("{calls}"));
        assert!(up < down, "{calls}");
        assert!(!app.homelab_root.join("lola/stacks/uptime-kuma").exists());
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_survives_an_orchestrator_restart_mid_run() {
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
        let mut agent = TestAgent::infra(&app, "infra-revert").await;
        app.wait_until_agents_online(1).await;
        let first = run_kuma(&app, None).await;
        let undo = plan_undo(&app, first.request.id.as_str(), &RevertBody::default()).await;
        let id = undo.request.id.to_string();
        let mut stream = app.client.subscribe(&id).await.unwrap();
        app.client.approve(&id, None).await.unwrap();
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Some(LiveEvent::Task {
                    status: TaskStatus::Running,
                    ..
                }) = stream.next().await
                {
                    return;
                }
            }
        })
        .await
        .expect("the undo never ran");
        drop(stream);
        app.restart().await;

        let (_, view) = app.approve_and_wait_after_approval(&id).await;
        assert_eq!(
            view.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            view.tasks
        );
        assert_eq!(view.tasks.len(), 1, "the undo ran once: {:?}", view.tasks);
        assert!(view.tasks[0].audit_commit.is_some());
        assert!(
            app.rendered_files().is_empty(),
            "{:?}",
            app.rendered_files()
        );
        agent.kill().await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_finished_request_with_recorded_changes_can_be_undone() {
    let app = TestApp::spawn_on(crate::helpers::Backend::Embedded).await;
    let id = app.request(KUMA_REQUEST).await;
    let (status, body) = app.post(&format!("/requests/{id}/revert"), "{}").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("finished"),
        "{body}"
    );
    let (status, body) = app
        .post(
            &format!("/requests/{id}/revert"),
            r#"{"resolve":[{"path":"relative/x","choice":"keep_theirs"}]}"#,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app
        .post(&format!("/requests/{id}/revert"), r#"{"surprise":1}"#)
        .await;
    assert_eq!(status, 422);
    let (status, _) = app
        .get("/api/v1/tasks/task_00000000000000000000000000000000/changes")
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// `git -C dir args…` as a person would run it; its stdout.
fn git(dir: &std::path::Path, args: &[&str]) -> String {
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

/// The id of Chiffon's `admin-ui-exposed` suggestion for `file` in the repository `repo`.
async fn admin_ui_suggestion(repo: &std::path::Path, file: &str) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args(["playbooks", "lint", "--no-ansible-lint", "--json"])
        .arg(repo)
        .output()
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let items = answer["items"].as_array().unwrap();
    let found = items
        .iter()
        .find(|s| s["rule"] == "admin-ui-exposed" && s["file"] == file)
        .unwrap_or_else(|| panic!("no admin-ui-exposed suggestion for {file}: {answer}"));
    found["id"].as_str().unwrap().to_owned()
}

/// Applies suggestion `id` through the API; the playbook commit it made.
async fn apply(app: &TestApp, id: &str) -> String {
    let (code, body) = app.post(&format!("/suggestions/{id}/apply"), "").await;
    assert_eq!(code, 200, "{body}");
    body["commit"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applied_suggestion_is_undone_by_a_new_commit_after_approval_or_refused_on_conflict() {
    const FILE: &str = "stacks/jellyfin/compose.yml";
    for backend in backends() {
        // A git repository of the example homelab, as a homelab keeps its playbooks.
        let scratch = tempfile::tempdir().unwrap();
        let repo = scratch.path().join("homelab-infra");
        let copied = std::process::Command::new("cp")
            .arg("-r")
            .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab-infra"))
            .arg(&repo)
            .status()
            .unwrap();
        assert!(copied.success());
        git(&repo, &["init", "-q"]);
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "homelab"]);
        let app = TestApp::spawn_with(
            backend,
            Options {
                playbooks: Some(repo.clone()),
                ..Options::default()
            },
        )
        .await;
        let before = std::fs::read(repo.join(FILE)).unwrap();
        let suggestion = admin_ui_suggestion(&repo, FILE).await;
        let applied = apply(&app, &suggestion).await;
        assert_ne!(std::fs::read(repo.join(FILE)).unwrap(), before);

        // The undo is a plan awaiting approval, with its risk; nothing changed yet.
        let (code, body) = app
            .post(&format!("/suggestions/applied/{applied}/revert"), "")
            .await;
        assert_eq!(code, 201, "{body}");
        let view: RequestView = serde_json::from_value(body).unwrap();
        assert_eq!(view.request.status, RequestStatus::AwaitingApproval);
        let risk = view.request.plan.risk.reasons.join("\n");
        assert!(risk.contains(&applied) && risk.contains(FILE), "{risk}");
        assert_eq!(git(&repo, &["rev-parse", "HEAD"]).trim(), applied);
        let id = view.request.id.to_string();
        let previewed = app.client.preview(&id).await.unwrap();
        let step = &previewed.preview.as_ref().unwrap().steps[0];
        assert_eq!(step.outcome, "would_change", "{step:?}");
        assert!(step.diffs[0].diff.contains(FILE), "{step:?}");

        // Approved, it reverts the commit by a new one: the file is as before the apply.
        let (_, done) = app.approve_and_wait(&id).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );
        assert_eq!(std::fs::read(repo.join(FILE)).unwrap(), before);
        let log = git(&repo, &["log", "--format=%H %an %s"]);
        let lines: Vec<&str> = log.lines().collect();
        assert!(
            lines[1].starts_with(&format!("{applied} Chiffon Apply suggestion")),
            "{log}"
        );
        assert!(
            lines[0].contains(" Chiffon Revert playbook commit "),
            "{log}"
        );
        let message = git(&repo, &["log", "-1", "--format=%B"]);
        assert!(
            message.contains(&format!("This reverts commit {applied}.")),
            "{message}"
        );
        assert!(message.contains(&id), "{message}");
        assert_eq!(git(&repo, &["status", "--porcelain"]), "");
        let task = &done.tasks[0];
        assert_eq!(task.status, TaskStatus::Succeeded);
        let (code, audit) = app.get(&format!("/api/v1/audit/{}", task.id)).await;
        assert_eq!(code, 200, "{audit}");
        assert!(audit.to_string().contains(&applied), "{audit}");

        // Asked again: already reverted, refused, nothing created.
        let (code, body) = app
            .post(&format!("/suggestions/applied/{applied}/revert"), "")
            .await;
        assert_eq!(code, 409, "{body}");
        assert!(body.to_string().contains("already reverted"), "{body}");

        // Applied again, and its undo planned from the command line.
        let again = apply(&app, &admin_ui_suggestion(&repo, FILE).await).await;
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
            .args(["--server", &app.address, "revert", "--suggestion", &again])
            .arg("--no-preview")
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let printed = String::from_utf8(out.stdout).unwrap();
        let undo = printed
            .split("chiffon approve ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no request to approve in {printed}"))
            .to_owned();
        assert!(printed.contains(FILE), "{printed}");

        let text = std::fs::read_to_string(repo.join(FILE)).unwrap();
        let original = String::from_utf8(before.clone()).unwrap();
        let changed = text
            .lines()
            .find(|l| !original.lines().any(|o| o == *l))
            .unwrap()
            .to_owned();
        let theirs = text.replace(&changed, &format!("{changed} # mine"));
        std::fs::write(repo.join(FILE), &theirs).unwrap();
        git(&repo, &["commit", "-q", "-am", "my own change"]);
        let head = git(&repo, &["rev-parse", "HEAD"]);

        // A later commit changed the same lines since the plan: the preview says it would
        // fail, and the approved run fails with the conflict, the repository untouched.
        let previewed = app.client.preview(&undo).await.unwrap();
        let step = &previewed.preview.as_ref().unwrap().steps[0];
        assert_eq!(step.outcome, "would_fail", "{step:?}");
        assert!(
            step.error.as_deref().unwrap().contains("conflict"),
            "{step:?}"
        );
        let (_, failed) = app.approve_and_wait(&undo).await;
        assert_eq!(failed.request.status, RequestStatus::Failed);
        let error = failed.tasks[0].error.clone().unwrap_or_default();
        assert!(
            error.contains("conflict") && error.contains(FILE),
            "{error}"
        );
        assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head);
        assert_eq!(std::fs::read_to_string(repo.join(FILE)).unwrap(), theirs);
        assert_eq!(git(&repo, &["status", "--porcelain"]), "");

        // Asked now: refused with a conflict that names the file, nothing created.
        let (code, body) = app
            .post(&format!("/suggestions/applied/{again}/revert"), "")
            .await;
        assert_eq!(code, 409, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("conflict") && message.contains(FILE),
            "{message}"
        );
        assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head);
        assert_eq!(std::fs::read_to_string(repo.join(FILE)).unwrap(), theirs);

        // Only Chiffon's applied suggestions: a person's own commit is theirs to revert.
        let (code, body) = app
            .post(&format!("/suggestions/applied/{}/revert", head.trim()), "")
            .await;
        assert_eq!(code, 409, "{body}");
        assert!(body.to_string().contains("not one of Chiffon"), "{body}");
        app.stop().await;
    }
}
