//! Housekeeping: purging old rows (idempotent, so safe to run again, and safe on several
//! nodes at once), readiness, the database clock, and the change feed (see `listen`).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use super::retry::{Replay, Tx};
use super::rows::{execute, ms, query_opt};
use super::{listen, PostgresStore};
use crate::purge::{statement, Rule, ENDED, LOGS};
use crate::{Changed, MaintenanceStore, StoreError, StoreResult};

/// How long readiness may take.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

async fn purge(tx: &Tx<'_>, rules: &[Rule], before: DateTime<Utc>) -> StoreResult<u64> {
    let b = ms(before);
    let mut n = 0;
    for rule in rules {
        n += execute(tx, &statement(rule, "$1"), &[&b]).await?;
    }
    Ok(n)
}

/// Readiness failed: the answer carries why.
fn not_ready(why: &str) -> StoreError {
    StoreError::Unavailable(why.to_string().into())
}

#[async_trait]
impl MaintenanceStore for PostgresStore {
    async fn purge(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.write(Replay::Safe, &before, |tx, b| {
            Box::pin(purge(tx, ENDED, *b))
        })
        .await
    }

    async fn purge_logs(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.write(Replay::Safe, &before, |tx, b| Box::pin(purge(tx, LOGS, *b)))
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        let probe = self.read(&(), |c, ()| {
            Box::pin(async move {
                // A demoted primary still answers; it cannot serve a write transaction.
                // (Unavailable takes the connection out of the pool: the next try opens a
                // new one, which follows `target_session_attrs` to the primary.)
                let standby: bool = query_opt(c, "SELECT pg_is_in_recovery()", &[])
                    .await?
                    .ok_or_else(|| not_ready("no answer"))?
                    .try_get(0)?;
                if standby {
                    return Err(not_ready("the database is a standby (read-only)"));
                }
                Ok(())
            })
        });
        tokio::time::timeout(PING_TIMEOUT, probe)
            .await
            .map_err(|_| not_ready("no answer within 2 s"))?
    }

    async fn database_time(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.read(&(), |c, ()| {
            Box::pin(async move {
                let row = c.query_one("SELECT clock_timestamp()", &[]).await?;
                Ok(Some(row.try_get(0)?))
            })
        })
        .await
    }

    fn subscribe(&self) -> broadcast::Receiver<Changed> {
        let rx = self.inner.changes.subscribe();
        let mut slot = self
            .inner
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    let task = runtime.spawn(listen::run(
                        self.inner.config.clone(),
                        self.inner.options.tls,
                        self.inner
                            .config
                            .get_connect_timeout()
                            .copied()
                            .unwrap_or(self.inner.options.connect_timeout),
                        self.inner.changes.clone(),
                    ));
                    *slot = Some(task.abort_handle());
                }
                Err(_) => tracing::warn!(
                    "postgres: subscribe outside a tokio runtime; changes of other nodes are not heard"
                ),
            }
        }
        rx
    }
}
