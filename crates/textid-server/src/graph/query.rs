//! Graph's query options on a collection, at the HTTP edge: reads `$filter`, `$search`,
//! `$orderby`, `$top`, `$select`, `$count`, `$skiptoken` and the `ConsistencyLevel`
//! header, has core check them, and writes the page: `$select`'s projection,
//! `@odata.count`, and an `@odata.nextLink` that keeps every option of the request.
//!
//! `$skiptoken` is opaque to clients: base64url of the last row's sort value and id and
//! the order it belongs to (keyset paging, so a page never repeats or skips a row when
//! rows are added between requests).

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use textid_core::odata::query::{self, ListQuery, Options};
use textid_core::odata::schema::{Cond, QueryError, Resource, Type, Value as Bound};
use textid_store::Listing;

use super::error::GraphError;

impl From<QueryError> for GraphError {
    fn from(e: QueryError) -> Self {
        GraphError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
    }
}

/// A collection request, checked.
#[derive(Debug)]
pub struct Collection {
    /// What core made of the options.
    pub query: ListQuery,
    /// The options to repeat in `@odata.nextLink` (everything but `$skiptoken`).
    options: Vec<(String, String)>,
    /// The page's keyset condition, from `$skiptoken`.
    after: Option<Cond>,
}

#[derive(Serialize, Deserialize)]
struct Token {
    /// The order's property.
    o: String,
    /// Descending.
    d: bool,
    /// The last row's sort value.
    v: String,
    /// The last row's id.
    i: uuid::Uuid,
}

fn bad_token() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        "$skiptoken is not valid: use the @odata.nextLink of the previous page as it is",
    )
}

/// The options an `@odata.nextLink` repeats.
const OPTIONS: [&str; 7] = [
    "$filter", "$search", "$orderby", "$top", "$select", "$count", "$expand",
];

/// Whether the request carries `ConsistencyLevel: eventual`.
pub fn eventual(headers: &HeaderMap) -> bool {
    headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"))
}

/// Checks the options of a collection request on `resource`.
pub fn collection(
    resource: &'static Resource,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    default_order: &str,
) -> Result<Collection, GraphError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    let options = Options {
        filter: get("$filter"),
        search: get("$search"),
        orderby: get("$orderby"),
        top: get("$top"),
        select: get("$select"),
        count: get("$count"),
        eventual: eventual(headers),
    };
    let query = query::check(resource, options, default_order)?;
    with_token(resource, query, q)
}

/// A log collection (`auditLogs/signIns`): `$filter` with every operator the resource
/// table allows (logs have no default/advanced split), `$orderby` on the time only,
/// `$top`, `$skiptoken`; `$search`, `$select`, `$count` and `$expand` are refused.
pub fn log_collection(
    resource: &'static Resource,
    q: &HashMap<String, String>,
    default_order: &str,
) -> Result<Collection, GraphError> {
    for refused in ["$search", "$select", "$count", "$expand"] {
        if q.contains_key(refused) {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("{refused} is not supported on this log; use $filter, $orderby, $top"),
            ));
        }
    }
    let get = |k: &str| q.get(k).map(String::as_str);
    let options = Options {
        filter: get("$filter"),
        orderby: get("$orderby"),
        top: get("$top"),
        // Every operator of the table, and ordering together with a filter.
        count: Some("true"),
        eventual: true,
        ..Options::default()
    };
    let mut query = query::check(resource, options, default_order)?;
    query.count = false;
    with_token(resource, query, q)
}

/// The collection of a checked query, continuing after the `$skiptoken` if any.
fn with_token(
    resource: &'static Resource,
    query: ListQuery,
    q: &HashMap<String, String>,
) -> Result<Collection, GraphError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    let after = get("$skiptoken")
        .map(|t| {
            let token: Token = URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(bad_token)?;
            if token.o != query.order.prop.name || token.d != query.order.descending {
                return Err(bad_token());
            }
            let id = resource.property("id").ok_or_else(bad_token)?;
            let value = match query.order.prop.ty {
                Type::Time => Bound::Millis(token.v.parse().map_err(|_| bad_token())?),
                _ => Bound::Text(token.v),
            };
            Ok(query::after(query.order, id, value, Bound::Guid(token.i)))
        })
        .transpose()?;
    let mut options: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| OPTIONS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    options.sort();
    Ok(Collection {
        query,
        options,
        after,
    })
}

impl Collection {
    /// What to ask the store for: one row more than the page, to know whether more remain.
    pub fn listing(&self) -> Listing {
        let cond = match (&self.query.cond, &self.after) {
            (Some(c), Some(a)) => Some(Cond::And(vec![c.clone(), a.clone()])),
            (c, a) => c.clone().or_else(|| a.clone()),
        };
        Listing {
            cond,
            order: self.query.order,
            limit: self.query.top + 1,
        }
    }

    /// The answer: `rows` (one more than the page if more remain) as Graph JSON, projected
    /// by `$select`, with `@odata.count` (`count`, when asked) and `@odata.nextLink`.
    /// `key` gives a row's sort value and id for the next page's token.
    pub fn page<T>(
        &self,
        mut rows: Vec<T>,
        context: String,
        self_url: String,
        count: Option<u64>,
        to_json: impl Fn(&T) -> Value,
        key: impl Fn(&T, &str) -> (String, uuid::Uuid),
    ) -> Value {
        let top = self.query.top as usize;
        let more = rows.len() > top;
        rows.truncate(top);
        let value: Vec<Value> = rows.iter().map(|r| self.project(to_json(r))).collect();
        let mut body = Map::new();
        body.insert("@odata.context".into(), json!(context));
        if let Some(n) = count {
            body.insert("@odata.count".into(), json!(n));
        }
        if let (true, Some(last)) = (more, rows.last()) {
            let (v, i) = key(last, self.query.order.prop.name);
            let token = Token {
                o: self.query.order.prop.name.to_owned(),
                d: self.query.order.descending,
                v,
                i,
            };
            let token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default());
            // Graph writes the options' names with a literal `$`; the values are encoded.
            let mut next: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| format!("{k}={}", encode(v)))
                .collect();
            next.push(format!("$skiptoken={token}"));
            let link = format!("{self_url}?{}", next.join("&"));
            body.insert("@odata.nextLink".into(), json!(link));
        }
        body.insert("value".into(), Value::Array(value));
        Value::Object(body)
    }

    /// `$select`: only the selected properties (null when the object has none), and `id`.
    fn project(&self, v: Value) -> Value {
        let Some(select) = &self.query.select else {
            return v;
        };
        let mut out = Map::new();
        for name in std::iter::once(&"id").chain(select.iter()) {
            out.insert(
                (*name).to_owned(),
                v.get(*name).cloned().unwrap_or(Value::Null),
            );
        }
        Value::Object(out)
    }
}

fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}
