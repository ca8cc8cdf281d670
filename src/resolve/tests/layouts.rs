//! Layouts met in real repositories: scratch playbooks, apps built from a version variable,
//! stacks picked by per-host lists, one role in separate plays, parts of an app, roles named
//! `setup_<service>`, playbooks named for a service, settings in variables named for the app.

use super::*;

#[test]
fn a_playbook_for_trying_things_out_is_never_the_entrypoint() {
    let role = "- name: compose\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: /opt/homepage/docker-compose.yml\n";
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[lab]\nbox\n"),
        ("test.yml", "- hosts: lab\n  roles:\n    - homepage\n"),
        (
            "homelab.yml",
            "- hosts: lab\n  roles:\n    - homepage\n    - other\n",
        ),
        ("roles/homepage/tasks/main.yml", role),
        (
            "roles/homepage/templates/docker-compose.yml.j2",
            "services:\n  homepage:\n    image: ghcr.io/gethomepage/homepage:{{ homepage_version }}\n",
        ),
        (
            "roles/homepage/defaults/main.yml",
            "homepage_version: v1.2.0\n",
        ),
    ]);
    let resolution = resolve(&repository, "update the homepage container");
    match &resolution.answer {
        Answer::Entrypoint { playbook, pin, .. } => {
            assert_eq!(playbook, "homelab.yml");
            assert!(pin.is_some());
        }
        other => panic!("expected an entrypoint, got {other:?}"),
    }
}

#[test]
fn an_app_built_from_a_version_variable_is_pinned_by_it() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[proxy]\nedge\n"),
        (
            "site.yml",
            "- hosts: proxy\n  roles:\n    - role: caddy\n      tags: [caddy]\n",
        ),
        (
            "roles/caddy/tasks/main.yml",
            "- name: Build\n  ansible.builtin.command:\n    argv: [xcaddy, build, \"{{ caddy_version }}\"]\n",
        ),
        (
            "roles/caddy/defaults/main.yml",
            "caddy_version: \"2.8.4\"\n",
        ),
    ]);
    let resolution = resolve(&repository, "upgrade caddy");
    match &resolution.answer {
        Answer::Entrypoint { pin, .. } => assert!(
            matches!(pin, Some(Pin::Var { var, file, .. }) if var == "caddy_version" && file == "roles/caddy/defaults/main.yml"),
            "{pin:?}"
        ),
        other => panic!("expected an entrypoint, got {other:?}"),
    }
}

/// Per-host lists of stacks (`stacks: [{name: paperless}]` in host_vars), each entry picking
/// the role's template of that name through a variable the looped include sets.
#[test]
fn a_template_picked_by_a_hosts_list_runs_there_and_one_no_list_names_runs_nowhere() {
    let compose = |service: &str, image: &str| {
        format!("services:\n  {service}:\n    image: {image}\n    container_name: {service}\n")
    };
    let paperless = compose("paperless-ng", "lscr.io/linuxserver/paperless-ng:latest");
    let nextcloud = compose("nextcloud", "nextcloud:29");
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[servers]\nnas\nbox\n"),
        ("host_vars/nas.yml", "stacks:\n  - name: paperless\n"),
        ("host_vars/box.yml", "stacks: []\n"),
        (
            "site.yml",
            "- hosts: servers\n  roles:\n    - role: hosted_stacks\n      tags: [stacks]\n",
        ),
        (
            "roles/hosted_stacks/tasks/main.yml",
            "- name: Deploy stacks\n  ansible.builtin.include_role:\n    name: deploy_stack\n  vars:\n    stack_name: \"{{ stack.name }}\"\n  with_items: \"{{ stacks }}\"\n  loop_control:\n    loop_var: stack\n",
        ),
        (
            "roles/deploy_stack/tasks/main.yml",
            "- name: Template the stack\n  ansible.builtin.template:\n    src: '{{ stack_name }}.j2'\n    dest: '/srv/{{ stack_name }}/docker-compose.yml'\n",
        ),
        ("roles/hosted_stacks/templates/paperless.j2", &paperless),
        ("roles/hosted_stacks/templates/nextcloud.j2", &nextcloud),
    ]);
    let (unit, name, hosts) = builtin(&resolve(&repository, "restart paperless"));
    assert_eq!(
        (unit, name.as_str(), hosts),
        (UnitKind::Container, "paperless-ng", vec!["nas".to_owned()])
    );
    let resolution = resolve(&repository, "restart nextcloud");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "unwired"),
        "{:?}",
        resolution.answer
    );
}

/// One role applied by two plays to two hosts: two separate instances. A built-in action asks
/// which, unless the request says where or says every one.
#[test]
fn one_app_in_separate_plays_is_asked_about_unless_the_place_or_every_place_is_said() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[dns]\nns1\nns2\n"),
        (
            "site.yml",
            "- hosts: ns1\n  roles:\n    - pihole\n- hosts: ns2\n  roles:\n    - pihole\n",
        ),
        (
            "roles/pihole/tasks/main.yml",
            "- name: Pi-hole\n  community.docker.docker_container:\n    name: pihole\n    image: pihole/pihole:2024.07.0\n",
        ),
    ]);
    let resolution = resolve(&repository, "is pihole resolving ok?");
    match &resolution.answer {
        Answer::Question { about, choices, .. } => {
            assert_eq!(about, "instance");
            assert_eq!(choices, &["ns1:pihole", "ns2:pihole"]);
        }
        other => panic!("expected a question, got {other:?}"),
    }
    let given = Given {
        service: Some("pihole".to_owned()),
        instance: Some("ns2:pihole".to_owned()),
    };
    let (_, _, hosts) = builtin(&resolve_given(
        &repository,
        "is pihole resolving ok?",
        None,
        &given,
    ));
    assert_eq!(hosts, ["ns2"]);
    let (_, _, hosts) = builtin(&resolve(&repository, "restart pihole on ns1"));
    assert_eq!(hosts, ["ns1"]);
    let (_, _, hosts) = builtin(&resolve(&repository, "restart pihole on every box"));
    assert_eq!(hosts, ["ns1", "ns2"]);
}

