//! Routing and delivery receipts through the real server (issue #18): a UK number goes to
//! Twilio (a loopback carrier that checks the request and answers Twilio's 201), the
//! message keeps Twilio's SID, and Twilio's signed status callback at the public URL
//! `/sms/receipts/twilio` closes it; a bad or missing signature is a 403 and changes
//! nothing; a failure is written to the flow's sign-in log and counted.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use textid_core::secret::Secret;
use textid_server::{AppConfig, RouteConfig, SmsProviderConfig};
use textid_sms::provider::twilio::TwilioConfig;
use textid_sms::routing::RouteTable;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::helpers::*;

const SID: &str = "AC00000000000000000000000000000001";
const TOKEN: &str = "e2e-twilio-auth-token";
const UK: &str = "+447911123456";

thread_local! {
    /// The loopback Twilio of the test running on this thread (`#[tokio::test]` runs a
    /// test on one thread, and the app's config is built on it).
    static TWILIO: RefCell<String> = const { RefCell::new(String::new()) };
}

/// One request the loopback Twilio got: path, headers, form.
type Seen = (String, HeaderMap, Vec<(String, String)>);

#[derive(Clone)]
struct Twilio {
    forms: mpsc::UnboundedSender<Seen>,
    next: Arc<AtomicU32>,
}

