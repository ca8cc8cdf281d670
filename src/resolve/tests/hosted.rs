//! Where an app runs and as what, seen in the seventh and eighth outside sets: a podman
//! container that systemd runs from the unit `generate_systemd` writes, a playbook whose plays
//! each set up their own machine, a role kept to a group's members by its `when:`, a role's
//! `hosts.conf` that is no inventory, committed samples of the vars and inventory files a play
//! loads, and (from the tenth set) a playbook named for one machine of the group it targets.

use super::*;

/// `podman.yaml` sets up each machine in its own play: podman01 runs authelia, podman02 the
/// fileflows server, podman03 its processing node, both from one `fileflows_tag`. Each
/// container has systemd run it from the unit podman generates; a handler restarts authelia
/// by its container name.
fn podman_plays_repository() -> (tempfile::TempDir, Repository) {
    let container = |name: &str, image: &str| {
        format!(
            "    - name: Ensure that {name} container is created
      containers.podman.podman_container:
        name: {name}
        image: {image}
        generate_systemd:
          path: /etc/systemd/system
          restart_policy: always

    - name: Enable {name} container start on boot
      systemd:
        daemon_reload: yes
        enabled: yes
        name: container-{name}
        state: started
"
        )
    };
    let playbook = format!(
        "- hosts: podman01
  handlers:
    - name: Restart authelia
      containers.podman.podman_container:
        name: authelia
        state: started
        restart: yes
  tasks:
    - name: Ensure that authelia config exists
      template:
        src: config/authelia.config.yaml.j2
        dest: /mnt/podman/volumes/authelia/config/configuration.yml
      notify:
        - Restart authelia
{}
- hosts: podman02
  tasks:
{}
- hosts: podman03
  tasks:
{}",
        container("authelia", "docker.io/authelia/authelia:4.37.5"),
        container(
            "fileflows01",
            "docker.io/revenz/fileflows:{{ fileflows_tag }}"
        ),
        container(
            "fileflows02",
            "docker.io/revenz/fileflows:{{ fileflows_tag }}"
        ),
    );
    repository(&[
        ("inventory", "[podman]\npodman01\npodman02\npodman03\n"),
        ("vars/main.yaml", "fileflows_tag: 1.0.8\n"),
        (
            "config/authelia.config.yaml.j2",
            "session:\n  expiration: 1h\n  inactivity: 5m\n",
        ),
        ("podman.yaml", &playbook),
    ])
}

#[test]
fn a_podman_container_with_a_generated_unit_is_that_unit_on_its_plays_machine() {
    let (_dir, repository) = podman_plays_repository();
    // The handler restarting it by name is no second authelia.
    assert_eq!(
        repository
            .apps
            .iter()
            .filter(|a| a.service == "authelia")
            .count(),
        1
    );
    let resolution = resolve(&repository, "authelia keeps logging me out, restart it");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Systemd,
            "container-authelia.service".to_owned(),
            vec!["podman01".to_owned()]
        ),
        "{resolution:#?}"
    );
    let resolution = resolve(
        &repository,
        "authelia logs me out after five minutes, make the inactivity timeout an hour",
    );
    assert_eq!(
        entrypoint(&resolution).2.as_deref(),
        Some("config/authelia.config.yaml.j2"),
        "{resolution:#?}"
    );
}

#[test]
fn one_app_in_two_plays_is_two_instances_that_one_run_upgrades_together() {
    let (_dir, repository) = podman_plays_repository();
    let resolution = resolve(&repository, "restart fileflows, transcodes are stuck");
    match &resolution.answer {
        Answer::Question { choices, .. } => assert_eq!(
            choices,
            &vec![
                "podman02:fileflows".to_owned(),
                "podman03:fileflows".to_owned()
            ]
        ),
        other => panic!("expected a question, got {other:#?}"),
    }
    let resolution = resolve(&repository, "bump fileflows to 1.0.9");
    match &resolution.answer {
        Answer::Entrypoint { playbook, pin, .. } => {
            assert_eq!(playbook, "podman.yaml");
            assert!(
                matches!(pin, Some(Pin::Var { file, var, .. }) if file == "vars/main.yaml" && var == "fileflows_tag"),
                "{resolution:#?}"
            );
        }
        other => panic!("expected the playbook, got {other:#?}"),
    }
}

