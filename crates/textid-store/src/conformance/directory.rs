//! Users, groups and memberships.

use std::sync::Arc;

use serde_json::json;
use textid_core::directory::{Group, Upn, User};
use textid_core::methods::PhoneType;
use textid_core::{GroupId, UserId};

use super::*;

pub async fn a_created_user_is_found_by_id_and_upn(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = User {
        account_enabled: false,
        mobile_phone: Some("+1 425 555 0100".into()),
        business_phones: vec!["+1 425 555 0111".into(), "+1 425 555 0112".into()],
        on_premises_sync_enabled: true,
        profile: {
            let mut p = textid_core::directory::UserProfile::default();
            p.set("jobTitle", Some("Nurse")).unwrap();
            p.set("usageLocation", Some("GB")).unwrap();
            p.set_other_mails(&["ana@home.example".into()]).unwrap();
            p
        },
        display_name: "Ana Lima".into(),
        ..new_user(&t, "ana")
    };
    s.create_user(&u, &Actor::cli(), now()).await.unwrap();
    assert_eq!(s.user(t.id, u.id).await.unwrap(), Some(u.clone()));
    let typed = Upn::parse("ANA@Contoso.Example").unwrap();
    assert_eq!(s.user_by_upn(t.id, &typed).await.unwrap(), Some(u.clone()));
    assert_eq!(s.user(t.id, missing_user()).await.unwrap(), None);
    assert_eq!(s.user_by_upn(t.id, &upn("bob")).await.unwrap(), None);
    let other = tenant(&*s).await;
    assert_eq!(s.user(other.id, u.id).await.unwrap(), None);
    assert_eq!(s.user_by_upn(other.id, &u.upn).await.unwrap(), None);
}

pub async fn adding_a_user_is_audited(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = new_user(&t, "ana");
    s.create_user(&u, &Actor::cli(), later(1)).await.unwrap();
    let a = audited(&*s, &t, "Add user", &u.id.to_string(), later(1)).await;
    assert_eq!(a.target_type, "user");
    assert_eq!(a.before, None);
    let after = a.after.unwrap();
    assert_eq!(after["userPrincipalName"], "ana@contoso.example");
    assert_eq!(after["accountEnabled"], true);
}

pub async fn a_upn_is_unique_per_tenant(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let id = user(&*s, &t, "ana").await;
    let dup = User {
        id: UserId(uuid::Uuid::new_v4()),
        ..s.user(t.id, id).await.unwrap().unwrap()
    };
    assert_eq!(
        conflict(s.create_user(&dup, &Actor::cli(), now()).await),
        "users_upn_unique"
    );
    assert_eq!(s.user(t.id, dup.id).await.unwrap(), None);
    let other_tenant = tenant(&*s).await;
    user(&*s, &other_tenant, "ana").await;
}

pub async fn concurrent_creations_of_one_upn_have_exactly_one_winner(s: Arc<dyn Store>) {
    let mut wins = Vec::new();
    for _ in 0..ROUNDS {
        let t = tenant(&*s).await;
        wins.push(
            race(|_| {
                let (s, u) = (s.clone(), new_user(&t, "ana"));
                async move {
                    match s.create_user(&u, &Actor::cli(), now()).await {
                        Ok(()) => true,
                        Err(e) => {
                            assert_eq!(conflict::<()>(Err(e)), "users_upn_unique");
                            false
                        }
                    }
                }
            })
            .await,
        );
        assert_eq!(s.list_users(t.id, None, 10).await.unwrap().len(), 1);
    }
    one_winner_each_round(&wins);
}

