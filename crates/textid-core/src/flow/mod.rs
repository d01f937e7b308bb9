//! Flows: stored values (id, tenant, expiry, state) whose steps are plain functions of
//! (flow, input, now, rng) returning the next flow and the effects to perform. Handlers
//! load, call, save (STYLE.md, after Ory Kratos).

pub mod phone_counter;
pub mod sms_sign_in;

pub use phone_counter::PhoneCounter;
pub use sms_sign_in::{SignInError, SmsSignInFlow};

/// Seconds for a `Retry-After` header: whole seconds, rounded up, so that waiting that
/// long succeeds (DESIGN.md §3).
pub fn retry_after_seconds(wait: chrono::Duration) -> u64 {
    let ms = wait.num_milliseconds().max(0) as u64;
    ms.div_ceil(1000).max(1)
}
