//! The record of what happened: audit queries over a seeded history, the git trail when its
//! repository is unavailable, `chiffon audit verify` catching a changed entry, and planted
//! secrets that must not appear in any store.

use std::time::Duration;

use chiffon::model::{RequestStatus, TaskStatus};
use chiffon::store::TaskFilter;
use chrono::Utc;
use serde_json::Value;

use crate::helpers::{Options, TestApp};
use crate::store::{request, task};

/// Ids of the tasks in a `GET /api/v1/tasks` page, in order.
fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Follows `next` cursors from `path` (which has a `?`) until the last page.
async fn all_pages(app: &TestApp, path: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let (code, page) = app.get(&url).await;
        assert_eq!(code, 200, "{url}: {page}");
        found.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return found,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_queries_return_exactly_the_right_tasks_a_page_at_a_time() {
    for backend in crate::helpers::backends() {
        eprintln!("scenario on {backend:?}");
        let app = TestApp::spawn_with(
            backend,
            Options {
                local_agents: false,
                ..Options::default()
            },
        )
        .await;
        let store = app.store().await;
        // 30 days of history: 120 tasks over five services, one in five failed.
        let now = Utc::now();
        let services = ["kuma", "jellyfin", "pihole", "traefik", "portainer"];
        let mut seeded = Vec::new();
        let req = request("seeded history");
        store.create_request(&req).await.unwrap();
        for n in 0..120_i64 {
            let service = services[(n % 5) as usize];
            let at = now - chrono::Duration::hours(6 * n) - chrono::Duration::minutes(1);
            let mut t = task(&req, service, at);
            t.status = if n % 5 == 2 || n % 7 == 0 {
                TaskStatus::Failed
            } else {
                TaskStatus::Succeeded
            };
            store.insert_task(&t).await.unwrap();
            seeded.push(t);
        }
        let newest_first = |keep: &dyn Fn(&chiffon::model::Task) -> bool| -> Vec<String> {
            let mut found: Vec<&chiffon::model::Task> = seeded.iter().filter(|t| keep(t)).collect();
            found.sort_by_key(|t| std::cmp::Reverse((t.created_at, t.id.to_string())));
            found.iter().map(|t| t.id.to_string()).collect()
        };
        let week_ago = now - chrono::Duration::days(7);

        // "Failures in the last week", newest first, seven at a time.
        let expected =
            newest_first(&|t| t.status == TaskStatus::Failed && t.created_at >= week_ago);
        assert!(expected.len() > 7, "the seed spans several pages");
        let got = all_pages(
            &app,
            "/api/v1/tasks?status=failed&since=7d&order=desc&limit=7",
        )
        .await;
        assert_eq!(got, expected);

        // "All changes to Kuma", by another of its names, oldest first.
        let mut expected = newest_first(&|t| t.service_touched.as_deref() == Some("kuma"));
        expected.reverse();
        let got = all_pages(&app, "/api/v1/tasks?service=uptime-kuma&limit=5").await;
        assert_eq!(got, expected);

        // A window with both ends, as RFC 3339.
        let (from, to) = (
            now - chrono::Duration::days(10),
            now - chrono::Duration::days(3),
        );
        let mut expected = newest_first(&|t| t.created_at >= from && t.created_at < to);
        expected.reverse();
        let window = format!(
            "/api/v1/tasks?since={}&until={}&limit=500",
            from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        let (code, page) = app.get(&window.replace('+', "%2B")).await;
        assert_eq!(code, 200, "{page}");
        assert_eq!(ids(&page), expected);
        assert!(page["next"].is_null());

        // Bad input is refused with what to write instead.
        for bad in [
            "since=yesterday",
            "since=7y",
            "order=sideways",
            "cursor=nope",
        ] {
            let (code, body) = app.get(&format!("/api/v1/tasks?{bad}")).await;
            assert_eq!(code, 400, "{bad}: {body}");
            assert_eq!(body["error"]["code"], "invalid_query", "{bad}: {body}");
        }

        // The CLI asks the same questions.
        let out = app
            .chiffon(&["audit", "failures", "--since", "7d", "--json"])
            .await;
        assert!(out.status.success(), "{out:?}");
        let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let listed: Vec<&str> = listed.iter().map(|t| t["id"].as_str().unwrap()).collect();
        let expected =
            newest_first(&|t| t.status == TaskStatus::Failed && t.created_at >= week_ago);
        assert_eq!(listed, expected);
        let out = app.chiffon(&["audit", "service", "status page"]).await;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            text.lines().filter(|l| l.contains(" kuma ")).count(),
            24,
            "{text}"
        );

        // On SQLite the plans name the indexes (PostgreSQL's are in docs/benchmarks.md, from
        // the benchmark's million tasks; on a table this small it rightly scans).
        if backend == crate::helpers::Backend::Embedded {
            let failed = TaskFilter {
                status: Some(TaskStatus::Failed),
                since: Some(week_ago),
                newest_first: true,
                limit: 50,
                ..TaskFilter::default()
            };
            let plan = store.explain_tasks(&failed).await.unwrap().join("\n");
            assert!(plan.contains("USING INDEX tasks_by_status_time"), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "no sort step: {plan}");
            let service = TaskFilter {
                service: Some("kuma".into()),
                limit: 50,
                ..TaskFilter::default()
            };
            let plan = store.explain_tasks(&service).await.unwrap().join("\n");
            assert!(plan.contains("USING INDEX tasks_by_service_time"), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "no sort step: {plan}");
        }
        app.stop().await;
    }
}

/// The name of the branch HEAD points at in the bare audit repository.
fn audit_branch(app: &TestApp) -> String {
    let head = std::fs::read_to_string(app.data_dir.join("audit/HEAD")).unwrap();
    head.trim().trim_start_matches("ref: ").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_audit_repository_delays_entries_but_loses_none() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        // Another process holds the branch's lock: git refuses every commit.
        let lock = app
            .data_dir
            .join("audit")
            .join(format!("{}.lock", audit_branch(&app)));
        std::fs::write(&lock, "held by someone else\n").unwrap();

        let id = app
            .request("deploy uptime kuma and add our existing portals")
            .await;
        let (_, view) = app.approve_and_wait(&id).await;
        assert_eq!(
            view.request.status,
            RequestStatus::Succeeded,
            "the work goes on"
        );
        assert_eq!(view.tasks.len(), 2);
        assert!(view.tasks.iter().all(|t| t.audit_commit.is_none()));

        let (code, health) = app.get("/api/v1/health").await;
        assert_eq!(code, 503, "{health}");
        let audit = &health["components"]["audit"];
        assert_eq!(audit["status"], "degraded", "{health}");
        assert!(
            audit["queued"].as_i64().unwrap() >= 3,
            "approval + 2 tasks: {health}"
        );
        assert!(
            audit["error"].as_str().unwrap().contains("lock"),
            "{health}"
        );

        let task_id = view.tasks[0].id.to_string();
        let (code, entry) = app.get(&format!("/api/v1/audit/{task_id}")).await;
        assert_eq!(code, 200, "{entry}");
        assert_eq!(entry["state"], "queued");
        assert!(entry["commit"].is_null());
        assert_eq!(entry["entry"]["details"]["task"]["id"], task_id.as_str());

        // The lock goes away: the writer catches up in order, without being asked.
        std::fs::remove_file(&lock).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (code, health) = app.get("/api/v1/health").await;
            if code == 200 && health["components"]["audit"]["queued"] == 0 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{health}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let view = app.client.get_request(&id).await.unwrap();
        for task in &view.tasks {
            let commit = task.audit_commit.as_deref().expect("written now");
            let (_, entry) = app.get(&format!("/api/v1/audit/{}", task.id)).await;
            assert_eq!(entry["state"], "written");
            assert_eq!(entry["commit"], commit);
            let shown = app.git(&["show", "--format=%s", "--name-only", commit]);
            assert!(shown.contains(task.id.as_str()), "{shown}");
        }
        let log = app.git(&["log", "--format=%s"]);
        let subjects: Vec<&str> = log.lines().rev().collect();
        assert!(subjects[1].starts_with("approve request"), "{log}");
        assert!(
            subjects[2..].iter().all(|s| s.starts_with("task ")),
            "{log}"
        );

        let args = app.verify_args();
        let mut verify = vec!["audit", "verify"];
        verify.extend(args.iter().map(String::as_str));
        let out = app.chiffon(&verify).await;
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_catches_an_entry_changed_after_it_was_written() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app.request("deploy uptime kuma").await;
        let (_, view) = app.approve_and_wait(&id).await;
        assert_eq!(view.request.status, RequestStatus::Succeeded);
        let task = &view.tasks[0];
        // Who approved which version is kept with the request.
        assert_eq!(view.decisions.len(), 1, "{:?}", view.decisions);
        assert_eq!(view.decisions[0].kind, "approved");
        assert_eq!(view.decisions[0].plan_version, view.request.plan.version);
        assert!(
            view.decisions[0].actor.contains('@'),
            "user@host: {:?}",
            view.decisions
        );
        let rejected = app.request("restart jellyfin").await;
        let (code, body) = app
            .post(
                &format!("/requests/{rejected}/reject"),
                r#"{"reason": "not during the film", "by": "alice"}"#,
            )
            .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["decisions"][0]["actor"], "alice");
        assert_eq!(body["decisions"][0]["reason"], "not during the film");
        assert!(app.git(&["log", "-1", "--format=%s"]).contains("by alice"));
        let args = app.verify_args();
        let mut verify = vec!["audit", "verify"];
        verify.extend(args.iter().map(String::as_str));
        let out = app.chiffon(&verify).await;
        assert!(out.status.success(), "{out:?}");

        // `chiffon audit show` prints the entry with its commit.
        let out = app.chiffon(&["audit", "show", task.id.as_str()]).await;
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert!(
            shown.contains(task.audit_commit.as_deref().unwrap()) && shown.contains("written"),
            "{shown}"
        );

        // Someone "fixes" the entry: clone, edit, commit, push back (a fast-forward).
        let (_, entry) = app.get(&format!("/api/v1/audit/{}", task.id)).await;
        let file = entry["file"].as_str().unwrap().to_owned();
        let work = tempfile::tempdir().unwrap();
        let git = |dir: &std::path::Path, args: &[&str]| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(["-c", "user.name=Mallory", "-c", "user.email=m@example.org"])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {out:?}");
        };
        let clone = work.path().join("clone");
        git(
            work.path(),
            &[
                "clone",
                "-q",
                app.data_dir.join("audit").to_str().unwrap(),
                "clone",
            ],
        );
        let path = clone.join(&file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"succeeded\"", "\"failed\"")).unwrap();
        git(&clone, &["commit", "-qam", "correct the record"]);
        git(&clone, &["push", "-q", "origin", "HEAD"]);

        let out = app.chiffon(&verify).await;
        let report = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{report}");
        assert!(
            report.contains(&file) && report.contains("never change"),
            "{report}"
        );
        assert!(report.contains("not written by Chiffon"), "{report}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_reach_no_event_row_or_audit_entry() {
    const EXTRA_VAR: &str = "planted-extra-S3cret-71";
    const VAULTED: &str = "planted-vault-T0ken-72";
    const VAULT_PASSWORD: &str = "planted-vault-pass-73";
    const API_TOKEN: &str = "planted-api-token-74-abcdefgh";
    let ansible = crate::helpers::ansible_playbook().await;
    for backend in crate::helpers::backends() {
        eprintln!("scenario on {backend:?}");
        let scratch = tempfile::tempdir().unwrap();
        let repo = scratch.path().join("repo");
        copy_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secret-homelab"),
            &repo,
        );
        let password = scratch.path().join("vault-password");
        std::fs::write(&password, format!("{VAULT_PASSWORD}\n")).unwrap();
        std::fs::write(
            repo.join("secrets.yml"),
            format!("vault_api_token: {VAULTED}\n"),
        )
        .unwrap();
        let encrypted = std::process::Command::new(ansible.with_file_name("ansible-vault"))
            .args(["encrypt", "--vault-password-file"])
            .arg(&password)
            .arg(repo.join("secrets.yml"))
            .output()
            .unwrap();
        assert!(encrypted.status.success(), "{encrypted:?}");

        let app = TestApp::spawn_with(
            backend,
            Options {
                playbooks: Some(repo.clone()),
                api_token: Some(API_TOKEN.to_owned()),
                extra_vars: vec![("db_password".into(), Value::String(EXTRA_VAR.into()))],
                vault_password_file: Some(password.clone()),
                ..Options::default()
            },
        )
        .await;
        let id = app.request("deploy wiki").await;
        let mut stream = app.client.subscribe(&id).await.unwrap();
        let plan = app.client.get_request(&id).await.unwrap();
        app.client
            .approve(&id, Some(plan.request.plan.version))
            .await
            .unwrap();
        let mut live = Vec::new();
        let view = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                let event = stream.next().await.expect("live stream");
                live.push(serde_json::to_string(&event).unwrap());
                let view = app.client.get_request(&id).await.unwrap();
                if view.request.status.is_terminal() {
                    return view;
                }
            }
        })
        .await
        .expect("the request finished");
        assert_eq!(
            view.request.status,
            RequestStatus::Failed,
            "{:?}",
            view.tasks
        );
        let error = view.tasks[0].error.clone().unwrap_or_default();
        assert!(
            error.contains("could not log in"),
            "the failure is still told: {error}"
        );

        let mut everywhere = live.join("\n");
        // The files the run wrote are recorded as changed, without their secret content.
        let changes = app
            .client
            .task_changes(view.tasks[0].id.as_str())
            .await
            .unwrap();
        let files: Vec<&chiffon::api::ChangeView> = changes
            .hosts
            .iter()
            .flat_map(|h| &h.changes)
            .filter(|c| c.change.kind == "file")
            .collect();
        assert_eq!(files.len(), 2, "{changes:?}");
        for file in &files {
            assert!(!file.content_kept && file.change.diff.is_none(), "{file:?}");
            let note = file.change.note.as_deref().unwrap_or_default();
            assert!(
                note.contains("secret") || note.contains("no_log"),
                "{file:?}"
            );
        }
        everywhere.push_str(&serde_json::to_string(&changes).unwrap());
        for task in &view.tasks {
            let (_, shown) = app
                .client
                .task(task.id.as_str())
                .await
                .map(|t| ((), serde_json::to_string(&t).unwrap()))
                .unwrap();
            everywhere.push_str(&shown);
        }
        everywhere.push_str(&app.git(&["log", "-p", "--all"]));
        everywhere.push_str(&app.dump_database().await);
        assert!(
            everywhere.contains("could not log in"),
            "the sweep sees the stores"
        );
        for secret in [EXTRA_VAR, VAULTED, VAULT_PASSWORD, API_TOKEN] {
            if let Some(at) = everywhere.find(secret) {
                let from = everywhere[..at]
                    .char_indices()
                    .rev()
                    .nth(200)
                    .map_or(0, |(i, _)| i);
                panic!(
                    "{secret} leaked: …{}…",
                    &everywhere[from..(at + secret.len() + 100).min(everywhere.len())]
                );
            }
        }
        app.stop().await;
    }
}

