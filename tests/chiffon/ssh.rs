//! The example homelab reached over real SSH, as a homelab's own machines are: two "hosts" on
//! loopback (`sshd` processes the test starts, `ssh_hosts`), a key the test generates, host key
//! checking on against a known_hosts the test writes, and `become: true` from an unprivileged
//! login user. The Kuma story runs unchanged over them on both deployments; a host nothing
//! answers on, a key the host refuses and a host key nobody recorded each fail their step with
//! the host, ssh's own words and what to fix.

use std::os::unix::fs::MetadataExt;

use chiffon::api::LiveEvent;
use chiffon::model::{RequestStatus, TaskStatus};

use crate::helpers::{Backend, Options, TestApp};
use crate::ssh_hosts::{ClientKeys, LOGIN_USER, SshHost, SshTarget};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kuma_story_runs_over_ssh_with_become_and_host_key_checking_on_both_deployments() {
    if crate::ssh_hosts::available().is_none() {
        return;
    }
    for backend in crate::helpers::backends() {
        if backend == Backend::Distributed && std::env::var_os("CHIFFON_TEST_AMQP_URL").is_none() {
            continue;
        }
        eprintln!("story over SSH on {backend:?}");
        let keys = ClientKeys::new();
        let lola = SshHost::start(&keys.public_key);
        let nas = SshHost::start(&keys.public_key);
        keys.trust(&lola);
        keys.trust(&nas);
        let inventory = crate::ssh_hosts::inventory(
            &[
                SshTarget {
                    host: "lola",
                    port: lola.port,
                    key: &keys.key,
                },
                SshTarget {
                    host: "nas",
                    port: nas.port,
                    key: &keys.key,
                },
            ],
            &keys.known_hosts,
        );
        let (app, _repo, _agent) = crate::story::kuma_story(backend, Some(&inventory)).await;

        // The second host: Jellyfin goes to the storage host, nas.
        let id = app.request("deploy jellyfin").await;
        let (_, view) = app.approve_and_wait(&id).await;
        assert_eq!(view.request.status, RequestStatus::Succeeded, "{view:?}");
        assert_eq!(view.tasks[0].status, TaskStatus::Succeeded);

        // The files are on the "hosts", written by root through sudo: the login user cannot
        // even enter the test's private folder, and a file it wrote would be its own.
        let root = &app.homelab_root;
        for file in [
            "lola/stacks/uptime-kuma/compose.yml",
            "lola/stacks/uptime-kuma/monitors.json",
            "nas/stacks/jellyfin/compose.yml",
        ] {
            let meta = std::fs::metadata(root.join(file))
                .unwrap_or_else(|e| panic!("{file} was not written: {e}"));
            assert_eq!(
                meta.uid(),
                0,
                "{file} is root's (become), not {LOGIN_USER}'s"
            );
        }
        // And they came over SSH: each sshd accepted the agent's key for the login user.
        let fingerprint = fingerprint(&keys.key);
        for (name, host) in [("lola", &lola), ("nas", &nas)] {
            let logins = host.accepted_logins();
            assert!(
                !logins.is_empty()
                    && logins.iter().all(|l| {
                        l.starts_with(&format!(
                            "Accepted publickey for {LOGIN_USER} from 127.0.0.1"
                        )) && l.contains(&fingerprint)
                    }),
                "{name}'s sshd shows no login with the agent's key {fingerprint}: {}",
                host.log()
            );
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_host_a_refused_key_and_an_unknown_host_key_fail_their_step_with_what_to_fix()
 {
    if crate::ssh_hosts::available().is_none() {
        return;
    }
    for backend in crate::helpers::backends() {
        let keys = ClientKeys::new();
        // pi's sshd knows only the agent's real key; the inventory hands it another one.
        let pi = SshHost::start(&keys.public_key);
        keys.trust(&pi);
        // lola's sshd would accept the agent, but nobody recorded its host key.
        let lola = SshHost::start(&keys.public_key);
        // nas: its port refuses connections (held bound, never listening, for the whole case).
        let (_refusing, closed) = crate::ssh_hosts::refusing_port();
        let inventory = crate::ssh_hosts::inventory(
            &[
                SshTarget {
                    host: "nas",
                    port: closed,
                    key: &keys.key,
                },
                SshTarget {
                    host: "pi",
                    port: pi.port,
                    key: &keys.wrong_key,
                },
                SshTarget {
                    host: "lola",
                    port: lola.port,
                    key: &keys.key,
                },
            ],
            &keys.known_hosts,
        );
        let scratch = tempfile::tempdir().unwrap();
        let repo = scratch.path().join("homelab");
        crate::audit::copy_dir(&crate::helpers::example_repo(), &repo);
        let _ = std::fs::remove_dir_all(repo.join(".rendered"));
        std::fs::write(repo.join("inventory/hosts.yml"), &inventory).unwrap();
        let app = TestApp::spawn_with(
            backend,
            Options {
                playbooks: Some(repo),
                ..Options::default()
            },
        )
        .await;

        let refused = format!("port {closed}: Connection refused");
        let cases = [
            (
                "deploy jellyfin",
                "nas",
                vec![
                    "nas UNREACHABLE over SSH (connection refused)",
                    &refused,
                    "Check the host is up",
                    "ansible_port for nas",
                ],
            ),
            (
                "deploy pihole",
                "pi",
                vec![
                    "pi UNREACHABLE over SSH (key refused)",
                    "Permission denied (publickey",
                    "~/.ssh/authorized_keys of chiffon-ssh on pi",
                    "ansible_ssh_private_key_file",
                ],
            ),
            (
                "deploy uptime kuma",
                "lola",
                vec![
                    "lola UNREACHABLE over SSH (unknown host key)",
                    "Host key verification failed",
                    "known_hosts",
                ],
            ),
        ];
        for (request, host, expected) in cases {
            let id = app.request(request).await;
            let (events, view) = app.approve_and_wait(&id).await;
            assert_eq!(view.request.status, RequestStatus::Failed, "{request}");
            let task = &view.tasks[0];
            assert_eq!(task.status, TaskStatus::Failed, "{request}");
            let error = task.error.as_deref().unwrap_or_default();
            eprintln!("{request} → {error}");
            for words in expected {
                assert!(
                    error.contains(words),
                    "{request}: {words:?} not in {error:?}"
                );
            }
            // The run's suggestion points at the connection, not at the playbook.
            let rule = if host == "nas" {
                "host-unreachable"
            } else {
                "ssh-login-refused"
            };
            assert!(
                task.suggestions
                    .as_array()
                    .is_some_and(|all| all.iter().any(|s| s["rule"] == rule)),
                "{request}: {}",
                task.suggestions
            );
            // The live log showed the host as unreachable when it happened.
            assert!(
                events
                    .iter()
                    .any(|e| matches!(e, LiveEvent::Execution { event, .. }
                    if event.status.as_deref() == Some("unreachable")
                        && event.host.as_deref() == Some(host))),
                "{request}: {events:?}"
            );
            // Nothing reached the host, and no key's contents reached the error or the events.
            assert!(
                !app.rendered_files()
                    .iter()
                    .any(|f| f.starts_with(&format!("{host}/"))),
                "{request}: {:?}",
                app.rendered_files()
            );
            let seen = format!(
                "{error} {events:?} {:?}",
                app.get(&format!("/api/v1/tasks/{}", task.id)).await
            );
            for body in keys.private_key_bodies() {
                assert!(
                    !seen.contains(&body[..40]),
                    "{request}: a private key leaked"
                );
            }
        }
        assert!(
            pi.log().contains(&format!("user {LOGIN_USER}")),
            "pi's sshd saw the login attempt: {}",
            pi.log()
        );
        app.stop().await;
    }
}

/// `SHA256:…` of the public key beside `key`, as sshd logs it.
fn fingerprint(key: &std::path::Path) -> String {
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .expect("ssh-keygen -lf");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no fingerprint in {text:?}"))
        .to_owned()
}
