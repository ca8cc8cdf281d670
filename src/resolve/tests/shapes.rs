//! Repository shapes seen in the third and fourth outside sets: an inventory written in YAML
//! without an extension, task files kept to one machine by their `when:`, and the words around a
//! name that say where something goes rather than what it is.

use super::*;

/// One play on group `docker` (from an extensionless YAML `inventory`) whose role imports one
/// task file per container, each kept to one machine by `when: inventory_hostname == …` but
/// the agent, which runs everywhere.
fn gated_repository() -> (tempfile::TempDir, Repository) {
    let import = |app: &str, gate: &str| {
        format!(
            "- name: Deploy {app}\n  ansible.builtin.import_tasks: {app}.yml\n{gate}  tags: docker,{app}\n\n"
        )
    };
    let container = |name: &str, image: &str| {
        format!(
            "- name: Run {name}\n  community.docker.docker_container:\n    name: {name}\n    image: {image}\n    pull: always\n"
        )
    };
    let on_docker = "  when: inventory_hostname == \"vm-docker\"\n";
    let main = [
        import("baikal", on_docker),
        import("guacamole", on_docker),
        import("minecraft", "  when: inventory_hostname == 'vm-games'\n"),
        import("beszel_agent", ""),
    ]
    .concat();
    let files: Vec<(String, String)> = vec![
        (
            "inventory".to_owned(),
            "---\nungrouped:\n  hosts:\n    srv-nas:\n      ansible_host: 10.0.0.2\n\ndocker:\n  hosts:\n    vm-docker:\n      ansible_host: 10.0.0.3\n    vm-games:\n      ansible_host: 10.0.0.4\n".to_owned(),
        ),
        (
            "playbook.yml".to_owned(),
            "- name: Provision Docker hosts\n  hosts: docker\n  roles:\n    - docker_containers\n".to_owned(),
        ),
        ("roles/docker_containers/tasks/main.yml".to_owned(), main),
        (
            "roles/docker_containers/tasks/baikal.yml".to_owned(),
            container("baikal", "ckulka/baikal:nginx"),
        ),
        (
            "roles/docker_containers/tasks/guacamole.yml".to_owned(),
            container("guacamole", "jwetzell/guacamole:1.5.5"),
        ),
        (
            "roles/docker_containers/tasks/minecraft.yml".to_owned(),
            container("minecraft", "itzg/minecraft-server:latest"),
        ),
        (
            "roles/docker_containers/tasks/beszel_agent.yml".to_owned(),
            container("beszel-agent", "henrygd/beszel-agent:latest"),
        ),
    ];
    discovered(&files)
}

#[test]
fn a_task_file_kept_to_one_machine_runs_there_and_an_extensionless_yaml_inventory_is_read() {
    let (_dir, repository) = gated_repository();
    assert!(repository.inventory.hosts.contains("vm-games"));
    let resolution = resolve(&repository, "deploy guacamole");
    assert_eq!(entrypoint(&resolution).0, ["guacamole"], "{resolution:#?}");
    // "mc" is Minecraft's nickname; it runs on vm-games alone.
    let resolution = resolve(&repository, "stop mc for tonight, the kids need to sleep");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Container,
            "minecraft".to_owned(),
            vec!["vm-games".to_owned()]
        )
    );
    let resolution = resolve(
        &repository,
        "my phone stopped syncing calendars and contacts, restart that server",
    );
    assert_eq!(builtin(&resolution).2, ["vm-docker"], "{resolution:#?}");
    // Not kept to a machine: everywhere the play runs.
    let resolution = resolve(&repository, "restart the beszel agent");
    assert_eq!(builtin(&resolution).2, ["docker"], "{resolution:#?}");
}

#[test]
fn a_name_said_to_place_something_is_not_what_to_act_on_and_a_complaint_is_no_setting() {
    let (_dir, repository) = gated_repository();
    let resolution = resolve(&repository, "deploy nextcloud next to guacamole");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, catalogue: Some(c) } if reason == "absent" && c == "nextcloud"),
        "{resolution:#?}"
    );
    // "sessions keep dropping after a minute" says what goes wrong, not how long to keep
    // anything.
    let resolution = resolve(
        &repository,
        "guacamloe logs please, rdp sessions keep dropping after a minute",
    );
    assert_eq!(resolution.verb, Verb::Logs);
    assert_eq!(builtin(&resolution).1, "guacamole");
}

