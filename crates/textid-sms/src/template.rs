//! Renders codes into SMS texts, and measures texts in GSM-7 septets (DESIGN.md §3 "SMS text").
//!
//! Every rendered text:
//! - is one GSM-7 segment (at most [`MAX_SEPTETS`] septets), so it arrives whole and costs
//!   one message; a text that would not fit is an error, never a silent second segment;
//! - carries no personal data: the functions take no name and no number;
//! - ends with the line `@{host} #{code}`, the origin-bound one-time code format (WICG
//!   "Origin-bound one-time codes delivered via SMS", used by WebOTP), so browsers offer to
//!   autofill the code only on `host`.
//!
//! The words come from [`crate::catalog`].

use crate::catalog::{self, TextId};

/// The septets in one GSM-7 segment without a User Data Header (3GPP TS 23.040).
pub const MAX_SEPTETS: usize = 160;

/// Why a text could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The host is not a bare host name.
    #[error(
        "host {host:?} is not a bare host name (ASCII letters, digits, '-' and '.'; \
         no scheme, port or path)"
    )]
    InvalidHost {
        /// The host as given.
        host: String,
    },
    /// The code is empty or has characters other than ASCII letters and digits. The code
    /// itself is a secret and is not repeated here.
    #[error("code must be ASCII letters and digits only")]
    InvalidCode,
    /// A code that lives zero minutes cannot be announced.
    #[error("code lifetime must be at least one minute")]
    ZeroLifetime,
    /// The text has a character outside the GSM 03.38 alphabet.
    #[error("message text has characters outside the GSM-7 alphabet")]
    NotGsm7,
    /// The text needs more than one segment.
    #[error("message text needs {septets} septets, more than one SMS segment ({max})")]
    TooLong {
        /// The septets the text needs.
        septets: usize,
        /// The septets one segment holds.
        max: usize,
    },
}

impl TemplateError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidHost { .. } => "invalidHost",
            Self::InvalidCode => "invalidCode",
            Self::ZeroLifetime => "invalidLifetime",
            Self::NotGsm7 => "notGsm7",
            Self::TooLong { .. } => "tooLongForOneSegment",
        }
    }
}

/// The text of a sign-in code message for `host` (without scheme or port), e.g.
///
/// ```
/// let text = textid_sms::template::sign_in_code_text("login.example.com", "123456", 5).unwrap();
/// assert_eq!(
///     text,
///     "123456 is your sign-in code. It expires in 5 minutes. Do not share it.\n\n\
///      @login.example.com #123456"
/// );
/// ```
pub fn sign_in_code_text(
    host: &str,
    code: &str,
    lifetime_minutes: u32,
) -> Result<String, TemplateError> {
    render(TextId::SignInCode, host, code, lifetime_minutes)
}

/// The text of a message that proves a phone number (security info, password reset).
pub fn verification_code_text(
    host: &str,
    code: &str,
    lifetime_minutes: u32,
) -> Result<String, TemplateError> {
    render(TextId::VerificationCode, host, code, lifetime_minutes)
}

/// The notice to a number that stopped being a user's sign-in number (no code, no name):
///
/// ```
/// let text = textid_sms::template::number_changed_text("login.example.com").unwrap();
/// assert!(text.starts_with("Your sign-in number at login.example.com was changed."));
/// ```
pub fn number_changed_text(host: &str) -> Result<String, TemplateError> {
    check_host(host)?;
    let text = catalog::english(TextId::NumberChanged).replace("{host}", host);
    one_segment(text)
}

/// The notice to a user's phone that their password was reset (issue #15): no code, no
/// name, so a reset the user did not make is noticed.
///
/// ```
/// let text = textid_sms::template::password_reset_text("login.example.com").unwrap();
/// assert!(text.starts_with("Your textid password at login.example.com was reset."));
/// ```
pub fn password_reset_text(host: &str) -> Result<String, TemplateError> {
    check_host(host)?;
    let text = catalog::english(TextId::PasswordReset).replace("{host}", host);
    one_segment(text)
}

/// The words a voice call says for a code (the voice channel): the message's first line
/// with the code's characters spaced out, so a voice reads digits, not a number, and no
/// origin-bound line (it means nothing spoken).
///
/// ```
/// let said = textid_sms::template::spoken_code_text(
///     textid_sms::MessageKind::SignInCode, "login.example.com", "123456", 5,
/// ).unwrap();
/// assert_eq!(said, "1 2 3 4 5 6 is your sign-in code. It expires in 5 minutes. Do not share it.");
/// ```
pub fn spoken_code_text(
    kind: crate::MessageKind,
    host: &str,
    code: &str,
    lifetime_minutes: u32,
) -> Result<String, TemplateError> {
    let first_line = match kind {
        crate::MessageKind::SignInCode => TextId::SignInCode,
        crate::MessageKind::VerificationCode
        | crate::MessageKind::NumberChanged
        | crate::MessageKind::PasswordReset => TextId::VerificationCode,
    };
    let text = render(first_line, host, code, lifetime_minutes)?;
    let first = text.lines().next().unwrap_or_default();
    let spaced: Vec<String> = code.chars().map(String::from).collect();
    Ok(first.replacen(code, &spaced.join(" "), 1))
}

