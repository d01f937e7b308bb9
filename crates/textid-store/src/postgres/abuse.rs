//! Abuse rows (issue #14 §2, §3): send-budget counters, conversion-watch pauses, the
//! (number, client IP) failure counters and test numbers. The sign-in step reads them with
//! one statement per kind (arrays, not a round trip per counter) and writes the decision's
//! increments with one `INSERT ... SELECT FROM unnest(...)`, in the decision's sorted order,
//! so concurrent steps take the counter rows' locks in one order and cannot deadlock.
//!
//! Concurrency: the budget rows are read without locks (READ COMMITTED), so under
//! concurrent starts a budget may be overshot by at most the number of starts in flight at
//! that moment: a budget is a rate bound, not an exact invariant, and locking a shared row
//! per start would serialise every start of a tenant. The per-tenant and global budgets
//! are written to one of `SHARDS` rows per bucket, chosen at random, so their writers do
//! not queue on one hot row. The (number, client IP) counter is read after the step
//! locked the number's counter row, so it is exact.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use textid_core::abuse::{
    self, AbuseReads, AbuseState, AbuseWrite, ClientCounter, CounterRef, Pause,
};
use textid_core::abuse_view::UsageReads;
use textid_core::audit::{Actor, AuditRecord};
use textid_core::TenantId;

use super::retry::{Replay, Tx};
use super::rows::{count, execute, int, ms, query, query_opt, time};
use super::{audit, PostgresStore};
use crate::{AbuseStore, LockRecord, StoreResult, TestNumber};

/// Loads the rows a step's decision asked for.
pub(super) async fn load(
    tx: &Tx<'_>,
    tenant: TenantId,
    phone: &str,
    reads: &AbuseReads,
) -> StoreResult<AbuseState> {
    let mut state = AbuseState::default();
    if !reads.counters.is_empty() {
        let keys: Vec<&str> = reads.counters.iter().map(|r| r.key.as_str()).collect();
        let buckets: Vec<i64> = reads.counters.iter().map(|r| r.bucket).collect();
        for row in query(
            tx,
            "SELECT key, bucket, SUM(count)::BIGINT FROM send_counters
             WHERE key = ANY($1) AND bucket = ANY($2) GROUP BY key, bucket",
            &[&keys, &buckets],
        )
        .await?
        {
            let r = CounterRef {
                key: row.try_get(0)?,
                bucket: row.try_get(1)?,
            };
            if reads.counters.contains(&r) {
                let n: i64 = row.try_get(2)?;
                state.counts.insert(r, u64::try_from(n).unwrap_or(0));
            }
        }
    }
    if !reads.pauses.is_empty() {
        for row in query(
            tx,
            "SELECT key, until, reason, created_at FROM send_pauses WHERE key = ANY($1)",
            &[&reads.pauses],
        )
        .await?
        {
            state.pauses.push(Pause {
                key: row.try_get(0)?,
                until: time(row.try_get(1)?),
                reason: row.try_get(2)?,
                created_at: time(row.try_get(3)?),
            });
        }
    }
    if let Some(ip) = &reads.client_ip {
        if let Some(r) = query_opt(
            tx,
            "SELECT failures, locked_until FROM client_counters
             WHERE tenant_id = $1 AND phone = $2 AND client_ip = $3",
            &[&tenant.0, &phone, ip],
        )
        .await?
        {
            state.client = ClientCounter {
                failures: count(r.try_get(0)?)?,
                locked_until: r.try_get::<_, Option<i64>>(1)?.map(time),
            };
        }
    }
    if reads.test_number {
        state.test_code = query_opt(
            tx,
            "SELECT code FROM test_numbers WHERE tenant_id = $1 AND phone = $2",
            &[&tenant.0, &phone],
        )
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    }
    Ok(state)
}

