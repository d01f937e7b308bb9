//! The security info page (issue #15) through real HTTP with a cookie-keeping browser:
//! sign-in first, then back; a new number is saved only after the code sent to it comes
//! back, and the change signs the user out of their other sessions (this one stays); the uniqueness conflict and the last
//! sign-in phone are refused in plain words and change nothing; a change needs a sign-in
//! from the last 10 minutes; a `notConfigured` number is confirmed by a code.

use textid_core::methods::PhoneType;
use textid_core::sign_in_state::SmsSignInState;
use textid_store::Actor;
use textid_usecases::directory;

use crate::oidc_browser::{Browser, Page};
use crate::oidc_helpers::{OidcApp, ANA};

const NEW: &str = "+14255550161";
/// `NEW` as the page shows it.
const NEW_SHOWN: &str = "+1 4255550161";

/// Signs `ANA` in on the page's own sign-in; returns the security info page.
async fn signed_in(t: &mut OidcApp, browser: &Browser) -> Page {
    let first = browser.get("/default/security-info").await;
    sign_in_at(t, browser, first.location()).await
}

/// Signs `ANA` in on the page's sign-in at `location`; returns the security info page.
async fn sign_in_at(t: &mut OidcApp, browser: &Browser, location: &str) -> Page {
    let location = location.to_string();
    assert!(
        location.starts_with("/default/security-info/sign-in?request="),
        "{location}"
    );
    let page = browser.get(&location).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (request, csrf) = (page.value("request"), page.value("csrf"));
    let form = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("phoneNumber", ANA),
    ];
    let answer = browser.post("/default/security-info/sign-in", &form).await;
    let code_page = browser.get(answer.location()).await;
    assert_eq!(code_page.status, 200, "{}", code_page.body);
    let code = t.last_code().await;
    let form = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("code", code.as_str()),
    ];
    let answer = browser
        .post("/default/security-info/sign-in/code", &form)
        .await;
    assert_eq!(answer.location(), "/default/security-info");
    let page = browser.get("/default/security-info").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

/// Posts a form of the security info page with its state and CSRF token.
async fn post(browser: &Browser, page: &Page, path: &str, fields: &[(&str, &str)]) -> Page {
    let (request, csrf) = (page.value("request"), page.value("csrf"));
    let mut form = vec![("request", request.as_str()), ("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    browser
        .post(&format!("/default/security-info{path}"), &form)
        .await
}

async fn mobile_state(t: &OidcApp) -> (String, SmsSignInState) {
    let m = directory::phone_method(&t.app, &t.tenant, t.ana, PhoneType::Mobile)
        .await
        .unwrap();
    (m.method.number.e164(), m.sms_sign_in_state)
}

#[tokio::test]
async fn a_new_mobile_is_saved_only_after_its_code_and_the_change_signs_out_the_other_sessions() {
    let mut t = crate::oidc_helpers::spawn_oidc().await;
    let browser = t.browser();
    let page = signed_in(&mut t, &browser).await;
    assert!(
        page.body.contains("You sign in with this number."),
        "{}",
        page.body
    );
    let other_browser = t.browser();
    signed_in(&mut t, &other_browser).await;

    let fields = [
        ("phoneType", "mobile"),
        ("phoneNumber", NEW),
        ("edit", "change"),
    ];
    let answer = post(&browser, &page, "/phone", &fields).await;
    let verify = browser.get(answer.location()).await;
    assert_eq!(verify.status, 200, "{}", verify.body);
    let mut sent = t.deliver().await;
    assert_eq!(sent.len(), 1);
    let proof = sent.remove(0);
    assert_eq!(proof.json()["to"], NEW);
    assert_eq!(proof.json()["kind"], "verificationCode");
    // Not saved before the code comes back.
    assert_eq!(mobile_state(&t).await.0, ANA);
    let wrong = if proof.code() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let refused = post(&browser, &verify, "/verify", &[("code", wrong)]).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(mobile_state(&t).await.0, ANA);

    let code = proof.code();
    let saved = post(&browser, &verify, "/verify", &[("code", &code)]).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(
        saved.body.contains("your other sessions were signed out"),
        "{}",
        saved.body
    );
    assert_eq!(
        mobile_state(&t).await,
        (NEW.to_string(), SmsSignInState::Ready)
    );
    // The old number is told, without a code.
    let mut told = t.deliver().await;
    assert_eq!(told.len(), 1);
    let notice = told.remove(0).json();
    assert_eq!(
        (notice["to"].as_str(), notice["kind"].as_str()),
        (Some(ANA), Some("numberChanged"))
    );
    assert!(
        !notice["body"].as_str().unwrap().contains('#'),
        "no code in the notice"
    );
    // The other session ended: that browser must sign in again; this one goes on.
    let again = other_browser.get("/default/security-info").await;
    assert!(again
        .location()
        .starts_with("/default/security-info/sign-in"));
    let here = browser.get("/default/security-info").await;
    assert_eq!(here.status, 200, "{}", here.location());
    assert!(here.body.contains(NEW_SHOWN), "{}", here.body);
}

#[tokio::test]
async fn a_number_another_user_signs_in_with_is_refused_in_plain_words_before_any_code() {
    let mut t = crate::oidc_helpers::spawn_oidc().await;
    let bo = directory::create_user(&t.app, &t.tenant, "bo@contoso.example", "Bo", &Actor::cli())
        .await
        .unwrap();
    directory::add_phone_method(
        &t.app,
        &t.tenant,
        bo.id,
        PhoneType::Mobile,
        NEW,
        &Actor::cli(),
    )
    .await
    .unwrap();
    let browser = t.browser();
    let page = signed_in(&mut t, &browser).await;
    let fields = [
        ("phoneType", "mobile"),
        ("phoneNumber", NEW),
        ("edit", "change"),
    ];
    let refused = post(&browser, &page, "/phone", &fields).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("belongs to another person"),
        "{}",
        refused.body
    );
    assert!(t.deliver().await.is_empty(), "no code to the other person");
    assert_eq!(mobile_state(&t).await.0, ANA);
}

#[tokio::test]
async fn the_last_sign_in_phone_stays_and_a_change_needs_a_recent_sign_in() {
    let mut t = crate::oidc_helpers::spawn_oidc().await;
    let browser = t.browser();
    let page = signed_in(&mut t, &browser).await;
    let refused = post(&browser, &page, "/remove", &[("phoneType", "mobile")]).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("only phone you can sign in with"),
        "{}",
        refused.body
    );
    assert_eq!(mobile_state(&t).await.1, SmsSignInState::Ready);

    // An office phone can go, but only with a sign-in of the last 10 minutes.
    directory::add_phone_method(
        &t.app,
        &t.tenant,
        t.ana,
        PhoneType::Office,
        "+14255550170",
        &Actor::cli(),
    )
    .await
    .unwrap();
    let page = browser.get("/default/security-info").await;
    t.advance(11 * 60);
    let stale = post(&browser, &page, "/remove", &[("phoneType", "office")]).await;
    assert!(
        stale
            .location()
            .starts_with("/default/security-info/sign-in"),
        "sign in again first"
    );
    let methods = directory::phone_methods(&t.app, &t.tenant, t.ana)
        .await
        .unwrap();
    assert_eq!(methods.len(), 2, "nothing removed");
    let page = sign_in_at(&mut t, &browser, stale.location()).await;
    let removed = post(&browser, &page, "/remove", &[("phoneType", "office")]).await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    let methods = directory::phone_methods(&t.app, &t.tenant, t.ana)
        .await
        .unwrap();
    assert_eq!(methods.len(), 1);
}

