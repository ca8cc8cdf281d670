//! Request → entrypoint on small repository shapes written here, one per pattern the corpus
//! showed (the corpus itself is never read by tests).

use super::*;
use crate::services::catalogue;

mod applied;
mod clauses;
mod hosted;
mod layouts;
mod machine;
mod per_service;
mod phrasing;
mod picked;
mod places;
mod settings;
mod shapes;
mod written;

/// A repository made of `(path, text)` files, discovered.
fn repository(files: &[(&str, &str)]) -> (tempfile::TempDir, Repository) {
    let dir = crate::repo::scratch(files);
    let repository = Repository::discover(dir.path());
    (dir, repository)
}

fn builtin(resolution: &Resolution) -> (UnitKind, String, Vec<String>) {
    match &resolution.answer {
        Answer::Builtin {
            unit, name, hosts, ..
        } => (*unit, name.clone(), hosts.clone()),
        other => panic!("expected a built-in action, got {other:?}"),
    }
}

fn entrypoint(resolution: &Resolution) -> (Vec<String>, Option<String>, Option<String>) {
    match &resolution.answer {
        Answer::Entrypoint {
            tags,
            limit,
            config,
            ..
        } => (tags.clone(), limit.clone(), config.clone()),
        other => panic!("expected an entrypoint, got {other:?}"),
    }
}

const JELLYFIN_UNIT_ROLE: &[(&str, &str)] = &[
    (
        "roles/jellyfin/tasks/main.yml",
        "- name: unit\n  ansible.builtin.template:\n    src: jellyfin.service.j2\n    dest: /etc/systemd/system/jellyfin.service\n  tags: [jellyfin]\n",
    ),
    (
        "roles/jellyfin/templates/jellyfin.service.j2",
        "[Service]\nExecStart=/usr/bin/podman run {{ jellyfin_image }}\n",
    ),
    (
        "group_vars/all/versions.yml",
        "jellyfin_image: docker.io/jellyfin/jellyfin:10.11.0\n",
    ),
];

#[test]
fn a_test_inventory_in_a_top_level_test_folder_does_not_make_the_real_hosts_test_machines() {
    let mut files = JELLYFIN_UNIT_ROLE.to_vec();
    files.extend([
        ("hosts.ini", "lab\nbox\n\n[prod]\nlab\n\n[test]\nbox\n"),
        ("test/inventory.ini", "[test]\nbox\nlab\n"),
        (
            "site.yml",
            "- name: Lab\n  hosts: box,lab\n  roles:\n    - jellyfin\n",
        ),
    ]);
    let (_dir, repository) = repository(&files);
    let (unit, name, hosts) = builtin(&resolve(&repository, "restart jellyfin"));
    assert_eq!(unit, UnitKind::Systemd);
    assert_eq!(name, "jellyfin.service");
    assert_eq!(hosts, vec!["lab".to_owned()], "box is the test machine");
}

#[test]
fn an_unplaced_group_named_like_a_kind_of_service_is_not_a_target_and_the_setting_is_found() {
    let (_dir, repository) = repository(&[
        ("inventory/hosts.ini", "[dns]\nmercury\n"),
        (
            "networking.yml",
            "- name: DNS\n  hosts: dns\n  roles:\n    - role: adguardhome\n      tags: [dns]\n",
        ),
        (
            "roles/adguardhome/tasks/main.yml",
            "- name: unit\n  ansible.builtin.template:\n    src: adguardhome.service.j2\n    dest: /etc/systemd/system/adguardhome.service\n",
        ),
        (
            "roles/adguardhome/templates/adguardhome.service.j2",
            "[Service]\nExecStart=/opt/AdGuardHome/AdGuardHome\n",
        ),
        (
            "inventory/host_vars/mercury/adguard.yml",
            "adguardhome_config:\n  dns:\n    upstream_dns:\n      - 1.1.1.1\n",
        ),
    ]);
    let resolution = resolve(&repository, "change the upstream dns resolvers");
    assert_eq!(resolution.service.as_deref(), Some("adguard-home"));
    let (tags, limit, config) = entrypoint(&resolution);
    assert_eq!(limit, None, "dns says what, not where");
    assert_eq!(tags, vec!["dns".to_owned()]);
    assert_eq!(
        config.as_deref(),
        Some("inventory/host_vars/mercury/adguard.yml")
    );
    // Said after "on", the group is the target.
    let (_, limit, _) = entrypoint(&resolve(&repository, "redeploy adguard on dns"));
    assert_eq!(limit.as_deref(), Some("dns"));
}

#[test]
fn a_setting_is_configured_in_the_vars_file_that_names_it_not_in_a_proxy_template() {
    let (_dir, repository) = repository(&[
        (
            "deploy_jellyfin.yml",
            "- name: Jellyfin\n  hosts: media\n  roles:\n    - jellyfin\n",
        ),
        ("hosts", "[media]\nnas\n"),
        (
            "roles/jellyfin/tasks/main.yml",
            "- name: compose\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: /opt/jellyfin/docker-compose.yml\n- name: proxy\n  ansible.builtin.template:\n    src: jellyfin.subdomain.conf.j2\n    dest: /config/nginx/jellyfin.subdomain.conf\n",
        ),
        (
            "roles/jellyfin/templates/docker-compose.yml.j2",
            "services:\n  jellyfin:\n    image: jellyfin/jellyfin:10.11.0\n    container_name: jellyfin\n    ports:\n      - \"{{ jellyfin_port }}:8096\"\n",
        ),
        (
            "roles/jellyfin/templates/jellyfin.subdomain.conf.j2",
            "server {\n  listen 443 ssl;\n  set $upstream_port 8096;\n}\n",
        ),
        ("roles/jellyfin/vars/main.yml", "jellyfin_port: 8096\n"),
        (
            "roles/jellyfin/templates/nginx.jellyfin.conf",
            "server {\n  listen 80;\n}\n",
        ),
        (
            "group_vars/media.yml",
            "jellyfin_proxy_files:\n  - nginx.jellyfin.conf\n",
        ),
    ]);
    let (_, _, config) = entrypoint(&resolve(&repository, "change the port jellyfin listens on"));
    assert_eq!(config.as_deref(), Some("roles/jellyfin/vars/main.yml"));
    // Another service named in the request: the file named for it.
    let (_, _, config) = entrypoint(&resolve(
        &repository,
        "change the nginx config in front of jellyfin",
    ));
    assert_eq!(
        config.as_deref(),
        Some("roles/jellyfin/templates/nginx.jellyfin.conf")
    );
}