/// Compose folders at the top of the repository, each brought up (or taken down) by one role
/// for every entry of a docker host's `compose_files` list, by the entry's own `state`.
fn compose_list_repository() -> (tempfile::TempDir, Repository) {
    let compose = |image: &str| format!("services:\n  app:\n    image: {image}\n");
    repository(&[
        (
            "inventory",
            "all:\n  children:\n    docker:\n      hosts:\n        docker10.example.net:\n",
        ),
        (
            "host_vars/docker10.example.net.yml",
            "compose_files:\n  - name: miniflux\n    state: present\n  - name: woodpecker\n    state: present\n  - name: watchtower\n    state: absent\n",
        ),
        (
            "playbooks/docker.yml",
            "- hosts: docker\n  roles:\n    - { role: compose_inline, tags: \"compose\", become: true }\n",
        ),
        (
            "roles/compose_inline/tasks/main.yml",
            "- name: copy the compose folders\n  ansible.builtin.template:\n    src: \"{{ item }}\"\n    dest: \"/docker/{{ item | replace(compose_src + '/', '') }}\"\n  with_items: \"{{ lookup('pipe', 'find ' + compose_src + ' -name *.j2').split('\\n') }}\"\n\n- name: (re)start\n  ansible.builtin.command: docker-compose up -d\n  args:\n    chdir: \"/docker/{{ item.name }}\"\n  loop: \"{{ compose_files }}\"\n  when: item.state == \"present\"\n\n- name: stop old ones\n  ansible.builtin.command: docker-compose down\n  args:\n    chdir: \"/docker/{{ item.name }}\"\n  loop: \"{{ compose_files }}\"\n  when: item.state == \"absent\"\n",
        ),
        (
            "roles/compose_inline/defaults/main.yml",
            "compose_src: \"{{ inventory_dir }}/docker-compose\"\n",
        ),
        (
            "docker-compose/miniflux/docker-compose.yml.j2",
            &compose("miniflux/miniflux:2.1.3"),
        ),
        (
            "docker-compose/woodpecker/docker-compose.yml.j2",
            &compose("woodpeckerci/woodpecker-server:v2.4.1"),
        ),
        (
            "docker-compose/navidrome/docker-compose.yml.j2",
            &compose("deluan/navidrome:0.52.5"),
        ),
    ])
}

#[test]
fn compose_folders_a_list_entry_names_run_on_its_host_and_its_state_takes_them_down() {
    let (_dir, repository) = compose_list_repository();
    let resolution = resolve(&repository, "restart miniflux");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Compose,
            "miniflux".to_owned(),
            vec!["docker10.example.net".to_owned()]
        )
    );
    // The entry's own `state: absent` takes it down: removal is the play, the entry switched.
    let resolution = resolve(&repository, "take woodpecker down for good");
    assert_eq!(entrypoint(&resolution).0, ["compose"], "{resolution:#?}");
    assert!(
        matches!(&resolution.answer, Answer::Entrypoint { switch: Some(s), .. } if s.var == "compose_files"),
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "upgrade miniflux to 2.1.4");
    assert!(
        matches!(&resolution.answer, Answer::Entrypoint { pin: Some(_), .. }),
        "{resolution:#?}"
    );
    // A folder no entry names is deployed nowhere.
    let resolution = resolve(&repository, "restart navidrome");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "unwired"),
        "{resolution:#?}"
    );
}

