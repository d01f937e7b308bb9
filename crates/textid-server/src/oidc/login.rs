//! The sign-in pages: phone number → code → back to the app. Every form carries the
//! request id and its CSRF token, and the request only opens in the browser that began it
//! (a binding cookie). Answers never reveal whether a number is registered: the code page
//! reads "if this number can sign in here, we sent a code".

use std::net::SocketAddr;
use textid_core::session::SessionKind;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::{Deserialize, Serialize};
use textid_core::code::OtpCode;
use textid_core::flow::sms_sign_in::{FlowPurpose, SignInError};
use textid_core::message::Channel;
use textid_core::phone::PhoneNumber;
use textid_core::policy::MethodState;
use textid_core::tenant::Tenant;

use super::authorize::{
    browser_session, constant_eq, issue_code, load_request, see_other, AuthRequest, SignedIn,
};
use super::clients::Client;
use super::{https, origin, session_cookie_name, set_cookie};
use crate::app::App;
use crate::pages::{self, catalog::text};
use crate::sign_in::{self, Requester, SignInFailure};

/// `?request=...`
#[derive(Debug, Deserialize)]
pub struct RequestQuery {
    request: Option<String>,
    notice: Option<String>,
}

/// The phone form.
#[derive(Debug, Deserialize)]
pub struct PhoneForm {
    request: String,
    csrf: String,
    #[serde(rename = "phoneNumber")]
    phone_number: String,
}

/// The code form.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    request: String,
    csrf: String,
    code: String,
}

/// The resend form: the button pressed names the channel ("Text me a new code",
/// "Call me instead").
#[derive(Debug, Deserialize)]
pub struct ResendForm {
    request: String,
    csrf: String,
    #[serde(default)]
    channel: Option<String>,
}

#[derive(Debug, Serialize)]
struct PhonePage<'a> {
    action: String,
    request: &'a str,
    csrf: &'a str,
    app_name: &'a str,
    phone_number: &'a str,
    error: Option<&'a str>,
    /// The first page of the login: a user name is accepted too (issue #15).
    user_names: bool,
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
    /// The current code was (to be) read out by a call.
    voice: bool,
    /// "Call me instead" is offered.
    offer_call: bool,
}

pub(super) fn expired(app: &App) -> Response {
    pages::message(
        StatusCode::BAD_REQUEST,
        "error.title",
        text("error.session"),
        https(app),
    )
}

pub(super) fn error_text(e: &SignInFailure) -> &'static str {
    match e {
        SignInFailure::SignIn(e) => text(&format!("error.{}", e.code())),
        SignInFailure::Store(_) => text("error.invalidRequest"),
    }
}

pub(super) fn render_phone(
    app: &App,
    tenant: &Tenant,
    id: &str,
    req: &AuthRequest,
    client: &Client,
    value: &str,
    error: Option<&str>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = PhonePage {
        action: format!("/{}/login", tenant.name),
        request: id,
        csrf: &req.csrf,
        app_name: &client.registration.name,
        phone_number: value,
        error,
        user_names: true,
    };
    pages::render(status, "phone.html", page, https(app), None)
}

