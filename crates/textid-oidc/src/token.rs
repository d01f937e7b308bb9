//! Signed JWTs: ID tokens (OIDC Core §2) and access tokens (RFC 9068 profile, with Entra's
//! `scp`/`roles` names), signing with a [`SigningKey`] and verification against
//! [`VerificationKey`]s.
//!
//! Verification is strict by construction: the header's `alg` must be one textid signs with
//! (never `none`, never HMAC: the alg-confusion attacks), must equal the algorithm of the key
//! its `kid` names, and `typ` must be the expected one (RFC 9068 §4, RFC 8725 §3.11: an ID
//! token is not accepted as an access token). Time checks use the `now` argument, not the
//! system clock, with no leeway: textid verifies its own tokens, on synchronised nodes.
//! The one allowance is [`MAX_IAT_SKEW_SECONDS`] for `iat`: a token that claims to be
//! issued further in the future was not issued by a node sharing our clock (a forged
//! or replayed-from-the-future token, or a node whose clock ran ahead), so it is refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::keys::{Algorithm, SigningKey, VerificationKey};

/// Authentication method references for `amr` (RFC 8176 §2; DESIGN §2).
pub mod amr {
    /// Confirmation by SMS to a registered number.
    pub const SMS: &str = "sms";
    /// Password.
    pub const PWD: &str = "pwd";
    /// Several factors were used.
    pub const MFA: &str = "mfa";
    /// A one-time password (e.g. a Temporary Access Pass).
    pub const OTP: &str = "otp";
    /// Confirmation by a voice call.
    pub const TEL: &str = "tel";
}

/// Claims of an ID token. Field names are the claim names. Seconds are since the Unix epoch.
///
/// The `profile` and `phone` claims are `None` unless the scope was granted (OIDC Core
/// §5.4); `None` claims are left out of the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer: the tenant's issuer URL.
    pub iss: String,
    /// Subject: the user's id.
    pub sub: String,
    /// Audience: the client id.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The `nonce` of the authorization request, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Tenant id (Entra's claim).
    pub tid: String,
    /// E.164 phone number (`phone` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Whether the number was proven by a code (`phone` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_verified: Option<bool>,
    /// Authentication methods used, see [`amr`].
    pub amr: Vec<String>,
    /// Display name (`profile` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// userPrincipalName (`profile` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Session id, for logout (OIDC Front-/Back-Channel Logout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Claims of an access token (RFC 9068 §2.2, with Entra's `scp` and `roles`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user's id, or the client id for `client_credentials` (RFC 9068 §2.2).
    pub sub: String,
    /// Audience: the resource the token is for.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Tenant id.
    pub tid: String,
    /// The client the token was issued to (Entra v2 name).
    pub azp: String,
    /// The client the token was issued to (RFC 9068 name); same value as `azp`.
    pub client_id: String,
    /// Granted delegated scopes, space separated (Entra's `scp`); absent for app-only tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// Granted app roles; absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Unique token id (textid issues time-ordered UUIDs).
    pub jti: String,
}

/// The JOSE `typ` header of a token kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// `JWT`, for ID tokens.
    IdToken,
    /// `at+jwt`, for access tokens (RFC 9068 §2.1).
    AccessToken,
}

impl TokenType {
    /// The `typ` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::IdToken => "JWT",
            TokenType::AccessToken => "at+jwt",
        }
    }

    /// Whether a header `typ` is this one. Media types compare case-insensitively and may
    /// carry the `application/` prefix (RFC 7515 §4.1.9, RFC 9068 §4).
    fn matches(self, typ: &str) -> bool {
        let bare = match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ,
        };
        bare.eq_ignore_ascii_case(self.as_str())
    }
}

/// What a verified token must say besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The exact `iss`.
    pub issuer: &'a str,
    /// An audience `aud` must be or contain; `None` skips the check (e.g. the `id_token_hint`
    /// of a logout request may name any client).
    pub audience: Option<&'a str>,
    /// The `typ` header.
    pub typ: TokenType,
}

