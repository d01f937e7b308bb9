//! Client authentication at the token and revocation endpoints: the `client_secret_basic`
//! header (RFC 6749 §2.3.1).
//!
//! RFC 6749 §2.3.1 says the client id and secret are each encoded with
//! `application/x-www-form-urlencoded` *before* being joined by `:` and base64-encoded
//! (RFC 7617). So decoding is: base64, split on the first `:`, then form-decode each part
//! (`+` is a space, `%XX` is a byte). A raw `:` can only appear in the secret (the id has none
//! before the first `:`); a `:` in the id arrives as `%3A`.

use std::borrow::Cow;
use std::fmt;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use percent_encoding::percent_decode;
use zeroize::Zeroizing;

/// Standard base64, padding optional: some clients strip it, and nothing is gained by refusing.
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why an `Authorization` header is not usable `client_secret_basic` credentials. The token
/// endpoint answers each with `invalid_client` (401 and `WWW-Authenticate: Basic`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BasicAuthError {
    /// Not the `Basic` scheme followed by credentials.
    #[error("authorization header is not Basic credentials")]
    NotBasic,
    /// The credentials are not base64.
    #[error("basic credentials are not base64")]
    NotBase64,
    /// The decoded credentials have no `:`.
    #[error("basic credentials have no ':' between client id and secret")]
    MissingColon,
    /// A part is not UTF-8 once decoded.
    #[error("basic credentials are not UTF-8")]
    NotUtf8,
    /// The client id is empty.
    #[error("basic credentials have an empty client id")]
    EmptyClientId,
}

/// A client id and secret from a `Basic` header, both form-decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    client_id: String,
    client_secret: Zeroizing<String>,
}

impl BasicCredentials {
    /// Parses an `Authorization` header value: the scheme `Basic` in any case (RFC 7235 §2.1),
    /// one or more spaces, then the base64 credentials.
    pub fn parse(header: &str) -> Result<Self, BasicAuthError> {
        let header = header.trim_matches([' ', '\t']);
        let (scheme, credentials) = header.split_once(' ').ok_or(BasicAuthError::NotBasic)?;
        let credentials = credentials.trim_start_matches(' ');
        if !scheme.eq_ignore_ascii_case("basic") || credentials.is_empty() {
            return Err(BasicAuthError::NotBasic);
        }
        let decoded = Zeroizing::new(
            BASIC_BASE64
                .decode(credentials)
                .map_err(|_| BasicAuthError::NotBase64)?,
        );
        let colon = decoded
            .iter()
            .position(|b| *b == b':')
            .ok_or(BasicAuthError::MissingColon)?;
        let client_id = form_decode(&decoded[..colon])?;
        if client_id.is_empty() {
            return Err(BasicAuthError::EmptyClientId);
        }
        Ok(Self {
            client_id: client_id.to_string(),
            client_secret: Zeroizing::new(form_decode(&decoded[colon + 1..])?.into_owned()),
        })
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The presented secret, to compare with the stored hash.
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// `application/x-www-form-urlencoded` decoding of one value (WHATWG URL §5.1): `+` becomes a
/// space, then `%XX` becomes the byte; a `%` not followed by two hex digits stays as it is.
fn form_decode(bytes: &[u8]) -> Result<Cow<'_, str>, BasicAuthError> {
    let plus_as_space: Cow<'_, [u8]> = if bytes.contains(&b'+') {
        Cow::Owned(
            bytes
                .iter()
                .map(|b| if *b == b'+' { b' ' } else { *b })
                .collect(),
        )
    } else {
        Cow::Borrowed(bytes)
    };
    let decoded: Vec<u8> = percent_decode(&plus_as_space).collect();
    String::from_utf8(decoded)
        .map(Cow::Owned)
        .map_err(|_| BasicAuthError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

    use super::*;

    fn basic(raw: &str) -> String {
        format!("Basic {}", STANDARD.encode(raw))
    }

    fn parsed(raw: &str) -> (String, String) {
        let c = BasicCredentials::parse(&basic(raw)).unwrap();
        (c.client_id().to_string(), c.client_secret().to_string())
    }

    #[test]
    fn rfc6749_example_header_decodes() {
        let c =
            BasicCredentials::parse("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3").unwrap();
        assert_eq!(c.client_id(), "s6BhdRkqt3");
        assert_eq!(c.client_secret(), "7Fjfp0ZBr1KtDRbnfVdmIw");
    }

    #[test]
    fn secret_with_a_raw_colon_keeps_everything_after_the_first_colon() {
        assert_eq!(parsed("app-1:a:b:c"), ("app-1".into(), "a:b:c".into()));
    }

    #[test]
    fn percent_encoded_colon_is_decoded_in_id_and_secret() {
        assert_eq!(
            parsed("urn%3Aapp:s%3Aecret"),
            ("urn:app".into(), "s:ecret".into())
        );
    }

    #[test]
    fn plus_is_a_space_and_percent_2b_is_a_plus() {
        assert_eq!(parsed("my+app:a+b%2Bc"), ("my app".into(), "a b+c".into()));
    }

    #[test]
    fn non_ascii_is_percent_decoded_as_utf8() {
        assert_eq!(parsed("app:%C3%A9t%C3%A9"), ("app".into(), "été".into()));
        assert_eq!(
            BasicCredentials::parse(&basic("app:%FF")),
            Err(BasicAuthError::NotUtf8)
        );
    }

    #[test]
    fn stray_percent_is_kept_literally() {
        assert_eq!(parsed("app:100%-%zz"), ("app".into(), "100%-%zz".into()));
    }

    #[test]
    fn empty_secret_is_returned_for_the_caller_to_refuse() {
        assert_eq!(parsed("app:"), ("app".into(), String::new()));
    }

    #[test]
    fn scheme_is_case_insensitive_and_padding_optional() {
        let token = STANDARD_NO_PAD.encode("app:secret1");
        for header in [
            format!("basic {token}"),
            format!("BASIC  {token}"),
            format!(" Basic {token} "),
        ] {
            let c = BasicCredentials::parse(&header).unwrap();
            assert_eq!((c.client_id(), c.client_secret()), ("app", "secret1"));
        }
    }

    #[test]
    fn unusable_headers_are_refused_with_their_reason() {
        use BasicAuthError::*;
        let cases = [
            ("Bearer abc".to_string(), NotBasic),
            ("Basic".to_string(), NotBasic),
            ("Basic ".to_string(), NotBasic),
            ("Basicx YXBwOnM=".to_string(), NotBasic),
            ("Basic !!!".to_string(), NotBase64),
            (basic("no-colon"), MissingColon),
            (basic(":secret"), EmptyClientId),
        ];
        for (header, want) in cases {
            assert_eq!(BasicCredentials::parse(&header), Err(want), "{header}");
        }
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let c = BasicCredentials::parse(&basic("app:hunter2")).unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("app") && !shown.contains("hunter2"));
    }
}
