//! Abuse rows (issue #14 §2, §3): the send-budget counters, conversion-watch pauses, the
//! (number, client IP) failure counters and test numbers. The sign-in step loads what
//! `textid_core::abuse::reads` names and writes the decision's `AbuseWrite` in its own
//! transaction (`load`, `save`); the `AbuseStore` methods are the operator's view.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use textid_core::abuse::{
    self, AbuseReads, AbuseState, AbuseWrite, ClientCounter, CounterRef, Pause,
};
use textid_core::abuse_view::UsageReads;
use textid_core::audit::{Actor, AuditRecord};
use textid_core::TenantId;

use super::rows::{ms, time};
use super::{audit, SqliteStore};
use crate::{AbuseStore, LockRecord, StoreResult, TestNumber};

/// Loads the rows a step's decision asked for.
pub(super) fn load(
    c: &Connection,
    tenant: TenantId,
    phone: &str,
    reads: &AbuseReads,
) -> StoreResult<AbuseState> {
    let mut state = AbuseState::default();
    if !reads.counters.is_empty() {
        let mut stmt = c.prepare_cached(
            "SELECT COALESCE(SUM(count), 0) FROM send_counters WHERE key = ?1 AND bucket = ?2",
        )?;
        for r in &reads.counters {
            let n: i64 = stmt.query_row(params![r.key, r.bucket], |row| row.get(0))?;
            state
                .counts
                .insert(r.clone(), u64::try_from(n).unwrap_or(0));
        }
    }
    if !reads.pauses.is_empty() {
        let mut stmt = c.prepare_cached(
            "SELECT key, until, reason, created_at FROM send_pauses WHERE key = ?1",
        )?;
        for key in &reads.pauses {
            if let Some(p) = stmt
                .query_row([key], |r| {
                    Ok(Pause {
                        key: r.get(0)?,
                        until: time(r.get(1)?),
                        reason: r.get(2)?,
                        created_at: time(r.get(3)?),
                    })
                })
                .optional()?
            {
                state.pauses.push(p);
            }
        }
    }
    if let Some(ip) = &reads.client_ip {
        state.client = c
            .prepare_cached(
                "SELECT failures, locked_until FROM client_counters
                 WHERE tenant_id = ?1 AND phone = ?2 AND client_ip = ?3",
            )?
            .query_row(params![tenant.to_string(), phone, ip], |r| {
                Ok(ClientCounter {
                    failures: r.get(0)?,
                    locked_until: r.get::<_, Option<i64>>(1)?.map(time),
                })
            })
            .optional()?
            .unwrap_or_default();
    }
    if reads.test_number {
        state.test_code = c
            .prepare_cached("SELECT code FROM test_numbers WHERE tenant_id = ?1 AND phone = ?2")?
            .query_row(params![tenant.to_string(), phone], |r| r.get(0))
            .optional()?;
    }
    Ok(state)
}

/// Adds increments to the send counters, in row order.
/// Adds a step's budget increments, in their fixed order, as few statements as can carry
/// them (one for a step's usual ten or so): a statement's own cost (its reset, its
/// statement journal) is paid once, not per counter.
fn add_increments(tx: &Transaction<'_>, increments: &[abuse::Increment]) -> StoreResult<()> {
    for chunk in abuse::sorted(increments.to_vec()).chunks(INCREMENTS_PER_STATEMENT) {
        let mut stmt = tx.prepare_cached(&ADD_INCREMENTS[chunk.len() - 1])?;
        let mut at = 1;
        for i in chunk {
            stmt.raw_bind_parameter(at, &i.key)?;
            stmt.raw_bind_parameter(at + 1, i.bucket)?;
            stmt.raw_bind_parameter(at + 2, i.shard)?;
            stmt.raw_bind_parameter(at + 3, i.by)?;
            stmt.raw_bind_parameter(at + 4, i.expires_at)?;
            at += 5;
        }
        stmt.raw_execute()?;
    }
    Ok(())
}

/// The most increments one statement adds (5 parameters each).
const INCREMENTS_PER_STATEMENT: usize = 32;

