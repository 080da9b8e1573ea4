//! Log output: `tracing`'s formatter writes each line into a shared buffer, and a
//! background thread writes the buffer to stderr at most [`FLUSH_EVERY`] after its
//! first line — one `write` per batch instead of one per request (the access log's
//! unbuffered `write` was a syscall per request on the profile), the way nginx's
//! `access_log ... buffer= flush=` works.
//!
//! Warnings and errors are written at once, together with everything buffered before
//! them, so nothing that needs attention waits and order is kept. [`flush`] empties
//! the buffer (graceful shutdown calls it); a crash loses at most the last
//! [`FLUSH_EVERY`] of info lines.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tracing::{Level, Metadata};

pub mod access;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How long a buffered line may wait: short enough to tail a log live.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// A buffer this full is written at once, by whichever thread fills it.
const FLUSH_BYTES: usize = 64 * 1024;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

/// actix-http logs every request it cannot parse (a client's malformed or oversized
/// headers) at ERROR under this target, and `tracing` cannot lower an event's level;
/// the gateway logs those requests at debug itself (`app::conn`), so the target is off
/// unless `SWITCHYARD_LOG` names `actix_http` itself.
const QUIET_ACTIX_DISPATCHER: &str = "actix_http::h1::dispatcher=off";

/// Installs the global subscriber: filter from `SWITCHYARD_LOG` (or `RUST_LOG`),
/// default `info`; buffered stderr as described in the module doc.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("SWITCHYARD_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = match QUIET_ACTIX_DISPATCHER.parse() {
        Ok(quiet) if !filter.to_string().contains("actix_http") => filter.add_directive(quiet),
        _ => filter,
    };
    // Colours only for a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if !ansi {
        let _ = DIRECT_FORMAT.set(format);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(BufferedStderr(buffer().clone()));
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Writes everything buffered to stderr now.
pub fn flush() {
    if let Some(b) = BUFFER.get() {
        drop(b.write_out(b.lock()));
    }
}

/// Set when lines are plain text in the buffer: [`access`] then writes its lines there
/// itself, in this format.
static DIRECT_FORMAT: OnceLock<LogFormat> = OnceLock::new();

fn direct_format() -> Option<LogFormat> {
    DIRECT_FORMAT.get().copied()
}

static BUFFER: OnceLock<Arc<LogBuffer>> = OnceLock::new();

fn buffer() -> &'static Arc<LogBuffer> {
    BUFFER.get_or_init(|| {
        let b = Arc::new(LogBuffer::default());
        let flusher = b.clone();
        // Without the thread, lines are still written once the buffer fills or a
        // warning arrives; failing to spawn at start-up is not worth refusing to run.
        let _ = std::thread::Builder::new()
            .name("log-flush".to_owned())
            .spawn(move || flusher.run());
        b
    })
}

/// The shared line buffer, the flusher's wake-up, and where lines go.
struct LogBuffer {
    lines: Mutex<Vec<u8>>,
    first_line: Condvar,
    /// Held while a batch is written, taken before `lines` is released: batches reach
    /// the output in the order they were taken, and appending never waits for a write.
    writing: Mutex<()>,
    out: fn(&[u8]),
}

impl Default for LogBuffer {
    fn default() -> Self {
        Self {
            lines: Mutex::default(),
            first_line: Condvar::new(),
            writing: Mutex::new(()),
            out: |bytes| {
                let _ = std::io::stderr().lock().write_all(bytes);
            },
        }
    }
}

impl LogBuffer {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes what is buffered and writes it with the buffer unlocked (a request
    /// logging a line never waits for the write); returns the buffer locked again.
    fn write_out<'a>(&'a self, mut lines: MutexGuard<'a, Vec<u8>>) -> MutexGuard<'a, Vec<u8>> {
        if lines.is_empty() {
            return lines;
        }
        let batch = std::mem::take(&mut *lines);
        let writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        drop(lines);
        (self.out)(&batch);
        drop(writing);
        self.lock()
    }

    fn append(&self, line: &[u8], urgent: bool) {
        let mut lines = self.lock();
        let was_empty = lines.is_empty();
        lines.extend_from_slice(line);
        if urgent || lines.len() >= FLUSH_BYTES {
            drop(self.write_out(lines));
        } else if was_empty {
            drop(lines);
            self.first_line.notify_one();
        }
    }

    /// The flusher: sleeps until a first line arrives, lets the batch gather for
    /// [`FLUSH_EVERY`], writes it.
    fn run(&self) {
        let mut lines = self.lock();
        loop {
            while lines.is_empty() {
                lines = self
                    .first_line
                    .wait(lines)
                    .unwrap_or_else(|e| e.into_inner());
            }
            let deadline = Instant::now() + FLUSH_EVERY;
            loop {
                let now = Instant::now();
                if now >= deadline || lines.is_empty() {
                    break;
                }
                // Woken early only spuriously: the notification is for a first line.
                lines = self
                    .first_line
                    .wait_timeout(lines, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            lines = self.write_out(lines);
        }
    }
}

/// `MakeWriter` for the subscriber: each event's line goes into the shared buffer.
struct BufferedStderr(Arc<LogBuffer>);

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            buffer: &self.0,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            buffer: &self.0,
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

/// Appends one formatted event (the formatter writes each event in one call).
struct LineWriter<'a> {
    buffer: &'a LogBuffer,
    urgent: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.append(buf, self.urgent);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> LogBuffer {
        LogBuffer {
            out: |_| {},
            ..LogBuffer::default()
        }
    }

    #[test]
    fn info_lines_wait_for_the_flusher_and_warnings_do_not() {
        let b = quiet();
        b.append(b"info line\n", false);
        assert_eq!(&*b.lock(), b"info line\n");
        // A warning writes out everything before it, in order.
        b.append(b"warn line\n", true);
        assert!(b.lock().is_empty());
    }

    #[test]
    fn a_full_buffer_is_written_by_the_thread_that_fills_it() {
        let b = quiet();
        let line = vec![b'x'; 1024];
        for _ in 0..(FLUSH_BYTES / line.len()) {
            b.append(&line, false);
        }
        assert!(b.lock().is_empty());
    }
}
