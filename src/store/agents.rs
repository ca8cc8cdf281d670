//! The agent registry's rows and status changes (`agents`, `agent_events`): what a restarted
//! orchestrator loads back, and each agent's history.

use anyhow::Context;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::{AgentState, AgentType};
use crate::registry::{AgentInfo, Transition};
use crate::store::{FromStoreRow, Store, opt_ts_col, parsed_col, ts, ts_col};

/// Only what is stored; capacity, bookings and running tasks come from the next heartbeat.
impl FromStoreRow for AgentInfo {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self> {
        Ok(AgentInfo {
            id: row.try_get("agent_id")?,
            agent_type: parsed_col(row, "agent_type", AgentType::parse, "agent type")?,
            status: parsed_col(row, "status", AgentState::parse, "agent status")?,
            status_reason: row.try_get("status_reason")?,
            status_since: ts_col(row, "status_since")?,
            host: row.try_get("host")?,
            version: row.try_get("version")?,
            boot_id: row.try_get("boot_id")?,
            last_heartbeat_at: opt_ts_col(row, "last_heartbeat_at")?,
            capacity: None,
            capacity_reported_at: None,
            booked: Default::default(),
            running_tasks: Vec::new(),
        })
    }
}

impl FromStoreRow for Transition {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self> {
        let from: Option<&str> = row.try_get("from_status")?;
        let to: &str = row.try_get("to_status")?;
        Ok(Transition {
            agent_id: row.try_get("agent_id")?,
            // An unknown earlier status reads as none: the change itself is still worth showing.
            from: from.and_then(AgentState::parse),
            to: AgentState::parse(to).context("unknown agent status in the store")?,
            reason: row.try_get("reason")?,
            at: ts_col(row, "at")?,
        })
    }
}

impl Store {
    /// Stores an agent's status change: its row (for a restart) and the change itself.
    pub async fn record_agent_transition(
        &self,
        agent: &AgentInfo,
        change: &Transition,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO agents (agent_id, agent_type, host, version, boot_id, status, status_reason, status_since, last_heartbeat_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (agent_id) DO UPDATE SET agent_type = $2, host = $3, version = $4, boot_id = $5,
                 status = $6, status_reason = $7, status_since = $8, last_heartbeat_at = $9",
        )
        .bind(&agent.id)
        .bind(agent.agent_type.as_str())
        .bind(&agent.host)
        .bind(&agent.version)
        .bind(&agent.boot_id)
        .bind(agent.status.as_str())
        .bind(&agent.status_reason)
        .bind(ts(agent.status_since))
        .bind(agent.last_heartbeat_at.map(ts))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO agent_events (agent_id, from_status, to_status, reason, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&change.agent_id)
        .bind(change.from.map(AgentState::as_str))
        .bind(change.to.as_str())
        .bind(&change.reason)
        .bind(ts(change.at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every agent as last stored.
    pub async fn load_agents(&self) -> anyhow::Result<Vec<AgentInfo>> {
        self.fetch_all_as(sqlx::query(
            "SELECT agent_id, agent_type, host, version, boot_id, status, status_reason, status_since, last_heartbeat_at
             FROM agents ORDER BY agent_id",
        ))
        .await
    }

    /// An agent's status changes, newest first.
    pub async fn agent_events(
        &self,
        agent_id: &str,
        limit: u32,
    ) -> anyhow::Result<Vec<Transition>> {
        self.fetch_all_as(
            sqlx::query(
                "SELECT agent_id, from_status, to_status, reason, at FROM agent_events
                 WHERE agent_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(agent_id)
            .bind(i64::from(limit)),
        )
        .await
    }
}
