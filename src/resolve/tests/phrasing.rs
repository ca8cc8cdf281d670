//! How requests are worded: the clause that gives the order, a complaint beside it, a
//! service the repository lacks named first, slips in a name, a version said as a move, an app
//! put behind the proxy.

use super::*;

#[test]
fn a_clause_that_opens_with_a_lifecycle_verb_is_the_order() {
    assert_eq!(
        verb_of("sonarr has been down since the reboot, start it"),
        Verb::Start
    );
    assert_eq!(verb_of("drop linkding, we use bookmarks now"), Verb::Remove);
    assert_eq!(verb_of("boot the windows vm"), Verb::Start);
    // "stop shipping …" changes what an app does; it stops nothing.
    assert_ne!(verb_of("stop shipping the nas logs to loki"), Verb::Stop);
    assert_eq!(
        verb_of("the arr apps all show utc, set them to europe/paris"),
        Verb::Configure
    );
    assert_eq!(verb_of("set up immich, then tell me"), Verb::Deploy);
    // A name that ends like a verb going on is still a name.
    assert_eq!(verb_of("start syncthing"), Verb::Start);
    assert_eq!(verb_of("stop syncthing for now"), Verb::Stop);
    // So does "start sending …", and a level dropped to a value.
    assert_eq!(
        verb_of("start sending the backup alerts to ntfy"),
        Verb::Configure
    );
    assert_eq!(
        verb_of("the stream keeps buffering, drop the feed to 360p"),
        Verb::Configure
    );
    // A reason opens a clause of its own.
    assert_eq!(clause_ends("set up drone so gitea builds"), [3]);
    // A clause's first word with a state after it is what the clause is about ("drop" the
    // games server here), not an order; the order is the clause that gives one.
    assert_eq!(
        verb_of("drop has a new release out, upgrade the games server"),
        Verb::Upgrade
    );
    // When something starts is its schedule, not an order to start it.
    assert_eq!(
        verb_of(
            "the nightly backups start at 6am while people are already using the apps, run them at 3am"
        ),
        Verb::Configure
    );
    // Opening a port is a rule changed.
    assert_eq!(
        verb_of("open port 9090 from the lan in the firewall on the development box"),
        Verb::Configure
    );
    // Installing again is deploying, whatever the complaint beside it says.
    assert_eq!(
        verb_of("reinstall the docker engine, the daemon won't start after the apt mess"),
        Verb::Deploy
    );
}

#[test]
fn logging_people_out_and_keeping_logs_a_while_are_settings_not_logs() {
    assert_eq!(
        verb_of("log people out of authelia after a day idle, not a week"),
        Verb::Configure
    );
    assert_eq!(
        verb_of("the cleanup run should only keep two weeks of journal logs"),
        Verb::Configure
    );
    // A complaint that lasted a while still asks for the logs.
    assert_eq!(
        verb_of("jellyfin keeps crashing for days, show me the logs"),
        Verb::Logs
    );
    assert_eq!(verb_of("authelia logs, nobody can log in"), Verb::Logs);
}

#[test]
fn a_complaint_about_one_app_leaves_the_order_to_the_clause_that_names_another() {
    let files = two_apps(("authelia", "authelia/authelia:4"), ("redis", "redis:7"));
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(
        &repository,
        "authelia keeps dropping sessions, show me the redis logs",
    );
    assert_eq!(resolution.service.as_deref(), Some("redis"));
    assert_eq!(resolution.verb, Verb::Logs);
    // A complaint alone still names the app.
    let resolution = resolve(&repository, "authelia keeps dropping sessions, restart it");
    assert_eq!(resolution.service.as_deref(), Some("authelia"));
}

#[test]
fn adding_or_removing_a_service_the_repository_lacks_is_none_whatever_else_is_named() {
    let files = two_apps(("wud", "getwud/wud:8"), ("plex", "plexinc/pms-docker:1"));
    let (_dir, lacking) = discovered(&files);
    let resolution = resolve(&lacking, "get rid of diun, wud handles the pings now");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "absent"),
        "{:?}",
        resolution.answer
    );

    let (_dir, repository) = arr_stack_repository();
    let resolution = resolve(&repository, "add lidarr to the arr stack");
    assert!(
        matches!(&resolution.answer, Answer::None { catalogue, .. } if catalogue.as_deref() == Some("lidarr")),
        "{:?}",
        resolution.answer
    );
}

