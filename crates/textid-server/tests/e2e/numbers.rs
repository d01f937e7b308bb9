//! Issue #16 through the Graph-compatible API: the shared-number report, refuse-shared
//! mode on Graph's phone method writes, honest sign-in logs in Graph's `signIn` shape (the
//! caller's answers staying the same), and synced users read-only in Graph.

use serde_json::{json, Value};
use textid_core::methods::PhoneType;
use textid_store::Actor;
use textid_usecases::directory;
use textid_usecases::import::{import_users, ImportRecord};

use crate::graph::{app_token, call};
use crate::oidc_helpers::{spawn_oidc, OidcApp, ANA};
use reqwest::Method;

const HELD: &str = "+1 425 555 0700";
const OFFICE: &str = "e37fc753-ff3b-4958-9484-eaa9425c82bc";

async fn user(t: &OidcApp, upn: &str) -> textid_core::UserId {
    directory::create_user(&t.app, &t.tenant, upn, upn, &Actor::cli())
        .await
        .unwrap()
        .id
}

async fn graph(
    t: &OidcApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, _, body) = call(t, method, path, Some(token), body).await;
    (status, body)
}

#[tokio::test]
async fn the_shared_number_report_lists_every_number_several_users_hold_with_types_and_states() {
    let t = spawn_oidc().await;
    let (_, admin) = app_token(
        &t,
        &[
            "UserAuthenticationMethod.ReadWrite.All",
            "AuditLog.Read.All",
        ],
    )
    .await;
    let bo = user(&t, "bo@contoso.example").await;
    let cy = user(&t, "cy@contoso.example").await;
    // Bo and Cy share an office number (allowed outside sign-in, as in Entra); Cy also has
    // a mobile of her own, Ana (ready) a mobile of her own: neither is listed.
    for (u, ty, n) in [
        (bo, "office", "+1 425 555 0300 x1"),
        (cy, "mobile", "+1 425 555 0301"),
        (cy, "office", "+1 425 555 0300 x2"),
    ] {
        let (status, body) = graph(
            &t,
            &admin,
            Method::POST,
            &format!("/v1.0/users/{u}/authentication/phoneMethods"),
            Some(json!({"phoneType": ty, "phoneNumber": n})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, report) = graph(
        &t,
        &admin,
        Method::GET,
        "/v1.0/reports/sharedPhoneNumbers",
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert!(report["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#reports/sharedPhoneNumbers"));
    let value = report["value"].as_array().unwrap();
    assert_eq!(value.len(), 1, "{report}");
    assert_eq!(value[0]["phoneNumber"], "+1 4255550300");
    assert_eq!(value[0]["userCount"], 2);
    let holders: Vec<_> = value[0]["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["userId"].as_str().unwrap().to_string(),
                h["userPrincipalName"].as_str().unwrap().to_string(),
                h["phoneMethodId"].as_str().unwrap().to_string(),
                h["phoneNumber"].as_str().unwrap().to_string(),
                h["smsSignInState"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let row = |id: textid_core::UserId, upn: &str, n: &str| {
        (
            id.to_string(),
            upn.to_string(),
            OFFICE.to_string(),
            n.to_string(),
            "notSupported".to_string(),
        )
    };
    assert_eq!(
        holders,
        [
            row(bo, "bo@contoso.example", "+1 4255550300 x1"),
            row(cy, "cy@contoso.example", "+1 4255550300 x2"),
        ]
    );
    // An audit read of method data: both permissions are needed.
    let (_, reader) = app_token(&t, &["UserAuthenticationMethod.Read.All"]).await;
    let (status, body) = graph(
        &t,
        &reader,
        Method::GET,
        "/v1.0/reports/sharedPhoneNumbers",
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AuditLog.Read.All"),
        "{body}"
    );
}

#[tokio::test]
async fn refuse_shared_mode_refuses_graph_adds_and_changes_to_a_held_number_with_409() {
    let t = spawn_oidc().await;
    let (_, admin) = app_token(
        &t,
        &[
            "UserAuthenticationMethod.ReadWrite.All",
            "Policy.ReadWrite.AuthenticationMethod",
        ],
    )
    .await;
    let bo = user(&t, "bo@contoso.example").await;
    // Ana's office phone: held, but not a sign-in number.
    directory::add_phone_method(
        &t.app,
        &t.tenant,
        t.ana,
        PhoneType::Office,
        HELD,
        &Actor::cli(),
    )
    .await
    .unwrap();
    let path = "/v1.0/policies/phoneNumberSharingPolicy";
    let (status, policy) = graph(&t, &admin, Method::GET, path, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        policy["refuseSharedPhoneNumbers"], false,
        "off by default, as in Entra"
    );
    let (status, body) = graph(
        &t,
        &admin,
        Method::PATCH,
        path,
        Some(json!({"refuseSharedPhoneNumbers": "yes"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = graph(
        &t,
        &admin,
        Method::PATCH,
        path,
        Some(json!({"refuseSharedPhoneNumbers": true})),
    )
    .await;
    assert_eq!(status, 204);
    let (_, policy) = graph(&t, &admin, Method::GET, path, None).await;
    assert_eq!(policy["refuseSharedPhoneNumbers"], true);

    // Bo may not take Ana's office number (not even outside sign-in), nor change a number
    // of his own to it.
    let methods = format!("/v1.0/users/{bo}/authentication/phoneMethods");
    let (status, body) = graph(
        &t,
        &admin,
        Method::POST,
        &methods,
        Some(json!({"phoneType": "office", "phoneNumber": HELD})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "phoneNumberShared");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refuses shared phone numbers"),
        "{body}"
    );
    let (status, _) = graph(
        &t,
        &admin,
        Method::POST,
        &methods,
        Some(json!({"phoneType": "office", "phoneNumber": "+1 425 555 0400"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = graph(
        &t,
        &admin,
        Method::PATCH,
        &format!("{methods}/{OFFICE}"),
        Some(json!({"phoneNumber": HELD})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "phoneNumberShared");
    let (_, listed) = graph(&t, &admin, Method::GET, &methods, None).await;
    assert_eq!(
        listed["value"][0]["phoneNumber"], "+1 4255550400",
        "nothing changed"
    );

    // The change is audited with the app as the actor.
    let audits = t
        .app
        .store()
        .directory_audits(t.tenant.id, &textid_store::LogQuery::latest(100))
        .await
        .unwrap();
    assert!(audits
        .iter()
        .any(|a| a.activity == "Update tenant phone number sharing" && a.actor.kind == "app"));
    let (status, _) = graph(
        &t,
        &admin,
        Method::PATCH,
        path,
        Some(json!({"refuseSharedPhoneNumbers": false})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = graph(
        &t,
        &admin,
        Method::PATCH,
        &format!("{methods}/{OFFICE}"),
        Some(json!({"phoneNumber": HELD})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
}

/// A sign-in log entry as the test reads it: number, event, succeeded, errorCode,
/// additionalDetails, userPrincipalName, step result detail.
type Logged = (
    String,
    String,
    bool,
    i64,
    Option<String>,
    Option<String>,
    String,
);

/// The JSON sign-in API: start, verify.
async fn start(t: &OidcApp, phone: &str) -> (u16, Value) {
    let res = t
        .http
        .post(t.url("/default/api/v1/sign-in/sms"))
        .json(&json!({"phoneNumber": phone}))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn verify(t: &OidcApp, flow: &Value, code: &str) -> (u16, Value) {
    let res = t
        .http
        .post(t.url("/default/api/v1/sign-in/sms/verify"))
        .json(&json!({"flowId": flow["flowId"], "code": code}))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn the_sign_in_log_says_what_happened_in_graphs_shape_while_the_caller_sees_the_same() {
    let mut t = spawn_oidc().await;
    let (_, auditor) = app_token(&t, &["AuditLog.Read.All"]).await;
    let bo = user(&t, "bo@contoso.example").await;
    directory::add_phone_method(
        &t.app,
        &t.tenant,
        bo,
        PhoneType::Mobile,
        "+1 425 555 0500",
        &Actor::cli(),
    )
    .await
    .unwrap();
    let mut b = directory::find_user(&t.app, &t.tenant, &bo.to_string())
        .await
        .unwrap();
    b.account_enabled = false;
    directory::update_user(&t.app, &b, &Actor::cli())
        .await
        .unwrap();

    // Ana signs in (after one wrong code); Bo (disabled) and an unknown number try.
    let (s1, ana_flow) = start(&t, ANA).await;
    let code = t.last_code().await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(verify(&t, &ana_flow, wrong).await.0, 400);
    assert_eq!(verify(&t, &ana_flow, &code).await.0, 200);
    let (s2, bo_flow) = start(&t, "+14255550500").await;
    let (s3, nobody_flow) = start(&t, "+14255550599").await;
    assert!(
        t.deliver().await.is_empty(),
        "no SMS for Bo nor the unknown number"
    );
    assert_eq!((s1, s2, s3), (202, 202, 202));
    for f in [&ana_flow, &bo_flow, &nobody_flow] {
        let mut keys: Vec<_> = f.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["expiresInSeconds", "flowId", "resendAfterSeconds"]);
    }
    let (bo_status, bo_answer) = verify(&t, &bo_flow, "123456").await;
    let (nobody_status, nobody_answer) = verify(&t, &nobody_flow, "123456").await;
    assert_eq!((bo_status, nobody_status), (400, 400));
    assert_eq!(bo_answer["error"]["code"], "invalidCode");
    assert_eq!(
        bo_answer, nobody_answer,
        "the caller cannot tell them apart"
    );

    let (status, log) = graph(&t, &auditor, Method::GET, "/v1.0/auditLogs/signIns", None).await;
    assert_eq!(status, 200, "{log}");
    let mut seen: Vec<Logged> = log["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let d = &e["authenticationDetails"][0];
            assert_eq!(d["authenticationMethod"], "Text message");
            assert_eq!(d["authenticationStepRequirement"], "SMS sign-in");
            assert_eq!(e["authenticationRequirement"], "singleFactorAuthentication");
            (
                e["signInIdentifier"].as_str().unwrap().to_string(),
                d["authenticationMethodDetail"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                d["succeeded"].as_bool().unwrap(),
                e["status"]["errorCode"].as_i64().unwrap(),
                e["status"]["additionalDetails"].as_str().map(String::from),
                e["userPrincipalName"].as_str().map(String::from),
                d["authenticationStepResultDetail"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    seen.sort();
    let ana = |event: &str, ok: bool, code: i64, reason: Option<&str>, detail: &str| {
        (
            ANA.to_string(),
            event.to_string(),
            ok,
            code,
            reason.map(String::from),
            Some("ana@contoso.example".to_string()),
            detail.to_string(),
        )
    };
    let bo_row = |event: &str| {
        (
            "+14255550500".to_string(),
            event.to_string(),
            false,
            50057,
            Some("accountDisabled".to_string()),
            Some("bo@contoso.example".to_string()),
            "The user's account is disabled; no code was sent.".to_string(),
        )
    };
    let nobody = |event: &str| {
        (
            "+14255550599".to_string(),
            event.to_string(),
            false,
            50034,
            Some("userNotFound".to_string()),
            None,
            "No user in the tenant has this phone number; no code was sent.".to_string(),
        )
    };
    let mut expected = vec![
        ana("codeRequested", true, 0, None, "SMS verification code sent"),
        ana(
            "codeVerified",
            false,
            50126,
            Some("invalidCode"),
            "Invalid verification code entered by the user.",
        ),
        ana("codeVerified", true, 0, None, "SMS sign-in completed"),
        bo_row("codeRequested"),
        bo_row("codeVerified"),
        nobody("codeRequested"),
        nobody("codeVerified"),
    ];
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_synced_users_source_owned_properties_are_read_only_in_graph_but_its_methods_are_not() {
    let t = spawn_oidc().await;
    let (_, admin) = app_token(
        &t,
        &[
            "User.ReadWrite.All",
            "UserAuthenticationMethod.ReadWrite.All",
        ],
    )
    .await;
    let records = vec![ImportRecord {
        line: 2,
        user_principal_name: "sam@contoso.example".into(),
        display_name: "Sam".into(),
        account_enabled: true,
        on_premises_sync_enabled: true,
        ..ImportRecord::default()
    }];
    import_users(&t.app, &t.tenant, records, &Actor::cli())
        .await
        .unwrap();
    let path = "/v1.0/users/sam@contoso.example";
    let (status, sam) = graph(&t, &admin, Method::GET, path, None).await;
    assert_eq!(status, 200);
    assert_eq!(sam["onPremisesSyncEnabled"], true);
    let (_, ana) = graph(
        &t,
        &admin,
        Method::GET,
        &format!("/v1.0/users/{}", t.ana),
        None,
    )
    .await;
    assert_eq!(
        ana["onPremisesSyncEnabled"],
        Value::Null,
        "a cloud user, as in Graph"
    );

    let (status, body) = graph(&t, &admin, Method::PATCH, path, Some(json!({"displayName": "Samuel", "accountEnabled": false, "mobilePhone": "+1 425 555 0600"}))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    let message = body["error"]["message"].as_str().unwrap();
    for field in ["displayName", "accountEnabled", "mobilePhone"] {
        assert!(message.contains(field), "{message}");
    }
    assert!(
        !message.contains("userPrincipalName"),
        "only what the request changes: {message}"
    );
    let (_, unchanged) = graph(&t, &admin, Method::GET, path, None).await;
    assert_eq!(
        (
            unchanged["displayName"].as_str(),
            unchanged["accountEnabled"].as_bool()
        ),
        (Some("Sam"), Some(true))
    );
    // Writing back what is stored (an SDK sending the whole object) is no change.
    let (status, _) = graph(
        &t,
        &admin,
        Method::PATCH,
        path,
        Some(json!({"displayName": "Sam"})),
    )
    .await;
    assert_eq!(status, 204);
    // The flag itself is read-only, for synced and cloud users, on update and create.
    for (method, p, body) in [
        (
            Method::PATCH,
            path.to_string(),
            json!({"onPremisesSyncEnabled": false}),
        ),
        (
            Method::PATCH,
            format!("/v1.0/users/{}", t.ana),
            json!({"onPremisesSyncEnabled": true}),
        ),
        (
            Method::POST,
            "/v1.0/users".to_string(),
            json!({"userPrincipalName": "x@contoso.example", "displayName": "X", "onPremisesSyncEnabled": true}),
        ),
    ] {
        let (status, answer) = graph(&t, &admin, method, &p, Some(body)).await;
        assert_eq!(status, 400, "{p}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("onPremisesSyncEnabled"),
            "{answer}"
        );
    }
    // Phone methods are cloud data: an admin manages them for a synced user too.
    let (status, body) = graph(
        &t,
        &admin,
        Method::POST,
        &format!(
            "/v1.0/users/{}/authentication/phoneMethods",
            sam["id"].as_str().unwrap()
        ),
        Some(json!({"phoneType": "mobile", "phoneNumber": "+1 425 555 0601"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn nothing_is_ever_texted_to_a_public_number_and_the_log_says_no_user_has_it() {
    // Issue #16 (seed 003): `mobilePhone` is address-book data. A cloud user whose only
    // number is public has no phone method, so a sign-in start with it finds no one.
    let mut t = spawn_oidc().await;
    let (_, admin) = app_token(&t, &["User.ReadWrite.All", "AuditLog.Read.All"]).await;
    let (status, ivy) = graph(
        &t,
        &admin,
        Method::POST,
        "/v1.0/users",
        Some(json!({"userPrincipalName": "ivy@contoso.example", "displayName": "Ivy", "mobilePhone": "+1 425 555 0710"})),
    )
    .await;
    assert_eq!(status, 201, "{ivy}");
    assert_eq!(ivy["mobilePhone"], "+1 425 555 0710");

    let (public_status, public_flow) = start(&t, "+14255550710").await;
    let (unknown_status, unknown_flow) = start(&t, "+14255550799").await;
    assert!(t.deliver().await.is_empty(), "no SMS to a public number");
    assert_eq!((public_status, unknown_status), (202, 202));
    let keys = |f: &Value| {
        let mut k: Vec<String> = f.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&public_flow), keys(&unknown_flow), "the same answer");

    let (status, log) = graph(&t, &admin, Method::GET, "/v1.0/auditLogs/signIns", None).await;
    assert_eq!(status, 200, "{log}");
    let entry = log["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["signInIdentifier"] == "+14255550710")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(entry["status"]["errorCode"], 50034, "{entry}");
    assert_eq!(entry["status"]["additionalDetails"], "userNotFound");
    assert_eq!(entry["userPrincipalName"], Value::Null, "{entry}");
    assert_eq!(
        entry["authenticationDetails"][0]["succeeded"], false,
        "{entry}"
    );
}
