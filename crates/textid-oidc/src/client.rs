//! OAuth clients (apps): their type, their secrets and their redirect URIs.
//!
//! Invariants: a client secret is shown once and only its SHA-256 is stored; a redirect URI
//! is matched byte for byte against the registered ones (DESIGN §3 "exact redirect URI
//! match", RFC 9700 §4.1.3), so what registration accepts is exactly what will be compared.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::{Host, Url};
use zeroize::Zeroizing;

/// Whether a client can keep a secret (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// A server-side app that authenticates with a client secret.
    Confidential,
    /// A native or browser app: no secret, PKCE only (token endpoint auth method `none`).
    Public,
}

impl ClientType {
    /// The stored name: `confidential` or `public`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Confidential => "confidential",
            ClientType::Public => "public",
        }
    }
}

/// How a client authenticates at the token and revocation endpoints (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// HTTP Basic with the form-encoded client id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` only.
    None,
}

impl TokenEndpointAuthMethod {
    /// The registered name, as in discovery's `token_endpoint_auth_methods_supported`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
            TokenEndpointAuthMethod::None => "none",
        }
    }
}

/// A client secret in clear: 32 random bytes, base64url (43 characters). Shown to the admin
/// once at creation; only its [`ClientSecretHash`] is kept.
#[derive(Clone)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// Bytes of randomness in a secret: 256 bits.
    pub const BYTES: usize = 32;

    /// A new random secret.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = Zeroizing::new([0u8; Self::BYTES]);
        rng.fill_bytes(bytes.as_mut());
        Self(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
    }

    /// The secret itself, to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What to store.
    pub fn hash(&self) -> ClientSecretHash {
        ClientSecretHash::of(self.expose())
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// The stored form of a client secret: its SHA-256.
///
/// A fast unsalted hash is enough here, unlike for passwords: the secret is 256 random bits
/// chosen by textid, so a stolen hash cannot be reversed by guessing (no dictionary, and
/// 2^256 candidates), and a salt would only defend against precomputation over a space
/// that is already too large to precompute. A slow hash (argon2) would spend ~tens of ms of
/// CPU per token request for no gain, against DESIGN §5's per-sign-in CPU budget.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClientSecretHash([u8; 32]);

/// A stored client secret hash that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored client secret hash is not sha256:<base64url of 32 bytes>")]
pub struct MalformedSecretHash;

impl ClientSecretHash {
    const PREFIX: &'static str = "sha256:";

    /// The hash of a presented secret.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `presented` is the secret, compared in constant time.
    #[must_use]
    pub fn verify(&self, presented: &str) -> bool {
        Self::of(presented).0.ct_eq(&self.0).into()
    }

    /// The stored text: `sha256:` and the unpadded base64url digest. The prefix names the
    /// scheme, so another can be introduced without guessing what a row holds.
    pub fn to_stored(&self) -> String {
        format!("{}{}", Self::PREFIX, URL_SAFE_NO_PAD.encode(self.0))
    }

    /// Reads [`ClientSecretHash::to_stored`]'s form back.
    pub fn parse_stored(stored: &str) -> Result<Self, MalformedSecretHash> {
        let digest = stored
            .strip_prefix(Self::PREFIX)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .ok_or(MalformedSecretHash)?;
        digest.try_into().map(Self).map_err(|_| MalformedSecretHash)
    }
}

impl fmt::Debug for ClientSecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientSecretHash({})", self.to_stored())
    }
}

/// Whether `given` is one of the `registered` redirect URIs, byte for byte: no
/// normalisation (case, percent-encoding, default port, trailing slash), no prefix, no
/// wildcard, no query tolerance (RFC 9700 §4.1.3; the open-redirect and code-theft attacks
/// that looser matching enabled).
#[must_use]
pub fn redirect_uri_matches(registered: &[String], given: &str) -> bool {
    registered.iter().any(|uri| uri == given)
}

/// A redirect URI accepted at client registration. Holds the text as given (not the parsed
/// and normalised form), since that text is what requests are compared with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

/// Why a redirect URI was refused at registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    /// Empty, or with whitespace or control characters (which URL parsers strip silently).
    #[error("redirect URI must not be empty or contain whitespace or control characters")]
    Blank,
    /// Not an absolute URI.
    #[error("redirect URI must be an absolute URI")]
    NotAbsolute,
    /// Has a `#fragment` (RFC 6749 §3.1.2).
    #[error("redirect URI must not contain a fragment")]
    Fragment,
    /// `http` to a host other than the loopback interface (RFC 8252 §7.3, §8.3).
    #[error("http redirect URIs are allowed only for 127.0.0.1, [::1] and localhost; use https")]
    HttpNotLoopback,
    /// Has `user:password@`.
    #[error("redirect URI must not contain user information")]
    UserInfo,
    /// A scheme that runs or reads content instead of reaching an app.
    #[error("redirect URI scheme {0:?} is not allowed")]
    ForbiddenScheme(String),
}

/// Schemes that would execute or embed content in the browser instead of handing the code to
/// an app.
const FORBIDDEN_SCHEMES: [&str; 7] = [
    "javascript",
    "data",
    "vbscript",
    "file",
    "blob",
    "about",
    "filesystem",
];

