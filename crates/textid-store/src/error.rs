//! Store errors: what went wrong, in terms the layers above can act on.

use textid_core::methods::PhoneMethodError;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row to change does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness constraint, by name (e.g. `users_upn_unique`).
    #[error("conflict on {0}")]
    Conflict(String),
    /// A phone method rule refused the change.
    #[error(transparent)]
    PhoneMethod(#[from] PhoneMethodError),
    /// A bulk import was refused: every problem, by line; nothing was written.
    #[error("the import was refused: {} problem(s)", .0.len())]
    Import(Vec<textid_core::directory::import::ImportProblem>),
    /// The database is busy beyond the timeout.
    #[error("database busy")]
    Busy,
    /// The database cannot be reached (connection refused or lost, failover under way);
    /// nothing was written. Callers answer 503 and may try again.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored value that cannot be read back.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// Anything else from the backend.
    #[error("database error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}
