//! SCIM records of synced users and groups, and audit records of decisions that changed
//! nothing else.

use std::sync::Arc;

use serde_json::json;

use super::*;

fn record(external_id: &str, at: i64) -> ScimRecord {
    ScimRecord {
        external_id: Some(external_id.into()),
        attributes: json!({"name": {"givenName": "Ana", "familyName": "López"}, "emails": [{"value": "ana@contoso.example", "type": "work"}]}),
        created_at: later(at),
        modified_at: later(at),
    }
}

pub async fn a_scim_record_round_trips_is_replaced_and_kept_per_tenant(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (u, g) = (user(&*s, &t, "ana").await, group(&*s, &t, "crew").await);
    assert_eq!(
        s.scim_record(t.id, ScimKind::User, u.0).await.unwrap(),
        None
    );
    let first = record("hr-1", 0);
    s.put_scim_record(t.id, ScimKind::User, u.0, &first)
        .await
        .unwrap();
    assert_eq!(
        s.scim_record(t.id, ScimKind::User, u.0).await.unwrap(),
        Some(first.clone())
    );
    let replaced = ScimRecord {
        external_id: None,
        attributes: json!({"title": "Driver"}),
        created_at: later(5),
        modified_at: later(5),
    };
    s.put_scim_record(t.id, ScimKind::User, u.0, &replaced)
        .await
        .unwrap();
    let read = s
        .scim_record(t.id, ScimKind::User, u.0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.external_id, None);
    assert_eq!(read.attributes, json!({"title": "Driver"}));
    assert_eq!(read.created_at, first.created_at, "creation time is kept");
    assert_eq!(read.modified_at, later(5));
    // Groups are another kind: the user's record is not the group's.
    assert_eq!(
        s.scim_record(t.id, ScimKind::Group, u.0).await.unwrap(),
        None
    );
    s.put_scim_record(t.id, ScimKind::Group, g.0, &record("hr-g", 1))
        .await
        .unwrap();
    let groups = s.scim_records(t.id, ScimKind::Group).await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].0, g.0);
    let other = tenant(&*s).await;
    assert_eq!(
        s.scim_record(other.id, ScimKind::User, u.0).await.unwrap(),
        None
    );
    assert!(s
        .scim_records(other.id, ScimKind::User)
        .await
        .unwrap()
        .is_empty());
}

pub async fn a_scim_record_goes_with_its_user_or_group(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (u, g) = (user(&*s, &t, "ana").await, group(&*s, &t, "crew").await);
    s.put_scim_record(t.id, ScimKind::User, u.0, &record("hr-1", 0))
        .await
        .unwrap();
    s.put_scim_record(t.id, ScimKind::Group, g.0, &record("hr-g", 0))
        .await
        .unwrap();
    s.delete_user(t.id, u, &Actor::cli(), later(1))
        .await
        .unwrap();
    s.delete_group(t.id, g, &Actor::cli(), later(1))
        .await
        .unwrap();
    assert_eq!(
        s.scim_record(t.id, ScimKind::User, u.0).await.unwrap(),
        None
    );
    assert_eq!(
        s.scim_record(t.id, ScimKind::Group, g.0).await.unwrap(),
        None
    );
    not_found(
        s.put_scim_record(t.id, ScimKind::User, u.0, &record("x", 2))
            .await,
    );
    not_found(
        s.put_scim_record(t.id, ScimKind::Group, g.0, &record("x", 2))
            .await,
    );
    let other = tenant(&*s).await;
    let v = user(&*s, &t, "bob").await;
    not_found(
        s.put_scim_record(other.id, ScimKind::User, v.0, &record("x", 2))
            .await,
    );
}

pub async fn a_recorded_audit_is_listed_with_the_directory_audits(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let actor = Actor {
        kind: "sync".into(),
        id: "hr-app".into(),
    };
    let skipped = json!({"phoneType": "mobile", "reason": "phoneNumberNotUnique"});
    let entry = AuditEntry::number_copy_skipped(t.id, u, skipped.clone(), &actor, later(3));
    s.record_audit(&entry).await.unwrap();
    let last = last_audit(&*s, &t).await;
    assert_eq!(last.activity, "Copy public phone number skipped");
    assert_eq!(last.actor, actor);
    assert_eq!(last.target_id, u.to_string());
    assert_eq!(last.after, Some(skipped));
}

