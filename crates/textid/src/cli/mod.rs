//! The command line: global options, subcommands, and how each reaches the application.

mod directory;
mod oauth;
mod output;
mod policy;
mod serve;

use std::path::PathBuf;
use std::sync::Arc;
use textid_store::prelude::*;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use textid_core::clock::SystemClock;
use textid_core::tenant::Tenant;
use textid_server::{App, AppConfig};
use textid_store::sqlite::{SqliteOptions, SqliteStore};

use crate::config::{Config, Database, RawConfig};

/// A usage error: exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

/// textid: SMS sign-in identity provider.
#[derive(Debug, Parser)]
#[command(name = "textid", version, about)]
pub struct Cli {
    /// Data directory (database, secret, textid.toml). Env: TEXTID_DATA_DIR.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Config file (default: DATA_DIR/textid.toml if it exists). Env: TEXTID_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Tenant to act on.
    #[arg(long, global = true, default_value = "default")]
    tenant: String,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Users: create, list, show, enable, disable, delete.
    #[command(subcommand)]
    User(directory::UserCommand),
    /// Groups and membership.
    #[command(subcommand)]
    Group(directory::GroupCommand),
    /// A user's phone authentication methods.
    #[command(subcommand)]
    Phone(directory::PhoneCommand),
    /// The authentication methods policy.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Tenants.
    #[command(subcommand)]
    Tenant(directory::TenantCommand),
    /// The SMS outbox.
    #[command(subcommand)]
    Outbox(directory::OutboxCommand),
    /// Sign-in and audit logs.
    #[command(subcommand)]
    Logs(directory::LogsCommand),
    /// OpenID Connect clients (apps).
    #[command(subcommand)]
    Client(oauth::ClientCommand),
    /// OpenID Connect signing keys.
    #[command(subcommand)]
    Keys(oauth::KeysCommand),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, secrets redacted.
    Check,
    /// List every configuration key with its default.
    Keys,
}

impl Cli {
    /// Whether this runs the server (for the default log level).
    pub fn is_serve(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }
}

/// What every command needs.
pub struct Context {
    /// The app (no delivery worker for admin commands).
    pub app: App,
    /// The tenant acted on.
    pub tenant: Tenant,
    /// JSON output.
    pub json: bool,
}

/// Opens the database and builds the app.
pub async fn open(
    config: &Config,
    delivery_worker: bool,
    oidc: bool,
) -> Result<(App, Arc<SqliteStore>)> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let Database::Sqlite(path) = &config.database;
    let store = Arc::new(
        SqliteStore::open(
            path,
            SqliteOptions {
                synchronous_full: config.sqlite_full_sync,
            },
        )
        .with_context(|| format!("opening database {}", path.display()))?,
    );
    store
        .ensure_tenant(
            textid_core::tenant::DEFAULT_TENANT_NAME,
            textid_core::clock::Clock::now(&SystemClock),
        )
        .await
        .context("creating the default tenant")?;
    let app = App::new(
        store.clone(),
        Arc::new(SystemClock),
        config.server_secret()?,
        AppConfig {
            public_url: config.public_url.clone(),
            limits: config.limits.clone(),
            sms: config.sms.clone(),
            delivery_worker,
        },
    )?;
    if oidc {
        let kek = textid_oidc::KeyEncryptionKey::from_bytes(config.key_encryption_key()?);
        app.enable_oidc(kek)
            .await
            .context("loading the OpenID Connect signing keys")?;
    }
    Ok((app, store))
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let mut raw = RawConfig::load(cli.data_dir.as_deref(), cli.config.as_deref())?;
    if let Command::Serve(args) = &cli.command {
        args.apply(&mut raw);
    }
    let config = Config::try_from(&raw)?;
    let command = match cli.command {
        Command::Serve(_) => return serve::run(&config).await,
        Command::Config(ConfigCommand::Check) => {
            for (k, v) in config.describe() {
                println!("{k:20} {v}");
            }
            return Ok(());
        }
        Command::Config(ConfigCommand::Keys) => {
            for (k, default, about) in crate::config::KEYS {
                println!(
                    "{k:30} TEXTID_{:30} default {default}\n    {about}",
                    k.to_ascii_uppercase()
                );
            }
            return Ok(());
        }
        other => other,
    };
    let needs_keys = matches!(command, Command::Keys(_));
    let (app, _store) = open(&config, false, needs_keys).await?;
    if let Command::Tenant(t) = command {
        return directory::tenant(&app, t, cli.json).await;
    }
    let tenant = app
        .tenant(&cli.tenant)
        .await
        .map_err(|e| UsageError(e.message))?;
    let cx = Context {
        app,
        tenant,
        json: cli.json,
    };
    match command {
        Command::User(c) => directory::user(&cx, c).await,
        Command::Group(c) => directory::group(&cx, c).await,
        Command::Phone(c) => directory::phone(&cx, c).await,
        Command::Policy(c) => policy::run(&cx, c).await,
        Command::Outbox(c) => directory::outbox(&cx, c).await,
        Command::Logs(c) => directory::logs(&cx, c).await,
        Command::Client(c) => oauth::client(&cx, c).await,
        Command::Keys(c) => oauth::keys(&cx, c).await,
        Command::Serve(_) | Command::Config(_) | Command::Tenant(_) => Ok(()),
    }
}
