//! The sign-in pages as a browser sees them (DESIGN.md §2, §3): security headers, the
//! one-time-code field, wrong codes, CSRF and browser binding, the same answer for unknown
//! and registered numbers, and `login_hint`.

use textid_oidc::ClientType;

use textid_server::oidc::clients::{self, NewClient};

use crate::oidc_helpers::{spawn_oidc, Authz, Callback, Page, Rp, ANA};

fn assert_security_headers(page: &Page) {
    let csp = page
        .header("content-security-policy")
        .expect("a Content-Security-Policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(
        page.header("strict-transport-security"),
        None,
        "no HSTS over http"
    );
}

#[tokio::test]
async fn the_phone_and_code_pages_carry_the_security_headers() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let form = t.login_form(&browser, &rp, &Authz::new("openid")).await;
    assert_security_headers(&form.page);
    let code_page = t.submit_phone(&browser, &form, ANA).await;
    assert_security_headers(&code_page);
    // The code form's answer redirects to the app, and Chromium applies CSP form-action to
    // the redirects after a form post: the app's origin must be allowed (or no form-action).
    assert!(
        form_action_allows(&code_page, "http://127.0.0.1:4000"),
        "{:?}",
        code_page.header("content-security-policy")
    );
}

/// Whether a page's CSP lets a form post end in a redirect to `target` (a source
/// expression: an origin, or a scheme such as `com.example.app:`).
fn form_action_allows(page: &Page, target: &str) -> bool {
    let csp = page.header("content-security-policy").unwrap_or("");
    match csp
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("form-action "))
    {
        None => true,
        Some(sources) => sources.split(' ').any(|s| s == target),
    }
}

#[tokio::test]
async fn the_code_field_invites_one_time_code_autofill() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let form = t.login_form(&browser, &rp, &Authz::new("openid")).await;
    let page = t.submit_phone(&browser, &form, ANA).await;
    let input = page.input("code");
    assert!(input.contains("autocomplete=\"one-time-code\""), "{input}");
    assert!(input.contains("inputmode=\"numeric\""), "{input}");
    // The first field takes a phone number or a user name (issue #15): a text field that
    // password managers fill with the user name.
    let first = form.page.input("phoneNumber");
    assert!(first.contains("type=\"text\""), "{first}");
    assert!(first.contains("autocomplete=\"username\""), "{first}");
}

#[tokio::test]
async fn a_wrong_code_shows_the_code_page_again_with_an_alert() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let form = t.login_form(&browser, &rp, &Authz::new("openid")).await;
    t.submit_phone(&browser, &form, ANA).await;
    let code = t.last_code().await;
    let wrong = crate::helpers::wrong(&code);
    let page = t.submit_code(&browser, &form, &wrong).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("role=\"alert\""), "{}", page.body);
    assert!(page.input("code").contains("aria-invalid=\"true\""));
    assert_eq!(page.header("location"), None);
    // The right code still signs in.
    let answer = t.submit_code(&browser, &form, &code).await;
    Callback::parse(crate::oidc_helpers::REDIRECT_URI, answer.location()).code();
}

