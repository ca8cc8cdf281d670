//! Layouts seen in the eleventh and twelfth outside sets: one inventory group and one playbook
//! per service, whose roles install packages (a unit named for a part of its role, a package
//! named past its role's name) or come from a collection (`checkmk.general.server`, pinned by a
//! play var); and machines known only by `host_vars/` because the inventory is a plugin's that
//! is not committed, with roles included per host from a list in each machine's vars.

use super::*;

fn per_service() -> (tempfile::TempDir, Repository) {
    repository(&[
        (
            "inventory/site.yaml",
            "all:\n  children:\n    checkmk-server:\n      hosts:\n        checkmk:\n    mssql:\n      hosts:\n        mssql01:\n    twingate:\n      hosts:\n        twc1:\n        twc2:\n    dns:\n      hosts:\n        ns01:\n        ns02:\n",
        ),
        (
            "playbooks/checkmk-server.yml",
            "- name: CheckMK Server\n  hosts: checkmk-server\n  roles:\n    - checkmk.general.server\n  vars:\n    checkmk_server_version: \"2.2.0p17\"\n",
        ),
        (
            "playbooks/mssql.yml",
            "- name: MS SQL\n  hosts: mssql\n  roles:\n    - mssql\n",
        ),
        (
            "roles/mssql/tasks/main.yml",
            "- name: Install MS SQL\n  ansible.builtin.apt:\n    name: mssql-server\n    state: present\n",
        ),
        (
            "playbooks/twingate.yml",
            "- name: Twingate\n  hosts: twingate\n  roles:\n    - twingate\n",
        ),
        (
            "roles/twingate/tasks/main.yml",
            "- name: Install the connector\n  ansible.builtin.apt:\n    pkg:\n      - twingate-connector\n- name: Restart the connector\n  ansible.builtin.systemd:\n    name: twingate-connector\n    state: restarted\n",
        ),
        (
            "playbooks/relay.yml",
            "- name: Relay\n  hosts: twingate\n  roles:\n    - mailrelay\n",
        ),
        (
            "roles/mailrelay/tasks/main.yml",
            "- name: Restart the relay worker\n  ansible.builtin.systemd:\n    name: mailrelay-worker\n    state: restarted\n",
        ),
        (
            "playbooks/dns.yml",
            "- name: DNS\n  hosts: dns\n  roles:\n    - dns\n",
        ),
        (
            "roles/dns/tasks/main.yml",
            "- name: Install bind\n  ansible.builtin.apt:\n    name: bind9\n- name: Start bind\n  ansible.builtin.service:\n    name: bind9\n    state: started\n",
        ),
    ])
}

#[test]
fn a_unit_named_for_a_part_of_its_role_is_the_roles_app() {
    let (_dir, repository) = per_service();
    let resolution = resolve(&repository, "stop the twingate connectors");
    let (unit, name, hosts) = builtin(&resolution);
    assert_eq!(
        (unit, name.as_str(), hosts),
        (
            UnitKind::Systemd,
            "twingate-connector.service",
            vec!["twingate".to_owned()]
        ),
        "{resolution:#?}"
    );
}

#[test]
fn a_unit_the_catalogue_does_not_know_named_for_a_part_of_its_role_is_the_roles_app() {
    let (_dir, repository) = per_service();
    let resolution = resolve(&repository, "restart the mailrelay worker");
    let (_, name, hosts) = builtin(&resolution);
    assert_eq!(
        (name.as_str(), hosts),
        ("mailrelay-worker.service", vec!["twingate".to_owned()]),
        "{resolution:#?}"
    );
}

#[test]
fn a_role_installing_a_package_named_past_the_service_runs_the_packages_unit() {
    let (_dir, repository) = per_service();
    let resolution = resolve(
        &repository,
        "uninstall ms sql, everything moved to postgres",
    );
    let (_, name, hosts) = builtin(&resolution);
    assert_eq!(
        (name.as_str(), hosts),
        ("mssql-server.service", vec!["mssql".to_owned()]),
        "{resolution:#?}"
    );
}

#[test]
fn a_collections_server_role_is_its_products_server_pinned_by_the_play() {
    let (_dir, repository) = per_service();
    let resolution = resolve(&repository, "upgrade checkmk to 2.3.0p1");
    match &resolution.answer {
        Answer::Entrypoint { playbook, pin, .. } => {
            assert_eq!(playbook, "playbooks/checkmk-server.yml");
            assert!(
                matches!(pin, Some(Pin::Var { file, var, .. })
                    if file == "playbooks/checkmk-server.yml" && var == "checkmk_server_version"),
                "{resolution:#?}"
            );
        }
        other => panic!("expected an entrypoint, got {other:#?}"),
    }
}

