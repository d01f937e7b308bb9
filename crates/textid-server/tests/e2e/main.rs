//! Black-box tests of the JSON SMS sign-in API (DESIGN.md §2, §3; issue #2): the real server
//! on loopback HTTP, a real SQLite file per test, a loopback webhook receiver for SMS, and
//! a manual clock. One test binary for the crate keeps link time low (STYLE.md).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers of a test binary, where a panic is a failed test; \
              allow-unwrap-in-tests covers only #[test] functions"
)]

mod abuse;
mod bounds;
mod concurrency;
mod graph;
mod graph_delta;
mod graph_objects;
mod graph_query;
mod graph_relations;
mod helpers;
mod hygiene;
mod limits;
mod malformed;
mod me;
mod metrics;
mod mid_flow;
mod numbers;
mod oidc_authorize;
mod oidc_browser;
mod oidc_cors;
mod oidc_details;
mod oidc_flow;
mod oidc_helpers;
mod oidc_pages;
mod oidc_races;
mod oidc_tokens;
mod outbox;
mod password;
mod password_pages;
mod receipts;
mod receipts_vonage;
mod revocation;
mod scim;
mod security_info;
mod sessions;
mod sign_in;
mod sms_countries;
mod sspr;
mod tap;
mod uniqueness;
mod unregistered;
mod voice;
