//! Folders a host's list picks, Podman Quadlet containers, Molecule scenarios, and the words
//! that say what to do with them.

use super::*;

/// One role copying `services/<project>/` to each Docker host for every entry of the host's
/// `projects` list and bringing it up; `plex` and `uptime-kuma` are listed nowhere. Both
/// hosts run a Caddy built from a Dockerfile, in different projects.
fn projects_repository() -> (tempfile::TempDir, Repository) {
    repository(&[
        (
            "inventory.yml",
            "docker-hosts:\n  hosts:\n    docker-host:\n    game-server:\n",
        ),
        (
            "host_vars/docker-host.yml",
            "projects:\n  - reverse-proxy\n  - unifi\n  - paperless\n",
        ),
        ("host_vars/game-server.yml", "projects:\n  - pterodactyl\n"),
        (
            "playbook.yml",
            "- name: docker hosts\n  hosts: docker-hosts\n  roles:\n    - docker-host\n  tags:\n    - docker\n",
        ),
        (
            "roles/docker-host/tasks/main.yml",
            "- name: copy the projects\n  copy:\n    src: 'services/{{ item }}/'\n    dest: '/opt/services/{{ item }}'\n  with_items: '{{ projects }}'\n\n- name: up\n  community.docker.docker_compose_v2:\n    project_src: '/opt/services/{{ item }}'\n    state: present\n  with_items: '{{ projects }}'\n",
        ),
        (
            "roles/docker-host/services/unifi/docker-compose.yml",
            "services:\n  unifi:\n    image: lscr.io/linuxserver/unifi-network-application:8.1.113\n",
        ),
        (
            "roles/docker-host/services/paperless/docker-compose.yml",
            "services:\n  webserver:\n    image: ghcr.io/paperless-ngx/paperless-ngx:2.3\n",
        ),
        (
            "roles/docker-host/services/plex/docker-compose.yml",
            "services:\n  plex:\n    image: lscr.io/linuxserver/plex:1.40.0\n",
        ),
        (
            "roles/docker-host/services/uptime-kuma/docker-compose.yml",
            "services:\n  uptime-kuma:\n    image: louislam/uptime-kuma:1\n",
        ),
        (
            "roles/docker-host/services/reverse-proxy/docker-compose.yml",
            "services:\n  proxy:\n    build: .\n    volumes:\n      - ./Caddyfile:/etc/caddy/Caddyfile\n",
        ),
        (
            "roles/docker-host/services/reverse-proxy/Dockerfile",
            "FROM caddy:2-builder AS builder\nRUN xcaddy build\nFROM caddy:2-alpine\n",
        ),
        (
            "roles/docker-host/services/reverse-proxy/Caddyfile",
            "status.lan.example.com {\n    reverse_proxy docker-host.lan.example.com:8765\n}\n",
        ),
        (
            "roles/docker-host/services/pterodactyl/docker-compose.yml",
            "services:\n  proxy:\n    build: .\n  panel:\n    image: ghcr.io/pterodactyl/panel:v1.11.5\n",
        ),
        (
            "roles/docker-host/services/pterodactyl/Dockerfile",
            "FROM caddy:2-alpine\n",
        ),
    ])
}

#[test]
fn a_folder_a_hosts_list_picks_runs_as_its_own_project_on_that_host_alone() {
    let (_dir, repository) = projects_repository();
    let resolution = resolve(&repository, "restart the unifi controller");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Compose,
            "unifi".to_owned(),
            vec!["docker-host".to_owned()]
        )
    );
    // A folder no host lists is deployed nowhere.
    let resolution = resolve(&repository, "start plex again");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "unwired"),
        "{resolution:#?}"
    );
    // Nothing takes down what a list no longer names: removing is Chiffon's own action.
    let resolution = resolve(&repository, "remove the unifi controller");
    assert!(
        matches!(
            &resolution.answer,
            Answer::Builtin { action: Verb::Remove, name, .. } if name == "unifi"
        ),
        "{resolution:#?}"
    );
}

