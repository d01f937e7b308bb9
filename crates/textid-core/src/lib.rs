//! textid's domain, in Entra's words: tenants, users and groups, phone authentication
//! methods, the authentication methods policy, `smsSignInState`, one-time codes and the
//! SMS sign-in flow (DESIGN.md §1–§3).
//!
//! Invariants of this crate: no I/O, no async runtime, no database. Time comes from a
//! [`clock::Clock`], randomness from an RNG passed in, so every rule is a plain function
//! that unit tests can pin down with a fixed clock and a seeded RNG.

pub mod abuse;
pub mod abuse_view;
pub mod audit;
pub mod clock;
pub mod code;
pub mod directory;
pub mod flow;
pub mod grant;
pub mod ids;
pub mod limits;
pub mod message;
pub mod methods;
pub mod odata;
pub mod password;
pub mod phone;
pub mod policy;
pub mod retention;
pub mod secret;
pub mod session;
pub mod sign_in_log;
pub mod sign_in_state;
pub mod tap;
pub mod tenant;

pub use ids::{FlowId, GroupId, MessageId, SessionId, TenantId, UserId};
pub use phone::{PhoneError, PhoneNumber};
