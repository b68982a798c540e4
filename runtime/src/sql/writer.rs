//! SQLite's single writer, with group commit.
//!
//! SQLite lets one connection write at a time, and with `synchronous=FULL` every commit waits
//! for an fsync. Letting each request open its own write transaction makes concurrent writers
//! queue for the lock through busy-timeout sleeps, one fsync each: the tail of the write
//! latency grows with the number of writers. Instead, every write of the app goes to one
//! writer, on a thread of its own, that owns the only writing connection. It takes whatever
//! has queued (never waiting for more to arrive: a lone write is committed at once) and runs
//! it in ONE transaction, each write isolated from the others, then commits: one fsync
//! carries the whole batch.
//!
//! - A write that fails (a unique violation, a missing reference, a panic) is undone and
//!   answered with its own error; the others of its batch still commit. A write of several
//!   changing statements runs in a `SAVEPOINT` of its own, rolled back to when it fails. A
//!   write of one changing statement (every contract store's create, update and delete) needs
//!   none: SQLite undoes a failed statement by itself, and a round trip per write to SQLite's
//!   thread is what the writer's throughput is made of (see [`Changes`]).
//! - A write is answered only once the commit holding it has returned, that is, once it is
//!   durable: the caller's result travels back through a oneshot channel after `COMMIT`.
//! - The queue is bounded ([`WriterLimits::queue`]): a write that finds it full is refused at
//!   once with [`StoreError::Unavailable`] (a 503 with `Retry-After`), so memory stays bounded
//!   and no caller hangs. A write that waited longer than [`WriterLimits::max_wait`] (the
//!   database timeout) is refused instead of run, and one whose caller gave up (a cancelled
//!   request) is dropped without running.
//! - A batch holds at most [`WriterLimits::batch`] writes, which bounds how long the write lock
//!   is held and how long the first write of a batch waits for the last.
//!
//! A write is a closure run on the writer's connection ([`Writer::run`]); it returns its typed
//! result, which the writer hands back after the commit. Statements stay in `query.rs` and
//! `conn.rs` (and the login module's store); only the transaction control lives here.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection as _, Executor as _};
use tokio::sync::{mpsc, oneshot, watch};

use super::conn::unavailable_or_internal;
use crate::store::{BoxFuture, StoreError};

/// The savepoint a write of several changing statements runs in. One name serves every such
/// write: it is released (after a rollback to it, if the write failed) before the next starts.
const SAVEPOINT: &str = "cmmv_write";

/// The savepoint open for the whole batch, right after `BEGIN`. It is never rolled back to: it
/// is how the writer knows that the transaction survived a failed write (SQLite rolls the
/// whole transaction back for some errors, such as a full disk, and the savepoint goes with
/// it, so releasing it fails).
const BATCH: &str = "cmmv_batch";

/// How a write changes the database, which decides whether it needs a savepoint of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Changes {
    /// One statement changes rows, and it is the write's last: when the write fails, that
    /// statement failed or never ran. SQLite undoes a failed statement by itself (every
    /// statement runs in an implicit savepoint of its own), so the write needs no savepoint,
    /// and costs no round trip to SQLite's thread beyond its statements.
    OneStatement,
    /// Like [`Changes::OneStatement`], and moreover nothing the write reads needs to hold
    /// until its change (an insert, whose only read is the next value of a sequence, which is
    /// outside transactions anyway; a delete). On SQLite the same as `OneStatement`; on
    /// PostgreSQL it runs without a transaction of its own, its statement committing by
    /// itself: `BEGIN` and `COMMIT` would be two more round trips for nothing.
    Alone,
    /// Several statements change rows: a savepoint around them undoes all of them together.
    Several,
}

/// How much the writer takes on, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriterLimits {
    /// Writes waiting at most; one more is refused at once.
    pub(crate) queue: usize,
    /// Writes one transaction commits at most.
    pub(crate) batch: usize,
    /// How long a write may wait in the queue before it is refused instead of run.
    pub(crate) max_wait: Duration,
}

