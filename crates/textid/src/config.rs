//! Configuration, read once: defaults → `textid.toml` → `TEXTID_*` environment → command
//! line flags. Two stages (after ripgrep): [`RawConfig`] holds what was given, as strings;
//! [`Config::try_from`] turns it into checked types, and every error names the key and
//! where it came from. Secrets may come from `*_FILE` variables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use chrono::Duration;
use textid_core::abuse::{AbuseLimits, Budget};
use textid_core::limits::SignInLimits;
use textid_core::secret::Secret;
use textid_server::client_ip::TrustedProxies;
use textid_server::{RouteConfig, SmsProviderConfig};
use textid_sms::provider::aws_credentials::{CredentialSource, Credentials};
use textid_sms::provider::smpp::SmppConfig;
use textid_sms::provider::sns::SnsConfig;
use textid_sms::provider::twilio::TwilioConfig;
use textid_sms::provider::vonage::{VonageConfig, VonageSmsApi};
use textid_sms::provider::vonage_voice::VonageApplication;
use textid_sms::provider::webhook::WebhookConfig;
use textid_sms::routing::RouteTable;

/// Every configuration key: (name, default, description). The env variable is
/// `TEXTID_` + the upper-cased name; the file key is the name.
pub const KEYS: &[(&str, &str, &str)] = &[
    ("listen", "127.0.0.1:8080", "address and port to listen on"),
    (
        "metrics_listen",
        "",
        "a separate address:port that alone serves /metrics (then the main listener answers 404 for it); empty: /metrics on the main listener",
    ),
    (
        "public_url",
        "http://{listen}",
        "the URL users and apps reach textid at (its host goes into SMS texts)",
    ),
    (
        "data_dir",
        "./data",
        "directory for the SQLite database, the server secret and textid.toml",
    ),
    (
        "database_url",
        "sqlite://{data_dir}/textid.db",
        "the database: sqlite://PATH (one node) or postgres://user@host1:5432,host2:5432/db?target_session_attrs=read-write (several nodes)",
    ),
    (
        "sqlite_synchronous",
        "normal",
        "normal (survives a process crash) or full (also survives power loss)",
    ),
    (
        "sqlite_mmap_size",
        "0",
        "bytes of the SQLite database read through a memory map (e.g. 2GiB, SQLite's limit; 0: off): faster reads of a large directory, but the mapped file counts in resident memory and a storage I/O error stops the process (SIGBUS)",
    ),
    (
        "secret_key",
        "generated into {data_dir}/secret.key",
        "32 bytes, base64: keys code and token hashes and outbox sealing; the same on every node",
    ),
    (
        "key_encryption_key",
        "generated into {data_dir}/kek.key",
        "32 bytes, base64: seals the OpenID Connect signing keys in the database; the same on every node",
    ),
    (
        "sms_provider",
        "console",
        "console (log each message), webhook, twilio, vonage, sns, or route (several, per sms_routes)",
    ),
    (
        "sms_webhook_url",
        "",
        "where the webhook provider POSTs messages",
    ),
    (
        "sms_webhook_secret",
        "",
        "Standard Webhooks signing secret (whsec_... or any string)",
    ),
    (
        "sms_webhook_timeout_seconds",
        "10",
        "timeout of one delivery try",
    ),
    (
        "sms_routes",
        "",
        "with sms_provider = route: per-destination failover lists, e.g. +44=twilio,webhook; GB=twilio; default=twilio (keys: calling code, ISO region, default)",
    ),
    (
        "sms_timeout_seconds",
        "10",
        "timeout of one try at a carrier (twilio, vonage, sns)",
    ),
    (
        "sms_twilio_account_sid",
        "",
        "Twilio account SID (AC...)",
    ),
    (
        "sms_twilio_auth_token",
        "",
        "Twilio auth token: verifies status callbacks; authenticates requests unless an API key is set",
    ),
    (
        "sms_twilio_api_key_sid",
        "",
        "Twilio API key SID (SK...) to authenticate requests with instead of the auth token",
    ),
    (
        "sms_twilio_api_key_secret",
        "",
        "the secret of sms_twilio_api_key_sid",
    ),
    (
        "sms_twilio_messaging_service_sid",
        "",
        "Twilio Messaging Service SID (MG...), used for SMS when set",
    ),
    (
        "sms_twilio_from",
        "",
        "Twilio sender number (E.164) for SMS without a Messaging Service, and the caller for voice",
    ),
    (
        "sms_twilio_base_url",
        "https://api.twilio.com",
        "Twilio API origin (change only for a test double)",
    ),
    (
        "sms_vonage_sms_api",
        "sms",
        "which Vonage API sends SMS: sms (the SMS API, API key and secret) or messages (the Messages API, the application's JWT); default sms, or messages when only an application is set",
    ),
    (
        "sms_vonage_api_key",
        "",
        "Vonage API key (the SMS API; not needed with sms_vonage_sms_api = messages)",
    ),
    ("sms_vonage_api_secret", "", "Vonage API secret"),
    (
        "sms_vonage_signature_secret",
        "",
        "Vonage signature secret (dashboard: signed webhooks, method SHA-256 HMAC): verifies delivery receipts; empty: no receipts asked for",
    ),
    (
        "sms_vonage_from",
        "",
        "Vonage sender: a Vonage number (E.164) or an alphanumeric sender id",
    ),
    (
        "sms_vonage_base_url",
        "https://rest.nexmo.com",
        "Vonage SMS API origin (change only for a test double)",
    ),
    ("sms_smpp_host", "", "SMPP: the SMSC's host name or IP address"),
    ("sms_smpp_port", "2775", "SMPP: the SMSC's TCP port"),
    ("sms_smpp_system_id", "", "SMPP: the account (system_id), at most 15 ASCII characters"),
    ("sms_smpp_password", "", "SMPP: the password, at most 8 ASCII characters"),
    ("sms_smpp_system_type", "", "SMPP: system_type, if the carrier asks for one"),
    (
        "sms_smpp_source_addr",
        "",
        "SMPP: the sender, digits without + (or a name, with source TON 5 and NPI 0)",
    ),
    ("sms_smpp_source_ton", "1", "SMPP: type of number of the sender"),
    ("sms_smpp_source_npi", "1", "SMPP: numbering plan of the sender"),
    ("sms_smpp_dest_ton", "1", "SMPP: type of number of recipients (1: international)"),
    ("sms_smpp_dest_npi", "1", "SMPP: numbering plan of recipients (1: E.164)"),
    (
        "sms_smpp_enquire_link_seconds",
        "30",
        "SMPP: quiet time after which textid checks the link with enquire_link",
    ),
    (
        "sms_smpp_response_timeout_seconds",
        "10",
        "SMPP: how long to wait for a connect, bind, submit_sm_resp or enquire_link_resp",
    ),
    ("sms_smpp_window", "10", "SMPP: submits awaiting their answer at once"),
    (
        "sms_vonage_application_id",
        "",
        "Vonage application id: voice calls through the Voice API, and SMS through the Messages API (with sms_vonage_private_key); empty: no voice",
    ),
    (
        "sms_vonage_private_key",
        "",
        "the application's private key, PEM (best from TEXTID_SMS_VONAGE_PRIVATE_KEY_FILE)",
    ),
    (
        "sms_vonage_api_base_url",
        "https://api.nexmo.com",
        "Vonage Voice and Messages API origin (change only for a test double)",
    ),
    ("sms_sns_region", "", "Amazon SNS region, e.g. eu-west-1"),
    (
        "sms_sns_access_key_id",
        "",
        "AWS access key id of an IAM user or role allowed sns:Publish; empty: AWS_ACCESS_KEY_ID, then container credentials (AWS_CONTAINER_CREDENTIALS_*), then the EC2 instance profile (IMDSv2)",
    ),
    ("sms_sns_secret_access_key", "", "its secret access key"),
    (
        "sms_sns_session_token",
        "",
        "the session token of temporary keys (sent as X-Amz-Security-Token); only with sms_sns_access_key_id",
    ),
    (
        "sms_sns_endpoint",
        "https://sns.{sms_sns_region}.amazonaws.com",
        "SNS API origin: a VPC endpoint, or a test double",
    ),
    (
        "sms_sns_sender_id",
        "",
        "AWS.SNS.SMS.SenderID: an alphanumeric sender id, where the destination allows one",
    ),
    (
        "sms_sns_origination_number",
        "",
        "AWS.MM.SMS.OriginationNumber: an origination number (E.164) of the account",
    ),
    (
        "code_lifetime_seconds",
        "300",
        "how long a code is valid (30..=600)",
    ),
    (
        "max_attempts_per_code",
        "5",
        "wrong tries per code (1..=10)",
    ),
    (
        "resend_cooldown_seconds",
        "30",
        "first resend cooldown; doubles with each resend",
    ),
    ("sends_per_window", "5", "codes per number per send window"),
    ("send_window_seconds", "900", "the send window"),
    (
        "failures_before_lock",
        "50",
        "wrong codes in a row for a number, from any client, before it is locked (1..=100)",
    ),
    (
        "lock_base_seconds",
        "300",
        "first lock of a number; doubles with each further failure (1..=3600)",
    ),
    ("lock_max_seconds", "900", "longest lock of a number (<= 3600)"),
    (
        "client_failures_before_lock",
        "10",
        "wrong codes for one number from one client IP before that IP is stopped for it",
    ),
    (
        "client_lock_seconds",
        "900",
        "how long a client IP stays stopped for a number (1..=3600)",
    ),
    (
        "trusted_proxies",
        "",
        "comma-separated CIDRs of proxies whose Forwarded / X-Forwarded-For name the client",
    ),
    (
        "admin_allowed_origins",
        "",
        "comma-separated web origins (https://admin.contoso.example) whose pages may call the admin API (/v1.0) from a browser (CORS); empty: none",
    ),
    (
        "ip_sends",
        "30",
        "code requests (starts and resends) per client IP (IPv6: per /64) per ip_send_window_seconds; then 429",
    ),
    ("ip_send_window_seconds", "3600", "the window of ip_sends"),
    (
        "prefix_sends",
        "10",
        "codes per number prefix (the number without its last 4 digits) per window, per tenant",
    ),
    ("prefix_send_window_seconds", "3600", "the window of prefix_sends"),
    (
        "country_sends",
        "500",
        "codes per country calling code per window, per tenant",
    ),
    ("country_send_window_seconds", "3600", "the window of country_sends"),
    ("tenant_sends", "2000", "codes per tenant per window"),
    ("tenant_send_window_seconds", "3600", "the window of tenant_sends"),
    ("tenant_daily_sends", "10000", "codes per tenant per UTC day"),
    ("global_sends", "10000", "codes of all tenants per window"),
    ("global_send_window_seconds", "3600", "the window of global_sends"),
    (
        "conversion_window_seconds",
        "3600",
        "the window in which codes sent and verified are compared, per prefix and country",
    ),
    (
        "conversion_min_sends_prefix",
        "8",
        "codes sent to a prefix in the window before its conversion is judged",
    ),
    (
        "conversion_min_sends_country",
        "50",
        "codes sent to a country in the window before its conversion is judged",
    ),
    (
        "conversion_max_sent_per_verified",
        "4",
        "sending pauses where codes sent exceed this many times the codes verified",
    ),
    (
        "conversion_pause_seconds",
        "3600",
        "how long a prefix or country with a bad conversion gets no SMS",
    ),
    (
        "test_numbers_enabled",
        "false",
        "true: test numbers (textid test-number add) sign in with their fixed code and get no SMS",
    ),
    (
        "session_lifetime_seconds",
        "28800",
        "lifetime of a session from SMS sign-in (<= 30 days)",
    ),
    (
        "api_session_introspection",
        "app",
        "who may introspect an API session (POST /{tenant}/api/v1/session): app (the app it was issued to, with its client credentials) or token (whoever holds it)",
    ),
    (
        "client_secret_overlap_seconds",
        "86400",
        "after `textid client secret rotate`, how long the previous secret still works (0..=2592000)",
    ),
    (
        "http_header_read_timeout_seconds",
        "10",
        "time for a request's head to arrive (1..=300)",
    ),
    (
        "http_body_read_timeout_seconds",
        "30",
        "time for a request's body to arrive, else 408 (1..=300)",
    ),
    (
        "http_idle_timeout_seconds",
        "60",
        "how long a kept-alive connection may wait for its next request (1..=3600)",
    ),
    (
        "http_max_connections",
        "512",
        "connections open at once; more wait in the listen backlog (1..=100000)",
    ),
    (
        "http_shutdown_deadline_seconds",
        "10",
        "after Ctrl-C or SIGTERM, how long requests under way may finish (0..=300)",
    ),
    (
        "purge_interval_seconds",
        "300",
        "how often expired flows, codes, requests, tokens and old logs are purged (0: never)",
    ),
    (
        "log_retention_days",
        "30",
        "how long sign-in and audit logs are kept (1..=3650)",
    ),
];