#[test]
fn asking_whether_a_service_answers_asks_its_status() {
    let (_dir, repository) = per_service();
    let resolution = resolve(
        &repository,
        "is bind answering on ns02? lookups from the vm subnet fail",
    );
    assert_eq!(resolution.verb, Verb::Status, "{resolution:#?}");
    let (_, name, hosts) = builtin(&resolution);
    assert_eq!(
        (name.as_str(), hosts),
        ("bind9.service", vec!["ns02".to_owned()]),
        "{resolution:#?}"
    );
}

/// Machines known only by their `host_vars/`; one play on a group a Proxmox inventory plugin
/// fills includes the roles each machine's `docker_roles` lists.
fn plugin_inventory() -> (tempfile::TempDir, Repository) {
    repository(&[
        ("inventorys/dummy.yml", ""),
        (
            "container_configure.yml",
            "- name: Configure containers\n  hosts: proxmox_all_lxc\n  tasks:\n    - name: Deploy multi-service hosts\n      ansible.builtin.include_role:\n        name: '{{ service.name }}'\n      when: docker_roles is defined\n      loop: '{{ docker_roles | default([]) }}'\n      loop_control:\n        loop_var: service\n",
        ),
        (
            "host_vars/docker01.yml",
            "docker_roles:\n  - name: audiobookshelf\n",
        ),
        (
            "host_vars/docker02.yml",
            "docker_roles:\n  - name: arr_stack\n",
        ),
        (
            "roles/arr_stack/tasks/main.yml",
            "- name: compose\n  ansible.builtin.template:\n    src: arr_stack.yml.j2\n    dest: /home/ops/docker/arr/docker-compose.yml\n- name: up\n  community.docker.docker_compose_v2:\n    project_src: /home/ops/docker/arr\n",
        ),
        (
            "roles/arr_stack/templates/arr_stack.yml.j2",
            "services:\n  qbittorrent:\n    image: lscr.io/linuxserver/qbittorrent:latest\n    container_name: qbittorrent\n  sonarr:\n    image: lscr.io/linuxserver/sonarr:latest\n    container_name: sonarr\n",
        ),
        (
            "roles/audiobookshelf/tasks/main.yml",
            "- name: compose\n  ansible.builtin.template:\n    src: audio_stack.yml.j2\n    dest: /home/ops/docker/audio/docker-compose.yml\n- name: up\n  community.docker.docker_compose_v2:\n    project_src: /home/ops/docker/audio\n",
        ),
        (
            "roles/audiobookshelf/templates/audio_stack.yml.j2",
            "services:\n  audiobookshelf:\n    image: ghcr.io/advplyr/audiobookshelf:latest\n    container_name: audioshelf\n",
        ),
    ])
}

#[test]
fn a_play_on_a_group_of_an_uncommitted_inventory_runs_on_the_machines_that_list_the_role() {
    let (_dir, repository) = plugin_inventory();
    let resolution = resolve(&repository, "stop the torrent client, I'm over my data cap");
    let (_, name, hosts) = builtin(&resolution);
    assert_eq!(
        (name.as_str(), hosts),
        ("qbittorrent", vec!["docker02".to_owned()]),
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "audiobokshelf logs please");
    let (unit, name, hosts) = builtin(&resolution);
    assert_eq!(
        (unit, name.as_str(), hosts),
        (UnitKind::Compose, "audio", vec!["docker01".to_owned()]),
        "{resolution:#?}"
    );
}

#[test]
fn deploying_a_role_by_its_name_sets_up_every_unit_named_for_it_without_asking() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[lab]\nbox\n"),
        (
            "site.yml",
            "- hosts: lab\n  roles:\n    - role: kdump\n      tags: kdump\n",
        ),
        (
            "roles/kdump/tasks/main.yml",
            "- name: Install kdump\n  ansible.builtin.apt:\n    name: kdump-tools\n- name: Watchdog unit\n  ansible.builtin.copy:\n    src: kdump_nmi_watchdog.service\n    dest: /etc/systemd/system/kdump_nmi_watchdog.service\n- name: Start kdump\n  ansible.builtin.systemd:\n    name: kdump-tools\n    state: started\n",
        ),
        (
            "roles/kdump/files/kdump_nmi_watchdog.service",
            "[Service]\nExecStart=/usr/local/bin/nmi-watchdog\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "set up kdump so the next hard lockup leaves a crash dump behind",
    );
    let (tags, _, _) = entrypoint(&resolution);
    assert_eq!(tags, ["kdump"], "{resolution:#?}");
}

