//! Housekeeping: purging expired rows, readiness, and the change feed. Other processes
//! on the same file (the CLI, a second server) bump `cache_versions` in their
//! transactions; a watcher thread compares the versions once a second and tells the
//! subscribers, so a key rotated by the CLI reaches the server within a second.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction};
use tokio::sync::broadcast;

use super::rows::ms;
use super::{open_connection, SqliteStore};
use crate::purge::{statement, Rule, ENDED, LOGS};
use crate::{Changed, MaintenanceStore, StoreResult};

const WATCH_EVERY: Duration = Duration::from_secs(1);

fn purge(tx: &Transaction<'_>, rules: &[Rule], before: DateTime<Utc>) -> StoreResult<u64> {
    let b = ms(before);
    let mut n = 0;
    for rule in rules {
        n += tx.execute(&statement(rule, "?1"), [b])?;
    }
    Ok(n as u64)
}

fn versions(c: &Connection) -> StoreResult<HashMap<String, i64>> {
    let mut stmt = c.prepare_cached("SELECT topic, version FROM cache_versions")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Polls the versions until the store is dropped.
fn watch(
    conn: Connection,
    alive: std::sync::Weak<super::writer::Writer>,
    tx: broadcast::Sender<Changed>,
) {
    let mut seen = versions(&conn).unwrap_or_default();
    while alive.strong_count() > 0 {
        std::thread::sleep(WATCH_EVERY);
        let Ok(now) = versions(&conn) else {
            let _ = tx.send(Changed::Everything);
            continue;
        };
        for (topic, v) in &now {
            if seen.get(topic) != Some(v) {
                if let Some(c) = Changed::parse(topic) {
                    let _ = tx.send(c);
                }
            }
        }
        seen = now;
    }
}

impl SqliteStore {
    /// Tells this process's subscribers at once (other processes see the version bump).
    pub(super) fn changed(&self, c: Changed) {
        let _ = self.changes.send(c);
    }
}

#[async_trait]
impl MaintenanceStore for SqliteStore {
    async fn purge(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |tx| {
            let n = purge(tx, ENDED, before)?;
            // SQLite's advice for long-lived connections: refresh the planner's statistics
            // of tables that changed much since (a directory grown through the API).
            tx.execute_batch("PRAGMA analysis_limit = 0; PRAGMA optimize;")?;
            Ok(n)
        })
        .await
    }

    async fn purge_logs(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |tx| purge(tx, LOGS, before)).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.lookup(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn database_time(&self) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(None)
    }

    fn commits(&self) -> Option<u64> {
        Some(self.writer.commits())
    }

    fn subscribe(&self) -> broadcast::Receiver<Changed> {
        let rx = self.changes.subscribe();
        let this = self.clone();
        self.watching.call_once(move || {
            let Ok(conn) = open_connection(&this.path, &this.options) else {
                tracing::warn!("sqlite: could not open a connection to watch for changes");
                return;
            };
            let alive = Arc::downgrade(&this.writer);
            let tx = this.changes.clone();
            drop(this);
            let spawned = std::thread::Builder::new()
                .name("textid-sqlite-watch".into())
                .spawn(move || watch(conn, alive, tx));
            if spawned.is_err() {
                tracing::warn!("sqlite: could not start the change watcher");
            }
        });
        rx
    }
}