/// A compose file with two containers of one image, and an app with its database beside it:
/// the words said with the name pick the part.
#[test]
fn an_app_named_with_a_word_for_one_of_its_parts_is_that_part() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[media]\nbox\n"),
        (
            "site.yml",
            "- hosts: media\n  roles:\n    - transmission\n    - gitea\n",
        ),
        (
            "roles/transmission/tasks/main.yml",
            "- name: compose\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: /opt/transmission/docker-compose.yml\n",
        ),
        (
            "roles/transmission/templates/docker-compose.yml.j2",
            "services:\n  transmission:\n    image: lscr.io/linuxserver/transmission:4.0.6\n    container_name: transmission\n  transmission-bkup:\n    image: lscr.io/linuxserver/transmission:4.0.6\n    container_name: transmission-bkup\n",
        ),
        (
            "roles/gitea/tasks/main.yml",
            "- name: Gitea\n  community.docker.docker_container:\n    name: gitea\n    image: gitea/gitea:1.22.3\n- name: Gitea database\n  community.docker.docker_container:\n    name: gitea-db\n    image: \"{{ gitea_db_image }}\"\n",
        ),
        (
            "roles/gitea/defaults/main.yml",
            "gitea_db_image: postgres:16-alpine\n",
        ),
    ]);
    let (unit, name, _) = builtin(&resolve(
        &repository,
        "is the backup transmission instance running?",
    ));
    assert_eq!(
        (unit, name.as_str()),
        (UnitKind::Container, "transmission-bkup")
    );
    // The plain name is still the main one, as its compose project.
    let (unit, name, _) = builtin(&resolve(&repository, "restart transmission"));
    assert_eq!((unit, name.as_str()), (UnitKind::Compose, "transmission"));
    let resolution = resolve(
        &repository,
        "gitea's postgres is still on 16, move it to 17",
    );
    match &resolution.answer {
        Answer::Entrypoint { pin, .. } => assert!(
            matches!(pin, Some(Pin::Var { var, .. }) if var == "gitea_db_image"),
            "{pin:?}"
        ),
        other => panic!("expected an entrypoint, got {other:?}"),
    }
}

/// A role named `setup_<service>` is that service; the group of the same name said as the
/// thing added to is the service, and the host said with "on" is the place.
#[test]
fn a_role_named_setup_service_is_the_service_and_its_group_is_no_place_when_another_is_said() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[mergerfs]\nqnap\n\n[nas]\nqnap\n"),
        (
            "site.yml",
            "- hosts: mergerfs\n  roles:\n    - role: setup_mergerfs\n      tags: [mergerfs]\n",
        ),
        (
            "roles/setup_mergerfs/tasks/main.yml",
            "- name: Pool\n  ansible.posix.mount:\n    path: /mnt/pool\n    src: \"{{ mergerfs_branches | join(':') }}\"\n    fstype: fuse.mergerfs\n    state: mounted\n",
        ),
        ("host_vars/qnap.yml", "mergerfs_branches:\n  - /mnt/disk1\n"),
    ]);
    let resolution = resolve(
        &repository,
        "add the new 8tb disk to the mergerfs pool on the qnap",
    );
    assert_eq!(resolution.service.as_deref(), Some("mergerfs"));
    assert_eq!(resolution.verb, Verb::Configure);
    let (tags, limit, _) = entrypoint(&resolution);
    assert_eq!(tags, ["mergerfs"]);
    assert_eq!(limit.as_deref(), Some("qnap"));
}

/// No app of it, but a playbook named for it: that playbook runs, on every host said.
#[test]
fn a_playbook_named_for_a_service_without_an_app_is_its_entrypoint() {
    let (_dir, repository) = repository(&[
        ("inventory/hosts.ini", "[servers]\nbox1\nbox2\n"),
        (
            "playbooks/docker.yml",
            "- hosts: all\n  tasks:\n    - name: Engine\n      ansible.builtin.apt:\n        name: docker-ce\n",
        ),
    ]);
    match resolve(&repository, "install docker on all the boxes").answer {
        Answer::Entrypoint {
            playbook, limit, ..
        } => {
            assert_eq!(playbook, "playbooks/docker.yml");
            assert_eq!(limit, None);
        }
        other => panic!("expected an entrypoint, got {other:?}"),
    }
    // Removing is not what an install playbook does.
    assert!(matches!(
        resolve(&repository, "remove docker from box1").answer,
        Answer::None { .. }
    ));
}

/// Two vars files with a port: the one whose variable is named for the app holds its setting.
#[test]
fn a_setting_is_in_the_variable_named_for_the_app_not_its_roles_other_app() {
    let (_dir, repository) = repository(&[
        ("inventory/hosts.ini", "[bastion]\nb1\n"),
        ("site.yml", "- hosts: bastion\n  roles:\n    - monitoring\n"),
        (
            "roles/monitoring/tasks/main.yml",
            "- name: compose\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: /opt/monitoring/docker-compose.yml\n",
        ),
        (
            "roles/monitoring/templates/docker-compose.yml.j2",
            "services:\n  grafana:\n    image: grafana/grafana:11.2.0\n    ports:\n      - \"{{ monitoring_grafana_host_port }}:3000\"\n  cadvisor:\n    image: gcr.io/cadvisor/cadvisor:v0.49.1\n    ports:\n      - \"{{ monitoring_cadvisor_host_port }}:8080\"\n",
        ),
        (
            "inventory/group_vars/all.yml",
            "monitoring_cadvisor_host_port: 8098\n",
        ),
        (
            "inventory/group_vars/bastion.yml",
            "monitoring_grafana_host_port: 3001\n",
        ),
    ]);
    let resolution = resolve(&repository, "move grafana to port 3300");
    assert_eq!(resolution.verb, Verb::Configure);
    let (_, _, config) = entrypoint(&resolution);
    assert_eq!(config.as_deref(), Some("inventory/group_vars/bastion.yml"));
}