async fn twilio_answer(
    State(t): State<Twilio>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let form = url::form_urlencoded::parse(&body).into_owned().collect();
    t.forms
        .send((uri.path().to_owned(), headers, form))
        .unwrap();
    let n = t.next.fetch_add(1, Ordering::SeqCst);
    let sid = format!("SM{n:032}");
    (
        StatusCode::CREATED,
        format!(r#"{{"sid":"{sid}","status":"accepted"}}"#),
    )
}

type Forms = mpsc::UnboundedReceiver<Seen>;

async fn spawn_twilio() -> Forms {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .fallback(twilio_answer)
        .with_state(Twilio {
            forms: tx,
            next: Arc::new(AtomicU32::new(1)),
        });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    TWILIO.with(|t| *t.borrow_mut() = base);
    rx
}

/// `+44` to Twilio, everything else to the test webhook.
fn routed(c: &mut AppConfig) {
    let twilio = TwilioConfig {
        account_sid: SID.into(),
        auth_token: Secret::new(TOKEN.into()),
        api_key: None,
        messaging_service_sid: None,
        from: Some("+15005550006".into()),
        status_callback: Some(format!("{PUBLIC_URL}/sms/receipts/twilio")),
        base_url: TWILIO.with(|t| t.borrow().clone()),
        timeout: Duration::from_secs(5),
    };
    c.sms = SmsProviderConfig::Route(RouteConfig {
        table: RouteTable::parse("+44=twilio,webhook; default=webhook").unwrap(),
        providers: vec![
            ("twilio".into(), SmsProviderConfig::Twilio(twilio)),
            ("webhook".into(), c.sms.clone()),
        ],
    });
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
}

/// Twilio's signature, computed here independently of textid.
fn sign(url: &str, params: &[(String, String)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(&k);
        data.push_str(&v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

async fn callback(t: &TestApp, params: &[(String, String)], signature: Option<&str>) -> u16 {
    let mut request = t
        .http
        .post(format!("{}/sms/receipts/twilio", t.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish(),
        );
    if let Some(s) = signature {
        request = request.header("x-twilio-signature", s);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Signs in a UK user whose code goes through Twilio; returns the loopback Twilio's form.
async fn uk_code_via_twilio(t: &mut TestApp, forms: &mut Forms) -> Vec<(String, String)> {
    t.user_with_mobile("ana@contoso.example", UK).await;
    t.start_flow(UK).await;
    assert!(t.deliver().await.is_empty(), "the webhook got nothing");
    let (path, headers, form) = forms.recv().await.unwrap();
    assert_eq!(path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
    assert!(headers.contains_key("authorization"));
    form
}

fn status_callback(sid: &str, status: &str, error: Option<&str>) -> Vec<(String, String)> {
    let mut p = pairs(&[
        ("AccountSid", SID),
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("MessageStatus", status),
        ("To", UK),
        ("From", "+15005550006"),
        ("ApiVersion", "2010-04-01"),
    ]);
    if let Some(code) = error {
        p.push(("ErrorCode".into(), code.into()));
    }
    p
}

#[tokio::test]
async fn a_uk_code_goes_to_twilio_and_its_signed_receipt_closes_the_message_once() {
    let mut forms = spawn_twilio().await;
    let mut t = spawn_app_with(routed).await;
    let form = uk_code_via_twilio(&mut t, &mut forms).await;
    let callback_url = format!("{PUBLIC_URL}/sms/receipts/twilio");
    assert!(
        form.contains(&("StatusCallback".into(), callback_url.clone())),
        "{form:?}"
    );
    let m = t.messages().await.remove(0);
    let sid = "SM00000000000000000000000000000001";
    assert_eq!(
        (
            m.status.as_str(),
            m.provider.as_deref(),
            m.provider_message_id.as_deref()
        ),
        ("delivered", Some("twilio"), Some(sid))
    );

    // An intermediate status is accepted and is no receipt.
    let sent = status_callback(sid, "sent", None);
    assert_eq!(
        callback(&t, &sent, Some(&sign(&callback_url, &sent))).await,
        204
    );
    assert_eq!(t.messages().await[0].receipt_status, None);

    let delivered = status_callback(sid, "delivered", None);
    let signature = sign(&callback_url, &delivered);
    assert_eq!(callback(&t, &delivered, Some(&signature)).await, 204);
    assert_eq!(callback(&t, &delivered, Some(&signature)).await, 204);
    let m = t.messages().await.remove(0);
    assert_eq!(m.receipt_status.as_deref(), Some("delivered"));
    assert!(m.receipt_at.is_some());
    let metrics = t
        .http
        .get(format!("{}/metrics", t.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"textid_sms_receipts_total{provider="twilio",status="delivered"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_missing_or_wrong_signature_is_refused_and_changes_nothing() {
    let mut forms = spawn_twilio().await;
    let mut t = spawn_app_with(routed).await;
    uk_code_via_twilio(&mut t, &mut forms).await;
    let sid = "SM00000000000000000000000000000001";
    let callback_url = format!("{PUBLIC_URL}/sms/receipts/twilio");
    let failed = status_callback(sid, "undelivered", Some("30003"));
    let other_url = sign("https://evil.example/sms/receipts/twilio", &failed);
    let tampered = sign(&callback_url, &status_callback(sid, "delivered", None));
    for signature in [
        None,
        Some("bm90IGl0"),
        Some(other_url.as_str()),
        Some(tampered.as_str()),
    ] {
        assert_eq!(callback(&t, &failed, signature).await, 403, "{signature:?}");
    }
    assert_eq!(t.messages().await[0].receipt_status, None);
}

#[tokio::test]
async fn an_undelivered_receipt_fails_the_message_and_is_logged_against_the_flow() {
    let mut forms = spawn_twilio().await;
    let mut t = spawn_app_with(routed).await;
    uk_code_via_twilio(&mut t, &mut forms).await;
    let sid = "SM00000000000000000000000000000001";
    let callback_url = format!("{PUBLIC_URL}/sms/receipts/twilio");
    let failed = status_callback(sid, "undelivered", Some("30003"));
    assert_eq!(
        callback(&t, &failed, Some(&sign(&callback_url, &failed))).await,
        204
    );
    let m = t.messages().await.remove(0);
    assert_eq!(
        (m.receipt_status.as_deref(), m.receipt_reason.as_deref()),
        (Some("failed"), Some("twilio error 30003"))
    );
    let logs = t.sign_in_logs().await;
    let undelivered = &logs[0];
    assert_eq!(
        (
            undelivered.event.as_str(),
            undelivered.result.as_str(),
            undelivered.failure_reason.as_deref(),
            undelivered.phone.as_deref(),
        ),
        (
            "codeUndelivered",
            "failure",
            Some("twilio error 30003"),
            Some(UK)
        )
    );
    assert_eq!(undelivered.flow_id, m.flow_id);
}

#[tokio::test]
async fn a_number_outside_the_uk_takes_the_default_route() {
    let mut forms = spawn_twilio().await;
    let mut t = spawn_app_with(routed).await;
    t.user_with_mobile("bo@contoso.example", "+14255550101")
        .await;
    t.start_flow("+14255550101").await;
    assert_eq!(t.deliver().await.len(), 1, "the webhook got it");
    assert!(forms.try_recv().is_err(), "twilio got nothing");
    assert_eq!(t.messages().await[0].provider.as_deref(), Some("webhook"));
}

#[tokio::test]
async fn after_an_undelivered_text_the_resend_calls_instead_and_signs_in_as_tel() {
    let mut forms = spawn_twilio().await;
    let mut t = spawn_app_with(routed).await;
    t.set_policy(|p| p.voice.state = textid_core::policy::MethodState::Enabled)
        .await;
    uk_code_via_twilio(&mut t, &mut forms).await;
    let flow = t.messages().await[0].flow_id.unwrap().to_string();
    let callback_url = format!("{PUBLIC_URL}/sms/receipts/twilio");
    let sid = "SM00000000000000000000000000000001";
    let failed = status_callback(sid, "undelivered", Some("30003"));
    let signature = sign(&callback_url, &failed);
    assert_eq!(callback(&t, &failed, Some(&signature)).await, 204);

    t.advance(chrono::Duration::seconds(31));
    let resent = t
        .post_json(
            "default",
            "/resend",
            &serde_json::json!({ "flowId": flow, "channel": "voice" }),
        )
        .await;
    assert_eq!(resent.status(), 202);
    assert!(
        t.deliver().await.is_empty(),
        "the route sends +44 to Twilio"
    );
    let (path, _, form) = forms.recv().await.unwrap();
    assert_eq!(path, format!("/2010-04-01/Accounts/{SID}/Calls.json"));
    let twiml = &form.iter().find(|(k, _)| k == "Twiml").unwrap().1;
    let said = twiml
        .strip_prefix("<Response><Say>")
        .and_then(|s| s.split("</Say>").next())
        .unwrap();
    let code = crate::voice::spoken_code(said);
    let verified = t.verify(&flow, &code).await;
    assert_eq!(crate::voice::amr_of(&t, verified).await, ["tel"]);
}

/// Issue #18: receipts feed the conversion watch. Codes a carrier reports undelivered did
/// not reach phones: a prefix whose codes all bounce (a carrier outage) keeps getting
/// codes, while a prefix whose codes are delivered and never used is paused.
#[tokio::test]
async fn undelivered_codes_do_not_count_towards_a_conversion_pause() {
    let mut forms = spawn_twilio().await;
    let mut t = spawn_app_with(|c| {
        routed(c);
        c.limits.abuse.prefix.limit = 1000;
        c.limits.abuse.ip.limit = 1000;
    })
    .await;
    let min = t.app.limits().abuse.watch_min_sends_prefix;
    let callback_url = format!("{PUBLIC_URL}/sms/receipts/twilio");
    let mut sids = 0;
    // Starts a sign-in for a new user on `number`; whether Twilio got its code.
    async fn code_for(t: &mut TestApp, forms: &mut Forms, number: &str) -> bool {
        t.user_with_mobile(&format!("u{}@contoso.example", &number[1..]), number)
            .await;
        t.start_flow(number).await;
        assert!(t.deliver().await.is_empty(), "the webhook got nothing");
        forms.try_recv().is_ok()
    }
    // An outage on +44791112…: every code bounces.
    for n in 0..min {
        assert!(code_for(&mut t, &mut forms, &format!("+4479111200{n:02}")).await);
        sids += 1;
        let sid = format!("SM{sids:032}");
        let failed = status_callback(&sid, "undelivered", Some("30003"));
        assert_eq!(
            callback(&t, &failed, Some(&sign(&callback_url, &failed))).await,
            204
        );
    }
    assert!(
        code_for(&mut t, &mut forms, "+447911120099").await,
        "the bounced prefix still gets codes"
    );
    // +44791113…: codes delivered and never verified (pumping): paused.
    for n in 0..min {
        assert!(code_for(&mut t, &mut forms, &format!("+4479111300{n:02}")).await);
    }
    assert!(
        !code_for(&mut t, &mut forms, "+447911130099").await,
        "the unused prefix is paused"
    );
    let logs = t.sign_in_logs().await;
    assert_eq!(logs[0].failure_reason.as_deref(), Some("conversionPaused"));
    assert_eq!(logs[0].phone.as_deref(), Some("+447911130099"));
}
