//! Vonage voice: the Voice API with an application's JWT, and its signed call events as
//! receipts (issue #18). [`super::vonage::VonageProvider`] sends voice messages here when an
//! application is configured.
//!
//! - Auth: a JWT signed RS256 with the Vonage application's private key (PKCS#8 PEM, as the
//!   dashboard downloads it, or PKCS#1), claims `application_id`, `iat`, `exp` (15 minutes)
//!   and a unique `jti` ([`application_jwt`]), as `Authorization: Bearer`.
//! - Call: `POST {api}/v1/calls` JSON `to` `[{type: phone, number}]` (no `+`), `from`, an NCCO
//!   of one `talk` action that says the text twice, digits spaced (`1 2 3 4 5 6`), and
//!   `event_url` (textid's `/sms/receipts/vonage/voice`). `201` `{"uuid": …}`: the call's uuid
//!   is the receipt's key.
//! - Events: Vonage signs each event with a JWT (HS256, the account's signature secret) in
//!   `Authorization: Bearer`, whose `payload_hash` claim is the hex SHA-256 of the body
//!   ([`verify_event`]). `answered` is a delivered receipt; `busy`, `cancelled`, `failed`,
//!   `rejected`, `timeout` and `unanswered` a failed one; the rest no receipt.
//!
//! The private key and the signature secret are never logged or put into an error.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use textid_core::secret::Secret;

use super::http;
use crate::{Delivery, OutgoingMessage, Receipt, ReceiptStatus, SendError};

/// The API origin of the Voice and Messages APIs.
pub const DEFAULT_API_BASE_URL: &str = "https://api.nexmo.com";
/// How long an application JWT is valid.
pub const JWT_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// A Vonage application: its id and the private key that signs its JWTs.
#[derive(Clone)]
pub struct VonageApplication {
    /// The application id (a UUID).
    pub id: String,
    /// The RS256 key, from the application's PEM.
    key: EncodingKey,
}

impl std::fmt::Debug for VonageApplication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VonageApplication")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why an application's private key cannot be used. Never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplicationKeyError {
    /// Not a PEM with a `PRIVATE KEY` or `RSA PRIVATE KEY` block.
    #[error("the vonage private key must be the PEM file of the application (BEGIN PRIVATE KEY)")]
    NotPem,
    /// A PEM, but not an RSA private key.
    #[error("the vonage private key is not an RSA private key")]
    NotRsa,
}

impl VonageApplication {
    /// Reads the application's private key: PKCS#8 (`BEGIN PRIVATE KEY`, what Vonage's
    /// dashboard downloads) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    pub fn new(id: String, private_key_pem: &Secret<String>) -> Result<Self, ApplicationKeyError> {
        let pem = private_key_pem.expose();
        let pkcs1 = if let Some(der) = pem_block(pem, "PRIVATE KEY") {
            let key = rsa::RsaPrivateKey::from_pkcs8_der(&der)
                .map_err(|_| ApplicationKeyError::NotRsa)?;
            key.to_pkcs1_der()
                .map_err(|_| ApplicationKeyError::NotRsa)?
                .as_bytes()
                .to_vec()
        } else if let Some(der) = pem_block(pem, "RSA PRIVATE KEY") {
            der
        } else {
            return Err(ApplicationKeyError::NotPem);
        };
        // ring checks the key when it signs; check it once here, so a bad key fails at start.
        let key = EncodingKey::from_rsa_der(&pkcs1);
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &serde_json::json!({}), &key)
            .map_err(|_| ApplicationKeyError::NotRsa)?;
        Ok(Self { id, key })
    }
}

/// The DER inside `-----BEGIN {label}-----` … `-----END {label}-----`.
fn pem_block(pem: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = pem[start..].find(&end)? + start;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The claims of an application JWT.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApplicationClaims {
    /// The application id.
    pub application_id: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// A unique id of this token.
    pub jti: String,
}

/// An application JWT issued at `now` (Unix seconds); `jti` must be unique.
pub fn application_jwt(app: &VonageApplication, now: i64, jti: String) -> String {
    let claims = ApplicationClaims {
        application_id: app.id.clone(),
        iat: now,
        exp: now + i64::try_from(JWT_LIFETIME.as_secs()).unwrap_or(900),
        jti,
    };
    // The key was checked in `VonageApplication::new`, and the claims always serialize.
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &app.key).unwrap_or_default()
}

/// The NCCO that says `text` twice, digits spaced.
pub fn ncco(text: &str) -> serde_json::Value {
    let said = http::speakable(text);
    serde_json::json!([{ "action": "talk", "text": format!("{said} {said}") }])
}

/// The call request's JSON body.
pub fn call_body(
    message: &OutgoingMessage,
    from: &str,
    event_url: Option<&str>,
) -> serde_json::Value {
    let mut body = serde_json::json!({
        "to": [{ "type": "phone", "number": message.to.trim_start_matches('+') }],
        "from": { "type": "phone", "number": from.trim_start_matches('+') },
        "ncco": ncco(message.body.expose()),
    });
    if let Some(url) = event_url {
        body["event_url"] = serde_json::json!([url]);
    }
    body
}