#[test]
fn a_role_kept_to_a_groups_members_runs_there_only() {
    let role = |name: &str, image: &str| {
        (
            format!("playbooks/roles/{name}/tasks/main.yml"),
            format!(
                "- name: Run {name}\n  community.docker.docker_container:\n    name: {name}\n    image: {image}\n"
            ),
        )
    };
    let files = vec![
        (
            "inventory/hosts.yml".to_owned(),
            "all:
  hosts:
    lab1:
    lab2:
  children:
    servers:
      hosts:
        lab1:
        lab2:
    linkwarden_hosts:
      hosts:
        lab1:
"
            .to_owned(),
        ),
        (
            "playbooks/servers.yml".to_owned(),
            "- hosts: servers
  roles:
    - role: linkwarden
      tags: [linkwarden]
      when: inventory_hostname in groups.get('linkwarden_hosts', [])
    - role: uptime-kuma
      tags: [kuma]
"
            .to_owned(),
        ),
        (
            "playbooks/linkwarden.yml".to_owned(),
            "- hosts: linkwarden_hosts\n  roles:\n    - role: linkwarden\n".to_owned(),
        ),
        role("linkwarden", "ghcr.io/linkwarden/linkwarden:latest"),
        role("uptime-kuma", "louislam/uptime-kuma:1"),
    ];
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "is the bookmark manager up?");
    let (unit, name, hosts) = builtin(&resolution);
    assert_eq!((unit, name.as_str()), (UnitKind::Container, "linkwarden"));
    let machines: BTreeSet<String> = hosts
        .iter()
        .flat_map(|h| repository.inventory.resolve(h))
        .collect();
    assert_eq!(
        machines,
        BTreeSet::from(["lab1".to_owned()]),
        "{resolution:#?}"
    );
}

#[test]
fn a_roles_hosts_conf_is_no_inventory() {
    let (_dir, repository) = repository(&[
        ("inventory.yml", "all:\n  hosts:\n    catboy_house:\n"),
        (
            "roles/icinga/templates/icinga2/conf.d/hosts.conf",
            "object Host \"Jellyfin\" {\n  import \"generic-host\"\n  address = \"127.0.0.1\"\n}\n",
        ),
        (
            "roles/common/files/hosts",
            "127.0.0.1 localhost\n192.168.1.10 nas.lan nas\n",
        ),
        (
            "roles/caddy/tasks/main.yml",
            "- name: Install caddy\n  ansible.builtin.apt:\n    name: caddy\n- name: Start caddy\n  ansible.builtin.systemd:\n    name: caddy\n    state: started\n",
        ),
        (
            "playbooks/services.yml",
            "- hosts: all\n  roles:\n    - role: caddy\n      tags: caddy\n",
        ),
    ]);
    assert_eq!(
        repository.inventory.hosts,
        BTreeSet::from(["catboy_house".to_owned()])
    );
    let resolution = resolve(&repository, "restart caddy, TLS errors everywhere");
    let (_, name, hosts) = builtin(&resolution);
    assert_eq!(name, "caddy.service");
    let machines: BTreeSet<String> = hosts
        .iter()
        .flat_map(|h| repository.inventory.resolve(h))
        .collect();
    assert_eq!(machines, BTreeSet::from(["catboy_house".to_owned()]));
}

