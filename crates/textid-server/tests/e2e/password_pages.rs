//! The user-name path of the sign-in pages (issue #15): the first page takes a phone
//! number or a user name; a user name leads to the same password-or-pass page whoever it
//! names; a password signs in (then a code when MFA is required), a pass signs in and goes
//! on to the security info page.

use reqwest::Method;
use serde_json::json;
use textid_core::password::Password;
use textid_core::policy::MethodState;
use textid_oidc::ClientType;
use textid_store::Actor;

use crate::graph::{app_token, call};
use crate::oidc_browser::{Browser, Page};
use crate::oidc_helpers::{
    jwt_part, ok_json, spawn_oidc, Authz, Callback, LoginForm, OidcApp, REDIRECT_URI,
};

const ANA_UPN: &str = "ana@contoso.example";
const SECRET: &str = "Blue-Harbour-Lantern-42";

async fn give_password(t: &OidcApp, force_change: bool) {
    let pw = Password::parse(SECRET).unwrap();
    textid_usecases::password::set_by_admin(
        &t.app,
        &t.tenant,
        t.ana,
        Some(&pw),
        force_change,
        &Actor::cli(),
    )
    .await
    .unwrap();
}

async fn submit_name(browser: &Browser, form: &LoginForm, name: &str) -> Page {
    browser
        .post(
            "/default/login",
            &[
                ("request", &form.request),
                ("csrf", &form.csrf),
                ("phoneNumber", name),
            ],
        )
        .await
}

async fn submit_password(browser: &Browser, form: &LoginForm, fields: &[(&str, &str)]) -> Page {
    let mut all = vec![
        ("request", form.request.as_str()),
        ("csrf", form.csrf.as_str()),
    ];
    all.extend_from_slice(fields);
    browser.post("/default/login/password", &all).await
}

#[tokio::test]
async fn a_user_name_leads_to_the_same_password_and_pass_page_whoever_it_names() {
    let t = spawn_oidc().await;
    give_password(&t, false).await;
    let rp = t.register(ClientType::Confidential, None).await;
    let browser = t.browser();
    let form = t.login_form(&browser, &rp, &Authz::new("openid")).await;
    let known = submit_name(&browser, &form, ANA_UPN).await;
    let unknown = submit_name(&browser, &form, "nobody@contoso.example").await;
    assert_eq!(known.status, 200, "{}", known.body);
    assert_eq!(unknown.status, 200);
    assert!(known.body.contains("name=\"password\""));
    assert!(known.body.contains("name=\"temporaryAccessPass\""));
    assert_eq!(
        known.body.replace(ANA_UPN, "NAME"),
        unknown.body.replace("nobody@contoso.example", "NAME"),
        "the page says nothing about whether the name exists"
    );
    // A wrong password and an unknown name fail alike.
    let wrong = submit_password(
        &browser,
        &form,
        &[("userName", ANA_UPN), ("password", "Wrong-1-Password")],
    )
    .await;
    let nobody = submit_password(
        &browser,
        &form,
        &[("userName", "nobody@contoso.example"), ("password", SECRET)],
    )
    .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(
        wrong.body.replace(ANA_UPN, "NAME"),
        nobody.body.replace("nobody@contoso.example", "NAME")
    );
}

#[tokio::test]
async fn a_password_signs_in_on_the_pages_and_the_id_token_says_pwd() {
    let t = spawn_oidc().await;
    give_password(&t, false).await;
    let rp = t.register(ClientType::Confidential, None).await;
    let authz = Authz::new("openid");
    let browser = t.browser();
    let form = t.login_form(&browser, &rp, &authz).await;
    submit_name(&browser, &form, ANA_UPN).await;
    let answer = submit_password(
        &browser,
        &form,
        &[("userName", ANA_UPN), ("password", SECRET)],
    )
    .await;
    let callback = Callback::parse(REDIRECT_URI, answer.location());
    let tokens = ok_json(t.exchange(rp.auth(), &callback, &authz).await).await;
    let claims = jwt_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["amr"], json!(["pwd"]));
}

