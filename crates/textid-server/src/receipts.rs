//! Delivery receipts (issue #18): the public callback URLs carriers POST their status
//! reports to, and the [`ReceiptSink`] that records them.
//!
//! - `POST /sms/receipts/twilio`: Twilio's status callback (messages and calls). The
//!   `X-Twilio-Signature` must sign `{public_url}/sms/receipts/twilio[?query]` and the form
//!   with the account's auth token; a missing or wrong signature is a 403 and changes
//!   nothing. A receipt for an unknown message, or a status that is not final, is a 204 as
//!   well (the carrier must not retry it).
//! - `POST /sms/receipts/vonage`: the Vonage SMS API's delivery receipt, as a form or as
//!   JSON (the dashboard's "POST" or "POST-JSON"). It must carry a `sig` that signs its
//!   other parameters with the account's signature secret, method SHA-256 HMAC
//!   ([`textid_sms::provider::vonage::verify_signature`]); a missing or wrong `sig` is a
//!   403 and changes nothing. A replayed receipt changes nothing either: a message records
//!   its receipt once.
//! - `POST /sms/receipts/vonage/voice`: the Vonage Voice API's call events (JSON). The
//!   `Authorization: Bearer` JWT must be signed (HS256) with the signature secret and its
//!   `payload_hash` be the body's SHA-256 ([`textid_sms::provider::vonage_voice::verify_event`]);
//!   otherwise 403, nothing changed.
//! - `POST /sms/receipts/vonage/messages`: the Vonage Messages API's message status
//!   webhooks (JSON), signed like the call events and checked by the same function;
//!   `delivered` closes the message, `rejected`, `undeliverable` and `failed` fail it with
//!   the error's title ([`textid_sms::provider::vonage_messages::status_receipt`]).
//!
//! These routes belong to no tenant: the message's carrier id finds the message, and the
//! signature (not a session, not CORS) is the only authentication. A route for a provider
//! that is not configured answers 404.
//!
//! [`StoreReceipts`] records a receipt on the outbox message, counts it in
//! `textid_sms_receipts_total{provider,status}` (once per message and status), and writes
//! a failure against the flow's sign-in log (event `codeUndelivered`), where the admin
//! sees it beside the request. An undelivered code also feeds the conversion watch: it
//! is counted as undelivered for its prefix and country, and the watch judges codes that
//! reached phones (sent less undelivered) against codes verified, so a carrier outage is
//! not taken for SMS pumping and does not pause a country.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use textid_core::abuse::{self, AbuseLimits, AbuseQuery};
use textid_core::clock::Clock;
use textid_sms::provider::{twilio, vonage, vonage_messages, vonage_voice};
use textid_sms::{Receipt, ReceiptSink, ReceiptStatus};
use textid_store::{ReceiptUpdate, Store};

use crate::app::App;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// The receipt routes.
pub fn routes() -> axum::Router<App> {
    axum::Router::new()
        .route("/sms/receipts/twilio", axum::routing::post(twilio_callback))
        .route("/sms/receipts/vonage", axum::routing::post(vonage_callback))
        .route(
            "/sms/receipts/vonage/voice",
            axum::routing::post(vonage_voice_event),
        )
        .route(
            "/sms/receipts/vonage/messages",
            axum::routing::post(vonage_messages_status),
        )
}

/// Records receipts in the store; counts and logs them.
#[derive(Debug)]
pub struct StoreReceipts {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// The conversion watch's windows (an undelivered code is counted in them).
    limits: AbuseLimits,
}

