//! The webhook provider: POSTs each message as JSON to an operator's endpoint, which passes it
//! on to a carrier (DESIGN.md §3 "Webhook provider").
//!
//! The contract, which receivers rely on exactly:
//! - `POST {url}`, `Content-Type: application/json`, body
//!   `{"id","to","body","channel","tenant","kind","locale"}` (see [`OutgoingMessage`]);
//! - headers `webhook-id` (= JSON `id`, the same on every try: the receiver's idempotency key)
//!   and `webhook-timestamp` (unix seconds, from the [`Clock`]);
//! - with a secret, `webhook-signature: v1,{base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))}`
//!   as Standard Webhooks defines it: a `whsec_` secret is base64 and its decoded bytes are the
//!   key; any other secret is used as its UTF-8 bytes;
//! - 2xx is delivered (the response's JSON `id` or `messageId`, if any, is kept); 408, 429, 5xx,
//!   connection failures and timeouts are transient; other answers are permanent. Redirects are
//!   not followed: a redirected POST would turn into a GET and lose the message.
//!
//! The body holds a code and the secret signs requests: neither is ever logged or put into an
//! error, and the URL (which may carry a token) stays out of errors too.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use serde::Serialize;
use sha2::Sha256;
use textid_core::clock::Clock;
use textid_core::secret::Secret;

use super::http::chain;
use crate::provider::console::LOG_TARGET;
use crate::{Channel, Delivery, MessageKind, OutgoingMessage, Provider, SendError};

/// The prefix of a Standard Webhooks secret whose rest is the base64 of the key.
pub const SECRET_PREFIX: &str = "whsec_";

const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// Where and how to POST messages.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The endpoint, `http` or `https`.
    pub url: String,
    /// The signing secret; `None` sends unsigned requests.
    pub secret: Option<Secret<String>>,
    /// The limit for one try: connecting, sending and reading the answer.
    pub timeout: Duration,
}

/// Why a [`WebhookConfig`] cannot be used. The messages never contain the secret or the URL.
#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    /// The URL does not parse as an absolute URL.
    #[error("webhook URL is not a valid absolute URL: {reason}")]
    InvalidUrl {
        /// What the URL parser said.
        reason: String,
    },
    /// The URL's scheme is not `http` or `https`.
    #[error("webhook URL must start with http:// or https://, not {scheme}:")]
    UnsupportedScheme {
        /// The scheme given.
        scheme: String,
    },
    /// The URL has no host to connect to.
    #[error("webhook URL has no host")]
    MissingHost,
    /// The secret (or the key it decodes to) is empty.
    #[error("webhook secret is empty")]
    EmptySecret,
    /// The secret starts with `whsec_` but the rest is not standard base64.
    #[error("webhook secret starts with \"whsec_\" but the rest is not valid base64")]
    InvalidSecret,
    /// A zero timeout would fail every try.
    #[error("webhook timeout must be greater than zero")]
    ZeroTimeout,
    /// The HTTP client could not be set up (TLS initialisation).
    #[error("could not set up the webhook HTTP client")]
    Client(#[source] reqwest::Error),
}

impl WebhookConfigError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl { .. } => "invalidWebhookUrl",
            Self::UnsupportedScheme { .. } => "unsupportedWebhookScheme",
            Self::MissingHost => "missingWebhookHost",
            Self::EmptySecret => "emptyWebhookSecret",
            Self::InvalidSecret => "invalidWebhookSecret",
            Self::ZeroTimeout => "invalidWebhookTimeout",
            Self::Client(_) => "webhookClient",
        }
    }
}

