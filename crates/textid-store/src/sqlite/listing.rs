//! Graph collection queries on SQLite: the shared renderer's SQL, with its values bound.

use rusqlite::types::{ToSqlOutput, Value as SqlValue};
use rusqlite::{Connection, ToSql};
use textid_core::odata::schema::{Cond, Value};
use textid_core::TenantId;

use crate::listing::{Dialect, Listing, Sql};
use crate::StoreResult;

struct Bound(Value);

impl ToSql for Bound {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(match &self.0 {
            Value::Text(s) => SqlValue::Text(s.clone()),
            Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
            Value::Guid(g) => SqlValue::Text(g.to_string()),
            Value::Millis(n) | Value::Int(n) => SqlValue::Integer(*n),
        }))
    }
}

fn params(tenant: TenantId, sql: &Sql) -> Vec<Bound> {
    let mut p = vec![Bound(Value::Text(tenant.to_string()))];
    p.extend(sql.params.iter().cloned().map(Bound));
    p
}

/// Rows of `table` (aliased `alias`, columns `columns`) of the tenant that the listing
/// selects, each read by `row`.
pub(super) fn query<T>(
    c: &Connection,
    select: &str,
    alias: &str,
    tenant: TenantId,
    listing: &Listing,
    row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<T>>,
) -> StoreResult<Vec<T>> {
    let mut sql = Sql::new(Dialect::Sqlite, 2);
    if let Some(cond) = &listing.cond {
        sql.and(alias, cond);
    }
    sql.order_limit(alias, listing.order, listing.limit);
    let text = format!("{select} WHERE {alias}.tenant_id = ?1{}", sql.text);
    let mut stmt = c.prepare(&text)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params(tenant, &sql)), row)?;
    rows.map(|r| r?).collect()
}

/// How many rows of `table` of the tenant satisfy `cond`.
pub(super) fn count(
    c: &Connection,
    table: &str,
    alias: &str,
    tenant: TenantId,
    cond: Option<&Cond>,
) -> StoreResult<u64> {
    let mut sql = Sql::new(Dialect::Sqlite, 2);
    if let Some(cond) = cond {
        sql.and(alias, cond);
    }
    let text = format!(
        "SELECT count(*) FROM {table} {alias} WHERE {alias}.tenant_id = ?1{}",
        sql.text
    );
    let n: i64 = c.query_row(
        &text,
        rusqlite::params_from_iter(params(tenant, &sql)),
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or_default())
}
