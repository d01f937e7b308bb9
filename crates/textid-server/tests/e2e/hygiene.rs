//! Output hygiene (issue #14 §7): no answer repeats a submitted value, every answer says
//! `nosniff`, names that would deceive a reader are refused and UPNs that only look
//! different are the same user, and a token claiming to be issued in the future is
//! refused.

use reqwest::Method;
use serde_json::{json, Value};

use crate::graph::{app_token, call};
use crate::helpers::{expect_error, spawn_app};
use crate::oidc_helpers::spawn_oidc;

const ANA: &str = "+14255550101";

fn nosniff(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get("x-content-type-options")
        .is_some_and(|v| v == "nosniff")
}

#[tokio::test]
async fn every_answer_says_nosniff_including_errors_and_404s() {
    let t = spawn_app().await;
    let get = |path: &str| t.http.get(format!("{}{path}", t.base)).send();
    for (res, status) in [
        (get("/healthz").await.unwrap(), 200),
        (get("/no/such/page").await.unwrap(), 404),
        (t.post_raw(Some("text/plain"), "x").await, 415),
        (t.post_raw(Some("application/json"), "{").await, 400),
        (t.start(ANA).await, 202),
    ] {
        assert_eq!(res.status(), status);
        assert!(nosniff(res.headers()), "{status}: {:?}", res.headers());
    }
}

#[tokio::test]
async fn a_code_sent_as_a_json_number_is_not_echoed() {
    let t = spawn_app().await;
    let flow = uuid::Uuid::new_v4();
    let e = expect_error(
        t.post_json(
            "default",
            "/verify",
            &json!({ "flowId": flow, "code": 987_654 }),
        )
        .await,
        400,
        "invalidRequest",
    )
    .await;
    assert!(!e.message.contains("987654"), "{e:?}");
    assert!(e.message.starts_with("code:"), "names the field: {e:?}");
    assert!(
        e.message.contains("integer") && e.message.contains("string"),
        "{e:?}"
    );
}

#[tokio::test]
async fn no_error_repeats_a_submitted_value() {
    let t = spawn_app().await;
    let marker = "<script>alert(1)</script>";
    for body in [
        json!({ "phoneNumber": ANA, marker: 1 }),
        json!({ "phoneNumber": marker }),
        json!({ "phoneNumber": format!("+1425555{marker}") }),
        json!({ "phoneNumber": [marker] }),
        json!({ "phoneNumber": { marker: marker } }),
    ] {
        let res = t.post_json("default", "", &body).await;
        let e = expect_error(res, 400, "invalidRequest").await;
        assert!(!e.message.contains("script"), "{body}: {e:?}");
    }
    let e = expect_error(
        t.post_json("zz-evil-zz", "", &json!({ "phoneNumber": ANA }))
            .await,
        404,
        "tenantNotFound",
    )
    .await;
    assert!(!e.message.contains("evil"), "{e:?}");
}

#[tokio::test]
async fn graph_errors_do_not_repeat_ids_filters_or_names() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["User.ReadWrite.All"]).await;
    let marker = "zz-evil-zz";
    for (method, path, body) in [
        (Method::GET, format!("/v1.0/users/{marker}"), None),
        (
            Method::GET,
            format!("/v1.0/users?$filter=shoeSize eq '{marker}'"),
            None,
        ),
        (
            Method::POST,
            "/v1.0/users".to_string(),
            Some(json!({"userPrincipalName": format!("{marker}"), "displayName": "x"})),
        ),
    ] {
        let (status, headers, body) = call(&t, method, &path, Some(&tok), body).await;
        assert!((400..500).contains(&status), "{path}: {status} {body}");
        assert!(nosniff(&headers));
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty() && !message.contains(marker),
            "{path}: {body}"
        );
    }
}

/// `POST /v1.0/users`.
async fn create(
    t: &crate::oidc_helpers::OidcApp,
    tok: &str,
    upn: &str,
    name: &str,
) -> (u16, Value) {
    let (status, _, body) = call(
        t,
        Method::POST,
        "/v1.0/users",
        Some(tok),
        Some(json!({"userPrincipalName": upn, "displayName": name, "accountEnabled": true})),
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn names_with_control_bidi_or_zero_width_characters_are_refused() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["User.ReadWrite.All"]).await;
    for (upn, name) in [
        ("bo@contoso.example", "Bo\u{1b}[2J"),
        ("bo@contoso.example", "Bo \u{202e}nimda"),
        ("bo@contoso.example", "B\u{200b}o"),
        ("bo@contoso.example", "Bo\u{2066}"),
        ("b\u{200b}o@contoso.example", "Bo"),
        ("bo\u{202e}@contoso.example", "Bo"),
        ("bo\u{1b}@contoso.example", "Bo"),
        ("\u{feff}bo@contoso.example", "Bo"),
    ] {
        let (status, body) = create(&t, &tok, upn, name).await;
        assert_eq!(status, 400, "{upn:?} {name:?}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("characters"), "{body}");
    }
    // Nothing was created.
    let (status, _, body) = call(
        &t,
        Method::GET,
        "/v1.0/users?$filter=userPrincipalName eq 'bo@contoso.example'",
        Some(&tok),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["value"], json!([]));
    // A rename to such a name is refused too.
    let (status, created) = create(&t, &tok, "bo@contoso.example", "Bo").await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, _, _) = call(
        &t,
        Method::PATCH,
        &format!("/v1.0/users/{id}"),
        Some(&tok),
        Some(json!({"displayName": "Bo\u{202e}"})),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn upns_that_only_look_different_are_the_same_user() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["User.ReadWrite.All"]).await;
    let (status, first) = create(&t, &tok, "Zoe@Contoso.Example", "Zoe").await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["userPrincipalName"], "zoe@contoso.example");
    // Fullwidth letters and other case: NFKC and case folding make them one name.
    for twin in ["ＺＯＥ@contoso.example", "ZOE@CONTOSO.EXAMPLE"] {
        let (status, body) = create(&t, &tok, twin, "Impostor").await;
        // Graph answers a taken UPN with 400 and this message.
        assert_eq!(status, 400, "{twin}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("same value for property userPrincipalName"),
            "{body}"
        );
    }
    let (status, _, found) = call(
        &t,
        Method::GET,
        "/v1.0/users?$filter=userPrincipalName eq 'ＺＯＥ@CONTOSO.EXAMPLE'",
        Some(&tok),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(found["value"][0]["id"], first["id"]);
}

#[tokio::test]
async fn an_access_token_issued_in_the_future_is_refused() {
    let t = spawn_oidc().await;
    // A token issued an hour ahead of the server's clock (a node whose clock ran ahead,
    // or a token minted to be replayed later): iat is 3600 s in the future.
    t.clock.advance(chrono::Duration::hours(1));
    let (_, tok) = app_token(&t, &["User.Read.All"]).await;
    t.clock.advance(chrono::Duration::hours(-1));
    let (status, headers, _) = call(&t, Method::GET, "/v1.0/users", Some(&tok), None).await;
    assert_eq!(status, 401);
    assert!(nosniff(&headers));
    // Within the allowed skew (60 s) it is accepted.
    t.clock.advance(chrono::Duration::seconds(3600 - 30));
    let (status, _, body) = call(&t, Method::GET, "/v1.0/users", Some(&tok), None).await;
    assert_eq!(status, 200, "{body}");
}
