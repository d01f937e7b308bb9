//! Directory roles of people.

use std::sync::Arc;

use serde_json::json;

use super::*;

async fn set(s: &dyn Store, t: &Tenant, u: UserId, role: &str, assigned: bool, at: i64) {
    s.set_user_role(t.id, u, role, assigned, &Actor::cli(), later(at))
        .await
        .unwrap();
}

pub async fn role_assignments_are_listed_sorted_and_removable(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (u, v) = (user(&*s, &t, "ana").await, user(&*s, &t, "bob").await);
    assert!(s.user_roles(t.id, u).await.unwrap().is_empty());
    for role in ["User Administrator", "Authentication Administrator"] {
        set(&*s, &t, u, role, true, 0).await;
    }
    set(&*s, &t, v, "Helpdesk Administrator", true, 0).await;
    // Assigning a role someone has is harmless and lists it once.
    set(&*s, &t, u, "User Administrator", true, 1).await;
    assert_eq!(
        s.user_roles(t.id, u).await.unwrap(),
        ["Authentication Administrator", "User Administrator"]
    );
    set(&*s, &t, u, "User Administrator", false, 2).await;
    assert_eq!(
        s.user_roles(t.id, u).await.unwrap(),
        ["Authentication Administrator"]
    );
    assert_eq!(
        s.user_roles(t.id, v).await.unwrap(),
        ["Helpdesk Administrator"]
    );
    let other = tenant(&*s).await;
    assert!(s.user_roles(other.id, u).await.unwrap().is_empty());
}

pub async fn role_changes_are_audited(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let role = json!({"role": "User Administrator"});
    set(&*s, &t, u, "User Administrator", true, 1).await;
    let a = audited(&*s, &t, "Add member to role", &u.to_string(), later(1)).await;
    assert_eq!(a.target_type, "user");
    assert_eq!((a.before, a.after), (None, Some(role.clone())));
    set(&*s, &t, u, "User Administrator", false, 2).await;
    let a = audited(&*s, &t, "Remove member from role", &u.to_string(), later(2)).await;
    assert_eq!((a.before, a.after), (Some(role), None));
}

pub async fn assigning_a_role_to_a_missing_user_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let ghost = missing_user();
    for assigned in [true, false] {
        not_found(
            s.set_user_role(
                t.id,
                ghost,
                "User Administrator",
                assigned,
                &Actor::cli(),
                now(),
            )
            .await,
        );
    }
    // A user of another tenant is missing here.
    let other = tenant(&*s).await;
    let stranger = user(&*s, &other, "ana").await;
    not_found(
        s.set_user_role(
            t.id,
            stranger,
            "User Administrator",
            true,
            &Actor::cli(),
            now(),
        )
        .await,
    );
    assert!(s.user_roles(other.id, stranger).await.unwrap().is_empty());
    assert!(audits(&*s, &t).await.is_empty());
}