/// An app the catalogue does not know, found by what its owner wrote about it (its play's
/// name), even where one catalogue guess ("stream" → the media server) also fits.
#[test]
fn an_app_the_catalogue_lacks_is_found_by_the_repositorys_own_words_for_it() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[media]\nmalfoy\n"),
        (
            "stream-durin.yml",
            "- name: Deploy Durin Tapo camera YouTube stream service\n  hosts: media\n  roles:\n    - stream-durin\n",
        ),
        (
            "roles/stream-durin/tasks/main.yml",
            "- name: Unit\n  ansible.builtin.template:\n    src: stream-durin.service.j2\n    dest: /etc/systemd/system/stream-durin.service\n- name: Run\n  ansible.builtin.systemd_service:\n    name: stream-durin\n    state: started\n",
        ),
        (
            "roles/stream-durin/templates/stream-durin.service.j2",
            "[Service]\nExecStart=/usr/bin/ffmpeg -i rtsp://camera -f flv rtmp://youtube\n",
        ),
        (
            "jellyfin.yml",
            "- name: Media server\n  hosts: media\n  roles:\n    - jellyfin\n",
        ),
        (
            "roles/jellyfin/tasks/main.yml",
            "- name: Jellyfin\n  community.docker.docker_container:\n    name: jellyfin\n    image: jellyfin/jellyfin:10.10.3\n",
        ),
    ]);
    let (unit, name, hosts) = builtin(&resolve(
        &repository,
        "the tapo camera youtube stream froze, restart it",
    ));
    assert_eq!(
        (unit, name.as_str(), hosts),
        (
            UnitKind::Systemd,
            "stream-durin.service",
            vec!["media".to_owned()]
        )
    );
    // A description the repository's words do not carry stays the catalogue's.
    let resolution = resolve(&repository, "restart the media server");
    assert_eq!(resolution.service.as_deref(), Some("jellyfin"));
}

/// Two instances of one proxy, the second named `_internal`: "lan-only" says which.
#[test]
fn a_word_for_one_side_of_a_split_setup_picks_that_instance() {
    let container = |name: &str| {
        format!(
            "- name: {name}\n  community.docker.docker_container:\n    name: {name}\n    image: lscr.io/linuxserver/swag:3.0.1\n"
        )
    };
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[proxy_host]\nedge\n"),
        (
            "site.yml",
            "- hosts: proxy_host\n  roles:\n    - swag\n    - swag_internal\n",
        ),
        ("roles/swag/tasks/main.yml", &container("swag")),
        (
            "roles/swag_internal/tasks/main.yml",
            &container("swag_internal"),
        ),
    ]);
    let (unit, name, _) = builtin(&resolve(
        &repository,
        "the lan-only reverse proxy keeps throwing 502s, show me its logs",
    ));
    assert_eq!(
        (unit, name.as_str()),
        (UnitKind::Container, "swag_internal")
    );
}

/// Groups named `<name>_hosts` / `<name>-servers`: "the vps" and "the bastion" are those
/// places where the words around them say a place; a group named for an app is that app.
#[test]
fn a_group_said_without_its_suffix_is_the_place_where_the_words_say_a_place() {
    let (_dir, repository) = repository(&[
        (
            "hosts.ini",
            "[vps_hosts]\nionos\n[bastion-servers]\nbastion-1\n[homepage_host]\nhome-1\n[lan]\nbigboi\n",
        ),
        (
            "site.yml",
            "- hosts: vps_hosts\n  roles:\n    - nginx\n- hosts: lan\n  roles:\n    - nginx\n- hosts: bastion-servers:lan\n  roles:\n    - grafana\n- hosts: homepage_host\n  roles:\n    - homepage\n",
        ),
        (
            "roles/nginx/tasks/main.yml",
            "- name: Nginx\n  ansible.builtin.systemd_service:\n    name: nginx\n    state: started\n",
        ),
        (
            "roles/grafana/tasks/main.yml",
            "- name: Grafana\n  community.docker.docker_container:\n    name: grafana\n    image: grafana/grafana:11.2.0\n",
        ),
        (
            "roles/homepage/tasks/main.yml",
            "- name: Homepage\n  ansible.builtin.template:\n    src: services.yaml.j2\n    dest: /opt/homepage/services.yaml\n- name: Homepage\n  community.docker.docker_container:\n    name: homepage\n    image: ghcr.io/gethomepage/homepage:v0.9.10\n",
        ),
        (
            "roles/homepage/templates/services.yaml.j2",
            "- Smart Home:\n    - Home Assistant:\n        widget: {}\n",
        ),
    ]);
    // Said after "on": the place, before a host named only to say why.
    let (_, _, hosts) = builtin(&resolve(
        &repository,
        "bigboi can't reach the vps anymore, restart nginx on the vps",
    ));
    assert_eq!(hosts, ["vps_hosts"]);
    // Followed by a word that says a machine.
    let resolution = resolve(
        &repository,
        "grafana didn't come up after the bastion rebooted",
    );
    assert_eq!(resolution.target.as_deref(), Some("bastion-servers"));
    // Neither: a word, not a place.
    let resolution = resolve(&repository, "restart the bastion grafana");
    assert_eq!(resolution.target, None);
    // A group named for an app, said without its suffix, is the app.
    let resolution = resolve(
        &repository,
        "change the home assistant widget on the homepage dashboard",
    );
    assert_eq!(resolution.service.as_deref(), Some("homepage"));
    assert_eq!(resolution.target, None);
}

/// "all" is a place plays name; "all the container logs" says how many.
#[test]
fn all_is_a_place_only_when_said_as_one() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "box\n"),
        ("site.yml", "- hosts: all\n  roles:\n    - dozzle\n"),
        (
            "roles/dozzle/tasks/main.yml",
            "- name: Dozzle\n  community.docker.docker_container:\n    name: dozzle\n    image: amir20/dozzle:v8.4.0\n",
        ),
    ]);
    let resolution = resolve(&repository, "stop dozzle, it tails all the container logs");
    assert_eq!(resolution.target, None);
    let resolution = resolve(&repository, "restart dozzle on all");
    assert_eq!(resolution.target.as_deref(), Some("all"));
}

/// A machine the site playbook never targets, set up by its own playbook that imports one task
/// file of the role (`tasks_from`): "put tailscale on bunk" runs that playbook there, as a
/// deploy, whatever settings its words touch.
#[test]
fn a_place_said_picks_the_playbook_whose_plays_run_there() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[servers]\nlab\npug\n[nas]\nbunk\n"),
        (
            "site.yml",
            "- hosts: servers\n  roles:\n    - role: tailscale\n      tags: [tailscale]\n",
        ),
        (
            "bunk.yml",
            "- hosts: bunk\n  tasks:\n    - name: Configure Tailscale\n      import_role:\n        name: tailscale\n        tasks_from: dsm\n      tags: [tailscale]\n",
        ),
        (
            "roles/tailscale/tasks/main.yml",
            "- name: Tailscale\n  ansible.builtin.systemd_service:\n    name: tailscaled\n    state: started\n",
        ),
        (
            "roles/tailscale/tasks/dsm.yml",
            "- name: Tailscale package\n  ansible.builtin.command: synopkg install tailscale\n",
        ),
        ("host_vars/bunk.yml", "tailscale_mesh_routes: []\n"),
    ]);
    let resolution = resolve(&repository, "put tailscale on bunk so it joins the mesh");
    assert_eq!(resolution.verb, Verb::Deploy);
    match &resolution.answer {
        Answer::Entrypoint {
            playbook, limit, ..
        } => {
            assert_eq!(playbook, "bunk.yml");
            assert_eq!(limit.as_deref(), Some("bunk"));
        }
        other => panic!("expected an entrypoint, got {other:?}"),
    }
    // Said for a machine the site playbook does target, the site playbook.
    match &resolve(&repository, "put tailscale on pug").answer {
        Answer::Entrypoint { playbook, .. } => assert_eq!(playbook, "site.yml"),
        other => panic!("expected an entrypoint, got {other:?}"),
    }
}

