//! Graph's group properties and `PATCH /groups/{id}`, a user's `manager` and
//! `directReports`, and `$expand` (issue #17), over real HTTP with an app token.

use reqwest::Method;
use serde_json::{json, Value};

use crate::graph::{app_token, call};
use crate::oidc_helpers::{spawn_oidc, OidcApp};

async fn send(
    t: &OidcApp,
    tok: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, _, body) = call(t, method, path, Some(tok), body).await;
    (status, body)
}

async fn created(t: &OidcApp, tok: &str, path: &str, body: Value) -> String {
    let (status, body) = send(t, tok, Method::POST, path, Some(body)).await;
    assert_eq!(status, 201, "{path}: {body}");
    body["id"].as_str().unwrap().to_owned()
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn group_properties_are_created_patched_filtered_and_checked() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["Group.ReadWrite.All", "User.ReadWrite.All"]).await;
    let ward = created(
        &t,
        &tok,
        "/v1.0/groups",
        json!({
            "displayName": "Ward 7", "description": "Night shift", "mailNickname": "ward7",
            "securityEnabled": false, "mailEnabled": true, "groupTypes": ["Unified"],
        }),
    )
    .await;
    let porters = created(&t, &tok, "/v1.0/groups", json!({"displayName": "Porters"})).await;
    let (_, g) = send(
        &t,
        &tok,
        Method::GET,
        &format!("/v1.0/groups/{porters}"),
        None,
    )
    .await;
    assert_eq!(
        (
            &g["securityEnabled"],
            &g["mailEnabled"],
            &g["groupTypes"],
            &g["description"]
        ),
        (&json!(true), &json!(false), &json!([]), &Value::Null),
        "a group without properties is a security group: {g}"
    );

    let path = format!("/v1.0/groups/{ward}");
    let (status, body) = send(
        &t,
        &tok,
        Method::PATCH,
        &path,
        Some(
            json!({"displayName": "Ward 7 nights", "description": null, "mailNickname": "ward7n"}),
        ),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (_, g) = send(&t, &tok, Method::GET, &path, None).await;
    assert_eq!(g["displayName"], "Ward 7 nights");
    assert_eq!(g["description"], Value::Null);
    assert_eq!(g["mailNickname"], "ward7n");
    assert_eq!(g["groupTypes"], json!(["Unified"]), "untouched");

    // Bad input: 400 naming what to fix, nothing changed.
    for (body, what) in [
        (json!({"visibility": "Private"}), "visibility"),
        (json!({"groupTypes": ["DynamicMembership"]}), "groupTypes"),
        (json!({"mailNickname": "ward 7"}), "mailNickname"),
        (json!({"securityEnabled": "yes"}), "securityEnabled"),
        (json!({"displayName": null}), "displayName"),
    ] {
        let (status, answer) = send(&t, &tok, Method::PATCH, &path, Some(body)).await;
        assert_eq!(status, 400, "{answer}");
        assert!(error_message(&answer).contains(what), "{answer}");
    }
    let (_, after) = send(&t, &tok, Method::GET, &path, None).await;
    assert_eq!(after, g);
    let (status, _) = send(
        &t,
        &tok,
        Method::PATCH,
        "/v1.0/groups/00000000-0000-4000-8000-000000000000",
        Some(json!({"description": "x"})),
    )
    .await;
    assert_eq!(status, 404);

    let names = |v: &Value| {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["displayName"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    for (filter, expected) in [
        ("securityEnabled eq false", vec!["Ward 7 nights"]),
        ("securityEnabled eq true", vec!["Porters"]),
        ("groupTypes/any(c:c eq 'Unified')", vec!["Ward 7 nights"]),
        ("mailNickname eq 'WARD7N'", vec!["Ward 7 nights"]),
    ] {
        let (status, page) = send(
            &t,
            &tok,
            Method::GET,
            &format!("/v1.0/groups?$filter={}", urlencoding(filter)),
            None,
        )
        .await;
        assert_eq!(status, 200, "{filter}: {page}");
        assert_eq!(names(&page), expected, "{filter}");
    }
    let (_, page) = send(
        &t,
        &tok,
        Method::GET,
        "/v1.0/groups?$select=description",
        None,
    )
    .await;
    let first = &page["value"][0];
    assert_eq!(
        first.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["description", "id"]
    );
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_manager_is_set_read_expanded_and_removed() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["Group.ReadWrite.All", "User.ReadWrite.All"]).await;
    let mut ids = Vec::new();
    // UPNs that sort before the fixture's own users.
    for who in ["a1", "a2", "a3"] {
        ids.push(
            created(
                &t,
                &tok,
                "/v1.0/users",
                json!({"userPrincipalName": format!("{who}.x@contoso.example"), "displayName": who}),
            )
            .await,
        );
    }
    let (ana, bo, cy) = (&ids[0], &ids[1], &ids[2]);
    let (status, _) = send(
        &t,
        &tok,
        Method::GET,
        &format!("/v1.0/users/{ana}/manager"),
        None,
    )
    .await;
    assert_eq!(status, 404, "no manager yet");
    for report in [ana, cy] {
        let (status, body) = send(
            &t,
            &tok,
            Method::PUT,
            &format!("/v1.0/users/{report}/manager/$ref"),
            Some(json!({"@odata.id": format!("{}/v1.0/users/{bo}", t.base)})),
        )
        .await;
        assert_eq!(status, 204, "{body}");
    }
    let (_, m) = send(
        &t,
        &tok,
        Method::GET,
        &format!("/v1.0/users/{ana}/manager"),
        None,
    )
    .await;
    assert_eq!(m["id"], bo.as_str());
    let (_, reports) = send(
        &t,
        &tok,
        Method::GET,
        &format!("/v1.0/users/{bo}/directReports"),
        None,
    )
    .await;
    let report_ids: Vec<&str> = reports["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(report_ids, [ana.as_str(), cy.as_str()]);

    // $expand on one user and on the collection; a user without a manager has no property.
    let (_, one) = send(
        &t,
        &tok,
        Method::GET,
        &format!("/v1.0/users/{ana}?$expand=manager($select=id,displayName)"),
        None,
    )
    .await;
    assert_eq!(one["manager"]["displayName"], "a2");
    assert!(one["manager"].get("userPrincipalName").is_none(), "{one}");
    let group = created(&t, &tok, "/v1.0/groups", json!({"displayName": "Nurses"})).await;
    let (status, _) = send(
        &t,
        &tok,
        Method::POST,
        &format!("/v1.0/groups/{group}/members/$ref"),
        Some(json!({"@odata.id": format!("{}/v1.0/directoryObjects/{ana}", t.base)})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, page) = send(
        &t,
        &tok,
        Method::GET,
        "/v1.0/users?$expand=memberOf,manager&$top=2",
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let users = page["value"].as_array().unwrap();
    assert_eq!(users[0]["id"], ana.as_str());
    assert_eq!(users[0]["manager"]["id"], bo.as_str());
    assert_eq!(users[0]["memberOf"][0]["displayName"], "Nurses");
    assert!(
        users[1].get("manager").is_none(),
        "bo has no manager: {page}"
    );
    assert_eq!(users[1]["memberOf"], json!([]));
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("$expand=memberOf%2Cmanager") || next.contains("$expand=memberOf,manager"),
        "{next}"
    );
    let (_, g) = send(
        &t,
        &tok,
        Method::GET,
        &format!("/v1.0/groups/{group}?$expand=members"),
        None,
    )
    .await;
    assert_eq!(g["members"][0]["id"], ana.as_str());

    // Refused, not ignored.
    for bad in [
        "/v1.0/users?$expand=directReports",
        "/v1.0/groups?$expand=memberOf",
        "/v1.0/users?$expand=manager($top=1)",
    ] {
        let (status, body) = send(&t, &tok, Method::GET, bad, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = send(
        &t,
        &tok,
        Method::PUT,
        &format!("/v1.0/users/{bo}/manager/$ref"),
        Some(json!({"@odata.id": format!("{}/v1.0/users/{bo}", t.base)})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body).contains("own manager"), "{body}");
    let (status, _) = send(
        &t,
        &tok,
        Method::PUT,
        &format!("/v1.0/users/{bo}/manager/$ref"),
        Some(json!({"@odata.id": "https://example.test/v1.0/users/00000000-0000-4000-8000-000000000000"})),
    )
    .await;
    assert_eq!(status, 400);

    let (status, _) = send(
        &t,
        &tok,
        Method::DELETE,
        &format!("/v1.0/users/{ana}/manager/$ref"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        &t,
        &tok,
        Method::GET,
        &format!("/v1.0/users/{ana}/manager"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &t,
        &tok,
        Method::DELETE,
        &format!("/v1.0/users/{ana}/manager/$ref"),
        None,
    )
    .await;
    assert_eq!(status, 404, "nothing to remove");
    let audits = t
        .app
        .store()
        .directory_audits(t.tenant.id, &textid_store::LogQuery::latest(100))
        .await
        .unwrap();
    let activities: Vec<&str> = audits.iter().map(|a| a.activity.as_str()).collect();
    assert!(
        activities.contains(&"Set user manager") && activities.contains(&"Remove user manager"),
        "{activities:?}"
    );
}

/// Issue #17: the sign-in log takes Graph's query options over HTTP: filters on the
/// user's name and Entra's error code, order, and paging through `@odata.nextLink`;
/// options a log does not have are refused, not ignored.
#[tokio::test]
async fn the_sign_in_log_is_filtered_ordered_and_paged() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["AuditLog.Read.All"]).await;
    // Five starts through the JSON API: ana's number and four numbers nobody has.
    let start = |phone: &'static str| {
        let (http, url) = (t.http.clone(), t.url("/default/api/v1/sign-in/sms"));
        async move {
            let res = http
                .post(url)
                .json(&json!({"phoneNumber": phone}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
        }
    };
    start(crate::oidc_helpers::ANA).await;
    for phone in [
        "+14255550190",
        "+14255550191",
        "+14255550192",
        "+14255550193",
    ] {
        start(phone).await;
    }
    let get = |path: String| {
        let t = &t;
        let tok = tok.clone();
        async move { send(t, &tok, Method::GET, &path, None).await }
    };
    let (status, all) = get("/v1.0/auditLogs/signIns".into()).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["value"].as_array().unwrap().len(), 5);

    let (_, ok) = get(format!(
        "/v1.0/auditLogs/signIns?$filter={}",
        urlencoding("status/errorCode eq 0")
    ))
    .await;
    let ok = ok["value"].as_array().unwrap();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["userPrincipalName"], "ana@contoso.example");
    let (_, unknown) = get(format!(
        "/v1.0/auditLogs/signIns?$filter={}",
        urlencoding("status/errorCode eq 50034 and startswith(signInIdentifier,'+1425555019')")
    ))
    .await;
    assert_eq!(unknown["value"].as_array().unwrap().len(), 4);
    let (_, named) = get(format!(
        "/v1.0/auditLogs/signIns?$filter={}",
        urlencoding("userPrincipalName eq 'ANA@contoso.example' or userId eq null")
    ))
    .await;
    assert_eq!(named["value"].as_array().unwrap().len(), 5);

    // Oldest first, two a page, every entry once.
    let mut seen = Vec::new();
    let mut next = Some(format!(
        "{}/v1.0/auditLogs/signIns?$orderby=createdDateTime%20asc&$top=2",
        t.base
    ));
    while let Some(url) = next {
        let path = url.strip_prefix(&t.base).unwrap().to_owned();
        let (status, page) = get(path).await;
        assert_eq!(status, 200, "{page}");
        for e in page["value"].as_array().unwrap() {
            seen.push(e["createdDateTime"].as_str().unwrap().to_owned());
        }
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    for bad in [
        "/v1.0/auditLogs/signIns?$filter=displayName%20eq%20'x'",
        "/v1.0/auditLogs/signIns?$filter=status/errorCode%20eq%20'x'",
        "/v1.0/auditLogs/signIns?$select=id",
        "/v1.0/auditLogs/signIns?$search=x",
        "/v1.0/auditLogs/signIns?$orderby=userId",
        "/v1.0/auditLogs/signIns?$skiptoken=nope",
    ] {
        let (status, body) = get(bad.into()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}
