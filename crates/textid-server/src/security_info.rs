//! The security info page (issue #15): a signed-in user sees their phone methods, adds or
//! changes a number (proven by a code sent to it before it is saved), confirms a
//! `notConfigured` number, removes a method (not the last they sign in with) and enables
//! an existing mobile for SMS sign-in where the policy allows (seed 002's "My Profile").
//!
//! ```text
//!   GET /{t}/security-info ──no SSO session──► /{t}/security-info/sign-in (phone → code) ─┐
//!        │ ◄──────────────────────────────────────────────────────────────────────────────┘
//!        ├─ POST …/phone (number) ──► code to the number ──► POST …/verify (code) ──► saved
//!        ├─ POST …/remove, POST …/enable
//!        └─ a change with a sign-in older than 10 minutes ──► sign in again first
//! ```
//! Every form carries a page state id and its CSRF token; the state lives on the server
//! (as a sign-in request does) and opens only in the browser that began it (the binding
//! cookie). The rules are the use cases' (`directory`, `proof`), so the page answers the
//! same conditions as Graph, in plain words. A change signs the user out of their other
//! sessions (every session but this browser's, and every token issued to them, are
//! revoked), so a thief's sessions end while the user goes on here.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Duration;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use textid_core::code::{new_token, OtpCode};
use textid_core::message::Channel;
use textid_core::methods::PhoneType;
use textid_core::phone::PhoneNumber;
use textid_core::policy::SmsPermission;
use textid_core::session::SessionKind;
use textid_core::tenant::Tenant;
use textid_core::{FlowId, SessionId, UserId};
use textid_store::{Actor, SessionRecord};

use crate::app::App;
use crate::directory::{self as dir, DirectoryError, Edit, Proof};
use crate::oidc::authorize::{browser_session, constant_eq, hex, see_other};
use crate::oidc::{binding_cookie_name, cookie, https, session_cookie_name, set_cookie};
use crate::pages::{self, catalog::text};
use crate::sign_in::{self, SignInFailure};

/// How recent a sign-in must be to change security info.
const RECENT_SIGN_IN_MINUTES: i64 = 10;
/// How long a page state lives.
const STATE_MINUTES: i64 = 15;

/// The routes of the page.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/{tenant}/security-info", get(page))
        .route(
            "/{tenant}/security-info/sign-in",
            get(sign_in_page).post(sign_in_phone),
        )
        .route(
            "/{tenant}/security-info/sign-in/code",
            get(sign_in_code_page).post(sign_in_code),
        )
        .route("/{tenant}/security-info/phone", post(phone))
        .route(
            "/{tenant}/security-info/verify",
            get(verify_page).post(verify),
        )
        .route("/{tenant}/security-info/remove", post(remove))
        .route("/{tenant}/security-info/enable", post(enable))
}

/// What the server keeps for one page: its CSRF token, the browser it belongs to, and a
/// number waiting for its proof code (the code's flow is the request's flow).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PageState {
    csrf: String,
    binding_hash: String,
    pending: Option<Pending>,
    /// The app's authorization request to go back to (after a pass sign-in, which leads
    /// here to register a phone): a path of this tenant's `/authorize`, checked.
    #[serde(default)]
    continue_to: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    phone_type: PhoneType,
    number: String,
    edit: String,
}

/// `?request=…`
#[derive(Debug, Deserialize)]
pub struct StateQuery {
    request: Option<String>,
}

/// `GET /{tenant}/security-info?continue=…`
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    #[serde(rename = "continue")]
    continue_to: Option<String>,
}

/// Where "Continue to the app" may lead: only this tenant's authorization endpoint (it
/// checks the app and its redirect URI again), never another site.
fn continue_target(tenant: &Tenant, raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    let prefix = format!("/{}/oauth2/v2.0/authorize?", tenant.name);
    (raw.starts_with(&prefix)
        && raw.len() <= 4096
        && !raw
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace()))
    .then(|| raw.to_owned())
}