/// Images written from a central map in `group_vars/all` (`deploy_images.traefik.image` and
/// `.tag`), one Traefik per site under a role of its own.
#[test]
fn an_image_written_from_a_central_map_names_the_service_and_pins_it_there() {
    let compose = |container: &str| {
        format!(
            "services:\n  {container}:\n    image: \"{{{{ deploy_images.traefik.image }}}}:{{{{ deploy_images.traefik.tag | default('latest') }}}}\"\n    container_name: {container}\n"
        )
    };
    let up = |role: &str| {
        format!(
            "- name: compose\n  ansible.builtin.template:\n    src: compose.yml.j2\n    dest: /srv/{role}/compose.yml\n- name: up\n  community.docker.docker_compose_v2:\n    project_src: /srv/{role}\n"
        )
    };
    let (internal, vps) = (compose("traefik_internal"), compose("traefik_vps"));
    let (internal_up, vps_up) = (up("traefik_internal"), up("traefik_vps"));
    let (_dir, repository) = repository(&[
        (
            "inventory/hosts.yml",
            "homelab:\n  hosts:\n    pi1:\nvps:\n  hosts:\n    strato_vps:\n",
        ),
        (
            "inventory/group_vars/all/deploy_images.yml",
            "deploy_images:\n  traefik:\n    image: \"traefik\"\n    tag: \"v3.6.12\"\n",
        ),
        (
            "playbooks/homelab.yml",
            "- hosts: homelab\n  roles:\n    - role: traefik_internal\n      tags: traefik_internal\n",
        ),
        (
            "playbooks/vps.yml",
            "- hosts: vps\n  roles:\n    - role: traefik_vps\n      tags: traefik_vps\n",
        ),
        ("roles/traefik_internal/tasks/main.yml", &internal_up),
        ("roles/traefik_internal/templates/compose.yml.j2", &internal),
        ("roles/traefik_vps/tasks/main.yml", &vps_up),
        ("roles/traefik_vps/templates/compose.yml.j2", &vps),
    ]);
    let resolution = resolve(&repository, "restart traefik, the routes are 404ing");
    assert!(
        matches!(&resolution.answer, Answer::Question { choices, .. } if choices.len() == 2),
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "upgrade the vps traefik to v3.7.0");
    match &resolution.answer {
        Answer::Entrypoint { pin, .. } => assert!(
            matches!(pin, Some(Pin::Var { file, var, value })
                if file == "inventory/group_vars/all/deploy_images.yml"
                    && var == "deploy_images.traefik.tag"
                    && value == "v3.6.12"),
            "{resolution:#?}"
        ),
        other => panic!("expected an entrypoint, got {other:#?}"),
    }
}

/// A role that stops and disables the native unit a compose project replaces.
#[test]
fn a_unit_stopped_and_disabled_is_retired_and_the_container_is_the_app() {
    let (_dir, repository) = repository(&[
        ("inventory.ini", "[services]\nsvc1\n"),
        ("group_vars/all.yml", "template:\n  user: ops\n"),
        ("site.yml", "- hosts: services\n  roles:\n    - syncthing\n"),
        (
            "roles/syncthing/tasks/main.yml",
            "- name: Stop and disable the legacy unit\n  ansible.builtin.systemd:\n    name: \"syncthing@{{ template.user }}.service\"\n    enabled: false\n    state: stopped\n- name: Compose\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: /home/ops/syncthing/docker-compose.yml\n- name: Up\n  community.docker.docker_compose_v2:\n    project_src: /home/ops/syncthing\n",
        ),
        (
            "roles/syncthing/templates/docker-compose.yml.j2",
            "services:\n  syncthing:\n    image: syncthing/syncthing:1.29\n    container_name: syncthing\n",
        ),
    ]);
    let resolution = resolve(&repository, "stop syncthnig while I move the sync folder");
    let (unit, name, _) = builtin(&resolution);
    assert_eq!(
        (unit, name.as_str()),
        (UnitKind::Compose, "syncthing"),
        "{resolution:#?}"
    );
}

