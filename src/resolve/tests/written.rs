//! Apps whose files are written where Chiffon did not look before, seen in the ninth and tenth
//! outside sets: a Quadlet unit copied inline by a playbook per app, a compose file passed
//! inline to a shared role by per-service playbooks, compose folders synchronized from beside
//! a nested Ansible project, and roles from category folders included in a loop over a list
//! of their names, each tagged with its own name; also a play's hosts written as a block list
//! and compose services merging an extension field's template.

use super::*;

fn playbook_and_pin(resolution: &Resolution) -> (String, Option<Pin>) {
    match &resolution.answer {
        Answer::Entrypoint { playbook, pin, .. } => (playbook.clone(), pin.clone()),
        other => panic!("expected an entrypoint, got {other:#?}"),
    }
}

fn pin_at(file: &str, var: &str) -> Option<(String, String)> {
    Some((file.to_owned(), var.to_owned()))
}

fn pin_of(pin: Option<Pin>) -> Option<(String, String)> {
    match pin {
        Some(Pin::Var { file, var, .. }) => Some((file, var)),
        _ => None,
    }
}

/// One playbook per app at the top, each copying its Quadlet unit inline and starting it.
fn quadlet_playbooks() -> (tempfile::TempDir, Repository) {
    let app = |name: &str, image: &str| {
        format!(
            "- name: Deploy {name}
  hosts: all
  become: true
  tasks:
    - name: Create {name} container
      ansible.builtin.copy:
        dest: /etc/containers/systemd/{name}.container
        content: |
          [Container]
          Image={image}
          Pull=always
          AutoUpdate=registry

          [Install]
          WantedBy=default.target
    - name: Start container
      ansible.builtin.systemd_service:
        daemon_reload: true
        service: {name}.service
        state: started
    - name: Add its site
      ansible.builtin.copy:
        dest: /etc/caddy/sites/{name}
        content: |
          https://{name}.example.net {{
            reverse_proxy http://{name}:5678
          }}
      notify: Restart caddy
  handlers:
    - name: Restart caddy
      ansible.builtin.systemd_service:
        name: caddy.service
        state: stopped
"
        )
    };
    repository(&[
        ("inventory.yml", "all:\n  hosts:\n    10.0.0.26:\n"),
        ("n8n.yml", &app("n8n", "docker.n8n.io/n8nio/n8n")),
        ("caddy.yml", &app("caddy", "docker.io/caddy")),
        (
            "excalidraw.yml",
            &app("excalidraw", "docker.io/excalidraw/excalidraw:latest"),
        ),
    ])
}

#[test]
fn a_quadlet_unit_copied_inline_is_the_service_its_playbook_runs() {
    let (_dir, repository) = quadlet_playbooks();
    let resolution = resolve(&repository, "n8n logs please, a webhook keeps failing");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Systemd,
            "n8n.service".to_owned(),
            vec!["all".to_owned()]
        ),
        "{resolution:#?}"
    );
    let resolution = resolve(
        &repository,
        "deploy the whiteboard app so we can sketch the network",
    );
    assert_eq!(playbook_and_pin(&resolution).0, "excalidraw.yml");
    // The per-app playbooks' handler stops the unit `caddy.yml` writes: no second caddy.
    assert_eq!(
        repository
            .apps
            .iter()
            .filter(|a| a.unit_name == "caddy.service")
            .map(|a| a.file.as_str())
            .collect::<Vec<_>>(),
        ["caddy.yml"]
    );
    let resolution = resolve(
        &repository,
        "switch caddy from self-signed certs to real let's encrypt ones",
    );
    assert_eq!(
        playbook_and_pin(&resolution).0,
        "caddy.yml",
        "{resolution:#?}"
    );
    // Pulled on every run: upgrading re-pulls, and a version named is written on its line.
    let resolution = resolve(&repository, "upgrade n8n");
    assert!(matches!(playbook_and_pin(&resolution).1, Some(Pin::Latest)));
    let resolution = resolve(&repository, "pin n8n to 1.107.0, the newest broke a node");
    let (playbook, pin) = playbook_and_pin(&resolution);
    assert_eq!(playbook, "n8n.yml");
    assert_eq!(pin_of(pin), pin_at("n8n.yml", "Image"), "{resolution:#?}");
}

