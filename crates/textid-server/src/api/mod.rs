//! HTTP surfaces. Wire types live beside their handlers and convert into core types.

pub mod json;
pub mod password;
pub mod session;
pub mod sign_in;

use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;

use crate::app::App;

async fn ready(
    axum::extract::State(app): axum::extract::State<App>,
) -> Result<&'static str, crate::error::ApiError> {
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), app.store().ping());
    match ping.await {
        Ok(Ok(())) => Ok("ready"),
        Ok(Err(e)) => Err(textid_store::StoreError::Unavailable(Box::new(e)).into()),
        Err(_) => Err(textid_store::StoreError::Unavailable(
            "the database did not answer within 2 s".into(),
        )
        .into()),
    }
}

/// Every route of the server.
pub fn routes(app: &App) -> Router<App> {
    // Answers of the sign-in API carry flows and session tokens: never cached
    // (RFC 6749 §5.1 asks the same of token answers).
    // The `OPTIONS` routes let the per-tenant CORS layer see preflights (see
    // `crate::cors::sign_in_api`).
    let sign_in = Router::new()
        .route(
            "/{tenant}/api/v1/sign-in/sms",
            post(sign_in::start).options(|| crate::cors::not_a_preflight("POST")),
        )
        .route(
            "/{tenant}/api/v1/sign-in/sms/verify",
            post(sign_in::verify).options(|| crate::cors::not_a_preflight("POST")),
        )
        .route(
            "/{tenant}/api/v1/sign-in/sms/resend",
            post(sign_in::resend).options(|| crate::cors::not_a_preflight("POST")),
        )
        .route(
            "/{tenant}/api/v1/sign-in/password",
            post(password::sign_in).options(|| crate::cors::not_a_preflight("POST")),
        )
        .route(
            "/{tenant}/api/v1/sign-in/password/verify",
            post(password::verify).options(|| crate::cors::not_a_preflight("POST")),
        )
        .route(
            "/{tenant}/api/v1/sign-in/pass",
            post(password::pass).options(|| crate::cors::not_a_preflight("POST")),
        )
        .route(
            "/{tenant}/api/v1/password-reset",
            post(password::reset_start).options(|| crate::cors::not_a_preflight("POST")),
        )
        .route(
            "/{tenant}/api/v1/password-reset/verify",
            post(password::reset_verify).options(|| crate::cors::not_a_preflight("POST")),
        )
        .route(
            "/{tenant}/api/v1/session",
            post(session::introspect)
                .delete(session::sign_out)
                .options(|| crate::cors::not_a_preflight("POST,DELETE")),
        )
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::cors::sign_in_api,
        ))
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new()
        // Liveness: the process answers. Readiness: it can also reach its database, so a
        // load balancer takes a node cut off from the database out of rotation.
        .route("/health", get(|| async { "ok" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .merge(sign_in)
        .merge(crate::receipts::routes())
        .merge(crate::oidc::routes())
        .merge(crate::security_info::routes())
        .merge(crate::pages::reset::routes())
        .merge(
            crate::graph::routes().layer(axum::middleware::from_fn_with_state(
                app.clone(),
                crate::graph::request_id::request_ids,
            )),
        )
        .merge(crate::scim::routes())
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
