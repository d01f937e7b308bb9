//! Tenants and their authentication methods policy.

use std::sync::Arc;

use serde_json::json;
use textid_core::policy::{AuthenticationMethodsPolicy, MethodState};
use textid_core::TenantId;

use super::*;

pub async fn ensuring_a_tenant_twice_returns_the_same_tenant(s: Arc<dyn Store>) {
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    let a = s.ensure_tenant(&name, now()).await.unwrap();
    let b = s.ensure_tenant(&name, later(60)).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a.name, name);
    assert_eq!(s.tenant_by_name(&name).await.unwrap(), Some(a));
    let unknown = format!("t{}", uuid::Uuid::new_v4().simple());
    assert_eq!(s.tenant_by_name(&unknown).await.unwrap(), None);
}

pub async fn concurrent_ensures_of_one_tenant_create_it_once(s: Arc<dyn Store>) {
    for round in 0..ROUNDS {
        let name = format!("t{}", uuid::Uuid::new_v4().simple());
        let tasks: Vec<_> = (0..RACERS)
            .map(|_| {
                let (s, name) = (s.clone(), name.clone());
                tokio::spawn(async move { s.ensure_tenant(&name, now()).await.unwrap() })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap().id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "round {round}: {ids:?}");
        assert_eq!(s.tenant_by_name(&name).await.unwrap().unwrap().id, ids[0]);
    }
}

pub async fn a_tenant_is_found_by_its_id(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    assert_eq!(s.tenant_by_id(t.id).await.unwrap(), Some(t));
    let unknown = TenantId(uuid::Uuid::new_v4());
    assert_eq!(s.tenant_by_id(unknown).await.unwrap(), None);
}

pub async fn a_new_tenant_has_the_default_policy_and_no_region(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    assert_eq!(t.default_region, None);
    assert_eq!(
        s.policy(t.id).await.unwrap(),
        AuthenticationMethodsPolicy::default()
    );
    assert!(audits(&*s, &t).await.is_empty(), "creating is not audited");
}

pub async fn the_sign_in_api_origins_are_replaced_audited_and_notified(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    assert!(t.sign_in_origins.is_empty(), "none by default");
    let mut changes = s.subscribe();
    let origins = vec![
        "https://app.contoso.example".to_string(),
        "http://127.0.0.1:5173".to_string(),
    ];
    s.set_tenant_sign_in_origins(t.id, &origins, &Actor::cli(), later(1))
        .await
        .unwrap();
    expect_change(&mut changes, Changed::Tenants).await;
    let stored = s.tenant_by_id(t.id).await.unwrap().unwrap();
    assert_eq!(stored.sign_in_origins, origins);
    assert_eq!(s.tenant_by_name(&t.name).await.unwrap(), Some(stored));
    s.set_tenant_sign_in_origins(t.id, &[], &Actor::cli(), later(2))
        .await
        .unwrap();
    let cleared = s.tenant_by_id(t.id).await.unwrap().unwrap();
    assert!(cleared.sign_in_origins.is_empty());
    let a = audited(
        &*s,
        &t,
        "Update tenant sign-in API origins",
        &t.id.to_string(),
        later(2),
    )
    .await;
    assert_eq!(a.before, Some(json!({"signInOrigins": origins})));
    assert_eq!(a.after, Some(json!({"signInOrigins": []})));
    let unknown = TenantId(uuid::Uuid::new_v4());
    assert!(matches!(
        s.set_tenant_sign_in_origins(unknown, &origins, &Actor::cli(), later(3))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn changing_the_tenant_region_is_audited_and_notified(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let mut changes = s.subscribe();
    s.set_tenant_region(t.id, Some("US"), &Actor::cli(), later(1))
        .await
        .unwrap();
    expect_change(&mut changes, Changed::Tenants).await;
    let stored = s.tenant_by_id(t.id).await.unwrap().unwrap();
    assert_eq!(stored.default_region.as_deref(), Some("US"));
    assert_eq!(s.tenant_by_name(&t.name).await.unwrap(), Some(stored));
    let a = audited(
        &*s,
        &t,
        "Update tenant default region",
        &t.id.to_string(),
        later(1),
    )
    .await;
    assert_eq!(a.target_type, "tenant");
    assert_eq!(a.before, Some(json!({"defaultRegion": null})));
    assert_eq!(a.after, Some(json!({"defaultRegion": "US"})));
}

pub async fn the_tenant_region_can_be_cleared(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    s.set_tenant_region(t.id, Some("GB"), &Actor::cli(), later(1))
        .await
        .unwrap();
    s.set_tenant_region(t.id, None, &Actor::cli(), later(2))
        .await
        .unwrap();
    assert_eq!(
        s.tenant_by_id(t.id).await.unwrap().unwrap().default_region,
        None
    );
    let a = audited(
        &*s,
        &t,
        "Update tenant default region",
        &t.id.to_string(),
        later(2),
    )
    .await;
    assert_eq!(a.before, Some(json!({"defaultRegion": "GB"})));
    assert_eq!(a.after, Some(json!({"defaultRegion": null})));
}

pub async fn changing_the_region_of_a_missing_tenant_is_not_found(s: Arc<dyn Store>) {
    let unknown = TenantId(uuid::Uuid::new_v4());
    not_found(
        s.set_tenant_region(unknown, Some("US"), &Actor::cli(), now())
            .await,
    );
    assert_eq!(s.tenant_by_id(unknown).await.unwrap(), None);
}

pub async fn policy_round_trips_and_changes_are_audited(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let mut p = s.policy(t.id).await.unwrap();
    assert_eq!(p.sms.state, MethodState::Disabled);
    p.sms.state = MethodState::Enabled;
    p.temporary_access_pass.default_lifetime_in_minutes = 120;
    s.put_policy(t.id, &p, &Actor::cli(), later(1))
        .await
        .unwrap();
    assert_eq!(s.policy(t.id).await.unwrap(), p);
    let a = audited(
        &*s,
        &t,
        "Update authentication methods policy",
        "authenticationMethodsPolicy",
        later(1),
    )
    .await;
    assert_eq!(a.target_type, "policy");
    assert_eq!(a.before.as_ref().unwrap()["sms"]["state"], "disabled");
    assert_eq!(a.after.as_ref().unwrap()["sms"]["state"], "enabled");
    assert_eq!(
        a.after.as_ref().unwrap()["temporaryAccessPass"]["defaultLifetimeInMinutes"],
        120
    );
}

pub async fn policies_are_kept_per_tenant(s: Arc<dyn Store>) {
    let (t, other) = (tenant(&*s).await, tenant(&*s).await);
    let mut p = s.policy(t.id).await.unwrap();
    p.sms.state = MethodState::Enabled;
    s.put_policy(t.id, &p, &Actor::cli(), now()).await.unwrap();
    assert_eq!(
        s.policy(other.id).await.unwrap(),
        AuthenticationMethodsPolicy::default()
    );
    assert!(audits(&*s, &other).await.is_empty());
}

pub async fn the_policy_of_a_missing_tenant_is_not_found(s: Arc<dyn Store>) {
    let unknown = TenantId(uuid::Uuid::new_v4());
    not_found(s.policy(unknown).await);
    let p = AuthenticationMethodsPolicy::default();
    not_found(s.put_policy(unknown, &p, &Actor::cli(), now()).await);
}