fn render(
    first_line: TextId,
    host: &str,
    code: &str,
    lifetime_minutes: u32,
) -> Result<String, TemplateError> {
    check_host(host)?;
    // Letters and digits only: the code is also substituted into catalog text and must not
    // be able to end the origin-bound line early (a space or `#` would).
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(TemplateError::InvalidCode);
    }
    let expiry = match lifetime_minutes {
        0 => return Err(TemplateError::ZeroLifetime),
        1 => catalog::english(TextId::ExpiryOneMinute).to_owned(),
        n => catalog::english(TextId::ExpiryMinutes).replace("{minutes}", &n.to_string()),
    };
    let first = catalog::english(first_line)
        .replace("{expiry}", &expiry)
        .replace("{code}", code);
    let text = format!("{first}\n\n@{host} #{code}");
    one_segment(text)
}

/// `text` if it is GSM-7 and fits one segment.
fn one_segment(text: String) -> Result<String, TemplateError> {
    match gsm7_length(&text) {
        None => Err(TemplateError::NotGsm7),
        Some(septets) if septets > MAX_SEPTETS => Err(TemplateError::TooLong {
            septets,
            max: MAX_SEPTETS,
        }),
        Some(_) => Ok(text),
    }
}

/// A host as the origin-bound format and DNS allow it: a public URL's host, already in ASCII
/// (punycode), without scheme, port or path.
fn check_host(host: &str) -> Result<(), TemplateError> {
    let bare = !host.is_empty()
        && !host.starts_with('.')
        && !host.ends_with('.')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if bare {
        Ok(())
    } else {
        Err(TemplateError::InvalidHost {
            host: host.to_owned(),
        })
    }
}

/// Whether every character of `text` is in the GSM 03.38 default alphabet or its extension
/// table.
pub fn is_gsm7(text: &str) -> bool {
    gsm7_length(text).is_some()
}

/// The septets `text` needs in GSM-7: one per default-alphabet character, two per
/// extension-table character (escape + character, e.g. `€`, `{`, `[`); `None` when a
/// character has no GSM-7 form (e.g. `ő`, emoji), as the text would then go as UCS-2.
pub fn gsm7_length(text: &str) -> Option<usize> {
    text.chars().map(septets).sum()
}

