//! API sessions and browser (SSO) sessions are different credentials (issue #14 §1): the
//! `sessionToken` of the JSON sign-in API never opens the pages' SSO session (it would
//! hand authorization codes for every app of the tenant to whoever holds it), a browser
//! session cookie is unknown to the session API, and an app checks and ends its API
//! session with `POST`/`DELETE /{tenant}/api/v1/session`.

use serde_json::{json, Value};
use textid_oidc::ClientType;

use crate::oidc_helpers::*;

/// Signs `ANA` in through the JSON API; returns the verify answer.
pub async fn api_sign_in(t: &mut OidcApp) -> Value {
    let start = t
        .http
        .post(t.url("/default/api/v1/sign-in/sms"))
        .json(&json!({"phoneNumber": ANA}))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 202);
    let flow = start.json::<Value>().await.unwrap()["flowId"].clone();
    let code = t.last_code().await;
    let verify = t
        .http
        .post(t.url("/default/api/v1/sign-in/sms/verify"))
        .json(&json!({"flowId": flow, "code": code}))
        .send()
        .await
        .unwrap();
    ok_json(verify).await
}

/// `POST /default/api/v1/session` with this token.
pub async fn introspect(t: &OidcApp, token: &str) -> Value {
    let answer = t
        .http
        .post(t.url("/default/api/v1/session"))
        .json(&json!({"sessionToken": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.headers()["cache-control"],
        "no-store",
        "a session answer is never cached"
    );
    ok_json(answer).await
}

/// `DELETE /default/api/v1/session` with this token.
pub async fn sign_out(t: &OidcApp, token: &str) -> reqwest::Response {
    t.http
        .delete(t.url("/default/api/v1/session"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_api_session_token_as_the_sso_cookie_yields_no_authorization_code() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let token = api_sign_in(&mut t).await["sessionToken"]
        .as_str()
        .unwrap()
        .to_string();
    // The attack: the app's API token presented as the browser's SSO session cookie.
    let browser = t.browser();
    browser.set_cookie("textid_session", &token);
    let authz = Authz::new("openid").with("prompt", "none");
    let answer = browser.get(&t.authorize_url(&rp, &authz)).await;
    let callback = Callback::parse(REDIRECT_URI, answer.location());
    assert!(
        !callback.params.contains_key("code"),
        "{}",
        callback.location
    );
    assert_eq!(callback.get("error"), "login_required");
    // Without prompt=none: the sign-in page, not a code.
    let answer = browser
        .get(&t.authorize_url(&rp, &Authz::new("openid")))
        .await;
    assert!(
        !answer.location().contains("code="),
        "{}",
        answer.location()
    );
    assert!(
        answer.location().contains("/default/login"),
        "{}",
        answer.location()
    );
    // The __Host- name (as with https) is refused the same way.
    let browser = t.browser();
    browser.set_cookie("__Host-textid_session", &token);
    let authz = Authz::new("openid").with("prompt", "none");
    let answer = browser.get(&t.authorize_url(&rp, &authz)).await;
    assert!(
        !answer.location().contains("code="),
        "{}",
        answer.location()
    );
    // And the token still works as what it is.
    assert_eq!(introspect(&t, &token).await["active"], true);
}

#[tokio::test]
async fn a_browser_session_cookie_is_unknown_to_the_session_api() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    t.sign_in(&browser, &rp, &Authz::new("openid")).await;
    let cookie = browser.cookie("textid_session").expect("an SSO cookie");
    assert_eq!(introspect(&t, &cookie).await, json!({"active": false}));
    // Signing out with it through the API does nothing either: the SSO session lives on.
    assert_eq!(sign_out(&t, &cookie).await.status(), 204);
    t.sso(&browser, &rp, &Authz::new("openid").with("prompt", "none"))
        .await;
}

#[tokio::test]
async fn an_app_introspects_its_api_session_and_signs_it_out() {
    let mut t = spawn_oidc().await;
    let signed_in = api_sign_in(&mut t).await;
    let token = signed_in["sessionToken"].as_str().unwrap().to_string();
    let started = t.clock_now();
    let live = introspect(&t, &token).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["userId"], t.ana.to_string());
    assert_eq!(live["userId"], signed_in["userId"]);
    assert_eq!(live["amr"], json!(["sms"]));
    assert_eq!(live["expiresInSeconds"], 8 * 3600);
    let expires =
        (started + chrono::Duration::hours(8)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(live["expiresAt"], expires);
    // Sign-out ends it; a second sign-out is the same 204.
    assert_eq!(sign_out(&t, &token).await.status(), 204);
    assert_eq!(introspect(&t, &token).await, json!({"active": false}));
    assert_eq!(sign_out(&t, &token).await.status(), 204);
    // Unknown and ended tokens look exactly like a signed-out one.
    let unknown = introspect(&t, "x9YhQm3n2k5Xw0aB7cD8eF1gH4iJ6kL9mN0pQ2rS3tU").await;
    assert_eq!(unknown, json!({"active": false}));
    let other = api_sign_in(&mut t).await["sessionToken"]
        .as_str()
        .unwrap()
        .to_string();
    t.advance(8 * 3600);
    assert_eq!(introspect(&t, &other).await, json!({"active": false}));
}

#[tokio::test]
async fn session_requests_without_a_usable_token_are_refused_and_change_nothing() {
    let mut t = spawn_oidc().await;
    let token = api_sign_in(&mut t).await["sessionToken"]
        .as_str()
        .unwrap()
        .to_string();
    let delete = t
        .http
        .delete(t.url("/default/api/v1/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 400);
    let body: Value = delete.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalidRequest");
    let basic = t
        .http
        .delete(t.url("/default/api/v1/session"))
        .basic_auth("app", Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 400, "only a bearer token ends a session");
    for body in [
        json!({}),
        json!({"sessionToken": token, "extra": 1}),
        json!({"sessionToken": ""}),
        json!({"sessionToken": "has spaces in it"}),
    ] {
        let answer = t
            .http
            .post(t.url("/default/api/v1/session"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{body}");
        let err: Value = answer.json().await.unwrap();
        assert_eq!(err["error"]["code"], "invalidRequest");
    }
    let nowhere = t
        .http
        .post(t.url("/nowhere/api/v1/session"))
        .json(&json!({"sessionToken": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), 404);
    assert_eq!(introspect(&t, &token).await["active"], true);
}
