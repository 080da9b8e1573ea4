//! The ledger writer: records go from request handlers to one writer thread through a
//! bounded queue, and are committed to SQLite in batches, off the request path.
//!
//! A record waits at most one flush interval (`[usage] flush_interval_ms`) after it is
//! handed over before its batch is committed, so a crash (SIGKILL, power loss) loses
//! at most the records of the last interval. [`Ledger::close`] (graceful shutdown)
//! commits everything queued before it returns: nothing is lost.
//!
//! Back-pressure: handing a record over never waits on I/O. When the queue is full
//! the handler counts `switchyard_usage_queue_full_total` and moves the blocking
//! hand-off to tokio's blocking thread pool, so no async worker stalls and no record
//! is dropped; memory is then bounded by the requests in flight. Records are dropped
//! (`switchyard_usage_dropped_total`) only once the ledger is closed, or when the
//! database keeps refusing writes and more than [`MAX_PENDING`] records pile up.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::UsageError;
use super::record::UsageRecord;
use super::store;

/// Records per transaction at most: large batches amortise the fsync, but one
/// transaction should not hold the write lock for long.
const MAX_BATCH: usize = 10_000;
/// Records kept for retry while the database refuses writes; beyond this the oldest
/// are dropped (and counted) rather than exhausting memory.
const MAX_PENDING: usize = 1_000_000;

enum Msg {
    Record(Box<UsageRecord>),
    /// Commit everything queued so far, then acknowledge.
    Flush(SyncSender<()>),
    /// Commit everything queued, acknowledge, and stop.
    Close(SyncSender<()>),
}

/// Hands records to the writer thread.
pub struct Ledger {
    sender: SyncSender<Msg>,
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
        let (sender, rx) = std::sync::mpsc::sync_channel(capacity);
        let writer = Writer {
            conn,
            flush_interval,
            pending: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("usage-ledger".to_owned())
            .spawn(move || writer.run(rx))
            .map_err(|e| UsageError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(Self {
            sender,
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
        let msg = Msg::Record(Box::new(record));
        match self.sender.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Disconnected(_)) => crate::metrics::record_usage_dropped(1),
            Err(TrySendError::Full(msg)) => {
                crate::metrics::record_usage_queue_full();
                let tx = self.sender.clone();
                let send = move || {
                    if tx.send(msg).is_err() {
                        crate::metrics::record_usage_dropped(1);
                    }
                };
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => drop(rt.spawn_blocking(send)),
                    // Not on a runtime thread: blocking here stalls no async worker.
                    Err(_) => send(),
                }
            }
        }
    }

    /// Commits everything handed over so far; returns once it is durable.
    /// Blocking: call it from a blocking context.
    pub fn flush(&self) -> Result<(), UsageError> {
        self.request(Msg::Flush)
    }

    /// Commits everything queued and stops the writer (graceful shutdown); records
    /// submitted afterwards are dropped and counted. Blocking; later calls do nothing.
    pub fn close(&self) {
        let _ = self.request(Msg::Close);
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread
            && t.join().is_err()
        {
            tracing::error!("usage ledger writer panicked");
        }
    }

    fn request(&self, msg: fn(SyncSender<()>) -> Msg) -> Result<(), UsageError> {
        let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
        self.sender
            .send(msg(ack_tx))
            .map_err(|_| UsageError::Closed)?;
        ack_rx.recv().map_err(|_| UsageError::Closed)
    }
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    flush_interval: Duration,
    pending: Vec<UsageRecord>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut deadline: Option<Instant> = None;
        loop {
            let msg = match deadline {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
            };
            match msg {
                Ok(Msg::Record(r)) => {
                    deadline.get_or_insert_with(|| Instant::now() + self.flush_interval);
                    self.pending.push(*r);
                    if self.pending.len() >= MAX_BATCH {
                        deadline = self.commit();
                    }
                }
                Ok(Msg::Flush(ack)) => {
                    self.drain(&rx);
                    deadline = self.commit();
                    let _ = ack.send(());
                }
                Ok(Msg::Close(ack)) => {
                    self.drain(&rx);
                    self.commit();
                    let _ = ack.send(());
                    return;
                }
                Err(RecvTimeoutError::Timeout) => deadline = self.commit(),
                Err(RecvTimeoutError::Disconnected) => {
                    self.commit();
                    return;
                }
            }
        }
    }

    /// Takes every record already queued (a flush covers what was submitted before it).
    fn drain(&mut self, rx: &Receiver<Msg>) {
        while let Ok(m) = rx.try_recv() {
            match m {
                Msg::Record(r) => self.pending.push(*r),
                Msg::Flush(ack) | Msg::Close(ack) => drop(ack.send(())),
            }
        }
    }

    /// Commits the pending records; on failure keeps the rest for the next try and
    /// returns the deadline of that try.
    fn commit(&mut self) -> Option<Instant> {
        while !self.pending.is_empty() {
            let n = self.pending.len().min(MAX_BATCH);
            match store::insert(&mut self.conn, &self.pending[..n]) {
                Ok(added) => {
                    crate::metrics::record_usage_written(&self.pending[..n], added);
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