#[test]
fn a_dashboard_tile_is_configured_in_the_file_that_mentions_the_service_with_its_config_tag() {
    let render = |file: &str| {
        format!(
            "- name: {file}\n  ansible.builtin.template:\n    src: templates/{file}\n    dest: /opt/homepage/config/{file}\n  tags:\n    - homepage\n    - homepage_config\n"
        )
    };
    let tasks = format!(
        "- name: compose\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: /opt/homepage/docker-compose.yml\n  tags:\n    - homepage\n{}{}",
        render("services.yaml.j2"),
        render("widgets.yaml.j2")
    );
    let (_dir, repository) = repository(&[
        (
            "deploy_homepage.yml",
            "- name: Homepage\n  hosts: web\n  roles:\n    - homepage\n",
        ),
        ("hosts", "[web]\nbox1\n"),
        ("roles/homepage/tasks/main.yml", tasks.as_str()),
        (
            "roles/homepage/templates/docker-compose.yml.j2",
            "services:\n  homepage:\n    image: ghcr.io/gethomepage/homepage:v1\n    container_name: homepage\n",
        ),
        (
            "roles/homepage/templates/services.yaml.j2",
            "- Smart Home:\n    - Home Assistant:\n        href: http://ha.lan\n- Media:\n    - Sonarr:\n        href: http://sonarr.lan\n",
        ),
        (
            "roles/homepage/templates/widgets.yaml.j2",
            "- resources:\n    cpu: true\n- search:\n    provider: duckduckgo\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "change the home assistant widget on the homepage dashboard",
    );
    assert_eq!(resolution.service.as_deref(), Some("homepage"));
    let (tags, _, config) = entrypoint(&resolution);
    assert_eq!(
        config.as_deref(),
        Some("roles/homepage/templates/services.yaml.j2")
    );
    assert_eq!(tags, vec!["homepage_config".to_owned()]);
}

#[test]
fn a_purpose_prefers_the_service_that_fits_every_word_of_the_request() {
    let score = |text: &str, id: &str| {
        catalogue()
            .for_purpose(text)
            .iter()
            .find(|(s, _)| s.id == id)
            .map_or(0.0, |(_, score)| *score)
    };
    // Both words against one: a photo backup server over a snapshot tool, a VPN for
    // containers over a mesh VPN, clearly enough not to ask (within 0.8 the resolver asks).
    let text = "our photo backup app";
    assert!(score(text, "sanoid") < 0.8 * score(text, "immich"));
    let text = "the vpn container the torrents go through";
    assert!(score(text, "tailscale") < 0.8 * score(text, "gluetun"));
    // "request" is what a media request app is; a git forge's pull requests are not enough.
    let text = "the request app";
    assert!(score(text, "gitea") < 0.8 * score(text, "jellyseerr"));
}

#[test]
fn jellyseerr_renamed_seerr_is_one_service() {
    let by_image = catalogue().by_image("ghcr.io/seerr-team/seerr:v3.3.0");
    assert_eq!(by_image.map(|s| s.id.as_str()), Some("jellyseerr"));
    assert_eq!(
        catalogue().lookup("seerr").map(|s| s.id.as_str()),
        Some("jellyseerr")
    );
}

#[test]
fn a_unit_named_after_a_registered_user_is_the_apps_unit() {
    let (_dir, repository) = repository(&[
        ("hosts", "[qbittorrent]\nqbt1\n"),
        (
            "main.yml",
            "- name: Torrents\n  hosts: qbittorrent\n  roles:\n    - qbittorrent\n",
        ),
        (
            "roles/qbittorrent/tasks/main.yml",
            "- name: Install qbittorrent\n  package:\n    name: qbittorrent-nox\n\n- name: Create user\n  user:\n    name: qbittorrent\n    system: true\n  register: qbittorrent_user\n\n- name: Enable service\n  service:\n    name: qbittorrent-nox@{{ qbittorrent_user.name }}\n    enabled: true\n",
        ),
    ]);
    let resolution = resolve(&repository, "show the torrent client logs");
    assert_eq!(resolution.service.as_deref(), Some("qbittorrent"));
    let (unit, name, hosts) = builtin(&resolution);
    assert_eq!(unit, UnitKind::Systemd);
    assert_eq!(name, "qbittorrent-nox@qbittorrent.service");
    assert_eq!(hosts, vec!["qbittorrent".to_owned()]);
}

const ARR_COMPOSE: &str = "services:\n  radarr:\n    image: lscr.io/linuxserver/radarr:5\n    container_name: radarr\n  sonarr:\n    image: lscr.io/linuxserver/sonarr:4\n    container_name: sonarr\n";

#[test]
fn apps_sharing_a_stack_compose_file_are_addressed_as_containers() {
    let (_dir, repository) = repository(&[
        ("hosts", "[media]\nmalfoy\n"),
        (
            "arr.yml",
            "- name: Arr\n  hosts: media\n  roles:\n    - arr\n",
        ),
        (
            "roles/arr/tasks/main.yml",
            "- name: compose\n  ansible.builtin.template:\n    src: arr.docker-compose.j2\n    dest: /app/arr/docker-compose.yml\n- name: up\n  community.docker.docker_compose_v2:\n    project_src: /app/arr\n",
        ),
        ("roles/arr/templates/arr.docker-compose.j2", ARR_COMPOSE),
    ]);
    let (unit, name, _) = builtin(&resolve(&repository, "restart sonarr"));
    assert_eq!((unit, name.as_str()), (UnitKind::Container, "sonarr"));
}

#[test]
fn a_part_of_a_project_named_for_its_app_is_addressed_by_its_container() {
    let (_dir, repository) = repository(&[
        ("hosts", "[docker]\nearth\n"),
        (
            "vault.yml",
            "- name: Vault\n  hosts: docker\n  roles:\n    - vaultwarden\n",
        ),
        (
            "roles/vaultwarden/tasks/main.yml",
            "- name: compose\n  ansible.builtin.template:\n    src: compose.yml.j2\n    dest: /opt/vaultwarden/compose.yml\n- name: up\n  community.docker.docker_compose_v2:\n    project_src: /opt/vaultwarden\n",
        ),
        (
            "roles/vaultwarden/templates/compose.yml.j2",
            "services:\n  vaultwarden:\n    image: vaultwarden/server:1.32.0\n    container_name: vaultwarden\n  vaultwarden-backup:\n    image: bruceforce/vaultwarden-backup:latest\n    container_name: vaultwarden-backup\n",
        ),
    ]);
    // The sidecar alone: restarting the backup must not restart the vault.
    let (unit, name, _) = builtin(&resolve(&repository, "restart vaultwarden-backup"));
    assert_eq!(
        (unit, name.as_str()),
        (UnitKind::Container, "vaultwarden-backup")
    );
    // The app the project is named for is still the whole project.
    let (unit, name, _) = builtin(&resolve(&repository, "restart vaultwarden"));
    assert_eq!((unit, name.as_str()), (UnitKind::Compose, "vaultwarden"));
}

/// A themed role `arr-stack` holding the arr apps in one compose template, on `media-01`,
/// with the time zone its defaults set for all of them.
fn arr_stack_repository() -> (tempfile::TempDir, Repository) {
    repository(&[
        ("inventory/homelab.ini", "[media_servers]\nmedia-01\n"),
        (
            "site.yml",
            "- name: Media\n  hosts: media_servers\n  roles:\n    - arr-stack\n",
        ),
        (
            "roles/arr-stack/tasks/main.yml",
            "- name: compose\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: /opt/arr-stack/docker-compose.yml\n",
        ),
        (
            "roles/arr-stack/templates/docker-compose.yml.j2",
            ARR_COMPOSE,
        ),
        (
            "roles/arr-stack/defaults/main.yml",
            "arr_stack_timezone: \"Etc/UTC\"\narr_stack_puid: 1000\n",
        ),
    ])
}

#[test]
fn a_stack_role_named_in_the_request_is_the_stack_not_one_of_its_apps() {
    let (_dir, repository) = arr_stack_repository();
    let resolution = resolve(&repository, "redeploy the arr stack on media-01");
    assert_eq!(resolution.service.as_deref(), Some("arr-stack"));
    let (_, limit, _) = entrypoint(&resolution);
    assert_eq!(limit.as_deref(), Some("media-01"));
}

#[test]
fn a_setting_of_a_stack_is_read_from_the_file_of_its_role_that_holds_it() {
    let (_dir, repository) = arr_stack_repository();
    let resolution = resolve(
        &repository,
        "the arr apps all show utc times, set them to europe/paris",
    );
    assert_eq!(resolution.verb, Verb::Configure);
    assert_eq!(resolution.service.as_deref(), Some("arr-stack"));
    let (_, _, config) = entrypoint(&resolution);
    assert_eq!(config.as_deref(), Some("roles/arr-stack/defaults/main.yml"));
}

#[test]
fn role_tags_reach_an_app_first_seen_in_a_verification_task_file() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[lab]\nlab\n"),
        (
            "site.yml",
            "- name: Lab\n  hosts: lab\n  roles:\n    - sonarr\n",
        ),
        (
            "roles/sonarr/tasks/_verify.yml",
            "- name: is it running\n  ansible.builtin.systemd:\n    name: sonarr\n  check_mode: true\n",
        ),
        (
            "roles/sonarr/tasks/main.yml",
            "- name: unit\n  ansible.builtin.template:\n    src: sonarr.service.j2\n    dest: /etc/systemd/system/sonarr.service\n  tags:\n    - sonarr\n- name: verify\n  ansible.builtin.include_tasks: _verify.yml\n  tags:\n    - sonarr\n",
        ),
        (
            "roles/sonarr/templates/sonarr.service.j2",
            "[Service]\nExecStart=/usr/bin/podman run {{ sonarr_image }}\n",
        ),
        (
            "group_vars/all/versions.yml",
            "sonarr_image: docker.io/linuxserver/sonarr:4.0.15\n",
        ),
    ]);
    let (tags, _, _) = entrypoint(&resolve(&repository, "upgrade sonarr"));
    assert_eq!(tags, vec!["sonarr".to_owned()]);
}

