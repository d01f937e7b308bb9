//! The OpenID Connect provider's signing keys, registered clients and pending
//! authorization requests.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use textid_core::{FlowId, TenantId};

use super::*;

/// An algorithm name of this case only: signing keys are global, and a key of another
/// case's algorithm must not retire this case's keys.
fn alg(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

fn key(alg: &str, created_at: DateTime<Utc>) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: uuid::Uuid::new_v4().to_string(),
        alg: alg.into(),
        sealed: uuid::Uuid::new_v4().as_bytes().to_vec(),
        created_at,
        retired_at: None,
    }
}

/// The stored keys with these kids, newest first.
async fn keys(s: &dyn Store, of: &[&SigningKeyRecord]) -> Vec<SigningKeyRecord> {
    s.signing_keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| of.iter().any(|o| o.kid == k.kid))
        .collect()
}

pub async fn a_new_signing_key_retires_the_active_key_of_its_algorithm(s: Arc<dyn Store>) {
    let (es, ed) = (alg("ES256"), alg("EdDSA"));
    let old = key(&es, now());
    let other_alg = key(&ed, now());
    for k in [&old, &other_alg] {
        s.add_signing_key(k, now()).await.unwrap();
    }
    let new = key(&es, later(60));
    s.add_signing_key(&new, later(60)).await.unwrap();
    let stored = keys(&*s, &[&old, &other_alg, &new]).await;
    let find = |kid: &str| stored.iter().find(|k| k.kid == kid).unwrap().clone();
    assert_eq!(find(&new.kid), new, "the new key is active");
    assert_eq!(
        find(&old.kid),
        SigningKeyRecord {
            retired_at: Some(later(60)),
            ..old.clone()
        },
        "the old key is retired, still published"
    );
    assert_eq!(
        find(&other_alg.kid),
        other_alg,
        "other algorithms keep theirs"
    );
    // A retired key stays retired when a third one comes.
    let third = key(&es, later(120));
    s.add_signing_key(&third, later(120)).await.unwrap();
    let stored = keys(&*s, &[&old, &new]).await;
    assert_eq!(
        stored.iter().map(|k| k.retired_at).collect::<Vec<_>>(),
        [Some(later(120)), Some(later(60))]
    );
}

pub async fn signing_keys_are_listed_newest_first(s: Arc<dyn Store>) {
    let (a, b) = (alg("RS256"), alg("ES256"));
    let made = [
        key(&a, now()),
        key(&b, later(10)),
        key(&a, later(20)),
        key(&b, later(30)),
    ];
    for k in &made {
        s.add_signing_key(k, k.created_at).await.unwrap();
    }
    let stored = keys(&*s, &made.iter().collect::<Vec<_>>()).await;
    let kids: Vec<_> = stored.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(
        kids,
        [&made[3].kid, &made[2].kid, &made[1].kid, &made[0].kid]
    );
    assert_eq!(stored[0], made[3], "sealed form and times round-trip");
}

pub async fn adding_a_signing_key_is_notified(s: Arc<dyn Store>) {
    let mut changes = s.subscribe();
    s.add_signing_key(&key(&alg("ES256"), now()), now())
        .await
        .unwrap();
    expect_change(&mut changes, Changed::SigningKeys).await;
}

fn client(t: &Tenant, id: &str) -> ClientRecord {
    ClientRecord {
        tenant_id: t.id,
        client_id: id.into(),
        document: json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"}),
        secret_hash: None,
        previous_secret_hash: None,
        previous_secret_expires_at: None,
    }
}

pub async fn a_client_id_is_registered_once_per_tenant(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let first = client(&t, "app");
    s.create_client(&first, now()).await.unwrap();
    let second = ClientRecord {
        document: json!({"redirect_uris": ["https://evil.example/cb"]}),
        ..first.clone()
    };
    assert_eq!(
        conflict(s.create_client(&second, now()).await),
        "oauth_clients"
    );
    assert_eq!(s.client(t.id, "app").await.unwrap(), Some(first));
    // Another tenant may use the same client id.
    let other = tenant(&*s).await;
    s.create_client(&client(&other, "app"), now())
        .await
        .unwrap();
}

