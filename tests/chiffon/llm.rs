//! LLM planning against local HTTP servers that speak the real wire formats (OpenAI-compatible
//! chat completions with `json_schema` output, Anthropic Messages with a forced tool call):
//! local first, the routing rules, one repair round, every failure falling back with its
//! reason, budgets from the usage fields, every decision stored and shown; and modify, which
//! makes a new plan version that approval must name.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chiffon::llm::{LlmConfig, Period, Provider, ProviderKind};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};

const API_KEY: &str = "sk-ant-planted-key-5551234";

/// One scripted answer.
#[derive(Clone)]
struct Answer {
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
    delay: Duration,
}

/// A model server that answers from a script and keeps what it was sent.
#[derive(Clone)]
struct MockModel {
    url: String,
    script: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl MockModel {
    async fn start() -> Self {
        let script: Arc<Mutex<VecDeque<Answer>>> = Arc::default();
        let seen: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
        let handler = {
            let (script, seen) = (script.clone(), seen.clone());
            move |headers: HeaderMap, body: axum::body::Bytes| {
                let (script, seen) = (script.clone(), seen.clone());
                async move {
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    seen.lock().unwrap().push((headers, body));
                    let answer = script.lock().unwrap().pop_front();
                    let Some(answer) = answer else {
                        return (StatusCode::IM_A_TEAPOT, "no scripted answer left")
                            .into_response();
                    };
                    tokio::time::sleep(answer.delay).await;
                    let mut response =
                        (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
                    response
                        .headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    for (name, value) in answer.headers {
                        response.headers_mut().insert(name, value.parse().unwrap());
                    }
                    response
                }
            }
        };
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(handler.clone()))
            .route("/v1/messages", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, script, seen }
    }

    fn push(&self, answer: Answer) {
        self.script.lock().unwrap().push_back(answer);
    }

    fn seen(&self) -> Vec<(HeaderMap, Value)> {
        self.seen.lock().unwrap().clone()
    }
}

fn answer(status: u16, body: &Value) -> Answer {
    Answer {
        status,
        body: body.to_string(),
        headers: Vec::new(),
        delay: Duration::ZERO,
    }
}

/// An OpenAI-compatible chat completion carrying `content`.
fn openai(content: &str, finish: &str, tokens_in: u64, tokens_out: u64) -> Answer {
    answer(
        200,
        &json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "qwen2.5:14b",
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                      "total_tokens": tokens_in + tokens_out},
        }),
    )
}

/// An Anthropic message whose forced tool call carries `plan`.
fn anthropic(plan: &Value) -> Answer {
    answer(
        200,
        &json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "submit_plan", "input": plan}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 1200, "output_tokens": 150},
        }),
    )
}

/// Kuma deployed, then its configuration updated, as a model would answer.
fn kuma_plan() -> Value {
    json!({
        "steps": [
            {"id": "s1", "title": "Deploy Uptime Kuma", "playbook": "kuma-deployment.yml",
             "limit": null, "depends_on": []},
            {"id": "s2", "title": "Add the portals as monitors", "playbook": "kuma-config-update.yml",
             "limit": "lola", "depends_on": ["s1"]},
        ],
        "open_questions": [],
    })
}

fn provider(name: &str, kind: ProviderKind, url: &str, local: bool) -> Provider {
    Provider {
        name: name.to_owned(),
        kind,
        url: match kind {
            ProviderKind::Openai => format!("{url}/v1"),
            ProviderKind::Anthropic => url.to_owned(),
        },
        model: if local {
            "qwen2.5:14b"
        } else {
            "claude-sonnet-4-5"
        }
        .to_owned(),
        local,
        api_key: None,
        timeout: Duration::from_secs(2),
        max_tokens: 1024,
        token_budget: None,
        cost_budget_usd: None,
        period: Period::Day,
        usd_per_million_in: 3.0,
        usd_per_million_out: 15.0,
    }
}

/// An app whose local model is `local` (OpenAI format) and external one `external` (Anthropic).
async fn app_with(local: &MockModel, external: &MockModel, local_budget: Option<u64>) -> TestApp {
    let mut ollama = provider("ollama", ProviderKind::Openai, &local.url, true);
    ollama.token_budget = local_budget;
    let mut claude = provider("claude", ProviderKind::Anthropic, &external.url, false);
    // Through the config file's path, so the key is remembered for redaction as in production.
    let key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key_file.path(), API_KEY).unwrap();
    let file: chiffon::llm::LlmFileConfig = toml::from_str(&format!(
        "[[providers]]\nname = \"claude\"\nkind = \"anthropic\"\nurl = \"{}\"\nmodel = \"m\"\napi_key_file = \"{}\"\n",
        external.url,
        key_file.path().display()
    ))
    .unwrap();
    claude.api_key = LlmConfig::from_file(file).unwrap().providers[0]
        .api_key
        .clone();
    TestApp::spawn_with(
        crate::helpers::Backend::Embedded,
        Options {
            local_agents: false,
            llm: LlmConfig {
                providers: vec![claude, ollama],
                complexity_threshold: 3,
                extra_roots_pem: None,
            },
            ..Options::default()
        },
    )
    .await
}