/// Per-service playbooks passing their compose file and environment inline to a shared role
/// that writes them to the folder it is given.
fn inline_compose_playbooks() -> (tempfile::TempDir, Repository) {
    repository(&[
        ("inventory.ini", "[media]\n10.0.0.50\n\n[auth]\n10.0.0.56\n"),
        (
            "roles/docker/tasks/main.yml",
            "- name: Copy compose file\n  ansible.builtin.copy:\n    dest: \"{{ compose_path }}/docker-compose.yml\"\n    content: \"{{ compose_content }}\"\n- name: Copy env\n  ansible.builtin.copy:\n    dest: \"{{ compose_path }}/.env\"\n    content: \"{{ compose_env }}\"\n  when: compose_env is defined\n- name: Up\n  community.docker.docker_compose_v2:\n    project_src: \"{{ compose_path }}\"\n",
        ),
        (
            "media.yml",
            "- name: Media stack
  hosts:
    - media
  roles:
    - name: Torrents
      role: docker
      vars:
        compose_path: /root/transmission
        compose_content: |
          services:
            vpn:
              image: lscr.io/linuxserver/wireguard:latest
            transmission:
              image: lscr.io/linuxserver/transmission:4.0.6
              network_mode: service:vpn
    - name: Sonarr
      role: docker
      vars:
        compose_path: /root/sonarr
        compose_content: |
          services:
            sonarr:
              image: lscr.io/linuxserver/sonarr:latest
              container_name: sonarr
",
        ),
        (
            "authentik.yml",
            "- name: Authentik
  hosts: auth
  roles:
    - role: docker
      vars:
        compose_path: /root/authentik
        compose_content: |
          services:
            server:
              image: ${AUTHENTIK_IMAGE:-ghcr.io/goauthentik/server}:${AUTHENTIK_TAG:-2024.8.0}
              command: server
            redis:
              image: docker.io/library/redis:7.2
        compose_env: |
          PG_USER=authentik
          AUTHENTIK_TAG=2024.8.3
",
        ),
    ])
}

#[test]
fn a_compose_file_passed_inline_is_its_project_where_its_play_runs() {
    let (_dir, repository) = inline_compose_playbooks();
    let resolution = resolve(&repository, "restart sonarr, an import is stuck");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Compose,
            "sonarr".to_owned(),
            vec!["media".to_owned()]
        ),
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "show me the torrent client's logs");
    assert_eq!(
        builtin(&resolution).1,
        "transmission",
        "the project the role writes it to: {resolution:#?}"
    );
    // The tag comes from the environment written beside it.
    let resolution = resolve(&repository, "upgrade authentik to 2024.10.4");
    let (playbook, pin) = playbook_and_pin(&resolution);
    assert_eq!(playbook, "authentik.yml");
    assert_eq!(pin_of(pin), pin_at("authentik.yml", "AUTHENTIK_TAG"));
    let resolution = resolve(&repository, "bump authentik's redis to 7.4");
    assert_eq!(
        pin_of(playbook_and_pin(&resolution).1),
        pin_at("authentik.yml", "services.redis.image"),
        "{resolution:#?}"
    );
}

/// An Ansible project in `ansible/` that synchronizes the compose folders kept beside it in
/// `services/` and brings them up in a loop.
fn synchronized_folders() -> (tempfile::TempDir, Repository) {
    repository(&[
        (
            "ansible/ansible.cfg",
            "[defaults]\ninventory = inventory/hosts.ini\n",
        ),
        ("ansible/inventory/hosts.ini", "[metal]\npi4b\n"),
        (
            "ansible/foundation.yml",
            "- hosts: metal\n  tasks:\n    - name: Sync services\n      ansible.posix.synchronize:\n        src: ../services/\n        dest: /opt/lab/services/\n",
        ),
        (
            "ansible/deploy.yml",
            "- hosts: metal\n  tasks:\n    - name: Boot core\n      community.docker.docker_compose_v2:\n        project_src: \"/opt/lab/services/core/{{ item }}\"\n      loop:\n        - pihole\n        - gha-runners\n    - name: Boot databases\n      community.docker.docker_compose_v2:\n        project_src: /opt/lab/services/database/redis\n",
        ),
        (
            "services/core/gha-runners/docker-compose.yml",
            "x-runner-template: &runner\n  image: myoung34/github-runner:ubuntu-jammy\n  restart: unless-stopped\n\nservices:\n  runner-site:\n    <<: *runner\n    container_name: gha-runner-site\n  runner-api:\n    <<: *runner\n    container_name: gha-runner-api\n",
        ),
        (
            "services/core/pihole/docker-compose.yml",
            "services:\n  pihole:\n    image: pihole/pihole:latest\n    container_name: pihole\n",
        ),
        (
            "services/database/redis/docker-compose.yml",
            "services:\n  redis:\n    image: redis:7-alpine\n    container_name: redis\n  redis-commander:\n    image: rediscommander/redis-commander:latest\n    container_name: redis-commander\n",
        ),
    ])
}

