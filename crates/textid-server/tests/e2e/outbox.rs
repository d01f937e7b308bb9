//! The durable outbox (DESIGN.md §3 "Webhook provider", §5 "nothing acknowledged is lost"):
//! transient receiver failures are retried after a backoff with the same id, permanent
//! ones are not, and messages queued or claimed before a restart are still delivered.

use chrono::Duration;
use textid_core::clock::Clock;
use textid_core::message::{retry_delay, MAX_DELIVERY_ATTEMPTS};
use textid_store::prelude::*;

use crate::helpers::{spawn_app, spawn_app_with};

const ANA: &str = "+1 425 555 0101";

#[tokio::test]
async fn a_503_from_the_receiver_is_retried_after_the_backoff_with_the_same_webhook_id() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    t.sms.answer_next(&[503]);

    let first = t.deliver().await;
    assert_eq!(first.len(), 1);
    let queued = t.messages().await;
    assert_eq!(
        (queued[0].status.as_str(), queued[0].attempts),
        ("queued", 1)
    );
    assert!(
        queued[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("503")),
        "{queued:?}"
    );

    assert!(
        t.deliver().await.is_empty(),
        "not retried before the backoff"
    );
    t.advance(retry_delay(1) - Duration::milliseconds(1));
    assert!(
        t.deliver().await.is_empty(),
        "not retried before the backoff"
    );
    t.advance(Duration::milliseconds(1));
    let second = t.deliver().await;
    assert_eq!(second.len(), 1, "retried once the backoff is over");

    let (first, second) = (&first[0], &second[0]);
    assert_eq!(
        first.header("webhook-id"),
        second.header("webhook-id"),
        "the idempotency key stays"
    );
    assert_eq!(first.json()["id"], second.json()["id"]);
    assert_eq!(first.json()["body"], second.json()["body"]);
    assert_eq!(
        second.header("webhook-timestamp"),
        t.clock.now().timestamp().to_string()
    );
    assert!(second.signature_is_valid());
    let delivered = t.messages().await;
    assert_eq!(
        (delivered[0].status.as_str(), delivered[0].attempts),
        ("delivered", 2)
    );
    assert_eq!(t.verify(&flow, &second.code()).await.status(), 200);
}

#[tokio::test]
async fn a_400_from_the_receiver_is_not_retried() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    t.start_flow(ANA).await;
    t.sms.answer_next(&[400]);
    assert_eq!(t.deliver().await.len(), 1);
    let failed = t.messages().await;
    assert_eq!(
        (failed[0].status.as_str(), failed[0].attempts),
        ("failed", 1)
    );
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("400")),
        "{failed:?}"
    );
    t.advance(Duration::minutes(4));
    assert!(t.deliver().await.is_empty(), "a permanent failure is final");
}

#[tokio::test]
async fn a_message_is_given_up_after_the_last_transient_failure() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    t.start_flow(ANA).await;
    t.sms.answer_next(&[503; MAX_DELIVERY_ATTEMPTS as usize]);
    for attempt in 1..=MAX_DELIVERY_ATTEMPTS {
        assert_eq!(t.deliver().await.len(), 1, "try {attempt}");
        t.advance(retry_delay(attempt));
    }
    let failed = t.messages().await;
    assert_eq!(
        (failed[0].status.as_str(), failed[0].attempts),
        ("failed", MAX_DELIVERY_ATTEMPTS)
    );
    t.advance(Duration::minutes(5));
    assert!(t.deliver().await.is_empty());
}

#[tokio::test]
async fn a_code_that_expired_before_delivery_is_not_sent() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    t.start_flow(ANA).await;
    t.advance(Duration::minutes(5));
    assert!(t.deliver().await.is_empty());
    assert_eq!(t.messages().await[0].status, "failed");
}

#[tokio::test]
async fn a_message_queued_before_a_restart_is_delivered_by_the_new_app() {
    let t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    assert_eq!(t.messages().await[0].status, "queued");

    let mut t = t.restart().await;
    let code = t.last_code().await;
    assert_eq!(t.messages().await[0].status, "delivered");
    assert_eq!(
        t.verify(&flow, &code).await.status(),
        200,
        "the new server knows the flow"
    );
}