pub async fn renaming_a_group_is_audited_and_a_missing_group_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = group(&*s, &t, "crew").await;
    let mut renamed = s.group(t.id, g).await.unwrap().unwrap();
    renamed.display_name = "night crew".into();
    s.rename_group(&renamed, &Actor::cli(), later(1))
        .await
        .unwrap();
    assert_eq!(s.group(t.id, g).await.unwrap(), Some(renamed.clone()));
    let last = last_audit(&*s, &t).await;
    assert_eq!(last.activity, "Update group");
    assert_eq!(last.before.unwrap()["displayName"], "crew");
    assert_eq!(last.after.unwrap()["displayName"], "night crew");
    let other = tenant(&*s).await;
    let foreign = Group {
        tenant_id: other.id,
        ..renamed.clone()
    };
    not_found(s.rename_group(&foreign, &Actor::cli(), later(2)).await);
    s.delete_group(t.id, g, &Actor::cli(), later(3))
        .await
        .unwrap();
    not_found(s.rename_group(&renamed, &Actor::cli(), later(4)).await);
}

fn sync_actor() -> Actor {
    Actor {
        kind: "sync".into(),
        id: "hr-app".into(),
    }
}

/// A synced user `name` with a public mobile number, not yet stored.
fn synced(t: &Tenant, name: &str, mobile: &str) -> User {
    User {
        mobile_phone: Some(mobile.into()),
        on_premises_sync_enabled: true,
        ..new_user(t, name)
    }
}

fn skip(t: &Tenant, u: UserId, ty: PhoneType, n: &str, reason: &str, at: i64) -> SkippedCopy {
    SkippedCopy {
        tenant: t.id,
        user: u,
        phone_type: ty,
        phone_number: n.into(),
        reason: reason.into(),
        other_user: None,
        skipped_at: later(at),
    }
}

pub async fn a_synced_user_is_created_with_its_record_and_copies_and_a_refused_copy_is_kept_as_skipped(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let ana = user(&*s, &t, "ana").await;
    apply(&*s, add(&t, ana, PhoneType::Mobile, "+14255550101", true))
        .await
        .unwrap();
    let bo = synced(&t, "bo", "+14255550101");
    let new = NewSyncedUser {
        user: bo.clone(),
        record: record("hr-bo", 1),
        copies: vec![
            // Ana signs in with this number: the copy is refused and kept as skipped.
            PlannedCopy::Make(add(&t, bo.id, PhoneType::Mobile, "+14255550101", true)),
            PlannedCopy::Make(add(&t, bo.id, PhoneType::Office, "+14255550102", false)),
            PlannedCopy::Skip(skip(
                &t,
                bo.id,
                PhoneType::AlternateMobile,
                "n/a",
                "phoneNumberNotValid",
                1,
            )),
        ],
    };
    s.create_synced_user(&new, &sync_actor(), later(1))
        .await
        .unwrap();
    assert_eq!(s.user(t.id, bo.id).await.unwrap(), Some(bo.clone()));
    assert_eq!(
        s.scim_record(t.id, ScimKind::User, bo.id.0).await.unwrap(),
        Some(record("hr-bo", 1))
    );
    let methods: Vec<_> = s
        .phone_methods(t.id, bo.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.method.phone_type, m.method.number.e164()))
        .collect();
    assert_eq!(methods, [(PhoneType::Office, "+14255550102".to_string())]);
    let report = s.skipped_number_copies(t.id).await.unwrap();
    let mut got: Vec<_> = report
        .iter()
        .map(|r| {
            (
                r.copy.phone_type,
                r.copy.phone_number.clone(),
                r.copy.reason.clone(),
                r.copy.other_user,
                r.other_upn.clone(),
                r.upn.clone(),
                r.copy.skipped_at,
            )
        })
        .collect();
    got.sort_by_key(|g| g.0);
    assert_eq!(
        got,
        [
            (
                PhoneType::Mobile,
                "+1 4255550101".to_string(),
                "phoneNumberNotUnique".to_string(),
                Some(ana),
                Some(upn("ana")),
                upn("bo"),
                later(1)
            ),
            (
                PhoneType::AlternateMobile,
                "n/a".to_string(),
                "phoneNumberNotValid".to_string(),
                None,
                None,
                upn("bo"),
                later(1)
            ),
        ]
    );
    let activities: Vec<_> = audits(&*s, &t)
        .await
        .into_iter()
        .filter(|a| a.target_id == bo.id.to_string() && a.actor == sync_actor())
        .map(|a| a.activity)
        .collect();
    for want in [
        "Add user",
        "Add phone method",
        "Copy public phone number skipped",
    ] {
        assert!(
            activities.iter().any(|a| a == want),
            "{want}: {activities:?}"
        );
    }
    assert!(s
        .skipped_number_copies(tenant(&*s).await.id)
        .await
        .unwrap()
        .is_empty());
}

