//! `spawn_app()`: the real server on a free loopback port, with its own SQLite file in a
//! temporary directory, a [`ManualClock`], and the webhook SMS provider pointed at a
//! loopback [`Receiver`] that records every request. The delivery worker is off: a test
//! steps the outbox itself with [`TestApp::deliver`], so nothing depends on timing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use textid_store::prelude::*;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tempfile::TempDir;
use textid_core::clock::{Clock, ManualClock};
use textid_core::limits::SignInLimits;
use textid_core::methods::PhoneType;
use textid_core::policy::{AuthenticationMethodsPolicy, MethodState};
use textid_core::secret::Secret;
use textid_core::tenant::Tenant;
use textid_core::UserId;
use textid_server::{directory, App, AppConfig, SmsProviderConfig};
use textid_sms::WebhookConfig;
use textid_store::sqlite::{SqliteOptions, SqliteStore};
use textid_store::{Actor, MessageRecord, SignInLogEntry};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The server's hashing key. A restarted app must use the same one to open queued bodies.
const SERVER_SECRET: [u8; 32] = [7; 32];
/// The webhook signing key; the provider gets it as `whsec_` + base64.
pub const WEBHOOK_KEY: [u8; 32] = [42; 32];
/// The public URL; its host goes into the SMS text.
pub const PUBLIC_URL: &str = "http://127.0.0.1:8080";
/// The path of the receiver's URL.
pub const WEBHOOK_PATH: &str = "/sms/hook";

/// One request as the webhook receiver saw it.
#[derive(Debug)]
pub struct WebhookRequest {
    /// The method.
    pub method: Method,
    /// The path.
    pub path: String,
    /// All headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
}

impl WebhookRequest {
    /// A header that must be there, as text.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("the webhook request has no {name} header"))
            .to_str()
            .unwrap()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the webhook body is JSON")
    }

    /// The SMS text.
    pub fn text(&self) -> String {
        self.json()["body"]
            .as_str()
            .expect("body is a string")
            .to_string()
    }

    /// The code from the text's last line, `@{host} #{code}`.
    pub fn code(&self) -> String {
        let text = self.text();
        let last = text.lines().last().expect("the text has lines");
        let (_, code) = last
            .split_once(" #")
            .unwrap_or_else(|| panic!("last line {last:?} is not '@host #code'"));
        code.to_string()
    }

    /// Whether `webhook-signature` is Standard Webhooks' HMAC-SHA256 over
    /// `{id}.{timestamp}.{body}` with [`WEBHOOK_KEY`], computed here independently.
    pub fn signature_is_valid(&self) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(&WEBHOOK_KEY).unwrap();
        mac.update(self.header("webhook-id").as_bytes());
        mac.update(b".");
        mac.update(self.header("webhook-timestamp").as_bytes());
        mac.update(b".");
        mac.update(&self.body);
        let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
        self.header("webhook-signature")
            .split(' ')
            .any(|s| s == expected)
    }
}

#[derive(Clone)]
struct ReceiverState {
    requests: mpsc::UnboundedSender<WebhookRequest>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

async fn record(
    State(state): State<ReceiverState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let status = state.statuses.lock().unwrap().pop_front().unwrap_or(200);
    let request = WebhookRequest {
        method,
        path: uri.path().to_string(),
        headers,
        body,
    };
    // Recorded before answering, so a finished drain has seen every request in the channel.
    state.requests.send(request).unwrap();
    StatusCode::from_u16(status).unwrap()
}

/// A loopback webhook receiver: records every request and answers with the statuses a
/// test queued, then 200.
pub struct Receiver {
    /// Its URL.
    pub url: String,
    requests: mpsc::UnboundedReceiver<WebhookRequest>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
    _server: AbortOnDrop,
}

impl Receiver {
    async fn spawn() -> Self {
        let (tx, requests) = mpsc::unbounded_channel();
        let statuses = Arc::new(Mutex::new(VecDeque::new()));
        let router = axum::Router::new()
            .fallback(record)
            .with_state(ReceiverState {
                requests: tx,
                statuses: statuses.clone(),
            });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            url: format!("http://{addr}{WEBHOOK_PATH}"),
            requests,
            statuses,
            _server: AbortOnDrop(server),
        }
    }

    /// Answers the next requests with these statuses (then 200 again).
    pub fn answer_next(&self, statuses: &[u16]) {
        self.statuses.lock().unwrap().extend(statuses);
    }

    /// The next request, waiting for it (a worker running beside the test delivers it);
    /// fails the test after 30 s without one.
    pub async fn next(&mut self) -> WebhookRequest {
        tokio::time::timeout(std::time::Duration::from_secs(30), self.requests.recv())
            .await
            .expect("a webhook request within 30 s")
            .expect("the receiver is running")
    }

    /// Every request received so far and not yet taken.
    pub fn take(&mut self) -> Vec<WebhookRequest> {
        let mut out = Vec::new();
        while let Ok(r) = self.requests.try_recv() {
            out.push(r);
        }
        out
    }
}