#[test]
fn a_name_the_repository_lacks_finds_the_unwired_app_of_the_same_kind_named_so() {
    let (_dir, repository) = repository(&[
        ("hosts", "[nas]\nqnap\n"),
        (
            "site.yml",
            "- name: NAS\n  hosts: nas\n  roles:\n    - jellyfin\n",
        ),
        (
            "roles/jellyfin/tasks/main.yml",
            "- name: jellyfin\n  community.docker.docker_container:\n    name: jellyfin\n    image: jellyfin/jellyfin:10\n",
        ),
        (
            "roles/portainer_wireguard_easy/tasks/main.yml",
            "- name: wg-easy\n  community.docker.docker_container:\n    name: wg-easy\n    image: ghcr.io/wg-easy/wg-easy:14\n",
        ),
    ]);
    let resolution = resolve(&repository, "set up the wireguard vpn");
    assert_eq!(resolution.service.as_deref(), Some("wg-easy"));
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "unwired"),
        "{:?}",
        resolution.answer
    );
}

#[test]
fn a_group_filled_by_add_host_from_a_registry_runs_on_the_registry_host() {
    let resolver = "- name: Resolve {{ app_name }}\n  add_host:\n    name: \"{{ (apps | selectattr('name', 'equalto', app_name) | first).host }}\"\n    groups: resolved_host\n";
    let play = |app: &str| {
        format!(
            "- name: Resolve\n  hosts: localhost\n  vars:\n    app_name: {app}\n  roles:\n    - resolver\n\n- name: {app}\n  hosts: resolved_host\n  roles:\n    - {app}\n"
        )
    };
    let container = |app: &str| {
        format!(
            "- name: {app}\n  community.docker.docker_container:\n    name: {app}\n    image: lscr.io/linuxserver/{app}:latest\n"
        )
    };
    let (jellyfin, sonarr) = (play("jellyfin"), play("sonarr"));
    let (jellyfin_tasks, sonarr_tasks) = (container("jellyfin"), container("sonarr"));
    let (_dir, repository) = repository(&[
        (
            "inventory.yml",
            "all:\n  hosts:\n    bigboi:\n    malfoy:\n  vars:\n    apps:\n      - name: jellyfin\n        port: 8096\n        host: bigboi\n      - name: radarr\n        host: malfoy\n",
        ),
        ("roles/resolver/tasks/main.yml", resolver),
        ("jellyfin.yml", jellyfin.as_str()),
        ("roles/jellyfin/tasks/main.yml", jellyfin_tasks.as_str()),
        ("sonarr.yml", sonarr.as_str()),
        ("roles/sonarr/tasks/main.yml", sonarr_tasks.as_str()),
    ]);
    let (_, name, hosts) = builtin(&resolve(&repository, "restart jellyfin"));
    assert_eq!(name, "jellyfin");
    assert_eq!(hosts, vec!["bigboi".to_owned()]);
    // Not in the registry: the resolver's lookup finds no host, so no play runs it.
    let resolution = resolve(&repository, "deploy sonarr");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "unwired"),
        "{:?}",
        resolution.answer
    );
}

