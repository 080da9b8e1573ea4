//! `[streaming.rechunk]`: how streamed text is re-chunked for the client, and the
//! checks on it (the re-chunker itself is `dispatch::rechunk`).

use std::time::Duration;

use super::raw::RawStreaming;
use super::{ConfigError, invalid};

/// Default `coalesce_ms`: below what a reader notices, above the gap between tokens of
/// a fast model (a few ms), so token-per-event streams become a few chunks per window.
pub const DEFAULT_COALESCE_MS: u64 = 20;

/// Default `max_chunk_chars`: a couple of lines of text, so a provider that sends whole
/// paragraphs still renders progressively.
pub const DEFAULT_MAX_CHUNK_CHARS: usize = 200;

/// Longest `coalesce_ms`: joining deltas for longer than a second stalls a stream.
const MAX_COALESCE_MS: u64 = 1000;

/// Re-chunking settings (validated: `max_chunk_chars > 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RechunkConfig {
    /// Text deltas arriving within this window of the first held one are joined.
    /// Zero joins nothing (only splitting applies).
    pub coalesce: Duration,
    /// Longest text chunk sent to the client, in characters (Unicode scalar values).
    pub max_chunk_chars: usize,
}

impl Default for RechunkConfig {
    fn default() -> Self {
        Self {
            coalesce: Duration::from_millis(DEFAULT_COALESCE_MS),
            max_chunk_chars: DEFAULT_MAX_CHUNK_CHARS,
        }
    }
}

/// Checks `[streaming]`: `None` when re-chunking is off (no `rechunk` table).
pub(super) fn validate(raw: &RawStreaming) -> Result<Option<RechunkConfig>, ConfigError> {
    let Some(raw) = &raw.rechunk else {
        return Ok(None);
    };
    let coalesce_ms = raw.coalesce_ms.unwrap_or(DEFAULT_COALESCE_MS);
    if coalesce_ms > MAX_COALESCE_MS {
        return Err(invalid(
            "streaming.rechunk.coalesce_ms",
            format!("expected at most {MAX_COALESCE_MS}"),
        ));
    }
    let max_chunk_chars = raw.max_chunk_chars.unwrap_or(DEFAULT_MAX_CHUNK_CHARS);
    if max_chunk_chars == 0 {
        return Err(invalid(
            "streaming.rechunk.max_chunk_chars",
            "expected a number > 0",
        ));
    }
    Ok(Some(RechunkConfig {
        coalesce: Duration::from_millis(coalesce_ms),
        max_chunk_chars,
    }))
}
