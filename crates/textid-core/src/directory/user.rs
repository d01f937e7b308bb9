//! Users and their userPrincipalName.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{TenantId, UserId};

/// A userPrincipalName: `local@domain`, compared case-insensitively (stored lower-case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Upn(String);

/// Why a string is not a userPrincipalName.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("userPrincipalName '{0}' is not valid; use the form name@domain.example (no spaces, at most 113 characters)")]
pub struct UpnError(pub String);

impl Upn {
    /// Parses `local@domain`.
    pub fn parse(input: &str) -> Result<Self, UpnError> {
        let s = input.trim();
        let valid = s.len() <= 113
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Self(s.to_lowercase()))
        } else {
            Err(UpnError(input.to_string()))
        }
    }

    /// The normalised string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Upn {
    type Error = UpnError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Upn> for String {
    fn from(u: Upn) -> String {
        u.0
    }
}

impl fmt::Display for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user as stored. Profile phones (`mobile_phone`, `business_phones`) are directory data,
/// never used for authentication (seed 003).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its sign-in name.
    pub upn: Upn,
    /// Its display name.
    pub display_name: String,
    /// Whether it may sign in at all.
    pub account_enabled: bool,
    /// Public profile mobile number (directory data).
    pub mobile_phone: Option<String>,
    /// Public profile business numbers (directory data).
    pub business_phones: Vec<String>,
    /// Synced from an on-premises directory.
    pub on_premises_sync_enabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upn_is_normalised_and_checked() {
        assert_eq!(
            Upn::parse(" Ana@Contoso.Example ").unwrap().as_str(),
            "ana@contoso.example"
        );
        for bad in [
            "ana",
            "@contoso.example",
            "ana@",
            "ana@contoso",
            "a b@c.d",
            "a@b@c.d",
        ] {
            assert!(Upn::parse(bad).is_err(), "{bad}");
        }
    }
}
