//! PKCE (RFC 7636), S256 only: DESIGN §3 requires it for every client and forbids `plain`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why an authorization request's PKCE parameters were refused. Each maps to
/// `invalid_request` with its own description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// No `code_challenge`.
    #[error("code_challenge is required")]
    MissingChallenge,
    /// A `code_challenge` that is not an S256 challenge (43 base64url characters).
    #[error("code_challenge must be 43 base64url characters (S256)")]
    MalformedChallenge,
    /// No `code_challenge_method`: RFC 7636 §4.3 would default to `plain`, which textid refuses.
    #[error("code_challenge_method is required and must be S256")]
    MissingMethod,
    /// `code_challenge_method=plain`.
    #[error("code_challenge_method plain is not allowed; use S256")]
    PlainNotAllowed,
    /// Any other method.
    #[error("this code_challenge_method is not supported; use S256")]
    UnsupportedMethod(String),
}

/// Accepts only `S256` (case-sensitive, RFC 7636 §4.3). A missing method and `plain` are
/// refused with distinct errors, so the client learns what to fix.
pub fn parse_challenge_method(method: Option<&str>) -> Result<(), PkceError> {
    match method {
        Some("S256") => Ok(()),
        Some("plain") => Err(PkceError::PlainNotAllowed),
        Some(other) => Err(PkceError::UnsupportedMethod(other.to_string())),
        None => Err(PkceError::MissingMethod),
    }
}

/// Checks a `code_challenge` at the authorization request: an S256 challenge is the
/// unpadded base64url of a SHA-256 digest, so exactly 43 characters of that alphabet.
pub fn validate_challenge(challenge: Option<&str>) -> Result<(), PkceError> {
    let challenge = challenge.ok_or(PkceError::MissingChallenge)?;
    let decodes_to_32 = URL_SAFE_NO_PAD
        .decode(challenge)
        .is_ok_and(|bytes| bytes.len() == 32);
    if challenge.len() == 43 && decodes_to_32 {
        Ok(())
    } else {
        Err(PkceError::MalformedChallenge)
    }
}

/// The S256 challenge of a verifier: BASE64URL-no-pad(SHA256(ASCII(verifier))) (RFC 7636 §4.2).
pub fn challenge_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` is well formed (RFC 7636 §4.1: 43–128 characters of
/// `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`) and hashes to `challenge`. The comparison
/// is constant-time.
#[must_use]
pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed
        && challenge_s256(verifier)
            .as_bytes()
            .ct_eq(challenge.as_bytes())
            .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B. (The challenge ends in "...bUuGJSstw-cM"; a variant ending in
    // "...iUq7v7-q8M" that circulates is wrong: it is 44 characters, not 43.)
    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_vector_verifies() {
        assert_eq!(challenge_s256(RFC_VERIFIER), RFC_CHALLENGE);
        assert!(verify_s256(RFC_VERIFIER, RFC_CHALLENGE));
        assert!(validate_challenge(Some(RFC_CHALLENGE)).is_ok());
        assert!(!verify_s256(
            RFC_VERIFIER,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuiUq7v7-q8M"
        ));
    }

    #[test]
    fn wrong_verifier_or_challenge_fails() {
        let other = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl";
        assert!(!verify_s256(other, RFC_CHALLENGE));
        assert!(!verify_s256(RFC_VERIFIER, &RFC_CHALLENGE[..42]));
        assert!(!verify_s256(RFC_VERIFIER, ""));
        // plain PKCE: the verifier itself as the challenge.
        assert!(!verify_s256(RFC_VERIFIER, RFC_VERIFIER));
    }

    #[test]
    fn verifier_length_and_alphabet_are_enforced() {
        let ok_43 = "a".repeat(43);
        let ok_128 = "~._-".repeat(32);
        assert!(verify_s256(&ok_43, &challenge_s256(&ok_43)));
        assert!(verify_s256(&ok_128, &challenge_s256(&ok_128)));
        for bad in [
            "a".repeat(42),
            "a".repeat(129),
            format!("{}+", "a".repeat(42)),
            format!("{} ", "a".repeat(42)),
            format!("{}é", "a".repeat(41)),
        ] {
            assert!(!verify_s256(&bad, &challenge_s256(&bad)), "{bad:?}");
        }
    }

    #[test]
    fn only_s256_is_an_accepted_method() {
        assert_eq!(parse_challenge_method(Some("S256")), Ok(()));
        assert_eq!(parse_challenge_method(None), Err(PkceError::MissingMethod));
        assert_eq!(
            parse_challenge_method(Some("plain")),
            Err(PkceError::PlainNotAllowed)
        );
        assert_eq!(
            parse_challenge_method(Some("s256")),
            Err(PkceError::UnsupportedMethod("s256".into()))
        );
    }

    #[test]
    fn challenge_must_be_43_base64url_characters() {
        assert_eq!(validate_challenge(None), Err(PkceError::MissingChallenge));
        for bad in [
            "",
            &RFC_CHALLENGE[..42],
            &format!("{RFC_CHALLENGE}A"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c=",
        ] {
            assert_eq!(
                validate_challenge(Some(bad)),
                Err(PkceError::MalformedChallenge),
                "{bad}"
            );
        }
    }
}