pub async fn concurrent_registrations_of_one_client_have_exactly_one_winner(s: Arc<dyn Store>) {
    let mut wins = Vec::new();
    for _ in 0..ROUNDS {
        let t = tenant(&*s).await;
        wins.push(
            race(|i| {
                let s = s.clone();
                let c = ClientRecord {
                    secret_hash: Some(format!("hash-{i}")),
                    ..client(&t, "app")
                };
                async move {
                    match s.create_client(&c, now()).await {
                        Ok(()) => true,
                        Err(e) => {
                            assert_eq!(conflict::<()>(Err(e)), "oauth_clients");
                            false
                        }
                    }
                }
            })
            .await,
        );
        assert_eq!(s.list_clients(t.id).await.unwrap().len(), 1);
    }
    one_winner_each_round(&wins);
}

pub async fn clients_are_found_and_listed_per_tenant(s: Arc<dyn Store>) {
    let (t, other) = (tenant(&*s).await, tenant(&*s).await);
    let confidential = ClientRecord {
        secret_hash: Some("$argon2id$stored".into()),
        ..client(&t, "backend")
    };
    let public = client(&t, "spa");
    s.create_client(&confidential, now()).await.unwrap();
    s.create_client(&public, later(1)).await.unwrap();
    s.create_client(&client(&other, "theirs"), now())
        .await
        .unwrap();
    assert_eq!(
        s.client(t.id, "backend").await.unwrap(),
        Some(confidential.clone())
    );
    assert_eq!(s.client(t.id, "theirs").await.unwrap(), None);
    assert_eq!(s.client(other.id, "spa").await.unwrap(), None);
    let mut listed = s.list_clients(t.id).await.unwrap();
    listed.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    assert_eq!(listed, [confidential, public]);
    let unknown = TenantId(uuid::Uuid::new_v4());
    assert!(s.list_clients(unknown).await.unwrap().is_empty());
}

pub async fn updating_a_client_replaces_its_registration(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    s.create_client(&client(&t, "app"), now()).await.unwrap();
    let changed = ClientRecord {
        document: json!({"redirect_uris": ["https://app.example/new"]}),
        secret_hash: Some("$argon2id$rotated".into()),
        ..client(&t, "app")
    };
    s.update_client(&changed, "Update application", &Actor::cli(), now())
        .await
        .unwrap();
    assert_eq!(s.client(t.id, "app").await.unwrap(), Some(changed.clone()));
    // And back to a public client: the secret goes.
    let public = client(&t, "app");
    s.update_client(&public, "Update application", &Actor::cli(), now())
        .await
        .unwrap();
    assert_eq!(s.client(t.id, "app").await.unwrap(), Some(public));
    assert_eq!(s.list_clients(t.id).await.unwrap().len(), 1);
}

pub async fn updating_a_missing_client_is_not_found(s: Arc<dyn Store>) {
    let (t, other) = (tenant(&*s).await, tenant(&*s).await);
    not_found(
        s.update_client(
            &client(&t, "ghost"),
            "Update application",
            &Actor::cli(),
            now(),
        )
        .await,
    );
    s.create_client(&client(&t, "app"), now()).await.unwrap();
    not_found(
        s.update_client(
            &client(&other, "app"),
            "Update application",
            &Actor::cli(),
            now(),
        )
        .await,
    );
    assert_eq!(s.client(other.id, "app").await.unwrap(), None);
}

