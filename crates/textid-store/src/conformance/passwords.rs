//! Passwords (issue #15) and the tenant's "require MFA" setting.

use std::sync::Arc;

use serde_json::json;
use textid_core::password::PasswordChange;
use textid_core::secret::Secret;

use super::*;

fn update(hash: Option<&str>, force_change: bool, change: PasswordChange) -> PasswordUpdate {
    PasswordUpdate {
        hash: hash.map(|h| Secret::new(h.to_owned())),
        force_change,
        change,
    }
}

pub async fn a_password_is_stored_and_read_back_with_what_sign_in_needs(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let g = group(&*s, &t, "frontline").await;
    s.add_member(t.id, g, u, &Actor::cli(), now())
        .await
        .unwrap();
    apply(&*s, add(&t, u, PhoneType::Mobile, "+14255550101", false))
        .await
        .unwrap();
    let before = s
        .password_account(t.id, &upn("ana"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.password_hash, None);
    assert!(!before.force_change);
    let set = update(
        Some("$argon2id$v=19$stored"),
        true,
        PasswordChange::AdminReset,
    );
    s.set_password(t.id, u, &set, &Actor::cli(), later(1))
        .await
        .unwrap();
    let a = s
        .password_account(t.id, &upn("ana"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.user_id, u);
    assert!(a.account_enabled);
    assert_eq!(
        a.password_hash.as_ref().map(|h| h.expose().as_str()),
        Some("$argon2id$v=19$stored")
    );
    assert!(a.force_change);
    assert_eq!(a.groups, vec![g]);
    assert_eq!(a.mobile.as_deref(), Some("+14255550101"));
    // Only in its tenant, and only by its own name.
    let other = tenant(&*s).await;
    assert_eq!(
        s.password_account(other.id, &upn("ana")).await.unwrap(),
        None
    );
    assert_eq!(s.password_account(t.id, &upn("bob")).await.unwrap(), None);
    // Removed again.
    let clear = update(None, false, PasswordChange::AdminReset);
    s.set_password(t.id, u, &clear, &Actor::cli(), later(2))
        .await
        .unwrap();
    let a = s
        .password_account(t.id, &upn("ana"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.password_hash, a.force_change), (None, false));
}

pub async fn setting_a_password_is_audited_without_the_hash(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let set = update(
        Some("$argon2id$v=19$secret-hash"),
        true,
        PasswordChange::AdminReset,
    );
    s.set_password(t.id, u, &set, &Actor::cli(), later(1))
        .await
        .unwrap();
    let a = audited(&*s, &t, "Reset user password", &u.to_string(), later(1)).await;
    assert_eq!(
        a.before,
        Some(json!({"forceChangePasswordNextSignIn": false}))
    );
    assert_eq!(
        a.after,
        Some(json!({"forceChangePasswordNextSignIn": true}))
    );
    assert!(!serde_json::to_string(&a).unwrap().contains("secret-hash"));
    let reset = update(
        Some("$argon2id$v=19$x"),
        false,
        PasswordChange::SelfServiceReset,
    );
    s.set_password(t.id, u, &reset, &Actor::cli(), later(2))
        .await
        .unwrap();
    let a = audited(
        &*s,
        &t,
        "Reset password (self-service)",
        &u.to_string(),
        later(2),
    )
    .await;
    assert_eq!(
        a.before,
        Some(json!({"forceChangePasswordNextSignIn": true}))
    );
}

pub async fn setting_a_password_revokes_the_users_sessions_and_token_families(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let other = user(&*s, &t, "bob").await;
    let held = holdings(&*s, &t, u).await;
    let kept = holdings(&*s, &t, other).await;
    let set = update(
        Some("$argon2id$v=19$x"),
        false,
        PasswordChange::SelfServiceReset,
    );
    s.set_password(t.id, u, &set, &Actor::cli(), later(1))
        .await
        .unwrap();
    assert_eq!(held.alive(&*s, later(2)).await, [false; 5]);
    assert_eq!(kept.alive(&*s, later(2)).await, [true; 5]);
}

pub async fn setting_the_password_of_a_missing_user_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let set = update(Some("$argon2id$v=19$x"), false, PasswordChange::AdminReset);
    not_found(
        s.set_password(t.id, missing_user(), &set, &Actor::cli(), now())
            .await,
    );
    // Nor in another tenant.
    let u = user(&*s, &t, "ana").await;
    let other = tenant(&*s).await;
    not_found(
        s.set_password(other.id, u, &set, &Actor::cli(), now())
            .await,
    );
}

pub async fn the_tenant_mfa_requirement_is_stored_audited_and_notified(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    assert!(!t.require_mfa);
    let mut changes = s.subscribe();
    s.set_tenant_require_mfa(t.id, true, &Actor::cli(), later(1))
        .await
        .unwrap();
    expect_change(&mut changes, Changed::Tenants).await;
    let stored = s.tenant_by_id(t.id).await.unwrap().unwrap();
    assert!(stored.require_mfa);
    assert_eq!(s.tenant_by_name(&t.name).await.unwrap(), Some(stored));
    let a = audited(
        &*s,
        &t,
        "Update tenant MFA requirement",
        &t.id.to_string(),
        later(1),
    )
    .await;
    assert_eq!(a.before, Some(json!({"requireMfa": false})));
    assert_eq!(a.after, Some(json!({"requireMfa": true})));
    let other = tenant(&*s).await;
    assert!(!s.tenant_by_id(other.id).await.unwrap().unwrap().require_mfa);
}
