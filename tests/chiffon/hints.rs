//! The owner's hints file (`.chiffon/hints.toml`, fixture `tests/fixtures/layouts/hinted/`):
//! the household's names for services and hosts, a group that is not a service, a service's
//! playbook, tags, hosts and configuration file — used by `resolve` and the planner; a broken
//! file is reported with its line and not used.

use std::path::{Path, PathBuf};

use chiffon::discovery::Repository;
use chiffon::resolve::{Answer, resolve};

fn hinted() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layouts/hinted")
}

#[test]
fn the_households_names_find_the_service_and_the_host() {
    let repository = Repository::discover(&hinted());
    assert_eq!(repository.hints_error, None);
    let restart = resolve(&repository, "restart the film server");
    assert_eq!(restart.service.as_deref(), Some("jellyfin"), "{restart:?}");
    let Answer::Builtin { hosts, .. } = &restart.answer else {
        panic!("{restart:?}");
    };
    assert_eq!(hosts, &["media"]);

    let deploy = resolve(&repository, "deploy the tv shows app on the telly box");
    assert_eq!(deploy.service.as_deref(), Some("sonarr"), "{deploy:?}");
    assert_eq!(deploy.target.as_deref(), Some("filmbox"), "{deploy:?}");
    let Answer::Entrypoint {
        playbook, limit, ..
    } = &deploy.answer
    else {
        panic!("{deploy:?}");
    };
    assert_eq!(playbook, "media.yml");
    assert_eq!(limit.as_deref(), Some("filmbox"));
}

#[test]
fn a_group_the_owner_marked_is_never_a_service() {
    let repository = Repository::discover(&hinted());
    let resolution = resolve(&repository, "restart jellyfin media");
    assert_eq!(
        resolution.target.as_deref(),
        Some("media"),
        "{resolution:?}"
    );
    assert_eq!(
        resolution.service.as_deref(),
        Some("jellyfin"),
        "{resolution:?}"
    );
}

#[test]
fn a_hinted_service_runs_its_playbook_and_changes_its_configuration_file() {
    let repository = Repository::discover(&hinted());
    let configure = resolve(&repository, "change the film server's network settings");
    let Answer::Entrypoint { config, .. } = &configure.answer else {
        panic!("{configure:?}");
    };
    assert_eq!(
        config.as_deref(),
        Some("roles/mediastack/templates/jellyfin-network.xml.j2")
    );

    // Restic is no container discovery can see: the hinted playbook is the entrypoint.
    let backups = resolve(&repository, "set up the backups");
    assert_eq!(backups.service.as_deref(), Some("restic"), "{backups:?}");
    let Answer::Entrypoint {
        playbook,
        tags,
        limit,
        ..
    } = &backups.answer
    else {
        panic!("{backups:?}");
    };
    assert_eq!(playbook, "backup.yml");
    assert_eq!(tags, &["backup"]);
    assert_eq!(limit.as_deref(), Some("backup_hosts"));

    let catalogue = chiffon::catalogue::Catalogue::discover(&hinted()).unwrap();
    let plan = chiffon::planner::plan(
        "restart the film server",
        &catalogue,
        &Default::default(),
        1,
    );
    assert!(plan.open_questions.is_empty(), "{:?}", plan.open_questions);
    assert_eq!(plan.steps[0].service.as_deref(), Some("jellyfin"));
    assert_eq!(
        plan.steps[0].playbook.as_deref(),
        Some("chiffon:ansible/actions/restart.yml")
    );
}

#[test]
fn a_broken_hints_file_is_reported_with_its_line_and_not_used() {
    let temp = tempfile::tempdir().unwrap();
    let repo = temp.path();
    std::fs::create_dir_all(repo.join(".chiffon")).unwrap();
    std::fs::write(repo.join("hosts"), "[media]\nfilmbox\n").unwrap();
    std::fs::write(
        repo.join(".chiffon/hints.toml"),
        "[aliases]\n\"the film server\" = \"jellyfin\"\n[service.jellyfin]\nplaybok = \"media.yml\"\n",
    )
    .unwrap();
    let repository = Repository::discover(repo);
    let error = repository.hints_error.clone().expect("an error");
    assert!(error.contains(".chiffon/hints.toml, line 4"), "{error}");
    assert!(error.contains("playbok"), "{error}");
    assert!(repository.hints.aliases.is_empty(), "half-applied hints");

    let catalogue = chiffon::catalogue::Catalogue::discover(repo).unwrap();
    let plan = chiffon::planner::plan("restart jellyfin", &catalogue, &Default::default(), 1);
    assert!(
        plan.risk
            .reasons
            .iter()
            .any(|r| r.contains("hints are not used") && r.contains("line 4")),
        "{:?}",
        plan.risk.reasons
    );
}
