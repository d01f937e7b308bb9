//! The behaviour every backend must have, as a list of tests over `&dyn Store`.
//! `tests/sqlite.rs` runs it on a fresh file per case; `tests/postgres.rs` runs the same
//! list on one fresh database per run, with a store (a pool) of its own per case. Each test
//! creates its own tenant, so tests share nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use textid_core::code::{OtpCode, SecretHasher};
use textid_core::directory::{Group, Upn, User};
use textid_core::flow::sms_sign_in::{self, SignInError, StepContext};
use textid_core::limits::SignInLimits;
use textid_core::message::NewMessage;
use textid_core::methods::{PhoneMethodError, PhoneType};
use textid_core::phone::PhoneNumber;
use textid_core::policy::MethodState;
use textid_core::tenant::Tenant;
use textid_core::{GroupId, MessageId, UserId};

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
    ensuring_a_tenant_twice_returns_the_same_tenant,
    a_upn_is_unique_per_tenant,
    phone_type_rules_hold,
    a_sign_in_number_cannot_be_added_to_another_user,
    adding_in_scope_fails_when_another_user_has_the_number,
    enabling_fails_when_another_user_has_the_number,
    shared_numbers_outside_sign_in_scope_are_allowed_and_flagged,
    two_concurrent_claims_of_one_number_have_exactly_one_winner,
    two_concurrent_verifications_of_one_code_have_exactly_one_winner,
    a_step_writes_flow_counter_message_and_log_together,
    outbox_claims_lease_and_finish,
    policy_round_trips_and_changes_are_audited,
    deleting_a_user_removes_methods_and_memberships,
    a_code_is_redeemed_once_and_reuse_revokes_its_family,
    a_rotated_refresh_token_reused_revokes_its_family,
);

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

async fn tenant(store: &dyn Store) -> Tenant {
    store
        .ensure_tenant(&format!("t{}", uuid::Uuid::new_v4().simple()), now())
        .await
        .unwrap()
}

async fn user(store: &dyn Store, t: &Tenant, name: &str) -> UserId {
    let u = User {
        id: UserId(uuid::Uuid::new_v4()),
        tenant_id: t.id,
        upn: Upn::parse(&format!("{name}@contoso.example")).unwrap(),
        display_name: name.into(),
        account_enabled: true,
        mobile_phone: None,
        business_phones: vec![],
        on_premises_sync_enabled: false,
    };
    store.create_user(&u, &Actor::cli(), now()).await.unwrap();
    u.id
}

fn number(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s, None).unwrap()
}

fn add(t: &Tenant, u: UserId, ty: PhoneType, n: &str, enable: bool) -> PhoneMethodChange {
    PhoneMethodChange {
        tenant: t.id,
        user: u,
        phone_type: ty,
        op: PhoneMethodOp::Add {
            number: number(n),
            enable_sms_sign_in: enable,
        },
    }
}

fn rule(e: StoreError) -> PhoneMethodError {
    match e {
        StoreError::PhoneMethod(p) => p,
        other => panic!("expected a phone method rule, got {other:?}"),
    }
}

/// Conformance case.
pub async fn ensuring_a_tenant_twice_returns_the_same_tenant(s: Arc<dyn Store>) {
    let a = s.ensure_tenant("contoso", now()).await.unwrap();
    let b = s.ensure_tenant("contoso", now()).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(s.tenant_by_name("contoso").await.unwrap(), Some(a));
    assert_eq!(s.tenant_by_name("nope").await.unwrap(), None);
}

/// Conformance case.
pub async fn a_upn_is_unique_per_tenant(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let id = user(&*s, &t, "ana").await;
    let dup = User {
        id: UserId(uuid::Uuid::new_v4()),
        ..s.user(t.id, id).await.unwrap().unwrap()
    };
    match s.create_user(&dup, &Actor::cli(), now()).await {
        Err(StoreError::Conflict(c)) => assert_eq!(c, "users_upn_unique"),
        other => panic!("{other:?}"),
    }
    let other_tenant = tenant(&*s).await;
    user(&*s, &other_tenant, "ana").await;
}

