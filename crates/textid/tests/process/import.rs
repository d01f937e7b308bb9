//! `textid import` through the real binary (issue #20's bulk provisioning): a file of
//! users with numbers becomes users who sign in at once; a file with problems is refused
//! whole, every problem named by line, and changes nothing.

use std::path::Path;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{cli, cli_json, code_of, init, post, receiver, serve};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn audit_count(data: &Path) -> usize {
    cli_json(data, &["logs", "audits", "--limit", "1000"])["value"]
        .as_array()
        .unwrap()
        .len()
}

fn states(data: &Path, upn: &str) -> Vec<(String, String, String)> {
    cli_json(data, &["phone", "list", upn])["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap().to_string();
            (s("phoneType"), s("phoneNumber"), s("smsSignInState"))
        })
        .collect()
}

#[tokio::test]
async fn imported_users_sign_in_with_their_imported_numbers_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    cli_json(&data, &["policy", "sms", "--state", "enabled"]);
    let file = write(
        dir.path(),
        "staff.csv",
        "userPrincipalName,displayName,mobile,alternateMobile,office,accountEnabled\n\
         ana@contoso.example,Ana,+1 (425) 555-0101,+14255550102,+1 425 555 0103 x7,\n\
         \"bo@contoso.example\",\"Bo, night shift\",+14255550201,,,false\n",
    );
    let out = cli_json(&data, &["import", &file]);
    assert_eq!(out, json!({"imported": 2, "tenant": "default"}));
    assert_eq!(
        states(&data, "ana@contoso.example"),
        [
            ("mobile".into(), "+1 4255550101".into(), "ready".into()),
            (
                "alternateMobile".into(),
                "+1 4255550102".into(),
                "notSupported".into()
            ),
            (
                "office".into(),
                "+1 4255550103 x7".into(),
                "notSupported".into()
            ),
        ]
    );
    let bo = cli_json(&data, &["user", "show", "bo@contoso.example"]);
    assert_eq!(bo["displayName"], "Bo, night shift");
    assert_eq!(bo["accountEnabled"], false);
    // One audit record per user and per method, with the CLI as the actor.
    assert_eq!(
        audit_count(&data),
        2 + 4 + 1,
        "two users, four methods, the policy"
    );

    let mut sms = receiver(StatusCode::OK).await;
    let server = serve(&data, &sms.url).await;
    let (status, started) = post(&server.base, "", json!({"phoneNumber": "+14255550101"})).await;
    assert_eq!(status, 202, "{started}");
    let (_, message) = sms.next().await;
    let (status, session) = post(
        &server.base,
        "/verify",
        json!({"flowId": started["flowId"], "code": code_of(&message)}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let ana = cli_json(&data, &["user", "show", "ana@contoso.example"]);
    assert_eq!(session["userId"], ana["id"], "{session}");
}

#[test]
fn mobiles_are_enabled_for_sms_sign_in_only_where_the_policy_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    // The default policy has SMS off: the number is stored, not enabled.
    let file = write(
        dir.path(),
        "a.jsonl",
        "{\"userPrincipalName\":\"ana@contoso.example\",\"displayName\":\"Ana\",\"mobile\":\"+14255550101\"}\n",
    );
    cli_json(&data, &["import", &file]);
    assert_eq!(
        states(&data, "ana@contoso.example")[0],
        (
            "mobile".into(),
            "+1 4255550101".into(),
            "notAllowedByPolicy".into()
        )
    );
}

#[test]
fn a_file_with_problems_is_refused_whole_with_every_problem_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    cli_json(&data, &["policy", "sms", "--state", "enabled"]);
    cli_json(
        &data,
        &[
            "user",
            "create",
            "--upn",
            "taken@contoso.example",
            "--display-name",
            "T",
        ],
    );
    let before = audit_count(&data);
    let file = write(
        dir.path(),
        "staff.jsonl",
        "{\"userPrincipalName\":\"ok@contoso.example\",\"displayName\":\"Ok\",\"mobile\":\"+14255550101\"}\n\
         \n\
         {\"userPrincipalName\":\"Taken@contoso.example\",\"displayName\":\"Dup\"}\n\
         {\"userPrincipalName\":\"not-an-upn\",\"displayName\":\"X\"}\n\
         {\"userPrincipalName\":\"n@contoso.example\",\"displayName\":\"N\",\"mobile\":\"+1425\"}\n\
         {\"userPrincipalName\":\"same@contoso.example\",\"displayName\":\"S\",\"office\":\"+14255550101\"}\n\
         {\"userPrincipalName\":\"alt@contoso.example\",\"displayName\":\"A\",\"alternateMobile\":\"+14255550109\"}\n",
    );
    let (code, out, err) = cli(&data, &["import", &file]);
    assert_eq!(code, 1, "{out}{err}");
    for want in [
        "2 row(s) refused; nothing was imported",
        "line 4: invalidUserPrincipalName:",
        "line 5: phoneNumberNotPossible: mobile:",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    // Rows that parse are then checked as a batch: the taken UPN, the number line 1
    // enables for sign-in, an alternateMobile without a mobile.
    let fixed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("not-an-upn", "fine@contoso.example")
        .replace("+1425\"", "+14255550105\"");
    let file = write(dir.path(), "staff.jsonl", &fixed);
    let (code, _, err) = cli(&data, &["import", &file]);
    assert_eq!(code, 1, "{err}");
    for want in [
        "3 row(s) refused; nothing was imported",
        "line 3: upnInUse:",
        "line 6: phoneNumberNotUnique: office:",
        "line 7: mobileRequired: alternateMobile:",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    let users: Vec<Value> = cli_json(&data, &["user", "list"])["value"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(users.len(), 1, "nothing imported: {users:?}");
    assert_eq!(audit_count(&data), before);
}

#[test]
fn unreadable_input_is_refused_with_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let cases = [
        (
            "a.csv",
            "userPrincipalName,displayName,pager\n",
            "line 1: unknownColumn: pager",
        ),
        (
            "b.csv",
            "userPrincipalName,displayName,accountEnabled\na@contoso.example,A,maybe\n",
            "line 2: invalidRow: accountEnabled must be true or false",
        ),
        (
            "c.csv",
            "userPrincipalName,displayName\na@contoso.example\n",
            "invalidRow",
        ),
        (
            "d.jsonl",
            "{\"userPrincipalName\":\"a@contoso.example\",\"displayName\":\"A\",\"pager\":\"1\"}\n",
            "line 1: invalidRow: not a JSON object of the import fields: unknown field `pager`",
        ),
        ("e.jsonl", "\n", "the input holds no users"),
        ("f.txt", "", "pass --format csv or --format jsonl"),
    ];
    for (name, text, want) in cases {
        let file = write(dir.path(), name, text);
        let (code, out, err) = cli(&data, &["import", &file]);
        assert_eq!(code, 1, "{name}: {out}{err}");
        assert!(err.contains(want), "{name}: {err}");
    }
    let (code, _, err) = cli(&data, &["import", "--format", "csv", "/nonexistent/x"]);
    assert_eq!(code, 1);
    assert!(err.contains("reading /nonexistent/x"), "{err}");
    assert!(cli_json(&data, &["user", "list"])["value"]
        .as_array()
        .unwrap()
        .is_empty());
}
