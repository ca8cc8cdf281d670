//! Upgrades that change a pin (`docs/repositories.md`, "Upgrades"), through the real server on
//! git copies of the layout families: the plan's first step shows the one-line change as a
//! diff, the dry run and `chiffon preview` show it, approving commits exactly that change as
//! Chiffon's commit naming the request and then runs the playbook (real `ansible-playbook`,
//! `docker` a recording script as in `layouts_served`), and a pin file changed since the plan
//! fails the step with nothing changed. Modify, reject and a version left unsaid change
//! nothing.

use std::path::{Path, PathBuf};

use chiffon::api::{Answer, RequestView};
use chiffon::model::{RequestStatus, TaskStatus};

use crate::helpers::{
    Backend, Options, TestApp, backends, bin_with_recording_docker, copy_of_layout, local_runs,
};

/// A git copy of a layout family, committed as its owner would keep it.
fn git_copy(family: &str, into: &Path) -> PathBuf {
    let to = copy_of_layout(family, into);
    git(&to, &["init", "-q"]);
    git(&to, &["add", "."]);
    git(&to, &["commit", "-q", "-m", "homelab"]);
    to
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Owner",
            "-c",
            "user.email=owner@example.com",
        ])
        .args(args)
        .output()
        .expect("git");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("utf-8")
}

async fn serve(backend: Backend, repo: PathBuf, playbook: Option<PathBuf>) -> TestApp {
    serve_with(backend, repo, playbook, false).await
}

async fn serve_with(
    backend: Backend,
    repo: PathBuf,
    playbook: Option<PathBuf>,
    registry_lookup: bool,
) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            registry_lookup,
            ..local_runs(repo, playbook)
        },
    )
    .await
}

/// Plans `text` and checks its first step changes the pin with `removed` → `added` shown as a
/// diff of `file`, before the playbook step that depends on it; returns the view.
async fn planned_change(
    app: &TestApp,
    text: &str,
    file: &str,
    removed: &str,
    added: &str,
) -> RequestView {
    let id = app.request(text).await;
    let view = app.client.get_request(&id).await.unwrap();
    let plan = &view.request.plan;
    assert!(!view.needs_answer, "{text}: {:?}", plan.open_questions);
    assert_eq!(plan.steps.len(), 2, "{text}: {:?}", plan.steps);
    let (pin, run) = (&plan.steps[0], &plan.steps[1]);
    assert_eq!(pin.action, "change_pin", "{pin:?}");
    assert!(pin.playbook.is_none());
    let diff = pin.details.join("\n");
    assert!(
        diff.contains(&format!("--- a/{file}")) && diff.contains(&format!("+++ b/{file}")),
        "{diff}"
    );
    let minus: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with("-") && !l.starts_with("---"))
        .collect();
    let plus: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with("+") && !l.starts_with("+++"))
        .collect();
    assert_eq!(minus, [format!("-{removed}")], "{diff}");
    assert_eq!(plus, [format!("+{added}")], "{diff}");
    assert_eq!(run.depends_on, std::slice::from_ref(&pin.id));
    assert!(run.playbook.is_some());
    let risk = plan.risk.reasons.join("\n");
    assert!(risk.contains(file) && risk.contains("commit"), "{risk}");
    view
}

