//! Temporary Access Passes: one per user, stored only as a keyed hash.

use std::sync::Arc;

use serde_json::json;

use super::*;

fn pass(t: &Tenant, u: UserId, at: i64) -> TapRecord {
    TapRecord {
        id: uuid::Uuid::new_v4(),
        tenant_id: t.id,
        user_id: u,
        pass_hash: hash(),
        created_at: later(at),
        start_at: later(at + 60),
        lifetime_minutes: 120,
        is_usable_once: true,
        used_at: None,
    }
}

/// The audit form of a pass (never the pass or its hash).
fn audit_form(p: &TapRecord) -> serde_json::Value {
    json!({
        "id": p.id, "startDateTime": p.start_at, "lifetimeInMinutes": p.lifetime_minutes,
        "isUsableOnce": p.is_usable_once,
    })
}

pub async fn a_pass_is_stored_and_read_back_in_its_tenant(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (u, v) = (user(&*s, &t, "ana").await, user(&*s, &t, "bob").await);
    assert_eq!(s.tap(t.id, u).await.unwrap(), None);
    let p = pass(&t, u, 0);
    s.put_tap(&p, &Actor::cli(), now()).await.unwrap();
    assert_eq!(s.tap(t.id, u).await.unwrap(), Some(p));
    assert_eq!(s.tap(t.id, v).await.unwrap(), None);
    let other = tenant(&*s).await;
    assert_eq!(s.tap(other.id, u).await.unwrap(), None);
}

pub async fn a_new_pass_replaces_the_old_one(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (u, v) = (user(&*s, &t, "ana").await, user(&*s, &t, "bob").await);
    let (old, theirs) = (pass(&t, u, 0), pass(&t, v, 0));
    s.put_tap(&old, &Actor::cli(), later(0)).await.unwrap();
    s.put_tap(&theirs, &Actor::cli(), later(0)).await.unwrap();
    let new = TapRecord {
        lifetime_minutes: 60,
        is_usable_once: false,
        ..pass(&t, u, 10)
    };
    s.put_tap(&new, &Actor::cli(), later(10)).await.unwrap();
    assert_eq!(s.tap(t.id, u).await.unwrap(), Some(new.clone()));
    assert_eq!(s.tap(t.id, v).await.unwrap(), Some(theirs), "one per user");
    // The old pass is gone: deleting it by its id finds nothing.
    assert!(!s
        .delete_tap(t.id, u, old.id, &Actor::cli(), later(11))
        .await
        .unwrap());
    let a = audited(
        &*s,
        &t,
        "Add Temporary Access Pass",
        &u.to_string(),
        later(10),
    )
    .await;
    assert_eq!(
        (a.before, a.after),
        (Some(audit_form(&old)), Some(audit_form(&new)))
    );
}

pub async fn issuing_a_pass_is_audited_without_the_pass_itself(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let p = pass(&t, u, 1);
    s.put_tap(&p, &Actor::cli(), later(1)).await.unwrap();
    let a = audited(
        &*s,
        &t,
        "Add Temporary Access Pass",
        &u.to_string(),
        later(1),
    )
    .await;
    assert_eq!(a.target_type, "user");
    assert_eq!((a.before, a.after), (None, Some(audit_form(&p))));
}

pub async fn deleting_a_pass_removes_it_and_is_audited(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let p = pass(&t, u, 0);
    s.put_tap(&p, &Actor::cli(), now()).await.unwrap();
    assert!(s
        .delete_tap(t.id, u, p.id, &Actor::cli(), later(5))
        .await
        .unwrap());
    assert_eq!(s.tap(t.id, u).await.unwrap(), None);
    let a = audited(
        &*s,
        &t,
        "Delete Temporary Access Pass",
        &u.to_string(),
        later(5),
    )
    .await;
    assert_eq!((a.before, a.after), (Some(audit_form(&p)), None));
    // Deleting it again finds nothing and audits nothing.
    assert!(!s
        .delete_tap(t.id, u, p.id, &Actor::cli(), later(6))
        .await
        .unwrap());
    assert_eq!(last_audit(&*s, &t).await.created_at, later(5));
}

pub async fn deleting_a_pass_with_another_id_does_nothing(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (u, v) = (user(&*s, &t, "ana").await, user(&*s, &t, "bob").await);
    let (p, theirs) = (pass(&t, u, 0), pass(&t, v, 0));
    s.put_tap(&p, &Actor::cli(), now()).await.unwrap();
    s.put_tap(&theirs, &Actor::cli(), now()).await.unwrap();
    let before = audits(&*s, &t).await;
    let unknown = uuid::Uuid::new_v4();
    assert!(!s
        .delete_tap(t.id, u, unknown, &Actor::cli(), later(1))
        .await
        .unwrap());
    // Another user's pass id does not delete it through this user.
    assert!(!s
        .delete_tap(t.id, u, theirs.id, &Actor::cli(), later(1))
        .await
        .unwrap());
    // Nor through another tenant.
    let other = tenant(&*s).await;
    assert!(!s
        .delete_tap(other.id, u, p.id, &Actor::cli(), later(1))
        .await
        .unwrap());
    assert_eq!(s.tap(t.id, u).await.unwrap(), Some(p));
    assert_eq!(s.tap(t.id, v).await.unwrap(), Some(theirs));
    assert_eq!(audits(&*s, &t).await, before);
}

