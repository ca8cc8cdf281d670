//! The `chiffon` CLI against a running server, as a user types it.

use std::process::Output;

use crate::helpers::{KUMA_REQUEST, TestApp};

async fn chiffon(app: &TestApp, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .arg("--server")
        .arg(&app.address)
        .args(args)
        .env_remove("CHIFFON_SERVER")
        .output()
        .await
        .expect("run chiffon")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_approve_follow_and_status_from_the_command_line() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);

        let planned = chiffon(&app, &["request", KUMA_REQUEST]).await;
        let out = text(&planned);
        assert!(planned.status.success(), "{out}");
        for expected in [
            "awaiting approval",
            "1. Deploy Uptime Kuma",
            "2. Update Uptime Kuma's configuration",
            "kuma-deployment.yml",
            "kuma-config-update.yml",
            "depends on: step 1",
            "Risk: MEDIUM",
            "never run through Chiffon",
            "Approval needed",
        ] {
            assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
        }
        let id = out
            .split_whitespace()
            .find(|w| w.starts_with("req_"))
            .expect("the plan names its request id")
            .to_owned();
        assert!(
            app.rendered_files().is_empty(),
            "nothing runs before approval"
        );

        let followed = chiffon(&app, &["approve", &id, "--follow"]).await;
        let out = text(&followed);
        assert!(followed.status.success(), "{out}");
        for expected in [
            "▶ step 1 running: Deploy Uptime Kuma",
            "changed   lola       compose_stack : Render the Uptime Kuma compose file",
            // No container engine answers here: the deployment wrote files, started nothing,
            // and says so.
            "⚠ step 1 succeeded with 2 warnings: lola ok=",
            "✔ step 2 succeeded",
            "Summary: request",
            "done with warnings",
            "⚠ Uptime Kuma was not started on lola",
            "⚠ A key task was skipped on lola: Run docker compose up for Uptime Kuma",
            "audit commit ",
            "Execution time:",
        ] {
            assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
        }
        // Each step's end is printed once, though the server announces it again when its
        // audit commit lands.
        for once in ["step 1 succeeded", "step 2 succeeded"] {
            assert_eq!(out.matches(once).count(), 1, "{once:?} in:\n{out}");
        }
        // The audit hint is a command to paste, with the server's real audit repository.
        let audit_dir = app.data_dir.join("audit");
        assert!(
            out.contains(&format!(
                "Audit trail: git -C {} show ",
                audit_dir.display()
            )),
            "{out}"
        );
        // The audit commit ids shown are the real ones.
        let view = app.client.get_request(&id).await.unwrap();
        for task in &view.tasks {
            let commit = task.audit_commit.as_deref().unwrap();
            assert!(out.contains(&commit[..12]), "{commit} not shown in:\n{out}");
        }

        let status = chiffon(&app, &["status", &id]).await;
        let out = text(&status);
        assert!(
            status.status.success() && out.contains("[done with warnings]"),
            "{out}"
        );

        let listed = chiffon(&app, &["status"]).await;
        let listed = text(&listed);
        assert!(listed.contains(&id));
        // A header, and statuses in words.
        assert!(listed.starts_with("ID "), "{listed}");
        assert!(
            listed.lines().next().unwrap().contains("STATUS"),
            "{listed}"
        );
        assert!(!listed.contains("awaiting_approval"), "{listed}");
        // The run that warned is listed as such, not as a plain success.
        assert!(
            listed
                .lines()
                .any(|l| l.starts_with(&id) && l.contains("done with warnings")),
            "{listed}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_errors_and_usage_have_the_documented_exit_codes() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app.request(KUMA_REQUEST).await;
        let rejected = chiffon(&app, &["reject", &id, "--reason", "wrong week"]).await;
        assert!(rejected.status.success(), "{}", text(&rejected));
        assert!(text(&rejected).contains("Nothing was run"));

        let again = chiffon(&app, &["approve", &id]).await;
        assert_eq!(again.status.code(), Some(1));
        assert!(
            text(&again).contains("only a request awaiting approval can be approved"),
            "{}",
            text(&again)
        );

        let unknown = chiffon(&app, &["status", "req_0000000000000000000000000000dead"]).await;
        assert_eq!(unknown.status.code(), Some(1));
        assert!(text(&unknown).contains("not_found"), "{}", text(&unknown));

        let usage = chiffon(&app, &["approve"]).await;
        assert_eq!(usage.status.code(), Some(2));

        let unreachable = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
            .args(["--server", "http://127.0.0.1:9", "status"])
            .output()
            .await
            .unwrap();
        assert_eq!(unreachable.status.code(), Some(1));
        assert!(
            text(&unreachable).contains("is `chiffon serve` running?"),
            "{}",
            text(&unreachable)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modify_names_what_the_new_plan_version_changed() {
    for app in TestApp::each().await {
        eprintln!("scenario on {:?}", app.backend);
        let id = app.request(KUMA_REQUEST).await;
        let modified = chiffon(&app, &["modify", &id, "drop pihole"]).await;
        let out = text(&modified);
        assert!(modified.status.success(), "{out}");
        assert!(out.contains("What changed from v1:"), "{out}");
        assert!(out.contains("  Removed: Pi-hole ("), "{out}");
        assert!(!out.contains("Added:"), "{out}");
        // The plan header speaks the web page's words.
        assert!(
            out.contains("Made by Chiffon's built-in rules (no AI)."),
            "{out}"
        );
    }
}
