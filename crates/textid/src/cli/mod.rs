//! The command line: global options, subcommands, and how each reaches the application.

mod abuse;
mod directory;
mod oauth;
pub(crate) mod output;
mod policy;
mod serve;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use textid_core::clock::SystemClock;
use textid_core::clock::{Clock, OffsetClock};
use textid_core::tenant::Tenant;
use textid_server::{App, AppConfig};
use textid_store::postgres::{PostgresOptions, PostgresStore};
use textid_store::sqlite::{SqliteOptions, SqliteStore};
use textid_store::Store;

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
    /// Numbers locked after too many wrong codes: list, clear.
    #[command(subcommand)]
    Lock(abuse::LockCommand),
    /// SMS abuse defences: budgets in use, conversion-watch pauses; resume a pause.
    #[command(subcommand)]
    Abuse(abuse::AbuseCommand),
    /// Test numbers with fixed codes (no SMS); they work only while the server runs
    /// with TEXTID_TEST_NUMBERS_ENABLED=true.
    #[command(subcommand)]
    TestNumber(abuse::TestNumberCommand),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Apply pending database migrations and exit (also done by `serve` at start; safe
    /// while other nodes start or run).
    Migrate,
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
    /// How long a rotated client secret keeps working (`client_secret_overlap_seconds`).
    pub secret_overlap: chrono::Duration,
}

/// Opens the database (applying pending migrations) and the clock every expiry is
/// decided on: the wall clock for SQLite; for PostgreSQL the wall clock aligned on the
/// database's, so that several nodes share one time source.
pub async fn open_store(config: &Config) -> Result<(Arc<dyn Store>, Arc<dyn Clock>)> {
    match &config.database {
        Database::Sqlite(path) => {
            let store = SqliteStore::open(
                path,
                SqliteOptions {
                    synchronous_full: config.sqlite_full_sync,
                },
            )
            .with_context(|| format!("opening database {}", path.display()))?;
            Ok((Arc::new(store), Arc::new(SystemClock)))
        }
        Database::Postgres(url) => {
            let store = PostgresStore::connect(url.expose(), PostgresOptions::default())
                .await
                .with_context(|| format!("opening database {}", config.database.redacted()))?;
            let store: Arc<dyn Store> = Arc::new(store);
            let clock = OffsetClock::new();
            align_clock(&*store, &clock).await?;
            tokio::spawn(keep_aligned(store.clone(), clock.clone()));
            Ok((store, Arc::new(clock)))
        }
    }
}

/// Aligns `clock` on the database's clock.
async fn align_clock(store: &dyn Store, clock: &OffsetClock) -> Result<()> {
    let sent = clock.wall();
    let db = store
        .database_time()
        .await
        .context("reading the database's clock")?;
    if let Some(db) = db {
        clock.align(sent, db, clock.wall());
    }
    Ok(())
}

/// Re-aligns every 30 s (a node's wall clock drifts; the database's is the reference).
async fn keep_aligned(store: Arc<dyn Store>, clock: OffsetClock) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        every.tick().await;
        if let Err(e) = align_clock(&*store, &clock).await {
            tracing::warn!(error = %e, "could not align the clock on the database");
        }
    }
}

/// Opens the database and builds the app.
pub async fn open(
    config: &Config,
    delivery_worker: bool,
    oidc: bool,
) -> Result<(App, Arc<dyn Store>)> {
    crate::config::create_data_dir(&config.data_dir)?;
    let (store, clock) = open_store(config).await?;
    store
        .ensure_tenant(textid_core::tenant::DEFAULT_TENANT_NAME, clock.now())
        .await
        .context("creating the default tenant")?;
    let app = App::new(
        store.clone(),
        clock,
        config.server_secret()?,
        AppConfig {
            public_url: config.public_url.clone(),
            limits: config.limits.clone(),
            sms: config.sms.clone(),
            delivery_worker,
            trusted_proxies: config.trusted_proxies.clone(),
            test_numbers: config.test_numbers,
            http: config.http.clone(),
            // Only the server purges; an admin command runs too briefly.
            retention: textid_server::Retention {
                purge_every: config.retention.purge_every.filter(|_| delivery_worker),
                ..config.retention.clone()
            },
            metrics_on_main_listener: config.metrics_listen.is_none(),
            admin_allowed_origins: config.admin_allowed_origins.clone(),
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
            let described = config.describe();
            if cli.json {
                let map: serde_json::Map<String, serde_json::Value> = described
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
                    .collect();
                crate::out!("{}", serde_json::Value::Object(map));
            } else {
                for (k, v) in described {
                    crate::out!("{k:34} {}", output::clean(&v));
                }
            }
            return Ok(());
        }
        Command::Config(ConfigCommand::Keys) => {
            if cli.json {
                let keys: Vec<_> = crate::config::KEYS
                    .iter()
                    .map(|(k, default, about)| {
                        let env = format!("TEXTID_{}", k.to_ascii_uppercase());
                        let secret = crate::config::SECRET_KEYS.contains(k);
                        serde_json::json!({
                            "key": k,
                            "env": env,
                            "file": secret.then(|| format!("{env}_FILE")),
                            "default": default,
                            "about": about,
                        })
                    })
                    .collect();
                crate::out!("{}", serde_json::Value::Array(keys));
                return Ok(());
            }
            for (k, default, about) in crate::config::KEYS {
                let env = format!("TEXTID_{}", k.to_ascii_uppercase());
                let file = if crate::config::SECRET_KEYS.contains(k) {
                    format!(" (or {env}_FILE)")
                } else {
                    String::new()
                };
                crate::out!("{k:34} {env}{file}\n    default {default}; {about}");
            }
            return Ok(());
        }
        Command::Migrate => {
            crate::config::create_data_dir(&config.data_dir)?;
            open_store(&config).await?;
            crate::out!("migrations applied: {}", config.database.redacted());
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
        secret_overlap: config.client_secret_overlap,
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
        Command::Lock(c) => abuse::lock(&cx, c).await,
        Command::Abuse(c) => abuse::abuse(&cx, c).await,
        Command::TestNumber(c) => abuse::test_number(&cx, c).await,
        Command::Serve(_) | Command::Config(_) | Command::Tenant(_) | Command::Migrate => Ok(()),
    }
}
