//! SMS sign-in: candidates, atomic steps, flows, counters and the sessions they create.

use std::sync::Arc;

use chrono::Duration;
use rand::rngs::StdRng;
use rand::SeedableRng;
use textid_core::code::{OtpCode, SecretHasher};
use textid_core::flow::sms_sign_in::{self, FlowPurpose, FlowState, SignInError, StepContext};
use textid_core::flow::PhoneCounter;
use textid_core::limits::SignInLimits;
use textid_core::methods::PhoneType;
use textid_core::policy::MethodState;
use textid_core::{FlowId, SessionId};

use super::*;

const A_NUMBER: &str = "+14255550101";

/// A step that writes nothing and answers `FlowNotFound`.
fn nothing() -> StepWrite {
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
}

/// Checks `code` on the flow, as the verify endpoint does.
fn verify_decision(code: OtpCode, hasher: SecretHasher) -> Decide {
    let limits = SignInLimits::default();
    Box::new(move |input: StepInput<'_>| {
        let cx = StepContext {
            now: now(),
            limits: &limits,
            hasher: &hasher,
        };
        let (Some(flow), Some(counter)) = (input.flow, input.counter) else {
            return nothing();
        };
        let checked = sms_sign_in::check_code(flow, counter, &code, cx);
        let finished = checked.flow.state == FlowState::Completed;
        StepWrite {
            at: now(),
            outcome: checked.outcome.map(StepOutcome::SignedIn),
            flow: Some(checked.flow),
            counter: Some(checked.counter),
            message: None,
            supersede_queued: finished,
            session: None,
            log: None,
            abuse: Default::default(),
            link_request: None,
        }
    })
}

/// Starts a flow for `A_NUMBER` as the start endpoint does; returns it and its code.
async fn start_flow(
    s: &dyn Store,
    t: &Tenant,
    owner: Option<UserId>,
    hasher: &SecretHasher,
) -> (FlowId, OtpCode) {
    let limits = SignInLimits::default();
    let cx = StepContext {
        now: now(),
        limits: &limits,
        hasher,
    };
    let started = sms_sign_in::start(
        t.id,
        A_NUMBER.into(),
        owner,
        cx,
        &mut StdRng::from_entropy(),
    );
    let code = started
        .code
        .clone()
        .unwrap_or_else(|| OtpCode::parse("000000", 6).unwrap());
    let id = started.flow.id;
    let put_it = Put {
        message: Some(message(A_NUMBER, now())),
        ..Put::flow(&started.flow)
    };
    put(s, t, StepTarget::Number(A_NUMBER.into()), now(), put_it).await;
    (id, code)
}

