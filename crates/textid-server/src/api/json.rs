//! A JSON body extractor with the API's error contract: `Content-Type: application/json`
//! required (415), a body that is not a JSON object, malformed JSON or unknown fields →
//! 400 `invalidRequest` naming the problem, bodies over 64 KiB → 413.
//!
//! An error message never repeats a submitted value (serde's messages quote the value and
//! the unknown key: a code sent as a JSON number would come back in the answer, and an
//! attacker's text would be reflected): [`describe`] keeps the field's path, the kind of
//! value and what was expected.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if !is_json(content_type) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupportedMediaType",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payloadTooLarge",
                    "the body must be at most 64 KiB",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalidRequest",
                    "the body could not be read",
                )
            }
        })?;
        // serde fills a struct from a JSON array by position; the API takes objects only.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalidRequest",
                "the body must be a JSON object",
            ));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize::<_, T>(de)
            .map(Self)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalidRequest", describe(&e)))
    }
}

/// What is wrong with a body, without any submitted value: the field's path (our own
/// names), the kind of value found, what was expected, and where.
pub fn describe(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = e.inner();
    let at = format!("line {} column {}", inner.line(), inner.column());
    if inner.classify() != serde_json::error::Category::Data {
        return format!("the body is not valid JSON ({at})");
    }
    let full = inner.to_string();
    let msg = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m);
    let expected = msg.split_once(", expected ").map(|(_, x)| x);
    // serde's `Unexpected` is `integer `5``, `string "x"`, `boolean `true``, …: keep the kind.
    let kind = |rest: &str| {
        rest.split(['`', '"', ','])
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let what = if let Some(rest) = msg.strip_prefix("invalid type: ") {
        format!("invalid type: {}", kind(rest))
    } else if let Some(rest) = msg.strip_prefix("invalid value: ") {
        format!("invalid value: {}", kind(rest))
    } else if msg.starts_with("unknown field") {
        "unknown field".to_string()
    } else if msg.starts_with("unknown variant") {
        "unknown value".to_string()
    } else if let Some(field) = msg.strip_prefix("missing field ") {
        // The name is ours (a field of the request type).
        return format!("missing field {field}");
    } else if msg.starts_with("invalid length") {
        "invalid length".to_string()
    } else if !msg.contains(['`', '"', '\'']) {
        // A message of a type's own (e.g. the policy's target ids) that quotes nothing.
        msg.to_string()
    } else {
        "the JSON body does not fit the request".to_string()
    };
    let what = match expected {
        Some(x) => format!("{what}, expected {x}"),
        None => what,
    };
    // The path names our fields; an unknown key is never part of it.
    let path = e.path().to_string();
    if path.is_empty() || path == "." || msg.starts_with("unknown field") {
        what
    } else {
        format!("{path}: {what}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("application/json; charset=utf-8")));
        assert!(is_json(Some("application/merge-patch+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
    }
}
