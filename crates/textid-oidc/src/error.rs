//! OAuth 2.0 error responses (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, OIDC Core §3.1.2.6):
//! a registered error code and a human description, with the HTTP status of a direct
//! (token, revocation, userinfo) response. Authorization-endpoint errors travel in the
//! redirect instead, where the status does not apply.

use std::fmt;

use serde::Serialize;

use crate::client_auth::BasicAuthError;
use crate::pkce::PkceError;

/// The `error` code of an OAuth error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Missing, repeated or malformed parameter.
    InvalidRequest,
    /// Client authentication failed (unknown client, wrong secret, wrong method).
    InvalidClient,
    /// Authorization code or refresh token invalid, expired, revoked, used, or issued to
    /// another client or redirect URI.
    InvalidGrant,
    /// The client may not use this grant type or response type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The requested scope is invalid or exceeds what was granted.
    InvalidScope,
    /// The user or the server refused the request.
    AccessDenied,
    /// The response type is not supported.
    UnsupportedResponseType,
    /// `prompt=none` but the user must sign in (OIDC Core §3.1.2.6).
    LoginRequired,
    /// An unexpected condition on the server.
    ServerError,
    /// The server is temporarily unable to handle the request (RFC 6749 §4.1.2.1).
    TemporarilyUnavailable,
    /// The bearer access token is missing, expired or invalid (RFC 6750 §3.1; userinfo).
    InvalidToken,
    /// The token type in a revocation request is not supported (RFC 7009 §2.2.1).
    UnsupportedTokenType,
}

impl ErrorCode {
    /// The registered code, e.g. `invalid_grant`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
        }
    }

    /// The status of a direct response: 401 for `invalid_client` (RFC 6749 §5.2; the server
    /// adds `WWW-Authenticate` when the client used a header) and `invalid_token`
    /// (RFC 6750 §3.1), 500 for `server_error`, 503 for `temporarily_unavailable`, 400
    /// otherwise.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error response. Serialises as `{"error": ..., "error_description": ...}`
/// (RFC 6749 §5.2); the description is for the developer, never a secret or a stack trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error}: {error_description}")]
pub struct OAuthError {
    /// The code.
    pub error: ErrorCode,
    /// A human-readable description (ASCII, RFC 6749 §5.2).
    pub error_description: String,
}

impl OAuthError {
    /// An error with a code and description.
    pub fn new(error: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: description.into(),
        }
    }

    /// `invalid_request` with a description naming the parameter.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `server_error`, with a description that says nothing of the cause (log that instead).
    pub fn server_error() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server could not handle the request",
        )
    }

    /// The HTTP status of a direct response, see [`ErrorCode::http_status`].
    pub fn http_status(&self) -> u16 {
        self.error.http_status()
    }
}

impl From<PkceError> for OAuthError {
    fn from(e: PkceError) -> Self {
        Self::invalid_request(e.to_string())
    }
}

impl From<BasicAuthError> for OAuthError {
    fn from(e: BasicAuthError) -> Self {
        Self::invalid_client(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: [ErrorCode; 13] = [
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidClient,
        ErrorCode::InvalidGrant,
        ErrorCode::UnauthorizedClient,
        ErrorCode::UnsupportedGrantType,
        ErrorCode::InvalidScope,
        ErrorCode::AccessDenied,
        ErrorCode::UnsupportedResponseType,
        ErrorCode::LoginRequired,
        ErrorCode::ServerError,
        ErrorCode::TemporarilyUnavailable,
        ErrorCode::InvalidToken,
        ErrorCode::UnsupportedTokenType,
    ];

    #[test]
    fn codes_serialise_as_their_registered_names() {
        for code in ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        assert_eq!(
            ErrorCode::UnsupportedGrantType.as_str(),
            "unsupported_grant_type"
        );
        assert_eq!(ErrorCode::LoginRequired.to_string(), "login_required");
    }

    #[test]
    fn statuses_are_400_except_client_token_and_server_failures() {
        for code in ALL {
            let want = match code {
                ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
                ErrorCode::ServerError => 500,
                ErrorCode::TemporarilyUnavailable => 503,
                _ => 400,
            };
            assert_eq!(code.http_status(), want, "{code}");
        }
    }

    #[test]
    fn body_has_error_and_error_description() {
        let e = OAuthError::invalid_grant("authorization code already used");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"error": "invalid_grant", "error_description": "authorization code already used"})
        );
        assert_eq!(e.http_status(), 400);
    }

    #[test]
    fn pkce_and_basic_auth_errors_map_to_their_codes() {
        let pkce: OAuthError = PkceError::PlainNotAllowed.into();
        assert_eq!(pkce.error, ErrorCode::InvalidRequest);
        assert!(pkce.error_description.contains("plain"));
        let basic: OAuthError = BasicAuthError::MissingColon.into();
        assert_eq!(basic.error, ErrorCode::InvalidClient);
        assert_eq!(basic.http_status(), 401);
    }
}
