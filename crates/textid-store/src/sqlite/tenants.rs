//! Tenants.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use textid_core::audit::AuditRecord;
use textid_core::policy::AuthenticationMethodsPolicy;
use textid_core::tenant::{origins_from_stored, origins_to_stored, Tenant};
use textid_core::TenantId;

use super::rows::{id, ms, to_json};
use super::{audit, SqliteStore};
use crate::{Actor, Changed, StoreError, StoreResult, TenantStore};

type TenantRow = (String, String, Option<String>, String, bool, bool);

fn tenant_row(r: &Row<'_>) -> rusqlite::Result<TenantRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn to_tenant(
    (tid, name, region, origins, refuse_shared, require_mfa): TenantRow,
) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: id(&tid)?,
        name,
        default_region: region,
        sign_in_origins: origins_from_stored(&origins),
        refuse_shared_phone_numbers: refuse_shared,
        require_mfa,
    })
}

fn by_name(c: &Connection, name: &str) -> StoreResult<Option<Tenant>> {
    c.prepare_cached(
        "SELECT id, name, default_region, sign_in_origins, refuse_shared_phone_numbers, require_mfa FROM tenants WHERE name = ?1",
    )?
    .query_row([name], tenant_row)
    .optional()?
    .map(to_tenant)
    .transpose()
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn ensure_tenant(&self, name: &str, now: DateTime<Utc>) -> StoreResult<Tenant> {
        let name = name.to_string();
        self.write(move |tx| {
            if let Some(t) = by_name(tx, &name)? {
                return Ok(t);
            }
            let tenant = Tenant {
                id: TenantId(uuid::Uuid::new_v4()),
                name: name.clone(),
                default_region: None,
                sign_in_origins: Vec::new(),
                refuse_shared_phone_numbers: false,
                require_mfa: false,
            };
            tx.execute(
                "INSERT INTO tenants (id, name, default_region, policy, created_at) VALUES (?1, ?2, NULL, ?3, ?4)",
                params![tenant.id.to_string(), name, to_json(&AuthenticationMethodsPolicy::default()), ms(now)],
            )?;
            Ok(tenant)
        })
        .await
    }

    async fn tenant_by_name(&self, name: &str) -> StoreResult<Option<Tenant>> {
        let name = name.to_string();
        self.lookup(move |c| by_name(c, &name)).await
    }

    async fn tenant_by_id(&self, tid: TenantId) -> StoreResult<Option<Tenant>> {
        self.lookup(move |c| {
            c.prepare_cached(
                "SELECT id, name, default_region, sign_in_origins, refuse_shared_phone_numbers, require_mfa FROM tenants WHERE id = ?1",
            )?
            .query_row([tid.to_string()], tenant_row)
            .optional()?
            .map(to_tenant)
            .transpose()
        })
        .await
    }

    async fn set_tenant_region(
        &self,
        tenant: TenantId,
        region: Option<&str>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (region, actor) = (region.map(str::to_string), actor.clone());
        let value = region.clone();
        self.set_setting(
            tenant,
            "default_region",
            value,
            move |before: Option<String>| {
                AuditRecord::tenant_region(
                    tenant,
                    before.as_deref(),
                    region.as_deref(),
                    &actor,
                    now,
                )
            },
        )
        .await
    }

    async fn set_tenant_sign_in_origins(
        &self,
        tenant: TenantId,
        origins: &[String],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (origins, actor) = (origins.to_vec(), actor.clone());
        let stored = origins_to_stored(&origins);
        self.set_setting(tenant, "sign_in_origins", stored, move |before: String| {
            AuditRecord::tenant_sign_in_origins(
                tenant,
                &origins_from_stored(&before),
                &origins,
                &actor,
                now,
            )
        })
        .await
    }

    async fn set_tenant_refuse_shared_phone_numbers(
        &self,
        tenant: TenantId,
        refuse: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.set_setting(
            tenant,
            "refuse_shared_phone_numbers",
            refuse,
            move |before: bool| {
                AuditRecord::tenant_refuse_shared_phone_numbers(tenant, before, refuse, &actor, now)
            },
        )
        .await
    }

    async fn set_tenant_require_mfa(
        &self,
        tenant: TenantId,
        require: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.set_setting(tenant, "require_mfa", require, move |before: bool| {
            AuditRecord::tenant_require_mfa(tenant, before, require, &actor, now)
        })
        .await
    }
}

impl SqliteStore {
    /// Replaces one setting (column) of a tenant row, audited with the value it replaced
    /// (`record` builds the record from it) and announced as [`Changed::Tenants`].
    /// `column` is one of this file's constant names, never input.
    async fn set_setting<T, V>(
        &self,
        tenant: TenantId,
        column: &'static str,
        value: V,
        record: impl FnOnce(T) -> AuditRecord + Send + 'static,
    ) -> StoreResult<()>
    where
        T: rusqlite::types::FromSql,
        V: rusqlite::ToSql + Send + 'static,
    {
        self.write(move |tx| {
            let before: T = tx
                .query_row(
                    &format!("SELECT {column} FROM tenants WHERE id = ?1"),
                    [tenant.to_string()],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or(StoreError::NotFound("tenant"))?;
            tx.execute(
                &format!("UPDATE tenants SET {column} = ?2 WHERE id = ?1"),
                params![tenant.to_string(), value],
            )?;
            audit::insert(tx, &record(before))?;
            audit::bump(tx, Changed::Tenants)
        })
        .await?;
        self.changed(Changed::Tenants);
        Ok(())
    }
}
