//! Tenants. `ensure_tenant` is an insert that yields to a concurrent one (`ON CONFLICT DO
//! NOTHING`, then read), so nodes starting at once agree on one tenant. A region change
//! locks the tenant row (the audit's "before" is the value replaced) and is announced to
//! every node (`audit::bump`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use textid_core::audit::AuditRecord;
use textid_core::policy::AuthenticationMethodsPolicy;
use textid_core::tenant::{origins_from_stored, origins_to_stored, Tenant};
use textid_core::TenantId;
use tokio_postgres::Row;

use super::retry::{Replay, Tx};
use super::rows::{execute, ms, query_opt, to_json};
use super::{audit, PostgresStore};
use crate::{Actor, Changed, StoreError, StoreResult, TenantStore};

fn to_tenant(r: &Row) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: TenantId(r.try_get(0)?),
        name: r.try_get(1)?,
        default_region: r.try_get(2)?,
        sign_in_origins: origins_from_stored(r.try_get(3)?),
        refuse_shared_phone_numbers: r.try_get(4)?,
        require_mfa: r.try_get(5)?,
    })
}

async fn by_name<C: GenericClient>(c: &C, name: &str) -> StoreResult<Option<Tenant>> {
    query_opt(
        c,
        "SELECT id, name, default_region, sign_in_origins, refuse_shared_phone_numbers, require_mfa FROM tenants WHERE name = $1",
        &[&name],
    )
    .await?
    .as_ref()
    .map(to_tenant)
    .transpose()
}

async fn ensure(tx: &Tx<'_>, name: &str, now: DateTime<Utc>) -> StoreResult<Tenant> {
    if let Some(t) = by_name(tx, name).await? {
        return Ok(t);
    }
    execute(
        tx,
        "INSERT INTO tenants (id, name, default_region, policy, created_at) VALUES ($1, $2, NULL, $3, $4)
         ON CONFLICT (name) DO NOTHING",
        &[
            &uuid::Uuid::new_v4(),
            &name,
            &to_json(&AuthenticationMethodsPolicy::default()),
            &ms(now),
        ],
    )
    .await?;
    by_name(tx, name)
        .await?
        .ok_or(StoreError::NotFound("tenant"))
}

/// Replaces one setting (column) of a tenant row: the row locked, audited with the value
/// it replaced (`record` builds the record from it), and announced to every node
/// (`audit::bump`). `column` is one of this file's constant names, never input.
async fn set_setting<T>(
    tx: &Tx<'_>,
    tenant: TenantId,
    column: &'static str,
    value: &(dyn tokio_postgres::types::ToSql + Sync),
    record: impl FnOnce(T) -> AuditRecord,
) -> StoreResult<()>
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    let before: T = query_opt(
        tx,
        &format!("SELECT {column} FROM tenants WHERE id = $1 FOR UPDATE"),
        &[&tenant.0],
    )
    .await?
    .ok_or(StoreError::NotFound("tenant"))?
    .try_get(0)?;
    execute(
        tx,
        &format!("UPDATE tenants SET {column} = $2 WHERE id = $1"),
        &[&tenant.0, value],
    )
    .await?;
    audit::insert(tx, &record(before)).await?;
    audit::bump(tx, Changed::Tenants).await
}

async fn set_region(
    tx: &Tx<'_>,
    tenant: TenantId,
    region: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    set_setting(
        tx,
        tenant,
        "default_region",
        &region,
        |before: Option<String>| {
            AuditRecord::tenant_region(tenant, before.as_deref(), region, actor, now)
        },
    )
    .await
}

async fn set_sign_in_origins(
    tx: &Tx<'_>,
    tenant: TenantId,
    origins: &[String],
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let stored = origins_to_stored(origins);
    set_setting(tx, tenant, "sign_in_origins", &stored, |before: String| {
        AuditRecord::tenant_sign_in_origins(
            tenant,
            &origins_from_stored(&before),
            origins,
            actor,
            now,
        )
    })
    .await
}

async fn set_refuse_shared(
    tx: &Tx<'_>,
    tenant: TenantId,
    refuse: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    set_setting(
        tx,
        tenant,
        "refuse_shared_phone_numbers",
        &refuse,
        |before: bool| {
            AuditRecord::tenant_refuse_shared_phone_numbers(tenant, before, refuse, actor, now)
        },
    )
    .await
}

async fn set_require_mfa(
    tx: &Tx<'_>,
    tenant: TenantId,
    require: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    set_setting(tx, tenant, "require_mfa", &require, |before: bool| {
        AuditRecord::tenant_require_mfa(tenant, before, require, actor, now)
    })
    .await
}

#[async_trait]
impl TenantStore for PostgresStore {
    async fn ensure_tenant(&self, name: &str, now: DateTime<Utc>) -> StoreResult<Tenant> {
        self.write(Replay::Safe, &(name, now), |tx, (name, now)| {
            Box::pin(ensure(tx, name, *now))
        })
        .await
    }

    async fn tenant_by_name(&self, name: &str) -> StoreResult<Option<Tenant>> {
        self.read(name, |c, name| Box::pin(by_name(c, name))).await
    }

    async fn tenant_by_id(&self, tid: TenantId) -> StoreResult<Option<Tenant>> {
        self.read(&tid, |c, tid| {
            Box::pin(async move {
                query_opt(
                    c,
                    "SELECT id, name, default_region, sign_in_origins, refuse_shared_phone_numbers, require_mfa FROM tenants WHERE id = $1",
                    &[&tid.0],
                )
                .await?
                .as_ref()
                .map(to_tenant)
                .transpose()
            })
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
        self.write(
            Replay::Unsafe,
            &(tenant, region, actor, now),
            |tx, (tenant, region, actor, now)| {
                Box::pin(set_region(tx, *tenant, *region, actor, *now))
            },
        )
        .await?;
        self.changed(Changed::Tenants);
        Ok(())
    }

    async fn set_tenant_sign_in_origins(
        &self,
        tenant: TenantId,
        origins: &[String],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &(tenant, origins, actor, now),
            |tx, (tenant, origins, actor, now)| {
                Box::pin(set_sign_in_origins(tx, *tenant, origins, actor, *now))
            },
        )
        .await?;
        self.changed(Changed::Tenants);
        Ok(())
    }

    async fn set_tenant_refuse_shared_phone_numbers(
        &self,
        tenant: TenantId,
        refuse: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &(tenant, refuse, actor, now),
            |tx, (tenant, refuse, actor, now)| {
                Box::pin(set_refuse_shared(tx, *tenant, *refuse, actor, *now))
            },
        )
        .await?;
        self.changed(Changed::Tenants);
        Ok(())
    }

    async fn set_tenant_require_mfa(
        &self,
        tenant: TenantId,
        require: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &(tenant, require, actor, now),
            |tx, (tenant, require, actor, now)| {
                Box::pin(set_require_mfa(tx, *tenant, *require, actor, *now))
            },
        )
        .await?;
        self.changed(Changed::Tenants);
        Ok(())
    }
}
