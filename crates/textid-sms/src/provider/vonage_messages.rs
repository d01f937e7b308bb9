//! Vonage's Messages API for SMS, with an application's JWT, and its signed message status
//! webhooks as receipts (issue #18). [`super::vonage::VonageProvider`] sends SMS here when
//! `sms_api` is [`VonageSmsApi::Messages`](super::vonage::VonageSmsApi::Messages).
//!
//! - Auth: the application JWT of the Voice API ([`super::vonage_voice::application_jwt`]:
//!   RS256 with the application's private key, `application_id`, `iat`, `exp`, `jti`) as
//!   `Authorization: Bearer`. No API key or secret.
//! - Send: `POST {api}/v1/messages`, JSON `message_type: "text"`, `channel: "sms"`, `to` and
//!   `from` (E.164 without the `+`, or the alphanumeric sender), `text`, `client_ref` (the
//!   outbox message id, echoed in each status), and, when receipts are on, `webhook_url`
//!   (textid's `/sms/receipts/vonage/messages`) with `webhook_version: "v1"`, which override
//!   the application's status URL for this message. Unicode needs no flag. `202`
//!   `{"message_uuid": …}`: the uuid is the receipt's key.
//! - Errors are RFC 7807 problem JSON whose `type` ends in Vonage's Messages error code
//!   (`…/api-errors/messages#1020`). The code decides when textid knows it
//!   ([`PERMANENT_CODES`], [`TRANSIENT_CODES`]); otherwise the status does: 400 and 422 (the
//!   request was refused, and the number is what varies) are permanent; 401, 403, 404, 408,
//!   429 and 5xx are transient, so that a message waits for the operator's fix or fails over.
//!
//!   | Code | Vonage's title | Class |
//!   |---|---|---|
//!   | 1020 | Invalid params (our body is fixed: the number) | permanent |
//!   | 1040 | Invalid message (unrecognised number prefix) | permanent |
//!   | 1050 | Number barred | permanent |
//!   | 1000 | Throttled | transient |
//!   | 1030 | Internal error | transient |
//!   | 1060 | Partner account barred | transient |
//!   | 1070 | Partner quota exceeded | transient |
//!   | 1080 | Account not enabled for REST | transient |
//!   | 1100 | Communication failed | transient |
//!   | 1120 | Illegal sender address | transient |
//!   | other | by HTTP status, as above | |
//!
//! - Status webhooks: Vonage POSTs `{"message_uuid", "to", "from", "timestamp", "status",
//!   "error": {"type", "title", "detail"}, "channel": "sms", "client_ref"}`, signed exactly
//!   like the Voice API's events: an HS256 JWT with the signature secret in
//!   `Authorization: Bearer` whose `payload_hash` is the hex SHA-256 of the body
//!   ([`super::vonage_voice::verify_event`]). `delivered` is a delivered receipt;
//!   `rejected`, `undeliverable` and `failed` a failed one with the error's title as the
//!   reason; `submitted`, `read` and the rest no receipt ([`status_receipt`]).
//!
//! The private key, the signature secret and the message text are never logged or put into
//! an error.

use std::time::Duration;

use super::http;
use crate::{Delivery, OutgoingMessage, Receipt, ReceiptStatus, SendError};

/// Messages error codes that mean the recipient cannot get the message from any sender.
pub const PERMANENT_CODES: &[&str] = &["1020", "1040", "1050"];
/// Messages error codes of the account or the platform, whatever the HTTP status.
pub const TRANSIENT_CODES: &[&str] = &["1000", "1030", "1060", "1070", "1080", "1100", "1120"];

/// Where the request goes and what it says besides the message.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    /// The API origin, `https://api.nexmo.com`.
    pub api_base_url: &'a str,
    /// The application JWT.
    pub bearer: &'a str,
    /// The sender.
    pub from: &'a str,
    /// The status webhook for this message; `None`: the application's own setting.
    pub status_url: Option<&'a str>,
    /// The limit of one try.
    pub timeout: Duration,
}

/// The request's JSON body.
pub fn body(message: &OutgoingMessage, from: &str, status_url: Option<&str>) -> serde_json::Value {
    let mut body = serde_json::json!({
        "message_type": "text",
        "channel": "sms",
        "to": message.to.trim_start_matches('+'),
        "from": from.trim_start_matches('+'),
        "text": message.body.expose(),
        "client_ref": message.id,
    });
    if let Some(url) = status_url {
        body["webhook_url"] = serde_json::json!(url);
        body["webhook_version"] = serde_json::json!("v1");
    }
    body
}

/// Sends one SMS through the Messages API: one try.
pub(crate) async fn send(
    client: &reqwest::Client,
    to: &Submission<'_>,
    message: &OutgoingMessage,
) -> Result<Delivery, SendError> {
    let response = client
        .post(format!(
            "{}/v1/messages",
            to.api_base_url.trim_end_matches('/')
        ))
        .bearer_auth(to.bearer)
        .json(&body(message, to.from, to.status_url))
        .send()
        .await
        .map_err(|e| http::transport_error("vonage messages", to.timeout, e))?;
    let status = response.status();
    let answer: serde_json::Value =
        serde_json::from_slice(&http::body(response).await).unwrap_or_default();
    if status.is_success() {
        return Ok(Delivery {
            provider_message_id: answer["message_uuid"].as_str().map(str::to_owned),
            provider: None,
        });
    }
    Err(classify(status, &answer))
}

