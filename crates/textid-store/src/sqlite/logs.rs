//! The sign-in log (written by the sign-in step) and the directory audit log (written
//! with each change), queried by time range.

use async_trait::async_trait;
use rusqlite::{params, Connection, Transaction};
use textid_core::{TenantId, UserId};

use super::rows::{id, json, ms, opt_id, time};
use super::SqliteStore;
use crate::{Actor, AuditEntry, Listing, LogQuery, LogStore, SignInLogEntry, StoreResult};

pub(super) fn insert(tx: &Transaction<'_>, l: &SignInLogEntry) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO sign_in_logs (id, tenant_id, created_at, method, event, phone, user_id, flow_id, result, failure_reason, client_ip, app_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        l.id.to_string(), l.tenant_id.to_string(), ms(l.created_at), l.method, l.event, l.phone,
        l.user_id.map(|u| u.to_string()), l.flow_id.map(|f| f.to_string()), l.result, l.failure_reason,
        l.client_ip, l.app_id
    ])?;
    Ok(())
}

/// A sign-in log entry from the columns `id, created_at, method, event, phone, user_id,
/// flow_id, result, failure_reason, client_ip, app_id`.
fn entry(tenant: TenantId, r: &rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<SignInLogEntry>> {
    let (lid, at, method, event, phone, uid, fid, result, reason, ip, app) = (
        r.get::<_, String>(0)?,
        r.get::<_, i64>(1)?,
        r.get::<_, String>(2)?,
        r.get::<_, String>(3)?,
        r.get::<_, Option<String>>(4)?,
        r.get::<_, Option<String>>(5)?,
        r.get::<_, Option<String>>(6)?,
        r.get::<_, String>(7)?,
        r.get::<_, Option<String>>(8)?,
        r.get::<_, Option<String>>(9)?,
        r.get::<_, Option<String>>(10)?,
    );
    Ok((|| {
        Ok(SignInLogEntry {
            id: id(&lid)?,
            tenant_id: tenant,
            created_at: time(at),
            method,
            event,
            phone,
            user_id: opt_id(uid)?,
            flow_id: opt_id(fid)?,
            result,
            failure_reason: reason,
            client_ip: ip,
            app_id: app,
        })
    })())
}

fn sign_in_logs(
    c: &Connection,
    tenant: TenantId,
    q: &LogQuery<UserId>,
) -> StoreResult<Vec<SignInLogEntry>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, created_at, method, event, phone, user_id, flow_id, result, failure_reason, client_ip, app_id
         FROM sign_in_logs WHERE tenant_id = ?1 AND (?2 IS NULL OR created_at >= ?2) AND (?3 IS NULL OR created_at <= ?3)
           AND (?4 IS NULL OR user_id = ?4)
         ORDER BY created_at DESC, id DESC LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![
            tenant.to_string(),
            q.from.map(ms),
            q.to.map(ms),
            q.about.map(|u| u.to_string()),
            q.limit
        ],
        |r| entry(tenant, r),
    )?;
    rows.map(|r| r?).collect()
}

fn audits(c: &Connection, tenant: TenantId, q: &LogQuery<String>) -> StoreResult<Vec<AuditEntry>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, created_at, actor_type, actor_id, activity, target_type, target_id, before, after
         FROM directory_audits WHERE tenant_id = ?1 AND (?2 IS NULL OR created_at >= ?2) AND (?3 IS NULL OR created_at <= ?3)
           AND (?4 IS NULL OR target_id = ?4 OR actor_id = ?4)
         ORDER BY created_at DESC, id DESC LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![
            tenant.to_string(),
            q.from.map(ms),
            q.to.map(ms),
            q.about,
            q.limit
        ],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<String>>(8)?,
            ))
        },
    )?;
    rows.map(|r| {
        let (aid, at, kind, actor_id, activity, target_type, target_id, before, after) = r?;
        Ok(AuditEntry {
            id: id(&aid)?,
            tenant_id: tenant,
            created_at: time(at),
            actor: Actor { kind, id: actor_id },
            activity,
            target_type,
            target_id,
            before: before.map(|b| json(&b)).transpose()?,
            after: after.map(|a| json(&a)).transpose()?,
        })
    })
    .collect()
}

#[async_trait]
impl LogStore for SqliteStore {
    async fn sign_in_logs(
        &self,
        tenant: TenantId,
        query: &LogQuery<UserId>,
    ) -> StoreResult<Vec<SignInLogEntry>> {
        let q = query.clone();
        self.read(move |c| sign_in_logs(c, tenant, &q)).await
    }

    async fn query_sign_ins(
        &self,
        tenant: TenantId,
        listing: &Listing,
    ) -> StoreResult<Vec<SignInLogEntry>> {
        let listing = listing.clone();
        self.read(move |c| {
            let select = crate::listing::sign_ins_source();
            super::listing::query(c, &select, "l", tenant, &listing, |r| entry(tenant, r))
        })
        .await
    }

    async fn directory_audits(
        &self,
        tenant: TenantId,
        query: &LogQuery<String>,
    ) -> StoreResult<Vec<AuditEntry>> {
        let q = query.clone();
        self.read(move |c| audits(c, tenant, &q)).await
    }
}