/// One role per app importing a shared `tasks/compose_up.yml` with the app's name bound; image
/// tags from the role's templated `.env`; the only inventory a committed sample.
fn shared_compose_repository() -> (tempfile::TempDir, Repository) {
    let app_role = |app: &str| {
        format!(
            "- name: Start {app}\n  ansible.builtin.import_tasks: tasks/compose_up.yml\n  vars:\n    t_app_name: '{app}'\n"
        )
    };
    let deploy = |role: &str, app: &str| {
        format!(
            "    - name: Deploy {app}\n      ansible.builtin.import_role:\n        name: {role}\n      tags:\n        - applications\n        - {app}\n"
        )
    };
    let main = format!(
        "- name: Configure the home server\n  hosts: homeserver\n  tasks:\n{}{}",
        deploy("deploy_paperless", "paperless"),
        deploy("setup_observability", "observability")
    );
    let files: Vec<(String, String)> = vec![
        (
            "inventory.yml.example".to_owned(),
            "---\nhomeserver:\n  hosts:\n    127.0.0.1:\n      ansible_connection: ssh\n".to_owned(),
        ),
        ("main.yml".to_owned(), main),
        (
            "pi_main.yml".to_owned(),
            "- name: Configure Pi\n  hosts: pi4b\n  tasks:\n    - name: Deploy Pi-hole\n      ansible.builtin.import_role:\n        name: deploy_pihole\n".to_owned(),
        ),
        (
            "roles/deploy_pihole/tasks/main.yml".to_owned(),
            "- name: Install\n  ansible.builtin.command: bash /tmp/basic-install.sh --unattended\n- name: Ensure Pi-hole services are running\n  ansible.builtin.systemd:\n    name: pihole-FTL\n    state: started\n".to_owned(),
        ),
        (
            "tasks/compose_up.yml".to_owned(),
            "- name: Copy compose file\n  ansible.builtin.copy:\n    src: compose.yml\n    dest: '{{ compose_root }}/{{ t_app_name }}/compose.yml'\n- name: Copy env\n  ansible.builtin.template:\n    src: .env.j2\n    dest: '{{ compose_root }}/{{ t_app_name }}/.env'\n- name: Create and start services\n  community.docker.docker_compose_v2:\n    project_src: '{{ compose_root }}/{{ t_app_name }}'\n".to_owned(),
        ),
        (
            "roles/deploy_paperless/tasks/main.yml".to_owned(),
            app_role("paperless"),
        ),
        (
            "roles/deploy_paperless/files/compose.yml".to_owned(),
            "services:\n  webserver:\n    image: ghcr.io/paperless-ngx/paperless-ngx:${APP_VERSION}\n".to_owned(),
        ),
        (
            "roles/deploy_paperless/templates/.env.j2".to_owned(),
            "APP_VERSION={{ ppls_app_version }}\n".to_owned(),
        ),
        (
            "roles/deploy_paperless/defaults/main.yml".to_owned(),
            "ppls_app_version: 2.18.4\n".to_owned(),
        ),
        (
            "roles/setup_observability/tasks/main.yml".to_owned(),
            app_role("observability"),
        ),
        (
            "roles/setup_observability/files/compose.yml".to_owned(),
            "services:\n  grafana:\n    image: grafana/grafana:${GRAFANA_VERSION}\n  loki:\n    image: grafana/loki:${LOKI_VERSION}\n".to_owned(),
        ),
        (
            "roles/setup_observability/templates/.env.j2".to_owned(),
            "GRAFANA_VERSION={{ obs_versions.grafana }}\nLOKI_VERSION={{ obs_versions.loki }}\n".to_owned(),
        ),
        (
            "roles/setup_observability/defaults/main.yml".to_owned(),
            "obs_versions:\n  grafana: 12.1.0\n  loki: 3.5.0\n".to_owned(),
        ),
    ];
    discovered(&files)
}

