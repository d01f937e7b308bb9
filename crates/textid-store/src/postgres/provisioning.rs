//! SCIM records of synced users and groups (`scim_users`, `scim_groups`), and audit records
//! of decisions that changed nothing else. A write reads its user or group `FOR KEY SHARE`
//! first, so a concurrent delete waits or has happened (`NotFound`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use textid_core::directory::Group;
use textid_core::TenantId;
use tokio_postgres::Row;

use super::directory::RowLock;
use super::groups::load_group;
use super::retry::{Replay, Tx};
use super::rows::{execute, ms, query, query_opt, time};
use super::{audit, PostgresStore};
use crate::{Actor, AuditEntry, ProvisioningStore, ScimKind, ScimRecord, StoreError, StoreResult};

/// The table of a kind, the column naming its user or group, and that owner's table.
fn table(kind: ScimKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        ScimKind::User => ("scim_users", "user_id", "users"),
        ScimKind::Group => ("scim_groups", "group_id", "groups"),
    }
}

fn select(kind: ScimKind, one: bool) -> String {
    let (t, col, _) = table(kind);
    let by_id = if one {
        format!(" AND {col} = $2")
    } else {
        String::new()
    };
    format!("SELECT {col}, external_id, attributes, created_at, modified_at FROM {t} WHERE tenant_id = $1{by_id} ORDER BY created_at, {col}")
}

fn to_record(r: &Row) -> StoreResult<(uuid::Uuid, ScimRecord)> {
    Ok((
        r.try_get(0)?,
        ScimRecord {
            external_id: r.try_get(1)?,
            attributes: r.try_get(2)?,
            created_at: time(r.try_get(3)?),
            modified_at: time(r.try_get(4)?),
        },
    ))
}

async fn load_one<C: GenericClient>(
    c: &C,
    tenant: TenantId,
    kind: ScimKind,
    rid: uuid::Uuid,
) -> StoreResult<Option<ScimRecord>> {
    query_opt(c, &select(kind, true), &[&tenant.0, &rid])
        .await?
        .as_ref()
        .map(|r| to_record(r).map(|(_, rec)| rec))
        .transpose()
}

async fn load_all<C: GenericClient>(
    c: &C,
    tenant: TenantId,
    kind: ScimKind,
) -> StoreResult<Vec<(uuid::Uuid, ScimRecord)>> {
    query(c, &select(kind, false), &[&tenant.0])
        .await?
        .iter()
        .map(to_record)
        .collect()
}

async fn put(
    tx: &Tx<'_>,
    tenant: TenantId,
    kind: ScimKind,
    rid: uuid::Uuid,
    rec: &ScimRecord,
) -> StoreResult<()> {
    let (t, col, owner) = table(kind);
    let owner_row = query_opt(
        tx,
        &format!("SELECT 1 FROM {owner} WHERE tenant_id = $1 AND id = $2 FOR KEY SHARE"),
        &[&tenant.0, &rid],
    )
    .await?;
    if owner_row.is_none() {
        return Err(StoreError::NotFound(match kind {
            ScimKind::User => "user",
            ScimKind::Group => "group",
        }));
    }
    execute(
        tx,
        &format!(
            "INSERT INTO {t} ({col}, tenant_id, external_id, attributes, created_at, modified_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT ({col}) DO UPDATE SET external_id = excluded.external_id,
                 attributes = excluded.attributes, modified_at = excluded.modified_at"
        ),
        &[
            &rid,
            &tenant.0,
            &rec.external_id,
            &rec.attributes,
            &ms(rec.created_at),
            &ms(rec.modified_at),
        ],
    )
    .await?;
    Ok(())
}

async fn rename_group(
    tx: &Tx<'_>,
    g: &Group,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = load_group(tx, g.tenant_id, g.id, Some(RowLock::NoKeyUpdate))
        .await?
        .ok_or(StoreError::NotFound("group"))?;
    execute(
        tx,
        "UPDATE groups SET display_name = $3 WHERE tenant_id = $1 AND id = $2",
        &[&g.tenant_id.0, &g.id.0, &g.display_name],
    )
    .await?;
    audit::insert(tx, &AuditEntry::group_updated(&before, g, actor, now)).await
}

#[async_trait]
impl ProvisioningStore for PostgresStore {
    async fn scim_record(
        &self,
        tenant: TenantId,
        kind: ScimKind,
        rid: uuid::Uuid,
    ) -> StoreResult<Option<ScimRecord>> {
        self.read(&(tenant, kind, rid), |c, (t, k, r)| {
            Box::pin(load_one(c, *t, *k, *r))
        })
        .await
    }

    async fn scim_records(
        &self,
        tenant: TenantId,
        kind: ScimKind,
    ) -> StoreResult<Vec<(uuid::Uuid, ScimRecord)>> {
        self.read(&(tenant, kind), |c, (t, k)| Box::pin(load_all(c, *t, *k)))
            .await
    }

    async fn put_scim_record(
        &self,
        tenant: TenantId,
        kind: ScimKind,
        rid: uuid::Uuid,
        rec: &ScimRecord,
    ) -> StoreResult<()> {
        // An upsert of the same values: running it twice changes nothing more.
        self.write(
            Replay::Safe,
            &(tenant, kind, rid, rec),
            |tx, (t, k, r, rec)| Box::pin(put(tx, *t, *k, *r, rec)),
        )
        .await
    }

    async fn rename_group(
        &self,
        group: &Group,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(group, actor, now), |tx, (g, a, now)| {
            Box::pin(rename_group(tx, g, a, *now))
        })
        .await
    }

    async fn record_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        self.write(Replay::Unsafe, entry, |tx, e| {
            Box::pin(audit::insert(tx, e))
        })
        .await
    }
}
