//! Vonage (formerly Nexmo): SMS through the SMS API or the Messages API, and their signed
//! receipts (issue #18).
//!
//! - Which API sends SMS is [`VonageConfig::sms_api`]: the SMS API (API key and secret,
//!   below) or the Messages API (the application's JWT, [`super::vonage_messages`]).
//! - SMS API: `POST {base}/sms/json`, form `api_key`, `api_secret`, `from`, `to` (E.164 without
//!   the `+`), `text`, `type=unicode` when the text is not GSM-7, `client-ref` (the outbox
//!   message id, echoed in the receipt) and `callback` (textid's `/sms/receipts/vonage`) when
//!   receipts are on. Vonage answers `200` with `{"messages":[{"status":"0","message-id":…}]}`
//!   for success *and* for refusals; the per-message `status` decides ([`classify_status`]).
//! - Status codes (Vonage's "SMS API errors" table): the recipient's problems are permanent
//!   ([`PERMANENT_STATUSES`]: 3 invalid parameters — with our fixed form, the `to` number —,
//!   6 invalid message (unrecognised prefix, unroutable), 7 number barred, 33 number
//!   de-activated); everything else (1 throttled, 4 credentials, 5 internal error, 8 account
//!   barred, 9 quota, 15 sender, 29 non-whitelisted destination on a trial account, …) is
//!   transient: it fails over, or waits for the operator's fix.
//! - Receipts: Vonage POSTs the delivery receipt (form, or JSON with "POST-JSON") with
//!   `messageId`, `status`, `err-code`, … When the account has signed webhooks on, it adds
//!   `timestamp`, `nonce` and `sig`. textid requires the "SHA-256 HMAC" method: `sig` is the
//!   hex HMAC-SHA256, keyed with the signature secret, of every other parameter sorted by
//!   name as `&name=value`, with `&` and `=` in values replaced by `_` ([`signature`]).
//!   [`verify_signature`] compares in constant time, case-insensitively. [`receipt`] maps
//!   the final statuses.
//! - Voice: with an application (id and private key) configured, a voice message is a call
//!   through the Voice API ([`super::vonage_voice`]); without one it is a transient refusal
//!   (the router moves on).
//!
//! The API secret, the signature secret and the message text are never logged or put into
//! an error.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use textid_core::clock::Clock;
use textid_core::secret::Secret;

use super::http;
use super::vonage_messages;
use super::vonage_voice::{self, VonageApplication};
use crate::template::is_gsm7;
use crate::{Channel, Delivery, OutgoingMessage, Provider, Receipt, ReceiptStatus, SendError};

/// The provider's stable name.
pub const NAME: &str = "vonage";
/// The SMS API origin.
pub const DEFAULT_BASE_URL: &str = "https://rest.nexmo.com";

/// Per-message statuses that say the recipient cannot get the message from any sender:
/// 3 invalid parameters (our form is fixed; the number is what varies), 6 invalid message
/// (unrecognised number prefix), 7 number barred, 33 number de-activated.
pub const PERMANENT_STATUSES: &[&str] = &["3", "6", "7", "33"];

/// Which Vonage API carries SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VonageSmsApi {
    /// The SMS API (`/sms/json`, API key and secret).
    #[default]
    Sms,
    /// The Messages API (`/v1/messages`, the application's JWT).
    Messages,
}

impl VonageSmsApi {
    /// The configuration word: `sms` or `messages`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Messages => "messages",
        }
    }
}