#[test]
fn deploying_a_folder_no_list_names_adds_it_to_the_list_of_the_host_said_or_the_longest() {
    let (_dir, repository) = projects_repository();
    for (text, file, limit) in [
        ("deploy uptime kuma", "host_vars/docker-host.yml", None),
        (
            "deploy plex on game-server",
            "host_vars/game-server.yml",
            Some("game-server"),
        ),
    ] {
        let resolution = resolve(&repository, text);
        let Answer::Entrypoint {
            playbook,
            tags,
            switch,
            limit: got_limit,
            ..
        } = &resolution.answer
        else {
            panic!("{text}: {resolution:#?}");
        };
        assert_eq!(playbook, "playbook.yml", "{text}");
        assert_eq!(tags, &["docker"], "{text}");
        assert_eq!(got_limit.as_deref(), limit, "{text}");
        let switch = switch.as_ref().expect("the list is the switch");
        assert_eq!(
            (
                switch.file.as_str(),
                switch.var.as_str(),
                switch.kind.as_str()
            ),
            (file, "projects", "list"),
            "{text}"
        );
    }
}

#[test]
fn a_service_built_from_a_dockerfile_is_what_it_builds_from_and_its_folder_is_its_config() {
    let (_dir, repository) = projects_repository();
    // Two Caddy builds, picked by different hosts' lists: which one.
    let resolution = resolve(&repository, "restart caddy");
    let Answer::Question { choices, .. } = &resolution.answer else {
        panic!("{resolution:#?}");
    };
    assert_eq!(choices, &["docker-host:caddy", "game-server:caddy"]);
    // The host named is where, not a setting: the Caddyfile beside the project holds routes.
    let resolution = resolve(
        &repository,
        "on docker-host, add a reverse proxy entry for nas.lan.example.com",
    );
    let (tags, limit, config) = entrypoint(&resolution);
    assert_eq!(tags, ["docker"]);
    assert_eq!(limit.as_deref(), Some("docker-host"));
    assert_eq!(
        config.as_deref(),
        Some("roles/docker-host/services/reverse-proxy/Caddyfile")
    );
}

/// Roles of an in-repository collection creating Podman Quadlet containers, imported by full
/// name from one playbook per machine; Molecule scenarios converge every role on `all`.
fn quadlet_repository() -> (tempfile::TempDir, Repository) {
    let base = "collections/ansible_collections/acme/lab";
    let role = |name: &str, image: &str| {
        (
            format!("{base}/roles/{name}/tasks/main.yml"),
            format!(
                "- name: container\n  containers.podman.podman_container:\n    name: \"{{{{ {name}_name }}}}\"\n    image: \"{image}:{{{{ {name}_image_tag }}}}\"\n    state: quadlet\n"
            ),
        )
    };
    let defaults = |name: &str| {
        (
            format!("{base}/roles/{name}/defaults/main.yml"),
            format!("{name}_name: {name}\n{name}_image_tag: latest\n{name}_log_level: info\n"),
        )
    };
    let mut files: Vec<(String, String)> = vec![
        (
            "inventory/hosts.yml".to_owned(),
            "all:\n  hosts:\n    media:\n    apps:\n".to_owned(),
        ),
        (
            "inventory/host_vars/media.yml".to_owned(),
            "radarr_image_tag: 5.2.6\n".to_owned(),
        ),
        (
            "playbooks/media.yml".to_owned(),
            "- hosts: media\n  tasks:\n    - ansible.builtin.import_role:\n        name: acme.lab.radarr\n      tags: [radarr]\n".to_owned(),
        ),
        (
            format!("{base}/extensions/molecule/immich/converge.yml"),
            "- hosts: all\n  tasks:\n    - ansible.builtin.import_role:\n        name: acme.lab.immich\n".to_owned(),
        ),
    ];
    files.extend([
        role("radarr", "lscr.io/linuxserver/radarr"),
        role("immich", "ghcr.io/immich-app/immich-server"),
        defaults("radarr"),
        defaults("immich"),
    ]);
    discovered(&files)
}

#[test]
fn a_quadlet_container_is_its_systemd_unit_and_a_molecule_scenario_runs_nothing() {
    let (_dir, repository) = quadlet_repository();
    let resolution = resolve(&repository, "restart radarr");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Systemd,
            "radarr.service".to_owned(),
            vec!["media".to_owned()]
        )
    );
    let resolution = resolve(&repository, "restart immich");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "unwired"),
        "{resolution:#?}"
    );
    // A role's default, with the machine said whose own vars already set the role's
    // variables: overridden there.
    let resolution = resolve(&repository, "on media, turn radarr's log level up to debug");
    let (_, limit, config) = entrypoint(&resolution);
    assert_eq!(limit.as_deref(), Some("media"));
    assert_eq!(config.as_deref(), Some("inventory/host_vars/media.yml"));
}

