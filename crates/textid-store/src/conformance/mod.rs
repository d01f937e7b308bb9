//! The behaviour every backend must have, as a list of tests over `Arc<dyn Store>`: the
//! contract of the backends. `tests/sqlite.rs` runs it on a fresh file; the PostgreSQL
//! backend runs the same list on a fresh database. Every method of every store trait is
//! exercised, each behaviour in a case of its own whose name says it.
//!
//! Rules of the suite: every case creates its own tenants (random names) and asserts only
//! on rows it created, never on counts across tenants; time is the fixed `now()` advanced
//! explicitly (no sleeps; the only waits are bounded waits for notifications); where a
//! rule must hold under concurrency (single use, uniqueness), a race releases `RACERS`
//! attempts together for `ROUNDS` rounds and asserts one winner in each; nothing here
//! knows a backend. Two things are global by nature: outbox claims (a case looks only at
//! its own tenant's messages in what it claims, but would lease other cases' messages on
//! a shared database, so the cases that claim take turns, see `claiming`) and signing keys (each case
//! uses algorithm names of its own).
//!
//! The cases, by aggregate: `tenants` (tenants, policy), `directory` (users, groups,
//! members), `import` (bulk import), `phone` (phone methods), `sign_in` (candidates, steps, flows, sessions),
//! `outbox`, `logs`, `oauth` (signing keys, clients, authorization requests), `tokens`
//! (codes, refresh and access tokens), `roles`, `passes`, `maintenance`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod abuse;
mod deleted;
mod delta;
mod directory;
mod import;
mod listing;
mod logs;
mod maintenance;
mod oauth;
mod outbox;
mod passes;
mod passwords;
mod phone;
mod provisioning;
mod roles;
mod shared;
mod sign_in;
mod tenants;
mod tokens;

pub use self::{
    abuse::*, deleted::*, delta::*, directory::*, import::*, listing::*, logs::*, maintenance::*,
    oauth::*, outbox::*, passes::*, passwords::*, phone::*, provisioning::*, roles::*, shared::*,
    sign_in::*, tenants::*, tokens::*,
};

use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use textid_core::code::Digest;
use textid_core::directory::{Group, Upn, User};
use textid_core::flow::sms_sign_in::{FlowState, SignInError};
use textid_core::flow::{PhoneCounter, SmsSignInFlow};
use textid_core::message::NewMessage;
use textid_core::methods::{PhoneMethodError, PhoneType};
use textid_core::phone::PhoneNumber;
use textid_core::policy::AuthenticationMethodsPolicy;
use textid_core::session::SessionKind;
use textid_core::tenant::Tenant;
use textid_core::{FlowId, GroupId, MessageId, SessionId, UserId};

use crate::*;