pub async fn list_users_pages_by_upn_after_the_cursor(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    for (rank, name) in [
        (3, "carol"),
        (5, "alice"),
        (1, "eve"),
        (4, "bob"),
        (2, "dave"),
    ] {
        let u = User {
            id: UserId(ranked_id(rank)),
            ..new_user(&t, name)
        };
        s.create_user(&u, &Actor::cli(), now()).await.unwrap();
    }
    user(&*s, &tenant(&*s).await, "aaron").await;
    let page = |after: Option<&'static str>, limit| {
        let s = s.clone();
        async move {
            let after = after.map(upn);
            s.list_users(t.id, after.as_ref(), limit)
                .await
                .unwrap()
                .into_iter()
                .map(|u| u.display_name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(None, 2).await, ["alice", "bob"]);
    assert_eq!(page(Some("bob"), 2).await, ["carol", "dave"]);
    assert_eq!(page(Some("dave"), 2).await, ["eve"]);
    assert!(page(Some("eve"), 2).await.is_empty());
    // The cursor need not be a user: paging continues after its place in the order.
    assert_eq!(page(Some("bz"), 10).await, ["carol", "dave", "eve"]);
}

pub async fn update_user_is_audited_with_before_and_after(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let id = user(&*s, &t, "ana").await;
    let before = s.user(t.id, id).await.unwrap().unwrap();
    let after = User {
        upn: upn("ana.lima"),
        display_name: "Ana Lima".into(),
        account_enabled: false,
        mobile_phone: Some("+1 425 555 0100".into()),
        business_phones: vec!["+1 425 555 0111".into()],
        ..before.clone()
    };
    s.update_user(&after, &Actor::cli(), later(1))
        .await
        .unwrap();
    assert_eq!(s.user(t.id, id).await.unwrap(), Some(after.clone()));
    assert_eq!(s.user_by_upn(t.id, &before.upn).await.unwrap(), None);
    assert_eq!(
        s.user_by_upn(t.id, &after.upn).await.unwrap(),
        Some(after.clone())
    );
    let a = audited(&*s, &t, "Update user", &id.to_string(), later(1)).await;
    assert_eq!(a.target_type, "user");
    let (b, a) = (a.before.unwrap(), a.after.unwrap());
    assert_eq!(
        (
            &b["displayName"],
            &b["accountEnabled"],
            &b["userPrincipalName"]
        ),
        (&json!("ana"), &json!(true), &json!("ana@contoso.example"))
    );
    assert_eq!(
        (
            &a["displayName"],
            &a["accountEnabled"],
            &a["userPrincipalName"]
        ),
        (
            &json!("Ana Lima"),
            &json!(false),
            &json!("ana.lima@contoso.example")
        )
    );
    assert_eq!(a["businessPhones"], json!(["+1 425 555 0111"]));
}

pub async fn renaming_a_user_to_a_taken_upn_is_a_conflict(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    user(&*s, &t, "ana").await;
    let bob = user(&*s, &t, "bob").await;
    let before = s.user(t.id, bob).await.unwrap().unwrap();
    let renamed = User {
        upn: upn("ana"),
        ..before.clone()
    };
    assert_eq!(
        conflict(s.update_user(&renamed, &Actor::cli(), later(1)).await),
        "users_upn_unique"
    );
    assert_eq!(s.user(t.id, bob).await.unwrap(), Some(before));
    assert_ne!(last_audit(&*s, &t).await.activity, "Update user");
}

pub async fn updating_a_missing_user_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    not_found(
        s.update_user(&new_user(&t, "ghost"), &Actor::cli(), now())
            .await,
    );
    // A user is missing in every tenant but its own.
    let id = user(&*s, &t, "ana").await;
    let other = tenant(&*s).await;
    let foreign = User {
        tenant_id: other.id,
        ..s.user(t.id, id).await.unwrap().unwrap()
    };
    not_found(s.update_user(&foreign, &Actor::cli(), now()).await);
    assert!(audits(&*s, &other).await.is_empty());
    assert_eq!(s.user_by_upn(other.id, &upn("ana")).await.unwrap(), None);
}