async fn plan(app: &TestApp, text: &str, high_value: bool) -> Value {
    let (code, body) = app
        .post(
            "/requests",
            &json!({"text": text, "high_value": high_value}).to_string(),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    body
}

fn outcomes(view: &Value) -> Vec<String> {
    view["routing"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}:{}{}",
                a["provider"].as_str().unwrap(),
                a["outcome"].as_str().unwrap(),
                if a["repair"] == true { "(repair)" } else { "" }
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_model_plans_first_and_the_rules_decide_when_to_go_external() {
    let (local, external) = (MockModel::start().await, MockModel::start().await);
    let app = app_with(&local, &external, Some(10_000)).await;

    // Local first: the model's plan, validated, with Chiffon's own risk and estimates.
    local.push(openai(&kuma_plan().to_string(), "stop", 900, 120));
    let view = plan(&app, "put kuma up and wire in the portals", false).await;
    assert_eq!(view["plan"]["planner"], "llm:ollama/qwen2.5:14b", "{view}");
    assert_eq!(view["routing"]["reason_code"], "local_first");
    assert_eq!(view["routing"]["outcome"], "llm");
    assert_eq!(view["routing"]["tokens"], 1020);
    let steps = view["plan"]["steps"].as_array().unwrap();
    assert_eq!(steps[1]["depends_on"], json!(["s1"]));
    assert_eq!(steps[1]["limit"], "lola");
    assert_eq!(steps[0]["agent_type"], "infra");
    assert!(
        !view["plan"]["risk"]["reasons"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // What the local server was sent: the real structured-output request.
    let (_, sent) = local.seen().pop().unwrap();
    assert_eq!(sent["response_format"]["type"], "json_schema");
    let allowed = &sent["response_format"]["json_schema"]["schema"]["properties"]["steps"]["items"]
        ["properties"]["playbook"]["enum"];
    assert!(
        allowed
            .as_array()
            .unwrap()
            .contains(&json!("kuma-deployment.yml")),
        "{allowed}"
    );
    assert_eq!(sent["messages"][0]["role"], "system");

    // High-value: the external model first, with a forced tool call and the key in its header.
    external.push(anthropic(&kuma_plan()));
    let view = plan(&app, "deploy uptime kuma", true).await;
    assert_eq!(
        view["plan"]["planner"], "llm:claude/claude-sonnet-4-5",
        "{view}"
    );
    assert_eq!(view["routing"]["reason_code"], "high_value");
    let (headers, sent) = external.seen().pop().unwrap();
    assert_eq!(headers["x-api-key"], API_KEY);
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "tool", "name": "submit_plan"})
    );
    let cost = view["routing"]["cost_usd"].as_f64().unwrap();
    assert!(
        (cost - (1200.0 * 3.0 + 150.0 * 15.0) / 1e6).abs() < 1e-9,
        "{cost}"
    );

    // Complex: several services, an order and a condition.
    external.push(anthropic(&kuma_plan()));
    let view = plan(
        &app,
        "deploy kuma and jellyfin, then restart pihole only if it is down",
        false,
    )
    .await;
    assert_eq!(view["routing"]["reason_code"], "complex_request", "{view}");
    let reason = view["routing"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("condition") && reason.contains("services"),
        "{reason}"
    );

    // The local model's quota: 1,020 + 8,100 of 10,000 tokens used → below 20 % → external.
    local.push(openai(&kuma_plan().to_string(), "stop", 8_000, 100));
    plan(&app, "deploy kuma", false).await;
    external.push(anthropic(&kuma_plan()));
    let view = plan(&app, "deploy kuma", false).await;
    assert_eq!(view["routing"]["reason_code"], "local_quota_low", "{view}");
    assert!(
        view["routing"]["reason"].as_str().unwrap().contains("9 %"),
        "{view}"
    );
    let quota = view["routing"]["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["provider"] == "ollama")
        .unwrap();
    assert_eq!(quota["tokens_used"], 9_120);

    // Every decision, newest first, with its reason code.
    let (code, decisions) = app.get("/api/v1/llm/decisions?limit=10").await;
    assert_eq!(code, 200);
    let codes: Vec<&str> = decisions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reason_code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "local_quota_low",
            "local_first",
            "complex_request",
            "high_value",
            "local_first"
        ]
    );
    // The key is in no row, page or log line the database holds.
    assert!(!app.dump_database().await.contains(API_KEY));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_falls_back_cleanly_with_its_reason() {
    let (local, external) = (MockModel::start().await, MockModel::start().await);
    let app = app_with(&local, &external, None).await;
    let kuma = "deploy uptime kuma";

    // An unknown playbook, then a repaired answer: one repair round, told what was wrong.
    let mut bad = kuma_plan();
    bad["steps"][0]["playbook"] = json!("curl-pipe-bash.yml");
    local.push(openai(&bad.to_string(), "stop", 500, 80));
    local.push(openai(&kuma_plan().to_string(), "stop", 700, 80));
    let view = plan(&app, kuma, false).await;
    assert_eq!(
        outcomes(&view),
        ["ollama:invalid_plan", "ollama:ok(repair)"]
    );
    assert_eq!(view["plan"]["planner"], "llm:ollama/qwen2.5:14b");
    let (_, repair) = local.seen().pop().unwrap();
    let last = repair["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["content"]
            .as_str()
            .unwrap()
            .contains("\"curl-pipe-bash.yml\" is not a playbook"),
        "{last}"
    );

    // Wrong twice (a cycle, then not JSON at all): the rules plan, and say why.
    let mut cycle = kuma_plan();
    cycle["steps"][0]["depends_on"] = json!(["s2"]);
    local.push(openai(&cycle.to_string(), "stop", 500, 80));
    local.push(openai("{\"steps\": [ {\"id\": \"s1\", ", "stop", 500, 10));
    let view = plan(&app, kuma, false).await;
    assert_eq!(
        outcomes(&view),
        ["ollama:invalid_plan", "ollama:invalid_json(repair)"]
    );
    assert_eq!(view["plan"]["planner"], "deterministic");
    assert_eq!(view["routing"]["outcome"], "fallback");
    assert!(
        view["routing"]["fallback_reason"]
            .as_str()
            .unwrap()
            .contains("after one repair round"),
        "{view}"
    );
    assert_eq!(view["plan"]["steps"][0]["playbook"], "kuma-deployment.yml");

    // Truncated: no repair (it would be cut again); the rules plan.
    local.push(openai("{\"steps\": [", "length", 500, 1024));
    let view = plan(&app, kuma, false).await;
    assert_eq!(outcomes(&view), ["ollama:truncated"]);
    assert_eq!(view["plan"]["planner"], "deterministic");

    // 429 locally, then Anthropic overloaded (529): both told, the rules plan.
    local.push(answer(429, &json!({"error": {"message": "slow down"}})));
    external.push(answer(
        529,
        &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let view = plan(&app, kuma, false).await;
    assert_eq!(
        outcomes(&view),
        ["ollama:rate_limited", "claude:overloaded"]
    );
    assert_eq!(view["plan"]["planner"], "deterministic");
    assert!(
        view["routing"]["fallback_reason"]
            .as_str()
            .unwrap()
            .contains("overloaded")
    );

    // A local model too slow for its timeout: the external one answers.
    let mut slow = openai(&kuma_plan().to_string(), "stop", 500, 80);
    slow.delay = Duration::from_secs(4);
    local.push(slow);
    external.push(anthropic(&kuma_plan()));
    let view = plan(&app, kuma, false).await;
    assert_eq!(outcomes(&view), ["ollama:timeout", "claude:ok"]);
    assert_eq!(view["plan"]["planner"], "llm:claude/claude-sonnet-4-5");

    // An external answer without the tool call, and an error page: both refused cleanly.
    local.push(answer(500, &json!({"error": "boom"})));
    external.push(answer(200, &json!({"content": [{"type": "text", "text": "Sure! Here is a plan"}], "stop_reason": "end_turn", "usage": {"input_tokens": 10, "output_tokens": 5}}),
    ));
    let view = plan(&app, kuma, false).await;
    assert_eq!(
        outcomes(&view),
        ["ollama:server_error", "claude:invalid_response"]
    );
    assert_eq!(view["plan"]["planner"], "deterministic");
    app.stop().await;

    // A provider that is not there at all.
    let gone = MockModel {
        url: "http://127.0.0.1:9".to_owned(),
        ..MockModel::start().await
    };
    let app = app_with(&gone, &external, None).await;
    external.push(anthropic(&kuma_plan()));
    let view = plan(&app, kuma, false).await;
    assert_eq!(outcomes(&view), ["ollama:provider_down", "claude:ok"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modify_makes_a_new_version_that_approval_must_name() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app
            .request("deploy uptime kuma and add our existing portals to its config")
            .await;
        let (code, body) = app
            .post(
                &format!("/requests/{id}/modify"),
                r#"{"text": "also deploy jellyfin", "by": "alice"}"#,
            )
            .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["plan"]["version"], 2);
        let playbooks: Vec<&str> = body["plan"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["playbook"].as_str().unwrap())
            .collect();
        assert!(playbooks.contains(&"kuma-deployment.yml"), "{playbooks:?}");
        assert!(
            playbooks.iter().any(|p| p.starts_with("jellyfin")),
            "the change is planned with the original request: {playbooks:?}"
        );
        let modified = &body["decisions"].as_array().unwrap()[0];
        assert_eq!(modified["kind"], "modified");
        assert_eq!(modified["actor"], "alice");

        // Both versions are kept, each with what made it.
        let (_, versions) = app.get(&format!("/api/v1/requests/{id}/plans")).await;
        let versions = versions.as_array().unwrap();
        assert_eq!(versions.len(), 2);
        assert!(versions[0]["change"].is_null());
        assert_eq!(versions[1]["change"], "also deploy jellyfin");
        assert_eq!(versions[1]["plan"]["version"], 2);

        // Approving the version read before the change fails and says why; the new one runs.
        let (code, body) = app
            .post(&format!("/requests/{id}/approve"), r#"{"plan_version": 1}"#)
            .await;
        assert_eq!(code, 409, "{body}");
        assert_eq!(body["error"]["code"], "plan_version_mismatch");
        assert!(body["error"]["message"].as_str().unwrap().contains("v2"));
        for bad in [r#"{"text": "  "}"#, r#"{"txt": "x"}"#] {
            let (code, body) = app.post(&format!("/requests/{id}/modify"), bad).await;
            assert_eq!(code, 422, "{bad}: {body}");
        }
        let (code, body) = app
            .post(&format!("/requests/{id}/approve"), r#"{"plan_version": 2}"#)
            .await;
        assert_eq!(code, 202, "{body}");
        // Once approved, a plan is no longer changed.
        let (code, body) = app
            .post(
                &format!("/requests/{id}/modify"),
                r#"{"text": "skip jellyfin"}"#,
            )
            .await;
        assert_eq!(code, 409, "{body}");
        assert_eq!(body["error"]["code"], "invalid_state");
        let (_, done) = app.approve_and_wait_after_approval(&id).await;
        assert_eq!(done.request.plan.version, 2);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_lists_the_portals_and_modify_drops_some_before_they_are_monitored() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app
            .request("Deploy Kuma Uptime to homelab and add our existing portals to the config")
            .await;
        let view = app.client.get_request(&id).await.unwrap();
        let configure = &view.request.plan.steps[1];
        assert_eq!(
            configure.playbook.as_deref(),
            Some("kuma-config-update.yml")
        );
        assert!(configure.title.contains("6 portals"), "{}", configure.title);
        assert!(
            configure
                .details
                .iter()
                .any(|d| d == "Pi-hole (http://pi:80/admin/)"),
            "{:?}",
            configure.details
        );
        assert_eq!(
            configure.extra_vars["kuma_portals"]
                .as_array()
                .unwrap()
                .len(),
            6
        );

        let modified = app
            .client
            .modify(&id, "drop pihole and the traefik dashboard")
            .await
            .unwrap();
        let configure = &modified.request.plan.steps[1];
        assert!(configure.title.contains("4 portals"), "{}", configure.title);
        assert!(
            !configure.details.iter().any(|d| d.contains("Pi-hole")),
            "{:?}",
            configure.details
        );
        assert_eq!(configure.details.len(), 4, "{:?}", configure.details);
        assert_eq!(
            configure.extra_vars["kuma_portals"],
            json!(["home-assistant", "jellyfin", "ollama", "portainer"])
        );

        let (_, done) = app.approve_and_wait(&id).await;
        assert_eq!(
            done.request.status,
            chiffon::model::RequestStatus::Succeeded
        );
        let monitors = std::fs::read_to_string(
            app.homelab_root
                .join("lola/stacks/uptime-kuma/monitors.json"),
        )
        .unwrap();
        let monitors: Value = serde_json::from_str(&monitors).unwrap();
        let names: Vec<&str> = monitors["monitorList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(
            !names.contains(&"Pi-hole") && !names.contains(&"Traefik dashboard"),
            "{names:?}"
        );
        app.stop().await;
    }
}
