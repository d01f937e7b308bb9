//! The writer: one thread owns the write connection and groups the write transactions
//! that arrive together into one commit (group commit).
//!
//! Callers queue a job and await its answer. The thread takes the first job waiting and
//! every other job already queued (at most [`MAX_GROUP`]), opens one `BEGIN IMMEDIATE`
//! transaction, and runs each job inside its own savepoint: a job that fails rolls back
//! its savepoint only, so the group's other jobs are not affected, exactly as if each had
//! had a transaction of its own run one after the other. The group commits once, and only
//! then does any job get its answer: nothing is acknowledged before it is committed, so
//! `synchronous = NORMAL` still keeps every acknowledged write across a kill -9.
//!
//! What this buys under load: one commit (one WAL append of each page touched, however
//! many jobs touched it) instead of one per call, and no blocking-pool hop nor lock hand-
//! over per call. Alone, a job commits at once: the thread never waits for company.
//!
//! A savepoint has a price: SQLite copies each page a job is first to change inside it
//! (4 KiB) so that it can put it back (about a sixth of the writer's instructions in a
//! grouped sign-in step). A job that can fail only before it writes, or not at all short
//! of the database failing (the sign-in step: it reads, decides, then writes rows no
//! constraint refuses), runs without one ([`Writer::write_unisolated`]). Should such a job
//! fail all the same, its writes cannot be undone alone: the group's transaction is rolled
//! back, it gets its error, the jobs before it in the group get [`StoreError::Busy`]
//! (nothing of theirs was written: try again), and the jobs after it run in a new
//! transaction.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::{StoreError, StoreResult};

/// The most jobs one commit carries (bounds the latency a group adds to its first job).
const MAX_GROUP: usize = 64;

/// A queued write transaction.
pub(super) trait Job: Send {
    /// Runs the job inside the group's transaction; the answer waits for the commit.
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Box<dyn Answer>;
    /// The job could not run (the group's transaction could not begin).
    fn refuse(self: Box<Self>, error: StoreError);
    /// Whether the job runs in a savepoint of its own (see the module's notes).
    fn isolated(&self) -> bool;
}

/// A job's result, held until the group's commit.
pub(super) trait Answer: Send {
    /// Whether the job succeeded (its savepoint is kept).
    fn succeeded(&self) -> bool;
    /// Delivers the result if the group committed, or the commit's error.
    fn deliver(self: Box<Self>, committed: Result<(), &StoreError>);
}

struct Write<T, F> {
    f: F,
    reply: oneshot::Sender<StoreResult<T>>,
    isolated: bool,
}

struct Held<T> {
    result: StoreResult<T>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Write<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Box<dyn Answer> {
        let Write { f, reply, .. } = *self;
        let result = match catch_unwind(AssertUnwindSafe(|| f(tx))) {
            Ok(r) => r,
            Err(_) => Err(StoreError::Corrupt(
                "a write transaction panicked; it was rolled back".into(),
            )),
        };
        Box::new(Held { result, reply })
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }

    fn isolated(&self) -> bool {
        self.isolated
    }
}

impl<T: Send> Answer for Held<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn deliver(self: Box<Self>, committed: Result<(), &StoreError>) {
        let result = match (self.result, committed) {
            (Err(e), _) => Err(e),
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(e)) => Err(again(e)),
        };
        let _ = self.reply.send(result);
    }
}

/// The same failure for every job of a group (`StoreError` holds boxed sources).
fn again(e: &StoreError) -> StoreError {
    match e {
        StoreError::Busy => StoreError::Busy,
        other => StoreError::Backend(other.to_string().into()),
    }
}

/// The queue to the writer thread; the thread stops when the last handle is dropped.
#[derive(Debug)]
pub(super) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the thread that owns `conn`.
    pub(super) fn start(conn: Connection) -> StoreResult<Self> {
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        std::thread::Builder::new()
            .name("textid-sqlite-writer".into())
            .spawn(move || run(conn, jobs, &counted))
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Self { queue, commits })
    }

    /// Groups the writer ran so far (one commit each).
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `f` in a write transaction; answers once it is committed.
    pub(super) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.queue_job(f, true).await
    }

    /// As [`Self::write`], without a savepoint of its own: for a job that fails only
    /// before it writes, or when the database fails (see the module's notes for what
    /// happens to its group if it fails after writing all the same).
    pub(super) async fn write_unisolated<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.queue_job(f, false).await
    }

    async fn queue_job<T, F>(&self, f: F, isolated: bool) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Box::new(Write { f, reply, isolated }))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the SQLite writer thread stopped".into())
}

