//! Voice codes (issue #15): `"channel": "voice"` on start and resend sends the code as a
//! call (the webhook gets `"channel": "voice"` and the words to say, digits spaced out),
//! only when the Voice method covers the number's owner; a refused call is answered like
//! any start and sends nothing; a code read out by a call signs in with `amr` `tel`.
//! The sign-in pages offer "Call me instead" where the tenant's Voice method is on, also
//! as the fallback after a text the carrier could not deliver (issue #18). While no
//! provider places calls, Graph refuses to enable the Voice method.

use serde_json::json;
use textid_core::clock::Clock;
use textid_core::policy::{ExcludeTarget, MethodState, TargetType};
use textid_core::session::SessionKind;
use textid_store::SessionStore;

use crate::helpers::{body, expect_error, flow_id, keys, spawn_app, TestApp};

const ANA: &str = "+14255550101";

async fn start_by(t: &TestApp, phone: &str, channel: &str) -> reqwest::Response {
    t.post_json(
        "default",
        "",
        &json!({ "phoneNumber": phone, "channel": channel }),
    )
    .await
}

async fn resend_by(t: &TestApp, flow: &str, channel: &str) -> reqwest::Response {
    t.post_json(
        "default",
        "/resend",
        &json!({ "flowId": flow, "channel": channel }),
    )
    .await
}

async fn enable_voice(t: &TestApp) {
    t.set_policy(|p| p.voice.state = MethodState::Enabled).await;
}

/// The code a call reads out: the spaced digits of the spoken text.
pub fn spoken_code(said: &str) -> String {
    let first = said.split(" is your").next().expect("the code comes first");
    assert!(
        first.chars().enumerate().all(|(i, c)| if i % 2 == 1 {
            c == ' '
        } else {
            c.is_ascii_digit()
        }),
        "digits spaced out: {said:?}"
    );
    first.replace(' ', "")
}

/// The `amr` of the API session a verify returned.
pub async fn amr_of(t: &TestApp, verified: reqwest::Response) -> Vec<String> {
    assert_eq!(verified.status(), 200);
    let session = body(verified).await;
    let token = session["sessionToken"].as_str().unwrap();
    t.store
        .session_by_token_hash(
            SessionKind::Api,
            &t.app.hasher().token(token).0,
            t.clock.now(),
        )
        .await
        .unwrap()
        .expect("the session is stored")
        .amr
}

#[tokio::test]
async fn a_voice_code_goes_to_the_webhook_as_words_with_spaced_digits_and_signs_in_as_tel() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    enable_voice(&t).await;
    let response = start_by(&t, ANA, "voice").await;
    assert_eq!(response.status(), 202);
    let flow = flow_id(response).await;
    let mut sent = t.deliver().await;
    assert_eq!(sent.len(), 1);
    let call = sent.remove(0).json();
    assert_eq!(call["channel"], "voice");
    assert_eq!(call["to"], ANA);
    assert_eq!(call["kind"], "signInCode");
    let said = call["body"].as_str().unwrap();
    assert!(
        !said.contains('@'),
        "no origin-bound line is read out: {said:?}"
    );
    let code = spoken_code(said);
    assert_eq!(code.len(), 6);
    assert_eq!(amr_of(&t, t.verify(&flow, &code).await).await, ["tel"]);
}

#[tokio::test]
async fn a_text_after_a_call_signs_in_as_sms_and_the_call_code_stops_working() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    enable_voice(&t).await;
    let flow = flow_id(start_by(&t, ANA, "voice").await).await;
    let said = t.deliver().await.remove(0).json()["body"]
        .as_str()
        .unwrap()
        .to_string();
    let called = spoken_code(&said);
    t.advance(chrono::Duration::seconds(31));
    assert_eq!(resend_by(&t, &flow, "sms").await.status(), 202);
    let texted = t.last_code().await;
    if texted != called {
        expect_error(t.verify(&flow, &called).await, 400, "invalidCode").await;
    }
    assert_eq!(amr_of(&t, t.verify(&flow, &texted).await).await, ["sms"]);
}

