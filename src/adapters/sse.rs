//! A tolerant Server-Sent Events reader shared by every stream decoder.
//!
//! Accepts `\n`, `\r\n` and `\r` line endings (Gemini separates events with
//! `\r\n\r\n`), skips `:` comments (DeepSeek's `: keep-alive`), strips one optional space
//! after the colon (DashScope sends `data:{…}`), and joins multi-line `data`. Bytes are
//! buffered until an event is complete, so a frame split across TCP reads is never
//! parsed half-way.

use bytes::{Buf, BytesMut};

/// One complete SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name, if any.
    pub event: Option<String>,
    /// The joined `data:` lines.
    pub data: String,
}

/// Incremental SSE parser.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: BytesMut,
    event: Option<String>,
    data: String,
    has_data: bool,
    at_eof: bool,
}

impl SseParser {
    /// A parser with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the wire.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Marks the end of input: a final event without its blank line is still delivered.
    pub fn close(&mut self) {
        self.at_eof = true;
    }

    /// Whether bytes that do not form a complete line remain buffered.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next complete event, or `None` until more bytes arrive.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let Some((len, term)) = self.line_end() else {
                if self.at_eof {
                    if !self.buf.is_empty() {
                        let rest = self.buf.split();
                        self.field(&rest);
                    }
                    return self.dispatch();
                }
                return None;
            };
            let line = self.buf.split_to(len);
            self.buf.advance(term);
            if line.is_empty() {
                if let Some(ev) = self.dispatch() {
                    return Some(ev);
                }
                continue;
            }
            self.field(&line);
        }
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if !self.has_data && self.event.is_none() {
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event: self.event.take(),
            data: std::mem::take(&mut self.data),
        })
    }

    fn field(&mut self, line: &[u8]) {
        if line.first() == Some(&b':') {
            return; // comment
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        // Valid UTF-8 is the rule: check it with the fast validator and fall back to
        // the lossy conversion only for broken bytes.
        let value = match std::str::from_utf8(value) {
            Ok(v) => std::borrow::Cow::Borrowed(v),
            Err(_) => String::from_utf8_lossy(value),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            _ => {} // id, retry and unknown fields carry nothing we use
        }
    }

    /// `(line length, terminator length)` of the first complete line.
    fn line_end(&self) -> Option<(usize, usize)> {
        // memchr scans a word (or a vector) at a time; a byte-wise scan for line ends
        // was a sixth of a stream chunk's cost.
        let i = memchr::memchr2(b'\n', b'\r', &self.buf)?;
        if self.buf[i] == b'\n' {
            return Some((i, 1));
        }
        match self.buf.get(i + 1) {
            Some(b'\n') => Some((i, 2)),
            Some(_) => Some((i, 1)),
            // A lone `\r` at the end may be the first half of `\r\n`: wait, unless at EOF.
            None if self.at_eof => Some((i, 1)),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for part in input {
            p.push(part);
            while let Some(e) = p.next_event() {
                out.push(e);
            }
        }
        p.close();
        while let Some(e) = p.next_event() {
            out.push(e);
        }
        out
    }

    #[test]
    fn crlf_separated_events_split_anywhere() {
        let text = b"data: {\"a\":1}\r\n\r\ndata: {\"a\":2}\r\n\r\n";
        for cut in 0..text.len() {
            let ev = all(&[&text[..cut], &text[cut..]]);
            assert_eq!(ev.len(), 2, "cut at {cut}");
            assert_eq!(ev[1].data, "{\"a\":2}");
        }
    }

    #[test]
    fn comments_names_and_no_space_after_colon() {
        let ev = all(&[b": keep-alive\n\nevent: ping\ndata:{\"type\": \"ping\"}\n\n"]);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].event.as_deref(), Some("ping"));
        assert_eq!(ev[0].data, "{\"type\": \"ping\"}");
    }

    #[test]
    fn multi_line_data_joins_and_eof_flushes() {
        let ev = all(&[b"data: a\ndata: b\n\ndata: tail"]);
        assert_eq!(ev[0].data, "a\nb");
        assert_eq!(ev[1].data, "tail");
    }
}
