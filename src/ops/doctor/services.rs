//! The doctor's checks of what Chiffon talks to: the database and its migrations, RabbitMQ
//! and its event-exchange plugin, the audit repository (writable, and verified against the
//! database), and the agents' last heartbeats against this machine's clock. Nothing here
//! migrates the database or declares anything on the broker.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;

use crate::config::{BusConfig, Database, ServeConfig};
use crate::ops::doctor::Finding;
use crate::store::Store;
use crate::store::maintenance::MigrationState;

/// How long a service may take to answer before it counts as unreachable.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// A heartbeat recorded further than this in the future means two clocks disagree.
const CLOCK_TOLERANCE_S: i64 = 5;

/// The database, then (when it is current) the audit repository verified against it and the
/// agents' clocks.
pub async fn database_and_audit(config: &ServeConfig) -> Vec<Finding> {
    let mut findings = Vec::new();
    let state = migration_state(&config.database).await;
    let current = match &state {
        Ok(Some(state)) => state.applied == state.known,
        _ => false,
    };
    findings.push(database_finding(&config.database, state));
    findings.push(audit_writable(config));
    let audit = config.data_dir.join("audit");
    if !current || !audit.join("HEAD").exists() {
        return findings;
    }
    let store = match &config.database {
        Database::Sqlite(path) => Store::open_sqlite(path).await,
        Database::Postgres(url) => Store::open_postgres(url).await,
    };
    let store = match store {
        Ok(store) => store,
        Err(error) => {
            findings.push(Finding::problem(
                "database",
                format!("cannot open the database: {error:#}"),
                "see the error; `chiffon serve` would fail the same way",
            ));
            return findings;
        }
    };
    findings.push(audit_verified(&store, &audit).await);
    findings.push(clocks(&store, config).await);
    store.close().await;
    findings
}

/// `Ok(None)`: a SQLite database that does not exist yet.
async fn migration_state(database: &Database) -> anyhow::Result<Option<MigrationState>> {
    let state = match database {
        Database::Sqlite(path) if !path.exists() => return Ok(None),
        Database::Sqlite(path) => {
            tokio::time::timeout(
                CONNECT_LIMIT,
                crate::store::maintenance::sqlite_migration_state(path),
            )
            .await
        }
        Database::Postgres(url) => {
            tokio::time::timeout(
                CONNECT_LIMIT,
                crate::store::maintenance::postgres_migration_state(url),
            )
            .await
        }
    };
    state
        .map_err(|_| anyhow::anyhow!("no answer within {} s", CONNECT_LIMIT.as_secs()))?
        .map(Some)
}

fn database_finding(database: &Database, state: anyhow::Result<Option<MigrationState>>) -> Finding {
    const CHECK: &str = "database";
    let name = match database {
        Database::Sqlite(path) => format!("SQLite at {}", path.display()),
        Database::Postgres(_) => "PostgreSQL".to_owned(),
    };
    match state {
        Ok(None) => Finding::ok(
            CHECK,
            format!("{name} does not exist yet; `chiffon serve` creates it"),
        ),
        Err(error) => Finding::problem(
            CHECK,
            format!("cannot reach {name}: {error:#}"),
            match database {
                Database::Sqlite(_) => {
                    "check the file's owner and permissions (the server's user must read and write it and its folder)"
                }
                Database::Postgres(_) => {
                    "start PostgreSQL, and check --database-url (CHIFFON_DATABASE_URL): host, port, user, password and database name; `psql <url> -c 'select 1'` shows the same error"
                }
            },
        ),
        Ok(Some(state)) if state.applied > state.known => Finding::problem(
            CHECK,
            format!(
                "{name} was migrated by a newer Chiffon (migration {}; this binary knows up to {})",
                state.applied, state.known
            ),
            "run the newer chiffon binary, or restore a backup taken before the upgrade (`chiffon restore`)",
        ),
        Ok(Some(state)) if state.applied < state.known => Finding::warning(
            CHECK,
            format!(
                "{name} is at migration {}; the next `chiffon serve` applies {} more (up to {})",
                state.applied,
                state.known - state.applied,
                state.known
            ),
            "take a backup first (`chiffon backup`), then start the server: migrations run at start-up",
        ),
        Ok(Some(state)) => Finding::ok(
            CHECK,
            format!("{name} reachable, migrations current ({})", state.applied),
        ),
    }
}