/// Two apps in one play: the shapes the batch-2 rules are about.
fn two_apps(first: (&str, &str), second: (&str, &str)) -> Vec<(String, String)> {
    let container = |name: &str, image: &str| {
        format!(
            "- name: {name}\n  community.docker.docker_container:\n    name: {name}\n    image: {image}\n"
        )
    };
    vec![
        ("hosts".into(), "[box]\nlab\n".into()),
        (
            "site.yml".into(),
            format!(
                "- name: Box\n  hosts: box\n  roles:\n    - role: {}\n      tags: [{}]\n    - role: {}\n      tags: [{}]\n",
                first.0, first.0, second.0, second.0
            ),
        ),
        (
            format!("roles/{}/tasks/main.yml", first.0),
            container(first.0, first.1),
        ),
        (
            format!("roles/{}/tasks/main.yml", second.0),
            container(second.0, second.1),
        ),
    ]
}

/// A repository of files whose paths and texts were built here.
fn discovered(files: &[(String, String)]) -> (tempfile::TempDir, Repository) {
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    repository(&borrowed)
}

#[test]
fn asking_whether_something_is_up_is_a_status_with_or_without_a_question_mark() {
    assert_eq!(verb_of("is prometheus up on bastion-01"), Verb::Status);
    assert_eq!(verb_of("are the arr apps running"), Verb::Status);
    assert_eq!(verb_of("is jellyfin up?"), Verb::Status);
    // The question asked is the order; logs said after it are what the person saw.
    assert_eq!(
        verb_of("is loki up? grafana's explore tab shows no logs since noon"),
        Verb::Status
    );
    assert_eq!(verb_of("is jellyfin down? restart it"), Verb::Restart);
    // A sentence that merely starts with "is" is not a question about a state.
    assert_eq!(verb_of("is it possible to deploy immich"), Verb::Deploy);
}

#[test]
fn switching_something_on_inside_a_service_is_a_setting_not_a_start() {
    assert_eq!(
        verb_of("turn on the seeding ratio limit in transmission"),
        Verb::Configure
    );
    assert_eq!(verb_of("disable signups in gitea"), Verb::Configure);
    assert_eq!(verb_of("turn off the ad blocker for a bit"), Verb::Stop);
    assert_eq!(verb_of("turn on pihole"), Verb::Start);
}