#[tokio::test]
async fn a_call_outside_the_voice_policy_is_answered_like_a_start_and_sends_nothing() {
    let mut t = spawn_app().await;
    let ana = t.user_with_mobile("ana@contoso.example", ANA).await;
    // Voice is off by default: the answer has the shape of any start, and nothing goes out.
    let response = start_by(&t, ANA, "voice").await;
    assert_eq!(response.status(), 202);
    let started = body(response).await;
    assert_eq!(
        keys(&started),
        ["expiresInSeconds", "flowId", "resendAfterSeconds"]
    );
    assert!(t.deliver().await.is_empty(), "no call, and no text instead");
    assert!(t.messages().await.is_empty());
    let logged = &t.sign_in_logs().await[0];
    assert_eq!(
        (logged.failure_reason.as_deref(), logged.user_id),
        (Some("voiceNotAllowed"), Some(ana))
    );
    // The flow still belongs to the owner: a text after the cooldown signs in.
    let flow = started["flowId"].as_str().unwrap().to_string();
    t.advance(chrono::Duration::seconds(31));
    assert_eq!(resend_by(&t, &flow, "sms").await.status(), 202);
    let code = t.last_code().await;
    assert_eq!(amr_of(&t, t.verify(&flow, &code).await).await, ["sms"]);

    // Voice on, but this user excluded: refused the same way, also on resend.
    t.set_policy(|p| {
        p.voice.state = MethodState::Enabled;
        p.voice.exclude_targets = vec![ExcludeTarget {
            target_type: TargetType::User,
            id: ana.0,
        }];
    })
    .await;
    let flow = flow_id(t.start(ANA).await).await;
    t.last_code().await;
    t.advance(chrono::Duration::seconds(31));
    assert_eq!(resend_by(&t, &flow, "voice").await.status(), 202);
    assert!(t.deliver().await.is_empty());
    assert_eq!(
        t.sign_in_logs().await[0].failure_reason.as_deref(),
        Some("voiceNotAllowed")
    );
}

#[tokio::test]
async fn an_unknown_number_asking_for_a_call_gets_the_same_answer_and_no_call() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    enable_voice(&t).await;
    let known = body(start_by(&t, ANA, "voice").await).await;
    let unknown = body(start_by(&t, "+14255550199", "voice").await).await;
    assert_eq!(keys(&known), keys(&unknown));
    assert_eq!(known["expiresInSeconds"], unknown["expiresInSeconds"]);
    assert_eq!(known["resendAfterSeconds"], unknown["resendAfterSeconds"]);
    let sent = t.deliver().await;
    assert_eq!(sent.len(), 1, "only the registered number is called");
    assert_eq!(sent[0].json()["to"], ANA);
}

#[tokio::test]
async fn a_channel_other_than_sms_or_voice_is_a_400_naming_the_field_and_changes_nothing() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    for channel in [json!("fax"), json!("VOICE"), json!(1), json!(null)] {
        let response = t
            .post_json(
                "default",
                "",
                &json!({ "phoneNumber": ANA, "channel": channel }),
            )
            .await;
        if channel.is_null() {
            // An explicit null is the default, a text.
            assert_eq!(response.status(), 202);
            continue;
        }
        let e = expect_error(response, 400, "invalidRequest").await;
        assert!(e.message.contains("channel"), "{}", e.message);
    }
    assert_eq!(
        t.deliver().await.len(),
        1,
        "only the null channel sent a code"
    );
    let flow = flow_id(t.start(ANA).await).await;
    let e = expect_error(resend_by(&t, &flow, "pigeon").await, 400, "invalidRequest").await;
    assert!(e.message.contains("channel"), "{}", e.message);
}

#[tokio::test]
async fn calls_count_against_the_same_send_limits_as_texts() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    enable_voice(&t).await;
    let flow = flow_id(start_by(&t, ANA, "voice").await).await;
    // The resend cooldown holds whatever the channel.
    let early = resend_by(&t, &flow, "sms").await;
    expect_error(early, 429, "tooManyRequests").await;
    let early = resend_by(&t, &flow, "voice").await;
    expect_error(early, 429, "tooManyRequests").await;
    assert_eq!(t.deliver().await.len(), 1);
}

mod pages {
    use textid_core::policy::MethodState;
    use textid_oidc::ClientType;
    use textid_store::Actor;

