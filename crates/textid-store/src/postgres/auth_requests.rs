//! Pending authorization requests of the OpenID Connect provider, with the sign-in flow
//! attached to each. Attaching a flow and ending a request are idempotent (safe to run
//! again after an unknown COMMIT); storing one is not (its id would conflict).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use textid_core::{FlowId, TenantId};

use super::retry::{Replay, Tx};
use super::rows::{execute, json, ms, query_opt};
use super::PostgresStore;
use crate::{AuthRequestStore, StoreResult};

/// Points an authorization request at a flow (or at none); a request that is gone is
/// left gone. Also part of a sign-in step's transaction ([`crate::StepWrite::link_request`]).
pub(super) async fn set_flow(tx: &Tx<'_>, id: &str, flow: Option<FlowId>) -> StoreResult<()> {
    execute(
        tx,
        "UPDATE auth_requests SET flow_id = $2 WHERE id = $1",
        &[&id, &flow.map(|f| f.0)],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl AuthRequestStore for PostgresStore {
    async fn put_auth_request(
        &self,
        id: &str,
        tenant: TenantId,
        document: &serde_json::Value,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let env = (id, tenant, document, now, expires_at);
        self.write(Replay::Unsafe, &env, |tx, (id, t, doc, now, exp)| {
            Box::pin(async move {
                execute(
                    tx,
                    "INSERT INTO auth_requests (id, tenant_id, document, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                    &[id, &t.0, doc, &ms(*now), &ms(*exp)],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn auth_request(
        &self,
        id: &str,
        tenant: TenantId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(serde_json::Value, Option<FlowId>)>> {
        self.read(&(id, tenant, now), |c, (id, t, now)| {
            Box::pin(async move {
                let Some(r) = query_opt(
                    c,
                    "SELECT document, flow_id FROM auth_requests WHERE id = $1 AND tenant_id = $2 AND expires_at > $3",
                    &[id, &t.0, &ms(*now)],
                )
                .await?
                else {
                    return Ok(None);
                };
                let flow: Option<uuid::Uuid> = r.try_get(1)?;
                Ok(Some((json(r.try_get(0)?)?, flow.map(FlowId))))
            })
        })
        .await
    }

    async fn set_auth_request_flow(&self, id: &str, flow: Option<FlowId>) -> StoreResult<()> {
        self.write(Replay::Safe, &(id, flow), |tx, (id, flow)| {
            Box::pin(set_flow(tx, id, *flow))
        })
        .await
    }

    async fn delete_auth_request(&self, id: &str) -> StoreResult<()> {
        self.write(Replay::Safe, id, |tx, id| {
            Box::pin(async move {
                execute(tx, "DELETE FROM auth_requests WHERE id = $1", &[&id]).await?;
                Ok(())
            })
        })
        .await
    }
}
