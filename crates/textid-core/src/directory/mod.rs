//! The directory: users and groups of a tenant.

pub mod group;
pub mod import;
pub mod sync;
pub mod user;

pub use group::Group;
pub use user::{display_name, is_deceptive_char, DisplayNameError, Upn, UpnError, User};
