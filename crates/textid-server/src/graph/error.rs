//! Graph's error shape: `{"error": {"code", "message", "innerError": {"date", "request-id",
//! "client-request-id"}}}`, with Graph's codes where they exist.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;

/// An error answer of the admin API.
#[derive(Debug)]
pub struct GraphError {
    /// Status.
    pub status: StatusCode,
    /// Graph code.
    pub code: String,
    /// Message.
    pub message: String,
}

impl GraphError {
    /// A new error.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 404 `Request_ResourceNotFound`. Graph quotes the id asked for; textid does not
    /// repeat submitted values in answers (docs/design.md §3).
    pub fn not_found(_what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "Resource does not exist or one of its queried reference-property objects are not present.")
    }

    /// 400 `badRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "badRequest", message)
    }
}

impl From<ApiError> for GraphError {
    fn from(e: ApiError) -> Self {
        let code = match (e.status, e.code) {
            (StatusCode::NOT_FOUND, _) => "Request_ResourceNotFound",
            (StatusCode::BAD_REQUEST, "invalidRequest") => "badRequest",
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, _) => "BadRequest",
            (_, other) => other,
        };
        Self {
            status: e.status,
            code: code.to_string(),
            message: e.message,
        }
    }
}

impl From<textid_store::StoreError> for GraphError {
    fn from(e: textid_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<textid_usecases::DirectoryError> for GraphError {
    fn from(e: textid_usecases::DirectoryError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        // Graph's innerError: the time of the request (UTC, to the second) and both ids;
        // the client's id is the request id when the caller sent none, as Graph does.
        let (request_id, client, date) = match super::request_id::current() {
            Some(ids) => (
                ids.request_id.clone(),
                ids.client_request_id.unwrap_or(ids.request_id),
                Some(ids.date.format("%Y-%m-%dT%H:%M:%S").to_string()),
            ),
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                (id.clone(), id, None)
            }
        };
        let mut inner = json!({"request-id": request_id, "client-request-id": client});
        if let Some(d) = date {
            inner["date"] = json!(d);
        }
        let body = json!({"error": {
            "code": self.code,
            "message": self.message,
            "innerError": inner,
        }});
        let mut res = (self.status, axum::Json(body)).into_response();
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            res.headers_mut().insert("request-id", v);
        }
        res
    }
}

/// A JSON body for the admin API: the same rules as the sign-in API (JSON content type,
/// 64 KiB), answered in Graph's error shape.
#[derive(Debug)]
pub struct GraphJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for GraphJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = GraphError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        crate::api::json::JsonBody::<T>::from_request(req, state)
            .await
            .map(|b| Self(b.0))
            .map_err(GraphError::from)
    }
}

/// Path parameters for the admin API: a malformed one (e.g. bad percent-encoding) is a
/// Graph-shaped 400, not axum's plain-text answer.
#[derive(Debug)]
pub struct GraphPath<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for GraphPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = GraphError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            // axum's message quotes the offending segment: not repeated.
            .map_err(|_| GraphError::bad_request("the URL is not valid"))
    }
}
