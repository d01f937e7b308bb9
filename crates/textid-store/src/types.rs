//! Values that cross the [`crate::Store`] interface. Rows are private to each backend.

use chrono::{DateTime, Utc};
use serde::Serialize;
use textid_core::code::Digest;
use textid_core::flow::sms_sign_in::SignInError;
use textid_core::flow::{PhoneCounter, SmsSignInFlow};
use textid_core::message::NewMessage;
use textid_core::methods::PhoneMethod;
use textid_core::session::SessionKind;
use textid_core::{FlowId, GroupId, MessageId, SessionId, TenantId, UserId};

/// A stored phone method and whether its number is also on another user's method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneMethodRecord {
    /// The method.
    pub method: PhoneMethod,
    /// Another user in the tenant has the same number.
    pub number_shared: bool,
    /// The owner must still prove the number.
    pub needs_confirmation: bool,
}

/// One phone method holding a number that more than one user holds (the shared-number
/// report), with what its `smsSignInState` depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedNumberHolder {
    /// The method (its number with the method's own extension, if any).
    pub method: PhoneMethod,
    /// The holder's userPrincipalName.
    pub upn: textid_core::directory::Upn,
    /// The holder's display name.
    pub display_name: String,
    /// Whether the holder's account is enabled.
    pub account_enabled: bool,
    /// The holder's groups (for the policy).
    pub groups: Vec<GroupId>,
    /// The holder must still prove the number.
    pub needs_confirmation: bool,
}

/// A number (E.164, without extension) held by more than one user of a tenant, with every
/// method that holds it, by userPrincipalName then phone type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedNumber {
    /// The number, E.164.
    pub e164: String,
    /// Its methods.
    pub holders: Vec<SharedNumberHolder>,
}

/// Groups report rows (already ordered by number) into [`SharedNumber`]s; a backend
/// gives `(e164, holder)` pairs.
pub fn group_shared_numbers(rows: Vec<(String, SharedNumberHolder)>) -> Vec<SharedNumber> {
    let mut out: Vec<SharedNumber> = Vec::new();
    for (e164, holder) in rows {
        match out.last_mut() {
            Some(last) if last.e164 == e164 => last.holders.push(holder),
            _ => out.push(SharedNumber {
                e164,
                holders: vec![holder],
            }),
        }
    }
    for n in &mut out {
        n.holders.sort_by(|a, b| {
            (a.upn.as_str(), a.method.phone_type).cmp(&(b.upn.as_str(), b.method.phone_type))
        });
    }
    out
}

/// What the server needs to decide whether a number's owner is `ready`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInCandidate {
    /// The owner.
    pub user_id: UserId,
    /// Whether the account may sign in.
    pub account_enabled: bool,
    /// Their groups (for the policy).
    pub groups: Vec<GroupId>,
    /// Another user has the same number.
    pub number_shared: bool,
    /// The owner must still prove the number.
    pub needs_confirmation: bool,
}

/// A user holding a number on a method that makes them no sign-in candidate (an
/// `alternateMobile` or `office`, a mobile not switched on for SMS sign-in): read by a
/// step only when the number has no candidate, so that the sign-in log can say why no
/// code was sent (issue #16) while the caller's answer stays the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberHolding {
    /// The holder (a mobile first, then by id).
    pub user_id: UserId,
    /// The method's type.
    pub phone_type: textid_core::methods::PhoneType,
    /// Whether the holder's account is enabled.
    pub account_enabled: bool,
    /// Another user holds the number too.
    pub number_shared: bool,
}

/// What a sign-in step works on.
#[derive(Debug, Clone)]
pub enum StepTarget {
    /// A new flow for this number (E.164).
    Number(String),
    /// An existing flow.
    Flow(FlowId),
}

/// What a step's decision sees: fresh rows, read in the write transaction.
#[derive(Debug)]
pub struct StepInput<'a> {
    /// The flow, if the target was a flow of this tenant that exists.
    pub flow: Option<&'a SmsSignInFlow>,
    /// The number's counters (default when none are stored); `None` without a number.
    pub counter: Option<&'a PhoneCounter>,
    /// Who, if anyone, has the number switched on for SMS sign-in now (read in the same
    /// transaction, so a user disabled or a number removed mid-flow is seen).
    pub candidate: Option<&'a SignInCandidate>,
    /// Without a candidate: who else holds the number, if anyone (for the sign-in log).
    pub holding: Option<&'a NumberHolding>,
    /// The tenant's policy, read in the same transaction.
    pub policy: &'a textid_core::policy::AuthenticationMethodsPolicy,
    /// The abuse counters the step's [`AbuseQuery`](textid_core::abuse::AbuseQuery) asked
    /// for (send budgets, pauses, the (number, client IP) counter, a test code).
    pub abuse: &'a textid_core::abuse::AbuseState,
}

