//! The ledger writer: records go from request handlers to one writer thread through a
//! shared inbox, and are committed to SQLite in batches, off the request path.
//!
//! A record waits at most one flush interval (`[usage] flush_interval_ms`) after it is
//! handed over before its batch is committed, so a crash (SIGKILL, power loss) loses
//! at most the records of the last interval. [`Ledger::close`] (graceful shutdown)
//! commits everything queued before it returns: nothing is lost.
//!
//! Hand-off cost: handing a record over is a push under a mutex held for nanoseconds.
//! Only the record that finds the inbox empty wakes the writer, which then waits out
//! the flush interval and takes the whole inbox at once: one wake-up per batch, not
//! per request (a wake-up per record was a context switch per request on the profile).
//!
//! Back-pressure: handing a record over never waits on I/O. When the inbox holds
//! `queue_capacity` records the handler counts `switchyard_usage_queue_full_total`
//! and moves the waiting hand-off to tokio's blocking thread pool, so no async worker
//! stalls and no record is dropped; memory is then bounded by the requests in flight.
//! Records are dropped (`switchyard_usage_dropped_total`) only once the ledger is
//! closed, or when the database keeps refusing writes and more than [`MAX_PENDING`]
//! records pile up.

use std::path::PathBuf;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::UsageError;
use super::record::UsageRecord;
use super::store;

/// Records per transaction at most; a full batch also wakes the writer before its
/// flush interval is up. Batches amortise the fsync, but past a few thousand records
/// they save little CPU and cost memory: the inbox holds up to a batch (~250 bytes
/// a record plus its ids), and under load its high-water mark is the gateway's.
/// 2,000 records is ~10 commits a second at 20k requests a second.
const MAX_BATCH: usize = 2_000;
/// Records kept for retry while the database refuses writes; beyond this the oldest
/// are dropped (and counted) rather than exhausting memory.
const MAX_PENDING: usize = 1_000_000;

/// What handlers hand over and the writer takes.
#[derive(Default)]
struct Inbox {
    records: Vec<UsageRecord>,
    /// Callers of [`Ledger::flush`] waiting for their records to be committed.
    flushes: Vec<SyncSender<()>>,
    /// Set by [`Ledger::close`] (with its acknowledgement) or when the ledger is dropped.
    closing: Option<Option<SyncSender<()>>>,
    closed: bool,
    /// Hand-offs waiting (on the blocking pool) for the inbox to have room.
    room_waiters: usize,
}

