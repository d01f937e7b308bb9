//! The change feed: one dedicated connection per node (not from the pool) that `LISTEN`s
//! on [`CHANNEL`] and forwards each notification's topic to the node's broadcast channel.
//! Writers send `NOTIFY` inside their transaction (`audit::bump`), so a notification
//! means a committed change.
//!
//! The connection is opened lazily (first `subscribe`), checked every
//! [`HEALTH_EVERY`] with a query (a silently dead peer is noticed), and reopened with a
//! growing jittered backoff when lost. Notifications sent while no connection listened are
//! lost, so every time LISTEN takes effect (the first time included) subscribers get
//! [`Changed::Everything`]: drop every cached value.

use std::future::poll_fn;
use std::time::Duration;

use rand::Rng;
use tokio::sync::broadcast;
use tokio_postgres::AsyncMessage;

use super::PostgresTls;
use crate::Changed;

/// The notification channel of cached-value changes.
pub(super) const CHANNEL: &str = "textid_changes";
/// How often the listening connection proves it is alive.
const HEALTH_EVERY: Duration = Duration::from_secs(30);
/// The first wait before reconnecting, doubled up to [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(10);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Listens until aborted (when the store is dropped), reconnecting as needed.
pub(super) async fn run(
    config: tokio_postgres::Config,
    tls: PostgresTls,
    connect_timeout: Duration,
    changes: broadcast::Sender<Changed>,
) {
    let mut wait = RECONNECT_FIRST;
    loop {
        let mut listened = false;
        if let Err(e) = session(&config, tls, connect_timeout, &changes, &mut listened).await {
            tracing::warn!(error = %e, "postgres: change feed connection lost; reconnecting");
        }
        if listened {
            wait = RECONNECT_FIRST;
        }
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(2);
        let jittered = Duration::from_millis(rand::rngs::OsRng.gen_range(ms / 2..=ms));
        tokio::time::sleep(jittered).await;
        wait = (wait * 2).min(RECONNECT_MAX);
    }
}

/// One connection: LISTEN, then forward notifications until it fails.
async fn session(
    config: &tokio_postgres::Config,
    tls: PostgresTls,
    connect_timeout: Duration,
    changes: &broadcast::Sender<Changed>,
    listened: &mut bool,
) -> Result<(), BoxError> {
    let (client, mut connection) =
        tokio::time::timeout(connect_timeout, config.connect(tls.connector())).await??;
    let forward = async {
        loop {
            match poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => match Changed::parse(n.payload()) {
                    Some(topic) => {
                        let _ = changes.send(topic);
                    }
                    None => tracing::debug!(payload = n.payload(), "postgres: unknown topic"),
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err::<(), BoxError>(e.into()),
                None => return Err("the server closed the connection".into()),
            }
        }
    };
    let listen = async {
        client.batch_execute("LISTEN textid_changes").await?;
        *listened = true;
        let _ = changes.send(Changed::Everything);
        loop {
            tokio::time::sleep(HEALTH_EVERY).await;
            tokio::time::timeout(connect_timeout, client.simple_query("SELECT 1")).await??;
        }
    };
    tokio::select! {
        r = forward => r,
        r = listen => r,
    }
}
