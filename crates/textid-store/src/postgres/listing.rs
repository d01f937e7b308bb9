//! Graph collection queries on PostgreSQL: the shared renderer's SQL, with its values
//! bound. Not prepared-and-cached: each filter is its own statement text, and the cache
//! would fill with one-off queries.

use deadpool_postgres::GenericClient;
use textid_core::odata::schema::{Cond, Value};
use textid_core::TenantId;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::listing::{Dialect, Listing, Sql};
use crate::StoreResult;

fn boxed(v: &Value) -> Box<dyn ToSql + Sync + Send> {
    match v {
        Value::Text(s) => Box::new(s.clone()),
        Value::Bool(b) => Box::new(*b),
        Value::Guid(g) => Box::new(*g),
        Value::Millis(n) | Value::Int(n) => Box::new(*n),
    }
}

async fn run<C: GenericClient>(
    c: &C,
    text: &str,
    tenant: TenantId,
    sql: &Sql,
) -> StoreResult<Vec<Row>> {
    let mut owned: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(tenant.0)];
    owned.extend(sql.params.iter().map(boxed));
    let refs: Vec<&(dyn ToSql + Sync)> =
        owned.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect();
    Ok(c.query(text, &refs).await?)
}

/// Rows (`select`, aliased `alias`) of the tenant that the listing selects.
pub(super) async fn query<C: GenericClient>(
    c: &C,
    select: &str,
    alias: &str,
    tenant: TenantId,
    listing: &Listing,
) -> StoreResult<Vec<Row>> {
    let mut sql = Sql::new(Dialect::Postgres, 2);
    if let Some(cond) = &listing.cond {
        sql.and(alias, cond);
    }
    sql.order_limit(alias, listing.order, listing.limit);
    let text = format!("{select} WHERE {alias}.tenant_id = $1{}", sql.text);
    run(c, &text, tenant, &sql).await
}

/// How many rows of `table` of the tenant satisfy `cond`.
pub(super) async fn count<C: GenericClient>(
    c: &C,
    table: &str,
    alias: &str,
    tenant: TenantId,
    cond: Option<&Cond>,
) -> StoreResult<u64> {
    let mut sql = Sql::new(Dialect::Postgres, 2);
    if let Some(cond) = cond {
        sql.and(alias, cond);
    }
    let text = format!(
        "SELECT count(*) FROM {table} {alias} WHERE {alias}.tenant_id = $1{}",
        sql.text
    );
    let rows = run(c, &text, tenant, &sql).await?;
    let n: i64 = rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or_default())
}
