//! Registered OAuth clients (the registration is a server-defined JSON document), with
//! the previous secret of a rotation and its end. Changes and deletions are audited; a
//! deletion revokes the token families issued to the client in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use textid_core::TenantId;

use textid_core::audit::AuditRecord;

use super::rows::{id, json, ms, time};
use super::{audit, SqliteStore};
use crate::{Actor, ClientRecord, ClientStore, StoreError, StoreResult};

fn create_client(tx: &Transaction<'_>, c: &ClientRecord, now: DateTime<Utc>) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO oauth_clients (tenant_id, client_id, document, secret_hash, created_at, previous_secret_hash, previous_secret_expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            c.tenant_id.to_string(), c.client_id, c.document.to_string(), c.secret_hash, ms(now),
            c.previous_secret_hash, c.previous_secret_expires_at.map(ms)
        ],
    )?;
    Ok(())
}

fn update_client(
    tx: &Transaction<'_>,
    c: &ClientRecord,
    activity: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = client(tx, c.tenant_id, &c.client_id)?.ok_or(StoreError::NotFound("client"))?;
    tx.execute(
        "UPDATE oauth_clients SET document = ?3, secret_hash = ?4, previous_secret_hash = ?5, previous_secret_expires_at = ?6
         WHERE tenant_id = ?1 AND client_id = ?2",
        params![
            c.tenant_id.to_string(), c.client_id, c.document.to_string(), c.secret_hash,
            c.previous_secret_hash, c.previous_secret_expires_at.map(ms)
        ],
    )?;
    let record = AuditRecord::client(
        c.tenant_id,
        &c.client_id,
        activity,
        Some(before.document),
        Some(c.document.clone()),
        actor,
        now,
    );
    audit::insert(tx, &record)
}

/// Deletes the registration and revokes the families of codes and refresh tokens issued
/// to it (their access tokens are refused with their family).
fn delete_client(
    tx: &Transaction<'_>,
    tenant: TenantId,
    client_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = client(tx, tenant, client_id)?.ok_or(StoreError::NotFound("client"))?;
    let (t, at) = (tenant.to_string(), ms(now));
    tx.execute(
        "INSERT OR IGNORE INTO revoked_families (family_id, revoked_at)
         SELECT family_id, ?3 FROM refresh_tokens WHERE tenant_id = ?1 AND client_id = ?2
         UNION SELECT json_extract(grant_doc, '$.family_id'), ?3 FROM oauth_codes WHERE tenant_id = ?1 AND client_id = ?2",
        params![t, client_id, at],
    )?;
    tx.execute(
        "UPDATE refresh_tokens SET revoked_at = ?3 WHERE tenant_id = ?1 AND client_id = ?2 AND revoked_at IS NULL",
        params![t, client_id, at],
    )?;
    tx.execute(
        "DELETE FROM oauth_clients WHERE tenant_id = ?1 AND client_id = ?2",
        params![t, client_id],
    )?;
    let record = AuditRecord::client(
        tenant,
        client_id,
        "Delete application",
        Some(before.document),
        None,
        actor,
        now,
    );
    audit::insert(tx, &record)
}

type ClientRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn client_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClientRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn to_client(
    (tid, cid, doc, hash, previous, previous_until): ClientRow,
) -> StoreResult<ClientRecord> {
    Ok(ClientRecord {
        tenant_id: id(&tid)?,
        client_id: cid,
        document: json(&doc)?,
        secret_hash: hash,
        previous_secret_hash: previous,
        previous_secret_expires_at: previous_until.map(time),
    })
}

const COLUMNS: &str =
    "tenant_id, client_id, document, secret_hash, previous_secret_hash, previous_secret_expires_at";

fn client(c: &Connection, tenant: TenantId, client_id: &str) -> StoreResult<Option<ClientRecord>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM oauth_clients WHERE tenant_id = ?1 AND client_id = ?2"
    ))?
    .query_row(params![tenant.to_string(), client_id], client_row)
    .optional()?
    .map(to_client)
    .transpose()
}

fn list_clients(c: &Connection, tenant: TenantId) -> StoreResult<Vec<ClientRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM oauth_clients WHERE tenant_id = ?1 ORDER BY created_at, client_id"
    ))?;
    let rows = stmt.query_map([tenant.to_string()], client_row)?;
    rows.map(|r| to_client(r?)).collect()
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create_client(&self, client: &ClientRecord, now: DateTime<Utc>) -> StoreResult<()> {
        let client = client.clone();
        self.write(move |tx| create_client(tx, &client, now)).await
    }

    async fn update_client(
        &self,
        client: &ClientRecord,
        activity: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (client, activity, actor) = (client.clone(), activity.to_string(), actor.clone());
        self.write(move |tx| update_client(tx, &client, &activity, &actor, now))
            .await
    }

    async fn delete_client(
        &self,
        tenant: TenantId,
        client_id: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (client_id, actor) = (client_id.to_string(), actor.clone());
        self.write(move |tx| delete_client(tx, tenant, &client_id, &actor, now))
            .await
    }

    async fn client(&self, tenant: TenantId, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let client_id = client_id.to_string();
        self.lookup(move |c| client(c, tenant, &client_id)).await
    }

    async fn list_clients(&self, tenant: TenantId) -> StoreResult<Vec<ClientRecord>> {
        self.read(move |c| list_clients(c, tenant)).await
    }
}
