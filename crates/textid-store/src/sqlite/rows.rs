//! Conversions between stored columns and domain values.

use chrono::{DateTime, TimeZone, Utc};
use std::str::FromStr;

use crate::{StoreError, StoreResult};

/// Unix milliseconds.
pub fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// From unix milliseconds.
pub fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Parses a stored id.
pub fn id<T: FromStr>(s: &str) -> StoreResult<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("id {s}")))
}

/// Parses an optional stored id.
pub fn opt_id<T: FromStr>(s: Option<String>) -> StoreResult<Option<T>> {
    s.map(|s| id(&s)).transpose()
}

/// Parses stored JSON.
pub fn json<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("json: {e}")))
}

/// Serialises for storage.
pub fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}
