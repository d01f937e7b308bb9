//! The PostgreSQL backend: several textid nodes on one database. A pool of connections
//! per node (`deadpool-postgres` over `tokio-postgres`, which follows a multi-host
//! connection string with `target_session_attrs=read-write` to a promoted primary).
//!
//! Every write runs in ONE `READ COMMITTED` transaction that locks what its decision reads,
//! so two nodes cannot both win (the sign-in step, phone method changes, code and token
//! redemption); the locks of each operation are documented in its module and in module `locks`.
//! Lock order, everywhere: advisory locks (user, then number; or the family) before row
//! locks (flow, then counter, then owner rows), so concurrent writers queue instead of
//! deadlocking; a deadlock or serialization failure that happens anyway is retried
//! (module `retry`).
//!
//! Schema changes are the numbered files of `migrations/postgres`, applied at connect
//! under an advisory lock (module `migrate`). Changes of cached values are announced with
//! `NOTIFY textid_changes` in the changing transaction and fanned out by a listener
//! connection (module `listen`).

mod abuse;
mod audit;
mod auth_requests;
mod clients;
mod counters;
mod deleted;
mod delta;
mod directory;
mod errors;
mod groups;
mod import;
mod keys;
mod listen;
mod listing;
mod locks;
mod logs;
mod maintenance;
mod migrate;
mod outbox;
mod passes;
mod passwords;
mod phone;
mod policy;
mod provisioning;
mod retry;
mod roles;
mod rows;
mod sessions;
mod sign_in;
mod tenants;
mod tokens;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::broadcast;

use crate::{Changed, StoreError, StoreResult};

/// Options of the PostgreSQL backend.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections per node (default 16).
    pub pool_size: usize,
    /// How long one connection attempt to one host may take (default 5 s), unless the URL
    /// sets `connect_timeout`. Opening a pooled connection is bounded by this times the
    /// number of hosts, so a dead database yields an error, never a hang.
    pub connect_timeout: Duration,
    /// How long a request waits for a free pooled connection (default 5 s); then
    /// [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
    /// How long sent data may stay unacknowledged on a connection before the kernel drops
    /// it (`TCP_USER_TIMEOUT`, default 5 s), unless the URL sets `tcp_user_timeout`; with
    /// TCP keepalives, so that a connection whose network path is gone (a cut link, a
    /// primary that vanished without closing) fails within seconds instead of hanging
    /// until the kernel's default of about 15 minutes.
    pub tcp_user_timeout: Duration,
    /// Transport security.
    pub tls: PostgresTls,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            tcp_user_timeout: Duration::from_secs(5),
            tls: PostgresTls::default(),
        }
    }
}

/// Transport security of the connections. Only plain connections for now; a TLS mode is
/// a new variant here and a new arm in the one place that makes the connector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PostgresTls {
    /// No TLS (`NoTls`): a database on a trusted network or a local socket.
    #[default]
    Disabled,
}

impl PostgresTls {
    /// The connector of this mode, for the pool and for the listener connection.
    fn connector(self) -> tokio_postgres::NoTls {
        match self {
            Self::Disabled => tokio_postgres::NoTls,
        }
    }
}

/// A PostgreSQL database shared by every node. Cheap to clone (one pool).
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    config: tokio_postgres::Config,
    options: PostgresOptions,
    changes: broadcast::Sender<Changed>,
    listener: Mutex<Option<tokio::task::AbortHandle>>,
    counters: counters::CounterWriter,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let slot = self.listener.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = slot.take() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.inner.pool.status();
        f.debug_struct("PostgresStore")
            .field("hosts", &self.inner.config.get_hosts())
            .field("dbname", &self.inner.config.get_dbname())
            .field("pool_size", &status.max_size)
            .field("pool_available", &status.available)
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL or `key=value` string, with
    /// one or several hosts) and applies pending migrations.
    pub async fn connect(url: &str, options: PostgresOptions) -> StoreResult<Self> {
        let mut config =
            tokio_postgres::Config::from_str(url).map_err(|e| StoreError::Backend(Box::new(e)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(options.tcp_user_timeout);
        }
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(2))
            .keepalives_retries(2);
        if config.get_application_name().is_none() {
            config.application_name("textid");
        }
        let per_host = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(options.connect_timeout);
        let hosts = u32::try_from(config.get_hosts().len().max(1)).unwrap_or(u32::MAX);
        let manager = Manager::from_config(
            config.clone(),
            options.tls.connector(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.acquire_timeout))
            .create_timeout(Some(per_host.saturating_mul(hosts)))
            .recycle_timeout(Some(per_host))
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let store = Self {
            inner: Arc::new_cyclic(|inner| Inner {
                pool,
                config,
                options,
                changes: broadcast::channel(64).0,
                listener: Mutex::new(None),
                counters: counters::CounterWriter::start(inner.clone()),
            }),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations (also done by [`connect`](Self::connect)); safe when
    /// several nodes run it at once, and a no-op when nothing is pending.
    pub async fn migrate(&self) -> StoreResult<()> {
        migrate::run(self).await
    }

    /// Tells this node's subscribers at once (the other nodes hear the NOTIFY).
    fn changed(&self, c: Changed) {
        let _ = self.inner.changes.send(c);
    }
}
