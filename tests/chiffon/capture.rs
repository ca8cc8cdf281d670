//! What Chiffon's callback plugin records for a changed result (`assets/ansible/chiffon_events.py`,
//! `_describe`), read by the Python that runs `ansible-playbook`, for the result shapes real
//! homelab playbooks give and this machine cannot produce for real (no container engine, no
//! community.docker collection): a compose project brought up is a reversible `compose` change
//! with its folder, name and runtime; any other command stays irreversible; a service's state
//! before comes from systemd's own answer; each package apt or dnf names is its own record
//! (only a new one can be undone); a docker_container container keeps its definition before and
//! after when its diff maps back to the module's parameters, else its previous image is named.

use serde_json::{Value, json};

/// `_describe(action, result, hidden)` of the plugin, through the Python next to the tests'
/// `ansible-playbook`.
async fn describe(action: &str, result: Value) -> Value {
    plugin("_describe", action, result).await
}

/// `_changes(action, result, hidden)`: every record of one changed result.
async fn changes(action: &str, result: Value) -> Vec<Value> {
    serde_json::from_value(plugin("_changes", action, result).await).unwrap()
}

async fn plugin(function: &str, action: &str, result: Value) -> Value {
    let ansible = crate::helpers::ansible_playbook().await;
    let python = ansible.with_file_name("python3");
    let plugin =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/ansible/chiffon_events.py");
    let script = "import importlib.util, json, sys\n\
        spec = importlib.util.spec_from_file_location('chiffon_events', sys.argv[1])\n\
        plugin = importlib.util.module_from_spec(spec)\n\
        spec.loader.exec_module(plugin)\n\
        print(json.dumps(getattr(plugin, sys.argv[4])(sys.argv[2], json.loads(sys.argv[3]), False)))\n";
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&plugin)
        .arg(action)
        .arg(result.to_string())
        .arg(function)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON change")
}

#[tokio::test]
async fn a_compose_project_brought_up_is_a_reversible_change_with_its_folder_and_name() {
    let change = describe(
        "ansible.builtin.command",
        json!({
            "changed": true,
            "cmd": ["docker", "compose", "--project-name", "uptime-kuma", "up", "--detach"],
            "invocation": {"module_args": {"chdir": "/srv/lola/stacks/uptime-kuma"}},
        }),
    )
    .await;
    assert_eq!(change["kind"], "compose");
    assert_eq!(change["target"], "/srv/lola/stacks/uptime-kuma");
    assert_eq!(change["after"]["project"], "uptime-kuma");
    assert_eq!(change["after"]["runtime"], "docker");
    assert_eq!(change["reversible"], true);

    // A shell line, podman, the folder's name as the project.
    let change = describe(
        "ansible.builtin.shell",
        json!({
            "changed": true,
            "cmd": "podman compose -f /opt/Paperless/compose.yml up -d",
            "invocation": {"module_args": {}},
        }),
    )
    .await;
    assert_eq!(change["kind"], "compose");
    assert_eq!(change["target"], "/opt/Paperless");
    assert_eq!(change["after"]["project"], "paperless");
    assert_eq!(change["after"]["runtime"], "podman");

    // community.docker's module, with and without a project name.
    let change = describe(
        "community.docker.docker_compose_v2",
        json!({
            "changed": true,
            "invocation": {"module_args": {"project_src": "/opt/stacks/immich", "state": "present"}},
        }),
    )
    .await;
    assert_eq!(change["kind"], "compose");
    assert_eq!(change["after"]["project"], "immich");
}

#[tokio::test]
async fn other_commands_and_compose_without_a_known_folder_stay_irreversible() {
    for (action, result) in [
        // Not `up`.
        (
            "ansible.builtin.command",
            json!({"changed": true, "cmd": ["docker", "compose", "pull"],
                   "invocation": {"module_args": {"chdir": "/srv/kuma"}}}),
        ),
        // A folder Chiffon cannot place (relative).
        (
            "ansible.builtin.command",
            json!({"changed": true, "cmd": ["docker", "compose", "up", "-d"],
                   "invocation": {"module_args": {"chdir": "stacks/kuma"}}}),
        ),
        // Anything else.
        (
            "ansible.builtin.command",
            json!({"changed": true, "cmd": ["docker", "network", "create", "proxy"],
                   "invocation": {"module_args": {}}}),
        ),
    ] {
        let change = describe(action, result.clone()).await;
        assert_eq!(change["kind"], "command", "{result}");
        assert_eq!(change["reversible"], false, "{result}");
        assert!(
            change["note"].as_str().unwrap().contains("cannot undo"),
            "{change}"
        );
    }
    // Taking a project down with the module is not something undo brings back.
    let change = describe(
        "community.docker.docker_compose_v2",
        json!({"changed": true,
               "invocation": {"module_args": {"project_src": "/opt/stacks/immich", "state": "absent"}}}),
    )
    .await;
    assert_eq!(change["kind"], "container");
    assert_eq!(change["reversible"], false);
}

