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
use deadpool_postgres::GenericClient;
use tokio_postgres::types::Type;

use super::rows::{count, execute, limit, ms, query, query_opt, time};
use super::PostgresStore;
use crate::{
    DeliveryOutcome, MessageRecord, OutboxStats, OutboxStore, ReceiptUpdate, ReceiptedMessage,
    StoreResult,
};

pub(super) async fn insert(
    tx: &Tx<'_>,
    tenant: TenantId,
    flow: Option<FlowId>,
    m: &NewMessage,
) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO outbox (id, tenant_id, kind, channel, recipient, sealed_body, locale, flow_id, status, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $10, $11)",
        &[
            &m.id.0, &tenant.0, &m.kind, &m.channel.as_str(), &m.to, &m.sealed_body, &m.locale,
            &flow.map(|f| f.0), &i32::from(m.leased_until.is_some()),
            &m.leased_until.map_or(0, ms), &ms(m.queued_at),
        ],
    )
    .await?;
    Ok(())
}

/// Ends the queued messages of a flow, except `except` (the step's own new message, which
/// may be written before or after this statement: the step sends its writes together). A message whose row a worker holds (being claimed,
/// its lease renewed or its outcome recorded) is skipped, not waited for: it is already on
/// its way, exactly as if the worker had claimed it a moment before, and waiting would hold
/// the step's locks through that worker's commit.
pub(super) async fn supersede(
    tx: &Tx<'_>,
    flow: FlowId,
    except: Option<MessageId>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    execute(
        tx,
        "UPDATE outbox SET status = 'failed', sealed_body = NULL, finished_at = $2,
             last_error = 'superseded: the flow has a newer code or has ended'
         WHERE id IN (SELECT id FROM outbox WHERE flow_id = $1 AND status = 'queued'
                        AND ($3::UUID IS NULL OR id <> $3)
                      FOR UPDATE SKIP LOCKED)",
        &[&flow.0, &ms(now), &except.map(|m| m.0)],
    )
    .await?;
    Ok(())
}

