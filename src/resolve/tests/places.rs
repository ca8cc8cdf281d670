//! Where an app runs, when the plays alone do not say it.

use super::*;

#[test]
fn a_service_its_template_renders_for_one_value_runs_where_the_inventory_sets_that_value() {
    let compose = "services:\n{% if monitoring_role == \"master\" %}\n  grafana:\n    image: grafana/grafana\n    container_name: grafana\n{% endif %}\n  cadvisor:\n    image: gcr.io/cadvisor/cadvisor:v0.49.1\n    container_name: cadvisor\n";
    let (_dir, repository) = repository(&[
        ("inventory/hosts.ini", "[bastion]\nb-1\n\n[media]\nm-1\n"),
        (
            "inventory/group_vars/bastion.yml",
            "monitoring_role: \"master\"\n",
        ),
        (
            "inventory/group_vars/media.yml",
            "monitoring_role: \"node\"\n",
        ),
        (
            "site.yml",
            "- hosts: bastion\n  roles:\n    - monitoring\n- hosts: media\n  roles:\n    - monitoring\n",
        ),
        (
            "roles/monitoring/tasks/main.yml",
            "- name: compose file\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: /opt/monitoring/docker-compose.yml\n- name: up\n  community.docker.docker_compose_v2:\n    project_src: /opt/monitoring\n",
        ),
        ("roles/monitoring/templates/docker-compose.yml.j2", compose),
    ]);
    // Grafana only where monitoring_role is master: no question between the two plays.
    let resolution = resolve(&repository, "is grafana still up?");
    let (_, name, hosts) = builtin(&resolution);
    assert_eq!(name, "grafana", "{resolution:#?}");
    assert_eq!(hosts, ["bastion"]);
    // cAdvisor runs on both: which one is asked.
    let resolution = resolve(&repository, "restart cadvisor");
    assert!(
        matches!(&resolution.answer, Answer::Question { choices, .. } if choices.len() == 2),
        "{resolution:#?}"
    );
}

#[test]
fn a_play_on_a_host_only_its_host_vars_name_runs_nowhere() {
    let play = |host: &str| {
        format!(
            "- hosts: {host}\n  tasks:\n    - name: {host}\n      community.docker.docker_container:\n        name: {host}\n        image: ghcr.io/example/{host}:1.0\n"
        )
    };
    let (_dir, repository) = repository(&[
        ("inventory.yml", "all:\n  hosts:\n    paperless:\n"),
        ("host_vars/paperless/config.yml", "paperless_port: 8000\n"),
        // Vars for a machine the inventory no longer lists.
        ("host_vars/mat2-web/config.yml", "mat2_port: 8080\n"),
        ("paperless.yml", &play("paperless")),
        ("mat2.yml", &play("mat2-web")),
    ]);
    let resolution = resolve(&repository, "stop mat2-web, nobody uses it anymore");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "unwired"),
        "{resolution:#?}"
    );
    let (_, _, hosts) = builtin(&resolve(&repository, "stop paperless"));
    assert_eq!(hosts, ["paperless"]);
}

#[test]
fn a_role_of_a_collection_kept_in_the_repository_is_found_by_its_full_name() {
    let role = "collections/ansible_collections/acme/homelab/roles/jellyfin";
    let (_dir, repository) = repository(&[
        ("inventory.ini", "[media]\nmedia-1\n"),
        (
            "media.yml",
            "- hosts: media\n  roles:\n    - role: acme.homelab.jellyfin\n      tags: [jellyfin]\n",
        ),
        (
            &format!("{role}/tasks/main.yml"),
            "- name: jellyfin\n  containers.podman.podman_container:\n    name: jellyfin\n    image: docker.io/jellyfin/jellyfin:10.10.7\n",
        ),
        // A role of the same short name outside the collection that no play runs.
        (
            "roles/jellyfin/tasks/main.yml",
            "- name: old jellyfin\n  community.docker.docker_container:\n    name: jellyfin-old\n    image: jellyfin/jellyfin:10.8.0\n",
        ),
    ]);
    let resolution = resolve(&repository, "redeploy jellyfin");
    let Answer::Entrypoint { playbook, tags, .. } = &resolution.answer else {
        panic!("{resolution:#?}");
    };
    assert_eq!(playbook, "media.yml");
    assert_eq!(tags, &["jellyfin"]);
    let resolution = resolve(&repository, "restart jellyfin");
    let (_, name, hosts) = builtin(&resolution);
    assert_eq!(
        (name.as_str(), hosts.as_slice()),
        ("jellyfin", &["media".to_owned()][..]),
        "{resolution:#?}"
    );
}

#[test]
fn a_role_folder_beside_the_playbook_is_a_role() {
    let (_dir, repository) = repository(&[
        ("inventory.ini", "[home]\nserver\n"),
        (
            "site.yml",
            "- hosts: home\n  roles:\n    - { role: common, tags: ['common'] }\n",
        ),
        (
            "common/tasks/main.yml",
            "- name: Essentials\n  ansible.builtin.import_tasks: essential.yml\n",
        ),
        (
            "common/tasks/essential.yml",
            "- name: Extra packages\n  ansible.builtin.apt:\n    name: \"{{ extra_packages }}\"\n",
        ),
        ("group_vars/all/system.yml", "extra_packages:\n  - git\n"),
    ]);
    let resolution = resolve(
        &repository,
        "add htop and ncdu to the extra packages that get installed on the server",
    );
    let Answer::Entrypoint {
        playbook,
        tags,
        config,
        ..
    } = &resolution.answer
    else {
        panic!("{resolution:#?}");
    };
    assert_eq!(
        (playbook.as_str(), tags.as_slice(), config.as_deref()),
        (
            "site.yml",
            &["common".to_owned()][..],
            Some("group_vars/all/system.yml")
        ),
        "{resolution:#?}"
    );
}