impl StoreReceipts {
    /// A sink over `store`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        limits: AbuseLimits,
    ) -> Self {
        Self {
            store,
            clock,
            metrics,
            limits,
        }
    }

    /// Counts a code its carrier reported undelivered for the conversion watch.
    async fn undelivered(&self, message: &textid_store::ReceiptedMessage) {
        let q = AbuseQuery {
            now: self.clock.now(),
            client_ip: None,
            limits: self.limits,
            budgets: true,
            test_numbers: false,
        };
        let increments = abuse::on_undelivered(message.tenant_id, &message.to, &q);
        if let Err(e) = self.store.add_counters(increments).await {
            tracing::warn!(message_id = %message.id, error = %e, "outbox: an undelivered code was not counted for the conversion watch");
        }
    }
}

#[async_trait::async_trait]
impl ReceiptSink for StoreReceipts {
    async fn receipt(&self, receipt: Receipt) {
        let failed = receipt.status == ReceiptStatus::Failed;
        let update = ReceiptUpdate {
            provider: receipt.provider.to_owned(),
            provider_message_id: receipt.provider_message_id.clone(),
            status: receipt.status.as_str().to_owned(),
            reason: receipt.reason.clone(),
            at: self.clock.now(),
            log_id: failed.then(uuid::Uuid::now_v7),
        };
        match self.store.record_receipt(&update).await {
            Ok(Some(message)) => {
                // A code (it belongs to a flow), not a notice.
                if failed && message.flow_id.is_some() {
                    self.undelivered(&message).await;
                }
                self.metrics
                    .receipt(receipt.provider, receipt.status.as_str());
                tracing::info!(message_id = %message.id, provider = receipt.provider, status = receipt.status.as_str(), reason = ?receipt.reason, "outbox: receipt");
            }
            Ok(None) => {
                tracing::debug!(
                    provider = receipt.provider,
                    "outbox: receipt for an unknown message or a repeated one"
                );
            }
            Err(e) => {
                tracing::warn!(provider = receipt.provider, error = %e, "outbox: could not record a receipt");
            }
        }
    }
}

async fn twilio_callback(
    State(app): State<App>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(token) = app.config().sms.twilio_auth_token() else {
        return Err(not_configured());
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    // Twilio signs the URL it called: the public URL, this path and any query.
    let url = format!(
        "{}{}",
        app.config().public_url.trim_end_matches('/'),
        uri.path_and_query().map_or(uri.path(), |p| p.as_str())
    );
    let signed = headers
        .get(twilio::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sig| twilio::verify_signature(token.expose(), &url, &params, sig));
    if !signed {
        return Err(bad_signature());
    }
    if let Some(receipt) = twilio::receipt(&params) {
        app.receipts().receipt(receipt).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn vonage_callback(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(secret) = app.config().sms.vonage_signature_secret() else {
        return Err(not_configured());
    };
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let Some(params) = vonage::receipt_params(&body, json) else {
        return Err(bad_signature());
    };
    if !vonage::verify_signature(secret.expose(), &params) {
        return Err(bad_signature());
    }
    if let Some(receipt) = vonage::receipt(&params) {
        app.receipts().receipt(receipt).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn vonage_voice_event(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    vonage_signed_json(&app, &headers, &body, vonage_voice::event_receipt).await
}

async fn vonage_messages_status(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    vonage_signed_json(&app, &headers, &body, vonage_messages::status_receipt).await
}

/// A Vonage JSON webhook signed with a JWT (call events, message statuses): verified, then
/// its receipt, if any, recorded.
async fn vonage_signed_json(
    app: &App,
    headers: &HeaderMap,
    body: &[u8],
    receipt: fn(&serde_json::Value) -> Option<Receipt>,
) -> Result<Response, ApiError> {
    let Some(secret) = app.config().sms.vonage_signature_secret() else {
        return Err(not_configured());
    };
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !vonage_voice::verify_event(secret.expose(), authorization, body) {
        return Err(bad_signature());
    }
    let event: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if let Some(receipt) = receipt(&event) {
        app.receipts().receipt(receipt).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn bad_signature() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "invalidSignature",
        "the callback is not signed by the configured provider account",
    )
}

fn not_configured() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "providerNotConfigured",
        "this SMS provider is not configured on this server",
    )
}
