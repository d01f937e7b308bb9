//! textid's persistence: small traits, one per aggregate (tenants, directory, phone
//! methods, policy, sign-in, sessions, outbox, logs, keys, clients, authorization
//! requests, tokens, roles, passes, maintenance), composed into [`Store`]. They speak in
//! domain operations (claim a number for SMS sign-in, run a sign-in step exactly once,
//! queue a message with its flow). SQLite is the embedded default; PostgreSQL is the
//! second implementation for several nodes; the shared [`conformance`] suite runs
//! unchanged against both (DESIGN.md §4).
//!
//! A backend decides nothing: it loads rows, calls the pure decision of `textid-core`
//! (`plan_phone_change`, `code_verdict`, the sign-in step passed in as a closure, the
//! audit record), and writes what it returns in the same transaction, with the
//! database's constraints as the backstop, so two concurrent requests cannot both win.

pub mod conformance;
mod deleted;
mod error;
mod listing;
mod oauth;
pub mod postgres;
mod purge;
pub mod sqlite;
mod types;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use textid_core::directory::import::ImportedUser;
use textid_core::directory::{Group, Upn, User};
use textid_core::message::QueuedMessage;
use textid_core::methods::PhoneType;
use textid_core::policy::AuthenticationMethodsPolicy;
use textid_core::tenant::Tenant;
use textid_core::{GroupId, MessageId, TenantId, UserId};

pub use error::StoreError;
pub use listing::Listing;
pub use oauth::*;
pub use textid_core::audit::{Actor, AuditRecord as AuditEntry};
pub use textid_core::methods::{PhoneMethodChange, PhoneMethodOp};
pub use textid_core::odata::schema::Cond;
pub use types::*;

