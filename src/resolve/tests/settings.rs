//! Settings said by the words of the variable that holds them, and words that only say where.

use super::*;

/// A base role installing a package list the inventory sets for every host, applied by a setup
/// play with a tag per part, and an app beside it.
fn base_repository() -> (tempfile::TempDir, Repository) {
    repository(&[
        ("inventory.ini", "[servers]\nnas\nmedia-1\n"),
        (
            "group_vars/all.yml",
            "extra_packages:\n  - git\n  - curl\nsystem_timezone: Europe/Rome\n",
        ),
        (
            "setup.yml",
            "- hosts: servers\n  tasks:\n    - name: Base packages\n      ansible.builtin.include_tasks: tasks/packages.yml\n      tags: [packages]\n    - name: Clock\n      ansible.builtin.include_tasks: tasks/clock.yml\n      tags: [clock]\n",
        ),
        (
            "tasks/packages.yml",
            "- name: Install the extra packages\n  ansible.builtin.apt:\n    name: \"{{ extra_packages }}\"\n",
        ),
        (
            "tasks/clock.yml",
            "- name: Timezone\n  community.general.timezone:\n    name: \"{{ system_timezone }}\"\n",
        ),
        (
            "apps.yml",
            "- hosts: media-1\n  tasks:\n    - name: jellyfin\n      community.docker.docker_container:\n        name: jellyfin\n        image: jellyfin/jellyfin:10.10.7\n",
        ),
    ])
}

#[test]
fn a_setting_said_by_its_variables_words_is_changed_where_the_inventory_sets_it() {
    let (_dir, repository) = base_repository();
    let resolution = resolve(
        &repository,
        "add htop and ncdu to the extra packages every server gets",
    );
    assert_eq!(resolution.service.as_deref(), Some("extra-packages"));
    let Answer::Entrypoint {
        playbook,
        tags,
        config,
        ..
    } = &resolution.answer
    else {
        panic!("{resolution:#?}");
    };
    assert_eq!(playbook, "setup.yml");
    assert_eq!(tags, &["packages"]);
    assert_eq!(config.as_deref(), Some("group_vars/all.yml"));
    // Said as a change, on one machine: that machine alone.
    let resolution = resolve(
        &repository,
        "change the system timezone on nas to Europe/Paris",
    );
    let Answer::Entrypoint {
        tags,
        config,
        limit,
        ..
    } = &resolution.answer
    else {
        panic!("{resolution:#?}");
    };
    assert_eq!(tags, &["clock"]);
    assert_eq!(config.as_deref(), Some("group_vars/all.yml"));
    assert_eq!(limit.as_deref(), Some("nas"));
}

#[test]
fn a_deploy_that_only_shares_a_word_with_a_variable_is_not_that_setting() {
    let (_dir, repository) = base_repository();
    // "extra packages" said, but not as where something goes: no setting is meant.
    let resolution = resolve(&repository, "deploy the extra packages tool");
    assert_ne!(
        resolution.service.as_deref(),
        Some("extra-packages"),
        "{resolution:#?}"
    );
}

#[test]
fn the_kind_of_machine_an_app_runs_on_does_not_describe_the_app() {
    let (_dir, repository) = repository(&[
        ("inventory.ini", "[pve]\npve-1\n\n[subs]\nsubs-1\n"),
        ("pve.yml", "- hosts: pve\n  roles:\n    - proxmox\n"),
        (
            "roles/proxmox/tasks/main.yml",
            "- name: Manage snapshots\n  ansible.builtin.include_tasks: snapshot.yml\n",
        ),
        (
            "roles/proxmox/tasks/snapshot.yml",
            "- name: Snapshot\n  ansible.builtin.command: qm snapshot 100 nightly\n  changed_when: true\n",
        ),
        (
            "bazarr.yml",
            "- hosts: subs\n  tasks:\n    - name: bazarr\n      community.docker.docker_container:\n        name: bazarr\n        image: lscr.io/linuxserver/bazarr:1.5.1\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "the subtitle fetcher's lxc got rebuilt from scratch, install it again",
    );
    assert_eq!(
        resolution.service.as_deref(),
        Some("bazarr"),
        "{resolution:#?}"
    );
}

#[test]
fn an_apps_name_inside_a_domain_is_no_target() {
    let (_dir, repository) = repository(&[
        ("inventory.ini", "[proxy]\nedge\n\n[jellyfin]\nmedia-1\n"),
        (
            "proxy.yml",
            "- hosts: proxy\n  tasks:\n    - name: caddy\n      community.docker.docker_container:\n        name: caddy\n        image: caddy:2.10\n",
        ),
        (
            "jellyfin.yml",
            "- hosts: jellyfin\n  tasks:\n    - name: jellyfin\n      community.docker.docker_container:\n        name: jellyfin\n        image: jellyfin/jellyfin:10.10.7\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "have the reverse proxy serve the media server at jellyfin.<domain> instead of media.<domain>",
    );
    assert_eq!(resolution.target, None, "{resolution:#?}");
}
