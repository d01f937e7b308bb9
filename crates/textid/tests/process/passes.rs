//! `textid tap create|show|delete` through the real binary (issue #15): a pass is issued
//! on the policy's terms and printed once, shown without the pass, deleted; a disabled
//! account, a user outside the policy and terms outside its bounds are refused with the
//! reason, and nothing changes.

use serde_json::Value;

use super::{cli, cli_json, provision};

#[test]
fn passes_are_issued_on_the_policys_terms_shown_without_the_pass_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    provision(d);
    let ana = "ana@contoso.example";

    // The method is off by default: refused, nothing stored.
    let (code, _, err) = cli(d, &["tap", "create", ana]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not enabled for this user"), "{err}");
    assert_eq!(cli_json(d, &["tap", "show", ana]), Value::Null);

    cli_json(d, &["policy", "tap", "--state", "enabled"]);
    let made = cli_json(d, &["tap", "create", ana, "--lifetime", "120", "--once"]);
    let pass = made["temporaryAccessPass"].as_str().unwrap().to_string();
    assert_eq!(pass.len(), 8, "the policy's default length");
    assert_eq!(made["lifetimeInMinutes"], 120);
    assert_eq!(made["isUsableOnce"], true);
    assert_eq!(made["methodUsabilityReason"], "EnabledByPolicy");

    // Shown later without the pass.
    let shown = cli_json(d, &["tap", "show", ana]);
    assert_eq!(shown["id"], made["id"]);
    assert_eq!(shown["temporaryAccessPass"], Value::Null);
    let (code, human, _) = cli(d, &["tap", "show", ana]);
    assert_eq!(code, 0);
    assert!(!human.contains(&pass), "the pass is never shown again");
    assert!(
        human.contains("one-time") && human.contains("EnabledByPolicy"),
        "{human}"
    );

    // Out of the policy's bounds (60–480 minutes by default): refused, the pass stays.
    let (code, _, err) = cli(d, &["tap", "create", ana, "--lifetime", "600"]);
    assert_eq!(code, 1);
    assert!(err.contains("between 60 and 480"), "{err}");
    cli_json(d, &["policy", "tap", "--usable-once", "true"]);
    let (code, _, err) = cli(d, &["tap", "create", ana, "--multi-use"]);
    assert_eq!(code, 1);
    assert!(err.contains("one-time passes"), "{err}");
    assert_eq!(cli_json(d, &["tap", "show", ana])["id"], made["id"]);

    // A disabled account gets no pass.
    cli_json(d, &["user", "disable", ana]);
    let (code, _, err) = cli(d, &["tap", "create", ana]);
    assert_eq!(code, 1);
    assert!(err.contains("disabled"), "{err}");
    assert_eq!(cli_json(d, &["tap", "show", ana])["id"], made["id"]);

    let gone = cli_json(d, &["tap", "delete", ana]);
    assert_eq!(gone["deleted"], true);
    assert_eq!(cli_json(d, &["tap", "show", ana]), Value::Null);
    let (code, _, err) = cli(d, &["tap", "delete", ana]);
    assert_eq!(code, 1, "nothing to delete");
    assert!(err.contains("not found"), "{err}");
}