/// A named conformance test.
pub type Case = (&'static str, fn(Arc<dyn Store>) -> futures_lite::BoxFuture);

/// Boxed futures without pulling in the `futures` crate.
pub mod futures_lite {
    /// A boxed test future.
    pub type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

macro_rules! cases {
    ($d:tt; $($name:ident),* $(,)?) => {
        /// Every conformance test.
        pub fn all() -> Vec<Case> {
            vec![$((stringify!($name), |s| Box::pin($name(s)))),*]
        }

        /// Expands to one `#[tokio::test]` per conformance case, each on a store made by
        /// `$make` (an async block or expression giving an `Arc<dyn Store>`), so every
        /// case passes or fails on its own in every backend's test binary.
        #[macro_export]
        macro_rules! conformance_tests {
            ($d make:expr) => {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $name() {
                        let store = $d make;
                        $crate::conformance::$name(store).await;
                    }
                )*
            };
        }
    };
}

cases!(
    $;
    // TenantStore, PolicyStore
    ensuring_a_tenant_twice_returns_the_same_tenant,
    concurrent_ensures_of_one_tenant_create_it_once,
    a_tenant_is_found_by_its_id,
    a_new_tenant_has_the_default_policy_and_no_region,
    changing_the_tenant_region_is_audited_and_notified,
    the_sign_in_api_origins_are_replaced_audited_and_notified,
    the_tenant_region_can_be_cleared,
    changing_the_region_of_a_missing_tenant_is_not_found,
    policy_round_trips_and_changes_are_audited,
    policies_are_kept_per_tenant,
    the_policy_of_a_missing_tenant_is_not_found,
    // DirectoryStore
    a_created_user_is_found_by_id_and_upn,
    // DeletedItemStore
    a_deleted_user_is_listed_as_it_was_and_is_gone_from_the_directory,
    restoring_a_user_brings_back_their_methods_and_memberships,
    a_deleted_users_number_stays_reserved_until_they_are_deleted_for_good,
    restoring_a_user_whose_upn_was_taken_is_a_conflict,
    a_deleted_group_is_restored_with_its_members,
    deleted_items_answer_graph_queries,
    restoring_or_purging_a_missing_deleted_item_is_not_found,
    deleted_items_are_purged_thirty_days_after_their_deletion,
    // DeltaStore
    every_user_group_and_membership_write_advances_the_change_sequence,
    deleted_and_purged_objects_are_removed_after_the_sequence,
    adding_a_user_is_audited,
    a_upn_is_unique_per_tenant,
    concurrent_creations_of_one_upn_have_exactly_one_winner,
    list_users_pages_by_upn_after_the_cursor,
    query_users_applies_every_filter_operator,
    query_users_search_matches_the_start_of_a_token,
    query_users_pages_by_keyset_in_either_direction,
    count_users_counts_what_the_filter_selects,
    group_properties_are_kept_updated_and_filtered,
    a_users_manager_is_set_read_and_removed,
    query_groups_filters_orders_and_counts,
    update_user_is_audited_with_before_and_after,
    renaming_a_user_to_a_taken_upn_is_a_conflict,
    updating_a_missing_user_is_not_found,
    deleting_a_user_removes_methods_memberships_roles_pass_and_sessions,
    disabling_a_user_revokes_their_sessions_and_token_families,
    deleting_a_user_revokes_their_token_families,
    deleting_a_user_is_audited,
    deleting_a_missing_user_is_not_found,
    groups_are_found_by_id_and_listed_by_name,
    adding_and_deleting_a_group_is_audited,
    deleting_a_group_removes_its_memberships,
    deleting_a_missing_group_is_not_found,
    group_membership_is_listed_both_ways,
    adding_a_member_twice_is_a_conflict,
    concurrent_additions_of_one_member_have_exactly_one_winner,
    adding_a_missing_member_or_to_a_missing_group_is_not_found,
    removing_a_member_who_is_not_one_is_not_found,
    membership_changes_are_audited,
    an_import_writes_users_methods_and_audits_as_one_by_one_creation_would,
    imported_users_are_in_the_next_delta_round,
    an_import_without_sms_sign_in_leaves_mobiles_disabled,
    a_refused_import_names_every_problem_and_writes_nothing,
    an_import_and_a_single_claim_of_one_number_have_exactly_one_winner,
    // ProvisioningStore
    a_scim_record_round_trips_is_replaced_and_kept_per_tenant,
    a_scim_record_goes_with_its_user_or_group,
    a_recorded_audit_is_listed_with_the_directory_audits,
    renaming_a_group_is_audited_and_a_missing_group_is_not_found,
    a_synced_user_is_created_with_its_record_and_copies_and_a_refused_copy_is_kept_as_skipped,
    a_failed_synced_user_creation_leaves_nothing,
    a_synced_group_is_created_with_its_record_and_members_or_not_at_all,
    a_skipped_copy_is_replaced_and_forgotten_once_the_method_is_stored_or_cleared,
    // PhoneMethodStore
    phone_type_rules_hold,
    a_number_waiting_for_proof_is_marked_until_proven,
    a_sign_in_number_cannot_be_added_to_another_user,
    adding_in_scope_fails_when_another_user_has_the_number,
    enabling_fails_when_another_user_has_the_number,
    shared_numbers_outside_sign_in_scope_are_allowed_and_flagged,
    concurrent_claims_of_one_number_have_exactly_one_winner,
    updating_an_enabled_number_rechecks_uniqueness,
    updating_an_enabled_number_moves_sign_in_to_the_new_number,
    updating_a_number_outside_sign_in_scope_may_share_it,
    disabling_sms_sign_in_keeps_the_method_and_frees_the_number,
    deleting_a_phone_method_frees_its_number,
    changing_a_missing_phone_method_is_not_found,
    phone_method_changes_are_audited_by_activity,
    a_phone_change_that_takes_the_number_away_revokes_the_users_sessions,
    a_refused_phone_method_change_is_neither_stored_nor_audited,
    refuse_shared_mode_refuses_a_number_another_user_holds_on_any_method,
    refuse_shared_mode_is_audited_notified_and_kept_per_tenant,
    refuse_shared_mode_refuses_an_import_of_a_held_number,
    concurrent_adds_of_one_number_in_refuse_shared_mode_have_exactly_one_winner,
    the_shared_number_report_lists_each_number_held_by_several_users_with_its_methods,
    one_number_may_sign_in_in_several_tenants,
    // SignInStore, SessionStore
    a_sign_in_candidate_carries_account_state_and_groups,
    only_an_enabled_mobile_is_a_sign_in_candidate,
    a_step_without_a_candidate_sees_who_holds_the_number,
    a_step_sees_the_numbers_owner_counters_and_the_tenant_policy,
    a_step_writes_flow_counter_message_and_log_together,
    a_flow_is_read_back_only_in_its_tenant,
    counters_are_kept_per_number_and_tenant,
    concurrent_verifications_of_one_code_have_exactly_one_winner,
    concurrent_starts_on_one_number_spend_its_send_budget_once,
    a_supersede_queued_step_fails_older_queued_messages_of_the_flow,
    sessions_created_by_a_step_are_found_by_token_hash_and_expire,
    a_session_is_found_only_as_its_own_kind,
    revoking_a_users_sessions_ends_both_kinds_and_their_token_families_only,
    revoking_a_users_other_sessions_spares_the_one_kept,
    a_revoking_phone_change_spares_the_session_it_was_made_in,
    revoking_the_sessions_of_a_missing_user_is_not_found,
    a_code_issued_at_the_instant_of_revocation_is_never_redeemable,
    a_code_whose_browser_session_ended_is_refused_and_spent,
    no_access_token_is_bound_to_a_session_that_has_ended,
    a_revoked_session_is_no_longer_found,
    // OutboxStore
    claimed_messages_are_not_claimed_again_until_the_lease_ends,
    a_message_queued_leased_is_claimed_only_when_its_lease_ends,
    concurrent_claims_hand_out_each_message_once,
    a_claim_takes_at_most_its_limit,
    a_retried_message_is_claimed_again_at_its_time,
    finishing_a_message_as_delivered_wipes_its_body,
    a_failed_message_is_never_claimed_again_and_keeps_its_error,
    a_batch_of_outcomes_is_recorded_at_once,
    messages_are_listed_newest_first_per_tenant,
    outbox_stats_count_waiting_messages_and_name_the_oldest,
    an_empty_outbox_has_no_depth_and_no_oldest,
    a_delivered_message_keeps_its_provider_and_carrier_id,
    a_receipt_closes_the_message_it_names_once,
    a_receipt_for_an_unknown_id_or_another_provider_changes_nothing,
    a_failed_receipt_keeps_the_reason_and_is_logged_against_the_flow,
    // LogStore
    sign_in_logs_answer_graph_queries,
    sign_in_logs_filter_by_time_and_user_newest_first,
    directory_audits_filter_by_time_and_subject_newest_first,
    // KeyStore, ClientStore, AuthRequestStore
    a_new_signing_key_retires_the_active_key_of_its_algorithm,
    signing_keys_are_listed_newest_first,
    adding_a_signing_key_is_notified,
    a_client_id_is_registered_once_per_tenant,
    concurrent_registrations_of_one_client_have_exactly_one_winner,
    clients_are_found_and_listed_per_tenant,
    updating_a_client_replaces_its_registration,
    updating_a_missing_client_is_not_found,
    a_rotated_client_keeps_its_previous_secret_and_changes_are_audited,
    deleting_a_client_revokes_its_token_families_and_is_audited,
    deleting_a_missing_client_is_not_found,
    an_authorization_request_is_found_in_its_tenant,
    an_expired_authorization_request_is_not_found,
    a_sign_in_flow_can_be_attached_to_an_authorization_request_and_detached,
    a_step_links_the_authorization_request_it_names_to_the_flow_it_writes,
    a_deleted_authorization_request_is_not_found,
    // TokenStore
    a_code_is_redeemed_once_and_reuse_revokes_its_family,
    a_first_redemption_records_the_access_token_its_grant_admits,
    revoking_a_session_revokes_the_access_tokens_bound_to_it_only,
    concurrent_redemptions_of_one_code_have_exactly_one_winner,
    a_code_presented_by_another_client_is_invalid_and_stays_usable,
    an_expired_code_is_spent,
    an_unknown_code_is_invalid,
    a_code_of_a_revoked_family_is_invalid,
    a_rotated_refresh_token_reused_revokes_its_family,
    concurrent_uses_of_one_refresh_token_have_exactly_one_winner,
    a_refresh_token_presented_by_another_client_is_invalid_and_stays_usable,
    an_expired_refresh_token_is_invalid_and_revokes_nothing,
    a_refresh_token_of_a_revoked_family_cannot_be_stored,
    the_client_of_a_refresh_token_is_known,
    revoking_a_refresh_token_revokes_its_whole_family,
    an_access_token_of_a_revoked_family_is_revoked,
    an_access_token_of_a_revoked_family_cannot_be_recorded,
    an_access_token_can_be_revoked_on_its_own,
    // RoleStore
    role_assignments_are_listed_sorted_and_removable,
    role_changes_are_audited,
    assigning_a_role_to_a_missing_user_is_not_found,
    // PassStore
    a_pass_is_stored_and_read_back_in_its_tenant,
    a_new_pass_replaces_the_old_one,
    issuing_a_pass_is_audited_without_the_pass_itself,
    deleting_a_pass_removes_it_and_is_audited,
    issuing_or_deleting_a_pass_revokes_the_users_sessions,
    deleting_a_pass_with_another_id_does_nothing,
    concurrent_deletions_of_one_pass_have_exactly_one_winner,
    a_pass_is_redeemed_only_with_its_hash_within_its_lifetime,
    a_one_time_pass_is_marked_used_and_then_refused,
    concurrent_redemptions_of_a_one_time_pass_have_exactly_one_winner,
    // PasswordStore, TenantStore::set_tenant_require_mfa
    a_password_is_stored_and_read_back_with_what_sign_in_needs,
    setting_a_password_is_audited_without_the_hash,
    setting_a_password_revokes_the_users_sessions_and_token_families,
    setting_the_password_of_a_missing_user_is_not_found,
    the_tenant_mfa_requirement_is_stored_audited_and_notified,
    // AbuseStore (and the abuse rows of the sign-in step)
    counters_added_outside_a_step_are_seen_by_the_next_step,
    budget_increments_are_summed_over_shards_and_read_back,
    without_budgets_a_step_reads_no_counters,
    pauses_are_read_by_steps_listed_while_running_and_cleared,
    the_client_counter_is_kept_per_number_and_ip_and_locks_are_listed_and_cleared,
    test_numbers_are_kept_per_tenant_and_loaded_by_steps,
    purge_removes_unlocked_client_counters_written_before_the_cut_and_keeps_locked_ones,
    budget_counters_are_read_by_key_prefix_and_bucket_summed_over_shards,
    // MaintenanceStore
    purge_removes_expired_flows_counters_finished_messages_and_sessions_only,
    purge_removes_expired_requests_codes_tokens_and_ended_families_only,
    purge_logs_removes_sign_in_logs_and_audits_before_the_cut_only,
    ping_answers,
    database_time_is_none_or_the_current_time,
);

// ---- Time ------------------------------------------------------------------------------

/// The turn of a case that claims outbox messages: claims are global, so on a database
/// that several cases share (PostgreSQL) one case's claim would lease another's messages.
static CLAIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn claiming() -> tokio::sync::MutexGuard<'static, ()> {
    CLAIMING.lock().await
}

