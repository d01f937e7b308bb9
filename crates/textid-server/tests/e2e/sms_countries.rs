//! The SMS country allow-list over Graph (issue #14 §2): `textidAllowedCountryCodes` of
//! the `Sms` method configuration, shown by GET and replaced by PATCH, checked as the CLI
//! checks it, audited with the policy, and obeyed by the sign-in step at once.

use serde_json::{json, Value};
use textid_store::LogQuery;

use crate::graph::{app_token, call};
use crate::oidc_helpers::{spawn_oidc, OidcApp, ANA};

const SMS: &str =
    "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/sms";

async fn get(t: &OidcApp, token: &str) -> Value {
    let (status, _, body) = call(t, reqwest::Method::GET, SMS, Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn patch(t: &OidcApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, _, body) = call(t, reqwest::Method::PATCH, path, Some(token), Some(body)).await;
    (status, body)
}

/// Starts a sign-in for `ANA` and says whether a code went out.
async fn code_sent_to_ana(t: &mut OidcApp) -> bool {
    let res = t
        .http
        .post(t.url("/default/api/v1/sign-in/sms"))
        .json(&json!({ "phoneNumber": ANA }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    !t.deliver().await.is_empty()
}

#[tokio::test]
async fn the_allow_list_is_shown_set_and_cleared_over_graph_and_the_sign_in_obeys_it() {
    let mut t = spawn_oidc().await;
    let (app_id, token) = app_token(
        &t,
        &["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"],
    )
    .await;
    assert_eq!(
        get(&t, &token).await["textidAllowedCountryCodes"],
        Value::Null
    );

    // Regions and calling codes, in any order, repeated: stored sorted, once each.
    let (status, body) = patch(
        &t,
        &token,
        SMS,
        json!({"textidAllowedCountryCodes": ["GB", "+49", "44"]}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        get(&t, &token).await["textidAllowedCountryCodes"],
        json!(["+44", "+49"])
    );
    let (_, _, policy) = call(
        &t,
        reqwest::Method::GET,
        "/v1.0/policies/authenticationMethodsPolicy",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        policy["authenticationMethodConfigurations"][0]["textidAllowedCountryCodes"],
        json!(["+44", "+49"])
    );
    // Ana's +1 number gets no code now; the admin sees why.
    assert!(!code_sent_to_ana(&mut t).await);
    let logs = t
        .app
        .store()
        .sign_in_logs(t.tenant.id, &LogQuery::latest(10))
        .await
        .unwrap();
    assert_eq!(logs[0].failure_reason.as_deref(), Some("countryNotAllowed"));
    // The change is audited, by the app that made it, with the list.
    let audits = t
        .app
        .store()
        .directory_audits(t.tenant.id, &LogQuery::latest(10))
        .await
        .unwrap();
    let entry = audits
        .iter()
        .find(|a| a.activity == "Update authentication methods policy")
        .expect("audited");
    assert_eq!(entry.actor.id, app_id);
    let after = entry.after.as_ref().unwrap();
    assert_eq!(after["sms"]["textidAllowedCountryCodes"], json!([44, 49]));

    // Other properties leave the list alone; null goes back to the default.
    let (status, _) = patch(&t, &token, SMS, json!({"state": "enabled"})).await;
    assert_eq!(status, 204);
    assert_eq!(
        get(&t, &token).await["textidAllowedCountryCodes"],
        json!(["+44", "+49"])
    );
    let (status, _) = patch(&t, &token, SMS, json!({"textidAllowedCountryCodes": null})).await;
    assert_eq!(status, 204);
    assert_eq!(
        get(&t, &token).await["textidAllowedCountryCodes"],
        Value::Null
    );
    assert!(code_sent_to_ana(&mut t).await, "+1 is geographic");
}

#[tokio::test]
async fn a_bad_allow_list_is_refused_without_echoing_it_and_changes_nothing() {
    let t = spawn_oidc().await;
    let (_, token) = app_token(
        &t,
        &["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"],
    )
    .await;
    let (status, _) = patch(
        &t,
        &token,
        SMS,
        json!({"textidAllowedCountryCodes": ["+1"]}),
    )
    .await;
    assert_eq!(status, 204);
    for bad in [
        json!(["ZZ"]),
        json!(["+1", "+999"]),
        json!(["<script>"]),
        json!([]),
        json!("+44"),
        json!([44]),
    ] {
        let (status, body) =
            patch(&t, &token, SMS, json!({"textidAllowedCountryCodes": bad})).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        for echoed in ["ZZ", "999", "script"] {
            assert!(!message.contains(echoed), "{message}");
        }
    }
    assert_eq!(
        get(&t, &token).await["textidAllowedCountryCodes"],
        json!(["+1"]),
        "unchanged"
    );
    // Another method's configuration has no such property.
    let voice = SMS.replace("/sms", "/voice");
    let (status, body) = patch(
        &t,
        &token,
        &voice,
        json!({"textidAllowedCountryCodes": ["+1"]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // Reading is not writing.
    let (_, reader) = app_token(&t, &["Policy.Read.All"]).await;
    let (status, _) = patch(
        &t,
        &reader,
        SMS,
        json!({"textidAllowedCountryCodes": ["+44"]}),
    )
    .await;
    assert_eq!(status, 403);
}
