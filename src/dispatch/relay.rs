//! Relays one upstream stream to one client as OpenAI SSE, chunk by chunk.
//!
//! [`RelayStream::open`] waits for the first canonical event, so that anything failing
//! before it (bad status, empty or garbage stream, first-byte timeout) is an ordinary
//! failed attempt the dispatcher can fail over from. After that the client has bytes:
//! a failure ends the stream with an OpenAI-style error event and no `[DONE]`.
//! Dropping the stream (the client hung up) drops the upstream response, which closes
//! the upstream connection (HTTP/1.1) or resets the upstream stream (HTTP/2). With
//! `[streaming.rechunk]` on, events pass through a [`Rechunker`] on their way to the
//! encoder, and the relay also wakes at its deadline. A relay either writes the client's
//! bytes itself ([`RelayStream::into_sse`]) or only feeds an [`EventSink`]
//! ([`RelayStream::drive`]), whose readers encode the events themselves.

use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use super::rechunk::Rechunker;
use crate::adapters::StreamDecoder;
use crate::canonical::stream::write_event;
use crate::canonical::usage::estimate_tokens;
use crate::canonical::{ChatRequest, ChunkEncoder, StreamEvent, Usage};
use crate::config::ModelConfig;
use crate::config::RechunkConfig;
use crate::error::{ErrorClass, GatewayError, UpstreamError};

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Receives a copy of every canonical event a relay sends and how its stream ended:
/// the tee through which coalesced clients share one upstream stream (`crate::cache`).
/// Called inline on the relay's path, so implementations must not block.
pub trait EventSink: Send {
    /// One event, in stream order.
    fn event(&mut self, event: &StreamEvent);
    /// The stream ended: with its final usage, or with the error sent to the client.
    fn end(&mut self, result: Result<Usage, &UpstreamError>);
}

/// A client stream in progress.
pub struct RelayStream {
    body: ByteStream,
    decoder: Box<dyn StreamDecoder>,
    /// Writes the client's chunks; `None` when the relay only feeds its sink.
    encoder: Option<ChunkEncoder>,
    model: Arc<str>,
    include_usage: bool,
    /// The provider's latest usage report.
    reported: Option<Usage>,
    /// Decoded events not yet through the rechunker.
    pending: Vec<StreamEvent>,
    rechunker: Option<Rechunker>,
    /// Events ready for the encoder.
    ready: Vec<StreamEvent>,
    /// Characters of output seen, to estimate usage if the provider reports none.
    output_chars: usize,
    prompt_estimate: u64,
    done: bool,
    provider: Arc<str>,
    reporter: Option<super::Reporter>,
    ttft: Option<std::time::Duration>,
    sink: Option<Box<dyn EventSink>>,
    /// Who is billed, for the cost metric (`-` until [`RelayStream::with_tenant`]).
    tenant: Option<Arc<str>>,
    _open: crate::metrics::OpenStream,
    /// Finished when the stream ends, fails, or is dropped (client gone).
    usage: Option<crate::usage::Ticket>,
}

impl RelayStream {
    /// Reads until the first event. Errs (for failover) if none arrives.
    pub async fn open(
        resp: reqwest::Response,
        mut decoder: Box<dyn StreamDecoder>,
        model: &Arc<ModelConfig>,
        req: &ChatRequest,
    ) -> Result<Self, UpstreamError> {
        let mut body: ByteStream = Box::pin(resp.bytes_stream());
        let mut pending = Vec::new();
        let first_byte = model.provider.first_byte_timeout;
        while pending.is_empty() {
            match tokio::time::timeout(first_byte, body.next()).await {
                Err(_) => {
                    return Err(UpstreamError::new(
                        ErrorClass::Timeout,
                        "no stream event before the first-byte timeout",
                    ));
                }
                Ok(Some(Ok(bytes))) => decoder.decode(&bytes, &mut pending)?,
                Ok(Some(Err(e))) => return Err(crate::upstream::classify(&e)),
                Ok(None) => {
                    decoder.finish(&mut pending)?;
                    if pending.is_empty() {
                        return Err(UpstreamError::bad_response("the stream was empty"));
                    }
                }
            }
        }
        let prompt_estimate = req
            .messages
            .iter()
            .map(|m| estimate_tokens(&m.text()) + 3)
            .sum();
        Ok(Self {
            body,
            decoder,
            encoder: None,
            model: model.name.clone(),
            include_usage: req.include_usage(),
            reported: None,
            pending,
            rechunker: None,
            ready: Vec::new(),
            output_chars: 0,
            prompt_estimate,
            done: false,
            provider: model.provider.name.clone(),
            reporter: None,
            ttft: None,
            sink: None,
            tenant: None,
            _open: crate::metrics::OpenStream::start(),
            usage: None,
        })
    }