/// The play loads `variables/monitoring_var.yml` and the inventory is `inventory.yml`, both
/// kept out of git; their samples `monitoring_var_template.yml` and `inventory_template.yml`
/// are committed. The grafana role writes its compose file into the folder the vars name, and
/// the homepage role renders its config files in a loop beside its compose file.
#[test]
fn committed_samples_of_the_loaded_vars_and_inventory_name_the_folders_and_machines() {
    let compose_task = |app: &str| {
        format!(
            "- name: Docker Compose File Creation
  ansible.builtin.template:
    src: docker-compose.yml.j2
    dest: \"{{{{ {app}_parent_dir }}}}/docker-compose.yml\"
- name: Deploy
  ansible.builtin.command:
    cmd: docker compose up -d
    chdir: \"{{{{ {app}_parent_dir }}}}\"
"
        )
    };
    let homepage_tasks = format!(
        "- name: Configuration Files Creation
  ansible.builtin.template:
    src: \"{{{{ item }}}}.j2\"
    dest: \"{{{{ homepage_parent_dir }}}}/config/{{{{ item }}}}\"
  loop: \"{{{{ homepage_config_files }}}}\"
{}",
        compose_task("homepage")
    );
    let (_dir, repository) = repository(&[
        (
            "inventory_template.yml",
            "all:\n  children:\n    containers:\n      hosts:\n        KVM-MGMT01:\n        KVM-MONITOR01:\n",
        ),
        (
            "variables/monitoring_var_template.yml",
            "grafana_parent_dir: \"/home/{{ ansible_user }}/docker/grafana\"\nhomepage_parent_dir: \"/home/{{ ansible_user }}/docker/homepage\"\nhomepage_config_files:\n  - services.yaml\n  - widgets.yaml\n",
        ),
        (
            "playbooks/services.yml",
            "- hosts: containers
  tags: container_deployment
  vars_files:
    - ../variables/monitoring_var.yml
  tasks:
    - include_role:
        name: grafana_deployment
      when: inventory_hostname == \"KVM-MONITOR01\"
    - include_role:
        name: homepage_deployment
      when: inventory_hostname == \"KVM-MGMT01\"
",
        ),
        (
            "roles/grafana_deployment/tasks/main.yml",
            &compose_task("grafana"),
        ),
        (
            "roles/grafana_deployment/templates/docker-compose.yml.j2",
            "services:\n  grafana:\n    image: grafana/grafana:latest\n    container_name: grafana\n",
        ),
        ("roles/homepage_deployment/tasks/main.yml", &homepage_tasks),
        (
            "roles/homepage_deployment/templates/docker-compose.yml.j2",
            "services:\n  homepage:\n    image: ghcr.io/gethomepage/homepage:latest\n",
        ),
        (
            "roles/homepage_deployment/templates/services.yaml.j2",
            "- Media: []\n",
        ),
        (
            "roles/homepage_deployment/templates/widgets.yaml.j2",
            "- resources: {}\n",
        ),
    ]);
    let resolution = resolve(&repository, "remove grafana, I never log into it");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Compose,
            "grafana".to_owned(),
            vec!["KVM-MONITOR01".to_owned()]
        ),
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "restart grafana on KVM-MONITOR01");
    assert_eq!(
        resolution.target.as_deref(),
        Some("KVM-MONITOR01"),
        "{resolution:#?}"
    );
    let resolution = resolve(
        &repository,
        "deploy the start page that links all my services",
    );
    match &resolution.answer {
        Answer::Entrypoint { playbook, .. } => {
            assert_eq!(playbook, "playbooks/services.yml", "{resolution:#?}");
            assert_eq!(resolution.service.as_deref(), Some("homepage"));
        }
        other => panic!("expected the services playbook, got {other:#?}"),
    }
}

#[test]
fn a_playbook_named_for_one_machine_of_its_group_runs_there() {
    let (_dir, repository) = repository(&[
        (
            "hosts.yml",
            "veggie_nas:\n  hosts:\n    r720xd.example.net:\n    r740xd:\n      ansible_host: r740xd.example.net\n",
        ),
        (
            "playbooks/r740xd.yml",
            "- hosts: veggie_nas\n  roles:\n    - role: r740xd\n",
        ),
        (
            "roles/r740xd/tasks/main.yml",
            "- name: Tautulli\n  community.docker.docker_container:\n    name: tautulli\n    image: ghcr.io/tautulli/tautulli:v2.14.6\n  tags: [tautulli]\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "tautulli logs please, the stats stopped updating",
    );
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Container,
            "tautulli".to_owned(),
            vec!["r740xd".to_owned()]
        ),
        "{resolution:#?}"
    );
}
