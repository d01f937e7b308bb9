//! SCIM records of synced users and groups (`scim_users`, `scim_groups`), a new synced
//! user or group written with its record (and the user's copies) in one transaction, the
//! copies the sync skipped (`skipped_number_copies`), and audit records of decisions that
//! changed nothing else. A write reads its user or group `FOR KEY SHARE` first, so a
//! concurrent delete waits or has happened (`NotFound`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use textid_core::directory::{Group, Upn};
use textid_core::methods::PhoneType;
use textid_core::{TenantId, UserId};
use tokio_postgres::Row;

use super::directory::{create_user, lock_user, RowLock};
use super::groups::{create_group, load_group, membership};
use super::retry::{Replay, Tx};
use super::rows::{execute, ms, query, query_opt, time};
use super::{audit, phone, PostgresStore};
use crate::{
    phone_type_from_stored, Actor, AuditEntry, NewSyncedGroup, NewSyncedUser, PlannedCopy,
    ProvisioningStore, ScimKind, ScimRecord, SkippedCopy, SkippedCopyRow, StoreError, StoreResult,
};

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

/// Keeps a skipped copy (replacing an older one of the method) and audits it.
async fn write_skip(tx: &Tx<'_>, skip: &SkippedCopy, actor: &Actor) -> StoreResult<()> {
    lock_user(tx, skip.tenant, skip.user, RowLock::KeyShare).await?;
    execute(
        tx,
        "INSERT INTO skipped_number_copies (user_id, phone_type, tenant_id, phone_number, reason, other_user_id, skipped_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (user_id, phone_type) DO UPDATE SET phone_number = excluded.phone_number,
             reason = excluded.reason, other_user_id = excluded.other_user_id, skipped_at = excluded.skipped_at",
        &[
            &skip.user.0,
            &skip.phone_type.as_str(),
            &skip.tenant.0,
            &skip.phone_number,
            &skip.reason,
            &skip.other_user.map(|u| u.0),
            &ms(skip.skipped_at),
        ],
    )
    .await?;
    audit::insert(tx, &skip.audit(actor)).await
}

/// Forgets the skipped copy of a method, in the caller's transaction.
pub(super) async fn clear_skip(
    tx: &Tx<'_>,
    tenant: TenantId,
    user: UserId,
    phone_type: PhoneType,
) -> StoreResult<()> {
    execute(
        tx,
        "DELETE FROM skipped_number_copies WHERE tenant_id = $1 AND user_id = $2 AND phone_type = $3",
        &[&tenant.0, &user.0, &phone_type.as_str()],
    )
    .await?;
    Ok(())
}

async fn create_synced_user(
    tx: &Tx<'_>,
    new: &NewSyncedUser,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let u = &new.user;
    create_user(tx, u, actor, now).await?;
    put(tx, u.tenant_id, ScimKind::User, u.id.0, &new.record).await?;
    for copy in &new.copies {
        let skip = match copy {
            PlannedCopy::Skip(skip) => skip.clone(),
            PlannedCopy::Make(change) => match phone::change(tx, change, actor, now).await {
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
        write_skip(tx, &skip, actor).await?;
    }
    Ok(())
}

async fn create_synced_group(
    tx: &Tx<'_>,
    new: &NewSyncedGroup,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let g = &new.group;
    create_group(tx, g, actor, now).await?;
    put(tx, g.tenant_id, ScimKind::Group, g.id.0, &new.record).await?;
    for u in &new.members {
        membership(tx, (g.tenant_id, g.id, *u), true, actor, now).await?;
    }
    Ok(())
}

async fn skipped<C: GenericClient>(c: &C, tenant: TenantId) -> StoreResult<Vec<SkippedCopyRow>> {
    let rows = query(
        c,
        "SELECT s.user_id, s.phone_type, s.phone_number, s.reason, s.other_user_id, s.skipped_at,
                u.upn, o.upn
         FROM skipped_number_copies s JOIN users u ON u.id = s.user_id
         LEFT JOIN users o ON o.id = s.other_user_id
         WHERE s.tenant_id = $1 ORDER BY s.skipped_at DESC, u.upn, s.phone_type",
        &[&tenant.0],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let other: Option<uuid::Uuid> = r.try_get(4)?;
            let phone_type: String = r.try_get(1)?;
            Ok(SkippedCopyRow {
                copy: SkippedCopy {
                    tenant,
                    user: UserId(r.try_get(0)?),
                    phone_type: phone_type_from_stored(&phone_type)?,
                    phone_number: r.try_get(2)?,
                    reason: r.try_get(3)?,
                    other_user: other.map(UserId),
                    skipped_at: time(r.try_get(5)?),
                },
                upn: Upn::stored(r.try_get(6)?),
                other_upn: r.try_get::<_, Option<String>>(7)?.map(Upn::stored),
            })
        })
        .collect()
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

    async fn create_synced_user(
        &self,
        new: &NewSyncedUser,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(new, actor, now), |tx, (n, a, now)| {
            Box::pin(create_synced_user(tx, n, a, *now))
        })
        .await
    }

    async fn create_synced_group(
        &self,
        new: &NewSyncedGroup,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(new, actor, now), |tx, (n, a, now)| {
            Box::pin(create_synced_group(tx, n, a, *now))
        })
        .await
    }

    async fn skip_number_copy(&self, skip: &SkippedCopy, actor: &Actor) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(skip, actor), |tx, (s, a)| {
            Box::pin(write_skip(tx, s, a))
        })
        .await
    }

    async fn clear_skipped_copy(
        &self,
        tenant: TenantId,
        user: UserId,
        phone_type: PhoneType,
    ) -> StoreResult<()> {
        self.write(
            Replay::Safe,
            &(tenant, user, phone_type),
            |tx, (t, u, p)| Box::pin(clear_skip(tx, *t, *u, *p)),
        )
        .await
    }

    async fn skipped_number_copies(&self, tenant: TenantId) -> StoreResult<Vec<SkippedCopyRow>> {
        self.read(&tenant, |c, t| Box::pin(skipped(c, *t))).await
    }
}
