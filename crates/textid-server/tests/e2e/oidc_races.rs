//! Replays that race the legitimate request (RFC 6749 §4.1.2, §10.4; RFC 9700 §4.14.2): a
//! code or refresh token used twice at once must still end with everything issued from it
//! revoked, whichever request won. Each test replays several times, so a missed revocation
//! in any round fails it; with the invariant kept, every round passes. A round may end
//! with no winner (the replay revoked the family before the first request saved its
//! tokens), but never with two, and at least one round must have had a winner: otherwise
//! the assertions on the winner's tokens never ran (issue #19).

use serde_json::Value;
use textid_oidc::ClientType;

use crate::oidc_helpers::{spawn_oidc, Authz, OidcApp};

/// Rounds per test, at most: a window that a single round hits only sometimes is hit in
/// one of them. Two requests released together rarely both get far: the replay usually
/// revokes the family before the first request has saved its tokens, and then nobody wins
/// (0 winners in 200 such rounds were seen on a loaded machine). So the second request of
/// round `r` starts after `r % OFFSETS` round trips to `/healthz` (server work, not a
/// sleep): the rounds sweep from "both at once" to "the replay after the first answer",
/// and the checks on a winner's tokens run in the rounds in between. A test stops after
/// `WINNING_ROUNDS` rounds with a winner and at least one whole sweep.
const ROUNDS: usize = 200;
/// Offsets of the sweep.
const OFFSETS: usize = 12;
/// Rounds with a winner after which a test stops.
const WINNING_ROUNDS: usize = 3;

/// `request`, sent after `k` round trips to `/healthz`.
async fn after(
    t: &OidcApp,
    k: usize,
    request: impl std::future::Future<Output = reqwest::Response>,
) -> reqwest::Response {
    for _ in 0..k {
        let r = t.http.get(t.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    request.await
}

/// The answers of two concurrent requests; `Some` is the one 200 if exactly one succeeded
/// (two is a failure of the test).
async fn one_winner(a: reqwest::Response, b: reqwest::Response) -> Option<Value> {
    let statuses = (a.status().as_u16(), b.status().as_u16());
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    match statuses {
        (200, 200) => panic!("a code or refresh token was redeemed twice: {a} {b}"),
        (200, _) => Some(a),
        (_, 200) => Some(b),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn a_code_replayed_concurrently_leaves_no_live_tokens() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    t.sign_in(&browser, &rp, &Authz::new("openid")).await;
    let mut rounds_with_a_winner = 0;
    for round in 0..ROUNDS {
        if rounds_with_a_winner >= WINNING_ROUNDS && round >= OFFSETS {
            break;
        }
        let authz = Authz::new("openid offline_access");
        let callback = t.sso(&browser, &rp, &authz).await;
        let (a, b) = tokio::join!(
            t.exchange(rp.auth(), &callback, &authz),
            after(
                &t,
                round % OFFSETS,
                t.exchange(rp.auth(), &callback, &authz)
            )
        );
        let Some(winner) = one_winner(a, b).await else {
            continue;
        };
        rounds_with_a_winner += 1;
        let access = winner["access_token"].as_str().unwrap();
        let refresh = winner["refresh_token"].as_str().unwrap();
        assert_eq!(t.userinfo(access).await.status(), 401, "round {round}");
        assert_eq!(t.refresh(&rp, refresh).await.status(), 400, "round {round}");
    }
    assert!(
        rounds_with_a_winner > 0,
        "no round of {ROUNDS} had a winner"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn a_refresh_token_reused_concurrently_leaves_no_live_tokens() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    t.sign_in(&browser, &rp, &Authz::new("openid")).await;
    let mut rounds_with_a_winner = 0;
    for round in 0..ROUNDS {
        if rounds_with_a_winner >= WINNING_ROUNDS && round >= OFFSETS {
            break;
        }
        let authz = Authz::new("openid offline_access");
        let callback = t.sso(&browser, &rp, &authz).await;
        let response = t.exchange(rp.auth(), &callback, &authz).await;
        let first: Value = response.json().await.unwrap();
        let refresh = first["refresh_token"].as_str().unwrap();
        let (a, b) = tokio::join!(
            t.refresh(&rp, refresh),
            after(&t, round % OFFSETS, t.refresh(&rp, refresh))
        );
        let Some(winner) = one_winner(a, b).await else {
            continue;
        };
        rounds_with_a_winner += 1;
        let access = winner["access_token"].as_str().unwrap();
        let rotated = winner["refresh_token"].as_str().unwrap();
        assert_eq!(t.userinfo(access).await.status(), 401, "round {round}");
        assert_eq!(t.refresh(&rp, rotated).await.status(), 400, "round {round}");
    }
    assert!(
        rounds_with_a_winner > 0,
        "no round of {ROUNDS} had a winner"
    );
}
