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

/// Every error code the handlers can answer with is in the description's `ErrorCode`.
#[test]
fn every_error_code_in_the_source_is_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("assets/openapi.json")).unwrap())
            .unwrap();
    let documented = spec["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    for file in ["src/orchestrator/api.rs", "src/orchestrator/ui.rs"] {
        let source = std::fs::read_to_string(root.join(file)).unwrap();
        // `ApiError::new(STATUS, "code", …)` and `(StatusCode::X, "code")` pairs.
        for chunk in source.split("StatusCode::").skip(1) {
            let after = chunk.trim_start_matches(|c: char| c.is_ascii_uppercase() || c == '_');
            let Some(rest) = after.trim_start().strip_prefix(',') else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix('"') else {
                continue;
            };
            let code = &rest[..rest.find('"').unwrap()];
            assert!(
                documented.iter().any(|c| c == code),
                "{file} answers with error code {code:?}, which assets/openapi.json's ErrorCode does not list"
            );
        }
    }
}