/// What a step writes, and its outcome for the caller.
#[derive(Debug)]
#[must_use]
pub struct StepWrite {
    /// When the step happened.
    pub at: DateTime<Utc>,
    /// The outcome to answer with.
    pub outcome: Result<StepOutcome, SignInError>,
    /// The flow to insert or update.
    pub flow: Option<SmsSignInFlow>,
    /// The counters to save.
    pub counter: Option<PhoneCounter>,
    /// A message to queue.
    pub message: Option<NewMessage>,
    /// Fail the messages still queued for this flow: they carry a code that the step
    /// replaced or a flow that the step finished (decided by the step, not the backend).
    pub supersede_queued: bool,
    /// A session to create.
    pub session: Option<NewSession>,
    /// The sign-in log entry.
    pub log: Option<SignInLogEntry>,
    /// Budget increments, pauses and the (number, client IP) counter to write.
    pub abuse: textid_core::abuse::AbuseWrite,
    /// An OpenID Connect authorization request (its id) to point at the written flow, in
    /// the step's transaction (the phone page's step: one commit, not two). Nothing is
    /// linked without a flow; a request that is gone links nothing.
    pub link_request: Option<String>,
}

/// The successful outcome of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// A code was (or, for an unknown number, appeared to be) sent.
    CodeSent,
    /// Signed in.
    SignedIn(UserId),
}

/// A session to store.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Its id.
    pub id: SessionId,
    /// API session or browser (SSO) session: each endpoint accepts only its own kind.
    pub kind: SessionKind,
    /// The app the API session was issued for, when the request named one.
    pub client_id: Option<String>,
    /// Its user.
    pub user_id: UserId,
    /// Keyed hash of the bearer token.
    pub token_hash: Digest,
    /// How the user authenticated (RFC 8176 values).
    pub amr: Vec<String>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Its id.
    pub id: SessionId,
    /// Its kind (always the kind it was looked up with).
    pub kind: SessionKind,
    /// The app the API session was issued for, when known.
    pub client_id: Option<String>,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its user.
    pub user_id: UserId,
    /// RFC 8176 values.
    pub amr: Vec<String>,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// One sign-in attempt (DESIGN.md §2 "Logs").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInLogEntry {
    /// Its id.
    pub id: uuid::Uuid,
    /// The tenant.
    pub tenant_id: TenantId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// `sms`.
    pub method: String,
    /// `codeRequested`, `codeResent`, `codeVerified`.
    pub event: String,
    /// The number (E.164), when known.
    pub phone: Option<String>,
    /// The user, when known.
    pub user_id: Option<UserId>,
    /// The flow.
    pub flow_id: Option<FlowId>,
    /// `success` or `failure`.
    pub result: String,
    /// The error code on failure.
    pub failure_reason: Option<String>,
    /// The client's IP.
    pub client_ip: Option<String>,
    /// The app, when known.
    pub app_id: Option<String>,
}

/// How a delivery try ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// A provider accepted it; the body is wiped, and who took it is kept for its receipt.
    Delivered(Handover),
    /// Try again at this time.
    Retry {
        /// When.
        at: DateTime<Utc>,
        /// Why the try failed.
        error: String,
    },
    /// Given up; the body is wiped.
    Failed {
        /// Why.
        error: String,
    },
}

/// Which provider accepted a message, under which of its ids: what a receipt names the
/// message by. Empty when the provider gives no id (console, a webhook that answers none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handover {
    /// The provider's stable name, e.g. `twilio`.
    pub provider: Option<String>,
    /// The carrier's id of the message.
    pub provider_message_id: Option<String>,
}

/// A carrier's delivery receipt, to record against the message it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptUpdate {
    /// The provider that accepted the message.
    pub provider: String,
    /// The carrier's id of the message.
    pub provider_message_id: String,
    /// `delivered` or `failed`.
    pub status: String,
    /// The carrier's reason for a failure.
    pub reason: Option<String>,
    /// When the receipt arrived.
    pub at: DateTime<Utc>,
    /// When set and the message belongs to a flow, a sign-in log entry with this id records
    /// the receipt against the flow (event `codeUndelivered`, result `failure`, the reason
    /// as `failureReason`), copying the phone, user, client and app of the flow's latest
    /// entry.
    pub log_id: Option<uuid::Uuid>,
}

