//! "Send a code" looks the same for every number, and only a `ready` number gets an SMS
//! (DESIGN.md §2, §3 "Answers"): unknown numbers, numbers outside the policy, disabled
//! accounts, numbers not switched on for SMS sign-in, and alternateMobile and office
//! numbers all get a 202 of the same shape, no webhook request, no outbox entry, and a
//! flow that no code can complete. The sign-in log, read only by admins, says what
//! happened instead: no code, the real reason and the user when one is known (issue #16).

use chrono::Duration;
use textid_core::methods::PhoneType;
use textid_core::policy::{ExcludeTarget, TargetType};
use textid_core::UserId;
use textid_store::Actor;
use textid_usecases::directory;

use crate::helpers::{body, expect_error, keys, spawn_app, TestApp};

const ANA: &str = "+1 425 555 0101";
const OTHER: &str = "+1 425 555 0102";

/// Asserts that `number` gets exactly the answer a registered number gets, and nothing
/// else, while every step of it is logged as a failure for `reason`, tied to `user`.
async fn gets_the_same_answer_and_no_code(
    t: &mut TestApp,
    number: &str,
    reason: &str,
    user: Option<UserId>,
) {
    let response = t.start(number).await;
    assert_eq!(response.status(), 202, "{number}");
    let started = body(response).await;
    assert_eq!(
        keys(&started),
        ["expiresInSeconds", "flowId", "resendAfterSeconds"]
    );
    assert_eq!(
        (
            started["expiresInSeconds"].as_u64(),
            started["resendAfterSeconds"].as_u64()
        ),
        (Some(300), Some(30))
    );
    let flow = started["flowId"].as_str().unwrap().to_string();
    uuid::Uuid::parse_str(&flow).expect("flowId is a UUID");

    assert!(t.deliver().await.is_empty(), "no SMS to {number}");
    assert!(t.messages().await.is_empty(), "nothing queued for {number}");

    for code in ["000000", "123456"] {
        expect_error(t.verify(&flow, code).await, 400, "invalidCode").await;
    }
    expect_error(t.resend(&flow).await, 429, "tooManyRequests").await;
    t.advance(Duration::seconds(30));
    let response = t.resend(&flow).await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        keys(&body(response).await),
        ["expiresInSeconds", "flowId", "resendAfterSeconds"]
    );
    assert!(
        t.deliver().await.is_empty(),
        "no SMS to {number} on resend either"
    );
    assert!(t.messages().await.is_empty());

    let logged = t.sign_in_logs().await;
    assert_eq!(
        logged.len(),
        5,
        "start, two verifies, two resends: {logged:?}"
    );
    assert!(
        logged.iter().all(|l| l.result == "failure"),
        "nothing is logged as a success for {number}: {logged:?}"
    );
    // The resend refused for its cooldown says so; every other step says why no code.
    let mut why: Vec<_> = logged
        .iter()
        .filter(|l| l.failure_reason.as_deref() != Some("tooManyRequests"))
        .map(|l| (l.event.as_str(), l.failure_reason.as_deref(), l.user_id))
        .collect();
    why.sort();
    assert_eq!(
        why,
        [
            ("codeRequested", Some(reason), user),
            ("codeResent", Some(reason), user),
            ("codeVerified", Some(reason), user),
            ("codeVerified", Some(reason), user),
        ],
        "{number}"
    );
}

#[tokio::test]
async fn an_unknown_number_gets_the_same_answer_as_a_registered_one_and_no_sms() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    gets_the_same_answer_and_no_code(&mut t, OTHER, "userNotFound", None).await;

    let registered = t.start(ANA).await;
    let unknown = t.start(OTHER).await;
    assert_eq!(registered.status(), unknown.status());
    let headers = |r: &reqwest::Response| {
        let mut h: Vec<(String, String)> = r
            .headers()
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
            .collect();
        h.sort();
        h
    };
    assert_eq!(
        headers(&registered),
        headers(&unknown),
        "the headers do not tell them apart"
    );
    let (registered, unknown) = (body(registered).await, body(unknown).await);
    assert_eq!(keys(&registered), keys(&unknown));
    for key in ["expiresInSeconds", "resendAfterSeconds"] {
        assert_eq!(registered[key], unknown[key], "{key}");
    }
    let delivered = t.deliver().await;
    assert_eq!(delivered.len(), 1, "only the registered number gets an SMS");
    assert_eq!(delivered[0].json()["to"], "+14255550101");
    assert!(t.messages().await.iter().all(|m| m.to == "+14255550101"));
}

#[tokio::test]
async fn a_registered_number_gets_no_sms_once_the_sms_method_is_disabled() {
    let mut t = spawn_app().await;
    let ana = t.user_with_mobile("ana@contoso.example", ANA).await;
    t.set_policy(|p| p.sms.state = textid_core::policy::MethodState::Disabled)
        .await;
    gets_the_same_answer_and_no_code(&mut t, ANA, "notAllowedByPolicy", Some(ana)).await;
}

