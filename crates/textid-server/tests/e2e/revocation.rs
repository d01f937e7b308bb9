//! Revocation when what proved the user changes, and the lifecycle of apps (issue #14
//! §4): a changed number, a disabled account or an admin's `revokeSignInSessions` end the
//! user's API sessions, SSO sessions and refresh-token families (and their access
//! tokens); a deleted or disabled app's tokens are refused at once; a role taken from an
//! app is gone for its existing tokens; a rotated secret works for its overlap only.

use serde_json::{json, Value};
use textid_core::methods::PhoneType;
use textid_oidc::ClientType;
use textid_server::oidc::clients::{self, GrantType};
use textid_server::{directory, session};
use textid_store::{Actor, LogQuery};

use crate::oidc_helpers::*;
use crate::sessions::{api_sign_in, introspect};

/// What a user holds after signing in everywhere: an API session, an SSO browser, and an
/// app's tokens (access, refresh).
struct Held {
    rp: Rp,
    api_token: String,
    browser: Browser,
    access: String,
    refresh: String,
}

async fn hold_everything(t: &mut OidcApp) -> Held {
    let rp = t.register(ClientType::Confidential, None).await;
    let api_token = api_sign_in(t).await["sessionToken"]
        .as_str()
        .unwrap()
        .to_string();
    let browser = t.browser();
    let authz = Authz::new("openid offline_access");
    let callback = t.sign_in(&browser, &rp, &authz).await;
    let tokens = ok_json(t.exchange(rp.auth(), &callback, &authz).await).await;
    Held {
        rp,
        api_token,
        browser,
        access: tokens["access_token"].as_str().unwrap().to_string(),
        refresh: tokens["refresh_token"].as_str().unwrap().to_string(),
    }
}

impl Held {
    /// Asserts that nothing the user held works any more.
    async fn assert_all_ended(&self, t: &OidcApp) {
        assert_eq!(
            introspect(t, &self.api_token).await,
            json!({"active": false}),
            "the API session"
        );
        let authz = Authz::new("openid").with("prompt", "none");
        let answer = self.browser.get(&t.authorize_url(&self.rp, &authz)).await;
        let callback = Callback::parse(REDIRECT_URI, answer.location());
        assert_eq!(callback.get("error"), "login_required", "the SSO session");
        assert_invalid_token(&t.userinfo(&self.access).await);
        let refreshed = t.refresh(&self.rp, &self.refresh).await;
        expect_oauth_error(refreshed, 400, "invalid_grant").await;
    }

    /// Asserts that everything still works (without using up the refresh token).
    async fn assert_all_live(&self, t: &OidcApp) {
        assert_eq!(introspect(t, &self.api_token).await["active"], true);
        t.sso(
            &self.browser,
            &self.rp,
            &Authz::new("openid").with("prompt", "none"),
        )
        .await;
        assert_eq!(t.userinfo(&self.access).await.status(), 200);
    }
}

#[tokio::test]
async fn no_session_survives_a_change_of_the_sign_in_number() {
    let mut t = spawn_oidc().await;
    let held = hold_everything(&mut t).await;
    held.assert_all_live(&t).await;
    // The attack: someone signed in with a number that the admin then takes away (a
    // recycled or stolen SIM); they must not stay signed in.
    directory::update_phone_method(
        &t.app,
        &t.tenant,
        t.ana,
        PhoneType::Mobile,
        "+14255550177",
        &Actor::cli(),
    )
    .await
    .unwrap();
    held.assert_all_ended(&t).await;
}

#[tokio::test]
async fn no_session_survives_disabling_sms_sign_in_or_deleting_the_number() {
    for disable in [true, false] {
        let mut t = spawn_oidc().await;
        let held = hold_everything(&mut t).await;
        if disable {
            directory::set_sms_sign_in(
                &t.app,
                &t.tenant,
                t.ana,
                PhoneType::Mobile,
                false,
                &Actor::cli(),
            )
            .await
            .unwrap();
        } else {
            directory::delete_phone_method(
                &t.app,
                &t.tenant,
                t.ana,
                PhoneType::Mobile,
                &Actor::cli(),
            )
            .await
            .unwrap();
        }
        held.assert_all_ended(&t).await;
    }
}

#[tokio::test]
async fn a_refresh_token_does_not_survive_a_user_disable_even_after_enabling_again() {
    let mut t = spawn_oidc().await;
    let held = hold_everything(&mut t).await;
    let mut ana = directory::find_user(&t.app, &t.tenant, &t.ana.to_string())
        .await
        .unwrap();
    ana.account_enabled = false;
    directory::update_user(&t.app, &ana, &Actor::cli())
        .await
        .unwrap();
    ana.account_enabled = true;
    directory::update_user(&t.app, &ana, &Actor::cli())
        .await
        .unwrap();
    held.assert_all_ended(&t).await;
}

