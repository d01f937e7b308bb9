//! The token endpoint's rules (DESIGN.md §3; RFC 6749 §4.1.2, §5.2; RFC 7636; RFC 9700):
//! codes single use and 60 s, PKCE checked, refresh rotation with reuse detection, client
//! authentication; bearer tokens refused when unsigned, tampered or expired; revocation
//! (RFC 7009).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use textid_oidc::ClientType;

use crate::oidc_helpers::{
    assert_invalid_token, expect_oauth_error, jwt_part, ok_json, spawn_oidc, Auth, Authz, Callback,
    OidcApp, Rp,
};

/// Signs in with `rp` and returns the callback and its request.
async fn signed_in(t: &mut OidcApp, rp: &Rp, scope: &str) -> (Callback, Authz) {
    let authz = Authz::new(scope);
    let browser = t.browser();
    let callback = t.sign_in(&browser, rp, &authz).await;
    (callback, authz)
}

fn text<'a>(answer: &'a Value, member: &str) -> &'a str {
    answer[member]
        .as_str()
        .unwrap_or_else(|| panic!("no {member} in {answer}"))
}

#[tokio::test]
async fn a_wrong_code_verifier_is_invalid_grant() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let (callback, authz) = signed_in(&mut t, &rp, "openid").await;
    let other = Authz::new("openid");
    let response = t.exchange(rp.auth(), &callback, &other).await;
    expect_oauth_error(response, 400, "invalid_grant").await;
    // The right verifier cannot use the code afterwards either: the attempt spent it.
    let response = t.exchange(rp.auth(), &callback, &authz).await;
    expect_oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_code_used_twice_is_refused_and_revokes_what_it_issued() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let (callback, authz) = signed_in(&mut t, &rp, "openid phone offline_access").await;
    let first = ok_json(t.exchange(rp.auth(), &callback, &authz).await).await;
    let access = text(&first, "access_token");
    assert_eq!(t.userinfo(access).await.status(), 200);

    let second = t.exchange(rp.auth(), &callback, &authz).await;
    expect_oauth_error(second, 400, "invalid_grant").await;
    assert_invalid_token(&t.userinfo(access).await);
    let refresh = t.refresh(&rp, text(&first, "refresh_token")).await;
    expect_oauth_error(refresh, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_code_older_than_sixty_seconds_is_invalid_grant() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let (callback, authz) = signed_in(&mut t, &rp, "openid").await;
    t.advance(61);
    let response = t.exchange(rp.auth(), &callback, &authz).await;
    expect_oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_code_survives_a_failed_client_authentication() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let (callback, authz) = signed_in(&mut t, &rp, "openid").await;
    let response = t
        .exchange(Auth::Basic(&rp.id, "not-the-secret"), &callback, &authz)
        .await;
    expect_oauth_error(response, 401, "invalid_client").await;
    ok_json(t.exchange(rp.auth(), &callback, &authz).await).await;
}

#[tokio::test]
async fn a_refresh_token_rotates_and_reuse_of_the_old_one_revokes_the_new_one() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let authz = Authz::new("openid phone offline_access");
    let first = t.tokens(&rp, &authz).await;
    let old = text(&first, "refresh_token");
    let auth_time = t
        .verify_id_token(&rp, text(&first, "id_token"))
        .await
        .auth_time;

    t.advance(60);
    let response = t.refresh(&rp, old).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let rotated = ok_json(response).await;
    let new = text(&rotated, "refresh_token");
    assert_ne!(new, old, "a refresh gives a new refresh token");
    let claims = t.verify_id_token(&rp, text(&rotated, "id_token")).await;
    assert_eq!(claims.auth_time, auth_time, "auth_time is the sign-in's");
    let access = text(&rotated, "access_token");
    assert_eq!(t.userinfo(access).await.status(), 200);

    let reuse = t.refresh(&rp, old).await;
    expect_oauth_error(reuse, 400, "invalid_grant").await;
    let revoked = t.refresh(&rp, new).await;
    expect_oauth_error(revoked, 400, "invalid_grant").await;
    assert_invalid_token(&t.userinfo(access).await);
}

