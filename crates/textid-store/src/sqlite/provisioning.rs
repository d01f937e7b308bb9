//! SCIM records of synced users and groups (`scim_users`, `scim_groups`), a new synced
//! user or group written with its record (and the user's copies) in one transaction, the
//! copies the sync skipped (`skipped_number_copies`), and audit records of decisions that
//! changed nothing else.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use textid_core::directory::{Group, Upn};
use textid_core::methods::PhoneType;
use textid_core::{TenantId, UserId};

use super::directory::{insert_group, insert_member, insert_user, load_group, load_user};
use super::rows::{id, json, ms, opt_id, time, to_json};
use super::{audit, phone, SqliteStore};
use crate::{
    phone_type_from_stored, Actor, AuditEntry, NewSyncedGroup, NewSyncedUser, PlannedCopy,
    ProvisioningStore, ScimKind, ScimRecord, SkippedCopy, SkippedCopyRow, StoreError, StoreResult,
};

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

/// Writes a SCIM record in the caller's transaction.
fn put(
    tx: &Transaction<'_>,
    tenant: TenantId,
    kind: ScimKind,
    rid: uuid::Uuid,
    rec: &ScimRecord,
) -> StoreResult<()> {
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
}

/// Keeps a skipped copy (replacing an older one of the method) and audits it.
fn write_skip(tx: &Transaction<'_>, skip: &SkippedCopy, actor: &Actor) -> StoreResult<()> {
    load_user(tx, skip.tenant, skip.user)?.ok_or(StoreError::NotFound("user"))?;
    tx.prepare_cached(
        "INSERT INTO skipped_number_copies (user_id, phone_type, tenant_id, phone_number, reason, other_user_id, skipped_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (user_id, phone_type) DO UPDATE SET phone_number = excluded.phone_number,
             reason = excluded.reason, other_user_id = excluded.other_user_id, skipped_at = excluded.skipped_at",
    )?
    .execute(params![
        skip.user.to_string(),
        skip.phone_type.as_str(),
        skip.tenant.to_string(),
        skip.phone_number,
        skip.reason,
        skip.other_user.map(|u| u.to_string()),
        ms(skip.skipped_at),
    ])?;
    audit::insert(tx, &skip.audit(actor))
}

/// Forgets the skipped copy of a method, in the caller's transaction.
pub(super) fn clear_skip(
    tx: &Transaction<'_>,
    tenant: TenantId,
    user: UserId,
    phone_type: PhoneType,
) -> StoreResult<()> {
    tx.prepare_cached(
        "DELETE FROM skipped_number_copies WHERE tenant_id = ?1 AND user_id = ?2 AND phone_type = ?3",
    )?
    .execute(params![tenant.to_string(), user.to_string(), phone_type.as_str()])?;
    Ok(())
}

fn create_synced_user(
    tx: &Transaction<'_>,
    new: &NewSyncedUser,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let u = &new.user;
    insert_user(tx, u, actor, now)?;
    put(tx, u.tenant_id, ScimKind::User, u.id.0, &new.record)?;
    for copy in &new.copies {
        let skip = match copy {
            PlannedCopy::Skip(skip) => skip.clone(),
            PlannedCopy::Make(change) => match phone::apply_change(tx, change, actor, now) {
                Ok(()) => continue,
                Err(StoreError::PhoneMethod(refusal)) => {
                    match SkippedCopy::refused(change, &refusal, now) {
                        Some(skip) => skip,
                        None => return Err(StoreError::PhoneMethod(refusal)),
                    }
                }
                Err(e) => return Err(e),
            },
        };
        write_skip(tx, &skip, actor)?;
    }
    Ok(())
}

fn skipped(c: &Connection, tenant: TenantId) -> StoreResult<Vec<SkippedCopyRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT s.user_id, s.phone_type, s.phone_number, s.reason, s.other_user_id, s.skipped_at,
                u.upn, o.upn
         FROM skipped_number_copies s JOIN users u ON u.id = s.user_id
         LEFT JOIN users o ON o.id = s.other_user_id
         WHERE s.tenant_id = ?1 ORDER BY s.skipped_at DESC, u.upn, s.phone_type",
    )?;
    let rows = stmt.query_map([tenant.to_string()], |r| {
        Ok((
            (
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ),
            (
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
            ),
        ))
    })?;
    rows.map(|r| {
        let ((user, phone_type, phone_number, reason), (other, at, upn, other_upn)) = r?;
        Ok(SkippedCopyRow {
            copy: SkippedCopy {
                tenant,
                user: id(&user)?,
                phone_type: phone_type_from_stored(&phone_type)?,
                phone_number,
                reason,
                other_user: opt_id(other)?,
                skipped_at: time(at),
            },
            upn: Upn::stored(upn),
            other_upn: other_upn.map(Upn::stored),
        })
    })
    .collect()
}

#[async_trait]
impl ProvisioningStore for SqliteStore {
    async fn scim_record(
        &self,
        tenant: TenantId,
        kind: ScimKind,
        rid: uuid::Uuid,
    ) -> StoreResult<Option<ScimRecord>> {
        self.lookup(move |c| {
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
        self.write(move |tx| put(tx, tenant, kind, rid, &rec)).await
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

    async fn create_synced_user(
        &self,
        new: &NewSyncedUser,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (new, actor) = (new.clone(), actor.clone());
        self.write(move |tx| create_synced_user(tx, &new, &actor, now))
            .await
    }

    async fn create_synced_group(
        &self,
        new: &NewSyncedGroup,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (new, actor) = (new.clone(), actor.clone());
        self.write(move |tx| {
            let g = &new.group;
            insert_group(tx, g, &actor, now)?;
            put(tx, g.tenant_id, ScimKind::Group, g.id.0, &new.record)?;
            for u in &new.members {
                insert_member(tx, g.tenant_id, g.id, *u, &actor, now)?;
            }
            Ok(())
        })
        .await
    }

    async fn skip_number_copy(&self, skip: &SkippedCopy, actor: &Actor) -> StoreResult<()> {
        let (skip, actor) = (skip.clone(), actor.clone());
        self.write(move |tx| write_skip(tx, &skip, &actor)).await
    }

    async fn clear_skipped_copy(
        &self,
        tenant: TenantId,
        user: UserId,
        phone_type: PhoneType,
    ) -> StoreResult<()> {
        self.write(move |tx| clear_skip(tx, tenant, user, phone_type))
            .await
    }

    async fn skipped_number_copies(&self, tenant: TenantId) -> StoreResult<Vec<SkippedCopyRow>> {
        self.read(move |c| skipped(c, tenant)).await
    }
}
