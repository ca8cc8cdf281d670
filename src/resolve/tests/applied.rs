//! How plays apply roles, seen in the fifth and sixth outside sets: a role named by its path
//! from the playbook (`role: roles_intserver/docker_pihole`) in a flow mapping written over
//! several lines, whose parameters (`basedir: /srv/pihole`) name the compose project folder
//! that a looped template task writes to.

use super::*;

/// `site.yml` applies roles kept in `roles_<machine>/` folders by path, each given its
/// `servicename` and `basedir`; every role templates the files its loop lists into `{{ basedir
/// }}` and brings the project up there.
fn by_path_repository() -> (tempfile::TempDir, Repository) {
    let tasks = "- name: \"create config files for {{ servicename }}\"
  ansible.builtin.template:
    src: \"{{ item }}\"
    dest: \"{{ basedir }}/{{ item }}\"
  with_items:
    - docker-compose.yml
  register: config

- name: \"start {{ servicename }}\"
  community.docker.docker_compose_v2:
    project_src: \"{{ basedir }}\"
    state: present
";
    let compose = |image: &str| format!("services:\n  app:\n    image: {image}\n");
    repository(&[
        ("ansible.cfg", "[defaults]\ninventory = hosts\n"),
        ("hosts", "[intserver]\nint.lan\n\n[webserver]\nweb.lan\n"),
        (
            "site.yml",
            "- hosts: intserver
  roles:
    - { role: roles_common/docker, tags: docker }
    - {
        role: roles_intserver/docker_pihole, tags: pihole,
        servicename: pihole,
        basedir: /srv/pihole, # web port 82
        web_port: 82
      }
    - {
        role: roles_intserver/docker_zigbee2mqtt, tags: [ zigbee2mqtt, z2m ],
        servicename: zigbee2mqtt,
        basedir: /srv/zigbee2mqtt
      }

- hosts: webserver
  roles:
    - role: roles_web/docker_gatus
      tags: gatus
      vars:
        basedir: /srv/status
",
        ),
        (
            "roles_common/docker/tasks/main.yml",
            "- name: Install docker\n  ansible.builtin.apt:\n    name: docker.io\n",
        ),
        ("roles_intserver/docker_pihole/tasks/main.yml", tasks),
        (
            "roles_intserver/docker_pihole/templates/docker-compose.yml",
            &compose("pihole/pihole:latest"),
        ),
        ("roles_intserver/docker_zigbee2mqtt/tasks/main.yml", tasks),
        (
            "roles_intserver/docker_zigbee2mqtt/templates/docker-compose.yml",
            &compose("koenkk/zigbee2mqtt:latest"),
        ),
        ("roles_web/docker_gatus/tasks/main.yml", tasks),
        (
            "roles_web/docker_gatus/templates/docker-compose.yml",
            &compose("ghcr.io/twin/gatus:stable"),
        ),
        // Named by no play: not a role that runs.
        ("roles_web/docker_heimdall/tasks/main.yml", tasks),
        (
            "roles_web/docker_heimdall/templates/docker-compose.yml",
            &compose("linuxserver/heimdall:latest"),
        ),
    ])
}

#[test]
fn a_role_named_by_its_path_runs_and_its_parameters_name_the_project_folder() {
    let (_dir, repository) = by_path_repository();
    let resolution = resolve(&repository, "is pihole up on intserver?");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Compose,
            "pihole".to_owned(),
            vec!["intserver".to_owned()]
        ),
        "{resolution:#?}"
    );
    // Its tags came from a flow mapping over three lines.
    let resolution = resolve(&repository, "deploy zigbee2mqtt");
    assert_eq!(
        entrypoint(&resolution).0,
        ["zigbee2mqtt"],
        "{resolution:#?}"
    );
    // A role entry's `vars:` are its parameters too.
    let resolution = resolve(&repository, "gatus logs");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Compose,
            "status".to_owned(),
            vec!["webserver".to_owned()]
        ),
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "restart heimdall");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "unwired"),
        "{resolution:#?}"
    );
}