/// The keys whose values are secrets: never shown, and also read from `TEXTID_<KEY>_FILE`.
pub const SECRET_KEYS: &[&str] = &[
    "secret_key",
    "key_encryption_key",
    "sms_webhook_secret",
    "sms_twilio_auth_token",
    "sms_twilio_api_key_secret",
    "sms_vonage_api_secret",
    "sms_vonage_signature_secret",
    "sms_smpp_password",
    "sms_vonage_private_key",
    "sms_sns_secret_access_key",
    "sms_sns_session_token",
];

/// Given values with their source, before checking.
#[derive(Debug, Default, Clone)]
pub struct RawConfig {
    values: BTreeMap<&'static str, (String, String)>,
}

impl RawConfig {
    /// Reads the file (if any) and the environment.
    pub fn load(data_dir_flag: Option<&Path>, config_flag: Option<&Path>) -> Result<Self> {
        let mut raw = Self::default();
        let env_data_dir = std::env::var("TEXTID_DATA_DIR").ok();
        let data_dir = data_dir_flag
            .map(Path::to_path_buf)
            .or(env_data_dir.map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("./data"));
        // A file named by the operator must exist; only the default one is optional.
        let named = match (config_flag, std::env::var_os("TEXTID_CONFIG")) {
            (Some(f), _) => Some((f.to_path_buf(), "--config")),
            (None, Some(f)) => Some((PathBuf::from(f), "TEXTID_CONFIG")),
            (None, None) => None,
        };
        let file = named
            .as_ref()
            .map_or_else(|| data_dir.join("textid.toml"), |(f, _)| f.clone());
        if file.exists() {
            raw.read_file(&file)?;
        } else if let Some((_, source)) = named {
            bail!(
                "config file {} (from {source}) does not exist",
                file.display()
            );
        }
        raw.read_env()?;
        if let Some(d) = data_dir_flag {
            raw.set("data_dir", d.display().to_string(), "--data-dir");
        }
        Ok(raw)
    }

    /// Sets a value from a named source.
    pub fn set(&mut self, key: &'static str, value: String, source: &str) {
        self.values.insert(key, (value, source.to_string()));
    }

    fn read_file(&mut self, path: &Path) -> Result<()> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let table: toml::Table = text
            .parse()
            .with_context(|| format!("parsing {}", path.display()))?;
        for (k, v) in table {
            let key = KEYS
                .iter()
                .find(|(name, _, _)| *name == k)
                .map(|(name, _, _)| *name)
                .ok_or_else(|| {
                    anyhow!(
                        "{}: unknown key '{k}' (see `textid config keys`)",
                        path.display()
                    )
                })?;
            let value = match v {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            self.set(key, value, &path.display().to_string());
        }
        Ok(())
    }

    fn read_env(&mut self) -> Result<()> {
        for (key, _, _) in KEYS {
            let var = format!("TEXTID_{}", key.to_ascii_uppercase());
            if let Ok(v) = std::env::var(&var) {
                self.set(key, v, &var);
            } else if let Ok(path) = std::env::var(format!("{var}_FILE")) {
                let v = std::fs::read_to_string(&path)
                    .with_context(|| format!("{var}_FILE: reading {path}"))?;
                self.set(key, v.trim().to_string(), &format!("{var}_FILE"));
            }
        }
        Ok(())
    }

    /// Where `key`'s value came from (`TEXTID_LISTEN`, a file's path, `--listen`); `None`
    /// for a default.
    pub fn source(&self, key: &str) -> Option<&str> {
        self.get(key).map(|(_, s)| s)
    }

    fn get(&self, key: &str) -> Option<(&str, &str)> {
        self.values.get(key).map(|(v, s)| (v.as_str(), s.as_str()))
    }

    fn number<T: std::str::FromStr>(&self, key: &'static str, default: T) -> Result<T> {
        match self.get(key) {
            None => Ok(default),
            Some((v, source)) => v
                .trim()
                .parse()
                .map_err(|_| anyhow!("{key} (from {source}): '{v}' is not a valid number")),
        }
    }

    fn seconds(&self, key: &'static str, default: i64) -> Result<Duration> {
        Ok(Duration::seconds(self.number(key, default)?))
    }

