//! The command line: global options, subcommands, and how each reaches the application.

mod abuse;
mod backup;
mod directory;
mod import;
mod oauth;
pub(crate) mod output;
mod policy;
mod serve;
mod tap;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
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

/// Where every command finds its database, shown under `--help`.
const DATABASE_HELP: &str = "\
Database: every command acts on the database named by database_url (TEXTID_DATABASE_URL);
by default the SQLite file DATA_DIR/textid.db, where DATA_DIR is --data-dir, else
TEXTID_DATA_DIR, else ./data. Only `serve`, `init` and `migrate` create it; the other
commands refuse a data directory without one. `textid config check` shows which is used.";

/// textid: SMS sign-in identity provider.
#[derive(Debug, Parser)]
#[command(name = "textid", version, about, after_help = DATABASE_HELP)]
pub struct Cli {
    /// Data directory (database, secret, textid.toml). Env: TEXTID_DATA_DIR.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Config file (default: DATA_DIR/textid.toml if it exists). Env: TEXTID_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The options of the commands that act on one tenant's data.
#[derive(Debug, Args)]
struct Scope {
    /// Tenant to act on.
    #[arg(long, global = true, default_value = "default")]
    tenant: String,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
}

/// `--json` alone, for the commands that span tenants or act on none.
#[derive(Debug, Args)]
struct Json {
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
}

/// A command group acting on one tenant: `textid user list --tenant contoso`.
#[derive(Debug, Args)]
struct Scoped<C: Subcommand> {
    #[command(flatten)]
    scope: Scope,
    #[command(subcommand)]
    command: C,
}

/// `textid import FILE --tenant contoso`.
#[derive(Debug, Args)]
struct ImportScoped {
    #[command(flatten)]
    scope: Scope,
    #[command(flatten)]
    args: import::ImportArgs,
}

/// A command group with `--json` only.
#[derive(Debug, Args)]
struct WithJson<C: Subcommand> {
    #[command(flatten)]
    json: Json,
    #[command(subcommand)]
    command: C,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (creates the data directory and database on first start).
    Serve(serve::ServeArgs),
    /// Create the data directory, the database and the keys, then exit (before
    /// provisioning users with the CLI, when the server has not run yet).
    Init,
    /// Users: create, list, show, enable, disable, delete.
    User(Scoped<directory::UserCommand>),
    /// Import users with their phone numbers from CSV or JSON lines: all rows are
    /// checked first, then written in one transaction (all or nothing).
    Import(ImportScoped),
    /// Groups and membership.
    Group(Scoped<directory::GroupCommand>),
    /// A user's phone authentication methods.
    Phone(Scoped<directory::PhoneCommand>),
    /// The authentication methods policy.
    Policy(Scoped<policy::PolicyCommand>),
    /// Temporary Access Passes: create, show, delete.
    Tap(Scoped<tap::TapCommand>),
    /// Tenants.
    Tenant(WithJson<directory::TenantCommand>),
    /// The SMS outbox.
    Outbox(Scoped<directory::OutboxCommand>),
    /// Sign-in and audit logs.
    Logs(Scoped<directory::LogsCommand>),
    /// OpenID Connect clients (apps).
    Client(Scoped<oauth::ClientCommand>),
    /// OpenID Connect signing keys.
    Keys(Scoped<oauth::KeysCommand>),
    /// Numbers locked after too many wrong codes: list, clear.
    Lock(Scoped<abuse::LockCommand>),
    /// SMS abuse defences: budgets in use, conversion-watch pauses; resume a pause.
    Abuse(Scoped<abuse::AbuseCommand>),
    /// Test numbers with fixed codes (no SMS); they work only while the server runs
    /// with TEXTID_TEST_NUMBERS_ENABLED=true.
    TestNumber(Scoped<abuse::TestNumberCommand>),
    /// Configuration.
    Config(WithJson<ConfigCommand>),
    /// Apply pending database migrations and exit (also done by `serve` at start; safe
    /// while other nodes start or run). Creates the database if missing.
    Migrate,
    /// Copy the SQLite database to a new file while the server runs (a consistent
    /// snapshot). On PostgreSQL use pg_dump.
    Backup(backup::BackupArgs),
    /// Replace the SQLite database with a backup; refused while a server runs on it.
    Restore(backup::RestoreArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration and where each value comes from, secrets
    /// redacted.
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
                    mmap_size: config.sqlite_mmap_size,
                },
            )
            .with_context(|| format!("opening database {}", path.display()))?;
            if config.sqlite_mmap_size > 0 {
                let mapped = store.mmap_size().await?;
                if mapped < config.sqlite_mmap_size {
                    tracing::warn!(
                        asked = config.sqlite_mmap_size,
                        mapped,
                        "sqlite_mmap_size is above SQLite's limit: maps {mapped} bytes"
                    );
                }
            }
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
            api_session_introspection: config.api_session_introspection,
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
    match cli.command {
        Command::Serve(_) => serve::run(&config).await,
        Command::Init => backup::init(&config).await,
        Command::Migrate => {
            crate::config::create_data_dir(&config.data_dir)?;
            open_store(&config).await?;
            crate::out!("migrations applied: {}", config.database.redacted());
            Ok(())
        }
        Command::Backup(args) => backup::backup(&config, &raw, &args),
        Command::Restore(args) => backup::restore(&config, &raw, &args).await,
        Command::Config(c) => match c.command {
            ConfigCommand::Check => config_check(&config, &raw, c.json.json),
            ConfigCommand::Keys => config_keys(c.json.json),
        },
        Command::Tenant(t) => {
            let (app, _store) = open_existing(&config, &raw, false).await?;
            directory::tenant(&app, t.command, t.json.json).await
        }
        Command::User(c) => {
            directory::user(&context(&config, &raw, &c.scope, false).await?, c.command).await
        }
        Command::Import(c) => {
            import::run(&context(&config, &raw, &c.scope, false).await?, c.args).await
        }
        Command::Group(c) => {
            directory::group(&context(&config, &raw, &c.scope, false).await?, c.command).await
        }
        Command::Phone(c) => {
            directory::phone(&context(&config, &raw, &c.scope, false).await?, c.command).await
        }
        Command::Policy(c) => {
            policy::run(&context(&config, &raw, &c.scope, false).await?, c.command).await
        }
        Command::Tap(c) => {
            tap::run(&context(&config, &raw, &c.scope, false).await?, c.command).await
        }
        Command::Outbox(c) => {
            directory::outbox(&context(&config, &raw, &c.scope, false).await?, c.command).await
        }
        Command::Logs(c) => {
            directory::logs(&context(&config, &raw, &c.scope, false).await?, c.command).await
        }
        Command::Client(c) => {
            oauth::client(&context(&config, &raw, &c.scope, false).await?, c.command).await
        }
        Command::Keys(c) => {
            oauth::keys(&context(&config, &raw, &c.scope, true).await?, c.command).await
        }
        Command::Lock(c) => {
            abuse::lock(&context(&config, &raw, &c.scope, false).await?, c.command).await
        }
        Command::Abuse(c) => {
            abuse::abuse(&context(&config, &raw, &c.scope, false).await?, c.command).await
        }
        Command::TestNumber(c) => {
            abuse::test_number(&context(&config, &raw, &c.scope, false).await?, c.command).await
        }
    }
}

