//! The Graph-compatible admin API under `{public_url}/v1.0` (issue #4): the shapes of
//! Microsoft Graph v1.0, so that scripts and the official Graph SDKs written for Entra work
//! with a changed base URL and token. Every operation goes through the same directory
//! operations as the CLI (`crate::directory`), so the rules of DESIGN.md §1 hold alike, and
//! every change lands in the directory audit log.
//!
//! Callers present a bearer access token from textid's own token endpoint: apps carry app
//! roles named like Graph's permissions (`User.ReadWrite.All`, ...), people carry directory
//! roles (Global Administrator, ...) that grant the same permissions.

pub mod auth;
pub mod batch;
pub mod deleted;
pub mod delta;
pub mod error;
pub mod expand;
pub mod logs;
pub mod me;
pub mod methods;
pub mod numbers;
pub mod objects;
pub mod policy;
pub mod query;
pub mod request_id;
pub mod users;

use axum::routing::{get, post};
use axum::Router;

use crate::app::App;

/// The `/v1.0` routes.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1.0/users", get(users::list).post(users::create))
        .route("/v1.0/users/$count", get(users::count))
        .route("/v1.0/users/delta", get(delta::users))
        .route("/v1.0/users/delta()", get(delta::users))
        .route("/v1.0/groups/delta", get(delta::groups))
        .route("/v1.0/groups/delta()", get(delta::groups))
        .route("/v1.0/users/{user}/memberOf", get(objects::member_of))
        .route(
            "/v1.0/users/{user}/transitiveMemberOf",
            get(objects::transitive_member_of),
        )
        .route(
            "/v1.0/users/{user}/authentication/methods/{method}",
            get(objects::method),
        )
        .route(
            "/v1.0/directoryObjects/{id}",
            get(objects::directory_object),
        )
        .route("/v1.0/organization", get(objects::organization))
        .route(
            "/v1.0/directory/deletedItems/microsoft.graph.user",
            get(deleted::list_users),
        )
        .route(
            "/v1.0/directory/deletedItems/graph.user",
            get(deleted::list_users),
        )
        .route(
            "/v1.0/directory/deletedItems/microsoft.graph.group",
            get(deleted::list_groups),
        )
        .route(
            "/v1.0/directory/deletedItems/graph.group",
            get(deleted::list_groups),
        )
        .route(
            "/v1.0/directory/deletedItems/{id}",
            get(deleted::get).delete(deleted::purge),
        )
        .route(
            "/v1.0/directory/deletedItems/{id}/restore",
            post(deleted::restore),
        )
        .route("/v1.0/$batch", post(batch::batch))
        .route("/v1.0/groups/$count", get(users::count_groups))
        .route(
            "/v1.0/users/{user}",
            get(users::get).patch(users::patch).delete(users::delete),
        )
        .route(
            "/v1.0/users/{user}/revokeSignInSessions",
            post(users::revoke_sign_in_sessions),
        )
        .route(
            "/v1.0/groups",
            get(users::list_groups).post(users::create_group),
        )
        .route(
            "/v1.0/groups/{group}",
            get(users::get_group)
                .patch(users::patch_group)
                .delete(users::delete_group),
        )
        .route("/v1.0/users/{user}/manager", get(expand::manager))
        .route(
            "/v1.0/users/{user}/manager/$ref",
            axum::routing::put(expand::set_manager).delete(expand::remove_manager),
        )
        .route(
            "/v1.0/users/{user}/directReports",
            get(expand::direct_reports),
        )
        .route("/v1.0/groups/{group}/members", get(users::members))
        .route("/v1.0/groups/{group}/members/$ref", post(users::add_member))
        .route(
            "/v1.0/groups/{group}/members/{member}/$ref",
            axum::routing::delete(users::remove_member),
        )
        .route(
            "/v1.0/users/{user}/authentication/methods",
            get(methods::all_methods),
        )
        .route(
            "/v1.0/users/{user}/authentication/phoneMethods",
            get(methods::list_phone).post(methods::create_phone),
        )
        .route(
            "/v1.0/users/{user}/authentication/phoneMethods/{method}",
            get(methods::get_phone)
                .patch(methods::patch_phone)
                .delete(methods::delete_phone),
        )
        .route(
            "/v1.0/users/{user}/authentication/phoneMethods/{method}/enableSmsSignIn",
            post(methods::enable_sms_sign_in),
        )
        .route(
            "/v1.0/users/{user}/authentication/phoneMethods/{method}/disableSmsSignIn",
            post(methods::disable_sms_sign_in),
        )
        .route(
            "/v1.0/users/{user}/authentication/temporaryAccessPassMethods",
            get(methods::list_tap).post(methods::create_tap),
        )
        .route(
            "/v1.0/users/{user}/authentication/temporaryAccessPassMethods/{method}",
            get(methods::get_tap).delete(methods::delete_tap),
        )
        .route(
            "/v1.0/policies/authenticationMethodsPolicy",
            get(policy::get).patch(policy::patch),
        )
        .route(
            "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/{id}",
            get(policy::get_configuration)
                .patch(policy::patch_configuration)
                .delete(policy::delete_configuration),
        )
        .route(
            "/v1.0/policies/phoneNumberSharingPolicy",
            get(numbers::get_sharing_policy).patch(numbers::patch_sharing_policy),
        )
        .route(
            "/v1.0/reports/sharedPhoneNumbers",
            get(numbers::shared_phone_numbers),
        )
        .route(
            "/v1.0/reports/skippedPhoneNumberCopies",
            get(numbers::skipped_phone_number_copies),
        )
        .route("/v1.0/me", get(me::get))
        .route(
            "/v1.0/me/authentication/phoneMethods",
            get(me::list_phone).post(me::create_phone),
        )
        .route(
            "/v1.0/me/authentication/phoneMethods/{method}",
            get(me::get_phone)
                .patch(me::patch_phone)
                .delete(me::delete_phone),
        )
        .route("/v1.0/auditLogs/signIns", get(logs::sign_ins))
        .route(
            "/v1.0/auditLogs/directoryAudits",
            get(logs::directory_audits),
        )
}

/// `{public_url}/v1.0`.
pub fn base(app: &App) -> String {
    format!("{}/v1.0", app.config().public_url.trim_end_matches('/'))
}

/// Collapses repeated slashes in a request path (Graph tolerates `//users`; SDKs produce
/// them when a base URL ends with a slash).
pub fn normalize_path<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    let uri = req.uri();
    if !uri.path().contains("//") {
        return req;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(u) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
    req
}
