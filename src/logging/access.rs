//! The access log: one line per request (id, method, path, status, provider, model,
//! attempts, duration), written straight into the log buffer.
//!
//! The line has the shape `tracing`'s formatter gives an `info!` event with target
//! `switchyard::app` and message `request`, in both log formats, and the same
//! `SWITCHYARD_LOG` filter decides whether it is written. It skips the formatter
//! because, at one line per request, tracing's per-field dynamic formatting and its
//! per-event timestamp cost ~6 % of a request's CPU; here the date is formatted once a
//! second and the fields are copied in. On a terminal (colours on) the line goes
//! through `tracing` as any other event.

use std::cell::RefCell;
use std::io::Write;
use std::time::{Duration, SystemTime};

use tracing::Level;

use super::LogFormat;

/// The target the access log is filtered by (`SWITCHYARD_LOG=switchyard::app=warn`
/// silences it).
pub const TARGET: &str = "switchyard::app";

/// One served request, as the access log records it.
#[derive(Debug, Clone, Copy)]
pub struct AccessEntry<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    /// The `x-switchyard-*` response headers' values, `-` when absent.
    pub provider: &'a str,
    pub model: &'a str,
    pub attempts: &'a str,
    pub duration: Duration,
}

/// Writes `entry`'s line if the filter lets `info` through for [`TARGET`].
pub fn log(entry: &AccessEntry<'_>) {
    if !tracing::enabled!(target: TARGET, Level::INFO) {
        return;
    }
    match super::direct_format() {
        Some(format) => LINE.with_borrow_mut(|line| {
            line.clear();
            write_line(line, format, SystemTime::now(), entry);
            super::buffer().append(line, false);
        }),
        None => tracing::info!(
            target: TARGET,
            request_id = %entry.request_id,
            method = %entry.method,
            path = %entry.path,
            status = entry.status,
            provider = %entry.provider,
            model = %entry.model,
            attempts = %entry.attempts,
            duration_ms = entry.duration.as_secs_f64() * 1000.0,
            "request"
        ),
    }
}

thread_local! {
    /// The line being written, reused: no allocation per request.
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
    /// The date and time to the second of the last line, formatted.
    static SECOND: RefCell<(u64, [u8; 20])> = const { RefCell::new((u64::MAX, [0; 20])) };
}

impl AccessEntry<'_> {
    /// The text fields in line order: those before `status`, then those after it.
    fn text_fields(&self) -> [[(&'static str, &str); 3]; 2] {
        [
            [
                ("request_id", self.request_id),
                ("method", self.method),
                ("path", self.path),
            ],
            [
                ("provider", self.provider),
                ("model", self.model),
                ("attempts", self.attempts),
            ],
        ]
    }
}

/// Formats `entry` as logged at `now` into `out`, newline included.
fn write_line(out: &mut Vec<u8>, format: LogFormat, now: SystemTime, entry: &AccessEntry<'_>) {
    let [before_status, after_status] = entry.text_fields();
    let mut status_digits = itoa::Buffer::new();
    let status = status_digits.format(entry.status).as_bytes();
    match format {
        LogFormat::Human => {
            timestamp(out, now);
            out.extend_from_slice(b"  INFO switchyard::app: request");
            let mut field = |name: &str, value: &[u8]| {
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                out.push(b'=');
                out.extend_from_slice(value);
            };
            before_status
                .iter()
                .for_each(|(n, v)| field(n, v.as_bytes()));
            field("status", status);
            after_status
                .iter()
                .for_each(|(n, v)| field(n, v.as_bytes()));
            out.extend_from_slice(b" duration_ms=");
            millis(out, entry.duration);
            out.push(b'\n');
        }
        LogFormat::Json => {
            out.extend_from_slice(b"{\"timestamp\":\"");
            timestamp(out, now);
            out.extend_from_slice(b"\",\"level\":\"INFO\",\"fields\":{\"message\":\"request\"");
            before_status
                .iter()
                .for_each(|(n, v)| json_field(out, n, v));
            out.extend_from_slice(b",\"status\":");
            out.extend_from_slice(status);
            after_status.iter().for_each(|(n, v)| json_field(out, n, v));
            out.extend_from_slice(b",\"duration_ms\":");
            millis(out, entry.duration);
            out.extend_from_slice(b"},\"target\":\"switchyard::app\"}\n");
        }
    }
}

/// `,"name":"value"` with `value` escaped as JSON.
fn json_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b',');
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// RFC 3339 UTC with microseconds, as `tracing`'s default timer writes it:
/// `2026-11-24T05:18:59.135476Z`.
fn timestamp(out: &mut Vec<u8>, now: SystemTime) {
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != secs {
            let t = time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(secs as i64);
            let mut w = &mut text[..];
            let _ = write!(
                w,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
            *cached = secs;
        }
        out.extend_from_slice(&text[..]);
    });
    digits(out, since_epoch.subsec_micros(), 6);
    out.push(b'Z');
}