#[tokio::test]
async fn a_message_claimed_by_a_worker_that_died_is_delivered_when_its_lease_runs_out() {
    let t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let now = t.clock.now();
    let claimed = t
        .store
        .claim_messages(now, now + Duration::seconds(60), 64)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "the dead worker's claim");

    let mut t = t.restart().await;
    assert!(t.deliver().await.is_empty(), "leased to the dead worker");
    t.advance(Duration::seconds(60));
    let code = t.last_code().await;
    let delivered = t.messages().await;
    assert_eq!(
        (delivered[0].status.as_str(), delivered[0].attempts),
        ("delivered", 2)
    );
    assert_eq!(t.verify(&flow, &code).await.status(), 200);
}

#[tokio::test]

async fn a_code_replaced_by_a_resend_before_its_delivery_is_not_sent() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    t.sms.answer_next(&[503]);
    assert_eq!(t.deliver().await.len(), 1, "the first try fails");
    t.advance(Duration::seconds(30));
    assert_eq!(t.resend(&flow).await.status(), 202);
    // The first message is due again, but its code can no longer be used (delivery.rs: "A
    // sign-in code that could no longer be used when it arrives is not sent at all").
    let delivered = t.deliver().await;
    assert_eq!(
        delivered.len(),
        1,
        "only the code that works is sent: got {}",
        delivered.len()
    );
    assert_eq!(t.verify(&flow, &delivered[0].code()).await.status(), 200);
}

#[tokio::test]
async fn a_code_queued_beside_an_attached_worker_is_stored_leased_and_handed_over_not_claimed() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    // What the server's delivery worker does when it starts (here without running it, so
    // the test steps each part itself).
    let mut handed = t.app.cx().attach_delivery().expect("the first attach");
    assert!(t.app.cx().attach_delivery().is_none(), "one worker only");
    let flow = t.start_flow(ANA).await;

    let (m, lease_end) = handed
        .try_recv()
        .expect("handed over once its write committed");
    assert!(handed.try_recv().is_err(), "exactly one message");
    assert_eq!(
        (
            m.flow_id.map(|f| f.to_string()),
            m.attempts,
            m.kind.as_str()
        ),
        (Some(flow), 1, "signInCode")
    );
    assert_eq!(lease_end, t.clock.now() + Duration::seconds(10));
    // Stored as claimed by this worker: its first try counted, and no claim takes it...
    let stored = t.messages().await;
    assert_eq!(
        (stored[0].id, stored[0].status.as_str(), stored[0].attempts),
        (m.id, "queued", 1)
    );
    assert!(t.deliver().await.is_empty(), "leased: not claimed");
    t.advance(Duration::seconds(10) - Duration::milliseconds(1));
    assert!(t.deliver().await.is_empty(), "not before the lease ends");
    // ...until the lease ends with no outcome recorded (the worker died): then any worker
    // claims it, as its second try, under the same id.
    t.advance(Duration::milliseconds(1));
    let sent = t.deliver().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("webhook-id"), m.id.to_string());
    let after = t.messages().await;
    assert_eq!(
        (after[0].status.as_str(), after[0].attempts),
        ("delivered", 2)
    );
}

#[tokio::test]
async fn the_running_worker_delivers_a_handed_over_code_and_records_its_outcome() {
    let mut t = spawn_app_with(|c| c.delivery_worker = true).await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let sent = t.sms.next().await;
    let response = t.verify(&flow, &sent.code()).await;
    assert_eq!(response.status(), 200);
    // The receiver answered before the worker recorded the outcome: wait for the record.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let stored = t.messages().await;
        if stored[0].status == "delivered" {
            assert_eq!((stored[0].attempts, stored.len()), (1, 1), "{stored:?}");
            assert_eq!(sent.header("webhook-id"), stored[0].id.to_string());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never recorded: {stored:?}"
        );
        tokio::task::yield_now().await;
    }
    assert!(t.sms.take().is_empty(), "sent once");
}

#[tokio::test]
async fn once_the_worker_has_closed_the_hand_over_codes_are_queued_for_any_worker_to_claim() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let mut handed = t.app.cx().attach_delivery().unwrap();
    // What the worker does when the server stops.
    handed.close();
    t.start_flow(ANA).await;
    assert!(handed.try_recv().is_err(), "nothing handed over");
    let stored = t.messages().await;
    assert_eq!(
        (stored[0].status.as_str(), stored[0].attempts),
        ("queued", 0)
    );
    assert_eq!(
        t.deliver().await.len(),
        1,
        "claimed at once, not after a lease"
    );
}
