//! The OpenID Provider metadata served at `{base}/v2.0/.well-known/openid-configuration`
//! (OIDC Discovery §3, RFC 8414), with Entra's endpoint paths so that libraries written for
//! Entra find them where they expect.

use serde_json::{json, Value};

use crate::keys::Algorithm;

/// The claims an ID token can carry (see [`crate::token::IdTokenClaims`]).
pub const CLAIMS_SUPPORTED: [&str; 14] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "tid",
    "phone_number",
    "phone_number_verified",
    "amr",
    "name",
    "preferred_username",
    "sid",
];

/// The scopes textid knows; an authorization request may name others (OAuth lets a
/// server ignore them), but they are not granted, so never echoed back (RFC 6749 §3.3).
/// Delegated admin API permissions (`{public_url}/v1.0/{permission}`) come on top, per
/// client.
pub const SCOPES_SUPPORTED: [&str; 4] = ["openid", "profile", "phone", "offline_access"];

/// The discovery document. `issuer` is the tenant's issuer; `base` is `{public_url}/{tenant}`
/// without a trailing slash; `algs` are the algorithms with a current signing key, listed
/// RS256 first (OIDC Discovery §3 requires RS256 to be among them; the caller keeps an
/// RS256 key, DESIGN §2), without repeats.
pub fn discovery_document(issuer: &str, base: &str, algs: &[Algorithm]) -> Value {
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "userinfo_endpoint": format!("{base}/oauth2/v2.0/userinfo"),
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "revocation_endpoint": format!("{base}/oauth2/v2.0/revoke"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": signing_algs(algs),
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "claims_supported": CLAIMS_SUPPORTED,
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["login", "none"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
    })
}

/// `algs` in [`Algorithm::ALL`] order (RS256 first), each once.
fn signing_algs(algs: &[Algorithm]) -> Vec<&'static str> {
    Algorithm::ALL
        .iter()
        .filter(|a| algs.contains(a))
        .map(|a| a.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://id.example/contoso";
    const ISSUER: &str = "https://id.example/contoso/v2.0";

    #[test]
    fn endpoints_use_entra_paths_under_the_tenant_base() {
        let doc = discovery_document(ISSUER, BASE, &[Algorithm::RS256]);
        assert_eq!(doc["issuer"], ISSUER);
        let want = [
            ("authorization_endpoint", "/oauth2/v2.0/authorize"),
            ("token_endpoint", "/oauth2/v2.0/token"),
            ("userinfo_endpoint", "/oauth2/v2.0/userinfo"),
            ("end_session_endpoint", "/oauth2/v2.0/logout"),
            ("revocation_endpoint", "/oauth2/v2.0/revoke"),
            ("jwks_uri", "/discovery/v2.0/keys"),
        ];
        for (member, path) in want {
            assert_eq!(doc[member], format!("{BASE}{path}"), "{member}");
        }
    }

    #[test]
    fn capabilities_are_pinned() {
        let doc = discovery_document(ISSUER, BASE, &[Algorithm::RS256]);
        let expected = json!({
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "phone", "offline_access"],
            "authorization_response_iss_parameter_supported": true,
            "prompt_values_supported": ["login", "none"],
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "claims_parameter_supported": false,
        });
        for (member, value) in expected.as_object().unwrap() {
            assert_eq!(&doc[member], value, "{member}");
        }
        assert_eq!(doc["claims_supported"], json!(CLAIMS_SUPPORTED));
        assert_eq!(doc.as_object().unwrap().len(), 22);
    }

    #[test]
    fn signing_algs_list_rs256_first_without_repeats() {
        let doc = discovery_document(
            ISSUER,
            BASE,
            &[
                Algorithm::EdDSA,
                Algorithm::ES256,
                Algorithm::RS256,
                Algorithm::ES256,
            ],
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["RS256", "ES256", "EdDSA"])
        );
    }

    #[test]
    fn claims_supported_are_the_id_token_claim_names() {
        use crate::token::IdTokenClaims;
        let claims = IdTokenClaims {
            iss: String::new(),
            sub: String::new(),
            aud: String::new(),
            exp: 0,
            iat: 0,
            auth_time: 0,
            nonce: Some(String::new()),
            tid: String::new(),
            phone_number: Some(String::new()),
            phone_number_verified: Some(true),
            amr: vec![],
            name: Some(String::new()),
            preferred_username: Some(String::new()),
            sid: Some(String::new()),
        };
        let value = serde_json::to_value(claims).unwrap();
        let mut names: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        let mut supported = CLAIMS_SUPPORTED.to_vec();
        supported.sort_unstable();
        assert_eq!(names, supported);
    }
}
