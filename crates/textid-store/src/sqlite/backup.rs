//! Copies of a SQLite database taken while the server runs, and their restore.
//!
//! [`backup`] uses SQLite's online backup API in one step: the copy reads inside one read
//! transaction, so it is the database as of one commit even while the server writes (in
//! WAL mode a reader blocks no writer). The copy is written to a hidden file beside the
//! destination, checked, synced and only then renamed into place: a crash or a full disk
//! never leaves a half copy under the chosen name.
//!
//! [`restore`] copies a checked backup into the database file through the same API, so
//! the destination's `-wal` and `-shm` files stay coherent. It does not know whether a
//! server uses the file; the caller holds the [`ServerLock`] for that.
//!
//! The database alone is not a complete backup: codes and tokens are keyed with the
//! server secret and the signing keys sealed with the key-encryption key, which live
//! outside it on purpose (a stolen backup reveals neither).

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::MIGRATIONS;

/// Why a copy was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The file is not a textid database (no schema version recorded).
    #[error("{} is not a textid database", .0.display())]
    NotTextid(PathBuf),
    /// The file was written by a newer textid than this one.
    #[error("{} has schema version {found}; this textid knows up to {known}: use a newer textid", path.display())]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The highest version this build knows.
        known: i64,
    },
    /// The file fails SQLite's integrity check.
    #[error("{} is damaged: {detail}", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The first problem SQLite reports.
        detail: String,
    },
    /// The destination of a backup exists already.
    #[error("{} exists already; choose a new name (a backup never overwrites)", .0.display())]
    Exists(PathBuf),
    /// A server holds the database.
    #[error("a textid server is using {}; stop it first (the lock is {})", database.display(), lock.display())]
    InUse {
        /// The database.
        database: PathBuf,
        /// The lock file the server holds.
        lock: PathBuf,
    },
    /// Another connection kept the database locked.
    #[error("{0}: the database stayed locked; try again")]
    Busy(String),
    /// SQLite failed.
    #[error("{context}: {source}")]
    Sqlite {
        /// What was being done.
        context: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file system failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

fn sqlite(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> CopyError {
    let context = context.into();
    move |source| CopyError::Sqlite { context, source }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CopyError {
    let context = context.into();
    move |source| CopyError::Io { context, source }
}

/// The highest schema version this build applies.
pub fn known_version() -> i64 {
    MIGRATIONS.iter().map(|(v, _)| *v).max().unwrap_or(0)
}

/// The schema version of the textid database at `path`; `None` when there is no file or
/// it is not a textid database (an empty file, another program's database).
pub fn schema_version(path: &Path) -> Result<Option<i64>, CopyError> {
    if !path.is_file() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite(format!("opening {}", path.display())))?;
    version_of(&conn, path)
}

/// `migrate` keeps the highest applied version in `user_version`; 0 means not textid.
fn version_of(conn: &Connection, path: &Path) -> Result<Option<i64>, CopyError> {
    match conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)) {
        Ok(0) => Ok(None),
        Ok(v) => Ok(Some(v)),
        // Not a database at all ("file is not a database").
        Err(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Ok(None)
        }
        Err(e) => Err(sqlite(format!("reading {}", path.display()))(e)),
    }
}

/// Checks that `path` is an intact textid database this build can open; its version.
pub fn check(path: &Path) -> Result<i64, CopyError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite(format!("opening {}", path.display())))?;
    check_open(&conn, path)
}

fn check_open(conn: &Connection, path: &Path) -> Result<i64, CopyError> {
    let version = version_of(conn, path)?.ok_or_else(|| CopyError::NotTextid(path.into()))?;
    if version > known_version() {
        return Err(CopyError::TooNew {
            path: path.into(),
            found: version,
            known: known_version(),
        });
    }
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(sqlite(format!("checking {}", path.display())))?;
    if verdict != "ok" {
        return Err(CopyError::Damaged {
            path: path.into(),
            detail: verdict,
        });
    }
    Ok(version)
}

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The schema version of the copy.
    pub version: i64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Copies the live database `database` to the new file `dest` (mode 0600).
pub fn backup(database: &Path, dest: &Path) -> Result<Copied, CopyError> {
    if dest.exists() {
        return Err(CopyError::Exists(dest.into()));
    }
    let source = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(sqlite(format!("opening {}", database.display())))?;
    source
        .busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sqlite("setting the busy timeout"))?;
    if version_of(&source, database)?.is_none() {
        return Err(CopyError::NotTextid(database.into()));
    }
    let partial = partial_name(dest);
    let result = write_copy(&source, &partial, dest);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn write_copy(source: &Connection, partial: &Path, dest: &Path) -> Result<Copied, CopyError> {
    super::private_file(partial).map_err(|e| CopyError::Io {
        context: format!("creating {}", partial.display()),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut copy =
        Connection::open(partial).map_err(sqlite(format!("opening {}", partial.display())))?;
    copy_all(source, &mut copy, "copying the database")?;
    // A standalone file: no -wal beside it to lose when it is moved or archived.
    copy.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))
        .map_err(sqlite("leaving WAL mode in the copy"))?;
    let version = check_open(&copy, partial)?;
    drop(copy);
    let file = File::open(partial).map_err(io(format!("opening {}", partial.display())))?;
    file.sync_all()
        .map_err(io(format!("syncing {}", partial.display())))?;
    let bytes = file
        .metadata()
        .map_err(io("reading the copy's size"))?
        .len();
    if dest.exists() {
        return Err(CopyError::Exists(dest.into()));
    }
    std::fs::rename(partial, dest).map_err(io(format!("renaming to {}", dest.display())))?;
    sync_parent(dest)?;
    Ok(Copied { version, bytes })
}