#[test]
fn a_shared_compose_task_names_the_project_for_the_app_and_the_env_file_holds_the_pin() {
    let (_dir, repository) = shared_compose_repository();
    // The sample is read as the YAML it is.
    assert_eq!(
        repository.inventory.groups.get("homeserver"),
        Some(&["127.0.0.1".to_owned()].into())
    );
    // The folder `tasks/compose_up.yml` writes for the role's bound `t_app_name`.
    let resolution = resolve(&repository, "restart paperless");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Compose,
            "paperless".to_owned(),
            vec!["homeserver".to_owned()]
        )
    );
    // `tags: [applications, paperless]`: the tag selecting this app alone; the version is the
    // variable the role's `.env` writes into the image tag.
    let resolution = resolve(&repository, "bump paperless to 2.19.1");
    assert_eq!(entrypoint(&resolution).0, ["paperless"], "{resolution:#?}");
    assert!(
        matches!(&resolution.answer, Answer::Entrypoint { pin: Some(Pin::Var { file, var, .. }), .. }
            if file == "roles/deploy_paperless/defaults/main.yml" && var == "ppls_app_version"),
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "upgrade grafana to 12.5.0");
    assert_eq!(entrypoint(&resolution).0, ["observability"]);
    assert!(
        matches!(&resolution.answer, Answer::Entrypoint { pin: Some(Pin::Var { var, .. }), .. }
            if var == "obs_versions.grafana"),
        "{resolution:#?}"
    );
    // The sample inventory lacks the pi's group; the play on it still runs somewhere.
    let resolution = resolve(&repository, "is pihole still running on the pi?");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Systemd,
            "pihole-FTL.service".to_owned(),
            vec!["pi4b".to_owned()]
        )
    );
}

#[test]
fn a_file_the_play_loads_with_vars_files_holds_the_pin() {
    let (_dir, repository) = repository(&[
        ("inventory.yml", "monolith:\n  hosts:\n    monolith:\n"),
        (
            "main.yml",
            "- name: Deploy\n  hosts: monolith\n  vars_files:\n    - vars.yml\n  tasks:\n    - name: Portainer\n      ansible.builtin.include_tasks: tasks/portainer.yml\n      tags: [\"deploy\", \"portainer\"]\n",
        ),
        (
            "vars.yml",
            "portainer_image: portainer/portainer-ce:2.21.4\n",
        ),
        (
            "tasks/portainer.yml",
            "- name: Run portainer\n  community.docker.docker_container:\n    name: portainer\n    image: \"{{ portainer_image }}\"\n",
        ),
    ]);
    let resolution = resolve(&repository, "upgrade portainer to 2.21.5");
    assert!(
        matches!(&resolution.answer, Answer::Entrypoint { pin: Some(Pin::Var { file, var, .. }), .. }
            if file == "vars.yml" && var == "portainer_image"),
        "{resolution:#?}"
    );
}

#[test]
fn containers_listed_in_a_role_s_vars_are_apps_and_roles_live_in_any_roles_folder() {
    let (_dir, repository) = repository(&[
        (
            "playbooks/linux/deploy-homelab.yml",
            "- name: Dockarr\n  hosts: dockarr\n  roles:\n  - dockarr\n  tags:\n  -  dockarr\n",
        ),
        (
            "linux-roles/dockarr/tasks/main.yml",
            "- name: Deploy the arr containers\n  community.docker.docker_container:\n    name: \"{{ item.name }}\"\n    image: \"{{ item.image }}\"\n    state: \"{{ item.state }}\"\n    pull: \"{{ item.pull }}\"\n  loop: \"{{ dockarr }}\"\n",
        ),
        (
            "linux-roles/dockarr/vars/main.yml",
            "dockarr:\n  - name: sonarr-ansible\n    image: lscr.io/linuxserver/sonarr:latest\n    state: started\n    pull: yes\n  - name: deluge-ansible\n    image: lscr.io/linuxserver/deluge:latest\n    state: started\n    pull: yes\n  - name: lidarr-ansible\n    image: lscr.io/linuxserver/lidarr:latest\n    state: absent\n",
        ),
    ]);
    let resolution = resolve(&repository, "restart the torrent client");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Container,
            "deluge-ansible".to_owned(),
            vec!["dockarr".to_owned()]
        )
    );
    // `:latest` and the entry pulls again: upgrading is re-running the play.
    let resolution = resolve(&repository, "update sonarr");
    assert_eq!(entrypoint(&resolution).0, ["dockarr"], "{resolution:#?}");
    assert!(
        matches!(
            &resolution.answer,
            Answer::Entrypoint {
                pin: Some(Pin::Latest),
                ..
            }
        ),
        "{resolution:#?}"
    );
    // An entry the list keeps absent runs nowhere.
    let resolution = resolve(&repository, "restart lidarr");
    assert!(
        matches!(&resolution.answer, Answer::None { .. }),
        "{resolution:#?}"
    );
}