#[test]
fn a_name_of_the_repository_may_carry_two_slips_when_it_begins_right() {
    let files = two_apps(
        ("radarr", "lscr.io/linuxserver/radarr:5"),
        ("syncthing", "syncthing/syncthing:1"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "stop raddar for a bit");
    assert_eq!(resolution.service.as_deref(), Some("radarr"));
    // A word of another length is not a slip of the name.
    let resolution = resolve(&repository, "restart radarr, files aren't syncing");
    assert_eq!(resolution.service.as_deref(), Some("radarr"));
}

#[test]
fn moving_to_a_version_is_an_upgrade_and_moving_to_a_port_is_not() {
    assert_eq!(
        verb_of("gitea's database is still on 16, move it to 17"),
        Verb::Upgrade
    );
    assert_eq!(
        verb_of("traefik is on v3.1, move it to the next minor"),
        Verb::Upgrade
    );
    assert_ne!(verb_of("move grafana to port 3300"), Verb::Upgrade);
    assert_eq!(
        verb_of("pin n8n to 1.107.0, the latest build broke a node"),
        Verb::Upgrade
    );
    assert_ne!(verb_of("pin the dashboard to port 8080"), Verb::Upgrade);
    assert_eq!(
        verb_of("plausible's clickhouse is still 24.12, move it to a 25.x release"),
        Verb::Upgrade
    );
}

#[test]
fn putting_an_app_behind_the_proxy_configures_the_proxy_in_its_real_inventory() {
    let (_dir, repository) = repository(&[
        ("inventory/production/hosts.ini", "[edge]\nproxy-1\n"),
        ("inventory/staging/hosts.ini", "[edge]\nproxy-test\n"),
        (
            "networking.yml",
            "- hosts: edge\n  roles:\n    - role: caddy\n      tags: [caddy]\n",
        ),
        (
            "services.yml",
            "- hosts: edge\n  roles:\n    - role: immich\n      tags: [immich]\n",
        ),
        (
            "roles/caddy/tasks/main.yml",
            "- name: Caddyfile\n  ansible.builtin.template:\n    src: Caddyfile.j2\n    dest: /etc/caddy/Caddyfile\n- name: Caddy\n  ansible.builtin.systemd_service:\n    name: caddy\n    state: started\n",
        ),
        (
            "roles/caddy/templates/Caddyfile.j2",
            "{% for site in caddy_sites %}\n{{ site.domain }} {\n  reverse_proxy {{ site.upstream }}\n}\n{% endfor %}\n",
        ),
        (
            "inventory/staging/host_vars/proxy-test/caddy.yml",
            "caddy_sites:\n  - domain: photos.test.lan\n    upstream: immich:2283\n",
        ),
        (
            "inventory/production/host_vars/proxy-1/caddy.yml",
            "caddy_sites:\n  - domain: photos.example.org\n    upstream: immich:2283\n",
        ),
        (
            "roles/immich/tasks/main.yml",
            "- name: Immich\n  community.docker.docker_container:\n    name: immich\n    image: ghcr.io/immich-app/immich-server:v1.120.0\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "put immich behind the reverse proxy on its own subdomain",
    );
    assert_eq!(resolution.service.as_deref(), Some("caddy"));
    assert_eq!(resolution.verb, Verb::Configure);
    let (tags, _, config) = entrypoint(&resolution);
    assert_eq!(tags, ["caddy"]);
    assert_eq!(
        config.as_deref(),
        Some("inventory/production/host_vars/proxy-1/caddy.yml")
    );
}

#[test]
fn tearing_down_or_taking_out_is_a_removal_and_the_start_page_is_no_start() {
    assert_eq!(
        verb_of("tear down loki and promtail, the logs go to grafana cloud now"),
        Verb::Remove
    );
    assert_eq!(
        verb_of("take qbittorrent out of the arr stack, we stopped torrenting"),
        Verb::Remove
    );
    assert_ne!(
        verb_of("the start page says 'Home' at the top, fix the title"),
        Verb::Start
    );
    assert_eq!(verb_of("start jellyfin"), Verb::Start);
}

#[test]
fn the_app_named_in_the_clause_that_gives_the_order_beats_one_named_to_say_why() {
    let files = two_apps(
        ("freeipa", "freeipa/freeipa-server:4"),
        ("squid", "ubuntu/squid:6"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(
        &repository,
        "proxy logins with my freeipa account keep failing, show me the squid logs",
    );
    assert_eq!(resolution.service.as_deref(), Some("squid"));
    let resolution = resolve(
        &repository,
        "is squid running? the logins for the freeipa accounts went red",
    );
    assert_eq!(resolution.service.as_deref(), Some("squid"));
    assert_eq!(resolution.verb, Verb::Status);
    // With no clause giving an order, the app named first is still the one meant.
    let resolution = resolve(&repository, "freeipa logins fail, squid is fine");
    assert_eq!(resolution.service.as_deref(), Some("freeipa"));
}

#[test]
fn a_two_letter_nickname_names_an_app_the_repository_has_and_contractions_name_none() {
    let files = two_apps(
        ("jellyfin", "jellyfin/jellyfin:10.10.3"),
        ("diun", "crazymax/diun:4"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(
        &repository,
        "jf didn't come back after the power cut, start it",
    );
    assert_eq!(resolution.service.as_deref(), Some("jellyfin"));
    assert_eq!(resolution.verb, Verb::Start);
    // "didn't" is no slip of `diun`: the app asked about is one the repository lacks.
    let resolution = resolve(
        &repository,
        "is home assistant up? the lights automation didn't run",
    );
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "absent"),
        "{:?}",
        resolution.answer
    );
}

#[test]
fn what_the_order_describes_beats_an_app_named_only_to_say_why() {
    let files = two_apps(
        ("prowlarr", "lscr.io/linuxserver/prowlarr:1"),
        ("sonarr", "lscr.io/linuxserver/sonarr:4"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(
        &repository,
        "start the indexer manager again, sonarr can't search anything",
    );
    assert_eq!(resolution.service.as_deref(), Some("prowlarr"));
    assert_eq!(resolution.verb, Verb::Start);
    // An order that points back at the app named is about that app.
    let resolution = resolve(
        &repository,
        "sonarr stopped finding episodes, pull up its logs",
    );
    assert_eq!(resolution.service.as_deref(), Some("sonarr"));
}

#[test]
fn making_a_service_do_something_is_configuring_it() {
    assert_eq!(
        verb_of("make the image update checker run once a day"),
        Verb::Configure
    );
    assert_eq!(
        verb_of("have the monitoring ping 1.1.1.1 as well"),
        Verb::Configure
    );
    assert_eq!(
        verb_of("let the phones subscribe without logging in"),
        Verb::Configure
    );
    assert_ne!(verb_of("make sure sonarr is running"), Verb::Configure);
}

#[test]
fn words_after_an_app_that_describe_its_companion_mean_the_companion() {
    let files = two_apps(
        ("jellyfin", "jellyfin/jellyfin:10"),
        ("jellystat", "cyfershepard/jellystat:1"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(
        &repository,
        "is the jellyfin watch stats dashboard still up?",
    );
    assert_eq!(resolution.service.as_deref(), Some("jellystat"));
    // Words that only say where or how leave the app named.
    let resolution = resolve(&repository, "take jellyfin off the lab box");
    assert_eq!(resolution.service.as_deref(), Some("jellyfin"));
    let resolution = resolve(&repository, "restart jellyfin");
    assert_eq!(resolution.service.as_deref(), Some("jellyfin"));
}

#[test]
fn a_time_daemon_the_repository_runs_stands_in_for_ntp() {
    let files = two_apps(("chrony", "x/chrony:4"), ("plex", "plexinc/pms-docker:1"));
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "restart ntp, the clocks drift");
    assert_eq!(resolution.service.as_deref(), Some("chrony"));
}

#[test]
fn a_companion_is_found_by_the_name_as_the_request_says_it() {
    let files = two_apps(
        ("postgres", "postgres:16"),
        ("pgbackup", "prodrigestivill/postgres-backup-local:16"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "restart the postgres backup sidecar");
    assert_eq!(resolution.service.as_deref(), Some("postgres-backup-local"));
    let resolution = resolve(&repository, "restart postgres");
    assert_eq!(resolution.service.as_deref(), Some("postgresql"));
}

#[test]
fn an_app_said_after_to_before_a_noun_of_its_own_is_no_place() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[ntfy]\nntfy\n[other]\nlab\n"),
        (
            "site.yml",
            "- hosts: ntfy\n  roles:\n    - ntfy\n- hosts: other\n  roles:\n    - gotify\n",
        ),
        (
            "roles/ntfy/tasks/main.yml",
            "- name: ntfy\n  community.docker.docker_container:\n    name: ntfy\n    image: binwiederhier/ntfy:v2\n",
        ),
        (
            "roles/gotify/tasks/main.yml",
            "- name: gotify\n  community.docker.docker_container:\n    name: gotify\n    image: gotify/server:2\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "let the phones subscribe to ntfy topics without logging in",
    );
    assert_eq!(resolution.service.as_deref(), Some("ntfy"));
    assert_eq!(resolution.target, None);
    // Said as the place, it is the place.
    let resolution = resolve(&repository, "deploy gotify to ntfy");
    assert_eq!(resolution.target.as_deref(), Some("ntfy"));
}

/// "on the gateway": no host or group is called that, but one play applies the role
/// `gateway`, on casey: that is the place.
#[test]
fn a_role_said_as_a_place_is_the_machine_its_play_runs_on() {
    let nginx = "- name: Nginx\n  ansible.builtin.systemd:\n    name: nginx\n    state: started\n";
    let (_dir, repository) = repository(&[
        ("hosts", "casey\nwalker\n"),
        (
            "main.yml",
            "- hosts: walker\n  roles:\n    - nginx\n- hosts: casey\n  roles:\n    - nginx\n    - gateway\n",
        ),
        ("roles/nginx/tasks/main.yml", nginx),
        (
            "roles/gateway/tasks/main.yml",
            "- name: Sites\n  ansible.builtin.template:\n    src: sites.conf.j2\n    dest: /etc/nginx/conf.d/sites.conf\n",
        ),
    ]);
    let (_, name, hosts) = builtin(&resolve(&repository, "restart nginx on the gateway"));
    assert_eq!(
        (name.as_str(), hosts),
        ("nginx.service", vec!["casey".to_owned()])
    );
    // Said as what to act on, the role is no place.
    let resolution = resolve(&repository, "restart nginx, the gateway is slow");
    assert!(resolution.target.is_none(), "{:?}", resolution.target);
}

/// A role named for a kind of service (`roles/storage`, running the NFS server) does not make
/// that word a name: "the s3 storage" describes the object store.
#[test]
fn a_role_named_for_a_kind_of_service_does_not_name_its_app() {
    let (_dir, repository) = repository(&[
        ("hosts", "[nas]\nspnas\n[hv]\npve\n"),
        (
            "site.yml",
            "- hosts: hv\n  roles:\n    - storage\n- hosts: nas\n  roles:\n    - minio\n",
        ),
        (
            "roles/storage/tasks/main.yml",
            "- name: NFS\n  ansible.builtin.systemd:\n    name: nfs-kernel-server\n    state: started\n",
        ),
        (
            "roles/minio/tasks/main.yml",
            "- name: Minio\n  community.docker.docker_container:\n    name: minio\n    image: minio/minio:RELEASE.2024-01-01T00-00-00Z\n",
        ),
    ]);
    let resolution = resolve(&repository, "is the s3 storage up?");
    assert_eq!(resolution.service.as_deref(), Some("minio"));
    // Its own name still names it.
    let resolution = resolve(&repository, "is nfs up?");
    assert_eq!(resolution.service.as_deref(), Some("nfs-server"));
}

#[test]
fn a_setting_is_changed_where_ansible_takes_its_value_from() {
    let files = [
        ("hosts.ini", "[media]\nnas\n"),
        (
            "site.yml",
            "- name: Media\n  hosts: media\n  roles:\n    - role: jellyfin\n      tags: [jellyfin]\n",
        ),
        (
            "roles/jellyfin/tasks/main.yml",
            "- name: Jellyfin\n  community.docker.docker_container:\n    name: jellyfin\n    image: jellyfin/jellyfin:10.11.0\n    groups: [\"{{ render_gid }}\"]\n    ports: [\"{{ jellyfin_port }}:8096\"]\n    env:\n      CACHE_SIZE: \"{{ jellyfin_cache_size }}\"\n",
        ),
        (
            "roles/jellyfin/defaults/main.yml",
            "jellyfin_port: 8096\njellyfin_cache_size: 2g\n",
        ),
        ("group_vars/all/hardware.yml", "render_gid: 993\n"),
        ("host_vars/nas.yml", "jellyfin_cache_size: 8g\n"),
    ];
    let (_dir, repository) = repository(&files);
    let config = |text: &str| {
        let resolution = resolve(&repository, text);
        assert_eq!(resolution.verb, Verb::Configure, "{text}");
        entrypoint(&resolution).2
    };
    // The task only reads the group id: it is set for every host in group_vars.
    assert_eq!(
        config("transcoding broke, the render group is gid 992 now. fix it for jellyfin")
            .as_deref(),
        Some("group_vars/all/hardware.yml")
    );
    // The host's own value wins over the role default: changing the default would do nothing.
    assert_eq!(
        config("change jellyfin's cache size to 16g").as_deref(),
        Some("host_vars/nas.yml")
    );
    // Set only in the role's defaults: there.
    assert_eq!(
        config("change the port jellyfin listens on to 8920").as_deref(),
        Some("roles/jellyfin/defaults/main.yml")
    );

    // With a second host, one host's override is no setting of the other: the other's own
    // value goes in its own host vars, shaped like the first's.
    let mut files = files.to_vec();
    files[0] = ("hosts.ini", "[media]\nnas\nden\n");
    let (_dir, two_hosts) = super::repository(&files);
    let config = |text: &str| entrypoint(&resolve(&two_hosts, text)).2;
    assert_eq!(
        config("change jellyfin's cache size on den to 16g").as_deref(),
        Some("host_vars/den.yml")
    );
    assert_eq!(
        config("change jellyfin's cache size on nas to 16g").as_deref(),
        Some("host_vars/nas.yml")
    );
}

#[test]
fn an_unpinned_image_nothing_pulls_again_is_pinned_where_it_is_written() {
    let compose = "services:\n{% if monitoring_role == 'master' %}\n  grafana:\n    image: grafana/grafana\n{% endif %}\n";
    let up = |pull: &str| {
        format!(
            "- name: Compose file\n  ansible.builtin.template:\n    src: docker-compose.yml.j2\n    dest: /opt/monitoring/docker-compose.yml\n- name: Up\n  community.docker.docker_compose_v2:\n    project_src: /opt/monitoring\n{pull}"
        )
    };
    let files = |tasks: &str| {
        vec![
            ("hosts.ini".to_owned(), "[monitor]\nmon1\n".to_owned()),
            (
                "site.yml".to_owned(),
                "- hosts: monitor\n  roles:\n    - monitoring\n".to_owned(),
            ),
            (
                "roles/monitoring/templates/docker-compose.yml.j2".to_owned(),
                compose.to_owned(),
            ),
            (
                "roles/monitoring/tasks/main.yml".to_owned(),
                tasks.to_owned(),
            ),
        ]
    };
    let pin = |files: &[(String, String)]| {
        let (_dir, repository) = discovered(files);
        match resolve(&repository, "bump grafana to a newer version").answer {
            Answer::Entrypoint { pin, .. } => pin,
            other => panic!("expected an entrypoint, got {other:?}"),
        }
    };
    // Compose brings the project up again without pulling: the tag has to be written, in the
    // compose service (the Jinja around it shapes no YAML).
    match pin(&files(&up(""))) {
        Some(Pin::Var { file, var, .. }) => {
            assert_eq!(file, "roles/monitoring/templates/docker-compose.yml.j2");
            assert_eq!(var, "services.grafana.image");
        }
        other => panic!("expected the image line as the pin, got {other:?}"),
    }
    // Pulled on every run: a re-run is the upgrade.
    assert_eq!(pin(&files(&up("    pull: always\n"))), Some(Pin::Latest));
}

#[test]
fn an_app_named_as_the_machines_something_runs_on_is_a_place() {
    let files = two_apps(
        ("jellyfin", "jellyfin/jellyfin:10.11"),
        ("gitea", "gitea/gitea:1.22"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "restart gitea on the jellyfin hosts");
    assert_eq!(resolution.service.as_deref(), Some("gitea"));
    // Said alone, the app is still the one meant.
    let resolution = resolve(&repository, "restart jellyfin");
    assert_eq!(resolution.service.as_deref(), Some("jellyfin"));
}

#[test]
fn the_repositorys_own_words_settle_between_several_catalogue_guesses() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[torrent]\nseedbox\n"),
        (
            "vpn.yml",
            "- hosts: torrent\n  tasks:\n    - name: Gluetun\n      community.docker.docker_container:\n        name: gluetun\n        image: qmcgaw/gluetun:v3\n    - name: ProtonWire\n      community.docker.docker_container:\n        name: protonwire\n        image: ghcr.io/tprasadtp/protonwire:7\n",
        ),
        (
            "refresher.yml",
            "- hosts: torrent\n  tasks:\n    - name: Script that renews the protonvpn port forwarding lease\n      ansible.builtin.template:\n        src: templates/natpmp-helper.service\n        dest: /etc/systemd/system/natpmp-helper.service\n    - name: Keep the protonvpn forwarded port renewed\n      ansible.builtin.systemd_service:\n        name: natpmp-helper.service\n        state: started\n",
        ),
        (
            "templates/natpmp-helper.service",
            "[Service]\nExecStart=/usr/local/bin/renew\n",
        ),
    ]);
    let resolution = resolve(
        &repository,
        "is the vpn thing that keeps renewing the protonvpn port forwarding lease still running?",
    );
    assert_eq!(resolution.service.as_deref(), Some("natpmp-helper"));
}

#[test]
fn among_apps_the_whole_request_fits_the_orders_own_words_pick_one() {
    let files = two_apps(
        ("bazarr", "lscr.io/linuxserver/bazarr:1.4"),
        ("sonarr", "lscr.io/linuxserver/sonarr:4"),
    );
    let (_dir, repository) = discovered(&files);
    // The complaint fits both (subtitles, new episodes); the order names the subtitle fetcher.
    let text = "subtitles stopped showing up for new episodes, show me the subtitle fetcher's logs";
    let resolution = resolve(&repository, text);
    assert_eq!(resolution.service.as_deref(), Some("bazarr"));
    assert_eq!(builtin(&resolution).1, "bazarr");
    // Said in one clause, both still fit: the person is asked.
    let resolution = resolve(
        &repository,
        "show me the logs of the subtitle fetcher for new episodes",
    );
    assert!(
        matches!(&resolution.answer, Answer::Question { choices, .. } if choices.len() == 2),
        "{resolution:?}"
    );
}

#[test]
fn a_part_of_another_apps_project_is_not_the_homelabs_own_service_of_its_kind() {
    let files = [
        ("hosts", "[base]\nedge\n[cloud]\ncloud\n"),
        (
            "site.yml",
            "- name: Edge\n  hosts: base\n  roles:\n    - traefik\n- name: Cloud\n  hosts: cloud\n  roles:\n    - nextcloud\n",
        ),
        (
            "roles/traefik/tasks/main.yml",
            "- name: traefik\n  community.docker.docker_container:\n    name: traefik\n    image: traefik:v3.1\n",
        ),
        (
            "roles/nextcloud/templates/compose.yml.j2",
            "services:\n  nextcloud:\n    image: nextcloud:29-fpm\n    container_name: nextcloud\n  nextcloud-nginx:\n    image: nginx:1.27\n    container_name: nextcloud-nginx\n",
        ),
        (
            "roles/nextcloud/tasks/main.yml",
            "- name: compose\n  ansible.builtin.template:\n    src: compose.yml.j2\n    dest: /opt/nextcloud/compose.yml\n",
        ),
    ];
    let (_dir, repository) = repository(&files);
    // nextcloud's own nginx is a reverse proxy too, but it fronts nextcloud alone.
    let resolution = resolve(
        &repository,
        "every site answers 404, show me the reverse proxy's logs",
    );
    assert_eq!(
        resolution.service.as_deref(),
        Some("traefik"),
        "{resolution:?}"
    );
    // Asked about nextcloud's web server, the part is meant.
    let resolution = resolve(&repository, "restart the nextcloud web server");
    assert_eq!(
        resolution.service.as_deref(),
        Some("nginx"),
        "{resolution:?}"
    );
}

#[test]
fn a_host_inside_an_address_or_after_instead_of_is_a_value_not_the_target() {
    let files = two_apps(
        ("grafana", "grafana/grafana:11.3.0"),
        ("headscale", "headscale/headscale:0.23"),
    );
    let (_dir, repository) = discovered(&files);
    let limit = |text: &str| {
        let resolution = resolve(&repository, text);
        entrypoint(&resolution).1
    };
    assert_eq!(
        limit("grafana alert emails go to root@lab, send them to my real address"),
        None
    );
    assert_eq!(
        limit("headscale should hand out quad9 as the dns instead of lab while i rebuild it"),
        None
    );
    // Said as the place, the same host is the target.
    assert_eq!(
        limit("set grafana's alert emails to my real address on lab"),
        Some("lab".to_owned())
    );
}

#[test]
fn a_part_two_apps_names_share_asks_unless_another_word_names_one() {
    let files = two_apps(
        (
            "pubgolf-frontend",
            "ghcr.io/someone/pubgolf-frontend:latest",
        ),
        ("pubgolf-backend", "ghcr.io/someone/pubgolf-backend:latest"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "pubgolf is down, restart it");
    match &resolution.answer {
        Answer::Question { choices, .. } => assert_eq!(
            choices,
            &["pubgolf-backend".to_owned(), "pubgolf-frontend".to_owned()]
        ),
        other => panic!("expected a question, got {other:?}"),
    }
    let resolution = resolve(
        &repository,
        "the pubgolf website is down but the api answers, start the frontend",
    );
    assert_eq!(builtin(&resolution).1, "pubgolf-frontend");
    // A slip in a whole name is that app, not the longer one it begins.
    let files = two_apps(
        ("vaultwarden-backup", "bruceforce/vaultwarden-backup:latest"),
        ("vaultwarden", "vaultwarden/server:1.32.0"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "restart vaultwardn, the extension can't sync");
    assert_eq!(builtin(&resolution).1, "vaultwarden");
}

#[test]
fn words_said_apart_that_one_apps_name_runs_together_name_it() {
    let files = two_apps(
        ("grizzlysmsbot", "ghcr.io/someone/grizzlysmsbot:latest"),
        ("dashdot", "mauricenino/dashdot:5"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "redeploy the sms bot, upstream pushed a fix");
    assert_eq!(resolution.service.as_deref(), Some("grizzlysmsbot"));
    // Ordinary words run together are no name: "back up" is not a backup container.
    let files = two_apps(
        ("docker-db-backup", "tiredofit/db-backup:4"),
        ("dashdot", "mauricenino/dashdot:5"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(&repository, "start dashdot back up");
    assert_eq!(resolution.service.as_deref(), Some("dashdot"));
}

#[test]
fn a_play_on_a_group_with_no_hosts_runs_nothing() {
    let files = [
        (
            "inventory.yml",
            "all:\n  children:\n    servers:\n      hosts:\n        box:\n    linux_desktop:\n      hosts:\n    webcam_hosts:\n      children:\n        webcampi.local:\n",
        ),
        (
            "desktop.yml",
            "- hosts: linux_desktop\n  roles:\n    - xrdp\n",
        ),
        (
            "webcam.yml",
            "- hosts: webcam_hosts\n  roles:\n    - motioneye\n",
        ),
        (
            "roles/xrdp/tasks/main.yml",
            "- name: xrdp\n  ansible.builtin.systemd:\n    name: xrdp\n    state: started\n",
        ),
        (
            "roles/motioneye/tasks/main.yml",
            "- name: motioneye\n  ansible.builtin.systemd:\n    name: motioneye\n    state: started\n",
        ),
    ];
    let (_dir, repository) = repository(&files);
    // The group is declared but empty: the role is there, no play runs it.
    let resolution = resolve(&repository, "put xrdp on my desktop so i can remote in");
    assert!(
        matches!(&resolution.answer, Answer::None { reason, .. } if reason == "unwired"),
        "{resolution:?}"
    );
    // A machine written under a group's children is still a machine the play runs on.
    let resolution = resolve(&repository, "restart motioneye");
    assert_eq!(builtin(&resolution).2, vec!["webcam_hosts".to_owned()]);
}

#[test]
fn a_switch_a_default_leaves_off_runs_the_app_only_where_a_host_turns_it_on() {
    let files = [
        ("hosts", "[hypervisor]\naltair\nvega\n"),
        (
            "proxmox.yml",
            "- hosts: hypervisor\n  roles:\n    - zrepl\n",
        ),
        ("roles/zrepl/defaults/main.yml", "zrepl_enabled: false\n"),
        (
            "roles/zrepl/tasks/main.yml",
            "- name: zrepl\n  ansible.builtin.systemd:\n    name: zrepl\n    state: started\n  when: zrepl_enabled\n",
        ),
        ("host_vars/altair.yml", "zrepl_enabled: true\n"),
    ];
    let (_dir, repository) = repository(&files);
    let resolution = resolve(
        &repository,
        "start zrepl again, no snapshots since the scrub",
    );
    assert_eq!(builtin(&resolution).2, vec!["altair".to_owned()]);
}

#[test]
fn a_host_said_before_the_group_holding_it_is_that_host() {
    let files = [
        ("hosts", "[vm]\nmgmt\ndev\n"),
        (
            "site.yml",
            "- hosts: vm\n  roles:\n    - nexus\n    - dev\n",
        ),
        (
            "roles/nexus/tasks/main.yml",
            "- name: nexus\n  community.docker.docker_container:\n    name: nexus\n    image: sonatype/nexus3:3.70.1\n",
        ),
        (
            "roles/dev/tasks/main.yml",
            "- name: dev\n  community.docker.docker_container:\n    name: dev\n    image: lscr.io/linuxserver/code-server:4.91\n",
        ),
    ];
    let (_dir, repository) = repository(&files);
    // `dev` is also an app's name, but "the dev vm" is the machine `dev` of the group `vm`.
    let resolution = resolve(
        &repository,
        "nexus didn't come back after the dev vm rebooted, start it",
    );
    assert_eq!(builtin(&resolution).2, vec!["dev".to_owned()]);
}

#[test]
fn what_an_app_is_reached_through_and_a_domain_name_said_are_not_the_app_or_the_target() {
    let files = two_apps(
        ("homepage", "ghcr.io/gethomepage/homepage:v0.9.10"),
        ("tailscale", "tailscale/tailscale:v1.70.0"),
    );
    let (_dir, repository) = discovered(&files);
    let resolution = resolve(
        &repository,
        "the dashboard refuses to load when i open it over tailscale as lab.tail, add that to the hosts it accepts",
    );
    assert_eq!(
        resolution.service.as_deref(),
        Some("homepage"),
        "{resolution:?}"
    );
    assert_eq!(entrypoint(&resolution).1, None);
    // Said as the place, the host is the target.
    let resolution = resolve(&repository, "redeploy homepage on lab");
    assert_eq!(entrypoint(&resolution).1.as_deref(), Some("lab"));
}

#[test]
fn a_part_is_named_beside_its_app_only_in_the_apps_own_clause() {
    let (_dir, repository) = repository(&[
        ("hosts.ini", "[media]\nlab\n"),
        (
            "site.yml",
            "- hosts: media\n  roles:\n    - role: tracearr\n      tags: [tracearr]\n",
        ),
        (
            "roles/tracearr/tasks/main.yml",
            "- name: Compose\n  ansible.builtin.template:\n    src: compose.yml.j2\n    dest: /opt/tracearr/compose.yml\n",
        ),
        (
            "roles/tracearr/templates/compose.yml.j2",
            "services:\n  tracearr:\n    container_name: tracearr\n    image: ghcr.io/connorgallopo/tracearr:latest\n  redis:\n    container_name: tracearr-redis\n    image: redis:8-alpine\n",
        ),
    ]);
    // "session" fits the redis beside it (a session store), but it is said in another
    // clause, of a page: the app itself is meant.
    let resolution = resolve(
        &repository,
        "tracearr logs, the session history page has been empty since the update",
    );
    assert_eq!(resolution.service.as_deref(), Some("tracearr"));
    // Said in the app's own clause, the part is meant.
    let (_, name, _) = builtin(&resolve(
        &repository,
        "show me the tracearr session store logs",
    ));
    assert_eq!(name, "tracearr-redis");
}

#[test]
fn a_group_said_as_machines_is_the_place_though_an_app_is_named_so() {
    let chrony = "- name: Chrony\n  ansible.builtin.apt:\n    name: chrony\n- name: Enable chrony\n  ansible.builtin.systemd:\n    name: chrony\n    state: started\n    enabled: true\n";
    let (_dir, repository) = repository(&[
        (
            "hosts.ini",
            "[proxmox_hosts]\npve1\npve2\n[ubuntu]\ndocker1\n",
        ),
        (
            "proxmox.yml",
            "- hosts: proxmox_hosts\n  roles:\n    - proxmox\n",
        ),
        ("os.yml", "- hosts: ubuntu\n  roles:\n    - os_configure\n"),
        ("roles/proxmox/tasks/main.yml", chrony),
        ("roles/os_configure/tasks/main.yml", chrony),
    ]);
    // `proxmox` is a role (an app's name) and `proxmox_hosts` without its suffix; said as the
    // machines something runs on, it is the group.
    let resolution = resolve(
        &repository,
        "restart chrony on the proxmox nodes, corosync keeps complaining about clock skew",
    );
    let (_, name, hosts) = builtin(&resolution);
    assert_eq!(name, "chrony.service");
    assert_eq!(hosts, ["proxmox_hosts"]);
}

#[test]
fn the_os_package_updates_are_the_task_that_upgrades_every_package() {
    // A role of its own, tagged, on a group; an umbrella importing its playbook.
    let (_dir, repo) = repository(&[
        ("hosts.ini", "[linux]\nweb\ndns\n[hypervisor]\npve\n"),
        ("main.yml", "- ansible.builtin.import_playbook: linux.yml\n"),
        (
            "linux.yml",
            "- hosts: linux\n  roles:\n    - role: base\n      tags: [base]\n    - role: system_update\n      tags: [update]\n",
        ),
        (
            "roles/base/tasks/main.yml",
            "- name: Tools\n  ansible.builtin.apt:\n    name: [vim, htop]\n    state: latest\n",
        ),
        (
            "roles/system_update/tasks/main.yml",
            "- name: Upgrade packages\n  ansible.builtin.apt:\n    update_cache: true\n    upgrade: dist\n",
        ),
    ]);
    let resolution = resolve(
        &repo,
        "run the os package updates on dns only, leave the other guests for the weekend",
    );
    assert_eq!(resolution.verb, Verb::Upgrade);
    assert_eq!(resolution.service.as_deref(), Some("system-update"));
    let Answer::Entrypoint {
        playbook,
        alt_playbooks,
        tags,
        limit,
        pin,
        ..
    } = &resolution.answer
    else {
        panic!("expected an entrypoint, got {:?}", resolution.answer);
    };
    assert_eq!(playbook, "linux.yml");
    assert_eq!(alt_playbooks, &["main.yml".to_owned()]);
    assert_eq!(tags, &["update".to_owned()]);
    assert_eq!(limit.as_deref(), Some("dns"));
    assert_eq!(pin, &Some(Pin::Latest));
    // No play reaches the hypervisor: nothing of the repository's runs there.
    let resolution = resolve(&repo, "apply the pending package updates on pve");
    assert!(
        !matches!(&resolution.answer, Answer::Entrypoint { playbook, .. } if playbook == "linux.yml"),
        "{resolution:?}"
    );

    // A task of a base role behind a switch left off by default: the switch turned on.
    let (_dir, repo) = repository(&[
        ("hosts.ini", "[servers]\nweb\n"),
        (
            "site.yml",
            "- hosts: servers\n  roles:\n    - role: system\n      tags: [system]\n",
        ),
        ("roles/system/defaults/main.yml", "system_update: false\n"),
        (
            "roles/system/tasks/main.yml",
            "- name: Update system\n  when: system_update and ansible_os_family == 'Debian'\n  ansible.builtin.apt:\n    upgrade: full\n",
        ),
    ]);
    let resolution = resolve(&repo, "apply all the pending os package updates");
    let Answer::Entrypoint {
        tags, extra_vars, ..
    } = &resolution.answer
    else {
        panic!("expected an entrypoint, got {:?}", resolution.answer);
    };
    assert_eq!(tags, &["system".to_owned()]);
    assert_eq!(
        extra_vars.get("system_update"),
        Some(&serde_json::json!(true))
    );
    assert_eq!(resolution.service.as_deref(), Some("system-update"));

    // A playbook of its own (inline), beside a template build that also upgrades: the one
    // named for upgrading, called so.
    let (_dir, repo) = repository(&[
        ("hosts.ini", "[proxmox]\npve1\n"),
        (
            "deploy_homelab_upgrade_packages.yml",
            "- hosts: all\n  tasks:\n    - name: Upgrade\n      ansible.builtin.package:\n        name: \"*\"\n        state: latest\n",
        ),
        (
            "template_build.yml",
            "- hosts: localhost\n  tasks:\n    - name: Upgrade the image\n      ansible.builtin.package:\n        name: \"*\"\n        state: latest\n",
        ),
    ]);
    let resolution = resolve(&repo, "run the package upgrades on the proxmox nodes only");
    assert_eq!(resolution.service.as_deref(), Some("upgrade-packages"));
    let Answer::Entrypoint {
        playbook, limit, ..
    } = &resolution.answer
    else {
        panic!("expected an entrypoint, got {:?}", resolution.answer);
    };
    assert_eq!(playbook, "deploy_homelab_upgrade_packages.yml");
    assert_eq!(limit.as_deref(), Some("proxmox"));
}

#[test]
fn a_playbook_run_by_a_name_of_several_words_runs_as_it_is() {
    let (_dir, repo) = repository(&[
        ("inventory.ini", "[dev]\nmalfoy\nbigboi\n"),
        (
            "dev-tooling.yml",
            "- hosts: dev\n  roles:\n    - dev-tooling\n",
        ),
        (
            "roles/dev-tooling/tasks/main.yml",
            "- name: Dev user\n  ansible.builtin.user:\n    name: dev\n",
        ),
        ("docker.yml", "- hosts: dev\n  roles:\n    - docker\n"),
    ]);
    let resolution = resolve(
        &repo,
        "run dev-tooling again, the dev user and docker went missing after the os reinstall",
    );
    let Answer::Entrypoint {
        playbook, limit, ..
    } = &resolution.answer
    else {
        panic!("expected an entrypoint, got {:?}", resolution.answer);
    };
    assert_eq!(playbook, "dev-tooling.yml");
    // "dev" is a word of the playbook's name here, not the group to limit it to.
    assert_eq!(limit, &None);
    assert_eq!(resolution.target, None);
}

#[test]
fn a_part_the_repository_tags_is_run_alone_when_the_request_names_the_tag() {
    let (_dir, repo) = repository(&[
        (
            "hosts.ini",
            "[proxmox_hosts]\npve1\npve2\n[development]\ndev1\n",
        ),
        (
            "deploy_proxmox.yml",
            "- hosts: proxmox_hosts\n  roles:\n    - proxmox\n",
        ),
        (
            "roles/proxmox/tasks/main.yml",
            "- name: Disable nvme power saving\n  ansible.builtin.lineinfile:\n    path: /etc/kernel/cmdline\n    line: nvme_core.default_ps_max_latency_us=0\n  tags: [nvme_apst]\n\
             - name: Chrony\n  ansible.builtin.apt:\n    name: chrony\n",
        ),
        (
            "update.yml",
            "- hosts: development\n  tasks:\n    - name: Firewall\n      ansible.builtin.include_tasks: tasks/firewall.yml\n      tags: firewall\n",
        ),
        (
            "tasks/firewall.yml",
            "- name: Lan ports\n  community.general.ufw:\n    rule: allow\n    port: '{{ item }}'\n  loop: [22, 8082]\n",
        ),
    ]);
    // A tag on a single task: that task alone, on the play's machines.
    let resolution = resolve(
        &repo,
        "rpool suspended again overnight, re-apply the nvme power-saving kernel fix",
    );
    assert_eq!(resolution.service.as_deref(), Some("nvme-apst"));
    let (tags, limit, _) = entrypoint(&resolution);
    assert_eq!(tags, ["nvme_apst"]);
    assert_eq!(limit, None);
    // A tag on an include: the file it includes holds the setting.
    let resolution = resolve(
        &repo,
        "open port 9090 from the lan in the firewall on the development box",
    );
    let (tags, limit, config) = entrypoint(&resolution);
    assert_eq!(tags, ["firewall"]);
    assert_eq!(limit.as_deref(), Some("development"));
    assert_eq!(config.as_deref(), Some("tasks/firewall.yml"));
    // A word no tag has finds no tagged part.
    let resolution = resolve(&repo, "set up the kernel fix for the gpu");
    assert!(
        !matches!(&resolution.answer, Answer::Entrypoint { tags, .. } if tags == &["nvme_apst".to_owned()]),
        "{resolution:?}"
    );
}

#[test]
fn a_schedule_is_changed_in_the_units_timer() {
    let (_dir, repo) = repository(&[
        ("hosts.ini", "[proxmox]\npve\n"),
        (
            "proxmox.yml",
            "- hosts: proxmox\n  tasks:\n    - name: Units\n      ansible.builtin.copy:\n        src: 'files/{{ item }}'\n        dest: /etc/systemd/system/\n      loop: [syncoid.service, syncoid.timer]\n    - name: Enable\n      ansible.builtin.systemd:\n        name: syncoid.timer\n        enabled: true\n",
        ),
        (
            "files/syncoid.service",
            "[Service]\nType=oneshot\nExecStart=/usr/sbin/syncoid --recursive tank backup/tank\n",
        ),
        ("files/syncoid.env", "SYNCOID_ARGS=--no-sync-snap\n"),
        (
            "files/syncoid.timer",
            "[Timer]\nOnCalendar=hourly\nPersistent=true\n",
        ),
    ]);
    let resolution = resolve(
        &repo,
        "syncoid runs every hour, make it every 6 hours instead",
    );
    let (_, _, config) = entrypoint(&resolution);
    assert_eq!(config.as_deref(), Some("files/syncoid.timer"));
}

#[test]
fn a_host_is_named_by_a_part_of_its_name_and_a_role_entrys_switch_is_turned_on() {
    let (_dir, repo) = repository(&[
        (
            "hosts.ini",
            "[vps]\nvps-sber1.devmem.ru\nvps-ionos2.devmem.ru\n[lan]\nnas\n",
        ),
        (
            "vps.yml",
            "- hosts: vps\n  roles:\n    - role: xray\n      when: xray_enabled | default(false) | bool\n      tags: [xray]\n",
        ),
        (
            "roles/xray/tasks/main.yml",
            "- name: Xray\n  community.docker.docker_container:\n    name: xray\n    image: ghcr.io/xtls/xray-core:25.1.1\n",
        ),
    ]);
    let resolution = resolve(&repo, "set up xray on the sber vps too");
    let (_, limit, _) = entrypoint(&resolution);
    assert_eq!(limit.as_deref(), Some("vps-sber1.devmem.ru"));
    // The play applies the role only when a switch nobody sets is on: deploying turns it on.
    let Answer::Entrypoint { extra_vars, .. } = &resolution.answer else {
        unreachable!("an entrypoint, checked above");
    };
    assert_eq!(
        extra_vars.get("xray_enabled"),
        Some(&serde_json::json!(true))
    );
    // A part several hosts share names none of them: the group said is the place.
    let resolution = resolve(&repo, "set up xray on the devmem vps");
    let (_, limit, _) = entrypoint(&resolution);
    assert_eq!(limit.as_deref(), Some("vps"));
    // Nor does a short word that happens to be a part ("new" of `homeassistant-new`).
    assert_eq!(repo.inventory.host_by_part("new"), None);
    assert_eq!(
        repo.inventory.host_by_part("ionos"),
        Some("vps-ionos2.devmem.ru")
    );
}

#[test]
fn a_kind_of_service_said_with_server_names_the_service_not_the_group() {
    let (_dir, repo) = repository(&[
        (
            "hosts.ini",
            "[media-servers]\nmedia1\n[bastion-servers]\nbastion1\n",
        ),
        (
            "site.yml",
            "- hosts: media-servers:bastion-servers\n  roles:\n    - role: jellyfin\n      tags: [jellyfin]\n",
        ),
        (
            "roles/jellyfin/defaults/main.yml",
            "jellyfin_enabled: true\n",
        ),
        (
            "roles/jellyfin/tasks/main.yml",
            "- name: Jellyfin\n  community.docker.docker_container:\n    name: jellyfin\n    image: jellyfin/jellyfin:10.9.0\n    state: \"{{ 'started' if jellyfin_enabled else 'absent' }}\"\n",
        ),
    ]);
    // "the media server" is the app moving, not the group `media-servers` to limit to.
    let resolution = resolve(
        &repo,
        "take jellyfin out of the stack, the media server is moving to its own box",
    );
    let (_, limit, _) = entrypoint(&resolution);
    assert_eq!(limit, None);
    // Said as a machine, the group is the place.
    let resolution = resolve(&repo, "restart jellyfin on the media box");
    let (_, _, hosts) = builtin(&resolution);
    assert_eq!(hosts, ["media-servers"]);
}

#[test]
fn switching_something_from_one_value_to_another_is_a_setting() {
    assert_eq!(
        verb_of("switch caddy from the self-signed certs to real let's encrypt ones"),
        Verb::Configure
    );
    assert_eq!(
        verb_of("switch plex meta manager's movies run from sunday to saturday"),
        Verb::Configure
    );
}
