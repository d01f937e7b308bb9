//! The SQLite backend: the embedded default. One file in WAL mode; one writer connection
//! owned by one thread (SQLite admits one writer at a time, so write transactions queue on
//! it instead of spinning on `SQLITE_BUSY`), which commits the transactions queued together
//! as one group (`writer`), and a small pool of reader connections whose calls run on
//! tokio's blocking pool. Write transactions are `BEGIN IMMEDIATE`, so a decision taken
//! inside one sees rows no other writer can change before it commits.
//!
//! Durability: `synchronous = NORMAL` in WAL mode survives a process crash (kill -9) of
//! anything committed; `TEXTID_SQLITE_SYNCHRONOUS=full` adds survival of power loss at
//! the cost of an fsync per commit.

mod abuse;
mod audit;
mod auth_requests;
pub mod backup;
mod clients;
mod deleted;
mod delta;
mod directory;
mod import;
mod keys;
mod listing;
mod logs;
mod maintenance;
mod outbox;
mod passes;
mod passwords;
mod phone;
mod policy;
mod provisioning;
mod roles;
mod rows;
mod sessions;
mod sign_in;
mod tenants;
mod tokens;
mod writer;

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
    (
        10,
        include_str!("../../migrations/sqlite/0010_purge_indexes.sql"),
    ),
    (
        11,
        include_str!("../../migrations/sqlite/0011_client_counter_age.sql"),
    ),
    // 0012 is PostgreSQL's only.
    (
        13,
        include_str!("../../migrations/sqlite/0013_sign_in_origins.sql"),
    ),
    (
        14,
        include_str!("../../migrations/sqlite/0014_session_bound_tokens.sql"),
    ),
    (
        15,
        include_str!("../../migrations/sqlite/0015_delivery_receipts.sql"),
    ),
    (
        18,
        include_str!("../../migrations/sqlite/0018_code_channel.sql"),
    ),
    (20, include_str!("../../migrations/sqlite/0020_scim.sql")),
    (
        22,
        include_str!("../../migrations/sqlite/0022_refuse_shared_numbers.sql"),
    ),
    (
        24,
        include_str!("../../migrations/sqlite/0024_user_profile.sql"),
    ),
    (
        25,
        include_str!("../../migrations/sqlite/0025_passwords.sql"),
    ),
    (
        27,
        include_str!("../../migrations/sqlite/0027_skipped_number_copies.sql"),
    ),
    (
        29,
        include_str!("../../migrations/sqlite/0029_group_profile.sql"),
    ),
    (
        30,
        include_str!("../../migrations/sqlite/0030_deleted_items.sql"),
    ),
    (
        31,
        include_str!("../../migrations/sqlite/0031_display_name_indexes.sql"),
    ),
    (
        33,
        include_str!("../../migrations/sqlite/0033_import_stamps.sql"),
    ),
    (
        34,
        include_str!("../../migrations/sqlite/0034_check_lists.sql"),
    ),
];
/// Migrations that edit table definitions in place (`writable_schema`): the runner bumps
/// `schema_version` after them, as SQLite's procedure asks, so that every connection
/// (this one included) reads the definitions again.
const EDITS_SCHEMA_IN_PLACE: &[i64] = &[34];
/// Reader connections, and reads at once: enough to keep both of a small machine's cores
/// busy while one read waits for the disk.
const READERS: usize = 4;
/// Prepared statements kept per connection: more than the hot paths use together, so
/// that none is compiled again while the server runs.
const STATEMENTS_CACHED: usize = 256;

