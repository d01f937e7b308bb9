//! Values of the OpenID Connect part of the store. Registrations, requests and grants are
//! stored as JSON documents: their shape belongs to the server, the store keeps them
//! whole and enforces the single-use and rotation rules around them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use textid_core::TenantId;

/// A sealed signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id.
    pub kid: String,
    /// JOSE algorithm.
    pub alg: String,
    /// The private key sealed with the key-encryption key.
    pub sealed: Vec<u8>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stopped signing (still published for verification).
    pub retired_at: Option<DateTime<Utc>>,
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The client id.
    pub client_id: String,
    /// The registration (server-defined JSON).
    pub document: serde_json::Value,
    /// Stored hash of the secret (confidential clients).
    pub secret_hash: Option<String>,
    /// Stored hash of the secret before the last rotation, still accepted until
    /// `previous_secret_expires_at` (the overlap in which deployed apps switch).
    pub previous_secret_hash: Option<String>,
    /// When the previous secret stops working.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

/// An access token recorded with a code's first redemption, in its transaction (so that
/// the token request waits for one commit, not two): see [`crate::TokenStore::redeem_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    /// The token's `jti`.
    pub jti: String,
    /// Its user.
    pub user: Option<textid_core::UserId>,
    /// The browser session it is bound to (revoked with it), if any.
    pub session: Option<textid_core::SessionId>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// Decides, from the grant of a code's first redemption, the access token to record with
/// it (`None`: the grant is not admitted, e.g. a PKCE verifier that does not match, and
/// nothing is recorded; the code is spent all the same). Called at most once per attempt
/// of the redemption's transaction.
pub type Admit = Box<dyn Fn(&GrantRecord) -> Option<AccessTokenRecord> + Send + Sync>;

/// A grant carried by a code or a refresh token (server-defined JSON), with its family:
/// every token issued from one authorization code shares the family id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// The family.
    pub family_id: String,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The client.
    pub client_id: String,
    /// The user the grant is for (so that every family of a user can be revoked when
    /// what proved them changes); `None` in grants stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<textid_core::UserId>,
    /// The browser session that authorised an authorization code, if one did: the code is
    /// stored only while that session is live, checked in the insert's own transaction,
    /// so a code issued at the instant the user's sessions are revoked is either refused
    /// or revoked with them (issue #14 §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<textid_core::SessionId>,
    /// The grant.
    pub document: serde_json::Value,
}

/// The outcome of redeeming a code or rotating a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Redemption {
    /// First use: here is the grant.
    Redeemed(GrantRecord),
    /// Already used: every token of its family has been revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
    /// A code whose browser session has ended (signed out, revoked, expired) since it
    /// was issued: refused and spent (issue #19).
    SessionEnded,
}

/// A stored Temporary Access Pass (the pass itself only as a keyed hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapRecord {
    /// Its id.
    pub id: uuid::Uuid,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The user.
    pub user_id: textid_core::UserId,
    /// Keyed hash of the pass.
    pub pass_hash: Vec<u8>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Usable from.
    pub start_at: DateTime<Utc>,
    /// Minutes from `start_at`.
    pub lifetime_minutes: u32,
    /// One-time.
    pub is_usable_once: bool,
    /// When it was used (one-time passes).
    pub used_at: Option<DateTime<Utc>>,
}

impl TapRecord {
    /// Whether the pass works at `now`, in Entra's words.
    pub fn usability(&self, now: DateTime<Utc>) -> textid_core::tap::Usability {
        textid_core::tap::Usability::of(
            self.start_at,
            self.lifetime_minutes,
            self.is_usable_once,
            self.used_at,
            now,
        )
    }
}
