//! The directory: users and groups of a tenant.

pub mod group;
pub mod import;
pub mod profile;
pub mod sync;
pub mod synced;
pub mod user;

pub use group::Group;
pub use profile::UserProfile;
pub use user::{display_name, is_deceptive_char, DisplayNameError, Upn, UpnError, User};