/// What the writer has done so far, for operators and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Writes the writer has taken off the queue, to run or to refuse.
    pub received: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Writes committed (the sum of every committed batch's kept writes).
    pub committed: u64,
    /// Writes that failed on their own (rolled back to their savepoint).
    pub failed: u64,
    /// Writes refused without running: a full queue, too long a wait, a closing writer.
    pub refused: u64,
    /// Writes waiting for the writer right now.
    pub queued: u64,
    /// The largest batch committed so far.
    pub largest_batch: u64,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    commits: AtomicU64,
    committed: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
    largest_batch: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// The handle on the writer, shared by every clone of a `Database`.
#[derive(Debug)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
    limits: WriterLimits,
    counters: Arc<Counters>,
    /// Set to `true` to make the writer finish what is queued and close its connection.
    stop: watch::Sender<bool>,
    /// Signalled (by being dropped) when the writer's thread has closed its connection.
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Writer {
    /// Starts the writer, owning `conn`, on a thread of its own.
    ///
    /// A thread, not a task of the app's runtime: a write is a few round trips between the
    /// writer and SQLite's own thread, one after the other, and as a task the writer would
    /// queue behind every ready HTTP task at each of them. Under load that made the single
    /// writer, which every write waits for, the slowest part of the service.
    pub(crate) fn start(conn: SqliteConnection, limits: WriterLimits) -> std::io::Result<Writer> {
        let (queue, receiver) = mpsc::channel(limits.queue.max(1));
        let (stop, stopping) = watch::channel(false);
        let (done, stopped) = oneshot::channel::<()>();
        let counters = Arc::new(Counters::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let task = serve(conn, receiver, stopping, limits, counters.clone());
        std::thread::Builder::new()
            .name("cmmv-sqlite-writer".to_owned())
            .spawn(move || {
                runtime.block_on(task);
                drop(done);
            })?;
        Ok(Writer {
            queue,
            limits,
            counters,
            stop,
            stopped: Mutex::new(Some(stopped)),
        })
    }

    /// Runs `work` on the writer's connection in the next batch (in a savepoint of its own when
    /// it makes [`Changes::Several`]), and returns its result once the batch's commit is
    /// durable. An error from `work` undoes its own statements only. Refused at once with [`StoreError::Unavailable`] when the queue is
    /// full or the writer is closed.
    pub(crate) async fn run<T, F>(&self, changes: Changes, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Typed {
            changes,
            work,
            reply,
            queued_at: Instant::now(),
            span: tracing::Span::current(),
        });
        if let Err(refused) = self.queue.try_send(job) {
            Counters::add(&self.counters.refused, 1);
            return Err(StoreError::Unavailable(
                match refused {
                    mpsc::error::TrySendError::Full(_) => format!(
                        "the write queue is full ({} writes waiting)",
                        self.limits.queue
                    ),
                    mpsc::error::TrySendError::Closed(_) => "the writer is closed".to_owned(),
                }
                .into(),
            ));
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the writer stopped before answering".into(),
            ))
        })
    }

    /// Whether the writer task still takes writes (for readiness).
    pub(crate) fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    pub(crate) fn stats(&self) -> WriterStats {
        let c = &self.counters;
        WriterStats {
            received: c.received.load(Ordering::Relaxed),
            commits: c.commits.load(Ordering::Relaxed),
            committed: c.committed.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            queued: (self.queue.max_capacity() - self.queue.capacity()) as u64,
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// Commits what is queued, refuses what comes after, and closes the connection.
    pub(crate) async fn close(&self) {
        let _ = self.stop.send(true);
        let stopped = self
            .stopped
            .lock()
            .ok()
            .and_then(|mut stopped| stopped.take());
        if let Some(stopped) = stopped {
            // Err: the sender is dropped, which is the signal.
            let _ = stopped.await;
        }
    }
}

/// The writer task: batch after batch until it is stopped or every handle is gone.
async fn serve(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    mut stopping: watch::Receiver<bool>,
    limits: WriterLimits,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(limits.batch);
    let mut stopped = false;
    loop {
        tokio::select! {
            // `recv_many` waits for one write, then takes every write already queued, up to the
            // batch limit: group commit without ever waiting to gather company.
            received = queue.recv_many(&mut batch, limits.batch) => {
                if received == 0 {
                    break;
                }
                Counters::add(&counters.received, received);
                commit_batch(&mut conn, &mut batch, &limits, &counters).await;
            }
            // A stop (or every handle dropped): refuse new writes; those already queued are
            // still committed by the loop, which ends when the queue is empty.
            // (The only change ever sent is the stop; an error means the handle is gone.)
            _ = stopping.changed(), if !stopped => {
                stopped = true;
                queue.close();
            }
        }
    }
    let _ = conn.close().await;
}

/// Runs one batch in one transaction and answers every write in it.
async fn commit_batch(
    conn: &mut SqliteConnection,
    batch: &mut Vec<Box<dyn Job>>,
    limits: &WriterLimits,
    counters: &Counters,
) {
    let mut jobs = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        if job.abandoned() {
            // The caller is gone (its request was cancelled): nobody would learn the outcome.
            continue;
        }
        if job.queued_at().elapsed() > limits.max_wait {
            Counters::add(&counters.refused, 1);
            job.refuse(StoreError::Unavailable(
                format!(
                    "the write waited for the writer longer than {:?}",
                    limits.max_wait
                )
                .into(),
            ));
            continue;
        }
        jobs.push(job);
    }
    if jobs.is_empty() {
        return;
    }
    // IMMEDIATE takes the write lock at once; another process holding it makes this wait for
    // the busy timeout and then fail, and the whole batch is refused as unavailable.
    if let Err(error) = script(conn, &format!("BEGIN IMMEDIATE; SAVEPOINT {BATCH}")).await {
        // If BEGIN went through and SAVEPOINT did not, end the transaction; otherwise this
        // ROLLBACK finds none and fails harmlessly.
        let _ = script(conn, "ROLLBACK").await;
        let error = unavailable_or_internal(error);
        Counters::add(&counters.refused, jobs.len());
        for job in jobs {
            job.refuse(error.clone());
        }
        return;
    }

    let mut kept: Vec<Reply> = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    while let Some(job) = jobs.next() {
        let several = job.changes() == Changes::Several;
        let opened = if several {
            script(conn, &format!("SAVEPOINT {SAVEPOINT}")).await
        } else {
            Ok(())
        };
        let (ran, closed) = match opened {
            Ok(()) => {
                let ran = job.run(conn).await;
                // What ends the write: its savepoint's release (after a rollback to it, when
                // it failed); after a failed single statement, proof that the transaction
                // survived it; after a kept single statement, nothing at all.
                let end = match (several, ran.kept) {
                    (true, true) => Some(format!("RELEASE {SAVEPOINT}")),
                    (true, false) => Some(format!("ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}")),
                    (false, false) => Some(format!("RELEASE {BATCH}; SAVEPOINT {BATCH}")),
                    (false, true) => None,
                };
                let closed = match end {
                    Some(end) => script(conn, &end).await,
                    None => Ok(()),
                };
                (Some(ran), closed)
            }
            Err(error) => (None, Err(error)),
        };
        if let Err(error) = closed {
            // The transaction is broken (or its savepoints are): nothing of this batch can
            // commit. End it and tell everyone.
            let error = unavailable_or_internal(error);
            let _ = script(conn, "ROLLBACK").await;
            Counters::add(&counters.refused, kept.len() + 1 + jobs.len());
            if let Some(ran) = ran {
                (ran.reply)(Err(error.clone()));
            }
            for reply in kept {
                reply(Err(error.clone()));
            }
            for job in jobs {
                job.refuse(error.clone());
            }
            return;
        }
        let Some(ran) = ran else { continue };
        if ran.kept {
            kept.push(ran.reply);
        } else {
            Counters::add(&counters.failed, 1);
            // Its answer does not depend on the commit: it wrote nothing.
            (ran.reply)(Ok(()));
        }
    }

    if kept.is_empty() {
        let _ = script(conn, "ROLLBACK").await;
        return;
    }
    let committed = match script(conn, &format!("RELEASE {BATCH}; COMMIT")).await {
        Ok(()) => {
            Counters::add(&counters.commits, 1);
            Counters::add(&counters.committed, kept.len());
            counters
                .largest_batch
                .fetch_max(kept.len() as u64, Ordering::Relaxed);
            Ok(())
        }
        Err(error) => {
            // A failed COMMIT (busy, I/O) may leave the transaction open: end it, so that the
            // next batch starts clean. Nothing of this one is durable.
            let _ = script(conn, "ROLLBACK").await;
            Counters::add(&counters.refused, kept.len());
            Err(unavailable_or_internal(error))
        }
    };
    // Only now, the commit durable (or failed), does each caller hear back.
    for reply in kept {
        reply(committed.clone());
    }
}

