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
