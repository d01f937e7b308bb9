//! Phone methods: the type rules and the uniqueness rule of SMS sign-in numbers.

use std::sync::Arc;

use textid_core::methods::{PhoneMethodError, PhoneType};

use super::*;

const A_NUMBER: &str = "+14255550101";

fn op(t: &Tenant, u: UserId, ty: PhoneType, op: PhoneMethodOp) -> PhoneMethodChange {
    change(t, u, ty, op)
}

fn update(t: &Tenant, u: UserId, ty: PhoneType, n: &str) -> PhoneMethodChange {
    change(t, u, ty, PhoneMethodOp::Update { number: number(n) })
}

/// The user's numbers (E.164) and whether each is enabled, by type.
async fn methods(s: &dyn Store, t: &Tenant, u: UserId) -> Vec<(PhoneType, String, bool)> {
    s.phone_methods(t.id, u)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let m = r.method;
            (m.phone_type, m.number.e164(), m.sms_sign_in_enabled)
        })
        .collect()
}

async fn candidate(s: &dyn Store, t: &Tenant, phone: &str) -> Option<UserId> {
    s.sign_in_candidate(t.id, phone)
        .await
        .unwrap()
        .map(|c| c.user_id)
}

pub async fn a_number_waiting_for_proof_is_marked_until_proven(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    apply(&*s, add(&t, u, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    let waiting = |s: Arc<dyn Store>| async move {
        s.phone_methods(t.id, u).await.unwrap()[0].needs_confirmation
    };
    assert!(!waiting(s.clone()).await);
    s.set_needs_confirmation(t.id, u, PhoneType::Mobile, true, now())
        .await
        .unwrap();
    assert!(waiting(s.clone()).await);
    s.set_needs_confirmation(t.id, u, PhoneType::Mobile, false, now())
        .await
        .unwrap();
    assert!(!waiting(s.clone()).await);
    let missing = s
        .set_needs_confirmation(t.id, u, PhoneType::Office, true, now())
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

pub async fn phone_type_rules_hold(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let err = apply(
        &*s,
        add(&t, u, PhoneType::AlternateMobile, "+14255550102", false),
    )
    .await;
    assert_eq!(rule(err.unwrap_err()), PhoneMethodError::MobileRequired);
    apply(&*s, add(&t, u, PhoneType::Mobile, A_NUMBER, false))
        .await
        .unwrap();
    let err = apply(&*s, add(&t, u, PhoneType::Mobile, "+14255550109", false)).await;
    assert_eq!(
        rule(err.unwrap_err()),
        PhoneMethodError::AlreadyExists(PhoneType::Mobile)
    );
    apply(
        &*s,
        add(&t, u, PhoneType::AlternateMobile, "+14255550102", false),
    )
    .await
    .unwrap();
    let err = apply(&*s, op(&t, u, PhoneType::Mobile, PhoneMethodOp::Delete)).await;
    assert_eq!(
        rule(err.unwrap_err()),
        PhoneMethodError::AlternateMobileExists
    );
    apply(&*s, add(&t, u, PhoneType::Office, "+14255550103 x42", true))
        .await
        .unwrap();
    let methods = s.phone_methods(t.id, u).await.unwrap();
    let types: Vec<_> = methods.iter().map(|m| m.method.phone_type).collect();
    assert_eq!(
        types,
        [
            PhoneType::Mobile,
            PhoneType::AlternateMobile,
            PhoneType::Office
        ]
    );
    assert!(methods.iter().all(|m| m.method.user_id == u));
    assert!(
        !methods[2].method.sms_sign_in_enabled,
        "office can never be enabled"
    );
    assert_eq!(methods[2].method.number.to_string(), "+1 4255550103 x42");
    let enable_office = op(&t, u, PhoneType::Office, PhoneMethodOp::SetSmsSignIn(true));
    assert_eq!(
        rule(apply(&*s, enable_office).await.unwrap_err()),
        PhoneMethodError::NotSupported(PhoneType::Office)
    );
}

pub async fn a_sign_in_number_cannot_be_added_to_another_user(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    apply(&*s, add(&t, a, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    for ty in [PhoneType::Mobile, PhoneType::Office] {
        let err = apply(&*s, add(&t, b, ty, "+1 425 555 0101", false)).await;
        assert_eq!(
            rule(err.unwrap_err()),
            PhoneMethodError::NumberUsedForSignIn { other_user: a }
        );
    }
    // Changing B's existing number to A's is refused as well, and nothing is stored.
    apply(&*s, add(&t, b, PhoneType::Mobile, "+14255550199", false))
        .await
        .unwrap();
    let err = apply(&*s, update(&t, b, PhoneType::Mobile, A_NUMBER)).await;
    assert_eq!(
        rule(err.unwrap_err()),
        PhoneMethodError::NumberUsedForSignIn { other_user: a }
    );
    assert_eq!(
        methods(&*s, &t, b).await,
        [(PhoneType::Mobile, "+14255550199".into(), false)]
    );
}

pub async fn adding_in_scope_fails_when_another_user_has_the_number(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    apply(&*s, add(&t, a, PhoneType::Office, A_NUMBER, false))
        .await
        .unwrap();
    let err = apply(&*s, add(&t, b, PhoneType::Mobile, A_NUMBER, true)).await;
    assert_eq!(
        rule(err.unwrap_err()),
        PhoneMethodError::NumberNotUnique { other_user: a }
    );
    assert!(methods(&*s, &t, b).await.is_empty(), "nothing stored");
}

pub async fn enabling_fails_when_another_user_has_the_number(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    for u in [a, b] {
        apply(&*s, add(&t, u, PhoneType::Mobile, A_NUMBER, false))
            .await
            .unwrap();
    }
    let enable = op(&t, b, PhoneType::Mobile, PhoneMethodOp::SetSmsSignIn(true));
    assert_eq!(
        rule(apply(&*s, enable).await.unwrap_err()),
        PhoneMethodError::NumberNotUnique { other_user: a }
    );
    assert_eq!(
        methods(&*s, &t, b).await,
        [(PhoneType::Mobile, A_NUMBER.into(), false)]
    );
}

pub async fn shared_numbers_outside_sign_in_scope_are_allowed_and_flagged(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b, c) = (
        user(&*s, &t, "a").await,
        user(&*s, &t, "b").await,
        user(&*s, &t, "c").await,
    );
    for u in [a, b] {
        apply(&*s, add(&t, u, PhoneType::Mobile, A_NUMBER, false))
            .await
            .unwrap();
    }
    apply(&*s, add(&t, c, PhoneType::Mobile, "+14255550199", false))
        .await
        .unwrap();
    assert!(s.phone_methods(t.id, a).await.unwrap()[0].number_shared);
    assert!(s.phone_methods(t.id, b).await.unwrap()[0].number_shared);
    assert!(!s.phone_methods(t.id, c).await.unwrap()[0].number_shared);
    assert_eq!(
        candidate(&*s, &t, A_NUMBER).await,
        None,
        "not enabled for anyone"
    );
}

pub async fn concurrent_claims_of_one_number_have_exactly_one_winner(s: Arc<dyn Store>) {
    let mut wins = Vec::new();
    for round in 0..ROUNDS {
        let t = tenant(&*s).await;
        let mut users = Vec::new();
        for i in 0..RACERS {
            users.push(user(&*s, &t, &format!("u{i}")).await);
        }
        wins.push(
            race(|i| {
                let (s, claim) = (
                    s.clone(),
                    add(&t, users[i], PhoneType::Mobile, A_NUMBER, true),
                );
                async move {
                    match apply(&*s, claim).await {
                        Ok(()) => true,
                        Err(e) => {
                            let e = rule(e);
                            assert!(
                                matches!(
                                    e,
                                    PhoneMethodError::NumberNotUnique { .. }
                                        | PhoneMethodError::NumberUsedForSignIn { .. }
                                ),
                                "round {round}: {e:?}"
                            );
                            false
                        }
                    }
                }
            })
            .await,
        );
        let c = s.sign_in_candidate(t.id, A_NUMBER).await.unwrap();
        if let Some(c) = c {
            assert!(users.contains(&c.user_id));
            assert!(!c.number_shared);
        }
    }
    one_winner_each_round(&wins);
}

pub async fn updating_an_enabled_number_rechecks_uniqueness(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    apply(&*s, add(&t, a, PhoneType::Office, "+14255550177", false))
        .await
        .unwrap();
    apply(&*s, add(&t, b, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    // B's number is enabled: moving it onto a number A holds (even unenabled) is refused.
    let err = apply(&*s, update(&t, b, PhoneType::Mobile, "+14255550177")).await;
    assert_eq!(
        rule(err.unwrap_err()),
        PhoneMethodError::NumberNotUnique { other_user: a }
    );
    assert_eq!(
        methods(&*s, &t, b).await,
        [(PhoneType::Mobile, A_NUMBER.into(), true)]
    );
    assert_eq!(candidate(&*s, &t, A_NUMBER).await, Some(b));
}

pub async fn updating_an_enabled_number_moves_sign_in_to_the_new_number(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let b = user(&*s, &t, "b").await;
    apply(&*s, add(&t, b, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    apply(&*s, update(&t, b, PhoneType::Mobile, "+1 425 555 0142"))
        .await
        .unwrap();
    assert_eq!(
        methods(&*s, &t, b).await,
        [(PhoneType::Mobile, "+14255550142".into(), true)]
    );
    assert_eq!(candidate(&*s, &t, "+14255550142").await, Some(b));
    assert_eq!(candidate(&*s, &t, A_NUMBER).await, None);
    // The old number is free for someone else's sign-in.
    let c = user(&*s, &t, "c").await;
    apply(&*s, add(&t, c, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    assert_eq!(candidate(&*s, &t, A_NUMBER).await, Some(c));
}

pub async fn updating_a_number_outside_sign_in_scope_may_share_it(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    apply(&*s, add(&t, a, PhoneType::Mobile, A_NUMBER, false))
        .await
        .unwrap();
    apply(&*s, add(&t, b, PhoneType::Mobile, "+14255550199", false))
        .await
        .unwrap();
    apply(&*s, update(&t, b, PhoneType::Mobile, A_NUMBER))
        .await
        .unwrap();
    let mine = s.phone_methods(t.id, b).await.unwrap();
    assert_eq!(mine[0].method.number.e164(), A_NUMBER);
    assert!(mine[0].number_shared && !mine[0].method.sms_sign_in_enabled);
}

pub async fn disabling_sms_sign_in_keeps_the_method_and_frees_the_number(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    apply(&*s, add(&t, a, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    let disable = op(&t, a, PhoneType::Mobile, PhoneMethodOp::SetSmsSignIn(false));
    apply(&*s, disable.clone()).await.unwrap();
    assert_eq!(
        methods(&*s, &t, a).await,
        [(PhoneType::Mobile, A_NUMBER.into(), false)]
    );
    assert_eq!(candidate(&*s, &t, A_NUMBER).await, None);
    // Disabling twice is harmless.
    apply(&*s, disable).await.unwrap();
    // Another user may now hold the number outside sign-in scope (not enable it: A has it).
    apply(&*s, add(&t, b, PhoneType::Mobile, A_NUMBER, false))
        .await
        .unwrap();
    // Switching A back on is refused while B holds the number.
    let enable = op(&t, a, PhoneType::Mobile, PhoneMethodOp::SetSmsSignIn(true));
    assert_eq!(
        rule(apply(&*s, enable).await.unwrap_err()),
        PhoneMethodError::NumberNotUnique { other_user: b }
    );
}

pub async fn deleting_a_phone_method_frees_its_number(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    apply(&*s, add(&t, a, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    apply(
        &*s,
        add(&t, a, PhoneType::AlternateMobile, "+14255550102", false),
    )
    .await
    .unwrap();
    apply(
        &*s,
        op(&t, a, PhoneType::AlternateMobile, PhoneMethodOp::Delete),
    )
    .await
    .unwrap();
    assert_eq!(
        methods(&*s, &t, a).await,
        [(PhoneType::Mobile, A_NUMBER.into(), true)]
    );
    apply(&*s, op(&t, a, PhoneType::Mobile, PhoneMethodOp::Delete))
        .await
        .unwrap();
    assert!(methods(&*s, &t, a).await.is_empty());
    assert_eq!(candidate(&*s, &t, A_NUMBER).await, None);
    apply(&*s, add(&t, b, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    assert_eq!(candidate(&*s, &t, A_NUMBER).await, Some(b));
}

pub async fn changing_a_missing_phone_method_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "a").await;
    for (ty, change) in [
        (
            PhoneType::Mobile,
            PhoneMethodOp::Update {
                number: number(A_NUMBER),
            },
        ),
        (PhoneType::Office, PhoneMethodOp::Delete),
        (PhoneType::Mobile, PhoneMethodOp::SetSmsSignIn(true)),
    ] {
        assert_eq!(
            rule(apply(&*s, op(&t, u, ty, change)).await.unwrap_err()),
            PhoneMethodError::NotFound(ty)
        );
    }
    // A missing user (or one of another tenant) is a missing row, not a rule.
    not_found(
        apply(
            &*s,
            add(&t, missing_user(), PhoneType::Mobile, A_NUMBER, false),
        )
        .await,
    );
    let other = tenant(&*s).await;
    not_found(apply(&*s, add(&other, u, PhoneType::Mobile, A_NUMBER, false)).await);
    assert!(methods(&*s, &t, u).await.is_empty());
}

pub async fn phone_method_changes_are_audited_by_activity(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "a").await;
    let target = u.to_string();
    let steps = [
        (
            add(&t, u, PhoneType::Mobile, A_NUMBER, false),
            "Add phone method",
        ),
        (
            update(&t, u, PhoneType::Mobile, "+14255550142"),
            "Update phone method",
        ),
        (
            op(&t, u, PhoneType::Mobile, PhoneMethodOp::SetSmsSignIn(true)),
            "Enable SMS sign-in",
        ),
        (
            op(&t, u, PhoneType::Mobile, PhoneMethodOp::SetSmsSignIn(false)),
            "Disable SMS sign-in",
        ),
        (
            op(&t, u, PhoneType::Mobile, PhoneMethodOp::Delete),
            "Delete phone method",
        ),
    ];
    for (i, (c, activity)) in steps.into_iter().enumerate() {
        let at = later(i as i64 + 1);
        s.change_phone_method(c, &Actor::cli(), at).await.unwrap();
        let a = audited(&*s, &t, activity, &target, at).await;
        assert_eq!(a.target_type, "user");
        let method_id = PhoneType::Mobile.method_id().to_string();
        match activity {
            "Add phone method" => {
                assert_eq!(a.before, None);
                let after = a.after.unwrap();
                assert_eq!(after["phoneNumber"], "+1 4255550101");
                assert_eq!(after["id"], method_id.as_str());
                assert_eq!(after["phoneType"], "mobile");
                assert_eq!(after["smsSignInEnabled"], false);
            }
            "Update phone method" => {
                assert_eq!(a.before.unwrap()["phoneNumber"], "+1 4255550101");
                assert_eq!(a.after.unwrap()["phoneNumber"], "+1 4255550142");
            }
            "Enable SMS sign-in" => {
                assert_eq!(a.before.unwrap()["smsSignInEnabled"], false);
                assert_eq!(a.after.unwrap()["smsSignInEnabled"], true);
            }
            "Disable SMS sign-in" => {
                assert_eq!(a.before.unwrap()["smsSignInEnabled"], true);
                assert_eq!(a.after.unwrap()["smsSignInEnabled"], false);
            }
            _ => {
                assert_eq!(a.before.unwrap()["phoneNumber"], "+1 4255550142");
                assert_eq!(a.after, None);
            }
        }
    }
}

pub async fn a_refused_phone_method_change_is_neither_stored_nor_audited(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "a").await;
    let before = audits(&*s, &t).await;
    let refused = add(&t, u, PhoneType::AlternateMobile, "+14255550102", false);
    s.change_phone_method(refused, &Actor::cli(), later(1))
        .await
        .unwrap_err();
    assert!(methods(&*s, &t, u).await.is_empty());
    assert_eq!(audits(&*s, &t).await, before);
}

pub async fn one_number_may_sign_in_in_several_tenants(s: Arc<dyn Store>) {
    let (t1, t2) = (tenant(&*s).await, tenant(&*s).await);
    let (a, b) = (user(&*s, &t1, "a").await, user(&*s, &t2, "a").await);
    apply(&*s, add(&t1, a, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    apply(&*s, add(&t2, b, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    assert_eq!(candidate(&*s, &t1, A_NUMBER).await, Some(a));
    assert_eq!(candidate(&*s, &t2, A_NUMBER).await, Some(b));
    assert!(!s.phone_methods(t1.id, a).await.unwrap()[0].number_shared);
    assert!(s.phone_methods(t2.id, a).await.unwrap().is_empty());
}

pub async fn a_phone_change_that_takes_the_number_away_revokes_the_users_sessions(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    apply(&*s, add(&t, u, PhoneType::Mobile, A_NUMBER, true))
        .await
        .unwrap();
    // Adding a method takes nothing away.
    let kept = holdings(&*s, &t, u).await;
    apply(&*s, add(&t, u, PhoneType::Office, "+14255550150", false))
        .await
        .unwrap();
    assert_eq!(kept.alive(&*s, later(1)).await, [true; 5]);
    // A changed number, SMS sign-in switched off, a deleted method: each ends everything.
    let changes = [
        update(&t, u, PhoneType::Mobile, "+14255550102"),
        op(&t, u, PhoneType::Mobile, PhoneMethodOp::SetSmsSignIn(false)),
        op(&t, u, PhoneType::Office, PhoneMethodOp::Delete),
    ];
    for c in changes {
        let held = holdings(&*s, &t, u).await;
        s.change_phone_method(c.clone(), &Actor::cli(), later(2))
            .await
            .unwrap();
        assert_eq!(held.alive(&*s, later(3)).await, [false; 5], "{c:?}");
    }
    // Switching SMS sign-in back on revokes nothing.
    let held = holdings(&*s, &t, u).await;
    apply(
        &*s,
        op(&t, u, PhoneType::Mobile, PhoneMethodOp::SetSmsSignIn(true)),
    )
    .await
    .unwrap();
    assert_eq!(held.alive(&*s, later(3)).await, [true; 5]);
}
