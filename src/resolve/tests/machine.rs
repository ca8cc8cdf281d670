//! One machine role holding every app, seen in the twelfth outside set: a play on `hosts:
//! [box]` applies it; its `tasks/main.yml` imports one task file per app under the app's own
//! tag; rootless Podman Quadlet templates, one per entry of a list whose entries open with the
//! same field, are rendered by a `podman` task file; a native service known only from a
//! handler; and samples kept beside the real templates.

use super::*;

fn machine_role() -> (tempfile::TempDir, Repository) {
    let quadlet = |name: &str, image: &str| {
        format!(
            "[Unit]\nDescription={name}\n\n[Container]\nContainerName={name}\nImage={image}\n{{% for m in uidmap %}}\nUIDMap={{{{ m }}}}\n{{% endfor %}}\n"
        )
    };
    let synapse = quadlet("matrix-synapse", "ghcr.io/element-hq/synapse:v1.158.0");
    let hookshot = quadlet(
        "matrix-hookshot",
        "ghcr.io/matrix-org/matrix-hookshot:7.4.4",
    );
    let hello = quadlet("hello", "hello");
    let hello2 = quadlet("hello2", "hello");
    let prometheus = quadlet("prometheus", "quay.io/prometheus/prometheus:v3.14.0");
    let files: Vec<(&str, &str)> = vec![
        ("inventory.yml", "ungrouped:\n  hosts:\n    oddish: {}\n"),
        (
            "oddish.yml",
            "- name: play\n  hosts: [oddish]\n  roles: [oddish]\n",
        ),
        (
            "roles/oddish/tasks/main.yml",
            "- name: gitea\n  import_tasks: gitea.yml\n  tags: [gitea]\n\n- name: synapse\n  import_tasks: synapse.yml\n  tags: [synapse]\n\n- name: prometheus\n  import_tasks: prometheus.yml\n  tags: [prometheus]\n\n- name: podman\n  import_tasks: podman.yml\n  tags: [podman]\n\n- name: tailscale\n  import_tasks: tailscale.yml\n  tags: [tailscale]\n",
        ),
        (
            "roles/oddish/tasks/gitea.yml",
            "- name: gitea unit\n  copy:\n    src: gitea.service\n    dest: /etc/systemd/system/gitea.service\n- name: gitea config\n  template:\n    src: app.ini.j2\n    dest: /etc/gitea/app.ini\n",
        ),
        (
            "roles/oddish/files/gitea.service",
            "[Service]\nExecStart=/usr/local/bin/gitea web\n",
        ),
        (
            "roles/oddish/templates/app.ini.j2",
            "[server]\nROOT_URL = https://git.example.net/\n",
        ),
        (
            "roles/oddish/tasks/synapse.yml",
            "- name: homeserver config\n  template:\n    src: matrix-synapse-homeserver.yaml.j2\n    dest: /etc/matrix-synapse/homeserver.yaml\n  notify: restart synapse\n",
        ),
        (
            "roles/oddish/tasks/prometheus.yml",
            "- name: prometheus config\n  template:\n    src: prometheus.yml.j2\n    dest: /etc/prometheus/prometheus.yml\n",
        ),
        (
            "roles/oddish/tasks/podman.yml",
            "- name: install container unit file\n  template:\n    src: \"{{ item.name }}.container.j2\"\n    dest: \"/etc/containers/systemd/users/{{ item.name }}.container\"\n  loop: \"{{ podman_containers }}\"\n",
        ),
        (
            "roles/oddish/tasks/tailscale.yml",
            "- name: install tailscale\n  apt:\n    name: tailscale\n  notify: restart tailscaled\n",
        ),
        (
            "roles/oddish/handlers/main.yml",
            "- name: restart tailscaled\n  systemd:\n    name: tailscaled\n    state: restarted\n",
        ),
        (
            "roles/oddish/vars/main.yml",
            "podman_containers:\n  - user: simon\n    name: hello\n  - user: hookshot\n    name: matrix-hookshot\n  - user: simon\n    name: hello2\n  - user: synapse\n    name: matrix-synapse\n  - user: prometheus\n    name: prometheus\n",
        ),
        (
            "roles/oddish/templates/matrix-synapse.container.j2",
            &synapse,
        ),
        (
            "roles/oddish/templates/matrix-hookshot.container.j2",
            &hookshot,
        ),
        ("roles/oddish/templates/hello.container.j2", &hello),
        ("roles/oddish/templates/hello2.container.j2", &hello2),
        (
            "roles/oddish/templates/prometheus.container.j2",
            &prometheus,
        ),
        (
            "roles/oddish/templates/matrix-synapse-homeserver.yaml.j2",
            "server_name: example.net\nregistration_enabled: false\n",
        ),
        (
            "roles/oddish/templates/matrix-synapse-homeserver-sample.yaml",
            "# sample\nregistration_enabled: true\nenable_registration_without_verification: false\n",
        ),
        (
            "roles/oddish/templates/prometheus.yml.j2",
            "global:\n  scrape_interval: 15s\n",
        ),
        (
            "roles/oddish/templates/prometheus-config-example.yml",
            "global:\n  scrape_interval: 30s\n  evaluation_interval: 30s\n",
        ),
    ];
    repository(&files)
}

