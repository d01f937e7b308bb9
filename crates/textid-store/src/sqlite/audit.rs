//! Inserting an audit record (composed by `textid_core::audit`) in the transaction of the
//! change it describes, and bumping a cached topic's version with it.

use rusqlite::{params, Statement, Transaction};
use textid_core::audit::AuditRecord;

use super::rows::ms;
use crate::{Changed, StoreResult};

const INSERT: &str = "INSERT INTO directory_audits (id, tenant_id, created_at, actor_type, actor_id, activity, target_type, target_id, before, after)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

pub(super) fn insert(tx: &Transaction<'_>, a: &AuditRecord) -> StoreResult<()> {
    insert_with(&mut *tx.prepare_cached(INSERT)?, a)
}

/// The insert statement, prepared once for many records (a bulk import): the statement
/// cache would hash the SQL text again for every row.
pub(super) fn inserter<'t>(tx: &'t Transaction<'_>) -> StoreResult<Statement<'t>> {
    Ok(tx.prepare(INSERT)?)
}

/// Inserts `a` with a statement from [`inserter`] (or the cache).
pub(super) fn insert_with(stmt: &mut Statement<'_>, a: &AuditRecord) -> StoreResult<()> {
    stmt.execute(params![
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
