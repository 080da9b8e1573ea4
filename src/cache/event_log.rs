//! The events of a flight, stored compactly.
//!
//! A flight keeps every event of its answer for as long as the answer is streaming
//! (late joiners replay it) and, once stored, for the cache's TTL. Nearly all events
//! are text deltas of a few bytes, and as `Vec<StreamEvent>` each cost ~110 bytes (a
//! 56-byte enum with the vector's growth slack, plus its own string allocation), so a
//! 1,000-token stream held ~110 KiB. Here the text of every text, reasoning and
//! tool-argument delta goes back to back into one string, and each event is a 12-byte
//! entry saying where its text ends; the rare events without text to share (tool-call
//! starts, finish, usage) stay whole, apart. Readers get `StreamEvent`s back.

use std::mem::size_of;

use crate::canonical::StreamEvent;

/// Append-only; read from any position.
#[derive(Debug, Default)]
pub struct EventLog {
    /// The text of every text-bearing event, back to back.
    text: String,
    /// One per event, in order.
    entries: Vec<Entry>,
    /// The events kept whole, in order; `Entry::Whole` points here.
    whole: Vec<StreamEvent>,
}

/// One event: where its text ends in `EventLog::text` (it starts where the previous
/// text-bearing entry's ends), or which whole event it is.
#[derive(Debug, Clone, Copy)]
enum Entry {
    Text { end: u32 },
    Reasoning { end: u32 },
    ToolCallArgs { index: u32, end: u32 },
    Whole(u32),
}

impl Entry {
    fn text_end(self) -> Option<usize> {
        match self {
            Entry::Text { end } | Entry::Reasoning { end } | Entry::ToolCallArgs { end, .. } => {
                Some(end as usize)
            }
            Entry::Whole(_) => None,
        }
    }
}

impl EventLog {
    /// Events so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends one event.
    pub fn push(&mut self, event: StreamEvent) {
        // Offsets are u32: a log past 4 GiB of text (no model writes that much) keeps
        // further events whole rather than wrap.
        let end = |text: &str, add: &str| u32::try_from(text.len() + add.len()).ok();
        let entry = match &event {
            StreamEvent::Text(t) => end(&self.text, t).map(|end| {
                self.text.push_str(t);
                Entry::Text { end }
            }),
            StreamEvent::Reasoning(t) => end(&self.text, t).map(|end| {
                self.text.push_str(t);
                Entry::Reasoning { end }
            }),
            StreamEvent::ToolCallArgs { index, arguments } => {
                end(&self.text, arguments).map(|end| {
                    self.text.push_str(arguments);
                    Entry::ToolCallArgs { index: *index, end }
                })
            }
            _ => None,
        };
        let entry = match (entry, u32::try_from(self.whole.len())) {
            (Some(e), _) => e,
            (None, Ok(i)) => {
                self.whole.push(event);
                Entry::Whole(i)
            }
            // Four billion whole events: not reachable; drop rather than panic.
            (None, Err(_)) => return,
        };
        self.entries.push(entry);
    }

    /// The events from position `from` on (none if `from` is past the end).
    pub fn read_from(&self, from: usize) -> Vec<StreamEvent> {
        let Some(entries) = self.entries.get(from..) else {
            return Vec::new();
        };
        // Where the first entry's text starts: the end of the last text before it.
        let mut start = self.entries[..from]
            .iter()
            .rev()
            .find_map(|e| e.text_end())
            .unwrap_or(0);
        let mut out = Vec::with_capacity(entries.len());
        for &entry in entries {
            let event = match entry.text_end() {
                Some(end) => {
                    let t = self.text.get(start..end).unwrap_or_default().to_owned();
                    start = end;
                    match entry {
                        Entry::Reasoning { .. } => StreamEvent::Reasoning(t),
                        Entry::ToolCallArgs { index, .. } => StreamEvent::ToolCallArgs {
                            index,
                            arguments: t,
                        },
                        _ => StreamEvent::Text(t),
                    }
                }
                None => match entry {
                    Entry::Whole(i) => match self.whole.get(i as usize) {
                        Some(e) => e.clone(),
                        None => continue,
                    },
                    _ => continue,
                },
            };
            out.push(event);
        }
        out
    }

    /// Every event.
    pub fn to_vec(&self) -> Vec<StreamEvent> {
        self.read_from(0)
    }

    /// Bytes held (what the cache's memory bound counts).
    pub fn bytes(&self) -> usize {
        self.text.len()
            + self.entries.len() * size_of::<Entry>()
            + super::answer::events_bytes(&self.whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{FinishReason, Usage};

    fn answer() -> Vec<StreamEvent> {
        vec![
            StreamEvent::Reasoning("Let me ".into()),
            StreamEvent::Reasoning("think.".into()),
            StreamEvent::Text("Héllo".into()),
            StreamEvent::Text("".into()),
            StreamEvent::Text(" wörld 🌍".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "get_weather".into(),
            },
            StreamEvent::ToolCallArgs {
                index: 0,
                arguments: "{\"city\":".into(),
            },
            StreamEvent::ToolCallArgs {
                index: 0,
                arguments: "\"Paris\"}".into(),
            },
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Usage(Usage {
                prompt_tokens: 11,
                completion_tokens: 7,
                ..Usage::default()
            }),
        ]
    }

    #[test]
    fn every_event_reads_back_as_it_went_in_from_any_position() {
        let events = answer();
        let mut log = EventLog::default();
        for e in events.iter().cloned() {
            log.push(e);
        }
        assert_eq!(log.len(), events.len());
        assert_eq!(log.to_vec(), events);
        for from in 0..=events.len() {
            assert_eq!(log.read_from(from), events[from..], "from {from}");
        }
        assert!(log.read_from(events.len() + 1).is_empty());
    }

    #[test]
    fn reads_between_appends_see_each_event_once() {
        let events = answer();
        let mut log = EventLog::default();
        let mut seen = Vec::new();
        for e in events.iter().cloned() {
            log.push(e);
            seen.extend(log.read_from(seen.len()));
        }
        assert_eq!(seen, events);
    }

    #[test]
    fn a_text_delta_costs_its_bytes_and_one_small_entry() {
        let mut log = EventLog::default();
        for _ in 0..1_000 {
            log.push(StreamEvent::Text(" word".into()));
        }
        assert_eq!(log.bytes(), 1_000 * (5 + size_of::<Entry>()));
        assert!(size_of::<Entry>() <= 12);
    }
}
