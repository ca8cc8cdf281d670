//! Attacks on what Chiffon writes and sends, each against a real server (docs/security.md):
//! a template whose values smuggle Ansible templating, a template write that follows a symlink
//! out of the repository, an `https://` LLM provider with a good, a wrong-name and an untrusted
//! certificate, a provider that redirects to steal the API key, `amqps://` through a TLS
//! proxy in front of the machine's RabbitMQ, and an impostor publishing a dispatch straight
//! onto an agent's queue.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chiffon::bus::Queue;
use chiffon::bus::amqp::{AmqpBus, AmqpOptions};
use chiffon::llm::{LlmConfig, LlmFileConfig};
use chiffon::model::AgentType;
use chiffon::protocol::signing::SigningKey;
use chiffon::protocol::{Dispatch, Envelope, Message};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::helpers::{Backend, Options, TestApp, ansible_playbook};

// ---------------------------------------------------------------------------------------------
// Templates

/// A playbook repository of its own (templates write into it), with one inventory group.
fn scratch_repo() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("inventory.yml"),
        "all:\n  children:\n    docker_hosts:\n      hosts:\n        lola:\n",
    )
    .unwrap();
    repo
}

async fn app_on(repo: &Path) -> TestApp {
    TestApp::spawn_with(
        Backend::Embedded,
        Options {
            local_agents: false,
            playbooks: Some(repo.to_owned()),
            ..Options::default()
        },
    )
    .await
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                walk(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_values_that_smuggle_ansible_templating_are_refused_and_nothing_is_written() {
    let repo = scratch_repo();
    let app = app_on(repo.path()).await;
    // The issue's payload: a YAML escape that a double-quoted scalar turns into `{{ … }}`.
    let escape = r"\u007b\u007b lookup('pipe', 'id') \u007d\u007d";
    let attempts = [
        json!({"service": "evil", "image": format!("acme/box:{escape}"), "port": 8080}),
        json!({"service": "evil", "image": "acme/box:1.0\" x: \"{{ lookup('pipe','id') }}", "port": 8080}),
        json!({"service": "evil", "image": format!("acme/{escape}:1.0"), "port": 8080}),
        json!({"service": format!("evil{escape}"), "image": "acme/box:1.0", "port": 8080}),
        json!({"service": "evil\nx", "image": "acme/box:1.0", "port": 8080}),
        json!({"service": "evil", "image": "acme/box:1.0", "port": 0}),
        json!({"service": "evil", "image": "acme/box:1.0", "port": 8080, "hosts": "{{ lookup('pipe','id') }}"}),
    ];
    for body in &attempts {
        let (status, reply) = app.post("/playbooks/templates", &body.to_string()).await;
        assert_eq!(status, 422, "{body} → {reply}");
        assert_eq!(reply["error"]["code"], "invalid_template", "{reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(
            ["image", "service name", "port", "hosts"]
                .iter()
                .any(|field| message.starts_with(field)),
            "the message names the field: {message}"
        );
    }
    // A port that is not a number never reaches the template at all.
    let (status, reply) = app
        .post(
            "/playbooks/templates",
            &json!({"service": "evil", "image": "acme/box:1.0", "port": format!("{escape}")})
                .to_string(),
        )
        .await;
    assert!(status == 400 || status == 422, "{status} {reply}");
    assert!(reply["error"]["code"].is_string(), "{reply}");
    assert_eq!(
        files_under(repo.path()),
        ["inventory.yml"],
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_write_never_follows_a_symlink_out_of_the_repository() {
    let repo = scratch_repo();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join("roles")).unwrap();
    let app = app_on(repo.path()).await;
    let (status, reply) = app
        .post(
            "/playbooks/templates",
            &json!({"service": "box", "image": "acme/box:2.0", "port": 8080}).to_string(),
        )
        .await;
    assert_eq!(status, 409, "{reply}");
    assert_eq!(reply["error"]["code"], "template_not_written", "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{reply}"
    );
    assert!(files_under(outside.path()).is_empty(), "nothing outside");
    assert_eq!(files_under(repo.path()), ["inventory.yml", "roles"]);

    // A file already there (even a dangling link) is never overwritten either.
    std::fs::remove_file(repo.path().join("roles")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("stolen.yml"),
        repo.path().join("box-deployment.yml"),
    )
    .unwrap();
    let (status, reply) = app
        .post(
            "/playbooks/templates",
            &json!({"service": "box", "image": "acme/box:2.0", "port": 8080}).to_string(),
        )
        .await;
    assert_eq!(status, 409, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{reply}"
    );
    assert!(files_under(outside.path()).is_empty(), "nothing outside");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_template_tags_every_value_unsafe_and_ansible_accepts_it() {
    let repo = scratch_repo();
    let app = app_on(repo.path()).await;
    let (status, reply) = app
        .post(
            "/playbooks/templates",
            &json!({"service": "home-box", "image": "ghcr.io/acme/box:2.0.1", "port": 8080})
                .to_string(),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    let defaults =
        std::fs::read_to_string(repo.path().join("roles/home_box/defaults/main.yml")).unwrap();
    assert!(
        defaults.contains("home_box_image: !unsafe ghcr.io/acme/box:2.0.1"),
        "{defaults}"
    );
    assert!(
        defaults.contains("home_box_healthcheck: !unsafe "),
        "{defaults}"
    );
    let playbook = std::fs::read_to_string(repo.path().join("home-box-deployment.yml")).unwrap();
    assert!(
        playbook.contains("hosts: !unsafe docker_hosts"),
        "{playbook}"
    );
    let checked = std::process::Command::new(ansible_playbook().await)
        .args([
            "--syntax-check",
            "-i",
            "inventory.yml",
            "home-box-deployment.yml",
        ])
        .current_dir(repo.path())
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "ansible-playbook --syntax-check: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// TLS helpers

/// A test certificate authority.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// Its certificate as a PEM file, for `ca_file`.
    pem_file: tempfile::NamedTempFile,
}

impl TestCa {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Chiffon test CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(pem_file.path(), issuer.pem()).unwrap();
        Self { issuer, pem_file }
    }

    /// A server certificate for `names`, signed by this CA.
    fn server(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        server_config(cert.der().clone(), &key)
    }
}

/// A self-signed certificate for `localhost` that nobody trusts.
fn untrusted_server() -> Arc<rustls::ServerConfig> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    server_config(certified.cert.der().clone(), &certified.signing_key)
}

fn server_config(cert: CertificateDer<'static>, key: &KeyPair) -> Arc<rustls::ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    )
}

/// What a test HTTP server answers, and the requests' headers it saw.
#[derive(Clone, Default)]
struct Recorder {
    requests: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// A one-request-per-connection HTTP/1.1 server (over TLS when `tls` is given) that records
/// each request's head and answers `response` (a full HTTP response).
async fn http_server(tls: Option<Arc<rustls::ServerConfig>>, response: String) -> (u16, Recorder) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let recorder = Recorder::default();
    let seen = recorder.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (tls, response, seen) = (tls.clone(), response.clone(), seen.clone());
            tokio::spawn(async move {
                match tls {
                    Some(config) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(config);
                        if let Ok(stream) = acceptor.accept(stream).await {
                            answer(stream, &response, &seen).await;
                        }
                    }
                    None => answer(stream, &response, &seen).await,
                }
            });
        }
    });
    (port, recorder)
}