/// One compose file, several containers: a container's own words, said anywhere, pick it;
/// a word beside the app's name wins over one said elsewhere.
#[test]
fn a_container_of_an_apps_compose_is_picked_by_the_words_of_its_name() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[docker]\nearth\n"),
        (
            "services.yml",
            "- hosts: docker\n  roles:\n    - role: immich\n      tags: [immich]\n",
        ),
        (
            "roles/immich/tasks/main.yml",
            "- name: Compose\n  ansible.builtin.template:\n    src: compose.yml.j2\n    dest: /opt/immich/compose.yml\n",
        ),
        (
            "roles/immich/templates/compose.yml.j2",
            "services:\n  immich-server:\n    container_name: immich-server\n    image: ghcr.io/immich-app/immich-server:v1.120.0\n  immich-machine-learning:\n    container_name: immich-machine-learning\n    image: ghcr.io/immich-app/immich-machine-learning:v1.120.0\n  database:\n    container_name: immich-database\n    image: tensorchord/pgvecto-rs:pg14-v0.2.0\n  redis:\n    container_name: immich-redis\n    image: valkey/valkey:8\n",
        ),
    ]);
    // A part said as what it is: the cache is the valkey named `immich-redis`.
    let (unit, name, _) = builtin(&resolve(
        &repository,
        "immich's cache container is wedged, restart just that",
    ));
    assert_eq!((unit, name.as_str()), (UnitKind::Container, "immich-redis"));
    let (unit, name, _) = builtin(&resolve(
        &repository,
        "immich hasn't tagged a face since the upgrade, restart the machine learning container",
    ));
    assert_eq!(
        (unit, name.as_str()),
        (UnitKind::Container, "immich-machine-learning")
    );
    let (unit, name, _) = builtin(&resolve(
        &repository,
        "stop the immich server container but leave its database running",
    ));
    assert_eq!(
        (unit, name.as_str()),
        (UnitKind::Container, "immich-server")
    );
}

/// A role that ships its own unit file runs a daemon of its own, whatever the unit is called;
/// in a role named for a known service, another unit it ships is that service's helper.
#[test]
fn a_unit_the_role_ships_is_the_roles_app() {
    let systemd = |unit: &str| {
        format!(
            "- name: Unit\n  ansible.builtin.template:\n    src: {unit}.service.j2\n    dest: /etc/systemd/system/{unit}.service\n- name: Enable\n  ansible.builtin.systemd:\n    name: {unit}\n    state: started\n"
        )
    };
    let webcam = systemd("v4l2rtspserver");
    let guard = systemd("adguard_reboot_guard");
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[cams]\ncam1\n[dns]\npug\n"),
        (
            "site.yml",
            "- hosts: cams\n  roles:\n    - webcam\n- hosts: dns\n  roles:\n    - adguard\n",
        ),
        ("roles/webcam/tasks/main.yml", &webcam),
        (
            "roles/webcam/templates/v4l2rtspserver.service.j2",
            "[Service]\nExecStart=/usr/local/bin/v4l2rtspserver\n",
        ),
        ("roles/adguard/tasks/main.yml", &guard),
        (
            "roles/adguard/templates/adguard_reboot_guard.service.j2",
            "[Service]\nExecStart=/bin/true\n",
        ),
    ]);
    let (unit, name, hosts) = builtin(&resolve(
        &repository,
        "is the rtsp server for the webcam pi still running?",
    ));
    assert_eq!(
        (unit, name.as_str(), hosts),
        (
            UnitKind::Systemd,
            "v4l2rtspserver.service",
            vec!["cams".to_owned()]
        )
    );
    assert!(
        !repository
            .apps
            .iter()
            .any(|a| a.unit_name == "adguard_reboot_guard.service"),
        "a helper unit of a known service is no app"
    );
}

/// Per-app task files with containers, a setup playbook for the machines: "the ai vm" is the
/// place, "run the base setup" runs `plays/setup.yml` there as it is; a word of an app's name
/// the catalogue does not know ("the family dashboard") beats the dashboards it does know.
#[test]
fn a_playbook_run_by_its_name_and_an_unknown_app_by_a_word_of_its_name() {
    let container = |name: &str, image: &str| {
        format!(
            "- name: {name}\n  community.docker.docker_container:\n    name: {name}\n    image: {image}\n"
        )
    };
    let family = container("family-hub", "ghcr.io/someone/family-hub:1.0");
    let grafana = container("grafana", "grafana/grafana:11.2.0");
    let homepage = container("homepage", "ghcr.io/gethomepage/homepage:v0.9.10");
    let (_dir, repository) = repository(&[
        ("inventory.ini", "[ai]\n10.0.0.6\n[docker]\n10.0.0.2\n"),
        (
            "plays/setup.yml",
            "- name: SETUP\n  hosts: all\n  tasks:\n    - name: Packages\n      ansible.builtin.apt:\n        name: [git, zsh]\n      tags: [packages]\n",
        ),
        (
            "plays/containers.yml",
            "- hosts: docker\n  tasks:\n    - ansible.builtin.include_tasks: ../tasks/docker/family-hub.yml\n    - ansible.builtin.include_tasks: ../tasks/docker/grafana.yml\n    - ansible.builtin.include_tasks: ../tasks/docker/homepage.yml\n",
        ),
        ("tasks/docker/family-hub.yml", &family),
        ("tasks/docker/grafana.yml", &grafana),
        ("tasks/docker/homepage.yml", &homepage),
    ]);
    let resolution = resolve(
        &repository,
        "i rebuilt the ai vm from scratch, run the base setup on it: packages, docker and the shell",
    );
    assert_eq!(resolution.target.as_deref(), Some("ai"));
    match &resolution.answer {
        Answer::Entrypoint {
            playbook,
            tags,
            limit,
            ..
        } => {
            assert_eq!(playbook, "plays/setup.yml");
            assert!(tags.is_empty());
            assert_eq!(limit.as_deref(), Some("ai"));
        }
        other => panic!("expected an entrypoint, got {other:?}"),
    }
    let resolution = resolve(
        &repository,
        "the family dashboard on the kitchen tablet is stuck loading, restart it",
    );
    assert_eq!(resolution.service.as_deref(), Some("family-hub"));
}