/// How textid reaches a Vonage account.
#[derive(Debug, Clone)]
pub struct VonageConfig {
    /// Which API sends SMS.
    pub sms_api: VonageSmsApi,
    /// The account's API key; may be empty with the Messages API.
    pub api_key: String,
    /// The account's API secret.
    pub api_secret: Secret<String>,
    /// The signature secret that signs delivery receipts (method: SHA-256 HMAC); `None`:
    /// receipts are not asked for, since they could not be verified.
    pub signature_secret: Option<Secret<String>>,
    /// The sender: a Vonage number (E.164) or an alphanumeric sender id.
    pub from: String,
    /// The delivery receipt URL (textid's `/sms/receipts/vonage`).
    pub callback: Option<String>,
    /// The SMS API origin, `https://rest.nexmo.com` (tests point it at a loopback server).
    pub base_url: String,
    /// The application that places voice calls; `None`: no voice.
    pub application: Option<VonageApplication>,
    /// The Voice API origin, `https://api.nexmo.com`.
    pub api_base_url: String,
    /// The call event URL (textid's `/sms/receipts/vonage/voice`); `None`: no call receipts.
    pub voice_event_url: Option<String>,
    /// The Messages API status URL sent with each SMS (textid's
    /// `/sms/receipts/vonage/messages`); `None`: the application's own setting.
    pub messages_status_url: Option<String>,
    /// The limit of one try.
    pub timeout: Duration,
}

/// Why a [`VonageConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum VonageConfigError {
    /// The API key (for the SMS API) or the sender is empty.
    #[error("vonage needs sms_vonage_from, and sms_vonage_api_key for the SMS API")]
    Missing,
    /// The Messages API without an application to sign its JWTs.
    #[error("the vonage Messages API needs an application: set sms_vonage_application_id and sms_vonage_private_key")]
    NoApplication,
    /// The base URL is not http(s).
    #[error("vonage base URL must be an http:// or https:// URL")]
    BaseUrl,
    /// The HTTP client could not be set up.
    #[error("could not set up the vonage HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Sends SMS through one Vonage account.
pub struct VonageProvider {
    config: VonageConfig,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
}

impl std::fmt::Debug for VonageProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VonageProvider")
            .field("base_url", &self.config.base_url)
            .field("sms_api", &self.config.sms_api)
            .field("api_key", &self.config.api_key)
            .field("receipts", &self.config.callback.is_some())
            .finish_non_exhaustive()
    }
}

impl VonageProvider {
    /// Checks `config` and builds the HTTP client; `clock` dates the voice JWTs.
    pub fn new(config: VonageConfig, clock: Arc<dyn Clock>) -> Result<Self, VonageConfigError> {
        let key_missing = config.sms_api == VonageSmsApi::Sms && config.api_key.trim().is_empty();
        if key_missing || config.from.trim().is_empty() {
            return Err(VonageConfigError::Missing);
        }
        if config.sms_api == VonageSmsApi::Messages && config.application.is_none() {
            return Err(VonageConfigError::NoApplication);
        }
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(VonageConfigError::BaseUrl);
        }
        let client = http::client(config.timeout).map_err(VonageConfigError::Client)?;
        Ok(Self {
            config,
            clock,
            client,
        })
    }

    /// Wraps this provider for sharing.
    pub fn shared(self) -> Arc<dyn Provider> {
        Arc::new(self)
    }

    fn form(&self, message: &OutgoingMessage) -> Vec<(&'static str, String)> {
        let text = message.body.expose();
        let mut form = vec![
            ("api_key", self.config.api_key.clone()),
            ("api_secret", self.config.api_secret.expose().clone()),
            ("from", self.config.from.trim_start_matches('+').to_owned()),
            ("to", message.to.trim_start_matches('+').to_owned()),
            ("text", text.clone()),
        ];
        if !is_gsm7(text) {
            form.push(("type", "unicode".into()));
        }
        form.push(("client-ref", message.id.clone()));
        if let Some(callback) = &self.config.callback {
            form.push(("callback", callback.clone()));
        }
        form
    }
}

