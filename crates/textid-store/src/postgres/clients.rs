//! Registered OAuth clients (the registration is a server-defined JSON document). A
//! duplicate id is `Conflict("oauth_clients")` (the primary key, named by `errors`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use textid_core::TenantId;
use tokio_postgres::Row;

use super::retry::Replay;
use super::rows::{execute, json, ms, query, query_opt};
use super::PostgresStore;
use crate::{ClientRecord, ClientStore, StoreError, StoreResult};

fn to_client(r: &Row) -> StoreResult<ClientRecord> {
    Ok(ClientRecord {
        tenant_id: TenantId(r.try_get(0)?),
        client_id: r.try_get(1)?,
        document: json(r.try_get(2)?)?,
        secret_hash: r.try_get(3)?,
    })
}

#[async_trait]
impl ClientStore for PostgresStore {
    async fn create_client(&self, client: &ClientRecord, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(client, now), |tx, (c, now)| {
            Box::pin(async move {
                execute(
                    tx,
                    "INSERT INTO oauth_clients (tenant_id, client_id, document, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
                    &[&c.tenant_id.0, &c.client_id, &c.document, &c.secret_hash, &ms(*now)],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn update_client(&self, client: &ClientRecord) -> StoreResult<()> {
        self.write(Replay::Safe, client, |tx, c| {
            Box::pin(async move {
                let n = execute(
                    tx,
                    "UPDATE oauth_clients SET document = $3, secret_hash = $4 WHERE tenant_id = $1 AND client_id = $2",
                    &[&c.tenant_id.0, &c.client_id, &c.document, &c.secret_hash],
                )
                .await?;
                if n == 0 {
                    return Err(StoreError::NotFound("client"));
                }
                Ok(())
            })
        })
        .await
    }

    async fn client(&self, tenant: TenantId, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        self.read(&(tenant, client_id), |c, (t, id)| {
            Box::pin(async move {
                query_opt(
                    c,
                    "SELECT tenant_id, client_id, document, secret_hash FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2",
                    &[&t.0, id],
                )
                .await?
                .as_ref()
                .map(to_client)
                .transpose()
            })
        })
        .await
    }

    async fn list_clients(&self, tenant: TenantId) -> StoreResult<Vec<ClientRecord>> {
        self.read(&tenant, |c, t| {
            Box::pin(async move {
                let rows = query(
                    c,
                    "SELECT tenant_id, client_id, document, secret_hash FROM oauth_clients WHERE tenant_id = $1
                     ORDER BY created_at, client_id COLLATE \"C\"",
                    &[&t.0],
                )
                .await?;
                rows.iter().map(to_client).collect()
            })
        })
        .await
    }
}
