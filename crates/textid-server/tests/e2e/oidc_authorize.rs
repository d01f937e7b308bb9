//! The authorization endpoint's refusals (DESIGN.md §3: S256 PKCE only, exact redirect URI
//! match, `iss` in the response; RFC 6749 §4.1.2.1: an untrustworthy redirect URI gets a
//! page, never a redirect), single sign-on with `prompt` and `max_age`, and RP-initiated
//! logout.

use textid_oidc::ClientType;

use crate::oidc_helpers::{
    ok_json, spawn_oidc, Authz, Browser, Callback, OidcApp, Page, Rp, LOGOUT_URI, REDIRECT_URI,
};

/// Authorize in a fresh browser; the answer must be an error redirect to the client with
/// `state` and `iss` and no code. Returns its `error`.
async fn error_redirect(t: &OidcApp, rp: &Rp, authz: &Authz) -> String {
    let answer = t.browser().get(&t.authorize_url(rp, authz)).await;
    let callback = Callback::parse(REDIRECT_URI, answer.location());
    assert!(
        !callback.params.contains_key("code"),
        "{}",
        callback.location
    );
    assert_eq!(callback.get("state"), authz.state);
    assert_eq!(callback.get("iss"), t.issuer());
    callback.get("error").to_string()
}

/// An error page (400, HTML, no `Location`): the user agent goes nowhere.
fn assert_error_page(page: &Page) {
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(page.header("location"), None);
    assert!(
        page.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{:?}",
        page.headers
    );
}

/// Authorize in `browser`, expecting the login page (no code).
async fn expect_login_page(t: &OidcApp, browser: &Browser, rp: &Rp, authz: &Authz) {
    let answer = browser.get(&t.authorize_url(rp, authz)).await;
    assert!(
        answer.location().starts_with("/default/login?request="),
        "{}",
        answer.location()
    );
}

#[tokio::test]
async fn authorize_without_a_code_challenge_is_invalid_request() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let authz = Authz::new("openid").without("code_challenge");
    assert_eq!(error_redirect(&t, &rp, &authz).await, "invalid_request");
    let authz = Authz::new("openid")
        .without("code_challenge")
        .without("code_challenge_method");
    assert_eq!(error_redirect(&t, &rp, &authz).await, "invalid_request");
}

#[tokio::test]
async fn authorize_with_plain_pkce_is_invalid_request() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    // A plain challenge is the verifier itself; this one is also shaped like an S256
    // challenge (43 base64url characters), so only the method can make it fail.
    let verifier = textid_oidc::pkce::challenge_s256("a verifier");
    let authz = Authz::new("openid")
        .with("code_challenge", &verifier)
        .with("code_challenge_method", "plain");
    assert_eq!(error_redirect(&t, &rp, &authz).await, "invalid_request");
}

#[tokio::test]
async fn redirect_uris_that_differ_in_any_way_get_an_error_page_and_no_redirect() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    for uri in [
        "http://127.0.0.1:4000/elsewhere",
        "http://127.0.0.1:4000/callback/",
        "http://127.0.0.1:4001/callback",
        "http://127.0.0.1:4000/Callback",
        "http://127.0.0.1:4000/callback?next=1",
        "http://localhost:4000/callback",
    ] {
        let authz = Authz::new("openid").with("redirect_uri", uri);
        let page = t.browser().get(&t.authorize_url(&rp, &authz)).await;
        assert_error_page(&page);
        assert!(!page.body.contains(uri), "{uri} must not be linked");
    }
    let page = t
        .browser()
        .get(&t.authorize_url(&rp, &Authz::new("openid").without("redirect_uri")))
        .await;
    assert_error_page(&page);
}

#[tokio::test]
async fn an_unknown_client_id_gets_an_error_page() {
    let t = spawn_oidc().await;
    let rp = Rp {
        id: uuid::Uuid::new_v4().to_string(),
        secret: None,
    };
    let page = t
        .browser()
        .get(&t.authorize_url(&rp, &Authz::new("openid")))
        .await;
    assert_error_page(&page);
}

#[tokio::test]
async fn response_type_token_is_unsupported_response_type() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let authz = Authz::new("openid").with("response_type", "token");
    assert_eq!(
        error_redirect(&t, &rp, &authz).await,
        "unsupported_response_type"
    );
}

#[tokio::test]
async fn a_scope_without_openid_is_invalid_scope() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let authz = Authz::new("profile phone");
    assert_eq!(error_redirect(&t, &rp, &authz).await, "invalid_scope");
}

#[tokio::test]
async fn a_signed_in_browser_gets_a_code_at_once_with_the_original_auth_time() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let browser = t.browser();
    let first = Authz::new("openid phone");
    let callback = t.sign_in(&browser, &rp, &first).await;
    let signed_in_at = t
        .verify_id_token(
            &rp,
            ok_json(t.exchange(rp.auth(), &callback, &first).await).await["id_token"]
                .as_str()
                .unwrap(),
        )
        .await
        .auth_time;

    t.advance(10);
    let second = Authz::new("openid phone");
    let callback = t.sso(&browser, &rp, &second).await;
    assert_eq!(callback.get("state"), second.state);
    assert_eq!(callback.get("iss"), t.issuer());
    assert!(t.deliver().await.is_empty(), "no SMS for an SSO answer");
    let answer = ok_json(t.exchange(rp.auth(), &callback, &second).await).await;
    let claims = t
        .verify_id_token(&rp, answer["id_token"].as_str().unwrap())
        .await;
    assert_eq!(claims.auth_time, signed_in_at);
    assert_eq!(claims.nonce.as_deref(), Some(second.nonce.as_str()));
    assert_eq!(claims.sub, t.ana.to_string());
}