/// A compose project folder a task sets with `set_fact:` before rendering into it.
#[test]
fn a_compose_folder_set_as_a_fact_names_the_project() {
    let (_dir, repository) = repository(&[
        ("inventory.ini", "[services]\nsvc1\n"),
        ("group_vars/all.yml", "template:\n  user: ops\n"),
        (
            "site.yml",
            "- hosts: services\n  roles:\n    - nebula_sync\n",
        ),
        (
            "roles/nebula_sync/tasks/main.yml",
            "- name: Set the project directory\n  ansible.builtin.set_fact:\n    nebula_sync_project_dir: \"/home/{{ template.user }}/nebula-sync\"\n- name: Compose\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: \"{{ nebula_sync_project_dir }}/docker-compose.yml\"\n- name: Up\n  community.docker.docker_compose_v2:\n    project_src: \"{{ nebula_sync_project_dir }}\"\n",
        ),
        (
            "roles/nebula_sync/templates/docker-compose.yml.j2",
            "services:\n  nebula-sync:\n    image: ghcr.io/lovelaze/nebula-sync:latest\n    container_name: nebula-sync\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "remove nebula sync, I'm retiring the second pihole",
    );
    let (unit, name, _) = builtin(&resolution);
    assert_eq!(
        (unit, name.as_str()),
        (UnitKind::Compose, "nebula-sync"),
        "{resolution:#?}"
    );
}

/// A bot named by the initials of what it is called (`tgtg`, Too Good To Go), a timer-run
/// update, and an app people stop using.
fn native_units() -> (tempfile::TempDir, Repository) {
    let unit = |name: &str| {
        format!(
            "- name: Unit\n  ansible.builtin.template:\n    src: {name}.service.j2\n    dest: /etc/systemd/system/{name}.service\n- name: Start\n  ansible.builtin.systemd:\n    name: {name}\n    state: started\n"
        )
    };
    let (tgtg, update) = (unit("tgtg"), unit("docker-auto-update"));
    repository(&[
        ("inventory.yml", "vps:\n  hosts:\n    box1:\n"),
        (
            "site.yml",
            "- hosts: vps\n  roles:\n    - tgtg\n    - docker_auto_update\n    - onlyoffice\n",
        ),
        ("roles/tgtg/tasks/main.yml", &tgtg),
        (
            "roles/tgtg/templates/tgtg.service.j2",
            "[Service]\nExecStart=/opt/tgtg/bot\n",
        ),
        ("roles/docker_auto_update/tasks/main.yml", &update),
        (
            "roles/docker_auto_update/templates/docker-auto-update.service.j2",
            "[Service]\nType=oneshot\nExecStart=/usr/local/bin/update-all\n",
        ),
        (
            "roles/onlyoffice/tasks/main.yml",
            "- name: onlyoffice\n  community.docker.docker_container:\n    name: onlyoffice\n    image: onlyoffice/documentserver:latest\n",
        ),
    ])
}

#[test]
fn words_whose_initials_spell_an_apps_name_name_it() {
    let (_dir, repository) = native_units();
    let resolution = resolve(
        &repository,
        "is the too good to go bot still running? no alerts today",
    );
    let (_, name, _) = builtin(&resolution);
    assert_eq!(name, "tgtg.service", "{resolution:#?}");
}

#[test]
fn kicking_something_off_runs_it_and_getting_rid_of_it_removes_it() {
    let (_dir, repository) = native_units();
    let resolution = resolve(
        &repository,
        "kick off the docker auto-update now instead of waiting for wednesday",
    );
    assert_eq!(resolution.verb, Verb::Start, "{resolution:#?}");
    let resolution = resolve(
        &repository,
        "get rid of onlyoffice, I don't edit documents in nextcloud anymore",
    );
    assert_eq!(resolution.verb, Verb::Remove, "{resolution:#?}");
}

/// A playbook of its own that stops, disables and uninstalls an app whose role no play runs
/// any more: that playbook is how the app is removed.
#[test]
fn a_playbook_stopping_and_disabling_an_apps_units_is_its_removal() {
    let (_dir, repository) = repository(&[
        ("inventory.ini", "[all_hosts]\nbox1\n"),
        (
            "playbooks/on-off/remove_restic.yml",
            "- hosts: all\n  tasks:\n    - name: remove the package\n      become: true\n      ansible.builtin.package:\n        name:\n          - restic\n        state: absent\n    - name: stop the timer\n      become: true\n      ansible.builtin.systemd:\n        name: restic.timer\n        state: stopped\n        enabled: false\n",
        ),
        (
            "friedhof/restic/tasks/main.yml",
            "- name: timer\n  ansible.builtin.template:\n    src: restic.timer.j2\n    dest: /etc/systemd/system/restic.timer\n- name: start\n  ansible.builtin.systemd:\n    name: restic.timer\n    state: started\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "get rid of restic on all the machines, the old backup timers are still lying around",
    );
    match &resolution.answer {
        Answer::Entrypoint { playbook, .. } => {
            assert_eq!(
                playbook, "playbooks/on-off/remove_restic.yml",
                "{resolution:#?}"
            );
        }
        other => panic!("expected the removal playbook, got {other:#?}"),
    }
}