/// The files a commit changed, with lines added and removed (`git show --numstat`).
fn numstat(repo: &Path, commit: &str) -> String {
    git(repo, &["show", "--format=", "--numstat", commit])
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_to_a_named_version_commits_the_pin_then_runs_the_playbook() {
    const FILE: &str = "ansible/roles/apps/jellyfin/defaults/main.yml";
    const RENDERED: &str = "/opt/jellyfin/docker-compose.yml";
    for (backend, version) in backends().into_iter().zip(["10.9.2", "10.10.3"]) {
        eprintln!("scenario on {backend:?}");
        let scratch = tempfile::tempdir().unwrap();
        let repo = git_copy("subfolder-project", scratch.path());
        let (playbook, _log) = bin_with_recording_docker(scratch.path()).await;
        let app = serve(backend, repo.clone(), Some(playbook)).await;
        let before_head = git(&repo, &["rev-parse", "HEAD"]);
        let before = std::fs::read_to_string(repo.join(FILE)).unwrap();

        let text = format!("upgrade jellyfin to {version}");
        let view = planned_change(
            &app,
            &text,
            FILE,
            "jellyfin_version: \"10.9.11\"",
            &format!("jellyfin_version: \"{version}\""),
        )
        .await;
        let id = view.request.id.to_string();
        assert_eq!(
            view.request.plan.steps[1].playbook.as_deref(),
            Some("ansible/playbooks/media.yml")
        );

        // The dry run and `chiffon preview` show the change; nothing is written.
        let output = app.chiffon(&["preview", &id]).await;
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            printed.contains(&format!("+jellyfin_version: \"{version}\"")),
            "{printed}"
        );
        let previewed = app.client.get_request(&id).await.unwrap();
        let first = &previewed.preview.as_ref().expect("a preview").steps[0];
        assert_eq!(first.outcome, "would_change", "{first:?}");
        assert_eq!(std::fs::read_to_string(repo.join(FILE)).unwrap(), before);
        assert_eq!(git(&repo, &["rev-parse", "HEAD"]), before_head);

        // Approved: Chiffon's commit holds exactly the one-line change, then the playbook runs
        // the new version.
        let _ = std::fs::remove_dir_all("/opt/jellyfin");
        let (_, done) = app.approve_and_wait(&id).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );
        assert_eq!(git(&repo, &["rev-parse", "HEAD~1"]), before_head);
        assert_eq!(numstat(&repo, "HEAD"), format!("1\t1\t{FILE}"));
        let message = git(&repo, &["log", "-1", "--format=%an%n%B"]);
        assert!(message.starts_with("Chiffon\n"), "{message}");
        assert!(message.contains(&format!("request {id}")), "{message}");
        assert_eq!(
            std::fs::read_to_string(repo.join(FILE)).unwrap(),
            before.replace("10.9.11", version)
        );
        assert_eq!(
            git(&repo, &["status", "--porcelain"]),
            "",
            "nothing left over"
        );
        let rendered = std::fs::read_to_string(RENDERED).unwrap();
        assert!(
            rendered.contains(&format!("image: \"jellyfin/jellyfin:{version}\"")),
            "the playbook ran at the new version: {rendered}"
        );
        let audit = app.git(&["log", "--format=%s"]);
        assert!(
            audit.contains("change the pin jellyfin_version"),
            "the change is audited: {audit}"
        );

        // What changed names Chiffon's commit; undoing the upgrade removes the file the run
        // wrote and reverts the pin commit as a new commit.
        let upgrade_head = git(&repo, &["rev-parse", "HEAD"]);
        let changes = app.chiffon(&["changes", &id]).await;
        let printed = String::from_utf8_lossy(&changes.stdout);
        assert!(
            printed.contains(&upgrade_head.trim()[..12]),
            "the pin commit is listed: {printed}"
        );
        let undo = app
            .client
            .revert(&id, &chiffon::api::RevertBody::default())
            .await
            .unwrap();
        let undo_id = undo.request.id.to_string();
        let steps = &undo.request.plan.steps;
        let revert_commit = steps
            .iter()
            .find(|s| s.action == "revert_commit")
            .expect("a step reverting the pin commit");
        assert_eq!(
            revert_commit.extra_vars["chiffon_revert_commit"],
            upgrade_head.trim()
        );
        assert!(steps.iter().any(|s| s.action == "revert"), "{steps:?}");
        let (_, undone) = app.approve_and_wait(&undo_id).await;
        assert_eq!(
            undone.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            undone.tasks
        );
        assert_eq!(std::fs::read_to_string(repo.join(FILE)).unwrap(), before);
        assert_eq!(git(&repo, &["rev-parse", "HEAD~1"]), upgrade_head);
        let subject = git(&repo, &["log", "-1", "--format=%s"]);
        assert!(subject.starts_with("Revert playbook commit"), "{subject}");
        assert!(
            !Path::new(RENDERED).exists(),
            "the file the run wrote is gone"
        );
        let _ = std::fs::remove_dir_all("/opt/jellyfin");

        // A pin file changed after planning: the step fails saying so, nothing changes and
        // the playbook does not run.
        let view = planned_change(
            &app,
            "upgrade jellyfin to 10.11.0",
            FILE,
            "jellyfin_version: \"10.9.11\"",
            "jellyfin_version: \"10.11.0\"",
        )
        .await;
        let id = view.request.id.to_string();
        let theirs = before.replace("10.9.11", "10.10.9");
        std::fs::write(repo.join(FILE), &theirs).unwrap();
        git(&repo, &["commit", "-q", "-am", "owner pins 10.10.9"]);
        let owners_head = git(&repo, &["rev-parse", "HEAD"]);
        let (_, done) = app.approve_and_wait(&id).await;
        assert_eq!(done.request.status, RequestStatus::Failed);
        let pin_task = done.tasks.iter().find(|t| t.step_id == "s1").unwrap();
        assert_eq!(pin_task.status, TaskStatus::Failed);
        let error = pin_task.error.as_deref().unwrap_or_default();
        assert!(
            error.contains(FILE) && error.contains("changed since the plan"),
            "{error}"
        );
        let run_task = done.tasks.iter().find(|t| t.step_id == "s2").unwrap();
        assert_eq!(run_task.status, TaskStatus::Cancelled);
        assert_eq!(git(&repo, &["rev-parse", "HEAD"]), owners_head);
        assert_eq!(std::fs::read_to_string(repo.join(FILE)).unwrap(), theirs);
        assert!(!Path::new(RENDERED).exists(), "the playbook did not run");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pin_form_is_shown_as_a_diff_and_only_approval_changes_the_repository() {
    let scratch = tempfile::tempdir().unwrap();
    let backend = backends()[0];

    // A full image reference in a central versions file: only its tag changes.
    let repo = git_copy("central-versions", scratch.path());
    let app = serve(backend, repo.clone(), None).await;
    let view = planned_change(
        &app,
        "upgrade sonarr to 4.0.16",
        "group_vars/all/versions.yml",
        "sonarr_image: docker.io/linuxserver/sonarr:4.0.15",
        "sonarr_image: docker.io/linuxserver/sonarr:4.0.16",
    )
    .await;
    let head = git(&repo, &["rev-parse", "HEAD"]);
    // The version keeps the pin's shape: adguard's tags start with `v`.
    planned_change(
        &app,
        "bump adguard to 0.107.53",
        "group_vars/all/versions.yml",
        "adguard_image: docker.io/adguard/adguardhome:v0.107.52",
        "adguard_image: docker.io/adguard/adguardhome:v0.107.53",
    )
    .await;
    // Rejected: the repository is as it was.
    app.client
        .reject(&view.request.id.to_string(), "not now")
        .await
        .unwrap();
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    app.stop().await;

    // An image tag written in a compose file.
    let repo = git_copy("host-named", scratch.path());
    let app = serve(backend, repo.clone(), None).await;
    let view = planned_change(
        &app,
        "upgrade vaultwarden to 1.32.5",
        "roles/vaultwarden/files/docker-compose.yml",
        "    image: vaultwarden/server:1.32.0",
        "    image: vaultwarden/server:1.32.5",
    )
    .await;
    // Modified: the new version shows the new diff; still nothing written.
    let id = view.request.id.to_string();
    let modified = app
        .client
        .modify(&id, "upgrade vaultwarden to 1.32.6 instead")
        .await
        .unwrap();
    let diff = modified.request.plan.steps[0].details.join("\n");
    assert!(
        diff.contains("+    image: vaultwarden/server:1.32.6"),
        "{diff}"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    app.stop().await;

    // A pin set through another variable: Chiffon cannot change it as written, so the plan
    // asks instead of guessing, and re-running at the pinned version answers it.
    let repo = git_copy("subfolder-project", scratch.path());
    let defaults = repo.join("ansible/roles/apps/jellyfin/defaults/main.yml");
    std::fs::write(
        &defaults,
        "jellyfin_release: \"10.9.11\"\njellyfin_version: \"{{ jellyfin_release }}\"\njellyfin_port: 8096\n",
    )
    .unwrap();
    git(&repo, &["commit", "-q", "-am", "a release variable"]);
    let app = serve(backend, repo.clone(), None).await;
    let id = app.request("upgrade jellyfin to 10.9.2").await;
    let view = app.client.get_request(&id).await.unwrap();
    assert!(view.needs_answer, "{:?}", view.request.plan);
    assert!(
        view.request.plan.steps.is_empty(),
        "nothing runs on a guess"
    );
    let question = &view.request.plan.questions[0];
    assert_eq!(question.id, "version:jellyfin");
    assert!(
        question.text.contains("cannot change the pin")
            && question.text.contains("jellyfin_version"),
        "{}",
        question.text
    );
    let answered = app
        .client
        .answer(
            &id,
            &Answer {
                question_id: Some("version:jellyfin".into()),
                choice: Some("keep".into()),
                template: None,
                by: None,
            },
        )
        .await
        .unwrap();
    assert!(!answered.needs_answer, "{:?}", answered.request.plan);
    assert_eq!(answered.request.plan.steps.len(), 1);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    app.stop().await;
}

/// A container registry on this machine speaking the Docker Registry HTTP API v2 as Docker Hub
/// does: the tags list answers `401` with a Bearer challenge, the realm hands out an anonymous
/// token, and the list comes back with the token. Returns its `host:port`.
async fn registry(tags: &'static [&'static str]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let base = address.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = vec![0u8; 8192];
            let n = socket.read(&mut buffer).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buffer[..n]).to_string();
            let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
            let authorized = head
                .lines()
                .any(|l| l.eq_ignore_ascii_case("authorization: Bearer anon"));
            let (status, extra, body) = if path.starts_with("/token?") {
                ("200 OK", String::new(), r#"{"token":"anon"}"#.to_owned())
            } else if !authorized {
                (
                    "401 Unauthorized",
                    format!(
                        "WWW-Authenticate: Bearer realm=\"http://{base}/token\",service=\"local\",scope=\"repository:jellyfin/jellyfin:pull\"\r\n"
                    ),
                    r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_owned(),
                )
            } else if path.starts_with("/v2/jellyfin/jellyfin/tags/list") {
                let listed: Vec<String> = tags.iter().map(|t| format!("\"{t}\"")).collect();
                (
                    "200 OK",
                    String::new(),
                    format!(
                        r#"{{"name":"jellyfin/jellyfin","tags":[{}]}}"#,
                        listed.join(",")
                    ),
                )
            } else {
                ("404 Not Found", String::new(), "{}".to_owned())
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    address
}

/// Points the subfolder project's jellyfin image at `registry` and commits it.
fn image_from(repo: &Path, registry: &str) {
    let template = repo.join("ansible/roles/apps/jellyfin/templates/docker-compose.yml.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    let text = text.replace(
        "image: \"jellyfin/jellyfin:",
        &format!("image: \"{registry}/jellyfin/jellyfin:"),
    );
    std::fs::write(&template, text).unwrap();
    git(repo, &["commit", "-q", "-am", "our own registry"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_version_moves_to_the_registrys_newest_or_asks_when_the_registry_cannot_answer() {
    const FILE: &str = "ansible/roles/apps/jellyfin/defaults/main.yml";
    let scratch = tempfile::tempdir().unwrap();
    let repo = git_copy("subfolder-project", scratch.path());
    let address = registry(&[
        "10.9.2",
        "10.9.11",
        "10.10.3",
        "10.11.0-rc1",
        "10.10",
        "latest",
    ])
    .await;
    image_from(&repo, &address);
    let app = serve_with(backends()[0], repo.clone(), None, true).await;

    // The registry's newest release of the same form (not the release candidate, not `10.10`)
    // is the version, shown as the diff and said in the title.
    let view = planned_change(
        &app,
        "upgrade jellyfin",
        FILE,
        "jellyfin_version: \"10.9.11\"",
        "jellyfin_version: \"10.10.3\"",
    )
    .await;
    let run = &view.request.plan.steps[1];
    assert!(
        run.title.contains("at 10.10.3 (the newest release"),
        "{}",
        run.title
    );
    let recorded = &view.request.plan.questions;
    assert!(
        recorded
            .iter()
            .any(|q| q.id == "version:jellyfin" && q.answer.as_deref() == Some("10.10.3")),
        "{recorded:?}"
    );

    // A registry that does not answer: the plan says so and asks; nothing runs on a guess, and
    // re-running at the pinned version is a choice.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = closed.local_addr().unwrap().to_string();
    drop(closed);
    std::fs::write(
        repo.join("ansible/roles/apps/jellyfin/templates/docker-compose.yml.j2"),
        std::fs::read_to_string(
            repo.join("ansible/roles/apps/jellyfin/templates/docker-compose.yml.j2"),
        )
        .unwrap()
        .replace(&address, &gone),
    )
    .unwrap();
    git(&repo, &["commit", "-q", "-am", "registry moved"]);
    let id = app.request("upgrade jellyfin").await;
    let view = app.client.get_request(&id).await.unwrap();
    assert!(view.needs_answer);
    assert!(
        view.request.plan.steps.is_empty(),
        "nothing runs on a guess"
    );
    let risk = view.request.plan.risk.reasons.join("\n");
    assert!(
        risk.contains(&format!(
            "could not ask the registry of {gone}/jellyfin/jellyfin:10.9.11"
        )),
        "{risk}"
    );
    let question = &view.request.plan.questions[0];
    assert_eq!(question.id, "version:jellyfin");
    assert!(question.text.contains("10.9.11"), "{}", question.text);
    let answered = app
        .client
        .answer(
            &id,
            &Answer {
                question_id: Some("version:jellyfin".into()),
                choice: Some("keep".into()),
                template: None,
                by: None,
            },
        )
        .await
        .unwrap();
    assert!(!answered.needs_answer, "{:?}", answered.request.plan);
    let steps = &answered.request.plan.steps;
    assert_eq!(steps.len(), 1);
    assert!(
        steps[0].title.contains("pinned version 10.9.11"),
        "{}",
        steps[0].title
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
}
