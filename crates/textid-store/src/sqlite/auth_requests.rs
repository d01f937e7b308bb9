//! Pending authorization requests of the OpenID Connect provider, with the sign-in flow
//! attached to each.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use textid_core::{FlowId, TenantId};

use super::rows::{json, ms, opt_id};
use super::SqliteStore;
use crate::{AuthRequestStore, StoreResult};

fn put_auth_request(
    tx: &Transaction<'_>,
    rid: &str,
    tenant: TenantId,
    doc: &serde_json::Value,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO auth_requests (id, tenant_id, document, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![rid, tenant.to_string(), doc.to_string(), ms(now), ms(expires_at)])?;
    Ok(())
}

fn auth_request(
    c: &Connection,
    rid: &str,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> StoreResult<Option<(serde_json::Value, Option<FlowId>)>> {
    let row = c
        .prepare_cached("SELECT document, flow_id FROM auth_requests WHERE id = ?1 AND tenant_id = ?2 AND expires_at > ?3")?
        .query_row(params![rid, tenant.to_string(), ms(now)], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))
        .optional()?;
    row.map(|(doc, flow)| Ok((json(&doc)?, opt_id(flow)?)))
        .transpose()
}

pub(super) fn set_auth_request_flow(
    tx: &Transaction<'_>,
    rid: &str,
    flow: Option<FlowId>,
) -> StoreResult<()> {
    tx.prepare_cached("UPDATE auth_requests SET flow_id = ?2 WHERE id = ?1")?
        .execute(params![rid, flow.map(|f| f.to_string())])?;
    Ok(())
}

fn delete_auth_request(tx: &Transaction<'_>, rid: &str) -> StoreResult<()> {
    tx.prepare_cached("DELETE FROM auth_requests WHERE id = ?1")?
        .execute([rid])?;
    Ok(())
}

#[async_trait]
impl AuthRequestStore for SqliteStore {
    async fn put_auth_request(
        &self,
        id: &str,
        tenant: TenantId,
        document: &serde_json::Value,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (id, document) = (id.to_string(), document.clone());
        self.write(move |tx| put_auth_request(tx, &id, tenant, &document, now, expires_at))
            .await
    }

    async fn auth_request(
        &self,
        id: &str,
        tenant: TenantId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(serde_json::Value, Option<FlowId>)>> {
        let id = id.to_string();
        self.lookup(move |c| auth_request(c, &id, tenant, now))
            .await
    }

    async fn set_auth_request_flow(&self, id: &str, flow: Option<FlowId>) -> StoreResult<()> {
        let id = id.to_string();
        self.write(move |tx| set_auth_request_flow(tx, &id, flow))
            .await
    }

    async fn delete_auth_request(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.write(move |tx| delete_auth_request(tx, &id)).await
    }
}