pub async fn deleting_a_user_removes_methods_memberships_roles_pass_and_sessions(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let g = group(&*s, &t, "Frontline").await;
    s.add_member(t.id, g, u, &Actor::cli(), now())
        .await
        .unwrap();
    apply(&*s, add(&t, u, PhoneType::Mobile, "+14255550101", true))
        .await
        .unwrap();
    // The pass first: issuing one ends the sessions before it.
    let pass = TapRecord {
        id: uuid::Uuid::new_v4(),
        tenant_id: t.id,
        user_id: u,
        pass_hash: hash(),
        created_at: now(),
        start_at: now(),
        lifetime_minutes: 60,
        is_usable_once: false,
        used_at: None,
    };
    s.put_tap(&pass, &Actor::cli(), now()).await.unwrap();
    let signed_in = session(u, later(3600));
    let put_it = Put::session(&signed_in);
    put(
        &*s,
        &t,
        StepTarget::Number("+14255550101".into()),
        now(),
        put_it,
    )
    .await;
    s.set_user_role(
        t.id,
        u,
        "Helpdesk Administrator",
        true,
        &Actor::cli(),
        now(),
    )
    .await
    .unwrap();
    let candidate = s.sign_in_candidate(t.id, "+14255550101").await.unwrap();
    assert_eq!(candidate.unwrap().groups, vec![g]);
    assert!(s
        .session_by_token_hash(SessionKind::Browser, &signed_in.token_hash.0, now())
        .await
        .unwrap()
        .is_some());

    s.delete_user(t.id, u, &Actor::cli(), later(1))
        .await
        .unwrap();
    assert!(s.user(t.id, u).await.unwrap().is_none());
    assert!(s.members(t.id, g).await.unwrap().is_empty());
    assert!(s.groups_of(t.id, u).await.unwrap().is_empty());
    assert!(s.phone_methods(t.id, u).await.unwrap().is_empty());
    assert!(s.user_roles(t.id, u).await.unwrap().is_empty());
    assert_eq!(s.tap(t.id, u).await.unwrap(), None);
    assert!(s
        .sign_in_candidate(t.id, "+14255550101")
        .await
        .unwrap()
        .is_none());
    assert!(s
        .session_by_token_hash(SessionKind::Browser, &signed_in.token_hash.0, now())
        .await
        .unwrap()
        .is_none());
    assert!(s.group(t.id, g).await.unwrap().is_some(), "the group stays");
    // The number stays the deleted user's until they are deleted for good (issue #17).
    let v = user(&*s, &t, "vic").await;
    let refused = apply(&*s, add(&t, v, PhoneType::Mobile, "+14255550101", true)).await;
    assert_eq!(
        rule(refused.unwrap_err()),
        PhoneMethodError::NumberHeldByDeletedUser { other_user: u }
    );
    s.purge_deleted(t.id, u.0, &Actor::cli(), later(2))
        .await
        .unwrap();
    apply(&*s, add(&t, v, PhoneType::Mobile, "+14255550101", true))
        .await
        .unwrap();
}

pub async fn deleting_a_user_is_audited(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    s.delete_user(t.id, u, &Actor::cli(), later(1))
        .await
        .unwrap();
    let a = audited(&*s, &t, "Delete user", &u.to_string(), later(1)).await;
    assert_eq!(a.target_type, "user");
    assert_eq!(
        a.before.unwrap()["userPrincipalName"],
        "ana@contoso.example"
    );
    assert_eq!(a.after, None);
}

pub async fn deleting_a_missing_user_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    not_found(
        s.delete_user(t.id, missing_user(), &Actor::cli(), now())
            .await,
    );
    let u = user(&*s, &t, "ana").await;
    let other = tenant(&*s).await;
    not_found(s.delete_user(other.id, u, &Actor::cli(), now()).await);
    assert!(s.user(t.id, u).await.unwrap().is_some());
    s.delete_user(t.id, u, &Actor::cli(), now()).await.unwrap();
    not_found(s.delete_user(t.id, u, &Actor::cli(), now()).await);
}

pub async fn groups_are_found_by_id_and_listed_by_name(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let mut made = Vec::new();
    for (rank, name) in [(1, "Zeta"), (3, "Alpha"), (2, "Mid")] {
        let g = Group {
            id: GroupId(ranked_id(rank)),
            tenant_id: t.id,
            display_name: name.into(),
            profile: Default::default(),
        };
        s.create_group(&g, &Actor::cli(), now()).await.unwrap();
        made.push(g);
    }
    assert_eq!(
        s.group(t.id, made[0].id).await.unwrap(),
        Some(made[0].clone())
    );
    let names: Vec<_> = s
        .list_groups(t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.display_name)
        .collect();
    assert_eq!(names, ["Alpha", "Mid", "Zeta"]);
    let other = tenant(&*s).await;
    assert_eq!(s.group(other.id, made[0].id).await.unwrap(), None);
    assert!(s.list_groups(other.id).await.unwrap().is_empty());
    let unknown = GroupId(uuid::Uuid::new_v4());
    assert_eq!(s.group(t.id, unknown).await.unwrap(), None);
}

