//! The data directory's life: `init` creates it, `backup` copies the SQLite database
//! while the server runs, `restore` puts a copy back while no server runs.
//!
//! PostgreSQL has its own tools (pg_dump, pg_restore, point-in-time recovery); these
//! commands refuse it rather than do half their job.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use textid_store::sqlite::backup::{self as copy, ServerLock};

use crate::config::{Config, Database, RawConfig};

/// Flags of `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The new file to write (never overwritten).
    file: PathBuf,
}

/// Flags of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `textid backup`.
    file: PathBuf,
    /// Overwrite the database if one exists already.
    #[arg(long)]
    replace: bool,
}

/// `textid init`: the data directory, the database (migrated), the default tenant and
/// the keys, as the first `serve` would create them.
pub async fn init(config: &Config) -> Result<()> {
    let existed = match &config.database {
        Database::Sqlite(path) => copy::schema_version(path)?.is_some(),
        Database::Postgres(_) => false,
    };
    super::open(config, false, true).await?;
    crate::out!("data directory: {}", config.data_dir.display());
    crate::out!(
        "database: {}{}",
        config.database.redacted(),
        if existed { " (existed already)" } else { "" }
    );
    Ok(())
}

/// The SQLite file, or a clear refusal naming the PostgreSQL tool to use.
fn sqlite_path<'c>(config: &'c Config, raw: &RawConfig, tool: &str) -> Result<&'c PathBuf> {
    match &config.database {
        Database::Sqlite(path) => Ok(path),
        Database::Postgres(_) => bail!(
            "the database is PostgreSQL (database_url from {}): use {tool}; \
             `textid backup` and `restore` copy SQLite files only",
            raw.source("database_url").unwrap_or("default")
        ),
    }
}

/// `textid backup FILE`.
pub fn backup(config: &Config, raw: &RawConfig, args: &BackupArgs) -> Result<()> {
    let database = sqlite_path(config, raw, "pg_dump --format=custom")?;
    super::require_database(config, raw)?;
    let copied = copy::backup(database, &args.file)?;
    crate::out!(
        "backed up {} to {} (schema {}, {} bytes)",
        database.display(),
        args.file.display(),
        copied.version,
        copied.bytes
    );
    crate::out!(
        "keep the keys beside it: {}",
        key_sources(config).join(", ")
    );
    Ok(())
}

/// `textid restore FILE`.
pub async fn restore(config: &Config, raw: &RawConfig, args: &RestoreArgs) -> Result<()> {
    let database = sqlite_path(config, raw, "pg_restore")?;
    // Check the backup before anything is created or locked.
    copy::check(&args.file)?;
    if let Some(parent) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::config::create_data_dir(parent)?;
    }
    let _lock = ServerLock::exclusive(database)?;
    if copy::schema_version(database)?.is_some() && !args.replace {
        bail!(
            "database {} exists already; pass --replace to overwrite it with {}",
            database.display(),
            args.file.display()
        );
    }
    let copied = copy::restore(&args.file, database)?;
    // A backup from an older textid is brought up to this one's schema now.
    super::open_store(config)
        .await
        .context("migrating the restored database")?;
    crate::out!(
        "restored {} into {} (schema {}, {} bytes)",
        args.file.display(),
        database.display(),
        copied.version,
        copied.bytes
    );
    let missing = missing_keys(config);
    if !missing.is_empty() {
        crate::out!(
            "note: {} missing; copy {} from the old data directory (or configure {}) \
             before `textid serve`, or signed tokens, codes and sealed keys will not verify",
            missing.join(" and "),
            if missing.len() == 1 { "it" } else { "them" },
            if missing.len() == 1 {
                "the key"
            } else {
                "the keys"
            }
        );
    }
    Ok(())
}

/// Where the two keys that are not in the database come from.
fn key_sources(config: &Config) -> Vec<String> {
    let one = |configured: bool, file: &str, key: &str| {
        if configured {
            format!("{key} (configured)")
        } else {
            config.data_dir.join(file).display().to_string()
        }
    };
    vec![
        one(config.secret_key.is_some(), "secret.key", "secret_key"),
        one(
            config.key_encryption_key.is_some(),
            "kek.key",
            "key_encryption_key",
        ),
    ]
}

/// The key files a restored database needs that are neither configured nor present.
fn missing_keys(config: &Config) -> Vec<String> {
    [
        (config.secret_key.is_some(), "secret.key"),
        (config.key_encryption_key.is_some(), "kek.key"),
    ]
    .into_iter()
    .filter(|(configured, file)| !configured && !config.data_dir.join(file).exists())
    .map(|(_, file)| config.data_dir.join(file).display().to_string())
    .collect()
}
