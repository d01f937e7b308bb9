//! The durable outbox: messages are inserted in the transaction that creates their code,
//! claimed with a lease, and finished as delivered or failed, which wipes the sealed body.
//!
//! Claims from several workers on several nodes never overlap: the due rows are selected
//! `FOR UPDATE SKIP LOCKED` (a row another claim is taking is skipped, not waited for) and
//! pushed ahead to `lease_until` in the same statement, so a claimed message is not due
//! again until its lease ends (then a crashed worker's message is claimed again).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use textid_core::message::{NewMessage, QueuedMessage};
use textid_core::{FlowId, MessageId, TenantId};

use super::retry::{Replay, Tx};
use super::rows::{count, execute, limit, ms, query, query_opt, time};
use super::PostgresStore;
use crate::{DeliveryOutcome, MessageRecord, OutboxStats, OutboxStore, StoreResult};

pub(super) async fn insert(
    tx: &Tx<'_>,
    tenant: TenantId,
    flow: Option<FlowId>,
    m: &NewMessage,
) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO outbox (id, tenant_id, kind, channel, recipient, sealed_body, locale, flow_id, status, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, 0, $9)",
        &[
            &m.id.0, &tenant.0, &m.kind, &m.channel, &m.to, &m.sealed_body, &m.locale,
            &flow.map(|f| f.0), &ms(m.queued_at),
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn supersede(tx: &Tx<'_>, flow: FlowId, now: DateTime<Utc>) -> StoreResult<()> {
    execute(
        tx,
        "UPDATE outbox SET status = 'failed', sealed_body = NULL, finished_at = $2,
             last_error = 'superseded: the flow has a newer code or has ended'
         WHERE flow_id = $1 AND status = 'queued'",
        &[&flow.0, &ms(now)],
    )
    .await?;
    Ok(())
}

async fn claim(
    tx: &Tx<'_>,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    max: u32,
) -> StoreResult<Vec<QueuedMessage>> {
    let rows = query(
        tx,
        "WITH due AS (
             SELECT id, next_attempt_at FROM outbox
             WHERE status = 'queued' AND next_attempt_at <= $1
             ORDER BY next_attempt_at, created_at LIMIT $3
             FOR UPDATE SKIP LOCKED
         )
         UPDATE outbox o SET attempts = o.attempts + 1, next_attempt_at = $2
         FROM due, tenants t
         WHERE o.id = due.id AND t.id = o.tenant_id
         RETURNING o.id, o.tenant_id, t.name, o.kind, o.channel, o.recipient, o.sealed_body, o.locale,
                   o.flow_id, o.attempts, o.created_at, due.next_attempt_at",
        &[&ms(now), &ms(lease_until), &limit(max)],
    )
    .await?;
    let mut out = rows
        .iter()
        .map(|r| {
            let due: i64 = r.try_get(11)?;
            let m = QueuedMessage {
                id: MessageId(r.try_get(0)?),
                tenant_id: TenantId(r.try_get(1)?),
                tenant_name: r.try_get(2)?,
                kind: r.try_get(3)?,
                channel: r.try_get(4)?,
                to: r.try_get(5)?,
                sealed_body: r.try_get::<_, Option<Vec<u8>>>(6)?.unwrap_or_default(),
                locale: r.try_get(7)?,
                flow_id: r.try_get::<_, Option<uuid::Uuid>>(8)?.map(FlowId),
                attempts: count(r.try_get(9)?)?,
                created_at: time(r.try_get(10)?),
            };
            Ok((due, m))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    // RETURNING has no order: give the claim's order back.
    out.sort_by_key(|(due, m)| (*due, m.created_at));
    Ok(out.into_iter().map(|(_, m)| m).collect())
}

async fn finish(
    tx: &Tx<'_>,
    mid: MessageId,
    outcome: &DeliveryOutcome,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    match outcome {
        DeliveryOutcome::Delivered => execute(
            tx,
            "UPDATE outbox SET status = 'delivered', sealed_body = NULL, finished_at = $2, last_error = NULL WHERE id = $1",
            &[&mid.0, &ms(now)],
        )
        .await?,
        DeliveryOutcome::Retry { at, error } => execute(
            tx,
            "UPDATE outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1 AND status = 'queued'",
            &[&mid.0, &ms(*at), error],
        )
        .await?,
        DeliveryOutcome::Failed { error } => execute(
            tx,
            "UPDATE outbox SET status = 'failed', sealed_body = NULL, finished_at = $2, last_error = $3 WHERE id = $1",
            &[&mid.0, &ms(now), error],
        )
        .await?,
    };
    Ok(())
}

#[async_trait]
impl OutboxStore for PostgresStore {
    async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        max: u32,
    ) -> StoreResult<Vec<QueuedMessage>> {
        // Not replayed after an unknown COMMIT: the claim may have taken the messages, which
        // then wait for their lease to end.
        self.write(Replay::Unsafe, &(now, lease_until, max), |tx, (n, l, m)| {
            Box::pin(claim(tx, *n, *l, *m))
        })
        .await
    }

    async fn finish_message(
        &self,
        mid: MessageId,
        outcome: DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(Replay::Safe, &(mid, outcome, now), |tx, (m, o, n)| {
            Box::pin(finish(tx, *m, o, *n))
        })
        .await
    }

    async fn renew_lease(&self, ids: &[MessageId], lease_until: DateTime<Utc>) -> StoreResult<()> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|m| m.0).collect();
        // Safe to replay: pushing a lease to the same time twice is the same lease.
        self.write(Replay::Safe, &(ids, lease_until), |tx, (ids, until)| {
            Box::pin(async move {
                execute(
                    tx,
                    "UPDATE outbox SET next_attempt_at = $2
                     WHERE id = ANY($1) AND status = 'queued' AND next_attempt_at < $2",
                    &[ids, &ms(*until)],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn list_messages(&self, tenant: TenantId, max: u32) -> StoreResult<Vec<MessageRecord>> {
        self.read(&(tenant, max), |c, (t, m)| {
            Box::pin(async move {
                let rows = query(
                    c,
                    "SELECT id, recipient, kind, status, attempts, last_error, created_at, flow_id FROM outbox
                     WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
                    &[&t.0, &limit(*m)],
                )
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(MessageRecord {
                            id: MessageId(r.try_get(0)?),
                            to: r.try_get(1)?,
                            kind: r.try_get(2)?,
                            status: r.try_get(3)?,
                            attempts: count(r.try_get(4)?)?,
                            last_error: r.try_get(5)?,
                            created_at: time(r.try_get(6)?),
                            flow_id: r.try_get::<_, Option<uuid::Uuid>>(7)?.map(FlowId),
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        self.read(&(), |c, ()| {
            Box::pin(async move {
                // The partial index `outbox_due` (status = 'queued') answers this.
                let row = query_opt(
                    c,
                    "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'queued'",
                    &[],
                )
                .await?;
                let (queued, oldest) = match row {
                    Some(r) => (r.try_get::<_, i64>(0)?, r.try_get::<_, Option<i64>>(1)?),
                    None => (0, None),
                };
                Ok(OutboxStats {
                    queued: u64::try_from(queued).unwrap_or(0),
                    oldest_queued_at: oldest.map(time),
                })
            })
        })
        .await
    }
}