/// The `continue` parameter that brings a browser back to `req` after this page.
pub fn continue_query(tenant: &Tenant, req: &crate::oidc::authorize::AuthRequest) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", &req.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &req.redirect_uri)
        .append_pair("scope", &req.scope)
        .append_pair("code_challenge", &req.code_challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in [("state", &req.state), ("nonce", &req.nonce)] {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    let target = format!("/{}/oauth2/v2.0/authorize?{}", tenant.name, q.finish());
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("continue", &target)
        .finish()
}

/// Every form: the state id, its CSRF token, and the fields of the action.
#[derive(Debug, Deserialize)]
pub struct PageForm {
    request: String,
    csrf: String,
    #[serde(rename = "phoneNumber")]
    phone_number: Option<String>,
    #[serde(rename = "phoneType")]
    phone_type: Option<String>,
    edit: Option<String>,
    code: Option<String>,
}

#[derive(Debug, Serialize)]
struct MethodRow {
    phone_type: &'static str,
    number: String,
    state: &'static str,
}

#[derive(Debug, Serialize)]
struct InfoPage<'a> {
    request: &'a str,
    csrf: &'a str,
    methods: Vec<MethodRow>,
    has_mobile: bool,
    sms_sign_in_allowed: bool,
    phone_action: String,
    remove_action: String,
    enable_action: String,
    phone_number: &'a str,
    error: Option<String>,
    notice: Option<&'a str>,
    continue_to: Option<&'a str>,
}

fn expired(app: &App) -> Response {
    pages::message(
        StatusCode::BAD_REQUEST,
        "error.title",
        text("error.session"),
        https(app),
    )
}

fn base(tenant: &Tenant) -> String {
    format!("/{}/security-info", tenant.name)
}

/// A new page state bound to this browser; the answer carries the binding cookie when the
/// browser has none yet.
async fn new_state(
    app: &App,
    tenant: &Tenant,
    headers: &HeaderMap,
    continue_to: Option<String>,
) -> Option<(String, PageState, Option<String>)> {
    let existing = cookie(headers, binding_cookie_name(app)).filter(|b| b.len() >= 32);
    let (binding, set) = match existing {
        Some(b) => (b, None),
        None => {
            let b = new_token(&mut OsRng).expose().clone();
            let c = set_cookie(app, binding_cookie_name(app), &b, None);
            (b, Some(c))
        }
    };
    let state = PageState {
        csrf: new_token(&mut OsRng).expose().clone(),
        binding_hash: hex(&app.hasher().token(&binding).0),
        pending: None,
        continue_to,
    };
    let id = new_token(&mut OsRng).expose()[..32].to_string();
    save_state(app, tenant, &id, &state).await?;
    Some((id, state, set))
}

async fn save_state(app: &App, tenant: &Tenant, id: &str, state: &PageState) -> Option<()> {
    let now = app.clock().now();
    let doc = serde_json::to_value(state).ok()?;
    let until = now + Duration::minutes(STATE_MINUTES);
    app.store()
        .put_auth_request(id, tenant.id, &doc, now, until)
        .await
        .ok()
}

/// The state of `id` if it began in this browser.
async fn load_state(
    app: &App,
    tenant: &Tenant,
    id: &str,
    headers: &HeaderMap,
) -> Option<(PageState, Option<FlowId>)> {
    let (doc, flow) = app
        .store()
        .auth_request(id, tenant.id, app.clock().now())
        .await
        .ok()??;
    let state: PageState = serde_json::from_value(doc).ok()?;
    let binding = cookie(headers, binding_cookie_name(app))?;
    let presented = hex(&app.hasher().token(&binding).0);
    constant_eq(&presented, &state.binding_hash).then_some((state, flow))
}

/// A posted form's tenant and state, its CSRF token checked.
async fn posted(
    app: &App,
    tenant: &str,
    form: &PageForm,
    headers: &HeaderMap,
) -> Result<(Tenant, PageState, Option<FlowId>), Response> {
    let Ok(tenant) = app.tenant(tenant).await else {
        return Err(expired(app));
    };
    let Some((state, flow)) = load_state(app, &tenant, &form.request, headers).await else {
        return Err(expired(app));
    };
    if !constant_eq(&form.csrf, &state.csrf) {
        return Err(expired(app));
    }
    Ok((tenant, state, flow))
}

