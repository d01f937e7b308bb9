//! The profile properties of Graph's `user` that a directory keeps beyond textid's own
//! fields: names, job and contact information, `usageLocation`, `employeeId`,
//! `otherMails`. Directory data only: nothing here is used to authenticate (a `mail` is
//! never a sign-in name, a `faxNumber` never receives a code).
//!
//! One table of properties ([`PROPERTIES`]) says each one's Graph name and limit; the
//! Graph surface, the query layer and the store all read that table, so a property is
//! added in one place. Stored as one JSON document per user.

use serde::{Deserialize, Serialize};

use super::user::is_deceptive_char;

/// A user's profile properties (Graph's names, camelCase when serialised). Absent means
/// not set (`null` in Graph).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserProfile {
    /// Graph `givenName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Graph `surname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    /// Graph `jobTitle`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// Graph `department`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Graph `companyName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// Graph `officeLocation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office_location: Option<String>,
    /// Graph `employeeId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<String>,
    /// Graph `employeeType`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_type: Option<String>,
    /// Graph `usageLocation`: an ISO 3166 alpha-2 code, upper case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<String>,
    /// Graph `preferredLanguage`: an ISO 639-1 code, optionally with a region (`en-US`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<String>,
    /// Graph `mail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// Graph `mailNickname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,
    /// Graph `streetAddress`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    /// Graph `city`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Graph `state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Graph `postalCode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Graph `country`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Graph `faxNumber`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fax_number: Option<String>,
    /// Graph `otherMails`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_mails: Vec<String>,
}

/// What a property's value must look like, beyond its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Any text people read.
    Text,
    /// An e-mail address (`local@domain.tld`, no spaces).
    Mail,
    /// Letters, digits and `.`, `_`, `-` only (a mail nickname).
    Nickname,
    /// Two letters, ISO 3166 alpha-2 (stored upper case).
    Country2,
    /// A language tag: `en` or `en-US`.
    Language,
}

/// One profile property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileProperty {
    /// Graph's name.
    pub name: &'static str,
    /// The most characters Graph allows.
    pub max: usize,
    /// Its form.
    pub form: Form,
}

const fn prop(name: &'static str, max: usize, form: Form) -> ProfileProperty {
    ProfileProperty { name, max, form }
}

/// The scalar profile properties, with Graph's limits (`otherMails` is the collection).
pub const PROPERTIES: &[ProfileProperty] = &[
    prop("givenName", 64, Form::Text),
    prop("surname", 64, Form::Text),
    prop("jobTitle", 128, Form::Text),
    prop("department", 64, Form::Text),
    prop("companyName", 64, Form::Text),
    prop("officeLocation", 128, Form::Text),
    prop("employeeId", 16, Form::Text),
    prop("employeeType", 64, Form::Text),
    prop("usageLocation", 2, Form::Country2),
    prop("preferredLanguage", 16, Form::Language),
    prop("mail", 254, Form::Mail),
    prop("mailNickname", 64, Form::Nickname),
    prop("streetAddress", 1024, Form::Text),
    prop("city", 128, Form::Text),
    prop("state", 128, Form::Text),
    prop("postalCode", 40, Form::Text),
    prop("country", 128, Form::Text),
    prop("faxNumber", 64, Form::Text),
];

/// The most entries of `otherMails`.
pub const MAX_OTHER_MAILS: usize = 250;

/// Why a profile value is refused. Names the property, never repeats the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// Too long.
    #[error("{property} must be at most {max} characters")]
    TooLong {
        /// The property.
        property: &'static str,
        /// Its limit.
        max: usize,
    },
    /// Not of the property's form.
    #[error("{property} is not valid: {expected}")]
    Form {
        /// The property.
        property: &'static str,
        /// What it takes.
        expected: &'static str,
    },
    /// Contains a control, bidirectional-override or zero-width character.
    #[error(
        "{property} must not contain control, bidirectional-override or zero-width characters"
    )]
    UnsafeCharacter {
        /// The property.
        property: &'static str,
    },
    /// Too many `otherMails`.
    #[error("otherMails holds at most 250 addresses")]
    TooMany,
}

fn is_mail(s: &str) -> bool {
    s.split_once('@').is_some_and(|(l, d)| {
        !l.is_empty()
            && d.contains('.')
            && !d.starts_with('.')
            && !d.ends_with('.')
            && !d.contains('@')
    }) && !s.chars().any(char::is_whitespace)
}

