//! The attacks of docs/security.md, each performed against a real `chiffon serve`: a web page
//! the owner visits (CSRF, cross-site WebSocket, DNS rebinding), a flood of connections, a
//! secret pasted into free text, a reason that tries to forge audit commit lines, the smaller
//! token and `/docs` holes, and TLS. Each asserts the clear refusal a user sees and that
//! nothing changed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite;

use crate::helpers::{Backend, KUMA_REQUEST, Options, TestApp};

const EVIL: &str = "http://evil.example";

/// `(status, body)` of a POST with the given content type and headers.
async fn post_as(
    app: &TestApp,
    path: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut request = app
        .http
        .post(format!("{}/api/v1{path}", app.address))
        .header("content-type", content_type)
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let (_, view) = app.get(&format!("/api/v1/requests/{id}")).await;
    view["status"].as_str().unwrap().to_owned()
}

async fn task_count(app: &TestApp) -> usize {
    let (_, page) = app.get("/api/v1/tasks").await;
    page["items"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_approval_is_refused_and_nothing_runs() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app.request(KUMA_REQUEST).await;
        let approve = format!("/requests/{id}/approve");
        // A "simple" request a page may send without a preflight: text/plain, no body.
        let (code, body) = post_as(&app, &approve, "text/plain", &[], "").await;
        assert_eq!(code, 415, "{body}");
        assert_eq!(body["error"]["code"], "unsupported_media_type");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
        // Form encodings are refused alike.
        let (code, _) = post_as(
            &app,
            &approve,
            "application/x-www-form-urlencoded",
            &[],
            "plan_version=1",
        )
        .await;
        assert_eq!(code, 415);
        // JSON from another origin (a page that got a preflight wrong, or a rebinding one).
        let (code, body) = post_as(
            &app,
            &approve,
            "application/json",
            &[("origin", EVIL)],
            "{}",
        )
        .await;
        assert_eq!(code, 403, "{body}");
        assert_eq!(body["error"]["code"], "origin_not_allowed");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("evil.example")
        );
        let (code, _) = post_as(
            &app,
            &format!("/requests/{id}/preview"),
            "text/plain",
            &[],
            "",
        )
        .await;
        assert_eq!(code, 415, "a dry run is a state change too");
        // Nothing ran, nothing was written.
        assert_eq!(status_of(&app, &id).await, "awaiting_approval");
        assert_eq!(task_count(&app).await, 0);
        assert!(
            app.rendered_files().is_empty(),
            "{:?}",
            app.rendered_files()
        );

        // The server's own page (its origin), and a client with no Origin, may.
        let own = app.address.clone();
        let (code, body) = post_as(
            &app,
            &format!("/requests/{id}/reject"),
            "application/json; charset=utf-8",
            &[("origin", own.as_str())],
            r#"{"reason": "not now"}"#,
        )
        .await;
        assert_eq!(code, 200, "{body}");
        app.stop().await;
    }
}

/// The example homelab in a git repository of its own, as a homelab keeps its playbooks.
fn homelab_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("homelab");
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(crate::helpers::example_repo())
        .arg(&repo)
        .status()
        .unwrap();
    assert!(copied.success());
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &["commit", "-q", "-m", "homelab"],
    ] {
        git(&repo, args);
    }
    repo
}