#[test]
fn a_play_on_a_flow_list_of_hosts_runs_its_role_there() {
    let (_dir, repository) = machine_role();
    let resolution = resolve(&repository, "restart hookshot");
    let (unit, name, hosts) = builtin(&resolution);
    assert_eq!(
        (unit, name.as_str(), hosts),
        (
            UnitKind::Systemd,
            "matrix-hookshot.service",
            vec!["oddish".to_owned()]
        ),
        "{resolution:#?}"
    );
}

#[test]
fn each_entry_of_a_list_whose_entries_open_alike_renders_its_own_quadlet() {
    let (_dir, repository) = machine_role();
    let resolution = resolve(&repository, "remove the hello2 test container");
    let (_, name, hosts) = builtin(&resolution);
    assert_eq!(
        (name.as_str(), hosts),
        ("hello2.service", vec!["oddish".to_owned()]),
        "{resolution:#?}"
    );
}

#[test]
fn a_quadlet_template_pins_its_image_on_its_image_line() {
    let (_dir, repository) = machine_role();
    let resolution = resolve(&repository, "upgrade synapse to v1.159.0");
    match &resolution.answer {
        Answer::Entrypoint { tags, pin, .. } => {
            assert_eq!(tags, &["podman"], "{resolution:#?}");
            assert!(
                matches!(pin, Some(Pin::Var { file, var, .. })
                    if file == "roles/oddish/templates/matrix-synapse.container.j2" && var == "Image"),
                "{resolution:#?}"
            );
        }
        other => panic!("expected an entrypoint, got {other:#?}"),
    }
}

#[test]
fn a_setting_is_changed_in_the_apps_own_template_under_the_tag_that_renders_it() {
    let (_dir, repository) = machine_role();
    let resolution = resolve(
        &repository,
        "open up registration on synapse so my brother can make an account",
    );
    let (tags, _, config) = entrypoint(&resolution);
    assert_eq!(
        (tags, config.as_deref()),
        (
            vec!["synapse".to_owned()],
            Some("roles/oddish/templates/matrix-synapse-homeserver.yaml.j2")
        ),
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "make prometheus scrape every 30 seconds");
    let (tags, _, config) = entrypoint(&resolution);
    assert_eq!(
        (tags, config.as_deref()),
        (
            vec!["prometheus".to_owned()],
            Some("roles/oddish/templates/prometheus.yml.j2")
        ),
        "{resolution:#?}"
    );
}

#[test]
fn a_service_only_a_handler_restarts_is_installed_by_the_task_file_named_for_it() {
    let (_dir, repository) = machine_role();
    let resolution = resolve(&repository, "install tailscale on oddish");
    let (tags, limit, _) = entrypoint(&resolution);
    assert_eq!(
        (tags, limit.as_deref()),
        (vec!["tailscale".to_owned()], Some("oddish")),
        "{resolution:#?}"
    );
}

#[test]
fn an_app_of_a_role_holding_many_keeps_only_the_templates_named_for_it() {
    let (_dir, repository) = machine_role();
    let prometheus = repository
        .apps
        .iter()
        .find(|a| a.service == "prometheus")
        .expect("prometheus is an app");
    assert!(
        prometheus
            .config
            .contains(&"roles/oddish/templates/prometheus.yml.j2".to_owned()),
        "{:?}",
        prometheus.config
    );
    assert!(
        !prometheus
            .config
            .iter()
            .any(|c| c.contains("matrix-synapse") || c.contains("example")),
        "{:?}",
        prometheus.config
    );
}

#[test]
fn what_an_apps_own_task_file_renders_is_its_configuration_whatever_its_name() {
    let (_dir, repository) = machine_role();
    let resolution = resolve(
        &repository,
        "change the gitea root url to https://code.example.net/",
    );
    let (tags, _, config) = entrypoint(&resolution);
    assert_eq!(
        (tags, config.as_deref()),
        (
            vec!["gitea".to_owned()],
            Some("roles/oddish/templates/app.ini.j2")
        ),
        "{resolution:#?}"
    );
}
