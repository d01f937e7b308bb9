//! The happy path and the code's own rules: the exact wire shapes of start, webhook and
//! verify; single use; wrong, dead and expired codes; resend replacing the code; the
//! sign-in log (DESIGN.md §2, §3).

use chrono::Duration;
use textid_core::clock::Clock;
use textid_store::prelude::*;

use crate::helpers::{body, expect_error, flow_id, keys, spawn_app, wrong, WEBHOOK_PATH};

const ANA: &str = "+1 425 555 0101";
const ANA_E164: &str = "+14255550101";

#[tokio::test]
async fn a_registered_number_gets_one_signed_webhook_sms_and_its_code_signs_in_once() {
    let mut t = spawn_app().await;
    let ana = t.user_with_mobile("ana@contoso.example", ANA).await;

    let response = t.start(ANA).await;
    assert_eq!(response.status(), 202);
    let started = body(response).await;
    assert_eq!(
        keys(&started),
        ["expiresInSeconds", "flowId", "resendAfterSeconds"]
    );
    assert_eq!(started["expiresInSeconds"], 300);
    assert_eq!(started["resendAfterSeconds"], 30);
    let flow = started["flowId"].as_str().unwrap().to_string();
    uuid::Uuid::parse_str(&flow).expect("flowId is a UUID");

    let mut delivered = t.deliver().await;
    assert_eq!(delivered.len(), 1, "one webhook request per code");
    let sms = delivered.remove(0);
    assert_eq!(
        (sms.method.as_str(), sms.path.as_str()),
        ("POST", WEBHOOK_PATH)
    );
    assert!(sms.header("content-type").starts_with("application/json"));
    let json = sms.json();
    assert_eq!(
        keys(&json),
        ["body", "channel", "id", "kind", "locale", "tenant", "to"]
    );
    assert_eq!(json["to"], ANA_E164);
    assert_eq!(json["channel"], "sms");
    assert_eq!(json["tenant"], "default");
    assert_eq!(json["kind"], "signInCode");
    assert_eq!(json["locale"], "en");
    assert_eq!(json["id"].as_str().unwrap(), sms.header("webhook-id"));
    assert_eq!(
        sms.header("webhook-timestamp"),
        t.clock.now().timestamp().to_string()
    );
    assert!(
        sms.signature_is_valid(),
        "signature must verify with the whsec_ key"
    );

    let outbox = t.messages().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        outbox[0].id.to_string(),
        sms.header("webhook-id"),
        "the id is the outbox id"
    );
    assert_eq!(outbox[0].flow_id.map(|f| f.to_string()), Some(flow.clone()));
    assert_eq!(outbox[0].status, "delivered");

    let text = sms.text();
    let code = sms.code();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code:?}"
    );
    assert_eq!(
        text.lines().last(),
        Some(format!("@127.0.0.1 #{code}").as_str())
    );
    assert!(
        textid_sms::template::gsm7_length(&text).is_some_and(|n| n <= 160),
        "one GSM-7 segment: {text:?}"
    );
    let without_code = text.replace(&code, "").to_lowercase();
    for personal in ["425", "555", "0101", "ana", "contoso"] {
        assert!(
            !without_code.contains(personal),
            "the text carries {personal:?}: {text:?}"
        );
    }

    let response = t.verify(&flow, &code).await;
    assert_eq!(response.status(), 200);
    let session = body(response).await;
    assert_eq!(
        keys(&session),
        ["expiresInSeconds", "sessionToken", "userId"]
    );
    assert_eq!(session["userId"], ana.to_string());
    assert_eq!(session["expiresInSeconds"], 8 * 3600);
    let token = session["sessionToken"].as_str().unwrap();
    let stored = t
        .store
        .session_by_token_hash(
            textid_core::session::SessionKind::Api,
            &t.app.hasher().token(token).0,
            t.clock.now(),
        )
        .await
        .unwrap()
        .expect("the session is stored under the token's keyed hash");
    assert_eq!(
        (stored.user_id, stored.amr.clone()),
        (ana, vec!["sms".to_string()])
    );

    expect_error(t.verify(&flow, &code).await, 404, "flowNotFound").await;
    assert!(t.deliver().await.is_empty(), "verifying sends nothing");
}