/// One step of -1 pages: the whole database inside one read transaction, so the copy is
/// consistent however busy the writer is (steps of N pages restart whenever the source
/// changes between them, and may never finish under steady writes).
fn copy_all(from: &Connection, to: &mut Connection, what: &str) -> Result<(), CopyError> {
    let backup = Backup::new(from, to).map_err(sqlite(what))?;
    // Busy or locked: another connection held a lock; each try waits for it first.
    for _ in 0..BUSY_TRIES {
        if let StepResult::Done = backup.step(-1).map_err(sqlite(what))? {
            return Ok(());
        }
    }
    Err(CopyError::Busy(what.to_string()))
}

const BUSY_TRIES: usize = 50;

/// Copies the backup `from` into the database `database` (created 0600 if missing),
/// replacing its content. The caller ensures no server uses `database`.
pub fn restore(from: &Path, database: &Path) -> Result<Copied, CopyError> {
    let version = check(from)?;
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite(format!("opening {}", from.display())))?;
    super::private_file(database).map_err(|e| CopyError::Io {
        context: format!("creating {}", database.display()),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut target =
        Connection::open(database).map_err(sqlite(format!("opening {}", database.display())))?;
    target
        .busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sqlite("setting the busy timeout"))?;
    copy_all(&source, &mut target, "restoring the database")?;
    target
        .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .map_err(sqlite("switching the database to WAL mode"))?;
    check_open(&target, database)?;
    drop(target);
    let bytes = std::fs::metadata(database)
        .map_err(io(format!("reading {}", database.display())))?
        .len();
    Ok(Copied { version, bytes })
}

/// `.NAME.partial-PID` beside `dest` (same file system, so the rename is atomic).
fn partial_name(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "textid-backup".into());
    dest.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

fn sync_parent(path: &Path) -> Result<(), CopyError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Directories can be opened and synced on Unix; elsewhere the rename is enough.
    #[cfg(unix)]
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing {}", parent.display())))?;
    Ok(())
}

/// A lock a running server holds on its SQLite database (shared, so several servers and
/// admin commands may run), and [`restore`]'s callers take exclusively. The operating
/// system releases it when the process ends, however it ends (kill -9 too).
#[derive(Debug)]
pub struct ServerLock {
    _file: File,
}

impl ServerLock {
    /// The lock file of `database`: `DATABASE.lock` beside it.
    pub fn path(database: &Path) -> PathBuf {
        let mut p = database.as_os_str().to_owned();
        p.push(".lock");
        PathBuf::from(p)
    }

    fn open(database: &Path) -> Result<(File, PathBuf), CopyError> {
        let path = Self::path(database);
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))?;
        Ok((file, path))
    }

    /// Taken by `serve`; waits for nothing: fails while a restore holds it.
    pub fn serving(database: &Path) -> Result<Self, CopyError> {
        let (file, lock) = Self::open(database)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(CopyError::InUse {
                database: database.into(),
                lock,
            }),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(io(format!("locking {}", lock.display()))(e))
            }
        }
    }

    /// Taken by `restore`: fails while any server runs on `database`.
    pub fn exclusive(database: &Path) -> Result<Self, CopyError> {
        let (file, lock) = Self::open(database)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(CopyError::InUse {
                database: database.into(),
                lock,
            }),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(io(format!("locking {}", lock.display()))(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn textid_db(dir: &Path) -> PathBuf {
        let path = dir.join("textid.db");
        crate::sqlite::SqliteStore::open(&path, Default::default()).unwrap();
        path
    }

    #[test]
    fn a_backup_is_a_checked_standalone_copy_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let db = textid_db(dir.path());
        let dest = dir.path().join("copy.db");
        let copied = backup(&db, &dest).unwrap();
        assert_eq!(copied.version, known_version());
        assert_eq!(schema_version(&dest).unwrap(), Some(known_version()));
        assert!(matches!(backup(&db, &dest), Err(CopyError::Exists(_))));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn restore_refuses_files_that_are_not_textid_databases_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, b"not a database at all, just some bytes").unwrap();
        let empty = dir.path().join("empty.db");
        Connection::open(&empty).unwrap();
        let target = dir.path().join("target.db");
        for bad in [&junk, &empty] {
            assert!(
                matches!(restore(bad, &target), Err(CopyError::NotTextid(_))),
                "{bad:?}"
            );
        }
        assert!(!target.exists());
    }

    #[test]
    fn restore_refuses_a_database_from_a_newer_textid() {
        let dir = tempfile::tempdir().unwrap();
        let db = textid_db(dir.path());
        Connection::open(&db)
            .unwrap()
            .execute_batch(&format!("PRAGMA user_version = {}", known_version() + 1))
            .unwrap();
        let target = dir.path().join("target.db");
        assert!(matches!(
            restore(&db, &target),
            Err(CopyError::TooNew { .. })
        ));
        assert!(!target.exists());
    }

    #[test]
    fn an_exclusive_lock_is_refused_while_a_server_holds_the_shared_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = textid_db(dir.path());
        let serving = ServerLock::serving(&db).unwrap();
        let second = ServerLock::serving(&db).unwrap();
        assert!(matches!(
            ServerLock::exclusive(&db),
            Err(CopyError::InUse { .. })
        ));
        drop((serving, second));
        let restoring = ServerLock::exclusive(&db).unwrap();
        assert!(matches!(
            ServerLock::serving(&db),
            Err(CopyError::InUse { .. })
        ));
        drop(restoring);
    }
}
