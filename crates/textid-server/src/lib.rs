//! textid's HTTP server (axum): the application state ([`app::App`], which derefs to the
//! use-case [`textid_usecases::Context`]), the JSON sign-in API, the sign-in pages and
//! OpenID Connect endpoints, the Graph-compatible admin API, and the durable outbox
//! worker. The rules live in `textid-usecases` and `textid-core`; this crate maps their
//! errors to HTTP by variant.

pub mod api;
pub mod app;
pub mod client_ip;
pub mod cors;
pub mod delivery;
pub mod error;
pub mod graph;
pub mod http;
pub mod metrics;
pub mod oidc;
pub mod pages;
pub mod receipts;
pub mod scim;
pub mod security_info;
pub mod trace;

pub use app::{
    build_provider, App, AppConfig, Introspection, Retention, RouteConfig, SmsProviderConfig,
};
pub use http::HttpLimits;
pub use textid_usecases::{directory, passes, proof, seal, session, sign_in};