/// The turn of a case that purges: a purge is global, so on a shared database (PostgreSQL)
/// one case's purge could remove rows another case is still checking between its writes.
/// Each purge case also keeps its rows in an era of its own; the turn makes that
/// independence structural rather than a matter of choosing dates.
static PURGING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn purging() -> tokio::sync::MutexGuard<'static, ()> {
    PURGING.lock().await
}

/// The fixed clock of the suite.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

/// `now()` advanced by `seconds`.
fn later(seconds: i64) -> DateTime<Utc> {
    now() + Duration::seconds(seconds)
}

// ---- Directory -------------------------------------------------------------------------

/// A new tenant with a random name.
async fn tenant(store: &dyn Store) -> Tenant {
    store
        .ensure_tenant(&format!("t{}", uuid::Uuid::new_v4().simple()), now())
        .await
        .unwrap()
}

/// A user named `name@contoso.example`, not yet stored.
fn new_user(t: &Tenant, name: &str) -> User {
    User {
        id: UserId(uuid::Uuid::new_v4()),
        tenant_id: t.id,
        upn: upn(name),
        display_name: name.into(),
        account_enabled: true,
        mobile_phone: None,
        business_phones: vec![],
        on_premises_sync_enabled: false,
        profile: Default::default(),
    }
}