#[tokio::test]
async fn a_form_with_a_wrong_csrf_token_is_refused_and_changes_nothing() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let form = t.login_form(&browser, &rp, &Authz::new("openid")).await;
    let wrong_csrf = format!("x{}", &form.csrf[1..]);
    for csrf in [wrong_csrf.as_str(), ""] {
        let page = browser
            .post(
                "/default/login",
                &[
                    ("request", &form.request),
                    ("csrf", csrf),
                    ("phoneNumber", ANA),
                ],
            )
            .await;
        assert_eq!(page.status, 400, "{}", page.body);
        assert_eq!(page.header("location"), None);
    }
    assert!(t.deliver().await.is_empty(), "no SMS");

    t.submit_phone(&browser, &form, ANA).await;
    let code = t.last_code().await;
    let page = browser
        .post(
            "/default/login/code",
            &[
                ("request", &form.request),
                ("csrf", &wrong_csrf),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(page.header("location"), None);
    assert_eq!(browser.cookie("textid_session"), None, "not signed in");
    // The code was not spent by the refused post.
    let answer = t.submit_code(&browser, &form, &code).await;
    Callback::parse(crate::oidc_helpers::REDIRECT_URI, answer.location()).code();
}

#[tokio::test]
async fn a_sign_in_request_does_not_open_in_another_browser() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let form = t.login_form(&browser, &rp, &Authz::new("openid")).await;
    // The other browser has begun a sign-in of its own, so it has a binding cookie too.
    let other = t.browser();
    t.login_form(&other, &rp, &Authz::new("openid")).await;
    assert!(other.cookie("textid_binding").is_some());
    let page = other
        .get(&format!("/default/login?request={}", form.request))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        !page.body.contains(&form.csrf),
        "the CSRF token must not leak"
    );
    let page = other
        .post(
            "/default/login",
            &[
                ("request", &form.request),
                ("csrf", &form.csrf),
                ("phoneNumber", ANA),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(t.deliver().await.is_empty(), "no SMS");
    // After a (legitimate) phone step the code page stays closed to the other browser too.
    t.submit_phone(&browser, &form, ANA).await;
    let code = t.last_code().await;
    let page = other
        .get(&format!("/default/login/code?request={}", form.request))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = other
        .post(
            "/default/login/code",
            &[
                ("request", &form.request),
                ("csrf", &form.csrf),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(other.cookie("textid_session"), None);
}

#[tokio::test]
async fn the_phone_page_answers_alike_for_unknown_and_registered_numbers() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let (mut pages, mut refusals) = (Vec::new(), Vec::new());
    for (number, display) in [("+14255550199", "+1 4255550199"), (ANA, "+1 4255550101")] {
        let browser = t.browser();
        let form = t.login_form(&browser, &rp, &Authz::new("openid")).await;
        let anonymous = |body: &str| {
            body.replace(&form.request, "")
                .replace(&form.csrf, "")
                .replace(display, "NUMBER")
        };
        // submit_phone asserts the same redirect to the code page for both.
        let page = t.submit_phone(&browser, &form, number).await;
        pages.push(anonymous(&page.body));
        let refused = t.submit_code(&browser, &form, "000000").await;
        refusals.push((refused.status, anonymous(&refused.body)));
    }
    assert_eq!(
        pages[0], pages[1],
        "the code pages differ only in the number"
    );
    assert_eq!(refusals[0], refusals[1], "a wrong code is refused alike");
    assert_eq!(refusals[0].0, 400);
    let sent = t.deliver().await;
    assert_eq!(sent.len(), 1, "an SMS only to the registered number");
    assert_eq!(sent[0].json()["to"], ANA);
}

#[tokio::test]
async fn login_hint_prefills_the_phone_number() {
    let t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let plain = t.login_form(&browser, &rp, &Authz::new("openid")).await;
    assert_eq!(plain.page.value("phoneNumber"), "");
    let authz = Authz::new("openid").with("login_hint", ANA);
    assert!(t
        .authorize_url(&rp, &authz)
        .contains("login_hint=%2B14255550101"));
    let hinted = t.login_form(&browser, &rp, &authz).await;
    assert_eq!(hinted.page.value("phoneNumber"), ANA);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_lax_and_new_at_every_sign_in() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let answer = browser
        .get(&t.authorize_url(&rp, &Authz::new("openid")))
        .await;
    let binding = answer.header("set-cookie").expect("a binding cookie");
    assert!(binding.starts_with("textid_binding="), "{binding}");
    assert_cookie_attributes(binding);

    let mut sessions = Vec::new();
    for _ in 0..2 {
        let authz = Authz::new("openid").with("prompt", "login");
        let form = t.login_form(&browser, &rp, &authz).await;
        t.submit_phone(&browser, &form, ANA).await;
        let code = t.last_code().await;
        let answer = t.submit_code(&browser, &form, &code).await;
        Callback::parse(crate::oidc_helpers::REDIRECT_URI, answer.location()).code();
        let cookie = answer.header("set-cookie").expect("a session cookie");
        assert!(cookie.starts_with("textid_session="), "{cookie}");
        assert_cookie_attributes(cookie);
        sessions.push(browser.cookie("textid_session").unwrap());
        t.advance(31);
    }
    assert_ne!(sessions[0], sessions[1], "a new session at every sign-in");
    assert!(
        sessions[0].len() >= 32,
        "at least 128 bits: {}",
        sessions[0]
    );
    // The session the second sign-in replaced no longer signs in anywhere.
    let old = t.browser();
    old.set_cookie("textid_session", &sessions[0]);
    let answer = old.get(&t.authorize_url(&rp, &Authz::new("openid"))).await;
    assert!(
        answer.location().starts_with("/default/login?"),
        "{}",
        answer.location()
    );
    let current = t.browser();
    current.set_cookie("textid_session", &sessions[1]);
    t.sso(&current, &rp, &Authz::new("openid")).await;
}

fn assert_cookie_attributes(cookie: &str) {
    let attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for wanted in ["httponly", "samesite=lax", "path=/"] {
        assert!(attributes.iter().any(|a| a == wanted), "{wanted}: {cookie}");
    }
    assert!(
        !attributes.iter().any(|a| a.starts_with("domain")),
        "{cookie}"
    );
}

#[tokio::test]
async fn a_number_that_does_not_parse_is_shown_back_escaped() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let form = t.login_form(&browser, &rp, &Authz::new("openid")).await;
    let typed = "\"><script>alert(1)</script>";
    let page = browser
        .post(
            "/default/login",
            &[
                ("request", &form.request),
                ("csrf", &form.csrf),
                ("phoneNumber", typed),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("role=\"alert\""), "{}", page.body);
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;"), "{}", page.body);
    assert!(t.deliver().await.is_empty());
}

#[tokio::test]
async fn resend_waits_for_the_cooldown_and_only_the_newest_code_works() {
    let mut t = spawn_oidc().await;
    let rp = t.register(ClientType::Public, None).await;
    let browser = t.browser();
    let form = t.login_form(&browser, &rp, &Authz::new("openid")).await;
    let page = t.submit_phone(&browser, &form, ANA).await;
    assert!(page.body.contains("data-wait=\"30\""), "{}", page.body);
    let old = t.last_code().await;
    let resend = [
        ("request", form.request.as_str()),
        ("csrf", form.csrf.as_str()),
    ];
    let early = browser.post("/default/login/resend", &resend).await;
    assert_eq!(early.status, 400, "{}", early.body);
    assert!(early.body.contains("role=\"alert\""), "{}", early.body);
    assert!(t.deliver().await.is_empty(), "no SMS before the cooldown");

    t.advance(30);
    let answer = browser.post("/default/login/resend", &resend).await;
    assert_eq!(
        answer.location(),
        format!("/default/login/code?request={}&notice=resent", form.request)
    );
    let page = browser.get(answer.location()).await;
    assert!(page.body.contains("role=\"status\""), "{}", page.body);
    let new = t.last_code().await;
    if new != old {
        let refused = t.submit_code(&browser, &form, &old).await;
        assert_eq!(refused.status, 400, "{}", refused.body);
    }
    let answer = t.submit_code(&browser, &form, &new).await;
    Callback::parse(crate::oidc_helpers::REDIRECT_URI, answer.location()).code();
}

#[tokio::test]

async fn the_code_page_lets_the_browser_return_to_a_native_app() {
    let mut t = spawn_oidc().await;
    let native = "com.contoso.shifts:/oauth2redirect";
    let new = NewClient {
        name: "Contoso Shifts for Android".into(),
        client_type: ClientType::Public,
        redirect_uris: vec![native.into()],
        post_logout_redirect_uris: Vec::new(),
        grant_types: Vec::new(),
        id_token_alg: None,
        allowed_origins: Vec::new(),
    };
    let (client, _) = clients::register(&t.app, &t.tenant, new).await.unwrap();
    let rp = Rp {
        id: client.client_id,
        secret: None,
    };
    let browser = t.browser();
    let authz = Authz::new("openid").with("redirect_uri", native);
    let form = t.login_form(&browser, &rp, &authz).await;
    let page = t.submit_phone(&browser, &form, ANA).await;
    let code = t.last_code().await;
    let answer = t.submit_code(&browser, &form, &code).await;
    Callback::parse(native, answer.location()).code();
    // RFC 8252 §7.1 private-use scheme: allowed by its scheme source.
    assert!(
        form_action_allows(&page, "com.contoso.shifts:"),
        "{:?}",
        page.header("content-security-policy")
    );
}
