//! The authentication methods policy, one JSONB document per tenant. A change locks the
//! tenant row while it reads the policy it replaces (the audit's "before").

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use textid_core::audit::AuditRecord;
use textid_core::policy::AuthenticationMethodsPolicy;
use textid_core::TenantId;

use super::retry::{Replay, Tx};
use super::rows::{execute, json, query_opt, to_json};
use super::{audit, PostgresStore};
use crate::{Actor, PolicyStore, StoreError, StoreResult};

/// The statement of [`load`].
pub(super) const LOAD: &str = "SELECT policy FROM tenants WHERE id = $1";

/// The tenant's policy (read as of this statement; the sign-in step reads it so).
pub(super) async fn load<C: GenericClient>(
    c: &C,
    tenant: TenantId,
) -> StoreResult<AuthenticationMethodsPolicy> {
    let row = query_opt(c, LOAD, &[&tenant.0])
        .await?
        .ok_or(StoreError::NotFound("tenant"))?;
    json(row.try_get(0)?)
}

async fn put(
    tx: &Tx<'_>,
    tenant: TenantId,
    policy: &AuthenticationMethodsPolicy,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let row = query_opt(
        tx,
        "SELECT policy FROM tenants WHERE id = $1 FOR UPDATE",
        &[&tenant.0],
    )
    .await?
    .ok_or(StoreError::NotFound("tenant"))?;
    let before: serde_json::Value = row.try_get(0)?;
    let after = to_json(policy);
    execute(
        tx,
        "UPDATE tenants SET policy = $2 WHERE id = $1",
        &[&tenant.0, &after],
    )
    .await?;
    audit::insert(tx, &AuditRecord::policy(tenant, before, after, actor, now)).await
}

#[async_trait]
impl PolicyStore for PostgresStore {
    async fn policy(&self, tenant: TenantId) -> StoreResult<AuthenticationMethodsPolicy> {
        self.read(&tenant, |c, t| Box::pin(load(c, *t))).await
    }

    async fn put_policy(
        &self,
        tenant: TenantId,
        policy: &AuthenticationMethodsPolicy,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &(tenant, policy, actor, now),
            |tx, (t, p, a, now)| Box::pin(put(tx, *t, p, a, *now)),
        )
        .await
    }
}
