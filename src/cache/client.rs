//! One client's answer stream: canonical events through the client's own encoder
//! (a [`ChunkEncoder`] for OpenAI chunks, a [`MessagesEncoder`] for Anthropic's event
//! stream: whichever API the request arrived in) into SSE bytes, and the client's
//! usage ticket finished when its answer ends. Both stream paths use it alike: a relay
//! the client reads alone (the cache bypassed) and a flight whose events several
//! clients share.

use actix_web::http::StatusCode;
use bytes::{Bytes, BytesMut};

use crate::canonical::stream::write_event;
use crate::canonical::{ChatResponse, ChunkEncoder, StreamEvent, Usage};
use crate::dispatch::Failed;
use crate::dispatch::relay::EventSink;
use crate::error::{ErrorBody, ErrorDetail, GatewayError, UpstreamError};
use crate::inbound::Api;
use crate::inbound::messages::{self, MessagesEncoder};
use crate::usage::{CacheStatus, STATUS_CLIENT_CLOSED, Ticket};

use super::answer;
use super::flight::Head;

/// A client's usage ticket and how the cache answered it.
pub struct Record {
    pub ticket: Ticket,
    pub status: CacheStatus,
    pub head: Head,
}

impl Record {
    /// The answer is complete: a request that went upstream pays the provider; a hit
    /// or a coalesced answer records zero provider cost and the cost it saved.
    pub fn finish(mut self, usage: &Usage) {
        if self.status.went_upstream() {
            self.ticket
                .set_answered(&self.head.model, self.head.attempts);
            self.ticket.set_cache(self.status);
            self.ticket.finish(usage, 200);
        } else {
            self.ticket.cache_hit(&self.head.model, usage, self.status);
        }
    }

    /// The answer ended with `status` after `usage` of it was streamed (a failure
    /// mid-stream, the client hanging up, the gateway stopping). A hit or a coalesced
    /// answer made no upstream attempt of its own, as in [`Record::finish`].
    fn end_early(mut self, usage: &Usage, status: u16) {
        let attempts = if self.status.went_upstream() {
            self.head.attempts
        } else {
            0
        };
        self.ticket.set_answered(&self.head.model, attempts);
        self.ticket.set_cache(self.status);
        self.ticket.finish(usage, status);
    }
}

/// The encoder of the client's API.
enum Encoder {
    Chat(ChunkEncoder),
    Messages(MessagesEncoder),
}

impl Encoder {
    fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        match self {
            Self::Chat(e) => e.push(ev, out),
            Self::Messages(e) => e.push(ev, out),
        }
    }

    fn finish(&mut self, usage: Usage, out: &mut BytesMut) {
        match self {
            Self::Chat(e) => e.finish(usage, out),
            Self::Messages(e) => e.finish(usage, out),
        }
    }

    fn usage(&self) -> Option<Usage> {
        match self {
            Self::Chat(e) => e.usage(),
            Self::Messages(e) => e.usage(),
        }
    }

    fn is_started(&self) -> bool {
        match self {
            Self::Chat(e) => e.is_started(),
            Self::Messages(e) => e.is_started(),
        }
    }

    fn bytes_per_event(&self) -> usize {
        match self {
            Self::Chat(_) => ChunkEncoder::BYTES_PER_EVENT_HINT,
            Self::Messages(_) => MessagesEncoder::BYTES_PER_EVENT_HINT,
        }
    }

    /// The error event that ends a failed stream: `error` (`None`: the gateway is
    /// stopping) in the client API's shape.
    fn write_error(&self, error: Option<&GatewayError>, out: &mut BytesMut) {
        match (self, error) {
            (Self::Chat(_), Some(e)) => write_event(out, &e.body()),
            (Self::Chat(_), None) => write_event(out, &shutting_down_body()),
            (Self::Messages(_), Some(e)) => {
                let (_, kind) = messages::error::status_and_type(e);
                messages::error::write_event(out, kind, &e.to_string());
            }
            (Self::Messages(_), None) => {
                messages::error::write_event(out, "overloaded_error", SHUTTING_DOWN);
            }
        }
    }
}

const SHUTTING_DOWN: &str = "the gateway is shutting down";

fn shutting_down_body() -> ErrorBody<'static> {
    ErrorBody {
        error: ErrorDetail {
            message: SHUTTING_DOWN.to_owned(),
            kind: "server_error",
            param: None,
            code: Some("shutting_down"),
        },
    }
}

/// One client's encoder and ticket. Its bytes are taken after each batch.
pub struct ClientStream {
    encoder: Encoder,
    record: Option<Record>,
    out: BytesMut,
    /// Characters of output sent, to estimate usage if the answer ends early.
    output_chars: usize,
    /// The request's prompt-token estimate, for the same.
    prompt_estimate: u64,
    /// The answer's end (`[DONE]` or an error event) has been written.
    ended: bool,
}