#[async_trait::async_trait]
impl Provider for VonageProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The Voice API needs an application (id and private key).
    fn places_calls(&self) -> bool {
        self.config.application.is_some()
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Delivery, SendError> {
        if message.channel == Channel::Voice {
            return self.call(message).await;
        }
        if self.config.sms_api == VonageSmsApi::Messages {
            return self.send_by_messages(message).await;
        }
        let url = format!("{}/sms/json", self.config.base_url.trim_end_matches('/'));
        let response = self
            .client
            .post(url)
            .form(&self.form(message))
            .send()
            .await
            .map_err(|e| http::transport_error(NAME, self.config.timeout, e))?;
        let status = response.status();
        let body = http::body(response).await;
        if !status.is_success() {
            return Err(http::by_status(NAME, status, ""));
        }
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let Some(first) = answer
            .get("messages")
            .and_then(|m| m.as_array())
            .and_then(|m| m.first())
        else {
            return Err(SendError::Transient(format!(
                "vonage answered {status} without a message status"
            )));
        };
        let field = |name: &str| first.get(name).and_then(|v| v.as_str()).unwrap_or("");
        match field("status") {
            "0" => Ok(Delivery {
                provider_message_id: Some(field("message-id").to_owned())
                    .filter(|id| !id.is_empty()),
                provider: None,
            }),
            // Vonage's error-text names the parameter or the account's problem, never the text.
            code => Err(classify_status(code, field("error-text"))),
        }
    }
}

impl VonageProvider {
    /// An application JWT for `message`, dated now, with a unique `jti`.
    fn jwt(&self, app: &VonageApplication, message: &OutgoingMessage) -> String {
        let now = self.clock.now();
        let jti = format!("{}-{}", message.id, now.timestamp_millis());
        vonage_voice::application_jwt(app, now.timestamp(), jti)
    }

    async fn send_by_messages(&self, message: &OutgoingMessage) -> Result<Delivery, SendError> {
        // `new` refuses the Messages API without an application.
        let Some(app) = &self.config.application else {
            return Err(SendError::Transient(
                "the vonage Messages API needs an application".into(),
            ));
        };
        let jwt = self.jwt(app, message);
        let submission = vonage_messages::Submission {
            api_base_url: &self.config.api_base_url,
            bearer: &jwt,
            from: &self.config.from,
            status_url: self.config.messages_status_url.as_deref(),
            timeout: self.config.timeout,
        };
        vonage_messages::send(&self.client, &submission, message).await
    }

    async fn call(&self, message: &OutgoingMessage) -> Result<Delivery, SendError> {
        let Some(app) = &self.config.application else {
            return Err(SendError::Transient(
                "vonage places calls only with an application: set sms_vonage_application_id and sms_vonage_private_key, or route voice to another provider".into(),
            ));
        };
        let jwt = self.jwt(app, message);
        let body = vonage_voice::call_body(
            message,
            &self.config.from,
            self.config.voice_event_url.as_deref(),
        );
        vonage_voice::call(
            &self.client,
            &self.config.api_base_url,
            &jwt,
            &body,
            self.config.timeout,
        )
        .await
    }
}

