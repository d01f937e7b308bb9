//! Graph's OData query options on collections: the `$filter` grammar ([`filter`]), which
//! property supports which operator ([`schema`]), and the options of one request checked
//! together ([`query`]). Pure: the store turns a [`schema::Cond`] into SQL with bound
//! values, the Graph surface maps a [`schema::QueryError`] to Graph's error answer.

pub mod filter;
pub mod query;
pub mod schema;