#[tokio::test]
async fn prompt_login_shows_the_login_page_despite_a_session() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    t.sign_in(&browser, &rp, &Authz::new("openid")).await;
    let authz = Authz::new("openid").with("prompt", "login");
    expect_login_page(&t, &browser, &rp, &authz).await;
}

#[tokio::test]
async fn max_age_shows_the_login_page_once_the_sign_in_is_older() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    t.sign_in(&browser, &rp, &Authz::new("openid")).await;
    t.advance(5);
    // Still young enough for max_age=10: the session answers.
    t.sso(&browser, &rp, &Authz::new("openid").with("max_age", "10"))
        .await;
    let authz = Authz::new("openid").with("max_age", "0");
    expect_login_page(&t, &browser, &rp, &authz).await;
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let authz = Authz::new("openid").with("prompt", "none");
    assert_eq!(error_redirect(&t, &rp, &authz).await, "login_required");
}

#[tokio::test]
async fn logout_returns_to_the_registered_uri_with_state_and_ends_the_session() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    t.sign_in(&browser, &rp, &Authz::new("openid")).await;
    let session = browser.cookie("textid_session").expect("an SSO cookie");
    let query = crate::oidc_helpers::form_body(&[
        ("post_logout_redirect_uri", LOGOUT_URI),
        ("client_id", &rp.id),
        ("state", "s"),
    ]);
    // Without an ID token of this session the user must confirm (RP-Initiated Logout §2):
    // a page that only loads the URL signs nobody out.
    let confirm = browser
        .get(&format!("/default/oauth2/v2.0/logout?{query}"))
        .await;
    assert_eq!(confirm.status, 200);
    assert!(
        confirm.body.contains(r#"name="confirm" value="yes""#),
        "{}",
        confirm.body
    );
    let csrf = confirm.value("csrf");
    let forged = browser
        .post(
            "/default/oauth2/v2.0/logout",
            &[
                ("post_logout_redirect_uri", LOGOUT_URI),
                ("client_id", &rp.id),
                ("state", "s"),
                ("confirm", "yes"),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(
        forged.status, 200,
        "a forged confirmation shows the page again"
    );
    assert!(browser.cookie("textid_session").is_some());
    let answer = browser
        .post(
            "/default/oauth2/v2.0/logout",
            &[
                ("post_logout_redirect_uri", LOGOUT_URI),
                ("client_id", &rp.id),
                ("state", "s"),
                ("confirm", "yes"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(answer.location(), format!("{LOGOUT_URI}?state=s"));
    expect_login_page(&t, &browser, &rp, &Authz::new("openid")).await;
    // A browser that kept the old cookie is signed out all the same.
    browser.set_cookie("textid_session", &session);
    expect_login_page(&t, &browser, &rp, &Authz::new("openid")).await;
}

#[tokio::test]
async fn logout_to_an_unregistered_uri_gets_an_error_page_and_no_redirect() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    for uri in [
        REDIRECT_URI,
        "https://evil.example/",
        "http://127.0.0.1:4000/signed-out/",
    ] {
        let query = crate::oidc_helpers::form_body(&[
            ("post_logout_redirect_uri", uri),
            ("client_id", &rp.id),
            ("state", "s"),
        ]);
        let page = t
            .browser()
            .get(&format!("/default/oauth2/v2.0/logout?{query}"))
            .await;
        assert_error_page(&page);
    }
}

#[tokio::test]
async fn an_sso_session_ends_after_its_lifetime() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    t.sign_in(&browser, &rp, &Authz::new("openid")).await;
    t.advance(8 * 3600 - 1);
    t.sso(&browser, &rp, &Authz::new("openid")).await;
    t.advance(1);
    expect_login_page(&t, &browser, &rp, &Authz::new("openid")).await;
}

#[tokio::test]

async fn authorize_accepts_a_form_post_like_a_get() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let url = t.authorize_url(&rp, &Authz::new("openid"));
    let (endpoint, query) = url.split_once('?').unwrap();
    let browser = t.browser();
    let query: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let form: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let answer = browser.post(endpoint, &form).await;
    assert!(
        answer.location().starts_with("/default/login?request="),
        "{}",
        answer.location()
    );
}

#[tokio::test]
async fn logout_names_the_client_by_an_expired_id_token_hint() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let authz = Authz::new("openid");
    let callback = t.sign_in(&browser, &rp, &authz).await;
    let answer = ok_json(t.exchange(rp.auth(), &callback, &authz).await).await;
    let id_token = answer["id_token"].as_str().unwrap();
    t.advance(2 * 3600);
    let query = crate::oidc_helpers::form_body(&[
        ("post_logout_redirect_uri", LOGOUT_URI),
        ("id_token_hint", id_token),
    ]);
    let answer = browser
        .get(&format!("/default/oauth2/v2.0/logout?{query}"))
        .await;
    assert_eq!(answer.location(), LOGOUT_URI);
    expect_login_page(&t, &browser, &rp, &Authz::new("openid")).await;

    // A hint that is not our signature names no client.
    let forged = format!("{}x", id_token);
    let query = crate::oidc_helpers::form_body(&[
        ("post_logout_redirect_uri", LOGOUT_URI),
        ("id_token_hint", &forged),
    ]);
    let page = browser
        .get(&format!("/default/oauth2/v2.0/logout?{query}"))
        .await;
    assert_error_page(&page);
}

#[tokio::test]
async fn a_sign_in_page_expires_after_thirty_minutes() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let answer = browser
        .get(&t.authorize_url(&rp, &Authz::new("openid")))
        .await;
    let login = answer.location().to_string();
    t.advance(30 * 60 - 1);
    assert_eq!(browser.get(&login).await.status, 200);
    t.advance(1);
    assert_error_page(&browser.get(&login).await);
}
