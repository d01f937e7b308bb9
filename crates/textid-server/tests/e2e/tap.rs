//! Temporary Access Pass sign-in (issue #15): `POST /{tenant}/api/v1/sign-in/pass` with a
//! pass Graph issued. A one-time pass is dead after its first use, also when many
//! redemptions race (Graph then says `OneTimeUsed`); a pass works only within its
//! lifetime; the session ends with the pass; the policy must still cover the user.

use reqwest::Method;
use serde_json::{json, Value};
use textid_core::policy::MethodState;
use textid_oidc::ClientType;
use textid_store::Actor;

use crate::graph::{app_token, call};

use crate::oidc_helpers::{spawn_oidc, OidcApp};

const ANA: &str = "ana@contoso.example";

async fn enable_passes(t: &OidcApp) {
    let mut policy = textid_server::directory::policy(&t.app, &t.tenant)
        .await
        .unwrap();
    policy.temporary_access_pass.state = MethodState::Enabled;
    textid_server::directory::put_policy(&t.app, &t.tenant, &policy, &Actor::cli())
        .await
        .unwrap();
}

/// Issues a pass through Graph; returns its id and the pass.
async fn issue(t: &OidcApp, token: &str, user: &str, once: bool) -> (String, String) {
    let path = format!("/v1.0/users/{user}/authentication/temporaryAccessPassMethods");
    let body = json!({"lifetimeInMinutes": 60, "isUsableOnce": once});
    let (status, _, created) = call(t, Method::POST, &path, Some(token), Some(body)).await;
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_str().unwrap().to_owned(),
        created["temporaryAccessPass"].as_str().unwrap().to_owned(),
    )
}

