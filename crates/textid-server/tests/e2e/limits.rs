//! Budgets, cooldowns and locks (DESIGN.md §3): `Retry-After` is whole seconds, rounded up,
//! and waiting exactly that long succeeds while one second less does not; failures count
//! per number across codes and flows; the send budget counts registered and unknown
//! numbers alike.

use chrono::Duration;

use crate::helpers::{body, expect_error, spawn_app, wrong, TestApp};

const ANA: &str = "+1 425 555 0101";
const UNKNOWN: &str = "+1 425 555 0199";

/// Waits out a 429: one second short of `Retry-After` it is still refused with the same
/// code, then it is allowed. `again` repeats the refused request.
async fn wait_out<F, Fut>(
    t: &TestApp,
    first: reqwest::Response,
    code: &str,
    again: F,
) -> reqwest::Response
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let e = expect_error(first, 429, code).await;
    let wait = e.retry_after.expect("a 429 carries Retry-After");
    assert!(wait >= 1, "{e:?}");
    t.advance(Duration::seconds(wait - 1));
    let still = expect_error(again().await, 429, code).await;
    assert_eq!(still.retry_after, Some(1), "{still:?}");
    t.advance(Duration::seconds(1));
    again().await
}

#[tokio::test]
async fn a_resend_during_the_cooldown_is_refused_with_a_retry_after_that_is_exactly_long_enough() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let old = t.last_code().await;

    let refused = t.resend(&flow).await;
    assert_eq!(refused.headers()["retry-after"], "30");
    let resent = wait_out(&t, refused, "tooManyRequests", || t.resend(&flow)).await;
    assert_eq!(resent.status(), 202);
    assert_eq!(body(resent).await["resendAfterSeconds"], 60);
    let new = t.last_code().await;
    if new != old {
        expect_error(t.verify(&flow, &old).await, 400, "invalidCode").await;
    }

    let refused = t.resend(&flow).await;
    assert_eq!(
        refused.headers()["retry-after"],
        "60",
        "the second cooldown is twice the first"
    );
    let resent = wait_out(&t, refused, "tooManyRequests", || t.resend(&flow)).await;
    assert_eq!(resent.status(), 202);
    let newest = t.last_code().await;
    assert_eq!(t.verify(&flow, &newest).await.status(), 200);
}

#[tokio::test]
async fn ten_wrong_codes_from_one_client_across_a_resend_stop_it_for_right_and_wrong_codes_until_retry_after(
) {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let first = t.last_code().await;
    for _ in 0..5 {
        expect_error(t.verify(&flow, &wrong(&first)).await, 400, "invalidCode").await;
    }
    t.advance(Duration::seconds(30));
    assert_eq!(t.resend(&flow).await.status(), 202);
    let second = t.last_code().await;
    for _ in 0..5 {
        expect_error(t.verify(&flow, &wrong(&second)).await, 400, "invalidCode").await;
    }
    let e = expect_error(t.verify(&flow, &second).await, 429, "temporarilyLocked").await;
    assert_eq!(
        e.retry_after,
        Some(900),
        "the client is stopped for 15 minutes"
    );
    expect_error(
        t.verify(&flow, &wrong(&second)).await,
        429,
        "temporarilyLocked",
    )
    .await;
    t.advance(Duration::minutes(14));
    // The stop is the (number, client)'s, not the flow's: a new flow of this client waits too.
    let other = t.start_flow(ANA).await;
    assert!(t.deliver().await.is_empty(), "no SMS for a stopped client");
    let locked = t.verify(&other, &second).await;
    let response = wait_out(&t, locked, "temporarilyLocked", || {
        t.verify(&other, "000000")
    })
    .await;
    assert_eq!(
        response.status(),
        400,
        "after Retry-After the code is checked again"
    );
}

/// A code that is certainly wrong: the delivered one changed, or any for an unknown number.
async fn certainly_wrong(t: &mut TestApp) -> String {
    match t.deliver().await.first() {
        Some(sms) => wrong(&sms.code()),
        None => "000000".to_string(),
    }
}

#[tokio::test]
async fn an_unknown_number_stops_a_client_after_ten_wrong_codes_like_a_registered_one() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    for number in [ANA, UNKNOWN] {
        let flow = t.start_flow(number).await;
        let code = certainly_wrong(&mut t).await;
        for _ in 0..5 {
            expect_error(t.verify(&flow, &code).await, 400, "invalidCode").await;
        }
        expect_error(t.verify(&flow, &code).await, 400, "tooManyAttempts").await;
        t.advance(Duration::seconds(30));
        assert_eq!(t.resend(&flow).await.status(), 202);
        let code = certainly_wrong(&mut t).await;
        for _ in 0..5 {
            expect_error(t.verify(&flow, &code).await, 400, "invalidCode").await;
        }
        let e = expect_error(t.verify(&flow, &code).await, 429, "temporarilyLocked").await;
        assert_eq!(e.retry_after, Some(900), "{number}");
    }
}

/// Five starts are accepted; the sixth within 15 minutes is a 429 until the window ends.
async fn sixth_start_is_refused_until_the_window_ends(
    t: &mut TestApp,
    number: &str,
    sms_per_start: usize,
) {
    for i in 0..5 {
        assert_eq!(
            t.start(number).await.status(),
            202,
            "start {} of {number}",
            i + 1
        );
        t.advance(Duration::seconds(1));
    }
    assert_eq!(t.deliver().await.len(), 5 * sms_per_start);
    let refused = t.start(number).await;
    assert_eq!(
        refused.headers()["retry-after"],
        "895",
        "the window opened 5 s ago"
    );
    assert!(
        t.deliver().await.is_empty(),
        "a refused start sends nothing"
    );
    let allowed = wait_out(t, refused, "tooManyRequests", || t.start(number)).await;
    assert_eq!(allowed.status(), 202);
    assert_eq!(t.deliver().await.len(), sms_per_start);
}

#[tokio::test]
async fn a_sixth_code_for_one_registered_number_within_fifteen_minutes_is_refused_with_retry_after()
{
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    sixth_start_is_refused_until_the_window_ends(&mut t, ANA, 1).await;
}

#[tokio::test]
async fn a_sixth_code_for_one_unknown_number_within_fifteen_minutes_is_refused_with_retry_after() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    sixth_start_is_refused_until_the_window_ends(&mut t, UNKNOWN, 0).await;
    assert!(t.messages().await.is_empty());
}

#[tokio::test]
async fn resends_take_from_the_same_send_budget_as_starts() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    for _ in 0..3 {
        t.start_flow(ANA).await;
    }
    assert_eq!(t.deliver().await.len(), 4);
    t.advance(Duration::seconds(30));
    assert_eq!(t.resend(&flow).await.status(), 202, "the fifth send");
    assert_eq!(t.deliver().await.len(), 1);
    t.advance(Duration::seconds(60));
    let e = expect_error(t.resend(&flow).await, 429, "tooManyRequests").await;
    assert_eq!(
        e.retry_after,
        Some(15 * 60 - 90),
        "the budget, not the cooldown, is the limit"
    );
    assert!(t.deliver().await.is_empty());
}
