//! The operator's side of the abuse defences through the real binary, on a real SQLite
//! file (issue #14): locks made by wrong codes at a real server are listed and cleared,
//! a conversion-watch pause is shown and resumed, test numbers and the country allow-list
//! are kept, and the phone views say why no code goes to a number. Bad input exits 1
//! with a stable code and changes nothing.

use serde_json::{json, Value};

use super::{cli, cli_json, code_of, post, provision, receiver, serve_with};
use axum::http::StatusCode;

const ANA: &str = "ana@contoso.example";
const NUMBER: &str = "+14255550101";

/// A code that is certainly not `code`.
fn wrong(code: &str) -> String {
    let mut digits: Vec<u32> = code.chars().filter_map(|c| c.to_digit(10)).collect();
    digits[0] = (digits[0] + 1) % 10;
    digits.iter().map(ToString::to_string).collect()
}

fn audits(data: &std::path::Path) -> Vec<Value> {
    cli_json(data, &["logs", "audits"])["value"]
        .as_array()
        .unwrap()
        .clone()
}

/// Runs a command that must be refused: exit 1, the stable code in the message.
fn refused(data: &std::path::Path, args: &[&str], code: &str) {
    let (status, _, err) = cli(data, args);
    assert_eq!(status, 1, "{args:?}: {err}");
    assert!(err.contains(code), "{args:?}: {err}");
}