/// The class of a non-zero per-message status (see the module docs).
pub fn classify_status(code: &str, error_text: &str) -> SendError {
    let text = format!("vonage refused the message (status {code}: {error_text})");
    if PERMANENT_STATUSES.contains(&code) {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}

/// Vonage's signature of a webhook, SHA-256 HMAC method: lower-case hex
/// HMAC-SHA256(signature secret, `&name=value` for every parameter but `sig`, sorted by
/// name, with `&` and `=` in values replaced by `_`).
pub fn signature(secret: &str, params: &[(String, String)]) -> String {
    hex(&mac(secret, params).finalize().into_bytes())
}

fn mac(secret: &str, params: &[(String, String)]) -> Hmac<Sha256> {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort();
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for (k, v) in sorted {
        mac.update(b"&");
        mac.update(k.as_bytes());
        mac.update(b"=");
        mac.update(v.replace(['&', '='], "_").as_bytes());
    }
    mac
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the parameters' `sig` signs the others with `secret` (hex, either case),
/// compared in constant time. No `sig`: false.
pub fn verify_signature(secret: &str, params: &[(String, String)]) -> bool {
    let Some((_, given)) = params.iter().find(|(k, _)| k == "sig") else {
        return false;
    };
    let Some(given) = unhex(given.trim()) else {
        return false;
    };
    mac(secret, params).verify_slice(&given).is_ok()
}

pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// A delivery receipt's parameters from its body: a form, or (Vonage's "POST-JSON") a
/// JSON object whose values are taken as text. `None`: neither.
pub fn receipt_params(body: &[u8], json: bool) -> Option<Vec<(String, String)>> {
    if !json {
        return Some(url::form_urlencoded::parse(body).into_owned().collect());
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    Some(
        object
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
    )
}

/// The receipt in a (verified) delivery receipt: `delivered` is delivered; `expired`,
/// `failed` and `rejected` failed, with Vonage's `err-code` as the reason. `accepted`,
/// `buffered` and `unknown` are no receipt.
pub fn receipt(params: &[(String, String)]) -> Option<Receipt> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let id = get("messageId").filter(|id| !id.is_empty())?;
    let status = get("status")?;
    let (status, reason) = match status {
        "delivered" => (ReceiptStatus::Delivered, None),
        "expired" | "failed" | "rejected" => {
            let reason = match get("err-code").filter(|c| !c.is_empty() && *c != "0") {
                Some(code) => format!("vonage {status}, error {code}"),
                None => format!("vonage {status}"),
            };
            (ReceiptStatus::Failed, Some(reason))
        }
        _ => return None,
    };
    Some(Receipt {
        provider: NAME,
        provider_message_id: id.to_owned(),
        status,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    /// The signed string, built here by hand from the rule in Vonage's "Signing messages"
    /// guide, and its HMAC computed by RFC 4231-tested `hmac`: the parameters sort by
    /// name, `&` and `=` inside values become `_`, and `sig` itself is left out.
    #[test]
    fn signatures_follow_vonages_rule() {
        let params = pairs(&[
            ("status", "delivered"),
            ("messageId", "0A0000000123ABCD1"),
            ("client-ref", "a=b&c"),
            ("timestamp", "1461605396"),
            ("sig", "ignored"),
        ]);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(
            b"&client-ref=a_b_c&messageId=0A0000000123ABCD1&status=delivered&timestamp=1461605396",
        );
        let expected = hex(&mac.finalize().into_bytes());
        assert_eq!(signature("secret", &params), expected);

        let mut signed = params.clone();
        signed.retain(|(k, _)| k != "sig");
        signed.push(("sig".into(), expected.to_ascii_uppercase()));
        assert!(verify_signature("secret", &signed));
        assert!(!verify_signature("other", &signed));
        signed[0].1 = "failed".into();
        assert!(!verify_signature("secret", &signed));
        signed.retain(|(k, _)| k != "sig");
        assert!(!verify_signature("secret", &signed));
        signed.push(("sig".into(), "zz".into()));
        assert!(!verify_signature("secret", &signed));
    }

    #[test]
    fn final_statuses_are_receipts_and_others_are_not() {
        let r = receipt(&pairs(&[("messageId", "0A1"), ("status", "delivered")])).unwrap();
        assert_eq!((r.status, r.reason), (ReceiptStatus::Delivered, None));
        let r = receipt(&pairs(&[
            ("messageId", "0A1"),
            ("status", "failed"),
            ("err-code", "6"),
        ]))
        .unwrap();
        assert_eq!(
            (r.status, r.reason.as_deref()),
            (ReceiptStatus::Failed, Some("vonage failed, error 6"))
        );
        for status in ["accepted", "buffered", "unknown"] {
            assert_eq!(
                receipt(&pairs(&[("messageId", "0A1"), ("status", status)])),
                None
            );
        }
    }

    #[test]
    fn json_receipts_read_numbers_as_text() {
        let params = receipt_params(
            br#"{"messageId":"0A1","status":"failed","err-code":7}"#,
            true,
        )
        .unwrap();
        assert!(params.contains(&("err-code".into(), "7".into())));
        assert_eq!(receipt_params(b"[1]", true), None);
    }

    #[test]
    fn statuses_are_classified_by_vonages_table() {
        for code in ["3", "6", "7", "33"] {
            assert!(!classify_status(code, "").is_transient(), "{code}");
        }
        for code in ["1", "2", "4", "5", "8", "9", "10", "11", "15", "29", "99"] {
            assert!(classify_status(code, "").is_transient(), "{code}");
        }
    }
}