/// Signs in with a pass for the test's API app (a confidential client, so that the app
/// can introspect the session: issue #14 §1).
async fn sign_in(t: &OidcApp, user: &str, pass: &str) -> reqwest::Response {
    let mut body = json!({"userName": user, "temporaryAccessPass": pass});
    if let Some(rp) = &t.api_app {
        body["clientId"] = json!(rp.id);
    }
    t.http
        .post(t.url("/default/api/v1/sign-in/pass"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The test's API app, registered before any sign-in.
async fn with_api_app(mut t: OidcApp) -> OidcApp {
    t.api_app = Some(t.register(ClientType::Confidential, None).await);
    t
}

async fn introspect(t: &OidcApp, token: &str) -> Value {
    crate::sessions::introspect(t, token).await
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn a_one_time_pass_signs_in_once_and_graph_then_says_one_time_used() {
    let t = with_api_app(spawn_oidc().await).await;
    enable_passes(&t).await;
    let (_, token) = app_token(&t, &["UserAuthenticationMethod.ReadWrite.All"]).await;
    let (id, pass) = issue(&t, &token, ANA, true).await;
    let first = sign_in(&t, ANA, &pass).await;
    assert_eq!(first.status(), 200);
    let session: Value = first.json().await.unwrap();
    // The session ends with the pass (60 minutes), not after the normal lifetime.
    assert!(
        session["expiresInSeconds"].as_u64().unwrap() <= 3600,
        "{session}"
    );
    let seen = introspect(&t, session["sessionToken"].as_str().unwrap()).await;
    assert_eq!(seen["amr"], json!(["tap"]));
    assert_eq!(
        error_code(sign_in(&t, ANA, &pass).await).await,
        (400, "invalidCredentials".into())
    );
    let path = format!("/v1.0/users/{ANA}/authentication/temporaryAccessPassMethods/{id}");
    let (_, _, method) = call(&t, Method::GET, &path, Some(&token), None).await;
    assert_eq!(method["isUsable"], false, "{method}");
    assert_eq!(method["methodUsabilityReason"], "OneTimeUsed");
}

/// N redemptions of one one-time pass released together: exactly one signs in, in every
/// round (each round a new user and pass).
#[tokio::test]
async fn concurrent_redemptions_of_a_one_time_pass_have_exactly_one_winner() {
    const ROUNDS: usize = 4;
    const RACERS: usize = 6;
    let t = with_api_app(spawn_oidc().await).await;
    enable_passes(&t).await;
    let (_, token) = app_token(&t, &["UserAuthenticationMethod.ReadWrite.All"]).await;
    let mut winners = Vec::new();
    for round in 0..ROUNDS {
        let upn = format!("racer{round}@contoso.example");
        textid_server::directory::create_user(&t.app, &t.tenant, &upn, &upn, &Actor::cli())
            .await
            .unwrap();
        let (_, pass) = issue(&t, &token, &upn, true).await;
        let gate = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
        let tasks: Vec<_> = (0..RACERS)
            .map(|_| {
                let (http, url, gate) = (
                    t.http.clone(),
                    t.url("/default/api/v1/sign-in/pass"),
                    gate.clone(),
                );
                let body = json!({"userName": upn, "temporaryAccessPass": pass});
                tokio::spawn(async move {
                    gate.wait().await;
                    http.post(url).json(&body).send().await.unwrap().status()
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            let status = task.await.unwrap();
            assert!(status == 200 || status == 400, "{status}");
            won += usize::from(status == 200);
        }
        winners.push(won);
    }
    assert!(winners.iter().any(|w| *w > 0), "no round had a winner");
    assert!(winners.iter().all(|w| *w == 1), "{winners:?}");
}

#[tokio::test]
async fn a_multi_use_pass_works_within_its_lifetime_and_its_sessions_end_with_it() {
    let t = with_api_app(spawn_oidc().await).await;
    enable_passes(&t).await;
    let (_, token) = app_token(&t, &["UserAuthenticationMethod.ReadWrite.All"]).await;
    let (_, pass) = issue(&t, &token, ANA, false).await;
    assert_eq!(sign_in(&t, ANA, &pass).await.status(), 200);
    t.advance(50 * 60);
    let late = sign_in(&t, ANA, &pass).await;
    assert_eq!(late.status(), 200, "a multi-use pass works again");
    let session: Value = late.json().await.unwrap();
    let left = session["expiresInSeconds"].as_u64().unwrap();
    assert!(
        left <= 10 * 60,
        "ends with the pass, 10 minutes later: {left}"
    );
    let token_of_session = session["sessionToken"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&t, &token_of_session).await["active"], true);
    t.advance(10 * 60);
    // The pass and the session it opened end together.
    assert_eq!(introspect(&t, &token_of_session).await["active"], false);
    assert_eq!(
        error_code(sign_in(&t, ANA, &pass).await).await,
        (400, "invalidCredentials".into())
    );
}

#[tokio::test]
async fn a_pass_is_refused_like_a_wrong_one_when_the_policy_or_account_no_longer_allows_it() {
    let t = with_api_app(spawn_oidc().await).await;
    enable_passes(&t).await;
    let (_, token) = app_token(&t, &["UserAuthenticationMethod.ReadWrite.All"]).await;
    let (_, pass) = issue(&t, &token, ANA, false).await;
    let wrong = error_code(sign_in(&t, ANA, "not-the-pass").await).await;
    let unknown = error_code(sign_in(&t, "nobody@contoso.example", &pass).await).await;
    assert_eq!(wrong, (400, "invalidCredentials".into()));
    assert_eq!(unknown, wrong);
    // The method switched off: the pass stops working, with the same answer.
    let mut policy = textid_server::directory::policy(&t.app, &t.tenant)
        .await
        .unwrap();
    policy.temporary_access_pass.state = MethodState::Disabled;
    textid_server::directory::put_policy(&t.app, &t.tenant, &policy, &Actor::cli())
        .await
        .unwrap();
    assert_eq!(error_code(sign_in(&t, ANA, &pass).await).await, wrong);
    enable_passes(&t).await;
    assert_eq!(sign_in(&t, ANA, &pass).await.status(), 200);
    // A disabled account: the same answer again.
    let mut ana = textid_server::directory::find_user(&t.app, &t.tenant, ANA)
        .await
        .unwrap();
    ana.account_enabled = false;
    textid_server::directory::update_user(&t.app, &ana, &Actor::cli())
        .await
        .unwrap();
    assert_eq!(error_code(sign_in(&t, ANA, &pass).await).await, wrong);
}
