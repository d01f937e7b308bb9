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
    /// Web origins (`https://app.example`, serialised as browsers send them) whose pages
    /// may call the tenant's sign-in API directly (CORS); none by default.
    #[serde(default)]
    pub sign_in_origins: Vec<String>,
    /// Refuse-shared mode: no phone method may take a number another user of the tenant
    /// holds on any method (off by default, as in Entra).
    #[serde(default)]
    pub refuse_shared_phone_numbers: bool,
    /// Every sign-in with a password needs a second factor (issue #15), whatever the app.
    #[serde(default)]
    pub require_mfa: bool,
}

impl Tenant {
    /// The tenant's rule for numbers held by several users.
    pub fn number_sharing(&self) -> crate::methods::NumberSharing {
        crate::methods::NumberSharing::from_refused(self.refuse_shared_phone_numbers)
    }
}

/// The stored form of a list of origins: space-separated (an origin has no space).
pub fn origins_to_stored(origins: &[String]) -> String {
    origins.join(" ")
}

/// Reads [`origins_to_stored`]'s form back.
pub fn origins_from_stored(stored: &str) -> Vec<String> {
    stored
        .split(' ')
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect()
}

/// First path segments of textid's own routes, and Entra's multi-tenant aliases: a tenant
/// named like one would be shadowed by the route (`/static/login` serves an asset, issue
/// #19) or confuse apps written for Entra (`common`, `organizations`, `consumers`).
pub const RESERVED_TENANT_NAMES: [&str; 10] = [
    "static",
    "health",
    "healthz",
    "readyz",
    "metrics",
    "api",
    "admin",
    "common",
    "organizations",
    "consumers",
];

/// Why a name cannot be a tenant's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantNameError {
    /// Not 1–64 of `a-z 0-9 - _`.
    #[error("tenant name '{0}' must be 1-64 of a-z, 0-9, '-' and '_'")]
    Malformed(String),
    /// One of [`RESERVED_TENANT_NAMES`].
    #[error("tenant name '{0}' is reserved: it is the name of one of textid's own routes or an Entra alias")]
    Reserved(String),
}

impl TenantNameError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            TenantNameError::Malformed(_) => "invalidTenantName",
            TenantNameError::Reserved(_) => "reservedTenantName",
        }
    }
}

/// Checks a new tenant's name: 1–64 of `a-z 0-9 - _`, and not reserved.
pub fn check_tenant_name(name: &str) -> Result<(), TenantNameError> {
    let well_formed = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(TenantNameError::Malformed(name.to_string()));
    }
    if RESERVED_TENANT_NAMES.contains(&name) {
        return Err(TenantNameError::Reserved(name.to_string()));
    }
    Ok(())
}

/// Whether a name can be a new tenant's (see [`check_tenant_name`]).
pub fn is_valid_tenant_name(name: &str) -> bool {
    check_tenant_name(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_textids_own_routes_are_refused_as_tenant_names() {
        for name in RESERVED_TENANT_NAMES {
            assert_eq!(
                check_tenant_name(name),
                Err(TenantNameError::Reserved(name.to_string()))
            );
        }
        assert_eq!(check_tenant_name("static-site"), Ok(()));
        assert_eq!(check_tenant_name(DEFAULT_TENANT_NAME), Ok(()));
        assert_eq!(
            check_tenant_name("Static").map_err(|e| e.code()),
            Err("invalidTenantName")
        );
        assert_eq!(
            check_tenant_name("").map_err(|e| e.code()),
            Err("invalidTenantName")
        );
    }
}