/// `ADD_INCREMENTS[n - 1]` adds `n` increments (a key twice in one statement is added
/// twice: SQLite applies the rows in order, each conflict seeing the rows before it).
static ADD_INCREMENTS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    (1..=INCREMENTS_PER_STATEMENT)
        .map(|n| {
            let rows = vec!["(?, ?, ?, ?, ?)"; n].join(", ");
            format!(
                "INSERT INTO send_counters (key, bucket, shard, count, expires_at) VALUES {rows}
                 ON CONFLICT (key, bucket, shard) DO UPDATE SET count = count + excluded.count"
            )
        })
        .collect()
});

/// Writes a step decision's abuse rows.
pub(super) fn save(
    tx: &Transaction<'_>,
    tenant: TenantId,
    phone: &str,
    client_ip: Option<&str>,
    loaded: &AbuseState,
    w: &AbuseWrite,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    add_increments(tx, &w.increments)?;
    for p in &w.pauses {
        tx.prepare_cached(
            "INSERT INTO send_pauses (key, tenant_id, until, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET until = excluded.until, reason = excluded.reason, created_at = excluded.created_at",
        )?
        .execute(params![p.key, tenant.to_string(), ms(p.until), p.reason, ms(p.created_at)])?;
    }
    if let (Some(c), Some(ip)) = (w.client.as_ref(), client_ip) {
        if *c != loaded.client {
            tx.prepare_cached(
                "INSERT INTO client_counters (tenant_id, phone, client_ip, failures, locked_until, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (tenant_id, phone, client_ip) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, updated_at = excluded.updated_at",
            )?
            .execute(params![tenant.to_string(), phone, ip, c.failures, c.locked_until.map(ms), ms(at)])?;
        }
    }
    Ok(())
}

#[async_trait]
impl AbuseStore for SqliteStore {
    async fn add_counters(&self, increments: Vec<abuse::Increment>) -> StoreResult<()> {
        if increments.is_empty() {
            return Ok(());
        }
        self.write(move |tx| add_increments(tx, &increments)).await
    }

    async fn locks(&self, tenant: TenantId, now: DateTime<Utc>) -> StoreResult<Vec<LockRecord>> {
        self.read(move |c| {
            let mut out = Vec::new();
            let mut stmt = c.prepare_cached(
                "SELECT phone, NULL, consecutive_failures, locked_until FROM phone_counters
                 WHERE tenant_id = ?1 AND locked_until > ?2
                 UNION ALL
                 SELECT phone, client_ip, failures, locked_until FROM client_counters
                 WHERE tenant_id = ?1 AND locked_until > ?2
                 ORDER BY 1, 2",
            )?;
            let rows = stmt.query_map(params![tenant.to_string(), ms(now)], |r| {
                Ok(LockRecord {
                    phone: r.get(0)?,
                    client_ip: r.get(1)?,
                    failures: r.get(2)?,
                    locked_until: time(r.get(3)?),
                })
            })?;
            for r in rows {
                out.push(r?);
            }
            Ok(out)
        })
        .await
    }

    async fn clear_lock(
        &self,
        tenant: TenantId,
        phone: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (phone, actor) = (phone.to_string(), actor.clone());
        self.write(move |tx| {
            let a = tx.execute(
                "UPDATE phone_counters SET consecutive_failures = 0, locked_until = NULL
                 WHERE tenant_id = ?1 AND phone = ?2 AND (consecutive_failures > 0 OR locked_until IS NOT NULL)",
                params![tenant.to_string(), phone],
            )?;
            let b = tx.execute(
                "DELETE FROM client_counters WHERE tenant_id = ?1 AND phone = ?2",
                params![tenant.to_string(), phone],
            )?;
            let cleared = a + b > 0;
            if cleared {
                audit::insert(tx, &AuditRecord::lock_cleared(tenant, &phone, &actor, now))?;
            }
            Ok(cleared)
        })
        .await
    }