#[tokio::test]
async fn password_then_code_on_the_pages_when_the_tenant_requires_mfa() {
    let mut t = spawn_oidc().await;
    give_password(&t, false).await;
    textid_usecases::password::set_tenant_require_mfa(&t.app, &t.tenant, true, &Actor::cli())
        .await
        .unwrap();
    let rp = t.register(ClientType::Confidential, None).await;
    let authz = Authz::new("openid");
    let browser = t.browser();
    let form = t.login_form(&browser, &rp, &authz).await;
    submit_name(&browser, &form, ANA_UPN).await;
    let answer = submit_password(
        &browser,
        &form,
        &[("userName", ANA_UPN), ("password", SECRET)],
    )
    .await;
    assert_eq!(
        answer.location(),
        format!("/default/login/code?request={}", form.request)
    );
    let code_page = browser.get(answer.location()).await;
    assert_eq!(code_page.status, 200);
    let code = t.last_code().await;
    let done = t.submit_code(&browser, &form, &code).await;
    let callback = Callback::parse(REDIRECT_URI, done.location());
    let tokens = ok_json(t.exchange(rp.auth(), &callback, &authz).await).await;
    let claims = jwt_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["amr"], json!(["pwd", "sms", "mfa"]));
}

#[tokio::test]
async fn a_forced_change_asks_for_a_new_password_on_the_page() {
    let t = spawn_oidc().await;
    give_password(&t, true).await;
    let rp = t.register(ClientType::Confidential, None).await;
    let authz = Authz::new("openid");
    let browser = t.browser();
    let form = t.login_form(&browser, &rp, &authz).await;
    submit_name(&browser, &form, ANA_UPN).await;
    let asked = submit_password(
        &browser,
        &form,
        &[("userName", ANA_UPN), ("password", SECRET)],
    )
    .await;
    assert_eq!(asked.status, 400);
    assert!(
        asked.body.contains("name=\"newPassword\""),
        "{}",
        asked.body
    );
    let common = submit_password(
        &browser,
        &form,
        &[
            ("userName", ANA_UPN),
            ("password", SECRET),
            ("newPassword", "football1"),
        ],
    )
    .await;
    assert_eq!(common.status, 400);
    assert!(
        common.body.contains("most common passwords"),
        "{}",
        common.body
    );
    let changed = submit_password(
        &browser,
        &form,
        &[
            ("userName", ANA_UPN),
            ("password", SECRET),
            ("newPassword", "Quiet-Meadow-Engine-7"),
        ],
    )
    .await;
    Callback::parse(REDIRECT_URI, changed.location()).code();
}

