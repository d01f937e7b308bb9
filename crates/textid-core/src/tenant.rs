//! Tenants: every row of every table belongs to one. A fresh install has one, `default`.

use serde::{Deserialize, Serialize};

use crate::ids::TenantId;

/// The name of the tenant a fresh install creates.
pub const DEFAULT_TENANT_NAME: &str = "default";

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Its unique short name, used in URLs (`/{tenant}/api/v1/...`).
    pub name: String,
    /// The region in which national-format numbers are parsed (ISO 3166 alpha-2), if any.
    /// Without one, only international (`+…`) input is accepted.
    pub default_region: Option<String>,
}

/// Checks a tenant name: 1–64 of `a-z 0-9 - _`.
pub fn is_valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