    /// A number that must lie in `range`; the error names the key, its source and the
    /// range.
    fn bounded<T>(
        &self,
        key: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let v = self.number(key, default)?;
        if !range.contains(&v) {
            let source = self.get(key).map_or("default", |(_, s)| s);
            bail!(
                "{key} (from {source}): {v} must be between {} and {}",
                range.start(),
                range.end()
            );
        }
        Ok(v)
    }

    fn std_seconds(
        &self,
        key: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<std::time::Duration> {
        Ok(std::time::Duration::from_secs(
            self.bounded(key, default, range)?,
        ))
    }
}

/// Where the data lives.
/// A source as `config check` shows it: `default`, `env TEXTID_X`, `_FILE TEXTID_X_FILE`,
/// `flag --x` or `file PATH`.
pub fn source_label(source: &str) -> String {
    if source.starts_with("--") {
        format!("flag {source}")
    } else if source.starts_with("TEXTID_") && source.ends_with("_FILE") {
        format!("_FILE {source}")
    } else if source.starts_with("TEXTID_") {
        format!("env {source}")
    } else {
        format!("file {source}")
    }
}

#[derive(Debug, Clone)]
pub enum Database {
    /// An SQLite file (one node).
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by several nodes: a libpq-style URL, possibly with
    /// several hosts and `target_session_attrs=read-write`. May carry a password.
    Postgres(Secret<String>),
}

impl Database {
    /// How the database is shown to people: never with its password.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(p) => format!("sqlite {}", p.display()),
            Self::Postgres(url) => format!("postgres {}", redact_url(url.expose())),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; a `password=`
/// parameter likewise.
fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            if let Some((user, _)) = userinfo.split_once(':') {
                out = format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    out.split(['&', '?', ' '])
        .filter(|p| p.starts_with("password="))
        .map(str::to_string)
        .collect::<Vec<_>>()
        .into_iter()
        .fold(out, |acc, p| acc.replace(&p, "password=***"))
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: String,
    /// The separate metrics listener, if any.
    pub metrics_listen: Option<String>,
    /// Public URL.
    pub public_url: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database.
    pub database: Database,
    /// `synchronous = FULL`.
    pub sqlite_full_sync: bool,
    /// SQLite's `mmap_size` in bytes (0: off).
    pub sqlite_mmap_size: u64,
    /// The server secret, if configured (otherwise generated in the data dir).
    pub secret_key: Option<Secret<[u8; 32]>>,
    /// The key-encryption key, if configured (otherwise generated in the data dir).
    pub key_encryption_key: Option<Secret<[u8; 32]>>,
    /// SMS provider.
    pub sms: SmsProviderConfig,
    /// Sign-in limits.
    pub limits: SignInLimits,
    /// How long a rotated client secret keeps working next to the new one.
    pub client_secret_overlap: Duration,
    /// Trusted proxies.
    pub trusted_proxies: TrustedProxies,
    /// Web origins whose pages may call the admin API (CORS).
    pub admin_allowed_origins: Vec<String>,
    /// Who may introspect an API session.
    pub api_session_introspection: textid_server::Introspection,
    /// Test numbers enabled.
    pub test_numbers: bool,
    /// HTTP timeouts, connection cap and shutdown deadline.
    pub http: textid_server::HttpLimits,
    /// The purge job and the log retention.
    pub retention: textid_server::Retention,
}

fn abuse_limits(raw: &RawConfig) -> Result<AbuseLimits> {
    let d = AbuseLimits::default();
    let budget = |n: &'static str, w: &'static str, b: Budget| -> Result<Budget> {
        Ok(Budget {
            limit: raw.number(n, b.limit)?,
            window: raw.seconds(w, b.window.num_seconds())?,
        })
    };
    Ok(AbuseLimits {
        ip: budget("ip_sends", "ip_send_window_seconds", d.ip)?,
        prefix: budget("prefix_sends", "prefix_send_window_seconds", d.prefix)?,
        country: budget("country_sends", "country_send_window_seconds", d.country)?,
        tenant: budget("tenant_sends", "tenant_send_window_seconds", d.tenant)?,
        tenant_daily: raw.number("tenant_daily_sends", d.tenant_daily)?,
        global: budget("global_sends", "global_send_window_seconds", d.global)?,
        watch_window: raw.seconds("conversion_window_seconds", d.watch_window.num_seconds())?,
        watch_min_sends_prefix: raw
            .number("conversion_min_sends_prefix", d.watch_min_sends_prefix)?,
        watch_min_sends_country: raw
            .number("conversion_min_sends_country", d.watch_min_sends_country)?,
        watch_max_sent_per_verified: raw.number(
            "conversion_max_sent_per_verified",
            d.watch_max_sent_per_verified,
        )?,
        watch_pause: raw.seconds("conversion_pause_seconds", d.watch_pause.num_seconds())?,
        ip_failures_before_lock: raw
            .number("client_failures_before_lock", d.ip_failures_before_lock)?,
        ip_lock: raw.seconds("client_lock_seconds", d.ip_lock.num_seconds())?,
    })
}

fn flag(raw: &RawConfig, key: &'static str) -> Result<bool> {
    match raw.get(key) {
        None => Ok(false),
        Some((v, source)) => match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" | "" => Ok(false),
            _ => bail!("{key} (from {source}): '{v}' must be true or false"),
        },
    }
}

impl TryFrom<&RawConfig> for Config {
    type Error = anyhow::Error;

