//! Directory changes while a flow is open: a flow must not outlive the reason it was given a
//! code. When the account is disabled, the number removed, SMS sign-in turned off or the
//! user deleted, the code already sent stops working and a resend sends nothing (DESIGN.md
//! §1 "ready", §2 "if a user has that number in state ready"; the seeds' lost-phone case).

use chrono::Duration;
use textid_core::methods::PhoneType;
use textid_core::policy::MethodState;
use textid_core::UserId;
use textid_store::Actor;
use textid_usecases::directory;

use crate::helpers::{error, spawn_app, TestApp};

const ANA: &str = "+1 425 555 0101";

/// Starts a flow for Ana's ready number and delivers its code.
async fn open_flow(t: &mut TestApp) -> (UserId, String, String) {
    let ana = t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let code = t.last_code().await;
    (ana, flow, code)
}

/// The code no longer signs in (a 4xx, never a session or a 5xx), and a resend sends nothing.
async fn the_flow_is_dead(t: &mut TestApp, flow: &str, code: &str) {
    let e = error(t.verify(flow, code).await).await;
    assert!(
        matches!(e.code.as_str(), "invalidCode" | "flowNotFound"),
        "{e:?}"
    );
    t.advance(Duration::seconds(30));
    let _ = t.resend(flow).await;
    assert!(
        t.deliver().await.is_empty(),
        "no new code for a flow that cannot succeed"
    );
}

#[tokio::test]

async fn a_code_stops_working_when_the_account_is_disabled_during_the_flow() {
    let mut t = spawn_app().await;
    let (ana, flow, code) = open_flow(&mut t).await;
    let mut user = directory::find_user(&t.app, &t.tenant, &ana.to_string())
        .await
        .unwrap();
    user.account_enabled = false;
    directory::update_user(&t.app, &user, &Actor::cli())
        .await
        .unwrap();
    the_flow_is_dead(&mut t, &flow, &code).await;
}

#[tokio::test]

async fn a_code_stops_working_when_the_number_is_removed_during_the_flow() {
    let mut t = spawn_app().await;
    let (ana, flow, code) = open_flow(&mut t).await;
    directory::delete_phone_method(&t.app, &t.tenant, ana, PhoneType::Mobile, &Actor::cli())
        .await
        .unwrap();
    the_flow_is_dead(&mut t, &flow, &code).await;
}

#[tokio::test]

async fn a_code_stops_working_when_the_sms_method_is_turned_off_during_the_flow() {
    let mut t = spawn_app().await;
    let (_, flow, code) = open_flow(&mut t).await;
    t.set_policy(|p| p.sms.state = MethodState::Disabled).await;
    the_flow_is_dead(&mut t, &flow, &code).await;
}

#[tokio::test]

async fn a_deleted_user_cannot_complete_a_flow_and_gets_no_internal_error() {
    let mut t = spawn_app().await;
    let (ana, flow, code) = open_flow(&mut t).await;
    directory::delete_user(&t.app, &t.tenant, ana, &Actor::cli())
        .await
        .unwrap();
    the_flow_is_dead(&mut t, &flow, &code).await;
}
