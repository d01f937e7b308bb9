//! Server-rendered pages: templates (minijinja, autoescaped), the message catalog, static
//! assets, and the security headers every page carries. Pages work without JavaScript;
//! `textid.js` only adds WebOTP autofill and the resend countdown.

pub mod catalog;
pub mod reset;

use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("phone.html", include_str!("templates/phone.html")),
    ("code.html", include_str!("templates/code.html")),
    ("choose.html", include_str!("templates/choose.html")),
    ("reset.html", include_str!("templates/reset.html")),
    ("message.html", include_str!("templates/message.html")),
    ("logout.html", include_str!("templates/logout.html")),
    (
        "security_info.html",
        include_str!("templates/security_info.html"),
    ),
];

/// The stylesheet.
pub const CSS: &str = include_str!("templates/textid.css");
/// The progressive enhancement script (WebOTP, countdown).
pub const JS: &str = include_str!("templates/textid.js");

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not parse");
            }
        }
        env
    })
}

/// Security headers of a page. `form_action` lists where its forms may lead (the client's
/// redirect origin, since a form post answered with a redirect counts in Chromium).
pub fn security_headers(headers: &mut HeaderMap, https: bool, form_action: Option<&str>) {
    let form = form_action.map_or_else(|| "'self'".to_string(), |o| format!("'self' {o}"));
    let csp = format!(
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action {form}; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}

/// Renders a template with the catalog's texts as `t`.
pub fn render(
    status: StatusCode,
    template: &str,
    context: impl Serialize,
    https: bool,
    form_action: Option<&str>,
) -> Response {
    let env = environment();
    let body = env
        .get_template(template)
        .and_then(|t| t.render(minijinja::context! { t => catalog::texts("en"), page => context }));
    let mut res = match body {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template, error = %e, "page rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    };
    security_headers(res.headers_mut(), https, form_action);
    res
}

/// A page with one message (errors, signed out).
pub fn message(status: StatusCode, title_id: &str, text: &str, https: bool) -> Response {
    message_with_link(status, title_id, text, None, https)
}

/// [`message`] with a link under the text (`(href, label)`), e.g. back to an app.
pub fn message_with_link(
    status: StatusCode,
    title_id: &str,
    text: &str,
    link: Option<(&str, &str)>,
    https: bool,
) -> Response {
    let texts = catalog::texts("en");
    let title = texts.get(title_id).copied().unwrap_or(title_id);
    let (href, label) = link.unzip();
    render(
        status,
        "message.html",
        minijinja::context! { title => title, text => text, href => href, label => label },
        https,
        None,
    )
}

/// `GET /static/textid.css` and `/static/textid.js`.
pub async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, ty) = match name.as_str() {
        "textid.css" => (CSS, "text/css; charset=utf-8"),
        "textid.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ty),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
