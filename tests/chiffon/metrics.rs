//! `/metrics` as its users meet it: a real Prometheus (Debian's `prometheus` package, started
//! here on a loopback port with its own storage) scraping the server with the metrics token and
//! answering a query about a request this test made; the token rules; the metric names and
//! labels after the Kuma request has run, with a desktop agent reporting a GPU, and the shipped
//! Grafana dashboard and alert rules querying only those names; the alert rules through
//! `promtool` (checked, and fed recorded series). Run on both back-ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chiffon::model::RequestStatus;
use serde_json::Value;

use crate::capacity::{GIB, record_gpu};
use crate::helpers::{KUMA_REQUEST, Options, TestAgent, TestApp, backends};

const API_TOKEN: &str = "api-token-for-the-metrics-tests-0123";
const METRICS_TOKEN: &str = "metrics-token-only-for-prometheus-4567";

/// One sample of a scrape: its labels and value.
type Samples = BTreeMap<String, Vec<(BTreeMap<String, String>, f64)>>;

/// A server with both tokens: the API one and the one for Prometheus.
async fn app_with_tokens(backend: crate::helpers::Backend) -> TestApp {
    let http = chiffon::config::HttpConfig {
        metrics_token: Some(chiffon::config::ApiToken::new(METRICS_TOKEN).unwrap()),
        ..Default::default()
    };
    TestApp::spawn_with(
        backend,
        Options {
            api_token: Some(API_TOKEN.to_owned()),
            http,
            ..Options::default()
        },
    )
    .await
}

async fn scrape(app: &TestApp, token: Option<&str>, accept: Option<&str>) -> reqwest::Response {
    let mut request = app.http.get(format!("{}/metrics", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.unwrap()
}

/// Reads the Prometheus text format: `name{label="value",…} value` lines.
fn parse(text: &str) -> Samples {
    let mut samples = Samples::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').unwrap()),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        let mut rest = labels;
        while let Some((key, after)) = rest.split_once("=\"") {
            let end = after.find('"').unwrap();
            map.insert(
                key.trim_start_matches(',').to_owned(),
                after[..end].to_owned(),
            );
            rest = &after[end + 1..];
        }
        let value = match value {
            "+Inf" => f64::INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().unwrap(),
        };
        samples
            .entry(name.to_owned())
            .or_default()
            .push((map, value));
    }
    samples
}

/// The value of the one sample of `name` whose labels include every pair of `want`.
fn value(samples: &Samples, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = samples
        .get(name)?
        .iter()
        .filter(|(labels, _)| {
            want.iter()
                .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(v))
        })
        .map(|(_, v)| *v)
        .collect();
    assert!(
        found.len() <= 1,
        "{name} {want:?} matches {} samples",
        found.len()
    );
    found.first().copied()
}

/// The sum over the samples of `name` whose labels include every pair of `want`.
fn total(samples: &Samples, name: &str, want: &[(&str, &str)]) -> f64 {
    samples.get(name).map_or(0.0, |all| {
        all.iter()
            .filter(|(labels, _)| {
                want.iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(v))
            })
            .map(|(_, v)| *v)
            .sum()
    })
}

/// `name`, or `None` (with the reason printed) when it is not installed outside CI; CI must
/// have it (`.ci/run` installs Debian's `prometheus` package).
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is not installed; CI installs Debian's prometheus package (.ci/run)"
        );
        eprintln!("SKIPPED: {name} is not installed (apt-get install prometheus); nothing checked");
    }
    found
}

