//! A JSON body extractor with the API's error contract: `Content-Type: application/json`
//! required (415), malformed JSON or unknown fields → 400 `invalidRequest` naming the
//! problem, bodies over 64 KiB → 413.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupportedMediaType",
                "send the body as JSON with Content-Type: application/json",
            )),
            Err(JsonRejection::BytesRejection(b))
                if b.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payloadTooLarge",
                    "the body must be at most 64 KiB",
                ))
            }
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalidRequest",
                format!("the JSON body does not fit the request: {}", inner(&e)),
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalidRequest",
                format!("the body is not valid JSON: {}", inner(&e)),
            )),
            Err(other) => Err(ApiError::new(
                other.status(),
                "invalidRequest",
                other.body_text(),
            )),
        }
    }
}

/// serde's own message (which names the field), without axum's prefix.
fn inner(e: &dyn std::error::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}