#[test]
fn names_in_an_aside_or_a_description_are_not_the_service_meant() {
    let files = two_apps(
        ("maintainerr", "ghcr.io/jorenn92/maintainerr:2"),
        ("plex", "plexinc/pms-docker:1"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(
        &repository,
        "remove maintainerr, i'll clean up plex by hand",
    );
    assert_eq!(resolution.service.as_deref(), Some("maintainerr"));
    // Within one clause the last name is still the one acted on.
    let resolution = resolve(&repository, "restart plex then maintainerr");
    assert_eq!(resolution.service.as_deref(), Some("maintainerr"));

    let files = two_apps(
        ("jellyfin", "jellyfin/jellyfin:10"),
        ("jellyplex_watched", "luigi311/jellyplex-watched:6"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(
        &repository,
        "logs for the thing that syncs watched status between plex and jellyfin",
    );
    assert_eq!(resolution.service.as_deref(), Some("jellyplex-watched"));
}

#[test]
fn a_word_the_catalogue_uses_for_what_services_do_is_not_a_misspelt_name() {
    let files = two_apps(
        ("miniflux", "miniflux/miniflux:2"),
        ("sonarr", "lscr.io/linuxserver/sonarr:4"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "set up the rss reader again");
    assert_eq!(resolution.service.as_deref(), Some("miniflux"));
}

#[test]
fn a_service_the_repository_lacks_is_its_stand_in_for_everything_but_a_new_deploy() {
    let files = two_apps(
        ("vaultwarden", "vaultwarden/server:1.32"),
        ("sonarr", "lscr.io/linuxserver/sonarr:4"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "bitwarden logs");
    assert_eq!(resolution.service.as_deref(), Some("vaultwarden"));
    assert!(
        resolution.reasons.iter().any(|r| r.contains("stands in")),
        "{:?}",
        resolution.reasons
    );
    // Installing Bitwarden is asking for a service this repository does not have.
    let resolution = resolve(&repository, "install bitwarden");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "absent"),
        "{:?}",
        resolution.answer
    );
}

#[test]
fn a_misspelt_name_goes_to_the_app_of_that_name_not_to_its_database() {
    let (_dir, repository) = repository(&[
        ("hosts", "[dev]\ndevbox\n"),
        (
            "site.yml",
            "- name: Dev\n  hosts: dev\n  roles:\n    - role: apps\n",
        ),
        (
            "roles/apps/tasks/main.yml",
            "- name: gitea db\n  community.docker.docker_container:\n    name: gitea-db\n    image: postgres:16\n- name: gitea\n  community.docker.docker_container:\n    name: gitea\n    image: gitea/gitea:1.22\n",
        ),
    ]);
    let (_, name, _) = builtin(&resolve(&repository, "gittea logs"));
    assert_eq!(name, "gitea");
}

#[test]
fn images_name_their_project_by_namespace_and_config_templates_are_not_containers() {
    let (_dir, repository) = repository(&[
        ("hosts", "[box]\nlab\n"),
        (
            "site.yml",
            "- name: Box\n  hosts: box\n  roles:\n    - role: tasks_app\n    - role: ci\n    - role: site\n",
        ),
        // Two pieces of one project, each image named for its piece.
        (
            "roles/tasks_app/tasks/main.yml",
            "- name: api\n  community.docker.docker_container:\n    name: todo_api\n    image: vikunja/api:0.21.0\n- name: frontend\n  community.docker.docker_container:\n    name: todo_frontend\n    image: vikunja/frontend:0.21.0\n",
        ),
        // A Jenkins configuration-as-code template naming an agent image.
        (
            "roles/ci/templates/jenkins.yaml.j2",
            "jenkins:\n  clouds:\n    - docker:\n        templates:\n          - dockerTemplateBase:\n              image: jenkins/inbound-agent\n",
        ),
        (
            "roles/ci/tasks/main.yml",
            "- name: jenkins\n  community.docker.docker_container:\n    name: jenkins\n    image: jenkins/jenkins:lts\n",
        ),
        // A compose template whose service is built from source.
        (
            "roles/site/templates/compose.yml.j2",
            "services:\n  portfolio:\n    build:\n      context: .\n    container_name: portfolio\n",
        ),
        (
            "roles/site/tasks/main.yml",
            "- name: render\n  ansible.builtin.template:\n    src: compose.yml.j2\n    dest: /opt/portfolio/compose.yml\n",
        ),
    ]);
    let vikunja: Vec<&App> = repository
        .apps
        .iter()
        .filter(|a| a.service == "vikunja")
        .collect();
    assert_eq!(vikunja.len(), 2, "{:?}", repository.apps);
    let jenkins: Vec<&str> = repository
        .apps
        .iter()
        .filter(|a| a.service == "jenkins")
        .map(|a| a.unit_name.as_str())
        .collect();
    assert_eq!(jenkins, ["jenkins"]);
    assert!(
        repository.apps.iter().any(|a| a.unit_name == "portfolio"),
        "{:?}",
        repository.apps
    );
    // Upgrading the project pins the first piece written.
    let resolution = resolve(&repository, "upgrade vikunja");
    assert!(
        matches!(&resolution.answer, Answer::Entrypoint { .. }),
        "{:?}",
        resolution.answer
    );
    let (_, name, _) = builtin(&resolve(&repository, "restart vikunja"));
    assert_eq!(name, "todo_api");
}

#[test]
fn clauses_end_at_commas_and_full_stops_but_not_inside_names() {
    assert_eq!(clause_ends("remove a, then b"), [2]);
    assert_eq!(clause_ends("restart media.lan now. thanks"), [4]);
    assert_eq!(clause_ends("upgrade to 1.2"), Vec::<usize>::new());
    assert_eq!(
        described_from(&[
            "logs".into(),
            "the".into(),
            "thing".into(),
            "that".into(),
            "syncs".into()
        ]),
        Some(4)
    );
}

#[test]
fn verbs_said_in_passing_are_read_as_people_mean_them() {
    // Signing in is no request for logs; a question after a state word is one anywhere.
    assert_eq!(verb_of("restart pocket id, i can't log in"), Verb::Restart);
    assert_eq!(verb_of("radarr alive? movies aren't grabbed"), Verb::Status);
    assert_eq!(verb_of("can you set up navidrome?"), Verb::Deploy);
    assert_eq!(
        verb_of("show me what paperless is complaining about"),
        Verb::Logs
    );
    assert_eq!(
        verb_of("take my portfolio site offline for good"),
        Verb::Remove
    );
    assert_eq!(verb_of("take the wiki offline tonight"), Verb::Stop);
    // A release is no place to point at; "the status page" is a kind of service.
    assert_eq!(
        verb_of("upgrade nextcloud to the next point release"),
        Verb::Upgrade
    );
    assert_eq!(
        verb_of("point the dashboard at the new nas"),
        Verb::Configure
    );
    assert_eq!(verb_of("tear down the status page"), Verb::Remove);
    assert_eq!(stated_verb("deploy gatus"), None);
}

/// Three MCP servers, each its own role: "the mcp server" is any of them, so Chiffon asks;
/// a database named after its app (`tracker-db`) is that app's, not a fourth choice.
#[test]
fn a_word_several_app_names_share_asks_which() {
    let mut files = Vec::new();
    let mut play = String::from("- name: Apps\n  hosts: all\n  roles:\n");
    let composes: Vec<(String, String)> = ["mcp_radarr", "mcp_sonarr", "tracker"]
        .iter()
        .map(|role| {
            let name = role.replace('_', "-");
            let db = if *role == "tracker" {
                format!("  {name}-db:\n    image: postgres:16\n    container_name: {name}-db\n")
            } else {
                String::new()
            };
            play.push_str(&format!("    - {role}\n"));
            (
                format!("roles/{role}/templates/docker-compose.yml.j2"),
                format!(
                    "services:\n  {name}:\n    image: ghcr.io/someone/{name}:1.0\n    container_name: {name}\n{db}"
                ),
            )
        })
        .collect();
    let tasks = "- name: Compose file\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: /opt/app/docker-compose.yml\n";
    let task_files: Vec<String> = ["mcp_radarr", "mcp_sonarr", "tracker"]
        .iter()
        .map(|role| format!("roles/{role}/tasks/main.yml"))
        .collect();
    for (path, text) in &composes {
        files.push((path.as_str(), text.as_str()));
    }
    for path in &task_files {
        files.push((path.as_str(), tasks));
    }
    files.push(("site.yml", play.as_str()));
    files.push(("hosts.ini", "[all]\nbox\n"));
    let (_dir, repository) = repository(&files);
    match resolve(&repository, "restart the mcp server").answer {
        Answer::Question {
            choices, prompt, ..
        } => {
            assert_eq!(choices, ["mcp-radarr", "mcp-sonarr"]);
            assert_eq!(prompt, "Which one should I restart?");
        }
        other => panic!("expected a question, got {other:?}"),
    }
    // The tracker's database shares the word with the tracker only: no question.
    assert!(!matches!(
        resolve(&repository, "restart the tracker").answer,
        Answer::Question { .. }
    ));
}

/// One role, a folder per app under `files/`, each task file writing its own compose project:
/// each app's project is its own folder, and an image at a channel tag is re-pulled.
#[test]
fn a_folder_per_app_under_files_names_each_compose_project() {
    let task = |app: &str| {
        format!(
            "- name: Install {app} compose file\n  ansible.builtin.template:\n    src: files/{app}/docker-compose.yml\n    dest: /opt/{app}/docker-compose.yml\n"
        )
    };
    let (calibre, speed) = (task("calibre"), task("librespeed"));
    // The role brings each project up pulling its images again: a channel tag is re-pulled.
    let speed = format!(
        "{speed}- name: Up\n  community.docker.docker_compose_v2:\n    project_src: /opt/librespeed\n    pull: always\n"
    );
    let (_dir, repository) = repository(&[
        ("roles/apps/tasks/calibre.yml", calibre.as_str()),
        ("roles/apps/tasks/librespeed.yml", speed.as_str()),
        (
            "roles/apps/tasks/main.yml",
            "- ansible.builtin.include_tasks: calibre.yml\n- ansible.builtin.include_tasks: librespeed.yml\n",
        ),
        (
            "roles/apps/files/calibre/docker-compose.yml",
            "services:\n  calibre:\n    image: lscr.io/linuxserver/calibre-web:0.6\n",
        ),
        (
            "roles/apps/files/librespeed/docker-compose.yml",
            "services:\n  librespeed:\n    image: lscr.io/linuxserver/librespeed:stable\n",
        ),
        (
            "site.yml",
            "- name: Apps\n  hosts: box\n  roles:\n    - apps\n",
        ),
        ("hosts.ini", "box\n"),
    ]);
    let (unit, name, _) = builtin(&resolve(&repository, "is the speed test up?"));
    assert_eq!((unit, name.as_str()), (UnitKind::Compose, "librespeed"));
    match resolve(&repository, "upgrade librespeed").answer {
        Answer::Entrypoint { pin, .. } => assert_eq!(pin, Some(Pin::Latest)),
        other => panic!("expected an entrypoint, got {other:?}"),
    }
}

/// No verb said, and the words are a setting the app's role sets: configure that file.
#[test]
fn a_setting_named_without_a_verb_configures_it() {
    let (_dir, repository) = repository(&[
        (
            "roles/gatus/tasks/main.yml",
            "- name: Config\n  ansible.builtin.template:\n    src: config.yml.j2\n    dest: /opt/gatus/config.yml\n  tags: [gatus]\n- name: Run\n  community.docker.docker_container:\n    name: gatus\n    image: twinproduction/gatus:v5.1\n  tags: [gatus]\n",
        ),
        (
            "roles/gatus/defaults/main.yml",
            "gatus_discord_webhook: ''\ngatus_port: 8080\n",
        ),
        (
            // It says "send" (a service of that name exists) and how alerts reach discord; the
            // webhook is the variable the defaults set.
            "roles/gatus/templates/config.yml.j2",
            "web:\n  port: {{ gatus_port }}\nalerting:\n  discord:\n    webhook-url: \"{{ gatus_discord_webhook }}\"\n    send-on-resolved: true\n",
        ),
        (
            "site.yml",
            "- name: Gatus\n  hosts: box\n  roles:\n    - gatus\n",
        ),
        ("hosts.ini", "box\n"),
    ]);
    let resolution = resolve(&repository, "send gatus alerts to discord too");
    assert_eq!(resolution.verb, Verb::Configure);
    let (_, _, config) = entrypoint(&resolution);
    assert_eq!(config.as_deref(), Some("roles/gatus/defaults/main.yml"));
    // Put back on a port of its own: the port is a setting, not a machine to deploy onto.
    let resolution = resolve(&repository, "put gatus back on its default port 8081");
    assert_eq!(resolution.verb, Verb::Configure);
    assert_eq!(
        entrypoint(&resolution).2.as_deref(),
        Some("roles/gatus/defaults/main.yml")
    );
    // The app's own name is no setting: a bare name leaves the verb unsaid.
    assert_eq!(resolve(&repository, "gatus").verb, Verb::Deploy);
}

/// A role named for a service that runs no container Chiffon sees (it installs a package or
/// serves files through nginx) is still that service: "deploy the web file manager" runs its
/// role's play with its tag.
#[test]
fn a_role_named_for_a_service_is_that_service_without_a_container() {
    let (_dir, repository) = repository(&[
        (
            "roles/filebrowser/tasks/main.yml",
            "- name: Autoindex root\n  ansible.builtin.file:\n    path: /srv/files\n    state: directory\n  tags: [filebrowser]\n",
        ),
        (
            "site.yml",
            "- name: Lab\n  hosts: lab\n  roles:\n    - role: filebrowser\n      tags: [filebrowser]\n",
        ),
        ("hosts.ini", "lab\n"),
    ]);
    let resolution = resolve(&repository, "deploy the web file manager");
    assert_eq!(resolution.service.as_deref(), Some("filebrowser"));
    let (tags, _, _) = entrypoint(&resolution);
    assert_eq!(tags, ["filebrowser"]);
}

#[test]
fn changes_of_a_setting_and_taking_something_off_a_host_are_read_as_meant() {
    assert_eq!(
        verb_of("make gatus check everything every 30 seconds instead of every minute"),
        Verb::Configure
    );
    assert_eq!(
        verb_of("turn z2m logging up to debug for a while"),
        Verb::Configure
    );
    assert_eq!(
        verb_of("take jellyfin off the jellyfin lxc, we're all in on plex now"),
        Verb::Remove
    );
    // Taking something offline is still a stop; turning the volume up by 2 no setting change.
    assert_eq!(verb_of("take the wiki offline tonight"), Verb::Stop);
}

/// Apps whose names carry several words: said in the other order, one word of one name only,
/// misspelt by a swap, or begun and given a slip.
#[test]
fn names_said_in_parts_swapped_or_begun_find_their_app() {
    let files = two_apps(
        ("mcp-radarr", "ghcr.io/someone/mcp-radarr:1.0"),
        ("karutuogg-bot", "ghcr.io/someone/karutuogg-bot:2.0"),
    );
    let (_dir, repository) = discovered(&files);
    let service = |text: &str| resolve(&repository, text).service;
    assert_eq!(
        service("stop the radarr mcp server for now").as_deref(),
        Some("mcp-radarr")
    );
    assert_eq!(
        service("the discord bot went offline, kick it").as_deref(),
        Some("karutuogg-bot")
    );
    assert_eq!(
        service("restart the karutu thing").as_deref(),
        Some("karutuogg-bot")
    );
    let typo = two_apps(
        ("vikunja", "vikunja/vikunja:0.24"),
        ("gitea", "gitea/gitea:1.22"),
    );
    let (_typo_dir, typo) = discovered(&typo);
    assert_eq!(
        resolve(&typo, "is vikunaj alive?").service.as_deref(),
        Some("vikunja")
    );
    // A word of the request that is no part of any name finds nothing by name.
    assert!(matches!(
        resolve(&typo, "restart the discord bot").answer,
        Answer::None { .. }
    ));
}

/// "/dev/video2" in a request is a path, even with a group `dev` in the inventory.
#[test]
fn words_inside_a_path_are_no_target() {
    let mut files = two_apps(
        ("jellyfin", "jellyfin/jellyfin:10.9.0"),
        ("frigate", "ghcr.io/blakeblackshear/frigate:0.14.0"),
    );
    files[0].1 = "[box]\nlab\n\n[dev]\nlab\n".into();
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(
        &repository,
        "frigate: the camera is on /dev/video2 now, point it there",
    );
    assert_eq!(resolution.target, None);
    assert_eq!(resolution.service.as_deref(), Some("frigate"));
    assert_eq!(
        resolve(&repository, "restart frigate on dev")
            .target
            .as_deref(),
        Some("dev")
    );
}

/// "the search engine karakeep uses": karakeep's own Meilisearch, defined beside it.
#[test]
fn the_part_an_app_uses_is_that_part() {
    let files = [
        ("hosts.ini", "[box]\nlab\n"),
        (
            "site.yml",
            "- name: Box\n  hosts: box\n  roles:\n    - karakeep\n",
        ),
        (
            "roles/karakeep/tasks/main.yml",
            "- name: Compose file\n  ansible.builtin.copy:\n    src: docker-compose.yml\n    dest: /opt/karakeep/docker-compose.yml\n",
        ),
        (
            "roles/karakeep/files/docker-compose.yml",
            "services:\n  karakeep:\n    image: ghcr.io/karakeep-app/karakeep:0.24.1\n  meilisearch:\n    image: getmeili/meilisearch:v1.13.3\n",
        ),
    ];
    let (_dir, repository) = repository(&files);
    assert_eq!(
        resolve(&repository, "update the search engine karakeep uses")
            .service
            .as_deref(),
        Some("meilisearch")
    );
    assert_eq!(
        resolve(&repository, "update karakeep").service.as_deref(),
        Some("karakeep")
    );
}

/// `prowlarr_image: "…:{{ prowlarr_version }}"` with the version in defaults: the pin to
/// change is `prowlarr_version`, where the version is written.
#[test]
fn an_image_whose_tag_is_another_variable_is_pinned_by_that_variable() {
    let files = [
        ("hosts.ini", "[box]\nlab\n"),
        (
            "site.yml",
            "- name: Box\n  hosts: box\n  roles:\n    - role: prowlarr\n      tags: [prowlarr]\n",
        ),
        (
            "roles/prowlarr/tasks/main.yml",
            "- name: Compose file\n  ansible.builtin.template:\n    src: compose.yml\n    dest: /opt/prowlarr/compose.yml\n",
        ),
        (
            "roles/prowlarr/templates/compose.yml",
            "services:\n  prowlarr:\n    image: \"{{ prowlarr_image }}\"\n    container_name: prowlarr\n",
        ),
        (
            "roles/prowlarr/vars/main.yml",
            "prowlarr_image: \"ghcr.io/linuxserver/prowlarr:{{ prowlarr_version }}\"\n",
        ),
        (
            "roles/prowlarr/defaults/main.yml",
            "prowlarr_version: \"1.37.0\"\n",
        ),
    ];
    let (_dir, repository) = repository(&files);
    match resolve(&repository, "prowlarr 1.37 is behind, upgrade it").answer {
        Answer::Entrypoint {
            pin: Some(Pin::Var { file, var, value }),
            ..
        } => {
            assert_eq!(file, "roles/prowlarr/defaults/main.yml");
            assert_eq!(var, "prowlarr_version");
            assert_eq!(value, "1.37.0");
        }
        other => panic!("expected the version variable as the pin, got {other:?}"),
    }
}

/// `nextcloud_image: "…:{{ nextcloud_version }}-fpm-alpine"`: the version variable inside a
/// longer tag is still the pin.
#[test]
fn a_version_variable_inside_a_longer_tag_is_the_pin() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[cloud]\nnc\n"),
        (
            "site.yml",
            "- hosts: cloud\n  roles:\n    - role: nextcloud\n      tags: [nextcloud]\n",
        ),
        (
            "roles/nextcloud/tasks/main.yml",
            "- name: Compose file\n  ansible.builtin.template:\n    src: compose.yml\n    dest: /opt/nextcloud/compose.yml\n",
        ),
        (
            "roles/nextcloud/templates/compose.yml",
            "services:\n  nextcloud:\n    image: \"{{ nextcloud_image }}\"\n    container_name: nextcloud\n",
        ),
        (
            "roles/nextcloud/vars/main.yml",
            "nextcloud_image: \"docker.io/library/nextcloud:{{ nextcloud_version }}-fpm-alpine\"\n",
        ),
        (
            "roles/nextcloud/defaults/main.yml",
            "nextcloud_version: \"31.0.7\"\n",
        ),
    ]);
    let resolution = resolve(&repository, "upgrade nextcloud to the newest 31 release");
    let Answer::Entrypoint {
        pin: Some(Pin::Var { file, var, .. }),
        ..
    } = &resolution.answer
    else {
        panic!("{resolution:#?}");
    };
    assert_eq!(
        (file.as_str(), var.as_str()),
        ("roles/nextcloud/defaults/main.yml", "nextcloud_version")
    );
}

/// "add the new garage camera to frigate" sets something in Frigate; it deploys nothing new.
#[test]
fn adding_something_to_an_app_configures_it() {
    let files = two_apps(
        ("frigate", "ghcr.io/blakeblackshear/frigate:0.14.0"),
        ("jellyfin", "jellyfin/jellyfin:10.9.0"),
    );
    let (_dir, repository) = discovered(&files);
    assert_eq!(
        resolve(&repository, "add the new garage camera to frigate").verb,
        Verb::Configure
    );
    assert_eq!(
        resolve(&repository, "add jellyfin to the box").verb,
        Verb::Deploy
    );
}

/// A role with its own configuration template, a log shipper's file beside it and its image
/// in defaults: "logging" is the app's own setting, and how often it checks images is its
/// schedule, not the image variable.
#[test]
fn a_setting_is_in_the_apps_own_file_not_another_services_or_its_image_variable() {
    let files = [
        ("hosts.ini", "[box]\nlab\n"),
        (
            "site.yml",
            "- name: Box\n  hosts: box\n  roles:\n    - role: z2m\n      tags: [z2m]\n    - role: diun\n      tags: [diun]\n",
        ),
        (
            "roles/z2m/tasks/main.yml",
            "- name: Config\n  ansible.builtin.template:\n    src: configuration.yaml.j2\n    dest: /srv/z2m/configuration.yaml\n- name: Log shipping\n  ansible.builtin.copy:\n    src: fluentbit.yaml\n    dest: /etc/fluent-bit/z2m.yaml\n- name: Container\n  community.docker.docker_container:\n    name: zigbee2mqtt\n    image: koenkk/zigbee2mqtt:1.40.0\n",
        ),
        (
            "roles/z2m/templates/configuration.yaml.j2",
            "advanced:\n  log_level: warning\nserial:\n  port: /dev/ttyUSB0\n",
        ),
        (
            "roles/z2m/files/fluentbit.yaml",
            "pipeline:\n  inputs:\n    - name: tail\n      path: /srv/z2m/log/*.log\n      tag: z2m.log\n",
        ),
        (
            "roles/diun/tasks/main.yml",
            "- name: Config\n  ansible.builtin.template:\n    src: diun.yml.j2\n    dest: /etc/diun/diun.yml\n- name: Container\n  community.docker.docker_container:\n    name: diun\n    image: \"{{ diun_image }}\"\n",
        ),
        (
            "roles/diun/templates/diun.yml.j2",
            "watch:\n  workers: 10\n  schedule: \"0 */6 * * *\"\n",
        ),
        (
            "roles/diun/defaults/main.yml",
            "diun_image: crazymax/diun:4.28\n",
        ),
    ];
    let (_dir, repository) = repository(&files);
    let (_, _, config) = entrypoint(&resolve(
        &repository,
        "turn z2m logging up to debug for a while",
    ));
    assert_eq!(
        config.as_deref(),
        Some("roles/z2m/templates/configuration.yaml.j2")
    );
    let (_, _, config) = entrypoint(&resolve(
        &repository,
        "make diun look for new images once a day instead of every 6 hours",
    ));
    assert_eq!(config.as_deref(), Some("roles/diun/templates/diun.yml.j2"));
}

#[test]
fn a_cache_beside_each_of_two_apps_is_asked_about_by_container_name() {
    let app = |name: &str, image: &str| {
        (
            format!("roles/{name}/templates/compose.yml.j2"),
            format!(
                "services:\n  {name}:\n    image: {image}\n    container_name: {name}\n  cache:\n    image: \"{{{{ {name}_cache_image }}}}\"\n    container_name: {name}-cache\n"
            ),
        )
    };
    let vars = |name: &str| {
        (
            format!("roles/{name}/vars/main.yml"),
            format!(
                "{name}_cache_version: \"8\"\n{name}_cache_image: \"docker.io/valkey/valkey:{{{{ {name}_cache_version }}}}\"\n"
            ),
        )
    };
    let tasks = |name: &str| {
        (
            format!("roles/{name}/tasks/main.yml"),
            format!(
                "- name: compose\n  ansible.builtin.template:\n    src: compose.yml.j2\n    dest: /opt/{name}/compose.yml\n"
            ),
        )
    };
    let files = vec![
        ("hosts".to_owned(), "[apps]\nbox\n".to_owned()),
        (
            "site.yml".to_owned(),
            "- hosts: apps\n  roles:\n    - authelia\n    - paperless\n".to_owned(),
        ),
        app("authelia", "authelia/authelia:4.38"),
        vars("authelia"),
        tasks("authelia"),
        app("paperless", "ghcr.io/paperless-ngx/paperless-ngx:2.17"),
        vars("paperless"),
        tasks("paperless"),
    ];
    let (_dir, repository) = discovered(&files);
    // The image is known through a variable that refers on to another: both caches are valkey.
    let resolution = resolve(
        &repository,
        "the valkey cache is eating all the ram, stop it",
    );
    match &resolution.answer {
        Answer::Question { choices, .. } => assert_eq!(
            choices,
            &["authelia-cache".to_owned(), "paperless-cache".to_owned()]
        ),
        other => panic!("expected a question between the caches, got {other:?}"),
    }
}
