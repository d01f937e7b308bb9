//! The uniqueness rule and `smsSignInState` through the directory operations that the CLI
//! and the admin API share (DESIGN.md §1), on the real database.

use textid_core::methods::PhoneType;
use textid_core::policy::MethodState;
use textid_core::UserId;
use textid_server::error::ApiError;
use textid_store::Actor;
use textid_usecases::directory::{self, PhoneMethodView};

use crate::helpers::{spawn_app, TestApp};

const N: &str = "+1 425 555 0101";
const OTHER: &str = "+1 425 555 0102";
const ENTRA_MESSAGE: &str =
    "Phone number cannot be enabled for SMS sign-in because the number is not unique in your tenant";

async fn add(
    t: &TestApp,
    user: UserId,
    phone_type: PhoneType,
    number: &str,
) -> Result<PhoneMethodView, ApiError> {
    directory::add_phone_method(&t.app, &t.tenant, user, phone_type, number, &Actor::cli())
        .await
        .map_err(ApiError::from)
}

async fn state(t: &TestApp, user: UserId, phone_type: PhoneType) -> &'static str {
    directory::phone_method(&t.app, &t.tenant, user, phone_type)
        .await
        .unwrap()
        .sms_sign_in_state
        .as_str()
}

async fn methods(t: &TestApp, user: UserId) -> Vec<PhoneMethodView> {
    directory::phone_methods(&t.app, &t.tenant, user)
        .await
        .unwrap()
}

/// A 409 `phoneNumberNotUnique` that names the other user.
fn assert_not_unique(
    result: Result<PhoneMethodView, impl Into<ApiError> + std::fmt::Debug>,
    other: UserId,
) -> String {
    let e: ApiError = result
        .expect_err("the uniqueness rule must refuse this")
        .into();
    assert_eq!(
        (e.status.as_u16(), e.code),
        (409, "phoneNumberNotUnique"),
        "{e}"
    );
    assert!(
        e.message.contains(&other.to_string()),
        "the message names the other user: {e}"
    );
    e.message
}

#[tokio::test]
async fn a_number_enabled_for_sms_sign_in_cannot_be_put_on_another_users_method_in_any_way() {
    let t = spawn_app().await;
    let ana = t.user_with_mobile("ana@contoso.example", N).await;
    assert_eq!(state(&t, ana, PhoneType::Mobile).await, "ready");
    let bob = t.user("bob@contoso.example").await;

    assert_not_unique(add(&t, bob, PhoneType::Mobile, N).await, ana);
    assert_not_unique(
        add(&t, bob, PhoneType::Office, "+1 (425) 555-0101").await,
        ana,
    );
    add(&t, bob, PhoneType::Mobile, OTHER).await.unwrap();
    assert_not_unique(add(&t, bob, PhoneType::AlternateMobile, N).await, ana);
    let changed =
        directory::update_phone_method(&t.app, &t.tenant, bob, PhoneType::Mobile, N, &Actor::cli())
            .await;
    assert_not_unique(changed, ana);

    // Outside sign-in scope too: Ana still signs in with N once SMS is back on.
    t.set_policy(|p| p.sms.state = MethodState::Disabled).await;
    assert_not_unique(add(&t, bob, PhoneType::Office, N).await, ana);

    let bobs = methods(&t, bob).await;
    assert_eq!(bobs.len(), 1, "nothing was stored: {bobs:?}");
    assert_eq!(bobs[0].method.number.e164(), "+14255550102");
}

#[tokio::test]
async fn adding_a_mobile_in_sign_in_scope_fails_if_another_user_has_the_number_on_any_method() {
    let t = spawn_app().await;
    t.enable_sms().await;
    let ana = t.user("ana@contoso.example").await;
    t.add_phone(ana, PhoneType::Office, N).await;
    assert_eq!(state(&t, ana, PhoneType::Office).await, "notSupported");
    let bob = t.user("bob@contoso.example").await;

    let message = assert_not_unique(add(&t, bob, PhoneType::Mobile, N).await, ana);
    assert!(message.starts_with(ENTRA_MESSAGE), "{message}");
    assert!(
        methods(&t, bob).await.is_empty(),
        "the failed add stored nothing"
    );

    // The same number as a second factor only (SMS not for sign-in) may be shared.
    t.set_policy(|p| p.sms.include_targets[0].is_usable_for_sign_in = false)
        .await;
    let shared = add(&t, bob, PhoneType::Mobile, N).await.unwrap();
    assert!(!shared.method.sms_sign_in_enabled);
    assert_eq!(shared.sms_sign_in_state.as_str(), "notAllowedByPolicy");
}