/// A client-credentials token with these roles; returns the client and the token.
async fn app_token(t: &OidcApp, roles: &[&str]) -> (Rp, String) {
    let rp = t
        .register_with(
            ClientType::Confidential,
            None,
            vec![GrantType::ClientCredentials],
        )
        .await;
    let roles = roles.iter().map(|r| r.to_string()).collect();
    clients::set_roles(&t.app, &t.tenant, &rp.id, roles, &Actor::cli())
        .await
        .unwrap();
    let token = client_credentials(t, &rp, rp.secret()).await;
    let token = ok_json(token).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (rp, token)
}

async fn client_credentials(t: &OidcApp, rp: &Rp, secret: &str) -> reqwest::Response {
    t.token(
        Auth::Basic(&rp.id, secret),
        &[("grant_type", "client_credentials")],
    )
    .await
}

async fn graph(t: &OidcApp, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
    let res = t
        .http
        .request(method, t.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn revoke_sign_in_sessions_ends_everything_the_user_holds() {
    let mut t = spawn_oidc().await;
    let held = hold_everything(&mut t).await;
    let (_, reader) = app_token(&t, &["User.Read.All"]).await;
    let path = format!("/v1.0/users/{}/revokeSignInSessions", t.ana);
    let (status, body) = graph(&t, reqwest::Method::POST, &path, &reader).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    held.assert_all_live(&t).await;
    let (admin, token) = app_token(&t, &["User.RevokeSessions.All"]).await;
    let missing = "/v1.0/users/nobody@contoso.example/revokeSignInSessions";
    let (status, _) = graph(&t, reqwest::Method::POST, missing, &token).await;
    assert_eq!(status, 404);
    let (status, body) = graph(&t, reqwest::Method::POST, &path, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], true);
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#Edm.Boolean", t.base)
    );
    held.assert_all_ended(&t).await;
    let audits = t
        .app
        .store()
        .directory_audits(t.tenant.id, &LogQuery::latest(10))
        .await
        .unwrap();
    let entry = audits
        .iter()
        .find(|a| a.activity == "Revoke sign-in sessions")
        .expect("audited");
    assert_eq!(
        (entry.target_id.clone(), entry.actor.id.clone()),
        (t.ana.to_string(), admin.id)
    );
    // The user signs in again and holds new sessions.
    let fresh = api_sign_in(&mut t).await;
    let token = fresh["sessionToken"].as_str().unwrap();
    assert_eq!(introspect(&t, token).await["active"], true);
}

#[tokio::test]
async fn deleting_the_user_over_graph_ends_everything_they_held() {
    let mut t = spawn_oidc().await;
    let held = hold_everything(&mut t).await;
    let (_, token) = app_token(&t, &["User.ReadWrite.All"]).await;
    held.assert_all_live(&t).await;
    let path = format!("/v1.0/users/{}", t.ana);
    let (status, body) = graph(&t, reqwest::Method::DELETE, &path, &token).await;
    assert_eq!(status, 204, "{body}");
    held.assert_all_ended(&t).await;
}

async fn enable_passes(t: &OidcApp) {
    let mut policy = t.app.store().policy(t.tenant.id).await.unwrap();
    policy.temporary_access_pass.state = textid_core::policy::MethodState::Enabled;
    t.app
        .store()
        .put_policy(t.tenant.id, &policy, &Actor::cli(), t.clock_now())
        .await
        .unwrap();
}

#[tokio::test]
async fn issuing_a_temporary_access_pass_over_graph_ends_everything_the_user_held() {
    let mut t = spawn_oidc().await;
    enable_passes(&t).await;
    let held = hold_everything(&mut t).await;
    let (_, token) = app_token(&t, &["UserAuthenticationMethod.ReadWrite.All"]).await;
    held.assert_all_live(&t).await;
    let res = t
        .http
        .post(t.url(&format!(
            "/v1.0/users/{}/authentication/temporaryAccessPassMethods",
            t.ana
        )))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert!(body["temporaryAccessPass"].is_string(), "{body}");
    // A pass lets whoever holds it sign in as the user: what was signed in before the
    // admin issued it (perhaps because the phone was lost) must not go on.
    held.assert_all_ended(&t).await;
}

#[tokio::test]
async fn the_revoke_sessions_use_case_of_the_cli_ends_everything() {
    let mut t = spawn_oidc().await;
    let held = hold_everything(&mut t).await;
    session::revoke_user_sessions(&t.app, &t.tenant, t.ana, &Actor::cli())
        .await
        .unwrap();
    held.assert_all_ended(&t).await;
}

