//! Chiffon's own rules, one file per area: containers (wherever they are defined), secrets,
//! tasks, variables, and the repository as a whole. Each rule reads the [`View`] and adds to
//! the findings; none writes or starts anything.

pub(crate) mod containers;
pub(crate) mod repository;
pub(crate) mod secrets;
pub(crate) mod tasks;
pub(crate) mod variables;

use crate::suggest::Suggestion;
use crate::suggest::findings::Findings;
use crate::suggest::source::View;

/// Every rule over every file of `view`.
pub(crate) fn run(view: &View) -> Vec<Suggestion> {
    let mut out = Vec::new();
    for source in &view.sources {
        let mut found = Findings {
            file: &source.file,
            text: &source.text,
            out: &mut out,
        };
        containers::check(&mut found, source);
        secrets::check(&mut found, source);
        tasks::check(&mut found, source, view);
        variables::check(&mut found, source, view);
        repository::plays(&mut found, source, view);
    }
    repository::unused_roles(view, &mut out);
    repository::stray_files(view, &mut out);
    out
}

#[cfg(test)]
mod tests {
    //! One fixture per rule: a small repository where it fires, and the look-alike where it
    //! must not.

    use crate::repo::scratch as repo;
    use crate::suggest::{Severity, Suggestion, analyse};

    /// `(file, line)` of each finding of `rule`.
    fn fired(files: &[(&str, &str)], rule: &str) -> Vec<(String, usize)> {
        let dir = repo(files);
        analyse(dir.path())
            .into_iter()
            .filter(|s| s.rule == rule)
            .map(|s| (s.file, s.line))
            .collect()
    }

    fn one(files: &[(&str, &str)], rule: &str) -> Suggestion {
        let dir = repo(files);
        let mut found: Vec<Suggestion> = analyse(dir.path())
            .into_iter()
            .filter(|s| s.rule == rule)
            .collect();
        assert_eq!(found.len(), 1, "{found:#?}");
        found.remove(0)
    }

    const COMPOSE: &str = "roles/app/templates/docker-compose.yml.j2";

    #[test]
    fn the_docker_socket_read_write_is_reported_unless_read_only_or_a_docker_manager() {
        let text = "services:\n  dozzle:\n    image: amir20/dozzle:v8.1\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n  homepage:\n    image: ghcr.io/gethomepage/homepage:v1.0\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock:ro\n  portainer:\n    image: portainer/portainer-ce:2.21.0\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n";
        let found = one(&[(COMPOSE, text)], "docker-socket-mount");
        assert_eq!(found.line, 5);
        assert_eq!(found.severity, Severity::High);
        assert!(
            found
                .diff
                .unwrap()
                .contains("+      - /var/run/docker.sock:/var/run/docker.sock:ro\n")
        );
    }

    #[test]
    fn privileged_containers_are_reported_unless_they_need_it() {
        let text = "services:\n  dashdot:\n    image: mauricenino/dashdot:5.8\n    privileged: true\n  cadvisor:\n    image: gcr.io/cadvisor/cadvisor:v0.49.1\n    privileged: true\n";
        assert_eq!(
            fired(&[(COMPOSE, text)], "privileged-container"),
            [(COMPOSE.to_owned(), 4)]
        );
    }

    #[test]
    fn host_networking_is_reported_unless_the_app_needs_discovery() {
        let text = "services:\n  radarr-mcp:\n    image: ghcr.io/x/radarr-mcp:1.0\n    network_mode: host\n  plex:\n    image: plexinc/pms-docker:1.41\n    network_mode: host\n";
        assert_eq!(
            fired(&[(COMPOSE, text)], "host-network"),
            [(COMPOSE.to_owned(), 4)]
        );
    }

    #[test]
    fn an_admin_ui_behind_the_reverse_proxy_is_called_a_second_door() {
        let dir = repo(&[(
            "stacks/jellyfin/compose.yml",
            "services:\n  jellyfin:\n    image: jellyfin/jellyfin:10.10.7\n    ports:\n      - \"8096:8096\"\n    labels:\n      - traefik.enable=true\n      - traefik.http.routers.jellyfin.rule=Host(`jellyfin.home.arpa`)\n  grafana:\n    image: grafana/grafana:11.4.0\n    ports:\n      - \"3000:3000\"\n",
        )]);
        let found = analyse(dir.path());
        let exposed: Vec<&Suggestion> = found
            .iter()
            .filter(|s| s.rule == "admin-ui-exposed")
            .collect();
        assert_eq!(exposed.len(), 2, "{found:?}");
        assert!(
            exposed[0]
                .message
                .contains("the reverse proxy already serves this UI"),
            "{}",
            exposed[0].message
        );
        assert!(
            !exposed[1].message.contains("reverse proxy already"),
            "no proxy routes to grafana: {}",
            exposed[1].message
        );
    }