fn with_cookie(mut res: Response, set: Option<String>) -> Response {
    if let Some(v) = set.and_then(|c| c.parse().ok()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// Starts a sign-in for this page (none, or one too old for a change).
async fn to_sign_in(app: &App, tenant: &Tenant, headers: &HeaderMap) -> Response {
    match new_state(app, tenant, headers, None).await {
        Some((id, _, set)) => with_cookie(
            see_other(&format!("{}/sign-in?request={id}", base(tenant))),
            set,
        ),
        None => expired(app),
    }
}

fn recent(app: &App, s: &SessionRecord) -> bool {
    app.clock().now() - s.created_at <= Duration::minutes(RECENT_SIGN_IN_MINUTES)
}

/// `GET /{tenant}/security-info`
async fn page(
    State(app): State<App>,
    Path(tenant): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let Ok(tenant) = app.tenant(&tenant).await else {
        return expired(&app);
    };
    let Some(session) = browser_session(&app, &tenant, &headers).await else {
        return to_sign_in(&app, &tenant, &headers).await;
    };
    let continue_to = continue_target(&tenant, q.continue_to.as_deref());
    let Some((id, state, set)) = new_state(&app, &tenant, &headers, continue_to).await else {
        return expired(&app);
    };
    let view = View {
        id: &id,
        state: &state,
        user: session.user_id,
    };
    with_cookie(render_info(&app, &tenant, view, None, None, "").await, set)
}

struct View<'a> {
    id: &'a str,
    state: &'a PageState,
    user: UserId,
}

async fn render_info(
    app: &App,
    tenant: &Tenant,
    view: View<'_>,
    error: Option<String>,
    notice: Option<&str>,
    typed: &str,
) -> Response {
    let methods = dir::phone_methods(app, tenant, view.user)
        .await
        .unwrap_or_default();
    let allowed = dir::sms_permission(app, tenant, view.user).await;
    let page = InfoPage {
        request: view.id,
        csrf: &view.state.csrf,
        has_mobile: methods
            .iter()
            .any(|m| m.method.phone_type == PhoneType::Mobile),
        methods: methods
            .iter()
            .map(|m| MethodRow {
                phone_type: m.method.phone_type.as_str(),
                number: m.method.number.to_string(),
                state: m.sms_sign_in_state.as_str(),
            })
            .collect(),
        sms_sign_in_allowed: allowed.is_ok_and(|p| p == SmsPermission::SignIn),
        phone_action: format!("{}/phone", base(tenant)),
        remove_action: format!("{}/remove", base(tenant)),
        enable_action: format!("{}/enable", base(tenant)),
        phone_number: typed,
        notice,
        error: error.clone(),
        continue_to: view.state.continue_to.as_deref(),
    };
    let status = if error.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    pages::render(status, "security_info.html", page, https(app), None)
}

/// A refused change in plain words (the Graph API answers the same conditions by code).
fn plain(e: &DirectoryError) -> String {
    let code = match e {
        DirectoryError::PhoneMethod(p) => p.code(),
        DirectoryError::LastSignInMethod => "lastSignInMethod",
        DirectoryError::Invalid { .. } => "phoneNumber",
        _ => "",
    };
    let id = match code {
        "phoneNumberNotUnique" | "phoneNumberUsedForSignIn" => {
            "security.error.phoneNumberNotUnique"
        }
        "lastSignInMethod" | "phoneNumber" => &*format!("security.error.{code}"),
        _ => "",
    };
    let known = text(id);
    if known.is_empty() {
        format!("{} {e}", text("security.error.other"))
    } else {
        known.to_string()
    }
}

/// A posted change: its form's state and, when the sign-in is recent enough, the user;
/// otherwise the answer (the expired page, or sign in again).
async fn change(
    app: &App,
    tenant: &str,
    form: &PageForm,
    headers: &HeaderMap,
) -> Result<(Tenant, PageState, Option<FlowId>, Changer), Response> {
    let (tenant, state, flow) = posted(app, tenant, form, headers).await?;
    let by = changer(app, &tenant, headers).await?;
    Ok((tenant, state, flow, by))
}

/// Who makes a change: the signed-in user, in this browser's session (which stays when
/// the change signs them out elsewhere).
#[derive(Debug, Clone, Copy)]
struct Changer {
    user: UserId,
    session: SessionId,
}

/// A page opened with `?request=…`: its tenant, state id, state and flow.
async fn opened(
    app: &App,
    tenant: &str,
    q: StateQuery,
    headers: &HeaderMap,
) -> Result<(Tenant, String, PageState, Option<FlowId>), Response> {
    let Ok(tenant) = app.tenant(tenant).await else {
        return Err(expired(app));
    };
    let Some(id) = q.request else {
        return Err(expired(app));
    };
    let Some((state, flow)) = load_state(app, &tenant, &id, headers).await else {
        return Err(expired(app));
    };
    Ok((tenant, id, state, flow))
}

/// The signed-in user of a posted change whose sign-in is recent enough; otherwise the
/// answer (sign in, again).
async fn changer(app: &App, tenant: &Tenant, headers: &HeaderMap) -> Result<Changer, Response> {
    match browser_session(app, tenant, headers).await {
        Some(s) if recent(app, &s) => Ok(Changer {
            user: s.user_id,
            session: s.id,
        }),
        _ => Err(to_sign_in(app, tenant, headers).await),
    }
}

/// Signs the user out of their other sessions after a change (every session but this
/// browser's, and every token issued to them), and says so.
async fn signed_out_elsewhere(
    app: &App,
    tenant: &Tenant,
    by: Changer,
    text_id: &str,
    continue_to: Option<&str>,
) -> Response {
    let actor = Actor::user(by.user);
    let now = app.clock().now();
    let store = app.store();
    if let Err(e) = store
        .revoke_other_sessions(tenant.id, by.user, by.session, &actor, now)
        .await
    {
        tracing::error!(error = %e, "revoking the user's other sessions after a security info change");
        return pages::message(
            StatusCode::SERVICE_UNAVAILABLE,
            "security.title",
            text("security.notRevoked"),
            https(app),
        );
    }
    let link = continue_to.map(|href| (href, text("security.continue")));
    pages::message_with_link(
        StatusCode::OK,
        "security.title",
        text(text_id),
        link,
        https(app),
    )
}

fn phone_type(form: &PageForm) -> Option<PhoneType> {
    form.phone_type.as_deref()?.parse().ok()
}

/// `POST …/phone`: sends a proof code to a new number (a text to a mobile, a call to the
/// voice-only types).
async fn phone(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PageForm>,
) -> Response {
    let (tenant, mut state, _, by) = match change(&app, &tenant, &form, &headers).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let user = by.user;
    let typed = form.phone_number.clone().unwrap_or_default();
    let view = View {
        id: &form.request,
        state: &state,
        user,
    };
    let (Some(phone_type), Ok(number)) = (
        phone_type(&form),
        PhoneNumber::parse(&typed, tenant.default_region.as_deref()),
    ) else {
        let e = Some(text("security.error.phoneNumber").to_string());
        return render_info(&app, &tenant, view, e, None, &typed).await;
    };
    // A number another user signs in with is refused before any code goes to it.
    let holder = app
        .store()
        .sign_in_candidate(tenant.id, &number.e164())
        .await;
    if holder.is_ok_and(|c| c.is_some_and(|c| c.user_id != user)) {
        let e = Some(text("security.error.phoneNumberNotUnique").to_string());
        return render_info(&app, &tenant, view, e, None, &typed).await;
    }
    let channel = if phone_type == PhoneType::Mobile {
        Channel::Sms
    } else {
        Channel::Voice
    };
    // The voice-only types are proven by a call: only where the Voice policy calls this
    // user's phone of that type (an office phone also needs isOfficePhoneAllowed).
    if channel == Channel::Voice && !calls_allowed(&app, &tenant, user, phone_type).await {
        let e = Some(text("security.error.noCalls").to_string());
        return render_info(&app, &tenant, view, e, None, &typed).await;
    }
    let requester = app.requester(addr, &headers, None);
    let flow = match crate::proof::send(&app, &tenant, user, &number, channel, requester).await {
        Ok(f) => f,
        Err(e) => {
            let e = Some(failure_text(&e).to_string());
            return render_info(&app, &tenant, view, e, None, &typed).await;
        }
    };
    // The number waiting for its code goes into a new state (a state is written once).
    state.pending = Some(Pending {
        phone_type,
        number: number.to_string(),
        edit: form.edit.clone().unwrap_or_else(|| "add".into()),
    });
    let id = new_token(&mut OsRng).expose()[..32].to_string();
    let stored = save_state(&app, &tenant, &id, &state).await;
    let linked = app.store().set_auth_request_flow(&id, Some(flow.id)).await;
    if stored.is_none() || linked.is_err() {
        return expired(&app);
    }
    let _ = app.store().delete_auth_request(&form.request).await;
    see_other(&format!("{}/verify?request={id}", base(&tenant)))
}

async fn calls_allowed(app: &App, tenant: &Tenant, user: UserId, phone_type: PhoneType) -> bool {
    let (Ok(policy), Ok(groups)) = (
        app.store().policy(tenant.id).await,
        app.store().groups_of(tenant.id, user).await,
    ) else {
        return false;
    };
    let who = textid_core::policy::Subject {
        user_id: user,
        groups: &groups,
    };
    app.places_calls() && policy.allows_channel(who, phone_type, Channel::Voice)
}

fn failure_text(e: &SignInFailure) -> &'static str {
    match e {
        SignInFailure::SignIn(e) => text(&format!("error.{}", e.code())),
        SignInFailure::Store(_) => text("error.invalidRequest"),
    }
}