/// Aborts a spawned server when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The server under test and everything a test needs to drive and observe it.
pub struct TestApp {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// The application state (for directory operations and draining the outbox).
    pub app: App,
    /// The injected clock; advance it for expiry, cooldowns and backoff.
    pub clock: ManualClock,
    /// The store, for looking at what was written.
    pub store: Arc<SqliteStore>,
    /// The `default` tenant.
    pub tenant: Tenant,
    /// The webhook receiver.
    pub sms: Receiver,
    /// An HTTP client for the API.
    pub http: reqwest::Client,
    configure: fn(&mut AppConfig),
    _server: AbortOnDrop,
    /// Holds the database file; removed when the test ends.
    pub _dir: TempDir,
}

/// Starts the server with a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the server with a fresh database and a configuration changed by `configure`
/// (kept for [`TestApp::restart`]).
pub async fn spawn_app_with(configure: fn(&mut AppConfig)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_epoch_2026();
    let sms = Receiver::spawn().await;
    boot(dir, clock, sms, configure).await
}

/// Trusts the loopback peer as a proxy, so a test can speak for several client IPs with
/// `X-Forwarded-For` (see [`TestApp::start_from`]).
pub fn behind_loopback_proxy(c: &mut AppConfig) {
    c.trusted_proxies = textid_server::client_ip::TrustedProxies::parse("127.0.0.1/32").unwrap();
}

async fn boot(
    dir: TempDir,
    clock: ManualClock,
    sms: Receiver,
    configure: fn(&mut AppConfig),
) -> TestApp {
    let store = Arc::new(
        SqliteStore::open(dir.path().join("textid.db"), SqliteOptions::default()).unwrap(),
    );
    let tenant = store.ensure_tenant("default", clock.now()).await.unwrap();
    let secret = format!("whsec_{}", BASE64.encode(WEBHOOK_KEY));
    let mut config = AppConfig {
        public_url: PUBLIC_URL.into(),
        limits: SignInLimits::default(),
        sms: SmsProviderConfig::Webhook(WebhookConfig {
            url: sms.url.clone(),
            secret: Some(Secret::new(secret)),
            timeout: Duration::from_secs(2),
        }),
        delivery_worker: false,
        trusted_proxies: Default::default(),
        test_numbers: false,
        http: textid_server::HttpLimits::default(),
        // The purge is stepped by the tests themselves (`App::purge`).
        retention: textid_server::Retention {
            purge_every: None,
            ..textid_server::Retention::default()
        },
        metrics_on_main_listener: true,
        admin_allowed_origins: Vec::new(),
        api_session_introspection: textid_server::Introspection::default(),
    };
    configure(&mut config);
    let app = App::new(
        store.clone(),
        Arc::new(clock.clone()),
        SERVER_SECRET,
        config,
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn({
        let app = app.clone();
        async move {
            let _ = app.serve(listener, std::future::pending()).await;
        }
    });
    TestApp {
        base,
        app,
        clock,
        store,
        tenant,
        sms,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        configure,
        _server: AbortOnDrop(server),
        _dir: dir,
    }
}

impl TestApp {
    /// Stops this server and starts a new app and server on the same database file (same
    /// clock, same receiver), as after a restart of the process.
    pub async fn restart(self) -> TestApp {
        let TestApp {
            clock,
            sms,
            _server: server,
            _dir: dir,
            app,
            store,
            configure,
            ..
        } = self;
        drop(server);
        drop(app);
        drop(store);
        boot(dir, clock, sms, configure).await
    }

    fn url(&self, tenant: &str, step: &str) -> String {
        format!("{}/{tenant}/api/v1/sign-in/sms{step}", self.base)
    }

    /// POSTs JSON to a sign-in endpoint of the default tenant as the client `ip` (through
    /// the loopback proxy: the app must trust it, see [`behind_loopback_proxy`]).
    pub async fn post_from(&self, ip: &str, step: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("default", step))
            .header("x-forwarded-for", ip)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs JSON to a sign-in endpoint of a tenant (`step`: "", "/verify", "/resend").
    pub async fn post_json(&self, tenant: &str, step: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(tenant, step))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs a raw body with an optional Content-Type to the start endpoint.
    pub async fn post_raw(
        &self,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url("default", "")).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send().await.unwrap()
    }

    /// `POST /default/api/v1/sign-in/sms`.
    pub async fn start(&self, phone: &str) -> reqwest::Response {
        self.post_json("default", "", &json!({ "phoneNumber": phone }))
            .await
    }

    /// `POST .../verify`.
    pub async fn verify(&self, flow_id: &str, code: &str) -> reqwest::Response {
        self.post_json(
            "default",
            "/verify",
            &json!({ "flowId": flow_id, "code": code }),
        )
        .await
    }

    /// `POST .../resend`.
    pub async fn resend(&self, flow_id: &str) -> reqwest::Response {
        self.post_json("default", "/resend", &json!({ "flowId": flow_id }))
            .await
    }

    /// Starts a flow that must be accepted; returns its id.
    pub async fn start_flow(&self, phone: &str) -> String {
        let response = self.start(phone).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "start of {phone}");
        flow_id(response).await
    }

    /// Delivers every due message synchronously; returns the requests the receiver got.
    pub async fn deliver(&mut self) -> Vec<WebhookRequest> {
        textid_server::delivery::drain(&self.app).await.unwrap();
        self.sms.take()
    }

    /// Delivers due messages; exactly one must be sent. Returns its code.
    pub async fn last_code(&mut self) -> String {
        let mut delivered = self.deliver().await;
        assert_eq!(delivered.len(), 1, "exactly one SMS expected");
        delivered.remove(0).code()
    }

    /// The injected clock's time.
    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Moves the injected clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    /// Switches the SMS method on (the default policy targets all users for sign-in but is
    /// off).
    pub async fn enable_sms(&self) {
        self.set_policy(|p| p.sms.state = MethodState::Enabled)
            .await;
    }

    /// Changes the tenant's policy.
    pub async fn set_policy(&self, change: impl FnOnce(&mut AuthenticationMethodsPolicy)) {
        let mut policy = directory::policy(&self.app, &self.tenant).await.unwrap();
        change(&mut policy);
        directory::put_policy(&self.app, &self.tenant, &policy, &Actor::cli())
            .await
            .unwrap();
    }

    /// Creates a user.
    pub async fn user(&self, upn: &str) -> UserId {
        directory::create_user(&self.app, &self.tenant, upn, upn, &Actor::cli())
            .await
            .unwrap()
            .id
    }

    /// Adds a phone method; it must succeed.
    pub async fn add_phone(&self, user: UserId, phone_type: PhoneType, number: &str) {
        directory::add_phone_method(
            &self.app,
            &self.tenant,
            user,
            phone_type,
            number,
            &Actor::cli(),
        )
        .await
        .unwrap();
    }

    /// Enables SMS, creates a user and adds `number` as their mobile: `ready` for sign-in.
    pub async fn user_with_mobile(&self, upn: &str, number: &str) -> UserId {
        self.enable_sms().await;
        let user = self.user(upn).await;
        self.add_phone(user, PhoneType::Mobile, number).await;
        user
    }

    /// The tenant's outbox, newest first.
    pub async fn messages(&self) -> Vec<MessageRecord> {
        self.store
            .list_messages(self.tenant.id, 1000)
            .await
            .unwrap()
    }

    /// The tenant's sign-in log, newest first.
    pub async fn sign_in_logs(&self) -> Vec<SignInLogEntry> {
        self.store
            .sign_in_logs(self.tenant.id, &textid_store::LogQuery::latest(1000))
            .await
            .unwrap()
    }
}