/// `query` as a URL query value: everything but unreserved characters as `%XX`.
fn percent_encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Prometheus of the test's own: scraping `target` every second with the metrics token,
/// storage in a temp dir, on a free loopback port; killed when dropped.
struct Prometheus {
    url: String,
    _child: tokio::process::Child,
    dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(binary: &Path, target: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("metrics-token");
        std::fs::write(&token_file, METRICS_TOKEN).unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: chiffon\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: ['{target}']\n",
                token_file.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = tokio::process::Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start prometheus");
        Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            _child: child,
            dir,
        }
    }

    /// The value of an instant query through Prometheus's HTTP API, if it has one.
    async fn query(&self, http: &reqwest::Client, query: &str) -> Option<f64> {
        let answer: Value = http
            .get(format!(
                "{}/api/v1/query?query={}",
                self.url,
                percent_encode(query)
            ))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        answer["data"]["result"][0]["value"][1]
            .as_str()?
            .parse()
            .ok()
    }

    /// Why the target is not scraped, for the failure message.
    async fn diagnosis(&self, http: &reqwest::Client) -> String {
        let targets = match http
            .get(format!("{}/api/v1/targets", self.url))
            .send()
            .await
        {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(error) => format!("no answer: {error}"),
        };
        let log =
            std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
        format!("targets: {targets}\nlog:\n{log}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_with_the_metrics_token_and_answers_with_the_request_count() {
    let Some(binary) = tool("prometheus") else {
        return;
    };
    for backend in backends() {
        eprintln!("scenario on {backend:?}");
        let app = app_with_tokens(backend).await;
        let id = app.request(KUMA_REQUEST).await;
        assert!(!id.is_empty());
        let target = app.address.trim_start_matches("http://").to_owned();
        let prometheus = Prometheus::start(&binary, &target).await;
        let query = r#"chiffon_requests{job="chiffon",status="awaiting_approval"}"#;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if prometheus.query(&app.http, query).await == Some(1.0) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "Prometheus did not report 1 awaiting request within 60 s\n{}",
                    prometheus.diagnosis(&app.http).await
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // Scraped as a healthy target, and the HTTP metrics it read name the route pattern.
        assert_eq!(
            prometheus.query(&app.http, r#"up{job="chiffon"}"#).await,
            Some(1.0)
        );
        let created = r#"sum(chiffon_http_requests_total{method="POST",route="/api/v1/requests"})"#;
        assert_eq!(prometheus.query(&app.http, created).await, Some(1.0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_refuse_a_scrape_without_a_token_and_take_either_token() {
    let app = app_with_tokens(crate::helpers::Backend::Embedded).await;
    let refused = scrape(&app, None, None).await;
    assert_eq!(refused.status().as_u16(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "token_required", "{body}");
    let wrong = scrape(&app, Some("not-the-token-at-all-000000"), None).await;
    assert_eq!(wrong.status().as_u16(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_token", "{body}");

    // The metrics token opens /metrics only; the API token opens both.
    let api = app
        .http
        .get(format!("{}/api/v1/requests", app.address))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.status().as_u16(),
        401,
        "the metrics token must not open the API"
    );
    for token in [METRICS_TOKEN, API_TOKEN] {
        let plain = scrape(&app, Some(token), None).await;
        assert_eq!(plain.status().as_u16(), 200);
        let content_type = plain.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = plain.text().await.unwrap();
        assert!(text.contains("# TYPE chiffon_requests gauge"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
    }
    let open = scrape(
        &app,
        Some(METRICS_TOKEN),
        Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
    )
    .await;
    let content_type = open.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(open.text().await.unwrap().ends_with("# EOF\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_kuma_run_metrics_name_requests_tasks_agents_gpus_routes_and_the_audit_trail() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let fixtures = tempfile::tempdir().unwrap();
        record_gpu(fixtures.path(), "NVIDIA GeForce RTX 3060", 12, 11.0);
        let _desktop = TestAgent::capacity_only(&app, "desk-gpu", fixtures.path()).await;
        let id = app.request(KUMA_REQUEST).await;
        let (_, done) = app.approve_and_wait(&id).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.request.reason
        );

        // The GPU agent reports within a few heartbeats.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let (text, samples) = loop {
            let text = scrape(&app, None, None).await.text().await.unwrap();
            let samples = parse(&text);
            if value(
                &samples,
                "chiffon_agent_gpu_vram_free_bytes",
                &[("agent", "desk-gpu")],
            )
            .is_some()
            {
                break (text, samples);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no GPU figures within 30 s:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let gpu = [
            ("agent", "desk-gpu"),
            ("gpu", "0"),
            ("name", "NVIDIA GeForce RTX 3060"),
        ];
        assert_eq!(
            value(&samples, "chiffon_agent_gpu_vram_total_bytes", &gpu),
            Some((12 * GIB) as f64)
        );
        assert_eq!(
            value(&samples, "chiffon_agent_gpu_vram_free_bytes", &gpu),
            Some((11 * GIB) as f64)
        );

        // Requests and tasks by status (and service), from the store.
        assert_eq!(
            value(&samples, "chiffon_requests", &[("status", "succeeded")]),
            Some(1.0)
        );
        assert_eq!(
            value(&samples, "chiffon_requests", &[("status", "failed")]),
            Some(0.0)
        );
        assert_eq!(
            total(&samples, "chiffon_tasks", &[("status", "succeeded")]),
            2.0
        );
        let services: Vec<&str> = samples["chiffon_tasks"]
            .iter()
            .map(|(l, _)| l["service"].as_str())
            .collect();
        assert!(services.iter().any(|s| s.contains("kuma")), "{services:?}");

        // Durations: two tasks on the infra agent, two steps, one plan by the rules.
        let infra_ok = [("agent_type", "infra"), ("status", "succeeded")];
        assert_eq!(
            value(&samples, "chiffon_task_duration_seconds_count", &infra_ok),
            Some(2.0)
        );
        assert!(value(&samples, "chiffon_task_duration_seconds_sum", &infra_ok).unwrap() > 0.0);
        assert_eq!(
            value(
                &samples,
                "chiffon_step_duration_seconds_count",
                &[("status", "succeeded")]
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &samples,
                "chiffon_plan_duration_seconds_count",
                &[("outcome", "rules")]
            ),
            Some(1.0)
        );

        // Agents: the two in the server and the GPU desktop, each with its capacity.
        assert_eq!(
            value(
                &samples,
                "chiffon_agents",
                &[("agent_type", "infra"), ("status", "online")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &samples,
                "chiffon_agents",
                &[("agent_type", "desktop"), ("status", "online")]
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &samples,
                "chiffon_agents",
                &[("agent_type", "infra"), ("status", "offline")]
            ),
            Some(0.0)
        );
        assert_eq!(total(&samples, "chiffon_agent_up", &[]), 3.0);
        for name in ["chiffon_agent_memory_free_bytes", "chiffon_agent_cpu_cores"] {
            assert!(
                value(&samples, name, &[("agent", "desk-gpu")]).unwrap() > 0.0,
                "{name}"
            );
        }
        // A busy machine may have no idle core: present and within the host's cores.
        let cores = value(
            &samples,
            "chiffon_agent_cpu_cores",
            &[("agent", "desk-gpu")],
        )
        .unwrap();
        let free = value(
            &samples,
            "chiffon_agent_free_cpu_cores",
            &[("agent", "desk-gpu")],
        );
        assert!(
            free.is_some_and(|free| (0.0..=cores).contains(&free)),
            "{free:?} of {cores}"
        );

        // The queue runs, the audit trail is written and nothing waits for it.
        assert_eq!(
            value(&samples, "chiffon_dispatch_queue_paused", &[]),
            Some(0.0)
        );
        assert_eq!(
            value(&samples, "chiffon_audit_queue_length", &[]),
            Some(0.0)
        );
        assert_eq!(value(&samples, "chiffon_audit_degraded", &[]), Some(0.0));
        assert!(value(&samples, "chiffon_audit_last_commit_age_seconds", &[]).unwrap() < 600.0);
        assert_eq!(
            value(&samples, "chiffon_audit_oldest_queued_age_seconds", &[]),
            None
        );

        // HTTP by route pattern, never by the raw path.
        let approve = [
            ("method", "POST"),
            ("route", "/api/v1/requests/{id}/approve"),
            ("status", "202"),
        ];
        let http_lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("chiffon_http_requests_total"))
            .collect();
        assert_eq!(
            value(&samples, "chiffon_http_requests_total", &approve),
            Some(1.0),
            "{http_lines:#?}"
        );
        assert!(
            value(
                &samples,
                "chiffon_http_request_duration_seconds_count",
                &approve
            ) == Some(1.0)
        );
        assert!(!text.contains(&id), "a raw path reached a label:\n{text}");
        assert_eq!(total(&samples, "chiffon_bus_dead_letters_total", &[]), 0.0);
        check_deploy_files_use_exposed_names(&text);
        let unknown = app
            .http
            .get(format!("{}/no/such/page/{id}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status().as_u16(), 404);
        let samples = parse(&scrape(&app, None, None).await.text().await.unwrap());
        assert_eq!(
            value(
                &samples,
                "chiffon_http_requests_total",
                &[("route", "unmatched"), ("status", "404")]
            ),
            Some(1.0)
        );
    }
}

/// Every metric name the dashboard and the alert rules use, as written in their queries.
fn names_used(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("chiffon_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Families absent from the scrape after a plain run: the LLM ones appear with the first LLM
/// call (no provider is configured here; `orchestrator::metrics`' unit tests show their names),
/// the oldest queued audit entry's age while one waits.
const ABSENT_AFTER_A_PLAIN_RUN: &[&str] = &[
    "chiffon_llm_calls_total",
    "chiffon_llm_tokens_total",
    "chiffon_llm_cost_usd_total",
    "chiffon_audit_oldest_queued_age_seconds",
];

/// The dashboard and the alert rules query only metrics the server exposes (`text` is a
/// scrape after a run).
fn check_deploy_files_use_exposed_names(text: &str) {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let rules = std::fs::read_to_string(deploy.join("alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(deploy.join("grafana-dashboard.json")).unwrap();
    let parsed: Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() >= 8));
    let mut exposed: Vec<String> = ABSENT_AFTER_A_PLAIN_RUN
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            exposed.push(name.to_owned());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    exposed.push(format!("{name}{suffix}"));
                }
            }
        }
    }
    for name in names_used(&rules).into_iter().chain(names_used(&dashboard)) {
        assert!(
            exposed.contains(&name),
            "{name} is used but not exposed; exposed: {exposed:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_rules_pass_promtool_and_fire_on_an_offline_agent_a_degraded_audit_and_failures()
{
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let rules = std::fs::read_to_string(deploy.join("alerts.yml")).unwrap();
    for alert in [
        "ChiffonAgentOffline",
        "ChiffonAuditDegraded",
        "ChiffonTasksFailing",
    ] {
        assert!(rules.contains(&format!("alert: {alert}")), "{alert}");
    }
    let Some(promtool) = tool("promtool") else {
        return;
    };
    // `check` reads the rules; `test` feeds them recorded series and expects each alert.
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts.test.yml"],
    ] {
        let output = tokio::process::Command::new(&promtool)
            .args(&args)
            .current_dir(&deploy)
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
