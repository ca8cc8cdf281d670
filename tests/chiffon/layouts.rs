//! Every verb on every layout family: small repositories written for these tests under
//! `tests/fixtures/layouts/<family>/`, one per layout found in real homelab repositories. Each
//! request is resolved against the discovered repository and compared, in a compact form, with
//! what the repository's owner would run; the built-in action playbooks run for real in check
//! mode, and the planner turns a resolved request into an approvable step.

use std::path::{Path, PathBuf};

use chiffon::discovery::{Pin, Repository, UnitKind};
use chiffon::resolve::{Answer, resolve};

fn family(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/layouts")
        .join(name)
}

/// One line a person can read: what Chiffon would run.
fn compact(repository: &Repository, text: &str) -> String {
    let resolution = resolve(repository, text);
    let service = resolution.service.unwrap_or_else(|| "-".to_owned());
    match resolution.answer {
        Answer::Entrypoint {
            playbook,
            tags,
            extra_vars,
            limit,
            pin,
            config,
            ..
        } => {
            let mut line = format!("{service}: run {playbook}");
            if !tags.is_empty() {
                line.push_str(&format!(" --tags {}", tags.join(",")));
            }
            for (key, value) in extra_vars {
                line.push_str(&format!(" -e {key}={value}"));
            }
            if let Some(limit) = limit {
                line.push_str(&format!(" --limit {limit}"));
            }
            match pin {
                Some(Pin::Var { file, var, .. }) => {
                    line.push_str(&format!(" [pin {var} in {file}]"));
                }
                Some(Pin::Latest) => line.push_str(" [re-pull latest]"),
                None => {}
            }
            if let Some(config) = config {
                line.push_str(&format!(" [config {config}]"));
            }
            line
        }
        Answer::Builtin {
            action,
            unit,
            name,
            hosts,
        } => {
            let kind = match unit {
                UnitKind::Compose => "compose",
                UnitKind::Container => "container",
                UnitKind::Systemd => "systemd",
            };
            format!(
                "{service}: builtin {} {kind} {name} on {}",
                action.as_str(),
                hosts.join(",")
            )
        }
        Answer::None { reason, .. } => format!("{service}: none ({reason})"),
        Answer::Question { choices, .. } => format!("question: {}", choices.join(" | ")),
    }
}

fn check(name: &str, cases: &[(&str, &str)]) {
    let repository = Repository::discover(&family(name));
    let mut wrong = Vec::new();
    for (text, want) in cases {
        let got = compact(&repository, text);
        if got != *want {
            wrong.push(format!("{text:?}\n    want {want}\n    got  {got}"));
        }
    }
    assert!(wrong.is_empty(), "{name}:\n  {}", wrong.join("\n  "));
}

#[test]
fn a_subfolder_project_with_nested_roles_resolves_every_verb() {
    check(
        "subfolder-project",
        &[
            (
                "deploy jellyfin",
                "jellyfin: run ansible/playbooks/media.yml --tags jellyfin",
            ),
            (
                "redeploy jellyfin on the media box",
                "jellyfin: run ansible/playbooks/media.yml --tags jellyfin --limit media",
            ),
            (
                "upgrade jellyfin",
                "jellyfin: run ansible/playbooks/media.yml --tags jellyfin [pin jellyfin_version in ansible/roles/apps/jellyfin/defaults/main.yml]",
            ),
            (
                "change the port jellyfin listens on",
                "jellyfin: run ansible/playbooks/media.yml --tags jellyfin [config ansible/roles/apps/jellyfin/defaults/main.yml]",
            ),
            (
                "restart jellyfin",
                "jellyfin: builtin restart compose jellyfin on media",
            ),
            (
                "stop our git server",
                "gitea: builtin stop compose gitea on dev",
            ),
            ("start gitea", "gitea: builtin start compose gitea on dev"),
            (
                "is jelyfin up?",
                "jellyfin: builtin status compose jellyfin on media",
            ),
            ("gitea logs", "gitea: builtin logs compose gitea on dev"),
            ("remove gitea", "gitea: builtin remove compose gitea on dev"),
            ("install vaultwarden", "vaultwarden: none (absent)"),
        ],
    );
}