impl RedirectUri {
    /// Validates a redirect URI for registration: absolute, no fragment, no user info; `https`
    /// anywhere; `http` only to the loopback interface (`127.0.0.1`, `[::1]`, `localhost`);
    /// private-use schemes (`com.example.app:/cb`, RFC 8252 §7.1) for native apps, except the
    /// schemes that run or embed content (`javascript`, `data`, `vbscript`, `file`, `blob`,
    /// `about`, `filesystem`).
    pub fn parse(text: &str) -> Result<Self, RedirectUriError> {
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RedirectUriError::Blank);
        }
        let url = Url::parse(text).map_err(|_| RedirectUriError::NotAbsolute)?;
        if url.fragment().is_some() {
            return Err(RedirectUriError::Fragment);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectUriError::UserInfo);
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(url.host()) => {}
            "http" => return Err(RedirectUriError::HttpNotLoopback),
            scheme if FORBIDDEN_SCHEMES.contains(&scheme) => {
                return Err(RedirectUriError::ForbiddenScheme(scheme.to_string()))
            }
            _ => {}
        }
        Ok(Self(text.to_string()))
    }

    /// The URI exactly as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(crate) fn is_loopback(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        Some(Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = RedirectUriError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<RedirectUri> for String {
    fn from(uri: RedirectUri) -> Self {
        uri.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn stored_names_are_pinned() {
        assert_eq!(
            serde_json::to_string(&ClientType::Confidential).unwrap(),
            r#""confidential""#
        );
        assert_eq!(
            serde_json::to_string(&ClientType::Public).unwrap(),
            r#""public""#
        );
        assert_eq!(ClientType::Public.as_str(), "public");
        for m in [
            TokenEndpointAuthMethod::ClientSecretBasic,
            TokenEndpointAuthMethod::ClientSecretPost,
            TokenEndpointAuthMethod::None,
        ] {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }

    #[test]
    fn generated_secret_is_43_base64url_characters_of_32_random_bytes() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = ClientSecret::generate(&mut rng);
        let b = ClientSecret::generate(&mut rng);
        assert_eq!(a.expose().len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(a.expose()).unwrap().len(), 32);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "ClientSecret(<redacted>)");
    }

    #[test]
    fn secret_verifies_against_its_stored_hash_only() {
        let secret = ClientSecret::generate(&mut StdRng::seed_from_u64(2));
        let stored = secret.hash().to_stored();
        assert!(stored.starts_with("sha256:"));
        let hash = ClientSecretHash::parse_stored(&stored).unwrap();
        assert!(hash.verify(secret.expose()));
        assert!(!hash.verify(&secret.expose()[1..]));
        assert!(!hash.verify(""));
        assert!(!format!("{hash:?}").contains(secret.expose()));
    }

    #[test]
    fn stored_hash_format_is_pinned() {
        // SHA-256("abc"), RFC 6234 / FIPS 180-2 test vector.
        assert_eq!(
            ClientSecretHash::of("abc").to_stored(),
            "sha256:ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        for bad in [
            "",
            "sha256:",
            "md5:ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0",
            "sha256:ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa",
            "sha256:!!",
        ] {
            assert_eq!(
                ClientSecretHash::parse_stored(bad),
                Err(MalformedSecretHash),
                "{bad}"
            );
        }
    }

    #[test]
    fn redirect_uri_matching_is_byte_exact() {
        let registered = vec![
            "https://app.example/cb".to_string(),
            "com.example.app:/oauth".to_string(),
        ];
        assert!(redirect_uri_matches(&registered, "https://app.example/cb"));
        assert!(redirect_uri_matches(&registered, "com.example.app:/oauth"));
        for near_miss in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example/c",
            "https://APP.example/cb",
            "HTTPS://app.example/cb",
            "https://app.example:443/cb",
            "https://app.example/%63b",
            "https://app.example/cb#",
            "https://app.example/cb ",
            "https://app.example.evil/cb",
            "",
        ] {
            assert!(!redirect_uri_matches(&registered, near_miss), "{near_miss}");
        }
        assert!(!redirect_uri_matches(&[], "https://app.example/cb"));
    }

    #[test]
    fn registration_accepts_https_loopback_http_and_private_use_schemes() {
        for ok in [
            "https://app.example/cb",
            "https://app.example:8443/cb?tenant=1",
            "http://127.0.0.1:51234/cb",
            "http://[::1]/cb",
            "http://localhost:3000/callback",
            "com.example.app:/oauth2redirect",
            "msauth.com.example.app://auth",
            "myapp://callback",
        ] {
            assert_eq!(
                RedirectUri::parse(ok).map(|u| u.as_str().to_string()),
                Ok(ok.to_string())
            );
        }
    }

    #[test]
    fn registration_refuses_unsafe_redirect_uris() {
        use RedirectUriError::*;
        let cases = [
            ("", Blank),
            (" https://app.example/cb", Blank),
            ("https://app.example/cb\n", Blank),
            ("/cb", NotAbsolute),
            ("app.example/cb", NotAbsolute),
            ("https://app.example/cb#frag", Fragment),
            ("https://app.example/cb#", Fragment),
            ("http://app.example/cb", HttpNotLoopback),
            ("http://127.0.0.2/cb", HttpNotLoopback),
            ("http://localhost.evil.example/cb", HttpNotLoopback),
            ("https://user:pw@app.example/cb", UserInfo),
            ("javascript:alert(1)", ForbiddenScheme("javascript".into())),
            ("data:text/html,hi", ForbiddenScheme("data".into())),
            ("file:///etc/passwd", ForbiddenScheme("file".into())),
        ];
        for (uri, want) in cases {
            assert_eq!(RedirectUri::parse(uri), Err(want), "{uri:?}");
        }
    }

    #[test]
    fn redirect_uri_deserialises_only_when_valid() {
        let ok: RedirectUri = serde_json::from_str(r#""https://app.example/cb""#).unwrap();
        assert_eq!(ok.to_string(), "https://app.example/cb");
        assert!(serde_json::from_str::<RedirectUri>(r#""http://app.example/cb""#).is_err());
    }
}
