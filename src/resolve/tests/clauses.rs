//! Where the names of a request sit in its clauses: a name said as several words, what is
//! put behind what, a name followed by a complaint about another app.

use super::*;

/// Grafana, Loki and Traefik in containers of one play, and a socket proxy Traefik reads.
fn monitoring_repository() -> (tempfile::TempDir, Repository) {
    let container = |name: &str, image: &str| {
        format!(
            "- name: {name}\n  community.docker.docker_container:\n    name: {name}\n    image: {image}\n"
        )
    };
    let tasks = [
        container("grafana", "grafana/grafana:11.2.0"),
        container("loki", "grafana/loki:3.1.0"),
        container("traefik", "traefik:v3.1"),
        container("docker-socket-proxy", "tecnativa/docker-socket-proxy:0.2"),
    ]
    .concat();
    repository(&[
        ("hosts.ini", "[monitor]\nmon-1\n"),
        (
            "site.yml",
            "- hosts: monitor\n  roles:\n    - role: stack\n      tags: [stack]\n",
        ),
        ("roles/stack/tasks/main.yml", &tasks),
    ])
}

#[test]
fn what_sits_behind_an_app_that_fronts_nothing_is_no_change_of_that_app() {
    let (_dir, repository) = monitoring_repository();
    // Grafana fronts nothing: the request stops something, it puts nothing behind Grafana.
    let resolution = resolve(
        &repository,
        "stop the log database behind grafana's explore tab for a bit",
    );
    assert_eq!(resolution.verb, Verb::Stop, "{resolution:#?}");
    // Traefik does: an app put behind it is a change of Traefik.
    let resolution = resolve(&repository, "put loki behind traefik");
    assert_eq!(resolution.service.as_deref(), Some("traefik"));
    assert_eq!(resolution.verb, Verb::Configure);
}

#[test]
fn the_words_after_a_name_said_as_several_words_start_after_its_last_word() {
    let (_dir, repository) = monitoring_repository();
    // "socket proxy" is the name itself, not words describing another app made for it.
    let resolution = resolve(
        &repository,
        "restart docker-socket-proxy, traefik lost all its container routes",
    );
    assert_eq!(
        resolution.service.as_deref(),
        Some("docker-socket-proxy"),
        "{resolution:#?}"
    );
    let (_, name, hosts) = builtin(&resolution);
    assert_eq!(name, "docker-socket-proxy");
    assert_eq!(hosts, ["monitor"]);
}

#[test]
fn a_registry_mirror_is_the_artifact_repository_named_beside_it() {
    let container = |name: &str, image: &str| {
        format!(
            "- name: {name}\n  community.docker.docker_container:\n    name: {name}\n    image: \"{image}:{{{{ {name}_version }}}}\"\n"
        )
    };
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[dev]\nforge\n"),
        (
            "site.yml",
            "- hosts: dev\n  roles:\n    - role: gitea\n      tags: [gitea]\n    - role: nexus\n      tags: [nexus]\n",
        ),
        (
            "roles/gitea/tasks/main.yml",
            &container("gitea", "gitea/gitea"),
        ),
        (
            "roles/nexus/tasks/main.yml",
            &container("nexus", "sonatype/nexus3"),
        ),
        (
            "group_vars/all/versions.yml",
            "gitea_version: 1.22.1\nnexus_version: 3.91.1\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "nexus is still on 3.91.1, bump the registry mirror to the current release",
    );
    assert_eq!(
        resolution.service.as_deref(),
        Some("nexus"),
        "{resolution:#?}"
    );
    assert_eq!(resolution.verb, Verb::Upgrade);
}

#[test]
fn a_service_the_repository_lacks_named_in_the_order_is_absent_though_a_later_clause_names_one_it_has()
 {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[lab]\nbox\n"),
        (
            "site.yml",
            "- hosts: lab\n  roles:\n    - role: influxdb\n      tags: [influxdb]\n",
        ),
        (
            "roles/influxdb/tasks/main.yml",
            "- name: influxdb\n  community.docker.docker_container:\n    name: influxdb\n    image: influxdb:2.7\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "stop grafana for a bit, the dashboards hammer influx",
    );
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "absent"),
        "{resolution:#?}"
    );
    // Said the other way round, the app it has is the order.
    let resolution = resolve(&repository, "stop influxdb for a bit, grafana hammers it");
    assert_eq!(resolution.service.as_deref(), Some("influxdb"));
}

#[test]
fn a_machine_named_where_the_app_does_not_run_is_not_where_the_action_goes() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[qnap]\nnas-1\n\n[dell]\ndell-1\n"),
        (
            "site.yml",
            "- hosts: qnap\n  roles:\n    - role: portainer\n      tags: [portainer]\n",
        ),
        (
            "roles/portainer/tasks/main.yml",
            "- name: portainer\n  community.docker.docker_container:\n    name: portainer\n    image: portainer/portainer-ce:2.21.0\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "portainer logs, the ui keeps saying the dell environment is unreachable",
    );
    let (_, name, hosts) = builtin(&resolution);
    assert_eq!(name, "portainer");
    assert_eq!(hosts, ["qnap"], "{resolution:#?}");
    // Named where it runs, the machine is the place.
    let (_, _, hosts) = builtin(&resolve(&repository, "restart portainer on nas-1"));
    assert_eq!(hosts, ["nas-1"]);
}

#[test]
fn a_task_file_named_for_what_it_does_gives_its_app_no_name() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[lab]\nbox\n"),
        (
            "site.yml",
            "- hosts: lab\n  roles:\n    - role: ntp\n      tags: [ntp]\n    - role: netplan\n      tags: [netplan]\n",
        ),
        (
            "roles/ntp/tasks/main.yml",
            "- name: chrony config\n  ansible.builtin.template:\n    src: chrony.conf.j2\n    dest: /etc/chrony/chrony.conf\n- name: chrony\n  ansible.builtin.systemd_service:\n    name: chrony.service\n    state: started\n",
        ),
        (
            "roles/ntp/templates/chrony.conf.j2",
            "server time.cloudflare.com nts iburst\n",
        ),
        (
            "roles/netplan/tasks/main.yml",
            "- ansible.builtin.include_tasks: apply.yml\n",
        ),
        (
            "roles/netplan/tasks/apply.yml",
            "- name: rollback units\n  ansible.builtin.copy:\n    src: \"{{ item }}\"\n    dest: /etc/systemd/system/\n  loop: [netplan_rollback.service, netplan_rollback.timer]\n- name: rollback timer\n  ansible.builtin.systemd_service:\n    name: netplan_rollback.timer\n    state: started\n",
        ),
        (
            "roles/netplan/files/netplan_rollback.service",
            "[Service]\nExecStart=/usr/sbin/netplan apply\n",
        ),
        (
            "roles/netplan/files/netplan_rollback.timer",
            "[Timer]\nOnActiveSec=5min\n",
        ),
    ]);
    // "re-apply" says what to do: `tasks/apply.yml` does not make the rollback unit "apply".
    let resolution = resolve(
        &repository,
        "the clocks are drifting again, re-apply the time sync setup everywhere",
    );
    assert_eq!(
        resolution.service.as_deref(),
        Some("chrony"),
        "{resolution:#?}"
    );
}