pub(crate) fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `chiffon serve` as a process of its own, so a test can kill it outright.
struct ServerProcess {
    child: tokio::process::Child,
    address: String,
    log: std::path::PathBuf,
}

impl ServerProcess {
    async fn start(dir: &std::path::Path, config: &std::path::Path, token: &str) -> Self {
        let log = dir.join(format!("serve-{}.log", uuid::Uuid::now_v7().simple()));
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join("data"))
            .arg("--config")
            .arg(config)
            .env(
                "CHIFFON_ANSIBLE_PLAYBOOK",
                crate::helpers::ansible_playbook().await,
            )
            .env("CHIFFON_API_TOKEN", token)
            .env_remove("CHIFFON_DATABASE_URL")
            .env_remove("CHIFFON_AMQP_URL")
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("start chiffon serve");
        // "Chiffon 0.1.0 starting on http://127.0.0.1:PORT (…"
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let address = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("starting on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            assert!(tokio::time::Instant::now() < deadline, "no address: {text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let server = Self {
            child,
            address,
            log,
        };
        let client = server.client(token);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let online = || async {
            client
                .agents(&[("online", "true".into())])
                .await
                .map_or(0, |p| p.items.len())
        };
        while online().await != 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "agents did not come online: {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        server
    }

    fn client(&self, token: &str) -> chiffon::client::Client {
        chiffon::client::Client::new(&self.address)
            .unwrap()
            .with_token(Some(token.to_owned()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_run_leaves_no_task_without_its_audit_entry() {
    const TOKEN: &str = "planted-crash-token-0123456789";
    const SECRET: &str = "planted-crash-extra-S3cret";
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("chiffon.toml");
    std::fs::write(
        &config,
        format!(
            "[ansible]\nextra_vars = {{ homelab_root = \"{}\", smtp_password = \"{SECRET}\" }}\n\
             [timeouts]\nheartbeat_s = 1\nagent_suspect_s = 2\nagent_offline_s = 3\n",
            dir.path().join("homelab").display()
        ),
    )
    .unwrap();
    let mut server = ServerProcess::start(dir.path(), &config, TOKEN).await;
    let client = server.client(TOKEN);
    let view = client
        .create_request("deploy uptime kuma and add our existing portals", false)
        .await
        .unwrap();
    let id = view.request.id.to_string();
    let mut stream = client.subscribe(&id).await.unwrap();
    client
        .approve(&id, Some(view.request.plan.version))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(chiffon::api::LiveEvent::Task {
                status: TaskStatus::Running,
                ..
            }) = stream.next().await
            {
                return;
            }
        }
    })
    .await
    .expect("the first step never ran");
    // No shutdown, no goodbye: SIGKILL mid-playbook.
    server.child.kill().await.unwrap();
    drop(stream);
    let first_log = std::fs::read_to_string(&server.log).unwrap();

    let server = ServerProcess::start(dir.path(), &config, TOKEN).await;
    let client = server.client(TOKEN);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let view = loop {
        let view = client.get_request(&id).await.unwrap();
        let audited = view.tasks.iter().all(|t| t.audit_commit.is_some());
        if view.request.status.is_terminal() && audited {
            break view;
        }
        assert!(tokio::time::Instant::now() < deadline, "{view:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(!view.tasks.is_empty());
    assert!(
        view.tasks.iter().all(|t| t.status.is_terminal()),
        "{:?}",
        view.tasks
    );
    let verify = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("CHIFFON_DATABASE_URL")
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(report.contains("OK"), "{report}");
    // Neither log holds the token or the secret extra variable.
    let logs = format!(
        "{first_log}{}",
        std::fs::read_to_string(&server.log).unwrap()
    );
    assert!(logs.contains("ready on"), "the logs were captured: {logs}");
    for secret in [TOKEN, SECRET] {
        assert!(!logs.contains(secret), "{secret} is in the server's log");
    }
}