pub async fn adding_and_deleting_a_group_is_audited(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = Group {
        id: GroupId(uuid::Uuid::new_v4()),
        tenant_id: t.id,
        display_name: "Frontline".into(),
        profile: Default::default(),
    };
    s.create_group(&g, &Actor::cli(), later(1)).await.unwrap();
    let a = audited(&*s, &t, "Add group", &g.id.to_string(), later(1)).await;
    assert_eq!(a.target_type, "group");
    assert_eq!(a.before, None);
    assert_eq!(a.after.unwrap()["displayName"], "Frontline");
    s.delete_group(t.id, g.id, &Actor::cli(), later(2))
        .await
        .unwrap();
    let a = audited(&*s, &t, "Delete group", &g.id.to_string(), later(2)).await;
    assert_eq!(a.before.unwrap()["displayName"], "Frontline");
    assert_eq!(a.after, None);
}

pub async fn deleting_a_group_removes_its_memberships(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let (g, kept) = (
        group(&*s, &t, "Frontline").await,
        group(&*s, &t, "Kept").await,
    );
    for group in [g, kept] {
        s.add_member(t.id, group, u, &Actor::cli(), now())
            .await
            .unwrap();
    }
    s.delete_group(t.id, g, &Actor::cli(), now()).await.unwrap();
    assert_eq!(s.group(t.id, g).await.unwrap(), None);
    assert_eq!(s.groups_of(t.id, u).await.unwrap(), vec![kept]);
    assert!(s.members(t.id, g).await.unwrap().is_empty());
    assert!(s.user(t.id, u).await.unwrap().is_some(), "the member stays");
}

pub async fn deleting_a_missing_group_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let unknown = GroupId(uuid::Uuid::new_v4());
    not_found(s.delete_group(t.id, unknown, &Actor::cli(), now()).await);
    let g = group(&*s, &t, "Frontline").await;
    let other = tenant(&*s).await;
    not_found(s.delete_group(other.id, g, &Actor::cli(), now()).await);
    assert!(s.group(t.id, g).await.unwrap().is_some());
}

pub async fn group_membership_is_listed_both_ways(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let mut ids = Vec::new();
    for (rank, name) in [(1, "bob"), (2, "ana"), (3, "eve")] {
        let u = User {
            id: UserId(ranked_id(rank)),
            ..new_user(&t, name)
        };
        s.create_user(&u, &Actor::cli(), now()).await.unwrap();
        ids.push(u.id);
    }
    let [bob, ana, eve] = ids[..] else {
        unreachable!()
    };
    let (g1, g2) = (group(&*s, &t, "One").await, group(&*s, &t, "Two").await);
    for (g, u) in [(g1, bob), (g1, ana), (g2, ana)] {
        s.add_member(t.id, g, u, &Actor::cli(), now())
            .await
            .unwrap();
    }
    let members: Vec<_> = s
        .members(t.id, g1)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(members, [ana, bob], "by UPN");
    let mut of_ana = s.groups_of(t.id, ana).await.unwrap();
    of_ana.sort();
    let mut both = vec![g1, g2];
    both.sort();
    assert_eq!(of_ana, both);
    assert_eq!(s.groups_of(t.id, bob).await.unwrap(), vec![g1]);
    assert!(s.groups_of(t.id, eve).await.unwrap().is_empty());
    let other = tenant(&*s).await;
    assert!(s.members(other.id, g1).await.unwrap().is_empty());
    assert!(s.groups_of(other.id, ana).await.unwrap().is_empty());
}

pub async fn adding_a_member_twice_is_a_conflict(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (u, g) = (user(&*s, &t, "ana").await, group(&*s, &t, "G").await);
    s.add_member(t.id, g, u, &Actor::cli(), now())
        .await
        .unwrap();
    assert_eq!(
        conflict(s.add_member(t.id, g, u, &Actor::cli(), later(1)).await),
        "group_members"
    );
    assert_eq!(s.members(t.id, g).await.unwrap().len(), 1);
    assert_eq!(last_audit(&*s, &t).await.created_at, now(), "not audited");
}

