//! OpenID Connect details app developers trip on (issue #19): the end-session endpoint
//! checks `client_id` against the `id_token_hint`; unknown scopes are not granted;
//! `prompt=consent`; the bare `Bearer` challenge; OAuth's error shape for a wrong method
//! and an unknown tenant; `Allow` on every 405; no code redeemed after its session ended.

use reqwest::Method;
use textid_oidc::ClientType;

use crate::oidc_helpers::{
    expect_oauth_error, form_body, jwt_part, ok_json, spawn_oidc, Authz, Callback, LOGOUT_URI,
    REDIRECT_URI,
};

#[tokio::test]
async fn end_session_refuses_a_client_id_that_is_not_the_id_tokens_audience() {
    let mut t = spawn_oidc().await;
    let ours = t.register(ClientType::Public, None).await;
    let theirs = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let authz = Authz::new("openid");
    let callback = t.sign_in(&browser, &ours, &authz).await;
    let tokens = ok_json(t.exchange(ours.auth(), &callback, &authz).await).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let query = form_body(&[
        ("post_logout_redirect_uri", LOGOUT_URI),
        ("id_token_hint", id_token),
        ("client_id", &theirs.id),
    ]);
    let page = browser
        .get(&format!("/default/oauth2/v2.0/logout?{query}"))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.headers.get("location").is_none());
    // The session is untouched: the next sign-in needs no code.
    t.sso(&browser, &ours, &Authz::new("openid")).await;
    // With the right client the same hint signs out.
    let query = form_body(&[
        ("post_logout_redirect_uri", LOGOUT_URI),
        ("id_token_hint", id_token),
        ("client_id", &ours.id),
    ]);
    let answer = browser
        .get(&format!("/default/oauth2/v2.0/logout?{query}"))
        .await;
    assert_eq!(answer.location(), LOGOUT_URI);
}

#[tokio::test]
async fn scopes_the_provider_does_not_know_are_not_granted() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let tokens = t
        .tokens(&rp, &Authz::new("openid foo phone foo profile"))
        .await;
    assert_eq!(tokens["scope"], "openid phone profile");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_part(access, 1)["scp"], "openid phone profile");
}

#[tokio::test]
async fn prompt_consent_answers_consent_required() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    // Also with a live session: textid never records a consent, so it cannot have one.
    t.sign_in(&browser, &rp, &Authz::new("openid")).await;
    let authz = Authz::new("openid").with("prompt", "consent");
    let answer = browser.get(&t.authorize_url(&rp, &authz)).await;
    let callback = Callback::parse(REDIRECT_URI, answer.location());
    assert_eq!(callback.get("error"), "consent_required");
    assert_eq!(callback.get("state"), authz.state);
    assert!(!callback.params.contains_key("code"));
}

