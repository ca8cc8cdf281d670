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
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    repository(&borrowed)
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