pub async fn a_failed_synced_user_creation_leaves_nothing(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    // A failure after the user's row (a copy for a user who does not exist): nothing stays,
    // so the client's retry starts over.
    let bo = synced(&t, "bo", "+14255550111");
    let new = NewSyncedUser {
        user: bo.clone(),
        record: record("hr-bo", 1),
        copies: vec![
            PlannedCopy::Make(add(&t, bo.id, PhoneType::Office, "+14255550112", false)),
            PlannedCopy::Make(add(
                &t,
                missing_user(),
                PhoneType::Mobile,
                "+14255550111",
                false,
            )),
        ],
    };
    not_found(s.create_synced_user(&new, &sync_actor(), later(1)).await);
    assert_eq!(s.user(t.id, bo.id).await.unwrap(), None);
    assert_eq!(s.user_by_upn(t.id, &bo.upn).await.unwrap(), None);
    assert_eq!(
        s.scim_record(t.id, ScimKind::User, bo.id.0).await.unwrap(),
        None
    );
    assert!(s.phone_methods(t.id, bo.id).await.unwrap().is_empty());
    assert!(
        !audits(&*s, &t)
            .await
            .iter()
            .any(|a| a.target_id == bo.id.to_string()),
        "no audit either"
    );
    // A taken userPrincipalName is a conflict, and writes nothing either.
    user(&*s, &t, "cy").await;
    let cy = synced(&t, "cy", "+14255550113");
    let taken = NewSyncedUser {
        user: cy.clone(),
        record: record("hr-cy", 1),
        copies: vec![PlannedCopy::Make(add(
            &t,
            cy.id,
            PhoneType::Mobile,
            "+14255550113",
            false,
        ))],
    };
    assert_eq!(
        conflict(s.create_synced_user(&taken, &sync_actor(), later(2)).await),
        "users_upn_unique"
    );
    assert_eq!(s.user(t.id, cy.id).await.unwrap(), None);
    assert!(s.phone_methods(t.id, cy.id).await.unwrap().is_empty());
    // The same creation, retried whole, succeeds.
    let retry = NewSyncedUser {
        copies: vec![PlannedCopy::Make(add(
            &t,
            bo.id,
            PhoneType::Office,
            "+14255550112",
            false,
        ))],
        ..new
    };
    s.create_synced_user(&retry, &sync_actor(), later(3))
        .await
        .unwrap();
    assert_eq!(s.user(t.id, bo.id).await.unwrap(), Some(bo));
}