#[tokio::test]
async fn userinfo_without_any_token_answers_a_bare_bearer_challenge() {
    let t = spawn_oidc().await;
    for method in [Method::GET, Method::POST] {
        let r = t
            .http
            .request(method.clone(), t.url("/default/oauth2/v2.0/userinfo"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method}");
        assert_eq!(
            r.headers()["www-authenticate"].to_str().unwrap(),
            "Bearer",
            "RFC 6750 §3.1: no error code without authentication"
        );
    }
    // A token that is there but wrong still gets the error code.
    let r = t.userinfo("not-a-token").await;
    crate::oidc_helpers::assert_invalid_token(&r);
}

#[tokio::test]
async fn token_and_revocation_errors_are_oauth_shaped_for_a_wrong_method_and_an_unknown_tenant() {
    let t = spawn_oidc().await;
    for (method, path) in [
        (Method::GET, "/default/oauth2/v2.0/token"),
        (Method::PUT, "/default/oauth2/v2.0/token"),
        (Method::OPTIONS, "/default/oauth2/v2.0/token"),
        (Method::GET, "/default/oauth2/v2.0/revoke"),
        (Method::DELETE, "/default/oauth2/v2.0/revoke"),
    ] {
        let r = t.http.request(method, t.url(path)).send().await.unwrap();
        expect_oauth_error(r, 405, "invalid_request").await;
    }
    for path in ["/nosuch/oauth2/v2.0/token", "/nosuch/oauth2/v2.0/revoke"] {
        let r = t
            .http
            .post(t.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=x&token=y")
            .send()
            .await
            .unwrap();
        expect_oauth_error(r, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn ending_the_browser_session_revokes_what_it_issued_except_offline_access() {
    // Issue #19. Without offline_access a grant lives in the browser session: signing out
    // of textid revokes its access tokens. With offline_access the app asked for access
    // independent of the session (refresh tokens are issued only then, as in Entra):
    // signing out leaves it; the app revokes it itself (README, "For app developers").
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let online = Authz::new("openid profile");
    let callback = t.sign_in(&browser, &rp, &online).await;
    let session_bound = ok_json(t.exchange(rp.auth(), &callback, &online).await).await;
    let offline = Authz::new("openid offline_access");
    let callback = t.sso(&browser, &rp, &offline).await;
    let independent = ok_json(t.exchange(rp.auth(), &callback, &offline).await).await;
    let token = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap().to_string();
    assert_eq!(
        t.userinfo(&token(&session_bound, "access_token"))
            .await
            .status(),
        200
    );
    let query = form_body(&[
        ("post_logout_redirect_uri", LOGOUT_URI),
        ("id_token_hint", &token(&session_bound, "id_token")),
    ]);
    let answer = browser
        .get(&format!("/default/oauth2/v2.0/logout?{query}"))
        .await;
    assert_eq!(answer.location(), LOGOUT_URI);
    crate::oidc_helpers::assert_invalid_token(
        &t.userinfo(&token(&session_bound, "access_token")).await,
    );
    assert_eq!(
        t.userinfo(&token(&independent, "access_token"))
            .await
            .status(),
        200
    );
    let refreshed = ok_json(t.refresh(&rp, &token(&independent, "refresh_token")).await).await;
    // The app's own sign-out: revocation ends it.
    let next = token(&refreshed, "refresh_token");
    assert_eq!(t.revoke(rp.auth(), &next).await.status(), 200);
    expect_oauth_error(t.refresh(&rp, &next).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_code_issued_before_sign_out_is_not_redeemable() {
    // Issue #19: the user signs in through /authorize with the pages, the app gets a code,
    // the user signs out (end session) before the app redeems it: the code is dead, with
    // or without offline_access, and a code of a new session works again.
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let first = Authz::new("openid");
    let callback = t.sign_in(&browser, &rp, &first).await;
    let tokens = ok_json(t.exchange(rp.auth(), &callback, &first).await).await;
    let online = Authz::new("openid profile");
    let pending = t.sso(&browser, &rp, &online).await;
    let offline = Authz::new("openid offline_access");
    let pending_offline = t.sso(&browser, &rp, &offline).await;
    let query = form_body(&[
        ("post_logout_redirect_uri", LOGOUT_URI),
        ("id_token_hint", tokens["id_token"].as_str().unwrap()),
    ]);
    let answer = browser
        .get(&format!("/default/oauth2/v2.0/logout?{query}"))
        .await;
    assert_eq!(answer.location(), LOGOUT_URI);
    for (callback, authz) in [(&pending, &online), (&pending_offline, &offline)] {
        let r = t.exchange(rp.auth(), callback, authz).await;
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("session in which the code was issued has ended")),
            "refused because the session ended, not for another reason: {body}"
        );
    }
    // Signing in again gives a session whose codes redeem.
    let again = Authz::new("openid");
    let callback = t.sign_in(&browser, &rp, &again).await;
    ok_json(t.exchange(rp.auth(), &callback, &again).await).await;
}

#[tokio::test]
async fn every_405_names_the_allowed_methods() {
    // RFC 9110 §15.5.6: a 405 carries `Allow`, on every kind of route: the sign-in API,
    // the OAuth endpoints (OAuth-shaped body), discovery, the pages and the Graph API.
    let t = spawn_oidc().await;
    for (method, path, allowed) in [
        (Method::GET, "/default/api/v1/sign-in/sms", "POST"),
        (Method::PUT, "/default/oauth2/v2.0/token", "POST"),
        (Method::GET, "/default/oauth2/v2.0/revoke", "POST"),
        (Method::DELETE, "/default/oauth2/v2.0/userinfo", "GET,POST"),
        (
            Method::POST,
            "/default/v2.0/.well-known/openid-configuration",
            "GET",
        ),
        (Method::POST, "/default/discovery/v2.0/keys", "GET"),
        (Method::DELETE, "/default/oauth2/v2.0/authorize", "GET,POST"),
        (Method::PUT, "/default/login", "GET,POST"),
        (Method::GET, "/default/login/resend", "POST"),
        (Method::PUT, "/healthz", "GET"),
        (Method::PUT, "/v1.0/users", "GET,POST"),
        // OPTIONS that is no CORS preflight (no Origin): answered by the preflight route.
        (Method::OPTIONS, "/default/oauth2/v2.0/token", "POST"),
        (Method::OPTIONS, "/default/oauth2/v2.0/userinfo", "GET,POST"),
        (Method::OPTIONS, "/default/api/v1/sign-in/sms", "POST"),
        (Method::OPTIONS, "/default/api/v1/session", "DELETE,POST"),
        (Method::PUT, "/default/api/v1/session", "DELETE,POST"),
    ] {
        let r = t
            .http
            .request(method.clone(), t.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        let allow = r
            .headers()
            .get("allow")
            .unwrap_or_else(|| panic!("{method} {path}: no Allow header"))
            .to_str()
            .unwrap();
        let mut got: Vec<&str> = allow.split(',').map(str::trim).collect();
        got.sort_unstable();
        got.retain(|m| *m != "HEAD" && *m != "OPTIONS");
        assert_eq!(got.join(","), allowed, "{method} {path}: Allow: {allow}");
    }
}
