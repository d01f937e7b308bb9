//! SCIM records of synced users and groups (`scim_users`, `scim_groups`), and audit records
//! of decisions that changed nothing else.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use textid_core::directory::Group;
use textid_core::TenantId;

use super::directory::load_group;
use super::rows::{id, json, ms, time, to_json};
use super::{audit, SqliteStore};
use crate::{Actor, AuditEntry, ProvisioningStore, ScimKind, ScimRecord, StoreError, StoreResult};

/// The table of a kind and the column naming its user or group.
fn table(kind: ScimKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        ScimKind::User => ("scim_users", "user_id", "users"),
        ScimKind::Group => ("scim_groups", "group_id", "groups"),
    }
}

fn record(r: &Row<'_>) -> rusqlite::Result<(String, Option<String>, String, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn to_record(
    (rid, external_id, attributes, created, modified): (String, Option<String>, String, i64, i64),
) -> StoreResult<(uuid::Uuid, ScimRecord)> {
    Ok((
        id(&rid)?,
        ScimRecord {
            external_id,
            attributes: json(&attributes)?,
            created_at: time(created),
            modified_at: time(modified),
        },
    ))
}

fn select(kind: ScimKind, one: bool) -> String {
    let (t, col, _) = table(kind);
    let by_id = if one {
        format!(" AND {col} = ?2")
    } else {
        String::new()
    };
    format!("SELECT {col}, external_id, attributes, created_at, modified_at FROM {t} WHERE tenant_id = ?1{by_id} ORDER BY created_at, {col}")
}

fn load(
    c: &Connection,
    tenant: TenantId,
    kind: ScimKind,
) -> StoreResult<Vec<(uuid::Uuid, ScimRecord)>> {
    let mut stmt = c.prepare_cached(&select(kind, false))?;
    let rows = stmt.query_map(params![tenant.to_string()], record)?;
    rows.map(|r| to_record(r?)).collect()
}

#[async_trait]
impl ProvisioningStore for SqliteStore {
    async fn scim_record(
        &self,
        tenant: TenantId,
        kind: ScimKind,
        rid: uuid::Uuid,
    ) -> StoreResult<Option<ScimRecord>> {
        self.read(move |c| {
            c.prepare_cached(&select(kind, true))?
                .query_row(params![tenant.to_string(), rid.to_string()], record)
                .optional()?
                .map(|r| to_record(r).map(|(_, rec)| rec))
                .transpose()
        })
        .await
    }

    async fn scim_records(
        &self,
        tenant: TenantId,
        kind: ScimKind,
    ) -> StoreResult<Vec<(uuid::Uuid, ScimRecord)>> {
        self.read(move |c| load(c, tenant, kind)).await
    }

    async fn put_scim_record(
        &self,
        tenant: TenantId,
        kind: ScimKind,
        rid: uuid::Uuid,
        rec: &ScimRecord,
    ) -> StoreResult<()> {
        let rec = rec.clone();
        self.write(move |tx| {
            let (t, col, owner) = table(kind);
            let exists = tx
                .prepare_cached(&format!(
                    "SELECT 1 FROM {owner} WHERE tenant_id = ?1 AND id = ?2"
                ))?
                .query_row(params![tenant.to_string(), rid.to_string()], |_| Ok(()))
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::NotFound(if kind == ScimKind::User {
                    "user"
                } else {
                    "group"
                }));
            }
            tx.prepare_cached(&format!(
                "INSERT INTO {t} ({col}, tenant_id, external_id, attributes, created_at, modified_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT ({col}) DO UPDATE SET external_id = excluded.external_id,
                     attributes = excluded.attributes, modified_at = excluded.modified_at"
            ))?
            .execute(params![
                rid.to_string(),
                tenant.to_string(),
                rec.external_id,
                to_json(&rec.attributes),
                ms(rec.created_at),
                ms(rec.modified_at),
            ])?;
            Ok(())
        })
        .await
    }

    async fn rename_group(
        &self,
        group: &Group,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (g, actor) = (group.clone(), actor.clone());
        self.write(move |tx| {
            let before = load_group(tx, g.tenant_id, g.id)?.ok_or(StoreError::NotFound("group"))?;
            tx.execute(
                "UPDATE groups SET display_name = ?3 WHERE tenant_id = ?1 AND id = ?2",
                params![g.tenant_id.to_string(), g.id.to_string(), g.display_name],
            )?;
            audit::insert(tx, &AuditEntry::group_updated(&before, &g, &actor, now))
        })
        .await
    }

    async fn record_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let entry = entry.clone();
        self.write(move |tx| audit::insert(tx, &entry)).await
    }
}