/// Options of the SQLite backend.
#[derive(Debug, Clone, Default)]
pub struct SqliteOptions {
    /// `synchronous = FULL` instead of `NORMAL`.
    pub synchronous_full: bool,
    /// `PRAGMA mmap_size` of every connection, in bytes (0, the default: reads copy pages
    /// with `pread`). Mapped, a read touches the OS page cache in place: no copy, and no
    /// re-read after another connection's commit. The mapped file counts in the process's
    /// resident memory, and a storage I/O error while reading becomes a SIGBUS instead of
    /// an error. SQLite caps it at its compile-time limit (2 GiB).
    pub mmap_size: u64,
}

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<writer::Writer>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// At most [`READERS`] reads at once, so that every read finds an open connection
    /// (opening one costs the schema's parse and the first preparation of each statement).
    reading: Arc<tokio::sync::Semaphore>,
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
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA mmap_size = {};",
        options.mmap_size
    ))?;
    conn.set_prepared_statement_cache_capacity(STATEMENTS_CACHED);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    ///
    /// The database and its `-wal` and `-shm` files are readable by their owner only
    /// (0600, whatever the umask): they hold keyed hashes, sealed messages and the
    /// directory. SQLite gives the `-wal` and `-shm` files the mode of the database file,
    /// which is created here first.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        private_file(&path)?;
        let mut writer = open_connection(&path, &options)?;
        migrate(&mut writer)?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            let side = std::path::PathBuf::from(side);
            if side.exists() {
                owner_only(&side)?;
            }
        }
        Ok(Self {
            path,
            writer: Arc::new(writer::Writer::start(writer)?),
            readers: Arc::new(Mutex::new(Vec::new())),
            reading: Arc::new(tokio::sync::Semaphore::new(READERS)),
            options,
            changes: broadcast::channel(64).0,
            watching: Arc::new(std::sync::Once::new()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The memory map size in effect on the writer and the readers (bytes): the option,
    /// or SQLite's compile-time limit when the option asked for more.
    pub async fn mmap_size(&self) -> StoreResult<u64> {
        let pragma = |c: &Connection| -> StoreResult<u64> {
            Ok(c.query_row("PRAGMA mmap_size", [], |r| r.get::<_, i64>(0))?
                .try_into()
                .unwrap_or(0))
        };
        let reader = self.lookup(pragma).await?;
        let writer = self.write(move |tx| pragma(tx)).await?;
        Ok(reader.min(writer))
    }

    /// A read of a bounded amount of work (a row or a few by key): run at once on the
    /// calling thread when a reader connection is free, else as [`Self::read`]. A point
    /// read takes microseconds, less than handing it to the blocking pool and back (two
    /// thread wake-ups: most of the context switches of an OpenID Connect sign-in were
    /// these hops). Reads whose work grows with the data (lists, logs, counts) use
    /// [`Self::read`], so that they never hold a runtime thread.
    async fn lookup<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let Ok(permit) = self.reading.clone().try_acquire_owned() else {
            return self.read(f).await;
        };
        self.with_reader(permit, f)
    }

    /// Runs `f` on a reader connection (kept or, the first time, opened), holding
    /// `permit` (one per connection).
    fn with_reader<T>(
        &self,
        permit: tokio::sync::OwnedSemaphorePermit,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let conn = match self.readers.lock().map_err(|_| poisoned())?.pop() {
            Some(c) => c,
            None => open_connection(&self.path, &self.options)?,
        };
        let result = f(&conn);
        // Never more than READERS connections: one per permit.
        self.readers.lock().map_err(|_| poisoned())?.push(conn);
        drop(permit);
        result
    }

    /// A read on the blocking pool (see [`Self::lookup`] for which reads are not).
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let permit = self
            .reading
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.with_reader(permit, f))
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?
    }

    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.writer.write(f).await
    }

    /// A write without a savepoint of its own in its group (see `writer`): only for a
    /// transaction that fails before it writes, or when the database fails.
    async fn write_unisolated<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.writer.write_unisolated(f).await
    }
}

