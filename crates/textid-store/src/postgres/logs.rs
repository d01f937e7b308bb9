//! The sign-in log (written by the sign-in step) and the directory audit log (written with
//! each change), queried by time range, newest first. One statement per log serves every
//! query: an absent bound is a NULL parameter (`$n IS NULL OR ...`), never a different SQL.

use async_trait::async_trait;
use textid_core::{FlowId, TenantId, UserId};

use super::retry::Tx;
use super::rows::{execute, limit, ms, query, time};
use super::PostgresStore;
use crate::{Actor, AuditEntry, Listing, LogQuery, LogStore, SignInLogEntry, StoreResult};

pub(super) async fn insert(tx: &Tx<'_>, l: &SignInLogEntry) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO sign_in_logs (id, tenant_id, created_at, method, event, phone, user_id, flow_id, result, failure_reason, client_ip, app_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &l.id, &l.tenant_id.0, &ms(l.created_at), &l.method, &l.event, &l.phone,
            &l.user_id.map(|u| u.0), &l.flow_id.map(|f| f.0), &l.result, &l.failure_reason,
            &l.client_ip, &l.app_id,
        ],
    )
    .await?;
    Ok(())
}

/// A sign-in log entry from the columns `id, created_at, method, event, phone, user_id,
/// flow_id, result, failure_reason, client_ip, app_id`.
fn entry(tenant: TenantId, r: &tokio_postgres::Row) -> StoreResult<SignInLogEntry> {
    Ok(SignInLogEntry {
        id: r.try_get(0)?,
        tenant_id: tenant,
        created_at: time(r.try_get(1)?),
        method: r.try_get(2)?,
        event: r.try_get(3)?,
        phone: r.try_get(4)?,
        user_id: r.try_get::<_, Option<uuid::Uuid>>(5)?.map(UserId),
        flow_id: r.try_get::<_, Option<uuid::Uuid>>(6)?.map(FlowId),
        result: r.try_get(7)?,
        failure_reason: r.try_get(8)?,
        client_ip: r.try_get(9)?,
        app_id: r.try_get(10)?,
    })
}

#[async_trait]
impl LogStore for PostgresStore {
    async fn sign_in_logs(
        &self,
        tenant: TenantId,
        q: &LogQuery<UserId>,
    ) -> StoreResult<Vec<SignInLogEntry>> {
        self.read(&(tenant, q), |c, (tenant, q)| {
            Box::pin(async move {
                let rows = query(
                    c,
                    "SELECT id, created_at, method, event, phone, user_id, flow_id, result, failure_reason, client_ip, app_id
                     FROM sign_in_logs
                     WHERE tenant_id = $1 AND ($2::bigint IS NULL OR created_at >= $2)
                       AND ($3::bigint IS NULL OR created_at <= $3) AND ($4::uuid IS NULL OR user_id = $4)
                     ORDER BY created_at DESC, id DESC LIMIT $5",
                    &[
                        &tenant.0,
                        &q.from.map(ms),
                        &q.to.map(ms),
                        &q.about.map(|u| u.0),
                        &limit(q.limit),
                    ],
                )
                .await?;
                rows.iter().map(|r| entry(*tenant, r)).collect()
            })
        })
        .await
    }

    async fn query_sign_ins(
        &self,
        tenant: TenantId,
        listing: &Listing,
    ) -> StoreResult<Vec<SignInLogEntry>> {
        self.read(&(tenant, listing), |c, (tenant, listing)| {
            Box::pin(async move {
                let select = crate::listing::sign_ins_source();
                let rows = super::listing::query(c, &select, "l", *tenant, listing).await?;
                rows.iter().map(|r| entry(*tenant, r)).collect()
            })
        })
        .await
    }

    async fn directory_audits(
        &self,
        tenant: TenantId,
        q: &LogQuery<String>,
    ) -> StoreResult<Vec<AuditEntry>> {
        self.read(&(tenant, q), |c, (tenant, q)| {
            Box::pin(async move {
                let rows = query(
                    c,
                    "SELECT id, created_at, actor_type, actor_id, activity, target_type, target_id, before, after
                     FROM directory_audits
                     WHERE tenant_id = $1 AND ($2::bigint IS NULL OR created_at >= $2)
                       AND ($3::bigint IS NULL OR created_at <= $3)
                       AND ($4::text IS NULL OR target_id = $4 OR actor_id = $4)
                     ORDER BY created_at DESC, id DESC LIMIT $5",
                    &[
                        &tenant.0,
                        &q.from.map(ms),
                        &q.to.map(ms),
                        &q.about,
                        &limit(q.limit),
                    ],
                )
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(AuditEntry {
                            id: r.try_get(0)?,
                            tenant_id: *tenant,
                            created_at: time(r.try_get(1)?),
                            actor: Actor {
                                kind: r.try_get(2)?,
                                id: r.try_get(3)?,
                            },
                            activity: r.try_get(4)?,
                            target_type: r.try_get(5)?,
                            target_id: r.try_get(6)?,
                            before: r.try_get(7)?,
                            after: r.try_get(8)?,
                        })
                    })
                    .collect()
            })
        })
        .await
    }
}
