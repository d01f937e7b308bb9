//! One API error type: a 4xx answer is `{"error": {"code", "message"}}` with a stable code
//! and a message that says what to fix; a 5xx answer says nothing, and the cause goes to
//! the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use textid_core::flow::SignInError;
use textid_core::methods::PhoneMethodError;
use textid_store::StoreError;
use textid_usecases::password::PasswordFailure;
use textid_usecases::{DirectoryError, SignInFailure};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What to fix.
    pub message: String,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A 4xx (or other) error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `invalidRequest` naming the field.
    pub fn invalid(field: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalidRequest",
            format!("{field}: {why}"),
        )
    }

    /// 404 for an unknown tenant (its name is not repeated).
    pub fn tenant_not_found(_name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "tenantNotFound",
            "there is no tenant by this name",
        )
    }

    /// 500; the cause is logged, never sent.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %cause, source = ?cause.source(), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internalError",
            "internal error",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::PhoneMethod(p) => p.into(),
            StoreError::NotFound(what) => Self::new(
                StatusCode::NOT_FOUND,
                "notFound",
                format!("{what} not found"),
            ),
            StoreError::Conflict(c) => {
                Self::new(StatusCode::CONFLICT, "conflict", format!("conflict on {c}"))
            }
            StoreError::Busy => {
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "the database is busy; try again",
                );
                e.retry_after = Some(1);
                e
            }
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "databaseUnavailable",
                    "the database cannot be reached right now; nothing was changed, try again",
                );
                e.retry_after = Some(1);
                e
            }
            other => Self::internal(&other),
        }
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid { field, message } => Self::invalid(field, message),
            // The key asked for and the UPN are not repeated in answers.
            DirectoryError::NotFound { what, .. } => Self::new(
                StatusCode::NOT_FOUND,
                "notFound",
                format!("{what} not found"),
            ),
            DirectoryError::UpnInUse(_) => Self::new(
                StatusCode::CONFLICT,
                "userPrincipalNameInUse",
                "another user already has this userPrincipalName",
            ),
            e @ DirectoryError::MemberExists => {
                Self::new(StatusCode::CONFLICT, "memberExists", e.to_string())
            }
            e @ DirectoryError::SmsSignInNotAllowedByPolicy => Self::new(
                StatusCode::BAD_REQUEST,
                "smsSignInNotAllowedByPolicy",
                e.to_string(),
            ),
            e @ DirectoryError::LastSignInMethod => {
                Self::new(StatusCode::CONFLICT, "lastSignInMethod", e.to_string())
            }
            DirectoryError::PhoneMethod(p) => p.into(),
            DirectoryError::Policy(p) => {
                Self::new(StatusCode::BAD_REQUEST, p.code(), p.to_string())
            }
            DirectoryError::Synced(e) => {
                Self::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
            }
            DirectoryError::Pass(e) => Self::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()),
            DirectoryError::Store(s) => s.into(),
        }
    }
}

impl From<SignInFailure> for ApiError {
    fn from(e: SignInFailure) -> Self {
        match e {
            SignInFailure::SignIn(e) => e.into(),
            SignInFailure::Store(e) => e.into(),
        }
    }
}

impl From<PasswordFailure> for ApiError {
    fn from(e: PasswordFailure) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            PasswordFailure::SignIn(e) => return e.into(),
            PasswordFailure::Store(e) => return e.into(),
            PasswordFailure::NewPassword(p) => {
                let message = format!("newPassword: {p}");
                return Self::new(StatusCode::BAD_REQUEST, p.code(), message);
            }
            PasswordFailure::InvalidCredentials => (StatusCode::BAD_REQUEST, "invalidCredentials"),
            PasswordFailure::ChannelNotAllowed => (StatusCode::BAD_REQUEST, "channelNotAllowed"),
            PasswordFailure::PasswordChangeRequired => {
                (StatusCode::FORBIDDEN, "passwordChangeRequired")
            }
            PasswordFailure::SecondFactorUnavailable => {
                (StatusCode::FORBIDDEN, "secondFactorUnavailable")
            }
            PasswordFailure::UserNotFound(_) => (StatusCode::NOT_FOUND, "userNotFound"),
        };
        Self::new(status, code, message)
    }
}

impl From<PhoneMethodError> for ApiError {
    fn from(e: PhoneMethodError) -> Self {
        let status = match &e {
            PhoneMethodError::NotFound(_) => StatusCode::NOT_FOUND,
            PhoneMethodError::AlreadyExists(_)
            | PhoneMethodError::NumberNotUnique { .. }
            | PhoneMethodError::NumberUsedForSignIn { .. }
            | PhoneMethodError::NumberHeldByDeletedUser { .. }
            | PhoneMethodError::NumberShared { .. }
            | PhoneMethodError::AlternateMobileExists => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<SignInError> for ApiError {
    fn from(e: SignInError) -> Self {
        let status = match &e {
            SignInError::FlowNotFound => StatusCode::NOT_FOUND,
            SignInError::TooManyRequests { .. } | SignInError::TemporarilyLocked { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let mut api = Self::new(status, e.code(), e.to_string());
        api.retry_after = e.retry_after_seconds();
        api
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}
