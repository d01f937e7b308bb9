//! Revocation through the real binary (issue #14 §4): `textid user revoke-sessions` ends
//! a session a running server had issued; `textid client disable|enable|delete` and
//! `textid client secret rotate` take effect on the running server at once, its tokens
//! and its secrets included.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{cli, cli_json, code_of, post, provision, receiver, serve, Server};

/// Introspects `token` as the app `(id, secret)`.
async fn introspect(server: &Server, (id, secret): (&str, &str), token: &str) -> Value {
    let res = reqwest::Client::new()
        .post(format!("{}/default/api/v1/session", server.base))
        .basic_auth(id, Some(secret))
        .json(&json!({ "sessionToken": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn user_revoke_sessions_ends_the_api_session_a_running_server_issued() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let user_id = provision(d);
    let mut sms = receiver(StatusCode::OK).await;
    let server = serve(d, &sms.url).await;
    let (id, secret) = admin_app(d);
    let app = (id.as_str(), secret.as_str());
    let (status, started) = post(&server.base, "", json!({"phoneNumber": "+14255550101"})).await;
    assert_eq!(status, 202, "{started}");
    let code = code_of(&sms.next().await.1);
    let (status, session) = post(
        &server.base,
        "/verify",
        json!({"flowId": started["flowId"], "code": code, "clientId": id}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let token = session["sessionToken"].as_str().unwrap();
    assert_eq!(introspect(&server, app, token).await["active"], true);

    let done = cli_json(d, &["user", "revoke-sessions", "ana@contoso.example"]);
    assert_eq!(done, json!({"userId": user_id, "value": true}));
    assert_eq!(
        introspect(&server, app, token).await,
        json!({"active": false})
    );
    // An unknown user is an error, and says so.
    let (code, _, err) = cli(d, &["user", "revoke-sessions", "nobody@contoso.example"]);
    assert_ne!(code, 0);
    assert!(err.contains("not found"), "{err}");
}

/// `previousSecretValidUntil` of a rotation.
fn until(rotated: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(rotated["previousSecretValidUntil"].as_str().unwrap())
        .unwrap()
}

/// An app of the admin API, registered with the CLI: (client id, secret).
fn admin_app(d: &std::path::Path) -> (String, String) {
    let app = cli_json(
        d,
        &[
            "client",
            "create",
            "--name",
            "Automation",
            "--grant",
            "client_credentials",
            "--role",
            "User.Read.All",
        ],
    );
    (
        app["clientId"].as_str().unwrap().into(),
        app["clientSecret"].as_str().unwrap().into(),
    )
}

/// A client-credentials token request: the status and, on success, the access token.
async fn token(server: &Server, id: &str, secret: &str) -> (u16, Option<String>) {
    let res = reqwest::Client::new()
        .post(format!("{}/default/oauth2/v2.0/token", server.base))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    (status, body["access_token"].as_str().map(String::from))
}

async fn users(server: &Server, access: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/v1.0/users", server.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn client_disable_enable_and_delete_take_effect_on_the_running_server_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    provision(d);
    let sms = receiver(StatusCode::OK).await;
    let server = serve(d, &sms.url).await;
    let (id, secret) = admin_app(d);
    let (status, access) = token(&server, &id, &secret).await;
    assert_eq!(status, 200);
    let access = access.unwrap();
    assert_eq!(users(&server, &access).await, 200);

    let disabled = cli_json(d, &["client", "disable", &id]);
    assert_eq!(disabled["accountEnabled"], false);
    assert_eq!(token(&server, &id, &secret).await, (401, None));
    assert_eq!(users(&server, &access).await, 401, "its token is refused");

    let enabled = cli_json(d, &["client", "enable", &id]);
    assert_eq!(enabled["accountEnabled"], true);
    let (status, again) = token(&server, &id, &secret).await;
    assert_eq!(status, 200);
    assert_eq!(users(&server, &again.unwrap()).await, 200);

    assert_eq!(
        cli_json(d, &["client", "delete", &id]),
        json!({"deleted": id})
    );
    assert_eq!(token(&server, &id, &secret).await, (401, None));
    assert_eq!(users(&server, &access).await, 401);
    let list = cli_json(d, &["client", "list"]);
    assert_eq!(list["value"], json!([]));
    let (code, _, err) = cli(d, &["client", "disable", &id]);
    assert_ne!(code, 0, "a deleted app is gone");
    assert!(err.contains("not found"), "{err}");
}

#[tokio::test]
async fn client_secret_rotate_keeps_the_old_secret_for_the_overlap_and_zero_ends_it_now() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    provision(d);
    let sms = receiver(StatusCode::OK).await;
    let server = serve(d, &sms.url).await;
    let (id, first) = admin_app(d);

    // The configured overlap (24 h by default): both secrets work.
    let rotated = cli_json(d, &["client", "secret", "rotate", &id]);
    let second = rotated["clientSecret"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let default_until = until(&rotated);
    assert_eq!(token(&server, &id, &first).await.0, 200, "old, in overlap");
    assert_eq!(token(&server, &id, &second).await.0, 200, "new");

    // An explicit overlap is honoured: 600 s instead of a day (the two rotations are
    // seconds apart, so their ends differ by about a day less 600 s).
    let rotated = cli_json(
        d,
        &[
            "client",
            "secret",
            "rotate",
            &id,
            "--overlap-seconds",
            "600",
        ],
    );
    let third = rotated["clientSecret"].as_str().unwrap().to_string();
    let gap = (default_until - until(&rotated)).num_seconds();
    assert!((86_400 - 600 - 60..=86_400 - 600).contains(&gap), "{gap}");
    assert_eq!(token(&server, &id, &second).await.0, 200, "old, in overlap");
    assert_eq!(token(&server, &id, &third).await.0, 200);
    assert_eq!(
        token(&server, &id, &first).await,
        (401, None),
        "one previous secret at a time"
    );

    // --overlap-seconds 0: the previous secret stops at once.
    let rotated = cli_json(
        d,
        &["client", "secret", "rotate", &id, "--overlap-seconds", "0"],
    );
    let fourth = rotated["clientSecret"].as_str().unwrap();
    assert_eq!(token(&server, &id, &third).await, (401, None));
    assert_eq!(token(&server, &id, &second).await, (401, None));
    assert_eq!(token(&server, &id, fourth).await.0, 200);

    // Beyond 30 days: a usage error, nothing changes.
    let (code, _, err) = cli(
        d,
        &[
            "client",
            "secret",
            "rotate",
            &id,
            "--overlap-seconds",
            "2592001",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at most 2592000"), "{err}");
    assert_eq!(token(&server, &id, fourth).await.0, 200, "nothing changed");
}
