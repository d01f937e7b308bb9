//! The Graph-compatible admin API (issue #4) through real HTTP: who may call it (401 for
//! missing, expired, forged and unsigned tokens; 403 naming the missing permission; app
//! roles and people's directory roles), Graph's error shape, tolerant paths, and the audit
//! trail of every change.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use textid_oidc::ClientType;
use textid_server::oidc::clients::{self, GrantType};

use crate::oidc_helpers::{spawn_oidc, Auth, Authz, OidcApp};

/// A client-credentials token for an app holding `roles`.
pub(crate) async fn app_token(t: &OidcApp, roles: &[&str]) -> (String, String) {
    let rp = t
        .register_with(
            ClientType::Confidential,
            None,
            vec![GrantType::ClientCredentials],
        )
        .await;
    clients::set_roles(
        &t.app,
        &t.tenant,
        &rp.id,
        roles.iter().map(|r| r.to_string()).collect(),
        &textid_store::Actor::cli(),
    )
    .await
    .unwrap();
    let res = t
        .token(
            Auth::Basic(&rp.id, rp.secret()),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    (
        rp.id.clone(),
        body["access_token"].as_str().unwrap().to_string(),
    )
}

pub(crate) async fn call(
    t: &OidcApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = t.http.request(method, t.url(path));
    if let Some(tok) = token {
        req = req.bearer_auth(tok);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn assert_graph_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["error"]["innerError"]["request-id"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn missing_expired_forged_and_unsigned_tokens_are_refused_with_401() {
    let t = spawn_oidc().await;
    let (_, token) = app_token(&t, &["User.Read.All"]).await;
    let (status, _, _) = call(&t, reqwest::Method::GET, "/v1.0/users", Some(&token), None).await;
    assert_eq!(status, 200);

    let (status, headers, body) = call(&t, reqwest::Method::GET, "/v1.0/users", None, None).await;
    assert_eq!(status, 401);
    assert_graph_error(&body, "InvalidAuthenticationToken");
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));

    let parts: Vec<&str> = token.split('.').collect();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    for forged in [
        format!("{none_header}.{}.", parts[1]),
        format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode([0u8; 64])
        ),
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(br#"{"iss":"x"}"#),
            parts[2]
        ),
    ] {
        let (status, _, body) =
            call(&t, reqwest::Method::GET, "/v1.0/users", Some(&forged), None).await;
        assert_eq!(status, 401, "{forged}");
        assert_graph_error(&body, "InvalidAuthenticationToken");
    }

    t.advance(3601);
    let (status, _, body) = call(&t, reqwest::Method::GET, "/v1.0/users", Some(&token), None).await;
    assert_eq!(status, 401, "expired");
    assert_graph_error(&body, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn an_app_without_the_permission_gets_403_naming_it_and_nothing_changes() {
    let t = spawn_oidc().await;
    let (_, reader) = app_token(&t, &["User.Read.All"]).await;
    let user = json!({"userPrincipalName": "bo@contoso.example", "displayName": "Bo"});
    let (status, _, body) = call(
        &t,
        reqwest::Method::POST,
        "/v1.0/users",
        Some(&reader),
        Some(user),
    )
    .await;
    assert_eq!(status, 403);
    assert_graph_error(&body, "Authorization_RequestDenied");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("User.ReadWrite.All"),
        "{body}"
    );
    let (_, _, list) = call(
        &t,
        reqwest::Method::GET,
        "/v1.0/users?$filter=userPrincipalName%20eq%20'bo@contoso.example'",
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(list["value"], json!([]));
    let (status, _, _) = call(
        &t,
        reqwest::Method::GET,
        "/v1.0/policies/authenticationMethodsPolicy",
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(status, 403, "Policy.Read.All is not User.Read.All");
}

#[tokio::test]
async fn a_person_acts_only_through_admin_scopes_their_roles_grant() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let admin_scope = format!("{}/v1.0/UserAuthenticationMethod.ReadWrite.All", t.base);
    let methods = format!("/v1.0/users/{}/authentication/phoneMethods", t.ana);
    let actor = textid_store::Actor::cli();
    t.app
        .store()
        .set_user_role(
            t.tenant.id,
            t.ana,
            "Authentication Administrator",
            true,
            &actor,
            t.clock_now(),
        )
        .await
        .unwrap();

    // A sign-in token (no admin API scope) is worth nothing on the admin API, whatever the
    // person's roles (found in review: any app's token acted as an admin token).
    let plain = t.tokens(&rp, &Authz::new("openid profile")).await;
    let (status, _, body) = call(
        &t,
        reqwest::Method::GET,
        &methods,
        plain["access_token"].as_str(),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // A client may request admin API scopes only once an admin allowed them.
    let asked = Authz::new(&format!("openid {admin_scope}"));
    let refused = t.browser().get(&t.authorize_url(&rp, &asked)).await;
    assert!(
        refused.location().contains("error=invalid_scope"),
        "{}",
        refused.location()
    );
    clients::set_roles(
        &t.app,
        &t.tenant,
        &rp.id,
        vec!["UserAuthenticationMethod.ReadWrite.All".into()],
        &textid_store::Actor::cli(),
    )
    .await
    .unwrap();
    let scoped = t.tokens(&rp, &asked).await;
    let token = scoped["access_token"].as_str().unwrap().to_string();
    let (status, _, body) = call(&t, reqwest::Method::GET, &methods, Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"][0]["smsSignInState"], "ready");
    let patch = json!({"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "state": "disabled"});
    let (status, _, body) = call(
        &t,
        reqwest::Method::PATCH,
        "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Sms",
        Some(&token),
        Some(patch),
    )
    .await;
    assert_eq!(
        status, 403,
        "neither the scope nor the role allows policy changes"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Policy.ReadWrite.AuthenticationMethod"));

    // A change to a user without a role is made and audited with the person as the actor.
    let cy = textid_usecases::directory::create_user(
        &t.app,
        &t.tenant,
        "cy@contoso.example",
        "Cy",
        &actor,
    )
    .await
    .unwrap();
    let cy_methods = format!("/v1.0/users/{}/authentication/phoneMethods", cy.id);
    let second = json!({"phoneNumber": "+1 4255550142", "phoneType": "office"});
    let (status, _, body) = call(
        &t,
        reqwest::Method::POST,
        &cy_methods,
        Some(&token),
        Some(second),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let audits = t
        .app
        .store()
        .directory_audits(t.tenant.id, &textid_store::LogQuery::latest(1))
        .await
        .unwrap();
    assert_eq!(
        (audits[0].actor.kind.as_str(), audits[0].actor.id.clone()),
        ("user", t.ana.to_string())
    );

    // Only a Global Administrator changes the methods of a privileged user (found in
    // review: a helpdesk admin could re-point an admin's SMS sign-in number).
    let boss = textid_usecases::directory::create_user(
        &t.app,
        &t.tenant,
        "boss@contoso.example",
        "Boss",
        &actor,
    )
    .await
    .unwrap();
    t.app
        .store()
        .set_user_role(
            t.tenant.id,
            boss.id,
            "Global Administrator",
            true,
            &actor,
            t.clock_now(),
        )
        .await
        .unwrap();
    let boss_methods = format!("/v1.0/users/{}/authentication/phoneMethods", boss.id);
    let (status, _, body) = call(
        &t,
        reqwest::Method::POST,
        &boss_methods,
        Some(&token),
        Some(json!({"phoneNumber": "+1 4255550166", "phoneType": "mobile"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_graph_error(&body, "Authorization_RequestDenied");
    assert!(
        textid_usecases::directory::phone_methods(&t.app, &t.tenant, boss.id)
            .await
            .unwrap()
            .is_empty()
    );

    // A person disabled since the token was issued loses access at once.
    let mut me = t
        .app
        .store()
        .user(t.tenant.id, t.ana)
        .await
        .unwrap()
        .unwrap();
    me.account_enabled = false;
    t.app
        .store()
        .update_user(&me, &actor, t.clock_now())
        .await
        .unwrap();
    let (status, _, _) = call(&t, reqwest::Method::GET, &methods, Some(&token), None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_max_age_beyond_any_duration_is_no_limit_and_no_panic() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    t.sign_in(&browser, &rp, &Authz::new("openid")).await;
    let authz = Authz::new("openid").with("max_age", "10000000000000000");
    let answer = browser.get(&t.authorize_url(&rp, &authz)).await;
    assert_eq!(answer.status, 303);
    assert!(answer.location().contains("code="), "{}", answer.location());
}

#[tokio::test]
async fn graph_shapes_errors_paths_and_the_audit_trail() {
    let t = spawn_oidc().await;
    let all = [
        "User.ReadWrite.All",
        "Group.ReadWrite.All",
        "UserAuthenticationMethod.ReadWrite.All",
        "Policy.ReadWrite.AuthenticationMethod",
        "AuditLog.Read.All",
    ];
    let (app_id, token) = app_token(&t, &all).await;
    let tok = Some(token.as_str());
    // Repeated slashes are tolerated; configuration ids are case-insensitive.
    let (status, _, body) = call(
        &t,
        reqwest::Method::GET,
        "//v1.0//policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sMs",
        tok,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "Sms");
    assert_eq!(
        body["@odata.type"],
        "#microsoft.graph.smsAuthenticationMethodConfiguration"
    );
    // Create, conflict, not found.
    let (status, _, bo) = call(
        &t,
        reqwest::Method::POST,
        "/v1.0/users",
        tok,
        Some(json!({"userPrincipalName": "bo@contoso.example", "displayName": "Bo"})),
    )
    .await;
    assert_eq!(status, 201);
    let bo_methods = format!(
        "/v1.0/users/{}/authentication/phoneMethods",
        bo["id"].as_str().unwrap()
    );
    let (status, _, body) = call(
        &t,
        reqwest::Method::POST,
        &bo_methods,
        tok,
        Some(json!({"phoneNumber": "+14255550101", "phoneType": "mobile"})),
    )
    .await;
    assert_eq!(status, 409, "ana signs in with this number");
    assert_graph_error(&body, "phoneNumberNotUnique");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("SMS sign-in"));
    let (status, _, body) = call(
        &t,
        reqwest::Method::GET,
        "/v1.0/users/nobody@contoso.example",
        tok,
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_graph_error(&body, "Request_ResourceNotFound");
    let (status, _, body) = call(
        &t,
        reqwest::Method::POST,
        "/v1.0/users",
        tok,
        Some(json!({"userPrincipalName": "bo@contoso.example", "displayName": "Bo"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_graph_error(&body, "Request_BadRequest");
    // Premium-rate numbers are refused (DESIGN.md §3, found in review).
    let (status, _, body) = call(
        &t,
        reqwest::Method::POST,
        &bo_methods,
        tok,
        Some(json!({"phoneNumber": "+1 900 734 0101", "phoneType": "mobile"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("premium-rate"),
        "{body}"
    );
    // Found by schemathesis: an array body and a malformed path segment are Graph-shaped 400s.
    let (status, _, body) = call(
        &t,
        reqwest::Method::POST,
        "/v1.0/users",
        tok,
        Some(json!([null, "zed@contoso.example", "Zed"])),
    )
    .await;
    assert_eq!(status, 400);
    assert_graph_error(&body, "badRequest");
    let (status, _, body) = call(&t, reqwest::Method::GET, "/v1.0/users/%FF", tok, None).await;
    assert_eq!(status, 400);
    assert_graph_error(&body, "badRequest");
    // Every change lands in the audit log with the calling app.
    let (status, _, audits) = call(
        &t,
        reqwest::Method::GET,
        "/v1.0/auditLogs/directoryAudits?$top=5",
        tok,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let add = audits["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["activityDisplayName"] == "Add user")
        .unwrap();
    assert_eq!(add["initiatedBy"]["app"]["appId"], app_id.as_str());
    assert_eq!(add["targetResources"][0]["id"], bo["id"]);
}