#[test]
fn containers_an_external_role_renders_from_a_host_s_vars_run_on_that_host() {
    let (_dir, repository) = repository(&[
        (
            "inventory.yaml",
            "all:\n  hosts:\n    hypervisor:\n    pihole:\n  children:\n    docker_hosts:\n      hosts:\n        hypervisor:\n",
        ),
        (
            "run.yaml",
            "- name: Play for Docker hosts\n  hosts: docker_hosts\n  roles:\n    - role: docker_compose_generator\n",
        ),
        (
            "host_vars/hypervisor.yaml",
            "containers:\n  - service_name: gitea\n    active: true\n    image: gitea/gitea:1.20.5\n  - service_name: transmission\n    active: true\n    image: haugene/transmission-openvpn\n  - service_name: grafana\n    active: false\n    image: grafana/grafana-oss\n",
        ),
        (
            "host_vars/pihole.yaml",
            "containers:\n  - service_name: jellyfin\n    image: jellyfin/jellyfin\n  - service_name: sonarr\n    image: linuxserver/sonarr\n",
        ),
    ]);
    let resolution = resolve(&repository, "stop transmission for tonight");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Container,
            "transmission".to_owned(),
            vec!["hypervisor".to_owned()]
        )
    );
    let resolution = resolve(&repository, "upgrade gitea to 1.21.4");
    assert!(
        matches!(&resolution.answer, Answer::Entrypoint { pin: Some(Pin::Var { file, var, .. }), .. }
            if file == "host_vars/hypervisor.yaml" && var == "services.gitea.image"),
        "{resolution:#?}"
    );
    // Switched off in its entry, or listed for a machine no play renders for: not running.
    for text in ["restart grafana", "restart jellyfin"] {
        let resolution = resolve(&repository, text);
        assert!(
            !matches!(&resolution.answer, Answer::Builtin { .. }),
            "{text}: {resolution:#?}"
        );
    }
}

#[test]
fn each_app_s_compose_template_is_reached_by_its_own_task_file_and_runs_by_its_own_unit() {
    let task = |app: &str| {
        format!(
            "- name: Create {app} docker compose file\n  ansible.builtin.template:\n    src: {app}/docker-compose.yml.j2\n    dest: \"/opt/apps/{app}/docker-compose.yml\"\n"
        )
    };
    let compose = |image: &str| format!("services:\n  app:\n    image: {image}\n");
    let files: Vec<(String, String)> = vec![
        // INI in a file named `.yml`.
        (
            "inventory/homeserver.yml".to_owned(),
            "# This is a example\n[homeserver]\nhomeserver ansible_host=192.168.178.3\n".to_owned(),
        ),
        (
            "playbooks/main.yml".to_owned(),
            "- hosts: homeserver\n  roles:\n    - home.apps\n".to_owned(),
        ),
        (
            "roles/home.apps/tasks/main.yaml".to_owned(),
            "- import_tasks: mosquitto.yaml\n  tags:\n    - mosquitto\n#- import_tasks: pihole.yaml\n#  tags:\n#    - pihole\n- import_tasks: zigbee2mqtt.yaml\n  tags:\n    - zigbee2mqtt\n".to_owned(),
        ),
        (
            "roles/home.apps/tasks/mosquitto.yaml".to_owned(),
            format!(
                "{}- name: Create mosquitto systemd service file\n  ansible.builtin.template:\n    src: \"docker-compose@.service.j2\"\n    dest: \"/etc/systemd/system/docker-compose@mosquitto.service\"\n",
                task("mosquitto")
            ),
        ),
        // Its import is commented out: the template it names runs nowhere.
        ("roles/home.apps/tasks/pihole.yaml".to_owned(), task("pihole")),
        (
            "roles/home.apps/templates/pihole/docker-compose.yml.j2".to_owned(),
            compose("pihole/pihole:2024.07.0"),
        ),
        ("roles/home.apps/tasks/zigbee2mqtt.yaml".to_owned(), task("zigbee2mqtt")),
        (
            "roles/home.apps/templates/mosquitto/docker-compose.yml.j2".to_owned(),
            compose("eclipse-mosquitto:2"),
        ),
        (
            "roles/home.apps/templates/zigbee2mqtt/docker-compose.yml.j2".to_owned(),
            compose("koenkk/zigbee2mqtt:1.40"),
        ),
    ];
    let (_dir, repository) = discovered(&files);
    assert!(repository.inventory.hosts.contains("homeserver"));
    let resolution = resolve(
        &repository,
        "deploy mosquitto, the new sensors need a broker",
    );
    assert_eq!(entrypoint(&resolution).0, ["mosquitto"], "{resolution:#?}");
    // Up and down through the unit the repository wrote for the project; its logs are the
    // project's.
    let resolution = resolve(&repository, "restart mosquitto");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Systemd,
            "docker-compose@mosquitto.service".to_owned(),
            vec!["homeserver".to_owned()]
        )
    );
    let resolution = resolve(&repository, "mosquitto logs");
    assert_eq!(builtin(&resolution).0, UnitKind::Compose);
    let resolution = resolve(&repository, "restart pihole");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "unwired"),
        "{resolution:#?}"
    );
}