pub async fn a_synced_group_is_created_with_its_record_and_members_or_not_at_all(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let (ana, bo) = (user(&*s, &t, "ana").await, user(&*s, &t, "bo").await);
    let g = Group {
        id: GroupId(uuid::Uuid::new_v4()),
        tenant_id: t.id,
        display_name: "crew".into(),
        profile: Default::default(),
    };
    let refused = NewSyncedGroup {
        group: g.clone(),
        record: record("hr-g", 1),
        members: vec![ana, missing_user()],
    };
    not_found(
        s.create_synced_group(&refused, &sync_actor(), later(1))
            .await,
    );
    assert_eq!(s.group(t.id, g.id).await.unwrap(), None);
    assert_eq!(
        s.scim_record(t.id, ScimKind::Group, g.id.0).await.unwrap(),
        None
    );
    assert!(s.groups_of(t.id, ana).await.unwrap().is_empty());
    let new = NewSyncedGroup {
        members: vec![ana, bo],
        ..refused
    };
    s.create_synced_group(&new, &sync_actor(), later(2))
        .await
        .unwrap();
    assert_eq!(s.group(t.id, g.id).await.unwrap(), Some(g.clone()));
    assert_eq!(
        s.scim_record(t.id, ScimKind::Group, g.id.0).await.unwrap(),
        Some(record("hr-g", 1))
    );
    let mut members: Vec<_> = s
        .members(t.id, g.id)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    members.sort_by_key(|u| u.0);
    let mut want = vec![ana, bo];
    want.sort_by_key(|u| u.0);
    assert_eq!(members, want);
}

pub async fn a_skipped_copy_is_replaced_and_forgotten_once_the_method_is_stored_or_cleared(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let tid = t.id;
    let rows = |s: Arc<dyn Store>| async move {
        s.skipped_number_copies(tid)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.copy.phone_type, r.copy.phone_number))
            .collect::<Vec<_>>()
    };
    s.skip_number_copy(
        &skip(
            &t,
            u,
            PhoneType::Mobile,
            "+1 4255550121",
            "userHoldsDirectoryRole",
            1,
        ),
        &sync_actor(),
    )
    .await
    .unwrap();
    let audit = last_audit(&*s, &t).await;
    assert_eq!(
        (audit.activity.as_str(), &audit.actor, audit.created_at),
        ("Copy public phone number skipped", &sync_actor(), later(1))
    );
    assert_eq!(audit.after.unwrap()["reason"], "userHoldsDirectoryRole");
    // A later skip of the same method replaces it.
    s.skip_number_copy(
        &skip(
            &t,
            u,
            PhoneType::Mobile,
            "+1 4255550122",
            "phoneNumberNotUnique",
            2,
        ),
        &sync_actor(),
    )
    .await
    .unwrap();
    s.skip_number_copy(
        &skip(
            &t,
            u,
            PhoneType::Office,
            "+1 4255550123",
            "phoneNumberNotUnique",
            2,
        ),
        &sync_actor(),
    )
    .await
    .unwrap();
    let mut got = rows(s.clone()).await;
    got.sort();
    assert_eq!(
        got,
        [
            (PhoneType::Mobile, "+1 4255550122".to_string()),
            (PhoneType::Office, "+1 4255550123".to_string())
        ]
    );
    // An admin setting the method forgets its skip; a refused change does not.
    assert!(
        apply(&*s, change(&t, u, PhoneType::Mobile, PhoneMethodOp::Delete))
            .await
            .is_err()
    );
    apply(&*s, add(&t, u, PhoneType::Mobile, "+14255550124", false))
        .await
        .unwrap();
    assert_eq!(
        rows(s.clone()).await,
        [(PhoneType::Office, "+1 4255550123".to_string())]
    );
    // Cleared (the public number went away); clearing again is no error.
    s.clear_skipped_copy(t.id, u, PhoneType::Office)
        .await
        .unwrap();
    s.clear_skipped_copy(t.id, u, PhoneType::Office)
        .await
        .unwrap();
    assert!(rows(s.clone()).await.is_empty());
    // A skip goes with its user, and a missing user is not found.
    s.skip_number_copy(
        &skip(
            &t,
            u,
            PhoneType::Office,
            "+1 4255550125",
            "phoneNumberNotUnique",
            3,
        ),
        &sync_actor(),
    )
    .await
    .unwrap();
    s.delete_user(t.id, u, &Actor::cli(), later(4))
        .await
        .unwrap();
    assert!(rows(s.clone()).await.is_empty());
    not_found(
        s.skip_number_copy(
            &skip(
                &t,
                u,
                PhoneType::Office,
                "+1 4255550125",
                "phoneNumberNotUnique",
                5,
            ),
            &sync_actor(),
        )
        .await,
    );
}