pub async fn concurrent_additions_of_one_member_have_exactly_one_winner(s: Arc<dyn Store>) {
    let mut wins = Vec::new();
    for _ in 0..ROUNDS {
        let t = tenant(&*s).await;
        let (u, g) = (user(&*s, &t, "ana").await, group(&*s, &t, "G").await);
        wins.push(
            race(|_| {
                let s = s.clone();
                async move {
                    match s.add_member(t.id, g, u, &Actor::cli(), now()).await {
                        Ok(()) => true,
                        Err(e) => {
                            assert_eq!(conflict::<()>(Err(e)), "group_members");
                            false
                        }
                    }
                }
            })
            .await,
        );
        assert_eq!(s.members(t.id, g).await.unwrap().len(), 1);
    }
    one_winner_each_round(&wins);
}

pub async fn adding_a_missing_member_or_to_a_missing_group_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (u, g) = (user(&*s, &t, "ana").await, group(&*s, &t, "G").await);
    let unknown = GroupId(uuid::Uuid::new_v4());
    not_found(s.add_member(t.id, unknown, u, &Actor::cli(), now()).await);
    not_found(
        s.add_member(t.id, g, missing_user(), &Actor::cli(), now())
            .await,
    );
    // A user of another tenant is missing here.
    let other = tenant(&*s).await;
    let stranger = user(&*s, &other, "ana").await;
    not_found(s.add_member(t.id, g, stranger, &Actor::cli(), now()).await);
    assert!(s.members(t.id, g).await.unwrap().is_empty());
}

pub async fn removing_a_member_who_is_not_one_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (u, g) = (user(&*s, &t, "ana").await, group(&*s, &t, "G").await);
    not_found(s.remove_member(t.id, g, u, &Actor::cli(), now()).await);
    s.add_member(t.id, g, u, &Actor::cli(), now())
        .await
        .unwrap();
    s.remove_member(t.id, g, u, &Actor::cli(), now())
        .await
        .unwrap();
    assert!(s.members(t.id, g).await.unwrap().is_empty());
    assert!(s.groups_of(t.id, u).await.unwrap().is_empty());
    not_found(s.remove_member(t.id, g, u, &Actor::cli(), now()).await);
    let unknown = GroupId(uuid::Uuid::new_v4());
    not_found(
        s.remove_member(t.id, unknown, u, &Actor::cli(), now())
            .await,
    );
}

pub async fn membership_changes_are_audited(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (u, g) = (user(&*s, &t, "ana").await, group(&*s, &t, "G").await);
    let pair = json!({"groupId": g, "userId": u});
    s.add_member(t.id, g, u, &Actor::cli(), later(1))
        .await
        .unwrap();
    let a = audited(&*s, &t, "Add member to group", &g.to_string(), later(1)).await;
    assert_eq!(a.target_type, "group");
    assert_eq!((a.before, a.after), (None, Some(pair.clone())));
    s.remove_member(t.id, g, u, &Actor::cli(), later(2))
        .await
        .unwrap();
    let a = audited(
        &*s,
        &t,
        "Remove member from group",
        &g.to_string(),
        later(2),
    )
    .await;
    assert_eq!((a.before, a.after), (Some(pair), None));
}

pub async fn disabling_a_user_revokes_their_sessions_and_token_families(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let enabled = s.user(t.id, u).await.unwrap().unwrap();
    // A profile change revokes nothing.
    let held = holdings(&*s, &t, u).await;
    let renamed = User {
        display_name: "Ana Silva".into(),
        ..enabled.clone()
    };
    s.update_user(&renamed, &Actor::cli(), later(1))
        .await
        .unwrap();
    assert_eq!(held.alive(&*s, later(2)).await, [true; 5]);
    let held = holdings(&*s, &t, u).await;
    let disabled = User {
        account_enabled: false,
        ..renamed.clone()
    };
    s.update_user(&disabled, &Actor::cli(), later(3))
        .await
        .unwrap();
    // Enabling the account again does not bring anything back.
    s.update_user(&renamed, &Actor::cli(), later(4))
        .await
        .unwrap();
    assert_eq!(held.alive(&*s, later(5)).await, [false; 5]);
}

pub async fn deleting_a_user_revokes_their_token_families(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let held = holdings(&*s, &t, u).await;
    s.delete_user(t.id, u, &Actor::cli(), later(1))
        .await
        .unwrap();
    assert_eq!(held.alive(&*s, later(2)).await, [false; 5]);
}