#[tokio::test]
async fn a_not_configured_number_is_confirmed_with_a_code_sent_to_it() {
    let mut t = crate::oidc_helpers::spawn_oidc().await;
    let browser = t.browser();
    signed_in(&mut t, &browser).await;
    // As after an app set the number with the user's token, for a user who is signed in
    // by other means (the store's flag alone, so this session lives on).
    t.app
        .store()
        .set_needs_confirmation(t.tenant.id, t.ana, PhoneType::Mobile, true, t.clock_now())
        .await
        .unwrap();
    let page = browser.get("/default/security-info").await;
    assert!(page.body.contains("id=\"confirm-mobile\""), "{}", page.body);
    let fields = [
        ("phoneType", "mobile"),
        ("phoneNumber", "+1 4255550101"),
        ("edit", "confirm"),
    ];
    let answer = post(&browser, &page, "/phone", &fields).await;
    let verify = browser.get(answer.location()).await;
    let code = t.last_code().await;
    let saved = post(&browser, &verify, "/verify", &[("code", &code)]).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(mobile_state(&t).await.1, SmsSignInState::Ready);
}

#[tokio::test]
async fn an_office_phone_is_proven_by_a_call_only_where_office_calls_are_allowed() {
    let mut t = crate::oidc_helpers::spawn_oidc().await;
    let browser = t.browser();
    let page = signed_in(&mut t, &browser).await;
    let fields = [
        ("phoneType", "office"),
        ("phoneNumber", "+1 425 555 0172"),
        ("edit", "add"),
    ];
    let (app, tenant) = (t.app.clone(), t.tenant.clone());
    let set_voice = |office: bool| {
        let (app, tenant) = (app.clone(), tenant.clone());
        async move {
            let mut p = directory::policy(&app, &tenant).await.unwrap();
            p.voice.state = textid_core::policy::MethodState::Enabled;
            p.voice.is_office_phone_allowed = office;
            directory::put_policy(&app, &tenant, &p, &Actor::cli())
                .await
                .unwrap();
        }
    };
    set_voice(false).await;
    let refused = post(&browser, &page, "/phone", &fields).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("does not allow calls"),
        "{}",
        refused.body
    );
    assert!(t.deliver().await.is_empty());

    set_voice(true).await;
    let page = browser.get("/default/security-info").await;
    let answer = post(&browser, &page, "/phone", &fields).await;
    let verify = browser.get(answer.location()).await;
    assert!(verify.body.contains("we are calling"), "{}", verify.body);
    let mut sent = t.deliver().await;
    assert_eq!(sent.len(), 1);
    let call = sent.remove(0).json();
    assert_eq!(
        (call["channel"].as_str(), call["to"].as_str()),
        (Some("voice"), Some("+14255550172"))
    );
    let code = crate::voice::spoken_code(call["body"].as_str().unwrap());
    let saved = post(&browser, &verify, "/verify", &[("code", &code)]).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let office = directory::phone_method(&t.app, &t.tenant, t.ana, PhoneType::Office)
        .await
        .unwrap();
    assert_eq!(office.sms_sign_in_state, SmsSignInState::NotSupported);
}