/// A role that downloads a tool at a pinned version (`docker_compose_version` in its vars):
/// upgrading the tool moves that pin and runs the role's playbook, though no app stands for it.
#[test]
fn a_tool_whose_version_a_role_pins_is_upgraded_through_that_pin() {
    let (_dir, repository) = repository(&[
        ("inventory.ini", "[dev]\nmalfoy\nbigboi\n"),
        (
            "dev-tooling.yml",
            "- hosts: dev\n  roles:\n    - dev-tooling\n",
        ),
        (
            "roles/dev-tooling/tasks/main.yml",
            "- name: Compose plugin\n  ansible.builtin.get_url:\n    url: \"https://github.com/docker/compose/releases/download/v{{ docker_compose_version }}/docker-compose-linux-x86_64\"\n    dest: /usr/local/lib/docker/cli-plugins/docker-compose\n",
        ),
        (
            "roles/dev-tooling/vars/main.yml",
            "docker_compose_version: \"2.16.0\"\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "docker compose on the dev boxes is still 2.16.0, get them onto a current release",
    );
    assert_eq!(resolution.verb, Verb::Upgrade);
    match &resolution.answer {
        Answer::Entrypoint { playbook, pin, .. } => {
            assert_eq!(playbook, "dev-tooling.yml");
            assert!(
                matches!(pin, Some(Pin::Var { file, var, .. }) if file == "roles/dev-tooling/vars/main.yml" && var == "docker_compose_version"),
                "{pin:?}"
            );
        }
        other => panic!("expected an entrypoint, got {other:?}"),
    }
}

/// A role looping over a list each host sets in its own `host_vars` file: "… on the qnap"
/// changes the qnap's file; with no place said, the role's own files.
#[test]
fn a_setting_said_for_a_place_is_in_that_places_inventory_file() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[servers]\nqnap\ndell\n"),
        (
            "setup.yml",
            "- hosts: servers\n  roles:\n    - role: setup_mergerfs\n      tags: [mergerfs]\n",
        ),
        (
            "roles/setup_mergerfs/tasks/main.yml",
            "- name: Mergerfs\n  ansible.builtin.apt:\n    name: mergerfs\n- name: Mount the pools\n  ansible.posix.mount:\n    path: \"{{ item.path }}\"\n    src: \"{{ item.branches }}\"\n    fstype: fuse.mergerfs\n    state: mounted\n  loop: \"{{ mounts }}\"\n",
        ),
        (
            "host_vars/qnap.yml",
            "mounts:\n  - path: /mnt/pool\n    branches: /mnt/disk1:/mnt/disk2\n",
        ),
        ("host_vars/dell.yml", "mounts: []\n"),
    ]);
    let (_, _, config) = entrypoint(&resolve(
        &repository,
        "add the new 8tb disk to the mergerfs pool on the qnap",
    ));
    assert_eq!(config.as_deref(), Some("host_vars/qnap.yml"));
    let (_, _, config) = entrypoint(&resolve(&repository, "add a disk to the mergerfs pool"));
    assert_eq!(
        config.as_deref(),
        Some("roles/setup_mergerfs/tasks/main.yml")
    );
}

/// The nginx role applied by three plays, and a gateway role on one of those hosts that also
/// reloads nginx: one unit on three machines, asked about by machine.
#[test]
fn a_unit_a_role_installs_and_another_role_touches_is_one_unit_asked_about_by_place() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "casey\ningress\nqbit\n"),
        (
            "main.yml",
            "- hosts: casey\n  roles:\n    - nginx\n    - gateway\n- hosts: ingress\n  roles:\n    - nginx\n- hosts: qbit\n  roles:\n    - nginx\n",
        ),
        (
            "roles/nginx/tasks/main.yml",
            "- name: Install nginx\n  ansible.builtin.package:\n    name: nginx\n",
        ),
        (
            "roles/gateway/tasks/main.yml",
            "- name: Gateway site\n  ansible.builtin.template:\n    src: gateway.conf\n    dest: /etc/nginx/sites-enabled/gateway.conf\n- name: Reload nginx\n  ansible.builtin.service:\n    name: nginx\n    state: reloaded\n",
        ),
    ]);
    match &resolve(&repository, "restart nginx").answer {
        Answer::Question { about, choices, .. } => {
            assert_eq!(about, "instance");
            assert_eq!(choices, &["casey:nginx", "ingress:nginx", "qbit:nginx"]);
        }
        other => panic!("expected a question, got {other:?}"),
    }
    let (unit, name, hosts) = builtin(&resolve(&repository, "restart nginx on ingress"));
    assert_eq!((unit, name.as_str()), (UnitKind::Systemd, "nginx.service"));
    assert_eq!(hosts, ["ingress"]);
}

/// Two compose projects, each with a database service `db`: "paperless … its database" is the
/// one in paperless's file, and "paperless" alone is Paperless-ngx, not the database whose
/// only name is its project's.
#[test]
fn a_service_named_beside_an_app_is_the_instance_in_that_apps_file() {
    let compose = |role: &str, main: &str, image: &str, postgres: &str| {
        (
            format!("roles/{role}/templates/docker-compose.j2"),
            format!(
                "services:\n  db:\n    image: docker.io/library/postgres:{postgres}\n  {main}:\n    image: {image}\n"
            ),
        )
    };
    let paperless = compose(
        "paperless",
        "webserver",
        "ghcr.io/paperless-ngx/paperless-ngx:1.16.5",
        "13",
    );
    let receep = compose("receep", "api", "ghcr.io/someone/receep-api:2.0", "16");
    let task = |role: &str| {
        (
            format!("roles/{role}/tasks/main.yml"),
            format!(
                "- name: Compose\n  ansible.builtin.template:\n    src: docker-compose.j2\n    dest: /app/{role}/docker-compose.yml\n"
            ),
        )
    };
    let (pt, rt) = (task("paperless"), task("receep"));
    let (_dir, repository) = repository(&[
        ("inventory.ini", "[apps]\nmalfoy\n"),
        (
            "paperless.yml",
            "- hosts: apps\n  roles:\n    - paperless\n",
        ),
        ("receep.yml", "- hosts: apps\n  roles:\n    - receep\n"),
        (&pt.0, &pt.1),
        (&rt.0, &rt.1),
        (&paperless.0, &paperless.1),
        (&receep.0, &receep.1),
    ]);
    let resolution = resolve(
        &repository,
        "paperless is still on postgres 13, bump its database",
    );
    match &resolution.answer {
        Answer::Entrypoint { playbook, pin, .. } => {
            assert_eq!(playbook, "paperless.yml");
            assert!(
                matches!(pin, Some(Pin::Var { file, var, .. }) if file == "roles/paperless/templates/docker-compose.j2" && var == "services.db.image"),
                "{pin:?}"
            );
        }
        other => panic!("expected an entrypoint, got {other:?}"),
    }
    assert_eq!(
        resolve(&repository, "restart paperless").service.as_deref(),
        Some("paperless-ngx")
    );
}