    #[test]
    fn admin_uis_on_every_interface_are_reported_not_bound_or_client_ports() {
        let text = "services:\n  prometheus:\n    image: prom/prometheus:v2.53.0\n    ports:\n      - \"9090:9090\"\n      - \"127.0.0.1:9091:9091\"\n      - \"{{ lan_ip }}:9092:9092\"\n  pihole:\n    image: pihole/pihole:2024.07.0\n    ports:\n      - \"53:53/udp\"\n      - \"53:53/tcp\"\n      - \"8053:80/tcp\"\n";
        let found = fired(&[(COMPOSE, text)], "admin-ui-exposed");
        assert_eq!(found, [(COMPOSE.to_owned(), 5), (COMPOSE.to_owned(), 13)]);
        let dir = repo(&[(
            "docker-compose.yml",
            "services:\n  docker:\n    image: docker:27-dind\n    ports:\n      - 2375:2375\n",
        )]);
        let api = analyse(dir.path());
        let api = api.iter().find(|s| s.rule == "admin-ui-exposed").unwrap();
        assert_eq!(api.severity, Severity::High);
        assert!(
            api.diff
                .as_deref()
                .unwrap()
                .contains("+      - 127.0.0.1:2375:2375\n")
        );
    }

    #[test]
    fn containers_started_by_modules_need_a_restart_policy_and_a_healthcheck() {
        let tasks = "- name: Database\n  community.docker.docker_container:\n    name: wedding-db\n    image: postgres:16\n    env:\n      POSTGRES_PASSWORD: postgres\n- name: Web\n  community.docker.docker_container:\n    name: web\n    image: nginx:1.27\n    restart_policy: unless-stopped\n    healthcheck:\n      test: [\"CMD\", \"curl\", \"-f\", \"http://localhost\"]\n- name: Gone\n  containers.podman.podman_container:\n    name: old\n    image: old:1\n    state: absent\n";
        let files = [("roles/db/tasks/main.yml", tasks)];
        assert_eq!(
            fired(&files, "no-restart-policy"),
            [("roles/db/tasks/main.yml".to_owned(), 2)]
        );
        assert_eq!(
            fired(&files, "no-healthcheck"),
            [("roles/db/tasks/main.yml".to_owned(), 2)]
        );
        assert_eq!(
            fired(&files, "default-password"),
            [("roles/db/tasks/main.yml".to_owned(), 6)]
        );
    }

    #[test]
    fn moving_versions_in_role_variables_are_reported_unless_the_inventory_pins_them() {
        let files = [
            (
                "roles/arr/defaults/main.yml",
                "arr_version: latest\narr_image_version: \"release\"\nvault_server_version: latest\npihole_image: pihole/pihole\npihole_tag: 2024.07.0\n",
            ),
            (
                "roles/arr/templates/compose.yml.j2",
                "services:\n  radarr:\n    image: lscr.io/linuxserver/radarr:{{ arr_version }}\n    restart: unless-stopped\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n",
            ),
            (
                "inventory/host_vars/box.yml",
                "vault_server_version: \"1.32.0\"\n",
            ),
        ];
        assert_eq!(
            fired(&files, "unpinned-image"),
            [
                ("roles/arr/defaults/main.yml".to_owned(), 1),
                ("roles/arr/defaults/main.yml".to_owned(), 2)
            ]
        );
    }

    #[test]
    fn secrets_in_a_containers_environment_list_and_in_config_templates() {
        let files = [
            (
                "roles/app/tasks/wishlist.yml",
                "- name: Wishlist\n  set_fact:\n    wishlist_service:\n      name: wishlist\n      image: ghcr.io/x/wishlist:1.2\n      restart: unless-stopped\n      healthcheck: {test: [\"CMD\", \"true\"]}\n      environment:\n        - ADMIN_PASSWORD=2UCgDL8KmkNrj0uDXC36\n        - TOKEN={{ vault_token }}\n",
            ),
            (
                "roles/auth/templates/configuration.j2",
                "session:\n  secret: unsecure_session_secret\n  expiration: 1h\nclient:\n  client_secret: '{{ vault_client_secret }}'\n  authorization_policy: two_factor\n",
            ),
            (
                "roles/app/files/config.example.yml",
                "password: hunter2hunter2\n",
            ),
        ];
        assert_eq!(
            fired(&files, "plaintext-secret"),
            [
                ("roles/app/tasks/wishlist.yml".to_owned(), 9),
                ("roles/auth/templates/configuration.j2".to_owned(), 2)
            ]
        );
    }

