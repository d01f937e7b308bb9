//! The message a provider delivers, and its two pinned vocabularies: [`Channel`] and
//! [`MessageKind`].
//!
//! Their string forms (`"sms"`, `"signInCode"`, ...) are stored in the outbox and sent to
//! webhook receivers, so they never change; the tests below pin them.

use serde::{Deserialize, Serialize};
pub use textid_core::message::Channel;
use textid_core::secret::Secret;

/// One message to deliver.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// The outbox message id (a UUID string). The same on every try of this message, so
    /// receivers can use it as an idempotency key.
    pub id: String,
    /// The recipient in E.164, without spaces, e.g. `+14255550101`.
    pub to: String,
    /// The text. It contains a code: only the console provider may log it.
    pub body: Secret<String>,
    /// How the message travels.
    pub channel: Channel,
    /// The tenant's name, e.g. `default`.
    pub tenant: String,
    /// What the message is for.
    pub kind: MessageKind,
    /// The language of `body`, e.g. `en`.
    pub locale: String,
}

/// What a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageKind {
    /// A code for SMS sign-in (first factor) or a second factor at sign-in.
    #[serde(rename = "signInCode")]
    SignInCode,
    /// A code that proves a phone number before it is saved (security info, password reset).
    #[serde(rename = "verificationCode")]
    VerificationCode,
    /// A notice, without a code, to a number that stopped being a user's sign-in number.
    #[serde(rename = "numberChanged")]
    NumberChanged,
    /// A notice, without a code, that the user's password was reset (issue #15).
    #[serde(rename = "passwordReset")]
    PasswordReset,
}

impl MessageKind {
    /// The pinned string form, the same as the serde form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::SignInCode => "signInCode",
            Self::VerificationCode => "verificationCode",
            Self::NumberChanged => "numberChanged",
            Self::PasswordReset => "passwordReset",
        }
    }

    /// Reads the pinned string form back; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "signInCode" => Some(Self::SignInCode),
            "verificationCode" => Some(Self::VerificationCode),
            "numberChanged" => Some(Self::NumberChanged),
            "passwordReset" => Some(Self::PasswordReset),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_strings_are_pinned_and_round_trip() {
        for (channel, s) in [(Channel::Sms, "sms"), (Channel::Voice, "voice")] {
            assert_eq!(channel.as_str(), s);
            assert_eq!(Channel::parse(s), Some(channel));
            assert_eq!(serde_json::to_value(channel).unwrap(), s);
        }
        assert_eq!(Channel::parse("SMS"), None);
    }

    #[test]
    fn message_kind_strings_are_pinned_and_round_trip() {
        for (kind, s) in [
            (MessageKind::SignInCode, "signInCode"),
            (MessageKind::VerificationCode, "verificationCode"),
            (MessageKind::NumberChanged, "numberChanged"),
            (MessageKind::PasswordReset, "passwordReset"),
        ] {
            assert_eq!(kind.as_str(), s);
            assert_eq!(MessageKind::parse(s), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), s);
        }
        assert_eq!(MessageKind::parse("sign_in_code"), None);
    }

    #[test]
    fn debug_output_of_a_message_hides_the_body() {
        let message = OutgoingMessage {
            id: "0192f0c4-0000-7000-8000-000000000001".into(),
            to: "+14255550101".into(),
            body: Secret::new("123456 is your sign-in code.".into()),
            channel: Channel::Sms,
            tenant: "default".into(),
            kind: MessageKind::SignInCode,
            locale: "en".into(),
        };
        assert!(!format!("{message:?}").contains("123456"));
    }
}