/// Why a token was not issued or not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with a JSON header and payload.
    #[error("malformed token")]
    Malformed,
    /// A header `alg` textid does not accept (`none`, HMAC, anything unknown).
    #[error("algorithm {0:?} is not accepted")]
    UnsupportedAlgorithm(String),
    /// The header has a `crit` member; textid understands no JWS extension (RFC 7515 §4.1.11).
    #[error("critical header extensions are not supported")]
    CriticalHeader,
    /// The header has no `kid`.
    #[error("token has no kid")]
    MissingKeyId,
    /// No key with the header's `kid`.
    #[error("unknown key id {0:?}")]
    UnknownKeyId(String),
    /// The header's `alg` is not the algorithm of the key its `kid` names.
    #[error("token alg {found} does not match key alg {expected}")]
    AlgorithmMismatch {
        /// The key's algorithm.
        expected: Algorithm,
        /// The header's algorithm.
        found: Algorithm,
    },
    /// The header's `typ` is missing or not the expected one.
    #[error("wrong token type")]
    WrongType,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` is at or before now.
    #[error("token expired")]
    Expired,
    /// `nbf` is after now.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is further in the future than [`MAX_IAT_SKEW_SECONDS`].
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iss` is not the expected issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not name the expected audience.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is missing or not of its type.
    #[error("missing or malformed claim {0}")]
    MissingClaim(&'static str),
    /// The claims do not fit the requested claims type.
    #[error("claims do not fit: {0}")]
    InvalidClaims(String),
    /// Signing failed (the key was checked at load time, so this is not expected).
    #[error("signing failed: {0}")]
    Signing(String),
}

/// How far in the future an `iat` may lie (seconds): nodes align their clocks on the
/// database's, so a minute covers any honest drift between them.
pub const MAX_IAT_SKEW_SECONDS: i64 = 60;

/// Signs `claims` with `key` as a compact JWS whose header has `alg`, `typ` and `kid`.
pub fn sign(
    key: &SigningKey,
    claims: &impl Serialize,
    typ: TokenType,
) -> Result<String, TokenError> {
    /// The header, members in the order JOSE libraries write them.
    #[derive(Serialize)]
    struct Header<'a> {
        typ: &'a str,
        alg: &'a str,
        kid: &'a str,
    }
    let header = Header {
        typ: typ.as_str(),
        alg: key.alg().as_str(),
        kid: key.kid(),
    };
    let failed = |e: serde_json::Error| TokenError::Signing(e.to_string());
    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(failed)?);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims).map_err(failed)?, &mut token);
    let signature = key.sign(token.as_bytes()).map_err(TokenError::Signing)?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// Verifies `token` against `keys` and `expected` at `now`, then reads its claims as `T`.
///
/// Checks, in order: shape; header `alg` (one of [`Algorithm`]), no `crit`; `kid` names one of
/// `keys` and that key's algorithm is the header's; `typ`; signature; `exp > now` (required);
/// `nbf <= now` (if present); `iat <= now + 60 s` (if present); `iss`; `aud` (if expected).
pub fn verify<T: DeserializeOwned>(
    token: &str,
    keys: &[VerificationKey],
    expected: &Expected<'_>,
    now: DateTime<Utc>,
) -> Result<T, TokenError> {
    let header = read_header(token)?;
    let key = select_key(&header, keys)?;
    match header.get("typ").and_then(Value::as_str) {
        Some(typ) if expected.typ.matches(typ) => {}
        _ => return Err(TokenError::WrongType),
    }
    let claims = check_signature(token, key)?;
    check_claims(&claims, expected, now)?;
    serde_json::from_value(claims).map_err(|e| TokenError::InvalidClaims(e.to_string()))
}

/// The decoded JOSE header; only compact JWS (three parts) is accepted, never JWE (five).
fn read_header(token: &str) -> Result<serde_json::Map<String, Value>, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    if header.contains_key("crit") {
        return Err(TokenError::CriticalHeader);
    }
    Ok(header)
}

fn select_key<'k>(
    header: &serde_json::Map<String, Value>,
    keys: &'k [VerificationKey],
) -> Result<&'k VerificationKey, TokenError> {
    let alg = match header.get("alg") {
        Some(Value::String(name)) => {
            Algorithm::parse(name).map_err(|_| TokenError::UnsupportedAlgorithm(name.clone()))?
        }
        _ => return Err(TokenError::Malformed),
    };
    let kid = match header.get("kid") {
        Some(Value::String(kid)) => kid,
        Some(_) => return Err(TokenError::Malformed),
        None => return Err(TokenError::MissingKeyId),
    };
    let key = keys
        .iter()
        .find(|k| k.kid() == kid)
        .ok_or_else(|| TokenError::UnknownKeyId(kid.clone()))?;
    if key.alg() != alg {
        return Err(TokenError::AlgorithmMismatch {
            expected: key.alg(),
            found: alg,
        });
    }
    Ok(key)
}

