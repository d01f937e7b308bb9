//! Registered OAuth clients (the registration is a server-defined JSON document).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use textid_core::TenantId;

use super::rows::{id, json, ms};
use super::SqliteStore;
use crate::{ClientRecord, ClientStore, StoreResult};

fn create_client(tx: &Transaction<'_>, c: &ClientRecord, now: DateTime<Utc>) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO oauth_clients (tenant_id, client_id, document, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![c.tenant_id.to_string(), c.client_id, c.document.to_string(), c.secret_hash, ms(now)],
    )?;
    Ok(())
}

fn update_client(tx: &Transaction<'_>, c: &ClientRecord) -> StoreResult<()> {
    let n = tx.execute(
        "UPDATE oauth_clients SET document = ?3, secret_hash = ?4 WHERE tenant_id = ?1 AND client_id = ?2",
        params![c.tenant_id.to_string(), c.client_id, c.document.to_string(), c.secret_hash],
    )?;
    if n == 0 {
        return Err(crate::StoreError::NotFound("client"));
    }
    Ok(())
}

fn client_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, Option<String>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_client(
    (tid, cid, doc, hash): (String, String, String, Option<String>),
) -> StoreResult<ClientRecord> {
    Ok(ClientRecord {
        tenant_id: id(&tid)?,
        client_id: cid,
        document: json(&doc)?,
        secret_hash: hash,
    })
}

fn client(c: &Connection, tenant: TenantId, client_id: &str) -> StoreResult<Option<ClientRecord>> {
    c.prepare_cached("SELECT tenant_id, client_id, document, secret_hash FROM oauth_clients WHERE tenant_id = ?1 AND client_id = ?2")?
        .query_row(params![tenant.to_string(), client_id], client_row)
        .optional()?
        .map(to_client)
        .transpose()
}

fn list_clients(c: &Connection, tenant: TenantId) -> StoreResult<Vec<ClientRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT tenant_id, client_id, document, secret_hash FROM oauth_clients WHERE tenant_id = ?1 ORDER BY created_at, client_id",
    )?;
    let rows = stmt.query_map([tenant.to_string()], client_row)?;
    rows.map(|r| to_client(r?)).collect()
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create_client(&self, client: &ClientRecord, now: DateTime<Utc>) -> StoreResult<()> {
        let client = client.clone();
        self.write(move |tx| create_client(tx, &client, now)).await
    }

    async fn update_client(&self, client: &ClientRecord) -> StoreResult<()> {
        let client = client.clone();
        self.write(move |tx| update_client(tx, &client)).await
    }

    async fn client(&self, tenant: TenantId, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let client_id = client_id.to_string();
        self.read(move |c| client(c, tenant, &client_id)).await
    }

    async fn list_clients(&self, tenant: TenantId) -> StoreResult<Vec<ClientRecord>> {
        self.read(move |c| list_clients(c, tenant)).await
    }
}
