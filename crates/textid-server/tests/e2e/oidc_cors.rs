//! CORS for browser apps (issue #19): discovery and JWKS for any origin; the token,
//! userinfo and revocation endpoints for the web origins of the client in the request
//! (a public client's redirect URIs, or `--allowed-origin`); preflights; nothing for the
//! pages and the admin API.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use textid_oidc::ClientType;
use textid_server::oidc::clients;
use textid_store::{Actor, TenantStore};

use crate::oidc_helpers::{expect_oauth_error, ok_json, spawn_oidc, Authz, OidcApp, Rp};

/// The origin of every test client's redirect URI.
const APP_ORIGIN: &str = "http://127.0.0.1:4000";
/// An origin no client registered.
const FOREIGN_ORIGIN: &str = "https://elsewhere.example";

/// An HTTP client whose every request carries `Origin`, as a browser page's fetch does.
fn from_origin(origin: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert("origin", HeaderValue::from_str(origin).unwrap());
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A CORS preflight for `method` at `path`.
async fn preflight(t: &OidcApp, path: &str, origin: &str, method: &str) -> reqwest::Response {
    t.http
        .request(Method::OPTIONS, t.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap()
}

fn allow_origin(r: &reqwest::Response) -> Option<&str> {
    r.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap())
}

fn varies_by_origin(r: &reqwest::Response) -> bool {
    r.headers()
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("origin"))
}

#[tokio::test]
async fn discovery_and_jwks_may_be_read_from_any_origin() {
    let t = spawn_oidc().await;
    for path in [
        "/default/v2.0/.well-known/openid-configuration",
        "/default/discovery/v2.0/keys",
    ] {
        let r = from_origin(FOREIGN_ORIGIN)
            .get(t.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(allow_origin(&r), Some("*"), "{path}");
        assert_eq!(r.status(), 200);
        let p = preflight(&t, path, FOREIGN_ORIGIN, "GET").await;
        assert!(p.status().is_success(), "{path}: {}", p.status());
        assert_eq!(allow_origin(&p), Some("*"), "{path}");
        let methods = p.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(methods.contains("GET"), "{methods}");
        assert!(p
            .headers()
            .get("access-control-allow-credentials")
            .is_none());
    }
}

#[tokio::test]
async fn a_public_clients_page_redeems_its_code_and_reads_userinfo_cross_origin() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    for path in [
        "/default/oauth2/v2.0/token",
        "/default/oauth2/v2.0/userinfo",
        "/default/oauth2/v2.0/revoke",
    ] {
        let p = preflight(&t, path, APP_ORIGIN, "POST").await;
        assert_eq!(p.status(), 204, "{path}");
        assert_eq!(allow_origin(&p), Some(APP_ORIGIN), "{path}");
        let headers = p.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap();
        assert!(
            headers.contains("content-type") && headers.contains("authorization"),
            "{headers}"
        );
        assert!(p
            .headers()
            .get("access-control-allow-credentials")
            .is_none());
        assert!(varies_by_origin(&p));
    }
    // The page's own requests: what the browser would let the page read.
    t.http = from_origin(APP_ORIGIN);
    let authz = Authz::new("openid profile");
    let browser = t.browser();
    let callback = t.sign_in(&browser, &rp, &authz).await;
    let answer = t.exchange(rp.auth(), &callback, &authz).await;
    assert_eq!(allow_origin(&answer), Some(APP_ORIGIN));
    assert!(varies_by_origin(&answer));
    let tokens = ok_json(answer).await;
    let access = tokens["access_token"].as_str().unwrap();
    let info = t.userinfo(access).await;
    assert_eq!(allow_origin(&info), Some(APP_ORIGIN));
    assert_eq!(ok_json(info).await["name"], "ana@contoso.example");
    let revoked = t.revoke(rp.auth(), access).await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(allow_origin(&revoked), Some(APP_ORIGIN));
}

#[tokio::test]
async fn a_page_of_an_unregistered_origin_is_refused_and_changes_nothing() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let p = preflight(&t, "/default/oauth2/v2.0/token", FOREIGN_ORIGIN, "POST").await;
    assert_eq!(p.status(), 403);
    assert_eq!(allow_origin(&p), None);
    // A form post needs no preflight: the server itself refuses the redemption, so a
    // foreign page cannot spend the code either.
    let authz = Authz::new("openid");
    let browser = t.browser();
    let callback = t.sign_in(&browser, &rp, &authz).await;
    t.http = from_origin(FOREIGN_ORIGIN);
    let refused = t.exchange(rp.auth(), &callback, &authz).await;
    assert_eq!(allow_origin(&refused), None);
    expect_oauth_error(refused, 400, "invalid_request").await;
    t.http = from_origin(APP_ORIGIN);
    ok_json(t.exchange(rp.auth(), &callback, &authz).await).await;
}

