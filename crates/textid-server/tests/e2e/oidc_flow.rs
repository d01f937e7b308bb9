//! The OpenID Connect happy paths as an app sees them (DESIGN.md §2, issue #3): discovery,
//! the authorization code flow with PKCE for confidential (`client_secret_basic`,
//! `client_secret_post`) and public clients, ID tokens verified against the published JWKS,
//! the per-client signing algorithm, userinfo, and client credentials.

use serde_json::Value;
use textid_core::clock::Clock;
use textid_oidc::token::{verify, AccessTokenClaims, Expected, IdTokenClaims, TokenType};
use textid_oidc::{Algorithm, ClientType};
use textid_server::oidc::clients::GrantType;

use crate::oidc_helpers::{
    expect_oauth_error, jwt_part, ok_json, spawn_oidc, Auth, Authz, OidcApp, Rp, ANA,
};

/// The claims every ID token of `ANA` signing in to `rp` must carry.
fn assert_id_claims(t: &OidcApp, rp: &Rp, authz: &Authz, claims: &IdTokenClaims) {
    assert_eq!(claims.iss, format!("{}/default/v2.0", t.base));
    assert_eq!(claims.aud, rp.id);
    assert_eq!(claims.sub, t.ana.to_string());
    assert_eq!(claims.nonce.as_deref(), Some(authz.nonce.as_str()));
    assert_eq!(claims.amr, ["sms"]);
    assert_eq!(claims.phone_number.as_deref(), Some(ANA));
    assert_eq!(claims.phone_number_verified, Some(true));
    assert_eq!(claims.tid, t.tenant.id.to_string());
    assert_eq!(claims.auth_time, t.clock.now().timestamp());
    assert_eq!(claims.iat, t.clock.now().timestamp());
    assert!(claims.exp > claims.iat);
}

/// Checks a token answer: Bearer, `expires_in` matching the access token, an ID token;
/// verifies the access token against the JWKS (RFC 9068 profile, audience textid's API).
async fn assert_token_answer(t: &OidcApp, answer: &Value) -> AccessTokenClaims {
    assert_eq!(answer["token_type"], "Bearer", "{answer}");
    let access = answer["access_token"].as_str().expect("an access token");
    let keys = t.jwks().await;
    let issuer = t.issuer();
    let audience = t.url("/v1.0");
    let expected = Expected {
        issuer: &issuer,
        audience: Some(&audience),
        typ: TokenType::AccessToken,
    };
    let claims: AccessTokenClaims = verify(access, &keys, &expected, t.clock.now()).unwrap();
    assert_eq!(
        answer["expires_in"].as_i64(),
        Some(claims.exp - claims.iat),
        "{answer}"
    );
    assert!(claims.exp > claims.iat);
    claims
}

#[tokio::test]
async fn discovery_names_the_exact_issuer_and_endpoints_under_the_tenant() {
    let t = spawn_oidc().await;
    let doc = t.discovery().await;
    assert_eq!(doc["issuer"], format!("{}/default/v2.0", t.base));
    for (member, path) in [
        ("authorization_endpoint", "oauth2/v2.0/authorize"),
        ("token_endpoint", "oauth2/v2.0/token"),
        ("userinfo_endpoint", "oauth2/v2.0/userinfo"),
        ("end_session_endpoint", "oauth2/v2.0/logout"),
        ("revocation_endpoint", "oauth2/v2.0/revoke"),
        ("jwks_uri", "discovery/v2.0/keys"),
    ] {
        assert_eq!(
            doc[member],
            format!("{}/default/{path}", t.base),
            "{member}"
        );
    }
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    let algs = &doc["id_token_signing_alg_values_supported"];
    assert_eq!(algs, &serde_json::json!(["RS256", "ES256", "EdDSA"]));
}

#[tokio::test]
async fn a_confidential_client_with_basic_auth_gets_tokens_an_app_can_verify() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let authz = Authz::new("openid profile phone");
    let browser = t.browser();
    let callback = t.sign_in(&browser, &rp, &authz).await;
    let names: Vec<&String> = callback.params.keys().collect();
    assert_eq!(names, ["code", "iss", "state"], "{}", callback.location);
    assert_eq!(callback.get("state"), authz.state);
    assert_eq!(callback.get("iss"), t.discovery().await["issuer"]);

    let response = t.exchange(rp.auth(), &callback, &authz).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let answer = ok_json(response).await;
    assert!(
        answer.get("refresh_token").is_none(),
        "no offline_access, no refresh token: {answer}"
    );
    let access = assert_token_answer(&t, &answer).await;
    assert_eq!(access.sub, t.ana.to_string());
    assert_eq!(access.client_id, rp.id);
    let id_token = answer["id_token"].as_str().unwrap();
    let claims = t.verify_id_token(&rp, id_token).await;
    assert_id_claims(&t, &rp, &authz, &claims);
    assert_eq!(
        claims.preferred_username.as_deref(),
        Some("ana@contoso.example")
    );

    let info = ok_json(t.userinfo(answer["access_token"].as_str().unwrap()).await).await;
    assert_eq!(info["sub"], t.ana.to_string());
    assert_eq!(info["phone_number"], ANA);
    assert_eq!(info["phone_number_verified"], true);
}

