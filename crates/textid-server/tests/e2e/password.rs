//! Password sign-in and its second factor (issue #15): `POST .../sign-in/password`, then
//! `POST .../sign-in/password/verify` when the app or the tenant requires MFA. A target
//! without "use for sign-in" allows SMS as exactly this second factor; no target refuses
//! it. A wrong password, an unknown user name and a disabled account get the same answer
//! in the same time, and wrong passwords are counted like wrong codes.

use std::time::Instant;

use serde_json::{json, Value};
use textid_core::methods::PhoneType;
use textid_core::password::Password;
use textid_core::policy::{MethodState, SmsIncludeTarget, TargetId, TargetType};
use textid_oidc::ClientType;
use textid_server::oidc::clients::{self, NewClient};
use textid_store::prelude::*;
use textid_store::Actor;

use crate::helpers::{body, expect_error, flow_id, spawn_app, TestApp};
use crate::voice::{amr_of, spoken_code};

const ANA: &str = "ana@contoso.example";
const ANA_PHONE: &str = "+14255550101";
const SECRET: &str = "Blue-Harbour-Lantern-42";

impl TestApp {
    /// `POST /default/api/v1/sign-in/password{step}`.
    pub async fn password_step(&self, step: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!(
                "{}/default/api/v1/sign-in/password{step}",
                self.base
            ))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Signs in with a user name and password.
    pub async fn sign_in_password(&self, user: &str, password: &str) -> reqwest::Response {
        self.password_step("", &json!({"userName": user, "password": password}))
            .await
    }

    /// Gives `user` the password `pw` as an admin.
    pub async fn set_password(&self, user: textid_core::UserId, pw: &str, force_change: bool) {
        let pw = Password::parse(pw).unwrap();
        textid_usecases::password::set_by_admin(
            &self.app,
            &self.tenant,
            user,
            Some(&pw),
            force_change,
            &Actor::cli(),
        )
        .await
        .unwrap();
    }

    /// Switches the tenant's MFA requirement.
    pub async fn require_mfa(&mut self, require: bool) {
        textid_usecases::password::set_tenant_require_mfa(
            &self.app,
            &self.tenant,
            require,
            &Actor::cli(),
        )
        .await
        .unwrap();
        self.tenant = self
            .store
            .tenant_by_id(self.tenant.id)
            .await
            .unwrap()
            .unwrap();
    }
}

/// SMS on with one target: all users, with or without "use for sign-in".
async fn sms_for_all(t: &TestApp, usable_for_sign_in: bool) {
    t.set_policy(|p| {
        p.sms.state = MethodState::Enabled;
        p.sms.include_targets = vec![SmsIncludeTarget {
            target_type: TargetType::Group,
            id: TargetId::AllUsers,
            is_usable_for_sign_in: usable_for_sign_in,
        }];
    })
    .await;
}

/// Ana, with a mobile and a password, in a tenant whose SMS policy lets her use SMS only
/// as a second factor.
async fn ana(t: &TestApp) -> textid_core::UserId {
    sms_for_all(t, false).await;
    let u = t.user(ANA).await;
    t.add_phone(u, PhoneType::Mobile, ANA_PHONE).await;
    t.set_password(u, SECRET, false).await;
    u
}

async fn register_app(t: &TestApp, require_mfa: bool) -> String {
    let new = NewClient {
        name: "Contoso Shifts".into(),
        client_type: ClientType::Public,
        redirect_uris: vec!["https://shifts.contoso.example/cb".into()],
        post_logout_redirect_uris: Vec::new(),
        grant_types: Vec::new(),
        id_token_alg: None,
        allowed_origins: Vec::new(),
    };
    let (client, _) = clients::register(&t.app, &t.tenant, new).await.unwrap();
    clients::set_require_mfa(
        &t.app,
        &t.tenant,
        &client.client_id,
        require_mfa,
        &Actor::cli(),
    )
    .await
    .unwrap();
    client.client_id
}

async fn verify_mfa(t: &TestApp, flow: &str, code: &str) -> reqwest::Response {
    t.password_step("/verify", &json!({"flowId": flow, "code": code}))
        .await
}