#[tokio::test]
async fn a_confidential_client_gets_cors_only_for_origins_an_admin_allowed() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let path = "/default/oauth2/v2.0/userinfo";
    assert_eq!(preflight(&t, path, APP_ORIGIN, "GET").await.status(), 403);
    let allowed = "https://shifts.contoso.example";
    let c = clients::set_allowed_origins(
        &t.app,
        &t.tenant,
        &rp.id,
        &[format!("{allowed}/")],
        &Actor::cli(),
    )
    .await
    .unwrap();
    assert_eq!(
        c.web_origins().len(),
        1,
        "normalised, the redirect's not derived"
    );
    let p = preflight(&t, path, allowed, "GET").await;
    assert_eq!(
        (p.status().as_u16(), allow_origin(&p)),
        (204, Some(allowed))
    );
    assert_eq!(preflight(&t, path, APP_ORIGIN, "GET").await.status(), 403);
    let bad = clients::set_allowed_origins(
        &t.app,
        &t.tenant,
        &rp.id,
        &["https://shifts.contoso.example/app".into()],
        &Actor::cli(),
    )
    .await;
    assert!(bad.is_err());
    let still = clients::find(&t.app, &t.tenant, &rp.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        still.web_origins(),
        c.web_origins(),
        "a refused change changes nothing"
    );
}

#[tokio::test]
async fn a_disabled_clients_origin_is_refused_at_preflight() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let path = "/default/oauth2/v2.0/token";
    assert_eq!(preflight(&t, path, APP_ORIGIN, "POST").await.status(), 204);
    clients::set_enabled(&t.app, &t.tenant, &rp.id, false, &Actor::cli())
        .await
        .unwrap();
    assert_eq!(preflight(&t, path, APP_ORIGIN, "POST").await.status(), 403);
}

#[tokio::test]
async fn pages_and_the_admin_api_send_no_cors_headers() {
    let t = spawn_oidc().await;
    let _rp: Rp = t.register(ClientType::Public, None).await;
    for (method, path) in [
        (Method::GET, "/default/login"),
        (Method::GET, "/default/oauth2/v2.0/authorize"),
        (Method::GET, "/v1.0/users"),
        (Method::OPTIONS, "/v1.0/users"),
        (Method::OPTIONS, "/default/login"),
        (Method::OPTIONS, "/default/api/v1/sign-in/sms"),
    ] {
        let r = t
            .http
            .request(method.clone(), t.url(path))
            .header("origin", APP_ORIGIN)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(allow_origin(&r), None, "{method} {path}");
    }
}

/// The tenant's sign-in API, called from a browser app's own page (issue #19: "configurable
/// per tenant for browser apps that call it directly").
#[tokio::test]
async fn the_sign_in_api_answers_only_the_origins_its_tenant_allows() {
    let t = crate::helpers::spawn_app().await;
    let allowed = "https://kiosk.contoso.example";
    // Set before the first request, so that no cached tenant predates it.
    t.store
        .set_tenant_sign_in_origins(
            t.tenant.id,
            &[allowed.to_string()],
            &Actor::cli(),
            t.clock_now(),
        )
        .await
        .unwrap();
    let url = format!("{}/default/api/v1/sign-in/sms", t.base);
    let preflight = |origin: &'static str| {
        t.http
            .request(Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight(allowed).await.unwrap();
    assert_eq!(
        (ok.status().as_u16(), allow_origin(&ok)),
        (204, Some(allowed))
    );
    let headers = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(headers.contains("content-type"), "{headers}");
    let refused = preflight(FOREIGN_ORIGIN).await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(allow_origin(&refused), None);
    let error = crate::helpers::error(refused).await;
    assert_eq!(error.code, "originNotAllowed");
    for (origin, want) in [(allowed, Some(allowed)), (FOREIGN_ORIGIN, None)] {
        let r = from_origin(origin)
            .post(&url)
            .json(&serde_json::json!({"phoneNumber": "+14255550199"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{origin}");
        assert_eq!(allow_origin(&r), want, "{origin}");
        assert!(varies_by_origin(&r));
    }
    // An OPTIONS that is not a preflight is a method the API does not take.
    let plain = t.http.request(Method::OPTIONS, &url).send().await.unwrap();
    assert_eq!(crate::helpers::error(plain).await.code, "methodNotAllowed");
}

fn admin_origin_configured(c: &mut textid_server::AppConfig) {
    c.admin_allowed_origins = vec!["https://admin.contoso.example".into()];
}

#[tokio::test]
async fn the_admin_api_answers_only_the_configured_origins() {
    let t = crate::helpers::spawn_app_with(admin_origin_configured).await;
    let allowed = "https://admin.contoso.example";
    let url = format!("{}/v1.0/users", t.base);
    let preflight = |origin: &'static str| {
        t.http
            .request(Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight(allowed).await.unwrap();
    assert_eq!(
        (ok.status().as_u16(), allow_origin(&ok)),
        (204, Some(allowed))
    );
    let methods = ok.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("PATCH"), "{methods}");
    let refused = preflight(FOREIGN_ORIGIN).await.unwrap();
    assert_eq!(allow_origin(&refused), None);
    assert_eq!(
        crate::helpers::error(refused).await.code,
        "originNotAllowed"
    );
    // The answer itself (here: no token) is readable by the allowed page only.
    for (origin, want) in [(allowed, Some(allowed)), (FOREIGN_ORIGIN, None)] {
        let r = from_origin(origin).get(&url).send().await.unwrap();
        assert_eq!(r.status(), 401, "{origin}");
        assert_eq!(allow_origin(&r), want, "{origin}");
    }
    // Only the admin API: the sign-in pages stay closed.
    let page = from_origin(allowed)
        .get(format!("{}/default/login", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(allow_origin(&page), None);
}