/// One play on all hosts applies a role that renders, per entry of the `docker.composes` list
/// each group's vars set, the template the entry names (else `<name>.yaml`) into the entry's
/// own project folder; the templates name no container. An archived playbook still applies the
/// retired role that once ran the same apps.
fn bundles_repository() -> (tempfile::TempDir, Repository) {
    let tasks = "- name: Copy the compose files
  ansible.builtin.template:
    src: \"{{ item.compose | default(item.name + '.yaml') }}\"
    dest: \"{{ docker.dir }}/compose/{{ item.name }}/compose.yaml\"
  loop: \"{{ docker.composes }}\"

- name: Deploy compose stacks
  community.docker.docker_compose_v2:
    project_name: \"{{ item.name }}\"
    project_src: \"{{ docker.dir }}/compose/{{ item.name }}\"
  loop: \"{{ docker.composes }}\"
";
    repository(&[
        (
            "configure/inventory",
            "[Master]\n10.0.0.1\n\n[Tools]\n10.0.0.2\n\n[Media]\n10.0.0.3\n",
        ),
        (
            "configure/configure.yaml",
            "- name: Configure nodes\n  hosts: all\n  roles:\n    - role: deploy-composes\n      tags: [deploy-composes]\n",
        ),
        // Written for group `Media` on a file system that ignores case.
        (
            "configure/group_vars/media.yaml",
            "docker:\n  dir: /docker\n  composes:\n    - name: other\n    - name: traefik\n      compose: network.yaml\n",
        ),
        (
            "configure/group_vars/Tools.yaml",
            "docker:\n  dir: /docker\n  composes:\n    - name: media-management\n    - name: traefik\n      compose: network.yaml\n",
        ),
        ("roles/deploy-composes/tasks/main.yaml", tasks),
        (
            "roles/deploy-composes/templates/other.yaml",
            "services:\n  mealie:\n    image: ghcr.io/mealie-recipes/mealie:v3.2.0\n  mealie-db:\n    image: postgres:17\n  it-tools:\n    image: corentinth/it-tools:latest\n",
        ),
        (
            "roles/deploy-composes/templates/media-management.yaml",
            "services:\n  qbittorrent:\n    image: lscr.io/linuxserver/qbittorrent:latest\n  sonarr:\n    image: lscr.io/linuxserver/sonarr:latest\n",
        ),
        (
            "roles/deploy-composes/templates/network.yaml",
            "services:\n  traefik:\n    image: traefik:v3.1\n    container_name: traefik\n",
        ),
        (
            "archive/swarm/run.yaml",
            "- hosts: all\n  roles:\n    - stacks\n",
        ),
        (
            "roles/stacks/tasks/main.yml",
            "- name: Deploy stacks\n  community.docker.docker_stack:\n    name: meal\n    compose:\n      - meal.yaml\n",
        ),
        (
            "roles/stacks/templates/meal.yaml",
            "services:\n  mealie:\n    image: ghcr.io/mealie-recipes/mealie:latest\n",
        ),
    ])
}

#[test]
fn a_list_in_group_vars_runs_each_entry_on_its_group_and_names_the_containers_compose_does() {
    let (_dir, repository) = bundles_repository();
    // The archived playbook's mealie is no second instance; the group's spelling is the
    // inventory's.
    let resolution = resolve(&repository, "the recipe site is throwing 502s, restart it");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Container,
            "other-mealie-1".to_owned(),
            vec!["Media".to_owned()]
        ),
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "stop qbittorrent while I move the downloads");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Container,
            "media-management-qbittorrent-1".to_owned(),
            vec!["Tools".to_owned()]
        ),
        "{resolution:#?}"
    );
    // Both groups list the traefik bundle: one instance on each.
    let resolution = resolve(&repository, "restart traefik");
    assert!(
        matches!(&resolution.answer, Answer::Question { choices, .. } if choices.len() == 2),
        "{resolution:#?}"
    );
}

/// No roles: one playbook per app at the top, each rendering `templates/<app>/…` into its
/// project folder on one machine; two playbooks deploy a homepage each, on two machines.
fn playbook_per_app_repository() -> (tempfile::TempDir, Repository) {
    let playbook = |app: &str, host: &str, template: &str| {
        format!(
            "- name: Deploy {app}
  hosts: {host}
  vars:
    project_path: /srv/{app}
  tasks:
    - name: Copy compose
      ansible.builtin.template:
        src: {template}
        dest: \"{{{{ project_path }}}}/docker-compose.yml\"
    - name: Start
      community.docker.docker_compose_v2:
        project_src: \"{{{{ project_path }}}}\"
"
        )
    };
    let compose = |app: &str, image: &str| {
        format!("services:\n  {app}:\n    image: {image}\n    container_name: {app}\n")
    };
    repository(&[
        (
            "inventory.yml",
            "all:\n  hosts:\n    kuzelovlab:\n    thinkcentre:\n",
        ),
        (
            "server_adguard_home.yml",
            &playbook(
                "adguard-home",
                "kuzelovlab",
                "templates/adguard-home/docker-compose.yml.j2",
            ),
        ),
        (
            "server_gotify.yml",
            &playbook(
                "gotify",
                "kuzelovlab",
                "templates/gotify/docker-compose.yml.j2",
            ),
        ),
        (
            "server_homepage_zen.yml",
            &playbook(
                "homepage",
                "kuzelovlab",
                "templates/homepage/docker-compose.yml.j2",
            ),
        ),
        (
            "server_homepage_home.yml",
            &playbook(
                "homepage",
                "thinkcentre",
                "templates/gethomepage/homepage.docker-compose.yml.j2",
            ),
        ),
        (
            "templates/adguard-home/docker-compose.yml.j2",
            &compose("adguard-home", "adguard/adguardhome:latest"),
        ),
        (
            "templates/gotify/docker-compose.yml.j2",
            &compose("gotify", "gotify/server:2.6"),
        ),
        (
            "templates/homepage/docker-compose.yml.j2",
            &compose("homepage", "ghcr.io/gethomepage/homepage:latest"),
        ),
        (
            "templates/gethomepage/homepage.docker-compose.yml.j2",
            &compose("homepage", "ghcr.io/gethomepage/homepage:latest"),
        ),
    ])
}