async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    response: &str,
    seen: &Recorder,
) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    seen.requests.lock().unwrap().push(head);
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn http_response(status: &str, headers: &[(&str, String)], body: &str) -> String {
    let mut text = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text
}

/// An OpenAI-compatible answer carrying the Kuma plan.
fn openai_plan() -> String {
    let plan = json!({
        "steps": [
            {"id": "s1", "title": "Deploy Uptime Kuma", "playbook": "kuma-deployment.yml",
             "limit": null, "depends_on": []},
        ],
        "open_questions": [],
    });
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": plan.to_string()}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    });
    http_response("200 OK", &[], &body.to_string())
}

/// An app planning with one provider described by `toml` (the `[llm]` table's body).
async fn app_with_provider(toml: &str) -> TestApp {
    let file: LlmFileConfig = toml::from_str(toml).unwrap();
    let llm = LlmConfig::from_file(file).unwrap();
    TestApp::spawn_with(
        Backend::Embedded,
        Options {
            local_agents: false,
            llm,
            ..Options::default()
        },
    )
    .await
}

async fn plan_kuma(app: &TestApp) -> Value {
    let (status, view) = app
        .post(
            "/requests",
            &json!({"text": "put kuma up and wire in the portals"}).to_string(),
        )
        .await;
    assert_eq!(status, 201, "{view}");
    view
}

