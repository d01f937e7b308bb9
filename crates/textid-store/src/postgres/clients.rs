//! Registered OAuth clients (the registration is a server-defined JSON document), with
//! the previous secret of a rotation and its end. A duplicate id is
//! `Conflict("oauth_clients")` (the primary key, named by `errors`). Changes and deletions
//! are audited; a deletion revokes the token families issued to the client in the same
//! transaction, each under its family lock (`locks::family`, sorted), as any family's
//! revocation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use textid_core::audit::AuditRecord;
use textid_core::TenantId;
use tokio_postgres::Row;

use super::retry::{Replay, Tx};
use super::rows::{execute, json, ms, query, query_opt, time};
use super::{audit, locks, tokens, PostgresStore};
use crate::{Actor, ClientRecord, ClientStore, StoreError, StoreResult};

const SELECT: &str = "SELECT tenant_id, client_id, document, secret_hash, previous_secret_hash, previous_secret_expires_at FROM oauth_clients";

fn to_client(r: &Row) -> StoreResult<ClientRecord> {
    Ok(ClientRecord {
        tenant_id: TenantId(r.try_get(0)?),
        client_id: r.try_get(1)?,
        document: json(r.try_get(2)?)?,
        secret_hash: r.try_get(3)?,
        previous_secret_hash: r.try_get(4)?,
        previous_secret_expires_at: r.try_get::<_, Option<i64>>(5)?.map(time),
    })
}

async fn load<C: GenericClient>(
    c: &C,
    tenant: TenantId,
    client_id: &str,
    for_update: bool,
) -> StoreResult<Option<ClientRecord>> {
    let sql = if for_update {
        format!("{SELECT} WHERE tenant_id = $1 AND client_id = $2 FOR UPDATE")
    } else {
        format!("{SELECT} WHERE tenant_id = $1 AND client_id = $2")
    };
    query_opt(c, &sql, &[&tenant.0, &client_id])
        .await?
        .as_ref()
        .map(to_client)
        .transpose()
}

async fn update(
    tx: &Tx<'_>,
    c: &ClientRecord,
    activity: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = load(tx, c.tenant_id, &c.client_id, true)
        .await?
        .ok_or(StoreError::NotFound("client"))?;
    execute(
        tx,
        "UPDATE oauth_clients SET document = $3, secret_hash = $4, previous_secret_hash = $5, previous_secret_expires_at = $6
         WHERE tenant_id = $1 AND client_id = $2",
        &[
            &c.tenant_id.0, &c.client_id, &c.document, &c.secret_hash, &c.previous_secret_hash,
            &c.previous_secret_expires_at.map(ms),
        ],
    )
    .await?;
    let record = AuditRecord::client(
        c.tenant_id,
        &c.client_id,
        activity,
        Some(before.document),
        Some(c.document.clone()),
        actor,
        now,
    );
    audit::insert(tx, &record).await
}

async fn delete(
    tx: &Tx<'_>,
    tenant: TenantId,
    client_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = load(tx, tenant, client_id, true)
        .await?
        .ok_or(StoreError::NotFound("client"))?;
    let rows = query(
        tx,
        "SELECT family_id FROM refresh_tokens WHERE tenant_id = $1 AND client_id = $2
         UNION SELECT grant_doc->>'family_id' FROM oauth_codes WHERE tenant_id = $1 AND client_id = $2",
        &[&tenant.0, &client_id],
    )
    .await?;
    let mut families = rows
        .iter()
        .map(|r| r.try_get::<_, Option<String>>(0))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    families.sort();
    families.dedup();
    for family in &families {
        locks::family(tx, family).await?;
        tokens::revoke_family(tx, family, now).await?;
    }
    execute(
        tx,
        "DELETE FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2",
        &[&tenant.0, &client_id],
    )
    .await?;
    let record = AuditRecord::client(
        tenant,
        client_id,
        "Delete application",
        Some(before.document),
        None,
        actor,
        now,
    );
    audit::insert(tx, &record).await
}

#[async_trait]
impl ClientStore for PostgresStore {
    async fn create_client(&self, client: &ClientRecord, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(client, now), |tx, (c, now)| {
            Box::pin(async move {
                execute(
                    tx,
                    "INSERT INTO oauth_clients (tenant_id, client_id, document, secret_hash, created_at, previous_secret_hash, previous_secret_expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        &c.tenant_id.0, &c.client_id, &c.document, &c.secret_hash, &ms(*now),
                        &c.previous_secret_hash, &c.previous_secret_expires_at.map(ms),
                    ],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn update_client(
        &self,
        client: &ClientRecord,
        activity: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &(client, activity, actor, now),
            |tx, (c, activity, actor, now)| Box::pin(update(tx, c, activity, actor, *now)),
        )
        .await
    }

    async fn delete_client(
        &self,
        tenant: TenantId,
        client_id: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &(tenant, client_id, actor, now),
            |tx, (t, id, actor, now)| Box::pin(delete(tx, *t, id, actor, *now)),
        )
        .await
    }

    async fn client(&self, tenant: TenantId, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        self.read(&(tenant, client_id), |c, (t, id)| {
            Box::pin(load(c, *t, id, false))
        })
        .await
    }

    async fn list_clients(&self, tenant: TenantId) -> StoreResult<Vec<ClientRecord>> {
        self.read(&tenant, |c, t| {
            Box::pin(async move {
                let rows = query(
                    c,
                    &format!("{SELECT} WHERE tenant_id = $1 ORDER BY created_at, client_id COLLATE \"C\""),
                    &[&t.0],
                )
                .await?;
                rows.iter().map(to_client).collect()
            })
        })
        .await
    }
}
