//! `/v1.0/me` with a delegated token of the signed-in user (issue #15): Graph's
//! self-service permissions (`User.Read`, `UserAuthenticationMethod.ReadWrite`) without any
//! directory role; no "me" for an app's own token; no reach into other users; a number an
//! app adds or changes is `notConfigured` until the user proves it; the last phone the user
//! signs in with stays; the uniqueness rule answers as on the admin routes.

use reqwest::Method;
use serde_json::{json, Value};
use textid_core::methods::PhoneType;
use textid_core::sign_in_state::SmsSignInState;
use textid_oidc::ClientType;
use textid_server::oidc::clients;
use textid_store::Actor;
use textid_usecases::directory;

use crate::graph::{app_token, call};
use crate::oidc_helpers::{Authz, OidcApp, ANA};

const MOBILE: &str = "3179e48a-750b-4051-897c-87b9720928f7";
const MY_PHONES: &str = "/v1.0/me/authentication/phoneMethods";

/// A delegated token of `ANA` for an app allowed the self-service permissions.
async fn my_token(t: &mut OidcApp) -> String {
    let rp = t.register(ClientType::Confidential, None).await;
    let own = ["User.Read", "UserAuthenticationMethod.ReadWrite"];
    clients::set_roles(
        &t.app,
        &t.tenant,
        &rp.id,
        own.iter().map(|r| r.to_string()).collect(),
        &Actor::cli(),
    )
    .await
    .unwrap();
    let scope = own
        .iter()
        .map(|p| format!("{}/v1.0/{p}", t.base))
        .collect::<Vec<_>>()
        .join(" ");
    let tokens = t.tokens(&rp, &Authz::new(&format!("openid {scope}"))).await;
    tokens["access_token"].as_str().unwrap().to_string()
}

async fn state_of(t: &OidcApp, user: textid_core::UserId) -> SmsSignInState {
    directory::phone_method(&t.app, &t.tenant, user, PhoneType::Mobile)
        .await
        .unwrap()
        .sms_sign_in_state
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn me_answers_the_signed_in_user_and_their_phone_methods() {
    let mut t = crate::oidc_helpers::spawn_oidc().await;
    let token = my_token(&mut t).await;
    let (status, _, me) = call(&t, Method::GET, "/v1.0/me", Some(&token), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], t.ana.to_string());
    assert_eq!(me["userPrincipalName"], "ana@contoso.example");
    let (status, _, list) = call(&t, Method::GET, MY_PHONES, Some(&token), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["value"][0]["id"], MOBILE);
    assert_eq!(list["value"][0]["smsSignInState"], "ready");
    let one = format!("{MY_PHONES}/{MOBILE}");
    let (status, _, m) = call(&t, Method::GET, &one, Some(&token), None).await;
    assert_eq!((status, m["phoneType"].as_str()), (200, Some("mobile")));
}

#[tokio::test]
async fn an_app_token_has_no_me_and_a_self_service_token_reaches_no_other_user() {
    let mut t = crate::oidc_helpers::spawn_oidc().await;
    let (_, app) = app_token(
        &t,
        &[
            "User.ReadWrite.All",
            "UserAuthenticationMethod.ReadWrite.All",
        ],
    )
    .await;
    for path in ["/v1.0/me", MY_PHONES] {
        let (status, _, body) = call(&t, Method::GET, path, Some(&app), None).await;
        assert_eq!((status, error_code(&body)), (400, "BadRequest"), "{path}");
    }
    let add = json!({"phoneNumber": "+1 4255550177", "phoneType": "office"});
    let (status, _, _) = call(&t, Method::POST, MY_PHONES, Some(&app), Some(add)).await;
    assert_eq!(status, 400);

    let token = my_token(&mut t).await;
    let bo = directory::create_user(&t.app, &t.tenant, "bo@contoso.example", "Bo", &Actor::cli())
        .await
        .unwrap();
    for user in [bo.id, t.ana] {
        let path = format!("/v1.0/users/{user}/authentication/phoneMethods");
        let (status, _, body) = call(&t, Method::GET, &path, Some(&token), None).await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "Authorization_RequestDenied")
        );
        let add = json!({"phoneNumber": "+1 4255550178", "phoneType": "mobile"});
        let (status, _, _) = call(&t, Method::POST, &path, Some(&token), Some(add)).await;
        assert_eq!(status, 403);
    }
    assert!(directory::phone_methods(&t.app, &t.tenant, bo.id)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_number_an_app_sets_for_its_user_is_not_configured_until_the_user_proves_it() {
    let mut t = crate::oidc_helpers::spawn_oidc().await;
    let token = my_token(&mut t).await;
    let new = "+14255550144";
    let one = format!("{MY_PHONES}/{MOBILE}");
    let (status, _, body) = call(
        &t,
        Method::PATCH,
        &one,
        Some(&token),
        Some(json!({"phoneNumber": new})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(state_of(&t, t.ana).await, SmsSignInState::NotConfigured);
    // Admins see it in Graph's answers too.
    let (_, admin) = app_token(&t, &["UserAuthenticationMethod.Read.All"]).await;
    let path = format!("/v1.0/users/{}/authentication/phoneMethods", t.ana);
    let (_, _, list) = call(&t, Method::GET, &path, Some(&admin), None).await;
    assert_eq!(list["value"][0]["smsSignInState"], "notConfigured");
    // Nobody signs in with it: the start answers as always and sends nothing.
    let start = t
        .http
        .post(t.url("/default/api/v1/sign-in/sms"))
        .json(&json!({"phoneNumber": new}))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 202);
    assert!(t.deliver().await.is_empty());
    // Proven (what the security info page does after the code came back): ready.
    directory::confirm_phone_method(&t.app, &t.tenant, t.ana, PhoneType::Mobile)
        .await
        .unwrap();
    assert_eq!(state_of(&t, t.ana).await, SmsSignInState::Ready);
}

#[tokio::test]
async fn the_last_phone_a_user_signs_in_with_stays_and_uniqueness_conflicts_are_409() {
    let mut t = crate::oidc_helpers::spawn_oidc().await;
    let token = my_token(&mut t).await;
    let one = format!("{MY_PHONES}/{MOBILE}");
    let (status, _, body) = call(&t, Method::DELETE, &one, Some(&token), None).await;
    assert_eq!((status, error_code(&body)), (409, "lastSignInMethod"));
    assert_eq!(state_of(&t, t.ana).await, SmsSignInState::Ready);

    let bo = directory::create_user(&t.app, &t.tenant, "bo@contoso.example", "Bo", &Actor::cli())
        .await
        .unwrap();
    let taken = "+14255550155";
    directory::add_phone_method(
        &t.app,
        &t.tenant,
        bo.id,
        PhoneType::Mobile,
        taken,
        &Actor::cli(),
    )
    .await
    .unwrap();
    let (status, _, body) = call(
        &t,
        Method::PATCH,
        &one,
        Some(&token),
        Some(json!({"phoneNumber": taken})),
    )
    .await;
    assert_eq!((status, error_code(&body)), (409, "phoneNumberNotUnique"));
    let mine = directory::phone_method(&t.app, &t.tenant, t.ana, PhoneType::Mobile)
        .await
        .unwrap();
    assert_eq!(mine.method.number.e164(), ANA, "nothing changed");
}