/// A duration in milliseconds to the microsecond: `12.345`.
fn millis(out: &mut Vec<u8>, d: Duration) {
    let micros = d.as_micros();
    out.extend_from_slice(itoa::Buffer::new().format(micros / 1000).as_bytes());
    out.push(b'.');
    digits(out, (micros % 1000) as u32, 3);
}

/// `n`'s last `width` decimal digits, zero-padded.
fn digits(out: &mut Vec<u8>, mut n: u32, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot += (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(request_id: &str) -> AccessEntry<'_> {
        AccessEntry {
            request_id,
            method: "POST",
            path: "/v1/chat/completions",
            status: 200,
            provider: "openai",
            model: "gpt-4o-mini",
            attempts: "1",
            duration: Duration::from_micros(12_034),
        }
    }

    /// 2026-11-24T05:18:59.035476Z
    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_micros(1_795_497_539_035_476)
    }

    fn line(format: LogFormat, e: &AccessEntry<'_>) -> String {
        let mut out = Vec::new();
        write_line(&mut out, format, at(), e);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn human_line_reads_like_a_tracing_event() {
        assert_eq!(
            line(LogFormat::Human, &entry("req_abc")),
            "2026-11-24T05:18:59.035476Z  INFO switchyard::app: request request_id=req_abc \
             method=POST path=/v1/chat/completions status=200 provider=openai \
             model=gpt-4o-mini attempts=1 duration_ms=12.034\n"
        );
    }

    /// What `log` writes through `tracing` (the terminal path) for `e`, at [`at`].
    fn through_tracing(format: LogFormat, e: &AccessEntry<'_>) -> String {
        #[derive(Clone, Default)]
        struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("unpoisoned").extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        struct At;
        impl tracing_subscriber::fmt::time::FormatTime for At {
            fn format_time(
                &self,
                w: &mut tracing_subscriber::fmt::format::Writer<'_>,
            ) -> std::fmt::Result {
                w.write_str("2026-11-24T05:18:59.035476Z")
            }
        }
        let capture = Capture::default();
        let writer = capture.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_timer(At)
            .with_writer(move || writer.clone());
        match format {
            LogFormat::Human => tracing::subscriber::with_default(builder.finish(), || log(e)),
            LogFormat::Json => {
                tracing::subscriber::with_default(builder.json().finish(), || log(e))
            }
        }
        let bytes = capture.0.lock().expect("unpoisoned").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn lines_match_what_tracing_writes_but_for_the_duration_digits() {
        // 12.5 ms: exact in binary, so tracing's f64 prints `12.5` where we print `12.500`.
        let e = AccessEntry {
            duration: Duration::from_micros(12_500),
            ..entry("a\"b\\c")
        };
        let human = line(LogFormat::Human, &e);
        assert_eq!(
            through_tracing(LogFormat::Human, &e),
            human.replace("duration_ms=12.500", "duration_ms=12.5")
        );
        let ours: serde_json::Value =
            serde_json::from_str(&line(LogFormat::Json, &e)).expect("JSON");
        let theirs: serde_json::Value =
            serde_json::from_str(&through_tracing(LogFormat::Json, &e)).expect("JSON");
        assert_eq!(ours, theirs);
    }

    #[test]
    fn json_line_escapes_what_the_client_sent() {
        let text = line(LogFormat::Json, &entry("a\"b\\c"));
        assert!(text.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
        assert_eq!(
            v,
            serde_json::json!({
                "timestamp": "2026-11-24T05:18:59.035476Z",
                "level": "INFO",
                "fields": {
                    "message": "request",
                    "request_id": "a\"b\\c",
                    "method": "POST",
                    "path": "/v1/chat/completions",
                    "status": 200,
                    "provider": "openai",
                    "model": "gpt-4o-mini",
                    "attempts": "1",
                    "duration_ms": 12.034
                },
                "target": "switchyard::app"
            })
        );
    }

    #[test]
    fn the_cached_second_changes_with_the_clock() {
        let mut out = Vec::new();
        timestamp(&mut out, at());
        out.push(b' ');
        timestamp(&mut out, at() + Duration::from_secs(86_400 + 1));
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "2026-11-24T05:18:59.035476Z 2026-11-25T05:19:00.035476Z"
        );
    }

    #[test]
    fn durations_keep_three_decimals() {
        let mut out = Vec::new();
        millis(&mut out, Duration::from_micros(7));
        out.push(b' ');
        millis(&mut out, Duration::from_secs(2));
        assert_eq!(String::from_utf8(out).expect("utf-8"), "0.007 2000.000");
    }
}
