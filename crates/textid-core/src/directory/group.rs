//! Groups: policies target them. Beyond the name, Graph's `group` properties that a
//! directory keeps ([`GroupProfile`]); textid has no mailboxes and no dynamic membership,
//! so the mail properties are directory data only and `DynamicMembership` is refused.

use serde::{Deserialize, Serialize};

use super::user::is_deceptive_char;
use crate::ids::{GroupId, TenantId};

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its id.
    pub id: GroupId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its display name.
    pub display_name: String,
    /// Graph's other group properties.
    pub profile: GroupProfile,
}

/// Graph's `group` properties beyond `displayName` (camelCase when serialised, as
/// stored). A group created without them is a security group, as Graph's
/// `securityEnabled: true, mailEnabled: false, groupTypes: []`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupProfile {
    /// Graph `description`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Graph `mailNickname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,
    /// Graph `securityEnabled`.
    pub security_enabled: bool,
    /// Graph `mailEnabled`.
    pub mail_enabled: bool,
    /// Graph `groupTypes`: empty, or `["Unified"]`.
    pub group_types: Vec<String>,
}

impl Default for GroupProfile {
    fn default() -> Self {
        Self {
            description: None,
            mail_nickname: None,
            security_enabled: true,
            mail_enabled: false,
            group_types: Vec::new(),
        }
    }
}

/// Graph's limit on `description`.
pub const MAX_DESCRIPTION: usize = 1024;
/// Graph's limit on `mailNickname`.
pub const MAX_MAIL_NICKNAME: usize = 64;
/// Characters Graph refuses in a `mailNickname`.
const NICKNAME_REFUSED: &[char] = &[
    '@', '(', ')', '\\', '[', ']', '"', ';', ':', '<', '>', ',', ' ',
];

/// A group property that breaks Graph's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupProfileError {
    /// Too long.
    #[error("{property} must be at most {max} characters")]
    TooLong {
        /// Graph's name.
        property: &'static str,
        /// The limit.
        max: usize,
    },
    /// A character Graph refuses (or a control/invisible one).
    #[error("{property} contains a character that is not allowed (mailNickname: ASCII letters, digits and . - _ only; no control or invisible characters)")]
    BadCharacter {
        /// Graph's name.
        property: &'static str,
    },
    /// A group type textid does not have.
    #[error("groupTypes may only contain \"Unified\" (textid has no dynamic membership)")]
    GroupType,
}

impl GroupProfileError {
    /// The property at fault.
    pub fn property(&self) -> &'static str {
        match self {
            Self::TooLong { property, .. } | Self::BadCharacter { property } => property,
            Self::GroupType => "groupTypes",
        }
    }
}

impl GroupProfile {
    /// Checks the profile against Graph's rules; empty texts become absent.
    pub fn checked(mut self) -> Result<Self, GroupProfileError> {
        self.description = clean(self.description, "description", MAX_DESCRIPTION)?;
        self.mail_nickname = clean(self.mail_nickname, "mailNickname", MAX_MAIL_NICKNAME)?;
        if let Some(n) = &self.mail_nickname {
            if !n.is_ascii() || n.chars().any(|c| NICKNAME_REFUSED.contains(&c)) {
                return Err(GroupProfileError::BadCharacter {
                    property: "mailNickname",
                });
            }
        }
        let mut types = Vec::new();
        for t in &self.group_types {
            if !t.eq_ignore_ascii_case("Unified") {
                return Err(GroupProfileError::GroupType);
            }
            if types.is_empty() {
                types.push("Unified".to_owned());
            }
        }
        self.group_types = types;
        Ok(self)
    }
}

fn clean(
    value: Option<String>,
    property: &'static str,
    max: usize,
) -> Result<Option<String>, GroupProfileError> {
    let Some(v) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(GroupProfileError::TooLong { property, max });
    }
    if v.chars().any(|c| c.is_control() || is_deceptive_char(c)) {
        return Err(GroupProfileError::BadCharacter { property });
    }
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_without_properties_is_a_security_group() {
        let p: GroupProfile = serde_json::from_str("{}").unwrap();
        assert_eq!(p, GroupProfile::default());
        assert!(p.security_enabled && !p.mail_enabled && p.group_types.is_empty());
    }

    #[test]
    fn properties_are_checked_as_graph_does() {
        let ok = GroupProfile {
            description: Some("  Night shift nurses ".into()),
            mail_nickname: Some("night.nurses".into()),
            group_types: vec!["unified".into()],
            ..GroupProfile::default()
        }
        .checked()
        .unwrap();
        assert_eq!(ok.description.as_deref(), Some("Night shift nurses"));
        assert_eq!(ok.group_types, ["Unified"]);
        let bad = |p: GroupProfile| p.checked().unwrap_err().property();
        assert_eq!(
            bad(GroupProfile {
                mail_nickname: Some("night nurses".into()),
                ..GroupProfile::default()
            }),
            "mailNickname"
        );
        assert_eq!(
            bad(GroupProfile {
                description: Some("x".repeat(1025)),
                ..GroupProfile::default()
            }),
            "description"
        );
        assert_eq!(
            bad(GroupProfile {
                group_types: vec!["DynamicMembership".into()],
                ..GroupProfile::default()
            }),
            "groupTypes"
        );
        let empty = GroupProfile {
            description: Some("   ".into()),
            ..GroupProfile::default()
        };
        assert_eq!(empty.checked().unwrap().description, None);
    }
}