/// `status` as Ansible's systemd module reads it with `systemctl show` before it acts (these
/// shapes are what the module returned against `helpers::bin_with_recording_systemctl`).
fn systemd_status(active: &str, unit_file: &str) -> Value {
    json!({
        "ActiveState": active,
        "FragmentPath": "/etc/systemd/system/kuma-backup.service",
        "Id": "kuma-backup.service",
        "LoadState": "loaded",
        "SubState": if active == "active" { "running" } else { "dead" },
        "UnitFileState": unit_file,
    })
}

#[tokio::test]
async fn a_service_records_systemds_state_before_and_what_the_module_left() {
    let change = describe(
        "ansible.builtin.systemd_service",
        json!({
            "changed": true, "enabled": true, "name": "kuma-backup.service", "state": "started",
            "status": systemd_status("inactive", "disabled"),
            "invocation": {"module_args": {"name": "kuma-backup.service", "state": "started", "enabled": true}},
        }),
    )
    .await;
    assert_eq!(change["kind"], "service");
    assert_eq!(change["target"], "kuma-backup.service");
    assert_eq!(
        change["before"],
        json!({"state": "stopped", "enabled": false})
    );
    assert_eq!(
        change["after"],
        json!({"state": "started", "enabled": true})
    );
    assert_eq!(change["reversible"], true);
    assert!(
        change["note"]
            .as_str()
            .unwrap()
            .contains("undo stops it and disables it"),
        "{change}"
    );

    // `service` on a systemd host runs the same module: a stop of an enabled service.
    let change = describe(
        "ansible.builtin.service",
        json!({
            "changed": true, "name": "nginx.service", "state": "stopped",
            "status": systemd_status("active", "enabled"),
            "invocation": {"module_args": {"name": "nginx.service", "state": "stopped"}},
        }),
    )
    .await;
    assert_eq!(
        change["before"],
        json!({"state": "started", "enabled": true})
    );
    assert_eq!(change["after"], json!({"state": "stopped"}));
    assert_eq!(change["reversible"], true);
    assert!(
        change["note"]
            .as_str()
            .unwrap()
            .contains("undo starts it again"),
        "{change}"
    );
}

#[tokio::test]
async fn a_restart_leaves_nothing_to_undo_and_an_unknown_previous_state_stays_irreversible() {
    // The module reports `state: started` after a restart of a running service.
    let change = describe(
        "ansible.builtin.systemd",
        json!({
            "changed": true, "name": "nginx.service", "state": "started",
            "status": systemd_status("active", "enabled"),
            "invocation": {"module_args": {"name": "nginx.service", "state": "restarted"}},
        }),
    )
    .await;
    assert_eq!(change["reversible"], true);
    assert_eq!(change["before"]["state"], change["after"]["state"]);
    assert_eq!(
        change["note"],
        "service nginx.service restarted: nothing lasting changed, so there is nothing to undo"
    );
    // A restart of a stopped service started it: that lasts, and is undone.
    let change = describe(
        "ansible.builtin.systemd",
        json!({
            "changed": true, "name": "nginx.service", "state": "started",
            "status": systemd_status("inactive", "enabled"),
            "invocation": {"module_args": {"name": "nginx.service", "state": "restarted"}},
        }),
    )
    .await;
    assert!(
        change["note"].as_str().unwrap().contains("undo stops it"),
        "{change}"
    );

    // No systemd (sysvinit's `service`): nothing says what it was.
    let change = describe(
        "ansible.builtin.service",
        json!({"changed": true, "name": "ntp", "state": "started",
               "invocation": {"module_args": {"name": "ntp", "state": "started"}}}),
    )
    .await;
    assert_eq!(change["reversible"], false);
    assert!(
        change["note"].as_str().unwrap().contains("not reported"),
        "{change}"
    );
    // A start at boot systemd reports as neither enabled nor disabled (`indirect`: the module enables it).
    let change = describe(
        "ansible.builtin.systemd_service",
        json!({"changed": true, "name": "getty@tty2.service", "enabled": true,
               "status": systemd_status("inactive", "indirect"),
               "invocation": {"module_args": {"name": "getty@tty2.service", "enabled": true}}}),
    )
    .await;
    assert_eq!(change["reversible"], false);
    assert!(
        change["note"]
            .as_str()
            .unwrap()
            .contains("start at boot was not reported"),
        "{change}"
    );
    // Masking is not undone.
    let change = describe(
        "ansible.builtin.systemd_service",
        json!({"changed": true, "name": "nginx.service",
               "status": systemd_status("inactive", "disabled"),
               "invocation": {"module_args": {"name": "nginx.service", "masked": true}}}),
    )
    .await;
    assert_eq!(change["reversible"], false);
}

