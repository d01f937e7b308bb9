//! Shared numbers and synced users through the real binary (issue #16): `textid phone
//! shared` (table and JSON), refuse-shared mode switched by `textid tenant
//! set-refuse-shared-phone-numbers` and enforced on `textid phone add|update` and
//! `textid import`, and a synced user imported with `onPremisesSyncEnabled` whose profile
//! the CLI refuses to change while its phone methods stay manageable.

use std::path::Path;

use serde_json::json;

use super::{cli, cli_json, init};

fn add(data: &Path, upn: &str, ty: &str, number: &str) -> (i32, String, String) {
    cli(
        data,
        &["phone", "add", upn, "--type", ty, "--number", number],
    )
}

fn user(data: &Path, upn: &str) {
    cli_json(
        data,
        &["user", "create", "--upn", upn, "--display-name", upn],
    );
}

#[test]
fn the_cli_lists_shared_numbers_and_refuses_them_once_the_tenant_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    for u in [
        "ana@contoso.example",
        "bo@contoso.example",
        "cy@contoso.example",
    ] {
        user(&data, u);
    }
    // The SMS method is off: no mobile is switched on for sign-in, so sharing is allowed.
    assert_eq!(
        add(&data, "ana@contoso.example", "mobile", "+14255550101").0,
        0
    );
    assert_eq!(
        add(&data, "bo@contoso.example", "office", "+1 425 555 0101 x9").0,
        0
    );
    assert_eq!(
        add(&data, "cy@contoso.example", "mobile", "+14255550199").0,
        0
    );

    let report = cli_json(&data, &["phone", "shared"]);
    assert_eq!(report["value"].as_array().unwrap().len(), 1, "{report}");
    let n = &report["value"][0];
    assert_eq!(n["phoneNumber"], "+1 4255550101");
    let holders: Vec<_> = n["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["userPrincipalName"].as_str().unwrap(),
                h["phoneType"].as_str().unwrap(),
                h["phoneNumber"].as_str().unwrap(),
                h["smsSignInState"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        holders,
        [
            (
                "ana@contoso.example",
                "mobile",
                "+1 4255550101",
                "notAllowedByPolicy"
            ),
            (
                "bo@contoso.example",
                "office",
                "+1 4255550101 x9",
                "notSupported"
            ),
        ]
    );
    let (code, table, _) = cli(&data, &["phone", "shared"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("+1 4255550101  held by 2 methods"),
        "{table}"
    );
    assert!(
        !table.contains("4255550199"),
        "a number of one's own is not listed: {table}"
    );

    let on = cli_json(
        &data,
        &[
            "tenant",
            "set-refuse-shared-phone-numbers",
            "default",
            "true",
        ],
    );
    assert_eq!(on["refuseSharedPhoneNumbers"], true);
    let shown = cli_json(&data, &["tenant", "show", "default"]);
    assert_eq!(shown["refuseSharedPhoneNumbers"], true);
    // An add and an update to a held number are refused by name, and change nothing.
    let (code, _, err) = add(&data, "cy@contoso.example", "office", "+14255550101");
    assert_ne!(code, 0);
    assert!(err.contains("refuses shared phone numbers"), "{err}");
    let (code, _, err) = cli(
        &data,
        &[
            "phone",
            "update",
            "cy@contoso.example",
            "--number",
            "+14255550101",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("refuses shared phone numbers"), "{err}");
    let cy = cli_json(&data, &["phone", "list", "cy@contoso.example"]);
    assert_eq!(cy["value"][0]["phoneNumber"], "+1 4255550199");
    // An import of a held number is refused whole, naming the line and the rule.
    let file = dir.path().join("more.csv");
    std::fs::write(
        &file,
        "userPrincipalName,displayName,office\n\
         di@contoso.example,Di,+1 425 555 0300\n\
         ed@contoso.example,Ed,+14255550199\n",
    )
    .unwrap();
    let (code, _, err) = cli(&data, &["import", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 3: phoneNumberShared"), "{err}");
    let (code, _, _) = cli(&data, &["user", "show", "di@contoso.example"]);
    assert_ne!(code, 0, "nothing of the file was imported");

    // Switched off: sharing outside SMS sign-in is allowed again.
    let off = cli_json(
        &data,
        &[
            "tenant",
            "set-refuse-shared-phone-numbers",
            "default",
            "false",
        ],
    );
    assert_eq!(off["refuseSharedPhoneNumbers"], false);
    assert_eq!(
        add(&data, "cy@contoso.example", "office", "+14255550101").0,
        0
    );
}

#[test]
fn a_synced_users_profile_is_read_only_in_the_cli_but_its_phone_methods_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let file = dir.path().join("hr.jsonl");
    std::fs::write(
        &file,
        "{\"userPrincipalName\":\"ana@contoso.example\",\"displayName\":\"Ana\",\"onPremisesSyncEnabled\":true}\n\
         {\"userPrincipalName\":\"bo@contoso.example\",\"displayName\":\"Bo\"}\n",
    )
    .unwrap();
    assert_eq!(
        cli_json(&data, &["import", file.to_str().unwrap()]),
        json!({"imported": 2, "tenant": "default"})
    );
    let ana = cli_json(&data, &["user", "show", "ana@contoso.example"]);
    assert_eq!(ana["onPremisesSyncEnabled"], true);
    let bo = cli_json(&data, &["user", "show", "bo@contoso.example"]);
    assert_eq!(bo["onPremisesSyncEnabled"], serde_json::Value::Null);

    let (code, _, err) = cli(&data, &["user", "disable", "ana@contoso.example"]);
    assert_ne!(code, 0);
    assert!(err.contains("accountEnabled"), "{err}");
    assert!(err.contains("source directory"), "{err}");
    let ana = cli_json(&data, &["user", "show", "ana@contoso.example"]);
    assert_eq!(ana["accountEnabled"], true, "nothing changed");
    // A cloud user is changed as before; the synced user's phone methods are cloud data.
    assert_eq!(cli(&data, &["user", "disable", "bo@contoso.example"]).0, 0);
    assert_eq!(
        add(&data, "ana@contoso.example", "mobile", "+14255550101").0,
        0
    );
}

#[test]
fn the_cli_refuses_to_delete_a_synced_user_which_its_source_deletes() {
    // Issue #16: Entra refuses to delete synced objects in the cloud.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let file = dir.path().join("hr.jsonl");
    std::fs::write(
        &file,
        "{\"userPrincipalName\":\"ana@contoso.example\",\"displayName\":\"Ana\",\"onPremisesSyncEnabled\":true}\n\
         {\"userPrincipalName\":\"bo@contoso.example\",\"displayName\":\"Bo\"}\n",
    )
    .unwrap();
    cli_json(&data, &["import", file.to_str().unwrap()]);
    let (code, _, err) = cli(&data, &["user", "delete", "ana@contoso.example"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("source directory"), "{err}");
    let ana = cli_json(&data, &["user", "show", "ana@contoso.example"]);
    assert_eq!(ana["onPremisesSyncEnabled"], true, "still there");
    assert_eq!(cli(&data, &["user", "delete", "bo@contoso.example"]).0, 0);
}

#[tokio::test]
async fn the_cli_lists_the_public_numbers_a_sync_could_not_copy() {
    // Issue #16, seed 003 rule 1: the conflict is "shown in a report".
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    super::provision(&data); // Ana signs in with +1 425 555 0101.
    let empty = cli_json(&data, &["phone", "skipped-copies"]);
    assert_eq!(empty, json!({"value": []}));
    let hr = cli_json(
        &data,
        &[
            "client",
            "create",
            "--name",
            "HR sync",
            "--grant",
            "client_credentials",
            "--role",
            "Provisioning.ReadWrite.All",
        ],
    );
    let sms = super::receiver(axum::http::StatusCode::OK).await;
    let server = super::serve(&data, &sms.url).await;
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/default/oauth2/v2.0/token", server.base))
        .basic_auth(
            hr["clientId"].as_str().unwrap(),
            hr["clientSecret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = http
        .post(format!("{}/default/scim/v2/Users", server.base))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .header("content-type", "application/scim+json")
        .body(
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "rosa@contoso.example",
                "displayName": "Rosa",
                "phoneNumbers": [{"type": "mobile", "value": "+1 425 555 0101"}],
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);

    let report = cli_json(&data, &["phone", "skipped-copies"]);
    let rows = report["value"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{report}");
    let r = &rows[0];
    assert_eq!(r["userPrincipalName"], "rosa@contoso.example");
    assert_eq!(r["phoneType"], "mobile");
    assert_eq!(r["phoneNumber"], "+1 4255550101");
    assert_eq!(r["reason"], "phoneNumberNotUnique");
    assert_eq!(r["conflictingUserPrincipalName"], "ana@contoso.example");
    let (code, table, err) = cli(&data, &["phone", "skipped-copies"]);
    assert_eq!(code, 0, "{err}");
    for part in [
        "rosa@contoso.example",
        "mobile",
        "+1 4255550101",
        "phoneNumberNotUnique",
        "held by ana@contoso.example",
    ] {
        assert!(table.contains(part), "{part}: {table}");
    }
    // An admin sets Rosa's method: nothing is waiting any more.
    assert_eq!(
        add(&data, "rosa@contoso.example", "mobile", "+14255550177").0,
        0
    );
    assert_eq!(
        cli_json(&data, &["phone", "skipped-copies"]),
        json!({"value": []})
    );
}
