//! Self-service password reset (issue #15): `POST /{tenant}/api/v1/password-reset` with a
//! user name sends a code to the user's mobile (the same answer, and nothing sent, for any
//! other name); `POST .../password-reset/verify` with the code and a new password replaces
//! the password, ends every session and refresh token of the user, and tells the user's
//! phone by SMS.

use serde_json::{json, Value};
use textid_core::password::Password;
use textid_oidc::ClientType;
use textid_store::Actor;

use crate::oidc_helpers::{spawn_oidc, Authz, OidcApp, ANA};

const ANA_UPN: &str = "ana@contoso.example";
const OLD: &str = "Blue-Harbour-Lantern-42";
const NEW: &str = "Quiet-Meadow-Engine-7";

async fn post(t: &OidcApp, path: &str, body: &Value) -> reqwest::Response {
    t.http
        .post(t.url(&format!("/default/api/v1{path}")))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A password sign-in for the test's API app (registered on first use), so that the app
/// can introspect the session (issue #14 §1).
async fn password_session(t: &mut OidcApp, password: &str) -> reqwest::Response {
    if t.api_app.is_none() {
        t.api_app = Some(
            t.register(textid_oidc::ClientType::Confidential, None)
                .await,
        );
    }
    let client_id = t.api_app.as_ref().map(|rp| rp.id.clone());
    post(
        t,
        "/sign-in/password",
        &json!({"userName": ANA_UPN, "password": password, "clientId": client_id}),
    )
    .await
}

#[tokio::test]
async fn a_forgotten_password_is_reset_with_a_code_and_every_session_and_refresh_token_ends() {
    let mut t = spawn_oidc().await;
    let pw = Password::parse(OLD).unwrap();
    textid_usecases::password::set_by_admin(
        &t.app,
        &t.tenant,
        t.ana,
        Some(&pw),
        false,
        &Actor::cli(),
    )
    .await
    .unwrap();
    // Ana holds an API session and an app's refresh token.
    let api: Value = password_session(&mut t, OLD).await.json().await.unwrap();
    let api_token = api["sessionToken"].as_str().unwrap().to_owned();
    let rp = t.register(ClientType::Confidential, None).await;
    let tokens = t.tokens(&rp, &Authz::new("openid offline_access")).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    // Forgot the password: a code to her mobile.
    let started = post(&t, "/password-reset", &json!({"userName": ANA_UPN})).await;
    assert_eq!(started.status(), 202);
    let flow: Value = started.json().await.unwrap();
    let flow_id = flow["flowId"].as_str().unwrap().to_owned();
    let code = t.last_code().await;
    // A weak new password is refused before the code is looked at, and changes nothing.
    let weak = post(
        &t,
        "/password-reset/verify",
        &json!({"flowId": flow_id, "code": code, "newPassword": "password1"}),
    )
    .await;
    assert_eq!(weak.status(), 400);
    let weak: Value = weak.json().await.unwrap();
    assert_eq!(weak["error"]["code"], "passwordTooCommon");
    // The code is not a sign-in code.
    let as_sign_in = post(
        &t,
        "/sign-in/sms/verify",
        &json!({"flowId": flow_id, "code": code}),
    )
    .await;
    assert_eq!(as_sign_in.status(), 404);
    let done = post(
        &t,
        "/password-reset/verify",
        &json!({"flowId": flow_id, "code": code, "newPassword": NEW}),
    )
    .await;
    assert_eq!(done.status(), 204);
    // Every session and refresh token ended.
    let seen = crate::sessions::introspect(&t, &api_token).await;
    assert_eq!(seen["active"], false);
    let refreshed = t.refresh(&rp, &refresh).await;
    assert_eq!(refreshed.status(), 400);
    // The phone is told, without a code.
    let mut sent = t.deliver().await;
    assert_eq!(sent.len(), 1);
    let notice = sent.remove(0);
    assert_eq!(notice.json()["to"], ANA);
    assert!(notice.text().contains("password"), "{}", notice.text());
    assert!(!notice.text().contains('#'), "no code in the notice");
    // The old password is gone, the new one works; the flow cannot be used again.
    assert_eq!(password_session(&mut t, OLD).await.status(), 400);
    assert_eq!(password_session(&mut t, NEW).await.status(), 200);
    let again = post(
        &t,
        "/password-reset/verify",
        &json!({"flowId": flow_id, "code": code, "newPassword": "Another-Good-Phrase-9"}),
    )
    .await;
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn an_unknown_user_name_gets_the_same_answer_and_nothing_is_sent() {
    let mut t = spawn_oidc().await;
    let known = post(&t, "/password-reset", &json!({"userName": ANA_UPN})).await;
    let unknown = post(
        &t,
        "/password-reset",
        &json!({"userName": "nobody@contoso.example"}),
    )
    .await;
    assert_eq!(known.status(), 202);
    assert_eq!(unknown.status(), 202);
    let (known, unknown): (Value, Value) =
        (known.json().await.unwrap(), unknown.json().await.unwrap());
    let shape = |v: &Value| {
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        (
            keys,
            v["expiresInSeconds"].clone(),
            v["resendAfterSeconds"].clone(),
        )
    };
    assert_eq!(shape(&known), shape(&unknown));
    let sent = t.deliver().await;
    assert_eq!(sent.len(), 1, "only the real user's phone gets a code");
    assert_eq!(sent[0].json()["to"], ANA);
    // The unknown name's flow accepts no code.
    let flow = unknown["flowId"].as_str().unwrap();
    let tried = post(
        &t,
        "/password-reset/verify",
        &json!({"flowId": flow, "code": "123456", "newPassword": NEW}),
    )
    .await;
    assert_eq!(tried.status(), 400);
}
