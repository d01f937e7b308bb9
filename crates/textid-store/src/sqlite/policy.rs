//! The authentication methods policy, one JSON document per tenant.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use textid_core::audit::AuditRecord;
use textid_core::policy::AuthenticationMethodsPolicy;
use textid_core::TenantId;

use super::rows::{json, to_json};
use super::{audit, SqliteStore};
use crate::{Actor, PolicyStore, StoreError, StoreResult};

pub(super) fn load(c: &Connection, tenant: TenantId) -> StoreResult<AuthenticationMethodsPolicy> {
    let doc: String = c
        .prepare_cached("SELECT policy FROM tenants WHERE id = ?1")?
        .query_row([tenant.to_string()], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound("tenant"))?;
    json(&doc)
}

#[async_trait]
impl PolicyStore for SqliteStore {
    async fn policy(&self, tenant: TenantId) -> StoreResult<AuthenticationMethodsPolicy> {
        self.lookup(move |c| load(c, tenant)).await
    }

    async fn put_policy(
        &self,
        tenant: TenantId,
        policy: &AuthenticationMethodsPolicy,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (policy, actor) = (policy.clone(), actor.clone());
        self.write(move |tx| {
            let before = load(tx, tenant)?;
            tx.execute(
                "UPDATE tenants SET policy = ?2 WHERE id = ?1",
                params![tenant.to_string(), to_json(&policy)],
            )?;
            let record = AuditRecord::policy(
                tenant,
                serde_json::to_value(before).unwrap_or_default(),
                serde_json::to_value(&policy).unwrap_or_default(),
                &actor,
                now,
            );
            audit::insert(tx, &record)
        })
        .await
    }
}
