//! What a driver error means to the layers above. A unique violation (23505) is
//! `Conflict(constraint)`, under the names the server matches on; a serialization failure
//! or deadlock is `Busy` (the transaction was rolled back and may run again); a lost,
//! refused or read-only connection (failover under way) is `Unavailable`; anything else
//! is `Backend`.

use tokio_postgres::error::SqlState;

use crate::StoreError;

/// The name the `Store` interface gives a PostgreSQL constraint. An index (and so a
/// primary key) cannot share its table's name in PostgreSQL, so two keys that the
/// interface names after their table carry the usual `_pkey` suffix in the schema.
fn interface_name(constraint: &str) -> &str {
    match constraint {
        "group_members_pkey" => "group_members",
        "oauth_clients_pkey" => "oauth_clients",
        other => other,
    }
}

/// Codes after which the same transaction may succeed when run again at once.
fn transient(code: &SqlState) -> bool {
    [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::LOCK_NOT_AVAILABLE,
    ]
    .contains(code)
}

/// Codes that say this connection cannot serve writes now: the server is shutting down or
/// starting, is a standby (a demoted primary), or is out of connections.
fn unavailable(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || [
            SqlState::READ_ONLY_SQL_TRANSACTION,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
        ]
        .contains(code)
}

/// Whether a driver error without a server answer is about the connection itself (as
/// opposed to converting a value, which is a bug or a corrupt row).
pub(super) fn connection_lost(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    // The driver's kinds are private; these two carry no source.
    let shown = e.to_string();
    shown == "timeout waiting for server" || shown == "error connecting to server"
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            if *code == SqlState::UNIQUE_VIOLATION {
                let name = db.constraint().unwrap_or("unique");
                return StoreError::Conflict(interface_name(name).to_string());
            }
            if transient(code) {
                return StoreError::Busy;
            }
            if unavailable(code) {
                return StoreError::Unavailable(Box::new(e));
            }
            return StoreError::Backend(Box::new(e));
        }
        if connection_lost(&e) {
            StoreError::Unavailable(Box::new(e))
        } else {
            StoreError::Backend(Box::new(e))
        }
    }
}

/// A pool error: no connection could be had.
pub(super) fn from_pool(e: deadpool_postgres::PoolError) -> StoreError {
    use deadpool_postgres::PoolError;
    match e {
        PoolError::Backend(pg) => pg.into(),
        PoolError::Timeout(_) | PoolError::Closed => StoreError::Unavailable(Box::new(e)),
        other => StoreError::Backend(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_named_after_their_table_keep_the_interface_name() {
        assert_eq!(interface_name("group_members_pkey"), "group_members");
        assert_eq!(interface_name("oauth_clients_pkey"), "oauth_clients");
        assert_eq!(interface_name("users_upn_unique"), "users_upn_unique");
        assert_eq!(
            interface_name("phone_methods_sms_sign_in_unique"),
            "phone_methods_sms_sign_in_unique"
        );
    }

    #[test]
    fn failover_codes_are_unavailable_and_conflicts_of_serialization_are_transient() {
        assert!(unavailable(&SqlState::READ_ONLY_SQL_TRANSACTION));
        assert!(unavailable(&SqlState::CONNECTION_FAILURE));
        assert!(transient(&SqlState::T_R_SERIALIZATION_FAILURE));
        assert!(transient(&SqlState::T_R_DEADLOCK_DETECTED));
        assert!(!transient(&SqlState::UNIQUE_VIOLATION));
    }
}