    async fn pauses(&self, tenant: TenantId, now: DateTime<Utc>) -> StoreResult<Vec<Pause>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT key, until, reason, created_at FROM send_pauses
                 WHERE tenant_id = ?1 AND until > ?2 ORDER BY key",
            )?;
            let rows = stmt.query_map(params![tenant.to_string(), ms(now)], |r| {
                Ok(Pause {
                    key: r.get(0)?,
                    until: time(r.get(1)?),
                    reason: r.get(2)?,
                    created_at: time(r.get(3)?),
                })
            })?;
            rows.map(|r| r.map_err(Into::into)).collect()
        })
        .await
    }

    async fn clear_pause(
        &self,
        tenant: TenantId,
        key: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (key, actor) = (key.to_string(), actor.clone());
        self.write(move |tx| {
            let gone: Option<(i64, String)> = tx
                .prepare_cached(
                    "DELETE FROM send_pauses WHERE tenant_id = ?1 AND key = ?2 RETURNING until, reason",
                )?
                .query_row(params![tenant.to_string(), key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((until, reason)) = gone else {
                return Ok(false);
            };
            let a = AuditRecord::pause_cleared(tenant, &key, time(until), &reason, &actor, now);
            audit::insert(tx, &a)?;
            Ok(true)
        })
        .await
    }

    async fn budget_counters(&self, reads: &UsageReads) -> StoreResult<Vec<(CounterRef, u64)>> {
        let reads = reads.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT key, bucket, SUM(count) FROM send_counters
                 WHERE substr(key, 1, length(?1)) = ?1 AND bucket >= ?2
                 GROUP BY key, bucket ORDER BY key, bucket",
            )?;
            let mut out = Vec::new();
            for p in &reads.prefixes {
                let rows = stmt.query_map(params![p, reads.since], |r| {
                    Ok((
                        CounterRef {
                            key: r.get(0)?,
                            bucket: r.get(1)?,
                        },
                        u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    ))
                })?;
                for r in rows {
                    out.push(r?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn put_test_number(
        &self,
        tenant: TenantId,
        n: &TestNumber,
        actor: &Actor,
    ) -> StoreResult<()> {
        let (n, actor) = (n.clone(), actor.clone());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO test_numbers (tenant_id, phone, code, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant_id, phone) DO UPDATE SET code = excluded.code, created_at = excluded.created_at",
                params![tenant.to_string(), n.phone, n.code, ms(n.created_at)],
            )?;
            let a = AuditRecord::test_number(tenant, &n.phone, true, &actor, n.created_at);
            audit::insert(tx, &a)
        })
        .await
    }

    async fn delete_test_number(
        &self,
        tenant: TenantId,
        phone: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (phone, actor) = (phone.to_string(), actor.clone());
        self.write(move |tx| {
            let gone = tx.execute(
                "DELETE FROM test_numbers WHERE tenant_id = ?1 AND phone = ?2",
                params![tenant.to_string(), phone],
            )? > 0;
            if gone {
                audit::insert(
                    tx,
                    &AuditRecord::test_number(tenant, &phone, false, &actor, now),
                )?;
            }
            Ok(gone)
        })
        .await
    }

    async fn test_numbers(&self, tenant: TenantId) -> StoreResult<Vec<TestNumber>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT phone, code, created_at FROM test_numbers WHERE tenant_id = ?1 ORDER BY phone",
            )?;
            let rows = stmt.query_map([tenant.to_string()], |r| {
                Ok(TestNumber {
                    phone: r.get(0)?,
                    code: r.get(1)?,
                    created_at: time(r.get(2)?),
                })
            })?;
            rows.map(|r| r.map_err(Into::into)).collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SqliteOptions, SqliteStore};
    use super::*;

    /// Increments beyond one statement's worth go out in several, and a counter named
    /// twice is added twice.
    #[tokio::test]
    async fn every_increment_is_added_however_many_a_step_makes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("a.db"), SqliteOptions::default()).unwrap();
        let inc = |key: String, by| abuse::Increment {
            key,
            bucket: 60_000,
            shard: 0,
            by,
            expires_at: 180_000,
        };
        let mut increments: Vec<_> = (0..INCREMENTS_PER_STATEMENT + 8)
            .map(|i| inc(format!("k{i:02}"), 1))
            .collect();
        increments.push(inc("k00".into(), 2));
        for _ in 0..2 {
            let increments = increments.clone();
            store
                .write(move |tx| add_increments(tx, &increments))
                .await
                .unwrap();
        }
        let counts: Vec<(String, i64)> = store
            .read(|c| {
                let mut stmt = c.prepare("SELECT key, count FROM send_counters ORDER BY key")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
            .unwrap();
        assert_eq!(counts.len(), INCREMENTS_PER_STATEMENT + 8);
        assert_eq!(counts[0], ("k00".to_string(), 6));
        assert!(counts[1..].iter().all(|(_, n)| *n == 2), "{counts:?}");
    }
}