/// What `apt-get install` printed for `apt: name=htop` on a Debian host where curl had an
/// update pending and `apt: name=[htop, curl] state=latest` ran.
const APT_STDOUT: &str = "Reading package lists...
Building dependency tree...
Reading state information...
The following additional packages will be installed:
  libnl-3-200 libnl-genl-3-200
Suggested packages:
  lm-sensors strace
The following NEW packages will be installed:
  htop libnl-3-200 libnl-genl-3-200
The following packages will be upgraded:
  curl libcurl4
2 upgraded, 3 newly installed, 0 to remove and 41 not upgraded.
Need to get 1,213 kB of archives.
After this operation, 1,003 kB of additional disk space will be used.
Get:1 http://deb.debian.org/debian bookworm/main amd64 curl amd64 7.88.1-10+deb12u8 [315 kB]
Fetched 1,213 kB in 0s (9,372 kB/s)
(Reading database ... 23817 files and directories currently installed.)
Preparing to unpack .../0-curl_7.88.1-10+deb12u8_amd64.deb ...
Unpacking curl (7.88.1-10+deb12u8) over (7.88.1-10+deb12u5) ...
Preparing to unpack .../1-libcurl4_7.88.1-10+deb12u8_amd64.deb ...
Unpacking libcurl4:amd64 (7.88.1-10+deb12u8) over (7.88.1-10+deb12u5) ...
Selecting previously unselected package libnl-3-200:amd64.
Preparing to unpack .../2-libnl-3-200_3.7.0-0.2+b1_amd64.deb ...
Unpacking libnl-3-200:amd64 (3.7.0-0.2+b1) ...
Selecting previously unselected package libnl-genl-3-200:amd64.
Preparing to unpack .../3-libnl-genl-3-200_3.7.0-0.2+b1_amd64.deb ...
Unpacking libnl-genl-3-200:amd64 (3.7.0-0.2+b1) ...
Selecting previously unselected package htop.
Preparing to unpack .../4-htop_3.2.2-2_amd64.deb ...
Unpacking htop (3.2.2-2) ...
Setting up libcurl4:amd64 (7.88.1-10+deb12u8) ...
Setting up htop (3.2.2-2) ...
Processing triggers for libc-bin (2.36-9+deb12u9) ...
";