#[tokio::test]
async fn a_deleted_apps_access_token_is_refused_by_the_graph_api_at_once() {
    let t = spawn_oidc().await;
    let (rp, token) = app_token(&t, &["User.Read.All"]).await;
    let (status, _) = graph(&t, reqwest::Method::GET, "/v1.0/users", &token).await;
    assert_eq!(status, 200);
    clients::delete(&t.app, &t.tenant, &rp.id, &Actor::cli())
        .await
        .unwrap();
    let (status, body) = graph(&t, reqwest::Method::GET, "/v1.0/users", &token).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    let again = client_credentials(&t, &rp, rp.secret()).await;
    expect_oauth_error(again, 401, "invalid_client").await;
    let gone = clients::delete(&t.app, &t.tenant, &rp.id, &Actor::cli()).await;
    assert_eq!(gone.unwrap_err().status.as_u16(), 404);
}

#[tokio::test]
async fn a_disabled_apps_tokens_and_sign_ins_are_refused_until_it_is_enabled() {
    let mut t = spawn_oidc().await;
    let held = hold_everything(&mut t).await;
    let (rp, token) = app_token(&t, &["User.Read.All"]).await;
    for id in [&rp.id, &held.rp.id] {
        clients::set_enabled(&t.app, &t.tenant, id, false, &Actor::cli())
            .await
            .unwrap();
    }
    let (status, _) = graph(&t, reqwest::Method::GET, "/v1.0/users", &token).await;
    assert_eq!(status, 401);
    expect_oauth_error(
        client_credentials(&t, &rp, rp.secret()).await,
        401,
        "invalid_client",
    )
    .await;
    assert_invalid_token(&t.userinfo(&held.access).await);
    expect_oauth_error(
        t.refresh(&held.rp, &held.refresh).await,
        401,
        "invalid_client",
    )
    .await;
    // An unknown client: an error page, never a redirect (let alone a code).
    let page = held
        .browser
        .get(&t.authorize_url(&held.rp, &Authz::new("openid")))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(page.header("location"), None);
    for id in [&rp.id, &held.rp.id] {
        clients::set_enabled(&t.app, &t.tenant, id, true, &Actor::cli())
            .await
            .unwrap();
    }
    let (status, _) = graph(&t, reqwest::Method::GET, "/v1.0/users", &token).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_role_taken_from_an_app_is_gone_for_its_existing_tokens() {
    let t = spawn_oidc().await;
    let (rp, token) = app_token(&t, &["User.ReadWrite.All"]).await;
    let (status, _) = graph(&t, reqwest::Method::GET, "/v1.0/users", &token).await;
    assert_eq!(status, 200);
    clients::set_roles(
        &t.app,
        &t.tenant,
        &rp.id,
        vec!["Group.Read.All".into()],
        &Actor::cli(),
    )
    .await
    .unwrap();
    let (status, body) = graph(&t, reqwest::Method::GET, "/v1.0/users", &token).await;
    assert_eq!(
        status, 403,
        "the token still claims the role, the app no longer has it"
    );
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    // A role granted after the token was issued is not in it either.
    let (status, _) = graph(&t, reqwest::Method::GET, "/v1.0/groups", &token).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_rotated_secret_works_for_its_overlap_then_is_refused() {
    let t = spawn_oidc().await;
    let (rp, _) = app_token(&t, &["User.Read.All"]).await;
    let old = rp.secret().to_string();
    let overlap = chrono::Duration::seconds(3600);
    let new = clients::rotate_secret(&t.app, &t.tenant, &rp.id, overlap, &Actor::cli())
        .await
        .unwrap();
    assert_ne!(new, old);
    ok_json(client_credentials(&t, &rp, &new).await).await;
    ok_json(client_credentials(&t, &rp, &old).await).await;
    t.advance(3600);
    expect_oauth_error(
        client_credentials(&t, &rp, &old).await,
        401,
        "invalid_client",
    )
    .await;
    ok_json(client_credentials(&t, &rp, &new).await).await;
    // A second rotation ends the first secret at once, whatever its overlap.
    let newest = clients::rotate_secret(&t.app, &t.tenant, &rp.id, overlap, &Actor::cli())
        .await
        .unwrap();
    ok_json(client_credentials(&t, &rp, &new).await).await;
    ok_json(client_credentials(&t, &rp, &newest).await).await;
    expect_oauth_error(
        client_credentials(&t, &rp, &old).await,
        401,
        "invalid_client",
    )
    .await;
    let audits = t
        .app
        .store()
        .directory_audits(t.tenant.id, &LogQuery::latest(10))
        .await
        .unwrap();
    let rotations = audits
        .iter()
        .filter(|a| a.activity == "Rotate application secret" && a.target_id == rp.id)
        .count();
    assert_eq!(rotations, 2);
    let public = t.register(ClientType::Public, None).await;
    let refused =
        clients::rotate_secret(&t.app, &t.tenant, &public.id, overlap, &Actor::cli()).await;
    assert_eq!(refused.unwrap_err().status.as_u16(), 400);
}
