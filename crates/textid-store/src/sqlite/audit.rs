//! Inserting an audit record (composed by `textid_core::audit`) in the transaction of the
//! change it describes, and bumping a cached topic's version with it.

use rusqlite::{params, Transaction};
use textid_core::audit::AuditRecord;

use super::rows::ms;
use crate::{Changed, StoreResult};

pub(super) fn insert(tx: &Transaction<'_>, a: &AuditRecord) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO directory_audits (id, tenant_id, created_at, actor_type, actor_id, activity, target_type, target_id, before, after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        a.id.to_string(),
        a.tenant_id.to_string(),
        ms(a.created_at),
        a.actor.kind,
        a.actor.id,
        a.activity,
        a.target_type,
        a.target_id,
        a.before.as_ref().map(|v| v.to_string()),
        a.after.as_ref().map(|v| v.to_string()),
    ])?;
    Ok(())
}

/// Marks `topic` changed; other processes see the new version (see `MaintenanceStore`).
pub(super) fn bump(tx: &Transaction<'_>, topic: Changed) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO cache_versions (topic, version) VALUES (?1, 1)
         ON CONFLICT (topic) DO UPDATE SET version = version + 1",
    )?
    .execute([topic.as_str()])?;
    Ok(())
}
