//! `textid user delete|deleted|restore|purge` through the real binary (issue #17): a
//! deleted user is listed, keeps their number reserved, comes back with it, and once
//! purged their number is free.

use super::{cli, cli_json, provision};

#[test]
fn a_deleted_user_is_listed_restored_with_their_number_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ana = provision(d);
    cli_json(d, &["user", "delete", "ana@contoso.example"]);
    let listed = cli_json(d, &["user", "deleted"]);
    assert_eq!(listed["value"][0]["id"], ana.as_str());
    assert!(listed["value"][0]["deletedDateTime"].is_string());
    let (code, _, _) = cli(d, &["user", "show", "ana@contoso.example"]);
    assert_eq!(code, 1, "a deleted user is not in the directory");

    // The number stays Ana's while she can come back.
    cli_json(
        d,
        &[
            "user",
            "create",
            "--upn",
            "bo@contoso.example",
            "--display-name",
            "Bo",
        ],
    );
    let (code, _, err) = cli(
        d,
        &[
            "phone",
            "add",
            "bo@contoso.example",
            "--number",
            "+14255550101",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("deleted user"), "{err}");

    let back = cli_json(d, &["user", "restore", &ana]);
    assert_eq!(back["userPrincipalName"], "ana@contoso.example");
    let phones = cli_json(d, &["phone", "list", "ana@contoso.example"]);
    assert!(phones.to_string().contains("ready"), "{phones}");

    cli_json(d, &["user", "delete", "ana@contoso.example"]);
    cli_json(d, &["user", "purge", &ana]);
    assert_eq!(
        cli_json(d, &["user", "deleted"])["value"],
        serde_json::json!([])
    );
    let (code, _, err) = cli(d, &["user", "restore", &ana]);
    assert_eq!(code, 1);
    assert!(err.contains("not found"), "{err}");
    cli_json(
        d,
        &[
            "phone",
            "add",
            "bo@contoso.example",
            "--number",
            "+14255550101",
        ],
    );
}
