//! API sessions and browser (SSO) sessions are different credentials (issue #14 §1): the
//! `sessionToken` of the JSON sign-in API never opens the pages' SSO session (it would
//! hand authorization codes for every app of the tenant to whoever holds it), a browser
//! session cookie is unknown to the session API, and an app checks and ends its API
//! session with `POST`/`DELETE /{tenant}/api/v1/session`.

use serde_json::{json, Value};
use textid_oidc::ClientType;

use crate::oidc_helpers::*;

/// Signs `ANA` in through the JSON API for the test's API app (a confidential client,
/// registered on first use); returns the verify answer.
pub async fn api_sign_in(t: &mut OidcApp) -> Value {
    if t.api_app.is_none() {
        t.api_app = Some(t.register(ClientType::Confidential, None).await);
    }
    let client_id = t.api_app.as_ref().map(|rp| rp.id.clone());
    ok_json(api_verify(t, client_id.as_deref()).await).await
}

/// Starts a sign-in of `ANA` and verifies it naming `client_id` (or no app).
async fn api_verify(t: &mut OidcApp, client_id: Option<&str>) -> reqwest::Response {
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
    let mut body = json!({"flowId": flow, "code": code});
    if let Some(id) = client_id {
        body["clientId"] = json!(id);
    }
    t.http
        .post(t.url("/default/api/v1/sign-in/sms/verify"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `POST /default/api/v1/session` with this token, as the test's API app.
pub async fn introspect(t: &OidcApp, token: &str) -> Value {
    let app = t.api_app.as_ref().map(|rp| rp.auth());
    let answer = introspect_as(t, app, token).await;
    assert_eq!(answer.status(), 200);
    ok_json(answer).await
}

/// `POST /default/api/v1/session` with this token, authenticated as `auth`.
async fn introspect_as(t: &OidcApp, auth: Option<Auth<'_>>, token: &str) -> reqwest::Response {
    let mut body = json!({"sessionToken": token});
    let mut req = t.http.post(t.url("/default/api/v1/session"));
    match auth {
        Some(Auth::Basic(id, secret)) => req = req.basic_auth(id, Some(secret)),
        Some(Auth::Post(id, secret)) => {
            body["clientId"] = json!(id);
            body["clientSecret"] = json!(secret);
        }
        Some(Auth::Public(id)) => body["clientId"] = json!(id),
        Some(Auth::Nothing) | None => {}
    }
    let answer = req.json(&body).send().await.unwrap();
    assert_eq!(
        answer.headers()["cache-control"],
        "no-store",
        "a session answer is never cached"
    );
    answer
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
    t.api_app = Some(t.register(ClientType::Confidential, None).await);
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

/// The 401 of an introspection without the app's credentials.
async fn assert_invalid_client(answer: reqwest::Response) {
    assert_eq!(answer.status(), 401);
    assert_eq!(
        answer.headers()["www-authenticate"],
        "Basic realm=\"textid\""
    );
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalidClient", "{body}");
}

#[tokio::test]
async fn introspection_needs_the_credentials_of_the_app_the_session_was_issued_to() {
    let mut t = spawn_oidc().await;
    let token = api_sign_in(&mut t).await["sessionToken"]
        .as_str()
        .unwrap()
        .to_string();
    let app = t.api_app.clone().unwrap();
    // The app itself, by HTTP Basic or in the body (client_secret_post in JSON).
    let basic = ok_json(introspect_as(&t, Some(app.auth()), &token).await).await;
    assert_eq!(basic["active"], true);
    assert_eq!(basic["userId"], t.ana.to_string());
    let post = Auth::Post(&app.id, app.secret());
    assert_eq!(
        ok_json(introspect_as(&t, Some(post), &token).await).await,
        basic
    );
    // Whoever holds only the token learns nothing, not even whether it is live.
    assert_invalid_client(introspect_as(&t, None, &token).await).await;
    let wrong = Auth::Basic(&app.id, "not-the-secret");
    assert_invalid_client(introspect_as(&t, Some(wrong), &token).await).await;
    let unknown = Auth::Basic("no-such-app", app.secret());
    assert_invalid_client(introspect_as(&t, Some(unknown), &token).await).await;
    // Another app of the tenant, properly authenticated: the session is not its own.
    let other = t.register(ClientType::Confidential, None).await;
    let theirs = ok_json(introspect_as(&t, Some(other.auth()), &token).await).await;
    assert_eq!(theirs, json!({"active": false}));
    // A disabled app cannot ask, even about its own session.
    textid_server::oidc::clients::set_enabled(
        &t.app,
        &t.tenant,
        &app.id,
        false,
        &textid_store::Actor::cli(),
    )
    .await
    .unwrap();
    assert_invalid_client(introspect_as(&t, Some(app.auth()), &token).await).await;
}

#[tokio::test]
async fn a_session_of_no_app_is_inactive_for_every_app() {
    let mut t = spawn_oidc().await;
    let answer = api_verify(&mut t, None).await;
    let token = ok_json(answer).await["sessionToken"]
        .as_str()
        .unwrap()
        .to_string();
    let app = t.register(ClientType::Confidential, None).await;
    let answer = ok_json(introspect_as(&t, Some(app.auth()), &token).await).await;
    assert_eq!(answer, json!({"active": false}));
    // It is a session all the same: its holder signs it out.
    assert_eq!(sign_out(&t, &token).await.status(), 204);
}

#[tokio::test]
async fn a_public_client_names_itself_at_sign_in_but_cannot_introspect() {
    let mut t = spawn_oidc().await;
    let spa = t.register(ClientType::Public, None).await;
    let answer = api_verify(&mut t, Some(&spa.id)).await;
    let token = ok_json(answer).await["sessionToken"]
        .as_str()
        .unwrap()
        .to_string();
    // No secret proves who asks: refused, with or without its client id.
    assert_invalid_client(introspect_as(&t, Some(spa.auth()), &token).await).await;
    assert_invalid_client(introspect_as(&t, None, &token).await).await;
    // It signs its user out with the token alone.
    assert_eq!(sign_out(&t, &token).await.status(), 204);
    let confidential = t.register(ClientType::Confidential, None).await;
    let after = ok_json(introspect_as(&t, Some(confidential.auth()), &token).await).await;
    assert_eq!(after, json!({"active": false}));
}

#[tokio::test]
async fn a_verify_naming_an_unknown_or_disabled_app_is_refused_and_keeps_the_code() {
    let mut t = spawn_oidc().await;
    let app = t.register(ClientType::Confidential, None).await;
    textid_server::oidc::clients::set_enabled(
        &t.app,
        &t.tenant,
        &app.id,
        false,
        &textid_store::Actor::cli(),
    )
    .await
    .unwrap();
    let start = t
        .http
        .post(t.url("/default/api/v1/sign-in/sms"))
        .json(&json!({"phoneNumber": ANA}))
        .send()
        .await
        .unwrap();
    let flow = start.json::<Value>().await.unwrap()["flowId"].clone();
    let code = t.last_code().await;
    for client_id in ["no-such-app", app.id.as_str()] {
        let refused = t
            .http
            .post(t.url("/default/api/v1/sign-in/sms/verify"))
            .json(&json!({"flowId": flow, "code": code, "clientId": client_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalidRequest");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("clientId:"), "{message}");
        assert!(!message.contains(client_id), "not echoed: {message}");
    }
    let ok = t
        .http
        .post(t.url("/default/api/v1/sign-in/sms/verify"))
        .json(&json!({"flowId": flow, "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "the code was not used up");
}

fn token_introspection(c: &mut textid_server::AppConfig) {
    c.api_session_introspection = textid_server::Introspection::Token;
}

#[tokio::test]
async fn with_token_introspection_the_token_alone_is_the_proof_as_before() {
    let mut t = spawn_oidc_with(token_introspection).await;
    let answer = api_verify(&mut t, None).await;
    let token = ok_json(answer).await["sessionToken"]
        .as_str()
        .unwrap()
        .to_string();
    let live = ok_json(introspect_as(&t, None, &token).await).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["userId"], t.ana.to_string());
}