fn request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub async fn an_authorization_request_is_found_in_its_tenant(s: Arc<dyn Store>) {
    let (t, other) = (tenant(&*s).await, tenant(&*s).await);
    let id = request_id();
    let doc = json!({"client_id": "app", "state": "xyz", "nonce": "n-0S6"});
    s.put_auth_request(&id, t.id, &doc, now(), later(600))
        .await
        .unwrap();
    assert_eq!(
        s.auth_request(&id, t.id, now()).await.unwrap(),
        Some((doc.clone(), None))
    );
    assert_eq!(
        s.auth_request(&id, t.id, later(599)).await.unwrap(),
        Some((doc, None))
    );
    assert_eq!(s.auth_request(&id, other.id, now()).await.unwrap(), None);
    assert_eq!(
        s.auth_request(&request_id(), t.id, now()).await.unwrap(),
        None
    );
}

pub async fn an_expired_authorization_request_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let id = request_id();
    s.put_auth_request(&id, t.id, &json!({}), now(), later(600))
        .await
        .unwrap();
    assert_eq!(s.auth_request(&id, t.id, later(600)).await.unwrap(), None);
    let much_later = now() + Duration::days(1);
    assert_eq!(s.auth_request(&id, t.id, much_later).await.unwrap(), None);
}

pub async fn a_sign_in_flow_can_be_attached_to_an_authorization_request_and_detached(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let (id, untouched) = (request_id(), request_id());
    let doc = json!({"client_id": "app"});
    for rid in [&id, &untouched] {
        s.put_auth_request(rid, t.id, &doc, now(), later(600))
            .await
            .unwrap();
    }
    let (f1, f2) = (FlowId(uuid::Uuid::new_v4()), FlowId(uuid::Uuid::new_v4()));
    s.set_auth_request_flow(&id, Some(f1)).await.unwrap();
    assert_eq!(
        s.auth_request(&id, t.id, now()).await.unwrap(),
        Some((doc.clone(), Some(f1)))
    );
    // A new sign-in replaces the flow; signing in again from scratch detaches it.
    s.set_auth_request_flow(&id, Some(f2)).await.unwrap();
    assert_eq!(
        s.auth_request(&id, t.id, now()).await.unwrap(),
        Some((doc.clone(), Some(f2)))
    );
    s.set_auth_request_flow(&id, None).await.unwrap();
    assert_eq!(
        s.auth_request(&id, t.id, now()).await.unwrap(),
        Some((doc.clone(), None))
    );
    assert_eq!(
        s.auth_request(&untouched, t.id, now()).await.unwrap(),
        Some((doc, None))
    );
}

/// The phone page's step points its authorization request at the new flow in the step's
/// own transaction; a step that writes no flow, or names a request that is gone, links
/// nothing and still commits.
pub async fn a_step_links_the_authorization_request_it_names_to_the_flow_it_writes(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let (id, other) = (request_id(), request_id());
    let doc = json!({"client_id": "app"});
    for rid in [&id, &other] {
        s.put_auth_request(rid, t.id, &doc, now(), later(600))
            .await
            .unwrap();
    }
    let number = "+14255550177";
    let f = flow(&t, number, None, now());
    let linked = Put {
        link_request: Some(id.clone()),
        ..Put::flow(&f)
    };
    put(&*s, &t, StepTarget::Number(number.into()), now(), linked).await;
    assert_eq!(
        s.auth_request(&id, t.id, now()).await.unwrap(),
        Some((doc.clone(), Some(f.id)))
    );
    assert_eq!(
        s.auth_request(&other, t.id, now()).await.unwrap(),
        Some((doc.clone(), None))
    );
    // Without a flow to point at, the request is left as it is.
    let no_flow = Put {
        link_request: Some(other.clone()),
        ..Put::default()
    };
    put(&*s, &t, StepTarget::Number(number.into()), now(), no_flow).await;
    assert_eq!(
        s.auth_request(&other, t.id, now()).await.unwrap(),
        Some((doc, None))
    );
    // A request that is gone: the step commits, and no request appears.
    let (gone, g) = (request_id(), flow(&t, number, None, now()));
    let to_gone = Put {
        link_request: Some(gone.clone()),
        ..Put::flow(&g)
    };
    put(&*s, &t, StepTarget::Number(number.into()), now(), to_gone).await;
    assert_eq!(s.sms_flow(t.id, g.id).await.unwrap(), Some(g));
    assert_eq!(s.auth_request(&gone, t.id, now()).await.unwrap(), None);
}