#[test]
fn one_role_with_a_task_file_per_app_resolves_every_verb() {
    check(
        "single-role",
        &[
            ("deploy mealie", "mealie: run site.yml --tags containers"),
            (
                "bump pihole to the newest release",
                "pihole: run site.yml --tags containers [pin pihole_service.image in roles/containers/tasks/pihole.yml]",
            ),
            (
                "turn off the ad blocker for a bit",
                "pihole: builtin stop container pihole on home_server",
            ),
            (
                "start the ad blocker",
                "pihole: builtin start container pihole on home_server",
            ),
            (
                "is the recipe app up?",
                "mealie: builtin status container mealie on home_server",
            ),
            (
                "restart mealie",
                "mealie: builtin restart container mealie on home_server",
            ),
            (
                "postgres logs",
                "postgresql: builtin logs container postgres on home_server",
            ),
            (
                "remove mealie",
                "mealie: builtin remove container mealie on home_server",
            ),
            (
                "change the mealie settings",
                "mealie: run site.yml --tags containers [config roles/containers/tasks/mealie.yml]",
            ),
            ("bring vikunja back", "vikunja: none (unwired)"),
        ],
    );
}

#[test]
fn per_app_playbooks_with_install_and_upgrade_tags_resolve_every_verb() {
    check(
        "per-app-playbooks",
        &[
            (
                "install paperless",
                "paperless-ngx: run playbooks/paperless/main.yaml --tags install",
            ),
            (
                "upgrade grafana",
                "grafana: run playbooks/grafana/main.yaml --tags upgrade [re-pull latest]",
            ),
            (
                "is paperless up?",
                "paperless-ngx: builtin status compose paperless on paperless",
            ),
            (
                "grafana logs",
                "grafana: builtin logs compose grafana on grafana",
            ),
            (
                "restart grafana",
                "grafana: builtin restart compose grafana on grafana",
            ),
            (
                "stop paperles",
                "paperless-ngx: builtin stop compose paperless on paperless",
            ),
            (
                "start paperless",
                "paperless-ngx: builtin start compose paperless on paperless",
            ),
            (
                "remove grafana",
                "grafana: builtin remove compose grafana on grafana",
            ),
            (
                "change the grafana compose file",
                "grafana: run playbooks/grafana/main.yaml --tags install [config playbooks/grafana/templates/app.docker-compose.yaml]",
            ),
        ],
    );
}

#[test]
fn files_written_inline_resolve_every_verb() {
    check(
        "inline-files",
        &[
            ("deploy n8n", "n8n: run n8n.yml"),
            ("upgrade n8n", "n8n: run n8n.yml [re-pull latest]"),
            (
                "pin n8n to 1.107.0",
                "n8n: run n8n.yml [pin Image in n8n.yml]",
            ),
            (
                "restart n8n",
                "n8n: builtin restart systemd n8n.service on apps",
            ),
            (
                "stop caddy",
                "caddy: builtin stop systemd caddy.service on apps",
            ),
            (
                "start n8n",
                "n8n: builtin start systemd n8n.service on apps",
            ),
            (
                "is n8n up?",
                "n8n: builtin status systemd n8n.service on apps",
            ),
            ("n8n logs", "n8n: builtin logs systemd n8n.service on apps"),
            (
                "remove n8n",
                "n8n: builtin remove systemd n8n.service on apps",
            ),
            (
                "restart sonarr",
                "sonarr: builtin restart compose sonarr on media",
            ),
            (
                "upgrade transmission to 4.0.7",
                "transmission: run media.yml [pin TRANSMISSION_TAG in media.yml]",
            ),
            (
                "bump sonarr to 4.0.15",
                "sonarr: run media.yml [pin services.sonarr.image in media.yml]",
            ),
            (
                "change the timezone sonarr runs in",
                "sonarr: run media.yml [config media.yml]",
            ),
            (
                "show me the torrent client's logs",
                "transmission: builtin logs compose transmission on media",
            ),
            ("install vaultwarden", "vaultwarden: none (absent)"),
        ],
    );
}

