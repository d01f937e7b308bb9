//! Inserting an audit record (composed by `textid_core::audit`) in the transaction of the
//! change it describes, and announcing a change of a cached topic: the topic's version is
//! bumped and `NOTIFY textid_changes, '<topic>'` is sent in the same transaction, so the
//! other nodes hear of it exactly when (and only if) it commits.

use textid_core::audit::AuditRecord;

use super::listen::CHANNEL;
use super::retry::Tx;
use super::rows::{execute, ms};
use crate::{Changed, StoreResult};

pub(super) async fn insert(tx: &Tx<'_>, a: &AuditRecord) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO directory_audits (id, tenant_id, created_at, actor_type, actor_id, activity, target_type, target_id, before, after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &a.id,
            &a.tenant_id.0,
            &ms(a.created_at),
            &a.actor.kind,
            &a.actor.id,
            &a.activity,
            &a.target_type,
            &a.target_id,
            &a.before,
            &a.after,
        ],
    )
    .await?;
    Ok(())
}

/// Marks `topic` changed for every node (see `MaintenanceStore::subscribe`).
pub(super) async fn bump(tx: &Tx<'_>, topic: Changed) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO cache_versions (topic, version) VALUES ($1, 1)
         ON CONFLICT (topic) DO UPDATE SET version = cache_versions.version + 1",
        &[&topic.as_str()],
    )
    .await?;
    execute(tx, "SELECT pg_notify($1, $2)", &[&CHANNEL, &topic.as_str()]).await?;
    Ok(())
}