/// Conformance case.
pub async fn phone_type_rules_hold(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let err = s
        .change_phone_method(
            add(&t, u, PhoneType::AlternateMobile, "+14255550102", false),
            &Actor::cli(),
            now(),
        )
        .await
        .unwrap_err();
    assert_eq!(rule(err), PhoneMethodError::MobileRequired);
    s.change_phone_method(
        add(&t, u, PhoneType::Mobile, "+14255550101", false),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    let err = s
        .change_phone_method(
            add(&t, u, PhoneType::Mobile, "+14255550109", false),
            &Actor::cli(),
            now(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        rule(err),
        PhoneMethodError::AlreadyExists(PhoneType::Mobile)
    );
    s.change_phone_method(
        add(&t, u, PhoneType::AlternateMobile, "+14255550102", false),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    let del_mobile = PhoneMethodChange {
        tenant: t.id,
        user: u,
        phone_type: PhoneType::Mobile,
        op: PhoneMethodOp::Delete,
    };
    assert_eq!(
        rule(
            s.change_phone_method(del_mobile, &Actor::cli(), now())
                .await
                .unwrap_err()
        ),
        PhoneMethodError::AlternateMobileExists
    );
    s.change_phone_method(
        add(&t, u, PhoneType::Office, "+14255550103 x42", true),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    let methods = s.phone_methods(t.id, u).await.unwrap();
    let types: Vec<_> = methods.iter().map(|m| m.method.phone_type).collect();
    assert_eq!(
        types,
        vec![
            PhoneType::Mobile,
            PhoneType::AlternateMobile,
            PhoneType::Office
        ]
    );
    assert!(
        !methods[2].method.sms_sign_in_enabled,
        "office can never be enabled"
    );
    assert_eq!(methods[2].method.number.to_string(), "+1 4255550103 x42");
    let enable_office = PhoneMethodChange {
        tenant: t.id,
        user: u,
        phone_type: PhoneType::Office,
        op: PhoneMethodOp::SetSmsSignIn(true),
    };
    assert_eq!(
        rule(
            s.change_phone_method(enable_office, &Actor::cli(), now())
                .await
                .unwrap_err()
        ),
        PhoneMethodError::NotSupported(PhoneType::Office)
    );
}

/// Conformance case.
pub async fn a_sign_in_number_cannot_be_added_to_another_user(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    s.change_phone_method(
        add(&t, a, PhoneType::Mobile, "+14255550101", true),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    for ty in [PhoneType::Mobile, PhoneType::Office] {
        let err = s
            .change_phone_method(
                add(&t, b, ty, "+1 425 555 0101", false),
                &Actor::cli(),
                now(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            rule(err),
            PhoneMethodError::NumberUsedForSignIn { other_user: a }
        );
    }
    // Changing B's existing number to A's is refused as well, and nothing is stored.
    s.change_phone_method(
        add(&t, b, PhoneType::Mobile, "+14255550199", false),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    let change = PhoneMethodChange {
        tenant: t.id,
        user: b,
        phone_type: PhoneType::Mobile,
        op: PhoneMethodOp::Update {
            number: number("+14255550101"),
        },
    };
    assert!(s
        .change_phone_method(change, &Actor::cli(), now())
        .await
        .is_err());
    assert_eq!(
        s.phone_methods(t.id, b).await.unwrap()[0]
            .method
            .number
            .e164(),
        "+14255550199"
    );
}

/// Conformance case.
pub async fn adding_in_scope_fails_when_another_user_has_the_number(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    s.change_phone_method(
        add(&t, a, PhoneType::Office, "+14255550101", false),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    let err = s
        .change_phone_method(
            add(&t, b, PhoneType::Mobile, "+14255550101", true),
            &Actor::cli(),
            now(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        rule(err),
        PhoneMethodError::NumberNotUnique { other_user: a }
    );
    assert!(
        s.phone_methods(t.id, b).await.unwrap().is_empty(),
        "nothing stored"
    );
}

/// Conformance case.
pub async fn enabling_fails_when_another_user_has_the_number(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    s.change_phone_method(
        add(&t, a, PhoneType::Mobile, "+14255550101", false),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    s.change_phone_method(
        add(&t, b, PhoneType::Mobile, "+14255550101", false),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    let enable = PhoneMethodChange {
        tenant: t.id,
        user: b,
        phone_type: PhoneType::Mobile,
        op: PhoneMethodOp::SetSmsSignIn(true),
    };
    assert_eq!(
        rule(
            s.change_phone_method(enable, &Actor::cli(), now())
                .await
                .unwrap_err()
        ),
        PhoneMethodError::NumberNotUnique { other_user: a }
    );
    assert!(
        !s.phone_methods(t.id, b).await.unwrap()[0]
            .method
            .sms_sign_in_enabled
    );
}

/// Conformance case.
pub async fn shared_numbers_outside_sign_in_scope_are_allowed_and_flagged(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    s.change_phone_method(
        add(&t, a, PhoneType::Mobile, "+14255550101", false),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    s.change_phone_method(
        add(&t, b, PhoneType::Mobile, "+14255550101", false),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    assert!(s.phone_methods(t.id, a).await.unwrap()[0].number_shared);
    assert!(
        s.sign_in_candidate(t.id, "+14255550101")
            .await
            .unwrap()
            .is_none(),
        "not enabled for anyone"
    );
}

/// Conformance case.
pub async fn two_concurrent_claims_of_one_number_have_exactly_one_winner(s: Arc<dyn Store>) {
    for round in 0..10 {
        let t = tenant(&*s).await;
        let users = [user(&*s, &t, "a").await, user(&*s, &t, "b").await];
        let tasks = users.map(|u| {
            let (s, t) = (s.clone(), t.clone());
            tokio::spawn(async move {
                s.change_phone_method(
                    add(&t, u, PhoneType::Mobile, "+14255550101", true),
                    &Actor::cli(),
                    now(),
                )
                .await
            })
        });
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => wins += 1,
                Err(e) => assert!(
                    matches!(
                        rule(e),
                        PhoneMethodError::NumberNotUnique { .. }
                            | PhoneMethodError::NumberUsedForSignIn { .. }
                    ),
                    "round {round}"
                ),
            }
        }
        assert_eq!(wins, 1, "round {round}");
        let c = s
            .sign_in_candidate(t.id, "+14255550101")
            .await
            .unwrap()
            .unwrap();
        assert!(users.contains(&c.user_id));
        assert!(!c.number_shared);
    }
}

fn verify_decision(code: OtpCode, limits: SignInLimits, hasher: SecretHasher) -> Decide {
    Box::new(move |input: StepInput<'_>| {
        let cx = StepContext {
            now: now(),
            limits: &limits,
            hasher: &hasher,
        };
        let (Some(flow), Some(counter)) = (input.flow, input.counter) else {
            return StepWrite {
                at: now(),
                outcome: Err(SignInError::FlowNotFound),
                flow: None,
                counter: None,
                message: None,
                supersede_queued: false,
                session: None,
                log: None,
            };
        };
        let checked = sms_sign_in::check_code(flow, counter, &code, cx);
        let finished = checked.flow.state == sms_sign_in::FlowState::Completed;
        StepWrite {
            at: now(),
            outcome: checked.outcome.map(StepOutcome::SignedIn),
            flow: Some(checked.flow),
            counter: Some(checked.counter),
            message: None,
            supersede_queued: finished,
            session: None,
            log: None,
        }
    })
}

async fn start_flow(
    s: &dyn Store,
    t: &Tenant,
    owner: Option<UserId>,
    hasher: &SecretHasher,
) -> (textid_core::FlowId, OtpCode) {
    let limits = SignInLimits::default();
    let started = {
        let cx = StepContext {
            now: now(),
            limits: &limits,
            hasher,
        };
        sms_sign_in::start(
            t.id,
            "+14255550101".into(),
            owner,
            cx,
            &mut StdRng::from_entropy(),
        )
    };
    let code = started
        .code
        .clone()
        .unwrap_or_else(|| OtpCode::parse("000000", 6).unwrap());
    let flow = started.flow.clone();
    let msg = NewMessage {
        id: MessageId(uuid::Uuid::new_v4()),
        kind: "signInCode",
        channel: "sms",
        to: flow.phone_e164.clone(),
        sealed_body: vec![1, 2, 3],
        locale: "en".into(),
        queued_at: now(),
    };
    let w = s
        .sms_sign_in_step(
            t.id,
            StepTarget::Number(flow.phone_e164.clone()),
            Box::new(move |input| StepWrite {
                at: now(),
                outcome: Ok(StepOutcome::CodeSent),
                counter: input.counter.cloned(),
                flow: Some(flow.clone()),
                message: Some(msg.clone()),
                supersede_queued: false,
                session: None,
                log: None,
            }),
        )
        .await
        .unwrap();
    (w.flow.unwrap().id, code)
}

/// Conformance case.
pub async fn two_concurrent_verifications_of_one_code_have_exactly_one_winner(s: Arc<dyn Store>) {
    let hasher = SecretHasher::new([5; 32]);
    for round in 0..10 {
        let t = tenant(&*s).await;
        let owner = user(&*s, &t, "a").await;
        let (flow_id, code) = start_flow(&*s, &t, Some(owner), &hasher).await;
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (s, code, hasher) = (s.clone(), code.clone(), hasher.clone());
                tokio::spawn(async move {
                    s.sms_sign_in_step(
                        t.id,
                        StepTarget::Flow(flow_id),
                        verify_decision(code, SignInLimits::default(), hasher),
                    )
                    .await
                    .unwrap()
                    .outcome
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        let wins = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {outcomes:?}");
        assert!(outcomes.contains(&Err(SignInError::FlowNotFound)));
    }
}

/// Conformance case.
pub async fn a_step_writes_flow_counter_message_and_log_together(s: Arc<dyn Store>) {
    let hasher = SecretHasher::new([5; 32]);
    let t = tenant(&*s).await;
    let (flow_id, code) = start_flow(&*s, &t, None, &hasher).await;
    // A flow of another tenant is not found.
    let other = tenant(&*s).await;
    let w = s
        .sms_sign_in_step(
            other.id,
            StepTarget::Flow(flow_id),
            verify_decision(code.clone(), SignInLimits::default(), hasher.clone()),
        )
        .await
        .unwrap();
    assert_eq!(w.outcome, Err(SignInError::FlowNotFound));
    // A wrong try on an owner-less flow counts on the number's counter and is saved.
    let w = s
        .sms_sign_in_step(
            t.id,
            StepTarget::Flow(flow_id),
            verify_decision(code.clone(), SignInLimits::default(), hasher.clone()),
        )
        .await
        .unwrap();
    assert_eq!(w.outcome, Err(SignInError::InvalidCode));
    let w = s
        .sms_sign_in_step(
            t.id,
            StepTarget::Flow(flow_id),
            Box::new(|input| {
                assert_eq!(input.flow.unwrap().attempts, 1);
                assert_eq!(input.counter.unwrap().consecutive_failures, 1);
                assert_eq!(input.counter.unwrap().window_sends, 0);
                StepWrite {
                    at: now(),
                    outcome: Err(SignInError::InvalidCode),
                    flow: None,
                    counter: None,
                    message: None,
                    supersede_queued: false,
                    session: None,
                    log: None,
                }
            }),
        )
        .await
        .unwrap();
    assert!(w.outcome.is_err());
    let msgs = s.list_messages(t.id, 10).await.unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        (msgs[0].status.as_str(), msgs[0].flow_id),
        ("queued", Some(flow_id))
    );
}

/// Conformance case.
pub async fn outbox_claims_lease_and_finish(s: Arc<dyn Store>) {
    let hasher = SecretHasher::new([5; 32]);
    let t = tenant(&*s).await;
    start_flow(&*s, &t, None, &hasher).await;
    // Claims are global: drain whatever other tests queued, keep ours.
    let far = now() + Duration::days(3650);
    let mut ours = None;
    for m in s
        .claim_messages(now(), now() + Duration::seconds(30), 1000)
        .await
        .unwrap()
    {
        if m.tenant_id == t.id {
            ours = Some(m);
        }
    }
    let m = ours.expect("our message is due");
    assert_eq!(
        (m.attempts, m.sealed_body.clone(), m.tenant_name.clone()),
        (1, vec![1, 2, 3], t.name.clone())
    );
    // Leased: not claimed again before the lease ends, claimed again after.
    assert!(s
        .claim_messages(now(), far, 1000)
        .await
        .unwrap()
        .iter()
        .all(|x| x.id != m.id));
    let again = s
        .claim_messages(now() + Duration::seconds(31), far, 1000)
        .await
        .unwrap();
    assert!(again.iter().any(|x| x.id == m.id && x.attempts == 2));
    s.finish_message(m.id, DeliveryOutcome::Delivered, now())
        .await
        .unwrap();
    let listed = s.list_messages(t.id, 10).await.unwrap();
    assert_eq!(listed[0].status, "delivered");
    assert!(s
        .claim_messages(far + Duration::days(1), far, 1000)
        .await
        .unwrap()
        .iter()
        .all(|x| x.id != m.id));
}

/// Conformance case.
pub async fn policy_round_trips_and_changes_are_audited(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let mut p = s.policy(t.id).await.unwrap();
    assert_eq!(p.sms.state, MethodState::Disabled);
    p.sms.state = MethodState::Enabled;
    s.put_policy(t.id, &p, &Actor::cli(), now()).await.unwrap();
    assert_eq!(s.policy(t.id).await.unwrap(), p);
    let audits = s
        .directory_audits(t.id, &LogQuery::latest(10))
        .await
        .unwrap();
    assert_eq!(audits[0].activity, "Update authentication methods policy");
    assert_eq!(
        audits[0].before.as_ref().unwrap()["sms"]["state"],
        "disabled"
    );
    assert_eq!(audits[0].after.as_ref().unwrap()["sms"]["state"], "enabled");
}

/// Conformance case.
pub async fn deleting_a_user_removes_methods_and_memberships(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let g = Group {
        id: GroupId(uuid::Uuid::new_v4()),
        tenant_id: t.id,
        display_name: "Frontline".into(),
    };
    s.create_group(&g, &Actor::cli(), now()).await.unwrap();
    s.add_member(t.id, g.id, u, &Actor::cli(), now())
        .await
        .unwrap();
    assert!(matches!(
        s.add_member(t.id, g.id, u, &Actor::cli(), now()).await,
        Err(StoreError::Conflict(_))
    ));
    s.change_phone_method(
        add(&t, u, PhoneType::Mobile, "+14255550101", true),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        s.sign_in_candidate(t.id, "+14255550101")
            .await
            .unwrap()
            .unwrap()
            .groups,
        vec![g.id]
    );
    s.delete_user(t.id, u, &Actor::cli(), now()).await.unwrap();
    assert!(s.user(t.id, u).await.unwrap().is_none());
    assert!(s.members(t.id, g.id).await.unwrap().is_empty());
    assert!(s
        .sign_in_candidate(t.id, "+14255550101")
        .await
        .unwrap()
        .is_none());
    // The number is free again.
    let v = user(&*s, &t, "vic").await;
    s.change_phone_method(
        add(&t, v, PhoneType::Mobile, "+14255550101", true),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
}

fn grant(t: &Tenant) -> GrantRecord {
    GrantRecord {
        family_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: t.id,
        client_id: "app".into(),
        document: serde_json::json!({"sub": "x"}),
    }
}

/// Conformance case.
pub async fn a_code_is_redeemed_once_and_reuse_revokes_its_family(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let code = uuid::Uuid::new_v4().as_bytes().to_vec();
    s.insert_code(&code, &g, now() + Duration::seconds(60))
        .await
        .unwrap();
    // Tokens issued from the code (saved before a replay) are revoked by the replay.
    let refresh = uuid::Uuid::new_v4().as_bytes().to_vec();
    s.insert_refresh_token(&refresh, &g, now(), now() + Duration::days(1))
        .await
        .unwrap();
    s.record_access_token("jti-1", &g.family_id, now() + Duration::hours(1))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (s, code) = (s.clone(), code.clone());
            tokio::spawn(async move { s.redeem_code(&code, "app", now()).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Redemption::Redeemed(_)))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&Redemption::Reused));
    assert_eq!(
        s.redeem_code(&code, "app", now()).await.unwrap(),
        Redemption::Reused
    );
    assert_eq!(
        s.use_refresh_token(&refresh, "app", now()).await.unwrap(),
        Redemption::Invalid
    );
    assert!(s.access_token_revoked("jti-1").await.unwrap());
    // A token saved after the revocation (a replay that raced the redemption) is refused.
    assert!(matches!(
        s.record_access_token("jti-late", &g.family_id, now() + Duration::hours(1)).await,
        Err(StoreError::Conflict(c)) if c == "family_revoked"
    ));
    let late = uuid::Uuid::new_v4().as_bytes().to_vec();
    assert!(s
        .insert_refresh_token(&late, &g, now(), now() + Duration::days(1))
        .await
        .is_err());
    // A code presented by another client is refused and stays usable for its own client.
    let other = uuid::Uuid::new_v4().as_bytes().to_vec();
    let g2 = grant(&t);
    s.insert_code(&other, &g2, now() + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(
        s.redeem_code(&other, "intruder", now()).await.unwrap(),
        Redemption::Invalid
    );
    assert!(matches!(
        s.redeem_code(&other, "app", now()).await.unwrap(),
        Redemption::Redeemed(_)
    ));
    let expired = uuid::Uuid::new_v4().as_bytes().to_vec();
    s.insert_code(&expired, &grant(&t), now() - Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        s.redeem_code(&expired, "app", now()).await.unwrap(),
        Redemption::Invalid
    );
    assert_eq!(
        s.redeem_code(b"unknown", "app", now()).await.unwrap(),
        Redemption::Invalid
    );
}

/// Conformance case.
pub async fn a_rotated_refresh_token_reused_revokes_its_family(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let (first, second) = (
        uuid::Uuid::new_v4().as_bytes().to_vec(),
        uuid::Uuid::new_v4().as_bytes().to_vec(),
    );
    s.insert_refresh_token(&first, &g, now(), now() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(
        s.use_refresh_token(&first, "app", now()).await.unwrap(),
        Redemption::Redeemed(g.clone())
    );
    s.insert_refresh_token(&second, &g, now(), now() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(
        s.use_refresh_token(&first, "app", now()).await.unwrap(),
        Redemption::Reused
    );
    assert_eq!(
        s.use_refresh_token(&second, "app", now()).await.unwrap(),
        Redemption::Invalid,
        "the family is revoked"
    );
}
