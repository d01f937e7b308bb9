//! SCIM's error shape (RFC 7644 §3.12): `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
//! "status": "400", "scimType": "invalidFilter", "detail": "..."}` with
//! `Content-Type: application/scim+json`. Details say what to fix and never repeat
//! submitted values; 5xx details say nothing (the cause goes to the log).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use textid_store::StoreError;
use textid_usecases::DirectoryError;

use crate::error::ApiError;

/// The media type of every SCIM body.
pub const SCIM_JSON: &str = "application/scim+json";

/// An error answer of the SCIM service.
#[derive(Debug)]
pub struct ScimError {
    /// Status.
    pub status: StatusCode,
    /// RFC 7644 Table 9's `scimType`, for 400 and 409.
    pub scim_type: Option<&'static str>,
    /// What to fix.
    pub detail: String,
}

impl ScimError {
    /// A new error.
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    /// 400 with a `scimType` (`invalidFilter`, `invalidValue`, `invalidPath`, ...).
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    /// 404 for a resource that does not exist (its id is not repeated).
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, format!("{what} not found"))
    }

    /// 409 `uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }
}

impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> Self {
        let scim_type = match e.status {
            StatusCode::BAD_REQUEST => Some("invalidValue"),
            StatusCode::CONFLICT => Some("uniqueness"),
            _ => None,
        };
        Self::new(e.status, scim_type, e.message)
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<DirectoryError> for ScimError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid { field, message } => {
                Self::bad("invalidValue", format!("{field}: {message}"))
            }
            DirectoryError::NotFound { what, .. } => Self::not_found(what),
            DirectoryError::UpnInUse(_) => {
                Self::uniqueness("another user already has this userName")
            }
            other => ApiError::from(other).into(),
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut res = (self.status, axum::Json(body)).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        res
    }
}
