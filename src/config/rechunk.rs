//! `[streaming.rechunk]`: how streamed text is re-chunked for the client (the
//! re-chunker itself is `dispatch::rechunk`).

use std::time::Duration;

/// Default `coalesce_ms`: below what a reader notices, above the gap between tokens of
/// a fast model (a few ms), so token-per-event streams become a few chunks per window.
pub const DEFAULT_COALESCE_MS: u64 = 20;

/// Default `max_chunk_chars`: a couple of lines of text, so a provider that sends whole
/// paragraphs still renders progressively.
pub const DEFAULT_MAX_CHUNK_CHARS: usize = 200;

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