fn git(dir: &Path, args: &[&str]) -> String {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_suggestion_apply_commits_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let repo = homelab_repo(scratch.path());
    let app = TestApp::spawn_with(
        Backend::Embedded,
        Options {
            playbooks: Some(repo.clone()),
            ..Options::default()
        },
    )
    .await;
    let (_, page) = app.get("/api/v1/suggestions").await;
    let suggestion = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| !s["diff"].is_null())
        .unwrap_or_else(|| panic!("a suggestion with a change: {page}"))
        .clone();
    let apply = format!("/suggestions/{}/apply", suggestion["id"].as_str().unwrap());
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let (code, body) = post_as(&app, &apply, "text/plain", &[], "{}").await;
    assert_eq!(code, 415, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    let (code, body) = post_as(&app, &apply, "application/json", &[("origin", EVIL)], "{}").await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        git(&repo, &["rev-parse", "HEAD"]),
        head,
        "nothing committed"
    );
    assert_eq!(
        git(&repo, &["status", "--porcelain"]),
        "",
        "nothing written"
    );
    // The same suggestion, applied as the CLI and the web page do, is committed.
    let (code, body) = app.post(&apply, "{}").await;
    assert_eq!(code, 200, "{body}");
    assert_ne!(git(&repo, &["rev-parse", "HEAD"]), head);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebinding_host_gets_nothing_not_even_the_page() {
    let mut http = Options::default().http;
    http.allowed_hosts = vec!["chiffon.lan".to_owned()];
    let app = TestApp::spawn_with(
        Backend::Embedded,
        Options {
            local_agents: false,
            http,
            ..Options::default()
        },
    )
    .await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let get = |path: &'static str, host: String| {
        let request = app
            .http
            .get(format!("{}{path}", app.address))
            .header("host", host);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or_default())
        }
    };
    for path in [
        "/",
        "/docs",
        "/api/v1/health",
        "/api/v1/requests",
        "/ui/app.js",
    ] {
        let (code, body) = get(path, format!("evil.example:{port}")).await;
        assert_eq!(code, 421, "{path}: {body}");
        assert_eq!(body["error"]["code"], "host_not_allowed");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("allowed_hosts"),
            "{body}"
        );
        // A loopback name on another port is another server's name.
        let (code, _) = get(path, "localhost:1".to_owned()).await;
        assert_eq!(code, 421, "{path}");
        for host in [
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            "chiffon.lan".to_owned(),
        ] {
            let (code, body) = get(path, host.clone()).await;
            assert!(
                code == 200 || code == 503,
                "{path} as {host}: {code} {body}"
            );
        }
    }
    // A rebinding page cannot change anything either.
    let code = app
        .http
        .post(format!("{}/api/v1/requests", app.address))
        .header("host", format!("evil.example:{port}"))
        .header("content-type", "application/json")
        .body(r#"{"text": "deploy kuma"}"#)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(code, 421);
    let (_, list) = app.get("/api/v1/requests").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    app.stop().await;
}