fn attempts(view: &Value) -> Vec<String> {
    view["routing"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                a["provider"].as_str().unwrap(),
                a["outcome"].as_str().unwrap()
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// LLM providers over TLS, and redirects

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_provider_is_trusted_through_the_configured_ca_and_plans() {
    let ca = TestCa::new();
    let (port, seen) = http_server(Some(ca.server(&["localhost"])), openai_plan()).await;
    let app = app_with_provider(&format!(
        "ca_file = \"{}\"\n[[providers]]\nname = \"homelab\"\nkind = \"openai\"\nurl = \"https://localhost:{port}/v1\"\nmodel = \"m\"\nlocal = true\ntimeout_s = 10\napi_key = \"sk-local-test-key-0001\"\n",
        ca.pem_file.path().display()
    ))
    .await;
    let view = plan_kuma(&app).await;
    assert_eq!(view["plan"]["planner"], "llm:homelab/m", "{view}");
    assert_eq!(attempts(&view), ["homelab:ok"]);
    assert_eq!(seen.requests().len(), 1, "one request, over TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_certificate_for_another_name_or_from_an_unknown_ca_is_refused() {
    let ca = TestCa::new();
    for (what, server) in [
        ("wrong name", ca.server(&["models.example.org"])),
        ("untrusted", untrusted_server()),
    ] {
        let (port, seen) = http_server(Some(server), openai_plan()).await;
        let app = app_with_provider(&format!(
            "ca_file = \"{}\"\n[[providers]]\nname = \"homelab\"\nkind = \"openai\"\nurl = \"https://localhost:{port}/v1\"\nmodel = \"m\"\nlocal = true\ntimeout_s = 10\napi_key = \"sk-local-test-key-0002\"\n",
            ca.pem_file.path().display()
        ))
        .await;
        let view = plan_kuma(&app).await;
        assert_eq!(attempts(&view), ["homelab:tls"], "{what}: {view}");
        let detail = view["routing"]["attempts"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(detail.contains("certificate"), "{what}: {detail}");
        assert!(
            !view["plan"]["planner"]
                .as_str()
                .unwrap()
                .starts_with("llm:"),
            "{what}: the rules' plan is used: {view}"
        );
        assert_eq!(view["routing"]["outcome"], "fallback", "{what}");
        assert!(seen.requests().is_empty(), "{what}: no request was sent");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_redirect_is_never_followed_so_the_api_key_stays_home() {
    // Where the redirect points: it records whatever reaches it.
    let (thief_port, thief) = http_server(None, openai_plan()).await;
    for (kind, path) in [
        ("anthropic", "/v1/messages"),
        ("openai", "/v1/chat/completions"),
    ] {
        let location = format!("http://127.0.0.1:{thief_port}{path}");
        let (port, provider) = http_server(
            None,
            http_response("307 Temporary Redirect", &[("location", location)], "{}"),
        )
        .await;
        let url = match kind {
            "openai" => format!("http://127.0.0.1:{port}/v1"),
            _ => format!("http://127.0.0.1:{port}"),
        };
        let app = app_with_provider(&format!(
            "[[providers]]\nname = \"cloud\"\nkind = \"{kind}\"\nurl = \"{url}\"\nmodel = \"m\"\nlocal = true\ntimeout_s = 10\napi_key = \"sk-ant-redirect-key-9999\"\n"
        ))
        .await;
        let view = plan_kuma(&app).await;
        assert_eq!(attempts(&view), ["cloud:redirected"], "{kind}: {view}");
        assert!(
            view["routing"]["attempts"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("never follows"),
            "{view}"
        );
        assert_eq!(provider.requests().len(), 1, "{kind}");
        assert!(
            thief.requests().is_empty(),
            "{kind}: the redirect target got {:?}",
            thief.requests()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// amqps://

/// A TLS terminator in front of the broker at `upstream` (host:port), listening on loopback.
async fn tls_proxy(server: Arc<rustls::ServerConfig>, upstream: String) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (server, upstream) = (server.clone(), upstream.clone());
            tokio::spawn(async move {
                let acceptor = tokio_rustls::TlsAcceptor::from(server);
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut broker) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
            });
        }
    });
    port
}

/// `CHIFFON_TEST_AMQP_URL` split into (credentials, host:port, vhost path).
fn broker() -> Option<(String, String, String)> {
    let url = std::env::var("CHIFFON_TEST_AMQP_URL").ok()?;
    let rest = url.strip_prefix("amqp://")?;
    let (credentials, rest) = rest.rsplit_once('@')?;
    let (host, vhost) = rest.split_once('/').unwrap_or((rest, "%2f"));
    Some((credentials.to_owned(), host.to_owned(), vhost.to_owned()))
}

fn amqp_options(ca_file: Option<PathBuf>) -> AmqpOptions {
    AmqpOptions {
        prefix: format!("chiffon-tls-{}", uuid::Uuid::now_v7().simple()),
        prefetch: 16,
        queue_expiry: Some(Duration::from_secs(60)),
        ca_file,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_connects_over_amqps_and_refuses_a_wrong_certificate() {
    let Some((credentials, upstream, vhost)) = broker() else {
        eprintln!("skipped: set CHIFFON_TEST_AMQP_URL (bash .ci/run does)");
        return;
    };
    let ca = TestCa::new();
    let port = tls_proxy(ca.server(&["localhost"]), upstream.clone()).await;
    let url = format!("amqps://{credentials}@localhost:{port}/{vhost}");
    let bus = AmqpBus::connect(&url, amqp_options(Some(ca.pem_file.path().to_owned())))
        .await
        .expect("amqps:// through the TLS proxy");
    let bus = chiffon::bus::Bus::Amqp(bus);
    let queue = Queue::Events;
    let mut consumer = bus.consume(&queue);
    bus.publish(&queue, b"{\"over\":\"tls\"}".to_vec())
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
        .await
        .expect("the message comes back")
        .unwrap();
    assert_eq!(delivery.body, b"{\"over\":\"tls\"}");
    delivery.ack().await.unwrap();

    // Without the CA the same proxy is not trusted; a trusted CA's certificate for another
    // name is refused too.
    let refused = AmqpBus::connect(&url, amqp_options(None)).await;
    let error = format!(
        "{:#}",
        refused.expect_err("an untrusted certificate was accepted")
    );
    assert!(error.contains("certificate"), "{error}");
    let wrong_port = tls_proxy(ca.server(&["mq.example.org"]), upstream).await;
    let refused = AmqpBus::connect(
        &format!("amqps://{credentials}@localhost:{wrong_port}/{vhost}"),
        amqp_options(Some(ca.pem_file.path().to_owned())),
    )
    .await;
    let error = format!(
        "{:#}",
        refused.expect_err("a certificate for another name was accepted")
    );
    assert!(error.contains("certificate"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Bus trust

async fn message_count(url: &str, queue: &str) -> u32 {
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap()
        .message_count()
}

/// A well-formed real run of the Jellyfin deployment, as an impostor would write it.
fn impostor_dispatch(task_id: &str) -> Envelope {
    Envelope::new(
        "orchestrator",
        Some(task_id.to_owned()),
        Message::Dispatch(Dispatch {
            task_id: task_id.to_owned(),
            request_id: "req_00000000000000000000000000000001".to_owned(),
            step_id: "s1".to_owned(),
            title: "Deploy Jellyfin".to_owned(),
            action: "deploy".to_owned(),
            playbook: Some("jellyfin-deployment.yml".to_owned()),
            limit: None,
            check_mode: false,
            resources: Default::default(),
            tags: Vec::new(),
            extra_vars: serde_json::Map::new(),
            deadline_s: 120,
            expires_at: chrono::Utc::now() + chrono::Duration::seconds(60),
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostors_dispatch_on_the_agents_queue_never_runs_and_is_dead_lettered() {
    if std::env::var_os("CHIFFON_TEST_DATABASE_URL").is_none()
        || std::env::var_os("CHIFFON_TEST_AMQP_URL").is_none()
    {
        eprintln!(
            "skipped: set CHIFFON_TEST_DATABASE_URL and CHIFFON_TEST_AMQP_URL (bash .ci/run does)"
        );
        return;
    }
    let mut app = TestApp::spawn_on(Backend::Distributed).await;
    app.wait_until_agents_online(2).await;
    let url = app.amqp_url.clone().unwrap();
    let work = format!("{}.work.infra", app.amqp_prefix);
    let dead_letter = format!("{}.dead-letter", app.amqp_prefix);
    let before = message_count(&url, &dead_letter).await;

    // Straight onto the infra agents' queue, bypassing the orchestrator: no signature, then a
    // signature from a key that is not the orchestrator's.
    let raw = chiffon::bus::Bus::Amqp(
        AmqpBus::connect(
            &url,
            AmqpOptions {
                prefix: app.amqp_prefix.clone(),
                prefetch: 16,
                queue_expiry: Some(Duration::from_secs(300)),
                ca_file: None,
            },
        )
        .await
        .unwrap(),
    );
    let unsigned = impostor_dispatch("task_00000000000000000000000000000a01");
    let mut forged = impostor_dispatch("task_00000000000000000000000000000a02");
    let other_key = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
    other_key.sign(&mut forged);
    for envelope in [&unsigned, &forged] {
        raw.publish(&Queue::Work(AgentType::Infra), envelope.encode())
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while message_count(&url, &dead_letter).await < before + 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the impostor's dispatches were not dead-lettered (queue {work})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        message_count(&url, &work).await,
        0,
        "not left for another agent"
    );
    // What waits in the dead-letter queue for a person: the impostor's two messages, unchanged.
    let connection = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut dead = Vec::new();
    while let Some(message) = channel
        .basic_get(
            dead_letter.as_str().into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
    {
        dead.push(Envelope::decode(&message.delivery.data).unwrap().message_id);
    }
    assert!(dead.contains(&unsigned.message_id), "{dead:?}");
    assert!(dead.contains(&forged.message_id), "{dead:?}");

    // The genuine orchestrator's work still runs. The infra agent takes its work queue in
    // order, so once this run is over the impostor's would have run too.
    let id = app.request("deploy uptime kuma").await;
    let (_, done) = app.approve_and_wait(&id).await;
    assert_impostor_ran_nothing(&app).await;
    assert_eq!(
        done.request.status,
        chiffon::model::RequestStatus::Succeeded,
        "{:?}",
        done.request.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostors_dispatch_on_the_in_process_bus_never_runs() {
    let mut app = TestApp::spawn_on(Backend::Embedded).await;
    app.wait_until_agents_online(2).await;
    let unsigned = impostor_dispatch("task_00000000000000000000000000000b01");
    let mut forged = impostor_dispatch("task_00000000000000000000000000000b02");
    let other_key = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
    other_key.sign(&mut forged);
    for envelope in [&unsigned, &forged] {
        app.bus
            .publish(&Queue::Work(AgentType::Infra), envelope.encode())
            .await
            .unwrap();
    }
    // The genuine orchestrator's work still runs. The infra agent takes its work queue in
    // order, so once this run is over the impostor's would have run too.
    let id = app.request("deploy uptime kuma").await;
    let (_, done) = app.approve_and_wait(&id).await;
    assert_impostor_ran_nothing(&app).await;
    assert_eq!(
        done.request.status,
        chiffon::model::RequestStatus::Succeeded,
        "{:?}",
        done.request.reason
    );
}

/// No Jellyfin file rendered, and no task but the genuine request's.
async fn assert_impostor_ran_nothing(app: &TestApp) {
    let rendered = app.rendered_files();
    assert!(
        !rendered.is_empty() && !rendered.iter().any(|f| f.contains("jellyfin")),
        "the impostor's playbook ran: {rendered:?}"
    );
    let (_, tasks) = app.get("/api/v1/tasks").await;
    let items = tasks["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the genuine task: {tasks}");
}