#[tokio::test]
async fn enabling_sms_sign_in_fails_if_another_user_has_the_number_and_succeeds_once_it_is_gone() {
    let t = spawn_app().await;
    let ana = t.user("ana@contoso.example").await;
    let bob = t.user("bob@contoso.example").await;
    // SMS is off, so neither add switches SMS sign-in on and both may hold N (Entra allows it).
    t.add_phone(ana, PhoneType::Mobile, N).await;
    t.add_phone(bob, PhoneType::Mobile, N).await;
    assert_eq!(
        state(&t, ana, PhoneType::Mobile).await,
        "notAllowedByPolicy"
    );
    t.enable_sms().await;
    assert_eq!(
        state(&t, ana, PhoneType::Mobile).await,
        "phoneNumberNotUnique"
    );
    assert_eq!(
        state(&t, bob, PhoneType::Mobile).await,
        "phoneNumberNotUnique"
    );

    let enable = directory::set_sms_sign_in(
        &t.app,
        &t.tenant,
        ana,
        PhoneType::Mobile,
        true,
        &Actor::cli(),
    )
    .await;
    let message = assert_not_unique(enable, bob);
    assert!(message.starts_with(ENTRA_MESSAGE), "{message}");
    let view = directory::phone_method(&t.app, &t.tenant, ana, PhoneType::Mobile)
        .await
        .unwrap();
    assert!(
        !view.method.sms_sign_in_enabled,
        "the failed enable changed nothing"
    );

    directory::delete_phone_method(&t.app, &t.tenant, bob, PhoneType::Mobile, &Actor::cli())
        .await
        .unwrap();
    assert_eq!(state(&t, ana, PhoneType::Mobile).await, "notEnabled");
    let enabled = directory::set_sms_sign_in(
        &t.app,
        &t.tenant,
        ana,
        PhoneType::Mobile,
        true,
        &Actor::cli(),
    )
    .await
    .unwrap();
    assert_eq!(enabled.sms_sign_in_state.as_str(), "ready");
}

#[tokio::test]
async fn a_mobile_added_in_sign_in_scope_is_ready_and_signs_in() {
    let mut t = spawn_app().await;
    t.enable_sms().await;
    let ana = t.user("ana@contoso.example").await;
    let view = add(&t, ana, PhoneType::Mobile, N).await.unwrap();
    assert!(
        view.method.sms_sign_in_enabled,
        "switched on at once in scope"
    );
    assert_eq!(view.sms_sign_in_state.as_str(), "ready");
    let flow = t.start_flow(N).await;
    let code = t.last_code().await;
    assert_eq!(t.verify(&flow, &code).await.status(), 200);
}

#[tokio::test]
async fn a_mobile_added_while_sms_is_disabled_is_not_enabled_once_sms_is_turned_on() {
    let t = spawn_app().await;
    let ana = t.user("ana@contoso.example").await;
    let view = add(&t, ana, PhoneType::Mobile, N).await.unwrap();
    assert_eq!(view.sms_sign_in_state.as_str(), "notAllowedByPolicy");
    t.enable_sms().await;
    assert_eq!(
        state(&t, ana, PhoneType::Mobile).await,
        "notEnabled",
        "not switched on automatically"
    );
}

#[tokio::test]
async fn a_number_shared_outside_scope_shows_phone_number_not_unique_once_sms_sign_in_is_on() {
    let t = spawn_app().await;
    let ana = t.user("ana@contoso.example").await;
    let bob = t.user("bob@contoso.example").await;
    t.add_phone(ana, PhoneType::Mobile, N).await;
    t.add_phone(bob, PhoneType::Office, N).await;
    t.enable_sms().await;
    assert_eq!(
        state(&t, ana, PhoneType::Mobile).await,
        "phoneNumberNotUnique"
    );
    assert_eq!(
        state(&t, bob, PhoneType::Office).await,
        "notSupported",
        "notSupported wins"
    );
}

#[tokio::test]
async fn a_mobile_of_a_user_with_sms_as_second_factor_only_is_not_allowed_by_policy() {
    let t = spawn_app().await;
    t.set_policy(|p| {
        p.sms.state = MethodState::Enabled;
        p.sms.include_targets[0].is_usable_for_sign_in = false;
    })
    .await;
    let ana = t.user("ana@contoso.example").await;
    let view = add(&t, ana, PhoneType::Mobile, N).await.unwrap();
    assert!(!view.method.sms_sign_in_enabled);
    assert_eq!(view.sms_sign_in_state.as_str(), "notAllowedByPolicy");
}

#[tokio::test]
async fn office_and_alternate_mobile_numbers_are_not_supported_for_sms_sign_in() {
    let t = spawn_app().await;
    let ana = t.user_with_mobile("ana@contoso.example", N).await;
    add(&t, ana, PhoneType::AlternateMobile, OTHER)
        .await
        .unwrap();
    add(&t, ana, PhoneType::Office, "+1 425 555 0103 x12")
        .await
        .unwrap();
    let states: Vec<(&str, &str)> = methods(&t, ana)
        .await
        .iter()
        .map(|m| (m.method.phone_type.as_str(), m.sms_sign_in_state.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("mobile", "ready"),
            ("alternateMobile", "notSupported"),
            ("office", "notSupported")
        ]
    );
    let e = directory::set_sms_sign_in(
        &t.app,
        &t.tenant,
        ana,
        PhoneType::Office,
        true,
        &Actor::cli(),
    )
    .await
    .expect_err("office numbers cannot be switched on");
    let e = ApiError::from(e);
    assert_eq!(
        (e.status.as_u16(), e.code),
        (400, "smsSignInNotSupported"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_adds_of_one_number_in_sign_in_scope_cannot_both_win() {
    let t = spawn_app().await;
    t.enable_sms().await;
    let ana = t.user("ana@contoso.example").await;
    let bob = t.user("bob@contoso.example").await;
    let (a, b) = tokio::join!(
        add(&t, ana, PhoneType::Mobile, N),
        add(&t, bob, PhoneType::Mobile, N)
    );
    let winners = [a.is_ok(), b.is_ok()];
    assert_eq!(winners.iter().filter(|w| **w).count(), 1, "{a:?} {b:?}");
    let (loser, winner) = if a.is_ok() { (b, ana) } else { (a, bob) };
    assert_not_unique(loser, winner);
}