/// A refused request's class: by its Messages error code when textid knows it, else by
/// its status (see the module docs).
pub fn classify(status: reqwest::StatusCode, problem: &serde_json::Value) -> SendError {
    let code = problem["type"]
        .as_str()
        .and_then(|t| t.rsplit_once('#'))
        .map(|(_, code)| code);
    // Vonage's titles and details name the parameter or the account's problem, never the
    // text.
    let title = problem["title"].as_str().unwrap_or("");
    let detail = problem["detail"].as_str().unwrap_or("");
    let mut text = format!("vonage messages answered {status}");
    match (code, title.is_empty()) {
        (Some(code), _) => text.push_str(&format!(" ({code}: {title})")),
        (None, false) => text.push_str(&format!(" ({title})")),
        (None, true) => {}
    }
    if !detail.is_empty() {
        text.push_str(&format!(": {detail}"));
    }
    match code {
        Some(c) if PERMANENT_CODES.contains(&c) => SendError::Permanent(text),
        Some(c) if TRANSIENT_CODES.contains(&c) => SendError::Transient(text),
        _ => match status.as_u16() {
            400 | 422 => SendError::Permanent(text),
            _ if http::by_status("vonage messages", status, "").is_transient() => {
                SendError::Transient(text)
            }
            _ => SendError::Permanent(text),
        },
    }
}

/// The receipt in a (verified) message status: see the module docs.
pub fn status_receipt(status: &serde_json::Value) -> Option<Receipt> {
    let uuid = status["message_uuid"].as_str().filter(|u| !u.is_empty())?;
    let word = status["status"].as_str()?;
    let (outcome, reason) = match word {
        "delivered" => (ReceiptStatus::Delivered, None),
        "rejected" | "undeliverable" | "failed" => {
            let reason = match status["error"]["title"].as_str().filter(|t| !t.is_empty()) {
                Some(title) => format!("vonage {word}: {title}"),
                None => format!("vonage {word}"),
            };
            (ReceiptStatus::Failed, Some(reason))
        }
        _ => return None,
    };
    Some(Receipt {
        provider: super::vonage::NAME,
        provider_message_id: uuid.to_owned(),
        status: outcome,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use serde_json::json;

    fn problem(code: &str, title: &str) -> serde_json::Value {
        json!({
            "type": format!("https://developer.vonage.com/api-errors/messages#{code}"),
            "title": title,
            "detail": "The value of the `to` parameter is invalid.",
            "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf",
        })
    }

    #[test]
    fn known_codes_decide_and_otherwise_the_status_does() {
        let s = |c| StatusCode::from_u16(c).unwrap();
        for code in ["1020", "1040", "1050"] {
            assert!(
                !classify(s(422), &problem(code, "x")).is_transient(),
                "{code}"
            );
        }
        for code in ["1000", "1030", "1060", "1070", "1080", "1100", "1120"] {
            assert!(
                classify(s(422), &problem(code, "x")).is_transient(),
                "{code}"
            );
        }
        for status in [400, 422] {
            assert!(!classify(s(status), &problem("1150", "Invalid params")).is_transient());
            assert!(!classify(s(status), &json!({})).is_transient());
        }
        for status in [401, 403, 404, 408, 429, 500, 503] {
            assert!(classify(s(status), &problem("1150", "x")).is_transient());
            assert!(classify(s(status), &json!({})).is_transient());
        }
    }

    #[test]
    fn the_error_names_the_code_title_and_detail() {
        let err = classify(
            StatusCode::UNPROCESSABLE_ENTITY,
            &problem("1150", "Invalid params"),
        );
        assert_eq!(
            err.to_string(),
            "permanent delivery failure: vonage messages answered 422 Unprocessable Entity (1150: Invalid params): The value of the `to` parameter is invalid."
        );
    }

    #[test]
    fn statuses_map_to_receipts() {
        let r = status_receipt(&json!({"message_uuid": "m1", "status": "delivered"})).unwrap();
        assert_eq!((r.status, r.reason), (ReceiptStatus::Delivered, None));
        for word in ["rejected", "undeliverable", "failed"] {
            let r = status_receipt(&json!({
                "message_uuid": "m1",
                "status": word,
                "error": {"type": "https://developer.vonage.com/api-errors/messages#1250", "title": "Unroutable", "detail": "x"},
            }))
            .unwrap();
            assert_eq!(r.status, ReceiptStatus::Failed);
            assert_eq!(r.reason, Some(format!("vonage {word}: Unroutable")));
        }
        let r = status_receipt(&json!({"message_uuid": "m1", "status": "failed"})).unwrap();
        assert_eq!(r.reason.as_deref(), Some("vonage failed"));
        for word in ["submitted", "read", "accepted"] {
            assert_eq!(
                status_receipt(&json!({"message_uuid": "m1", "status": word})),
                None
            );
        }
        assert_eq!(status_receipt(&json!({"status": "delivered"})), None);
    }
}
