//! Twilio: Programmable Messaging for SMS, the Calls API for voice, and status callbacks as
//! delivery receipts (issue #18).
//!
//! - SMS: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form `To`, `Body`,
//!   `MessagingServiceSid` (preferred) or `From`, and `StatusCallback` when receipts are on;
//!   HTTP basic auth with an API key (`SK…` + its secret) or the account SID + auth token.
//!   `201` `{"sid":"SM…"}` is accepted; the `sid` is the receipt's key.
//! - Voice: `POST …/Calls.json`, form `To`, `From`, `Twiml` = `<Response><Say>` the text with
//!   its digits spaced, said twice `</Say></Response>`, and `StatusCallback`.
//! - Errors: Twilio's JSON `{"code":21211,"message":…,"status":400}`. The documented
//!   recipient errors ([`PERMANENT_CODES`]: invalid, not mobile, unsubscribed, unreachable
//!   number) are permanent; everything else (auth, geo permissions, a wrong sender, 429,
//!   5xx) is transient, so a message waits for the operator's fix or fails over.
//! - Receipts: Twilio POSTs the form `MessageSid`/`MessageStatus` (or `CallSid`/`CallStatus`)
//!   to the callback URL with `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, the full
//!   URL + every POST parameter's name and value, sorted by name)). [`verify_signature`]
//!   checks it in constant time; [`receipt`] maps the final statuses.
//!
//! The auth token, API key secret and message body are never logged or put into an error.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sha1::Sha1;
use textid_core::secret::Secret;

use super::http;
use crate::{Channel, Delivery, OutgoingMessage, Provider, Receipt, ReceiptStatus, SendError};

/// The provider's stable name.
pub const NAME: &str = "twilio";
/// Twilio's API origin.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// The header Twilio signs callbacks with.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// Twilio error codes that say the recipient cannot get the message from any sender:
/// 21211 invalid 'To', 21217 number not valid, 21401 invalid phone number, 21407 not
/// supported destination, 21421 invalid number, 21610 unsubscribed (STOP), 21612 not
/// reachable, 21614 not a mobile number.
pub const PERMANENT_CODES: &[u64] = &[21211, 21217, 21401, 21407, 21421, 21610, 21612, 21614];

/// A request's form fields, in order.
type Form = Vec<(&'static str, String)>;

/// How textid reaches a Twilio account.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// The account SID (`AC…`).
    pub account_sid: String,
    /// The account's auth token: signs status callbacks, and authenticates requests when no
    /// API key is given.
    pub auth_token: Secret<String>,
    /// An API key (`SK…` SID and secret) to authenticate requests with instead.
    pub api_key: Option<(String, Secret<String>)>,
    /// A Messaging Service SID (`MG…`), preferred for SMS when set.
    pub messaging_service_sid: Option<String>,
    /// A Twilio number (E.164) or alphanumeric sender; required for voice.
    pub from: Option<String>,
    /// The status callback URL (textid's `/sms/receipts/twilio`); `None`: no receipts.
    pub status_callback: Option<String>,
    /// The API origin, `https://api.twilio.com` (tests point it at a loopback server).
    pub base_url: String,
    /// The limit of one try.
    pub timeout: Duration,
}

/// Why a [`TwilioConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TwilioConfigError {
    /// Neither a Messaging Service nor a sender.
    #[error("twilio needs sms_twilio_messaging_service_sid or sms_twilio_from")]
    NoSender,
    /// The account SID is empty or not `AC…`.
    #[error("twilio account SID must start with AC")]
    AccountSid,
    /// The base URL is not http(s).
    #[error("twilio base URL must be an http:// or https:// URL")]
    BaseUrl,
    /// The HTTP client could not be set up.
    #[error("could not set up the twilio HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Sends SMS and voice calls through one Twilio account.
pub struct TwilioProvider {
    config: TwilioConfig,
    client: reqwest::Client,
}