fn upn(name: &str) -> Upn {
    Upn::parse(&format!("{name}@contoso.example")).unwrap()
}

/// A stored user named `name@contoso.example`, created at `now()`.
async fn user(store: &dyn Store, t: &Tenant, name: &str) -> UserId {
    let u = new_user(t, name);
    store.create_user(&u, &Actor::cli(), now()).await.unwrap();
    u.id
}

/// A stored group, created at `now()`.
async fn group(store: &dyn Store, t: &Tenant, name: &str) -> GroupId {
    let g = Group {
        id: GroupId(uuid::Uuid::new_v4()),
        tenant_id: t.id,
        display_name: name.into(),
        profile: Default::default(),
    };
    store.create_group(&g, &Actor::cli(), now()).await.unwrap();
    g.id
}

/// A random id that sorts by `rank` (its first byte): ordering cases give their rows ids
/// in the opposite order of their names, so that an order by id cannot pass for one by
/// name.
fn ranked_id(rank: u8) -> uuid::Uuid {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[0] = rank;
    uuid::Uuid::from_bytes(bytes)
}

/// A random id for rows that do not exist.
fn missing_user() -> UserId {
    UserId(uuid::Uuid::new_v4())
}

fn conflict<T: std::fmt::Debug>(r: StoreResult<T>) -> String {
    match r {
        Err(StoreError::Conflict(c)) => c,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn not_found<T: std::fmt::Debug>(r: StoreResult<T>) {
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "expected NotFound, got {r:?}"
    );
}

// ---- Audits ----------------------------------------------------------------------------

/// The tenant's audit records, newest first.
async fn audits(s: &dyn Store, t: &Tenant) -> Vec<AuditEntry> {
    s.directory_audits(t.id, &LogQuery::latest(1000))
        .await
        .unwrap()
}

/// The tenant's newest audit record.
async fn last_audit(s: &dyn Store, t: &Tenant) -> AuditEntry {
    audits(s, t)
        .await
        .into_iter()
        .next()
        .expect("an audit record")
}

/// Asserts the newest audit record's activity, target and time, and returns it.
async fn audited(
    s: &dyn Store,
    t: &Tenant,
    activity: &str,
    target: &str,
    at: DateTime<Utc>,
) -> AuditEntry {
    let a = last_audit(s, t).await;
    assert_eq!(
        (a.activity.as_str(), a.target_id.as_str(), a.created_at),
        (activity, target, at),
        "{a:?}"
    );
    assert_eq!((a.tenant_id, &a.actor), (t.id, &Actor::cli()));
    a
}

// ---- Notifications -------------------------------------------------------------------

/// Waits (a few seconds at most: it is a notification, not timing) for `want`.
async fn expect_change(changes: &mut tokio::sync::broadcast::Receiver<Changed>, want: Changed) {
    use tokio::sync::broadcast::error::RecvError;
    let wait = async {
        loop {
            match changes.recv().await {
                Ok(c) if c == want => return,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("the change feed closed"),
            }
        }
    };
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), wait).await;
    assert!(got.is_ok(), "no {want:?} notification within 5 s");
}

