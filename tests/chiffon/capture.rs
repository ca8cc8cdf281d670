//! What Chiffon's callback plugin records for a changed result (`assets/ansible/chiffon_events.py`,
//! `_describe`), read by the Python that runs `ansible-playbook`, for the result shapes real
//! homelab playbooks give and this machine cannot produce for real (no container engine, no
//! community.docker collection): a compose project brought up is a reversible `compose` change
//! with its folder, name and runtime; any other command stays irreversible.

use serde_json::{Value, json};

/// `_describe(action, result, hidden)` of the plugin, through the Python next to the tests'
/// `ansible-playbook`.
async fn describe(action: &str, result: Value) -> Value {
    let ansible = crate::helpers::ansible_playbook().await;
    let python = ansible.with_file_name("python3");
    let plugin =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/ansible/chiffon_events.py");
    let script = "import importlib.util, json, sys\n\
        spec = importlib.util.spec_from_file_location('chiffon_events', sys.argv[1])\n\
        plugin = importlib.util.module_from_spec(spec)\n\
        spec.loader.exec_module(plugin)\n\
        print(json.dumps(plugin._describe(sys.argv[2], json.loads(sys.argv[3]), False)))\n";
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&plugin)
        .arg(action)
        .arg(result.to_string())
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