impl std::fmt::Debug for TwilioProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioProvider")
            .field("base_url", &self.config.base_url)
            .field("api_key", &self.config.api_key.as_ref().map(|(sid, _)| sid))
            .field("receipts", &self.config.status_callback.is_some())
            .finish_non_exhaustive()
    }
}

impl TwilioProvider {
    /// Checks `config` and builds the HTTP client.
    pub fn new(config: TwilioConfig) -> Result<Self, TwilioConfigError> {
        if config.messaging_service_sid.is_none() && config.from.is_none() {
            return Err(TwilioConfigError::NoSender);
        }
        if !config.account_sid.starts_with("AC") {
            return Err(TwilioConfigError::AccountSid);
        }
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(TwilioConfigError::BaseUrl);
        }
        let client = http::client(config.timeout).map_err(TwilioConfigError::Client)?;
        Ok(Self { config, client })
    }

    /// Wraps this provider for sharing.
    pub fn shared(self) -> Arc<dyn Provider> {
        Arc::new(self)
    }

    fn url(&self, resource: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{resource}.json",
            self.config.base_url.trim_end_matches('/'),
            self.config.account_sid
        )
    }

    fn form(&self, message: &OutgoingMessage) -> Result<(String, Form), SendError> {
        let mut form = vec![("To", message.to.clone())];
        let resource = match message.channel {
            Channel::Sms => {
                form.push(("Body", message.body.expose().clone()));
                match (&self.config.messaging_service_sid, &self.config.from) {
                    (Some(mg), _) => form.push(("MessagingServiceSid", mg.clone())),
                    (None, Some(from)) => form.push(("From", from.clone())),
                    (None, None) => {}
                }
                "Messages"
            }
            Channel::Voice => {
                let from = self.config.from.clone().ok_or_else(|| {
                    SendError::Transient(
                        "twilio voice needs a caller number: set sms_twilio_from".into(),
                    )
                })?;
                form.push(("From", from));
                form.push(("Twiml", twiml(message.body.expose())));
                "Calls"
            }
        };
        if let Some(callback) = &self.config.status_callback {
            form.push(("StatusCallback", callback.clone()));
        }
        Ok((self.url(resource), form))
    }
}

#[async_trait::async_trait]
impl Provider for TwilioProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The Calls API needs a caller number (`sms_twilio_from`).
    fn places_calls(&self) -> bool {
        self.config.from.is_some()
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Delivery, SendError> {
        let (url, form) = self.form(message)?;
        let (user, password) = match &self.config.api_key {
            Some((sid, secret)) => (sid.as_str(), secret.expose().as_str()),
            None => (
                self.config.account_sid.as_str(),
                self.config.auth_token.expose().as_str(),
            ),
        };
        let response = self
            .client
            .post(url)
            .basic_auth(user, Some(password))
            .form(&form)
            .send()
            .await
            .map_err(|e| http::transport_error(NAME, self.config.timeout, e))?;
        let status = response.status();
        let body = http::body(response).await;
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status.is_success() {
            let sid = answer
                .get("sid")
                .and_then(|s| s.as_str())
                .map(str::to_owned);
            return Ok(Delivery {
                provider_message_id: sid,
                provider: None,
            });
        }
        Err(classify(status, &answer))
    }
}

/// A failed answer: a documented recipient error is permanent, the rest by status.
fn classify(status: StatusCode, answer: &serde_json::Value) -> SendError {
    let code = answer.get("code").and_then(serde_json::Value::as_u64);
    // Twilio's message names the number's problem, never the body: safe to keep.
    let message = answer.get("message").and_then(|m| m.as_str()).unwrap_or("");
    let detail = code.map_or(String::new(), |c| format!(" (error {c}: {message})"));
    match code {
        Some(c) if status.is_client_error() && PERMANENT_CODES.contains(&c) => {
            SendError::Permanent(format!("twilio answered {status}{detail}"))
        }
        // Any other error code is the account's (permissions, sender, auth): wait for a fix.
        Some(_) if status.is_client_error() => {
            SendError::Transient(format!("twilio answered {status}{detail}"))
        }
        _ => http::by_status(NAME, status, &detail),
    }
}