    use super::spoken_code;
    use crate::oidc_helpers::{ok_json, spawn_oidc, Authz, Callback, OidcApp, ANA, REDIRECT_URI};

    async fn set_voice(t: &OidcApp, state: MethodState) {
        let mut p = textid_server::directory::policy(&t.app, &t.tenant)
            .await
            .unwrap();
        p.voice.state = state;
        textid_server::directory::put_policy(&t.app, &t.tenant, &p, &Actor::cli())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_code_page_offers_a_call_only_where_voice_is_on_and_a_called_code_signs_in_as_tel()
    {
        let mut t = spawn_oidc().await;
        let rp = t.register(ClientType::Public, None).await;
        let browser = t.browser();
        let authz = Authz::new("openid");
        // Voice off: a single "Send a new code" button.
        let form = t.login_form(&browser, &rp, &authz).await;
        let page = t.submit_phone(&browser, &form, ANA).await;
        assert!(!page.body.contains("id=\"call\""), "{}", page.body);
        t.last_code().await;

        set_voice(&t, MethodState::Enabled).await;
        let form = t.login_form(&browser, &rp, &authz).await;
        let page = t.submit_phone(&browser, &form, ANA).await;
        assert!(page.body.contains("Call me instead"), "{}", page.body);
        assert!(page.body.contains("Text me a new code"), "{}", page.body);
        t.last_code().await;
        t.advance(30);
        let call = [
            ("request", form.request.as_str()),
            ("csrf", form.csrf.as_str()),
            ("channel", "voice"),
        ];
        let answer = browser.post("/default/login/resend", &call).await;
        let page = browser.get(answer.location()).await;
        assert!(page.body.contains("we are calling"), "{}", page.body);
        let mut sent = t.deliver().await;
        assert_eq!(sent.len(), 1);
        let call = sent.remove(0).json();
        assert_eq!(call["channel"], "voice");
        let code = spoken_code(call["body"].as_str().unwrap());
        let answer = t.submit_code(&browser, &form, &code).await;
        let callback = Callback::parse(REDIRECT_URI, answer.location());
        let tokens = ok_json(t.exchange(rp.auth(), &callback, &authz).await).await;
        let claims = t
            .verify_id_token(&rp, tokens["id_token"].as_str().unwrap())
            .await;
        assert_eq!(claims.amr, ["tel"]);
    }
}

mod policy {
    use reqwest::Method;
    use serde_json::json;
    use textid_usecases::directory;

    use crate::graph::{app_token, call};

    /// Twilio without a caller number: texts only, no calls.
    fn texts_only(c: &mut textid_server::AppConfig) {
        c.sms =
            textid_server::SmsProviderConfig::Twilio(textid_sms::provider::twilio::TwilioConfig {
                account_sid: "AC00000000000000000000000000000001".into(),
                auth_token: textid_core::secret::Secret::new("token".into()),
                api_key: None,
                messaging_service_sid: Some("MG00000000000000000000000000000001".into()),
                from: None,
                status_callback: None,
                base_url: "http://127.0.0.1:9".into(),
                timeout: std::time::Duration::from_secs(1),
            });
    }

    #[tokio::test]
    async fn voice_cannot_be_enabled_while_no_provider_places_calls() {
        let t = crate::oidc_helpers::spawn_oidc_with(texts_only).await;
        let (_, admin) = app_token(&t, &["Policy.ReadWrite.AuthenticationMethod"]).await;
        let path =
            "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Voice";
        let on = json!({"@odata.type": "#microsoft.graph.voiceAuthenticationMethodConfiguration", "state": "enabled"});
        let (status, _, body) = call(&t, Method::PATCH, path, Some(&admin), Some(on)).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("does not place calls"),
            "{body}"
        );
        let policy = directory::policy(&t.app, &t.tenant).await.unwrap();
        assert_eq!(
            policy.voice.state,
            textid_core::policy::MethodState::Disabled
        );
        let off = json!({"state": "disabled", "isOfficePhoneAllowed": true});
        let (status, _, body) = call(&t, Method::PATCH, path, Some(&admin), Some(off)).await;
        assert_eq!(status, 204, "{body}");
    }
}
