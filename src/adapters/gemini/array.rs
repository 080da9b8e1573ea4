//! Splits the JSON-array form of Gemini's stream (`streamGenerateContent` without
//! `alt=sse`: `[{…}\n,\r\n{…}\n]`, shared/reference/providers.md §4.1) into its
//! elements as each one completes, however the bytes were cut on the way.
//!
//! A small state machine over one buffer: outside an element it skips whitespace and
//! commas; inside one it scans only bytes it has not scanned before, tracking string,
//! escape and brace depth, and hands the element out when its closing brace arrives.

use bytes::{Buf, BytesMut};

use crate::error::UpstreamError;

/// Incremental reader of one top-level JSON array of objects.
#[derive(Debug, Default)]
pub(super) struct JsonArray {
    buf: BytesMut,
    state: State,
    /// Bytes at the front of `buf` already scanned: all inside the current element.
    scanned: usize,
    /// Open braces and brackets of the current element.
    depth: u32,
    in_string: bool,
    /// The previous byte was a backslash inside a string.
    escaped: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `[`.
    #[default]
    Open,
    /// After `[` or an element: whitespace, a comma, the next `{` or the closing `]`.
    Between,
    /// Inside an element.
    Element,
    /// After the closing `]`: nothing more to read.
    Closed,
}

impl JsonArray {
    /// Appends bytes read from the wire.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if self.state != State::Closed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next complete element, or `None` until more bytes arrive. Errs on bytes
    /// that cannot be part of an array of objects.
    pub(super) fn next_element(&mut self) -> Result<Option<BytesMut>, UpstreamError> {
        loop {
            match self.state {
                State::Element => return Ok(self.scan()),
                State::Closed => {
                    self.buf.clear();
                    return Ok(None);
                }
                State::Open | State::Between => {
                    let between = self.state == State::Between;
                    let skip = self
                        .buf
                        .iter()
                        .take_while(|&&b| b.is_ascii_whitespace() || (between && b == b','))
                        .count();
                    self.buf.advance(skip);
                    let Some(&b) = self.buf.first() else {
                        return Ok(None);
                    };
                    match (self.state, b) {
                        (State::Open, b'[') => {
                            self.buf.advance(1);
                            self.state = State::Between;
                        }
                        (State::Between, b']') => {
                            self.buf.advance(1);
                            self.state = State::Closed;
                        }
                        (State::Between, b'{') => {
                            self.state = State::Element;
                            self.scanned = 0;
                            self.depth = 0;
                        }
                        _ => {
                            return Err(UpstreamError::bad_response(format!(
                                "unexpected {:?} in the stream's JSON array",
                                char::from(b)
                            )));
                        }
                    }
                }
            }
        }
    }

    /// Scans the current element's new bytes; the whole element once it is complete.
    fn scan(&mut self) -> Option<BytesMut> {
        let mut end = None;
        for i in self.scanned..self.buf.len() {
            let b = self.buf[i];
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        end = Some(i + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            self.scanned = self.buf.len();
            return None;
        };
        self.scanned = 0;
        self.state = State::Between;
        Some(self.buf.split_to(end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element of `input` fed in `piece`-byte slices, as strings.
    fn elements(input: &str, piece: usize) -> Result<(Vec<String>, bool), UpstreamError> {
        let mut a = JsonArray::default();
        let mut out = Vec::new();
        for p in input.as_bytes().chunks(piece) {
            a.push(p);
            while let Some(e) = a.next_element()? {
                out.push(String::from_utf8(e.to_vec()).unwrap());
            }
        }
        Ok((out, a.state == State::Closed))
    }

    #[test]
    fn elements_split_anywhere_with_braces_and_escapes_inside_strings() {
        let first = r#"{"text": "a } and a \" and a \\"}"#;
        let second = r#"{"nested": {"list": [1, {"b": "]["}]}}"#;
        let input = format!(" \r\n[{first}\n,\r\n{second}\n]\n");
        for piece in 1..=input.len() {
            let (got, closed) = elements(&input, piece).unwrap();
            assert_eq!(got, vec![first, second], "piece {piece}");
            assert!(closed, "piece {piece}");
        }
    }

    #[test]
    fn an_unfinished_element_is_held_back() {
        let (got, closed) = elements(r#"[{"a": 1},{"b": "#, 4).unwrap();
        assert_eq!(got, vec![r#"{"a": 1}"#]);
        assert!(!closed);
    }

    #[test]
    fn bytes_that_are_not_an_array_of_objects_are_a_bad_response() {
        for bad in ["{\"a\": 1}", "[1, 2]", "[{\"a\": 1} x]"] {
            assert!(elements(bad, 3).is_err(), "{bad}");
        }
    }
}