#[derive(Debug, Serialize)]
struct CodePage<'a> {
    action: String,
    resend_action: String,
    restart: String,
    request: &'a str,
    csrf: &'a str,
    phone_display: String,
    resend_after: u64,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    voice: bool,
    offer_call: bool,
}

async fn render_code(
    app: &App,
    tenant: &Tenant,
    id: &str,
    state: &PageState,
    flow: Option<FlowId>,
    actions: (&str, &str),
    error: Option<&str>,
) -> Response {
    let flow = match flow {
        Some(f) => app.store().sms_flow(tenant.id, f).await.ok().flatten(),
        None => None,
    };
    let Some(flow) = flow else {
        return see_other(&base(tenant));
    };
    let page = CodePage {
        action: format!("{}{}", base(tenant), actions.0),
        resend_action: if actions.1.is_empty() {
            String::new()
        } else {
            format!("{}{}", base(tenant), actions.1)
        },
        restart: base(tenant),
        request: id,
        csrf: &state.csrf,
        phone_display: PhoneNumber::from_stored(&flow.phone_e164, None)
            .map(|p| p.to_string())
            .unwrap_or(flow.phone_e164.clone()),
        resend_after: flow.resend_after_seconds(app.clock().now(), &app.config().limits),
        error,
        notice: None,
        voice: flow.channel == Channel::Voice,
        offer_call: false,
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    pages::render(status, "code.html", page, https(app), None)
}

/// `GET …/verify?request=…`: the proof code page.
async fn verify_page(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(q): Query<StateQuery>,
) -> Response {
    code_page(&app, &tenant, q, &headers, "/verify").await
}

/// A code page (`action`: where its code goes), without a resend: a new code starts over.
async fn code_page(
    app: &App,
    tenant: &str,
    q: StateQuery,
    headers: &HeaderMap,
    action: &str,
) -> Response {
    let (tenant, id, state, flow) = match opened(app, tenant, q, headers).await {
        Ok(o) => o,
        Err(res) => return res,
    };
    render_code(app, &tenant, &id, &state, flow, (action, ""), None).await
}

/// `POST …/verify`: checks the proof code, then saves the number under every rule.
async fn verify(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PageForm>,
) -> Response {
    let (tenant, state, flow, by) = match change(&app, &tenant, &form, &headers).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let user = by.user;
    let (Some(flow_id), Some(pending)) = (flow, state.pending.clone()) else {
        return see_other(&base(&tenant));
    };
    let actions = ("/verify", "");
    let code = form.code.as_deref().unwrap_or_default();
    let Ok(code) = OtpCode::parse(code, app.config().limits.code_digits) else {
        let e = Some(text("error.codeFormat"));
        return render_code(&app, &tenant, &form.request, &state, flow, actions, e).await;
    };
    let requester = app.requester(addr, &headers, None);
    let proven = crate::proof::check(&app, &tenant, user, flow_id, &code, requester).await;
    let number = match proven {
        Ok(n) => n,
        Err(e) => {
            let e = Some(failure_text(&e));
            return render_code(&app, &tenant, &form.request, &state, flow, actions, e).await;
        }
    };
    let _ = app.store().delete_auth_request(&form.request).await;
    let t = pending.phone_type;
    let before = dir::phone_method(&app, &tenant, user, t).await.ok();
    let saved = match pending.edit.as_str() {
        "confirm" => dir::confirm_phone_method(&app, &tenant, user, t).await,
        edit => {
            let edit = if edit == "change" && has(&app, &tenant, user, t).await {
                Edit::Change
            } else {
                Edit::Add
            };
            let proof = (Proof::CodeEntered, Some(by.session));
            dir::set_own_phone_number(&app, &tenant, user, t, &number, edit, proof).await
        }
    };
    match saved {
        Ok(after) => {
            // The old sign-in number hears of the change (a thief's change is noticed).
            let old = before.filter(|b| {
                b.sms_sign_in_state == textid_core::sign_in_state::SmsSignInState::Ready
                    && b.method.number != after.method.number
            });
            if let Some(old) = old {
                let e164 = old.method.number.e164();
                let _ = crate::proof::notify_number_changed(&app, &tenant, &e164).await;
            }
            let then = state.continue_to.as_deref();
            signed_out_elsewhere(&app, &tenant, by, "security.saved", then).await
        }
        Err(e) => {
            let again = state.continue_to.clone();
            let Some((id, state, set)) = new_state(&app, &tenant, &headers, again).await else {
                return expired(&app);
            };
            let view = View {
                id: &id,
                state: &state,
                user,
            };
            let res = render_info(&app, &tenant, view, Some(plain(&e)), None, "").await;
            with_cookie(res, set)
        }
    }
}

async fn has(app: &App, tenant: &Tenant, user: UserId, t: PhoneType) -> bool {
    dir::phone_method(app, tenant, user, t).await.is_ok()
}

/// `POST …/remove`
async fn remove(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<PageForm>,
) -> Response {
    let (tenant, state, _, by) = match change(&app, &tenant, &form, &headers).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let user = by.user;
    let Some(t) = phone_type(&form) else {
        return expired(&app);
    };
    match dir::remove_own_phone_method(&app, &tenant, user, t, Some(by.session)).await {
        Ok(()) => {
            let then = state.continue_to.as_deref();
            signed_out_elsewhere(&app, &tenant, by, "security.removed", then).await
        }
        Err(e) => {
            let view = View {
                id: &form.request,
                state: &state,
                user,
            };
            render_info(&app, &tenant, view, Some(plain(&e)), None, "").await
        }
    }
}

/// `POST …/enable`: "Enable for SMS sign-in" for the mobile.
async fn enable(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<PageForm>,
) -> Response {
    let (tenant, state, _, by) = match change(&app, &tenant, &form, &headers).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let user = by.user;
    let actor = Actor::user(user);
    let done = dir::set_sms_sign_in(&app, &tenant, user, PhoneType::Mobile, true, &actor).await;
    let view = View {
        id: &form.request,
        state: &state,
        user,
    };
    match done {
        Ok(_) => {
            render_info(
                &app,
                &tenant,
                view,
                None,
                Some(text("security.enabled")),
                "",
            )
            .await
        }
        Err(e) => render_info(&app, &tenant, view, Some(plain(&e)), None, "").await,
    }
}

/// `GET …/sign-in?request=…`: the phone page of the page's own sign-in.
async fn sign_in_page(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(q): Query<StateQuery>,
) -> Response {
    let (tenant, id, state, _) = match opened(&app, &tenant, q, &headers).await {
        Ok(o) => o,
        Err(res) => return res,
    };
    render_phone(&app, &tenant, &id, &state, "", None)
}

#[derive(Debug, Serialize)]
struct PhonePage<'a> {
    action: String,
    request: &'a str,
    csrf: &'a str,
    app_name: &'a str,
    phone_number: &'a str,
    error: Option<&'a str>,
}