/// Writes a step decision's abuse rows.
pub(super) async fn save(
    tx: &Tx<'_>,
    tenant: TenantId,
    phone: &str,
    client_ip: Option<&str>,
    loaded: &AbuseState,
    w: &AbuseWrite,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    if !w.increments.is_empty() {
        let inc = abuse::sorted(w.increments.clone());
        let keys: Vec<&str> = inc.iter().map(|i| i.key.as_str()).collect();
        let buckets: Vec<i64> = inc.iter().map(|i| i.bucket).collect();
        let shards: Vec<i32> = inc.iter().map(|i| int(i.shard)).collect();
        let by: Vec<i64> = inc.iter().map(|i| i64::from(i.by)).collect();
        let expires: Vec<i64> = inc.iter().map(|i| i.expires_at).collect();
        execute(
            tx,
            "INSERT INTO send_counters (key, bucket, shard, count, expires_at)
             SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::INTEGER[], $4::BIGINT[], $5::BIGINT[])
             ON CONFLICT (key, bucket, shard) DO UPDATE SET count = send_counters.count + excluded.count",
            &[&keys, &buckets, &shards, &by, &expires],
        )
        .await?;
    }
    for p in &w.pauses {
        execute(
            tx,
            "INSERT INTO send_pauses (key, tenant_id, until, reason, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key) DO UPDATE SET until = excluded.until, reason = excluded.reason, created_at = excluded.created_at",
            &[&p.key, &tenant.0, &ms(p.until), &p.reason, &ms(p.created_at)],
        )
        .await?;
    }
    if let (Some(c), Some(ip)) = (w.client.as_ref(), client_ip) {
        if *c != loaded.client {
            execute(
                tx,
                "INSERT INTO client_counters (tenant_id, phone, client_ip, failures, locked_until, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, phone, client_ip) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, updated_at = excluded.updated_at",
                &[&tenant.0, &phone, &ip, &int(c.failures), &c.locked_until.map(ms), &ms(at)],
            )
            .await?;
        }
    }
    Ok(())
}

