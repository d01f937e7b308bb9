//! Shared numbers (issue #16): refuse-shared mode on every write path (one change, an
//! import), its audit and notification, the shared-number report, and what a sign-in step
//! sees of a number's holder when it has no candidate (for the sign-in log).

use std::sync::Arc;

use serde_json::json;

use textid_core::methods::{PhoneMethodError, PhoneType};

use super::*;

const SHARED: &str = "+14255550111";

async fn refuse_shared(s: &dyn Store, t: &Tenant, refuse: bool, at: DateTime<Utc>) {
    s.set_tenant_refuse_shared_phone_numbers(t.id, refuse, &Actor::cli(), at)
        .await
        .unwrap();
}

pub async fn refuse_shared_mode_refuses_a_number_another_user_holds_on_any_method(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let ana = user(&*s, &t, "ana").await;
    let bo = user(&*s, &t, "bo").await;
    apply(&*s, add(&t, ana, PhoneType::Office, SHARED, false))
        .await
        .unwrap();
    // Off (Entra's default): Bo may share Ana's office number outside sign-in.
    apply(&*s, add(&t, bo, PhoneType::Office, SHARED, false))
        .await
        .unwrap();
    apply(
        &*s,
        change(&t, bo, PhoneType::Office, PhoneMethodOp::Delete),
    )
    .await
    .unwrap();
    refuse_shared(&*s, &t, true, later(1)).await;
    let before = audits(&*s, &t).await.len();
    for ty in [PhoneType::Mobile, PhoneType::Office] {
        let err = apply(&*s, add(&t, bo, ty, SHARED, false))
            .await
            .unwrap_err();
        assert_eq!(
            rule(err),
            PhoneMethodError::NumberShared { other_user: ana },
            "{ty}"
        );
    }
    // A change to the number is refused too; a number of one's own is not.
    apply(&*s, add(&t, bo, PhoneType::Mobile, "+14255550112", false))
        .await
        .unwrap();
    let to_shared = change(
        &t,
        bo,
        PhoneType::Mobile,
        PhoneMethodOp::Update {
            number: number(SHARED),
        },
    );
    let err = apply(&*s, to_shared).await.unwrap_err();
    assert_eq!(rule(err).code(), "phoneNumberShared");
    let kept: Vec<_> = s
        .phone_methods(t.id, bo)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.method.number.e164())
        .collect();
    assert_eq!(kept, ["+14255550112"], "nothing refused was stored");
    assert_eq!(
        audits(&*s, &t).await.len(),
        before + 1,
        "only the accepted add is audited"
    );
    // Switched off again, sharing is allowed again.
    refuse_shared(&*s, &t, false, later(2)).await;
    apply(&*s, add(&t, bo, PhoneType::Office, SHARED, false))
        .await
        .unwrap();
}

pub async fn refuse_shared_mode_is_audited_notified_and_kept_per_tenant(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let other = tenant(&*s).await;
    assert!(
        !t.refuse_shared_phone_numbers,
        "off by default, as in Entra"
    );
    let mut changes = s.subscribe();
    refuse_shared(&*s, &t, true, later(1)).await;
    expect_change(&mut changes, Changed::Tenants).await;
    let stored = s.tenant_by_id(t.id).await.unwrap().unwrap();
    assert!(stored.refuse_shared_phone_numbers);
    assert_eq!(s.tenant_by_name(&t.name).await.unwrap(), Some(stored));
    let a = audited(
        &*s,
        &t,
        "Update tenant phone number sharing",
        &t.id.to_string(),
        later(1),
    )
    .await;
    assert_eq!(a.before, Some(json!({"refuseSharedPhoneNumbers": false})));
    assert_eq!(a.after, Some(json!({"refuseSharedPhoneNumbers": true})));
    let untouched = s.tenant_by_id(other.id).await.unwrap().unwrap();
    assert!(!untouched.refuse_shared_phone_numbers);
    // The other tenant may still share a number between its users.
    let (a1, a2) = (
        user(&*s, &other, "ana").await,
        user(&*s, &other, "bo").await,
    );
    for u in [a1, a2] {
        apply(&*s, add(&other, u, PhoneType::Office, SHARED, false))
            .await
            .unwrap();
    }
    let missing = TenantId(uuid::Uuid::new_v4());
    not_found(
        s.set_tenant_refuse_shared_phone_numbers(missing, true, &Actor::cli(), now())
            .await,
    );
}

pub async fn refuse_shared_mode_refuses_an_import_of_a_held_number(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let ana = user(&*s, &t, "ana").await;
    apply(&*s, add(&t, ana, PhoneType::Office, SHARED, false))
        .await
        .unwrap();
    refuse_shared(&*s, &t, true, now()).await;
    let row = |line, name: &str, n: &str| ImportedUserRow {
        line,
        user: new_user(&t, name),
        numbers: vec![(PhoneType::Office, number(n))],
    };
    // Held by a stored user, and shared between two rows of the batch.
    let rows = vec![
        row(2, "bo", SHARED),
        row(3, "cy", "+14255550120"),
        row(4, "di", "+14255550120"),
    ];
    let err = s
        .import_users(t.id, rows, false, &Actor::cli(), now())
        .await
        .unwrap_err();
    let found: Vec<(u64, &str)> = match err {
        StoreError::Import(p) => p.into_iter().map(|p| (p.line, p.code)).collect(),
        other => panic!("expected a refused import, got {other:?}"),
    };
    assert_eq!(found, [(2, "phoneNumberShared"), (4, "phoneNumberShared")]);
    assert!(s.user_by_upn(t.id, &upn("cy")).await.unwrap().is_none());
}

type ImportedUserRow = textid_core::directory::import::ImportedUser;

