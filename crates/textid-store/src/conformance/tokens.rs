//! Authorization codes and refresh tokens used once, and the revocation of token families
//! (every token issued from one code shares its family).

use std::sync::Arc;

use chrono::Duration;

use super::*;

fn redeemed(r: &Redemption) -> bool {
    matches!(r, Redemption::Redeemed(_))
}

/// A token family as the token endpoint leaves it after issuing: a refresh token and an
/// access token `jti` recorded.
async fn issued(s: &dyn Store, g: &GrantRecord) -> (Vec<u8>, String) {
    let refresh = refresh_token(s, g).await;
    let jti = uuid::Uuid::new_v4().to_string();
    s.record_access_token(&jti, &g.family_id, None, None, later(3600))
        .await
        .unwrap();
    (refresh, jti)
}

pub async fn a_code_is_redeemed_once_and_reuse_revokes_its_family(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let c = code(&*s, &g).await;
    assert_eq!(
        s.redeem_code(&c, "app", now(), no_token()).await.unwrap(),
        Redemption::Redeemed(g.clone())
    );
    // Tokens issued from the code are revoked by its replay, and only they are.
    let (refresh, jti) = issued(&*s, &g).await;
    let bystander = grant(&t);
    let (their_refresh, their_jti) = issued(&*s, &bystander).await;
    assert!(!s.access_token_revoked(&jti).await.unwrap());
    assert_eq!(
        s.redeem_code(&c, "app", later(1), no_token())
            .await
            .unwrap(),
        Redemption::Reused
    );
    assert_eq!(
        s.use_refresh_token(&refresh, "app", later(2))
            .await
            .unwrap(),
        Redemption::Invalid
    );
    assert!(s.access_token_revoked(&jti).await.unwrap());
    assert_eq!(
        s.redeem_code(&c, "app", later(3), no_token())
            .await
            .unwrap(),
        Redemption::Reused,
        "still a replay"
    );
    assert!(!s.access_token_revoked(&their_jti).await.unwrap());
    assert!(redeemed(
        &s.use_refresh_token(&their_refresh, "app", later(2))
            .await
            .unwrap()
    ));
}