/// The message a receipt changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptedMessage {
    /// Its id.
    pub id: MessageId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its flow.
    pub flow_id: Option<FlowId>,
    /// Its kind (`signInCode`, ...).
    pub kind: String,
    /// Its channel (`sms`, `voice`).
    pub channel: String,
    /// The recipient (E.164).
    pub to: String,
}

/// An outbox entry as listed (no body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    /// Its id.
    pub id: MessageId,
    /// Recipient (E.164).
    pub to: String,
    /// Kind.
    pub kind: String,
    /// `queued`, `delivered`, `failed`.
    pub status: String,
    /// Tries.
    pub attempts: u32,
    /// Last error.
    pub last_error: Option<String>,
    /// Queued at.
    pub created_at: DateTime<Utc>,
    /// The flow.
    pub flow_id: Option<FlowId>,
    /// The provider that accepted it.
    pub provider: Option<String>,
    /// The carrier's id of it.
    pub provider_message_id: Option<String>,
    /// The carrier's receipt: `delivered`, `failed`, or none yet.
    pub receipt_status: Option<String>,
    /// The carrier's reason for a failure.
    pub receipt_reason: Option<String>,
    /// When the receipt arrived.
    pub receipt_at: Option<DateTime<Utc>>,
}

/// The outbox at a glance (every tenant): what the metrics report as its depth and age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    /// Messages still queued (due, leased, or waiting for a retry).
    pub queued: u64,
    /// When the oldest of them was queued; `None` when none is.
    pub oldest_queued_at: Option<DateTime<Utc>>,
}

/// A locked number, or a client IP stopped for a number (`textid lock list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockRecord {
    /// The number (E.164).
    pub phone: String,
    /// The client IP, for a per-(number, client IP) lock; `None` for the number's lock.
    pub client_ip: Option<String>,
    /// Wrong codes counted.
    pub failures: u32,
    /// Until when.
    pub locked_until: DateTime<Utc>,
}

/// A test number with its fixed code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestNumber {
    /// The number (E.164).
    pub phone: String,
    /// Its fixed code.
    pub code: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// Which SCIM resources a [`ScimRecord`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScimKind {
    /// A user (`/Users`).
    User,
    /// A group (`/Groups`).
    Group,
}

/// What SCIM provisioning keeps of a user or group beyond the directory.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimRecord {
    /// The provisioning client's own id for the resource (RFC 7643 §3.1, `externalId`).
    pub external_id: Option<String>,
    /// The SCIM attributes the directory has no column for (`name`, `emails`, `title`,
    /// the enterprise extension, ...), as a JSON object, so that they round-trip.
    pub attributes: serde_json::Value,
    /// When the resource was created over SCIM.
    pub created_at: DateTime<Utc>,
    /// When a SCIM client last wrote it.
    pub modified_at: DateTime<Utc>,
}

/// A synced user's public number that seed 003's rule 1 could not copy into its empty
/// authentication number, and that is still not copied (issue #16's report of skipped
/// copies). One per user and phone type; a later copy, an admin setting that method, or
/// the public number going away removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedCopy {
    /// The tenant.
    pub tenant: TenantId,
    /// The synced user.
    pub user: UserId,
    /// The authentication number that stayed empty (`mobile` or `office`).
    pub phone_type: textid_core::methods::PhoneType,
    /// The public number, in display form (as the sync sent it if it does not parse).
    pub phone_number: String,
    /// Why: a stable code (`phoneNumberNotUnique`, `userHoldsDirectoryRole`, ...).
    pub reason: String,
    /// The user who holds the number, when that is the reason.
    pub other_user: Option<UserId>,
    /// When the sync skipped it.
    pub skipped_at: DateTime<Utc>,
}

impl SkippedCopy {
    /// The skip of a planned copy a phone rule refused (`None` for a change that stores
    /// no number, which is no copy).
    pub fn refused(
        change: &crate::PhoneMethodChange,
        refusal: &textid_core::methods::PhoneMethodError,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        use crate::PhoneMethodOp as Op;
        let number = match &change.op {
            Op::Add { number, .. } | Op::Update { number } => number.to_string(),
            Op::Delete | Op::SetSmsSignIn(_) => return None,
        };
        let (reason, other_user) = textid_core::directory::sync::skip_reason(refusal);
        Some(Self {
            tenant: change.tenant,
            user: change.user,
            phone_type: change.phone_type,
            phone_number: number,
            reason: reason.to_string(),
            other_user,
            skipped_at: now,
        })
    }