#[test]
fn a_clause_said_around_its_object_or_about_logging_reads_as_meant() {
    for (text, verb) in [
        (
            "shut the game server down for now, nobody is playing",
            Verb::Stop,
        ),
        ("shut down my bluesky pds for good", Verb::Remove),
        ("turn pangolin's log level up to debug", Verb::Configure),
        (
            "show me what the ups daemon has been logging, the nas shut down last night",
            Verb::Logs,
        ),
        (
            "deploy immich so the phones can back up their photos",
            Verb::Deploy,
        ),
        ("bring nextcloud back up", Verb::Start),
        ("move uptime kuma to version 2", Verb::Upgrade),
    ] {
        assert_eq!(verb_of(text), verb, "{text}");
    }
}

#[test]
fn an_ordinary_word_is_no_slip_of_a_name_and_a_front_end_is_found_by_what_it_is_for() {
    let (_dir, repository) = repository(&[
        ("inventory.ini", "homeserver\n"),
        (
            "main.yml",
            "- hosts: all\n  tasks:\n    - name: nocodb\n      community.docker.docker_container:\n        name: nocodb\n        image: nocodb/nocodb:0.204.0\n    - name: portainer\n      community.docker.docker_container:\n        name: portainer\n        image: portainer/portainer-ce:2.19.4\n",
        ),
    ]);
    let resolution = resolve(&repository, "restart it, nobody can log in");
    assert_ne!(
        resolution.service.as_deref(),
        Some("nocodb"),
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "stop the docker web ui, i only use the cli");
    assert_eq!(
        builtin(&resolution).1,
        "portainer",
        "Docker is not deployed here; its web UI is"
    );
}

#[test]
fn one_role_applied_by_separate_plays_to_separate_machines_is_one_choice_per_machine() {
    let play = |hosts: &str, role: &str| {
        format!("- hosts: {hosts}\n  roles:\n    - role: {role}\n      tags: [{role}]\n")
    };
    let (apps, media, edge) = (
        play("apps", "traefik"),
        play("media", "traefik"),
        play("edge", "pangolin"),
    );
    let (_dir, repository) = repository(&[
        ("inventory.ini", "apps\nmedia\nedge\n"),
        ("apps.yml", &apps),
        ("media.yml", &media),
        ("edge.yml", &edge),
        (
            "roles/traefik/tasks/main.yml",
            "- community.docker.docker_container:\n    name: traefik\n    image: traefik:v3.1\n",
        ),
        (
            "roles/pangolin/tasks/main.yml",
            "- community.docker.docker_container:\n    name: pangolin\n    image: fosrl/pangolin:1.2.0\n- community.docker.docker_container:\n    name: pangolin-traefik\n    image: traefik:v3.1\n",
        ),
    ]);
    let resolution = resolve(&repository, "restart traefik");
    let Answer::Question { choices, .. } = &resolution.answer else {
        panic!("{resolution:#?}");
    };
    assert_eq!(
        choices,
        &["apps:traefik", "media:traefik", "pangolin-traefik"],
        "{resolution:#?}"
    );
    // The person's pick is that machine's instance.
    let given = Given {
        service: Some("traefik".to_owned()),
        instance: Some("media:traefik".to_owned()),
    };
    let resolution = resolve_given(&repository, "restart traefik", None, &given);
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Container,
            "traefik".to_owned(),
            vec!["media".to_owned()]
        )
    );
}