#[test]
fn one_container_in_two_machines_vars_is_a_choice_and_a_timer_s_job_logs_in_its_service() {
    let (_dir, repository) = repository(&[
        (
            "inventory.yaml",
            "all:\n  children:\n    docker_hosts:\n      hosts:\n        hypervisor:\n        edge:\n    files:\n      hosts:\n        files:\n",
        ),
        (
            "run.yaml",
            "- name: Docker hosts\n  hosts: docker_hosts\n  roles:\n    - role: docker_compose_generator\n- name: Files\n  hosts: files\n  roles:\n    - youtubedl\n",
        ),
        (
            "host_vars/hypervisor.yaml",
            "containers:\n  - service_name: traefik\n    image: traefik:v3.1\n  - service_name: gitea\n    image: gitea/gitea:1.20.5\n",
        ),
        (
            "host_vars/edge.yaml",
            "containers:\n  - service_name: traefik\n    image: traefik:v3.1\n  - service_name: wordpress\n    image: wordpress:6\n",
        ),
        (
            "roles/youtubedl/tasks/main.yml",
            "- name: Timer\n  ansible.builtin.template:\n    src: youtubedl.timer\n    dest: /etc/systemd/system/youtubedl.timer\n- name: Start the timer\n  ansible.builtin.systemd:\n    name: youtubedl.timer\n    state: started\n",
        ),
    ]);
    let resolution = resolve(&repository, "restart traefik, certs didn't renew");
    assert!(
        matches!(&resolution.answer, Answer::Question { choices, .. }
            if choices.iter().collect::<BTreeSet<_>>() == ["edge:traefik", "hypervisor:traefik"].iter().map(|s| s.to_string()).collect::<BTreeSet<_>>().iter().collect()),
        "{resolution:#?}"
    );
    // What the job wrote is in its service's journal, not the timer's.
    let resolution = resolve(&repository, "show me the youtube downloader's logs");
    assert_eq!(
        builtin(&resolution).1,
        "youtubedl.service",
        "{resolution:#?}"
    );
}

#[test]
fn a_required_role_named_author_ansible_role_app_is_that_app_even_where_a_group_shares_its_name() {
    let (_dir, repository) = repository(&[
        (
            "inventory",
            "all:\n  children:\n    gitea:\n      hosts:\n        gitea.example.net:\n",
        ),
        (
            "requirements.yml",
            "roles:\n  - src: https://git.example.net/mirrors/pyratlabs-ansible-role-gitea\n    scm: git\n",
        ),
        (
            "playbooks/3_service/gitea.yml",
            "- hosts: gitea\n  roles:\n    - { role: pyratlabs-ansible-role-gitea, tags: \"gitea\", become: true }\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "redeploy gitea, i want to be sure the config on the git vm matches the repo",
    );
    assert_eq!(entrypoint(&resolution).0, ["gitea"], "{resolution:#?}");
    assert!(
        matches!(&resolution.answer, Answer::Entrypoint { playbook, .. } if playbook == "playbooks/3_service/gitea.yml"),
        "{resolution:#?}"
    );
}
