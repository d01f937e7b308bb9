//! The self-service password reset pages (issue #15): a user name, then a code sent to the
//! user's phone and a new password, then "signed out everywhere". The same use cases as the
//! JSON API (`textid_usecases::password::{start_reset, finish_reset}`): the second page is
//! the same for every user name, and a code goes only to a real user's mobile. The reset
//! flow's id is the only state, carried in the form (it is worth nothing without the code).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use textid_core::code::OtpCode;
use textid_core::message::Channel;
use textid_core::password::Password;
use textid_core::policy::MethodState;
use textid_usecases::password::{self, PasswordFailure};

use super::catalog::text;
use crate::app::App;

/// The routes of the reset pages.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/{tenant}/password-reset", get(start_page).post(start))
        .route(
            "/{tenant}/password-reset/verify",
            axum::routing::post(verify),
        )
}

#[derive(Debug, Serialize, Default)]
struct ResetPage<'a> {
    start_action: String,
    verify_action: String,
    user_name: &'a str,
    flow_id: Option<String>,
    offer_call: bool,
    error: Option<&'a str>,
}

/// The start form.
#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(rename = "userName")]
    user_name: String,
    #[serde(default)]
    channel: Option<String>,
}

/// The code and new password form.
#[derive(Debug, Deserialize)]
pub struct VerifyForm {
    #[serde(rename = "flowId")]
    flow_id: String,
    code: String,
    #[serde(rename = "newPassword")]
    new_password: String,
    /// The user name, for password managers (not used).
    #[serde(default, rename = "username")]
    _username: Option<String>,
}

fn render(app: &App, tenant: &str, mut page: ResetPage<'_>, status: StatusCode) -> Response {
    page.start_action = format!("/{tenant}/password-reset");
    page.verify_action = format!("/{tenant}/password-reset/verify");
    super::render(status, "reset.html", page, crate::oidc::https(app), None)
}

async fn offers_calls(app: &App, tenant: &textid_core::tenant::Tenant) -> bool {
    app.places_calls()
        && crate::directory::policy(app, tenant)
            .await
            .is_ok_and(|p| p.voice.state == MethodState::Enabled)
}

/// `GET /{tenant}/password-reset`
pub async fn start_page(State(app): State<App>, Path(tenant): Path<String>) -> Response {
    let Ok(t) = app.tenant(&tenant).await else {
        return super::message(
            StatusCode::NOT_FOUND,
            "error.title",
            text("error.session"),
            crate::oidc::https(&app),
        );
    };
    let page = ResetPage {
        offer_call: offers_calls(&app, &t).await,
        ..ResetPage::default()
    };
    render(&app, &t.name, page, StatusCode::OK)
}

fn failure_text(e: &PasswordFailure) -> &'static str {
    match e {
        PasswordFailure::NewPassword(p) => text(&format!("error.{}", p.code())),
        PasswordFailure::SignIn(e) => text(&format!("error.{}", e.code())),
        _ => text("error.invalidRequest"),
    }
}

/// `POST /{tenant}/password-reset`: sends the code (to a real user's mobile only).
pub async fn start(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Response {
    let Ok(t) = app.tenant(&tenant).await else {
        return super::message(
            StatusCode::NOT_FOUND,
            "error.title",
            text("error.session"),
            crate::oidc::https(&app),
        );
    };
    let name = form.user_name.trim();
    let channel = form
        .channel
        .as_deref()
        .and_then(Channel::parse)
        .unwrap_or(Channel::Sms);
    let requester = app.requester(addr, &headers, None);
    match password::start_reset(&app, &t, name, channel, requester).await {
        Ok(flow) => {
            let page = ResetPage {
                user_name: name,
                flow_id: Some(flow.id.to_string()),
                ..ResetPage::default()
            };
            render(&app, &t.name, page, StatusCode::OK)
        }
        Err(e) => {
            let page = ResetPage {
                user_name: name,
                offer_call: offers_calls(&app, &t).await,
                error: Some(failure_text(&e)),
                ..ResetPage::default()
            };
            render(&app, &t.name, page, StatusCode::BAD_REQUEST)
        }
    }
}

/// `POST /{tenant}/password-reset/verify`: the code and the new password.
pub async fn verify(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<VerifyForm>,
) -> Response {
    let https = crate::oidc::https(&app);
    let Ok(t) = app.tenant(&tenant).await else {
        return super::message(
            StatusCode::NOT_FOUND,
            "error.title",
            text("error.session"),
            https,
        );
    };
    let again = |error: &'static str| ResetPage {
        user_name: "",
        flow_id: Some(form.flow_id.clone()),
        error: Some(error),
        ..ResetPage::default()
    };
    let Ok(flow_id) = form.flow_id.parse() else {
        return super::message(
            StatusCode::BAD_REQUEST,
            "error.title",
            text("error.flowNotFound"),
            https,
        );
    };
    let new_password = match Password::parse(&form.new_password) {
        Ok(p) => p,
        Err(e) => {
            let why = text(&format!("error.{}", e.code()));
            return render(&app, &t.name, again(why), StatusCode::BAD_REQUEST);
        }
    };
    let Ok(code) = OtpCode::parse(&form.code, app.config().limits.code_digits) else {
        return render(
            &app,
            &t.name,
            again(text("error.codeFormat")),
            StatusCode::BAD_REQUEST,
        );
    };
    let requester = app.requester(addr, &headers, None);
    match password::finish_reset(&app, &t, flow_id, &code, &new_password, requester).await {
        Ok(_) => super::message(
            StatusCode::OK,
            "reset.done.title",
            text("reset.done"),
            https,
        ),
        Err(PasswordFailure::SignIn(textid_core::flow::SignInError::FlowNotFound)) => {
            super::message(
                StatusCode::BAD_REQUEST,
                "error.title",
                text("error.flowNotFound"),
                https,
            )
        }
        Err(e) => render(
            &app,
            &t.name,
            again(failure_text(&e)),
            StatusCode::BAD_REQUEST,
        ),
    }
}
