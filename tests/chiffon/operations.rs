//! Running Chiffon for years: `chiffon backup` taken while a playbook runs, restored into a new
//! data directory that passes `audit verify` and serves the same requests and tasks; a damaged
//! archive refused with nothing written; PostgreSQL pointed to `pg_dump`; `chiffon doctor` on a
//! good and a broken set-up; `chiffon --version` naming the commit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chiffon::api::LiveEvent;
use chiffon::client::Client;
use chiffon::config::{BusConfig, Database, ServeConfig};
use chiffon::model::{RequestStatus, TaskStatus};
use tokio::sync::oneshot;

use crate::helpers::{Backend, KUMA_REQUEST, Options, TestApp, ansible_playbook, example_repo};

/// A server with no agents on an existing data directory and database: what an owner starts
/// after a restore or an upgrade, to read what is there.
pub struct ReadOnlyServer {
    pub client: Client,
    pub address: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl ReadOnlyServer {
    pub async fn start(data_dir: &Path, database: Database) -> Self {
        let config = ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.to_owned(),
            playbooks: example_repo(),
            database,
            ansible_playbook: None,
            extra_vars: Default::default(),
            vault_password_file: None,
            api_token: None,
            ack_timeout: Duration::from_secs(30),
            execution_deadline: Duration::from_secs(180),
            heartbeat_interval: Duration::from_secs(10),
            agent_thresholds: chiffon::registry::Thresholds {
                suspect_after: Duration::from_secs(15),
                offline_after: Duration::from_secs(25),
                stale_after: Duration::from_secs(60),
            },
            local_agents: false,
            registry_lookup: false,
            bus: BusConfig::InProcess,
            llm: Default::default(),
            http: Default::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(chiffon::server::serve(config, listener, async {
            let _ = stopped.await;
        }));
        let client = Client::new(&address).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while client.list_requests(1).await.is_err() {
            if server.is_finished() {
                panic!("the server stopped while starting: {:?}", server.await);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            client,
            address,
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server
            .take()
            .unwrap()
            .await
            .unwrap()
            .expect("the server stopped cleanly");
    }
}

/// Runs the `chiffon` binary with none of the test environment's `CHIFFON_…` settings.
pub async fn chiffon(args: &[&str]) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CHIFFON_") {
            command.env_remove(name);
        }
    }
    command.args(args).output().await.expect("run chiffon")
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A scratch copy of the example homelab with a PhotoPrism playbook that waits, mid-run, until
/// the test creates `<homelab_root>/release-photoprism`.
fn homelab_with_a_waiting_playbook(dir: &Path) -> PathBuf {
    let repo = dir.join("homelab-infra");
    copy_tree(&example_repo(), &repo);
    std::fs::write(
        repo.join("photoprism-deployment.yml"),
        "---\n- name: Deploy PhotoPrism on the storage host\n  hosts: storage\n  gather_facts: false\n  tasks:\n    - name: Index the photo library (waits for the test)\n      ansible.builtin.wait_for:\n        path: \"{{ homelab_root }}/release-photoprism\"\n        timeout: 300\n",
    )
    .unwrap();
    repo
}

async fn wait_until_running(stream: &mut chiffon::client::LiveStream) -> String {
    tokio::time::timeout(Duration::from_secs(90), async {
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
    .expect("the PhotoPrism step never started")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_a_run_restores_into_a_new_data_dir_that_verifies_and_serves_the_same_requests()
 {
    let scratch = tempfile::tempdir().unwrap();
    let repo = homelab_with_a_waiting_playbook(scratch.path());
    let app = TestApp::spawn_with(
        Backend::Embedded,
        Options {
            playbooks: Some(repo),
            ..Options::default()
        },
    )
    .await;
    let kuma = app.request(KUMA_REQUEST).await;
    let (_, kuma_before) = app.approve_and_wait(&kuma).await;
    assert_eq!(kuma_before.request.status, RequestStatus::Succeeded);

    let photoprism = app.request("Deploy PhotoPrism").await;
    let mut stream = app.client.subscribe(&photoprism).await.unwrap();
    app.client.approve(&photoprism, None).await.unwrap();
    let running = wait_until_running(&mut stream).await;

    let archive = scratch.path().join("chiffon-backup.tar");
    let data_dir = app.data_dir.display().to_string();
    let archive_arg = archive.display().to_string();
    let backup = chiffon(&["backup", "--data-dir", &data_dir, "--out", &archive_arg]).await;
    assert!(backup.status.success(), "{}", text(&backup));
    let said = text(&backup);
    assert!(said.contains("2 requests"), "{said}");
    assert!(
        said.contains("orchestrator.key"),
        "names what it left out: {said}"
    );
    let during = app.client.task(&running).await.unwrap();
    assert_eq!(
        during.task.status,
        TaskStatus::Running,
        "the backup was taken while the playbook ran"
    );

    // The run goes on and finishes on the original server.
    std::fs::write(app.homelab_root.join("release-photoprism"), "go").unwrap();
    let (_, photoprism_after) = app.approve_and_wait_after_approval(&photoprism).await;
    assert_eq!(photoprism_after.request.status, RequestStatus::Succeeded);

    let restored = scratch.path().join("restored");
    let restored_arg = restored.display().to_string();
    let restore = chiffon(&["restore", &archive_arg, "--data-dir", &restored_arg]).await;
    assert!(restore.status.success(), "{}", text(&restore));
    assert!(
        text(&restore).contains("Audit verify: OK"),
        "{}",
        text(&restore)
    );
    assert!(
        !restored.join("orchestrator.key").exists(),
        "secrets stay out unless asked for"
    );
    let verify = chiffon(&["audit", "verify", "--data-dir", &restored_arg]).await;
    assert!(verify.status.success(), "{}", text(&verify));

    let server =
        ReadOnlyServer::start(&restored, Database::Sqlite(restored.join("chiffon.db"))).await;
    let listed = server.client.list_requests(50).await.unwrap();
    let mut ids: Vec<String> = listed
        .items
        .iter()
        .map(|r| r.request.id.to_string())
        .collect();
    ids.sort();
    let mut expected = vec![kuma.clone(), photoprism.clone()];
    expected.sort();
    assert_eq!(ids, expected, "the same requests");
    let kuma_after = server.client.get_request(&kuma).await.unwrap();
    assert_eq!(kuma_after.request.status, RequestStatus::Succeeded);
    let summary = |view: &chiffon::api::RequestView| {
        view.tasks
            .iter()
            .map(|t| (t.id.to_string(), t.status, t.audit_commit.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        summary(&kuma_after),
        summary(&kuma_before),
        "the same tasks"
    );
    let photoprism_restored = server.client.task(&running).await.unwrap();
    assert_eq!(
        photoprism_restored.task.status,
        TaskStatus::Running,
        "as it was when the backup was taken"
    );
    server.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_backup_is_refused_and_writes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(
        Backend::Embedded,
        Options {
            local_agents: false,
            ..Options::default()
        },
    )
    .await;
    app.request(KUMA_REQUEST).await;
    let archive = scratch.path().join("backup.tar");
    let archive_arg = archive.display().to_string();
    let data_dir = app.data_dir.display().to_string();
    let backup = chiffon(&["backup", "--data-dir", &data_dir, "--out", &archive_arg]).await;
    assert!(backup.status.success(), "{}", text(&backup));
    let again = chiffon(&["backup", "--data-dir", &data_dir, "--out", &archive_arg]).await;
    assert!(!again.status.success(), "a backup is never overwritten");
    assert!(text(&again).contains("already exists"), "{}", text(&again));

    let good = std::fs::read(&archive).unwrap();
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    let truncated = good[..good.len() * 2 / 3].to_vec();
    let restores = scratch.path().join("restores");
    std::fs::create_dir(&restores).unwrap();
    for (name, bytes) in [("flipped", flipped), ("truncated", truncated)] {
        let damaged = scratch.path().join(format!("{name}.tar"));
        std::fs::write(&damaged, bytes).unwrap();
        let target = restores.join(name);
        let restore = chiffon(&[
            "restore",
            &damaged.display().to_string(),
            "--data-dir",
            &target.display().to_string(),
        ])
        .await;
        assert_eq!(restore.status.code(), Some(1), "{name}: {}", text(&restore));
        let said = text(&restore);
        assert!(
            said.contains("damaged") || said.contains("incomplete"),
            "{name}: {said}"
        );
        assert!(!target.exists(), "{name}: nothing written at the target");
    }
    let left: Vec<_> = std::fs::read_dir(&restores).unwrap().collect();
    assert!(left.is_empty(), "no staging folder left behind: {left:?}");

    let occupied = restores.join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("keep.txt"), "mine").unwrap();
    let refused = chiffon(&[
        "restore",
        &archive_arg,
        "--data-dir",
        &occupied.display().to_string(),
    ])
    .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).contains("not empty"), "{}", text(&refused));
    assert_eq!(std::fs::read_dir(&occupied).unwrap().count(), 1);

    let empty = restores.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let restored = chiffon(&[
        "restore",
        &archive_arg,
        "--data-dir",
        &empty.display().to_string(),
    ])
    .await;
    assert!(
        restored.status.success(),
        "an empty folder is fine: {}",
        text(&restored)
    );
    assert!(empty.join("chiffon.db").is_file() && empty.join("audit/HEAD").is_file());
    app.stop().await;
}

#[tokio::test]
async fn backup_of_a_postgresql_server_points_to_pg_dump_and_audit_only_bundles_the_trail() {
    let scratch = tempfile::tempdir().unwrap();
    let data_dir = scratch.path().join("data");
    chiffon::audit::AuditLog::open_or_init(&data_dir.join("audit")).unwrap();
    let data_arg = data_dir.display().to_string();
    let out = scratch.path().join("audit.tar").display().to_string();
    let refused = chiffon(&[
        "backup",
        "--data-dir",
        &data_arg,
        "--database-url",
        "postgres://chiffon:hunter22@db.invalid/chiffon",
        "--out",
        &out,
    ])
    .await;
    assert_eq!(refused.status.code(), Some(1));
    let said = text(&refused);
    assert!(
        said.contains("pg_dump") && said.contains("--audit-only"),
        "{said}"
    );
    assert!(!said.contains("hunter22"), "{said}");

    let audit_only = chiffon(&[
        "backup",
        "--data-dir",
        &data_arg,
        "--database-url",
        "postgres://chiffon:hunter22@db.invalid/chiffon",
        "--audit-only",
        "--out",
        &out,
    ])
    .await;
    assert!(audit_only.status.success(), "{}", text(&audit_only));
    let restored = scratch.path().join("restored");
    let restore = chiffon(&[
        "restore",
        &out,
        "--data-dir",
        &restored.display().to_string(),
    ])
    .await;
    assert!(restore.status.success(), "{}", text(&restore));
    assert!(text(&restore).contains("pg_restore"), "{}", text(&restore));
    let log = std::process::Command::new("git")
        .arg("-C")
        .arg(restored.join("audit"))
        .args(["log", "--format=%s"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("Start the Chiffon audit trail"),
        "{log:?}"
    );
}

#[tokio::test]
async fn an_audit_only_backup_restores_against_the_postgresql_database_and_verifies() {
    if std::env::var_os("CHIFFON_TEST_DATABASE_URL").is_none() {
        eprintln!("skipped: set CHIFFON_TEST_DATABASE_URL (bash .ci/run does)");
        return;
    }
    let app = TestApp::spawn_with(
        Backend::Distributed,
        Options {
            local_agents: false,
            ..Options::default()
        },
    )
    .await;
    let id = app.request(KUMA_REQUEST).await;
    app.client.reject(&id, "not today").await.unwrap();
    let database_url = app.verify_args()[3].clone();
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("audit.tar").display().to_string();
    let data_dir = app.data_dir.display().to_string();
    // Once the rejection's entry is committed, the trail has something to verify.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.git(&["log", "--format=%s"]).lines().count() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no rejection commit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let backup = chiffon(&[
        "backup",
        "--data-dir",
        &data_dir,
        "--audit-only",
        "--out",
        &out,
    ])
    .await;
    assert!(backup.status.success(), "{}", text(&backup));
    // As after `pg_restore`: the database is there, the data directory is new.
    let restored = scratch.path().join("restored").display().to_string();
    let restore = chiffon(&[
        "restore",
        &out,
        "--data-dir",
        &restored,
        "--database-url",
        &database_url,
    ])
    .await;
    assert!(restore.status.success(), "{}", text(&restore));
    assert!(
        text(&restore).contains("Audit verify: OK (2 commits, 1 entries match the database"),
        "{}",
        text(&restore)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_backup_with_secrets_brings_back_the_signing_key_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn_with(
        Backend::Embedded,
        Options {
            local_agents: false,
            api_token: Some("a-test-token-of-24-chars".to_owned()),
            ..Options::default()
        },
    )
    .await;
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("secrets.tar").display().to_string();
    let data_dir = app.data_dir.display().to_string();
    let backup = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args([
            "backup",
            "--include-secrets",
            "--data-dir",
            &data_dir,
            "--out",
            &out,
        ])
        .env("CHIFFON_API_TOKEN", "a-test-token-of-24-chars")
        .output()
        .await
        .unwrap();
    assert!(backup.status.success(), "{}", text(&backup));
    assert!(
        text(&backup).contains("secrets/api-token"),
        "{}",
        text(&backup)
    );
    assert!(
        !text(&backup).contains("a-test-token-of-24-chars"),
        "the token itself is never printed"
    );
    let restored = scratch.path().join("restored");
    let restore = chiffon(&[
        "restore",
        &out,
        "--data-dir",
        &restored.display().to_string(),
    ])
    .await;
    assert!(restore.status.success(), "{}", text(&restore));
    let key = restored.join("orchestrator.key");
    assert_eq!(
        std::fs::read(&key).unwrap(),
        std::fs::read(app.data_dir.join("orchestrator.key")).unwrap()
    );
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let token = restored.join("restored-secrets/api-token");
    assert_eq!(
        std::fs::read_to_string(&token).unwrap().trim(),
        "a-test-token-of-24-chars"
    );
    assert_eq!(
        std::fs::metadata(&token).unwrap().permissions().mode() & 0o777,
        0o600
    );
    app.stop().await;
}

/// `--database-url` and `--amqp-url` for the distributed deployment's doctor.
fn distributed_args() -> Vec<String> {
    let mut args = Vec::new();
    if let Ok(url) = std::env::var("CHIFFON_TEST_DATABASE_URL") {
        args.extend(["--database-url".to_owned(), url]);
    }
    if let Ok(url) = std::env::var("CHIFFON_TEST_AMQP_URL") {
        args.extend(["--amqp-url".to_owned(), url]);
    }
    args
}

#[tokio::test]
async fn doctor_on_a_good_set_up_exits_0_and_says_what_it_checked() {
    let ansible = ansible_playbook().await.display().to_string();
    let playbooks = example_repo().display().to_string();
    for backend in crate::helpers::backends() {
        let scratch = tempfile::tempdir().unwrap();
        let data_dir = scratch.path().join("data").display().to_string();
        let mut args = vec![
            "doctor".to_owned(),
            "--data-dir".to_owned(),
            data_dir,
            "--playbooks".to_owned(),
            playbooks.clone(),
            "--ansible-playbook".to_owned(),
            ansible.clone(),
        ];
        if backend == Backend::Distributed {
            args.extend(distributed_args());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let doctor = chiffon(&args).await;
        let said = text(&doctor);
        assert_eq!(doctor.status.code(), Some(0), "{backend:?}: {said}");
        for expected in [
            "ansible-playbook [core",
            "playbooks",
            "hosts answer `ansible -m ping`",
            "GiB free",
            "0 problem(s)",
        ] {
            assert!(
                said.contains(expected),
                "{backend:?}: {expected:?} in {said}"
            );
        }
        if backend == Backend::Distributed && std::env::var_os("CHIFFON_TEST_AMQP_URL").is_some() {
            assert!(said.contains("event exchange plugin enabled"), "{said}");
        }
    }
}

#[tokio::test]
async fn doctor_on_a_broken_set_up_exits_1_and_names_each_fix() {
    let scratch = tempfile::tempdir().unwrap();
    let not_git = scratch.path().join("playbooks");
    copy_tree(&example_repo(), &not_git);
    // An audit repository whose objects folder cannot take a file (the tests run as root,
    // which ignores permission bits, so the folder is a file instead).
    let data_dir = scratch.path().join("data");
    std::fs::create_dir_all(data_dir.join("audit")).unwrap();
    std::fs::write(data_dir.join("audit/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(data_dir.join("audit/objects"), "not a folder").unwrap();
    let doctor = chiffon(&[
        "doctor",
        "--data-dir",
        &data_dir.display().to_string(),
        "--playbooks",
        &not_git.display().to_string(),
        "--ansible-playbook",
        "/nonexistent/bin/ansible-playbook",
        "--amqp-url",
        "amqp://guest:guest@127.0.0.1:1/%2f",
    ])
    .await;
    let said = text(&doctor);
    assert_eq!(doctor.status.code(), Some(1), "{said}");
    for (problem, fix) in [
        (
            "/nonexistent/bin/ansible-playbook but there is no such file",
            "pipx install ansible-core",
        ),
        ("is not a git repository", "git init && git add -A"),
        ("cannot write in", "chown -R"),
        ("cannot reach RabbitMQ", "check --amqp-url"),
    ] {
        assert!(said.contains(problem), "{problem:?} in {said}");
        assert!(said.contains(fix), "{fix:?} in {said}");
    }
    assert!(said.contains("4 problem(s)"), "{said}");
}

/// A repository whose Ansible project sits in `ansible/` (its own ansible.cfg and inventory):
/// doctor pings the hosts of that inventory, as the runs reach them, instead of finding none.
#[tokio::test]
async fn doctor_pings_the_inventory_of_a_project_in_a_subfolder() {
    let scratch = tempfile::tempdir().unwrap();
    let repo = scratch.path().join("playbooks");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layouts/subfolder-project"),
        &repo,
    );
    let doctor = chiffon(&[
        "doctor",
        "--data-dir",
        &scratch.path().join("data").display().to_string(),
        "--playbooks",
        &repo.display().to_string(),
        "--ansible-playbook",
        &ansible_playbook().await.display().to_string(),
    ])
    .await;
    let said = text(&doctor);
    // The fixture's hosts are names, not machines: both are named as not answering.
    assert!(
        said.contains("media-01") && said.contains("dev-01"),
        "{said}"
    );
    assert!(!said.contains("the inventory lists none"), "{said}");
}

#[tokio::test]
async fn doctor_names_the_plugin_when_the_broker_has_no_event_exchange() {
    let (Some(_), Some(ctl)) = (
        std::env::var_os("CHIFFON_TEST_AMQP_URL"),
        ["/usr/sbin/rabbitmqctl", "/usr/bin/rabbitmqctl"]
            .into_iter()
            .find(|p| Path::new(p).is_file()),
    ) else {
        eprintln!("skipped: needs CHIFFON_TEST_AMQP_URL and rabbitmqctl on this machine");
        return;
    };
    // The event exchange lives in the vhost the plugin was configured for ("/"): a vhost of
    // its own is a broker without it, as far as Chiffon can tell.
    let vhost = "chiffon-doctor-no-events";
    let rabbitmqctl = |args: &[&str]| {
        std::process::Command::new(ctl)
            .args(args)
            .output()
            .expect("rabbitmqctl")
    };
    let _ = rabbitmqctl(&["add_vhost", vhost]);
    let granted = rabbitmqctl(&["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]);
    assert!(granted.status.success(), "{granted:?}");
    let scratch = tempfile::tempdir().unwrap();
    let doctor = chiffon(&[
        "doctor",
        "--no-ping",
        "--data-dir",
        &scratch.path().join("data").display().to_string(),
        "--playbooks",
        &example_repo().display().to_string(),
        "--ansible-playbook",
        &ansible_playbook().await.display().to_string(),
        "--amqp-url",
        &format!("amqp://guest:guest@127.0.0.1:5672/{vhost}"),
    ])
    .await;
    let _ = rabbitmqctl(&["delete_vhost", vhost]);
    let said = text(&doctor);
    assert_eq!(doctor.status.code(), Some(1), "{said}");
    assert!(said.contains("has no event exchange"), "{said}");
    assert!(
        said.contains("rabbitmq-plugins enable rabbitmq_event_exchange"),
        "{said}"
    );
}

#[tokio::test]
async fn doctor_finds_an_agent_clock_running_ahead_from_its_messages() {
    let scratch = tempfile::tempdir().unwrap();
    let data_dir = scratch.path().join("data");
    let store = chiffon::store::Store::open_sqlite(&data_dir.join("chiffon.db"))
        .await
        .unwrap();
    chiffon::audit::AuditLog::open_or_init(&data_dir.join("audit")).unwrap();
    // A message an agent stamped two minutes ahead of the orchestrator's clock.
    let ahead = chrono::Utc::now() + chrono::Duration::seconds(120);
    let stamp = uuid::Timestamp::from_unix(uuid::NoContext, ahead.timestamp() as u64, 0);
    assert!(
        store
            .remember_message(&uuid::Uuid::new_v7(stamp).to_string())
            .await
            .unwrap()
    );
    store.close().await;
    let doctor = chiffon(&[
        "doctor",
        "--no-ping",
        "--data-dir",
        &data_dir.display().to_string(),
        "--playbooks",
        &example_repo().display().to_string(),
        "--ansible-playbook",
        &ansible_playbook().await.display().to_string(),
    ])
    .await;
    let said = text(&doctor);
    assert_eq!(doctor.status.code(), Some(1), "{said}");
    assert!(said.contains("an agent's clock runs ahead"), "{said}");
    assert!(said.contains("timedatectl set-ntp true"), "{said}");
    assert!(said.contains("audit trail verified"), "{said}");
}

#[tokio::test]
async fn version_and_health_name_the_commit() {
    let version = chiffon(&["--version"]).await;
    let said = text(&version);
    assert!(
        said.starts_with(&format!("chiffon {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{said}"
    );
    let commit = said
        .split("(commit ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap()
        .to_owned();
    let in_git = std::process::Command::new("git")
        .args(["rev-parse", "--short=10", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success());
    match in_git {
        // Built in this checkout: the commit is HEAD's (or HEAD's at build time, which a
        // test run right after a commit may not see rebuilt: accept a hex hash there).
        Some(_) => assert!(
            commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()),
            "{commit}"
        ),
        None => assert_eq!(commit, "unknown"),
    }
    let scratch = tempfile::tempdir().unwrap();
    let server = ReadOnlyServer::start(
        &scratch.path().join("data"),
        Database::Sqlite(scratch.path().join("data/chiffon.db")),
    )
    .await;
    let health: serde_json::Value = reqwest::get(format!("{}/api/v1/health", server.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["commit"], commit.as_str(), "{health}");
    server.stop().await;
}
