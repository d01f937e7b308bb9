//! `DirectoryStore::import_users`: a batch is written whole or not at all, by the same
//! rules as one-by-one creation, and races fairly with single phone method changes.

use std::sync::Arc;

use textid_core::directory::import::ImportedUser;

use super::*;

fn imported(t: &Tenant, line: u64, name: &str, numbers: &[(PhoneType, &str)]) -> ImportedUser {
    ImportedUser {
        line,
        user: new_user(t, name),
        numbers: numbers.iter().map(|(ty, n)| (*ty, number(n))).collect(),
    }
}

fn problems(r: StoreResult<usize>) -> Vec<(u64, &'static str)> {
    match r {
        Err(StoreError::Import(p)) => p.into_iter().map(|p| (p.line, p.code)).collect(),
        other => panic!("expected a refused import, got {other:?}"),
    }
}

pub async fn an_import_writes_users_methods_and_audits_as_one_by_one_creation_would(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let rows = vec![
        imported(
            &t,
            2,
            "ana",
            &[
                (PhoneType::Office, "+1 425 555 0303 x12"),
                (PhoneType::AlternateMobile, "+14255550202"),
                (PhoneType::Mobile, "+14255550101"),
            ],
        ),
        imported(&t, 3, "ben", &[]),
    ];
    let ana = rows[0].user.clone();
    let n = s
        .import_users(t.id, rows, true, &Actor::cli(), now())
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        s.user_by_upn(t.id, &upn("ana")).await.unwrap(),
        Some(ana.clone())
    );
    assert!(s.user_by_upn(t.id, &upn("ben")).await.unwrap().is_some());
    let methods: Vec<_> = s
        .phone_methods(t.id, ana.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| {
            (
                m.method.phone_type,
                m.method.number.to_string(),
                m.method.sms_sign_in_enabled,
            )
        })
        .collect();
    assert_eq!(
        methods,
        [
            (PhoneType::Mobile, "+1 4255550101".to_string(), true),
            (
                PhoneType::AlternateMobile,
                "+1 4255550202".to_string(),
                false
            ),
            (PhoneType::Office, "+1 4255550303 x12".to_string(), false),
        ]
    );
    // The sign-in number is live at once.
    let c = s.sign_in_candidate(t.id, "+14255550101").await.unwrap();
    assert_eq!(c.map(|c| c.user_id), Some(ana.id));
    // One record per user and per method, as one-by-one creation writes.
    let mut activities: Vec<_> = audits(&*s, &t)
        .await
        .into_iter()
        .map(|a| a.activity)
        .collect();
    activities.sort();
    assert_eq!(
        activities,
        [
            "Add phone method",
            "Add phone method",
            "Add phone method",
            "Add user",
            "Add user"
        ]
    );
}

/// Imported users advance the tenant's change sequence like one-by-one creation (a block
/// reserved at once on PostgreSQL): the next delta round lists them, once, and a later
/// change of one of them is after them all.
pub async fn imported_users_are_in_the_next_delta_round(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let early = user(&*s, &t, "early").await;
    let before = s.directory_version(t.id).await.unwrap();
    let rows: Vec<ImportedUser> = (0..5)
        .map(|i| imported(&t, i + 2, &format!("bulk{i}"), &[]))
        .collect();
    let ids: Vec<UserId> = rows.iter().map(|r| r.user.id).collect();
    s.import_users(t.id, rows, false, &Actor::cli(), now())
        .await
        .unwrap();
    let after = s.directory_version(t.id).await.unwrap();
    assert_eq!(after, before + 5, "one sequence per imported user");
    let mut changed: Vec<UserId> = s
        .changed_users(t.id, before, None, 100)
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect();
    changed.sort_by_key(|u| u.0);
    let mut want = ids.clone();
    want.sort_by_key(|u| u.0);
    assert_eq!(changed, want, "the imported users, not the earlier one");
    assert!(!changed.contains(&early));
    let mut u = s.user(t.id, ids[2]).await.unwrap().unwrap();
    u.display_name = "Changed".into();
    s.update_user(&u, &Actor::cli(), now()).await.unwrap();
    let later: Vec<UserId> = s
        .changed_users(t.id, after, None, 100)
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(later, vec![ids[2]]);
    // A second import continues the sequence.
    let more = vec![imported(&t, 2, "bulk9", &[])];
    s.import_users(t.id, more, false, &Actor::cli(), now())
        .await
        .unwrap();
    assert_eq!(s.directory_version(t.id).await.unwrap(), after + 2);
}

pub async fn an_import_without_sms_sign_in_leaves_mobiles_disabled(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let row = imported(&t, 2, "ana", &[(PhoneType::Mobile, "+14255550101")]);
    let ana = row.user.id;
    s.import_users(t.id, vec![row], false, &Actor::cli(), now())
        .await
        .unwrap();
    let m = s.phone_methods(t.id, ana).await.unwrap();
    assert!(!m[0].method.sms_sign_in_enabled);
    assert!(s
        .sign_in_candidate(t.id, "+14255550101")
        .await
        .unwrap()
        .is_none());
}

pub async fn a_refused_import_names_every_problem_and_writes_nothing(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let holder = user(&*s, &t, "holder").await;
    apply(
        &*s,
        add(&t, holder, PhoneType::Mobile, "+14255550199", true),
    )
    .await
    .unwrap();
    user(&*s, &t, "taken").await;
    let before = audits(&*s, &t).await.len();
    let rows = vec![
        imported(&t, 2, "fine", &[(PhoneType::Mobile, "+14255550101")]),
        imported(&t, 3, "taken", &[]),
        // The number an existing user signs in with, even as an office phone.
        imported(&t, 4, "clash", &[(PhoneType::Office, "+14255550199")]),
        imported(&t, 5, "FINE", &[]),
    ];
    assert_eq!(
        problems(s.import_users(t.id, rows, true, &Actor::cli(), now()).await),
        [
            (3, "upnInUse"),
            (4, "phoneNumberNotUnique"),
            (5, "upnInUse")
        ]
    );
    assert!(s.user_by_upn(t.id, &upn("fine")).await.unwrap().is_none());
    assert!(s
        .sign_in_candidate(t.id, "+14255550101")
        .await
        .unwrap()
        .is_none());
    assert_eq!(audits(&*s, &t).await.len(), before);
}

pub async fn an_import_and_a_single_claim_of_one_number_have_exactly_one_winner(s: Arc<dyn Store>) {
    let mut wins = Vec::new();
    for round in 0..ROUNDS {
        let t = tenant(&*s).await;
        let mut singles = Vec::new();
        for i in 0..RACERS / 2 {
            singles.push(user(&*s, &t, &format!("single{i}")).await);
        }
        let n = "+14255550111";
        wins.push(
            race(|i| {
                let (s, t) = (s.clone(), t.clone());
                let single = singles.get(i % singles.len()).copied();
                async move {
                    let outcome = if i < RACERS / 2 {
                        let row = imported(&t, 2, &format!("bulk{i}"), &[(PhoneType::Mobile, n)]);
                        s.import_users(t.id, vec![row], true, &Actor::cli(), now())
                            .await
                            .map(|_| ())
                    } else {
                        let u = single.expect("a single user");
                        apply(&*s, add(&t, u, PhoneType::Mobile, n, true)).await
                    };
                    match outcome {
                        Ok(()) => true,
                        Err(StoreError::Import(p)) => {
                            assert_eq!(p[0].code, "phoneNumberNotUnique", "round {round}");
                            false
                        }
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
    }
    one_winner_each_round(&wins);
}