/// Three MCP servers: two named `<what>-mcp`, one `mcpjungle`. "the mcp server" asks among
/// all three.
#[test]
fn a_shared_name_part_asks_among_every_app_named_with_it_first_or_last() {
    let container = |name: &str| {
        format!(
            "- name: {name}\n  community.docker.docker_container:\n    name: {name}\n    image: ghcr.io/someone/{name}:1.0\n"
        )
    };
    let (a, b, c) = (
        container("media-server-mcp"),
        container("workboard-mcp"),
        container("mcpjungle"),
    );
    let (_dir, repository) = repository(&[
        ("inventory.ini", "[ai]\n10.0.0.6\n"),
        (
            "plays/ai.yml",
            "- hosts: ai\n  tasks:\n    - ansible.builtin.include_tasks: ../tasks/media-server-mcp.yml\n    - ansible.builtin.include_tasks: ../tasks/workboard-mcp.yml\n    - ansible.builtin.include_tasks: ../tasks/mcpjungle.yml\n",
        ),
        ("tasks/media-server-mcp.yml", &a),
        ("tasks/workboard-mcp.yml", &b),
        ("tasks/mcpjungle.yml", &c),
    ]);
    match &resolve(&repository, "the mcp server on the ai box hung, restart it").answer {
        Answer::Question { choices, .. } => {
            assert_eq!(choices, &["mcpjungle", "media-server-mcp", "workboard-mcp"]);
        }
        other => panic!("expected a question, got {other:?}"),
    }
}

/// The repository's own words name an app the catalogue knows when nothing the catalogue says
/// fits the request: "the kitchen tablet screen" is the Homepage its tasks call so.
#[test]
fn the_repositorys_own_words_find_a_known_app_when_the_catalogue_finds_nothing() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[docker]\nbox\n"),
        (
            "site.yml",
            "- hosts: docker\n  roles:\n    - homepage\n    - vaultwarden\n",
        ),
        (
            "roles/homepage/tasks/main.yml",
            "- name: Homepage for the kitchen tablet screen\n  community.docker.docker_container:\n    name: homepage\n    image: ghcr.io/gethomepage/homepage:v0.9.10\n",
        ),
        (
            "roles/vaultwarden/tasks/main.yml",
            "- name: Vaultwarden\n  community.docker.docker_container:\n    name: vaultwarden\n    image: vaultwarden/server:1.32.0\n",
        ),
    ]);
    let resolution = resolve(&repository, "the kitchen tablet screen froze, restart it");
    assert_eq!(resolution.service.as_deref(), Some("homepage"));
}

/// A value the request quotes, or gives in figures, picks the file that holds it, though
/// another file says more of the request's words.
#[test]
fn a_value_the_request_writes_out_picks_the_file_that_holds_it() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[bastion]\nbox\n"),
        (
            "site.yml",
            "- hosts: bastion\n  roles:\n    - role: homepage\n      tags: [homepage]\n",
        ),
        (
            "roles/homepage/tasks/main.yml",
            "- name: Settings\n  ansible.builtin.template:\n    src: settings.yaml.j2\n    dest: /opt/homepage/settings.yaml\n- name: Board\n  ansible.builtin.template:\n    src: board.yaml.j2\n    dest: /opt/homepage/board.yaml\n- name: Homepage\n  community.docker.docker_container:\n    name: homepage\n    image: ghcr.io/gethomepage/homepage:v0.9.10\n",
        ),
        (
            "roles/homepage/templates/settings.yaml.j2",
            "name: Feycce Homelab\ntheme: dark\n",
        ),
        (
            "roles/homepage/templates/board.yaml.j2",
            "- title: Resources at the top\n  label: Homelab page\n",
        ),
    ]);
    let (_, _, config) = entrypoint(&resolve(
        &repository,
        "homepage says 'Feycce Homelab' at the top, fix the title",
    ));
    assert_eq!(
        config.as_deref(),
        Some("roles/homepage/templates/settings.yaml.j2")
    );
}

/// A value written in one app's configuration, given in a form no plain word takes, names the
/// app a configure request means, where what the request is for fits another.
#[test]
fn a_value_only_one_apps_configuration_writes_names_that_app() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[docker]\nbox\n"),
        (
            "site.yml",
            "- hosts: docker\n  roles:\n    - role: ntfy\n      tags: [ntfy]\n    - role: immich\n      tags: [immich]\n",
        ),
        (
            "roles/ntfy/tasks/main.yml",
            "- name: Server config\n  ansible.builtin.template:\n    src: server.yml.j2\n    dest: /etc/ntfy/server.yml\n- name: Ntfy\n  community.docker.docker_container:\n    name: ntfy\n    image: binwiederhier/ntfy:v2.11.0\n",
        ),
        (
            "roles/ntfy/templates/server.yml.j2",
            "auth-default-access: deny-all\nbase-url: https://ntfy.example.org\n",
        ),
        (
            "roles/immich/tasks/main.yml",
            "- name: Immich\n  community.docker.docker_container:\n    name: immich\n    image: ghcr.io/immich-app/immich-server:v1.120.0\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "let the phones subscribe without logging in, change the default access from deny-all to read-only",
    );
    assert_eq!(resolution.service.as_deref(), Some("ntfy"));
    let (_, _, config) = entrypoint(&resolution);
    assert_eq!(
        config.as_deref(),
        Some("roles/ntfy/templates/server.yml.j2")
    );
}

