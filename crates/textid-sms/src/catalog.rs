//! The user-facing words of every message textid sends, in one place, keyed by stable ids
//! (STYLE: one catalog; kratos `text/`).
//!
//! Entries are templates with `{name}` placeholders that [`crate::template`] fills in. Only
//! English exists today; a new language is one more module like [`en`] and a function like
//! [`english`], chosen by [`crate::OutgoingMessage::locale`]. Every text must stay within the GSM-7 alphabet and short enough that the rendered
//! message fits one segment with a long host: the template tests check the English table.
//! The origin-bound last line (`@{host} #{code}`) is a format, not a text, and lives in
//! [`crate::template`].

/// A stable key for one text. The string form ([`TextId::as_str`]) is what translators see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextId {
    /// The first line of a sign-in code message. Placeholders: `{code}`, `{expiry}`.
    SignInCode,
    /// The first line of a phone verification message. Placeholders: `{code}`, `{expiry}`.
    VerificationCode,
    /// The `{expiry}` phrase for a lifetime of exactly one minute.
    ExpiryOneMinute,
    /// The `{expiry}` phrase for any other lifetime. Placeholder: `{minutes}`.
    ExpiryMinutes,
    /// The notice to a number that stopped being a user's sign-in number. Placeholder:
    /// `{host}`.
    NumberChanged,
    /// The notice to a user's phone that their password was reset (issue #15).
    /// Placeholder: `{host}`.
    PasswordReset,
}

impl TextId {
    /// Every id, for tests that check the whole catalog.
    pub const ALL: [TextId; 6] = [
        Self::SignInCode,
        Self::VerificationCode,
        Self::ExpiryOneMinute,
        Self::ExpiryMinutes,
        Self::NumberChanged,
        Self::PasswordReset,
    ];

    /// The stable key of this text.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::SignInCode => "sms.signInCode",
            Self::VerificationCode => "sms.verificationCode",
            Self::ExpiryOneMinute => "sms.expiry.oneMinute",
            Self::ExpiryMinutes => "sms.expiry.minutes",
            Self::NumberChanged => "sms.numberChanged",
            Self::PasswordReset => "sms.passwordReset",
        }
    }
}

/// The English texts.
pub mod en {
    /// [`super::TextId::SignInCode`].
    pub const SIGN_IN_CODE: &str =
        "{code} is your sign-in code. It expires in {expiry}. Do not share it.";
    /// [`super::TextId::VerificationCode`].
    pub const VERIFICATION_CODE: &str =
        "{code} is your verification code. It expires in {expiry}. Do not share it.";
    /// [`super::TextId::ExpiryOneMinute`].
    pub const EXPIRY_ONE_MINUTE: &str = "1 minute";
    /// [`super::TextId::ExpiryMinutes`].
    pub const EXPIRY_MINUTES: &str = "{minutes} minutes";
    /// [`super::TextId::NumberChanged`].
    pub const NUMBER_CHANGED: &str =
        "Your sign-in number at {host} was changed. Not you? Tell your administrator now.";
    /// [`super::TextId::PasswordReset`].
    pub const PASSWORD_RESET: &str =
        "Your textid password at {host} was reset. Not you? Tell your administrator now.";
}

/// The locale of every rendered text, for [`crate::OutgoingMessage::locale`]. Only English
/// exists yet.
pub const LOCALE: &str = "en";

/// The English text for `id`.
pub fn english(id: TextId) -> &'static str {
    match id {
        TextId::SignInCode => en::SIGN_IN_CODE,
        TextId::VerificationCode => en::VERIFICATION_CODE,
        TextId::ExpiryOneMinute => en::EXPIRY_ONE_MINUTE,
        TextId::ExpiryMinutes => en::EXPIRY_MINUTES,
        TextId::NumberChanged => en::NUMBER_CHANGED,
        TextId::PasswordReset => en::PASSWORD_RESET,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_ids_are_pinned_and_distinct() {
        let keys: Vec<&str> = TextId::ALL.iter().map(TextId::as_str).collect();
        assert_eq!(
            keys,
            [
                "sms.signInCode",
                "sms.verificationCode",
                "sms.expiry.oneMinute",
                "sms.expiry.minutes",
                "sms.numberChanged",
                "sms.passwordReset"
            ]
        );
    }

    #[test]
    fn every_english_text_is_gsm7() {
        for id in TextId::ALL {
            assert!(crate::template::is_gsm7(english(id)), "{}", id.as_str());
        }
    }
}