    /// The audit record of the skip (`Copy public phone number skipped`), by the sync.
    pub fn audit(&self, actor: &crate::Actor) -> crate::AuditEntry {
        let skipped = serde_json::json!({
            "phoneType": self.phone_type,
            "phoneNumber": self.phone_number,
            "reason": self.reason,
            "conflictingUserId": self.other_user,
        });
        crate::AuditEntry::number_copy_skipped(
            self.tenant,
            self.user,
            skipped,
            actor,
            self.skipped_at,
        )
    }
}

/// A row of the report of skipped copies: the skip with the userPrincipalNames of its
/// user and of the user holding the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedCopyRow {
    /// The skip.
    pub copy: SkippedCopy,
    /// The synced user's userPrincipalName.
    pub upn: textid_core::directory::Upn,
    /// The holder's userPrincipalName (`None`: no holder, or since deleted).
    pub other_upn: Option<textid_core::directory::Upn>,
}

/// One copy a new synced user's creation makes or has already refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedCopy {
    /// Add this method; a phone rule refusing it (uniqueness) makes it a skip instead.
    Make(crate::PhoneMethodChange),
    /// Refused before the store (e.g. a public number that does not parse).
    Skip(SkippedCopy),
}

/// A synced user as SCIM creates it, written in one transaction: the user, its SCIM
/// record and seed 003's copies of its public numbers (issue #16: a failure leaves
/// nothing, so the client's retry starts over).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSyncedUser {
    /// The user (`on_premises_sync_enabled`).
    pub user: textid_core::directory::User,
    /// Its SCIM record.
    pub record: ScimRecord,
    /// The copies of its public numbers.
    pub copies: Vec<PlannedCopy>,
}

/// A synced group as SCIM creates it, written in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSyncedGroup {
    /// The group.
    pub group: textid_core::directory::Group,
    /// Its SCIM record.
    pub record: ScimRecord,
    /// Its members (users of the tenant; `NotFound("user")` otherwise, writing nothing).
    pub members: Vec<UserId>,
}

/// A password to store (issue #15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordUpdate {
    /// The argon2id PHC string; `None` removes the password.
    pub hash: Option<textid_core::secret::Secret<String>>,
    /// The user must choose a new password at their next sign-in.
    pub force_change: bool,
    /// Who changed it, and how (the audit activity).
    pub change: textid_core::password::PasswordChange,
}

/// What a password sign-in reads of a user, in one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordAccount {
    /// The user.
    pub user_id: UserId,
    /// Whether the account may sign in.
    pub account_enabled: bool,
    /// The argon2id PHC string, if the user has a password.
    pub password_hash: Option<textid_core::secret::Secret<String>>,
    /// The user must choose a new password at their next sign-in.
    pub force_change: bool,
    /// Their groups (for the policy).
    pub groups: Vec<GroupId>,
    /// The number of their `mobile` method (E.164), if they have one.
    pub mobile: Option<String>,
}

/// What a deleted item is (Graph's `microsoft.graph.user` / `microsoft.graph.group` casts
/// of `/directory/deletedItems`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedKind {
    /// Deleted users.
    User,
    /// Deleted groups.
    Group,
}

/// The object of a deleted item, as it was when it was deleted. (A user is much larger
/// than a group; items are read a page at a time, so the size is left unboxed.)
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum DeletedObject {
    /// A user.
    User(textid_core::directory::User),
    /// A group.
    Group(textid_core::directory::Group),
}

/// A soft-deleted user or group (issue #17), restorable until it is purged
/// ([`crate::DeletedItemStore`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedItem {
    /// The object as it was.
    pub object: DeletedObject,
    /// When it was deleted (Graph's `deletedDateTime`).
    pub deleted_at: DateTime<Utc>,
}

/// A user or group that left the directory after a delta token (`/users/delta`'s
/// `@removed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Its id.
    pub id: uuid::Uuid,
    /// Gone for good (purged or deleted permanently: Graph's reason `deleted`); otherwise
    /// in the deleted items, restorable (reason `changed`).
    pub purged: bool,
}

/// A membership added or removed after a delta token (`members@delta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberChange {
    /// The member.
    pub user: UserId,
    /// Added (otherwise removed).
    pub added: bool,
}