/// The TwiML that reads `text` out twice, digits spaced.
pub fn twiml(text: &str) -> String {
    let said = xml_escape(&http::speakable(text));
    format!("<Response><Say>{said}</Say><Pause length=\"1\"/><Say>{said}</Say></Response>")
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Twilio's signature of a callback: base64(HMAC-SHA1(auth token, `url` + each parameter's
/// name and value, sorted by name)).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// Whether `given` (the `X-Twilio-Signature` header) signs this callback, compared in
/// constant time.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    given: &str,
) -> bool {
    let Ok(given) = BASE64.decode(given.trim()) else {
        return false;
    };
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        return false;
    };
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac.verify_slice(&given).is_ok()
}

/// The receipt in a (verified) status callback: `delivered` (or a `completed` call) is
/// delivered; `undelivered`, `failed` (and a `busy`, `no-answer`, `failed` or `canceled`
/// call) failed, with Twilio's `ErrorCode` or the status as the reason. Intermediate
/// statuses (`queued`, `sent`, `ringing`, …) are no receipt.
pub fn receipt(params: &[(String, String)]) -> Option<Receipt> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (sid, status) = match (get("MessageSid"), get("CallSid")) {
        (Some(sid), _) => (sid, get("MessageStatus")?),
        (None, Some(sid)) => (sid, get("CallStatus")?),
        (None, None) => return None,
    };
    let status = match status {
        "delivered" | "completed" => ReceiptStatus::Delivered,
        "undelivered" | "failed" | "busy" | "no-answer" | "canceled" => ReceiptStatus::Failed,
        _ => return None,
    };
    let reason = match status {
        ReceiptStatus::Delivered => None,
        ReceiptStatus::Failed => Some(get("ErrorCode").filter(|c| !c.is_empty()).map_or_else(
            || {
                get("MessageStatus")
                    .or(get("CallStatus"))
                    .unwrap_or("failed")
                    .to_owned()
            },
            |c| format!("twilio error {c}"),
        )),
    };
    Some(Receipt {
        provider: NAME,
        provider_message_id: sid.to_owned(),
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

    /// Twilio's own example ("Validating requests", the security docs): auth token
    /// 12345, this URL and these parameters sign to this value.
    #[test]
    fn signatures_reproduce_twilios_documented_example() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
        assert!(verify_signature(
            "12345",
            url,
            &params,
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        ));
        assert!(!verify_signature(
            "12346",
            url,
            &params,
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        ));
        assert!(!verify_signature("12345", url, &params, "not base64!"));
    }

    #[test]
    fn final_statuses_are_receipts_and_others_are_not() {
        let r = receipt(&pairs(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "delivered"),
        ]))
        .unwrap();
        assert_eq!((r.status, r.reason), (ReceiptStatus::Delivered, None));
        let r = receipt(&pairs(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
        ]))
        .unwrap();
        assert_eq!(
            (r.status, r.reason.as_deref()),
            (ReceiptStatus::Failed, Some("twilio error 30003"))
        );
        let r = receipt(&pairs(&[("CallSid", "CA1"), ("CallStatus", "no-answer")])).unwrap();
        assert_eq!(
            (r.provider_message_id.as_str(), r.reason.as_deref()),
            ("CA1", Some("no-answer"))
        );
        for status in ["queued", "sent", "sending", "accepted"] {
            assert_eq!(
                receipt(&pairs(&[("MessageSid", "SM1"), ("MessageStatus", status)])),
                None
            );
        }
    }

    #[test]
    fn twiml_says_the_spaced_code_twice_and_escapes() {
        assert_eq!(
            twiml("Code 42 <now>\n@h #42"),
            "<Response><Say>Code 4 2 &lt;now&gt;</Say><Pause length=\"1\"/><Say>Code 4 2 &lt;now&gt;</Say></Response>"
        );
    }
}