#[tokio::test]
async fn unknown_clients_and_wrong_secrets_are_invalid_client() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", "0123456789abcdef"),
        ("redirect_uri", crate::oidc_helpers::REDIRECT_URI),
        (
            "code_verifier",
            "0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
    ];
    for (auth, basic) in [
        (Auth::Basic(&unknown, "secret"), true),
        (Auth::Basic(&rp.id, "not-the-secret"), true),
        (Auth::Basic(&rp.id, ""), true),
        (Auth::Post(&unknown, "secret"), false),
        (Auth::Post(&rp.id, "not-the-secret"), false),
        (Auth::Public(&unknown), false),
        (Auth::Nothing, false),
    ] {
        let headers = expect_oauth_error(t.token(auth, &grant).await, 401, "invalid_client").await;
        let challenge = headers.get("www-authenticate").map(|v| v.to_str().unwrap());
        if basic {
            assert!(
                challenge.is_some_and(|c| c.starts_with("Basic ")),
                "{auth:?}: {challenge:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_public_client_with_a_secret_and_a_confidential_client_without_one_are_invalid_client() {
    let t = spawn_oidc().await;
    let public = t.register(ClientType::Public, None).await;
    let confidential = t.register(ClientType::Confidential, None).await;
    let params = [("grant_type", "refresh_token"), ("refresh_token", "x")];
    for auth in [
        Auth::Post(&public.id, "made-up"),
        Auth::Basic(&public.id, "made-up"),
        Auth::Public(&confidential.id),
    ] {
        expect_oauth_error(t.token(auth, &params).await, 401, "invalid_client").await;
    }
    // The same requests with the right authentication reach the grant.
    for auth in [Auth::Public(&public.id), confidential.auth()] {
        expect_oauth_error(t.token(auth, &params).await, 400, "invalid_grant").await;
    }
}

#[tokio::test]
async fn a_grant_type_the_client_may_not_use_is_unauthorized_client() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let response = t
        .token(rp.auth(), &[("grant_type", "client_credentials")])
        .await;
    expect_oauth_error(response, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn an_unknown_grant_type_is_unsupported_grant_type() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    for grant in ["password", "implicit", ""] {
        let response = t.token(rp.auth(), &[("grant_type", grant)]).await;
        expect_oauth_error(response, 400, "unsupported_grant_type").await;
    }
}

#[tokio::test]
async fn a_token_request_that_is_not_a_form_is_invalid_request() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let body = serde_json::json!({"grant_type": "client_credentials", "client_id": rp.id});
    for content_type in [Some("application/json"), Some("text/plain"), None] {
        let mut request = t
            .http
            .post(t.url("/default/oauth2/v2.0/token"))
            .body(body.to_string());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        expect_oauth_error(response, 400, "invalid_request").await;
    }
}

/// A token with the same claims, header replaced.
fn with_header(token: &str, header: &Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
    parts.join(".")
}

#[tokio::test]
async fn userinfo_refuses_unsigned_and_tampered_tokens() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let answer = t.tokens(&rp, &Authz::new("openid phone")).await;
    let access = text(&answer, "access_token").to_string();
    assert_eq!(t.userinfo(&access).await.status(), 200);

    let mut header = jwt_part(&access, 0);
    header["alg"] = "none".into();
    let unsigned = with_header(&access, &header);
    let unsigned = format!("{}.", unsigned.rsplit_once('.').unwrap().0);
    assert_invalid_token(&t.userinfo(&unsigned).await);

    let (signed, signature) = access.rsplit_once('.').unwrap();
    let first = if signature.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{signed}.{first}{}", &signature[1..]);
    assert_invalid_token(&t.userinfo(&tampered).await);

    let mut claims = jwt_part(&access, 1);
    claims["scp"] = "openid phone profile".into();
    let forged = [
        access.split('.').next().unwrap().to_string(),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        signature.to_string(),
    ]
    .join(".");
    assert_invalid_token(&t.userinfo(&forged).await);

    let id_token = text(&answer, "id_token");
    assert_invalid_token(&t.userinfo(id_token).await);
}

#[tokio::test]
async fn userinfo_refuses_an_expired_access_token() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let answer = t.tokens(&rp, &Authz::new("openid")).await;
    let access = text(&answer, "access_token");
    t.advance(3599);
    assert_eq!(t.userinfo(access).await.status(), 200);
    t.advance(2);
    assert_invalid_token(&t.userinfo(access).await);
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_refresh() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let answer = t.tokens(&rp, &Authz::new("openid offline_access")).await;
    let refresh = text(&answer, "refresh_token");
    let response = t.revoke(rp.auth(), refresh).await;
    assert_eq!(response.status(), 200);
    expect_oauth_error(t.refresh(&rp, refresh).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn revoking_an_access_token_ends_userinfo() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let answer = t.tokens(&rp, &Authz::new("openid offline_access")).await;
    let access = text(&answer, "access_token");
    assert_eq!(t.userinfo(access).await.status(), 200);
    assert_eq!(t.revoke(rp.auth(), access).await.status(), 200);
    assert_invalid_token(&t.userinfo(access).await);
}