/// Places the call: one try.
pub(crate) async fn call(
    client: &reqwest::Client,
    api_base_url: &str,
    bearer: &str,
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<Delivery, SendError> {
    let response = client
        .post(format!("{}/v1/calls", api_base_url.trim_end_matches('/')))
        .bearer_auth(bearer)
        .json(body)
        .send()
        .await
        .map_err(|e| http::transport_error("vonage", timeout, e))?;
    let status = response.status();
    let answer: serde_json::Value =
        serde_json::from_slice(&http::body(response).await).unwrap_or_default();
    if status.is_success() {
        return Ok(Delivery {
            provider_message_id: answer["uuid"].as_str().map(str::to_owned),
            provider: None,
        });
    }
    // Vonage's problem details: `title`, `detail` name the field, never the text.
    let title = answer["title"].as_str().unwrap_or("");
    let detail = if title.is_empty() {
        String::new()
    } else {
        format!(" ({title})")
    };
    // A 400 names the number or the NCCO; the number is what varies.
    Err(match status.as_u16() {
        400 => SendError::Permanent(format!("vonage voice answered {status}{detail}")),
        _ => http::by_status("vonage voice", status, &detail),
    })
}

/// The claims Vonage puts into a signed event's JWT that textid checks.
#[derive(Debug, Deserialize)]
struct EventClaims {
    payload_hash: String,
}

/// Whether `authorization` (`Bearer <JWT>`) signs `body`: an HS256 JWT with the signature
/// secret whose `payload_hash` is the hex SHA-256 of the body (constant-time compare).
pub fn verify_event(signature_secret: &str, authorization: &str, body: &[u8]) -> bool {
    let Some(token) = authorization.strip_prefix("Bearer ") else {
        return false;
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let Ok(data) = jsonwebtoken::decode::<EventClaims>(
        token.trim(),
        &DecodingKey::from_secret(signature_secret.as_bytes()),
        &validation,
    ) else {
        return false;
    };
    let want = Sha256::digest(body);
    let Some(given) = super::vonage::unhex(data.claims.payload_hash.trim()) else {
        return false;
    };
    bool::from(given.as_slice().ct_eq(want.as_slice()))
}

/// The receipt in a (verified) call event: see the module docs.
pub fn event_receipt(event: &serde_json::Value) -> Option<Receipt> {
    let uuid = event["uuid"].as_str().filter(|u| !u.is_empty())?;
    let status = event["status"].as_str()?;
    let (status, reason) = match status {
        "answered" => (ReceiptStatus::Delivered, None),
        "busy" | "cancelled" | "failed" | "rejected" | "timeout" | "unanswered" => {
            (ReceiptStatus::Failed, Some(format!("vonage call {status}")))
        }
        _ => return None,
    };
    Some(Receipt {
        provider: super::vonage::NAME,
        provider_message_id: uuid.to_owned(),
        status,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ncco_says_the_spaced_code_twice() {
        assert_eq!(
            ncco("Code 42.\n\n@h #42"),
            serde_json::json!([{ "action": "talk", "text": "Code 4 2. Code 4 2." }])
        );
    }

    #[test]
    fn events_map_to_receipts() {
        let r = event_receipt(&serde_json::json!({"uuid": "u1", "status": "answered"})).unwrap();
        assert_eq!((r.status, r.reason), (ReceiptStatus::Delivered, None));
        let r = event_receipt(&serde_json::json!({"uuid": "u1", "status": "busy"})).unwrap();
        assert_eq!(r.reason.as_deref(), Some("vonage call busy"));
        for status in ["started", "ringing", "completed", "machine"] {
            assert_eq!(
                event_receipt(&serde_json::json!({"uuid": "u1", "status": status})),
                None
            );
        }
    }

    #[test]
    fn events_are_verified_by_the_jwt_and_the_payload_hash() {
        let body = br#"{"uuid":"u1","status":"answered"}"#;
        let sign = |secret: &str, hash: String| {
            let token = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &serde_json::json!({"iat": 1_700_000_000, "jti": "j", "payload_hash": hash}),
                &EncodingKey::from_secret(secret.as_bytes()),
            )
            .unwrap();
            format!("Bearer {token}")
        };
        let hash = super::super::vonage::hex(&Sha256::digest(body));
        assert!(verify_event("s", &sign("s", hash.clone()), body));
        assert!(!verify_event("s", &sign("other", hash.clone()), body));
        assert!(!verify_event("s", &sign("s", hash.clone()), b"{}"));
        assert!(!verify_event("s", &sign("s", "zz".into()), body));
        assert!(!verify_event("s", "Bearer not.a.jwt", body));
        assert!(!verify_event("s", "", body));
    }

    #[test]
    fn a_key_that_is_not_an_rsa_pem_is_refused_without_echoing_it() {
        for pem in [
            "secret-ish",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        ] {
            let err = VonageApplication::new("app".into(), &Secret::new(pem.into())).unwrap_err();
            assert!(!err.to_string().contains("AAAA"));
        }
    }
}