#[tokio::test]
async fn a_registered_number_gets_no_sms_when_its_user_is_excluded_by_a_group() {
    let mut t = spawn_app().await;
    let ana = t.user_with_mobile("ana@contoso.example", ANA).await;
    let actor = Actor::cli();
    let group = directory::create_group(&t.app, &t.tenant, "No SMS", &actor)
        .await
        .unwrap();
    directory::add_member(&t.app, &t.tenant, group.id, ana, &actor)
        .await
        .unwrap();
    t.set_policy(|p| {
        p.sms.exclude_targets = vec![ExcludeTarget {
            target_type: TargetType::Group,
            id: group.id.0,
        }]
    })
    .await;
    gets_the_same_answer_and_no_code(&mut t, ANA, "notAllowedByPolicy", Some(ana)).await;
}

#[tokio::test]
async fn a_registered_number_gets_no_sms_when_sms_is_a_second_factor_only() {
    let mut t = spawn_app().await;
    let ana = t.user_with_mobile("ana@contoso.example", ANA).await;
    t.set_policy(|p| p.sms.include_targets[0].is_usable_for_sign_in = false)
        .await;
    gets_the_same_answer_and_no_code(&mut t, ANA, "notAllowedByPolicy", Some(ana)).await;
}

#[tokio::test]
async fn a_disabled_account_gets_no_sms() {
    let mut t = spawn_app().await;
    let ana = t.user_with_mobile("ana@contoso.example", ANA).await;
    let mut user = directory::find_user(&t.app, &t.tenant, &ana.to_string())
        .await
        .unwrap();
    user.account_enabled = false;
    directory::update_user(&t.app, &user, &Actor::cli())
        .await
        .unwrap();
    gets_the_same_answer_and_no_code(&mut t, ANA, "accountDisabled", Some(ana)).await;
}

#[tokio::test]
async fn a_mobile_not_switched_on_for_sms_sign_in_gets_no_sms() {
    let mut t = spawn_app().await;
    let ana = t.user("ana@contoso.example").await;
    t.add_phone(ana, PhoneType::Mobile, ANA).await;
    t.enable_sms().await;
    let state = directory::phone_method(&t.app, &t.tenant, ana, PhoneType::Mobile)
        .await
        .unwrap()
        .sms_sign_in_state;
    assert_eq!(state.as_str(), "notEnabled");
    gets_the_same_answer_and_no_code(&mut t, ANA, "notEnabled", Some(ana)).await;
}

#[tokio::test]
async fn an_alternate_mobile_number_gets_no_sms() {
    let mut t = spawn_app().await;
    let ana = t.user_with_mobile("ana@contoso.example", ANA).await;
    t.add_phone(ana, PhoneType::AlternateMobile, OTHER).await;
    gets_the_same_answer_and_no_code(&mut t, OTHER, "notSupported", Some(ana)).await;
}

#[tokio::test]
async fn an_office_number_gets_no_sms() {
    let mut t = spawn_app().await;
    let ana = t.user("ana@contoso.example").await;
    t.enable_sms().await;
    t.add_phone(ana, PhoneType::Office, OTHER).await;
    gets_the_same_answer_and_no_code(&mut t, OTHER, "notSupported", Some(ana)).await;
}

#[tokio::test]
async fn a_number_two_users_hold_gets_no_sms_and_is_logged_as_not_unique() {
    let mut t = spawn_app().await;
    // Ana's mobile, added before SMS sign-in was on (so not enabled), and Bo's office
    // phone share a number: neither may sign in with it, and neither is "the" user.
    let ana = t.user("ana@contoso.example").await;
    t.add_phone(ana, PhoneType::Mobile, OTHER).await;
    let bo = t.user("bo@contoso.example").await;
    t.add_phone(bo, PhoneType::Office, OTHER).await;
    t.enable_sms().await;
    gets_the_same_answer_and_no_code(&mut t, OTHER, "phoneNumberNotUnique", None).await;
}

#[tokio::test]
async fn a_flow_started_before_its_number_was_registered_never_signs_in_and_says_why() {
    let mut t = spawn_app().await;
    t.enable_sms().await;
    let flow = t.start_flow(OTHER).await;
    // The number becomes Bo's sign-in number while the flow runs: the flow stays ownerless.
    let bo = t.user("bo@contoso.example").await;
    t.add_phone(bo, PhoneType::Mobile, OTHER).await;
    expect_error(t.verify(&flow, "123456").await, 400, "invalidCode").await;
    t.advance(Duration::seconds(30));
    assert_eq!(t.resend(&flow).await.status(), 202);
    assert!(
        t.deliver().await.is_empty(),
        "no code for a flow without owner"
    );
    let mut why: Vec<_> = t
        .sign_in_logs()
        .await
        .into_iter()
        .map(|l| (l.event, l.result, l.failure_reason, l.user_id))
        .collect();
    why.sort();
    let failed = |event: &str, reason: &str| {
        (
            event.to_string(),
            "failure".to_string(),
            Some(reason.to_string()),
            None,
        )
    };
    assert_eq!(
        why,
        [
            failed("codeRequested", "userNotFound"),
            failed("codeResent", "noOwnerAtStart"),
            failed("codeVerified", "noOwnerAtStart"),
        ]
    );
}
