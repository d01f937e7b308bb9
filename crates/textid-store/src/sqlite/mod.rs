//! The SQLite backend: the embedded default. One file in WAL mode; one writer connection
//! (SQLite admits one writer at a time, so write transactions queue on it instead of
//! spinning on `SQLITE_BUSY`) and a small pool of reader connections. Every call runs on
//! tokio's blocking pool. Write transactions are `BEGIN IMMEDIATE`, so a decision taken
//! inside one sees rows no other writer can change before it commits.
//!
//! Durability: `synchronous = NORMAL` in WAL mode survives a process crash (kill -9) of
//! anything committed; `TEXTID_SQLITE_SYNCHRONOUS=full` adds survival of power loss at
//! the cost of an fsync per commit.

mod abuse;
mod audit;
mod auth_requests;
mod clients;
mod directory;
mod keys;
mod logs;
mod maintenance;
mod outbox;
mod passes;
mod phone;
mod policy;
mod roles;
mod rows;
mod sessions;
mod sign_in;
mod tenants;
mod tokens;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::broadcast;

use crate::{Changed, StoreError, StoreResult};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_oauth.sql")),
    (3, include_str!("../../migrations/sqlite/0003_graph.sql")),
    (
        4,
        include_str!("../../migrations/sqlite/0004_revoked_families.sql"),
    ),
    (
        5,
        include_str!("../../migrations/sqlite/0005_cache_versions.sql"),
    ),
    (6, include_str!("../../migrations/sqlite/0006_abuse.sql")),
    // 0007 is unused; a gap is fine (applied in order).
    (
        8,
        include_str!("../../migrations/sqlite/0008_session_kinds.sql"),
    ),
    (
        9,
        include_str!("../../migrations/sqlite/0009_client_lifecycle.sql"),
    ),
];
const READERS: usize = 4;

/// Options of the SQLite backend.
#[derive(Debug, Clone, Default)]
pub struct SqliteOptions {
    /// `synchronous = FULL` instead of `NORMAL`.
    pub synchronous_full: bool,
}

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    options: SqliteOptions,
    changes: broadcast::Sender<Changed>,
    watching: Arc<std::sync::Once>,
}

fn open_connection(path: &Path, options: &SqliteOptions) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let sync = if options.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let mut writer = open_connection(&path, &options)?;
        migrate(&mut writer)?;
        Ok(Self {
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            options,
            changes: broadcast::channel(64).0,
            watching: Arc::new(std::sync::Once::new()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match this.readers.lock().map_err(|_| poisoned())?.pop() {
                Some(c) => c,
                None => open_connection(&this.path, &this.options)?,
            };
            let result = f(&conn);
            let mut pool = this.readers.lock().map_err(|_| poisoned())?;
            if pool.len() < READERS {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
    }

    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().map_err(|_| poisoned())?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
    }
}

fn poisoned() -> StoreError {
    StoreError::Corrupt("connection lock poisoned by an earlier panic".into())
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (version, sql) in MIGRATIONS {
        if *version > current {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
            tx.execute_batch(sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
            tx.commit()?;
        }
    }
    Ok(())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, msg) => match f.code {
                rusqlite::ErrorCode::ConstraintViolation => {
                    StoreError::Conflict(constraint_name(msg.as_deref().unwrap_or_default()))
                }
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    StoreError::Busy
                }
                _ => StoreError::Backend(Box::new(e)),
            },
            _ => StoreError::Backend(Box::new(e)),
        }
    }
}

/// SQLite names the columns, not the constraint: map them to the schema's names.
fn constraint_name(message: &str) -> String {
    if message.contains("users.tenant_id, users.upn") {
        "users_upn_unique".into()
    } else if message.contains("phone_methods.tenant_id, phone_methods.number") {
        "phone_methods_sms_sign_in_unique".into()
    } else if message.contains("group_members") {
        "group_members".into()
    } else if message.contains("phone_methods.user_id, phone_methods.phone_type") {
        "phone_methods_pkey".into()
    } else if message.contains("oauth_clients.tenant_id, oauth_clients.client_id") {
        "oauth_clients".into()
    } else {
        message.to_string()
    }
}
