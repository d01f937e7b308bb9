//! The durable outbox: messages are inserted in the transaction that creates their code,
//! claimed with a lease (so a crashed worker's messages are claimed again when the lease
//! runs out), and finished as delivered or failed, which wipes the sealed body.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Transaction};
use textid_core::message::{NewMessage, QueuedMessage};
use textid_core::{FlowId, MessageId, TenantId};

use super::rows::{id, ms, opt_id, time};
use super::SqliteStore;
use crate::{
    DeliveryOutcome, MessageRecord, OutboxStats, OutboxStore, ReceiptUpdate, ReceiptedMessage,
    StoreResult,
};

pub(super) fn insert(
    tx: &Transaction<'_>,
    tenant: TenantId,
    flow: Option<FlowId>,
    m: &NewMessage,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO outbox (id, tenant_id, kind, channel, recipient, sealed_body, locale, flow_id, status, attempts, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?9, ?10, ?11)",
    )?
    .execute(params![
        m.id.to_string(), tenant.to_string(), m.kind, m.channel.as_str(), m.to, m.sealed_body, m.locale,
        flow.map(|f| f.to_string()), u32::from(m.leased_until.is_some()),
        m.leased_until.map_or(0, ms), ms(m.queued_at)
    ])?;
    Ok(())
}

pub(super) fn supersede(tx: &Transaction<'_>, flow: FlowId, now: DateTime<Utc>) -> StoreResult<()> {
    tx.prepare_cached(
        "UPDATE outbox SET status = 'failed', sealed_body = NULL, finished_at = ?2,
             last_error = 'superseded: the flow has a newer code or has ended'
         WHERE flow_id = ?1 AND status = 'queued'",
    )?
    .execute(params![flow.to_string(), ms(now)])?;
    Ok(())
}

