//! textid's persistence: one [`Store`] interface that speaks in domain operations (claim a
//! number for SMS sign-in, run a sign-in step exactly once, queue a message with its flow),
//! and its backends. SQLite is the embedded default; PostgreSQL is a second implementation
//! of the same trait, kept honest by the shared [`conformance`] suite (DESIGN.md §4).
//!
//! Rules that need the database to be atomic take the domain decision as a closure and
//! run it inside the backend's write transaction on freshly read rows: the decision stays
//! a pure function in `textid-core`, the backend guarantees that two concurrent requests
//! cannot both win.

pub mod conformance;
mod error;
mod oauth;
pub mod sqlite;
mod types;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use textid_core::directory::{Group, Upn, User};
use textid_core::message::QueuedMessage;
use textid_core::methods::PhoneType;
use textid_core::policy::AuthenticationMethodsPolicy;
use textid_core::tenant::Tenant;
use textid_core::{GroupId, MessageId, TenantId, UserId};

pub use error::StoreError;
pub use oauth::*;
pub use types::*;

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Every persistence operation of textid. Implemented by each backend.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    // --- tenants ---

    /// The tenant with this name, creating it (with the default policy) if missing.
    async fn ensure_tenant(&self, name: &str, now: DateTime<Utc>) -> StoreResult<Tenant>;
    /// Sets the region in which national-format numbers are parsed (`None`: international
    /// form only).
    async fn set_tenant_region(
        &self,
        tenant: TenantId,
        region: Option<&str>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The tenant with this name.
    async fn tenant_by_name(&self, name: &str) -> StoreResult<Option<Tenant>>;

    // --- users and groups ---

    /// Creates a user; `Conflict("users_upn_unique")` if the UPN is taken.
    async fn create_user(&self, user: &User, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()>;
    /// A user by id.
    async fn user(&self, tenant: TenantId, id: UserId) -> StoreResult<Option<User>>;
    /// A user by userPrincipalName.
    async fn user_by_upn(&self, tenant: TenantId, upn: &Upn) -> StoreResult<Option<User>>;
    /// Users ordered by UPN, after `after` (exclusive), at most `limit`.
    async fn list_users(
        &self,
        tenant: TenantId,
        after: Option<&Upn>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;
    /// Replaces a user's profile fields; `NotFound` if missing.
    async fn update_user(&self, user: &User, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()>;
    /// Deletes a user with their methods, memberships and sessions.
    async fn delete_user(
        &self,
        tenant: TenantId,
        id: UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Creates a group.
    async fn create_group(
        &self,
        group: &Group,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A group by id.
    async fn group(&self, tenant: TenantId, id: GroupId) -> StoreResult<Option<Group>>;
    /// All groups of the tenant, by name.
    async fn list_groups(&self, tenant: TenantId) -> StoreResult<Vec<Group>>;
    /// Deletes a group and its memberships.
    async fn delete_group(
        &self,
        tenant: TenantId,
        id: GroupId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Adds a member; `Conflict("group_members")` if already one.
    async fn add_member(
        &self,
        tenant: TenantId,
        group: GroupId,
        user: UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Removes a member; `NotFound` if not one.
    async fn remove_member(
        &self,
        tenant: TenantId,
        group: GroupId,
        user: UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Members of a group.
    async fn members(&self, tenant: TenantId, group: GroupId) -> StoreResult<Vec<User>>;
    /// The groups a user belongs to.
    async fn groups_of(&self, tenant: TenantId, user: UserId) -> StoreResult<Vec<GroupId>>;

    // --- phone methods ---

    /// A user's phone methods, with whether each number is shared with another user.
    async fn phone_methods(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> StoreResult<Vec<PhoneMethodRecord>>;
    /// Adds, changes or deletes a phone method, or switches SMS sign-in, applying the
    /// type rules and the uniqueness rule atomically (`StoreError::PhoneMethod`).
    async fn change_phone_method(
        &self,
        change: PhoneMethodChange,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    // --- policy ---

    /// The tenant's authentication methods policy.
    async fn policy(&self, tenant: TenantId) -> StoreResult<AuthenticationMethodsPolicy>;
    /// Replaces the policy.
    async fn put_policy(
        &self,
        tenant: TenantId,
        policy: &AuthenticationMethodsPolicy,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    // --- SMS sign-in ---

    /// The user (if any) whose mobile `phone` (E.164) is switched on for SMS sign-in, with
    /// what the server needs to decide whether they are `ready`.
    async fn sign_in_candidate(
        &self,
        tenant: TenantId,
        phone: &str,
    ) -> StoreResult<Option<SignInCandidate>>;
    /// Runs one step of an SMS sign-in flow atomically: loads the flow (for
    /// [`StepTarget::Flow`]) and the number's counters, calls `decide`, and writes what it
    /// returns (flow, counters, message, session, log) in one transaction.
    async fn sms_sign_in_step(
        &self,
        tenant: TenantId,
        target: StepTarget,
        decide: Decide,
    ) -> StoreResult<StepWrite>;
    /// A sign-in flow of the tenant (read only; steps go through `sms_sign_in_step`).
    async fn sms_flow(
        &self,
        tenant: TenantId,
        id: textid_core::FlowId,
    ) -> StoreResult<Option<textid_core::flow::SmsSignInFlow>>;
    /// A session by the keyed hash of its token.
    async fn session_by_token_hash(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionRecord>>;

    // --- outbox ---

    /// Claims up to `limit` due messages and leases them until `lease_until`; a crashed
    /// worker's lease runs out and the message is claimed again.
    async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<QueuedMessage>>;
    /// Records the outcome of a delivery try.
    async fn finish_message(
        &self,
        id: MessageId,
        outcome: DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Outbox entries of a tenant, newest first (no bodies).
    async fn list_messages(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<MessageRecord>>;

    // --- logs ---

    /// Sign-in log entries, newest first.
    async fn sign_in_logs(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<SignInLogEntry>>;
    /// Directory audit entries, newest first.
    async fn directory_audits(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<AuditEntry>>;

    // --- OpenID Connect ---

    /// Every signing key, newest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Adds a signing key and retires the others that are still active.
    async fn add_signing_key(&self, key: &SigningKeyRecord, now: DateTime<Utc>) -> StoreResult<()>;
    /// Registers a client; `Conflict("oauth_clients")` if the id is taken.
    async fn create_client(&self, client: &ClientRecord, now: DateTime<Utc>) -> StoreResult<()>;
    /// Replaces a client's registration.
    async fn update_client(&self, client: &ClientRecord) -> StoreResult<()>;
    /// A client.
    async fn client(&self, tenant: TenantId, client_id: &str) -> StoreResult<Option<ClientRecord>>;
    /// All clients of a tenant.
    async fn list_clients(&self, tenant: TenantId) -> StoreResult<Vec<ClientRecord>>;
    /// Stores a validated authorization request until `expires_at`.
    async fn put_auth_request(
        &self,
        id: &str,
        tenant: TenantId,
        document: &serde_json::Value,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A live authorization request and the sign-in flow attached to it.
    async fn auth_request(
        &self,
        id: &str,
        tenant: TenantId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(serde_json::Value, Option<textid_core::FlowId>)>>;
    /// Attaches a sign-in flow to an authorization request.
    async fn set_auth_request_flow(
        &self,
        id: &str,
        flow: Option<textid_core::FlowId>,
    ) -> StoreResult<()>;
    /// Ends an authorization request.
    async fn delete_auth_request(&self, id: &str) -> StoreResult<()>;
    /// Stores an authorization code (by keyed hash) carrying `grant`.
    async fn insert_code(
        &self,
        code_hash: &[u8],
        grant: &GrantRecord,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Redeems a code of `client_id` exactly once; a second redemption revokes the code's
    /// family. A code presented by another client is `Invalid` and stays unused.
    async fn redeem_code(
        &self,
        code_hash: &[u8],
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Redemption>;
    /// Stores a refresh token (by keyed hash); `Conflict("family_revoked")` if its family
    /// was revoked meanwhile.
    async fn insert_refresh_token(
        &self,
        token_hash: &[u8],
        grant: &GrantRecord,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Uses a refresh token of `client_id` exactly once (rotation); a reused one revokes its
    /// family. A token presented by another client is `Invalid` and stays unused.
    async fn use_refresh_token(
        &self,
        token_hash: &[u8],
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Redemption>;
    /// The client a refresh token was issued to, if it exists.
    async fn refresh_token_client(&self, token_hash: &[u8]) -> StoreResult<Option<String>>;
    /// Revokes a refresh token's whole family (RFC 7009); false if unknown.
    async fn revoke_refresh_token(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Records an issued access token (so that its family can be revoked);
    /// `Conflict("family_revoked")` if its family was revoked meanwhile.
    async fn record_access_token(
        &self,
        jti: &str,
        family_id: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Revokes one access token.
    async fn revoke_access_token(&self, jti: &str, expires_at: DateTime<Utc>) -> StoreResult<()>;
    /// Whether an access token was revoked (directly or with its family).
    async fn access_token_revoked(&self, jti: &str) -> StoreResult<bool>;
    /// Revokes a session (sign-out).
    async fn revoke_session(
        &self,
        id: textid_core::SessionId,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    // --- admin API ---

    /// Directory roles of a user.
    async fn user_roles(&self, tenant: TenantId, user: UserId) -> StoreResult<Vec<String>>;
    /// Assigns or removes a directory role.
    async fn set_user_role(
        &self,
        tenant: TenantId,
        user: UserId,
        role: &str,
        assigned: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Stores a Temporary Access Pass, replacing the user's previous one.
    async fn put_tap(&self, tap: &TapRecord, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()>;
    /// The user's Temporary Access Pass.
    async fn tap(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<TapRecord>>;
    /// Deletes the user's pass with this id; false if none.
    async fn delete_tap(
        &self,
        tenant: TenantId,
        user: UserId,
        id: uuid::Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Sign-in log entries between `from` and `to`, optionally of one user, newest first.
    async fn sign_in_logs_between(
        &self,
        tenant: TenantId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        user: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<SignInLogEntry>>;
    /// Directory audits between `from` and `to`, optionally about one target, newest first.
    async fn directory_audits_between(
        &self,
        tenant: TenantId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        target: Option<String>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// All tenants.
    async fn tenant_by_id(&self, id: TenantId) -> StoreResult<Option<Tenant>>;

    // --- maintenance ---

    /// Deletes flows, counters and finished messages older than `before`.
    async fn purge(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// The sign-in decision a backend runs inside its transaction.
pub type Decide = Box<dyn FnOnce(StepInput<'_>) -> StepWrite + Send>;

/// Whether a phone type string is stored correctly. Exposed for backends.
pub fn phone_type_from_stored(s: &str) -> StoreResult<PhoneType> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("phone_type {s}")))
}