/// Enables passes and issues Ana one for `minutes`; returns it.
async fn ana_pass(t: &OidcApp, once: bool, minutes: u32) -> String {
    let mut policy = textid_server::directory::policy(&t.app, &t.tenant)
        .await
        .unwrap();
    policy.temporary_access_pass.state = MethodState::Enabled;
    textid_server::directory::put_policy(&t.app, &t.tenant, &policy, &Actor::cli())
        .await
        .unwrap();
    let (_, token) = app_token(t, &["UserAuthenticationMethod.ReadWrite.All"]).await;
    let path = format!("/v1.0/users/{ANA_UPN}/authentication/temporaryAccessPassMethods");
    let (status, _, created) = call(
        t,
        Method::POST,
        &path,
        Some(&token),
        Some(json!({"isUsableOnce": once, "lifetimeInMinutes": minutes})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    created["temporaryAccessPass"].as_str().unwrap().to_owned()
}

/// Signs Ana in with `pass` on the pages of `form`'s request; returns where it led.
async fn submit_pass(browser: &Browser, form: &LoginForm, pass: &str) -> Page {
    submit_name(browser, form, ANA_UPN).await;
    browser
        .post(
            "/default/login/pass",
            &[
                ("request", &form.request),
                ("csrf", &form.csrf),
                ("userName", ANA_UPN),
                ("temporaryAccessPass", pass),
            ],
        )
        .await
}

#[tokio::test]
async fn a_pass_signs_in_on_the_pages_and_goes_on_to_the_security_info_page() {
    let t = spawn_oidc().await;
    let pass = ana_pass(&t, true, 60).await;
    let rp = t.register(ClientType::Confidential, None).await;
    let browser = t.browser();
    let authz = Authz::new("openid");
    let form = t.login_form(&browser, &rp, &authz).await;
    let answer = submit_pass(&browser, &form, &pass).await;
    let to = answer.location().to_owned();
    assert!(to.starts_with("/default/security-info?continue="), "{to}");
    let page = browser.get(&to).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Your security info"), "{}", page.body);
    // "Continue to the app" goes back to the app's request: the SSO session answers with
    // a code for it, its state byte for byte, and the code redeems with its verifier.
    let href = continue_href(&page.body);
    assert!(
        href.starts_with("/default/oauth2/v2.0/authorize?"),
        "{href}"
    );
    let callback = Callback::parse(REDIRECT_URI, browser.get(&href).await.location());
    assert_eq!(callback.get("state"), authz.state);
    let tokens = ok_json(t.exchange(rp.auth(), &callback, &authz).await).await;
    assert_eq!(
        jwt_part(tokens["id_token"].as_str().unwrap(), 1)["amr"],
        json!(["tap"])
    );
    // The way back leads only to this tenant's authorization endpoint.
    for elsewhere in [
        "https://evil.example/",
        "//evil.example/default/oauth2/v2.0/authorize?x",
        "/default/oauth2/v2.0/logout?post_logout_redirect_uri=https://evil.example",
    ] {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("continue", elsewhere)
            .finish();
        let page = browser.get(&format!("/default/security-info?{q}")).await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("id=\"continue\""), "{elsewhere}");
    }
}

/// The `href` of the page's "Continue to the app" link, unescaped.
fn continue_href(body: &str) -> String {
    let at = body.find("id=\"continue\"").expect("a continue link");
    let start = body[at..].find("href=\"").unwrap() + at + 6;
    let end = body[start..].find('"').unwrap() + start;
    body[start..end]
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
}

#[tokio::test]
async fn no_token_of_a_pass_sign_in_outlives_the_pass_not_even_an_offline_refresh_token() {
    // Issue #15: "tokens and sessions never outlive the pass". A refresh token of
    // offline_access lives 30 days after an SMS sign-in; after a pass sign-in, it, the
    // access token and the ID token end with the pass.
    let mut t = spawn_oidc().await;
    let pass = ana_pass(&t, false, 60).await;
    let start = t.clock_now().timestamp();
    let rp = t.register(ClientType::Confidential, None).await;
    let browser = t.browser();
    let offline = Authz::new("openid offline_access");
    let form = t.login_form(&browser, &rp, &offline).await;
    submit_pass(&browser, &form, &pass).await;
    t.advance(30 * 60);
    let callback = t.sso(&browser, &rp, &offline).await;
    let tokens = ok_json(t.exchange(rp.auth(), &callback, &offline).await).await;
    let pass_end = start + 60 * 60;
    assert_eq!(
        jwt_part(tokens["id_token"].as_str().unwrap(), 1)["amr"],
        json!(["tap"])
    );
    assert_eq!(
        tokens["expires_in"],
        30 * 60,
        "the access token ends with the pass"
    );
    for kind in ["id_token", "access_token"] {
        let claims = jwt_part(tokens[kind].as_str().unwrap(), 1);
        assert_eq!(claims["exp"], pass_end, "{kind}");
    }
    t.advance(20 * 60);
    let refreshed = ok_json(
        t.refresh(&rp, tokens["refresh_token"].as_str().unwrap())
            .await,
    )
    .await;
    assert_eq!(refreshed["expires_in"], 10 * 60);
    t.advance(10 * 60);
    let after = t
        .refresh(&rp, refreshed["refresh_token"].as_str().unwrap())
        .await;
    crate::oidc_helpers::expect_oauth_error(after, 400, "invalid_grant").await;
    // The SSO session ended with the pass too: the pages ask for a sign-in again.
    let again = browser.get(&t.authorize_url(&rp, &offline)).await;
    assert!(
        again.location().starts_with("/default/login?request="),
        "the sign-in page, not a code: {}",
        again.location()
    );

    // The same app's tokens after an SMS sign-in are not bound that way.
    let sms = t.tokens(&rp, &offline).await;
    assert_eq!(sms["expires_in"], 3600);
    t.advance(2 * 60 * 60);
    ok_json(t.refresh(&rp, sms["refresh_token"].as_str().unwrap()).await).await;
}
