//! The directory: users and groups of a tenant.

pub mod group;
pub mod user;

pub use group::Group;
pub use user::{Upn, UpnError, User};
