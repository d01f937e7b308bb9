//! The OpenID Connect harness (issue #3): [`spawn_oidc`] starts the real server with OIDC
//! on, its public URL set to the real loopback address (so the issuer, discovery and the
//! `iss` of an authorization response are URLs a relying party can use), a [`ManualClock`],
//! and a loopback webhook receiver for the SMS codes (the delivery worker is off; a test
//! drains the outbox). A [`Browser`] plays the user agent: no automatic redirects, a cookie
//! jar of its own, so a second `Browser` is a second browser. The relying party's side
//! (token requests, JWKS verification) is done as an app would, over HTTP only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use textid_store::prelude::*;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::Value;
use tempfile::TempDir;
use textid_core::clock::{Clock, ManualClock};
use textid_core::limits::SignInLimits;
use textid_core::methods::PhoneType;
use textid_core::policy::MethodState;
use textid_core::tenant::Tenant;
use textid_core::UserId;
use textid_oidc::token::{Expected, IdTokenClaims, TokenType};
use textid_oidc::{jwks, pkce, Algorithm, ClientType, KeyEncryptionKey, VerificationKey};
use textid_server::oidc::clients::{self, GrantType, NewClient};
use textid_server::{directory, App, AppConfig, SmsProviderConfig};
use textid_sms::WebhookConfig;
use textid_store::sqlite::{SqliteOptions, SqliteStore};
use textid_store::Actor;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::helpers::WebhookRequest;
pub use crate::oidc_browser::{form_body, Browser, Page};

/// The number of the signed-in user, as E.164.
pub const ANA: &str = "+14255550101";
/// The registered redirect URI of every test client (never contacted: redirects are not
/// followed).
pub const REDIRECT_URI: &str = "http://127.0.0.1:4000/callback";
/// The registered post-logout redirect URI.
pub const LOGOUT_URI: &str = "http://127.0.0.1:4000/signed-out";

/// Aborts a spawned server when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn receive(
    State(tx): State<mpsc::UnboundedSender<WebhookRequest>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let request = WebhookRequest {
        method,
        path: uri.path().to_string(),
        headers,
        body,
    };
    tx.send(request).unwrap();
    StatusCode::OK
}

/// The server under test, OIDC on.
pub struct OidcApp {
    /// `http://127.0.0.1:{port}`, also the public URL.
    pub base: String,
    /// The application state.
    pub app: App,
    /// The injected clock.
    pub clock: ManualClock,
    /// The `default` tenant.
    pub tenant: Tenant,
    /// The user who signs in, with the mobile `ANA`.
    pub ana: UserId,
    /// The relying party's HTTP client (no redirects, no cookies).
    pub http: reqwest::Client,
    /// The confidential app that signs in through the JSON API and introspects its
    /// sessions (registered by the first `sessions::api_sign_in`).
    pub api_app: Option<Rp>,
    sms: mpsc::UnboundedReceiver<WebhookRequest>,
    _server: AbortOnDrop,
    _receiver: AbortOnDrop,
    _dir: TempDir,
}

/// Starts the server with a fresh database, OIDC on, and `ANA` ready for SMS sign-in.
pub async fn spawn_oidc() -> OidcApp {
    spawn_oidc_with(|_| {}).await
}