fn claim(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> StoreResult<Vec<QueuedMessage>> {
    let mut stmt = tx.prepare_cached(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2
         WHERE id IN (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, created_at LIMIT ?3)
         RETURNING id, tenant_id, (SELECT name FROM tenants t WHERE t.id = outbox.tenant_id), kind, channel, recipient,
                   sealed_body, locale, flow_id, attempts, created_at",
    )?;
    let rows = stmt.query_map(params![ms(now), ms(lease_until), limit], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, Option<Vec<u8>>>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, Option<String>>(8)?,
            r.get::<_, u32>(9)?,
            r.get::<_, i64>(10)?,
        ))
    })?;
    let mut out = rows
        .map(|r| {
            let (mid, tid, tname, kind, channel, to, body, locale, fid, attempts, created) = r?;
            Ok(QueuedMessage {
                id: id(&mid)?,
                tenant_id: id(&tid)?,
                tenant_name: tname.unwrap_or_default(),
                kind,
                channel,
                to,
                sealed_body: body.unwrap_or_default(),
                locale,
                flow_id: opt_id(fid)?,
                attempts,
                created_at: time(created),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    out.sort_by_key(|m| m.created_at);
    Ok(out)
}

fn finish(
    tx: &Transaction<'_>,
    mid: MessageId,
    outcome: &DeliveryOutcome,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let id = mid.to_string();
    match outcome {
        DeliveryOutcome::Delivered(h) => tx
            .prepare_cached(
                "UPDATE outbox SET status = 'delivered', sealed_body = NULL, finished_at = ?2, last_error = NULL,
                     provider = ?3, provider_message_id = ?4
                 WHERE id = ?1",
            )?
            .execute(params![id, ms(now), h.provider, h.provider_message_id])?,
        DeliveryOutcome::Retry { at, error } => tx
            .prepare_cached(
                "UPDATE outbox SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1 AND status = 'queued'",
            )?
            .execute(params![id, ms(*at), error])?,
        DeliveryOutcome::Failed { error } => tx
            .prepare_cached(
                "UPDATE outbox SET status = 'failed', sealed_body = NULL, finished_at = ?2, last_error = ?3 WHERE id = ?1",
            )?
            .execute(params![id, ms(now), error])?,
    };
    Ok(())
}

fn list(c: &Connection, tenant: TenantId, limit: u32) -> StoreResult<Vec<MessageRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, recipient, kind, status, attempts, last_error, created_at, flow_id,
                provider, provider_message_id, receipt_status, receipt_reason, receipt_at
         FROM outbox WHERE tenant_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![tenant.to_string(), limit], |r| {
        Ok((
            (
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, Option<String>>(7)?,
            ),
            (
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, Option<String>>(10)?,
                r.get::<_, Option<String>>(11)?,
                r.get::<_, Option<i64>>(12)?,
            ),
        ))
    })?;
    rows.map(|r| {
        let ((mid, to, kind, status, attempts, last_error, created, fid), receipt) = r?;
        let (provider, provider_message_id, receipt_status, receipt_reason, receipt_at) = receipt;
        Ok(MessageRecord {
            id: id(&mid)?,
            to,
            kind,
            status,
            attempts,
            last_error,
            created_at: time(created),
            flow_id: opt_id(fid)?,
            provider,
            provider_message_id,
            receipt_status,
            receipt_reason,
            receipt_at: receipt_at.map(time),
        })
    })
    .collect()
}

/// Records a receipt; see [`OutboxStore::record_receipt`].
fn receipt(tx: &Transaction<'_>, r: &ReceiptUpdate) -> StoreResult<Option<ReceiptedMessage>> {
    let row = tx
        .prepare_cached(
            "UPDATE outbox SET receipt_status = ?3, receipt_reason = ?4, receipt_at = ?5
             WHERE provider = ?1 AND provider_message_id = ?2
               AND (receipt_status IS NULL OR receipt_status <> ?3)
             RETURNING id, tenant_id, flow_id, kind, channel, recipient",
        )?
        .query_map(
            params![
                r.provider,
                r.provider_message_id,
                r.status,
                r.reason,
                ms(r.at)
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                ))
            },
        )?
        .next()
        .transpose()?;
    let Some((mid, tid, fid, kind, channel, to)) = row else {
        return Ok(None);
    };
    let message = ReceiptedMessage {
        id: id(&mid)?,
        tenant_id: id(&tid)?,
        flow_id: opt_id(fid)?,
        kind,
        channel,
        to,
    };
    if let (Some(log_id), Some(flow)) = (r.log_id, message.flow_id) {
        tx.prepare_cached(
            "INSERT INTO sign_in_logs (id, tenant_id, created_at, method, event, phone, user_id, flow_id, result, failure_reason, client_ip, app_id)
             SELECT ?1, tenant_id, ?2, method, 'codeUndelivered', phone, user_id, flow_id, 'failure', ?3, client_ip, app_id
             FROM sign_in_logs WHERE flow_id = ?4 ORDER BY created_at DESC LIMIT 1",
        )?
        .execute(params![log_id.to_string(), ms(r.at), r.reason, flow.to_string()])?;
    }
    Ok(Some(message))
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<QueuedMessage>> {
        self.write(move |tx| claim(tx, now, lease_until, limit))
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
        let outcomes = outcomes.to_vec();
        self.write(move |tx| {
            for (mid, outcome) in &outcomes {
                finish(tx, *mid, outcome, now)?;
            }
            Ok(())
        })
        .await
    }

    async fn renew_lease(&self, ids: &[MessageId], lease_until: DateTime<Utc>) -> StoreResult<()> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET next_attempt_at = ?2 WHERE id = ?1 AND status = 'queued' AND next_attempt_at < ?2",
            )?;
            for id in &ids {
                stmt.execute(params![id, ms(lease_until)])?;
            }
            Ok(())
        })
        .await
    }

    async fn record_receipt(
        &self,
        update: &ReceiptUpdate,
    ) -> StoreResult<Option<ReceiptedMessage>> {
        let update = update.clone();
        self.write(move |tx| receipt(tx, &update)).await
    }

    async fn list_messages(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<MessageRecord>> {
        self.read(move |c| list(c, tenant, limit)).await
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        self.read(|c| {
            let (queued, oldest) = c
                .prepare_cached(
                    "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'queued'",
                )?
                .query_row([], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))
                })?;
            Ok(OutboxStats {
                queued: u64::try_from(queued).unwrap_or(0),
                oldest_queued_at: oldest.map(time),
            })
        })
        .await
    }
}
