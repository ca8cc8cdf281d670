//! Services are undone too (docs/revert.md): with real `ansible-playbook` and a stand-in for
//! systemctl (`helpers::bin_with_recording_systemctl`; these machines run no systemd), a run
//! that writes a unit file and starts and enables its service records the service's state
//! before (systemd's own answer, read by Ansible's systemd module before it acts) and after;
//! its undo stops and disables the service while the unit file is still there, then removes
//! the file, as a person would find it: stopped, disabled, gone. A service of the owner's that
//! the run stopped is started again once the files are back.

use chiffon::api::RevertBody;
use chiffon::model::RequestStatus;

use crate::helpers::{KUMA_REQUEST, Options, TestApp, backends};

const UNIT: &str = "kuma-backup.service";

/// A play the example homelab's Kuma deployment gains in the copy: a backup service.
const BACKUP_PLAY: &str = r#"
- name: Keep Uptime Kuma backed up on the monitoring host
  hosts: monitoring
  gather_facts: false
  tasks:
    - name: Create the unit folder
      ansible.builtin.file:
        path: "{{ homelab_root }}/{{ inventory_hostname }}/systemd"
        state: directory
        mode: "0755"

    - name: Write the backup service's unit file
      ansible.builtin.copy:
        dest: "{{ homelab_root }}/{{ inventory_hostname }}/systemd/kuma-backup.service"
        content: |
          [Unit]
          Description=Back up Uptime Kuma

          [Service]
          ExecStart=/usr/local/bin/kuma-backup

          [Install]
          WantedBy=multi-user.target
        mode: "0644"

    - name: Start and enable the backup service
      ansible.builtin.systemd_service:
        name: kuma-backup.service
        state: started
        enabled: true

    - name: Stop the old status page
      ansible.builtin.systemd_service:
        name: statuspage.service
        state: stopped
"#;

/// The owner's service, running and enabled before the run, which the run stops.
const OWN: &str = "statuspage.service";

/// `systemd.state`'s line for `unit`: "NAME ACTIVE ENABLED".
fn unit_state(bin: &std::path::Path, unit: &str) -> String {
    std::fs::read_to_string(bin.join("systemd.state"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.split(' ').next() == Some(unit))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_the_run_started_and_enabled_is_stopped_and_disabled_before_its_unit_file_goes() {
    for backend in backends() {
        eprintln!("scenario on {backend:?}");
        let scratch = tempfile::tempdir().unwrap();
        let repo = crate::helpers::example_with_play(scratch.path(), BACKUP_PLAY);
        let (ansible, bin) = crate::helpers::bin_with_recording_systemctl(scratch.path()).await;
        let app = TestApp::spawn_with(
            backend,
            Options {
                playbooks: Some(repo.clone()),
                ansible_playbook: Some(ansible),
                ..Options::default()
            },
        )
        .await;
        let units = app.homelab_root.join("lola/systemd");
        std::fs::write(bin.join("unit-dir"), units.display().to_string()).unwrap();
        std::fs::create_dir_all(&units).unwrap();
        std::fs::write(
            units.join(OWN),
            "[Service]\nExecStart=/usr/bin/statuspage\n",
        )
        .unwrap();
        std::fs::write(bin.join("systemd.state"), format!("{OWN} active enabled\n")).unwrap();

        let id = app.request(KUMA_REQUEST).await;
        let (_, run) = app.approve_and_wait(&id).await;
        assert_eq!(
            run.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            run.tasks
        );
        assert_eq!(unit_state(&bin, UNIT), format!("{UNIT} active enabled"));
        assert_eq!(unit_state(&bin, OWN), format!("{OWN} inactive enabled"));

        // What the run changed: the service, stopped and disabled before, started and enabled.
        let task = run
            .tasks
            .iter()
            .find(|t| t.playbook.as_deref() == Some("kuma-deployment.yml"))
            .unwrap();
        let changes = app.client.task_changes(task.id.as_str()).await.unwrap();
        let service = changes.hosts[0]
            .changes
            .iter()
            .find(|c| c.change.kind == "service")
            .unwrap_or_else(|| panic!("no service recorded: {changes:?}"));
        assert_eq!(service.change.target, UNIT);
        let before = service.change.before.clone().unwrap();
        let after = service.change.after.clone().unwrap();
        assert_eq!(
            (before.state.as_deref(), before.enabled),
            (Some("stopped"), Some(false))
        );
        assert_eq!(
            (after.state.as_deref(), after.enabled),
            (Some("started"), Some(true))
        );
        assert!(service.change.reversible, "{service:?}");
        let out = app.chiffon(&["changes", &id]).await;
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(
            shown.contains(&format!(
                "service {UNIT} [ansible.builtin.systemd_service] stopped, disabled → started, enabled — can undo"
            )),
            "{shown}"
        );

        // The undo says what it does to the service, and when.
        let undo = app
            .client
            .revert(&id, &RevertBody::default())
            .await
            .unwrap();
        let reasons = undo.request.plan.risk.reasons.join("\n");
        assert!(
            reasons.contains(&format!(
                "on lola: stops service {UNIT} and disables it at boot (as it was before the run), before the files are put back"
            )),
            "{reasons}"
        );
        assert!(
            reasons.contains(&format!(
                "on lola: starts service {OWN} (as it was before the run), after the files are put back"
            )),
            "{reasons}"
        );
        let before_undo = std::fs::read_to_string(bin.join("systemctl.log")).unwrap();
        let (_, done) = app.approve_and_wait(undo.request.id.as_str()).await;
        assert_eq!(
            done.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            done.tasks
        );

        // As a person finds it: stopped, disabled, its unit file gone; the owner's service
        // running again, its unit file untouched.
        assert_eq!(unit_state(&bin, UNIT), format!("{UNIT} inactive disabled"));
        assert_eq!(unit_state(&bin, OWN), format!("{OWN} active enabled"));
        assert_eq!(app.rendered_files(), [format!("lola/systemd/{OWN}")]);
        // Stopped and disabled while its unit file was there (the stand-in, like systemd,
        // refuses a unit it cannot find), then systemd told to read the files again, then the
        // owner's service started.
        let log = std::fs::read_to_string(bin.join("systemctl.log")).unwrap();
        let calls: Vec<&str> = log[before_undo.len()..].lines().collect();
        let at = |call: &str| {
            calls
                .iter()
                .position(|c| *c == call)
                .unwrap_or_else(|| panic!("no `systemctl {call}` in {calls:?}"))
        };
        assert!(
            at(&format!("disable {UNIT}")) < at("daemon-reload")
                && at(&format!("stop {UNIT}")) < at("daemon-reload")
                && at("daemon-reload") < at(&format!("start {OWN}")),
            "{calls:?}"
        );
        assert!(
            !calls
                .iter()
                .any(|c| *c == format!("start {UNIT}") || c.starts_with("enable ")),
            "{calls:?}"
        );
        app.stop().await;
    }
}
