//! Mapping a request to the unit that deploys it, over three repositories of different layouts:
//! the example homelab (a playbook per service at the top, compose stacks), `messy-homelab`
//! (nested roles, a playbook under `playbooks/` with `import_playbook`, an orphan role, a
//! docker-compose file) and `toggle-homelab` (one site.yml including per-service task files
//! behind `<app>_enabled` toggles and tags, compose files as Jinja templates). Each case names
//! the expected verdict and top candidate; the test prints top-1 accuracy and none-detection.

use std::path::{Path, PathBuf};

use crate::helpers::TestApp;

fn repo(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match name {
        "example" => root.join("examples/homelab-infra"),
        other => root.join("tests/fixtures").join(other),
    }
}

/// (repository, request, expected top path, or "none" / "ambiguous").
const CASES: &[(&str, &str, &str)] = &[
    // example: one playbook per service
    ("example", "deploy uptime kuma", "kuma-deployment.yml"),
    ("example", "set up the status page", "kuma-deployment.yml"),
    (
        "example",
        "install an uptime monitor",
        "kuma-deployment.yml",
    ),
    (
        "example",
        "add our portals to the kuma config",
        "kuma-config-update.yml",
    ),
    ("example", "deploy jelyfin", "jellyfin-deployment.yml"),
    (
        "example",
        "install portaner on lola",
        "portainer-deployment.yml",
    ),
    (
        "example",
        "deploy home assistant",
        "home-assistant-deployment.yml",
    ),
    (
        "example",
        "install homeassistant",
        "home-assistant-deployment.yml",
    ),
    (
        "example",
        "set up home_assistant",
        "home-assistant-deployment.yml",
    ),
    ("example", "deploy hass", "home-assistant-deployment.yml"),
    ("example", "deploy pi-hole", "pihole-deployment.yml"),
    (
        "example",
        "put an ad blocker on the network",
        "pihole-deployment.yml",
    ),
    (
        "example",
        "deploy the reverse proxy",
        "traefik-deployment.yml",
    ),
    ("example", "install traefick", "traefik-deployment.yml"),
    (
        "example",
        "run a local llm on the gpu desktop",
        "ollama-deployment.yml",
    ),
    (
        "example",
        "deploy the media server",
        "jellyfin-deployment.yml",
    ),
    ("example", "deploy nextcloud", "none"),
    ("example", "install mastodon", "none"),
    ("example", "make me a sandwich", "none"),
    // messy-homelab: nested roles, orphan role, compose only
    ("messy-homelab", "deploy jellyfin", "roles/media/jellyfin"),
    ("messy-homelab", "install jellyfn", "roles/media/jellyfin"),
    (
        "messy-homelab",
        "set up uptime kuma",
        "roles/monitoring/uptime_kuma",
    ),
    (
        "messy-homelab",
        "deploy the status page",
        "roles/monitoring/uptime_kuma",
    ),
    (
        "messy-homelab",
        "install uptime-kuma",
        "roles/monitoring/uptime_kuma",
    ),
    ("messy-homelab", "deploy plex", "roles/orphans/plex"),
    (
        "messy-homelab",
        "deploy gitea",
        "stacks/gitea/docker-compose.yml",
    ),
    (
        "messy-homelab",
        "set up a git server",
        "stacks/gitea/docker-compose.yml",
    ),
    ("messy-homelab", "deploy the media server", "ambiguous"),
    ("messy-homelab", "deploy grafana", "none"),
    ("messy-homelab", "install vaultwarden", "none"),
    // toggle-homelab: one playbook, per-service task files behind toggles
    ("toggle-homelab", "deploy nextcloud", "tasks/nextcloud.yml"),
    (
        "toggle-homelab",
        "install next cloud",
        "tasks/nextcloud.yml",
    ),
    (
        "toggle-homelab",
        "set up a password manager",
        "tasks/vaultwarden.yml",
    ),
    (
        "toggle-homelab",
        "deploy bitwarden",
        "tasks/vaultwarden.yml",
    ),
    (
        "toggle-homelab",
        "install vaultwarden",
        "tasks/vaultwarden.yml",
    ),
    (
        "toggle-homelab",
        "deploy grafana dashboards",
        "tasks/grafana.yml",
    ),
    ("toggle-homelab", "install grafna", "tasks/grafana.yml"),
    (
        "toggle-homelab",
        "deploy adguard home",
        "tasks/adguard_home.yml",
    ),
    (
        "toggle-homelab",
        "install adguard",
        "tasks/adguard_home.yml",
    ),
    ("toggle-homelab", "deploy jellyfin", "none"),
    ("toggle-homelab", "deploy uptime kuma", "none"),
    ("toggle-homelab", "install pihole", "none"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_map_to_the_unit_that_deploys_them() {
    let mut wrong = Vec::new();
    let (mut matches, mut matched_right, mut nones, mut nones_right) = (0, 0, 0, 0);
    for (name, text, expected) in CASES {
        let units = chiffon::matcher::units(&repo(name));
        let found = chiffon::matcher::find(&units, text);
        let got = match found.verdict.as_str() {
            "match" => found.candidates[0].unit.path.clone(),
            other => other.to_owned(),
        };
        if *expected == "none" {
            nones += 1;
            nones_right += usize::from(got == "none");
        } else {
            matches += 1;
            matched_right += usize::from(got == *expected);
        }
        if got != *expected {
            wrong.push(format!("{name}: {text:?} → {got} (expected {expected})"));
        }
        for candidate in &found.candidates {
            assert!((0.0..=1.0).contains(&candidate.score), "{candidate:?}");
            assert!(!candidate.why.is_empty());
        }
    }
    eprintln!(
        "top-1 accuracy {matched_right}/{matches}, none-detection {nones_right}/{nones}, over {} requests and 3 repositories",
        CASES.len()
    );
    assert!(CASES.len() >= 40);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_shows_how_to_run_what_it_found() {
    // A toggled task file runs through its playbook, with its tag and its switch on.
    let units = chiffon::matcher::units(&repo("toggle-homelab"));
    let found = chiffon::matcher::find(&units, "deploy vaultwarden");
    let entry = found.candidates[0].unit.entrypoint.clone().unwrap();
    assert_eq!(entry.playbook, "site.yml");
    assert_eq!(entry.tags, ["vaultwarden"]);
    assert_eq!(entry.extra_vars["vaultwarden_enabled"], true);
    // A role reached through a playbook in playbooks/ keeps that playbook and its tags; an
    // orphan role has no entrypoint.
    let units = chiffon::matcher::units(&repo("messy-homelab"));
    let kuma = units.iter().find(|u| u.service == "uptime_kuma").unwrap();
    let entry = kuma.entrypoint.clone().unwrap();
    assert_eq!(
        (entry.playbook.as_str(), entry.tags.as_slice()),
        ("playbooks/monitoring.yml", &["uptime-kuma".to_owned()][..])
    );
    assert!(
        units
            .iter()
            .find(|u| u.service == "plex")
            .unwrap()
            .entrypoint
            .is_none()
    );
    // What each unit deploys and where it is reached from.
    let gitea = units.iter().find(|u| u.service == "gitea").unwrap();
    assert_eq!(gitea.images, ["gitea/gitea:latest"]);
    assert_eq!(gitea.ports, ["3000:3000"]);
    assert_eq!(gitea.files, ["stacks/gitea/docker-compose.yml"]);
    assert_eq!(entry.hosts, "monitoring");
    assert!(
        kuma.files
            .contains(&"roles/monitoring/uptime_kuma/tasks/main.yml".to_owned())
    );

    // The CLI's JSON is the documented shape.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args(["playbooks", "match", "--json", "--playbooks"])
        .arg(repo("example"))
        .arg("install portaner")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["verdict"], "match");
    let top = &json["candidates"][0];
    assert_eq!(top["path"], "portainer-deployment.yml");
    assert_eq!(top["kind"], "playbook");
    assert_eq!(top["entrypoint"]["playbook"], "portainer-deployment.yml");
    assert!(top["why"].as_str().unwrap().contains("typo"));

    // And the API, on the served repository.
    let app = TestApp::spawn_on(crate::helpers::Backend::Embedded).await;
    let (code, body) = app.get("/api/v1/playbooks/match?q=deploy%20mastodon").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["verdict"], "none");
    assert!(
        body["advice"]
            .as_str()
            .unwrap()
            .contains("custom playbook needed")
    );
    let (code, _) = app.get("/api/v1/playbooks/match?q=").await;
    assert_eq!(code, 400);
    // The catalogue, as the planner and the scan see it.
    let (code, body) = app.get("/api/v1/playbooks").await;
    assert_eq!(code, 200);
    assert!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["path"] == "kuma-deployment.yml")
    );
    let units = body["units"].as_array().unwrap();
    assert!(
        units
            .iter()
            .any(|u| u["kind"] == "role" && u["path"] == "roles/compose_stack"),
        "{body}"
    );
    assert!(body["problems"].as_array().unwrap().is_empty(), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_encrypted_files_are_reported_not_fatal() {
    let scan = chiffon::matcher::scan(&repo("toggle-homelab"));
    assert_eq!(scan.problems.len(), 1, "{:?}", scan.problems);
    let problem = &scan.problems[0];
    assert_eq!(problem.file, "tasks/broken.yml");
    assert!((4..=6).contains(&problem.line), "{problem:?}");
    assert!(!problem.message.is_empty());
    assert_eq!(scan.encrypted, ["secrets/vault.yml"]);
    // The scan went on: every service is still there.
    assert_eq!(
        scan.units
            .iter()
            .filter(|u| u.kind == chiffon::matcher::UnitKind::Tasks)
            .count(),
        4
    );
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args(["playbooks", "list", "--playbooks"])
        .arg(repo("toggle-homelab"))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(text.contains("cannot read tasks/broken.yml:"), "{text}");
    assert!(
        text.contains("secrets/vault.yml: vault-encrypted, not opened"),
        "{text}"
    );
}

/// The planner uses the same reading of the repository: a service that only a toggled task
/// file deploys is planned as its playbook with the unit's tag and switch (the title names the
/// file that defines it and the playbook that reaches it), and only it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planner_deploys_a_service_through_its_toggled_task_file() {
    for backend in crate::helpers::backends() {
        eprintln!("scenario on {backend:?}");
        let app = TestApp::spawn_with(
            backend,
            crate::helpers::Options {
                playbooks: Some(repo("toggle-homelab")),
                ..Default::default()
            },
        )
        .await;
        // Grafana is switched off in site.yml: the plan switches it on for this run only.
        let id = app.request("deploy grafana").await;
        let view = app.client.get_request(&id).await.unwrap();
        let step = &view.request.plan.steps[0];
        assert_eq!(step.playbook.as_deref(), Some("site.yml"));
        assert_eq!(step.tags, ["grafana"]);
        assert_eq!(step.extra_vars["grafana_enabled"], true);
        assert!(
            step.title
                .contains("templates/grafana-compose.yml.j2 via site.yml"),
            "{}",
            step.title
        );
        let (_, done) = app.approve_and_wait(&id).await;
        assert_eq!(
            done.request.status,
            chiffon::model::RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );
        // Only Grafana was deployed, not the services switched on by default.
        assert_eq!(app.rendered_files(), ["box/grafana/compose.yml"]);
        app.stop().await;
    }
}