impl ClientStream {
    /// A stream of `model`'s answer in `api`'s format; `record` is finished when it ends.
    pub fn new(
        model: &str,
        api: Api,
        include_usage: bool,
        prompt_estimate: u64,
        record: Option<Record>,
    ) -> Self {
        let encoder = match api {
            Api::ChatCompletions => Encoder::Chat(ChunkEncoder::new(model, include_usage)),
            Api::Messages => Encoder::Messages(MessagesEncoder::new(model, prompt_estimate)),
        };
        Self {
            encoder,
            record,
            out: BytesMut::new(),
            output_chars: 0,
            prompt_estimate,
            ended: false,
        }
    }

    /// The bytes written since the last call.
    pub fn take(&mut self) -> Bytes {
        self.out.split().freeze()
    }

    /// Writes a batch of events.
    pub fn events(&mut self, events: &[StreamEvent]) {
        // Sized for the batch up front; reserved only now, not while waiting.
        self.out
            .reserve(events.len() * self.encoder.bytes_per_event());
        for ev in events {
            self.push(ev);
        }
    }

    fn push(&mut self, ev: &StreamEvent) {
        if let Some(r) = self.record.as_mut() {
            r.ticket.first_event();
        }
        if let StreamEvent::Text(t) | StreamEvent::Reasoning(t) = ev {
            self.output_chars += t.len();
        }
        self.encoder.push(ev, &mut self.out);
    }

    /// Ends the answer: the rest of a whole answer (`complete`, when the flight's
    /// answer came back in one piece), the usage chunk if asked for, `[DONE]`.
    pub fn done(&mut self, usage: Usage, complete: Option<&ChatResponse>) {
        if let Some(r) = complete {
            for ev in &answer::disassemble(r) {
                self.push(ev);
            }
        }
        self.encoder.finish(usage, &mut self.out);
        self.ended = true;
        if let Some(rec) = self.record.take() {
            rec.finish(&self.encoder.usage().unwrap_or(usage));
        }
    }

    /// Ends the answer with an error event in the client API's shape (and no
    /// `[DONE]` or `message_stop`). Before any event, the request failed outright;
    /// after some, what was streamed is billed.
    pub fn failed(&mut self, f: &Failed) {
        let status = actix_web::ResponseError::status_code(&f.error).as_u16();
        self.end_with_error(Some(&f.error), status, f.attempts);
    }

    /// The gateway is stopping: ends the answer with an error event saying so (and no
    /// `[DONE]`), billed as [`ClientStream::failed`] bills, under status 503. Nothing
    /// if the answer has already ended.
    pub fn shutting_down(&mut self) {
        if self.ended {
            return;
        }
        let attempts = self.record.as_ref().map_or(0, |r| r.head.attempts);
        self.end_with_error(None, StatusCode::SERVICE_UNAVAILABLE.as_u16(), attempts);
    }

    fn end_with_error(&mut self, error: Option<&GatewayError>, status: u16, attempts: u32) {
        self.encoder.write_error(error, &mut self.out);
        self.ended = true;
        let Some(rec) = self.record.take() else {
            return;
        };
        if self.encoder.is_started() {
            rec.end_early(&self.streamed_usage(), status);
        } else {
            rec.ticket.failed(status, attempts);
        }
    }

    /// What the client has been sent: the provider's report if one came, else an
    /// estimate from the prompt and the output characters.
    fn streamed_usage(&self) -> Usage {
        self.encoder.usage().unwrap_or(Usage {
            prompt_tokens: self.prompt_estimate,
            completion_tokens: (self.output_chars as u64).div_ceil(4),
            estimated: true,
            ..Usage::default()
        })
    }
}

/// A relay the client reads alone writes straight into the client's encoder.
impl EventSink for ClientStream {
    fn event(&mut self, event: &StreamEvent) {
        self.push(event);
    }

    fn end(&mut self, result: Result<Usage, &UpstreamError>) {
        match result {
            Ok(usage) => self.done(usage, None),
            Err(e) => {
                let attempts = self.record.as_ref().map_or(0, |r| r.head.attempts);
                self.failed(&Failed {
                    error: GatewayError::Upstream(e.clone()),
                    attempts,
                });
            }
        }
    }
}

/// The client went away mid-answer: what it was sent is estimated and recorded.
impl Drop for ClientStream {
    fn drop(&mut self) {
        if let Some(rec) = self.record.take() {
            let usage = self.streamed_usage();
            rec.end_early(&usage, STATUS_CLIENT_CLOSED);
        }
    }
}