fn run(mut conn: Connection, jobs: mpsc::Receiver<Box<dyn Job>>, commits: &AtomicU64) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // Counted before any job is answered, so that an answered job's group is counted.
        commits.fetch_add(1, Ordering::Relaxed);
        commit_group(&mut conn, group);
    }
}

/// Runs `group` in one transaction (more than one if SQLite aborts the transaction under
/// a job: the jobs before it then fail, unacknowledged, and the rest go on in a new one).
fn commit_group(conn: &mut Connection, group: Vec<Box<dyn Job>>) {
    let mut pending = group.into_iter();
    loop {
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                let e = StoreError::from(e);
                for job in pending {
                    job.refuse(again(&e));
                }
                return;
            }
        };
        let mut answers: Vec<Box<dyn Answer>> = Vec::new();
        let mut aborted = false;
        if pending.len() == 1 {
            // Alone: the transaction is the job's; a failure rolls it back whole.
            if let Some(job) = pending.next() {
                let answer = job.run(&tx);
                let committed = if answer.succeeded() && !tx.is_autocommit() {
                    tx.commit().map_err(StoreError::from)
                } else {
                    Ok(())
                };
                answer.deliver(committed.as_ref().map(|_| ()));
            }
            return;
        }
        for job in pending.by_ref() {
            let isolated = job.isolated();
            if isolated {
                if let Err(e) = statement(&tx, "SAVEPOINT job") {
                    job.refuse(e);
                    continue;
                }
            }
            let answer = job.run(&tx);
            if tx.is_autocommit() {
                // SQLite rolled the whole transaction back (e.g. out of disk).
                let e = StoreError::Backend("the write transaction was rolled back".into());
                for a in answers.drain(..) {
                    a.deliver(Err(&e));
                }
                answer.deliver(Err(&e));
                aborted = true;
                break;
            }
            if !isolated {
                if answer.succeeded() {
                    answers.push(answer);
                    continue;
                }
                // Its writes, if any, cannot be undone alone: the whole group's are.
                for a in answers.drain(..) {
                    a.deliver(Err(&StoreError::Busy));
                }
                answer.deliver(Ok(()));
                aborted = true;
                break;
            }
            let ended = if answer.succeeded() {
                statement(&tx, "RELEASE job")
            } else {
                statement(&tx, "ROLLBACK TO job").and_then(|()| statement(&tx, "RELEASE job"))
            };
            match ended {
                Ok(()) => answers.push(answer),
                Err(e) => answer.deliver(Err(&e)),
            }
        }
        if aborted {
            drop(tx);
            continue;
        }
        let committed = tx.commit().map_err(StoreError::from);
        for a in answers {
            a.deliver(committed.as_ref().map(|_| ()));
        }
        return;
    }
}

