//! The first hour of a new owner on the example homelab: every example the home page offers
//! plans into something approvable, and the Playbooks finder answers exactly as a request's
//! plan does (one code path, `planner::finder`).

use serde_json::Value;

use crate::helpers::{Backend, TestApp};

/// The examples the home page offers, read from the page's own source (`EXAMPLES` in
/// `assets/ui/chat.js`), so a new example is checked the day it is added.
fn home_page_examples() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join("assets/ui/chat.js")).unwrap();
    let start = source
        .find("const EXAMPLES = [")
        .expect("chat.js lists its EXAMPLES");
    let list = &source[start..];
    let list = &list[..list.find("];").unwrap()];
    let examples: Vec<String> = list
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(examples.len() >= 2, "{examples:?}");
    examples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_on_the_home_page_plans_into_an_approvable_plan() {
    let app = TestApp::spawn_on(Backend::Embedded).await;
    for example in home_page_examples() {
        let view = app.client.create_request(&example, false).await.unwrap();
        let plan = &view.request.plan;
        assert!(
            !plan.steps.is_empty(),
            "{example:?} planned no step: {plan:?}"
        );
        assert!(
            plan.open_questions.is_empty(),
            "{example:?} asks: {:?}",
            plan.open_questions
        );
        assert!(
            plan.steps.iter().all(|s| s.playbook.is_some()),
            "{example:?}: {plan:?}"
        );
        // Approvable: the approval is taken and the plan runs to its end.
        let (_, done) = app.approve_and_wait(view.request.id.as_str()).await;
        assert!(done.request.status.is_terminal(), "{example:?}: {done:?}");
    }
}

/// Texts a new owner types in either place: named services, nicknames, typos, verbs with and
/// without a playbook named after them, and services the repository does not have.
const TEXTS: &[&str] = &[
    "Restart Jellyfin",
    "restart traefik",
    "deploy uptime kuma",
    "set up the status page",
    "install portaner",
    "Deploy Pi-hole",
    "upgrade pihole",
    "stop home assistant",
    "deploy ollama",
    "deploy mastodon",
    "make it faster",
];

/// The playbooks a plan runs, in order.
fn planned(view: &Value) -> Vec<String> {
    view["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["playbook"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playbooks_finder_and_the_planner_give_the_same_answer_for_the_same_text() {
    let app = TestApp::spawn_on(Backend::Embedded).await;
    for text in TEXTS {
        let (code, plan) = app
            .post(
                "/requests",
                &serde_json::json!({ "text": text }).to_string(),
            )
            .await;
        assert_eq!(code, 201, "{text}: {plan}");
        let query: String = url_encode(text);
        let (code, found) = app.get(&format!("/api/v1/playbooks/match?q={query}")).await;
        assert_eq!(code, 200, "{text}: {found}");
        let runs = planned(&plan);
        let offered: Vec<String> = found["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["entrypoint"]["playbook"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            offered, runs,
            "{text}: the finder says {found}, the plan {plan}"
        );
        let questions = plan["plan"]["open_questions"].as_array().unwrap();
        let verdict = found["verdict"].as_str().unwrap();
        match (runs.is_empty(), questions.is_empty()) {
            (false, true) => assert_eq!(verdict, "match", "{text}: {found}"),
            (false, false) => assert_eq!(verdict, "ambiguous", "{text}: {found}"),
            (true, _) => {
                assert!(matches!(verdict, "none" | "ambiguous"), "{text}: {found}");
                // The finder's advice is the plan's question, word for word.
                let advice = found["advice"].as_str().unwrap();
                for question in questions {
                    assert!(
                        advice.contains(question.as_str().unwrap()),
                        "{text}: {advice}"
                    );
                }
            }
        }
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
