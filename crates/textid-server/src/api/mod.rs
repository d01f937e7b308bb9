//! HTTP surfaces. Wire types live beside their handlers and convert into core types.

pub mod json;
pub mod sign_in;

use axum::routing::{get, post};
use axum::Router;

use crate::app::App;

/// Every route of the server.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/{tenant}/api/v1/sign-in/sms", post(sign_in::start))
        .route("/{tenant}/api/v1/sign-in/sms/verify", post(sign_in::verify))
        .route("/{tenant}/api/v1/sign-in/sms/resend", post(sign_in::resend))
        .fallback(|| async {
            crate::error::ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "notFound",
                "no such endpoint",
            )
        })
}