    #[test]
    fn guessable_passwords_are_told_apart_from_other_secrets() {
        let files = [(
            "docker-compose.yml",
            "services:\n  paperless-db:\n    image: postgres:16\n    restart: always\n    healthcheck: {test: x}\n    environment:\n      POSTGRES_PASSWORD: paperless\n      OTHER_SECRET: Zq8vLr2mWx\n",
        )];
        assert_eq!(
            fired(&files, "default-password"),
            [("docker-compose.yml".to_owned(), 7)]
        );
        assert_eq!(
            fired(&files, "plaintext-secret"),
            [("docker-compose.yml".to_owned(), 8)]
        );
    }

    #[test]
    fn the_same_role_twice_in_a_play_is_reported() {
        let files = [
            (
                "site.yml",
                "- hosts: all\n  roles:\n    - role: docker\n      tags: [docker]\n    - role: app\n      tags: [app]\n    - role: docker\n      tags: [docker]\n- hosts: web\n  roles:\n    - role: app\n      vars: {port: 1}\n      tags: [a]\n    - role: app\n      vars: {port: 2}\n      tags: [b]\n",
            ),
            (
                "roles/docker/tasks/main.yml",
                "- name: x\n  ansible.builtin.debug: {}\n",
            ),
            (
                "roles/app/tasks/main.yml",
                "- name: x\n  ansible.builtin.debug: {}\n",
            ),
        ];
        assert_eq!(
            fired(&files, "duplicate-role"),
            [("site.yml".to_owned(), 7)]
        );
    }

    #[test]
    fn roles_without_tags_are_reported_unless_their_tasks_carry_tags() {
        let role = |tags: bool| {
            if tags {
                "- name: x\n  ansible.builtin.debug: {}\n  tags: [x]\n"
            } else {
                "- name: x\n  ansible.builtin.debug: {}\n"
            }
        };
        let files = [
            (
                "site.yml",
                "- hosts: all\n  roles:\n    - plausible\n    - restic\n- name: Lab\n  hosts: lab\n  roles:\n    - jellyfin\n    - sonarr\n- hosts: one\n  roles:\n    - plausible\n",
            ),
            ("roles/plausible/tasks/main.yml", role(false)),
            ("roles/restic/tasks/main.yml", role(false)),
            ("roles/jellyfin/tasks/main.yml", role(true)),
            ("roles/sonarr/tasks/main.yml", role(true)),
        ];
        assert_eq!(
            fired(&files, "untagged-roles"),
            [("site.yml".to_owned(), 1)]
        );
    }

    #[test]
    fn roles_no_play_uses_are_reported() {
        let files = [
            (
                "site.yml",
                "- hosts: all\n  roles:\n    - role: used\n      tags: [used]\n  tasks:\n    - name: y\n      ansible.builtin.include_role:\n        name: included\n",
            ),
            (
                "roles/used/tasks/main.yml",
                "- name: x\n  ansible.builtin.debug: {}\n",
            ),
            (
                "roles/used/meta/main.yml",
                "dependencies:\n  - role: dependency\n",
            ),
            (
                "roles/dependency/tasks/main.yml",
                "- name: x\n  ansible.builtin.debug: {}\n",
            ),
            (
                "roles/included/tasks/main.yml",
                "- name: x\n  ansible.builtin.debug: {}\n",
            ),
            (
                "roles/samba/tasks/main.yml",
                "# samba is not used\n- name: x\n  ansible.builtin.debug: {}\n",
            ),
        ];
        assert_eq!(
            fired(&files, "unused-role"),
            [("roles/samba/tasks/main.yml".to_owned(), 1)]
        );
    }