pub async fn concurrent_redemptions_of_one_code_have_exactly_one_winner(s: Arc<dyn Store>) {
    let mut wins = Vec::new();
    for round in 0..ROUNDS {
        let t = tenant(&*s).await;
        let g = grant(&t);
        let c = code(&*s, &g).await;
        wins.push(
            race(|_| {
                let (s, c, g) = (s.clone(), c.clone(), g.clone());
                async move {
                    match s.redeem_code(&c, "app", now(), no_token()).await.unwrap() {
                        Redemption::Redeemed(got) => {
                            assert_eq!(got, g);
                            true
                        }
                        other => {
                            assert_eq!(other, Redemption::Reused, "round {round}");
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

pub async fn a_code_presented_by_another_client_is_invalid_and_stays_usable(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let c = code(&*s, &g).await;
    for _ in 0..2 {
        assert_eq!(
            s.redeem_code(&c, "intruder", now(), no_token())
                .await
                .unwrap(),
            Redemption::Invalid
        );
    }
    assert_eq!(
        s.redeem_code(&c, "app", now(), no_token()).await.unwrap(),
        Redemption::Redeemed(g)
    );
}

pub async fn an_expired_code_is_spent(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let c = code(&*s, &g).await;
    let expired = now() + Duration::minutes(1);
    assert_eq!(
        s.redeem_code(&c, "app", expired, no_token()).await.unwrap(),
        Redemption::Invalid
    );
    // The attempt spent it: presented again (even on a clock that lags behind, before
    // its end) it is a replay, never a redemption.
    assert_eq!(
        s.redeem_code(&c, "app", now(), no_token()).await.unwrap(),
        Redemption::Reused
    );
}

pub async fn an_unknown_code_is_invalid(s: Arc<dyn Store>) {
    assert_eq!(
        s.redeem_code(&hash(), "app", now(), no_token())
            .await
            .unwrap(),
        Redemption::Invalid
    );
}

pub async fn a_code_of_a_revoked_family_is_invalid(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let c = code(&*s, &g).await;
    let (refresh, _) = issued(&*s, &g).await;
    assert!(s.revoke_refresh_token(&refresh, now()).await.unwrap());
    assert_eq!(
        s.redeem_code(&c, "app", now(), no_token()).await.unwrap(),
        Redemption::Invalid
    );
}

pub async fn a_rotated_refresh_token_reused_revokes_its_family(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let first = refresh_token(&*s, &g).await;
    assert_eq!(
        s.use_refresh_token(&first, "app", now()).await.unwrap(),
        Redemption::Redeemed(g.clone())
    );
    let (second, jti) = issued(&*s, &g).await;
    assert_eq!(
        s.use_refresh_token(&first, "app", later(1)).await.unwrap(),
        Redemption::Reused
    );
    assert_eq!(
        s.use_refresh_token(&second, "app", later(2)).await.unwrap(),
        Redemption::Invalid,
        "the family is revoked"
    );
    assert!(s.access_token_revoked(&jti).await.unwrap());
}

pub async fn concurrent_uses_of_one_refresh_token_have_exactly_one_winner(s: Arc<dyn Store>) {
    let mut wins = Vec::new();
    for round in 0..ROUNDS {
        let t = tenant(&*s).await;
        let g = grant(&t);
        let token = refresh_token(&*s, &g).await;
        wins.push(
            race(|_| {
                let (s, token) = (s.clone(), token.clone());
                async move {
                    match s.use_refresh_token(&token, "app", now()).await.unwrap() {
                        Redemption::Redeemed(_) => true,
                        // A loser is a reuse, or sees the family a reuse revoked.
                        other => {
                            let lost = matches!(other, Redemption::Reused | Redemption::Invalid);
                            assert!(lost, "round {round}: {other:?}");
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

pub async fn a_refresh_token_presented_by_another_client_is_invalid_and_stays_usable(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let token = refresh_token(&*s, &g).await;
    for _ in 0..2 {
        assert_eq!(
            s.use_refresh_token(&token, "intruder", now())
                .await
                .unwrap(),
            Redemption::Invalid
        );
    }
    assert_eq!(
        s.use_refresh_token(&token, "app", now()).await.unwrap(),
        Redemption::Redeemed(g)
    );
}

pub async fn an_expired_refresh_token_is_invalid_and_revokes_nothing(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let token = refresh_token(&*s, &g).await;
    let (sibling, jti) = issued(&*s, &g).await;
    let expired = now() + Duration::days(1);
    for _ in 0..2 {
        assert_eq!(
            s.use_refresh_token(&token, "app", expired).await.unwrap(),
            Redemption::Invalid
        );
    }
    assert!(!s.access_token_revoked(&jti).await.unwrap());
    assert!(redeemed(
        &s.use_refresh_token(&sibling, "app", now()).await.unwrap()
    ));
}

pub async fn a_refresh_token_of_a_revoked_family_cannot_be_stored(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let (refresh, _) = issued(&*s, &g).await;
    assert!(s.revoke_refresh_token(&refresh, now()).await.unwrap());
    let late = hash();
    assert_eq!(
        conflict(
            s.insert_refresh_token(&late, &g, now(), now() + Duration::days(1))
                .await
        ),
        "family_revoked"
    );
    assert_eq!(s.refresh_token_client(&late).await.unwrap(), None);
    assert_eq!(
        s.use_refresh_token(&late, "app", now()).await.unwrap(),
        Redemption::Invalid
    );
}

pub async fn the_client_of_a_refresh_token_is_known(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = GrantRecord {
        client_id: "backend".into(),
        ..grant(&t)
    };
    let token = refresh_token(&*s, &g).await;
    assert_eq!(
        s.refresh_token_client(&token).await.unwrap().as_deref(),
        Some("backend")
    );
    assert_eq!(s.refresh_token_client(&hash()).await.unwrap(), None);
}

pub async fn revoking_a_refresh_token_revokes_its_whole_family(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let (first, jti) = issued(&*s, &g).await;
    let (second, jti2) = issued(&*s, &g).await;
    let bystander = grant(&t);
    let (theirs, their_jti) = issued(&*s, &bystander).await;
    assert!(s.revoke_refresh_token(&first, now()).await.unwrap());
    for token in [&first, &second] {
        assert_eq!(
            s.use_refresh_token(token, "app", now()).await.unwrap(),
            Redemption::Invalid
        );
    }
    assert!(s.access_token_revoked(&jti).await.unwrap());
    assert!(s.access_token_revoked(&jti2).await.unwrap());
    assert!(!s.access_token_revoked(&their_jti).await.unwrap());
    assert!(redeemed(
        &s.use_refresh_token(&theirs, "app", now()).await.unwrap()
    ));
    // Revoking again is harmless; an unknown token is answered false.
    assert!(s.revoke_refresh_token(&second, now()).await.unwrap());
    assert!(!s.revoke_refresh_token(&hash(), now()).await.unwrap());
}

pub async fn an_access_token_of_a_revoked_family_is_revoked(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let c = code(&*s, &g).await;
    assert!(redeemed(
        &s.redeem_code(&c, "app", now(), no_token()).await.unwrap()
    ));
    let (_, jti) = issued(&*s, &g).await;
    assert!(!s.access_token_revoked(&jti).await.unwrap());
    assert_eq!(
        s.redeem_code(&c, "app", now(), no_token()).await.unwrap(),
        Redemption::Reused
    );
    assert!(s.access_token_revoked(&jti).await.unwrap());
}

pub async fn an_access_token_of_a_revoked_family_cannot_be_recorded(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let (refresh, _) = issued(&*s, &g).await;
    assert!(s.revoke_refresh_token(&refresh, now()).await.unwrap());
    let late = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        conflict(
            s.record_access_token(&late, &g.family_id, None, None, later(3600))
                .await
        ),
        "family_revoked"
    );
}

pub async fn an_access_token_can_be_revoked_on_its_own(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let (refresh, jti) = issued(&*s, &g).await;
    let (_, sibling) = issued(&*s, &g).await;
    s.revoke_access_token(&jti, later(3600)).await.unwrap();
    assert!(s.access_token_revoked(&jti).await.unwrap());
    assert!(!s.access_token_revoked(&sibling).await.unwrap());
    assert!(redeemed(
        &s.use_refresh_token(&refresh, "app", now()).await.unwrap()
    ));
    // Twice is harmless; a token never recorded (e.g. issued before a restart of the
    // record) can be revoked too; an unknown one is not revoked.
    s.revoke_access_token(&jti, later(3600)).await.unwrap();
    let unrecorded = uuid::Uuid::new_v4().to_string();
    s.revoke_access_token(&unrecorded, later(3600))
        .await
        .unwrap();
    assert!(s.access_token_revoked(&unrecorded).await.unwrap());
    let unknown = uuid::Uuid::new_v4().to_string();
    assert!(!s.access_token_revoked(&unknown).await.unwrap());
}

pub async fn revoking_a_session_revokes_the_access_tokens_bound_to_it_only(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (g, other) = (grant(&t), grant(&t));
    let sid = live_session(&*s, &t, later(3600)).await.id;
    let another = live_session(&*s, &t, later(3600)).await.id;
    let jti = || uuid::Uuid::new_v4().to_string();
    let (bound, unbound, elsewhere) = (jti(), jti(), jti());
    s.record_access_token(&bound, &g.family_id, None, Some(sid), later(3600))
        .await
        .unwrap();
    s.record_access_token(&unbound, &other.family_id, None, None, later(3600))
        .await
        .unwrap();
    s.record_access_token(
        &elsewhere,
        &other.family_id,
        None,
        Some(another),
        later(3600),
    )
    .await
    .unwrap();
    s.revoke_session(sid, later(1)).await.unwrap();
    assert!(s.access_token_revoked(&bound).await.unwrap());
    assert!(!s.access_token_revoked(&unbound).await.unwrap());
    assert!(!s.access_token_revoked(&elsewhere).await.unwrap());
    s.revoke_session(sid, later(2)).await.unwrap();
    assert!(s.access_token_revoked(&bound).await.unwrap());
}

/// The token request's one commit: a code's first redemption records the access token
/// that `admit` returns for its grant, bound to its session and family; a grant that is
/// not admitted spends the code and records nothing; a replay or another client's attempt
/// never asks.
pub async fn a_first_redemption_records_the_access_token_its_grant_admits(s: Arc<dyn Store>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let t = tenant(&*s).await;
    let sid = live_session(&*s, &t, later(3600)).await.id;
    let g = GrantRecord {
        session_id: Some(sid),
        ..grant(&t)
    };
    let c = code(&*s, &g).await;
    let asked = Arc::new(AtomicUsize::new(0));
    let admit = |jti: &str, admitted: bool| -> Admit {
        let (jti, asked) = (jti.to_string(), asked.clone());
        Box::new(move |grant: &GrantRecord| {
            asked.fetch_add(1, Ordering::SeqCst);
            admitted.then(|| AccessTokenRecord {
                jti: jti.clone(),
                user: grant.user_id,
                session: grant.session_id,
                expires_at: later(3600),
            })
        })
    };
    assert_eq!(
        s.redeem_code(&c, "intruder", now(), admit("never", true))
            .await
            .unwrap(),
        Redemption::Invalid
    );
    assert_eq!(asked.load(Ordering::SeqCst), 0, "another client's attempt");
    assert_eq!(
        s.redeem_code(&c, "app", now(), admit("bound", true))
            .await
            .unwrap(),
        Redemption::Redeemed(g.clone())
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    assert!(!s.access_token_revoked("bound").await.unwrap());
    // Recorded and bound: the session's end revokes it.
    s.revoke_session(sid, later(1)).await.unwrap();
    assert!(s.access_token_revoked("bound").await.unwrap());
    assert_eq!(
        s.redeem_code(&c, "app", later(2), admit("replayed", true))
            .await
            .unwrap(),
        Redemption::Reused
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1, "a replay never asks");

    // Not admitted: the code is spent, nothing is recorded (its family's revocation by a
    // replay reaches no token of that jti).
    let other = grant(&t);
    let c2 = code(&*s, &other).await;
    assert_eq!(
        s.redeem_code(&c2, "app", now(), admit("refused", false))
            .await
            .unwrap(),
        Redemption::Redeemed(other.clone())
    );
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert_eq!(
        s.redeem_code(&c2, "app", later(1), no_token())
            .await
            .unwrap(),
        Redemption::Reused
    );
    assert!(!s.access_token_revoked("refused").await.unwrap());
    // The family's revocation reaches a token recorded with a redemption.
    let third = grant(&t);
    let c3 = code(&*s, &third).await;
    assert!(redeemed(
        &s.redeem_code(&c3, "app", now(), admit("family", true))
            .await
            .unwrap()
    ));
    assert!(!s.access_token_revoked("family").await.unwrap());
    assert_eq!(
        s.redeem_code(&c3, "app", later(1), no_token())
            .await
            .unwrap(),
        Redemption::Reused
    );
    assert!(s.access_token_revoked("family").await.unwrap());
}

/// Issue #19: the sign-out and the recording of an access token bound to the session race
/// (the code was redeemed while the session was live). A token recorded after the sign-out
/// would escape the revocation, so it is refused; other sessions' tokens are unaffected.
pub async fn no_access_token_is_bound_to_a_session_that_has_ended(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let g = grant(&t);
    let (ended, live) = (
        live_session(&*s, &t, later(3600)).await,
        live_session(&*s, &t, later(3600)).await,
    );
    s.revoke_session(ended.id, later(1)).await.unwrap();
    let late = uuid::Uuid::new_v4().to_string();
    let refused = s
        .record_access_token(&late, &g.family_id, None, Some(ended.id), later(3600))
        .await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict(c)) if c == "session_revoked"),
        "{refused:?}"
    );
    let fine = uuid::Uuid::new_v4().to_string();
    s.record_access_token(&fine, &g.family_id, None, Some(live.id), later(3600))
        .await
        .unwrap();
    assert!(!s.access_token_revoked(&fine).await.unwrap());
    // Unbound tokens (offline_access, client credentials) do not ask.
    let unbound = uuid::Uuid::new_v4().to_string();
    s.record_access_token(&unbound, &g.family_id, None, None, later(3600))
        .await
        .unwrap();
}