pub async fn concurrent_deletions_of_one_pass_have_exactly_one_winner(s: Arc<dyn Store>) {
    let mut wins = Vec::new();
    for _ in 0..ROUNDS {
        let t = tenant(&*s).await;
        let u = user(&*s, &t, "ana").await;
        let p = pass(&t, u, 0);
        s.put_tap(&p, &Actor::cli(), now()).await.unwrap();
        wins.push(
            race(|_| {
                let s = s.clone();
                async move {
                    s.delete_tap(t.id, u, p.id, &Actor::cli(), later(1))
                        .await
                        .unwrap()
                }
            })
            .await,
        );
        let deletions = audits(&*s, &t)
            .await
            .into_iter()
            .filter(|a| a.activity == "Delete Temporary Access Pass")
            .count();
        assert_eq!(deletions, 1, "audited once");
    }
    one_winner_each_round(&wins);
}

pub async fn issuing_or_deleting_a_pass_revokes_the_users_sessions(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (u, v) = (user(&*s, &t, "ana").await, user(&*s, &t, "vic").await);
    let (held, bystander) = (holdings(&*s, &t, u).await, holdings(&*s, &t, v).await);
    let p = pass(&t, u, 1);
    s.put_tap(&p, &Actor::cli(), later(1)).await.unwrap();
    assert_eq!(held.alive(&*s, later(2)).await, [false; 5]);
    let held = holdings(&*s, &t, u).await;
    assert!(s
        .delete_tap(t.id, u, p.id, &Actor::cli(), later(3))
        .await
        .unwrap());
    assert_eq!(held.alive(&*s, later(4)).await, [false; 5]);
    assert_eq!(bystander.alive(&*s, later(4)).await, [true; 5]);
}

pub async fn a_pass_is_redeemed_only_with_its_hash_within_its_lifetime(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let p = TapRecord {
        is_usable_once: false,
        ..pass(&t, u, 0)
    };
    s.put_tap(&p, &Actor::cli(), now()).await.unwrap();
    // Starts at later(60), lasts 120 minutes.
    let ends = later(60) + Duration::minutes(120);
    assert!(s
        .redeem_tap(t.id, u, &p.pass_hash, later(59))
        .await
        .unwrap()
        .is_none());
    assert!(
        s.redeem_tap(t.id, u, &hash(), later(61))
            .await
            .unwrap()
            .is_none(),
        "wrong"
    );
    let (read, redeemed) = s
        .redeem_tap(t.id, u, &p.pass_hash, later(61))
        .await
        .unwrap()
        .expect("a live pass with its hash");
    assert_eq!(read.id, p.id);
    assert_eq!(redeemed.ends_at, ends);
    assert!(!redeemed.consume);
    // A multi-use pass works again, and is not marked used.
    assert!(s
        .redeem_tap(t.id, u, &p.pass_hash, later(62))
        .await
        .unwrap()
        .is_some());
    assert_eq!(s.tap(t.id, u).await.unwrap().unwrap().used_at, None);
    assert!(
        s.redeem_tap(t.id, u, &p.pass_hash, ends)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    // Only the user's own pass, only in its tenant.
    let v = user(&*s, &t, "vic").await;
    assert!(s
        .redeem_tap(t.id, v, &p.pass_hash, later(61))
        .await
        .unwrap()
        .is_none());
    let other = tenant(&*s).await;
    assert!(s
        .redeem_tap(other.id, u, &p.pass_hash, later(61))
        .await
        .unwrap()
        .is_none());
}

pub async fn a_one_time_pass_is_marked_used_and_then_refused(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "ana").await;
    let p = pass(&t, u, 0);
    s.put_tap(&p, &Actor::cli(), now()).await.unwrap();
    let (_, redeemed) = s
        .redeem_tap(t.id, u, &p.pass_hash, later(61))
        .await
        .unwrap()
        .unwrap();
    assert!(redeemed.consume);
    assert_eq!(
        s.tap(t.id, u).await.unwrap().unwrap().used_at,
        Some(later(61))
    );
    assert!(s
        .redeem_tap(t.id, u, &p.pass_hash, later(62))
        .await
        .unwrap()
        .is_none());
}

pub async fn concurrent_redemptions_of_a_one_time_pass_have_exactly_one_winner(s: Arc<dyn Store>) {
    let mut wins = Vec::new();
    for _ in 0..ROUNDS {
        let t = tenant(&*s).await;
        let u = user(&*s, &t, "ana").await;
        let p = pass(&t, u, 0);
        s.put_tap(&p, &Actor::cli(), now()).await.unwrap();
        let h = p.pass_hash.clone();
        wins.push(
            race(|_| {
                let (s, h) = (s.clone(), h.clone());
                async move {
                    s.redeem_tap(t.id, u, &h, later(61))
                        .await
                        .unwrap()
                        .is_some()
                }
            })
            .await,
        );
    }
    one_winner_each_round(&wins);
}