/// (target, reversible, before version, after version) of each record.
fn packages(records: &[Value]) -> Vec<(String, bool, Value, Value)> {
    records
        .iter()
        .map(|c| {
            assert_eq!(c["kind"], "package", "{c}");
            (
                c["target"].as_str().unwrap().to_owned(),
                c["reversible"].as_bool().unwrap(),
                c["before"]["version"].clone(),
                c["after"]["version"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_package_the_manager_names_is_a_record_and_only_new_ones_can_be_undone() {
    let records = changes(
        "ansible.builtin.apt",
        json!({"changed": true, "stdout": APT_STDOUT, "stderr": "",
               "cache_updated": false, "diff": {}}),
    )
    .await;
    let null = Value::Null;
    assert_eq!(
        packages(&records),
        [
            ("htop".into(), true, null.clone(), json!("3.2.2-2")),
            (
                "libnl-3-200".into(),
                true,
                null.clone(),
                json!("3.7.0-0.2+b1")
            ),
            (
                "libnl-genl-3-200".into(),
                true,
                null.clone(),
                json!("3.7.0-0.2+b1")
            ),
            (
                "curl".into(),
                false,
                json!("7.88.1-10+deb12u5"),
                json!("7.88.1-10+deb12u8")
            ),
            (
                "libcurl4".into(),
                false,
                json!("7.88.1-10+deb12u5"),
                json!("7.88.1-10+deb12u8")
            ),
        ]
    );
    assert_eq!(records[0]["existed"], false);
    assert_eq!(
        records[0]["note"],
        "package htop newly installed: undo removes it"
    );
    assert!(
        records[3]["note"]
            .as_str()
            .unwrap()
            .contains("went from 7.88.1-10+deb12u5 to 7.88.1-10+deb12u8"),
        "{}",
        records[3]
    );

    // apt removing: irreversible, the version it had named.
    let records = changes(
        "ansible.builtin.apt",
        json!({"changed": true, "stdout": "Reading package lists...\nThe following packages will be REMOVED:\n  nano\n0 upgraded, 0 newly installed, 1 to remove and 0 not upgraded.\n(Reading database ... 23900 files and directories currently installed.)\nRemoving nano (7.2-1+deb12u1) ...\n"}),
    )
    .await;
    assert_eq!(
        packages(&records),
        [("nano".into(), false, json!("7.2-1+deb12u1"), null.clone())]
    );
    assert!(records[0]["note"].as_str().unwrap().contains("removed"));

    // dnf (and dnf5): an upgrade is the new version installed and the old one removed.
    let records = changes(
        "ansible.builtin.dnf",
        json!({"changed": true, "msg": "", "rc": 0, "results": [
            "Installed: htop-3.3.0-1.fc40.x86_64",
            "Installed: curl-8.6.0-8.fc40.x86_64",
            "Removed: curl-8.6.0-7.fc40.x86_64",
        ]}),
    )
    .await;
    assert_eq!(
        packages(&records),
        [
            ("htop".into(), true, null.clone(), json!("3.3.0-1.fc40")),
            (
                "curl".into(),
                false,
                json!("8.6.0-7.fc40"),
                json!("8.6.0-8.fc40")
            ),
        ]
    );

    // Output Chiffon cannot read (pip): one irreversible record, as before.
    let records = changes(
        "ansible.builtin.pip",
        json!({"changed": true, "name": ["requests"], "stdout": "Successfully installed requests-2.32.3"}),
    )
    .await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["target"], "requests");
    assert_eq!(records[0]["reversible"], false);
}

#[tokio::test]
async fn a_container_names_its_previous_image_and_keeps_its_definitions_when_the_diff_maps_back() {
    // community.docker's docker_container with --diff but without its parameters: the
    // previous image is named, the definition is unknown.
    let change = describe(
        "community.docker.docker_container",
        json!({
            "changed": true,
            "container": {"Name": "/uptime-kuma", "Config": {"Image": "louislam/uptime-kuma:1.23.16"}},
            "diff": {
                "before": {"image_name": "louislam/uptime-kuma:1.23.15", "running": true},
                "after": {"image_name": "louislam/uptime-kuma:1.23.16", "running": true},
                "differences": [{"image_name": {"parameter": "louislam/uptime-kuma:1.23.16",
                                                "container": "louislam/uptime-kuma:1.23.15"}}],
            },
        }),
    )
    .await;
    assert_eq!(change["kind"], "container");
    assert_eq!(change["target"], "uptime-kuma");
    assert_eq!(change["before"]["image"], "louislam/uptime-kuma:1.23.15");
    assert_eq!(change["after"]["image"], "louislam/uptime-kuma:1.23.16");
    assert_eq!(change["reversible"], false);
    assert!(
        change["note"]
            .as_str()
            .unwrap()
            .contains("it ran louislam/uptime-kuma:1.23.15 before"),
        "{change}"
    );

    // With its parameters: the definition after is them (unset ones left out), the one
    // before is them with each option the diff reports set back (the image ID, the whole
    // environment as NAME=value lines turned into the parameter's dict).
    let args = json!({"name": "uptime-kuma", "image": "louislam/uptime-kuma:2.0.0", "state": "started",
                      "env": {"TZ": "UTC"}, "env_file": "/srv/kuma.env", "published_ports": ["3001:3001"],
                      "labels": null, "recreate": false});
    let change = describe(
        "community.docker.docker_container",
        json!({
            "changed": true,
            "invocation": {"module_args": args},
            "container": {"Name": "/uptime-kuma", "Config": {"Image": "louislam/uptime-kuma:2.0.0"}},
            "diff": {
                "before": {"image": "sha256:1111", "env": ["PATH=/bin", "TZ=Europe/Paris"], "running": true},
                "after": {"image": "sha256:2222", "env": ["PATH=/bin", "TZ=UTC"], "running": true},
            },
        }),
    )
    .await;
    assert_eq!(change["reversible"], true, "{change}");
    assert_eq!(change["existed"], true);
    assert_eq!(change["before"]["image"], "sha256:1111");
    let before: Value = serde_json::from_str(change["before_content"].as_str().unwrap()).unwrap();
    assert_eq!(
        before,
        json!({"name": "uptime-kuma", "image": "sha256:1111", "state": "started",
               "env": {"PATH": "/bin", "TZ": "Europe/Paris"}, "published_ports": ["3001:3001"],
               "recreate": false})
    );
    let after: Value = serde_json::from_str(change["after_content"].as_str().unwrap()).unwrap();
    assert_eq!(after["env"], json!({"TZ": "UTC"}));
    assert_eq!(after["env_file"], "/srv/kuma.env");
    assert!(after.get("labels").is_none(), "{after}");
    assert!(
        change["diff"]
            .as_str()
            .unwrap()
            .contains("-  \"image\": \"sha256:1111\""),
        "{change}"
    );

    // A changed option whose previous value is not the parameter's form (ports), or is not
    // reported: irreversible, said so.
    for (before, why) in [
        (
            json!({"expected_ports": {"3001/tcp": [{"HostPort": "3001"}]}}),
            "expected_ports is reported in a form",
        ),
        (json!({}), "its previous expected_ports was not reported"),
    ] {
        let change = describe(
            "community.docker.docker_container",
            json!({"changed": true, "invocation": {"module_args": args},
                   "diff": {"before": before,
                            "after": {"expected_ports": {"3001/tcp": [{"HostPort": "3002"}]}}}}),
        )
        .await;
        assert_eq!(change["reversible"], false);
        assert!(change.get("before_content").is_none(), "{change}");
        assert!(change["note"].as_str().unwrap().contains(why), "{change}");
    }

    // A parameter Ansible hid (no_log): the definition is not kept.
    let mut hidden = args.clone();
    hidden["env"]["TOKEN"] = json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER");
    let change = describe(
        "community.docker.docker_container",
        json!({"changed": true, "invocation": {"module_args": hidden},
               "diff": {"before": {"image": "sha256:1111"}, "after": {"image": "sha256:2222"}}}),
    )
    .await;
    assert_eq!(change["reversible"], false);
    assert!(change.get("after_content").is_none(), "{change}");
    assert!(
        change["note"]
            .as_str()
            .unwrap()
            .contains("its definition holds a secret"),
        "{change}"
    );

    // containers.podman's podman_container: its diff is text, one "name - value" a line, in
    // its own shortened form: the previous image named, never re-created.
    let change = describe(
        "containers.podman.podman_container",
        json!({
            "changed": true, "container": {"Name": "pihole", "Config": {"Image": "docker.io/pihole/pihole:2025.03.0"}},
            "diff": {"before": "image - docker.io/pihole/pihole:2024.07.0\n",
                     "after": "image - docker.io/pihole/pihole:2025.03.0\n"},
        }),
    )
    .await;
    assert_eq!(
        change["before"]["image"],
        "docker.io/pihole/pihole:2024.07.0"
    );
    assert_eq!(change["reversible"], false);
    assert!(
        change["note"]
            .as_str()
            .unwrap()
            .contains("containers.podman"),
        "{change}"
    );
    // A container the run created is removed by name; with no diff at all, nothing is known.
    let change = describe(
        "community.docker.docker_container",
        json!({"changed": true, "container": {"Name": "/whoami", "Config": {"Image": "traefik/whoami"}},
               "diff": {"before": {"exists": false}, "after": {"exists": true}}}),
    )
    .await;
    assert_eq!(change["existed"], false);
    assert_eq!(change["reversible"], true);
    let change = describe(
        "community.docker.docker_container",
        json!({"changed": true, "container": {"Name": "/whoami", "Config": {"Image": "traefik/whoami"}}}),
    )
    .await;
    assert_eq!(change["before"], Value::Null);
    assert_eq!(change["reversible"], false);
    assert!(
        change["note"].as_str().unwrap().contains("not reported"),
        "{change}"
    );
}