async fn render_code(
    app: &App,
    tenant: &Tenant,
    id: &str,
    req: &AuthRequest,
    flow: Option<textid_core::FlowId>,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    let Some(flow) = flow else {
        return see_other(&format!("/{}/login?request={id}", tenant.name));
    };
    let Ok(Some(flow)) = app.store().sms_flow(tenant.id, flow).await else {
        return see_other(&format!("/{}/login?request={id}", tenant.name));
    };
    let now = app.clock().now();
    let phone_display = PhoneNumber::from_stored(&flow.phone_e164, None)
        .map(|p| p.to_string())
        .unwrap_or(flow.phone_e164.clone());
    let offer_call = offers_calls(app, tenant).await;
    let page = CodePage {
        voice: flow.channel == Channel::Voice,
        offer_call,
        action: format!("/{}/login/code", tenant.name),
        resend_action: format!("/{}/login/resend", tenant.name),
        restart: format!("/{}/login?request={id}", tenant.name),
        request: id,
        csrf: &req.csrf,
        phone_display,
        resend_after: flow.resend_after_seconds(now, &app.config().limits),
        error,
        notice,
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let form_action = origin(&req.redirect_uri);
    pages::render(
        status,
        "code.html",
        page,
        https(app),
        form_action.as_deref(),
    )
}

/// Whether the code page offers "Call me instead" (also the fallback after a text the
/// carrier reported undelivered, issue #18): when the tenant's Voice method is on and a
/// provider places calls. It does not depend on the number, so the page says nothing
/// about who owns it; whether the call goes is decided per owner (`channel_refusal`).
pub(super) async fn offers_calls(app: &App, tenant: &Tenant) -> bool {
    app.places_calls()
        && crate::directory::policy(app, tenant)
            .await
            .is_ok_and(|p| p.voice.state == MethodState::Enabled)
}

pub(super) fn requester(
    app: &App,
    addr: SocketAddr,
    headers: &HeaderMap,
    client: &Client,
) -> Requester {
    app.requester(addr, headers, Some(client.client_id.clone()))
}

/// A posted sign-in form's request: the tenant exists, the request is live and began in
/// this browser, and the form's CSRF token is the request's. Anything else is the
/// "expired" page.
pub(super) struct Posted {
    pub(super) tenant: Tenant,
    pub(super) req: AuthRequest,
    pub(super) flow: Option<textid_core::FlowId>,
    pub(super) client: Client,
}

pub(super) async fn posted(
    app: &App,
    tenant: &str,
    request: &str,
    csrf: &str,
    headers: &HeaderMap,
) -> Result<Posted, Response> {
    let Ok(tenant) = app.tenant(tenant).await else {
        return Err(expired(app));
    };
    let Some((req, flow, client)) = load_request(app, &tenant, request, headers).await else {
        return Err(expired(app));
    };
    if !constant_eq(csrf, &req.csrf) {
        return Err(expired(app));
    }
    Ok(Posted {
        tenant,
        req,
        flow,
        client,
    })
}

/// `GET /{tenant}/login?request=...`: the phone page.
pub async fn phone_page_get(
    app: &App,
    tenant: &str,
    headers: &HeaderMap,
    q: RequestQuery,
) -> Response {
    let Ok(tenant) = app.tenant(tenant).await else {
        return expired(app);
    };
    let Some(id) = q.request else {
        return expired(app);
    };
    let Some((req, _, client)) = load_request(app, &tenant, &id, headers).await else {
        return expired(app);
    };
    let hint = req
        .login_hint
        .clone()
        .filter(|h| PhoneNumber::parse(h, tenant.default_region.as_deref()).is_ok())
        .unwrap_or_default();
    render_phone(app, &tenant, &id, &req, &client, &hint, None)
}

/// `GET /{tenant}/login`
pub async fn phone_page(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(q): Query<RequestQuery>,
) -> Response {
    phone_page_get(&app, &tenant, &headers, q).await
}

/// `POST /{tenant}/login`: starts the SMS flow.
pub async fn phone_submit(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PhoneForm>,
) -> Response {
    let Posted {
        tenant,
        req,
        client,
        ..
    } = match posted(&app, &tenant, &form.request, &form.csrf, &headers).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    // A user name goes on to the password and pass page, whoever it names (issue #15).
    if super::login_password::is_user_name(&form.phone_number) {
        let ctx = (form.request.as_str(), &req, &client);
        let name = form.phone_number.trim();
        return super::login_password::render_choice(&app, &tenant, ctx, name, false, None).await;
    }
    let phone = match PhoneNumber::parse(&form.phone_number, tenant.default_region.as_deref()) {
        Ok(p) if p.extension().is_none() => p,
        _ => {
            return render_phone(
                &app,
                &tenant,
                &form.request,
                &req,
                &client,
                &form.phone_number,
                Some(text("error.phoneNumber")),
            )
        }
    };
    match sign_in::start(
        &app,
        &tenant,
        &phone,
        Channel::Sms,
        requester(&app, addr, &headers, &client),
        Some(&form.request),
    )
    .await
    {
        Ok(_) => see_other(&format!(
            "/{}/login/code?request={}",
            tenant.name, form.request
        )),
        Err(e) => render_phone(
            &app,
            &tenant,
            &form.request,
            &req,
            &client,
            &form.phone_number,
            Some(error_text(&e)),
        ),
    }
}

/// `GET /{tenant}/login/code?request=...`
pub async fn code_page(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(q): Query<RequestQuery>,
) -> Response {
    let Ok(tenant) = app.tenant(&tenant).await else {
        return expired(&app);
    };
    let Some(id) = q.request else {
        return expired(&app);
    };
    let Some((req, flow, _)) = load_request(&app, &tenant, &id, &headers).await else {
        return expired(&app);
    };
    let notice = q
        .notice
        .as_deref()
        .filter(|n| *n == "resent")
        .map(|_| text("code.resent"));
    render_code(&app, &tenant, &id, &req, flow, None, notice).await
}

/// `POST /{tenant}/login/code`: checks the code; on success sets the SSO cookie (a new
/// session each sign-in, the old one revoked) and returns to the app with a code.
pub async fn code_submit(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let Posted {
        tenant,
        req,
        flow,
        client,
    } = match posted(&app, &tenant, &form.request, &form.csrf, &headers).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let Some(flow_id) = flow else {
        return see_other(&format!("/{}/login?request={}", tenant.name, form.request));
    };
    let Ok(code) = OtpCode::parse(&form.code, app.config().limits.code_digits) else {
        return render_code(
            &app,
            &tenant,
            &form.request,
            &req,
            flow,
            Some(text("error.codeFormat")),
            None,
        )
        .await;
    };
    let previous = browser_session(&app, &tenant, &headers).await;
    let stored = app
        .store()
        .sms_flow(tenant.id, flow_id)
        .await
        .ok()
        .flatten();
    // A code after a password completes a second-factor flow; any other, an SMS sign-in.
    let second_factor = stored
        .as_ref()
        .is_some_and(|f| f.purpose == FlowPurpose::SecondFactor);
    let who = requester(&app, addr, &headers, &client);
    let verified = if second_factor {
        textid_usecases::password::verify_second_factor(
            &app,
            &tenant,
            flow_id,
            &code,
            SessionKind::Browser,
            who,
        )
        .await
    } else {
        sign_in::verify(&app, &tenant, flow_id, &code, SessionKind::Browser, who).await
    };
    let session = match verified {
        Ok(s) => s,
        Err(SignInFailure::SignIn(SignInError::FlowNotFound)) => {
            let _ = app.store().set_auth_request_flow(&form.request, None).await;
            return render_phone(
                &app,
                &tenant,
                &form.request,
                &req,
                &client,
                "",
                Some(text("error.flowNotFound")),
            );
        }
        Err(e) => {
            return render_code(
                &app,
                &tenant,
                &form.request,
                &req,
                flow,
                Some(error_text(&e)),
                None,
            )
            .await
        }
    };
    let channel = stored.as_ref().map_or(Channel::Sms, |f| f.channel).amr();
    let amr = if second_factor {
        vec!["pwd".to_owned(), channel.to_owned(), "mfa".to_owned()]
    } else {
        vec![channel.to_owned()]
    };
    let done = Completed {
        request: &form.request,
        previous,
        amr,
        phone: stored.map(|f| f.phone_e164),
    };
    complete(&app, &tenant, &req, session, done, None).await
}

/// What a finished sign-in hands to [`complete`].
pub(super) struct Completed<'a> {
    /// The authorization request's id.
    pub(super) request: &'a str,
    /// The browser session this sign-in replaces.
    pub(super) previous: Option<textid_store::SessionRecord>,
    /// How the user signed in.
    pub(super) amr: Vec<String>,
    /// The number a code went to, for the `phone_number` claim.
    pub(super) phone: Option<String>,
}