async fn claim<C: GenericClient>(
    c: &C,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    max: u32,
) -> StoreResult<Vec<QueuedMessage>> {
    let rows = query(
        c,
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

/// One statement records every outcome of a batch: a delivered or failed message ends
/// (its sealed body wiped); a retry sets the next attempt of a message still queued.
///
/// Sent unprepared (`execute_typed`: the unnamed statement, one round trip), so it is
/// planned for each batch on the table as it is then. Prepared, a connection kept the
/// generic plan it made while the outbox was small: a hash join over a sequential scan of
/// the whole outbox (every message finished since the last purge, dead versions
/// included), a cost that grew with the table until autovacuum next analyzed it.
async fn finish(
    c: &tokio_postgres::Client,
    outcomes: &[(MessageId, DeliveryOutcome)],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut ids = Vec::with_capacity(outcomes.len());
    let mut kinds = Vec::with_capacity(outcomes.len());
    let mut ats: Vec<Option<i64>> = Vec::with_capacity(outcomes.len());
    let mut errors: Vec<Option<&str>> = Vec::with_capacity(outcomes.len());
    let mut providers: Vec<Option<&str>> = Vec::with_capacity(outcomes.len());
    let mut carrier_ids: Vec<Option<&str>> = Vec::with_capacity(outcomes.len());
    for (id, outcome) in outcomes {
        ids.push(id.0);
        let (kind, at, error) = match outcome {
            DeliveryOutcome::Delivered(_) => ("delivered", None, None),
            DeliveryOutcome::Retry { at, error } => ("retry", Some(ms(*at)), Some(error.as_str())),
            DeliveryOutcome::Failed { error } => ("failed", None, Some(error.as_str())),
        };
        let handover = match outcome {
            DeliveryOutcome::Delivered(h) => {
                (h.provider.as_deref(), h.provider_message_id.as_deref())
            }
            _ => (None, None),
        };
        kinds.push(kind);
        ats.push(at);
        errors.push(error);
        providers.push(handover.0);
        carrier_ids.push(handover.1);
    }
    c.execute_typed(
        "UPDATE outbox o SET
             status = CASE WHEN v.kind = 'retry' THEN o.status ELSE v.kind END,
             sealed_body = CASE WHEN v.kind = 'retry' THEN o.sealed_body END,
             finished_at = CASE WHEN v.kind = 'retry' THEN o.finished_at ELSE $2 END,
             next_attempt_at = CASE WHEN v.kind = 'retry' THEN v.at ELSE o.next_attempt_at END,
             last_error = v.error,
             provider = CASE WHEN v.kind = 'delivered' THEN v.provider ELSE o.provider END,
             provider_message_id = CASE WHEN v.kind = 'delivered' THEN v.carrier_id ELSE o.provider_message_id END
         FROM unnest($1::UUID[], $3::TEXT[], $4::BIGINT[], $5::TEXT[], $6::TEXT[], $7::TEXT[])
              AS v(id, kind, at, error, provider, carrier_id)
         WHERE o.id = v.id AND (v.kind <> 'retry' OR o.status = 'queued')",
        &[
            (&ids, Type::UUID_ARRAY),
            (&ms(now), Type::INT8),
            (&kinds, Type::TEXT_ARRAY),
            (&ats, Type::INT8_ARRAY),
            (&errors, Type::TEXT_ARRAY),
            (&providers, Type::TEXT_ARRAY),
            (&carrier_ids, Type::TEXT_ARRAY),
        ],
    )
    .await?;
    Ok(())
}

/// Records a receipt and, for a failure of a flow's message, its sign-in log entry, in one
/// statement (see [`OutboxStore::record_receipt`]).
async fn receipt<C: GenericClient>(
    c: &C,
    r: &ReceiptUpdate,
) -> StoreResult<Option<ReceiptedMessage>> {
    let row = query_opt(
        c,
        "WITH m AS (
             UPDATE outbox SET receipt_status = $3, receipt_reason = $4, receipt_at = $5
             WHERE provider = $1 AND provider_message_id = $2
               AND (receipt_status IS NULL OR receipt_status <> $3)
             RETURNING id, tenant_id, flow_id, kind, channel, recipient
         ), logged AS (
             INSERT INTO sign_in_logs (id, tenant_id, created_at, method, event, phone, user_id, flow_id, result, failure_reason, client_ip, app_id)
             SELECT $6, l.tenant_id, $5, l.method, 'codeUndelivered', l.phone, l.user_id, l.flow_id, 'failure', $4, l.client_ip, l.app_id
             FROM (SELECT * FROM sign_in_logs
                   WHERE $6::UUID IS NOT NULL AND flow_id = (SELECT flow_id FROM m LIMIT 1)
                   ORDER BY created_at DESC LIMIT 1) l
         )
         SELECT id, tenant_id, flow_id, kind, channel, recipient FROM m LIMIT 1",
        &[
            &r.provider, &r.provider_message_id, &r.status, &r.reason, &ms(r.at), &r.log_id,
        ],
    )
    .await?;
    row.map(|r| {
        Ok(ReceiptedMessage {
            id: MessageId(r.try_get(0)?),
            tenant_id: TenantId(r.try_get(1)?),
            flow_id: r.try_get::<_, Option<uuid::Uuid>>(2)?.map(FlowId),
            kind: r.try_get(3)?,
            channel: r.try_get(4)?,
            to: r.try_get(5)?,
        })
    })
    .transpose()
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
        self.write_statement(Replay::Unsafe, &(now, lease_until, max), |c, (n, l, m)| {
            Box::pin(claim(c, *n, *l, *m))
        })
        .await
    }

    async fn finish_messages(
        &self,
        outcomes: &[(MessageId, DeliveryOutcome)],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        // Safe to replay: the same outcomes recorded twice are the same outcomes.
        self.write_statement(Replay::Safe, &(outcomes, now), |c, (o, n)| {
            Box::pin(finish(c, o, *n))
        })
        .await
    }

    async fn renew_lease(&self, ids: &[MessageId], lease_until: DateTime<Utc>) -> StoreResult<()> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|m| m.0).collect();
        // Safe to replay: pushing a lease to the same time twice is the same lease.
        self.write_statement(Replay::Safe, &(ids, lease_until), |c, (ids, until)| {
            Box::pin(async move {
                execute(
                    c,
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

    async fn record_receipt(
        &self,
        update: &ReceiptUpdate,
    ) -> StoreResult<Option<ReceiptedMessage>> {
        // Safe to replay: a receipt recorded twice matches no row the second time.
        self.write_statement(Replay::Safe, update, |c, u| Box::pin(receipt(c, u)))
            .await
    }

    async fn list_messages(&self, tenant: TenantId, max: u32) -> StoreResult<Vec<MessageRecord>> {
        self.read(&(tenant, max), |c, (t, m)| {
            Box::pin(async move {
                let rows = query(
                    c,
                    "SELECT id, recipient, kind, status, attempts, last_error, created_at, flow_id,
                            provider, provider_message_id, receipt_status, receipt_reason, receipt_at
                     FROM outbox WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
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
                            provider: r.try_get(8)?,
                            provider_message_id: r.try_get(9)?,
                            receipt_status: r.try_get(10)?,
                            receipt_reason: r.try_get(11)?,
                            receipt_at: r.try_get::<_, Option<i64>>(12)?.map(time),
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
