//! Transactions and their retries. Every write is one `READ COMMITTED` transaction on a
//! pooled connection; reads are single statements on a pooled connection.
//!
//! Retry policy (at most [`ATTEMPTS`] runs, with a short jittered backoff between them):
//! - before COMMIT, a serialization failure (40001), a deadlock (40P01), a lock timeout,
//!   or a lost/refused connection rolls the transaction back, so it is run again whole
//!   (the sign-in decision is `Fn` for this reason and is taken again on the new rows);
//! - an error AT COMMIT with an answer from the server (e.g. a serialization failure
//!   there) also means rolled back, and is retried the same way;
//! - an error at COMMIT without an answer (the connection dropped) leaves the outcome
//!   unknown: only a [`Replay::Safe`] transaction (one whose second run changes nothing
//!   more) runs again; any other answers `Unavailable` rather than risk a double write;
//! - a pool timeout (no connection freed in time) is `Unavailable` at once: the wait
//!   already happened.
//!
//! A connection that failed as a connection (or turned read-only: a demoted primary) is
//! taken out of the pool, so the next try opens a new one, which follows
//! `target_session_attrs` to the current primary.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rand::Rng;
use tokio_postgres::IsolationLevel;

use super::errors::from_pool;
use super::PostgresStore;
use crate::{StoreError, StoreResult};

/// A transaction of the pool.
pub(super) type Tx<'a> = deadpool_postgres::Transaction<'a>;
/// A pooled connection.
pub(super) type Conn = deadpool_postgres::Client;
/// The future of one run of a transaction body or a read.
pub(super) type Fut<'t, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 't>>;

/// Runs of one transaction or read, the first included.
const ATTEMPTS: u32 = 4;
/// The backoff before the second run; doubled for each further one.
const BACKOFF: Duration = Duration::from_millis(20);

/// Whether a transaction may run again when its COMMIT's outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Replay {
    /// A second run changes nothing more (upserts, idempotent updates, deletes).
    Safe,
    /// A second run could write twice or decide differently (inserts, audits, redemptions).
    Unsafe,
}

/// Why one run failed.
enum Failure {
    /// Rolled back (or not started) for a passing reason: run again.
    Retry(StoreError),
    /// The answer.
    Final(StoreError),
}

impl Failure {
    /// A failure before COMMIT: nothing was written.
    fn before_commit(e: StoreError) -> Self {
        match e {
            StoreError::Busy | StoreError::Unavailable(_) => Self::Retry(e),
            other => Self::Final(other),
        }
    }

    fn error(&self) -> &StoreError {
        match self {
            Self::Retry(e) | Self::Final(e) => e,
        }
    }
}

/// The wait before run `attempt + 1`, with full jitter in its upper half (so nodes that
/// collided do not collide again in step). Jitter needs no reproducible randomness.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(8));
    let ms = u64::try_from(ceiling.as_millis())
        .unwrap_or(u64::MAX)
        .max(2);
    Duration::from_millis(rand::rngs::OsRng.gen_range(ms / 2..=ms))
}

/// Takes a connection that failed as a connection out of the pool.
fn discard_if_broken(conn: Conn, failure: &Failure) {
    if matches!(failure.error(), StoreError::Unavailable(_)) {
        drop(deadpool_postgres::Object::take(conn));
    }
}

async fn commit_or_fail<T>(tx: Tx<'_>, value: T, replay: Replay) -> Result<T, Failure> {
    match tx.commit().await {
        Ok(()) => Ok(value),
        // The server answered: the transaction was rolled back.
        Err(e) if e.as_db_error().is_some() => Err(Failure::before_commit(e.into())),
        Err(e) => {
            let e = StoreError::Unavailable(Box::new(e));
            Err(match replay {
                Replay::Safe => Failure::Retry(e),
                Replay::Unsafe => Failure::Final(e),
            })
        }
    }
}