#[async_trait]
impl AbuseStore for PostgresStore {
    async fn locks(&self, tenant: TenantId, now: DateTime<Utc>) -> StoreResult<Vec<LockRecord>> {
        self.read(&(tenant, now), |c, (t, now)| {
            Box::pin(async move {
                query(
                    c,
                    "SELECT phone, NULL::TEXT, consecutive_failures, locked_until FROM phone_counters
                     WHERE tenant_id = $1 AND locked_until > $2
                     UNION ALL
                     SELECT phone, client_ip, failures, locked_until FROM client_counters
                     WHERE tenant_id = $1 AND locked_until > $2
                     ORDER BY 1, 2 NULLS FIRST",
                    &[&t.0, &ms(*now)],
                )
                .await?
                .iter()
                .map(|r| {
                    Ok(LockRecord {
                        phone: r.try_get(0)?,
                        client_ip: r.try_get(1)?,
                        failures: count(r.try_get(2)?)?,
                        locked_until: time(r.try_get(3)?),
                    })
                })
                .collect()
            })
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
        let env = (tenant, phone, actor, now);
        self.write(Replay::Unsafe, &env, |tx, (t, p, actor, now)| {
            Box::pin(async move {
                let a = execute(
                    tx,
                    "UPDATE phone_counters SET consecutive_failures = 0, locked_until = NULL
                     WHERE tenant_id = $1 AND phone = $2 AND (consecutive_failures > 0 OR locked_until IS NOT NULL)",
                    &[&t.0, p],
                )
                .await?;
                let b = execute(
                    tx,
                    "DELETE FROM client_counters WHERE tenant_id = $1 AND phone = $2",
                    &[&t.0, p],
                )
                .await?;
                let cleared = a + b > 0;
                if cleared {
                    audit::insert(tx, &AuditRecord::lock_cleared(*t, p, actor, *now)).await?;
                }
                Ok(cleared)
            })
        })
        .await
    }

    async fn pauses(&self, tenant: TenantId, now: DateTime<Utc>) -> StoreResult<Vec<Pause>> {
        self.read(&(tenant, now), |c, (t, now)| {
            Box::pin(async move {
                query(
                    c,
                    "SELECT key, until, reason, created_at FROM send_pauses
                     WHERE tenant_id = $1 AND until > $2 ORDER BY key",
                    &[&t.0, &ms(*now)],
                )
                .await?
                .iter()
                .map(|r| {
                    Ok(Pause {
                        key: r.try_get(0)?,
                        until: time(r.try_get(1)?),
                        reason: r.try_get(2)?,
                        created_at: time(r.try_get(3)?),
                    })
                })
                .collect()
            })
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
        let env = (tenant, key, actor, now);
        self.write(Replay::Unsafe, &env, |tx, (t, k, actor, now)| {
            Box::pin(async move {
                let Some(row) = query_opt(
                    tx,
                    "DELETE FROM send_pauses WHERE tenant_id = $1 AND key = $2 RETURNING until, reason",
                    &[&t.0, k],
                )
                .await?
                else {
                    return Ok(false);
                };
                let (until, reason): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
                let a = AuditRecord::pause_cleared(*t, k, time(until), &reason, actor, *now);
                audit::insert(tx, &a).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn budget_counters(&self, reads: &UsageReads) -> StoreResult<Vec<(CounterRef, u64)>> {
        self.read(reads, |c, reads| {
            Box::pin(async move {
                query(
                    c,
                    "SELECT key, bucket, SUM(count)::BIGINT FROM send_counters
                     WHERE key ^@ ANY($1::TEXT[]) AND bucket >= $2
                     GROUP BY key, bucket ORDER BY key, bucket",
                    &[&reads.prefixes, &reads.since],
                )
                .await?
                .iter()
                .map(|r| {
                    let n: i64 = r.try_get(2)?;
                    Ok((
                        CounterRef {
                            key: r.try_get(0)?,
                            bucket: r.try_get(1)?,
                        },
                        u64::try_from(n).unwrap_or(0),
                    ))
                })
                .collect()
            })
        })
        .await
    }

    async fn put_test_number(
        &self,
        tenant: TenantId,
        n: &TestNumber,
        actor: &Actor,
    ) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(tenant, n, actor), |tx, (t, n, actor)| {
            Box::pin(async move {
                execute(
                    tx,
                    "INSERT INTO test_numbers (tenant_id, phone, code, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tenant_id, phone) DO UPDATE SET code = excluded.code, created_at = excluded.created_at",
                    &[&t.0, &n.phone, &n.code, &ms(n.created_at)],
                )
                .await?;
                let a = AuditRecord::test_number(*t, &n.phone, true, actor, n.created_at);
                audit::insert(tx, &a).await
            })
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
        let env = (tenant, phone, actor, now);
        self.write(Replay::Unsafe, &env, |tx, (t, p, actor, now)| {
            Box::pin(async move {
                let gone = execute(
                    tx,
                    "DELETE FROM test_numbers WHERE tenant_id = $1 AND phone = $2",
                    &[&t.0, p],
                )
                .await?
                    > 0;
                if gone {
                    let a = AuditRecord::test_number(*t, p, false, actor, *now);
                    audit::insert(tx, &a).await?;
                }
                Ok(gone)
            })
        })
        .await
    }

    async fn test_numbers(&self, tenant: TenantId) -> StoreResult<Vec<TestNumber>> {
        self.read(&tenant, |c, t| {
            Box::pin(async move {
                query(
                    c,
                    "SELECT phone, code, created_at FROM test_numbers WHERE tenant_id = $1 ORDER BY phone",
                    &[&t.0],
                )
                .await?
                .iter()
                .map(|r| {
                    Ok(TestNumber {
                        phone: r.try_get(0)?,
                        code: r.try_get(1)?,
                        created_at: time(r.try_get(2)?),
                    })
                })
                .collect()
            })
        })
        .await
    }
}