#[test]
fn a_role_including_every_role_beside_it_reaches_them_all_but_those_it_excludes() {
    let app = |name: &str, image: &str| {
        (
            format!("roles/containers/apps/{name}/tasks/main.yml"),
            format!("- community.docker.docker_container:\n    name: {name}\n    image: {image}\n"),
        )
    };
    let mut files: Vec<(String, String)> = vec![
        // One inventory file per machine, without an extension, chosen with `-i`.
        (
            "inventory/supermicro".to_owned(),
            "[archlinux]\nsupermicro-01 ansible_host=10.0.1.10\n".to_owned(),
        ),
        (
            "inventory/nuc".to_owned(),
            "[archlinux]\nnuc-01 ansible_host=10.0.1.200\n".to_owned(),
        ),
        (
            "playbooks/docker.yml".to_owned(),
            "- hosts: archlinux, ubuntu\n  roles:\n    - role: containers/apps/all\n".to_owned(),
        ),
        (
            "inventory/ubuntu".to_owned(),
            "[ubuntu]\nubuntu-01 ansible_host=192.168.122.92\n".to_owned(),
        ),
        (
            "roles/containers/apps/all/tasks/main.yml".to_owned(),
            "- name: the container roles\n  find:\n    paths:\n      - \"{{ role_path }}/..\"\n    file_type: directory\n  register: found\n- set_fact:\n    container_list: \"{{ found.files | map(attribute='path') | list }}\"\n- set_fact:\n    container_list: \"{{ container_list | reject('match', item) | list }}\"\n  with_items: \"{{ exclude_dockers }}\"\n- include_role:\n    name: \"{{ container_item }}\"\n  with_items: \"{{ container_list }}\"\n  loop_control:\n    loop_var: container_item\n".to_owned(),
        ),
        (
            "roles/containers/apps/all/defaults/main.yml".to_owned(),
            "exclude_dockers:\n  - adguardhome\n".to_owned(),
        ),
    ];
    files.extend([
        app("deluge", "lscr.io/linuxserver/deluge:2.1.1"),
        app("adguardhome", "adguard/adguardhome:v0.107.52"),
    ]);
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "stop deluge on supermicro-01");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Container,
            "deluge".to_owned(),
            vec!["supermicro-01".to_owned()]
        )
    );
    // A play on a pattern of groups runs on each group as one: no machine to pick.
    let resolution = resolve(&repository, "restart deluge");
    assert_eq!(
        builtin(&resolution).2,
        ["archlinux", "ubuntu"],
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "start adguard home");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "unwired"),
        "{resolution:#?}"
    );
}

#[test]
fn compose_files_a_wrapper_names_one_project_are_addressed_by_container() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "mpserver\n"),
        (
            "group_vars/all.yml",
            "docker_services:\n  - gitea\n  - nextcloud\nnextcloud_version: 31.0.2\nusername: mp\n",
        ),
        (
            "run.yml",
            "- hosts: mpserver\n  roles:\n    - role: containers\n      tags: compose\n",
        ),
        (
            "roles/containers/tasks/main.yml",
            "- name: the service's own compose file\n  ansible.builtin.template:\n    src: \"{{ item }}.yml.j2\"\n    dest: \"/srv/docker/{{ item }}/compose-{{ item }}.yml\"\n  with_items: \"{{ docker_services }}\"\n- name: the wrapper\n  ansible.builtin.template:\n    src: service-compose.yml.j2\n    dest: \"/srv/docker/{{ item }}/docker-compose.yml\"\n  with_items: \"{{ docker_services }}\"\n- name: a line taken out, not a service\n  ansible.builtin.lineinfile:\n    path: /srv/docker/commons.yml\n    regexp: 'legacy'\n    state: absent\n",
        ),
        (
            "roles/containers/templates/service-compose.yml.j2",
            "name: \"my_stack\"\ninclude:\n  - path: compose-{{ item }}.yml\n",
        ),
        (
            "roles/containers/templates/gitea.yml.j2",
            "services:\n  gitea:\n    image: gitea/gitea:1.22.3\n    container_name: gitea\n",
        ),
        (
            "roles/containers/templates/nextcloud.yml.j2",
            "services:\n  nextcloud:\n    image: \"{{ username }}/nextcloud-custom\"\n    container_name: nextcloud\n  nextcloud-cron:\n    image: nextcloud:{{ nextcloud_version }}\n",
        ),
    ]);
    let resolution = resolve(&repository, "gitea logs please");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Container,
            "gitea".to_owned(),
            vec!["mpserver".to_owned()]
        )
    );
    // Removing a line is no removal of what the list no longer names.
    let resolution = resolve(&repository, "remove gitea");
    assert!(
        matches!(
            &resolution.answer,
            Answer::Builtin {
                action: Verb::Remove,
                ..
            }
        ),
        "{resolution:#?}"
    );
    // A variable naming the image's namespace is no version pin.
    let resolution = resolve(&repository, "upgrade nextcloud to 32");
    let Answer::Entrypoint { pin, .. } = &resolution.answer else {
        panic!("{resolution:#?}");
    };
    assert!(
        matches!(pin, Some(Pin::Var { var, .. }) if var == "nextcloud_version"),
        "{resolution:#?}"
    );
}