pub async fn a_deleted_authorization_request_is_not_found(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (id, kept) = (request_id(), request_id());
    for rid in [&id, &kept] {
        s.put_auth_request(rid, t.id, &json!({"n": 1}), now(), later(600))
            .await
            .unwrap();
    }
    s.delete_auth_request(&id).await.unwrap();
    assert_eq!(s.auth_request(&id, t.id, now()).await.unwrap(), None);
    assert!(s.auth_request(&kept, t.id, now()).await.unwrap().is_some());
    // Ending it twice (a double submit) is harmless.
    s.delete_auth_request(&id).await.unwrap();
}

pub async fn a_rotated_client_keeps_its_previous_secret_and_changes_are_audited(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let first = ClientRecord {
        secret_hash: Some("$argon2id$first".into()),
        ..client(&t, "app")
    };
    s.create_client(&first, now()).await.unwrap();
    let rotated = ClientRecord {
        secret_hash: Some("$argon2id$second".into()),
        previous_secret_hash: Some("$argon2id$first".into()),
        previous_secret_expires_at: Some(later(86_400)),
        document: json!({"redirect_uris": ["https://app.example/cb"], "disabled": true}),
        ..first.clone()
    };
    s.update_client(
        &rotated,
        "Rotate application secret",
        &Actor::cli(),
        later(1),
    )
    .await
    .unwrap();
    assert_eq!(s.client(t.id, "app").await.unwrap(), Some(rotated.clone()));
    let a = audited(&*s, &t, "Rotate application secret", "app", later(1)).await;
    assert_eq!(a.target_type, "application");
    assert_eq!(a.before, Some(first.document.clone()));
    assert_eq!(a.after, Some(rotated.document.clone()));
    let logged = serde_json::to_string(&a).unwrap();
    assert!(
        !logged.contains("argon2id"),
        "no secret hash in the audit log"
    );
}

pub async fn deleting_a_client_revokes_its_token_families_and_is_audited(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    s.create_client(&client(&t, "app"), now()).await.unwrap();
    s.create_client(&client(&t, "other"), now()).await.unwrap();
    let g = grant(&t);
    let (c, r) = (code(&*s, &g).await, refresh_token(&*s, &g).await);
    let kept = GrantRecord {
        client_id: "other".into(),
        ..grant(&t)
    };
    let kept_refresh = refresh_token(&*s, &kept).await;
    s.delete_client(t.id, "app", &Actor::cli(), later(1))
        .await
        .unwrap();
    assert_eq!(s.client(t.id, "app").await.unwrap(), None);
    let a = audited(&*s, &t, "Delete application", "app", later(1)).await;
    assert_eq!((a.before.is_some(), a.after), (true, None));
    // Re-registering the id does not bring the old grants back.
    s.create_client(&client(&t, "app"), later(2)).await.unwrap();
    assert_eq!(
        s.redeem_code(&c, "app", later(3), no_token())
            .await
            .unwrap(),
        Redemption::Invalid
    );
    assert_eq!(
        s.use_refresh_token(&r, "app", later(3)).await.unwrap(),
        Redemption::Invalid
    );
    assert!(matches!(
        s.use_refresh_token(&kept_refresh, "other", later(3))
            .await
            .unwrap(),
        Redemption::Redeemed(_)
    ));
}

pub async fn deleting_a_missing_client_is_not_found(s: Arc<dyn Store>) {
    let (t, other) = (tenant(&*s).await, tenant(&*s).await);
    not_found(s.delete_client(t.id, "ghost", &Actor::cli(), now()).await);
    s.create_client(&client(&t, "app"), now()).await.unwrap();
    not_found(s.delete_client(other.id, "app", &Actor::cli(), now()).await);
    assert!(s.client(t.id, "app").await.unwrap().is_some());
}
