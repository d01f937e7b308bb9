//! Seed 003 through SCIM and Graph: each of the four rules for a synced user's public and
//! authentication numbers, the copy the uniqueness rule refuses (audited, never failing the
//! sync), cloud users (never copied) and people who hold a directory role (never copied).

use reqwest::Method;
use serde_json::{json, Value};

use super::{scim_app, user, ANA};

#[tokio::test]
async fn seed_003_rule_1_a_public_number_is_copied_into_an_empty_authentication_number() {
    let s = scim_app().await;
    let id = s
        .create(user("cy", Some("+14255550121"), Some("+1 425 555 0122")))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.methods(&id).await,
        [
            ("mobile".into(), "+1 4255550121".into()),
            ("office".into(), "+1 4255550122".into())
        ]
    );
    let copy = s
        .audits()
        .await
        .into_iter()
        .find(|e| e.activity == "Add phone method")
        .unwrap();
    assert_eq!(
        copy.actor.kind, "sync",
        "the copy is audited with the sync as the actor"
    );
    // A user with no public number gets none; a number arriving later is copied then.
    let id = s.create(user("di", None, None)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(s.methods(&id).await.is_empty());
    let a = s.patch(&id, json!([{"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+14255550123"}])).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        s.methods(&id).await,
        [("mobile".into(), "+1 4255550123".into())]
    );
}

#[tokio::test]
async fn seed_003_rule_2_equal_numbers_change_together() {
    let s = scim_app().await;
    let id = s
        .create(user("ed", Some("+14255550131"), Some("+14255550132")))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = s
        .patch(&id, json!([
            {"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+14255550133"},
            {"op": "replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "+14255550134"},
        ]))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        s.methods(&id).await,
        [
            ("mobile".into(), "+1 4255550133".into()),
            ("office".into(), "+1 4255550134".into())
        ]
    );
}