// ---- Phone methods ---------------------------------------------------------------------

fn number(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s, None).unwrap()
}

fn change(t: &Tenant, u: UserId, ty: PhoneType, op: PhoneMethodOp) -> PhoneMethodChange {
    PhoneMethodChange {
        made_in: None,
        tenant: t.id,
        user: u,
        phone_type: ty,
        op,
    }
}

fn add(t: &Tenant, u: UserId, ty: PhoneType, n: &str, enable: bool) -> PhoneMethodChange {
    change(
        t,
        u,
        ty,
        PhoneMethodOp::Add {
            number: number(n),
            enable_sms_sign_in: enable,
        },
    )
}

/// Applies a phone method change by the CLI at `now()`.
async fn apply(s: &dyn Store, c: PhoneMethodChange) -> StoreResult<()> {
    s.change_phone_method(c, &Actor::cli(), now()).await
}

fn rule(e: StoreError) -> PhoneMethodError {
    match e {
        StoreError::PhoneMethod(p) => p,
        other => panic!("expected a phone method rule, got {other:?}"),
    }
}

// ---- Races -----------------------------------------------------------------------------

/// Rounds of each race.
const ROUNDS: usize = 8;
/// Concurrent attempts in each round.
const RACERS: usize = 4;

/// Runs [`RACERS`] attempts at once (released together) and counts the winners. Attempt
/// `i` answers whether it won, after asserting how it lost.
async fn race<F, Fut>(attempt: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let gate = Arc::new(tokio::sync::Barrier::new(RACERS));
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let (gate, attempt) = (gate.clone(), attempt(i));
            tokio::spawn(async move {
                gate.wait().await;
                attempt.await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    wins
}

/// Every round had exactly one winner (so some round had one).
fn one_winner_each_round(wins: &[usize]) {
    assert!(wins.iter().any(|w| *w > 0), "no round had a winner");
    assert!(wins.iter().all(|w| *w == 1), "winners per round: {wins:?}");
}

// ---- Sign-in steps ---------------------------------------------------------------------

/// A random keyed hash.
fn digest() -> Digest {
    Digest(rand::random())
}

/// A pending flow for `phone` started at `at`, with a code valid for 5 minutes.
fn flow(t: &Tenant, phone: &str, owner: Option<UserId>, at: DateTime<Utc>) -> SmsSignInFlow {
    SmsSignInFlow {
        id: FlowId(uuid::Uuid::new_v4()),
        tenant_id: t.id,
        phone_e164: phone.into(),
        user_id: owner,
        code_hash: owner.map(|_| digest()),
        code_expires_at: at + Duration::minutes(5),
        attempts: 0,
        sends: 1,
        last_sent_at: at,
        created_at: at,
        state: FlowState::Pending,
        channel: textid_core::message::Channel::Sms,
        purpose: Default::default(),
    }
}

/// A sign-in code message to `to`, queued at `at`.
fn message(to: &str, at: DateTime<Utc>) -> NewMessage {
    NewMessage {
        id: MessageId(uuid::Uuid::new_v4()),
        kind: "signInCode",
        channel: textid_core::message::Channel::Sms,
        to: to.into(),
        sealed_body: uuid::Uuid::new_v4().as_bytes().to_vec(),
        locale: "en".into(),
        queued_at: at,
        leased_until: None,
    }
}

/// A session of `user` until `expires_at`.
fn session(user: UserId, expires_at: DateTime<Utc>) -> NewSession {
    NewSession {
        id: SessionId(uuid::Uuid::new_v4()),
        kind: SessionKind::Browser,
        client_id: None,
        user_id: user,
        token_hash: digest(),
        amr: vec!["sms".into(), "mfa".into()],
        expires_at,
    }
}

/// A stored browser session of a new user of `t` until `expires_at`, created at `now()`.
async fn live_session(s: &dyn Store, t: &Tenant, expires_at: DateTime<Utc>) -> NewSession {
    let u = user(s, t, &format!("u{}", uuid::Uuid::new_v4().simple())).await;
    let sso = session(u, expires_at);
    let target = StepTarget::Number("+14255550197".into());
    put(s, t, target, now(), Put::session(&sso)).await;
    sso
}

/// A sign-in log entry of the tenant at `at`.
fn log_entry(t: &Tenant, user: Option<UserId>, at: DateTime<Utc>) -> SignInLogEntry {
    SignInLogEntry {
        id: uuid::Uuid::new_v4(),
        tenant_id: t.id,
        created_at: at,
        method: "sms".into(),
        event: "codeRequested".into(),
        phone: Some("+14255550101".into()),
        user_id: user,
        flow_id: None,
        result: "success".into(),
        failure_reason: None,
        client_ip: Some("192.0.2.1".into()),
        app_id: None,
    }
}

/// What a step writes, whatever its decision sees.
#[derive(Clone, Default)]
struct Put {
    flow: Option<SmsSignInFlow>,
    counter: Option<PhoneCounter>,
    message: Option<NewMessage>,
    supersede_queued: bool,
    session: Option<NewSession>,
    log: Option<SignInLogEntry>,
    abuse: textid_core::abuse::AbuseWrite,
    link_request: Option<String>,
}

impl Put {
    fn flow(f: &SmsSignInFlow) -> Self {
        Self {
            flow: Some(f.clone()),
            ..Self::default()
        }
    }

    fn counter(c: &PhoneCounter) -> Self {
        Self {
            counter: Some(c.clone()),
            ..Self::default()
        }
    }

    fn message(m: &NewMessage) -> Self {
        Self {
            message: Some(m.clone()),
            ..Self::default()
        }
    }

    fn session(s: &NewSession) -> Self {
        Self {
            session: Some(s.clone()),
            ..Self::default()
        }
    }

    fn log(l: &SignInLogEntry) -> Self {
        Self {
            log: Some(l.clone()),
            ..Self::default()
        }
    }
}

/// Runs a step at `at` that writes `p`, whatever its decision sees.
async fn try_put(
    s: &dyn Store,
    t: &Tenant,
    target: StepTarget,
    at: DateTime<Utc>,
    p: Put,
) -> StoreResult<StepWrite> {
    try_put_with(s, t, target, no_abuse(at), at, p).await
}

/// An abuse query that loads nothing (steps that test other things).
pub fn no_abuse(at: DateTime<Utc>) -> textid_core::abuse::AbuseQuery {
    textid_core::abuse::AbuseQuery {
        now: at,
        client_ip: None,
        limits: textid_core::abuse::AbuseLimits::default(),
        budgets: false,
        test_numbers: false,
    }
}

/// [`try_put`] with an abuse query.
async fn try_put_with(
    s: &dyn Store,
    t: &Tenant,
    target: StepTarget,
    query: textid_core::abuse::AbuseQuery,
    at: DateTime<Utc>,
    p: Put,
) -> StoreResult<StepWrite> {
    s.sms_sign_in_step(
        t.id,
        target,
        query,
        Box::new(move |_| StepWrite {
            at,
            outcome: Ok(StepOutcome::CodeSent),
            flow: p.flow.clone(),
            counter: p.counter.clone(),
            message: p.message.clone(),
            supersede_queued: p.supersede_queued,
            session: p.session.clone(),
            log: p.log.clone(),
            abuse: p.abuse.clone(),
            link_request: p.link_request.clone(),
        }),
    )
    .await
}

/// Runs a step at `at` that writes `p`, and asserts that it did.
async fn put(s: &dyn Store, t: &Tenant, target: StepTarget, at: DateTime<Utc>, p: Put) {
    let w = try_put(s, t, target, at, p).await.unwrap();
    assert_eq!(w.outcome, Ok(StepOutcome::CodeSent));
}

/// Starts a flow at `at` for `phone`, with its code message queued; returns both ids.
async fn queue(
    s: &dyn Store,
    t: &Tenant,
    phone: &str,
    at: DateTime<Utc>,
) -> (SmsSignInFlow, MessageId) {
    let (f, m) = (flow(t, phone, None, at), message(phone, at));
    let put_it = Put {
        message: Some(m.clone()),
        ..Put::flow(&f)
    };
    put(s, t, StepTarget::Number(phone.into()), at, put_it).await;
    (f, m.id)
}

/// What a step's decision was given.
#[derive(Debug)]
struct Seen {
    flow: Option<SmsSignInFlow>,
    counter: Option<PhoneCounter>,
    candidate: Option<SignInCandidate>,
    holding: Option<NumberHolding>,
    policy: AuthenticationMethodsPolicy,
    abuse: textid_core::abuse::AbuseState,
}

/// Runs a step that writes nothing and returns what its decision saw.
async fn observe(s: &dyn Store, t: &Tenant, target: StepTarget) -> Seen {
    observe_with(s, t, target, no_abuse(now())).await
}

/// [`observe`] with an abuse query.
async fn observe_with(
    s: &dyn Store,
    t: &Tenant,
    target: StepTarget,
    query: textid_core::abuse::AbuseQuery,
) -> Seen {
    let seen = Arc::new(Mutex::new(None));
    let out = seen.clone();
    let w = s
        .sms_sign_in_step(
            t.id,
            target,
            query,
            Box::new(move |input: StepInput<'_>| {
                *out.lock().unwrap() = Some(Seen {
                    flow: input.flow.cloned(),
                    counter: input.counter.cloned(),
                    candidate: input.candidate.cloned(),
                    holding: input.holding.cloned(),
                    policy: input.policy.clone(),
                    abuse: input.abuse.clone(),
                });
                StepWrite {
                    at: now(),
                    outcome: Err(SignInError::FlowNotFound),
                    flow: None,
                    counter: None,
                    message: None,
                    supersede_queued: false,
                    session: None,
                    log: None,
                    abuse: Default::default(),
                    link_request: None,
                }
            }),
        )
        .await
        .unwrap();
    assert!(w.outcome.is_err());
    let seen = seen.lock().unwrap().take();
    seen.expect("the decision ran")
}

/// The stored messages of the tenant, newest first.
async fn messages(s: &dyn Store, t: &Tenant) -> Vec<MessageRecord> {
    s.list_messages(t.id, 100).await.unwrap()
}

/// The stored message with this id.
async fn listed(s: &dyn Store, t: &Tenant, id: MessageId) -> MessageRecord {
    messages(s, t)
        .await
        .into_iter()
        .find(|m| m.id == id)
        .expect("the message is listed")
}

// ---- OAuth -----------------------------------------------------------------------------

/// A random keyed hash of a code or token.
/// A redemption's [`Admit`] that records no access token.
fn no_token() -> Admit {
    Box::new(|_| None)
}

fn hash() -> Vec<u8> {
    digest().0.to_vec()
}

/// A grant of a new family for client `app`.
fn grant(t: &Tenant) -> GrantRecord {
    GrantRecord {
        family_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: t.id,
        client_id: "app".into(),
        user_id: None,
        session_id: None,
        document: serde_json::json!({"sub": "x", "scope": "openid"}),
    }
}

/// A fresh refresh token of `g`, valid for a day.
async fn refresh_token(s: &dyn Store, g: &GrantRecord) -> Vec<u8> {
    let h = hash();
    s.insert_refresh_token(&h, g, now(), now() + Duration::days(1))
        .await
        .unwrap();
    h
}

/// A fresh code of `g`, valid for a minute.
async fn code(s: &dyn Store, g: &GrantRecord) -> Vec<u8> {
    let h = hash();
    s.insert_code(&h, g, now() + Duration::minutes(1))
        .await
        .unwrap();
    h
}

// ---- Sessions and revocation -----------------------------------------------------------

/// Everything a user holds: a browser session, an API session, and a token family with a
/// code, a refresh token and an access token.
struct Holdings {
    browser: NewSession,
    api: NewSession,
    code: Vec<u8>,
    refresh: Vec<u8>,
    jti: String,
}

/// Signs `u` in both ways and issues them a token family.
async fn holdings(s: &dyn Store, t: &Tenant, u: UserId) -> Holdings {
    let browser = session(u, later(3600));
    let api = NewSession {
        kind: SessionKind::Api,
        client_id: Some("app".into()),
        ..session(u, later(3600))
    };
    for new in [&browser, &api] {
        let number = StepTarget::Number("+14255550199".into());
        put(s, t, number, now(), Put::session(new)).await;
    }
    let g = GrantRecord {
        user_id: Some(u),
        ..grant(t)
    };
    let code = code(s, &g).await;
    let refresh = refresh_token(s, &g).await;
    let jti = uuid::Uuid::new_v4().to_string();
    s.record_access_token(&jti, &g.family_id, Some(u), None, later(3600))
        .await
        .unwrap();
    Holdings {
        browser,
        api,
        code,
        refresh,
        jti,
    }
}

impl Holdings {
    /// Which of the holdings still work at `at` (sessions found, the access token not
    /// revoked, the code and the refresh token redeemable: those are used up by asking).
    async fn alive(&self, s: &dyn Store, at: DateTime<Utc>) -> [bool; 5] {
        let found = |k, h: &NewSession| {
            let hash = h.token_hash.0;
            async move {
                s.session_by_token_hash(k, &hash, at)
                    .await
                    .unwrap()
                    .is_some()
            }
        };
        [
            found(SessionKind::Browser, &self.browser).await,
            found(SessionKind::Api, &self.api).await,
            !s.access_token_revoked(&self.jti).await.unwrap(),
            matches!(
                s.redeem_code(&self.code, "app", at, no_token())
                    .await
                    .unwrap(),
                Redemption::Redeemed(_)
            ),
            matches!(
                s.use_refresh_token(&self.refresh, "app", at).await.unwrap(),
                Redemption::Redeemed(_)
            ),
        ]
    }
}
