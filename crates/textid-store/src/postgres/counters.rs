//! The send counters' writer: one per node, it adds the increments of every step that
//! committed meanwhile in ONE transaction (a group commit of the counters).
//!
//! Why: the budget rows are the hottest rows of the schema. Every start of a country or a
//! number range charges the same few rows, and a row lock is held until its transaction
//! ends. Written by each step, the rows serialised every start of a range behind the
//! previous writer's round trips and commit (about 400 sign-ins/s on the benchmark's
//! machine, whatever its CPU). Here a node has one writer, so its steps never queue on
//! each other for these rows; nodes queue on each other once per batch.
//!
//! A step waits until its increments are written (so a budget check after it sees them),
//! but the transaction commits asynchronously (`synchronous_commit = off`, in
//! [`super::abuse::add_increments`]): after a crash of the database server, the last
//! `wal_writer_delay` (200 ms by default) of increments may be missing, and a budget may
//! allow that many more sends in its window. Budgets are rate bounds; no flow, code,
//! session or message is ever written this way.

use std::collections::BTreeMap;
use std::sync::Weak;

use textid_core::abuse::Increment;
use tokio::sync::{mpsc, oneshot};

use super::abuse;
use super::retry::Replay;
use super::{Inner, PostgresStore};

/// Steps whose increments one transaction carries at most.
const BATCH: usize = 512;

/// Increments waiting for the writer, and how to tell their step.
struct Pending {
    increments: Vec<Increment>,
    written: oneshot::Sender<bool>,
}

/// The handle of a node's writer. The writer ends when the store's last handle is dropped.
pub(super) struct CounterWriter {
    queue: mpsc::UnboundedSender<Pending>,
}

impl CounterWriter {
    /// Starts the writer of the store that `store` points to (it must run in a Tokio
    /// runtime).
    pub(super) fn start(store: Weak<Inner>) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(run(pending, store));
        Self { queue }
    }

    /// Adds `increments`; true once they are written, false if they could not be.
    pub(super) async fn add(&self, increments: Vec<Increment>) -> bool {
        let (written, done) = oneshot::channel();
        if self
            .queue
            .send(Pending {
                increments,
                written,
            })
            .is_err()
        {
            return false;
        }
        done.await.unwrap_or(false)
    }
}

async fn run(mut queue: mpsc::UnboundedReceiver<Pending>, store: Weak<Inner>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let increments = merge(batch.iter().flat_map(|p| &p.increments));
        let written = match store.upgrade() {
            Some(inner) => {
                let store = PostgresStore { inner };
                // Not replayed after an unknown COMMIT: it would count twice.
                match store
                    .write(Replay::Unsafe, &increments, |tx, inc| {
                        Box::pin(abuse::add_increments(tx, inc))
                    })
                    .await
                {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, steps = batch.len(), "postgres: send counters not written");
                        false
                    }
                }
            }
            None => false,
        };
        for p in batch {
            let _ = p.written.send(written);
        }
    }
}

/// One increment per row, the sum of the batch's, in the rows' order (the order every
/// writer locks them in).
fn merge<'a>(increments: impl Iterator<Item = &'a Increment>) -> Vec<Increment> {
    let mut rows: BTreeMap<(&str, i64, u32), Increment> = BTreeMap::new();
    for i in increments {
        rows.entry((i.key.as_str(), i.bucket, i.shard))
            .and_modify(|r| {
                r.by = r.by.saturating_add(i.by);
                r.expires_at = r.expires_at.max(i.expires_at);
            })
            .or_insert_with(|| i.clone());
    }
    rows.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc(key: &str, shard: u32, by: u32, expires_at: i64) -> Increment {
        Increment {
            key: key.into(),
            bucket: 1000,
            shard,
            by,
            expires_at,
        }
    }

    #[test]
    fn a_batch_adds_up_per_row_in_row_order() {
        let all = [
            inc("prefix:+1425555", 0, 1, 5000),
            inc("country:1", 0, 1, 5000),
            inc("prefix:+1425555", 0, 2, 7000),
            inc("tenant:t", 3, 1, 5000),
            inc("tenant:t", 4, 1, 5000),
        ];
        assert_eq!(
            merge(all.iter()),
            [
                inc("country:1", 0, 1, 5000),
                inc("prefix:+1425555", 0, 3, 7000),
                inc("tenant:t", 3, 1, 5000),
                inc("tenant:t", 4, 1, 5000),
            ]
        );
    }
}
