//! Users and their userPrincipalName.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{TenantId, UserId};

/// A userPrincipalName: `local@domain`, NFKC-normalised and compared case-insensitively
/// (stored lower-case), as Entra compares them. Normalising first means that two names
/// that look the same (a fullwidth `ａｎａ` and `ana`, a ligature `ﬁ` and `fi`) are the same
/// user, so one cannot be created beside the other to impersonate it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Upn(String);

/// Why a string is not a userPrincipalName. The message never repeats the input: it may
/// be an attacker's text on its way into an error answer or a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpnError {
    /// Not `name@domain.example`, has spaces, or is too long.
    #[error("userPrincipalName is not valid; use the form name@domain.example (no spaces, at most 113 characters)")]
    Form,
    /// Contains a control, bidirectional-override or zero-width character.
    #[error("userPrincipalName must not contain control, bidirectional-override or zero-width characters")]
    UnsafeCharacter,
}

/// Characters refused in names people read (UPNs, display names): C0 and C1 controls
/// (terminal escape sequences), bidirectional embeddings, overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069: they reorder what is shown, e.g. `gp\u{202e}fdp.exe`), the
/// marks U+200E/U+200F, zero-width characters (U+200B–U+200D) and the byte-order mark
/// U+FEFF (invisible: two different names would look the same).
pub fn is_deceptive_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2028}'..='\u{2029}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

/// Why a display name is refused (never repeating it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    /// Empty after trimming, or longer than 256 bytes.
    #[error("displayName must be 1 to 256 characters")]
    Length,
    /// Contains a control, bidirectional-override or zero-width character.
    #[error(
        "displayName must not contain control, bidirectional-override or zero-width characters"
    )]
    UnsafeCharacter,
}

/// A display name (of a user or a group) as it is stored: trimmed, 1 to 256 bytes, with
/// no character of [`is_deceptive_char`].
pub fn display_name(input: &str) -> Result<&str, DisplayNameError> {
    let s = input.trim();
    if s.chars().any(is_deceptive_char) {
        return Err(DisplayNameError::UnsafeCharacter);
    }
    if s.is_empty() || s.len() > 256 {
        return Err(DisplayNameError::Length);
    }
    Ok(s)
}

/// The form in which names are compared: NFKC, lower case, NFKC again (lower-casing may
/// leave a string that is not NFKC). Used for userPrincipalNames and for the values they
/// are compared with in queries.
pub fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfkc().collect::<String>().to_lowercase().nfkc().collect()
}

impl Upn {
    /// Parses `local@domain`: refuses deceptive characters, then normalises (NFKC, lower
    /// case, NFKC again, since lower-casing may leave a string that is not NFKC).
    pub fn parse(input: &str) -> Result<Self, UpnError> {
        let s = input.trim();
        if s.chars().any(is_deceptive_char) {
            return Err(UpnError::UnsafeCharacter);
        }
        let s = fold(s);
        if s.chars().any(is_deceptive_char) {
            return Err(UpnError::UnsafeCharacter);
        }
        let valid = s.len() <= 113
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && !s.chars().any(char::is_whitespace);
        if valid {
            Ok(Self(s))
        } else {
            Err(UpnError::Form)
        }
    }

    /// A UPN as read back from the store, where it was validated when written. Not
    /// validated again, so that a row written under older rules can still be listed
    /// (escaped), fixed and deleted rather than making every listing fail.
    pub fn stored(s: String) -> Self {
        Self(s)
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
    /// Graph's other profile properties (names, job, contact).
    pub profile: super::profile::UserProfile,
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
            assert_eq!(Upn::parse(bad), Err(UpnError::Form), "{bad}");
        }
    }

    #[test]
    fn upn_is_nfkc_normalised_and_case_insensitive() {
        // Fullwidth letters and a ligature are the same name as their plain forms.
        assert_eq!(
            Upn::parse("ＡＮＡ@contoso.example").unwrap(),
            Upn::parse("ana@contoso.example").unwrap()
        );
        assert_eq!(
            Upn::parse("ﬁona@Contoso.Example").unwrap().as_str(),
            "fiona@contoso.example"
        );
        assert_eq!(
            Upn::parse("ÉLISE@contoso.example").unwrap(),
            Upn::parse("e\u{301}lise@contoso.example").unwrap(),
            "composed and decomposed accents"
        );
    }

    #[test]
    fn deceptive_characters_are_refused_without_echoing_the_input() {
        for bad in [
            "ana\u{1b}[31m@contoso.example",
            "ana\u{202e}@contoso.example",
            "ana\u{2066}@contoso.example",
            "an\u{200b}a@contoso.example",
            "\u{feff}ana@contoso.example",
            "ana\r@contoso.example",
        ] {
            let e = Upn::parse(bad).unwrap_err();
            assert_eq!(e, UpnError::UnsafeCharacter, "{bad:?}");
            assert!(!e.to_string().contains("ana"), "{e}");
        }
        for bad in ["Ana\u{1b}]0;x\u{7}", "a\u{202d}b", "a\u{200d}b", "a\u{9b}b"] {
            assert_eq!(display_name(bad), Err(DisplayNameError::UnsafeCharacter));
        }
        assert_eq!(display_name("  Ana Lopez "), Ok("Ana Lopez"));
        assert_eq!(display_name("Zoë 李"), Ok("Zoë 李"));
        assert_eq!(display_name(" "), Err(DisplayNameError::Length));
    }
}