/// The JSON body of a response.
pub async fn body(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// The keys of a JSON object, sorted.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The `flowId` of a 202 answer.
pub async fn flow_id(response: reqwest::Response) -> String {
    body(response).await["flowId"]
        .as_str()
        .expect("flowId is a string")
        .to_string()
}

/// An error answer as the API contract fixes it.
#[derive(Debug)]
pub struct ApiError {
    /// Status.
    pub status: StatusCode,
    /// `error.code`.
    pub code: String,
    /// `error.message`.
    pub message: String,
    /// `Retry-After`, in seconds, if present.
    pub retry_after: Option<i64>,
}

/// Reads an error answer, checking its shape: exactly `{"error": {"code", "message"}}`,
/// a 4xx status, a non-empty message.
pub async fn error(response: reqwest::Response) -> ApiError {
    let status = response.status();
    let retry_after = response.headers().get("retry-after").map(|v| {
        v.to_str()
            .unwrap()
            .parse::<i64>()
            .expect("Retry-After is whole seconds")
    });
    let value = body(response).await;
    assert!(
        status.is_client_error(),
        "expected a 4xx, got {status}: {value}"
    );
    assert_eq!(keys(&value), ["error"], "{value}");
    assert_eq!(keys(&value["error"]), ["code", "message"], "{value}");
    let message = value["error"]["message"].as_str().unwrap().to_string();
    assert!(!message.is_empty(), "{value}");
    ApiError {
        status,
        code: value["error"]["code"].as_str().unwrap().to_string(),
        message,
        retry_after,
    }
}

/// Asserts an error answer's status and code; returns it for further checks.
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> ApiError {
    let e = error(response).await;
    assert_eq!(
        (e.status.as_u16(), e.code.as_str()),
        (status, code),
        "{e:?}"
    );
    e
}

/// A well-formed code other than `code`.
pub fn wrong(code: &str) -> String {
    let first = (code.as_bytes()[0] - b'0' + 1) % 10;
    format!("{first}{}", &code[1..])
}
