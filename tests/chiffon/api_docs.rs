//! The API describes itself: `/openapi.json` lists every route the server answers, and `/docs`
//! renders it offline.

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let (status, spec) = app.get("/openapi.json").await;
        assert_eq!(status, 200);
        assert_eq!(app.get("/api/v1/openapi.json").await.1, spec);
        let paths = spec["paths"].as_object().expect("paths");
        assert!(paths.len() >= 10, "{}", paths.len());
        for (path, operations) in paths {
            let concrete = path
                .replace("{id}", "req_0000000000000000000000000000dead")
                .replace("/tasks/req_", "/tasks/task_");
            for method in operations.as_object().unwrap().keys() {
                let url = format!("{}{concrete}", app.address);
                let response = match method.as_str() {
                    "get" if path.ends_with("/ws") => continue, // needs an upgrade; covered by the loop tests
                    "get" => app.http.get(&url).send().await.unwrap(),
                    "post" => app
                        .http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body("{}")
                        .send()
                        .await
                        .unwrap(),
                    other => panic!("unexpected method {other} in the spec"),
                };
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                assert_ne!(status, 405, "{method} {path} is documented but not routed");
                assert_ne!(
                    body["error"]["code"], "unknown_route",
                    "{method} {path} is documented but not routed"
                );
            }
        }
        let page = app
            .http
            .get(format!("{}/docs", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("openapi.json"));
        assert!(
            !html.contains("https://"),
            "the docs page must work offline"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_each_component() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let (status, health) = app.get("/api/v1/health").await;
        assert_eq!(status, 200, "{health}");
        for component in ["store", "bus", "audit", "agents"] {
            assert_eq!(
                health["components"][component]["status"], "ok",
                "{component}: {health}"
            );
        }
        assert_eq!(health["components"]["agents"]["online"], 2);
        // Capacity arrives with the first heartbeat, which may trail the hello a little.
        let mut agents = serde_json::Value::Null;
        for _ in 0..100 {
            agents = app.get("/api/v1/agents").await.1;
            let reported = agents["items"]
                .as_array()
                .is_some_and(|items| items.iter().all(|a| a["capacity"].is_object()));
            if reported {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let types: Vec<&str> = agents["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["type"].as_str().unwrap())
            .collect();
        assert!(
            types.contains(&"infra") && types.contains(&"desktop"),
            "{agents}"
        );
        let desktop = agents["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["type"] == "desktop")
            .unwrap();
        assert!(
            desktop["capacity"]["cpu_cores"].as_u64().unwrap() >= 1,
            "{desktop}"
        );
    }
}

/// Every error answer the API fuzzer (tests/api-fuzz) found undocumented: its status is listed
/// for its operation and its code is in `ErrorCode`, so a client generated from the description
/// can read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_answers_match_the_description() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let (_, spec) = app.get("/openapi.json").await;
        let codes: Vec<&str> = spec["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let check = |path: &str, status: u16, answer: &serde_json::Value, what: &str| {
            let operation = &spec["paths"][path]["post"];
            let operation = if operation.is_null() {
                &spec["paths"][path]["get"]
            } else {
                operation
            };
            assert!(
                operation["responses"][status.to_string()].is_object(),
                "{path} answered {status} to {what}, which its description does not list: {answer}"
            );
            let code = answer["error"]["code"].as_str().unwrap_or_default();
            assert!(
                codes.contains(&code),
                "{path} answered code {code:?} to {what}, which ErrorCode does not list"
            );
        };

        // Every body the server reads, sent wrong in each way the body readers refuse.
        let dead = "req_0000000000000000000000000000dead";
        for (path, operations) in spec["paths"].as_object().unwrap() {
            let Some(operation) = operations.get("post") else {
                continue;
            };
            if operation.get("requestBody").is_none() {
                continue;
            }
            let url = format!(
                "{}{}",
                app.address,
                path.replace("{id}", dead)
                    .replace("/tasks/req_", "/tasks/task_")
                    .replace("/suggestions/req_", "/suggestions/s")
            );
            let required = operation["requestBody"]["required"] == true;
            let mut cases: Vec<(&str, Option<&str>, String)> = vec![
                (
                    "malformed JSON",
                    Some("application/json"),
                    "{\"text\": ".into(),
                ),
                ("a JSON array", Some("application/json"), "[1]".into()),
                (
                    "an unknown field",
                    Some("application/json"),
                    r#"{"no_such_field": 1}"#.into(),
                ),
                (
                    "a huge body",
                    Some("application/json"),
                    format!(r#"{{"text": "{}"}}"#, "x".repeat(100 * 1024)),
                ),
            ];
            if required {
                cases.push(("no content type", None, "{}".into()));
            }
            for (what, content_type, body) in cases {
                let mut request = app.http.post(&url).body(body);
                if let Some(content_type) = content_type {
                    request = request.header("content-type", content_type);
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let answer: serde_json::Value = response.json().await.unwrap_or_default();
                assert!((400..500).contains(&status), "{path}: {what}: {status}");
                check(path, status, &answer, what);
            }
        }

        // Refusals with codes of their own.
        let (status, answer) = app.get("/api/v1/agents/nobody/capacity").await;
        assert_eq!(status, 404);
        check(
            "/api/v1/agents/{id}/capacity",
            status,
            &answer,
            "an unknown agent",
        );
        let (status, answer) = app.post("/suggestions/s0/apply", "").await;
        assert_eq!(status, 404);
        check(
            "/api/v1/suggestions/{id}/apply",
            status,
            &answer,
            "an unknown suggestion",
        );
        let (status, answer) = app
            .post(
                "/playbooks/templates",
                r#"{"service": "kuma", "image": ""}"#,
            )
            .await;
        assert_eq!(status, 422);
        check(
            "/api/v1/playbooks/templates",
            status,
            &answer,
            "an unpinned image",
        );
        let (status, request) = app
            .post("/requests", r#"{"text": "make me a sandwich"}"#)
            .await;
        assert_eq!(status, 201, "{request}");
        let id = request["id"].as_str().unwrap();
        let (status, answer) = app.post(&format!("/requests/{id}/preview"), "").await;
        assert_eq!(status, 409);
        check(
            "/api/v1/requests/{id}/preview",
            status,
            &answer,
            "a plan with questions",
        );
    }
}

/// The description's schemas and the `api` types they describe have the same property names and
/// the same required fields, so the documentation and the code cannot drift apart. Answers are
/// compared with what the server writes (every field it always sends is required), bodies with
/// what it reads (every field it cannot do without is required).
#[test]
fn the_described_answers_match_the_api_types() {
    use chiffon::api;
    use chiffon::model;
    let spec = description();
    let answer = |name: &str| Described::component(&spec, name);
    let mut drift = Vec::new();
    let mut check = |what: &str, described: Described, code: Described| {
        compare(&mut drift, what, &described, &code);
    };
    check("Request", answer("Request"), written::<model::Request>());
    check("Plan", answer("Plan"), written::<model::Plan>());
    check("Question", answer("Question"), written::<model::Question>());
    check("Choice", answer("Choice"), written::<model::Choice>());
    check(
        "TemplateOffer",
        answer("TemplateOffer"),
        written::<model::TemplateOffer>(),
    );
    check("Step", answer("Step"), written::<model::Step>());
    check("Risk", answer("Risk"), written::<model::Risk>());
    check(
        "Resources",
        answer("Resources"),
        written::<model::Resources>(),
    );
    check(
        "HostCounts",
        answer("HostCounts"),
        written::<model::HostCounts>(),
    );
    check("Task", answer("Task"), written::<model::Task>());
    check(
        "TaskEvent",
        answer("TaskEvent"),
        written::<model::TaskEvent>(),
    );
    check(
        "ExecEvent",
        answer("ExecEvent"),
        written::<model::ExecEvent>(),
    );
    check(
        "RequestView",
        answer("RequestView"),
        written::<api::RequestView>(),
    );
    check("TaskView", answer("TaskView"), written::<api::TaskView>());
    check(
        "Capacity",
        answer("Capacity"),
        written::<chiffon::protocol::Capacity>(),
    );
    check("Gpu", answer("Gpu"), written::<chiffon::protocol::Gpu>());
    check("Agent", answer("Agent"), written::<api::AgentView>());
    check("Playbook", answer("Playbook"), written::<api::Playbook>());
    check(
        "RequestPage",
        answer("RequestPage"),
        written::<api::Page<api::RequestSummary>>(),
    );
    check(
        "TaskPage",
        answer("TaskPage"),
        written::<api::Page<model::Task>>(),
    );
    check(
        "AgentPage",
        answer("AgentPage"),
        written::<api::Page<api::AgentView>>(),
    );
    check(
        "PlaybookPage",
        answer("PlaybookPage"),
        written::<api::PlaybooksView>(),
    );
    check("Health", answer("Health"), written::<api::Health>());
    check(
        "StatusCounts",
        answer("StatusCounts"),
        written::<api::StatusCounts>(),
    );
    check(
        "AuditEntry",
        answer("AuditEntry"),
        written::<api::AuditView>(),
    );
    check(
        "LlmDecision",
        answer("LlmDecision"),
        written::<model::decision::Decision>(),
    );
    check("Error", answer("Error"), written::<api::ErrorBody>());
    check(
        "TaskChanges",
        answer("TaskChanges"),
        written::<api::TaskChanges>(),
    );
    check(
        "ChangeView",
        answer("ChangeView"),
        written::<api::ChangeView>(),
    );
    check(
        "ResourceState",
        answer("ResourceState"),
        written::<model::change::ResourceState>(),
    );
    check(
        "Suggestions",
        answer("Suggestions"),
        written::<api::Suggestions>(),
    );
    check(
        "SuggestionGroup",
        answer("SuggestionGroup"),
        written::<api::SuggestionGroup>(),
    );
    check(
        "Suggestion",
        answer("Suggestion"),
        written::<api::Suggestion>(),
    );
    check("LintNote", answer("LintNote"), written::<api::LintNote>());
    check("Applied", answer("Applied"), written::<api::Applied>());
    let answered = |path: &str, method: &str| {
        Described::of(
            &spec,
            &spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"],
        )
    };
    let plans = &spec["paths"]["/api/v1/requests/{id}/plans"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"]["items"];
    check(
        "plan versions",
        Described::of(&spec, plans),
        written::<api::PlanVersion>(),
    );
    check(
        "LLM decisions",
        answered("/api/v1/llm/decisions", "get"),
        written::<api::Page<model::decision::Decision>>(),
    );
    assert_agree(&drift);
}

/// The bodies the server reads, as described and as `api` declares them.
#[test]
fn the_described_bodies_match_the_api_types() {
    use chiffon::api;
    let spec = description();
    let mut drift = Vec::new();
    let body = |path: &str| {
        Described::of(
            &spec,
            &spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"],
        )
    };
    for (what, path, code) in [
        ("NewRequest", "/api/v1/requests", read::<api::NewRequest>()),
        (
            "Approval",
            "/api/v1/requests/{id}/approve",
            read::<api::Approval>(),
        ),
        (
            "Rejection",
            "/api/v1/requests/{id}/reject",
            read::<api::Rejection>(),
        ),
        (
            "modify body",
            "/api/v1/requests/{id}/modify",
            read::<api::Modification>(),
        ),
        (
            "abort body",
            "/api/v1/requests/{id}/abort",
            read::<api::Abort>(),
        ),
        (
            "annotation body",
            "/api/v1/tasks/{id}/annotations",
            read::<api::NewAnnotation>(),
        ),
        (
            "template body",
            "/api/v1/playbooks/templates",
            read::<api::TemplateRequest>(),
        ),
        (
            "revert body",
            "/api/v1/requests/{id}/revert",
            read::<api::RevertBody>(),
        ),
        (
            "apply body",
            "/api/v1/suggestions/{id}/apply",
            read::<api::ApplySuggestion>(),
        ),
        (
            "answer body",
            "/api/v1/requests/{id}/answer",
            read::<api::Answer>(),
        ),
    ] {
        compare(&mut drift, what, &body(path), &code);
    }
    assert_agree(&drift);
}

/// Each live event is one variant of `LiveEvent`, told apart by `type`; the error codes are
/// the same set in the description and in `ErrorCode`.
#[test]
fn the_described_live_events_and_error_codes_match_the_api_types() {
    let spec = description();
    let mut drift = Vec::new();
    let live = code_schema::<chiffon::api::LiveEvent>(true);
    for (name, kind) in [
        ("LiveRequestEvent", "request"),
        ("LiveTaskEvent", "task"),
        ("LiveExecutionEvent", "execution"),
        ("LiveAgentEvent", "agent"),
        ("LiveQueueEvent", "queue"),
        ("LiveLaggedEvent", "lagged"),
    ] {
        let variant = live["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["properties"]["type"]["const"] == kind)
            .unwrap_or_else(|| panic!("LiveEvent has no {kind} variant"));
        let described = Described::component(&spec, name);
        compare(&mut drift, name, &described, &Described::of(&live, variant));
    }
    let codes = |schema: &serde_json::Value| {
        let mut codes: Vec<String> = schema["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("ErrorCode's schema should be a plain enum: {schema}"))
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        codes.sort();
        codes
    };
    let described_codes = codes(&spec["components"]["schemas"]["ErrorCode"]);
    let code_codes = codes(&code_schema::<chiffon::api::ErrorCode>(true));
    if described_codes != code_codes {
        drift.push(format!(
            "ErrorCode: the description has {described_codes:?}, the code has {code_codes:?}"
        ));
    }
    assert_agree(&drift);
}

fn description() -> serde_json::Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(root.join("assets/openapi.json")).unwrap())
        .unwrap()
}

fn compare(drift: &mut Vec<String>, what: &str, described: &Described, code: &Described) {
    if described != code {
        drift.push(format!(
            "{what}: the description has {described:?}, the code has {code:?}"
        ));
    }
}

fn assert_agree(drift: &[String]) {
    assert!(
        drift.is_empty(),
        "assets/openapi.json and src/api disagree:\n{}",
        drift.join("\n")
    );
}

/// A schema's property names and required fields.
#[derive(Debug, PartialEq)]
struct Described {
    properties: std::collections::BTreeSet<String>,
    required: std::collections::BTreeSet<String>,
}

impl Described {
    fn component(spec: &serde_json::Value, name: &str) -> Self {
        let schema = &spec["components"]["schemas"][name];
        assert!(
            schema.is_object(),
            "assets/openapi.json has no schema {name}"
        );
        Self::of(spec, schema)
    }

    /// Follows `$ref`s (to `#/components/schemas/` or `#/$defs/` of `root`) and merges `allOf`.
    fn of(root: &serde_json::Value, schema: &serde_json::Value) -> Self {
        let mut described = Self {
            properties: Default::default(),
            required: Default::default(),
        };
        described.add(root, schema);
        described
    }

    fn add(&mut self, root: &serde_json::Value, schema: &serde_json::Value) {
        if let Some(target) = schema["$ref"].as_str() {
            let path = target.trim_start_matches('#');
            let resolved = root.pointer(path).unwrap_or_else(|| panic!("no {target}"));
            self.add(root, resolved);
        }
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.add(root, part);
        }
        if let Some(properties) = schema["properties"].as_object() {
            self.properties.extend(properties.keys().cloned());
        }
        for name in schema["required"].as_array().into_iter().flatten() {
            self.required.insert(name.as_str().unwrap().to_owned());
        }
    }
}

fn code_schema<T: schemars::JsonSchema>(written: bool) -> serde_json::Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12();
    let settings = if written {
        settings.for_serialize()
    } else {
        settings.for_deserialize()
    };
    serde_json::to_value(settings.into_generator().into_root_schema_for::<T>()).unwrap()
}

/// What the server writes of `T`: every field it always sends is required.
fn written<T: schemars::JsonSchema>() -> Described {
    let schema = code_schema::<T>(true);
    Described::of(&schema, &schema)
}

/// What the server reads into `T`: only the fields it cannot do without are required.
fn read<T: schemars::JsonSchema>() -> Described {
    let schema = code_schema::<T>(false);
    Described::of(&schema, &schema)
}