pub async fn the_shared_number_report_lists_each_number_held_by_several_users_with_its_methods(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let g = group(&*s, &t, "Night shift").await;
    let ana = user(&*s, &t, "ana").await;
    let bo = user(&*s, &t, "bo").await;
    let cy = user(&*s, &t, "cy").await;
    s.add_member(t.id, g, bo, &Actor::cli(), now())
        .await
        .unwrap();
    // SHARED: Ana's mobile (not enabled: a number enabled for sign-in cannot be shared),
    // Bo's office phone with an extension, Cy's alternate mobile.
    apply(&*s, add(&t, ana, PhoneType::Mobile, SHARED, false))
        .await
        .unwrap();
    apply(
        &*s,
        add(&t, bo, PhoneType::Office, "+14255550111 x7", false),
    )
    .await
    .unwrap();
    apply(&*s, add(&t, cy, PhoneType::Mobile, "+14255550130", true))
        .await
        .unwrap();
    apply(&*s, add(&t, cy, PhoneType::AlternateMobile, SHARED, false))
        .await
        .unwrap();
    // One user holding a number on two methods is not sharing it.
    apply(&*s, add(&t, bo, PhoneType::Mobile, "+14255550140", false))
        .await
        .unwrap();
    apply(
        &*s,
        add(&t, bo, PhoneType::AlternateMobile, "+14255550140", false),
    )
    .await
    .unwrap();
    // Another tenant's holders of the same number are not this tenant's business.
    let other = tenant(&*s).await;
    let far = user(&*s, &other, "far").await;
    apply(&*s, add(&other, far, PhoneType::Office, SHARED, false))
        .await
        .unwrap();

    let report = s.shared_numbers(t.id).await.unwrap();
    assert_eq!(report.len(), 1, "{report:?}");
    assert_eq!(report[0].e164, SHARED);
    let holders: Vec<_> = report[0]
        .holders
        .iter()
        .map(|h| {
            (
                h.upn.as_str(),
                h.method.user_id,
                h.method.phone_type,
                h.method.number.to_string(),
                h.method.sms_sign_in_enabled,
            )
        })
        .collect();
    assert_eq!(
        holders,
        [
            (
                "ana@contoso.example",
                ana,
                PhoneType::Mobile,
                "+1 4255550111".to_string(),
                false
            ),
            (
                "bo@contoso.example",
                bo,
                PhoneType::Office,
                "+1 4255550111 x7".to_string(),
                false
            ),
            (
                "cy@contoso.example",
                cy,
                PhoneType::AlternateMobile,
                "+1 4255550111".to_string(),
                false
            ),
        ]
    );
    let bo_row = &report[0].holders[1];
    assert_eq!(bo_row.groups, [g]);
    assert_eq!(bo_row.display_name, "bo");
    assert!(bo_row.account_enabled);
    assert!(s.shared_numbers(other.id).await.unwrap().is_empty());
}

pub async fn a_step_without_a_candidate_sees_who_holds_the_number(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let ana = user(&*s, &t, "ana").await;
    let bo = user(&*s, &t, "bo").await;
    // Nobody holds it.
    let seen = observe(&*s, &t, StepTarget::Number(SHARED.into())).await;
    assert_eq!((seen.candidate, seen.holding), (None, None));
    // Bo's office phone: no candidate, Bo holds it.
    apply(&*s, add(&t, bo, PhoneType::Office, SHARED, false))
        .await
        .unwrap();
    let seen = observe(&*s, &t, StepTarget::Number(SHARED.into())).await;
    assert_eq!(seen.candidate, None);
    assert_eq!(
        seen.holding,
        Some(NumberHolding {
            user_id: bo,
            phone_type: PhoneType::Office,
            account_enabled: true,
            number_shared: false,
        })
    );
    // Ana's mobile (not enabled) comes first, and the number is now shared.
    apply(&*s, add(&t, ana, PhoneType::Mobile, SHARED, false))
        .await
        .unwrap();
    let seen = observe(&*s, &t, StepTarget::Number(SHARED.into())).await;
    let h = seen.holding.unwrap();
    assert_eq!(
        (h.user_id, h.phone_type, h.number_shared),
        (ana, PhoneType::Mobile, true)
    );
    // With a candidate, the step does not look further.
    let cy = user(&*s, &t, "cy").await;
    apply(&*s, add(&t, cy, PhoneType::Mobile, "+14255550150", true))
        .await
        .unwrap();
    let seen = observe(&*s, &t, StepTarget::Number("+14255550150".into())).await;
    assert_eq!(seen.candidate.map(|c| c.user_id), Some(cy));
    assert_eq!(seen.holding, None);
}

pub async fn concurrent_adds_of_one_number_in_refuse_shared_mode_have_exactly_one_winner(
    s: Arc<dyn Store>,
) {
    let mut wins = Vec::new();
    for round in 0..ROUNDS {
        let t = tenant(&*s).await;
        refuse_shared(&*s, &t, true, now()).await;
        let mut users = Vec::new();
        for i in 0..RACERS {
            users.push(user(&*s, &t, &format!("u{i}")).await);
        }
        // Office phones: outside sign-in, so only refuse-shared mode stands in the way.
        wins.push(
            race(|i| {
                let (s, claim) = (
                    s.clone(),
                    add(&t, users[i], PhoneType::Office, SHARED, false),
                );
                async move {
                    match apply(&*s, claim).await {
                        Ok(()) => true,
                        Err(e) => {
                            let e = rule(e);
                            assert_eq!(e.code(), "phoneNumberShared", "round {round}: {e:?}");
                            false
                        }
                    }
                }
            })
            .await,
        );
        assert!(
            s.shared_numbers(t.id).await.unwrap().is_empty(),
            "round {round}"
        );
    }
    one_winner_each_round(&wins);
}
