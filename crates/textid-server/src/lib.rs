//! textid's server: the application state ([`app::App`]), the JSON sign-in API, the durable
//! outbox worker, and the directory operations that the CLI and the admin API share, so
//! that every rule of DESIGN.md §1 has one implementation underneath every surface.

pub mod api;
pub mod app;
pub mod delivery;
pub mod directory;
pub mod error;
pub mod graph;
pub mod oidc;
pub mod pages;
pub mod seal;
pub mod sign_in;

pub use app::{App, AppConfig, SmsProviderConfig};