/// Delivers messages by POSTing them to a webhook. Cheap to share: one connection pool.
pub struct WebhookProvider {
    client: reqwest::Client,
    url: Url,
    /// HMAC state already keyed with the secret, cloned per message.
    signer: Option<Hmac<Sha256>>,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WebhookProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The origin only: a path or query may carry an access token.
        f.debug_struct("WebhookProvider")
            .field("origin", &self.url.origin().ascii_serialization())
            .field("signed", &self.signer.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl WebhookProvider {
    /// Checks `config` and builds the HTTP client (rustls, no proxy from the environment,
    /// no redirects, `config.timeout` per try).
    pub fn new(config: WebhookConfig, clock: Arc<dyn Clock>) -> Result<Self, WebhookConfigError> {
        let url = parse_url(&config.url)?;
        let signer = config.secret.as_ref().map(signer_for).transpose()?;
        if config.timeout.is_zero() {
            return Err(WebhookConfigError::ZeroTimeout);
        }
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .user_agent(concat!("textid/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(WebhookConfigError::Client)?;
        Ok(Self {
            client,
            url,
            signer,
            timeout: config.timeout,
            clock,
        })
    }

    fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> Result<HeaderMap, SendError> {
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let id_value = HeaderValue::from_str(id).map_err(|_| {
            SendError::Permanent("message id is not a valid HTTP header value".into())
        })?;
        headers.insert(WEBHOOK_ID, id_value);
        headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(timestamp));
        if let Some(signer) = &self.signer {
            let signature = sign(signer.clone(), id, timestamp, body);
            // Base64 and "v1," are visible ASCII, always a valid header value.
            let value = HeaderValue::try_from(signature).map_err(|_| {
                SendError::Permanent("signature is not a valid HTTP header value".into())
            })?;
            headers.insert(WEBHOOK_SIGNATURE, value);
        }
        Ok(headers)
    }

    fn transport_error(&self, error: reqwest::Error) -> SendError {
        let error = error.without_url();
        if error.is_timeout() {
            SendError::Transient(format!("webhook did not answer within {:?}", self.timeout))
        } else if error.is_builder() {
            SendError::Permanent(format!("could not build the request: {}", chain(&error)))
        } else if error.is_connect() {
            SendError::Transient(format!(
                "could not connect to the webhook: {}",
                chain(&error)
            ))
        } else {
            SendError::Transient(format!("webhook request failed: {}", chain(&error)))
        }
    }
}

#[async_trait::async_trait]
impl Provider for WebhookProvider {
    fn name(&self) -> &'static str {
        "webhook"
    }

    /// The receiver gets `"channel": "voice"` and places the call itself.
    fn places_calls(&self) -> bool {
        true
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Delivery, SendError> {
        let body = serde_json::to_vec(&WireMessage::from(message)).map_err(|e| {
            SendError::Permanent(format!("could not encode the message as JSON: {e}"))
        })?;
        let timestamp = self.clock.now().timestamp();
        let headers = self.headers(&message.id, timestamp, &body)?;
        let response = self
            .client
            .post(self.url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        tracing::debug!(target: LOG_TARGET, id = %message.id, %status, "webhook answered");
        if status.is_success() {
            let provider_message_id = provider_message_id(response).await;
            return Ok(Delivery {
                provider_message_id,
                provider: None,
            });
        }
        Err(classify_failure(status))
    }
}

/// The JSON body, keys in the documented order.
#[derive(Serialize)]
struct WireMessage<'a> {
    id: &'a str,
    to: &'a str,
    body: &'a str,
    channel: Channel,
    tenant: &'a str,
    kind: MessageKind,
    locale: &'a str,
}

impl<'a> From<&'a OutgoingMessage> for WireMessage<'a> {
    fn from(message: &'a OutgoingMessage) -> Self {
        Self {
            id: &message.id,
            to: &message.to,
            body: message.body.expose(),
            channel: message.channel,
            tenant: &message.tenant,
            kind: message.kind,
            locale: &message.locale,
        }
    }
}

fn parse_url(raw: &str) -> Result<Url, WebhookConfigError> {
    let url = Url::parse(raw.trim()).map_err(|e| WebhookConfigError::InvalidUrl {
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(WebhookConfigError::UnsupportedScheme {
            scheme: url.scheme().to_owned(),
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(WebhookConfigError::MissingHost);
    }
    Ok(url)
}

/// The HMAC keyed as Standard Webhooks says: `whsec_` + base64 → the decoded bytes; anything
/// else → the secret's UTF-8 bytes.
fn signer_for(secret: &Secret<String>) -> Result<Hmac<Sha256>, WebhookConfigError> {
    let secret = secret.expose();
    let key = match secret.strip_prefix(SECRET_PREFIX) {
        Some(encoded) => Secret::new(
            BASE64
                .decode(encoded)
                .map_err(|_| WebhookConfigError::InvalidSecret)?,
        ),
        None => Secret::new(secret.as_bytes().to_vec()),
    };
    if key.expose().is_empty() {
        return Err(WebhookConfigError::EmptySecret);
    }
    // HMAC accepts keys of any length; the error case is unreachable for non-empty keys.
    Hmac::<Sha256>::new_from_slice(key.expose()).map_err(|_| WebhookConfigError::EmptySecret)
}

/// `v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`.
fn sign(mut mac: Hmac<Sha256>, id: &str, timestamp: i64, body: &[u8]) -> String {
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

fn classify_failure(status: StatusCode) -> SendError {
    match status.as_u16() {
        408 | 429 | 500..=599 => SendError::Transient(format!("webhook answered {status}")),
        400..=499 => SendError::Permanent(format!("webhook answered {status}")),
        300..=399 => SendError::Permanent(format!(
            "webhook answered {status}; redirects are not followed, configure the final URL"
        )),
        _ => SendError::Permanent(format!("webhook answered unexpected status {status}")),
    }
}

/// The carrier's id from a JSON answer `{"id": ..}` or `{"messageId": ..}`, if there is one.
/// An unreadable or non-JSON answer still means delivered.
async fn provider_message_id(response: reqwest::Response) -> Option<String> {
    let body = super::http::body(response).await;
    let answer: serde_json::Value = serde_json::from_slice(&body).ok()?;
    ["id", "messageId"]
        .into_iter()
        .find_map(|key| match answer.get(key)? {
            serde_json::Value::String(id) if !id.is_empty() => Some(id.clone()),
            serde_json::Value::Number(id) => Some(id.to_string()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use textid_core::clock::ManualClock;

    use super::*;

    fn config(url: &str, secret: Option<&str>) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            secret: secret.map(|s| Secret::new(s.to_owned())),
            timeout: Duration::from_secs(5),
        }
    }

    fn new(config: WebhookConfig) -> Result<WebhookProvider, WebhookConfigError> {
        WebhookProvider::new(config, Arc::new(ManualClock::at_epoch_2026()))
    }

    #[test]
    fn signatures_reproduce_the_standard_webhooks_reference_vector() {
        let signer = signer_for(&Secret::new(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        ))
        .unwrap();
        assert_eq!(
            sign(
                signer,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn http_and_https_urls_are_accepted() {
        assert!(new(config("http://127.0.0.1:9000/sms", None)).is_ok());
        assert!(new(config(
            "https://sms.example.com/hook?token=x",
            Some("plain")
        ))
        .is_ok());
    }

    #[test]
    fn a_url_that_is_not_http_is_refused_with_a_clear_error() {
        let cases = [
            ("example.com/hook", "invalidWebhookUrl"),
            ("", "invalidWebhookUrl"),
            ("http://", "invalidWebhookUrl"),
            ("ftp://example.com/x", "unsupportedWebhookScheme"),
            ("unix:/run/sms.sock", "unsupportedWebhookScheme"),
        ];
        for (url, code) in cases {
            let err = new(config(url, None)).unwrap_err();
            assert_eq!(err.code(), code, "{url:?}: {err}");
        }
        let err = new(config("ftp://example.com/x", None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "webhook URL must start with http:// or https://, not ftp:"
        );
    }

    #[test]
    fn an_empty_or_undecodable_secret_is_refused_without_echoing_it() {
        for (secret, code) in [
            ("", "emptyWebhookSecret"),
            ("whsec_", "emptyWebhookSecret"),
            ("whsec_not*base64!", "invalidWebhookSecret"),
        ] {
            let err = new(config("https://sms.example.com", Some(secret))).unwrap_err();
            assert_eq!(err.code(), code, "{secret:?}");
            assert!(!err.to_string().contains("not*base64"));
        }
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let mut zero = config("https://sms.example.com", None);
        zero.timeout = Duration::ZERO;
        assert_eq!(new(zero).unwrap_err().code(), "invalidWebhookTimeout");
    }

    #[test]
    fn debug_output_shows_neither_secret_nor_path() {
        let provider = new(config(
            "https://sms.example.com/hook?token=abc",
            Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ))
        .unwrap();
        let debug = format!("{provider:?}");
        assert!(debug.contains("https://sms.example.com"), "{debug}");
        assert!(!debug.contains("token"), "{debug}");
        assert!(!debug.contains("MfKQ9r8"), "{debug}");
    }

    #[test]
    fn statuses_are_classified_as_the_contract_says() {
        let transient = [408, 429, 500, 502, 503, 504];
        let permanent = [301, 302, 400, 401, 403, 404, 410, 413, 422];
        for code in transient {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(classify_failure(status).is_transient(), "{code}");
        }
        for code in permanent {
            let status = StatusCode::from_u16(code).unwrap();
            let err = classify_failure(status);
            assert!(!err.is_transient(), "{code}");
            assert!(err.to_string().contains(&code.to_string()), "{err}");
        }
    }
}