/// The inbox and the two conditions waited on: "work for the writer" and "room".
#[derive(Default)]
struct Shared {
    inbox: Mutex<Inbox>,
    work: Condvar,
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inbox> {
        // A panic while holding this lock leaves plain data behind: keep going.
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Hands records to the writer thread.
pub struct Ledger {
    shared: Arc<Shared>,
    capacity: usize,
    thread: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("path", &self.path).finish()
    }
}

impl Ledger {
    /// Opens the database and starts the writer thread.
    pub fn start(
        path: PathBuf,
        flush_interval: Duration,
        capacity: usize,
    ) -> Result<Self, UsageError> {
        let conn = store::open_writer(&path)?;
        let shared = Arc::new(Shared::default());
        let writer = Writer {
            conn,
            flush_interval,
            pending: Vec::new(),
            shared: shared.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("usage-ledger".to_owned())
            .spawn(move || writer.run())
            .map_err(|e| UsageError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(Self {
            shared,
            capacity: capacity.max(1),
            thread: Mutex::new(Some(thread)),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Hands a record to the writer without waiting for I/O (see the module doc).
    pub fn submit(&self, record: UsageRecord) {
        let inbox = self.shared.lock();
        if inbox.closed || inbox.closing.is_some() {
            drop(inbox);
            crate::metrics::record_usage_dropped(1);
            return;
        }
        if inbox.records.len() < self.capacity {
            push(&self.shared, inbox, record);
            return;
        }
        drop(inbox);
        crate::metrics::record_usage_queue_full();
        let shared = self.shared.clone();
        let capacity = self.capacity;
        let wait_for_room = move || {
            let mut inbox = shared.lock();
            while inbox.records.len() >= capacity && !inbox.closed {
                inbox.room_waiters += 1;
                inbox = shared.room.wait(inbox).unwrap_or_else(|e| e.into_inner());
                inbox.room_waiters -= 1;
            }
            if inbox.closed {
                drop(inbox);
                crate::metrics::record_usage_dropped(1);
            } else {
                push(&shared, inbox, record);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(wait_for_room)),
            // Not on a runtime thread: blocking here stalls no async worker.
            Err(_) => wait_for_room(),
        }
    }

    /// Commits everything handed over so far; returns once it is durable.
    /// Blocking: call it from a blocking context.
    pub fn flush(&self) -> Result<(), UsageError> {
        let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
        {
            let mut inbox = self.shared.lock();
            if inbox.closed || inbox.closing.is_some() {
                return Err(UsageError::Closed);
            }
            inbox.flushes.push(ack_tx);
        }
        self.shared.work.notify_one();
        ack_rx.recv().map_err(|_| UsageError::Closed)
    }

    /// Commits everything queued and stops the writer (graceful shutdown); records
    /// submitted afterwards are dropped and counted. Blocking; later calls do nothing.
    pub fn close(&self) {
        let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
        let started = {
            let mut inbox = self.shared.lock();
            let first = inbox.closing.is_none() && !inbox.closed;
            if first {
                inbox.closing = Some(Some(ack_tx));
            }
            first
        };
        if started {
            self.shared.work.notify_one();
            let _ = ack_rx.recv();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread
            && t.join().is_err()
        {
            tracing::error!("usage ledger writer panicked");
        }
    }
}

impl Drop for Ledger {
    /// Without [`Ledger::close`], the writer still commits what it holds and stops.
    fn drop(&mut self) {
        let mut inbox = self.shared.lock();
        if inbox.closing.is_none() && !inbox.closed {
            inbox.closing = Some(None);
            drop(inbox);
            self.shared.work.notify_one();
        }
    }
}

/// Appends `record`; wakes the writer only when it may be asleep waiting for a first
/// record, or when a batch is full.
fn push(shared: &Shared, mut inbox: MutexGuard<'_, Inbox>, record: UsageRecord) {
    inbox.records.push(record);
    let n = inbox.records.len();
    drop(inbox);
    if n == 1 || n == MAX_BATCH {
        shared.work.notify_one();
    }
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    flush_interval: Duration,
    pending: Vec<UsageRecord>,
    shared: Arc<Shared>,
}

/// One turn's work, taken from the inbox.
struct Taken {
    records: Vec<UsageRecord>,
    flushes: Vec<SyncSender<()>>,
    closing: Option<Option<SyncSender<()>>>,
}

impl Writer {
    fn run(mut self) {
        let mut retry_at: Option<Instant> = None;
        loop {
            let taken = self.take(retry_at);
            if self.pending.is_empty() {
                // The usual case: take the batch over without copying it.
                self.pending = taken.records;
            } else {
                self.pending.extend(taken.records);
            }
            retry_at = self.commit();
            for ack in taken.flushes {
                let _ = ack.send(());
            }
            if let Some(ack) = taken.closing {
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
                return;
            }
        }
    }

    /// Waits for work: a first record (then the rest of the flush interval, unless a
    /// batch fills or a flush or close is asked for), a flush, a close, or the retry
    /// time of a failed commit; then takes everything in the inbox.
    fn take(&self, retry_at: Option<Instant>) -> Taken {
        let shared = &*self.shared;
        let mut inbox = shared.lock();
        let urgent = |i: &Inbox| !i.flushes.is_empty() || i.closing.is_some();
        let mut deadline = retry_at;
        loop {
            if urgent(&inbox) || inbox.records.len() >= MAX_BATCH {
                break;
            }
            if deadline.is_none() && !inbox.records.is_empty() {
                deadline = Some(Instant::now() + self.flush_interval);
            }
            match deadline {
                None => inbox = shared.work.wait(inbox).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    inbox = shared
                        .work
                        .wait_timeout(inbox, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        let closing = inbox.closing.take();
        if closing.is_some() {
            // From here on, hand-offs are dropped and counted (and waiters released).
            inbox.closed = true;
        }
        let taken = Taken {
            records: std::mem::take(&mut inbox.records),
            flushes: std::mem::take(&mut inbox.flushes),
            closing,
        };
        let waiters = inbox.room_waiters > 0;
        drop(inbox);
        if waiters {
            shared.room.notify_all();
        }
        taken
    }

    /// Commits the pending records; on failure keeps the rest for the next try and
    /// returns the deadline of that try.
    fn commit(&mut self) -> Option<Instant> {
        while !self.pending.is_empty() {
            let n = self.pending.len().min(MAX_BATCH);
            match store::insert(&mut self.conn, &self.pending[..n]) {
                Ok(added) => {
                    crate::metrics::record_usage_written(
                        added,
                        self.pending[..n].iter().map(|r| r.ended.elapsed()),
                    );
                    self.pending.drain(..n);
                }
                Err(e) => {
                    tracing::error!(error = %e, records = self.pending.len(), "usage ledger write failed; will retry");
                    if self.pending.len() > MAX_PENDING {
                        let excess = self.pending.len() - MAX_PENDING;
                        self.pending.drain(..excess);
                        crate::metrics::record_usage_dropped(excess as u64);
                    }
                    return Some(Instant::now() + self.flush_interval);
                }
            }
        }
        None
    }
}
