//! Optional re-chunking of relayed streams (`[streaming.rechunk]`), so streaming UIs
//! behave the same whichever provider answers: one provider sends a token per event,
//! another a sentence per event.
//!
//! [`Rechunker`] is a pure state machine over canonical [`StreamEvent`]s with the clock
//! passed in. Text deltas (answer and reasoning, each on its own) are held and joined
//! while they arrive within `coalesce` of the first held one, and cut into pieces of at
//! most `max_chunk_chars` characters. What it never does: delay the first text delta
//! (it goes out at once, split if long), hold anything past the window (the relay
//! flushes at [`Rechunker::deadline`]), delay a finish or usage event (they flush the
//! held text and pass straight through), or touch tool-call deltas (they flush the held
//! text and pass through unchanged, so a call's id, name and argument fragments arrive
//! as the provider sent them).

use tokio::time::Instant;

use crate::canonical::StreamEvent;
use crate::config::RechunkConfig;

/// Which kind of text is held: answers and reasoning are never joined together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextKind {
    Answer,
    Reasoning,
}

impl TextKind {
    fn event(self, text: String) -> StreamEvent {
        match self {
            Self::Answer => StreamEvent::Text(text),
            Self::Reasoning => StreamEvent::Reasoning(text),
        }
    }
}

/// Text held back, and since when.
#[derive(Debug)]
struct Held {
    kind: TextKind,
    text: String,
    since: Instant,
}

/// One stream's re-chunking state.
#[derive(Debug)]
pub struct Rechunker {
    config: RechunkConfig,
    held: Option<Held>,
    /// Whether a text delta has gone out (the first is never held).
    sent_text: bool,
}

impl Rechunker {
    /// A fresh state for one stream.
    pub fn new(mut config: RechunkConfig) -> Self {
        // Validation rejects 0; a zero here would never make progress splitting.
        config.max_chunk_chars = config.max_chunk_chars.max(1);
        Self {
            config,
            held: None,
            sent_text: false,
        }
    }

    /// Takes one event arriving at `now`; pushes what should go out now onto `out`.
    pub fn push(&mut self, event: StreamEvent, now: Instant, out: &mut Vec<StreamEvent>) {
        let (kind, text) = match event {
            StreamEvent::Text(t) => (TextKind::Answer, t),
            StreamEvent::Reasoning(t) => (TextKind::Reasoning, t),
            other => {
                self.flush(out);
                out.push(other);
                return;
            }
        };
        if text.is_empty() {
            return;
        }
        if !self.sent_text {
            self.sent_text = true;
            self.split_out(kind, &text, out);
            return;
        }
        if self.held.as_ref().is_some_and(|h| h.kind != kind) {
            self.flush(out);
        }
        let held = self.held.get_or_insert_with(|| Held {
            kind,
            text: String::new(),
            since: now,
        });
        held.text.push_str(&text);
        self.cut_full_chunks(out);
        self.flush_due(now, out);
    }

    /// When the held text must go out, if any is held.
    pub fn deadline(&self) -> Option<Instant> {
        self.held.as_ref().map(|h| h.since + self.config.coalesce)
    }

    /// Sends the held text if its window has passed at `now`.
    pub fn flush_due(&mut self, now: Instant, out: &mut Vec<StreamEvent>) {
        if self.deadline().is_some_and(|at| now >= at) {
            self.flush(out);
        }
    }

    /// Sends whatever is held (end of stream, or a non-text event).
    pub fn flush(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(h) = self.held.take() {
            self.split_out(h.kind, &h.text, out);
        }
    }

    /// Drops the held text (the stream failed).
    pub fn discard(&mut self) {
        self.held = None;
    }

    /// Sends full-size pieces of the held text at once; a shorter rest stays held.
    fn cut_full_chunks(&mut self, out: &mut Vec<StreamEvent>) {
        let max = self.config.max_chunk_chars;
        let Some(h) = self.held.as_mut() else {
            return;
        };
        while let Some((at, _)) = h.text.char_indices().nth(max) {
            let rest = h.text.split_off(at);
            out.push(h.kind.event(std::mem::replace(&mut h.text, rest)));
        }
        if h.text.chars().count() == max {
            let full = std::mem::take(&mut h.text);
            out.push(h.kind.event(full));
            self.held = None;
        }
    }

    /// Pushes `text` in pieces of at most `max_chunk_chars` characters.
    fn split_out(&self, kind: TextKind, text: &str, out: &mut Vec<StreamEvent>) {
        let mut rest = text;
        while !rest.is_empty() {
            let at = rest
                .char_indices()
                .nth(self.config.max_chunk_chars)
                .map_or(rest.len(), |(i, _)| i);
            let (piece, tail) = rest.split_at(at);
            out.push(kind.event(piece.to_owned()));
            rest = tail;
        }
    }
}

#[cfg(test)]
mod tests;