    fn try_from(raw: &RawConfig) -> Result<Self> {
        let listen = raw
            .get("listen")
            .map_or("127.0.0.1:8080", |(v, _)| v)
            .to_string();
        listen.parse::<std::net::SocketAddr>().map_err(|_| {
            anyhow!(
                "listen (from {}): '{listen}' is not an address:port like 127.0.0.1:8080",
                raw.get("listen").map_or("default", |(_, s)| s)
            )
        })?;
        let metrics_listen = metrics_listen(raw, &listen)?;
        let public_url = raw.get("public_url").map_or_else(
            || format!("http://{listen}"),
            |(v, _)| v.trim_end_matches('/').to_string(),
        );
        if textid_server::app::public_host(&public_url).is_none() {
            bail!(
                "public_url (from {}): '{public_url}' must be an http:// or https:// URL",
                raw.get("public_url").map_or("default", |(_, s)| s)
            );
        }
        let data_dir = PathBuf::from(raw.get("data_dir").map_or("./data", |(v, _)| v));
        let database = match raw.get("database_url") {
            None => Database::Sqlite(data_dir.join("textid.db")),
            Some((v, source)) => match v.split_once("://") {
                Some(("sqlite", path)) if !path.is_empty() => Database::Sqlite(PathBuf::from(path)),
                Some(("postgres" | "postgresql", rest)) if !rest.is_empty() => {
                    Database::Postgres(Secret::new(v.to_string()))
                }
                _ => bail!("database_url (from {source}): '{}' must look like sqlite:///var/lib/textid/textid.db or postgres://user@host1:5432,host2:5432/textid?target_session_attrs=read-write", redact_url(v)),
            },
        };
        let sqlite_full_sync = match raw.get("sqlite_synchronous") {
            None => false,
            Some((v, _)) if v.eq_ignore_ascii_case("normal") => false,
            Some((v, _)) if v.eq_ignore_ascii_case("full") => true,
            Some((v, source)) => {
                bail!("sqlite_synchronous (from {source}): '{v}' must be normal or full")
            }
        };
        let sqlite_mmap_size = match raw.get("sqlite_mmap_size") {
            None => 0,
            Some((v, source)) => parse_size::parse_size(v.trim()).map_err(|e| {
                anyhow!("sqlite_mmap_size (from {source}): '{v}' is not a size such as 0, 512MiB or 2GiB ({e})")
            })?,
        };
        let secret_key = raw
            .get("secret_key")
            .map(|(v, source)| {
                parse_secret(v).with_context(|| format!("secret_key (from {source})"))
            })
            .transpose()?;
        let key_encryption_key = raw
            .get("key_encryption_key")
            .map(|(v, source)| {
                parse_secret(v).with_context(|| format!("key_encryption_key (from {source})"))
            })
            .transpose()?;
        let sms = sms_config(raw, &public_url)?;
        let limits = SignInLimits {
            code_digits: 6,
            code_lifetime: raw.seconds("code_lifetime_seconds", 300)?,
            max_attempts_per_code: raw.number("max_attempts_per_code", 5)?,
            resend_cooldown: raw.seconds("resend_cooldown_seconds", 30)?,
            sends_per_window: raw.number("sends_per_window", 5)?,
            send_window: raw.seconds("send_window_seconds", 900)?,
            failures_before_lock: raw.number("failures_before_lock", 50)?,
            lock_base: raw.seconds("lock_base_seconds", 300)?,
            lock_max: raw.seconds("lock_max_seconds", 900)?,
            session_lifetime: raw.seconds("session_lifetime_seconds", 28_800)?,
            abuse: abuse_limits(raw)?,
        };
        limits.check().map_err(|e| {
            anyhow!(
                "{} (from {}): {} is outside its allowed range {}",
                e.key,
                raw.source(e.key).unwrap_or("default"),
                e.value,
                e.range
            )
        })?;
        // The overlap lets deployed apps switch to a rotated secret without downtime; past
        // 30 days a leaked secret that was rotated away would stay useful too long.
        let client_secret_overlap = raw.seconds("client_secret_overlap_seconds", 86_400)?;
        if client_secret_overlap < Duration::zero() || client_secret_overlap > Duration::days(30) {
            let source = raw
                .get("client_secret_overlap_seconds")
                .map_or("default", |(_, s)| s);
            bail!("client_secret_overlap_seconds (from {source}): must be between 0 and 2592000 (30 days)");
        }
        let trusted_proxies = match raw.get("trusted_proxies") {
            None => TrustedProxies::default(),
            Some((v, source)) => TrustedProxies::parse(v)
                .map_err(|e| anyhow!("trusted_proxies (from {source}): {e}"))?,
        };
        let admin_allowed_origins = admin_allowed_origins(raw)?;
        let test_numbers = flag(raw, "test_numbers_enabled")?;
        let api_session_introspection = match raw.get("api_session_introspection") {
            None => textid_server::Introspection::default(),
            Some((v, source)) => textid_server::Introspection::parse(v).ok_or_else(|| {
                anyhow!("api_session_introspection (from {source}): use app or token")
            })?,
        };
        let http = textid_server::HttpLimits {
            header_read_timeout: raw.std_seconds(
                "http_header_read_timeout_seconds",
                10,
                1..=300,
            )?,
            body_read_timeout: raw.std_seconds("http_body_read_timeout_seconds", 30, 1..=300)?,
            idle_timeout: raw.std_seconds("http_idle_timeout_seconds", 60, 1..=3600)?,
            max_connections: raw.bounded("http_max_connections", 512, 1..=100_000)?,
            shutdown_deadline: raw.std_seconds("http_shutdown_deadline_seconds", 10, 0..=300)?,
        };
        let purge_every = raw.std_seconds("purge_interval_seconds", 300, 0..=86_400)?;
        let retention = textid_server::Retention {
            purge_every: (!purge_every.is_zero()).then_some(purge_every),
            log_retention: Duration::days(raw.bounded(
                "log_retention_days",
                textid_core::retention::DEFAULT_LOG_RETENTION_DAYS,
                1..=textid_core::retention::MAX_LOG_RETENTION_DAYS,
            )?),
        };
        Ok(Self {
            client_secret_overlap,
            listen,
            metrics_listen,
            public_url,
            data_dir,
            database,
            sqlite_full_sync,
            sqlite_mmap_size,
            secret_key,
            key_encryption_key,
            sms,
            limits,
            trusted_proxies,
            admin_allowed_origins,
            api_session_introspection,
            test_numbers,
            http,
            retention,
        })
    }
}

/// `admin_allowed_origins`: comma-separated web origins, normalised and deduplicated.
fn admin_allowed_origins(raw: &RawConfig) -> Result<Vec<String>> {
    let Some((v, source)) = raw.get("admin_allowed_origins") else {
        return Ok(Vec::new());
    };
    let mut origins = v
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            textid_oidc::WebOrigin::parse(o)
                .map(String::from)
                .map_err(|e| anyhow!("admin_allowed_origins (from {source}): '{o}': {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    origins.sort();
    origins.dedup();
    Ok(origins)
}

/// `metrics_listen`: empty or absent for none; else an address other than `listen`.
fn metrics_listen(raw: &RawConfig, listen: &str) -> Result<Option<String>> {
    let Some((v, source)) = raw
        .get("metrics_listen")
        .filter(|(v, _)| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let addr: std::net::SocketAddr = v.trim().parse().map_err(|_| {
        anyhow!("metrics_listen (from {source}): '{v}' is not an address:port like 127.0.0.1:9090")
    })?;
    // Port 0 (any free port, as tests use) is never a clash.
    if addr.port() != 0 && listen.parse::<std::net::SocketAddr>().ok() == Some(addr) {
        bail!("metrics_listen (from {source}): '{v}' is the main listen address; give the metrics another port, or leave it empty to serve /metrics on the main listener");
    }
    Ok(Some(addr.to_string()))
}

/// The SMS configuration: one provider, or `route` with the providers `sms_routes` names.
fn sms_config(raw: &RawConfig, public_url: &str) -> Result<SmsProviderConfig> {
    let (name, source) = raw.get("sms_provider").unwrap_or(("console", "default"));
    if name != "route" {
        return named_provider(raw, name, source, public_url);
    }
    let (routes, routes_source) = raw.get("sms_routes").ok_or_else(|| {
        anyhow!("sms_provider (from {source}) is route: set sms_routes (TEXTID_SMS_ROUTES), e.g. +44=twilio,webhook; default=twilio")
    })?;
    let table =
        RouteTable::parse(routes).map_err(|e| anyhow!("sms_routes (from {routes_source}): {e}"))?;
    let mut providers = Vec::new();
    for provider in table.providers() {
        if provider == "route" {
            bail!("sms_routes (from {routes_source}): a route cannot name route");
        }
        let config = named_provider(raw, provider, routes_source, public_url)?;
        providers.push((provider.to_owned(), config));
    }
    Ok(SmsProviderConfig::Route(RouteConfig { table, providers }))
}

/// One provider by its name, with its keys. A new kind of provider is one arm here.
fn named_provider(
    raw: &RawConfig,
    name: &str,
    source: &str,
    public_url: &str,
) -> Result<SmsProviderConfig> {
    match name {
        "console" => Ok(SmsProviderConfig::Console),
        "webhook" => {
            let (url, _) = raw.get("sms_webhook_url").ok_or_else(|| {
                anyhow!("sms_provider (from {source}) uses webhook: set sms_webhook_url (TEXTID_SMS_WEBHOOK_URL)")
            })?;
            let secret = raw
                .get("sms_webhook_secret")
                .filter(|(s, _)| !s.is_empty())
                .map(|(s, _)| Secret::new(s.to_string()));
            let timeout = raw.number("sms_webhook_timeout_seconds", 10u64)?;
            Ok(SmsProviderConfig::Webhook(WebhookConfig {
                url: url.to_string(),
                secret,
                timeout: std::time::Duration::from_secs(timeout.max(1)),
            }))
        }
        "twilio" => twilio_config(raw, source, public_url).map(SmsProviderConfig::Twilio),
        "vonage" => vonage_config(raw, source, public_url).map(SmsProviderConfig::Vonage),
        "smpp" => smpp_config(raw, source).map(SmsProviderConfig::Smpp),
        "sns" => sns_config(raw, source).map(SmsProviderConfig::Sns),
        other => {
            bail!(
                "sms_provider (from {source}): '{other}' must be console, webhook, twilio, vonage, smpp, sns or route"
            )
        }
    }
}

/// A key that must be set (and not empty) because `provider` is used.
fn required<'a>(raw: &'a RawConfig, key: &str, provider: &str, source: &str) -> Result<&'a str> {
    raw.get(key)
        .map(|(v, _)| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            anyhow!(
                "sms_provider (from {source}) uses {provider}: set {key} (TEXTID_{})",
                key.to_ascii_uppercase()
            )
        })
}

fn optional(raw: &RawConfig, key: &str) -> Option<String> {
    raw.get(key)
        .map(|(v, _)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn twilio_config(raw: &RawConfig, source: &str, public_url: &str) -> Result<TwilioConfig> {
    let account_sid = required(raw, "sms_twilio_account_sid", "twilio", source)?.to_string();
    let auth_token =
        Secret::new(required(raw, "sms_twilio_auth_token", "twilio", source)?.to_string());
    let api_key = match (
        optional(raw, "sms_twilio_api_key_sid"),
        optional(raw, "sms_twilio_api_key_secret"),
    ) {
        (Some(sid), Some(secret)) => Some((sid, Secret::new(secret))),
        (None, None) => None,
        _ => bail!(
            "sms_twilio_api_key_sid and sms_twilio_api_key_secret go together: set both or neither"
        ),
    };
    let messaging_service_sid = optional(raw, "sms_twilio_messaging_service_sid");
    let from = optional(raw, "sms_twilio_from");
    if messaging_service_sid.is_none() && from.is_none() {
        bail!("sms_provider (from {source}) uses twilio: set sms_twilio_messaging_service_sid or sms_twilio_from");
    }
    if !account_sid.starts_with("AC") {
        let src = raw.source("sms_twilio_account_sid").unwrap_or("default");
        bail!("sms_twilio_account_sid (from {src}): must start with AC (the account SID from the Twilio console)");
    }
    Ok(TwilioConfig {
        account_sid,
        auth_token,
        api_key,
        messaging_service_sid,
        from,
        status_callback: Some(format!(
            "{}/sms/receipts/twilio",
            public_url.trim_end_matches('/')
        )),
        base_url: optional(raw, "sms_twilio_base_url")
            .unwrap_or_else(|| textid_sms::provider::twilio::DEFAULT_BASE_URL.into()),
        timeout: carrier_timeout(raw)?,
    })
}

fn vonage_config(raw: &RawConfig, source: &str, public_url: &str) -> Result<VonageConfig> {
    let from = required(raw, "sms_vonage_from", "vonage", source)?.to_string();
    let signature_secret = optional(raw, "sms_vonage_signature_secret").map(Secret::new);
    // Receipts are asked for only when they can be verified.
    let receipts = |path: &str| {
        signature_secret
            .as_ref()
            .map(|_| format!("{}{path}", public_url.trim_end_matches('/')))
    };
    let application = vonage_application(raw)?;
    let sms_api = vonage_sms_api(raw, source, application.is_some())?;
    let (api_key, api_secret) = match sms_api {
        VonageSmsApi::Sms => (
            required(raw, "sms_vonage_api_key", "vonage", source)?.to_string(),
            required(raw, "sms_vonage_api_secret", "vonage", source)?.to_string(),
        ),
        VonageSmsApi::Messages => (
            optional(raw, "sms_vonage_api_key").unwrap_or_default(),
            optional(raw, "sms_vonage_api_secret").unwrap_or_default(),
        ),
    };
    Ok(VonageConfig {
        sms_api,
        callback: receipts("/sms/receipts/vonage"),
        voice_event_url: application
            .as_ref()
            .and_then(|_| receipts("/sms/receipts/vonage/voice")),
        messages_status_url: (sms_api == VonageSmsApi::Messages)
            .then(|| receipts("/sms/receipts/vonage/messages"))
            .flatten(),
        application,
        api_base_url: optional(raw, "sms_vonage_api_base_url")
            .unwrap_or_else(|| textid_sms::provider::vonage_voice::DEFAULT_API_BASE_URL.into()),
        api_key,
        api_secret: Secret::new(api_secret),
        signature_secret,
        from,
        base_url: optional(raw, "sms_vonage_base_url")
            .unwrap_or_else(|| textid_sms::provider::vonage::DEFAULT_BASE_URL.into()),
        timeout: carrier_timeout(raw)?,
    })
}

/// The Vonage application (id and private key), when both are set.
fn vonage_application(raw: &RawConfig) -> Result<Option<VonageApplication>> {
    match (
        optional(raw, "sms_vonage_application_id"),
        optional(raw, "sms_vonage_private_key"),
    ) {
        (Some(id), Some(pem)) => VonageApplication::new(id, &Secret::new(pem))
            .map(Some)
            .map_err(|e| {
                let src = raw.source("sms_vonage_private_key").unwrap_or("default");
                anyhow!("sms_vonage_private_key (from {src}): {e}")
            }),
        (None, None) => Ok(None),
        _ => bail!(
            "sms_vonage_application_id and sms_vonage_private_key go together: set both (voice calls, the Messages API) or neither"
        ),
    }
}

/// `sms_vonage_sms_api`, or its default: the SMS API when an API key is set, the Messages
/// API when only an application is.
fn vonage_sms_api(raw: &RawConfig, source: &str, application: bool) -> Result<VonageSmsApi> {
    let api = match optional(raw, "sms_vonage_sms_api").as_deref() {
        Some("sms") => VonageSmsApi::Sms,
        Some("messages") => VonageSmsApi::Messages,
        Some(other) => {
            let src = raw.source("sms_vonage_sms_api").unwrap_or("default");
            bail!("sms_vonage_sms_api (from {src}): '{other}' must be sms or messages");
        }
        None if optional(raw, "sms_vonage_api_key").is_none() && application => {
            VonageSmsApi::Messages
        }
        None => VonageSmsApi::Sms,
    };
    if api == VonageSmsApi::Messages && !application {
        let src = raw.source("sms_vonage_sms_api").unwrap_or("default");
        bail!(
            "sms_vonage_sms_api (from {src}) is messages: set sms_vonage_application_id and sms_vonage_private_key (the Messages API authenticates with the application's JWT), or use sms"
        );
    }
    if api == VonageSmsApi::Sms && optional(raw, "sms_vonage_api_key").is_none() && !application {
        bail!(
            "sms_provider (from {source}) uses vonage: set sms_vonage_api_key and sms_vonage_api_secret (the SMS API), or sms_vonage_application_id and sms_vonage_private_key (the Messages API)"
        );
    }
    Ok(api)
}

fn smpp_config(raw: &RawConfig, source: &str) -> Result<SmppConfig> {
    let mut c = SmppConfig::new(
        required(raw, "sms_smpp_host", "smpp", source)?.to_string(),
        raw.number("sms_smpp_port", textid_sms::provider::smpp::DEFAULT_PORT)?,
        required(raw, "sms_smpp_system_id", "smpp", source)?.to_string(),
        Secret::new(optional(raw, "sms_smpp_password").unwrap_or_default()),
        required(raw, "sms_smpp_source_addr", "smpp", source)?.to_string(),
    );
    c.system_type = optional(raw, "sms_smpp_system_type").unwrap_or_default();
    c.source_ton = raw.number("sms_smpp_source_ton", c.source_ton)?;
    c.source_npi = raw.number("sms_smpp_source_npi", c.source_npi)?;
    c.dest_ton = raw.number("sms_smpp_dest_ton", c.dest_ton)?;
    c.dest_npi = raw.number("sms_smpp_dest_npi", c.dest_npi)?;
    c.enquire_link_interval = std::time::Duration::from_secs(raw.number(
        "sms_smpp_enquire_link_seconds",
        c.enquire_link_interval.as_secs(),
    )?);
    c.response_timeout = std::time::Duration::from_secs(raw.number(
        "sms_smpp_response_timeout_seconds",
        c.response_timeout.as_secs(),
    )?);
    c.window = raw.number("sms_smpp_window", c.window)?;
    // The provider checks the rest when it is built; check here too so that `config check`
    // and every admin command name the key at fault.
    c.validate()
        .map_err(|e| anyhow!("sms_provider (from {source}) uses smpp: {e}"))?;
    Ok(c)
}

fn sns_config(raw: &RawConfig, source: &str) -> Result<SnsConfig> {
    let region = required(raw, "sms_sns_region", "sns", source)?.to_string();
    if !region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        let src = raw.source("sms_sns_region").unwrap_or("default");
        bail!("sms_sns_region (from {src}): '{region}' must be a region name like eu-west-1");
    }
    let endpoint = optional(raw, "sms_sns_endpoint");
    if let Some(e) = &endpoint {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            let src = raw.source("sms_sns_endpoint").unwrap_or("default");
            bail!("sms_sns_endpoint (from {src}): '{e}' must be an http:// or https:// URL");
        }
    }
    Ok(SnsConfig {
        region,
        credentials: sns_credentials(raw, source, &|name| std::env::var(name).ok())?,
        endpoint,
        sender_id: optional(raw, "sms_sns_sender_id"),
        origination_number: optional(raw, "sms_sns_origination_number"),
        timeout: carrier_timeout(raw)?,
    })
}

/// Step 1 of the AWS credential chain: textid's keys; else the rest of the chain from
/// `env` ([`CredentialSource::from_env`]).
fn sns_credentials(
    raw: &RawConfig,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CredentialSource> {
    let token = optional(raw, "sms_sns_session_token").map(Secret::new);
    match (
        optional(raw, "sms_sns_access_key_id"),
        optional(raw, "sms_sns_secret_access_key"),
    ) {
        (Some(id), Some(secret)) => Ok(CredentialSource::Fixed(Credentials::fixed(
            id,
            Secret::new(secret),
            token,
        ))),
        (None, None) if token.is_some() => {
            let src = raw.source("sms_sns_session_token").unwrap_or("default");
            bail!("sms_sns_session_token (from {src}) goes with sms_sns_access_key_id and sms_sns_secret_access_key: set them too, or unset it")
        }
        (None, None) => CredentialSource::from_env(env)
            .map_err(|e| anyhow!("sms_provider (from {source}) uses sns: {e}")),
        (Some(_), None) => bail!(
            "sms_provider (from {source}) uses sns with sms_sns_access_key_id: set sms_sns_secret_access_key (TEXTID_SMS_SNS_SECRET_ACCESS_KEY) too"
        ),
        (None, Some(_)) => bail!(
            "sms_provider (from {source}) uses sns with sms_sns_secret_access_key: set sms_sns_access_key_id (TEXTID_SMS_SNS_ACCESS_KEY_ID) too"
        ),
    }
}

fn carrier_timeout(raw: &RawConfig) -> Result<std::time::Duration> {
    Ok(std::time::Duration::from_secs(
        raw.number("sms_timeout_seconds", 10u64)?.max(1),
    ))
}

/// How `config check` shows a secret: `<configured>` or nothing.
fn configured(set: bool) -> String {
    if set {
        "<configured>".into()
    } else {
        String::new()
    }
}

fn parse_secret(v: &str) -> Result<Secret<[u8; 32]>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .map_err(|_| anyhow!("must be 32 bytes in base64 (e.g. from `openssl rand -base64 32`)"))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow!("must be exactly 32 bytes in base64"))?;
    Ok(Secret::new(key))
}