/// Runs statements without parameters (transaction control).
async fn script(conn: &mut SqliteConnection, sql: &str) -> Result<(), sqlx::Error> {
    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())))
        .await
        .map(drop)
}

/// The answer of a write that ran, given the fate of its transaction.
type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A write that ran: kept (its statements stay in the transaction) or failed, and how to
/// answer its caller.
struct Ran {
    kept: bool,
    reply: Reply,
}

/// One queued write, its result type erased so that every write shares the queue.
trait Job: Send {
    fn changes(&self) -> Changes;
    /// Whether the caller stopped waiting (its request was dropped).
    fn abandoned(&self) -> bool;
    fn queued_at(&self) -> Instant;
    /// Runs the write on the connection (inside its savepoint).
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, Ran>;
    /// Answers without running.
    fn refuse(self: Box<Self>, error: StoreError);
}

struct Typed<T, F> {
    changes: Changes,
    work: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
    queued_at: Instant,
    /// The caller's span: the write's statements are its children in a trace, though they
    /// run on the writer's task.
    span: tracing::Span,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
        + Send
        + 'static,
{
    fn changes(&self) -> Changes {
        self.changes
    }

    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn queued_at(&self) -> Instant {
        self.queued_at
    }

    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, Ran> {
        let Typed {
            work, reply, span, ..
        } = *self;
        Box::pin(async move {
            // A panic in one write (a bug in a hand-written change) fails that write only;
            // the writer, and every other write, go on.
            let work = tracing::Instrument::instrument(async move { work(conn).await }, span);
            let outcome = CatchUnwind(Box::pin(work))
                .await
                .unwrap_or_else(|()| Err(StoreError::Internal("a write panicked".into())));
            match outcome {
                Ok(value) => Ran {
                    kept: true,
                    reply: Box::new(move |committed: Result<(), StoreError>| {
                        let _ = reply.send(committed.map(|()| value));
                    }),
                },
                Err(error) => Ran {
                    kept: false,
                    reply: Box::new(move |_| {
                        let _ = reply.send(Err(error));
                    }),
                },
            }
        })
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// A future that turns a panic while polling it into `Err(())`.
struct CatchUnwind<'a, T>(BoxFuture<'a, T>);

impl<T> Future for CatchUnwind<'_, T> {
    type Output = Result<T, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}