#[tokio::test]
async fn seed_003_rule_3_a_differing_authentication_number_is_left_alone() {
    let s = scim_app().await;
    let id = s.create(user("flo", Some("+14255550141"), None)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // An admin changes the authentication number directly.
    let (status, body) = s
        .graph(
            Method::PATCH,
            &format!(
                "/v1.0/users/{id}/authentication/phoneMethods/3179e48a-750b-4051-897c-87b9720928f7"
            ),
            Some(json!({"phoneNumber": "+14255550142", "phoneType": "mobile"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let a = s
        .patch(&id, json!([{"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+14255550143"}]))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        s.methods(&id).await,
        [("mobile".into(), "+1 4255550142".into())]
    );
    let (_, g) = s
        .graph(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(
        g["mobilePhone"], "+14255550143",
        "the public number changed"
    );
}

#[tokio::test]
async fn seed_003_rule_4_deleting_the_public_number_keeps_the_authentication_number() {
    let s = scim_app().await;
    let id = s
        .create(user("gus", Some("+14255550151"), Some("+14255550152")))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = s
        .patch(
            &id,
            json!([
                {"op": "remove", "path": "phoneNumbers[type eq \"mobile\"]"},
                {"op": "remove", "path": "phoneNumbers[type eq \"work\"]"},
            ]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.get("phoneNumbers").is_none(), "{}", a.body);
    let (_, g) = s
        .graph(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(
        (g["mobilePhone"].clone(), g["businessPhones"].clone()),
        (Value::Null, json!([]))
    );
    assert_eq!(
        s.methods(&id).await,
        [
            ("mobile".into(), "+1 4255550151".into()),
            ("office".into(), "+1 4255550152".into())
        ]
    );
    // An unchanged public number sent again does not re-add a method an admin deleted.
    let (status, _) = s
        .graph(
            Method::DELETE,
            &format!(
                "/v1.0/users/{id}/authentication/phoneMethods/e37fc753-ff3b-4958-9484-eaa9425c82bc"
            ),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let a = s
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(user("gus", Some("+14255550151"), None)),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        s.methods(&id).await,
        [("mobile".into(), "+1 4255550151".into())]
    );
}

#[tokio::test]
async fn a_copy_refused_by_the_uniqueness_rule_leaves_the_method_empty_is_audited_and_never_fails_the_sync(
) {
    let s = scim_app().await;
    // ANA signs in with this number: it cannot become another user's authentication number.
    let a = s
        .call(Method::POST, "/Users", Some(user("hal", Some(ANA), None)))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["id"].as_str().unwrap().to_string();
    assert!(s.methods(&id).await.is_empty());
    let (_, g) = s
        .graph(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(g["mobilePhone"], ANA, "the public number is stored");
    let skipped = s
        .audits()
        .await
        .into_iter()
        .find(|e| e.activity == "Copy public phone number skipped")
        .unwrap();
    assert_eq!(skipped.target_id, id);
    assert_eq!(skipped.actor.kind, "sync");
    let after = skipped.after.unwrap();
    assert_eq!(after["reason"], "phoneNumberNotUnique");
    assert_eq!(after["phoneType"], "mobile");
    assert_eq!(after["conflictingUserId"], json!(s.t.ana));
}

#[tokio::test]
async fn cloud_users_never_get_copies() {
    let s = scim_app().await;
    let (status, body) = s
        .graph(Method::POST, "/v1.0/users", Some(json!({"userPrincipalName": "ivy@contoso.example", "displayName": "Ivy", "mobilePhone": "+14255550161"})))
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(s.methods(body["id"].as_str().unwrap()).await.is_empty());
}

#[tokio::test]
async fn a_sync_never_chooses_the_sign_in_number_of_a_person_who_holds_a_directory_role() {
    let s = scim_app().await;
    let id = s.create(user("root", None, None)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.t.app
        .store()
        .set_user_role(
            s.t.tenant.id,
            id.parse().unwrap(),
            "Global Administrator",
            true,
            &textid_store::Actor::cli(),
            s.t.clock_now(),
        )
        .await
        .unwrap();
    let a = s
        .patch(&id, json!([{"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+14255550191"}]))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(s.methods(&id).await.is_empty(), "no copy for an admin");
    let skipped = s
        .audits()
        .await
        .into_iter()
        .find(|e| e.activity == "Copy public phone number skipped")
        .unwrap();
    assert_eq!(skipped.after.unwrap()["reason"], "userHoldsDirectoryRole");
}

#[tokio::test]
async fn a_write_refused_for_a_taken_user_name_copies_no_number() {
    let s = scim_app().await;
    s.create(user("tia", None, None)).await;
    let id = s.create(user("uma", None, None)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut taken = user("uma", Some("+14255550195"), None);
    taken["userName"] = json!("tia@contoso.example");
    let a = s
        .call(Method::PUT, &format!("/Users/{id}"), Some(taken))
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["scimType"], "uniqueness");
    assert!(s.methods(&id).await.is_empty(), "nothing changed");
    let (_, g) = s
        .graph(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(g["mobilePhone"], Value::Null);
}

/// The report of skipped copies through Graph: (userPrincipalName, phoneType, reason,
/// conflicting userPrincipalName) of each entry, sorted.
async fn skipped_report(
    s: &super::Scim,
    token: &str,
) -> Vec<(String, String, String, Option<String>)> {
    let (status, _, body) = crate::graph::call(
        &s.t,
        Method::GET,
        "/v1.0/reports/skippedPhoneNumberCopies",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut rows: Vec<_> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["userPrincipalName"].as_str().unwrap().to_string(),
                e["phoneType"].as_str().unwrap().to_string(),
                e["reason"].as_str().unwrap().to_string(),
                e["conflictingUserPrincipalName"].as_str().map(String::from),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn the_report_of_skipped_copies_lists_each_conflict_until_it_is_resolved() {
    // Issue #16, seed 003 rule 1: a refused copy "is logged in the audit log and shown in a
    // report"; a later copy, an admin setting the method or the public number going away
    // resolves it.
    let s = scim_app().await;
    let (_, reader) = crate::graph::app_token(
        &s.t,
        &["UserAuthenticationMethod.Read.All", "AuditLog.Read.All"],
    )
    .await;
    let mut ids = Vec::new();
    for name in ["hal", "kim", "lee"] {
        ids.push(
            s.create(user(name, Some(ANA), None)).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let conflict = |name: &str| {
        (
            format!("{name}@contoso.example"),
            "mobile".to_string(),
            "phoneNumberNotUnique".to_string(),
            Some("ana@contoso.example".to_string()),
        )
    };
    assert_eq!(
        skipped_report(&s, &reader).await,
        [conflict("hal"), conflict("kim"), conflict("lee")]
    );
    let (status, _, body) = crate::graph::call(
        &s.t,
        Method::GET,
        "/v1.0/reports/skippedPhoneNumberCopies",
        Some(&s.graph),
        None,
    )
    .await;
    assert_eq!(status, 403, "an audit read: {body}");
    let (_, _, full) = crate::graph::call(
        &s.t,
        Method::GET,
        "/v1.0/reports/skippedPhoneNumberCopies",
        Some(&reader),
        None,
    )
    .await;
    let hal = full["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["userId"] == ids[0].as_str())
        .unwrap();
    assert_eq!(hal["phoneNumber"], "+1 4255550101");
    assert_eq!(hal["conflictingUserId"], json!(s.t.ana));
    assert_eq!(hal["phoneMethodId"], "3179e48a-750b-4051-897c-87b9720928f7");
    assert!(hal["skippedDateTime"].as_str().unwrap().ends_with('Z'));
    assert!(full["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#reports/skippedPhoneNumberCopies"));

    // A later sync with a free number copies it.
    let a = s
        .patch(&ids[0], json!([{"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+14255550181"}]))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        s.methods(&ids[0]).await,
        [("mobile".into(), "+1 4255550181".into())]
    );
    // An admin sets the method.
    let (status, body) = s
        .graph(
            Method::POST,
            &format!("/v1.0/users/{}/authentication/phoneMethods", ids[1]),
            Some(json!({"phoneNumber": "+14255550182", "phoneType": "mobile"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(skipped_report(&s, &reader).await, [conflict("lee")]);
    // The source deletes the public number: nothing is waiting to be copied any more.
    let a = s
        .patch(
            &ids[2],
            json!([{"op": "remove", "path": "phoneNumbers[type eq \"mobile\"]"}]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(skipped_report(&s, &reader).await.is_empty());
}