/// A savepoint statement, prepared once per connection.
fn statement(tx: &Transaction<'_>, sql: &str) -> StoreResult<()> {
    tx.prepare_cached(sql)?.execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    /// Polls once: the job is queued when this returns.
    fn queue<T>(f: &mut Pin<Box<impl Future<Output = T>>>) {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(f.as_mut().poll(&mut cx), Poll::Pending));
    }

    fn insert(x: i64) -> impl FnOnce(&Transaction<'_>) -> StoreResult<()> + Send + 'static {
        move |tx| {
            tx.execute("INSERT INTO t (x) VALUES (?1)", [x])?;
            Ok(())
        }
    }

    /// A writer on a new WAL database in `dir` with one table `t (x)`.
    fn writer_of_t(dir: &tempfile::TempDir) -> Writer {
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .unwrap();
        Writer::start(conn).unwrap()
    }

    #[tokio::test]
    async fn jobs_queued_together_commit_as_one_group_and_a_failed_job_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer_of_t(&dir);

        // A first job holds the writer until the others are queued behind it.
        let (running, is_running) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let mut first = Box::pin(writer.write(move |tx| {
            running.send(()).unwrap();
            released.recv().unwrap();
            insert(0)(tx)
        }));
        queue(&mut first);
        is_running.recv().unwrap();
        let mut one = Box::pin(writer.write(insert(1)));
        let mut failing = Box::pin(writer.write(|tx| {
            insert(2)(tx)?;
            Err::<(), _>(StoreError::NotFound("row"))
        }));
        let mut duplicate = Box::pin(writer.write(insert(1)));
        let mut three = Box::pin(writer.write(insert(3)));
        for f in [&mut one, &mut duplicate, &mut three] {
            queue(f);
        }
        queue(&mut failing);
        release.send(()).unwrap();

        first.await.unwrap();
        one.await.unwrap();
        three.await.unwrap();
        assert!(matches!(failing.await, Err(StoreError::NotFound("row"))));
        assert!(matches!(duplicate.await, Err(StoreError::Conflict(_))));
        assert_eq!(
            writer.commits(),
            2,
            "the first job alone, then one group of four"
        );

        let rows: Vec<i64> = writer
            .write(|tx| {
                let mut s = tx.prepare("SELECT x FROM t ORDER BY x")?;
                let rows = s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![0, 1, 3],
            "the failed jobs' rows were rolled back, alone"
        );
    }

    #[tokio::test]
    async fn a_job_that_panics_is_an_error_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer_of_t(&dir);
        let panicked = writer
            .write(|tx| {
                insert(7)(tx)?;
                if tx.is_autocommit() {
                    return Ok(());
                }
                panic!("a bug in a job");
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Corrupt(_))));
        writer.write(insert(8)).await.unwrap();
        let n: i64 = writer
            .write(|tx| Ok(tx.query_row("SELECT count(*) FROM t WHERE x = 7", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn an_unisolated_job_shares_the_group_and_its_failure_rolls_the_group_back() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer_of_t(&dir);
        async fn rows(writer: &Writer) -> Vec<i64> {
            writer
                .write(|tx| {
                    let mut s = tx.prepare("SELECT x FROM t ORDER BY x")?;
                    let rows = s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
                    Ok(rows)
                })
                .await
                .unwrap()
        }
        for round in 0..2 {
            let fails = round == 1;
            let (running, is_running) = mpsc::channel();
            let (release, released) = mpsc::channel::<()>();
            let base = 10 * round;
            let mut first = Box::pin(writer.write(move |tx| {
                running.send(()).unwrap();
                released.recv().unwrap();
                insert(base)(tx)
            }));
            queue(&mut first);
            is_running.recv().unwrap();
            let commits = writer.commits();
            let mut before = Box::pin(writer.write(insert(base + 1)));
            let mut unisolated = Box::pin(writer.write_unisolated(move |tx| {
                insert(base + 2)(tx)?;
                if fails {
                    return Err::<(), _>(StoreError::NotFound("row"));
                }
                Ok(())
            }));
            let mut after = Box::pin(writer.write(insert(base + 3)));
            queue(&mut before);
            queue(&mut unisolated);
            queue(&mut after);
            release.send(()).unwrap();
            first.await.unwrap();
            if fails {
                // Its write could not be undone alone: the group's transaction was rolled
                // back; the job before it is told to try again, the one after it ran in a
                // new transaction.
                assert!(matches!(unisolated.await, Err(StoreError::NotFound("row"))));
                assert!(matches!(before.await, Err(StoreError::Busy)));
                after.await.unwrap();
                assert_eq!(writer.commits() - commits, 1);
                assert_eq!(rows(&writer).await, vec![0, 1, 2, 3, 10, 13]);
            } else {
                before.await.unwrap();
                unisolated.await.unwrap();
                after.await.unwrap();
                assert_eq!(writer.commits() - commits, 1, "one group of three");
                assert_eq!(rows(&writer).await, vec![0, 1, 2, 3]);
            }
        }
    }
}