/// The septets one character needs (GSM 03.38 / 3GPP TS 23.038 §6.2.1).
fn septets(c: char) -> Option<usize> {
    match c {
        'A'..='Z' | 'a'..='z' | '0'..='9' => Some(1),
        // Default alphabet 0x00-0x1F, less 0x1B (the escape to the extension table).
        '@' | '£' | '$' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | '\n' | 'Ø' | 'ø' | '\r'
        | 'Å' | 'å' | '\u{0394}' | '_' | '\u{03A6}' | '\u{0393}' | '\u{039B}' | '\u{03A9}'
        | '\u{03A0}' | '\u{03A8}' | '\u{03A3}' | '\u{0398}' | '\u{039E}' | 'Æ' | 'æ' | 'ß'
        | 'É' => Some(1),
        // Default alphabet 0x20-0x7F other than letters and digits.
        ' ' | '!' | '"' | '#' | '¤' | '%' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | '-'
        | '.' | '/' | ':' | ';' | '<' | '=' | '>' | '?' | '¡' | 'Ä' | 'Ö' | 'Ñ' | 'Ü' | '§'
        | '¿' | 'ä' | 'ö' | 'ñ' | 'ü' | 'à' => Some(1),
        // Extension table: sent as escape + character.
        '\u{000C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "login.example.com";

    #[test]
    fn sign_in_text_is_the_catalog_text_followed_by_the_origin_bound_line() {
        assert_eq!(
            sign_in_code_text(HOST, "123456", 5).unwrap(),
            "123456 is your sign-in code. It expires in 5 minutes. Do not share it.\n\n\
             @login.example.com #123456"
        );
    }

    #[test]
    fn verification_text_names_its_purpose() {
        let text = verification_code_text(HOST, "654321", 10).unwrap();
        assert_eq!(
            text,
            "654321 is your verification code. It expires in 10 minutes. Do not share it.\n\n\
             @login.example.com #654321"
        );
    }

    #[test]
    fn the_last_line_is_exactly_at_host_space_hash_code() {
        for text in [
            sign_in_code_text(HOST, "000123", 5).unwrap(),
            verification_code_text(HOST, "000123", 5).unwrap(),
        ] {
            assert_eq!(text.lines().last(), Some("@login.example.com #000123"));
            // The origin-bound line is preceded by a blank line and appears once.
            assert!(text.contains("\n\n@login.example.com #000123"));
            assert_eq!(text.matches('@').count(), 1);
        }
    }

    #[test]
    fn a_one_minute_lifetime_is_singular() {
        let text = sign_in_code_text(HOST, "123456", 1).unwrap();
        assert!(text.contains("It expires in 1 minute."), "{text}");
    }

    #[test]
    fn texts_with_the_longest_lifetime_and_a_long_host_fit_one_segment() {
        let host = "sign-in.a-rather-long-organisation-name.example.com";
        for text in [
            sign_in_code_text(host, "12345678", 10).unwrap(),
            verification_code_text(host, "12345678", 10).unwrap(),
        ] {
            let septets = gsm7_length(&text).unwrap();
            assert!(septets <= MAX_SEPTETS, "{septets}: {text}");
        }
    }

    #[test]
    fn a_host_one_character_too_long_is_refused_at_exactly_the_segment_boundary() {
        // The text without the host, measured: what is left of 160 septets is the longest host.
        let fixed = gsm7_length(&sign_in_code_text("h", "123456", 5).unwrap()).unwrap() - 1;
        let longest = "a".repeat(MAX_SEPTETS - fixed);
        let text = sign_in_code_text(&longest, "123456", 5).unwrap();
        assert_eq!(gsm7_length(&text), Some(MAX_SEPTETS));

        let too_long = format!("{longest}a");
        let err = sign_in_code_text(&too_long, "123456", 5).unwrap_err();
        assert_eq!(
            err,
            TemplateError::TooLong {
                septets: MAX_SEPTETS + 1,
                max: MAX_SEPTETS
            }
        );
        assert_eq!(err.code(), "tooLongForOneSegment");
    }

    #[test]
    fn a_host_with_scheme_port_path_or_spaces_is_refused() {
        for host in [
            "",
            "https://login.example.com",
            "login.example.com:8443",
            "login.example.com/x",
            "login example.com",
            ".example.com",
            "bücher.example",
        ] {
            let err = sign_in_code_text(host, "123456", 5).unwrap_err();
            assert_eq!(err.code(), "invalidHost", "{host:?}");
        }
    }

    #[test]
    fn a_code_that_could_break_the_origin_bound_line_is_refused() {
        for code in ["", "123 456", "123456#", "12345\n6", "١٢٣"] {
            let err = sign_in_code_text(HOST, code, 5).unwrap_err();
            assert_eq!(err, TemplateError::InvalidCode, "{code:?}");
            assert_eq!(err.code(), "invalidCode");
        }
    }

    #[test]
    fn a_zero_minute_lifetime_is_refused() {
        let err = sign_in_code_text(HOST, "123456", 0).unwrap_err();
        assert_eq!(err, TemplateError::ZeroLifetime);
        assert_eq!(err.code(), "invalidLifetime");
    }

    #[test]
    fn extension_table_characters_count_two_septets() {
        assert_eq!(gsm7_length("€"), Some(2));
        assert_eq!(gsm7_length("{[~]}|^\\"), Some(16));
        assert_eq!(gsm7_length("Price: 5€"), Some(10));
    }

    #[test]
    fn default_alphabet_accents_are_gsm7_and_others_are_not() {
        assert!(is_gsm7("ä"));
        assert_eq!(gsm7_length("äöüÄÖÜßéñ"), Some(9));
        assert!(!is_gsm7("ő"));
        assert!(!is_gsm7("ç")); // only the capital Ç is in the default alphabet
        assert!(!is_gsm7("ok 👍"));
        assert_eq!(gsm7_length("ő"), None);
        assert_eq!(gsm7_length(""), Some(0));
    }

    #[test]
    fn greek_capitals_of_the_default_alphabet_are_gsm7_and_lowercase_greek_is_not() {
        assert_eq!(gsm7_length("ΔΦΓΛΩΠΨΣΘΞ"), Some(10));
        assert!(!is_gsm7("α"));
    }

    #[test]
    fn the_tables_have_exactly_the_gsm_03_38_sizes() {
        let all = || (0..=0x10FFFF_u32).filter_map(char::from_u32);
        // 128 code points less the escape.
        assert_eq!(all().filter(|&c| septets(c) == Some(1)).count(), 127);
        assert_eq!(all().filter(|&c| septets(c) == Some(2)).count(), 10);
    }

    #[test]
    fn template_error_codes_are_pinned() {
        let host = TemplateError::InvalidHost { host: "x".into() };
        assert_eq!(host.code(), "invalidHost");
        assert_eq!(TemplateError::NotGsm7.code(), "notGsm7");
    }
}