#[tokio::test]
async fn a_password_alone_signs_in_with_amr_pwd_when_no_mfa_is_required() {
    // The session is checked with the token alone (`api_session_introspection = "token"`);
    // app-authenticated introspection has its own tests (`sessions`).
    let mut t = crate::helpers::spawn_app_with(|c| {
        c.api_session_introspection = textid_server::Introspection::Token;
    })
    .await;
    let u = ana(&t).await;
    let response = t.sign_in_password(ANA, SECRET).await;
    assert_eq!(response.status(), 200);
    let answer = body(response).await;
    assert_eq!(answer["userId"], u.to_string());
    let token = answer["sessionToken"].as_str().unwrap();
    let introspected = t
        .http
        .post(format!("{}/default/api/v1/session", t.base))
        .json(&json!({ "sessionToken": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(body(introspected).await["active"], true);
    // Case and spaces of the user name do not matter; nothing was texted.
    let again = t.sign_in_password(" ANA@Contoso.Example ", SECRET).await;
    assert_eq!(amr_of(&t, again).await, ["pwd"]);
    assert!(t.deliver().await.is_empty());
}

#[tokio::test]
async fn a_wrong_password_an_unknown_user_and_a_disabled_account_get_the_same_answer() {
    let t = spawn_app().await;
    let u = ana(&t).await;
    let bob = t.user("bob@contoso.example").await;
    let carl = t.user("carl@contoso.example").await;
    t.set_password(carl, SECRET, false).await;
    let mut c = textid_server::directory::find_user(&t.app, &t.tenant, "carl@contoso.example")
        .await
        .unwrap();
    c.account_enabled = false;
    textid_server::directory::update_user(&t.app, &c, &Actor::cli())
        .await
        .unwrap();
    let mut answers = Vec::new();
    for (user, pw) in [
        (ANA, "Wrong-Password-1"),
        ("nobody@contoso.example", SECRET),
        ("bob@contoso.example", SECRET), // no password at all
        ("carl@contoso.example", SECRET),
    ] {
        let e = expect_error(
            t.sign_in_password(user, pw).await,
            400,
            "invalidCredentials",
        )
        .await;
        answers.push(e.message);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let _ = (u, bob);
    // Malformed input says which field to fix and changes nothing.
    let missing = t.password_step("", &json!({"userName": ANA})).await;
    assert_eq!(missing.status(), 400);
    let unknown_field = t
        .password_step("", &json!({"userName": ANA, "password": SECRET, "pin": 1}))
        .await;
    assert_eq!(unknown_field.status(), 400);
}

#[tokio::test]
async fn the_tenant_requirement_sends_a_code_to_the_mobile_and_signs_in_with_pwd_sms_mfa() {
    let mut t = spawn_app().await;
    let u = ana(&t).await;
    t.require_mfa(true).await;
    let response = t.sign_in_password(ANA, SECRET).await;
    assert_eq!(response.status(), 202);
    let flow = flow_id(response).await;
    let mut sent = t.deliver().await;
    assert_eq!(sent.len(), 1);
    let sms = sent.remove(0);
    assert_eq!(sms.json()["to"], ANA_PHONE);
    let wrong = verify_mfa(&t, &flow, "000000").await;
    expect_error(wrong, 400, "invalidCode").await;
    let verified = verify_mfa(&t, &flow, &sms.code()).await;
    assert_eq!(amr_of(&t, verified).await, ["pwd", "sms", "mfa"]);
    // A finished flow is gone.
    expect_error(
        verify_mfa(&t, &flow, &sms.code()).await,
        404,
        "flowNotFound",
    )
    .await;
    // The sign-in log says how.
    let logs = t.sign_in_logs().await;
    assert!(logs
        .iter()
        .any(|l| l.method == "password" && l.user_id == Some(u) && l.result == "success"));
}

#[tokio::test]
async fn an_account_disabled_between_the_password_and_the_code_gets_no_session() {
    // The password was right and the code is right, but the admin disabled the account
    // while the code was on its way: no session, and the flow is gone.
    let mut t = spawn_app().await;
    ana(&t).await;
    t.require_mfa(true).await;
    let flow = flow_id(t.sign_in_password(ANA, SECRET).await).await;
    let sms = t.deliver().await.remove(0);
    let mut a = textid_server::directory::find_user(&t.app, &t.tenant, ANA)
        .await
        .unwrap();
    a.account_enabled = false;
    textid_server::directory::update_user(&t.app, &a, &Actor::cli())
        .await
        .unwrap();
    expect_error(
        verify_mfa(&t, &flow, &sms.code()).await,
        404,
        "flowNotFound",
    )
    .await;
    // Enabled again, the same code does not come back to life either.
    a.account_enabled = true;
    textid_server::directory::update_user(&t.app, &a, &Actor::cli())
        .await
        .unwrap();
    expect_error(
        verify_mfa(&t, &flow, &sms.code()).await,
        404,
        "flowNotFound",
    )
    .await;
}

#[tokio::test]
async fn the_client_requirement_applies_to_that_app_only() {
    let mut t = spawn_app().await;
    ana(&t).await;
    let strict = register_app(&t, true).await;
    let relaxed = register_app(&t, false).await;
    let body_for = |client: &str| json!({"userName": ANA, "password": SECRET, "clientId": client});
    let relaxed_answer = t.password_step("", &body_for(&relaxed)).await;
    assert_eq!(amr_of(&t, relaxed_answer).await, ["pwd"]);
    let strict_answer = t.password_step("", &body_for(&strict)).await;
    assert_eq!(strict_answer.status(), 202);
    let flow = flow_id(strict_answer).await;
    let code = t.last_code().await;
    assert_eq!(
        amr_of(&t, verify_mfa(&t, &flow, &code).await).await,
        ["pwd", "sms", "mfa"]
    );
    let unknown = t.password_step("", &body_for("no-such-app")).await;
    expect_error(unknown, 400, "invalidRequest").await;
}

#[tokio::test]
async fn sms_as_second_factor_needs_a_target_even_without_use_for_sign_in() {
    let mut t = spawn_app().await;
    ana(&t).await;
    t.require_mfa(true).await;
    // The target without "use for sign-in" allows exactly this use...
    let allowed = t.sign_in_password(ANA, SECRET).await;
    assert_eq!(allowed.status(), 202);
    t.deliver().await;
    // ...but SMS sign-in with the same number sends nothing (not a first factor).
    let flow = t.start_flow(ANA_PHONE).await;
    assert!(t.deliver().await.is_empty());
    let _ = flow;
    // Without any target SMS is not a second factor either: no session, a clear answer.
    t.set_policy(|p| p.sms.include_targets.clear()).await;
    let refused = t.sign_in_password(ANA, SECRET).await;
    expect_error(refused, 403, "secondFactorUnavailable").await;
    assert!(t.deliver().await.is_empty());
}

#[tokio::test]
async fn a_voice_second_factor_signs_in_with_tel() {
    let mut t = spawn_app().await;
    ana(&t).await;
    t.require_mfa(true).await;
    let voice = json!({"userName": ANA, "password": SECRET, "channel": "voice"});
    // The Voice method is off: refused, nothing sent.
    let refused = t.password_step("", &voice).await;
    expect_error(refused, 400, "channelNotAllowed").await;
    t.set_policy(|p| p.voice.state = MethodState::Enabled).await;
    let response = t.password_step("", &voice).await;
    assert_eq!(response.status(), 202);
    let flow = flow_id(response).await;
    let mut sent = t.deliver().await;
    assert_eq!(sent.len(), 1);
    let call = sent.remove(0);
    assert_eq!(call.json()["channel"], "voice");
    let code = spoken_code(&call.text());
    let verified = verify_mfa(&t, &flow, &code).await;
    assert_eq!(amr_of(&t, verified).await, ["pwd", "tel", "mfa"]);
}

#[tokio::test]
async fn a_second_factor_texted_first_can_be_resent_as_a_call() {
    // "Call me instead" after a text, for a mobile that is not on for SMS sign-in (the
    // target has no "use for sign-in"): the call carries a new code, and the text's stops.
    let mut t = spawn_app().await;
    ana(&t).await;
    t.require_mfa(true).await;
    let flow = flow_id(t.sign_in_password(ANA, SECRET).await).await;
    let texted = t.last_code().await;
    t.advance(chrono::Duration::seconds(31));
    let resend = json!({"flowId": flow, "channel": "voice"});
    // The Voice method is off: answered like any resend, nothing sent.
    assert_eq!(
        t.post_json("default", "/resend", &resend).await.status(),
        202
    );
    assert!(t.deliver().await.is_empty());
    t.set_policy(|p| p.voice.state = MethodState::Enabled).await;
    // The cooldown grows with each resend.
    let early = t.post_json("default", "/resend", &resend).await;
    let wait = expect_error(early, 429, "tooManyRequests")
        .await
        .retry_after;
    t.advance(chrono::Duration::seconds(wait.unwrap() + 1));
    assert_eq!(
        t.post_json("default", "/resend", &resend).await.status(),
        202
    );
    let mut sent = t.deliver().await;
    assert_eq!(sent.len(), 1, "one call");
    let call = sent.remove(0);
    assert_eq!(
        (call.json()["channel"].as_str(), call.json()["to"].as_str()),
        (Some("voice"), Some(ANA_PHONE))
    );
    let called = spoken_code(&call.text());
    if called != texted {
        expect_error(verify_mfa(&t, &flow, &texted).await, 400, "invalidCode").await;
    }
    let verified = verify_mfa(&t, &flow, &called).await;
    assert_eq!(amr_of(&t, verified).await, ["pwd", "tel", "mfa"]);
}

#[tokio::test]
async fn a_second_factor_code_never_completes_an_sms_sign_in_nor_the_reverse() {
    let mut t = spawn_app().await;
    // SMS usable for sign-in too, so both kinds of flow send a code to the same number.
    sms_for_all(&t, true).await;
    let u = t.user(ANA).await;
    t.add_phone(u, PhoneType::Mobile, ANA_PHONE).await;
    t.set_password(u, SECRET, false).await;
    t.require_mfa(true).await;
    let mfa_flow = flow_id(t.sign_in_password(ANA, SECRET).await).await;
    let mfa_code = t.last_code().await;
    // The SMS verify does not know a second-factor flow...
    expect_error(t.verify(&mfa_flow, &mfa_code).await, 404, "flowNotFound").await;
    // ...and the second-factor verify does not know an SMS sign-in flow.
    t.advance(chrono::Duration::seconds(31));
    let sms_flow = t.start_flow(ANA_PHONE).await;
    let sms_code = t.last_code().await;
    expect_error(
        verify_mfa(&t, &sms_flow, &sms_code).await,
        404,
        "flowNotFound",
    )
    .await;
    // Each still works where it belongs.
    assert_eq!(
        amr_of(&t, t.verify(&sms_flow, &sms_code).await).await,
        ["sms"]
    );
    assert_eq!(
        amr_of(&t, verify_mfa(&t, &mfa_flow, &mfa_code).await).await,
        ["pwd", "sms", "mfa"]
    );
}

#[tokio::test]
async fn a_forced_change_needs_a_new_password_that_follows_the_rules() {
    let t = spawn_app().await;
    let u = ana(&t).await;
    t.set_password(u, SECRET, true).await;
    let required = t.sign_in_password(ANA, SECRET).await;
    expect_error(required, 403, "passwordChangeRequired").await;
    // A wrong password says nothing about a change.
    let wrong = t.sign_in_password(ANA, "Wrong-Password-1").await;
    expect_error(wrong, 400, "invalidCredentials").await;
    for (new, code) in [
        ("short", "passwordTooShort"),
        ("baseball", "passwordTooCommon"),
        ("Password1", "passwordTooCommon"),
    ] {
        let answer = t
            .password_step(
                "",
                &json!({"userName": ANA, "password": SECRET, "newPassword": new}),
            )
            .await;
        expect_error(answer, 400, code).await;
    }
    let changed = t
        .password_step(
            "",
            &json!({"userName": ANA, "password": SECRET, "newPassword": "Quiet-Meadow-Engine-7"}),
        )
        .await;
    assert_eq!(amr_of(&t, changed).await, ["pwd"]);
    // The old password is gone; the new one needs no change.
    expect_error(
        t.sign_in_password(ANA, SECRET).await,
        400,
        "invalidCredentials",
    )
    .await;
    let again = t.sign_in_password(ANA, "Quiet-Meadow-Engine-7").await;
    assert_eq!(again.status(), 200);
    let audits = t
        .store
        .directory_audits(t.tenant.id, &textid_store::LogQuery::latest(50))
        .await
        .unwrap();
    assert!(audits.iter().any(|a| a.activity == "Change user password"));
    assert!(audits.iter().any(|a| a.activity == "Reset user password"));
}

#[tokio::test]
async fn wrong_passwords_lock_the_user_name_like_wrong_codes_for_known_and_unknown_names() {
    let t = spawn_app().await;
    ana(&t).await;
    for user in [ANA, "nobody@contoso.example"] {
        let mut locked = None;
        for i in 0..200 {
            let answer = t.sign_in_password(user, "Wrong-Password-1").await;
            if answer.status() == 429 {
                locked = Some(i);
                break;
            }
            expect_error(answer, 400, "invalidCredentials").await;
        }
        let after = locked.unwrap_or_else(|| panic!("{user} never locked"));
        assert!(after >= 3, "not before a few tries: {after}");
        // While locked, the right password is refused too.
        let right = t.sign_in_password(user, SECRET).await;
        expect_error(right, 429, "temporarilyLocked").await;
    }
    // An operator clears a user name's lock by its `upn:` key.
    textid_usecases::abuse::clear_lock(&t.app, &t.tenant, &format!("upn:{ANA}"), &Actor::cli())
        .await
        .unwrap();
    assert_eq!(t.sign_in_password(ANA, SECRET).await.status(), 200);
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

/// The answer for an unknown user name takes as long as for a known one (the hash is
/// checked against a dummy of the same cost). 31 pairs of requests, each pair back to back
/// (in alternating order), so that load from other tests running at the same time weighs on
/// both alike; the median of the per-pair ratios must be within 25% of 1. A missing dummy
/// check would make the unknown name many times faster (no argon2 work at all).
#[tokio::test]
async fn unknown_users_take_as_long_as_known_ones() {
    let t = spawn_app().await;
    ana(&t).await;
    // Warm both paths (connection, statement caches, the dummy hash).
    t.sign_in_password("warm@contoso.example", "Wrong-Password-1")
        .await;
    t.sign_in_password(ANA, "Wrong-Password-1").await;
    let mut ratios = Vec::new();
    for i in 0..31 {
        // Names vary; a lock (which answers the same, as late) does not change the cost.
        let name = format!("nobody{i}@contoso.example");
        let timed = |user: String| {
            let t = &t;
            async move {
                let started = Instant::now();
                let answer = t.sign_in_password(&user, "Wrong-Password-1").await;
                assert!(answer.status() == 400 || answer.status() == 429);
                started.elapsed().as_secs_f64()
            }
        };
        let (k, u) = if i % 2 == 0 {
            let k = timed(ANA.to_owned()).await;
            (k, timed(name).await)
        } else {
            let u = timed(name).await;
            (timed(ANA.to_owned()).await, u)
        };
        ratios.push(k / u);
    }
    let ratio = median(ratios);
    assert!(
        (0.8..1.25).contains(&ratio),
        "known/unknown median ratio {ratio:.2}"
    );
}

#[tokio::test]
async fn graph_sets_a_password_with_password_profile_and_never_returns_it() {
    use crate::graph::{app_token, call};
    use reqwest::Method;
    let t = crate::oidc_helpers::spawn_oidc().await;
    let (_, token) = app_token(&t, &["User.ReadWrite.All"]).await;
    let sign_in = |pw: &str| {
        let (http, url) = (t.http.clone(), t.url("/default/api/v1/sign-in/password"));
        let body = json!({"userName": "dora@contoso.example", "password": pw});
        async move { http.post(url).json(&body).send().await.unwrap().status() }
    };
    // A weak password is refused and nothing is created.
    let weak = json!({
        "userPrincipalName": "dora@contoso.example", "displayName": "Dora",
        "passwordProfile": {"password": "password1", "forceChangePasswordNextSignIn": false}
    });
    let (status, _, answer) = call(&t, Method::POST, "/v1.0/users", Some(&token), Some(weak)).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _, _) = call(
        &t,
        Method::GET,
        "/v1.0/users/dora@contoso.example",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let created = json!({
        "userPrincipalName": "dora@contoso.example", "displayName": "Dora",
        "passwordProfile": {"password": SECRET, "forceChangePasswordNextSignIn": false,
                            "forceChangePasswordNextSignInWithMfa": false}
    });
    let (status, _, user) =
        call(&t, Method::POST, "/v1.0/users", Some(&token), Some(created)).await;
    assert_eq!(status, 201, "{user}");
    assert!(!user.to_string().contains(SECRET));
    assert!(
        user.get("passwordProfile").is_none_or(Value::is_null),
        "{user}"
    );
    let (_, _, read) = call(
        &t,
        Method::GET,
        "/v1.0/users/dora@contoso.example",
        Some(&token),
        None,
    )
    .await;
    assert!(!read.to_string().contains(SECRET));
    assert_eq!(sign_in(SECRET).await, 200);
    // PATCH replaces it, with a forced change at the next sign-in.
    let patch = json!({"passwordProfile": {"password": "Quiet-Meadow-Engine-7",
                                           "forceChangePasswordNextSignIn": true}});
    let (status, _, _) = call(
        &t,
        Method::PATCH,
        "/v1.0/users/dora@contoso.example",
        Some(&token),
        Some(patch),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(sign_in(SECRET).await, 400);
    assert_eq!(sign_in("Quiet-Meadow-Engine-7").await, 403);
    // An unknown property of passwordProfile is refused.
    let odd = json!({"passwordProfile": {"password": "Quiet-Meadow-Engine-8", "hint": "x"}});
    let (status, _, _) = call(
        &t,
        Method::PATCH,
        "/v1.0/users/dora@contoso.example",
        Some(&token),
        Some(odd),
    )
    .await;
    assert_eq!(status, 400);
}
