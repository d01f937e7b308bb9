//! The authentication methods policy, one JSON document per tenant.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use textid_core::audit::AuditRecord;
use textid_core::policy::AuthenticationMethodsPolicy;
use textid_core::TenantId;

use super::rows::{json, to_json};
use super::{audit, SqliteStore};
use crate::{Actor, PolicyStore, StoreError, StoreResult};

/// A tenant's policy, read in the caller's transaction. The document is read every time;
/// its parse is reused while the text is the one parsed before (a step reads the policy
/// on every sign-in; a change is a new text, parsed again).
pub(super) fn load(
    c: &Connection,
    tenant: TenantId,
) -> StoreResult<Arc<AuthenticationMethodsPolicy>> {
    let mut stmt = c.prepare_cached("SELECT policy FROM tenants WHERE id = ?1")?;
    let mut rows = stmt.query([tenant.to_string()])?;
    let row = rows.next()?.ok_or(StoreError::NotFound("tenant"))?;
    let doc = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
    let mut parsed = PARSED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((text, policy)) = parsed.get(&tenant) {
        if text == doc {
            return Ok(policy.clone());
        }
    }
    let policy = Arc::new(json::<AuthenticationMethodsPolicy>(doc)?);
    if parsed.len() >= PARSED_KEPT {
        parsed.clear();
    }
    parsed.insert(tenant, (doc.to_string(), policy.clone()));
    Ok(policy)
}

/// Policies parsed, by tenant, with the text they were parsed from.
type Parsed = HashMap<TenantId, (String, Arc<AuthenticationMethodsPolicy>)>;

/// Bounded: tenants beyond this start the memo again.
const PARSED_KEPT: usize = 1024;

static PARSED: LazyLock<Mutex<Parsed>> = LazyLock::new(Default::default);

#[async_trait]
impl PolicyStore for SqliteStore {
    async fn policy(&self, tenant: TenantId) -> StoreResult<AuthenticationMethodsPolicy> {
        self.lookup(move |c| load(c, tenant).map(Arc::unwrap_or_clone))
            .await
    }

    async fn put_policy(
        &self,
        tenant: TenantId,
        policy: &AuthenticationMethodsPolicy,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (policy, actor) = (policy.clone(), actor.clone());
        self.write(move |tx| {
            let before = load(tx, tenant)?;
            tx.execute(
                "UPDATE tenants SET policy = ?2 WHERE id = ?1",
                params![tenant.to_string(), to_json(&policy)],
            )?;
            let record = AuditRecord::policy(
                tenant,
                serde_json::to_value(&*before).unwrap_or_default(),
                serde_json::to_value(&policy).unwrap_or_default(),
                &actor,
                now,
            );
            audit::insert(tx, &record)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::SqliteOptions;
    use super::*;
    use crate::TenantStore;
    use textid_core::policy::MethodState;

    /// An unchanged policy is parsed once; a change (another process's included: the text
    /// is read every time) is seen at the next load.
    #[tokio::test]
    async fn a_policy_is_parsed_again_only_when_its_text_changed() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("p.db"), SqliteOptions::default()).unwrap();
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let t = store.ensure_tenant("policies", now).await.unwrap();
        let first = store.read(move |c| load(c, t.id)).await.unwrap();
        let again = store.read(move |c| load(c, t.id)).await.unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same text is not parsed again"
        );
        let mut changed = (*first).clone();
        changed.sms.state = match first.sms.state {
            MethodState::Enabled => MethodState::Disabled,
            MethodState::Disabled => MethodState::Enabled,
        };
        // Written as another process would: straight into the table.
        let text = to_json(&changed);
        store
            .write(move |tx| {
                tx.execute(
                    "UPDATE tenants SET policy = ?2 WHERE id = ?1",
                    params![t.id.to_string(), text],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let after = store.read(move |c| load(c, t.id)).await.unwrap();
        assert_eq!(*after, changed);
        assert!(!Arc::ptr_eq(&first, &after));
        assert_eq!(store.policy(t.id).await.unwrap(), changed);
    }
}