#[test]
fn a_list_of_enabled_apps_is_the_switch_for_deploy_and_remove() {
    check(
        "enabled-list",
        &[
            (
                "deploy sonarr",
                "sonarr: run plays/update.yml --tags docker",
            ),
            (
                "redeploy radarr on the mediaserver",
                "radarr: run plays/update.yml --tags docker --limit mediaserver",
            ),
            (
                "get rid of radarr",
                "radarr: run plays/update.yml --tags docker",
            ),
            (
                "upgrade sonarr",
                "sonarr: run plays/update.yml --tags docker [pin image in tasks/docker/sonarr.yml]",
            ),
            (
                "remove vaultwarden",
                "vaultwarden: run plays/update.yml --tags docker -e vaultwarden_state=\"absent\"",
            ),
            (
                "turn off new signups on vaultwarden",
                "vaultwarden: run plays/update.yml --tags docker [config group_vars/docker.yml]",
            ),
            (
                "restart sonarr",
                "sonarr: builtin restart container sonarr on mediaserver",
            ),
            (
                "stop radarr",
                "radarr: builtin stop container radarr on mediaserver",
            ),
            (
                "start vaultwarden",
                "vaultwarden: builtin start container vaultwarden on docker",
            ),
            (
                "is the password vault up?",
                "vaultwarden: builtin status container vaultwarden on docker",
            ),
            (
                "sonarr logs",
                "sonarr: builtin logs container sonarr on mediaserver",
            ),
            ("deploy bazarr", "bazarr: none (unwired)"),
        ],
    );
}

#[test]
fn central_version_pins_and_systemd_units_resolve_every_verb() {
    check(
        "central-versions",
        &[
            ("deploy sonarr", "sonarr: run site.yml --tags sonarr"),
            (
                "redeploy adguard on lab",
                "adguard-home: run site.yml --tags adguard --limit lab",
            ),
            (
                "upgrade sonarr",
                "sonarr: run site.yml --tags sonarr [pin sonarr_image in group_vars/all/versions.yml]",
            ),
            (
                "restart adguard",
                "adguard-home: builtin restart systemd adguard.service on lab",
            ),
            (
                "stop sonar",
                "sonarr: builtin stop systemd sonarr.service on lab",
            ),
            (
                "start sonarr",
                "sonarr: builtin start systemd sonarr.service on lab",
            ),
            (
                "is the ad blocker healthy?",
                "adguard-home: builtin status systemd adguard.service on lab",
            ),
            (
                "sonarr logs",
                "sonarr: builtin logs systemd sonarr.service on lab",
            ),
            (
                "remove sonarr",
                "sonarr: builtin remove systemd sonarr.service on lab",
            ),
            (
                "change the sonarr unit",
                "sonarr: run site.yml --tags sonarr [config roles/sonarr/templates/sonarr.service.j2]",
            ),
        ],
    );
}

#[test]
fn hosts_named_after_their_service_are_targets_and_services_at_once() {
    check(
        "host-named",
        &[
            ("deploy vaultwarden", "vaultwarden: run main.yml"),
            (
                "redeploy vaultwarden on docker-1",
                "vaultwarden: run main.yml --limit docker-1",
            ),
            (
                "upgrade uptime kuma",
                "uptime-kuma: run main.yml [pin services.uptime-kuma.image in roles/uptime_kuma/files/docker-compose.yml]",
            ),
            (
                "restart jellyfin",
                "jellyfin: builtin restart systemd jellyfin.service on jellyfin",
            ),
            (
                "stop kuma",
                "uptime-kuma: builtin stop compose kuma on docker-1",
            ),
            (
                "start vaultwarden",
                "vaultwarden: builtin start compose vaultwarden on docker-1",
            ),
            (
                "is jellyfin running?",
                "jellyfin: builtin status systemd jellyfin.service on jellyfin",
            ),
            (
                "vaultwarden logs",
                "vaultwarden: builtin logs compose vaultwarden on docker-1",
            ),
            (
                "take down uptime kuma",
                "uptime-kuma: builtin remove compose kuma on docker-1",
            ),
            (
                "restart the app on docker-1",
                "question: uptime-kuma | vaultwarden",
            ),
        ],
    );
}