/// [`spawn_oidc`] with the configuration changed by `configure`.
pub async fn spawn_oidc_with(configure: fn(&mut AppConfig)) -> OidcApp {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_epoch_2026();
    let (tx, sms) = mpsc::unbounded_channel();
    let hook = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/sms/hook", hook.local_addr().unwrap());
    let receiver = tokio::spawn(async move {
        let router = axum::Router::new().fallback(receive).with_state(tx);
        let _ = axum::serve(hook, router).await;
    });
    let store = Arc::new(
        SqliteStore::open(dir.path().join("textid.db"), SqliteOptions::default()).unwrap(),
    );
    let tenant = store.ensure_tenant("default", clock.now()).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = AppConfig {
        public_url: base.clone(),
        limits: SignInLimits::default(),
        sms: SmsProviderConfig::Webhook(WebhookConfig {
            url: hook_url,
            secret: None,
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
    let app = App::new(store, Arc::new(clock.clone()), [7; 32], config).unwrap();
    app.enable_oidc(KeyEncryptionKey::from_bytes([9; 32]))
        .await
        .unwrap();
    let server = tokio::spawn({
        let app = app.clone();
        async move {
            let _ = app.serve(listener, std::future::pending()).await;
        }
    });
    let ana = user_with_mobile(&app, &tenant, "ana@contoso.example", ANA).await;
    OidcApp {
        base,
        app,
        clock,
        tenant,
        ana,
        http: client(),
        api_app: None,
        sms,
        _server: AbortOnDrop(server),
        _receiver: AbortOnDrop(receiver),
        _dir: dir,
    }
}

/// Enables SMS, creates a user and gives them a ready mobile.
async fn user_with_mobile(app: &App, tenant: &Tenant, upn: &str, number: &str) -> UserId {
    let mut policy = directory::policy(app, tenant).await.unwrap();
    policy.sms.state = MethodState::Enabled;
    directory::put_policy(app, tenant, &policy, &Actor::cli())
        .await
        .unwrap();
    let user = directory::create_user(app, tenant, upn, upn, &Actor::cli())
        .await
        .unwrap()
        .id;
    directory::add_phone_method(app, tenant, user, PhoneType::Mobile, number, &Actor::cli())
        .await
        .unwrap();
    user
}

/// An HTTP client that follows no redirect.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A registered client as its app knows it.
#[derive(Debug, Clone)]
pub struct Rp {
    /// `client_id`.
    pub id: String,
    /// The secret of a confidential client.
    pub secret: Option<String>,
}

impl Rp {
    /// How this client authenticates by default: `client_secret_basic` if it has a secret,
    /// else `client_id` only.
    pub fn auth(&self) -> Auth<'_> {
        match &self.secret {
            Some(s) => Auth::Basic(&self.id, s),
            None => Auth::Public(&self.id),
        }
    }

    /// The secret of a confidential client.
    pub fn secret(&self) -> &str {
        self.secret.as_deref().expect("a confidential client")
    }
}

/// Client authentication at the token and revocation endpoints.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// `client_secret_basic` (RFC 6749 §2.3.1: form-encoded, then base64).
    Basic(&'a str, &'a str),
    /// `client_secret_post`.
    Post(&'a str, &'a str),
    /// A public client: `client_id` only.
    Public(&'a str),
    /// No client identification at all.
    Nothing,
}

/// The parameters of one authorization request, with a fresh state, nonce and verifier.
#[derive(Debug, Clone)]
pub struct Authz {
    /// `scope`.
    pub scope: String,
    /// `state`.
    pub state: String,
    /// `nonce`.
    pub nonce: String,
    /// The PKCE verifier (its S256 challenge is sent).
    pub verifier: String,
    changes: Vec<(String, Option<String>)>,
}

impl Authz {
    /// A request for `scope`.
    pub fn new(scope: &str) -> Self {
        let fresh = || uuid::Uuid::new_v4().simple().to_string();
        Self {
            scope: scope.into(),
            // Reserved and non-ASCII characters: the state must come back byte for byte.
            state: format!("{} &=/+%é", fresh()),
            nonce: fresh(),
            verifier: format!("{}{}", fresh(), fresh()),
            changes: Vec::new(),
        }
    }

    /// Sets (or replaces) a parameter.
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.changes.push((name.into(), Some(value.into())));
        self
    }

    /// Leaves a parameter out.
    pub fn without(mut self, name: &str) -> Self {
        self.changes.push((name.into(), None));
        self
    }

    fn params(&self, rp: &Rp) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = [
            ("response_type", "code".to_string()),
            ("client_id", rp.id.clone()),
            ("redirect_uri", REDIRECT_URI.to_string()),
            ("scope", self.scope.clone()),
            ("state", self.state.clone()),
            ("nonce", self.nonce.clone()),
            ("code_challenge", pkce::challenge_s256(&self.verifier)),
            ("code_challenge_method", "S256".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (name, value) in &self.changes {
            params.retain(|(k, _)| k != name);
            if let Some(v) = value {
                params.push((name.clone(), v.clone()));
            }
        }
        params
    }
}

/// The query of a redirect back to the client.
#[derive(Debug)]
pub struct Callback {
    /// The whole `Location`.
    pub location: String,
    /// Its query parameters.
    pub params: BTreeMap<String, String>,
}

impl Callback {
    /// Reads a `Location` that must lead to `redirect_uri` with a query.
    pub fn parse(redirect_uri: &str, location: &str) -> Self {
        let rest = location
            .strip_prefix(redirect_uri)
            .and_then(|r| r.strip_prefix('?'))
            .unwrap_or_else(|| panic!("{location:?} does not lead to {redirect_uri}?..."));
        let params: BTreeMap<String, String> = url::form_urlencoded::parse(rest.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self {
            location: location.into(),
            params,
        }
    }

    /// A parameter that must be there.
    pub fn get(&self, name: &str) -> &str {
        self.params
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {}", self.location))
    }

    /// The authorization code.
    pub fn code(&self) -> &str {
        self.get("code")
    }
}

/// One value, form-encoded (RFC 6749 §2.3.1 encodes the id and secret of Basic this way).
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The login page of a sign-in, with the ids its forms carry.
pub struct LoginForm {
    /// The request id.
    pub request: String,
    /// The CSRF token.
    pub csrf: String,
    /// The phone page itself.
    pub page: Page,
}

impl OidcApp {
    /// Registers a client of `kind` with `REDIRECT_URI` and `LOGOUT_URI`.
    pub async fn register(&self, kind: ClientType, alg: Option<Algorithm>) -> Rp {
        self.register_with(kind, alg, Vec::new()).await
    }

    /// Registers a client with these grants (empty: the default ones).
    pub async fn register_with(
        &self,
        kind: ClientType,
        alg: Option<Algorithm>,
        grant_types: Vec<GrantType>,
    ) -> Rp {
        let redirect =
            !grant_types.is_empty() && !grant_types.contains(&GrantType::AuthorizationCode);
        let new = NewClient {
            name: "Contoso Shifts".into(),
            client_type: kind,
            redirect_uris: if redirect {
                Vec::new()
            } else {
                vec![REDIRECT_URI.into()]
            },
            post_logout_redirect_uris: vec![LOGOUT_URI.into()],
            grant_types,
            id_token_alg: alg,
            allowed_origins: Vec::new(),
        };
        let (client, secret) = clients::register(&self.app, &self.tenant, new)
            .await
            .unwrap();
        assert_eq!(secret.is_some(), kind == ClientType::Confidential);
        Rp {
            id: client.client_id,
            secret,
        }
    }

    /// The injected clock's time.
    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        textid_core::clock::Clock::now(&self.clock)
    }

    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The issuer: `{base}/default/v2.0`.
    pub fn issuer(&self) -> String {
        self.url("/default/v2.0")
    }

    /// A new browser.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// Moves the clock forward.
    pub fn advance(&self, seconds: i64) {
        self.clock.advance(chrono::Duration::seconds(seconds));
    }

    /// The authorization request URL.
    pub fn authorize_url(&self, rp: &Rp, authz: &Authz) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(authz.params(rp))
            .finish();
        self.url(&format!("/default/oauth2/v2.0/authorize?{query}"))
    }

    /// Delivers every due SMS; returns what the receiver got.
    pub async fn deliver(&mut self) -> Vec<WebhookRequest> {
        textid_server::delivery::drain(&self.app).await.unwrap();
        let mut out = Vec::new();
        while let Ok(r) = self.sms.try_recv() {
            out.push(r);
        }
        out
    }

    /// Delivers; exactly one SMS must go out, to `ANA`. Returns its code.
    pub async fn last_code(&mut self) -> String {
        let mut sent = self.deliver().await;
        assert_eq!(sent.len(), 1, "exactly one SMS expected");
        let sms = sent.remove(0);
        assert_eq!(sms.json()["to"], ANA);
        sms.code()
    }

    /// Authorize, expecting the login page; returns its form ids.
    pub async fn login_form(&self, browser: &Browser, rp: &Rp, authz: &Authz) -> LoginForm {
        let answer = browser.get(&self.authorize_url(rp, authz)).await;
        let location = answer.location().to_string();
        assert!(
            location.starts_with("/default/login?request="),
            "{location}"
        );
        let page = browser.get(&location).await;
        assert_eq!(page.status, 200, "{}", page.body);
        LoginForm {
            request: page.value("request"),
            csrf: page.value("csrf"),
            page,
        }
    }

    /// Posts the phone form; must lead to the code page, which is opened.
    pub async fn submit_phone(&self, browser: &Browser, form: &LoginForm, phone: &str) -> Page {
        let answer = browser
            .post(
                "/default/login",
                &[
                    ("request", &form.request),
                    ("csrf", &form.csrf),
                    ("phoneNumber", phone),
                ],
            )
            .await;
        assert_eq!(
            answer.location(),
            format!("/default/login/code?request={}", form.request)
        );
        let page = browser.get(answer.location()).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page
    }

    /// Posts the code form.
    pub async fn submit_code(&self, browser: &Browser, form: &LoginForm, code: &str) -> Page {
        browser
            .post(
                "/default/login/code",
                &[
                    ("request", &form.request),
                    ("csrf", &form.csrf),
                    ("code", code),
                ],
            )
            .await
    }

    /// A complete sign-in as `ANA` through both pages; returns the redirect to the client.
    pub async fn sign_in(&mut self, browser: &Browser, rp: &Rp, authz: &Authz) -> Callback {
        let form = self.login_form(browser, rp, authz).await;
        self.submit_phone(browser, &form, ANA).await;
        let code = self.last_code().await;
        let answer = self.submit_code(browser, &form, &code).await;
        Callback::parse(REDIRECT_URI, answer.location())
    }

    /// Authorize in a browser with a live session: must answer at once with a code.
    pub async fn sso(&self, browser: &Browser, rp: &Rp, authz: &Authz) -> Callback {
        let answer = browser.get(&self.authorize_url(rp, authz)).await;
        let callback = Callback::parse(REDIRECT_URI, answer.location());
        assert!(
            callback.params.contains_key("code"),
            "{}",
            callback.location
        );
        callback
    }

    /// A request to the token endpoint.
    pub async fn token(&self, auth: Auth<'_>, params: &[(&str, &str)]) -> reqwest::Response {
        self.client_post("/default/oauth2/v2.0/token", auth, params)
            .await
    }

    /// A request to the revocation endpoint.
    pub async fn revoke(&self, auth: Auth<'_>, token: &str) -> reqwest::Response {
        self.client_post("/default/oauth2/v2.0/revoke", auth, &[("token", token)])
            .await
    }

    async fn client_post(
        &self,
        path: &str,
        auth: Auth<'_>,
        params: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = params.to_vec();
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded");
        match auth {
            Auth::Basic(id, secret) => {
                let pair = format!("{}:{}", form_encode(id), form_encode(secret));
                request =
                    request.header("authorization", format!("Basic {}", STANDARD.encode(pair)));
            }
            Auth::Post(id, secret) => {
                form.push(("client_id", id));
                form.push(("client_secret", secret));
            }
            Auth::Public(id) => form.push(("client_id", id)),
            Auth::Nothing => {}
        }
        request.body(form_body(&form)).send().await.unwrap()
    }

    /// Exchanges the code of `callback` as `authz`'s client would.
    pub async fn exchange(
        &self,
        auth: Auth<'_>,
        callback: &Callback,
        authz: &Authz,
    ) -> reqwest::Response {
        self.token(
            auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", callback.code()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &authz.verifier),
            ],
        )
        .await
    }

    /// Signs in with `rp` in a new browser and exchanges the code; the answer must be 200.
    pub async fn tokens(&mut self, rp: &Rp, authz: &Authz) -> Value {
        let browser = self.browser();
        let callback = self.sign_in(&browser, rp, authz).await;
        ok_json(self.exchange(rp.auth(), &callback, authz).await).await
    }

    /// A refresh request.
    pub async fn refresh(&self, rp: &Rp, refresh_token: &str) -> reqwest::Response {
        self.token(
            rp.auth(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    /// `GET userinfo` with a bearer token.
    pub async fn userinfo(&self, access_token: &str) -> reqwest::Response {
        self.http
            .get(self.url("/default/oauth2/v2.0/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    /// The discovery document.
    pub async fn discovery(&self) -> Value {
        let url = format!("{}/.well-known/openid-configuration", self.issuer());
        ok_json(self.http.get(url).send().await.unwrap()).await
    }

    /// The published keys, read as a relying party reads them: from the `jwks_uri` of the
    /// discovery document.
    pub async fn jwks(&self) -> Vec<VerificationKey> {
        let uri = self.discovery().await["jwks_uri"]
            .as_str()
            .unwrap()
            .to_string();
        let document = ok_json(self.http.get(uri).send().await.unwrap()).await;
        jwks::parse(&document).unwrap()
    }

    /// Verifies an ID token for `rp` against the published keys, at the clock's time.
    pub async fn verify_id_token(&self, rp: &Rp, id_token: &str) -> IdTokenClaims {
        let keys = self.jwks().await;
        let issuer = self.issuer();
        let expected = Expected {
            issuer: &issuer,
            audience: Some(&rp.id),
            typ: TokenType::IdToken,
        };
        textid_oidc::token::verify(id_token, &keys, &expected, self.clock.now())
            .unwrap_or_else(|e| panic!("the ID token does not verify: {e}"))
    }
}

/// The JSON of a 200 answer.
pub async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts an OAuth error answer (RFC 6749 §5.2): its status, `error`, `no-store`; returns
/// its headers.
pub async fn expect_oauth_error(
    response: reqwest::Response,
    status: u16,
    error: &str,
) -> reqwest::header::HeaderMap {
    let headers = response.headers().clone();
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(
        (got, body["error"].as_str()),
        (status, Some(error)),
        "{text}"
    );
    assert_eq!(
        headers.get("cache-control").map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    headers
}

/// A 401 from a protected resource with `WWW-Authenticate: Bearer error="invalid_token"`.
pub fn assert_invalid_token(response: &reqwest::Response) {
    assert_eq!(response.status(), 401);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .expect("a WWW-Authenticate challenge")
        .to_str()
        .unwrap();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
}

/// A JWT's header (part 0) or claims (part 1), not verified.
pub fn jwt_part(token: &str, part: usize) -> Value {
    let text = token.split('.').nth(part).expect("a compact JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
}