#[tokio::test]
async fn a_confidential_client_with_post_auth_gets_a_refresh_token_for_offline_access() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let authz = Authz::new("openid phone offline_access");
    let browser = t.browser();
    let callback = t.sign_in(&browser, &rp, &authz).await;
    let response = t
        .exchange(Auth::Post(&rp.id, rp.secret()), &callback, &authz)
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let answer = ok_json(response).await;
    assert_token_answer(&t, &answer).await;
    assert!(
        answer["refresh_token"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{answer}"
    );
    let claims = t
        .verify_id_token(&rp, answer["id_token"].as_str().unwrap())
        .await;
    assert_id_claims(&t, &rp, &authz, &claims);
}

#[tokio::test]
async fn a_public_client_signs_in_with_pkce_and_its_client_id_only() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    assert!(rp.secret.is_none());
    let authz = Authz::new("openid phone offline_access");
    let browser = t.browser();
    let callback = t.sign_in(&browser, &rp, &authz).await;
    assert_eq!(callback.get("iss"), t.issuer());
    let response = t.exchange(Auth::Public(&rp.id), &callback, &authz).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let answer = ok_json(response).await;
    assert_token_answer(&t, &answer).await;
    assert!(answer["refresh_token"].is_string(), "{answer}");
    let claims = t
        .verify_id_token(&rp, answer["id_token"].as_str().unwrap())
        .await;
    assert_id_claims(&t, &rp, &authz, &claims);
    let info = ok_json(t.userinfo(answer["access_token"].as_str().unwrap()).await).await;
    assert_eq!(info["phone_number"], ANA);
}

#[tokio::test]
async fn id_tokens_are_signed_with_the_algorithm_each_client_registered() {
    let mut t = spawn_oidc().await;
    let published: Vec<String> = t.jwks().await.iter().map(|k| k.kid().to_string()).collect();
    let clients = [
        (t.register(ClientType::Confidential, None).await, "RS256"),
        (
            t.register(ClientType::Confidential, Some(Algorithm::ES256))
                .await,
            "ES256",
        ),
        (
            t.register(ClientType::Public, Some(Algorithm::EdDSA)).await,
            "EdDSA",
        ),
    ];
    let browser = t.browser();
    for (i, (rp, alg)) in clients.iter().enumerate() {
        let authz = Authz::new("openid phone");
        // One sign-in; the other clients get their codes from the SSO session.
        let callback = if i == 0 {
            t.sign_in(&browser, rp, &authz).await
        } else {
            t.sso(&browser, rp, &authz).await
        };
        let answer = ok_json(t.exchange(rp.auth(), &callback, &authz).await).await;
        let id_token = answer["id_token"].as_str().unwrap();
        let header = jwt_part(id_token, 0);
        assert_eq!(header["alg"], *alg, "{header}");
        for token in [id_token, answer["access_token"].as_str().unwrap()] {
            let kid = jwt_part(token, 0)["kid"].as_str().unwrap().to_string();
            assert!(published.contains(&kid), "{kid} is not in the JWKS");
        }
        let claims = t.verify_id_token(rp, id_token).await;
        assert_id_claims(&t, rp, &authz, &claims);
    }
}

#[tokio::test]
async fn client_credentials_give_a_confidential_client_an_access_token_only() {
    let t = spawn_oidc().await;
    let rp = t
        .register_with(
            ClientType::Confidential,
            None,
            vec![GrantType::ClientCredentials],
        )
        .await;
    let response = t
        .token(rp.auth(), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let answer = ok_json(response).await;
    let claims = assert_token_answer(&t, &answer).await;
    assert_eq!(claims.sub, rp.id);
    assert_eq!(claims.client_id, rp.id);
    assert!(answer.get("id_token").is_none(), "{answer}");
    assert!(answer.get("refresh_token").is_none(), "{answer}");
}

#[tokio::test]
async fn a_public_client_cannot_use_client_credentials() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let response = t
        .token(
            Auth::Public(&rp.id),
            &[("grant_type", "client_credentials")],
        )
        .await;
    expect_oauth_error(response, 400, "unauthorized_client").await;
}
