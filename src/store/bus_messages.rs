//! Applied bus messages (`bus_messages`): the ids of messages already applied, so a broker's
//! redelivery is skipped rather than applied twice.

use chrono::{DateTime, Utc};

use crate::store::{Store, ts};

impl Store {
    /// Records that the bus message `message_id` was applied. Returns false if it already was
    /// (a redelivery), so the caller skips it.
    pub async fn remember_message(&self, message_id: &str) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO bus_messages (message_id, received_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(message_id)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets one message id, so a redelivery of a message that could not be applied is
    /// applied then.
    pub async fn forget_message(&self, message_id: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM bus_messages WHERE message_id = $1")
            .bind(message_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets message ids older than `before`; a broker does not redeliver after so long.
    pub async fn forget_messages(&self, before: DateTime<Utc>) -> anyhow::Result<u64> {
        let done = sqlx::query("DELETE FROM bus_messages WHERE received_at < $1")
            .bind(ts(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