/// Whether the server's user can write the audit repository (or create it).
pub fn audit_writable(config: &ServeConfig) -> Finding {
    const CHECK: &str = "audit";
    let audit = config.data_dir.join("audit");
    let mut dir = if audit.join("HEAD").exists() {
        audit.join("objects")
    } else {
        config.data_dir.clone()
    };
    while !dir.exists() {
        match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => dir = parent.to_owned(),
            _ => {
                dir = ".".into();
                break;
            }
        }
    }
    match tempfile::Builder::new()
        .prefix(".chiffon-doctor-")
        .tempfile_in(&dir)
    {
        Ok(_) if audit.join("HEAD").exists() => {
            Finding::ok(CHECK, format!("{} is writable", audit.display()))
        }
        Ok(_) => Finding::ok(
            CHECK,
            format!(
                "{} does not exist yet; the server creates it",
                audit.display()
            ),
        ),
        Err(error) => Finding::problem(
            CHECK,
            format!(
                "cannot write in {} ({error}): audit entries would wait in the database and /health would say degraded",
                dir.display()
            ),
            format!(
                "give the server's user the data directory: `chown -R <user> {}` (or run doctor as that user)",
                config.data_dir.display()
            ),
        ),
    }
}

async fn audit_verified(store: &Store, audit: &Path) -> Finding {
    const CHECK: &str = "audit";
    match crate::ops::verify_trail(store, audit).await {
        Ok(report) if report.problems.is_empty() => Finding::ok(
            CHECK,
            format!(
                "audit trail verified: {} commits, {} entries match the database, {} queued",
                report.commits, report.entries_checked, report.queued
            ),
        ),
        Ok(report) => Finding::problem(
            CHECK,
            format!(
                "the audit trail does not match the database ({} problems): {}",
                report.problems.len(),
                report
                    .problems
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            "`chiffon audit verify` lists every problem; if the repository was damaged, restore it from a backup (`chiffon restore`)",
        ),
        Err(error) => Finding::problem(
            CHECK,
            format!("cannot verify the audit trail: {error:#}"),
            "`chiffon audit verify` shows the same error",
        ),
    }
}

/// Two readings of the clocks. Each agent message's id is a UUID v7 stamped by the agent's
/// clock when it sent it, and the orchestrator stores it with its own clock when it applies
/// it: a message applied before it was sent means the agent's clock runs ahead. And a
/// heartbeat recorded in this machine's future means the orchestrator's clock and this one
/// disagree. Either skews "offline after" decisions and the audit trail's timestamps.
async fn clocks(store: &Store, config: &ServeConfig) -> Finding {
    const CHECK: &str = "clocks";
    const FIX: &str = "keep every host's clock in sync with NTP (`timedatectl set-ntp true`, or chrony) on the agents' hosts and the orchestrator's";
    let (agents, messages) = match (store.load_agents().await, store.recent_messages(1000).await) {
        (Ok(agents), Ok(messages)) => (agents, messages),
        (Err(error), _) | (_, Err(error)) => {
            return Finding::warning(
                CHECK,
                format!("cannot read the agents and their messages: {error:#}"),
                "run `chiffon audit verify` to check the database",
            );
        }
    };
    let now = Utc::now();
    let mut ahead: Vec<String> = agents
        .iter()
        .filter_map(|agent| {
            let at = agent.last_heartbeat_at?;
            let by = (at - now).num_seconds();
            (by > CLOCK_TOLERANCE_S).then(|| {
                format!(
                    "agent {}'s last heartbeat is recorded {by} s in this machine's future",
                    agent.id
                )
            })
        })
        .collect();
    let lead = messages
        .iter()
        .filter_map(|(id, received)| Some((sent_at(id)? - *received).num_seconds()))
        .max();
    if let Some(lead) = lead.filter(|s| *s > CLOCK_TOLERANCE_S) {
        ahead.push(format!(
            "an agent message was applied {lead} s before its sender's clock says it was sent: an agent's clock runs ahead of the orchestrator's"
        ));
    }
    if !ahead.is_empty() {
        return Finding::problem(CHECK, ahead.join("; "), FIX);
    }
    Finding::ok(
        CHECK,
        format!(
            "{} agents known, {} recent agent messages: none from the future (tolerance {CLOCK_TOLERANCE_S} s; offline after {} s of silence)",
            agents.len(),
            messages.len(),
            config.agent_thresholds.offline_after.as_secs()
        ),
    )
}

/// The time in a UUID v7 message id: when its sender made it, by the sender's clock.
fn sent_at(message_id: &str) -> Option<chrono::DateTime<Utc>> {
    let (seconds, nanos) = uuid::Uuid::parse_str(message_id)
        .ok()?
        .get_timestamp()?
        .to_unix();
    chrono::DateTime::from_timestamp(i64::try_from(seconds).ok()?, nanos)
}

/// RabbitMQ reachable, with the event exchange that makes a killed agent show offline in
/// about a second instead of after `agent_offline_s`.
pub async fn rabbitmq(config: &ServeConfig) -> Finding {
    const CHECK: &str = "rabbitmq";
    let BusConfig::Amqp { url, options } = &config.bus else {
        return Finding::ok(
            CHECK,
            "not used: the in-process bus (agents run inside the server)",
        );
    };
    let host = url.rsplit('@').next().unwrap_or_default();
    let probe = tokio::time::timeout(
        CONNECT_LIMIT,
        crate::bus::amqp::probe_event_exchange(url, options.ca_file.as_deref()),
    )
    .await;
    match probe {
        Err(_) => Finding::problem(
            CHECK,
            format!(
                "RabbitMQ at {host} did not answer within {} s",
                CONNECT_LIMIT.as_secs()
            ),
            "start RabbitMQ (`systemctl start rabbitmq-server`) and check --amqp-url (CHIFFON_AMQP_URL): host, port, user, password, vhost",
        ),
        Ok(Err(error)) => Finding::problem(
            CHECK,
            format!("cannot reach RabbitMQ: {error:#}"),
            "start RabbitMQ (`systemctl start rabbitmq-server`) and check --amqp-url (CHIFFON_AMQP_URL): host, port, user, password, vhost",
        ),
        Ok(Ok(false)) => Finding::problem(
            CHECK,
            format!(
                "RabbitMQ at {host} has no event exchange: a killed agent is noticed only after {} s of silence instead of about 1 s",
                config.agent_thresholds.offline_after.as_secs()
            ),
            "`rabbitmq-plugins enable rabbitmq_event_exchange` on the broker (no restart needed; in containers, list it in enabled_plugins as deploy/rabbitmq does)",
        ),
        Ok(Ok(true)) => Finding::ok(
            CHECK,
            format!("RabbitMQ at {host} reachable, event exchange plugin enabled"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_tells_when_its_sender_made_it() {
        let before = Utc::now() - chrono::Duration::milliseconds(1);
        let id = uuid::Uuid::now_v7().to_string();
        let at = sent_at(&id).unwrap();
        assert!(at >= before && at <= Utc::now(), "{at}");
        assert_eq!(sent_at("not-a-uuid"), None);
        assert_eq!(sent_at(&uuid::Uuid::nil().to_string()), None);
    }
}