fn render_phone(
    app: &App,
    tenant: &Tenant,
    id: &str,
    state: &PageState,
    typed: &str,
    error: Option<&str>,
) -> Response {
    let page = PhonePage {
        action: format!("{}/sign-in", base(tenant)),
        request: id,
        csrf: &state.csrf,
        app_name: text("security.title"),
        phone_number: typed,
        error,
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    pages::render(status, "phone.html", page, https(app), None)
}

/// `POST …/sign-in`: starts an SMS sign-in (the same use case as the login pages).
async fn sign_in_phone(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PageForm>,
) -> Response {
    let (tenant, state, _) = match posted(&app, &tenant, &form, &headers).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let typed = form.phone_number.clone().unwrap_or_default();
    let phone = match PhoneNumber::parse(&typed, tenant.default_region.as_deref()) {
        Ok(p) if p.extension().is_none() => p,
        _ => {
            let e = Some(text("error.phoneNumber"));
            return render_phone(&app, &tenant, &form.request, &state, &typed, e);
        }
    };
    let requester = app.requester(addr, &headers, None);
    let linked = Some(form.request.as_str());
    match sign_in::start(&app, &tenant, &phone, Channel::Sms, requester, linked).await {
        Ok(_) => see_other(&format!(
            "{}/sign-in/code?request={}",
            base(&tenant),
            form.request
        )),
        Err(e) => {
            let e = Some(failure_text(&e));
            render_phone(&app, &tenant, &form.request, &state, &typed, e)
        }
    }
}

/// `GET …/sign-in/code?request=…`
async fn sign_in_code_page(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(q): Query<StateQuery>,
) -> Response {
    code_page(&app, &tenant, q, &headers, "/sign-in/code").await
}

/// `POST …/sign-in/code`: a browser (SSO) session, then back to the page.
async fn sign_in_code(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PageForm>,
) -> Response {
    let (tenant, state, flow) = match posted(&app, &tenant, &form, &headers).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let Some(flow_id) = flow else {
        return see_other(&base(&tenant));
    };
    let actions = ("/sign-in/code", "");
    let code = form.code.as_deref().unwrap_or_default();
    let Ok(code) = OtpCode::parse(code, app.config().limits.code_digits) else {
        let e = Some(text("error.codeFormat"));
        return render_code(&app, &tenant, &form.request, &state, flow, actions, e).await;
    };
    let previous = browser_session(&app, &tenant, &headers).await;
    let requester = app.requester(addr, &headers, None);
    let kind = SessionKind::Browser;
    let session = match sign_in::verify(&app, &tenant, flow_id, &code, kind, requester).await {
        Ok(s) => s,
        Err(e) => {
            let e = Some(failure_text(&e));
            return render_code(&app, &tenant, &form.request, &state, flow, actions, e).await;
        }
    };
    if let Some(old) = previous {
        let _ = app.store().revoke_session(old.id, app.clock().now()).await;
    }
    let _ = app.store().delete_auth_request(&form.request).await;
    let max_age = i64::try_from(session.expires_in_seconds).unwrap_or(0);
    let c = set_cookie(
        &app,
        session_cookie_name(&app),
        session.token.expose(),
        Some(max_age),
    );
    with_cookie(see_other(&base(&tenant)), Some(c))
}