#[tokio::test]
async fn revoking_an_unknown_token_is_ok() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    for token in ["not-a-token", "eyJhbGciOiJub25lIn0.e30."] {
        assert_eq!(t.revoke(rp.auth(), token).await.status(), 200);
    }
}

#[tokio::test]
async fn revocation_needs_client_authentication_and_changes_nothing_without_it() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let answer = t.tokens(&rp, &Authz::new("openid offline_access")).await;
    let refresh = text(&answer, "refresh_token");
    for auth in [Auth::Nothing, Auth::Basic(&rp.id, "not-the-secret")] {
        expect_oauth_error(t.revoke(auth, refresh).await, 401, "invalid_client").await;
    }
    ok_json(t.refresh(&rp, refresh).await).await;
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_and_its_redirect_uri() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let other = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let first = Authz::new("openid");
    let stolen = t.sign_in(&browser, &rp, &first).await;
    let response = t.exchange(other.auth(), &stolen, &first).await;
    expect_oauth_error(response, 400, "invalid_grant").await;

    let second = Authz::new("openid");
    let callback = t.sso(&browser, &rp, &second).await;
    let response = t
        .token(
            rp.auth(),
            &[
                ("grant_type", "authorization_code"),
                ("code", callback.code()),
                ("redirect_uri", "http://127.0.0.1:4000/callback/"),
                ("code_verifier", &second.verifier),
            ],
        )
        .await;
    expect_oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let (callback, authz) = signed_in(&mut t, &rp, "openid").await;
    let response = t
        .token(
            rp.auth(),
            &[
                ("grant_type", "authorization_code"),
                ("code", callback.code()),
                ("code", "another"),
                ("redirect_uri", crate::oidc_helpers::REDIRECT_URI),
                ("code_verifier", &authz.verifier),
            ],
        )
        .await;
    expect_oauth_error(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_refresh_can_narrow_the_scope_but_not_widen_it() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let first = t.tokens(&rp, &Authz::new("openid offline_access")).await;
    let refresh = text(&first, "refresh_token");
    let wider = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("scope", "openid phone offline_access"),
    ];
    let response = t.token(rp.auth(), &wider).await;
    expect_oauth_error(response, 400, "invalid_scope").await;
}

#[tokio::test]

async fn a_refresh_with_a_narrower_scope_issues_an_access_token_for_that_scope() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let first = t
        .tokens(&rp, &Authz::new("openid phone offline_access"))
        .await;
    let narrower = [
        ("grant_type", "refresh_token"),
        ("refresh_token", text(&first, "refresh_token")),
        ("scope", "openid offline_access"),
    ];
    let answer = ok_json(t.token(rp.auth(), &narrower).await).await;
    // RFC 6749 §6: the new access token has the requested scope; §5.1: `scope` says so.
    assert_eq!(answer["scope"], "openid offline_access", "{answer}");
    let access = jwt_part(text(&answer, "access_token"), 1);
    assert_eq!(access["scp"], "openid offline_access", "{access}");
    let info = ok_json(t.userinfo(text(&answer, "access_token")).await).await;
    assert!(info.get("phone_number").is_none(), "{info}");
    // The rotated refresh token keeps the original grant (RFC 6749 §6).
    let again = ok_json(t.refresh(&rp, text(&answer, "refresh_token")).await).await;
    assert_eq!(again["scope"], "openid phone offline_access", "{again}");
}

#[tokio::test]
async fn refresh_ends_thirty_days_after_the_sign_in() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let first = t.tokens(&rp, &Authz::new("openid offline_access")).await;
    t.advance(29 * 24 * 3600);
    let rotated = ok_json(t.refresh(&rp, text(&first, "refresh_token")).await).await;
    t.advance(24 * 3600);
    let response = t.refresh(&rp, text(&rotated, "refresh_token")).await;
    expect_oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]

async fn userinfo_takes_the_bearer_scheme_in_any_case() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let answer = t.tokens(&rp, &Authz::new("openid")).await;
    let access = text(&answer, "access_token");
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = t
            .http
            .get(t.url("/default/oauth2/v2.0/userinfo"))
            .header("authorization", format!("{scheme} {access}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
}