/// Creates `path` (empty) if missing, and makes it owner-only.
fn private_file(path: &Path) -> StoreResult<()> {
    if path.as_os_str().is_empty() || path.to_str() == Some(":memory:") {
        return Ok(());
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
    owner_only(path)
}

/// Mode 0600, set explicitly (the umask only narrows the mode given at creation).
fn owner_only(path: &Path) -> StoreResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn poisoned() -> StoreError {
    StoreError::Corrupt("connection lock poisoned by an earlier panic".into())
}

/// Applies every file not applied yet, each in its own exclusive transaction, recorded
/// in `schema_migrations` (as on PostgreSQL): numbers may have gaps, and a file merged
/// with a lower number than one already applied (branches numbered in parallel) is still
/// applied. `user_version` keeps the highest number, for tools that read it.
fn migrate(conn: &mut Connection) -> StoreResult<()> {
    {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        let has_table: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
            [],
            |r| r.get(0),
        )?;
        if !has_table {
            tx.execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY) WITHOUT ROWID",
            )?;
            // Before this table, files were contiguous and `user_version` the highest applied.
            let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (version, _) in MIGRATIONS.iter().filter(|(v, _)| *v <= current) {
                tx.execute(
                    "INSERT INTO schema_migrations (version) VALUES (?1)",
                    [version],
                )?;
            }
        }
        tx.commit()?;
    }
    for (version, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        let applied: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if !applied {
            tx.execute_batch(sql)?;
            if EDITS_SCHEMA_IN_PLACE.contains(version) {
                let cookie: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
                tx.execute_batch(&format!("PRAGMA schema_version = {}", cookie + 1))?;
            }
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES (?1)",
                [version],
            )?;
            let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", current.max(*version)))?;
        }
        tx.commit()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `mmap_size` reaches every connection, off unless asked for, capped at SQLite's
    /// limit; a mapped database reads back what was written.
    #[tokio::test]
    async fn the_memory_map_size_is_applied_to_every_connection_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str, mmap_size| {
            SqliteStore::open(
                dir.path().join(name),
                SqliteOptions {
                    mmap_size,
                    ..SqliteOptions::default()
                },
            )
            .unwrap()
        };
        assert_eq!(open("off.db", 0).mmap_size().await.unwrap(), 0);
        let mapped = open("on.db", 64 << 20);
        assert_eq!(mapped.mmap_size().await.unwrap(), 64 << 20);
        let capped = open("big.db", 1 << 40).mmap_size().await.unwrap();
        assert!((1 << 30..1 << 40).contains(&capped), "capped at {capped}");
        let id = mapped
            .write(|tx| {
                tx.execute("CREATE TABLE t (x TEXT)", [])?;
                tx.execute("INSERT INTO t VALUES ('mapped')", [])?;
                Ok(())
            })
            .await;
        id.unwrap();
        let read = mapped
            .lookup(|c| Ok(c.query_row("SELECT x FROM t", [], |r| r.get::<_, String>(0))?))
            .await
            .unwrap();
        assert_eq!(read, "mapped");
    }

    /// Migration 0034 edits three CHECK constraints in place: the definitions read back
    /// without value lists, the database stays sound, and the constraints still refuse
    /// a value outside the list and take every value in it.
    #[tokio::test]
    async fn check_lists_are_or_chains_that_still_refuse_what_they_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        let conn = Connection::open(&path).unwrap();
        for table in ["outbox", "sms_sign_in_flows", "phone_methods"] {
            let sql: String = conn
                .query_row(
                    "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .unwrap();
            for list in [
                "CHECK (status IN (",
                "CHECK (purpose IN (",
                "CHECK (phone_type IN (",
            ] {
                assert!(!sql.contains(list), "{table} still checks {list}...: {sql}");
            }
        }
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");

        // The writer (which ran the migration) reads the new definitions too: each
        // constraint still refuses an outsider and takes each listed value.
        let outcomes = store
            .write(|tx| {
                let insert = |status: &str| {
                    tx.execute(
                        "INSERT INTO outbox (id, tenant_id, kind, channel, recipient, locale, status, next_attempt_at, created_at)
                         VALUES (?1, 't', 'k', 'sms', '+1', 'en', ?1, 0, 0)",
                        [status],
                    )
                    .is_ok()
                };
                tx.execute_batch(
                    "INSERT INTO tenants (id, name, policy, created_at) VALUES ('t', 't', '{}', 0)",
                )?;
                Ok(["queued", "delivered", "failed", "sent", ""].map(insert))
            })
            .await
            .unwrap();
        assert_eq!(outcomes, [true, true, true, false, false]);
        let purposes = store
            .write(|tx| {
                let insert = |purpose: &str| {
                    tx.execute(
                        "INSERT INTO sms_sign_in_flows (id, tenant_id, phone, code_expires_at, attempts, sends, last_sent_at, created_at, state, purpose)
                         VALUES (?1, 't', '+1', 0, 0, 0, 0, 0, 'pending', ?1)",
                        [purpose],
                    )
                    .is_ok()
                };
                Ok(["signIn", "proof", "secondFactor", "passwordReset", "other"].map(insert))
            })
            .await
            .unwrap();
        assert_eq!(purposes, [true, true, true, true, false]);

        // And its compiled inserts build no temporary b-tree for the check any more.
        let opcodes: Vec<String> = store
            .write(|tx| {
                let mut s = tx.prepare(
                    "EXPLAIN INSERT INTO outbox (id, tenant_id, kind, channel, recipient, locale, status, next_attempt_at, created_at)
                     VALUES ('x', 't', 'k', 'sms', '+1', 'en', 'queued', 0, 0)",
                )?;
                let ops = s.query_map([], |r| r.get::<_, String>(1))?.collect::<Result<_, _>>()?;
                Ok(ops)
            })
            .await
            .unwrap();
        assert!(opcodes.iter().any(|o| o == "Insert"), "{opcodes:?}");
        assert!(!opcodes.iter().any(|o| o == "OpenEphemeral"), "{opcodes:?}");
    }

    /// A lookup runs on the caller's thread while a reader connection is free; with all
    /// of them taken it waits for one (on the blocking pool) instead of opening more. One
    /// runtime thread: a lookup run in place runs on it, any other thread is the pool's.
    #[tokio::test]
    async fn lookups_run_in_place_and_wait_when_every_reader_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.db"), SqliteOptions::default()).unwrap();
        let here = std::thread::current().id();
        let ran_on = store
            .lookup(|c| {
                c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
                Ok(std::thread::current().id())
            })
            .await
            .unwrap();
        assert_eq!(ran_on, here);

        let held = store
            .reading
            .clone()
            .acquire_many_owned(READERS as u32)
            .await
            .unwrap();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let waiting = {
            let store = store.clone();
            tokio::spawn(async move {
                let on = store.lookup(|_| Ok(std::thread::current().id())).await;
                let _ = tx.send(());
                on
            })
        };
        // The spawned lookup runs until it waits for a permit, then this test goes on.
        tokio::task::yield_now().await;
        assert!(rx.try_recv().is_err());
        drop(held);
        let ran_on = waiting.await.unwrap().unwrap();
        assert_ne!(ran_on, here, "ran on the blocking pool");
        assert!(store.readers.lock().unwrap().len() <= READERS);
    }
}
