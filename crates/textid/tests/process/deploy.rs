//! Deployment through the real binary (issue #19): backup while a real server takes
//! sign-ins and restore into a new data directory; restore refused under a running
//! server; admin commands refuse a data directory without a database; a closed pipe;
//! `--help` offering only the flags that apply; `config check` naming each value's source.

use std::path::Path;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{cli, cli_json, code_of, init, post, provision, receiver, run, serve_with, BIN};

/// Limits raised so that a handful of sign-ins to one number are never throttled.
const ROOMY: &[(&str, &str)] = &[
    ("TEXTID_SENDS_PER_WINDOW", "100"),
    ("TEXTID_PREFIX_SENDS", "100"),
];

/// One complete sign-in: a code is sent, received at the webhook and redeemed.
async fn sign_in(base: &str, sms: &mut super::Receiver) {
    let (status, started) = post(base, "", json!({"phoneNumber": "+14255550101"})).await;
    assert_eq!(status, 202, "{started}");
    let (_, message) = sms.next().await;
    let (status, session) = post(
        base,
        "/verify",
        json!({"flowId": started["flowId"], "code": code_of(&message)}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
}

fn sign_in_count(data: &Path) -> usize {
    cli_json(data, &["logs", "sign-ins"])["value"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_backup_taken_while_the_server_signs_users_in_restores_into_a_new_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let user_id = provision(&live);
    let mut sms = receiver(StatusCode::OK).await;
    let server = serve_with(&live, &sms.url, ROOMY).await;
    sign_in(&server.base, &mut sms).await;
    let before = sign_in_count(&live);
    assert!(before >= 1);

    // Sign-ins go on while the backup runs.
    let base = server.base.clone();
    let signing = tokio::spawn(async move {
        for _ in 0..3 {
            sign_in(&base, &mut sms).await;
        }
    });
    let file = dir.path().join("textid-backup.db");
    let (live2, file2) = (live.clone(), file.clone());
    let (code, out, err) =
        tokio::task::spawn_blocking(move || cli(&live2, &["backup", file2.to_str().unwrap()]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backed up"), "{out}");
    signing.await.unwrap();

    // A backup never overwrites, even with a server running.
    let (code, _, err) = cli(&live, &["backup", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("exists already"), "{err}");

    let restored = dir.path().join("restored");
    let (code, out, err) = cli(&restored, &["restore", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("restored"), "{out}");
    assert!(out.contains("kek.key"), "the missing keys are named: {out}");
    let users = cli_json(&restored, &["user", "list"]);
    assert_eq!(users["value"][0]["id"], user_id.as_str(), "{users}");
    let phones = cli_json(&restored, &["phone", "list", "ana@contoso.example"]);
    assert_eq!(phones["value"][0]["smsSignInState"], "ready");
    assert!(sign_in_count(&restored) >= before);
}

#[tokio::test]
async fn restore_is_refused_while_a_server_runs_and_needs_replace_over_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    provision(&live);
    let file = dir.path().join("b.db");
    let (code, _, err) = cli(&live, &["backup", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    cli_json(
        &live,
        &[
            "user",
            "create",
            "--upn",
            "bo@contoso.example",
            "--display-name",
            "Bo",
        ],
    );
    let sms = receiver(StatusCode::OK).await;
    let mut server = serve_with(&live, &sms.url, &[]).await;

    let (code, _, err) = cli(&live, &["restore", "--replace", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("a textid server is using"), "{err}");
    let (code, _, err) = cli(&live, &["restore", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        cli_json(&live, &["user", "list"])["value"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    let (code, _, err) = cli(&live, &["restore", file.to_str().unwrap()]);
    assert_eq!(code, 1, "without --replace: {err}");
    assert!(err.contains("--replace"), "{err}");
    assert_eq!(
        cli_json(&live, &["user", "list"])["value"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (code, _, err) = cli(&live, &["restore", "--replace", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let users = cli_json(&live, &["user", "list"]);
    assert_eq!(users["value"].as_array().unwrap().len(), 1, "{users}");
    assert_eq!(
        users["value"][0]["userPrincipalName"],
        "ana@contoso.example"
    );
}

#[test]
fn restore_refuses_a_file_that_is_not_a_textid_backup_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "SQLite format 3? no").unwrap();
    let data = dir.path().join("data");
    let (code, _, err) = cli(&data, &["restore", junk.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not a textid database"), "{err}");
    assert!(!data.exists());
}

#[test]
fn backup_and_restore_on_postgresql_point_to_pg_dump_and_pg_restore() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let pg = vec![(
        "TEXTID_DATABASE_URL".to_string(),
        "postgres://textid@127.0.0.1:1/textid".to_string(),
    )];
    let (code, _, err) = run(&["backup", "x.db", "--data-dir", &data], &pg);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pg_dump"), "{err}");
    assert!(
        err.contains("TEXTID_DATABASE_URL"),
        "the source is named: {err}"
    );
    let (code, _, err) = run(&["restore", "x.db", "--data-dir", &data], &pg);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pg_restore"), "{err}");
}

#[test]
fn admin_commands_refuse_a_data_directory_without_a_database_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nonexistent");
    let (code, out, err) = cli(&missing, &["user", "list"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("textid init"), "{err}");
    assert!(!missing.exists(), "nothing created");
    // An existing directory without a database, and a foreign file in its place.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = cli(&empty, &["tenant", "create", "fabrikam"]);
    assert_eq!(code, 1, "{err}");
    assert!(!empty.join("textid.db").exists());
    std::fs::write(empty.join("textid.db"), "").unwrap();
    let (code, _, err) = cli(
        &empty,
        &[
            "user",
            "create",
            "--upn",
            "a@b.example",
            "--display-name",
            "A",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not a textid database"), "{err}");
    assert_eq!(std::fs::metadata(empty.join("textid.db")).unwrap().len(), 0);
    // `init` creates it; then the same command works.
    init(&missing);
    assert_eq!(cli_json(&missing, &["user", "list"])["value"], json!([]));
}

#[test]
fn a_closed_stdout_ends_the_cli_quietly_instead_of_panicking() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // The reader is gone before the first line: every write fails.
    let out = std::process::Command::new(BIN)
        .args(["config", "keys"])
        .env_remove("RUST_LOG")
        .stdout(writer)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn help(args: &[&str]) -> String {
    let out = std::process::Command::new(BIN).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8_lossy(&out.stdout).into()
}

#[test]
fn each_command_offers_only_the_flags_that_apply_and_help_names_the_database() {
    let serve = help(&["serve", "--help"]);
    assert!(serve.contains("--listen"), "{serve}");
    for flag in ["--tenant", "--json"] {
        assert!(!serve.contains(flag), "serve offers {flag}: {serve}");
    }
    let user = help(&["user", "list", "--help"]);
    assert!(
        user.contains("--tenant") && user.contains("--json"),
        "{user}"
    );
    let config = help(&["config", "check", "--help"]);
    assert!(
        config.contains("--json") && !config.contains("--tenant"),
        "{config}"
    );
    let top = help(&["--help"]);
    assert!(top.contains("DATA_DIR/textid.db"), "{top}");
}

#[test]
fn config_check_prints_a_table_with_each_values_source() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    std::fs::write(
        dir.path().join("textid.toml"),
        "code_lifetime_seconds = 120\n",
    )
    .unwrap();
    let env = vec![("TEXTID_LISTEN".to_string(), "127.0.0.1:9999".to_string())];
    let (code, out, err) = run(&["config", "check", "--data-dir", &data], &env);
    assert_eq!(code, 0, "{err}");
    let line = |key: &str| -> Vec<String> {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("{key} in {out}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(line("KEY"), ["KEY", "VALUE", "SOURCE"]);
    assert_eq!(
        line("listen"),
        ["listen", "127.0.0.1:9999", "env", "TEXTID_LISTEN"]
    );
    let file = dir.path().join("textid.toml").display().to_string();
    assert_eq!(
        line("code_lifetime_seconds"),
        ["code_lifetime_seconds", "120", "file", file.as_str()]
    );
    assert_eq!(
        line("data_dir"),
        ["data_dir", data.as_str(), "flag", "--data-dir"]
    );
    assert_eq!(
        line("max_attempts_per_code"),
        ["max_attempts_per_code", "5", "default"]
    );
    assert!(!out.contains("TimeDelta") && !out.contains('{'), "{out}");
    let json: Value =
        serde_json::from_str(&run(&["config", "check", "--json", "--data-dir", &data], &env).1)
            .unwrap();
    assert_eq!(
        json["listen"],
        json!({"value": "127.0.0.1:9999", "source": "env TEXTID_LISTEN"})
    );
}

#[test]
fn a_value_out_of_range_is_reported_with_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    std::fs::write(
        dir.path().join("textid.toml"),
        "max_attempts_per_code = 99\n",
    )
    .unwrap();
    let (code, _, err) = run(&["config", "check", "--data-dir", &data], &[]);
    assert_eq!(code, 1, "{err}");
    let file = dir.path().join("textid.toml").display().to_string();
    assert!(
        err.contains(&format!("max_attempts_per_code (from {file}): 99")),
        "{err}"
    );
}

#[test]
fn a_named_config_file_that_does_not_exist_is_an_error_naming_where_it_was_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let missing = dir.path().join("nope.toml").display().to_string();
    let (code, _, err) = run(
        &["config", "check", "--data-dir", &data],
        &[("TEXTID_CONFIG".to_string(), missing.clone())],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("{missing} (from TEXTID_CONFIG)")),
        "{err}"
    );
    let (code, _, err) = run(
        &["config", "check", "--data-dir", &data, "--config", &missing],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("(from --config)"), "{err}");
}