#[tokio::test]
async fn a_lock_made_by_wrong_codes_is_listed_in_full_and_cleared_with_an_audit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    provision(d);
    let mut sms = receiver(StatusCode::OK).await;
    let env = [
        ("TEXTID_FAILURES_BEFORE_LOCK", "2"),
        ("TEXTID_CLIENT_FAILURES_BEFORE_LOCK", "2"),
    ];
    let server = serve_with(d, &sms.url, &env).await;
    let (status, started) = post(&server.base, "", json!({"phoneNumber": NUMBER})).await;
    assert_eq!(status, 202, "{started}");
    let code = code_of(&sms.next().await.1);
    for _ in 0..2 {
        let body = json!({"flowId": started["flowId"], "code": wrong(&code)});
        let (status, _) = post(&server.base, "/verify", body).await;
        assert_ne!(status, 200);
    }

    let locks = cli_json(d, &["lock", "list"])["value"].clone();
    let locks = locks.as_array().unwrap();
    assert!(!locks.is_empty(), "{locks:?}");
    assert!(
        locks.iter().all(|l| l["phoneNumber"] == NUMBER),
        "{locks:?}"
    );
    assert!(
        locks.iter().any(|l| l["clientIp"].is_null()),
        "the number's lock: {locks:?}"
    );
    let (_, human, _) = cli(d, &["lock", "list"]);
    assert!(human.contains(NUMBER), "in full for the operator: {human}");
    let status = cli_json(d, &["abuse", "status"]);
    assert_eq!(status["locks"], json!(locks.len()));

    // Bad input and nothing to clear: refused, nothing changed, nothing audited.
    let before = audits(d).len();
    refused(d, &["lock", "clear", "+1 425"], "invalidPhoneNumber");
    refused(d, &["lock", "clear", "+1 425 555 0199"], "notFound");
    assert_eq!(
        cli_json(d, &["lock", "list"])["value"]
            .as_array()
            .unwrap()
            .len(),
        locks.len()
    );
    assert_eq!(audits(d).len(), before);

    let cleared = cli_json(d, &["lock", "clear", "+1 (425) 555-0101"]);
    assert_eq!(cleared, json!({"phoneNumber": NUMBER, "cleared": true}));
    assert_eq!(cli_json(d, &["lock", "list"])["value"], json!([]));
    let audit = &audits(d)[0];
    assert_eq!(
        (&audit["activity"], &audit["targetId"]),
        (&json!("Clear sign-in lock"), &json!(NUMBER))
    );
    refused(d, &["lock", "clear", NUMBER], "notFound");

    // Cleared: the owner signs in.
    let (status, started) = post(&server.base, "", json!({"phoneNumber": NUMBER})).await;
    assert_eq!(status, 202);
    let code = code_of(&sms.next().await.1);
    let (status, _) = post(
        &server.base,
        "/verify",
        json!({"flowId": started["flowId"], "code": code}),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_conversion_pause_is_shown_with_the_budgets_noted_on_the_phone_and_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    provision(d);
    let mut sms = receiver(StatusCode::OK).await;
    // One code sent and none verified pauses the prefix at the next start.
    let env = [("TEXTID_CONVERSION_MIN_SENDS_PREFIX", "1")];
    let server = serve_with(d, &sms.url, &env).await;
    let (status, _) = post(&server.base, "", json!({"phoneNumber": NUMBER})).await;
    assert_eq!(status, 202);
    sms.next().await;
    let (status, _) = post(&server.base, "", json!({"phoneNumber": NUMBER})).await;
    assert_eq!(status, 202, "a pause answers like a normal start");

    let status = cli_json(d, &["abuse", "status"]);
    assert_eq!(status["pauses"][0]["key"], "prefix:+1425555", "{status}");
    assert!(status["pauses"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("1 codes sent and 0 verified"));
    let budget = |name: &str, subject: &str| {
        status["budgets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["budget"] == name && b["subject"] == subject)
            .cloned()
            .unwrap_or_else(|| panic!("{name} {subject}: {status}"))
    };
    assert_eq!(budget("prefix", "+1425555")["used"], 1);
    assert_eq!(budget("prefix", "+1425555")["limit"], 10);
    assert_eq!(budget("country", "1")["used"], 1);
    assert_eq!(budget("tenant", "")["used"], 1);
    assert_eq!(budget("ip", "127.0.0.1")["used"], 2, "both starts");
    let (_, human, _) = cli(d, &["abuse", "status"]);
    assert!(human.contains("prefix:+1425555"), "{human}");
    assert!(human.contains("US (+1)"), "{human}");

    let (_, shown, _) = cli(d, &["user", "show", ANA]);
    assert!(
        shown.contains("prefix:+1425555 is paused by the conversion watch"),
        "{shown}"
    );

    refused(d, &["abuse", "resume", "nonsense"], "invalidPauseKey");
    refused(d, &["abuse", "resume", "country:44"], "notFound");
    assert_eq!(
        cli_json(d, &["abuse", "status"])["pauses"],
        status["pauses"]
    );

    let resumed = cli_json(d, &["abuse", "resume", "+1425555"]);
    assert_eq!(resumed, json!({"key": "prefix:+1425555", "resumed": true}));
    assert_eq!(cli_json(d, &["abuse", "status"])["pauses"], json!([]));
    assert_eq!(audits(d)[0]["activity"], "Resume SMS sending");
    let phones = cli_json(d, &["phone", "list", ANA]);
    assert!(phones["value"][0].get("textidNote").is_none(), "{phones}");
    refused(d, &["abuse", "resume", "prefix:+1425555"], "notFound");
}

#[test]
fn test_numbers_are_added_listed_and_removed_and_say_when_they_are_off() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    provision(d);
    let added = cli_json(
        d,
        &["test-number", "add", "+1 425 555 0100", "--code", "123456"],
    );
    assert_eq!(added["phoneNumber"], "+14255550100");
    assert_eq!(added["code"], "123456");
    assert_eq!(added["testNumbersEnabled"], false);
    let audit = &audits(d)[0];
    assert_eq!(audit["activity"], "Add test number");
    assert!(
        !audit.to_string().contains("123456"),
        "never the code: {audit}"
    );
    let (status, human, _) = cli(d, &["test-number", "add", "+14255550102"]);
    assert_eq!(status, 0);
    assert!(human.contains("TEXTID_TEST_NUMBERS_ENABLED"), "{human}");
    refused(
        d,
        &["test-number", "add", "+14255550103", "--code", "12"],
        "invalidCode",
    );
    refused(
        d,
        &["test-number", "add", "not a number"],
        "invalidPhoneNumber",
    );
    let listed = cli_json(d, &["test-number", "list"]);
    let numbers: Vec<&str> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["phoneNumber"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["+14255550100", "+14255550102"]);
    let removed = cli_json(d, &["test-number", "remove", "+1 425 555 0100"]);
    assert_eq!(removed["removed"], true);
    assert_eq!(audits(d)[0]["activity"], "Remove test number");
    refused(d, &["test-number", "remove", "+14255550100"], "notFound");
    assert_eq!(
        cli_json(d, &["test-number", "list"])["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn the_allow_list_is_edited_audited_and_explains_a_phone_that_gets_no_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    provision(d);
    let list = |v: Value| v["textidAllowedCountryCodes"].clone();
    let countries = ["policy", "sms", "allowed-countries"];
    let run = |more: &[&str]| list(cli_json(d, &[&countries[..], more].concat()));
    assert_eq!(run(&["show"]), Value::Null);
    assert_eq!(run(&["set", "44", "DE"]), json!([44, 49]));
    assert_eq!(
        cli_json(d, &["policy", "show"])["sms"]["textidAllowedCountryCodes"],
        json!([44, 49])
    );
    assert_eq!(
        audits(d)[0]["activity"],
        "Update authentication methods policy"
    );

    let phones = cli_json(d, &["phone", "list", ANA]);
    assert_eq!(
        phones["value"][0]["textidNote"],
        "no codes are sent: country US (+1) is not on this tenant's allow-list"
    );
    let (_, shown, _) = cli(d, &["user", "show", ANA]);
    assert!(
        shown.contains("country US (+1) is not on this tenant's allow-list"),
        "{shown}"
    );

    assert_eq!(run(&["add", "+1"]), json!([1, 44, 49]));
    let phones = cli_json(d, &["phone", "list", ANA]);
    assert!(phones["value"][0].get("textidNote").is_none(), "{phones}");
    assert_eq!(run(&["remove", "de"]), json!([1, 44]));

    let before = audits(d).len();
    let set = [&countries[..], &["set", "XX"]].concat();
    refused(d, &set, "invalidCountry");
    let remove = [&countries[..], &["remove", "49"]].concat();
    refused(d, &remove, "notFound");
    let empty = [&countries[..], &["remove", "1", "44"]].concat();
    refused(d, &empty, "emptyAllowList");
    assert_eq!(run(&["show"]), json!([1, 44]), "unchanged");
    assert_eq!(audits(d).len(), before, "nothing audited");

    assert_eq!(run(&["clear"]), Value::Null);
    let (_, human, _) = cli(d, &[&countries[..], &["show"]].concat());
    assert!(human.contains("every geographic country"), "{human}");
}