impl PostgresStore {
    async fn pooled(&self) -> Result<Conn, Failure> {
        self.inner.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Timeout(_) => Failure::Final(from_pool(e)),
            other => Failure::before_commit(from_pool(other)),
        })
    }

    /// Runs `body` in one transaction, committing what it wrote, retried as the module
    /// says. `env` is what the body works on (borrowed for each run).
    pub(super) async fn write<E, T, F>(&self, replay: Replay, env: &E, body: F) -> StoreResult<T>
    where
        E: Sync + ?Sized,
        T: Send,
        F: for<'t> Fn(&'t Tx<'t>, &'t E) -> Fut<'t, T> + Sync,
    {
        let mut attempt = 1;
        loop {
            let failure = match self.write_once(replay, env, &body).await {
                Ok(value) => return Ok(value),
                Err(f) => f,
            };
            match failure {
                Failure::Retry(e) if attempt < ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "postgres: transaction runs again");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Failure::Retry(e) | Failure::Final(e) => return Err(e),
            }
        }
    }

    async fn write_once<E, T, F>(&self, replay: Replay, env: &E, body: &F) -> Result<T, Failure>
    where
        E: Sync + ?Sized,
        T: Send,
        F: for<'t> Fn(&'t Tx<'t>, &'t E) -> Fut<'t, T> + Sync,
    {
        let mut conn = self.pooled().await?;
        let outcome = async {
            let tx = conn
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()
                .await
                .map_err(|e| Failure::before_commit(e.into()))?;
            // On an error the transaction is dropped, which rolls it back.
            let value = body(&tx, env).await.map_err(Failure::before_commit)?;
            commit_or_fail(tx, value, replay).await
        }
        .await;
        if let Err(failure) = &outcome {
            discard_if_broken(conn, failure);
        }
        outcome
    }

    /// Runs `body`, ONE statement, on a pooled connection outside an explicit transaction:
    /// the statement is its own transaction (PostgreSQL commits it before it answers), so
    /// it costs one round trip instead of three. Retried as [`Self::write`]: a rolled-back
    /// statement (`Busy`) runs again; a lost connection leaves the outcome unknown, so only a
    /// [`Replay::Safe`] statement runs again.
    pub(super) async fn write_statement<E, T, F>(
        &self,
        replay: Replay,
        env: &E,
        body: F,
    ) -> StoreResult<T>
    where
        E: Sync + ?Sized,
        T: Send,
        F: for<'t> Fn(&'t Conn, &'t E) -> Fut<'t, T> + Sync,
    {
        let mut attempt = 1;
        loop {
            let failure = match self.pooled().await {
                Ok(conn) => match body(&conn, env).await {
                    Ok(value) => return Ok(value),
                    Err(e) => {
                        let failure = match e {
                            StoreError::Busy => Failure::Retry(e),
                            e @ StoreError::Unavailable(_) => match replay {
                                Replay::Safe => Failure::Retry(e),
                                Replay::Unsafe => Failure::Final(e),
                            },
                            other => Failure::Final(other),
                        };
                        discard_if_broken(conn, &failure);
                        failure
                    }
                },
                Err(failure) => failure,
            };
            match failure {
                Failure::Retry(e) if attempt < ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "postgres: statement runs again");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Failure::Retry(e) | Failure::Final(e) => return Err(e),
            }
        }
    }

    /// Runs `body` (reads only) on a pooled connection, again on another one if the
    /// connection fails.
    pub(super) async fn read<E, T, F>(&self, env: &E, body: F) -> StoreResult<T>
    where
        E: Sync + ?Sized,
        T: Send,
        F: for<'t> Fn(&'t Conn, &'t E) -> Fut<'t, T> + Sync,
    {
        let mut attempt = 1;
        loop {
            let failure = match self.pooled().await {
                Ok(conn) => match body(&conn, env).await {
                    Ok(value) => return Ok(value),
                    Err(e) => {
                        let failure = Failure::before_commit(e);
                        discard_if_broken(conn, &failure);
                        failure
                    }
                },
                Err(failure) => failure,
            };
            match failure {
                Failure::Retry(_) if attempt < ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Failure::Retry(e) | Failure::Final(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_short_jittered_and_growing() {
        for attempt in 1..ATTEMPTS {
            let ceiling = BACKOFF * (1 << (attempt - 1));
            let d = backoff(attempt);
            assert!(d >= ceiling / 2 && d <= ceiling, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn only_passing_failures_before_commit_run_again() {
        assert!(matches!(
            Failure::before_commit(StoreError::Busy),
            Failure::Retry(_)
        ));
        assert!(matches!(
            Failure::before_commit(StoreError::Conflict("x".into())),
            Failure::Final(_)
        ));
        assert!(matches!(
            Failure::before_commit(StoreError::NotFound("user")),
            Failure::Final(_)
        ));
    }
}