/// Opens the live stream with these extra headers and query.
async fn open_stream(
    app: &TestApp,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    (u16, String),
> {
    use tungstenite::client::IntoClientRequest;
    let url = format!("{}/api/v1/ws{query}", app.address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(other) => panic!("the WebSocket failed otherwise: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_websocket_is_refused_before_the_upgrade() {
    let app = TestApp::spawn_with(
        Backend::Embedded,
        Options {
            local_agents: false,
            ..Options::default()
        },
    )
    .await;
    let (code, body) = open_stream(&app, "", &[("origin", EVIL)])
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(code, 403);
    assert!(body.contains("origin_not_allowed"), "{body}");
    let own = app.address.clone();
    assert!(
        open_stream(&app, "", &[("origin", own.as_str())])
            .await
            .is_ok()
    );
    assert!(
        open_stream(&app, "", &[]).await.is_ok(),
        "the CLI sends no Origin"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_past_the_cap_are_refused_and_big_messages_close_the_stream() {
    let mut http = Options::default().http;
    http.max_websockets = 2;
    http.websocket_max_message_bytes = 1024;
    let app = TestApp::spawn_with(
        Backend::Embedded,
        Options {
            local_agents: false,
            http,
            ..Options::default()
        },
    )
    .await;
    let first = open_stream(&app, "", &[]).await.unwrap();
    let mut second = open_stream(&app, "", &[]).await.unwrap();
    let (code, body) = open_stream(&app, "", &[]).await.map(|_| ()).unwrap_err();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("too_many_streams"), "{body}");
    assert!(body.contains("max_websockets"), "{body}");
    // Health still answers while the streams are full.
    assert_eq!(app.get("/api/v1/health").await.0, 200);
    // A message over the limit ends that stream, and its place comes back.
    use futures_util::{SinkExt, StreamExt};
    let _ = second
        .send(tungstenite::Message::text("x".repeat(4096)))
        .await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = second.next().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the oversized message did not end the stream"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match open_stream(&app, "", &[]).await {
            Ok(_) => break,
            Err((503, _)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("the freed place did not come back: {other:?}"),
        }
    }
    drop(first);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_half_sent_requests_does_not_starve_health() {
    let mut http = Options::default().http;
    http.max_connections = 500;
    http.header_read_timeout = Duration::from_secs(2);
    let app = TestApp::spawn_with(
        Backend::Embedded,
        Options {
            local_agents: false,
            http,
            ..Options::default()
        },
    )
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // 2,000 sockets on loopback: half of them send part of a request and stop, half send
    // nothing at all; four times the connection cap.
    let mut flood = Vec::with_capacity(2000);
    for n in 0..2000 {
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        if n % 2 == 0 {
            let _ = socket
                .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .await;
        }
        flood.push(socket);
    }
    let started = tokio::time::Instant::now();
    let health = app
        .http
        .get(format!("{}/api/v1/health", app.address))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .expect("/health answers during the flood");
    assert_eq!(health.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(3));
    // The header-read timeout closes what is left of the flood by itself.
    let mut last = flood.pop().unwrap();
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(10), last.read(&mut byte)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "a half-sent request was not closed: {closed:?}"
    );
    drop(flood);
    assert_eq!(app.get("/api/v1/health").await.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_beyond_loopback_without_a_token_refuses_to_start() {
    let scratch = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args(["serve", "--listen", "0.0.0.0:0", "--no-local-agents"])
        .arg("--data-dir")
        .arg(scratch.path().join("data"))
        .arg("--playbooks")
        .arg(crate::helpers::example_repo())
        .env_remove("CHIFFON_API_TOKEN")
        .env_remove("CHIFFON_API_TOKEN_FILE")
        .env_remove("CHIFFON_INSECURE_NO_TOKEN")
        .env_remove("CHIFFON_CONFIG")
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("serve gave up quickly")
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0") && stderr.contains("--insecure-no-token"),
        "{stderr}"
    );
    assert!(
        !scratch.path().join("data/chiffon.db").exists(),
        "it refused before opening anything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_health_itself_skips_the_token_and_query_tokens_are_percent_decoded() {
    let token = "tok+en/with=signs0123456789==";
    let app = TestApp::spawn_with(
        Backend::Embedded,
        Options {
            local_agents: false,
            api_token: Some(token.to_owned()),
            ..Options::default()
        },
    )
    .await;
    assert_eq!(app.get("/api/v1/health").await.0, 200);
    for path in [
        "/api/v1/agents/health",
        "/api/v1/requests/health",
        "/api/v1/agents",
    ] {
        let (code, body) = app.get(path).await;
        assert_eq!(code, 401, "{path}: {body}");
        assert_eq!(body["error"]["code"], "token_required", "{path}");
    }
    let encoded = "tok%2Ben%2Fwith%3Dsigns0123456789%3D%3D";
    assert!(
        open_stream(&app, &format!("?access_token={encoded}"), &[])
            .await
            .is_ok()
    );
    let (code, body) = open_stream(&app, "?access_token=wrong-token-0123456789", &[])
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(code, 401);
    assert!(body.contains("bad_token"), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_have_a_strict_policy_and_work_when_a_token_is_set() {
    let app = TestApp::spawn_with(
        Backend::Embedded,
        Options {
            local_agents: false,
            api_token: Some("docs-test-token-0123456789".to_owned()),
            ..Options::default()
        },
    )
    .await;
    let page = app
        .http
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("http"),
        "{policy}"
    );
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<style>"),
        "no inline code"
    );
    // What the page loads answers without the token: the script, and the description it reads.
    let (code, script) = app.get("/docs/docs.js").await;
    assert_eq!(code, 200);
    let script = script.as_str().unwrap().to_owned();
    assert!(
        script.contains("\"/openapi.json\""),
        "the page reads the public copy"
    );
    let (code, spec) = app.get("/openapi.json").await;
    assert_eq!(code, 200);
    assert!(spec["paths"].is_object());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_pasted_in_free_text_never_comes_back() {
    let secret = "ghp_S3cretPastedByMistake0123456789ab";
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let (code, created) = app
            .post(
                "/requests",
                &format!(r#"{{"text": "restart jellyfin, my token is {secret}"}}"#),
            )
            .await;
        assert_eq!(code, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let mut live = open_stream(&app, &format!("?request_id={id}"), &[])
            .await
            .unwrap();
        let (code, body) = app
            .post(
                &format!("/requests/{id}/modify"),
                &format!(r#"{{"text": "also use Bearer {secret}", "by": "me {secret}"}}"#),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        let (code, body) = app
            .post(
                &format!("/requests/{id}/reject"),
                &format!(r#"{{"reason": "oops, pasted {secret} here"}}"#),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        assert!(!body.to_string().contains(secret), "{body}");
        // The live stream, up to the rejection.
        use futures_util::StreamExt;
        let mut streamed = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(message)) = live.next().await {
                let text = message.into_text().unwrap_or_default().to_string();
                streamed.push_str(&text);
                if text.contains("rejected") {
                    break;
                }
            }
        })
        .await;
        assert!(streamed.contains("rejected"), "{streamed}");
        assert!(!streamed.contains(secret), "{streamed}");
        // The API, the database and the audit repository.
        for path in [
            format!("/api/v1/requests/{id}"),
            format!("/api/v1/requests/{id}/plans"),
            "/api/v1/requests".to_owned(),
        ] {
            let (_, body) = app.get(&path).await;
            assert!(!body.to_string().contains(secret), "{path}: {body}");
            assert!(body.to_string().contains("[redacted]") || path.ends_with("requests"));
        }
        assert!(!app.dump_database().await.contains(secret));
        wait_for_audit(&app, "reject").await;
        let history = app.git(&["log", "-p", "--all"]);
        assert!(!history.contains(secret), "{history}");
        app.stop().await;
    }
}

/// Waits until the audit repository has a commit whose subject contains `word`.
async fn wait_for_audit(app: &TestApp, word: &str) {
    for _ in 0..200 {
        if app.git(&["log", "--format=%s"]).contains(word) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no audit commit about {word} within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reason_cannot_add_lines_to_the_audit_commit() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app.request("restart jellyfin").await;
        let reason = "not now\nSigned-off-by: Mallory <m@evil.example>\r\nEntry: entries/forged.json\u{1b}[31m";
        let body = serde_json::json!({"reason": reason, "by": "alice\nCo-authored-by: x"});
        let (code, answer) = app
            .post(&format!("/requests/{id}/reject"), &body.to_string())
            .await;
        // `by` with a control character is refused outright.
        assert_eq!(code, 422, "{answer}");
        let body = serde_json::json!({"reason": reason, "by": "alice"});
        let (code, answer) = app
            .post(&format!("/requests/{id}/reject"), &body.to_string())
            .await;
        assert_eq!(code, 200, "{answer}");
        wait_for_audit(&app, "reject").await;
        let message = app.git(&["log", "-1", "--format=%B"]);
        let lines: Vec<&str> = message.trim_end().lines().collect();
        assert_eq!(lines.len(), 3, "subject, blank line, Entry: {message:?}");
        assert!(
            lines[0].contains("not now Signed-off-by: Mallory"),
            "{message:?}"
        );
        assert!(lines[2].starts_with("Entry: entries/"), "{message:?}");
        assert!(!lines[2].contains("forged"), "{message:?}");
        assert!(!message.contains('\u{1b}'), "{message:?}");
        let trailers = app.git(&["log", "-1", "--format=%(trailers)"]);
        assert!(!trailers.contains("Mallory"), "{trailers}");
        app.stop().await;
    }
}

/// A self-signed certificate for localhost and 127.0.0.1, as PEM files in `dir`, and its DER.
fn certificate(
    dir: &Path,
    name: &str,
) -> (PathBuf, PathBuf, rustls::pki_types::CertificateDer<'static>) {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key, made.cert.der().clone())
}

/// `GET /api/v1/health` over TLS, trusting only `root`: the status line, or the TLS error.
async fn https_health(
    port: u16,
    root: &rustls::pki_types::CertificateDer<'static>,
) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(
        format!(
            "GET /api/v1/health HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_speaks_https_and_a_client_that_does_not_trust_it_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let (cert, key, der) = certificate(scratch.path(), "server");
    let (_, _, stranger) = certificate(scratch.path(), "stranger");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args([
            "serve",
            "--no-local-agents",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--data-dir")
        .arg(scratch.path().join("data"))
        .arg("--playbooks")
        .arg(crate::helpers::example_repo())
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env_remove("CHIFFON_API_TOKEN")
        .env_remove("CHIFFON_CONFIG")
        .env_remove("CHIFFON_DATABASE_URL")
        .env_remove("CHIFFON_AMQP_URL")
        .kill_on_drop(true)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        match https_health(port, &der).await {
            Ok(status) if !status.is_empty() => break status,
            other => {
                assert!(
                    server.try_wait().unwrap().is_none(),
                    "serve stopped: {other:?}"
                );
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no HTTPS: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(status, "HTTP/1.1 200 OK");
    let refused = https_health(port, &stranger).await.unwrap_err();
    assert!(
        refused.contains("invalid peer certificate") || refused.contains("UnknownIssuer"),
        "{refused}"
    );
    // Plain HTTP to the TLS port gets no answer from the API.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    server.kill().await.unwrap();
}