/// Refuses a SQLite database that does not exist (or is not textid's): an admin command
/// run from the wrong directory would otherwise create an empty database there, and the
/// users it provisions would never reach the server (issue #19).
fn require_database(config: &Config, raw: &RawConfig) -> Result<()> {
    let Database::Sqlite(path) = &config.database else {
        // A PostgreSQL database is created by its administrator; `migrate` fills it.
        return Ok(());
    };
    let found = textid_store::sqlite::backup::schema_version(path)
        .with_context(|| format!("opening database {}", path.display()))?;
    if found.is_none() {
        let what = if path.exists() {
            "is not a textid database"
        } else {
            "does not exist"
        };
        anyhow::bail!(
            "database {} {what} (data directory {}, from {}).\n\
             Point --data-dir (or TEXTID_DATA_DIR) at the server's data directory, \
             or run `textid init` to create a new one there.",
            path.display(),
            config.data_dir.display(),
            raw.source("data_dir").unwrap_or("default"),
        );
    }
    Ok(())
}

/// Opens an existing database for an admin command.
async fn open_existing(
    config: &Config,
    raw: &RawConfig,
    oidc: bool,
) -> Result<(App, Arc<dyn Store>)> {
    require_database(config, raw)?;
    open(config, false, oidc).await
}

/// The app and tenant an admin command acts on.
async fn context(config: &Config, raw: &RawConfig, scope: &Scope, oidc: bool) -> Result<Context> {
    let (app, _store) = open_existing(config, raw, oidc).await?;
    let tenant = app
        .tenant(&scope.tenant)
        .await
        .map_err(|e| UsageError(e.message))?;
    Ok(Context {
        app,
        tenant,
        json: scope.json,
        secret_overlap: config.client_secret_overlap,
    })
}

/// `config check`: each key's effective value and its source.
fn config_check(config: &Config, raw: &RawConfig, json: bool) -> Result<()> {
    let source = |k: &str| {
        raw.source(k)
            .map_or_else(|| "default".to_string(), crate::config::source_label)
    };
    let mut described: Vec<(&str, String, String)> = config
        .describe()
        .into_iter()
        .map(|(k, v)| (k, v, source(k)))
        .collect();
    // Not a textid key: the standard OTEL_* variables, read as `serve` reads them.
    let (value, from) = crate::telemetry::Telemetry::from_process_env()?.describe();
    described.push(("telemetry", value, from));
    if json {
        let map: serde_json::Map<String, serde_json::Value> = described
            .into_iter()
            .map(|(k, v, source)| {
                (
                    k.to_string(),
                    serde_json::json!({"value": v, "source": source}),
                )
            })
            .collect();
        output::print_json(&serde_json::Value::Object(map));
        return Ok(());
    }
    crate::out!("{:34} {:40} SOURCE", "KEY", "VALUE");
    for (k, v, source) in described {
        let v = if v.is_empty() {
            "-".to_string()
        } else {
            output::clean(&v).into_owned()
        };
        crate::out!("{k:34} {v:40} {source}");
    }
    Ok(())
}

/// `config keys`: every key, its variables and default.
fn config_keys(json: bool) -> Result<()> {
    if json {
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
        output::print_json(&serde_json::Value::Array(keys));
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
    Ok(())
}