impl Config {
    /// The server secret: configured, or read from (or generated into) the data directory.
    pub fn server_secret(&self) -> Result<[u8; 32]> {
        key_or_file(self.secret_key.as_ref(), &self.data_dir.join("secret.key"))
    }

    /// The key-encryption key: configured, or read from (or generated into) the data
    /// directory.
    pub fn key_encryption_key(&self) -> Result<[u8; 32]> {
        key_or_file(
            self.key_encryption_key.as_ref(),
            &self.data_dir.join("kek.key"),
        )
    }
}

fn key_or_file(configured: Option<&Secret<[u8; 32]>>, path: &Path) -> Result<[u8; 32]> {
    if let Some(k) = configured {
        return Ok(*k.expose());
    }
    if path.exists() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return parse_secret(&text)
            .map(|k| *k.expose())
            .with_context(|| format!("{}", path.display()));
    }
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    write_private(path, &base64::engine::general_purpose::STANDARD.encode(key))?;
    Ok(key)
}

impl Config {
    /// The effective value of every key of [`KEYS`], in its order, secrets redacted (a
    /// configured secret shows as `<configured>`, never its value).
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let secs = |d: std::time::Duration| d.as_secs().to_string();
        let generated =
            |file: &str| format!("<generated into {}>", self.data_dir.join(file).display());
        let provider = match &self.sms {
            SmsProviderConfig::Console => "console",
            SmsProviderConfig::Webhook(_) => "webhook",
            SmsProviderConfig::Twilio(_) => "twilio",
            SmsProviderConfig::Vonage(_) => "vonage",
            SmsProviderConfig::Smpp(_) => "smpp",
            SmsProviderConfig::Sns(_) => "sns",
            SmsProviderConfig::Route(_) => "route",
        };
        let routes = match &self.sms {
            SmsProviderConfig::Route(r) => r.table.to_text(),
            _ => String::new(),
        };
        let each = self.sms.each();
        let (url, secret, timeout) = each
            .iter()
            .find_map(|p| match p {
                SmsProviderConfig::Webhook(w) => Some((
                    w.url.clone(),
                    configured(w.secret.is_some()),
                    secs(w.timeout),
                )),
                _ => None,
            })
            .unwrap_or_else(|| (String::new(), String::new(), "10".to_string()));
        let twilio = each.iter().find_map(|p| match p {
            SmsProviderConfig::Twilio(t) => Some(t),
            _ => None,
        });
        let tw = |f: fn(&TwilioConfig) -> String| twilio.map(f).unwrap_or_default();
        let vonage = each.iter().find_map(|p| match p {
            SmsProviderConfig::Vonage(v) => Some(v),
            _ => None,
        });
        let vo = |f: fn(&VonageConfig) -> String| vonage.map(f).unwrap_or_default();
        let smpp = each.iter().find_map(|p| match p {
            SmsProviderConfig::Smpp(c) => Some(c),
            _ => None,
        });
        let sm = |f: fn(&SmppConfig) -> String, default: &str| {
            smpp.map_or_else(|| default.to_string(), f)
        };
        let sns = each.iter().find_map(|p| match p {
            SmsProviderConfig::Sns(c) => Some(c),
            _ => None,
        });
        let sn = |f: fn(&SnsConfig) -> String| sns.map(f).unwrap_or_default();
        let carrier_timeout = twilio
            .map(|t| t.timeout)
            .or(vonage.map(|v| v.timeout))
            .or(sns.map(|c| c.timeout))
            .map_or_else(|| "10".into(), secs);
        let l = &self.limits;
        let database = match &self.database {
            Database::Sqlite(p) => format!("sqlite://{}", p.display()),
            Database::Postgres(url) => redact_url(url.expose()),
        };
        vec![
            ("listen", self.listen.clone()),
            (
                "metrics_listen",
                self.metrics_listen.clone().unwrap_or_default(),
            ),
            ("public_url", self.public_url.clone()),
            ("data_dir", self.data_dir.display().to_string()),
            ("database_url", database),
            (
                "sqlite_synchronous",
                if self.sqlite_full_sync {
                    "full"
                } else {
                    "normal"
                }
                .into(),
            ),
            ("sqlite_mmap_size", self.sqlite_mmap_size.to_string()),
            (
                "secret_key",
                if self.secret_key.is_some() {
                    "<configured>".into()
                } else {
                    generated("secret.key")
                },
            ),
            (
                "key_encryption_key",
                if self.key_encryption_key.is_some() {
                    "<configured>".into()
                } else {
                    generated("kek.key")
                },
            ),
            ("sms_provider", provider.into()),
            ("sms_webhook_url", url),
            ("sms_webhook_secret", secret),
            ("sms_webhook_timeout_seconds", timeout),
            ("sms_routes", routes),
            ("sms_timeout_seconds", carrier_timeout),
            ("sms_twilio_account_sid", tw(|t| t.account_sid.clone())),
            ("sms_twilio_auth_token", tw(|_| configured(true))),
            (
                "sms_twilio_api_key_sid",
                tw(|t| {
                    t.api_key
                        .as_ref()
                        .map(|(s, _)| s.clone())
                        .unwrap_or_default()
                }),
            ),
            (
                "sms_twilio_api_key_secret",
                tw(|t| configured(t.api_key.is_some())),
            ),
            (
                "sms_twilio_messaging_service_sid",
                tw(|t| t.messaging_service_sid.clone().unwrap_or_default()),
            ),
            (
                "sms_twilio_from",
                tw(|t| t.from.clone().unwrap_or_default()),
            ),
            (
                "sms_twilio_base_url",
                twilio.map_or_else(
                    || textid_sms::provider::twilio::DEFAULT_BASE_URL.into(),
                    |t| t.base_url.clone(),
                ),
            ),
            (
                "sms_vonage_sms_api",
                vonage.map_or_else(|| "sms".into(), |v| v.sms_api.as_str().into()),
            ),
            ("sms_vonage_api_key", vo(|v| v.api_key.clone())),
            (
                "sms_vonage_api_secret",
                vo(|v| configured(!v.api_secret.expose().is_empty())),
            ),
            (
                "sms_vonage_signature_secret",
                vo(|v| configured(v.signature_secret.is_some())),
            ),
            ("sms_vonage_from", vo(|v| v.from.clone())),
            (
                "sms_vonage_base_url",
                vonage.map_or_else(
                    || textid_sms::provider::vonage::DEFAULT_BASE_URL.into(),
                    |v| v.base_url.clone(),
                ),
            ),
            ("sms_smpp_host", sm(|c| c.host.clone(), "")),
            ("sms_smpp_port", sm(|c| c.port.to_string(), "2775")),
            ("sms_smpp_system_id", sm(|c| c.system_id.clone(), "")),
            (
                "sms_smpp_password",
                sm(|c| configured(!c.password.expose().is_empty()), ""),
            ),
            ("sms_smpp_system_type", sm(|c| c.system_type.clone(), "")),
            ("sms_smpp_source_addr", sm(|c| c.source_addr.clone(), "")),
            ("sms_smpp_source_ton", sm(|c| c.source_ton.to_string(), "1")),
            ("sms_smpp_source_npi", sm(|c| c.source_npi.to_string(), "1")),
            ("sms_smpp_dest_ton", sm(|c| c.dest_ton.to_string(), "1")),
            ("sms_smpp_dest_npi", sm(|c| c.dest_npi.to_string(), "1")),
            (
                "sms_smpp_enquire_link_seconds",
                sm(|c| c.enquire_link_interval.as_secs().to_string(), "30"),
            ),
            (
                "sms_smpp_response_timeout_seconds",
                sm(|c| c.response_timeout.as_secs().to_string(), "10"),
            ),
            ("sms_smpp_window", sm(|c| c.window.to_string(), "10")),
            (
                "sms_vonage_application_id",
                vo(|v| {
                    v.application
                        .as_ref()
                        .map(|a| a.id.clone())
                        .unwrap_or_default()
                }),
            ),
            (
                "sms_vonage_private_key",
                vo(|v| configured(v.application.is_some())),
            ),
            (
                "sms_vonage_api_base_url",
                vonage.map_or_else(
                    || textid_sms::provider::vonage_voice::DEFAULT_API_BASE_URL.into(),
                    |v| v.api_base_url.clone(),
                ),
            ),
            ("sms_sns_region", sn(|c| c.region.clone())),
            ("sms_sns_access_key_id", sn(|c| c.credentials.describe())),
            (
                "sms_sns_secret_access_key",
                sn(|c| configured(matches!(c.credentials, CredentialSource::Fixed(_)))),
            ),
            (
                "sms_sns_session_token",
                sn(|c| {
                    configured(
                        matches!(&c.credentials, CredentialSource::Fixed(k) if k.session_token.is_some()),
                    )
                }),
            ),
            (
                "sms_sns_endpoint",
                // Unset without SNS: the default depends on the region.
                sns.map(SnsConfig::endpoint).unwrap_or_default(),
            ),
            (
                "sms_sns_sender_id",
                sn(|c| c.sender_id.clone().unwrap_or_default()),
            ),
            (
                "sms_sns_origination_number",
                sn(|c| c.origination_number.clone().unwrap_or_default()),
            ),
            (
                "code_lifetime_seconds",
                l.code_lifetime.num_seconds().to_string(),
            ),
            ("max_attempts_per_code", l.max_attempts_per_code.to_string()),
            (
                "resend_cooldown_seconds",
                l.resend_cooldown.num_seconds().to_string(),
            ),
            ("sends_per_window", l.sends_per_window.to_string()),
            (
                "send_window_seconds",
                l.send_window.num_seconds().to_string(),
            ),
            ("failures_before_lock", l.failures_before_lock.to_string()),
            ("lock_base_seconds", l.lock_base.num_seconds().to_string()),
            ("lock_max_seconds", l.lock_max.num_seconds().to_string()),
            (
                "client_failures_before_lock",
                l.abuse.ip_failures_before_lock.to_string(),
            ),
            (
                "client_lock_seconds",
                l.abuse.ip_lock.num_seconds().to_string(),
            ),
            (
                "trusted_proxies",
                self.trusted_proxies
                    .0
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "admin_allowed_origins",
                self.admin_allowed_origins.join(","),
            ),
            ("ip_sends", l.abuse.ip.limit.to_string()),
            (
                "ip_send_window_seconds",
                l.abuse.ip.window.num_seconds().to_string(),
            ),
            ("prefix_sends", l.abuse.prefix.limit.to_string()),
            (
                "prefix_send_window_seconds",
                l.abuse.prefix.window.num_seconds().to_string(),
            ),
            ("country_sends", l.abuse.country.limit.to_string()),
            (
                "country_send_window_seconds",
                l.abuse.country.window.num_seconds().to_string(),
            ),
            ("tenant_sends", l.abuse.tenant.limit.to_string()),
            (
                "tenant_send_window_seconds",
                l.abuse.tenant.window.num_seconds().to_string(),
            ),
            ("tenant_daily_sends", l.abuse.tenant_daily.to_string()),
            ("global_sends", l.abuse.global.limit.to_string()),
            (
                "global_send_window_seconds",
                l.abuse.global.window.num_seconds().to_string(),
            ),
            (
                "conversion_window_seconds",
                l.abuse.watch_window.num_seconds().to_string(),
            ),
            (
                "conversion_min_sends_prefix",
                l.abuse.watch_min_sends_prefix.to_string(),
            ),
            (
                "conversion_min_sends_country",
                l.abuse.watch_min_sends_country.to_string(),
            ),
            (
                "conversion_max_sent_per_verified",
                l.abuse.watch_max_sent_per_verified.to_string(),
            ),
            (
                "conversion_pause_seconds",
                l.abuse.watch_pause.num_seconds().to_string(),
            ),
            ("test_numbers_enabled", self.test_numbers.to_string()),
            (
                "session_lifetime_seconds",
                l.session_lifetime.num_seconds().to_string(),
            ),
            (
                "api_session_introspection",
                self.api_session_introspection.as_str().to_string(),
            ),
            (
                "client_secret_overlap_seconds",
                self.client_secret_overlap.num_seconds().to_string(),
            ),
            (
                "http_header_read_timeout_seconds",
                secs(self.http.header_read_timeout),
            ),
            (
                "http_body_read_timeout_seconds",
                secs(self.http.body_read_timeout),
            ),
            ("http_idle_timeout_seconds", secs(self.http.idle_timeout)),
            (
                "http_max_connections",
                self.http.max_connections.to_string(),
            ),
            (
                "http_shutdown_deadline_seconds",
                secs(self.http.shutdown_deadline),
            ),
            (
                "purge_interval_seconds",
                self.retention
                    .purge_every
                    .map_or_else(|| "0".to_string(), secs),
            ),
            (
                "log_retention_days",
                self.retention.log_retention.num_days().to_string(),
            ),
        ]
    }
}

