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