#[test]
fn a_template_at_the_top_runs_where_its_own_playbook_does_and_two_playbooks_are_two_instances() {
    let (_dir, repository) = playbook_per_app_repository();
    let resolution = resolve(&repository, "logs for gotfy please, no push notifications");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Compose,
            "gotify".to_owned(),
            vec!["kuzelovlab".to_owned()]
        ),
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "restart homepage, the widgets are all blank");
    assert!(
        matches!(&resolution.answer, Answer::Question { choices, .. } if choices.len() == 2),
        "{resolution:#?}"
    );
}

#[test]
fn each_role_names_its_container_with_its_own_defaults() {
    let role = |app: &str, image: &str| {
        [
            (
                format!("roles/containers/{app}/defaults/main.yml"),
                format!("container_name: {app}\n"),
            ),
            (
                format!("roles/containers/{app}/tasks/main.yml"),
                format!(
                    "- name: Deploy {app}\n  community.docker.docker_container:\n    name: \"{{{{ container_name }}}}\"\n    image: {image}\n"
                ),
            ),
        ]
    };
    let mut files: Vec<(String, String)> = vec![
        ("inventory".to_owned(), "[pi]\nraspberry\n".to_owned()),
        (
            "run.yml".to_owned(),
            "- hosts: pi\n  roles:\n    - role: containers/homer\n      tags: homer\n    - role: containers/vaultwarden\n      tags: vaultwarden\n".to_owned(),
        ),
    ];
    files.extend(role("homer", "b4bz/homer:latest"));
    files.extend(role("vaultwarden", "vaultwarden/server:latest"));
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "the password manager won't sync, restart it");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Container,
            "vaultwarden".to_owned(),
            vec!["pi".to_owned()]
        ),
        "{resolution:#?}"
    );
}

#[test]
fn a_vars_file_kept_out_of_git_is_read_from_its_committed_sample() {
    let (_dir, repository) = repository(&[
        ("inventory.ini", "[proxy]\npimaster\n"),
        (
            "playbooks/site.yml",
            "- hosts: proxy\n  vars_files:\n    - ../vars/homelab.yml\n  roles:\n    - vaultwarden\n",
        ),
        // The owner's copy is gitignored; this is the one committed.
        (
            "vars/homelab.yml.example",
            "vaultwarden_image: vaultwarden/server:1.34.3\n",
        ),
        // A sample of a host's vars shows how to write one: it names no machine.
        ("host_vars/host.yml.example", "ansible_host: 10.0.0.9\n"),
        (
            "roles/vaultwarden/tasks/main.yml",
            "- name: Compose\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: /srv/docker/vaultwarden/docker-compose.yml\n",
        ),
        (
            "roles/vaultwarden/templates/docker-compose.yml.j2",
            "services:\n  vaultwarden:\n    image: \"{{ vaultwarden_image }}\"\n",
        ),
    ]);
    assert!(
        !repository
            .inventory
            .hosts
            .iter()
            .any(|h| h.contains("host"))
    );
    let resolution = resolve(&repository, "bump vaultwarden to 1.35.0");
    assert!(
        matches!(&resolution.answer, Answer::Entrypoint { pin: Some(Pin::Var { file, var, .. }), .. }
            if file == "vars/homelab.yml.example" && var == "vaultwarden_image"),
        "{resolution:#?}"
    );
}

/// `site.yml` applies only the sonarr role; sonarr's `meta/main.yml` depends on sabnzbd, which
/// depends back on sonarr (a cycle Ansible tolerates, run once).
#[test]
fn a_role_another_depends_on_runs_with_it() {
    let container = |name: &str, image: &str| {
        format!(
            "- name: Run {name}\n  community.docker.docker_container:\n    name: {name}\n    image: {image}\n"
        )
    };
    let (_dir, repository) = repository(&[
        ("hosts", "[media]\nnas.lan\n"),
        (
            "site.yml",
            "- hosts: media\n  roles:\n    - { role: sonarr, tags: sonarr }\n",
        ),
        (
            "roles/sonarr/meta/main.yml",
            "galaxy_info:\n  author: me\ndependencies:\n  - role: sabnzbd\n    tags: [sabnzbd]\n",
        ),
        (
            "roles/sonarr/tasks/main.yml",
            &container("sonarr", "lscr.io/linuxserver/sonarr:latest"),
        ),
        ("roles/sabnzbd/meta/main.yml", "dependencies:\n  - sonarr\n"),
        (
            "roles/sabnzbd/tasks/main.yml",
            &container("sabnzbd", "lscr.io/linuxserver/sabnzbd:latest"),
        ),
    ]);
    let resolution = resolve(&repository, "sab logs, downloads are stuck at 99%");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Container,
            "sabnzbd".to_owned(),
            vec!["media".to_owned()]
        ),
        "{resolution:#?}"
    );
}