/// Writes a file readable only by its owner.
fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    f.sync_all()?;
    // The umask only narrows the mode given at creation: set it explicitly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {} private", path.display()))?;
    }
    Ok(())
}

/// Creates the data directory (and its parents) if missing; a directory created here is
/// accessible to its owner only (0700, whatever the umask): it holds the database and
/// the keys.
pub fn create_data_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making data directory {} private", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&'static str, &str)]) -> RawConfig {
        let mut r = RawConfig::default();
        for (k, v) in pairs {
            r.set(k, v.to_string(), "test");
        }
        r
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = Config::try_from(&RawConfig::default()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(matches!(c.sms, SmsProviderConfig::Console));
        assert_eq!(c.limits, SignInLimits::default());
        assert_eq!(c.metrics_listen, None);
    }

    #[test]
    fn the_sqlite_memory_map_is_off_unless_given_a_size() {
        assert_eq!(Config::try_from(&raw(&[])).unwrap().sqlite_mmap_size, 0);
        for (given, bytes) in [("2GiB", 2u64 << 30), ("512 MiB", 512 << 20), ("4096", 4096)] {
            let c = Config::try_from(&raw(&[("sqlite_mmap_size", given)])).unwrap();
            assert_eq!(c.sqlite_mmap_size, bytes, "{given}");
        }
        let e = Config::try_from(&raw(&[("sqlite_mmap_size", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sqlite_mmap_size (from test): 'lots' is not a size"),
            "{e}"
        );
    }

    #[test]
    fn api_session_introspection_is_by_the_app_unless_the_operator_says_token() {
        let c = Config::try_from(&RawConfig::default()).unwrap();
        assert_eq!(
            c.api_session_introspection,
            textid_server::Introspection::App
        );
        let c = Config::try_from(&raw(&[("api_session_introspection", "token")])).unwrap();
        assert_eq!(
            c.api_session_introspection,
            textid_server::Introspection::Token
        );
        let e = Config::try_from(&raw(&[("api_session_introspection", "anyone")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("api_session_introspection (from test): use app or token"),
            "{e}"
        );
    }

    #[test]
    fn admin_allowed_origins_are_normalised_and_a_bad_one_names_the_key() {
        let c = Config::try_from(&raw(&[(
            "admin_allowed_origins",
            "https://Admin.contoso.example:443/, http://127.0.0.1:5173",
        )]))
        .unwrap();
        assert_eq!(
            c.admin_allowed_origins,
            ["http://127.0.0.1:5173", "https://admin.contoso.example"]
        );
        let e = Config::try_from(&raw(&[("admin_allowed_origins", "http://admin.example")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("admin_allowed_origins (from test)"), "{e}");
        assert!(Config::try_from(&raw(&[]))
            .unwrap()
            .admin_allowed_origins
            .is_empty());
    }

    #[test]
    fn the_metrics_listener_is_an_address_other_than_the_main_one() {
        let c = Config::try_from(&raw(&[("metrics_listen", "127.0.0.1:9090")])).unwrap();
        assert_eq!(c.metrics_listen.as_deref(), Some("127.0.0.1:9090"));
        let c = Config::try_from(&raw(&[("metrics_listen", "")])).unwrap();
        assert_eq!(c.metrics_listen, None);
        let e = Config::try_from(&raw(&[("metrics_listen", "metrics")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("metrics_listen (from test)"), "{e}");
        let e = Config::try_from(&raw(&[
            ("listen", "127.0.0.1:8080"),
            ("metrics_listen", "127.0.0.1:8080"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("is the main listen address"), "{e}");
        let c = Config::try_from(&raw(&[
            ("listen", "127.0.0.1:0"),
            ("metrics_listen", "127.0.0.1:0"),
        ]))
        .unwrap();
        assert_eq!(c.metrics_listen.as_deref(), Some("127.0.0.1:0"));
    }

    #[test]
    fn errors_name_the_key_and_its_source() {
        let e = Config::try_from(&raw(&[("code_lifetime_seconds", "900")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("code_lifetime_seconds"), "{e}");
        let e = Config::try_from(&raw(&[("listen", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen (from test)"), "{e}");
        let e = Config::try_from(&raw(&[("sms_provider", "webhook")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("TEXTID_SMS_WEBHOOK_URL"), "{e}");
        let e = Config::try_from(&raw(&[("database_url", "mysql://u:hunter2@x/db")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("database_url (from test)"), "{e}");
        assert!(!e.contains("hunter2"), "the password is never shown: {e}");
    }

    #[test]
    fn a_postgres_url_selects_postgres_and_is_shown_without_its_password() {
        let c = Config::try_from(&raw(&[(
            "database_url",
            "postgres://textid:hunter2@db1:5432,db2:5432/textid?target_session_attrs=read-write",
        )]))
        .unwrap();
        assert!(matches!(c.database, Database::Postgres(_)));
        let shown = c.database.redacted();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db1:5432,db2:5432"), "{shown}");
        let kv = Database::Postgres(Secret::new("postgres://h/db?password=hunter2".into()));
        assert!(!kv.redacted().contains("hunter2"));
    }

    #[test]
    fn check_describes_every_key_in_order_and_never_a_secret() {
        let k = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let c = Config::try_from(&raw(&[
            ("secret_key", k),
            ("key_encryption_key", k),
            ("sms_provider", "webhook"),
            ("sms_webhook_url", "http://127.0.0.1:9/hook"),
            ("sms_webhook_secret", "hunter2"),
        ]))
        .unwrap();
        let described: Vec<_> = c.describe().into_iter().map(|(k, _)| k).collect();
        let keys: Vec<_> = KEYS.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(described, keys);
        let shown = format!("{:?}", c.describe());
        assert!(!shown.contains(k) && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn the_key_encryption_key_is_validated_like_the_secret_key() {
        for (key, value) in [
            ("key_encryption_key", "not base64!"),
            ("key_encryption_key", "c2hvcnQ="),
            ("secret_key", "c2hvcnQ="),
        ] {
            let e = Config::try_from(&raw(&[(key, value)])).unwrap_err();
            let e = format!("{e:#}");
            assert!(e.contains(&format!("{key} (from test)")), "{e}");
            assert!(e.contains("32 bytes"), "{e}");
            assert!(!e.contains(value), "the value is never shown: {e}");
        }
    }

    #[test]
    fn http_and_retention_keys_are_bounded() {
        let c = Config::try_from(&raw(&[
            ("http_max_connections", "10"),
            ("purge_interval_seconds", "0"),
            ("log_retention_days", "90"),
        ]))
        .unwrap();
        assert_eq!(c.http.max_connections, 10);
        assert_eq!(c.retention.purge_every, None);
        assert_eq!(c.retention.log_retention, Duration::days(90));
        for (key, value) in [
            ("http_max_connections", "0"),
            ("http_header_read_timeout_seconds", "0"),
            ("log_retention_days", "0"),
            ("log_retention_days", "100000"),
        ] {
            let e = Config::try_from(&raw(&[(key, value)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("{key} (from test)")), "{e}");
        }
    }

    const VONAGE_KEY: &str =
        include_str!("../../textid-sms/tests/carriers/data/vonage-test-application.key");

    fn vonage(pairs: &[(&'static str, &str)]) -> Result<VonageConfig> {
        let mut all = vec![
            ("sms_provider", "vonage"),
            ("sms_vonage_from", "TextID"),
            ("sms_vonage_signature_secret", "sig"),
            ("public_url", "https://id.contoso.example"),
        ];
        all.extend_from_slice(pairs);
        let c = Config::try_from(&raw(&all))?;
        match c.sms {
            SmsProviderConfig::Vonage(v) => Ok(v),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn vonage_sends_by_the_sms_api_unless_only_an_application_is_set() {
        let app = [
            (
                "sms_vonage_application_id",
                "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
            ),
            ("sms_vonage_private_key", VONAGE_KEY),
        ];
        let keys = [
            ("sms_vonage_api_key", "abcd1234"),
            ("sms_vonage_api_secret", "s"),
        ];
        let v = vonage(&keys).unwrap();
        assert_eq!(
            (v.sms_api, v.messages_status_url),
            (VonageSmsApi::Sms, None)
        );
        let v = vonage(&[keys.as_slice(), app.as_slice()].concat()).unwrap();
        assert_eq!(v.sms_api, VonageSmsApi::Sms);
        let v = vonage(&app).unwrap();
        assert_eq!(v.sms_api, VonageSmsApi::Messages);
        assert_eq!(
            v.messages_status_url.as_deref(),
            Some("https://id.contoso.example/sms/receipts/vonage/messages")
        );
        let chosen = [
            keys.as_slice(),
            app.as_slice(),
            &[("sms_vonage_sms_api", "messages")],
        ]
        .concat();
        assert_eq!(vonage(&chosen).unwrap().sms_api, VonageSmsApi::Messages);
    }

    #[test]
    fn a_vonage_api_that_cannot_work_names_the_keys_to_set() {
        let e = vonage(&[
            ("sms_vonage_sms_api", "messages"),
            ("sms_vonage_api_key", "k"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("sms_vonage_sms_api (from test)"), "{e}");
        assert!(e.contains("sms_vonage_application_id"), "{e}");
        let e = vonage(&[("sms_vonage_sms_api", "rest")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be sms or messages"), "{e}");
        let e = vonage(&[]).unwrap_err().to_string();
        assert!(
            e.contains("sms_vonage_api_key") && e.contains("sms_vonage_application_id"),
            "{e}"
        );
        let e = vonage(&[("sms_vonage_api_key", "k")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sms_vonage_api_secret"), "{e}");
    }

    #[test]
    fn sns_takes_textids_keys_then_the_aws_chain() {
        let sns = |pairs: &[(&'static str, &str)], env: &[(&str, &str)]| {
            let mut all = vec![("sms_provider", "sns"), ("sms_sns_region", "eu-west-1")];
            all.extend_from_slice(pairs);
            let env: std::collections::HashMap<String, String> = env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            sns_credentials(&raw(&all), "test", &|k| env.get(k).cloned())
        };
        let keys = [
            ("sms_sns_access_key_id", "ASIAKEY"),
            ("sms_sns_secret_access_key", "s"),
            ("sms_sns_session_token", "t"),
        ];
        let aws_env = [
            ("AWS_ACCESS_KEY_ID", "AKIAENV"),
            ("AWS_SECRET_ACCESS_KEY", "e"),
        ];
        let CredentialSource::Fixed(c) = sns(&keys, &aws_env).unwrap() else {
            panic!("fixed keys")
        };
        assert_eq!(c.access_key_id, "ASIAKEY");
        assert_eq!(c.session_token, Some(Secret::new("t".into())));
        let CredentialSource::Fixed(c) = sns(&[], &aws_env).unwrap() else {
            panic!("fixed keys")
        };
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token),
            ("AKIAENV", None)
        );
        assert!(matches!(
            sns(&[], &[]).unwrap(),
            CredentialSource::InstanceProfile { .. }
        ));
        let e = sns(&[("sms_sns_session_token", "t")], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sms_sns_session_token (from test)"), "{e}");
        assert!(!e.contains("=t"), "{e}");
        let e = sns(&keys[..1], &[]).unwrap_err().to_string();
        assert!(e.contains("set sms_sns_secret_access_key"), "{e}");
        let e = sns(&[], &[("AWS_EC2_METADATA_DISABLED", "true")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("uses sns: no AWS credentials"), "{e}");
    }

    #[test]
    fn a_load_test_can_raise_budgets_but_not_remove_the_caps() {
        let c = Config::try_from(&raw(&[("sends_per_window", "100000")])).unwrap();
        assert_eq!(c.limits.sends_per_window, 100_000);
        assert!(Config::try_from(&raw(&[("failures_before_lock", "1000")])).is_err());
    }
}