#[tokio::test]
async fn the_sign_in_log_records_every_attempt_with_result_reason_client_ip_and_number() {
    let mut t = spawn_app().await;
    let ana = t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let code = t.last_code().await;
    t.advance(Duration::seconds(1));
    expect_error(t.verify(&flow, &wrong(&code)).await, 400, "invalidCode").await;
    t.advance(Duration::seconds(1));
    assert_eq!(t.verify(&flow, &code).await.status(), 200);
    t.advance(Duration::seconds(1));
    expect_error(t.verify(&flow, &code).await, 404, "flowNotFound").await;

    let mut logs = t.sign_in_logs().await;
    logs.reverse();
    let seen: Vec<(&str, &str, Option<&str>)> = logs
        .iter()
        .map(|l| {
            (
                l.event.as_str(),
                l.result.as_str(),
                l.failure_reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("codeRequested", "success", None),
            ("codeVerified", "failure", Some("invalidCode")),
            ("codeVerified", "success", None),
            ("codeVerified", "failure", Some("flowNotFound")),
        ]
    );
    for l in &logs {
        assert_eq!(l.method, "sms");
        assert_eq!(l.client_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(l.phone.as_deref(), Some(ANA_E164));
        assert_eq!(l.user_id, Some(ana));
        assert_eq!(l.flow_id.map(|f| f.to_string()), Some(flow.clone()));
        assert_eq!(l.tenant_id, t.tenant.id);
    }
}

#[tokio::test]
async fn a_wrong_code_is_refused_with_invalid_code_and_the_right_one_still_works() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let code = t.last_code().await;
    let e = expect_error(t.verify(&flow, &wrong(&code)).await, 400, "invalidCode").await;
    assert_eq!(e.retry_after, None);
    assert_eq!(t.verify(&flow, &code).await.status(), 200);
}

#[tokio::test]
async fn five_wrong_codes_kill_the_code_even_for_the_right_one_and_a_resend_gives_a_working_code() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let code = t.last_code().await;
    for _ in 0..5 {
        expect_error(t.verify(&flow, &wrong(&code)).await, 400, "invalidCode").await;
    }
    expect_error(t.verify(&flow, &code).await, 400, "tooManyAttempts").await;

    t.advance(Duration::seconds(30));
    let response = t.resend(&flow).await;
    assert_eq!(response.status(), 202);
    assert_eq!(flow_id(response).await, flow, "a resend keeps the flow");
    let fresh = t.last_code().await;
    assert_eq!(t.verify(&flow, &fresh).await.status(), 200);
}

#[tokio::test]
async fn a_code_works_until_just_before_five_minutes_and_is_expired_at_five_minutes() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;

    let early = t.start_flow(ANA).await;
    let code = t.last_code().await;
    t.advance(Duration::seconds(299));
    assert_eq!(t.verify(&early, &code).await.status(), 200);

    let late = t.start_flow(ANA).await;
    let code = t.last_code().await;
    t.advance(Duration::minutes(5));
    expect_error(t.verify(&late, &code).await, 400, "codeExpired").await;

    assert_eq!(
        t.resend(&late).await.status(),
        202,
        "an expired code can be replaced"
    );
    let fresh = t.last_code().await;
    assert_eq!(t.verify(&late, &fresh).await.status(), 200);
}

#[tokio::test]
async fn a_resend_replaces_the_code_so_the_old_one_no_longer_works() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let old = t.last_code().await;
    t.advance(Duration::seconds(30));
    let response = t.resend(&flow).await;
    assert_eq!(response.status(), 202);
    let resent = body(response).await;
    assert_eq!(
        keys(&resent),
        ["expiresInSeconds", "flowId", "resendAfterSeconds"]
    );
    assert_eq!(
        resent["expiresInSeconds"], 300,
        "the new code lives five minutes"
    );
    assert_eq!(resent["resendAfterSeconds"], 60, "the cooldown doubles");

    let mut delivered = t.deliver().await;
    assert_eq!(delivered.len(), 1);
    let sms = delivered.remove(0);
    assert!(sms.signature_is_valid());
    assert_eq!(sms.json()["kind"], "signInCode");
    let new = sms.code();
    // One chance in a million that the new code equals the old one; then the old is the new.
    if new != old {
        expect_error(t.verify(&flow, &old).await, 400, "invalidCode").await;
    }
    assert_eq!(t.verify(&flow, &new).await.status(), 200);
}

#[tokio::test]
async fn a_completed_flow_cannot_be_resent() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let code = t.last_code().await;
    assert_eq!(t.verify(&flow, &code).await.status(), 200);
    t.advance(Duration::seconds(30));
    expect_error(t.resend(&flow).await, 404, "flowNotFound").await;
    assert!(t.deliver().await.is_empty());
}

#[tokio::test]
async fn a_flow_of_one_tenant_is_not_found_in_another() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    t.store
        .ensure_tenant("fabrikam", t.clock.now())
        .await
        .unwrap();
    let flow = t.start_flow(ANA).await;
    let code = t.last_code().await;
    let verify = serde_json::json!({ "flowId": flow, "code": code });
    expect_error(
        t.post_json("fabrikam", "/verify", &verify).await,
        404,
        "flowNotFound",
    )
    .await;
    t.advance(Duration::seconds(30));
    let resend = serde_json::json!({ "flowId": flow });
    expect_error(
        t.post_json("fabrikam", "/resend", &resend).await,
        404,
        "flowNotFound",
    )
    .await;
    assert!(t.deliver().await.is_empty());
    assert_eq!(
        t.verify(&flow, &code).await.status(),
        200,
        "the foreign tries did not touch the flow"
    );
}

#[tokio::test]

async fn the_session_answer_is_not_cacheable() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let code = t.last_code().await;
    let response = t.verify(&flow, &code).await;
    assert_eq!(response.status(), 200);
    // RFC 6749 §5.1: an answer that carries a bearer token must not be stored by caches.
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
}

#[tokio::test]

async fn a_code_resent_late_in_a_flow_works_as_long_as_the_answer_promised() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    t.deliver().await;
    t.advance(Duration::minutes(29));
    let response = t.resend(&flow).await;
    if response.status() == 202 {
        let promised = body(response).await["expiresInSeconds"].as_i64().unwrap();
        let code = t.last_code().await;
        t.advance(Duration::seconds(promised - 1));
        assert_eq!(
            t.verify(&flow, &code).await.status(),
            200,
            "the code was promised {promised} s"
        );
    } else {
        // Refusing a resend the flow cannot honour is the other correct answer.
        expect_error(response, 404, "flowNotFound").await;
        assert!(t.deliver().await.is_empty());
    }
}
