//! Passwords (issue #15): what a new password must be, and what a verified password
//! leads to.
//!
//! Rules for a new password (NIST SP 800-63B §5.1.1.2): at least 8 and at most 256
//! characters (Unicode scalar values, so a passphrase in any script counts what the
//! person typed), any characters, no composition rules, and not one of the 10,000 most
//! common passwords of that length (`data/common-passwords.txt`, compared
//! case-insensitively). Hashing (argon2id) is not here: it is slow by design and belongs
//! off the async runtime, in the use-case layer.
//!
//! After the password is verified, [`after_password`] decides the next step from the
//! client's and the tenant's "require MFA" settings and what the SMS and Voice policies
//! allow the user (DESIGN.md §1: a target without "use for sign-in" allows SMS as a second
//! factor; no target at all refuses it).

use std::collections::HashSet;
use std::sync::OnceLock;

use rand::{CryptoRng, Rng, RngCore};

use crate::policy::SmsPermission;
use crate::secret::Secret;

/// Fewest characters of a password.
pub const MIN_CHARS: usize = 8;
/// Most characters of a password (argon2 hashes any length; the cap bounds the work an
/// anonymous request can ask for).
pub const MAX_CHARS: usize = 256;

static COMMON: &str = include_str!("../data/common-passwords.txt");

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON.lines().filter(|l| !l.is_empty()).collect())
}

/// Whether `candidate` is on the bundled list of common passwords (case-insensitive).
pub fn is_common(candidate: &str) -> bool {
    common().contains(candidate.to_lowercase().as_str())
}

/// How many passwords the bundled list holds.
pub fn common_list_len() -> usize {
    common().len()
}

/// Why a string cannot be a new password. The message never repeats the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than [`MIN_CHARS`] characters.
    #[error("the password is too short; use at least 8 characters")]
    TooShort,
    /// More than [`MAX_CHARS`] characters.
    #[error("the password is too long; use at most 256 characters")]
    TooLong,
    /// On the list of common passwords.
    #[error("the password is one of the most common passwords; choose another one")]
    Common,
}

impl PasswordError {
    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::TooShort => "passwordTooShort",
            Self::TooLong => "passwordTooLong",
            Self::Common => "passwordTooCommon",
        }
    }
}

/// A password that satisfies the rules for a new one; the value stays in a redacting
/// wrapper.
#[derive(Debug, Clone)]
pub struct Password(Secret<String>);

impl Password {
    /// Checks a new password against the length rules and the common-password list.
    pub fn parse(input: &str) -> Result<Self, PasswordError> {
        let n = input.chars().count();
        if n < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if n > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        if is_common(input) {
            return Err(PasswordError::Common);
        }
        Ok(Self(Secret::new(input.to_owned())))
    }

    /// A random password for an admin to hand over (`textid user set-password
    /// --generate`): 16 characters of an alphabet without look-alikes (about 93 bits).
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let s: String = (0..16)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect();
        Self(Secret::new(s))
    }

    /// The password itself (to hash it, or to show a generated one once).
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// Who changed a password, and how: decides the audit activity. Every change ends the
/// user's sessions and token families ([`crate::session::PASSWORD_CHANGE_REVOKES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordChange {
    /// An admin set or reset it (CLI, Graph `passwordProfile`).
    AdminReset,
    /// The user chose a new one (the forced change after sign-in).
    UserChange,
    /// The user reset a forgotten one with a code (self-service password reset).
    SelfServiceReset,
}

impl PasswordChange {
    /// The audit activity (Entra's names), stored forever.
    pub fn activity(self) -> &'static str {
        match self {
            Self::AdminReset => "Reset user password",
            Self::UserChange => "Change user password",
            Self::SelfServiceReset => "Reset password (self-service)",
        }
    }
}

/// Whether a sign-in needs a second factor: the app's or the tenant's setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MfaRequirement {
    /// The tenant requires MFA for every app.
    pub tenant: bool,
    /// The app (OAuth client) requires MFA.
    pub client: bool,
}

impl MfaRequirement {
    /// Whether either requires it.
    pub fn required(self) -> bool {
        self.tenant || self.client
    }
}

/// What the user has and may use for a second factor, read before the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondFactorFacts {
    /// What the SMS policy allows the user (a target without "use for sign-in" is
    /// [`SmsPermission::SecondFactorOnly`], which is enough).
    pub sms: SmsPermission,
    /// The user has a mobile phone method.
    pub has_mobile: bool,
}

/// The step after a verified password.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPassword {
    /// No second factor needed: sign in (`amr` = `["pwd"]`).
    SignIn,
    /// Send a code to the user's mobile and check it (`amr` = `["pwd", "sms"|"tel", "mfa"]`).
    SecondFactor,
    /// MFA is required and the user has no usable second factor: no session.
    NoSecondFactor,
}

/// Decides the step after a verified password.
pub fn after_password(req: MfaRequirement, facts: SecondFactorFacts) -> AfterPassword {
    if !req.required() {
        return AfterPassword::SignIn;
    }
    if facts.has_mobile && facts.sms != SmsPermission::NotAllowed {
        AfterPassword::SecondFactor
    } else {
        AfterPassword::NoSecondFactor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_bundled_list_has_ten_thousand_passwords_of_allowed_length() {
        assert!(common_list_len() >= 10_000);
        assert!(COMMON
            .lines()
            .all(|l| (MIN_CHARS..=MAX_CHARS).contains(&l.chars().count())));
    }

    #[test]
    fn length_rules_count_characters_not_bytes() {
        assert_eq!(
            Password::parse("short").err(),
            Some(PasswordError::TooShort)
        );
        assert!(Password::parse("ñandú-kö").is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(257)).err(),
            Some(PasswordError::TooLong)
        );
        assert!(Password::parse(&"é".repeat(256)).is_ok());
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        assert_eq!(
            Password::parse("password").err(),
            Some(PasswordError::Common)
        );
        assert_eq!(
            Password::parse("PassWord").err(),
            Some(PasswordError::Common)
        );
        assert_eq!(
            Password::parse("baseball").err(),
            Some(PasswordError::Common)
        );
        assert!(Password::parse("correct horse battery staple").is_ok());
    }

    #[test]
    fn generated_passwords_satisfy_the_rules_and_differ() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = Password::generate(&mut rng);
        let b = Password::generate(&mut rng);
        assert!(Password::parse(a.expose()).is_ok());
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::parse("a long secret phrase").unwrap();
        assert!(!format!("{p:?}").contains("secret"));
    }

    #[test]
    fn mfa_follows_the_client_or_tenant_and_sms_as_second_factor_suffices() {
        let facts = |sms, has_mobile| SecondFactorFacts { sms, has_mobile };
        let none = MfaRequirement::default();
        let tenant = MfaRequirement {
            tenant: true,
            client: false,
        };
        let client = MfaRequirement {
            tenant: false,
            client: true,
        };
        assert_eq!(
            after_password(none, facts(SmsPermission::NotAllowed, false)),
            AfterPassword::SignIn
        );
        for req in [tenant, client] {
            assert_eq!(
                after_password(req, facts(SmsPermission::SecondFactorOnly, true)),
                AfterPassword::SecondFactor
            );
            assert_eq!(
                after_password(req, facts(SmsPermission::SignIn, true)),
                AfterPassword::SecondFactor
            );
            assert_eq!(
                after_password(req, facts(SmsPermission::NotAllowed, true)),
                AfterPassword::NoSecondFactor
            );
            assert_eq!(
                after_password(req, facts(SmsPermission::SecondFactorOnly, false)),
                AfterPassword::NoSecondFactor
            );
        }
    }
}