/// A template that renders a list one entry at a time (`{% for d in wolweb_devices %}`):
/// adding an entry edits the list where the role sets it; other settings stay in the file.
#[test]
fn adding_an_entry_to_a_rendered_list_edits_the_list_where_it_is_set() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[lab]\nlab1\n"),
        (
            "site.yml",
            "- hosts: lab\n  roles:\n    - role: wolweb\n      tags: [wolweb]\n",
        ),
        (
            "roles/wolweb/tasks/main.yml",
            "- name: Devices\n  ansible.builtin.template:\n    src: devices.json.j2\n    dest: /etc/wolweb/devices.json\n- name: Wolweb\n  ansible.builtin.systemd_service:\n    name: wolweb\n    state: started\n",
        ),
        (
            "roles/wolweb/templates/devices.json.j2",
            "{\"devices\": [\n{% for d in wolweb_devices %}\n  {\"name\": \"{{ d.name }}\", \"mac\": \"{{ d.mac }}\", \"port\": 9}\n{% endfor %}\n]}\n",
        ),
        (
            "roles/wolweb/vars/main.yml",
            "wolweb_devices:\n  - name: Lab\n    mac: aa:bb:cc:dd:ee:ff\n",
        ),
    ]);
    let (_, _, config) = entrypoint(&resolve(
        &repository,
        "add another machine to the wolweb devices page",
    ));
    assert_eq!(config.as_deref(), Some("roles/wolweb/vars/main.yml"));
    let (_, _, config) = entrypoint(&resolve(&repository, "change the wolweb devices port"));
    assert_eq!(
        config.as_deref(),
        Some("roles/wolweb/templates/devices.json.j2")
    );
}

/// Two apps on one machine, each with its own redis: the question names each by its project
/// (the folder or role holding each), and the answer picks that one.
#[test]
fn instances_on_the_same_machine_are_asked_about_by_project() {
    let compose = |app: &str, image: &str| {
        format!("services:\n  {app}:\n    image: {image}\n  redis:\n    image: redis:7\n")
    };
    let task = |app: &str| {
        format!(
            "- name: compose\n  ansible.builtin.copy:\n    src: docker-compose.yml\n    dest: /opt/{app}/docker-compose.yml\n"
        )
    };
    let (vikunja, immich) = (
        compose("vikunja", "vikunja/vikunja:0.24"),
        compose("immich", "ghcr.io/immich-app/immich-server:v1"),
    );
    let (vikunja_task, immich_task) = (task("vikunja"), task("immich"));
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[docker]\nbox\n"),
        (
            "site.yml",
            "- hosts: docker\n  roles:\n    - vikunja\n    - immich\n",
        ),
        ("roles/vikunja/tasks/main.yml", vikunja_task.as_str()),
        ("roles/vikunja/files/docker-compose.yml", vikunja.as_str()),
        ("roles/immich/tasks/main.yml", immich_task.as_str()),
        ("roles/immich/files/docker-compose.yml", immich.as_str()),
    ]);
    let resolution = resolve(&repository, "restart redis");
    match &resolution.answer {
        Answer::Question {
            about,
            choices,
            prompt,
        } => {
            assert_eq!(about, "instance");
            assert_eq!(choices, &["immich-redis", "vikunja-redis"]);
            assert!(
                prompt.starts_with("redis runs in several places"),
                "{prompt}"
            );
        }
        other => panic!("expected a question, got {other:?}"),
    }
    let given = Given {
        service: Some("redis".to_owned()),
        instance: Some("vikunja-redis".to_owned()),
    };
    let answered = resolve_given(&repository, "restart redis", None, &given);
    let (_, name, hosts) = builtin(&answered);
    assert_eq!(
        (name.as_str(), hosts.as_slice()),
        ("vikunja", &["docker".to_owned()][..])
    );
}

/// A service the role only restarts from a handler (`notify: restart coredns`) is managed
/// there; the role's own app (named for the role) stays.
#[test]
fn a_unit_a_roles_handler_restarts_is_an_app_of_that_role() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[dns]\ntang\n"),
        ("site.yml", "- hosts: dns\n  roles:\n    - adguardhome\n"),
        (
            "roles/adguardhome/tasks/main.yml",
            "- name: Install adguardhome\n  ansible.builtin.package:\n    name: adguardhome\n- name: Corefile\n  ansible.builtin.template:\n    src: Corefile\n    dest: /etc/coredns/Corefile\n  notify: restart coredns\n",
        ),
        (
            "roles/adguardhome/handlers/main.yml",
            "- name: restart coredns\n  ansible.builtin.service:\n    name: coredns\n    state: restarted\n",
        ),
    ]);
    let restart = resolve(&repository, "restart coredns on tang");
    assert_eq!(restart.service.as_deref(), Some("coredns"));
    let (unit, name, hosts) = builtin(&restart);
    assert_eq!(
        (unit, name.as_str(), hosts.as_slice()),
        (
            UnitKind::Systemd,
            "coredns.service",
            &["tang".to_owned()][..]
        )
    );
    let own = resolve(&repository, "restart adguard home");
    assert_eq!(own.service.as_deref(), Some("adguard-home"));
}

/// One play on two machines named one by one: a restart with no machine said asks which; a
/// status looks at both. A play on a group restarts the group.
#[test]
fn changing_a_service_on_several_machines_asks_which_unless_every_one_is_said() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[servers]\nlab\npug\n[docker]\nd1\nd2\n"),
        (
            "site.yml",
            "- hosts: lab,pug\n  roles:\n    - fan2go\n- hosts: docker\n  roles:\n    - alloy\n",
        ),
        (
            "roles/alloy/tasks/main.yml",
            "- name: alloy\n  community.docker.docker_container:\n    name: alloy\n    image: grafana/alloy:v1\n",
        ),
        (
            "roles/fan2go/tasks/main.yml",
            "- name: unit\n  ansible.builtin.copy:\n    src: fan2go.service\n    dest: /etc/systemd/system/fan2go.service\n",
        ),
        (
            "roles/fan2go/files/fan2go.service",
            "[Service]\nExecStart=/usr/bin/fan2go\n",
        ),
    ]);
    match resolve(&repository, "restart fan2go").answer {
        Answer::Question { choices, .. } => assert_eq!(choices, ["lab:fan2go", "pug:fan2go"]),
        other => panic!("expected a question, got {other:?}"),
    }
    let given = Given {
        service: Some("fan2go".to_owned()),
        instance: Some("pug:fan2go".to_owned()),
    };
    let (_, _, hosts) = builtin(&resolve_given(&repository, "restart fan2go", None, &given));
    assert_eq!(hosts, ["pug"]);
    let (_, _, hosts) = builtin(&resolve(&repository, "restart fan2go on every box"));
    assert_eq!(hosts, ["lab", "pug"]);
    let (_, _, hosts) = builtin(&resolve(&repository, "is fan2go running?"));
    assert_eq!(hosts, ["lab", "pug"]);
    let (_, _, hosts) = builtin(&resolve(&repository, "restart alloy"));
    assert_eq!(hosts, ["docker"]);
}