pub async fn a_sign_in_candidate_carries_account_state_and_groups(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    apply(&*s, add(&t, u, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    let c = s.sign_in_candidate(t.id, A_NUMBER).await.unwrap().unwrap();
    assert_eq!(
        c,
        SignInCandidate {
            user_id: u,
            account_enabled: true,
            groups: vec![],
            number_shared: false,
            needs_confirmation: false,
        }
    );
    let (g1, g2) = (group(&*s, &t, "One").await, group(&*s, &t, "Two").await);
    for g in [g1, g2] {
        s.add_member(t.id, g, u, &Actor::cli(), now())
            .await
            .unwrap();
    }
    let mut disabled = s.user(t.id, u).await.unwrap().unwrap();
    disabled.account_enabled = false;
    s.update_user(&disabled, &Actor::cli(), now())
        .await
        .unwrap();
    let c = s.sign_in_candidate(t.id, A_NUMBER).await.unwrap().unwrap();
    assert!(!c.account_enabled);
    let (mut got, mut want) = (c.groups, vec![g1, g2]);
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

pub async fn only_an_enabled_mobile_is_a_sign_in_candidate(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    apply(&*s, add(&t, a, PhoneType::Mobile, A_NUMBER, false))
        .await
        .unwrap();
    apply(&*s, add(&t, b, PhoneType::Mobile, "+14255550199", true))
        .await
        .unwrap();
    apply(
        &*s,
        add(&t, b, PhoneType::AlternateMobile, "+14255550102", true),
    )
    .await
    .unwrap();
    apply(&*s, add(&t, b, PhoneType::Office, "+14255550103", true))
        .await
        .unwrap();
    for number in [A_NUMBER, "+14255550102", "+14255550103", "+14255550000"] {
        assert_eq!(
            s.sign_in_candidate(t.id, number).await.unwrap(),
            None,
            "{number}"
        );
    }
    let c = s.sign_in_candidate(t.id, "+14255550199").await.unwrap();
    assert_eq!(c.map(|c| c.user_id), Some(b));
    let other = tenant(&*s).await;
    assert_eq!(
        s.sign_in_candidate(other.id, "+14255550199").await.unwrap(),
        None
    );
}

pub async fn a_step_sees_the_numbers_owner_counters_and_the_tenant_policy(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    apply(&*s, add(&t, u, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    let mut policy = s.policy(t.id).await.unwrap();
    policy.sms.state = MethodState::Enabled;
    s.put_policy(t.id, &policy, &Actor::cli(), now())
        .await
        .unwrap();
    // A new number: no flow, empty counters, its owner, the policy.
    let seen = observe(&*s, &t, StepTarget::Number(A_NUMBER.into())).await;
    assert_eq!(seen.flow, None);
    assert_eq!(seen.counter, Some(PhoneCounter::default()));
    assert_eq!(seen.candidate.map(|c| c.user_id), Some(u));
    assert_eq!(seen.policy, policy);
    // A flow: the flow, its number's counters and owner (read now, not at its start).
    let f = flow(&t, A_NUMBER, Some(u), now());
    let counter = PhoneCounter {
        consecutive_failures: 2,
        ..PhoneCounter::default()
    };
    let put_it = Put {
        counter: Some(counter.clone()),
        ..Put::flow(&f)
    };
    put(&*s, &t, StepTarget::Number(A_NUMBER.into()), now(), put_it).await;
    let disable = change(&t, u, PhoneType::Mobile, PhoneMethodOp::SetSmsSignIn(false));
    apply(&*s, disable).await.unwrap();
    let seen = observe(&*s, &t, StepTarget::Flow(f.id)).await;
    assert_eq!(seen.flow, Some(f.clone()));
    assert_eq!(seen.counter, Some(counter));
    assert_eq!(seen.candidate, None, "the owner switched sign-in off");
    // An unknown flow, or another tenant's: nothing, not even counters.
    let other = tenant(&*s).await;
    for (tn, id) in [(&t, FlowId(uuid::Uuid::new_v4())), (&other, f.id)] {
        let seen = observe(&*s, tn, StepTarget::Flow(id)).await;
        assert_eq!(
            (seen.flow, seen.counter, seen.candidate),
            (None, None, None)
        );
    }
}

pub async fn a_step_writes_flow_counter_message_and_log_together(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let f = flow(&t, A_NUMBER, Some(u), now());
    let m = message(A_NUMBER, now());
    let counter = PhoneCounter {
        window_started_at: Some(now()),
        window_sends: 1,
        ..PhoneCounter::default()
    };
    let l = SignInLogEntry {
        flow_id: Some(f.id),
        ..log_entry(&t, Some(u), now())
    };
    let put_it = Put {
        flow: Some(f.clone()),
        counter: Some(counter.clone()),
        message: Some(m.clone()),
        log: Some(l.clone()),
        ..Put::default()
    };
    put(&*s, &t, StepTarget::Number(A_NUMBER.into()), now(), put_it).await;
    assert_eq!(s.sms_flow(t.id, f.id).await.unwrap(), Some(f.clone()));
    let seen = observe(&*s, &t, StepTarget::Flow(f.id)).await;
    assert_eq!(seen.counter, Some(counter));
    assert_eq!(
        messages(&*s, &t).await,
        [MessageRecord {
            id: m.id,
            to: A_NUMBER.into(),
            kind: "signInCode".into(),
            status: "queued".into(),
            attempts: 0,
            last_error: None,
            created_at: now(),
            flow_id: Some(f.id),
            provider: None,
            provider_message_id: None,
            receipt_status: None,
            receipt_reason: None,
            receipt_at: None,
        }]
    );
    let logs = s.sign_in_logs(t.id, &LogQuery::latest(10)).await.unwrap();
    assert_eq!(logs, [l]);

    // A step whose write fails (here: a message id already taken) writes nothing at all.
    let f2 = flow(&t, A_NUMBER, Some(u), later(60));
    let failing = Put {
        flow: Some(f2.clone()),
        counter: Some(PhoneCounter {
            consecutive_failures: 7,
            ..PhoneCounter::default()
        }),
        message: Some(m.clone()),
        log: Some(log_entry(&t, Some(u), later(60))),
        ..Put::default()
    };
    let target = StepTarget::Number(A_NUMBER.into());
    let written = try_put(&*s, &t, target, later(60), failing).await;
    assert!(written.is_err(), "a duplicate message id is refused");
    assert_eq!(s.sms_flow(t.id, f2.id).await.unwrap(), None);
    let seen = observe(&*s, &t, StepTarget::Number(A_NUMBER.into())).await;
    assert_eq!(seen.counter.unwrap().consecutive_failures, 0);
    assert_eq!(messages(&*s, &t).await.len(), 1);
    assert_eq!(
        s.sign_in_logs(t.id, &LogQuery::latest(10))
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn a_flow_is_read_back_only_in_its_tenant(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let owned = flow(&t, A_NUMBER, Some(u), now());
    let ownerless = flow(&t, "+14255550199", None, later(1));
    // Each purpose is read back as written (issue #15: a code completes only its own kind).
    let second = SmsSignInFlow {
        purpose: FlowPurpose::SecondFactor,
        ..flow(&t, "+14255550198", Some(u), later(2))
    };
    let reset = SmsSignInFlow {
        purpose: FlowPurpose::PasswordReset,
        ..flow(&t, "+14255550197", Some(u), later(3))
    };
    for f in [&owned, &ownerless, &second, &reset] {
        let put_it = Put::flow(f);
        put(
            &*s,
            &t,
            StepTarget::Number(f.phone_e164.clone()),
            now(),
            put_it,
        )
        .await;
        assert_eq!(s.sms_flow(t.id, f.id).await.unwrap().as_ref(), Some(f));
    }
    // A later step updates it in place, the channel of its last code included.
    let done = SmsSignInFlow {
        state: FlowState::Completed,
        channel: textid_core::message::Channel::Voice,
        attempts: 2,
        sends: 3,
        last_sent_at: later(90),
        code_expires_at: later(390),
        code_hash: Some(digest()),
        ..owned.clone()
    };
    let put_it = Put::flow(&done);
    put(&*s, &t, StepTarget::Flow(owned.id), later(100), put_it).await;
    assert_eq!(s.sms_flow(t.id, owned.id).await.unwrap(), Some(done));
    let other = tenant(&*s).await;
    assert_eq!(s.sms_flow(other.id, owned.id).await.unwrap(), None);
    let unknown = FlowId(uuid::Uuid::new_v4());
    assert_eq!(s.sms_flow(t.id, unknown).await.unwrap(), None);
}

pub async fn counters_are_kept_per_number_and_tenant(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let counter = PhoneCounter {
        consecutive_failures: 11,
        locked_until: Some(later(120)),
        window_started_at: Some(now()),
        window_sends: 4,
    };
    let put_it = Put::counter(&counter);
    put(&*s, &t, StepTarget::Number(A_NUMBER.into()), now(), put_it).await;
    let seen = observe(&*s, &t, StepTarget::Number(A_NUMBER.into())).await;
    assert_eq!(seen.counter, Some(counter));
    let seen = observe(&*s, &t, StepTarget::Number("+14255550199".into())).await;
    assert_eq!(seen.counter, Some(PhoneCounter::default()));
    let other = tenant(&*s).await;
    let seen = observe(&*s, &other, StepTarget::Number(A_NUMBER.into())).await;
    assert_eq!(seen.counter, Some(PhoneCounter::default()));
}

pub async fn concurrent_verifications_of_one_code_have_exactly_one_winner(s: Arc<dyn Store>) {
    let hasher = SecretHasher::new([5; 32]);
    let mut wins = Vec::new();
    for round in 0..ROUNDS {
        let t = tenant(&*s).await;
        let owner = user(&*s, &t, "a").await;
        let (flow_id, code) = start_flow(&*s, &t, Some(owner), &hasher).await;
        wins.push(
            race(|_| {
                let (s, code, hasher) = (s.clone(), code.clone(), hasher.clone());
                async move {
                    let target = StepTarget::Flow(flow_id);
                    let decide = verify_decision(code, hasher);
                    match s
                        .sms_sign_in_step(t.id, target, super::no_abuse(now()), decide)
                        .await
                        .unwrap()
                        .outcome
                    {
                        Ok(signed_in) => {
                            assert_eq!(signed_in, StepOutcome::SignedIn(owner));
                            true
                        }
                        Err(e) => {
                            assert_eq!(e, SignInError::FlowNotFound, "round {round}");
                            false
                        }
                    }
                }
            })
            .await,
        );
        let done = s.sms_flow(t.id, flow_id).await.unwrap().unwrap();
        assert_eq!(done.state, FlowState::Completed);
    }
    one_winner_each_round(&wins);
}

pub async fn concurrent_starts_on_one_number_spend_its_send_budget_once(s: Arc<dyn Store>) {
    let limits = SignInLimits {
        sends_per_window: 1,
        ..SignInLimits::default()
    };
    let mut wins = Vec::new();
    for round in 0..ROUNDS {
        let t = tenant(&*s).await;
        wins.push(
            race(|_| {
                let (s, limits) = (s.clone(), limits.clone());
                let (f, m) = (flow(&t, A_NUMBER, None, now()), message(A_NUMBER, now()));
                async move {
                    let decide: Decide = Box::new(move |input: StepInput<'_>| {
                        let hasher = SecretHasher::new([5; 32]);
                        let cx = StepContext {
                            now: now(),
                            limits: &limits,
                            hasher: &hasher,
                        };
                        match sms_sign_in::take_send(input.counter.unwrap(), cx) {
                            Ok(counter) => StepWrite {
                                outcome: Ok(StepOutcome::CodeSent),
                                flow: Some(f.clone()),
                                counter: Some(counter),
                                message: Some(m.clone()),
                                ..nothing()
                            },
                            Err(e) => StepWrite {
                                outcome: Err(e),
                                ..nothing()
                            },
                        }
                    });
                    let target = StepTarget::Number(A_NUMBER.into());
                    match s
                        .sms_sign_in_step(t.id, target, super::no_abuse(now()), decide)
                        .await
                        .unwrap()
                        .outcome
                    {
                        Ok(_) => true,
                        Err(e) => {
                            let refused = matches!(e, SignInError::TooManyRequests { .. });
                            assert!(refused, "round {round}: {e:?}");
                            false
                        }
                    }
                }
            })
            .await,
        );
        assert_eq!(messages(&*s, &t).await.len(), 1, "round {round}");
        let seen = observe(&*s, &t, StepTarget::Number(A_NUMBER.into())).await;
        assert_eq!(seen.counter.unwrap().window_sends, 1, "round {round}");
    }
    one_winner_each_round(&wins);
}

pub async fn a_supersede_queued_step_fails_older_queued_messages_of_the_flow(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let t = tenant(&*s).await;
    let (f, first) = queue(&*s, &t, A_NUMBER, now()).await;
    let (_, other_flow) = queue(&*s, &t, "+14255550199", later(1)).await;
    let delivered = message(A_NUMBER, later(2)).id;
    let put_it = Put {
        flow: Some(SmsSignInFlow {
            sends: 2,
            ..f.clone()
        }),
        message: Some(NewMessage {
            id: delivered,
            ..message(A_NUMBER, later(2))
        }),
        ..Put::default()
    };
    put(&*s, &t, StepTarget::Flow(f.id), later(2), put_it).await;
    s.finish_message(
        delivered,
        DeliveryOutcome::Delivered(Handover::default()),
        later(3),
    )
    .await
    .unwrap();
    // A resend: a new code replaces the old one, so the old code's message must not go.
    let resent = message(A_NUMBER, later(10));
    let put_it = Put {
        flow: Some(SmsSignInFlow {
            sends: 3,
            last_sent_at: later(10),
            ..f.clone()
        }),
        message: Some(resent.clone()),
        supersede_queued: true,
        ..Put::default()
    };
    put(&*s, &t, StepTarget::Flow(f.id), later(10), put_it).await;
    let first = listed(&*s, &t, first).await;
    assert_eq!(first.status, "failed");
    assert!(first.last_error.is_some());
    assert_eq!(listed(&*s, &t, resent.id).await.status, "queued");
    assert_eq!(listed(&*s, &t, delivered).await.status, "delivered");
    assert_eq!(listed(&*s, &t, other_flow).await.status, "queued");
    let claimed = s.claim_messages(later(20), later(50), 1000).await.unwrap();
    let ids: Vec<_> = claimed
        .iter()
        .filter(|m| m.tenant_id == t.id)
        .map(|m| m.id)
        .collect();
    assert!(ids.contains(&resent.id) && ids.contains(&other_flow));
    assert!(!ids.contains(&first.id) && !ids.contains(&delivered));
}

pub async fn sessions_created_by_a_step_are_found_by_token_hash_and_expire(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let new = session(u, later(3600));
    let put_it = Put::session(&new);
    put(&*s, &t, StepTarget::Number(A_NUMBER.into()), now(), put_it).await;
    let found = s
        .session_by_token_hash(SessionKind::Browser, &new.token_hash.0, now())
        .await
        .unwrap();
    assert_eq!(
        found,
        Some(SessionRecord {
            id: new.id,
            kind: SessionKind::Browser,
            client_id: None,
            tenant_id: t.id,
            user_id: u,
            amr: vec!["sms".into(), "mfa".into()],
            created_at: now(),
            expires_at: later(3600),
        })
    );
    let at = |when| s.session_by_token_hash(SessionKind::Browser, &new.token_hash.0, when);
    assert!(at(later(3599)).await.unwrap().is_some());
    assert!(at(later(3600)).await.unwrap().is_none(), "ended");
    assert!(at(now() + Duration::days(1)).await.unwrap().is_none());
    assert!(s
        .session_by_token_hash(SessionKind::Browser, &digest().0, now())
        .await
        .unwrap()
        .is_none());
}

pub async fn a_revoked_session_is_no_longer_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let (gone, kept) = (session(u, later(3600)), session(u, later(3600)));
    for new in [&gone, &kept] {
        let put_it = Put::session(new);
        put(&*s, &t, StepTarget::Number(A_NUMBER.into()), now(), put_it).await;
    }
    s.revoke_session(gone.id, later(10)).await.unwrap();
    let find = |new: &NewSession, at| {
        let (s, hash) = (s.clone(), new.token_hash.0);
        async move {
            s.session_by_token_hash(SessionKind::Browser, &hash, at)
                .await
                .unwrap()
        }
    };
    assert!(find(&gone, later(11)).await.is_none());
    assert!(find(&kept, later(11)).await.is_some());
    // Signing out twice, or with an unknown session, is harmless.
    s.revoke_session(gone.id, later(20)).await.unwrap();
    s.revoke_session(SessionId(uuid::Uuid::new_v4()), later(20))
        .await
        .unwrap();
    assert!(find(&gone, later(21)).await.is_none());
    assert!(find(&kept, later(21)).await.is_some());
}

pub async fn a_session_is_found_only_as_its_own_kind(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let browser = session(u, later(3600));
    let api = NewSession {
        kind: SessionKind::Api,
        client_id: Some("app".into()),
        ..session(u, later(3600))
    };
    for new in [&browser, &api] {
        put(
            &*s,
            &t,
            StepTarget::Number(A_NUMBER.into()),
            now(),
            Put::session(new),
        )
        .await;
    }
    let find = |k, new: &NewSession| {
        let (s, hash) = (s.clone(), new.token_hash.0);
        async move { s.session_by_token_hash(k, &hash, now()).await.unwrap() }
    };
    let found = find(SessionKind::Api, &api).await.unwrap();
    assert_eq!((found.id, found.kind), (api.id, SessionKind::Api));
    assert_eq!(found.client_id.as_deref(), Some("app"));
    let found = find(SessionKind::Browser, &browser).await.unwrap();
    assert_eq!(
        (found.id, found.kind, found.client_id),
        (browser.id, SessionKind::Browser, None)
    );
    // A token of one kind presented as the other is unknown.
    assert_eq!(find(SessionKind::Browser, &api).await, None);
    assert_eq!(find(SessionKind::Api, &browser).await, None);
}

pub async fn revoking_a_users_sessions_ends_both_kinds_and_their_token_families_only(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let (u, v) = (user(&*s, &t, "ana").await, user(&*s, &t, "vic").await);
    let (ana, vic) = (holdings(&*s, &t, u).await, holdings(&*s, &t, v).await);
    s.revoke_user_sessions(t.id, u, &Actor::cli(), later(10))
        .await
        .unwrap();
    audited(
        &*s,
        &t,
        "Revoke sign-in sessions",
        &u.to_string(),
        later(10),
    )
    .await;
    assert_eq!(ana.alive(&*s, later(11)).await, [false; 5]);
    assert_eq!(
        vic.alive(&*s, later(11)).await,
        [true; 5],
        "another user keeps theirs"
    );
    // The family stays revoked: a token saved for it afterwards is refused.
    let again = s
        .revoke_user_sessions(t.id, u, &Actor::cli(), later(12))
        .await;
    assert!(again.is_ok(), "revoking twice is harmless");
}

/// Issue #15: a change on the security info page ends the user's *other* sessions; the
/// browser session it was made in stays, the token families go all the same.
pub async fn revoking_a_users_other_sessions_spares_the_one_kept(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (u, v) = (user(&*s, &t, "ana").await, user(&*s, &t, "vic").await);
    let (ana, vic) = (holdings(&*s, &t, u).await, holdings(&*s, &t, v).await);
    s.revoke_other_sessions(t.id, u, ana.browser.id, &Actor::cli(), later(10))
        .await
        .unwrap();
    audited(
        &*s,
        &t,
        "Revoke sign-in sessions",
        &u.to_string(),
        later(10),
    )
    .await;
    assert_eq!(
        ana.alive(&*s, later(11)).await,
        [true, false, false, false, false],
        "only the kept browser session lives"
    );
    assert_eq!(vic.alive(&*s, later(11)).await, [true; 5]);
    not_found(
        s.revoke_other_sessions(t.id, missing_user(), ana.browser.id, &Actor::cli(), now())
            .await,
    );
}

/// A phone change made in a session (`made_in`) that revokes spares that session.
pub async fn a_revoking_phone_change_spares_the_session_it_was_made_in(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    s.change_phone_method(
        super::add(&t, u, PhoneType::Mobile, "+14255550101", true),
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    let ana = holdings(&*s, &t, u).await;
    let change = PhoneMethodChange {
        made_in: Some(ana.browser.id),
        ..super::change(&t, u, PhoneType::Mobile, PhoneMethodOp::Delete)
    };
    s.change_phone_method(change, &Actor::user(u), later(10))
        .await
        .unwrap();
    assert_eq!(
        ana.alive(&*s, later(11)).await,
        [true, false, false, false, false]
    );
}

pub async fn revoking_the_sessions_of_a_missing_user_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let before = audits(&*s, &t).await.len();
    not_found(
        s.revoke_user_sessions(t.id, missing_user(), &Actor::cli(), now())
            .await,
    );
    let other = tenant(&*s).await;
    let u = user(&*s, &other, "ana").await;
    not_found(s.revoke_user_sessions(t.id, u, &Actor::cli(), now()).await);
    assert_eq!(audits(&*s, &t).await.len(), before);
}

/// Issue #19: a code issued in a browser session that has since ended (signed out, its
/// user's sessions revoked, or expired) is refused in the redemption's own transaction,
/// and spent; a code of another, live session of the same user still redeems once.
pub async fn a_code_whose_browser_session_ended_is_refused_and_spent(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let with = |sso: &NewSession| GrantRecord {
        user_id: Some(sso.user_id),
        session_id: Some(sso.id),
        ..grant(&t)
    };
    // Signed out (one session).
    let (signed_out, live) = (
        live_session(&*s, &t, later(3600)).await,
        live_session(&*s, &t, later(3600)).await,
    );
    let kept_grant = with(&live);
    let (gone, kept) = (
        code(&*s, &with(&signed_out)).await,
        code(&*s, &kept_grant).await,
    );
    s.revoke_session(signed_out.id, later(1)).await.unwrap();
    assert_eq!(
        s.redeem_code(&gone, "app", later(2), no_token())
            .await
            .unwrap(),
        Redemption::SessionEnded
    );
    assert!(
        !matches!(
            s.redeem_code(&gone, "app", later(3), no_token())
                .await
                .unwrap(),
            Redemption::Redeemed(_)
        ),
        "spent, not redeemable later"
    );
    assert_eq!(
        s.redeem_code(&kept, "app", later(2), no_token())
            .await
            .unwrap(),
        Redemption::Redeemed(kept_grant)
    );
    // Expired: the session's lifetime ended before the code's.
    let short = live_session(&*s, &t, later(10)).await;
    let outlived = code(&*s, &with(&short)).await;
    assert_eq!(
        s.redeem_code(&outlived, "app", later(10), no_token())
            .await
            .unwrap(),
        Redemption::SessionEnded
    );
    // Every session of the user revoked (e.g. by an admin).
    let revoked = live_session(&*s, &t, later(3600)).await;
    let c = code(&*s, &with(&revoked)).await;
    s.revoke_user_sessions(t.id, revoked.user_id, &Actor::cli(), later(1))
        .await
        .unwrap();
    assert!(!matches!(
        s.redeem_code(&c, "app", later(2), no_token())
            .await
            .unwrap(),
        Redemption::Redeemed(_)
    ));
    // Another client's presentation is still refused without spending the code.
    let other = live_session(&*s, &t, later(3600)).await;
    let c = code(&*s, &with(&other)).await;
    assert_eq!(
        s.redeem_code(&c, "intruder", later(1), no_token())
            .await
            .unwrap(),
        Redemption::Invalid
    );
    s.revoke_session(other.id, later(2)).await.unwrap();
    assert_eq!(
        s.redeem_code(&c, "app", later(3), no_token())
            .await
            .unwrap(),
        Redemption::SessionEnded
    );
}

/// Issue #14 §4: a code issued for a browser session at the instant its user's sessions
/// are revoked was redeemable once (the code's family was new, so the revocation had not
/// seen it). Now the code is stored only while its session is live, in the insert's own
/// transaction: issued at the revocation's instant, after it, or racing it, the code
/// never redeems.
pub async fn a_code_issued_at_the_instant_of_revocation_is_never_redeemable(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let sso = session(u, later(3600));
    put(
        &*s,
        &t,
        StepTarget::Number("+14255550198".into()),
        now(),
        Put::session(&sso),
    )
    .await;
    let g = || GrantRecord {
        user_id: Some(u),
        session_id: Some(sso.id),
        ..grant(&t)
    };
    // Issued at the instant of the revocation, just before it in commit order.
    let before = code(&*s, &g()).await;
    s.revoke_user_sessions(t.id, u, &Actor::cli(), now())
        .await
        .unwrap();
    assert_eq!(
        s.redeem_code(&before, "app", now(), no_token())
            .await
            .unwrap(),
        Redemption::Invalid
    );
    // Issued at the same instant, just after it in commit order: refused.
    let after = s
        .insert_code(&hash(), &g(), now() + Duration::minutes(1))
        .await;
    assert!(
        matches!(&after, Err(StoreError::Conflict(c)) if c == "session_revoked"),
        "{after:?}"
    );
    // Racing: whichever commits first, no code survives.
    for _ in 0..RACERS {
        let fresh = session(u, later(3600));
        put(
            &*s,
            &t,
            StepTarget::Number("+14255550198".into()),
            now(),
            Put::session(&fresh),
        )
        .await;
        let grant = GrantRecord {
            session_id: Some(fresh.id),
            ..g()
        };
        let (h, cli) = (hash(), Actor::cli());
        let (issue, revoke) = tokio::join!(
            s.insert_code(&h, &grant, now() + Duration::minutes(1)),
            s.revoke_user_sessions(t.id, u, &cli, now()),
        );
        revoke.unwrap();
        if issue.is_ok() {
            assert_eq!(
                s.redeem_code(&h, "app", now(), no_token()).await.unwrap(),
                Redemption::Invalid
            );
        }
    }
    // A grant without a session (stored before sessions were recorded) is unaffected.
    let plain = code(&*s, &grant(&t)).await;
    assert!(matches!(
        s.redeem_code(&plain, "app", now(), no_token())
            .await
            .unwrap(),
        Redemption::Redeemed(_)
    ));
}
