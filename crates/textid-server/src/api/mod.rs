//! HTTP surfaces. Wire types live beside their handlers and convert into core types.

pub mod json;
pub mod sign_in;

use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;

use crate::app::App;

/// Every route of the server.
pub fn routes() -> Router<App> {
    // Answers of the sign-in API carry flows and session tokens: never cached
    // (RFC 6749 §5.1 asks the same of token answers).
    let sign_in = Router::new()
        .route("/{tenant}/api/v1/sign-in/sms", post(sign_in::start))
        .route("/{tenant}/api/v1/sign-in/sms/verify", post(sign_in::verify))
        .route("/{tenant}/api/v1/sign-in/sms/resend", post(sign_in::resend))
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(sign_in)
        .merge(crate::oidc::routes())
        .merge(crate::graph::routes())
        .method_not_allowed_fallback(|| async {
            crate::error::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "methodNotAllowed",
                "this endpoint does not accept that HTTP method",
            )
        })
        .fallback(|| async {
            crate::error::ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "notFound",
                "no such endpoint",
            )
        })
}
