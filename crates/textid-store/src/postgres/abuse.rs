//! Abuse rows (issue #14 §2, §3): send-budget counters, conversion-watch pauses, the
//! (number, client IP) failure counters and test numbers. The sign-in step reads them with
//! one statement per kind (arrays, not a round trip per counter). The decision's increments
//! are written after the step committed, by the node's counter writer (module `counters`),
//! with one `INSERT ... SELECT FROM unnest(...)` in the rows' sorted order, so concurrent
//! writers take the counter rows' locks in one order and cannot deadlock.
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
use textid_core::abuse::{AbuseReads, AbuseState, AbuseWrite, ClientCounter, CounterRef, Pause};
use textid_core::abuse_view::UsageReads;
use textid_core::audit::{Actor, AuditRecord};
use textid_core::TenantId;

use super::retry::{Replay, Tx};
use super::rows::{count, execute, int, ms, query, query_opt, time};
use super::{audit, PostgresStore};
use crate::{AbuseStore, LockRecord, StoreResult, TestNumber};

const COUNTS: &str = "SELECT key, bucket, SUM(count)::BIGINT FROM send_counters
     WHERE key = ANY($1) AND bucket = ANY($2) GROUP BY key, bucket";
const PAUSES: &str = "SELECT key, until, reason, created_at FROM send_pauses WHERE key = ANY($1)";
const CLIENT: &str = "SELECT failures, locked_until FROM client_counters
     WHERE tenant_id = $1 AND phone = $2 AND client_ip = $3";
const TEST_CODE: &str = "SELECT code FROM test_numbers WHERE tenant_id = $1 AND phone = $2";

/// The statements [`load`] runs, so that the step can have them all prepared before it
/// sends its reads together (a statement still to prepare would go out late).
pub(super) fn statements(reads: &AbuseReads) -> Vec<&'static str> {
    [
        (!reads.counters.is_empty()).then_some(COUNTS),
        (!reads.pauses.is_empty()).then_some(PAUSES),
        reads.client_ip.is_some().then_some(CLIENT),
        reads.test_number.then_some(TEST_CODE),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Loads the rows a step's decision asked for: one statement per kind, sent together
/// (pipelined: one round trip), in this order.
pub(super) async fn load(
    tx: &Tx<'_>,
    tenant: TenantId,
    phone: &str,
    reads: &AbuseReads,
) -> StoreResult<AbuseState> {
    let keys: Vec<&str> = reads.counters.iter().map(|r| r.key.as_str()).collect();
    let buckets: Vec<i64> = reads.counters.iter().map(|r| r.bucket).collect();
    let counts = async {
        if reads.counters.is_empty() {
            return Ok(Vec::new());
        }
        query(tx, COUNTS, &[&keys, &buckets]).await
    };
    let pauses = async {
        if reads.pauses.is_empty() {
            return Ok(Vec::new());
        }
        query(tx, PAUSES, &[&reads.pauses]).await
    };
    let client = async {
        match &reads.client_ip {
            Some(ip) => query_opt(tx, CLIENT, &[&tenant.0, &phone, ip]).await,
            None => Ok(None),
        }
    };
    let test_code = async {
        if !reads.test_number {
            return Ok(None);
        }
        query_opt(tx, TEST_CODE, &[&tenant.0, &phone]).await
    };
    let (counts, pauses, client, test_code) = tokio::try_join!(counts, pauses, client, test_code)?;
    let mut state = AbuseState::default();
    for row in counts {
        let r = CounterRef {
            key: row.try_get(0)?,
            bucket: row.try_get(1)?,
        };
        if reads.counters.contains(&r) {
            let n: i64 = row.try_get(2)?;
            state.counts.insert(r, u64::try_from(n).unwrap_or(0));
        }
    }
    for row in pauses {
        state.pauses.push(Pause {
            key: row.try_get(0)?,
            until: time(row.try_get(1)?),
            reason: row.try_get(2)?,
            created_at: time(row.try_get(3)?),
        });
    }
    if let Some(r) = client {
        state.client = ClientCounter {
            failures: count(r.try_get(0)?)?,
            locked_until: r.try_get::<_, Option<i64>>(1)?.map(time),
        };
    }
    state.test_code = test_code.map(|r| r.try_get(0)).transpose()?;
    Ok(state)
}

/// Adds increments (of one or many steps, already in row order) to the send counters, in
/// a transaction that commits asynchronously: module `counters` says why and what that
/// gives up.
pub(super) async fn add_increments(
    tx: &Tx<'_>,
    increments: &[textid_core::abuse::Increment],
) -> StoreResult<()> {
    let inc = increments;
    let keys: Vec<&str> = inc.iter().map(|i| i.key.as_str()).collect();
    let buckets: Vec<i64> = inc.iter().map(|i| i.bucket).collect();
    let shards: Vec<i32> = inc.iter().map(|i| int(i.shard)).collect();
    let by: Vec<i64> = inc.iter().map(|i| i64::from(i.by)).collect();
    let expires: Vec<i64> = inc.iter().map(|i| i.expires_at).collect();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
        [&keys, &buckets, &shards, &by, &expires];
    let relaxed = tx.batch_execute("SET LOCAL synchronous_commit TO OFF");
    let add = execute(
        tx,
        "INSERT INTO send_counters (key, bucket, shard, count, expires_at)
         SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::INTEGER[], $4::BIGINT[], $5::BIGINT[])
         ON CONFLICT (key, bucket, shard) DO UPDATE SET count = send_counters.count + excluded.count",
        &params,
    );
    tokio::try_join!(
        async { relaxed.await.map_err(crate::StoreError::from) },
        add
    )?;
    Ok(())
}

/// Writes a step decision's abuse rows other than the send counters (pauses, the
/// (number, client IP) counter), in the step's transaction.
pub(super) async fn save(
    tx: &Tx<'_>,
    tenant: TenantId,
    phone: &str,
    client_ip: Option<&str>,
    loaded: &AbuseState,
    w: &AbuseWrite,
    at: DateTime<Utc>,
) -> StoreResult<()> {
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
    async fn add_counters(
        &self,
        increments: Vec<textid_core::abuse::Increment>,
    ) -> StoreResult<()> {
        if increments.is_empty() || self.inner.counters.add(increments).await {
            Ok(())
        } else {
            Err(crate::StoreError::Unavailable(
                "the send counters could not be written".into(),
            ))
        }
    }

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