    #[test]
    fn editor_copies_and_backups_are_stray_files() {
        let files = [
            ("site.yml.bak", "x"),
            ("roles/a/tasks/main.yml~", "x"),
            (
                "roles/a/tasks/main.yml",
                "- name: x\n  ansible.builtin.debug: {}\n",
            ),
            ("backup.yml", "- hosts: all\n  tasks: []\n"),
        ];
        assert_eq!(
            fired(&files, "stray-file"),
            [
                ("roles/a/tasks/main.yml~".to_owned(), 1),
                ("site.yml.bak".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn deprecated_modules_are_reported_but_not_their_removal() {
        let files = [(
            "roles/a/tasks/main.yml",
            "- name: Key\n  ansible.builtin.apt_key:\n    url: https://x/key.gpg\n- name: Old key gone\n  ansible.builtin.apt_key:\n    id: ABC\n    state: absent\n- name: Old include\n  include: other.yml\n",
        )];
        assert_eq!(
            fired(&files, "deprecated-module"),
            [
                ("roles/a/tasks/main.yml".to_owned(), 2),
                ("roles/a/tasks/main.yml".to_owned(), 9)
            ]
        );
    }

    #[test]
    fn ignored_errors_are_reported_unless_the_result_is_tested_or_the_task_only_probes() {
        let files = [(
            "roles/a/tasks/main.yml",
            "- name: Delete certificates\n  ansible.builtin.shell: certbot delete\n  changed_when: true\n  ignore_errors: true\n- name: Check driver\n  ansible.builtin.command: nvidia-smi\n  register: driver\n  changed_when: false\n  ignore_errors: true\n- name: Install\n  ansible.builtin.command: thing install\n  register: installed\n  changed_when: true\n  ignore_errors: true\n- name: Retry\n  ansible.builtin.debug: {}\n  when: installed is failed\n- name: Notify gotify\n  ansible.builtin.uri:\n    url: https://gotify/message\n  ignore_errors: true\n",
        )];
        assert_eq!(
            fired(&files, "ignore-errors"),
            [("roles/a/tasks/main.yml".to_owned(), 4)]
        );
    }

    #[test]
    fn downloads_that_move_or_are_unchecked_also_through_variables_and_shell() {
        let files = [
            (
                "roles/a/defaults/main.yml",
                "flood_url: https://github.com/x/flood/releases/latest/download/flood.zip\n",
            ),
            (
                "roles/a/tasks/main.yml",
                "- name: Flood\n  ansible.builtin.get_url:\n    url: \"{{ flood_url }}\"\n    dest: /tmp/f.zip\n- name: Pinned and checked\n  ansible.builtin.get_url:\n    url: https://x/v1.2/a.tgz\n    dest: /tmp/a.tgz\n    checksum: sha256:abc\n- name: Release\n  ansible.builtin.uri:\n    url: https://api.github.com/repos/x/y/releases/latest\n  register: release\n- name: Binary\n  ansible.builtin.get_url:\n    url: https://github.com/x/y/releases/download/{{ release.json.tag_name }}/y\n    dest: /usr/bin/y\n- name: Brew\n  ansible.builtin.shell: |\n    curl -fsSL https://example.com/brew/v4.tar.gz | tar xz -C /opt\n  args:\n    creates: /opt/brew\n",
            ),
        ];
        let file = "roles/a/tasks/main.yml".to_owned();
        assert_eq!(
            fired(&files, "moving-download"),
            [(file.clone(), 2), (file.clone(), 15)]
        );
        assert_eq!(fired(&files, "download-without-checksum"), [(file, 20)]);
    }

    #[test]
    fn switches_built_in_jinja_or_used_in_templates_gate_something() {
        let files = [
            (
                "roles/plex/vars/main.yml",
                "plex_configure_proxy: true\nplex_enabled: true\narr_radarr_enabled: false\n",
            ),
            (
                "roles/plex/templates/compose.yml.j2",
                "{% if plex_enabled %}\nservices: {}\n{% endif %}\n",
            ),
            (
                "roles/plex/tasks/main.yml",
                "- name: x\n  ansible.builtin.debug: {}\n  when: vars['arr_' ~ app ~ '_enabled'] or lookup('vars', 'arr_{{ app }}_enabled')\n",
            ),
        ];
        assert_eq!(
            fired(&files, "toggle-gates-nothing"),
            [("roles/plex/vars/main.yml".to_owned(), 1)]
        );
    }

    #[test]
    fn a_reboot_guarded_by_the_need_is_fine_an_unguarded_one_is_not() {
        let files = [(
            "roles/a/tasks/main.yml",
            "- name: Reboot if required\n  ansible.builtin.reboot:\n  when: reboot_required_file.stat.exists\n- name: Reboot anyway\n  ansible.builtin.reboot:\n",
        )];
        assert_eq!(
            fired(&files, "unconditional-reboot"),
            [("roles/a/tasks/main.yml".to_owned(), 5)]
        );
    }
}