    /// Attaches the attempt's reporter: the time to the first event is taken now, the
    /// outcome is reported when the stream ends.
    pub fn with_reporter(mut self, reporter: super::Reporter) -> Self {
        self.ttft = Some(reporter.elapsed());
        self.reporter = Some(reporter);
        self
    }

    /// Re-chunks text deltas (`[streaming.rechunk]`); `None` relays them as they came.
    pub fn with_rechunk(mut self, config: Option<RechunkConfig>) -> Self {
        self.rechunker = config.map(Rechunker::new);
        self
    }

    /// Names the tenant the stream's cost is recorded under.
    pub fn with_tenant(mut self: Box<Self>, tenant: Arc<str>) -> Box<Self> {
        self.tenant = Some(tenant);
        self
    }

    /// Attaches the request's usage ticket, finished when the stream ends.
    pub fn with_usage(mut self: Box<Self>, ticket: Option<crate::usage::Ticket>) -> Box<Self> {
        self.usage = ticket;
        self
    }

    /// The OpenAI SSE bytes, as a stream the HTTP layer can send. The relay stays in
    /// its box (boxed by the dispatcher): a stream's state is held by every open
    /// stream for its whole life, so it is not copied into the stream future too.
    pub fn into_sse(mut self: Box<Self>) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
        self.encoder = Some(ChunkEncoder::new(&self.model, self.include_usage));
        futures_util::stream::unfold(self, |mut s| async move {
            s.next_bytes().await.map(|b| (Ok(b), s))
        })
    }

    /// Reads the stream to its end, handing every event (and the end) to `sink` and
    /// encoding nothing: the sink's readers write their own chunks. Ends early when
    /// the future is dropped.
    pub async fn drive(mut self: Box<Self>, sink: Box<dyn EventSink>) {
        self.sink = Some(sink);
        while self.next_bytes().await.is_some() {}
    }

    /// The next bytes for the client, or `None` at the end.
    async fn next_bytes(&mut self) -> Option<Bytes> {
        let mut out = BytesMut::new();
        loop {
            self.route_pending();
            if !self.ready.is_empty() {
                // Sized for the batch up front; reserved only now, not while
                // waiting for bytes.
                if self.encoder.is_some() {
                    out.reserve(self.ready.len() * ChunkEncoder::BYTES_PER_EVENT_HINT);
                }
                self.emit_ready(&mut out);
                return Some(out.freeze());
            }
            if self.done {
                return None;
            }
            let deadline = self.rechunker.as_ref().and_then(Rechunker::deadline);
            let next = match deadline {
                // `next()` on the body is cancel-safe: losing the race loses no bytes.
                Some(at) => tokio::select! {
                    biased;
                    item = self.body.next() => Some(item),
                    () = tokio::time::sleep_until(at) => None,
                },
                None => Some(self.body.next().await),
            };
            match next {
                None => {
                    if let Some(r) = self.rechunker.as_mut() {
                        r.flush_due(Instant::now(), &mut self.ready);
                    }
                }
                Some(Some(Ok(bytes))) => {
                    if let Err(e) = self.decoder.decode(&bytes, &mut self.pending) {
                        self.fail(e, &mut out);
                        return Some(out.freeze());
                    }
                }
                Some(Some(Err(e))) => {
                    self.fail(crate::upstream::classify(&e), &mut out);
                    return Some(out.freeze());
                }
                Some(None) => {
                    self.done = true;
                    match self.decoder.finish(&mut self.pending) {
                        Ok(()) => {
                            self.route_pending();
                            if let Some(r) = self.rechunker.as_mut() {
                                r.flush(&mut self.ready);
                            }
                            self.emit_ready(&mut out);
                            let fallback = self.estimated_usage();
                            if let Some(encoder) = &mut self.encoder {
                                encoder.finish(fallback, &mut out);
                            }
                            let usage = self.reported.unwrap_or(fallback);
                            if let Some(sink) = &mut self.sink {
                                sink.end(Ok(usage));
                            }
                            if let Some(r) = self.reporter.take() {
                                let tenant = self.tenant.as_deref().unwrap_or(crate::metrics::NONE);
                                crate::metrics::record_usage(&r.model, tenant, &usage);
                                r.succeeded(self.ttft, Some(usage.completion_tokens));
                            }
                            if let Some(t) = self.usage.take() {
                                t.finish(&usage, 200, self.ttft);
                            }
                        }
                        Err(e) => self.fail(e, &mut out),
                    }
                    return Some(out.freeze());
                }
            }
        }
    }

    /// Moves decoded events to `ready`, through the rechunker when it is on.
    fn route_pending(&mut self) {
        match self.rechunker.as_mut() {
            None => self.ready.append(&mut self.pending),
            Some(r) => {
                let now = Instant::now();
                for ev in self.pending.drain(..) {
                    r.push(ev, now, &mut self.ready);
                }
            }
        }
    }

    /// Hands the ready events to the sink and the encoder.
    fn emit_ready(&mut self, out: &mut BytesMut) {
        for ev in self.ready.drain(..) {
            match &ev {
                StreamEvent::Text(t) | StreamEvent::Reasoning(t) => self.output_chars += t.len(),
                StreamEvent::Usage(u) => self.reported = Some(*u),
                _ => {}
            }
            if let Some(sink) = &mut self.sink {
                sink.event(&ev);
            }
            if let Some(encoder) = &mut self.encoder {
                encoder.push(&ev, out);
            }
        }
    }

    fn estimated_usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_estimate,
            completion_tokens: (self.output_chars as u64).div_ceil(4),
            estimated: true,
            ..Usage::default()
        }
    }

    /// Ends the stream with an OpenAI-style error event (and no `[DONE]`).
    fn fail(&mut self, mut e: UpstreamError, out: &mut BytesMut) {
        self.done = true;
        self.pending.clear();
        self.ready.clear();
        if let Some(r) = self.rechunker.as_mut() {
            r.discard();
        }
        e.provider = self.provider.to_string();
        tracing::warn!(provider = %self.provider, error = e.class.kind(), "stream failed mid-way");
        if let Some(r) = self.reporter.take() {
            e = r.failed(e);
        }
        if let Some(sink) = &mut self.sink {
            sink.end(Err(&e));
        }
        let error = GatewayError::Upstream(e);
        if let Some(t) = self.usage.take() {
            let usage = self.reported.unwrap_or(self.estimated_usage());
            t.finish(
                &usage,
                actix_web::ResponseError::status_code(&error).as_u16(),
                self.ttft,
            );
        }
        write_event(out, &error.body());
    }
}

/// The client went away mid-stream: the tokens sent so far are estimated and recorded.
impl Drop for RelayStream {
    fn drop(&mut self) {
        if let Some(t) = self.usage.take() {
            let usage = self.reported.unwrap_or(self.estimated_usage());
            t.finish(&usage, crate::usage::STATUS_CLIENT_CLOSED, self.ttft);
        }
    }
}
