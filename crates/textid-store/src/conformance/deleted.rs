//! Deleted items (issue #17): soft delete, restore, hard delete, the numbers a deleted
//! user keeps reserved, and the purge after 30 days.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;

fn deleted_user(item: Option<DeletedItem>) -> (User, DateTime<Utc>) {
    match item {
        Some(DeletedItem {
            object: DeletedObject::User(u),
            deleted_at,
        }) => (u, deleted_at),
        other => panic!("expected a deleted user, got {other:?}"),
    }
}

pub async fn a_deleted_user_is_listed_as_it_was_and_is_gone_from_the_directory(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let mut kept = new_user(&t, "ana");
    kept.profile.set("jobTitle", Some("Nurse")).unwrap();
    s.create_user(&kept, &Actor::cli(), now()).await.unwrap();
    let other = user(&*s, &t, "bo").await;
    s.delete_user(t.id, kept.id, &Actor::cli(), later(5))
        .await
        .unwrap();
    assert_eq!(s.user(t.id, kept.id).await.unwrap(), None);
    assert_eq!(s.count_users(t.id, None).await.unwrap(), 1);
    let (u, at) = deleted_user(s.deleted_item(t.id, kept.id.0).await.unwrap());
    assert_eq!((u, at), (kept.clone(), later(5)));
    let listed = s
        .deleted_items(t.id, DeletedKind::User, None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(s
        .deleted_items(t.id, DeletedKind::Group, None, 10)
        .await
        .unwrap()
        .is_empty());
    // Paging by id, per tenant.
    s.delete_user(t.id, other, &Actor::cli(), later(6))
        .await
        .unwrap();
    let all = s
        .deleted_items(t.id, DeletedKind::User, None, 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let first = match &all[0].object {
        DeletedObject::User(u) => u.id.0,
        DeletedObject::Group(_) => unreachable!(),
    };
    let rest = s
        .deleted_items(t.id, DeletedKind::User, Some(first), 10)
        .await
        .unwrap();
    assert_eq!(rest, all[1..]);
    let stranger = tenant(&*s).await;
    assert!(s
        .deleted_items(stranger.id, DeletedKind::User, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.deleted_item(stranger.id, kept.id.0).await.unwrap(), None);
}

pub async fn restoring_a_user_brings_back_their_methods_and_memberships(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let g = group(&*s, &t, "Frontline").await;
    s.add_member(t.id, g, u, &Actor::cli(), now())
        .await
        .unwrap();
    apply(&*s, add(&t, u, PhoneType::Mobile, "+14255550101", true))
        .await
        .unwrap();
    apply(&*s, add(&t, u, PhoneType::Office, "+14255550102", false))
        .await
        .unwrap();
    let methods = s.phone_methods(t.id, u).await.unwrap();
    let before = s.user(t.id, u).await.unwrap().unwrap();
    s.delete_user(t.id, u, &Actor::cli(), later(1))
        .await
        .unwrap();
    let (restored, _) = deleted_user(Some(
        s.restore_deleted(t.id, u.0, &Actor::cli(), later(2))
            .await
            .unwrap(),
    ));
    assert_eq!(restored, before);
    assert_eq!(s.user(t.id, u).await.unwrap(), Some(before));
    assert_eq!(s.phone_methods(t.id, u).await.unwrap(), methods);
    assert_eq!(s.groups_of(t.id, u).await.unwrap(), vec![g]);
    assert_eq!(s.deleted_item(t.id, u.0).await.unwrap(), None);
    let a = audited(&*s, &t, "Restore user", &u.to_string(), later(2)).await;
    assert_eq!(a.after.unwrap()["userPrincipalName"], "ana@contoso.example");
    // The number signs in again.
    assert!(s
        .sign_in_candidate(t.id, "+14255550101")
        .await
        .unwrap()
        .is_some());
}

pub async fn a_deleted_users_number_stays_reserved_until_they_are_deleted_for_good(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    apply(&*s, add(&t, u, PhoneType::Mobile, "+14255550101", true))
        .await
        .unwrap();
    s.delete_user(t.id, u, &Actor::cli(), later(1))
        .await
        .unwrap();
    assert!(s
        .sign_in_candidate(t.id, "+14255550101")
        .await
        .unwrap()
        .is_none());
    let v = user(&*s, &t, "vic").await;
    for enable in [true, false] {
        let refused = apply(&*s, add(&t, v, PhoneType::Mobile, "+14255550101", enable)).await;
        assert_eq!(
            rule(refused.unwrap_err()),
            PhoneMethodError::NumberHeldByDeletedUser { other_user: u }
        );
    }
    assert!(s.phone_methods(t.id, v).await.unwrap().is_empty());
    s.purge_deleted(t.id, u.0, &Actor::cli(), later(2))
        .await
        .unwrap();
    audited(&*s, &t, "Hard delete user", &u.to_string(), later(2)).await;
    assert_eq!(s.deleted_item(t.id, u.0).await.unwrap(), None);
    not_found(s.restore_deleted(t.id, u.0, &Actor::cli(), later(3)).await);
    apply(&*s, add(&t, v, PhoneType::Mobile, "+14255550101", true))
        .await
        .unwrap();
}

pub async fn restoring_a_user_whose_upn_was_taken_is_a_conflict(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    apply(&*s, add(&t, u, PhoneType::Mobile, "+14255550101", true))
        .await
        .unwrap();
    s.delete_user(t.id, u, &Actor::cli(), later(1))
        .await
        .unwrap();
    let taker = user(&*s, &t, "ana").await;
    assert_eq!(
        conflict(s.restore_deleted(t.id, u.0, &Actor::cli(), later(2)).await),
        "users_upn_unique"
    );
    assert!(s.deleted_item(t.id, u.0).await.unwrap().is_some());
    assert_eq!(s.user(t.id, u).await.unwrap(), None);
    assert!(s.phone_methods(t.id, u).await.unwrap().is_empty());
    s.delete_user(t.id, taker, &Actor::cli(), later(3))
        .await
        .unwrap();
    s.purge_deleted(t.id, taker.0, &Actor::cli(), later(3))
        .await
        .unwrap();
    s.restore_deleted(t.id, u.0, &Actor::cli(), later(4))
        .await
        .unwrap();
    assert_eq!(s.phone_methods(t.id, u).await.unwrap().len(), 1);
}

pub async fn a_deleted_group_is_restored_with_its_members(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (ana, bo) = (user(&*s, &t, "ana").await, user(&*s, &t, "bo").await);
    let g = group(&*s, &t, "Frontline").await;
    for u in [ana, bo] {
        s.add_member(t.id, g, u, &Actor::cli(), now())
            .await
            .unwrap();
    }
    s.delete_group(t.id, g, &Actor::cli(), later(1))
        .await
        .unwrap();
    assert_eq!(s.group(t.id, g).await.unwrap(), None);
    let listed = s
        .deleted_items(t.id, DeletedKind::Group, None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].deleted_at, later(1));
    // A member deleted meanwhile is not brought back by the group.
    s.delete_user(t.id, bo, &Actor::cli(), later(2))
        .await
        .unwrap();
    s.restore_deleted(t.id, g.0, &Actor::cli(), later(3))
        .await
        .unwrap();
    let members: Vec<UserId> = s
        .members(t.id, g)
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(members, vec![ana]);
    audited(&*s, &t, "Restore group", &g.to_string(), later(3)).await;
    s.delete_group(t.id, g, &Actor::cli(), later(4))
        .await
        .unwrap();
    s.purge_deleted(t.id, g.0, &Actor::cli(), later(5))
        .await
        .unwrap();
    audited(&*s, &t, "Hard delete group", &g.to_string(), later(5)).await;
    assert!(s
        .deleted_items(t.id, DeletedKind::Group, None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// Graph queries on deleted items: `$filter` on the object's properties (profile ones
/// included) and on `deletedDateTime`, `$orderby=deletedDateTime`, counts, per tenant.
pub async fn deleted_items_answer_graph_queries(s: Arc<dyn Store>) {
    use textid_core::odata::query::Order;
    use textid_core::odata::schema::{self, DELETED_GROUP, DELETED_USER};
    let t = tenant(&*s).await;
    let mut ids = Vec::new();
    for (i, (name, job)) in [("ana", "Nurse"), ("bo", "Porter"), ("cy", "Nurse")]
        .into_iter()
        .enumerate()
    {
        let mut u = new_user(&t, name);
        u.profile.set("jobTitle", Some(job)).unwrap();
        s.create_user(&u, &Actor::cli(), now()).await.unwrap();
        let minute = i64::try_from(i).unwrap() + 1;
        s.delete_user(t.id, u.id, &Actor::cli(), later(minute))
            .await
            .unwrap();
        ids.push(u.id);
    }
    let g = group(&*s, &t, "Frontline").await;
    s.delete_group(t.id, g, &Actor::cli(), later(9))
        .await
        .unwrap();
    let cond = |filter: &str| {
        let expr = textid_core::odata::filter::parse(filter).unwrap();
        Some(schema::check(&DELETED_USER, &expr, true).unwrap())
    };
    let by_deletion = |descending| Order {
        prop: DELETED_USER.property("deletedDateTime").unwrap(),
        descending,
    };
    let users = |items: Vec<DeletedItem>| -> Vec<UserId> {
        items
            .into_iter()
            .map(|i| match i.object {
                DeletedObject::User(u) => u.id,
                DeletedObject::Group(_) => panic!("a group among users"),
            })
            .collect()
    };
    let listing = |cond, descending, limit| Listing {
        cond,
        order: by_deletion(descending),
        limit,
    };
    let all = s
        .query_deleted(t.id, DeletedKind::User, &listing(None, true, 10))
        .await
        .unwrap();
    assert_eq!(
        users(all),
        vec![ids[2], ids[1], ids[0]],
        "newest deletion first"
    );
    let nurses = s
        .query_deleted(
            t.id,
            DeletedKind::User,
            &listing(cond("jobTitle eq 'nurse'"), false, 10),
        )
        .await
        .unwrap();
    assert_eq!(users(nurses), vec![ids[0], ids[2]]);
    let since = later(2).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let recent = cond(&format!("deletedDateTime ge {since}"));
    let first = s
        .query_deleted(t.id, DeletedKind::User, &listing(recent.clone(), false, 1))
        .await
        .unwrap();
    assert_eq!(users(first), vec![ids[1]]);
    assert_eq!(
        s.count_deleted(t.id, DeletedKind::User, recent.as_ref())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.count_deleted(t.id, DeletedKind::User, None)
            .await
            .unwrap(),
        3
    );
    let expr = textid_core::odata::filter::parse("displayName eq 'Frontline'").unwrap();
    let groups = s
        .query_deleted(
            t.id,
            DeletedKind::Group,
            &Listing {
                cond: Some(schema::check(&DELETED_GROUP, &expr, true).unwrap()),
                order: Order {
                    prop: DELETED_GROUP.property("deletedDateTime").unwrap(),
                    descending: false,
                },
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].deleted_at, later(9));
    assert_eq!(
        s.count_deleted(t.id, DeletedKind::Group, None)
            .await
            .unwrap(),
        1
    );
    let stranger = tenant(&*s).await;
    assert_eq!(
        s.count_deleted(stranger.id, DeletedKind::User, None)
            .await
            .unwrap(),
        0
    );
}

pub async fn restoring_or_purging_a_missing_deleted_item_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    not_found(s.restore_deleted(t.id, u.0, &Actor::cli(), now()).await);
    not_found(s.purge_deleted(t.id, u.0, &Actor::cli(), now()).await);
    s.delete_user(t.id, u, &Actor::cli(), now()).await.unwrap();
    let other = tenant(&*s).await;
    not_found(s.restore_deleted(other.id, u.0, &Actor::cli(), now()).await);
    not_found(s.purge_deleted(other.id, u.0, &Actor::cli(), now()).await);
    assert!(s.deleted_item(t.id, u.0).await.unwrap().is_some());
}

pub async fn deleted_items_are_purged_thirty_days_after_their_deletion(s: Arc<dyn Store>) {
    let _turn = purging().await;
    // In 2000, before every other case's rows (the purge case of `maintenance` works in
    // 2001 and takes the same turn).
    let cut = Utc.with_ymd_and_hms(2000, 6, 1, 0, 0, 0).unwrap();
    let t = tenant(&*s).await;
    let (old, young) = (user(&*s, &t, "old").await, user(&*s, &t, "young").await);
    apply(&*s, add(&t, old, PhoneType::Mobile, "+14255550101", true))
        .await
        .unwrap();
    let g = group(&*s, &t, "Gone").await;
    s.delete_user(t.id, old, &Actor::cli(), cut - Duration::days(31))
        .await
        .unwrap();
    s.delete_group(t.id, g, &Actor::cli(), cut - Duration::days(31))
        .await
        .unwrap();
    s.delete_user(t.id, young, &Actor::cli(), cut - Duration::days(29))
        .await
        .unwrap();
    s.purge(cut).await.unwrap();
    assert_eq!(s.deleted_item(t.id, old.0).await.unwrap(), None);
    assert_eq!(s.deleted_item(t.id, g.0).await.unwrap(), None);
    assert!(s.deleted_item(t.id, young.0).await.unwrap().is_some());
    // The purged user's number is free.
    let v = user(&*s, &t, "vic").await;
    apply(&*s, add(&t, v, PhoneType::Mobile, "+14255550101", true))
        .await
        .unwrap();
}