/// Checks and normalises one value of `p` (trimmed; an empty value clears it).
pub fn check(p: &ProfileProperty, value: &str) -> Result<Option<String>, ProfileError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().any(is_deceptive_char) {
        return Err(ProfileError::UnsafeCharacter { property: p.name });
    }
    if v.chars().count() > p.max {
        return Err(ProfileError::TooLong {
            property: p.name,
            max: p.max,
        });
    }
    let form = |expected| ProfileError::Form {
        property: p.name,
        expected,
    };
    match p.form {
        Form::Text => Ok(Some(v.to_owned())),
        Form::Mail if is_mail(v) => Ok(Some(v.to_owned())),
        Form::Mail => Err(form("an e-mail address such as ana@contoso.example")),
        Form::Nickname
            if v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) =>
        {
            Ok(Some(v.to_owned()))
        }
        Form::Nickname => Err(form("letters, digits, '.', '_' and '-' only")),
        Form::Country2 if v.len() == 2 && v.chars().all(|c| c.is_ascii_alphabetic()) => {
            Ok(Some(v.to_ascii_uppercase()))
        }
        Form::Country2 => Err(form("a two-letter ISO 3166 country code such as GB")),
        Form::Language => {
            let mut parts = v.split('-');
            let lang = parts.next().unwrap_or_default();
            let region = parts.next();
            let ok = (2..=3).contains(&lang.len())
                && lang.chars().all(|c| c.is_ascii_alphabetic())
                && region.is_none_or(|r| {
                    (2..=4).contains(&r.len()) && r.chars().all(|c| c.is_ascii_alphanumeric())
                })
                && parts.next().is_none();
            if ok {
                Ok(Some(v.to_owned()))
            } else {
                Err(form("a language tag such as en or en-US"))
            }
        }
    }
}

impl UserProfile {
    fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "givenName" => &mut self.given_name,
            "surname" => &mut self.surname,
            "jobTitle" => &mut self.job_title,
            "department" => &mut self.department,
            "companyName" => &mut self.company_name,
            "officeLocation" => &mut self.office_location,
            "employeeId" => &mut self.employee_id,
            "employeeType" => &mut self.employee_type,
            "usageLocation" => &mut self.usage_location,
            "preferredLanguage" => &mut self.preferred_language,
            "mail" => &mut self.mail,
            "mailNickname" => &mut self.mail_nickname,
            "streetAddress" => &mut self.street_address,
            "city" => &mut self.city,
            "state" => &mut self.state,
            "postalCode" => &mut self.postal_code,
            "country" => &mut self.country,
            "faxNumber" => &mut self.fax_number,
            _ => return None,
        })
    }

    /// Sets the scalar property `name` (Graph's name) to `value` (`None` clears it).
    /// Returns `Ok(false)` when `name` is not a profile property.
    pub fn set(&mut self, name: &str, value: Option<&str>) -> Result<bool, ProfileError> {
        let Some(p) = PROPERTIES.iter().find(|p| p.name == name) else {
            return Ok(false);
        };
        let checked = value.map(|v| check(p, v)).transpose()?.flatten();
        if let Some(slot) = self.slot(name) {
            *slot = checked;
        }
        Ok(true)
    }

    /// Graph's names of the properties whose values differ between `self` and `other`.
    pub fn changed(&self, other: &UserProfile) -> Vec<&'static str> {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(other).unwrap_or_default(),
        );
        let mut out: Vec<&'static str> = PROPERTIES
            .iter()
            .map(|p| p.name)
            .filter(|n| a.get(*n) != b.get(*n))
            .collect();
        if self.other_mails != other.other_mails {
            out.push("otherMails");
        }
        out
    }

    /// Replaces `otherMails`.
    pub fn set_other_mails(&mut self, mails: &[String]) -> Result<(), ProfileError> {
        if mails.len() > MAX_OTHER_MAILS {
            return Err(ProfileError::TooMany);
        }
        let p = prop("otherMails", 254, Form::Mail);
        self.other_mails = mails
            .iter()
            .map(|m| check(&p, m))
            .filter_map(Result::transpose)
            .collect::<Result<_, _>>()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_normalised_and_cleared() {
        let mut p = UserProfile::default();
        assert_eq!(p.set("givenName", Some("  Ana ")), Ok(true));
        assert_eq!(p.given_name.as_deref(), Some("Ana"));
        assert_eq!(p.set("usageLocation", Some("gb")), Ok(true));
        assert_eq!(p.usage_location.as_deref(), Some("GB"));
        assert_eq!(p.set("givenName", None), Ok(true));
        assert_eq!(p.given_name, None);
        assert_eq!(p.set("shoeSize", Some("9")), Ok(false));
        assert_eq!(p.set("preferredLanguage", Some("en-US")), Ok(true));
    }

    #[test]
    fn bad_values_name_the_property_not_the_value() {
        let mut p = UserProfile::default();
        for (name, value) in [
            ("usageLocation", "GBR"),
            ("mail", "not a mail"),
            ("mailNickname", "a b"),
            ("employeeId", "12345678901234567"),
            ("jobTitle", "Boss\u{202e}"),
            ("preferredLanguage", "english"),
        ] {
            let e = p.set(name, Some(value)).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with(name), "{text}");
            assert!(!text.contains(value), "{text}");
        }
        assert_eq!(p, UserProfile::default(), "nothing was set");
        assert_eq!(
            p.set_other_mails(&vec!["a@b.io".to_owned(); 251]),
            Err(ProfileError::TooMany)
        );
    }

    #[test]
    fn the_stored_form_is_graph_json_without_empty_properties() {
        let mut p = UserProfile::default();
        p.set("jobTitle", Some("Nurse")).unwrap();
        p.set_other_mails(&["ana@home.example".into()]).unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"jobTitle":"Nurse","otherMails":["ana@home.example"]}"#
        );
        assert_eq!(
            serde_json::from_str::<UserProfile>("{}").unwrap(),
            UserProfile::default()
        );
    }
}