/// A role named for a service as common as ssh (`roles/ssh`, its unit name templated) is that
/// service; a port is its setting, and the playbook the request names (`proxmox.yml`, "on the
/// proxmox hosts") is the one run, not another that applies the role too.
#[test]
fn a_role_named_for_a_system_service_is_that_service() {
    let (_dir, repository) = repository(&[
        ("inventory/hosts.ini", "[hypervisor]\nvega\n[guests]\nweb\n"),
        (
            "playbooks/linux.yml",
            "- hosts: guests\n  roles:\n    - role: ssh\n      tags: ssh\n",
        ),
        (
            "playbooks/proxmox.yml",
            "- hosts: hypervisor\n  roles:\n    - role: ssh\n      tags: ssh\n",
        ),
        (
            "roles/ssh/tasks/main.yml",
            "- name: Running\n  ansible.builtin.service:\n    name: \"{{ ssh_sshd_name }}\"\n    state: started\n- name: Port\n  ansible.builtin.lineinfile:\n    dest: /etc/ssh/sshd_config\n    regexp: ^Port\n    line: \"Port {{ ssh_port }}\"\n",
        ),
        (
            "roles/ssh/defaults/main.yml",
            "ssh_port: 22\nssh_sshd_name: sshd\n",
        ),
    ]);
    let resolution = resolve(&repository, "move ssh to port 2222 on the proxmox hosts");
    assert_eq!(resolution.service.as_deref(), Some("openssh-server"));
    assert_eq!(resolution.verb, Verb::Configure);
    match &resolution.answer {
        Answer::Entrypoint {
            playbook,
            tags,
            config,
            ..
        } => {
            assert_eq!(playbook, "playbooks/proxmox.yml");
            assert_eq!(tags, &["ssh"]);
            assert_eq!(config.as_deref(), Some("roles/ssh/defaults/main.yml"));
        }
        other => panic!("expected an entrypoint, got {other:?}"),
    }
}

/// A helper beside an app in its compose file (a bot shield in front of the git forge) leaves
/// the project the app's own: restarting the app restarts the project.
#[test]
fn a_companion_in_an_apps_compose_file_leaves_the_project_the_apps() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[git]\nforge\n"),
        (
            "site.yml",
            "- hosts: git\n  roles:\n    - role: forgejo\n      tags: [forgejo]\n",
        ),
        (
            "roles/forgejo/tasks/main.yml",
            "- name: Compose file\n  ansible.builtin.template:\n    src: docker-compose.yml\n    dest: /opt/git/docker-compose.yml\n- name: Up\n  community.docker.docker_compose_v2:\n    project_src: /opt/git\n",
        ),
        (
            "roles/forgejo/templates/docker-compose.yml",
            "services:\n  forgejo:\n    image: codeberg.org/forgejo/forgejo:11\n    container_name: forgejo\n  anubis:\n    image: ghcr.io/techarohq/anubis:latest\n    container_name: anubis\n",
        ),
    ]);
    let (unit, name, _) = builtin(&resolve(&repository, "restart forgejo"));
    assert_eq!((unit, name.as_str()), (UnitKind::Compose, "git"));
    let anubis = repository.apps.iter().find(|a| a.service == "anubis");
    assert!(anubis.is_some(), "the companion is known");
}

/// A role from a collection or Galaxy, applied by a play but not in the repository, is the
/// service it is named for, deployed by that play.
#[test]
fn a_role_from_a_collection_is_the_service_it_is_named_for() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[debian]\nwiki\nnas\n"),
        (
            "requirements.yml",
            "collections:\n  - name: prometheus.prometheus\n",
        ),
        (
            "exporters.yml",
            "- hosts: debian\n  tasks:\n    - name: Node exporter\n      tags: exporter\n      ansible.builtin.import_role:\n        name: prometheus.prometheus.node_exporter\n",
        ),
    ]);
    let resolution = resolve(&repository, "put the node exporter on wiki");
    assert_eq!(resolution.service.as_deref(), Some("node-exporter"));
    match &resolution.answer {
        Answer::Entrypoint {
            playbook,
            tags,
            limit,
            ..
        } => {
            assert_eq!(playbook, "exporters.yml");
            assert_eq!(tags, &["exporter".to_owned()]);
            assert_eq!(limit.as_deref(), Some("wiki"));
        }
        other => panic!("expected an entrypoint, got {other:?}"),
    }
    let (unit, name, _) = builtin(&resolve(&repository, "restart the node exporter"));
    assert_eq!(
        (unit, name.as_str()),
        (UnitKind::Systemd, "node_exporter.service")
    );
}

/// A playbook's own tasks (no role) writing a unit file and starting it: the repository's own
/// daemon, addressed as that unit.
#[test]
fn a_unit_a_playbook_writes_outside_any_role_is_an_app() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[torrent]\nseedbox\n"),
        (
            "playbooks/torrent/install.yml",
            "- hosts: torrent\n  tasks:\n    - name: Unit\n      ansible.builtin.template:\n        src: templates/port-refresher.service\n        dest: /etc/systemd/system/port-refresher.service\n    - name: Start it\n      ansible.builtin.systemd_service:\n        name: port-refresher.service\n        enabled: true\n        state: started\n",
        ),
        (
            "playbooks/torrent/templates/port-refresher.service",
            "[Service]\nExecStart=/usr/local/bin/refresh-port\n",
        ),
    ]);
    let (unit, name, hosts) = builtin(&resolve(&repository, "restart port-refresher"));
    assert_eq!(
        (unit, name.as_str()),
        (UnitKind::Systemd, "port-refresher.service")
    );
    assert_eq!(hosts, vec!["torrent".to_owned()]);
}