#[test]
fn compose_folders_synchronized_from_beside_the_project_run_where_the_play_syncs_them() {
    let (_dir, repository) = synchronized_folders();
    let resolution = resolve(&repository, "restart pihole, dns is slow");
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Compose,
            "pihole".to_owned(),
            vec!["metal".to_owned()]
        ),
        "{resolution:#?}"
    );
    // Runners merging the template an extension field holds: their project, no container
    // named for the template.
    assert!(
        repository
            .apps
            .iter()
            .all(|a| a.container != "x-runner-template"),
        "{:#?}",
        repository.apps
    );
    let resolution = resolve(
        &repository,
        "stop the github actions runners, the builds are hogging the pi",
    );
    assert_eq!(
        builtin(&resolution),
        (
            UnitKind::Compose,
            "gha-runners".to_owned(),
            vec!["metal".to_owned()]
        ),
        "{resolution:#?}"
    );
    let resolution = resolve(&repository, "move redis to the 8-alpine image");
    let (playbook, pin) = playbook_and_pin(&resolution);
    assert_eq!(playbook, "ansible/foundation.yml");
    assert_eq!(
        pin_of(pin),
        pin_at(
            "services/database/redis/docker-compose.yml",
            "services.redis.image"
        )
    );
}

/// Roles in category folders on the roles path, which a playbook includes in a loop over a
/// list of their names, tagging each with its own name.
fn roles_included_from_a_list() -> (tempfile::TempDir, Repository) {
    let role = |name: &str, image: &str| {
        (
            format!("srvapp/{name}/tasks/main.yml"),
            format!(
                "- name: Compose\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: /opt/{name}/docker-compose.yml\n- name: Up\n  community.docker.docker_compose_v2:\n    project_src: /opt/{name}\n"
            ),
            format!("srvapp/{name}/templates/docker-compose.yml.j2"),
            format!("services:\n  {name}:\n    image: {image}\n    container_name: {name}\n"),
        )
    };
    let (a_tasks, a_main, a_compose, a_text) = role("actual", "actualbudget/actual-server:latest");
    let (b_tasks, b_main, b_compose, b_text) = role("grafana", "grafana/grafana:11.2.0");
    let mut files: Vec<(String, String)> = vec![
        (
            "ansible.cfg".to_owned(),
            "[defaults]\ninventory = inventory\nroles_path = server:srvapp\n".to_owned(),
        ),
        (
            "inventory/hosts.yml".to_owned(),
            "server:\n  hosts:\n    nuc-server:\n".to_owned(),
        ),
        (
            "playbooks/applications.yml".to_owned(),
            "- hosts: server\n  vars:\n    roles_list:\n      - actual\n      - grafana\n  tasks:\n    - name: Include roles\n      include_role:\n        name: \"{{ role_item }}\"\n        apply:\n          tags: \"{{ role_item }}\"\n      loop: \"{{ roles_list }}\"\n      loop_control:\n        loop_var: role_item\n      tags:\n        - always\n".to_owned(),
        ),
    ];
    files.extend([
        (a_tasks, a_main),
        (a_compose, a_text),
        (b_tasks, b_main),
        (b_compose, b_text),
    ]);
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    repository(&borrowed)
}

#[test]
fn a_role_included_from_a_list_of_names_runs_under_its_own_name_as_a_tag() {
    let (_dir, repository) = roles_included_from_a_list();
    let resolution = resolve(&repository, "deploy actual budget");
    let (tags, _, _) = entrypoint(&resolution);
    assert_eq!(
        playbook_and_pin(&resolution).0,
        "playbooks/applications.yml"
    );
    assert_eq!(tags, ["actual"], "{resolution:#?}");
    let resolution = resolve(&repository, "upgrade grafana to 11.3.0");
    let (tags, _, _) = entrypoint(&resolution);
    assert_eq!(tags, ["grafana"], "{resolution:#?}");
}
