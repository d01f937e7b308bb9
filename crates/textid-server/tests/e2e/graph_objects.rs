//! Graph endpoints admins' scripts use beyond the collections (issue #17): a user's groups,
//! any directory object by id, the organization, one authentication method by id, sign-in
//! logs by userPrincipalName, and JSON batching with `dependsOn`.

use reqwest::Method;
use serde_json::{json, Value};
use textid_oidc::ClientType;

use crate::graph::{app_token, call};
use crate::oidc_helpers::{spawn_oidc, Authz, OidcApp};

async fn post(t: &OidcApp, tok: &str, path: &str, body: Value) -> Value {
    let (status, _, body) = call(t, Method::POST, path, Some(tok), Some(body)).await;
    assert!((200..300).contains(&status), "{path}: {status} {body}");
    body
}

async fn get(t: &OidcApp, tok: &str, path: &str) -> (u16, Value) {
    let (status, _, body) = call(t, Method::GET, path, Some(tok), None).await;
    (status, body)
}

#[tokio::test]
async fn member_of_directory_objects_organization_and_one_method_by_id() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(
        &t,
        &[
            "User.ReadWrite.All",
            "Group.ReadWrite.All",
            "UserAuthenticationMethod.ReadWrite.All",
        ],
    )
    .await;
    let user = post(
        &t,
        &tok,
        "/v1.0/users",
        json!({"userPrincipalName": "mo@contoso.example", "displayName": "Mo"}),
    )
    .await;
    let uid = user["id"].as_str().unwrap().to_owned();
    let mut gids = Vec::new();
    for name in ["Porters", "Nurses", "Cleaners"] {
        let g = post(&t, &tok, "/v1.0/groups", json!({"displayName": name})).await;
        gids.push(g["id"].as_str().unwrap().to_owned());
    }
    for gid in &gids[..2] {
        let r = json!({"@odata.id": format!("{}/v1.0/directoryObjects/{uid}", t.base)});
        let (status, _, body) = call(
            &t,
            Method::POST,
            &format!("/v1.0/groups/{gid}/members/$ref"),
            Some(&tok),
            Some(r),
        )
        .await;
        assert_eq!(status, 204, "{body}");
    }
    for what in ["memberOf", "transitiveMemberOf"] {
        let (status, body) = get(&t, &tok, &format!("/v1.0/users/{uid}/{what}")).await;
        assert_eq!(status, 200, "{body}");
        let names: Vec<&str> = body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["displayName"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Nurses", "Porters"], "{what}");
    }
    let (_, obj) = get(&t, &tok, &format!("/v1.0/directoryObjects/{uid}")).await;
    assert_eq!(obj["@odata.type"], "#microsoft.graph.user");
    assert_eq!(obj["userPrincipalName"], "mo@contoso.example");
    let (_, obj) = get(&t, &tok, &format!("/v1.0/directoryObjects/{}", gids[2])).await;
    assert_eq!(obj["@odata.type"], "#microsoft.graph.group");
    let (status, _) = get(
        &t,
        &tok,
        &format!("/v1.0/directoryObjects/{}", uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!(status, 404);

    let (status, org) = get(&t, &tok, "/v1.0/organization").await;
    assert_eq!(status, 200, "{org}");
    assert_eq!(org["value"][0]["id"], json!(t.tenant.id));
    assert_eq!(org["value"][0]["displayName"], "default");

    post(
        &t,
        &tok,
        &format!("/v1.0/users/{uid}/authentication/phoneMethods"),
        json!({"phoneNumber": "+1 425 555 0177", "phoneType": "mobile"}),
    )
    .await;
    let mobile = "3179e48a-750b-4051-897c-87b9720928f7";
    let (status, m) = get(
        &t,
        &tok,
        &format!("/v1.0/users/{uid}/authentication/methods/{mobile}"),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        m["@odata.type"],
        "#microsoft.graph.phoneAuthenticationMethod"
    );
    assert_eq!(m["phoneNumber"], "+1 4255550177");
    let office = "e37fc753-ff3b-4958-9484-eaa9425c82bc";
    let (status, _) = get(
        &t,
        &tok,
        &format!("/v1.0/users/{uid}/authentication/methods/{office}"),
    )
    .await;
    assert_eq!(status, 404, "no office method");
}

#[tokio::test]
async fn sign_in_logs_filter_by_user_principal_name() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Confidential, None).await;
    let browser = t.browser();
    t.sign_in(&browser, &rp, &Authz::new("openid")).await;
    let (_, tok) = app_token(&t, &["AuditLog.Read.All", "User.Read.All"]).await;
    let (_, ana) = get(&t, &tok, &format!("/v1.0/users/{}", t.ana.0)).await;
    let upn = ana["userPrincipalName"].as_str().unwrap().to_uppercase();
    let (status, logs) = get(
        &t,
        &tok,
        &format!("/v1.0/auditLogs/signIns?$filter=userPrincipalName eq '{upn}'"),
    )
    .await;
    assert_eq!(status, 200, "{logs}");
    let entries = logs["value"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries.iter().all(|e| e["userId"] == json!(t.ana.0)),
        "{logs}"
    );
    let (status, none) = get(
        &t,
        &tok,
        "/v1.0/auditLogs/signIns?$filter=userPrincipalName eq 'nobody@contoso.example'",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(none["value"], json!([]));
}

#[tokio::test]
async fn a_batch_runs_in_dependency_order_and_fails_dependents_of_a_failure() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["User.ReadWrite.All", "Group.ReadWrite.All"]).await;
    let batch = json!({"requests": [
        {"id": "3", "method": "GET", "url": "/users/bea@contoso.example", "dependsOn": ["1"]},
        {"id": "1", "method": "POST", "url": "/users", "headers": {"Content-Type": "application/json"},
         "body": {"userPrincipalName": "bea@contoso.example", "displayName": "Bea"}},
        {"id": "2", "method": "POST", "url": "users", "body": {"displayName": "x"}},
        {"id": "4", "method": "GET", "url": "/users?$top=1", "dependsOn": ["2"]},
        {"id": "5", "method": "GET", "url": "/users/$count", "headers": {"ConsistencyLevel": "eventual"}},
    ]});
    let body = post(&t, &tok, "/v1.0/$batch", batch).await;
    let by_id = |id: &str| -> Value {
        body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap()
    };
    let ids: Vec<&str> = body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let pos = |id: &str| ids.iter().position(|i| *i == id).unwrap();
    assert!(pos("1") < pos("3"), "{ids:?}");
    assert_eq!(by_id("1")["status"], 201);
    assert_eq!(by_id("3")["status"], 200);
    assert_eq!(by_id("3")["body"]["displayName"], "Bea");
    assert_eq!(by_id("2")["status"], 400, "missing userPrincipalName");
    assert_eq!(by_id("4")["status"], 424);
    assert_eq!(by_id("5")["status"], 200);
    assert!(by_id("5")["body"].as_str().unwrap().parse::<u32>().unwrap() >= 2);

    for (bad, why) in [
        (json!({"requests": []}), "empty"),
        (
            json!({"requests": (0..21).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"})).collect::<Vec<_>>()}),
            "21",
        ),
        (
            json!({"requests": [{"id": "a", "method": "GET", "url": "/users", "dependsOn": ["b"]}, {"id": "b", "method": "GET", "url": "/users", "dependsOn": ["a"]}]}),
            "cycle",
        ),
        (
            json!({"requests": [{"id": "a", "method": "GET", "url": "/users", "dependsOn": ["zz"]}]}),
            "unknown dependency",
        ),
        (
            json!({"requests": [{"id": "a", "method": "POST", "url": "/$batch", "body": {"requests": []}}]}),
            "nested",
        ),
        (
            json!({"requests": [{"id": "a", "method": "GET", "url": "http://127.0.0.1:1/x"}]}),
            "absolute",
        ),
        (
            json!({"requests": [{"id": "a", "method": "TRACE", "url": "/users"}]}),
            "method",
        ),
        (
            json!({"requests": [{"id": "a", "method": "GET", "url": "/users"}, {"id": "a", "method": "GET", "url": "/users"}]}),
            "duplicate ids",
        ),
    ] {
        let (status, _, body) = call(&t, Method::POST, "/v1.0/$batch", Some(&tok), Some(bad)).await;
        assert_eq!(status, 400, "{why}: {body}");
    }
    let (status, _, _) = call(
        &t,
        Method::POST,
        "/v1.0/$batch",
        None,
        Some(json!({"requests": []})),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn profile_properties_are_written_read_selected_filtered_and_checked() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["User.ReadWrite.All"]).await;
    let created = post(
        &t,
        &tok,
        "/v1.0/users",
        json!({
            "userPrincipalName": "kim@contoso.example", "displayName": "Kim Park",
            "givenName": "Kim", "surname": "Park", "jobTitle": "Charge nurse",
            "department": "Ward 7", "usageLocation": "gb", "employeeId": "E1001",
            "mailNickname": "kim", "otherMails": ["kim@home.example"],
            "passwordProfile": {"password": "Ward-Seven-Charge-Nurse", "forceChangePasswordNextSignIn": true}
        }),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    // Graph's default set: names and job title, not department or usageLocation.
    assert_eq!(created["givenName"], "Kim");
    assert_eq!(created["jobTitle"], "Charge nurse");
    assert_eq!(created["mail"], Value::Null);
    assert!(created.get("department").is_none(), "{created}");
    let (_, picked) = get(
        &t,
        &tok,
        &format!("/v1.0/users/{id}?$select=department,usageLocation,otherMails,city"),
    )
    .await;
    assert_eq!(
        picked
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with('@'))
            .cloned()
            .collect::<Vec<_>>(),
        ["city", "department", "id", "otherMails", "usageLocation"]
    );
    assert_eq!(picked["usageLocation"], "GB");
    assert_eq!(picked["city"], Value::Null);
    assert_eq!(picked["otherMails"], json!(["kim@home.example"]));

    let (status, _, body) = call(
        &t,
        Method::PATCH,
        &format!("/v1.0/users/{id}"),
        Some(&tok),
        Some(json!({"jobTitle": null, "city": "Leeds"})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (_, after) = get(&t, &tok, &format!("/v1.0/users/{id}?$select=jobTitle,city")).await;
    assert_eq!(
        (after["jobTitle"].clone(), after["city"].clone()),
        (Value::Null, json!("Leeds"))
    );

    let (_, found) = get(
        &t,
        &tok,
        "/v1.0/users?$filter=department eq 'ward 7' and employeeId eq 'E1001'",
    )
    .await;
    assert_eq!(found["value"].as_array().unwrap().len(), 1, "{found}");
    let (_, found) = get(
        &t,
        &tok,
        "/v1.0/users?$filter=otherMails/any(m:startswith(m,'kim@'))",
    )
    .await;
    assert_eq!(found["value"][0]["id"], json!(id));

    // Bad input: a clear 400 naming the property, and nothing is created or changed.
    for (body, says) in [
        (
            json!({"userPrincipalName": "lee@contoso.example", "displayName": "Lee", "usageLocation": "GBR"}),
            "usageLocation",
        ),
        (
            json!({"userPrincipalName": "lee@contoso.example", "displayName": "Lee", "shoeSize": 9}),
            "shoeSize",
        ),
        (
            json!({"userPrincipalName": "lee@contoso.example", "displayName": "Lee", "mail": "not mail"}),
            "mail",
        ),
        (
            json!({"userPrincipalName": "lee@contoso.example", "displayName": "Lee", "givenName": 7}),
            "givenName",
        ),
    ] {
        let (status, _, err) = call(&t, Method::POST, "/v1.0/users", Some(&tok), Some(body)).await;
        assert_eq!(status, 400, "{err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(says),
            "{err}"
        );
    }
    let (status, _) = get(&t, &tok, "/v1.0/users/lee@contoso.example").await;
    assert_eq!(status, 404, "nothing was created");
    let (status, _, _) = call(
        &t,
        Method::PATCH,
        &format!("/v1.0/users/{id}"),
        Some(&tok),
        Some(json!({"city": "Bradford", "employeeId": "12345678901234567"})),
    )
    .await;
    assert_eq!(status, 400);
    let (_, same) = get(&t, &tok, &format!("/v1.0/users/{id}?$select=city")).await;
    assert_eq!(same["city"], "Leeds", "a refused patch changes nothing");
}

#[tokio::test]
async fn a_group_created_with_members_odata_bind_has_them_and_a_bad_bind_creates_nothing() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["User.ReadWrite.All", "Group.ReadWrite.All"]).await;
    let mut binds = Vec::new();
    for name in ["ida", "jon"] {
        let u = post(
            &t,
            &tok,
            "/v1.0/users",
            json!({"userPrincipalName": format!("{name}@contoso.example"), "displayName": name}),
        )
        .await;
        binds.push(format!(
            "{}/v1.0/directoryObjects/{}",
            t.base,
            u["id"].as_str().unwrap()
        ));
    }
    let g = post(
        &t,
        &tok,
        "/v1.0/groups",
        json!({"displayName": "Night shift", "members@odata.bind": binds}),
    )
    .await;
    let (_, members) = get(
        &t,
        &tok,
        &format!("/v1.0/groups/{}/members", g["id"].as_str().unwrap()),
    )
    .await;
    let upns: Vec<&str> = members["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["userPrincipalName"].as_str().unwrap())
        .collect();
    assert_eq!(upns, ["ida@contoso.example", "jon@contoso.example"]);

    let bad = json!({"displayName": "Day shift", "members@odata.bind": [binds[0].clone(), format!("{}/v1.0/directoryObjects/{}", t.base, uuid::Uuid::new_v4())]});
    let (status, _, body) = call(&t, Method::POST, "/v1.0/groups", Some(&tok), Some(bad)).await;
    assert_eq!(status, 400, "{body}");
    let (_, n) = get(&t, &tok, "/v1.0/groups?$filter=displayName eq 'Day shift'").await;
    assert_eq!(n["value"], json!([]), "nothing was created");
}

/// Issue #15: a Temporary Access Pass is refused for a disabled account (it would be a
/// way around the block), with Graph's `badRequest` and the reason; nothing is stored.
#[tokio::test]
async fn no_temporary_access_pass_for_a_disabled_account() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(
        &t,
        &[
            "User.ReadWrite.All",
            "UserAuthenticationMethod.ReadWrite.All",
        ],
    )
    .await;
    let mut policy = t.app.store().policy(t.tenant.id).await.unwrap();
    policy.temporary_access_pass.state = textid_core::policy::MethodState::Enabled;
    t.app
        .store()
        .put_policy(
            t.tenant.id,
            &policy,
            &textid_store::Actor::cli(),
            t.clock_now(),
        )
        .await
        .unwrap();
    let user = post(
        &t,
        &tok,
        "/v1.0/users",
        json!({"userPrincipalName": "di@contoso.example", "displayName": "Di", "accountEnabled": false}),
    )
    .await;
    let taps = format!(
        "/v1.0/users/{}/authentication/temporaryAccessPassMethods",
        user["id"].as_str().unwrap()
    );
    let (status, _, body) = call(&t, Method::POST, &taps, Some(&tok), Some(json!({}))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "badRequest");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("disabled"), "{message}");
    assert_eq!(get(&t, &tok, &taps).await.1["value"], json!([]));

    // Enabled again, the same request succeeds (the refusal was the account, not the body).
    let (status, _, body) = call(
        &t,
        Method::PATCH,
        &format!("/v1.0/users/{}", user["id"].as_str().unwrap()),
        Some(&tok),
        Some(json!({"accountEnabled": true})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let made = post(&t, &tok, &taps, json!({})).await;
    assert_eq!(made["methodUsabilityReason"], "EnabledByPolicy");
    assert_eq!(made["temporaryAccessPass"].as_str().unwrap().len(), 8);
}