/// Verifies the signature with jsonwebtoken, with its own claim checks switched off: they
/// would read the system clock, and [`check_claims`] does them against `now`.
fn check_signature(token: &str, key: &VerificationKey) -> Result<Value, TokenError> {
    let mut validation = jsonwebtoken::Validation::new(key.alg().to_jwt());
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, key.decoding_key(), &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
            _ => TokenError::Malformed,
        })
}

fn check_claims(
    claims: &Value,
    expected: &Expected<'_>,
    now: DateTime<Utc>,
) -> Result<(), TokenError> {
    let now = now.timestamp() as f64;
    // NumericDate may be fractional (RFC 7519 §2).
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or(TokenError::MissingClaim("exp"))?;
    if exp <= now {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf.as_f64().ok_or(TokenError::MissingClaim("nbf"))?;
        if nbf > now {
            return Err(TokenError::NotYetValid);
        }
    }
    if let Some(iat) = claims.get("iat") {
        let iat = iat.as_f64().ok_or(TokenError::MissingClaim("iat"))?;
        if iat > now + MAX_IAT_SKEW_SECONDS as f64 {
            return Err(TokenError::IssuedInFuture);
        }
    }
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(TokenError::MissingClaim("iss"))?;
    if iss != expected.issuer {
        return Err(TokenError::WrongIssuer);
    }
    if let Some(audience) = expected.audience {
        let named = match claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => return Err(TokenError::MissingClaim("aud")),
        };
        if !named {
            return Err(TokenError::WrongAudience);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::json;

    use super::*;
    use crate::jwks;
    use crate::keys::test_keys::{key, keys, t0};

    const ISS: &str = "https://id.example/contoso/v2.0";

    fn id_claims() -> IdTokenClaims {
        IdTokenClaims {
            iss: ISS.into(),
            sub: "9c1c2c1e-8f2b-4c35-9e1c-1b7f9f1e3a10".into(),
            aud: "app-1".into(),
            exp: t0().timestamp() + 3600,
            iat: t0().timestamp(),
            auth_time: t0().timestamp() - 5,
            nonce: Some("n-0S6_WzA2Mj".into()),
            tid: "tenant-1".into(),
            phone_number: Some("+14255550101".into()),
            phone_number_verified: Some(true),
            amr: vec![amr::SMS.into()],
            name: Some("Ana".into()),
            preferred_username: Some("ana@contoso.example".into()),
            sid: None,
        }
    }

    fn access_claims() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: ISS.into(),
            sub: "user-1".into(),
            aud: "api://graph".into(),
            exp: t0().timestamp() + 3600,
            iat: t0().timestamp(),
            tid: "tenant-1".into(),
            azp: "app-1".into(),
            client_id: "app-1".into(),
            scp: Some("User.Read openid".into()),
            roles: vec![],
            jti: "0193a4c2-7d00-7000-8000-000000000005".into(),
        }
    }

    fn expect_id() -> Expected<'static> {
        Expected {
            issuer: ISS,
            audience: Some("app-1"),
            typ: TokenType::IdToken,
        }
    }

    fn all_verification_keys() -> Vec<VerificationKey> {
        keys()
            .iter()
            .map(|k| k.verification_key().unwrap())
            .collect()
    }

    fn verify_id(token: &str, now: DateTime<Utc>) -> Result<IdTokenClaims, TokenError> {
        verify(token, &all_verification_keys(), &expect_id(), now)
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn parts(token: &str) -> Vec<String> {
        token.split('.').map(str::to_string).collect()
    }

    fn header_of(token: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts(token)[0]).unwrap()).unwrap()
    }

    #[test]
    fn id_token_round_trips_for_each_algorithm() {
        for alg in Algorithm::ALL {
            let token = sign(key(alg), &id_claims(), TokenType::IdToken).unwrap();
            assert_eq!(verify_id(&token, t0()).unwrap(), id_claims(), "{alg}");
        }
    }

    #[test]
    fn relying_party_verifies_with_only_the_published_jwks_json() {
        let all: Vec<&SigningKey> = keys().iter().collect();
        let published = jwks::document(&all).to_string();
        let rp_keys = jwks::parse(&serde_json::from_str(&published).unwrap()).unwrap();
        for alg in Algorithm::ALL {
            let token = sign(key(alg), &id_claims(), TokenType::IdToken).unwrap();
            let claims: IdTokenClaims = verify(&token, &rp_keys, &expect_id(), t0()).unwrap();
            assert_eq!(claims, id_claims(), "{alg}");
        }
    }

    #[test]
    fn header_carries_alg_typ_and_kid() {
        for alg in Algorithm::ALL {
            let id = sign(key(alg), &id_claims(), TokenType::IdToken).unwrap();
            assert_eq!(
                header_of(&id),
                json!({"alg": alg.as_str(), "typ": "JWT", "kid": key(alg).kid()})
            );
            let at = sign(key(alg), &access_claims(), TokenType::AccessToken).unwrap();
            assert_eq!(header_of(&at)["typ"], "at+jwt");
        }
    }

    #[test]
    fn access_token_round_trips_and_is_not_accepted_as_an_id_token() {
        let at = sign(
            key(Algorithm::ES256),
            &access_claims(),
            TokenType::AccessToken,
        )
        .unwrap();
        let expect_at = Expected {
            issuer: ISS,
            audience: Some("api://graph"),
            typ: TokenType::AccessToken,
        };
        let claims: AccessTokenClaims =
            verify(&at, &all_verification_keys(), &expect_at, t0()).unwrap();
        assert_eq!(claims, access_claims());
        let as_id = Expected {
            typ: TokenType::IdToken,
            ..expect_at
        };
        assert!(matches!(
            verify::<Value>(&at, &all_verification_keys(), &as_id, t0()),
            Err(TokenError::WrongType)
        ));
        let id = sign(key(Algorithm::ES256), &id_claims(), TokenType::IdToken).unwrap();
        let id_as_at = Expected {
            audience: Some("app-1"),
            ..expect_at
        };
        assert!(matches!(
            verify::<Value>(&id, &all_verification_keys(), &id_as_at, t0()),
            Err(TokenError::WrongType)
        ));
    }

    #[test]
    fn typ_compares_case_insensitively_with_optional_application_prefix() {
        assert!(TokenType::AccessToken.matches("at+jwt"));
        assert!(TokenType::AccessToken.matches("application/at+JWT"));
        assert!(TokenType::IdToken.matches("jwt"));
        assert!(!TokenType::AccessToken.matches("JWT"));
        assert!(!TokenType::AccessToken.matches("application/"));
        assert!(!TokenType::IdToken.matches("é"));
    }

    #[test]
    fn tampered_signature_is_rejected() {
        for alg in Algorithm::ALL {
            let token = sign(key(alg), &id_claims(), TokenType::IdToken).unwrap();
            let p = parts(&token);
            let mut sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
            sig[5] ^= 0x01;
            let forged = format!("{}.{}.{}", p[0], p[1], URL_SAFE_NO_PAD.encode(sig));
            assert!(
                matches!(verify_id(&forged, t0()), Err(TokenError::BadSignature)),
                "{alg}"
            );
        }
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let token = sign(key(Algorithm::EdDSA), &id_claims(), TokenType::IdToken).unwrap();
        let p = parts(&token);
        let mut claims = id_claims();
        claims.sub = "someone-else".into();
        let forged = format!("{}.{}.{}", p[0], b64(&json!(claims)), p[2]);
        assert!(matches!(
            verify_id(&forged, t0()),
            Err(TokenError::BadSignature)
        ));
    }

    #[test]
    fn alg_none_token_is_rejected() {
        let kid = key(Algorithm::RS256).kid();
        for alg in ["none", "None", "NONE"] {
            let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
            let token = format!("{}.{}.", b64(&header), b64(&json!(id_claims())));
            assert!(
                matches!(verify_id(&token, t0()), Err(TokenError::UnsupportedAlgorithm(a)) if a == alg),
                "{alg}"
            );
        }
    }

    #[test]
    fn hmac_token_keyed_with_the_public_key_is_rejected() {
        // The classic alg confusion: HS256 with the verifier's public key as the secret.
        let k = key(Algorithm::RS256);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(k.kid().into());
        let secret = k.public_jwk().to_string();
        let token = jsonwebtoken::encode(
            &header,
            &id_claims(),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        assert!(matches!(
            verify_id(&token, t0()),
            Err(TokenError::UnsupportedAlgorithm(a)) if a == "HS256"
        ));
    }

    #[test]
    fn token_whose_alg_is_not_the_keys_alg_is_rejected() {
        let es = key(Algorithm::ES256);
        let mut rsa_jwk_with_es_kid = key(Algorithm::RS256).public_jwk();
        rsa_jwk_with_es_kid["kid"] = json!(es.kid());
        let keys = [VerificationKey::from_jwk(&rsa_jwk_with_es_kid).unwrap()];
        let token = sign(es, &id_claims(), TokenType::IdToken).unwrap();
        assert!(matches!(
            verify::<Value>(&token, &keys, &expect_id(), t0()),
            Err(TokenError::AlgorithmMismatch {
                expected: Algorithm::RS256,
                found: Algorithm::ES256
            })
        ));
    }

    #[test]
    fn unknown_or_missing_kid_is_rejected() {
        let token = sign(key(Algorithm::ES256), &id_claims(), TokenType::IdToken).unwrap();
        let others = [key(Algorithm::EdDSA).verification_key().unwrap()];
        assert!(matches!(
            verify::<Value>(&token, &others, &expect_id(), t0()),
            Err(TokenError::UnknownKeyId(kid)) if kid == key(Algorithm::ES256).kid()
        ));
        let header = json!({"alg": "ES256", "typ": "JWT"});
        let p = parts(&token);
        let no_kid = format!("{}.{}.{}", b64(&header), p[1], p[2]);
        assert!(matches!(
            verify_id(&no_kid, t0()),
            Err(TokenError::MissingKeyId)
        ));
    }

    #[test]
    fn token_expires_at_exp() {
        let token = sign(key(Algorithm::ES256), &id_claims(), TokenType::IdToken).unwrap();
        let exp = t0() + Duration::seconds(3600);
        assert!(verify_id(&token, exp - Duration::seconds(1)).is_ok());
        assert!(matches!(verify_id(&token, exp), Err(TokenError::Expired)));
        assert!(matches!(
            verify_id(&token, exp + Duration::days(1)),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn token_without_exp_is_rejected() {
        let claims = json!({"iss": ISS, "aud": "app-1", "sub": "x"});
        let token = sign(key(Algorithm::EdDSA), &claims, TokenType::IdToken).unwrap();
        assert!(matches!(
            verify_id(&token, t0()),
            Err(TokenError::MissingClaim("exp"))
        ));
    }

    #[test]
    fn token_before_nbf_is_rejected() {
        let nbf = t0().timestamp() + 10;
        let claims = json!({"iss": ISS, "aud": "app-1", "exp": nbf + 60, "nbf": nbf});
        let token = sign(key(Algorithm::EdDSA), &claims, TokenType::IdToken).unwrap();
        assert!(matches!(
            verify_id(&token, t0()),
            Err(TokenError::NotYetValid)
        ));
        assert!(verify::<Value>(
            &token,
            &all_verification_keys(),
            &expect_id(),
            t0() + Duration::seconds(10)
        )
        .is_ok());
    }

    #[test]
    fn token_issued_in_the_future_beyond_the_skew_is_rejected() {
        let iat = t0().timestamp() + MAX_IAT_SKEW_SECONDS + 1;
        let claims = json!({"iss": ISS, "aud": "app-1", "exp": iat + 600, "iat": iat});
        let token = sign(key(Algorithm::EdDSA), &claims, TokenType::IdToken).unwrap();
        let at = |now| verify::<Value>(&token, &all_verification_keys(), &expect_id(), now);
        assert!(matches!(at(t0()), Err(TokenError::IssuedInFuture)));
        // Within the skew: accepted.
        assert!(at(t0() + Duration::seconds(1)).is_ok());
    }

    #[test]
    fn wrong_issuer_or_audience_is_rejected() {
        let token = sign(key(Algorithm::ES256), &id_claims(), TokenType::IdToken).unwrap();
        let vks = all_verification_keys();
        let wrong_iss = Expected {
            issuer: "https://id.example/fabrikam/v2.0",
            ..expect_id()
        };
        assert!(matches!(
            verify::<Value>(&token, &vks, &wrong_iss, t0()),
            Err(TokenError::WrongIssuer)
        ));
        let wrong_aud = Expected {
            audience: Some("app-2"),
            ..expect_id()
        };
        assert!(matches!(
            verify::<Value>(&token, &vks, &wrong_aud, t0()),
            Err(TokenError::WrongAudience)
        ));
        let any_aud = Expected {
            audience: None,
            ..expect_id()
        };
        assert!(verify::<Value>(&token, &vks, &any_aud, t0()).is_ok());
    }

    #[test]
    fn audience_array_is_accepted_when_it_names_the_audience() {
        let exp = t0().timestamp() + 60;
        let claims = json!({"iss": ISS, "aud": ["app-0", "app-1"], "exp": exp});
        let token = sign(key(Algorithm::ES256), &claims, TokenType::IdToken).unwrap();
        assert!(verify::<Value>(&token, &all_verification_keys(), &expect_id(), t0()).is_ok());
        let claims = json!({"iss": ISS, "aud": ["app-0"], "exp": exp});
        let token = sign(key(Algorithm::ES256), &claims, TokenType::IdToken).unwrap();
        assert!(matches!(
            verify_id(&token, t0()),
            Err(TokenError::WrongAudience)
        ));
    }

    #[test]
    fn crit_header_and_non_jws_shapes_are_rejected() {
        let token = sign(key(Algorithm::ES256), &id_claims(), TokenType::IdToken).unwrap();
        let p = parts(&token);
        let mut header = header_of(&token);
        header["crit"] = json!(["exp"]);
        let crit = format!("{}.{}.{}", b64(&header), p[1], p[2]);
        assert!(matches!(
            verify_id(&crit, t0()),
            Err(TokenError::CriticalHeader)
        ));
        for shape in ["", "a.b", "a.b.c.d.e", &format!("{token}.x"), "!!.b.c"] {
            assert!(
                matches!(verify_id(shape, t0()), Err(TokenError::Malformed)),
                "{shape}"
            );
        }
    }

    #[test]
    fn claims_that_do_not_fit_the_type_are_rejected() {
        let claims = json!({"iss": ISS, "aud": "app-1", "exp": t0().timestamp() + 60});
        let token = sign(key(Algorithm::ES256), &claims, TokenType::IdToken).unwrap();
        assert!(matches!(
            verify_id(&token, t0()),
            Err(TokenError::InvalidClaims(_))
        ));
    }

    #[test]
    fn id_token_claim_names_are_pinned() {
        let value = serde_json::to_value(id_claims()).unwrap();
        let mut names: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "amr",
                "aud",
                "auth_time",
                "exp",
                "iat",
                "iss",
                "name",
                "nonce",
                "phone_number",
                "phone_number_verified",
                "preferred_username",
                "sub",
                "tid"
            ]
        );
        let mut bare = id_claims();
        bare.nonce = None;
        bare.phone_number = None;
        bare.phone_number_verified = None;
        bare.name = None;
        bare.preferred_username = None;
        bare.sid = Some("s-1".into());
        let value = serde_json::to_value(bare).unwrap();
        assert!(value.get("nonce").is_none());
        assert_eq!(value["sid"], "s-1");
        assert_eq!(value["amr"], json!(["sms"]));
    }

    #[test]
    fn access_token_claim_names_are_pinned() {
        let value = serde_json::to_value(access_claims()).unwrap();
        let mut names: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "aud",
                "azp",
                "client_id",
                "exp",
                "iat",
                "iss",
                "jti",
                "scp",
                "sub",
                "tid"
            ]
        );
        let mut app_only = access_claims();
        app_only.scp = None;
        app_only.roles = vec!["Directory.Read.All".into()];
        let value = serde_json::to_value(app_only).unwrap();
        assert!(value.get("scp").is_none());
        assert_eq!(value["roles"], json!(["Directory.Read.All"]));
    }
}