#[test]
fn the_planner_runs_what_resolve_found_with_no_question_next_to_it() {
    let catalogue = chiffon::catalogue::Catalogue::discover(&family("single-role")).unwrap();
    let plan = chiffon::planner::plan("restart mealie", &catalogue, &Default::default(), 1);
    assert!(plan.open_questions.is_empty(), "{:?}", plan.open_questions);
    assert_eq!(plan.steps.len(), 1);
    let step = &plan.steps[0];
    assert_eq!(
        step.playbook.as_deref(),
        Some("chiffon:ansible/actions/restart.yml")
    );
    assert_eq!(step.extra_vars["chiffon_unit_name"], "mealie");
    assert_eq!(step.extra_vars["chiffon_unit_kind"], "container");

    let catalogue = chiffon::catalogue::Catalogue::discover(&family("enabled-list")).unwrap();
    let plan = chiffon::planner::plan("remove vaultwarden", &catalogue, &Default::default(), 1);
    assert!(plan.open_questions.is_empty(), "{:?}", plan.open_questions);
    assert_eq!(plan.steps[0].playbook.as_deref(), Some("plays/update.yml"));
    assert_eq!(plan.steps[0].tags, ["docker"]);
    assert_eq!(plan.steps[0].extra_vars["vaultwarden_state"], "absent");
}

/// The built-in action playbooks run for real (check mode, on localhost): every verb, every
/// unit kind, and a unit name with shell characters is refused before anything runs.
#[tokio::test]
async fn the_built_in_actions_run_in_check_mode_and_refuse_odd_names() {
    let ansible = crate::helpers::ansible_playbook().await;
    let actions = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/ansible/actions");
    let run = |verb: &str, kind: &str, name: &str| {
        std::process::Command::new(&ansible)
            .args(["--check", "-i", "localhost,", "-c", "local"])
            .arg(actions.join(format!("{verb}.yml")))
            .args([
                "-e",
                "chiffon_hosts=localhost",
                "-e",
                &format!("chiffon_unit_kind={kind}"),
            ])
            .args(["-e", &format!("chiffon_unit_name={name}")])
            .args([
                "-e",
                "ansible_python_interpreter={{ ansible_playbook_python }}",
            ])
            .output()
            .expect("run ansible-playbook")
    };
    for verb in ["restart", "stop", "start", "remove"] {
        for kind in ["compose", "container"] {
            let out = run(verb, kind, "jellyfin");
            assert!(
                out.status.success(),
                "{verb} {kind}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    let refused = run("restart", "container", "jellyfin;reboot");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stdout).contains("plain name"));
}

/// A role named for what it does to its app (`deploy_readeck`): in the plan, "deploy readeck"
/// is the verb and the app, not a service named `deploy readeck` with no verb.
#[test]
fn a_role_named_deploy_app_is_the_app_and_deploy_stays_the_verb_in_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in [
        ("inventory.yml", "homeserver:\n  hosts:\n    127.0.0.1:\n"),
        (
            "main.yml",
            "- hosts: homeserver\n  tasks:\n    - name: Deploy readeck\n      ansible.builtin.import_role:\n        name: deploy_readeck\n      tags:\n        - applications\n        - readeck\n",
        ),
        (
            "roles/deploy_readeck/tasks/main.yml",
            "- name: Run readeck\n  community.docker.docker_container:\n    name: readeck\n    image: codeberg.org/readeck/readeck:0.20\n",
        ),
    ] {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let catalogue = chiffon::catalogue::Catalogue::discover(dir.path()).expect("a catalogue");
    let plan = chiffon::planner::plan(
        "deploy readeck, i want somewhere to stash articles for later",
        &catalogue,
        &Default::default(),
        1,
    );
    assert!(plan.open_questions.is_empty(), "{:?}", plan.open_questions);
    assert_eq!(plan.steps[0].playbook.as_deref(), Some("main.yml"));
    assert_eq!(plan.steps[0].tags, ["readeck"]);
}
