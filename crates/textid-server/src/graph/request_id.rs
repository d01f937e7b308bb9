//! Graph's request identifiers: every answer of `/v1.0` carries a `request-id` header (a
//! new UUID) and echoes the caller's `client-request-id` header; error bodies carry both in
//! `innerError`, with the `date`, as Graph's do, so that a script's log line can be matched
//! with textid's.
//!
//! The caller's value is echoed only when it is a short token of visible ASCII (what the
//! SDKs send, a UUID); anything else is ignored, never reflected.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::app::App;

/// The identifiers of the request being answered.
#[derive(Debug, Clone)]
pub struct RequestIds {
    /// textid's id for this request.
    pub request_id: String,
    /// The caller's `client-request-id`, when acceptable.
    pub client_request_id: Option<String>,
    /// When the request arrived (Graph's `innerError.date`), from the app's clock.
    pub date: chrono::DateTime<chrono::Utc>,
}

tokio::task_local! {
    static CURRENT: RequestIds;
}

/// The identifiers of the request this task answers (none outside a request).
pub fn current() -> Option<RequestIds> {
    CURRENT.try_with(Clone::clone).ok()
}

fn acceptable(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 100 && s.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| s.to_owned())
}

/// Middleware: names the request, answers with the names.
pub async fn request_ids(State(app): State<App>, req: Request, next: Next) -> Response {
    let ids = RequestIds {
        request_id: uuid::Uuid::new_v4().to_string(),
        client_request_id: req.headers().get("client-request-id").and_then(acceptable),
        date: app.clock().now(),
    };
    let mut res = CURRENT.scope(ids.clone(), next.run(req)).await;
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ids.request_id) {
        headers.insert("request-id", v);
    }
    if let Some(v) = ids
        .client_request_id
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        headers.insert("client-request-id", v);
    }
    res
}