/// Ends a sign-in on the pages: the previous browser session revoked, the new one's
/// cookie set, and back to the app with an authorization code, or to `then` instead (a
/// pass sign-in goes on to register a phone; the app gets its code from the SSO session
/// when it asks again).
pub(super) async fn complete(
    app: &App,
    tenant: &Tenant,
    req: &AuthRequest,
    session: sign_in::IssuedSession,
    done: Completed<'_>,
    then: Option<String>,
) -> Response {
    let now = app.clock().now();
    // The previous session's end, the request's deletion and the code are independent
    // writes: sent together, they share the database's next commit instead of waiting for
    // one each.
    let revoke = async {
        if let Some(old) = done.previous {
            let _ = app.store().revoke_session(old.id, now).await;
        }
    };
    let forget = async {
        let _ = app.store().delete_auth_request(done.request).await;
    };
    let lifetime = i64::try_from(session.expires_in_seconds).unwrap_or(i64::MAX);
    let signed_in = SignedIn {
        user: session.user_id,
        session: session.session_id,
        auth_time: now,
        amr: done.amr,
        phone: done.phone,
        session_ends_at: now
            + chrono::Duration::try_seconds(lifetime).unwrap_or(chrono::Duration::MAX),
    };
    let issue = async {
        match then {
            Some(then) => Ok(Some(then)),
            None => issue_code(app, tenant, req, signed_in).await,
        }
    };
    let ((), (), location) = tokio::join!(revoke, forget, issue);
    match location {
        Ok(Some(location)) => {
            let mut res = see_other(&location);
            let max_age = i64::try_from(session.expires_in_seconds).unwrap_or(0);
            if let Ok(v) = set_cookie(
                app,
                session_cookie_name(app),
                session.token.expose(),
                Some(max_age),
            )
            .parse()
            {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }
        // The new session was revoked before its code was stored (an admin revoked the
        // user's sessions at that instant): no code, and no cookie for a dead session.
        Ok(None) => crate::error::ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "sessionRevoked",
            "the session was revoked; sign in again",
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /{tenant}/login/resend`
pub async fn resend(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ResendForm>,
) -> Response {
    let Posted {
        tenant,
        req,
        flow,
        client,
    } = match posted(&app, &tenant, &form.request, &form.csrf, &headers).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let Some(flow_id) = flow else {
        return see_other(&format!("/{}/login?request={}", tenant.name, form.request));
    };
    let channel = form
        .channel
        .as_deref()
        .and_then(Channel::parse)
        .unwrap_or(Channel::Sms);
    match sign_in::resend(
        &app,
        &tenant,
        flow_id,
        channel,
        requester(&app, addr, &headers, &client),
    )
    .await
    {
        Ok(_) => see_other(&format!(
            "/{}/login/code?request={}&notice=resent",
            tenant.name, form.request
        )),
        Err(e) => {
            render_code(
                &app,
                &tenant,
                &form.request,
                &req,
                flow,
                Some(error_text(&e)),
                None,
            )
            .await
        }
    }
}
