//! The user-name path of the sign-in pages (issue #15): the first page takes a phone
//! number or a user name; for a user name the next page offers a password and a Temporary
//! Access Pass. That page is the same for every user name, known or not (nothing is looked
//! up to draw it); a wrong password, an unknown name and a wrong pass fail alike.
//!
//! ```text
//!   /login (name) ──► choice page ──password──► signed in (amr pwd) ─► back to the app
//!                         │                └── MFA required ─► /login/code (second factor)
//!                         └──pass──► signed in (amr tap) ─► /security-info (register a phone)
//! ```

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::{Deserialize, Serialize};
use textid_core::password::Password;
use textid_core::secret::Secret;
use textid_core::session::SessionKind;
use textid_core::tenant::Tenant;
use textid_usecases::password::{PasswordFailure, PasswordOutcome, PasswordSignIn};

use super::authorize::{browser_session, see_other, AuthRequest};
use super::clients::Client;
use super::https;
use super::login::{complete, expired, posted, requester, Completed, Posted};
use crate::app::App;
use crate::pages::{self, catalog::text};

/// The password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    request: String,
    csrf: String,
    #[serde(rename = "userName")]
    user_name: String,
    password: String,
    #[serde(rename = "newPassword", default)]
    new_password: Option<String>,
    /// `voice`: a second-factor code, if one is needed, by a call.
    #[serde(default)]
    channel: Option<String>,
}

/// The pass form.
#[derive(Debug, Deserialize)]
pub struct PassForm {
    request: String,
    csrf: String,
    #[serde(rename = "userName")]
    user_name: String,
    #[serde(rename = "temporaryAccessPass")]
    pass: String,
}

#[derive(Debug, Serialize)]
struct ChoicePage<'a> {
    password_action: String,
    pass_action: String,
    restart: String,
    reset: String,
    offer_call: bool,
    request: &'a str,
    csrf: &'a str,
    app_name: &'a str,
    user_name: &'a str,
    /// The password was right and must be changed: ask for a new one.
    change_password: bool,
    error: Option<&'a str>,
}

/// Whether the first page's input is a user name rather than a phone number.
pub(super) fn is_user_name(input: &str) -> bool {
    input.contains('@')
}

/// The choice page for `user_name`: a password or a pass.
pub(super) async fn render_choice(
    app: &App,
    tenant: &Tenant,
    (id, req, client): (&str, &AuthRequest, &Client),
    user_name: &str,
    change_password: bool,
    error: Option<&str>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = ChoicePage {
        password_action: format!("/{}/login/password", tenant.name),
        pass_action: format!("/{}/login/pass", tenant.name),
        restart: format!("/{}/login?request={id}", tenant.name),
        reset: format!("/{}/password-reset", tenant.name),
        offer_call: super::login::offers_calls(app, tenant).await,
        request: id,
        csrf: &req.csrf,
        app_name: &client.registration.name,
        user_name,
        change_password,
        error,
    };
    pages::render(status, "choose.html", page, https(app), None)
}

fn failure_text(e: &PasswordFailure) -> &'static str {
    match e {
        PasswordFailure::InvalidCredentials | PasswordFailure::UserNotFound(_) => {
            text("error.invalidCredentials")
        }
        PasswordFailure::NewPassword(p) => text(&format!("error.{}", p.code())),
        PasswordFailure::SecondFactorUnavailable => text("error.secondFactorUnavailable"),
        PasswordFailure::ChannelNotAllowed => text("error.invalidRequest"),
        PasswordFailure::PasswordChangeRequired => text("choose.change_required"),
        PasswordFailure::SignIn(e) => text(&format!("error.{}", e.code())),
        PasswordFailure::Store(_) => text("error.invalidRequest"),
    }
}

/// `POST /{tenant}/login/password`
pub async fn password_submit(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
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
    let ctx = (form.request.as_str(), &req, &client);
    let asked_change = form.new_password.as_deref().is_some_and(|p| !p.is_empty());
    let new_password = match form.new_password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => match Password::parse(p) {
            Ok(p) => Some(p),
            Err(e) => {
                let why = text(&format!("error.{}", e.code()));
                return render_choice(&app, &tenant, ctx, &form.user_name, true, Some(why)).await;
            }
        },
        None => None,
    };
    let request = PasswordSignIn {
        user_name: form.user_name.clone(),
        password: Secret::new(form.password),
        new_password,
        channel: form
            .channel
            .as_deref()
            .and_then(textid_core::message::Channel::parse)
            .unwrap_or(textid_core::message::Channel::Sms),
        client_requires_mfa: client.registration.require_mfa,
        kind: SessionKind::Browser,
        requester: requester(&app, addr, &headers, &client),
    };
    let previous = browser_session(&app, &tenant, &headers).await;
    match textid_usecases::password::sign_in(&app, &tenant, request).await {
        Ok(PasswordOutcome::SignedIn(session)) => {
            let done = Completed {
                request: &form.request,
                previous,
                amr: vec!["pwd".into()],
                phone: None,
            };
            complete(&app, &tenant, &req, session, done, None).await
        }
        Ok(PasswordOutcome::SecondFactor(flow)) => {
            if app
                .store()
                .set_auth_request_flow(&form.request, Some(flow.id))
                .await
                .is_err()
            {
                return expired(&app);
            }
            see_other(&format!(
                "/{}/login/code?request={}",
                tenant.name, form.request
            ))
        }
        Err(e) => {
            let change = asked_change || matches!(e, PasswordFailure::PasswordChangeRequired);
            let why = failure_text(&e);
            render_choice(&app, &tenant, ctx, &form.user_name, change, Some(why)).await
        }
    }
}

/// `POST /{tenant}/login/pass`: a pass signs in and goes on to the security info page,
/// where the user registers a phone.
pub async fn pass_submit(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PassForm>,
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
    let ctx = (form.request.as_str(), &req, &client);
    let request = textid_usecases::pass::PassSignIn {
        user_name: form.user_name.clone(),
        pass: Secret::new(form.pass),
        kind: SessionKind::Browser,
        requester: requester(&app, addr, &headers, &client),
    };
    let previous = browser_session(&app, &tenant, &headers).await;
    match textid_usecases::pass::sign_in(&app, &tenant, request).await {
        Ok(session) => {
            let done = Completed {
                request: &form.request,
                previous,
                amr: vec![textid_usecases::pass::PASS_AMR.into()],
                phone: None,
            };
            // On to register a phone, with the way back to the app.
            let back = crate::security_info::continue_query(&tenant, &req);
            let then = format!("/{}/security-info?{back}", tenant.name);
            complete(&app, &tenant, &req, session, done, Some(then)).await
        }
        Err(e) => {
            let why = failure_text(&e);
            render_choice(&app, &tenant, ctx, &form.user_name, false, Some(why)).await
        }
    }
}