/// The aggregate traits, for callers that hold a `dyn Store`: `use textid_store::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AbuseStore, AuthRequestStore, ClientStore, DeletedItemStore, DeltaStore, DirectoryStore,
        KeyStore, LogStore, MaintenanceStore, OutboxStore, PassStore, PasswordStore,
        PhoneMethodStore, PolicyStore, ProvisioningStore, RoleStore, SessionStore, SignInStore,
        Store, TenantStore, TokenStore,
    };
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Tenants: the organisations, each with its own directory, policy and logs.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// The tenant with this name, creating it (with the default policy) if missing.
    async fn ensure_tenant(&self, name: &str, now: DateTime<Utc>) -> StoreResult<Tenant>;
    /// The tenant with this name.
    async fn tenant_by_name(&self, name: &str) -> StoreResult<Option<Tenant>>;
    /// The tenant with this id.
    async fn tenant_by_id(&self, id: TenantId) -> StoreResult<Option<Tenant>>;
    /// Sets the region in which national-format numbers are parsed (`None`: international
    /// form only).
    async fn set_tenant_region(
        &self,
        tenant: TenantId,
        region: Option<&str>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Replaces the web origins whose pages may call the tenant's sign-in API (CORS),
    /// given in their serialised form; audited, and announced as [`Changed::Tenants`].
    async fn set_tenant_sign_in_origins(
        &self,
        tenant: TenantId,
        origins: &[String],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Switches refuse-shared mode (no number held by two users on any method types);
    /// audited, and announced as [`Changed::Tenants`]. Numbers already shared stay (the
    /// shared-number report lists them); only new adds and changes are refused.
    async fn set_tenant_refuse_shared_phone_numbers(
        &self,
        tenant: TenantId,
        refuse: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Switches the tenant's "require MFA" setting (every password sign-in needs a second
    /// factor, issue #15); audited, and announced as [`Changed::Tenants`].
    async fn set_tenant_require_mfa(
        &self,
        tenant: TenantId,
        require: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// Users and groups.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
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
    /// Users of the tenant that satisfy a Graph query, in its order (Graph's `$filter`,
    /// `$search`, `$orderby` and the page's keyset, checked by core).
    async fn query_users(&self, tenant: TenantId, listing: &Listing) -> StoreResult<Vec<User>>;
    /// How many users of the tenant satisfy `cond` (`$count`).
    async fn count_users(&self, tenant: TenantId, cond: Option<&Cond>) -> StoreResult<u64>;
    /// Replaces a user's profile fields; `NotFound` if missing.
    async fn update_user(&self, user: &User, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()>;
    /// Deletes a user with their methods, memberships, roles, pass and sessions; `NotFound`
    /// if missing.
    async fn delete_user(
        &self,
        tenant: TenantId,
        id: UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Imports a batch of new users with their phone methods in one transaction: loads
    /// what the tenant already holds of the batch's userPrincipalNames and numbers, asks
    /// [`textid_core::directory::import::plan_import`] (with `sms_sign_in`: whether the
    /// policy lets a new user sign in with SMS), and writes the users, their methods and
    /// the audit records one-by-one creation would have written. Returns the number of
    /// users; `StoreError::Import` with every problem, and nothing written, if refused.
    async fn import_users(
        &self,
        tenant: TenantId,
        rows: Vec<ImportedUser>,
        sms_sign_in: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<usize>;
    /// Creates a group.
    async fn create_group(
        &self,
        group: &Group,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A group by id.
    async fn group(&self, tenant: TenantId, id: GroupId) -> StoreResult<Option<Group>>;
    /// Changes a group's display name and properties (Graph's PATCH), audited as `Update
    /// group` with before and after; `NotFound("group")` if missing.
    async fn update_group(
        &self,
        group: &Group,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// All groups of the tenant, by name.
    async fn list_groups(&self, tenant: TenantId) -> StoreResult<Vec<Group>>;
    /// Groups of the tenant that satisfy a Graph query, in its order.
    async fn query_groups(&self, tenant: TenantId, listing: &Listing) -> StoreResult<Vec<Group>>;
    /// How many groups of the tenant satisfy `cond`.
    async fn count_groups(&self, tenant: TenantId, cond: Option<&Cond>) -> StoreResult<u64>;
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
    /// The user's manager (Graph's `manager`), if any.
    async fn manager(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<User>>;
    /// The users whose manager is `manager` (Graph's `directReports`), by UPN.
    async fn direct_reports(&self, tenant: TenantId, manager: UserId) -> StoreResult<Vec<User>>;
    /// Sets (`Some`) or removes the user's manager, audited (`Set user manager` /
    /// `Remove user manager`) when it changes; setting the same manager again writes
    /// nothing. `NotFound("user")` / `NotFound("manager")` when either is not a user of
    /// the tenant. (That a user is not their own manager is the use case's rule.)
    async fn set_manager(
        &self,
        tenant: TenantId,
        user: UserId,
        manager: Option<UserId>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// Soft-deleted users and groups (Entra's deleted items, issue #17). `delete_user` and
/// `delete_group` of [`DirectoryStore`] move the object here with what restore brings
/// back (a user's phone methods, memberships and SCIM attributes; a group's members); the
/// purge removes it 30 days after its deletion. A deleted user's numbers stay reserved:
/// the uniqueness rule sees them as held by a deleted user until it is purged.
#[async_trait]
pub trait DeletedItemStore: Send + Sync {
    /// Deleted users or groups of the tenant by id, after `after` (exclusive), at most
    /// `limit`.
    async fn deleted_items(
        &self,
        tenant: TenantId,
        kind: DeletedKind,
        after: Option<uuid::Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<DeletedItem>>;
    /// Deleted users or groups of the tenant that a Graph query selects
    /// (`textid_core::odata::schema::DELETED_USER` or `DELETED_GROUP`: the condition, the
    /// order then id, at most `limit`).
    async fn query_deleted(
        &self,
        tenant: TenantId,
        kind: DeletedKind,
        listing: &Listing,
    ) -> StoreResult<Vec<DeletedItem>>;
    /// How many deleted users or groups of the tenant satisfy `cond`.
    async fn count_deleted(
        &self,
        tenant: TenantId,
        kind: DeletedKind,
        cond: Option<&Cond>,
    ) -> StoreResult<u64>;
    /// A deleted user or group by id.
    async fn deleted_item(
        &self,
        tenant: TenantId,
        id: uuid::Uuid,
    ) -> StoreResult<Option<DeletedItem>>;
    /// Restores a deleted item, audited; `NotFound` if there is none with this id,
    /// `Conflict("users_upn_unique")` if another user has taken its userPrincipalName
    /// (nothing is written).
    async fn restore_deleted(
        &self,
        tenant: TenantId,
        id: uuid::Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<DeletedItem>;
    /// Deletes a deleted item for good (its numbers are free again), audited; `NotFound`
    /// if there is none with this id.
    async fn purge_deleted(
        &self,
        tenant: TenantId,
        id: uuid::Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<DeletedItem>;
}

/// Delta queries (issue #17): a per-tenant change sequence that every write of a user, a
/// group or a membership advances in its own transaction (database triggers, so no write
/// path can miss it), read back as "what changed after sequence N". Sequences become
/// visible in their order. Tombstones of purged objects and membership changes are kept 30
/// days (`MaintenanceStore::purge`).
#[async_trait]
pub trait DeltaStore: Send + Sync {
    /// The tenant's latest change sequence (0 before its first change).
    async fn directory_version(&self, tenant: TenantId) -> StoreResult<i64>;
    /// Users changed (created, updated, restored) after `since`, by id after `after`, at
    /// most `limit`.
    async fn changed_users(
        &self,
        tenant: TenantId,
        since: i64,
        after: Option<uuid::Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;
    /// Groups changed (created, updated, restored, membership changed) after `since`.
    async fn changed_groups(
        &self,
        tenant: TenantId,
        since: i64,
        after: Option<uuid::Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<Group>>;
    /// Users or groups deleted, or gone for good, after `since`, by id after `after`.
    async fn removed_objects(
        &self,
        tenant: TenantId,
        kind: DeletedKind,
        since: i64,
        after: Option<uuid::Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<Removed>>;
    /// A group's membership changes after `since`, oldest first.
    async fn member_changes(
        &self,
        tenant: TenantId,
        group: GroupId,
        since: i64,
    ) -> StoreResult<Vec<MemberChange>>;
}

/// Phone authentication methods and the uniqueness rule.
#[async_trait]
pub trait PhoneMethodStore: Send + Sync {
    /// A user's phone methods, with whether each number is shared with another user.
    async fn phone_methods(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> StoreResult<Vec<PhoneMethodRecord>>;
    /// Every number held by more than one user of the tenant (on methods of any types),
    /// with the methods that hold it, by number: one grouped read over the
    /// `(tenant_id, number)` index (the shared-number report, issue #16).
    async fn shared_numbers(&self, tenant: TenantId) -> StoreResult<Vec<SharedNumber>>;
    /// Adds, changes or deletes a phone method, or switches SMS sign-in, applying the
    /// type rules, the uniqueness rule and the tenant's refuse-shared setting atomically
    /// (`StoreError::PhoneMethod`). A change that stores a method forgets the
    /// [`SkippedCopy`] of that method, if any.
    async fn change_phone_method(
        &self,
        change: PhoneMethodChange,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Sets whether the owner must still prove the number of their method of `phone_type`
    /// (its `smsSignInState` is `notConfigured` while they must, DESIGN.md §1).
    /// `StoreError::NotFound("phone method")` when they have none.
    async fn set_needs_confirmation(
        &self,
        tenant: TenantId,
        user: UserId,
        phone_type: textid_core::methods::PhoneType,
        needs: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// What SCIM provisioning keeps of a synced user or group beyond the directory (its
/// `externalId` and the attributes with no directory column), and the audit records of
/// what a sync decided not to do (seed 003's skipped copies).
#[async_trait]
pub trait ProvisioningStore: Send + Sync {
    /// The SCIM record of a user or group of the tenant.
    async fn scim_record(
        &self,
        tenant: TenantId,
        kind: ScimKind,
        id: uuid::Uuid,
    ) -> StoreResult<Option<ScimRecord>>;
    /// Every SCIM record of that kind in the tenant, with the id of its user or group.
    async fn scim_records(
        &self,
        tenant: TenantId,
        kind: ScimKind,
    ) -> StoreResult<Vec<(uuid::Uuid, ScimRecord)>>;
    /// Writes (inserts or replaces) the SCIM record of a user or group; `NotFound` if the
    /// user or group does not exist. The record goes with its user or group.
    async fn put_scim_record(
        &self,
        tenant: TenantId,
        kind: ScimKind,
        id: uuid::Uuid,
        record: &ScimRecord,
    ) -> StoreResult<()>;
    /// Renames a group (SCIM replaces a group's `displayName`); audited as `Update group`;
    /// `NotFound` if missing.
    async fn rename_group(
        &self,
        group: &Group,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Writes an audit record of a decision that changed nothing else.
    async fn record_audit(&self, record: &AuditEntry) -> StoreResult<()>;
    /// Creates a synced user with its SCIM record and seed 003's copies in one transaction:
    /// a copy a phone rule refuses becomes a [`SkippedCopy`] (kept and audited), any other
    /// failure (a taken userPrincipalName: `Conflict("users_upn_unique")`) writes nothing.
    async fn create_synced_user(
        &self,
        new: &NewSyncedUser,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Creates a synced group with its SCIM record and members in one transaction
    /// (`NotFound("user")` for a member who is not a user of the tenant, writing nothing).
    async fn create_synced_group(
        &self,
        new: &NewSyncedGroup,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Keeps (inserts or replaces) a copy the sync skipped, audited as `Copy public phone
    /// number skipped`, in one transaction; `NotFound("user")` if the user is gone.
    async fn skip_number_copy(&self, skip: &SkippedCopy, actor: &Actor) -> StoreResult<()>;
    /// Forgets the skipped copy of a user's method of `phone_type`, if any (its public
    /// number went away). A change that stores that method forgets it too.
    async fn clear_skipped_copy(
        &self,
        tenant: TenantId,
        user: UserId,
        phone_type: textid_core::methods::PhoneType,
    ) -> StoreResult<()>;
    /// The report of skipped copies: every public number of the tenant still not copied,
    /// newest first.
    async fn skipped_number_copies(&self, tenant: TenantId) -> StoreResult<Vec<SkippedCopyRow>>;
}

/// The authentication methods policy of a tenant.
#[async_trait]
pub trait PolicyStore: Send + Sync {
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
}

/// SMS sign-in flows and their counters, stepped atomically.
#[async_trait]
pub trait SignInStore: Send + Sync {
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
    ///
    /// `abuse` says which abuse rows to load besides (the backend asks
    /// [`textid_core::abuse::reads`] which, once it knows the number) and hands to
    /// `decide` as [`StepInput::abuse`]; the [`StepWrite::abuse`] it returns (budget
    /// increments in a fixed order, pauses, the (number, client IP) counter) is written in
    /// the same transaction.
    async fn sms_sign_in_step(
        &self,
        tenant: TenantId,
        target: StepTarget,
        abuse: textid_core::abuse::AbuseQuery,
        decide: Decide,
    ) -> StoreResult<StepWrite>;
    /// A sign-in flow of the tenant (read only; steps go through `sms_sign_in_step`).
    async fn sms_flow(
        &self,
        tenant: TenantId,
        id: textid_core::FlowId,
    ) -> StoreResult<Option<textid_core::flow::SmsSignInFlow>>;
}

/// What an operator sees and clears of the abuse defences: locks, conversion-watch
/// pauses, test numbers (issue #14 §2, §3). The counters themselves are written by
/// [`SignInStore::sms_sign_in_step`].
#[async_trait]
pub trait AbuseStore: Send + Sync {
    /// Numbers locked, and (number, client IP) pairs stopped, at `now`, by number.
    async fn locks(&self, tenant: TenantId, now: DateTime<Utc>) -> StoreResult<Vec<LockRecord>>;
    /// Clears the lock and failure counts of a number (every client IP); whether anything
    /// was there to clear. A clear is audited (`Clear sign-in lock`) in the same
    /// transaction; clearing nothing writes nothing.
    async fn clear_lock(
        &self,
        tenant: TenantId,
        phone: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Adds increments to the send counters outside a sign-in step (a carrier's receipt
    /// saying a code was undelivered, for the conversion watch: `textid_core::abuse::
    /// on_undelivered`). Counters are rate bounds: on PostgreSQL they go through the
    /// node's counter writer, as a step's do.
    async fn add_counters(&self, increments: Vec<textid_core::abuse::Increment>)
        -> StoreResult<()>;
    /// Conversion-watch pauses of the tenant still running at `now`.
    async fn pauses(
        &self,
        tenant: TenantId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<textid_core::abuse::Pause>>;
    /// Ends a pause early; whether it existed. Audited (`Resume SMS sending`) in the same
    /// transaction when it did.
    async fn clear_pause(
        &self,
        tenant: TenantId,
        key: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The send-budget counters whose key starts with one of `reads.prefixes`, in buckets
    /// from `reads.since`, summed over shards (the operator's view of the budgets;
    /// `textid_core::abuse_view::usage` turns them into numbers against limits).
    async fn budget_counters(
        &self,
        reads: &textid_core::abuse_view::UsageReads,
    ) -> StoreResult<Vec<(textid_core::abuse::CounterRef, u64)>>;
    /// Adds or replaces a test number (at its `created_at`), audited (`Add test number`,
    /// never the code).
    async fn put_test_number(
        &self,
        tenant: TenantId,
        number: &TestNumber,
        actor: &Actor,
    ) -> StoreResult<()>;
    /// Removes a test number; whether it existed. Audited (`Remove test number`) when it
    /// did.
    async fn delete_test_number(
        &self,
        tenant: TenantId,
        phone: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The tenant's test numbers, by number.
    async fn test_numbers(&self, tenant: TenantId) -> StoreResult<Vec<TestNumber>>;
}

/// Sessions created by sign-ins, of two kinds that never stand in for each other (API
/// sessions and browser SSO sessions), and their revocation.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// A live session of this kind by the keyed hash of its token. A token of the other
    /// kind, a revoked or an ended one is `None`, exactly as an unknown one.
    async fn session_by_token_hash(
        &self,
        kind: textid_core::session::SessionKind,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionRecord>>;
    /// Revokes a session (sign-out) and the access tokens bound to it
    /// ([`TokenStore::record_access_token`]); idempotent.
    async fn revoke_session(
        &self,
        id: textid_core::SessionId,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Ends every session of a user (both kinds) and revokes every code, refresh-token and
    /// access-token family issued to them, in one transaction, audited as `Revoke sign-in
    /// sessions` (Graph's `revokeSignInSessions`); `NotFound("user")` if missing. The
    /// same revocation runs inside phone method, user and pass changes when
    /// `textid_core::session` says the change revokes.
    async fn revoke_user_sessions(
        &self,
        tenant: TenantId,
        user: UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// [`SessionStore::revoke_user_sessions`], sparing the session `keep`: the one the
    /// user made a change of their security info in (their other sessions end, this one
    /// stays; the token families are revoked all the same). `NotFound("user")` if missing.
    async fn revoke_other_sessions(
        &self,
        tenant: TenantId,
        user: UserId,
        keep: textid_core::SessionId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// The durable outbox of messages to deliver.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` due messages and leases them until `lease_until`; a crashed
    /// worker's lease runs out and the message is claimed again.
    async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<QueuedMessage>>;
    /// Records the outcomes of delivery tries, all at once (a worker finishes the
    /// deliveries that completed together in one write).
    async fn finish_messages(
        &self,
        outcomes: &[(MessageId, DeliveryOutcome)],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Records the outcome of one delivery try.
    async fn finish_message(
        &self,
        id: MessageId,
        outcome: DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.finish_messages(&[(id, outcome)], now).await
    }
    /// Extends the lease of messages this worker still delivers (a heartbeat: the lease
    /// stays short, so a crashed worker's messages are claimed again soon).
    async fn renew_lease(&self, ids: &[MessageId], lease_until: DateTime<Utc>) -> StoreResult<()>;
    /// Records a carrier's delivery receipt on the message that `receipt.provider` accepted
    /// as `receipt.provider_message_id` (the latest receipt wins). Returns the message, or
    /// `None` when no message has that id or it already has this receipt status (a carrier
    /// repeating its callback changes nothing and counts once).
    async fn record_receipt(
        &self,
        receipt: &ReceiptUpdate,
    ) -> StoreResult<Option<ReceiptedMessage>>;
    /// Outbox entries of a tenant, newest first (no bodies).
    async fn list_messages(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<MessageRecord>>;
    /// How many messages wait (queued, whether due, leased or waiting for a retry) across
    /// every tenant, and when the oldest of them was queued: the outbox metrics.
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;
}

/// Sign-in logs and directory audits.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Sign-in log entries in the query's time range, optionally of one user, newest first.
    async fn sign_in_logs(
        &self,
        tenant: TenantId,
        query: &LogQuery<UserId>,
    ) -> StoreResult<Vec<SignInLogEntry>>;
    /// Sign-in log entries that a Graph query on `auditLogs/signIns` selects
    /// (`textid_core::odata::schema::SIGN_IN`: the condition, the order by
    /// `createdDateTime` then id, at most `limit`).
    async fn query_sign_ins(
        &self,
        tenant: TenantId,
        listing: &Listing,
    ) -> StoreResult<Vec<SignInLogEntry>>;
    /// Directory audits in the query's time range, optionally about one target or by one
    /// actor (by id), newest first.
    async fn directory_audits(
        &self,
        tenant: TenantId,
        query: &LogQuery<String>,
    ) -> StoreResult<Vec<AuditEntry>>;
}

/// Signing keys of the OpenID Connect provider, sealed.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every signing key, newest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Adds a signing key and retires the active key of its algorithm (which stays
    /// published); keys of other algorithms stay active.
    async fn add_signing_key(&self, key: &SigningKeyRecord, now: DateTime<Utc>) -> StoreResult<()>;
}

/// Registered OAuth clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Registers a client; `Conflict("oauth_clients")` if the id is taken.
    async fn create_client(&self, client: &ClientRecord, now: DateTime<Utc>) -> StoreResult<()>;
    /// Replaces a client's registration (document, secret hashes), audited with
    /// `activity` and the documents before and after (never a secret hash); `NotFound` if
    /// missing.
    async fn update_client(
        &self,
        client: &ClientRecord,
        activity: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Deletes a client and revokes every code and refresh-token family issued to it, in
    /// one transaction, audited as `Delete application`; `NotFound` if missing.
    async fn delete_client(
        &self,
        tenant: TenantId,
        client_id: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A client.
    async fn client(&self, tenant: TenantId, client_id: &str) -> StoreResult<Option<ClientRecord>>;
    /// All clients of a tenant.
    async fn list_clients(&self, tenant: TenantId) -> StoreResult<Vec<ClientRecord>>;
}

/// Pending authorization requests of the OpenID Connect provider.
#[async_trait]
pub trait AuthRequestStore: Send + Sync {
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
}

/// Authorization codes, refresh tokens and issued access tokens, used once.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores an authorization code (by keyed hash) carrying `grant`.
    async fn insert_code(
        &self,
        code_hash: &[u8],
        grant: &GrantRecord,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Redeems a code of `client_id` exactly once; a second redemption revokes the code's
    /// family. A code presented by another client is `Invalid` and stays unused. A code
    /// whose browser session is no longer live at `now` (revoked, expired, gone) is
    /// `SessionEnded` and spent, decided in the redemption's transaction.
    ///
    /// On a first redemption, the access token that `admit` returns for its grant is
    /// recorded in the same transaction (as [`TokenStore::record_access_token`] would,
    /// bound to its session and family).
    async fn redeem_code(
        &self,
        code_hash: &[u8],
        client_id: &str,
        now: DateTime<Utc>,
        admit: Admit,
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
    /// Records an issued access token (so that its family can be revoked), bound to the
    /// browser session it was issued in if `session` is given (then [`SessionStore::revoke_session`]
    /// revokes it); `Conflict("family_revoked")` if its family was revoked meanwhile,
    /// `Conflict("session_revoked")` if that session was revoked meanwhile.
    async fn record_access_token(
        &self,
        jti: &str,
        family_id: &str,
        user: Option<UserId>,
        session: Option<textid_core::SessionId>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Revokes one access token.
    async fn revoke_access_token(&self, jti: &str, expires_at: DateTime<Utc>) -> StoreResult<()>;
    /// Whether an access token was revoked (directly or with its family).
    async fn access_token_revoked(&self, jti: &str) -> StoreResult<bool>;
}

/// Directory roles of people.
#[async_trait]
pub trait RoleStore: Send + Sync {
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
}

/// Temporary Access Passes.
#[async_trait]
pub trait PassStore: Send + Sync {
    /// Stores a Temporary Access Pass, replacing the user's previous one.
    async fn put_tap(&self, tap: &TapRecord, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()>;
    /// The user's Temporary Access Pass.
    async fn tap(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<TapRecord>>;
    /// Signs in with a pass: loads the user's pass, asks [`textid_core::tap::redeem`]
    /// whether `pass_hash` (the keyed hash of what was presented) opens it at `now`, and
    /// marks a one-time pass used in the same transaction, so that of concurrent
    /// redemptions of a one-time pass exactly one wins. `None`: refused (no pass, wrong,
    /// not yet valid, expired, used). The answer is the pass as it was before.
    async fn redeem_tap(
        &self,
        tenant: TenantId,
        user: UserId,
        pass_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(TapRecord, textid_core::tap::Redeemed)>>;
    /// Deletes the user's pass with this id; false if none.
    async fn delete_tap(
        &self,
        tenant: TenantId,
        user: UserId,
        id: uuid::Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
}

/// Users' passwords (issue #15): argon2id PHC strings, read only by the password check.
#[async_trait]
pub trait PasswordStore: Send + Sync {
    /// Sets (or, with `hash: None`, removes) a user's password and whether they must
    /// change it at their next sign-in; audited (`AuditEntry::password`, never the hash)
    /// and, as `textid_core::session::PASSWORD_CHANGE_REVOKES` says, ending every session
    /// and token family of the user, in one transaction. `NotFound("user")` if missing.
    async fn set_password(
        &self,
        tenant: TenantId,
        user: UserId,
        update: &PasswordUpdate,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// What a password sign-in needs of the user with this userPrincipalName, in one read:
    /// the hash, the account state, the groups (for the policy) and the mobile method.
    async fn password_account(
        &self,
        tenant: TenantId,
        upn: &Upn,
    ) -> StoreResult<Option<PasswordAccount>>;
}

/// Housekeeping.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Deletes what ended before `before`: flows started, counters whose window and lock
    /// ended (and that count no failures), finished messages, ended sessions, expired
    /// authorization requests, authorization codes, refresh tokens and access-token
    /// records, revoked token families none of whose tokens is left, deleted users and
    /// groups whose 30 days to be restored ended before `before`, and the delta
    /// tombstones and membership changes older than 30 days. Never the live
    /// directory, the logs or queued messages. Returns how many rows went. (The list is
    /// `purge::ENDED`, shared by both backends.)
    async fn purge(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Deletes the sign-in logs and directory audits written before `before` (the
    /// retention). Returns how many rows went.
    async fn purge_logs(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Answers when the database can serve a write transaction now (readiness).
    async fn ping(&self) -> StoreResult<()>;
    /// The database's own clock, where several nodes share the database (so that every
    /// expiry is decided on one time source); `None` for an embedded database.
    async fn database_time(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Notifications of changes that cached values depend on, from this node and from
    /// every other node on the same database.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Changed>;
    /// Write transactions this process committed so far, where the backend counts them
    /// itself (SQLite: one per group commit); `None` where the database server does
    /// (PostgreSQL's `pg_stat_database.xact_commit`).
    fn commits(&self) -> Option<u64> {
        None
    }
}

/// Every persistence operation of textid: one trait per aggregate, composed. A backend
/// implements each of them (one file each); callers hold `Arc<dyn Store>`.
pub trait Store:
    TenantStore
    + AbuseStore
    + DirectoryStore
    + DeletedItemStore
    + DeltaStore
    + PhoneMethodStore
    + PolicyStore
    + ProvisioningStore
    + SignInStore
    + SessionStore
    + OutboxStore
    + LogStore
    + KeyStore
    + ClientStore
    + AuthRequestStore
    + TokenStore
    + RoleStore
    + PassStore
    + PasswordStore
    + MaintenanceStore
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: TenantStore
        + AbuseStore
        + DirectoryStore
        + DeletedItemStore
        + DeltaStore
        + PhoneMethodStore
        + PolicyStore
        + ProvisioningStore
        + SignInStore
        + SessionStore
        + OutboxStore
        + LogStore
        + KeyStore
        + ClientStore
        + AuthRequestStore
        + TokenStore
        + RoleStore
        + PassStore
        + PasswordStore
        + MaintenanceStore
        + std::fmt::Debug
{
}

/// A cached value that changed somewhere (this node, another node, the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// A tenant's settings (e.g. its default region).
    Tenants,
    /// The signing keys (a rotation).
    SigningKeys,
    /// The change feed lost notifications (e.g. a reconnect): drop every cache.
    Everything,
}

impl Changed {
    /// The stored/notified name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenants => "tenants",
            Self::SigningKeys => "signingKeys",
            Self::Everything => "everything",
        }
    }

    /// From the stored/notified name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Tenants, Self::SigningKeys, Self::Everything]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// A time-ranged query of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery<K> {
    /// From (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// To (inclusive).
    pub to: Option<DateTime<Utc>>,
    /// Only entries about this key.
    pub about: Option<K>,
    /// At most this many.
    pub limit: u32,
}

impl<K> LogQuery<K> {
    /// The newest `limit` entries.
    pub fn latest(limit: u32) -> Self {
        Self {
            from: None,
            to: None,
            about: None,
            limit,
        }
    }
}

/// The sign-in decision a backend runs inside its transaction. `Fn`, not `FnOnce`: a
/// backend may run the whole transaction again after a serialization failure or a lost
/// connection, and the decision is then taken again on the rows read by the new try.
pub type Decide = Box<dyn Fn(StepInput<'_>) -> StepWrite + Send + Sync>;

/// Whether a phone type string is stored correctly. Exposed for backends.
pub fn phone_type_from_stored(s: &str) -> StoreResult<PhoneType> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("phone_type {s}")))
}
