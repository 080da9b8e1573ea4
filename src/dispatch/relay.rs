//! Reads one upstream stream into canonical events, batch by batch, and hands them to
//! an [`EventSink`]: the relay decodes and never encodes. Whoever reads the sink (one
//! client's encoder, or a flight that several clients share) writes the bytes.
//!
//! [`RelayStream::open`] waits for the first canonical event, so that anything failing
//! before it (bad status, empty or garbage stream, first-byte timeout) is an ordinary
//! failed attempt the dispatcher can fail over from. After that the client has bytes:
//! a failure ends the stream with the error handed to the sink (the client's encoder
//! writes an OpenAI-style error event and no `[DONE]`). Dropping the relay (the client hung up) drops the upstream response, which closes
//! the upstream connection (HTTP/1.1) or resets the upstream stream (HTTP/2). With
//! `[streaming.rechunk]` on, events pass through a [`Rechunker`] on their way to the
//! sink, and the relay also wakes at its deadline.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use super::rechunk::Rechunker;
use crate::adapters::StreamDecoder;
use crate::canonical::{StreamEvent, Usage};
use crate::config::{ModelConfig, RechunkConfig};
use crate::error::{ErrorClass, UpstreamError};

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Receives every canonical event a relay reads and how its stream ended: one client's
/// encoder, or the tee through which coalesced clients share one upstream stream
/// (`crate::cache`). Called inline on the relay's path, so implementations must not
/// block.
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
    /// The provider's latest usage report.
    reported: Option<Usage>,
    /// Decoded events not yet through the rechunker.
    pending: Vec<StreamEvent>,
    rechunker: Option<Rechunker>,
    /// Events ready for the sink.
    ready: Vec<StreamEvent>,
    /// Characters of output seen, to estimate usage if the provider reports none.
    output_chars: usize,
    prompt_estimate: u64,
    done: bool,
    provider: Arc<str>,
    reporter: Option<super::Reporter>,
    ttft: Option<std::time::Duration>,
    /// Who is billed, for the cost metric (`-` until [`RelayStream::with_tenant`]).
    tenant: Option<Arc<str>>,
    _open: crate::metrics::OpenStream,
}

impl RelayStream {
    /// Reads until the first event. Errs (for failover) if none arrives.
    /// `prompt_estimate` stands in for the prompt's tokens if the provider reports none.
    pub async fn open(
        resp: reqwest::Response,
        mut decoder: Box<dyn StreamDecoder>,
        model: &Arc<ModelConfig>,
        prompt_estimate: u64,
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
        Ok(Self {
            body,
            decoder,
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
            tenant: None,
            _open: crate::metrics::OpenStream::start(),
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

    /// Reads the stream to its end, handing every event (and the end) to `sink`. Ends
    /// early when the future is dropped.
    pub async fn drive(mut self: Box<Self>, mut sink: Box<dyn EventSink>) {
        while self.step(&mut *sink).await {}
    }

    /// Reads the next batch of events (or the end) into `sink`; `false` once the stream
    /// has ended and the sink has been told.
    pub async fn step(&mut self, sink: &mut dyn EventSink) -> bool {
        loop {
            self.route_pending();
            if !self.ready.is_empty() {
                self.emit_ready(sink);
                return true;
            }
            if self.done {
                return false;
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
                        self.fail(e, sink);
                        return true;
                    }
                }
                Some(Some(Err(e))) => {
                    self.fail(crate::upstream::classify(&e), sink);
                    return true;
                }
                Some(None) => {
                    self.finish(sink);
                    return true;
                }
            }
        }
    }

    /// The upstream body ended: the last events, then the end with the final usage.
    fn finish(&mut self, sink: &mut dyn EventSink) {
        self.done = true;
        if let Err(e) = self.decoder.finish(&mut self.pending) {
            return self.fail(e, sink);
        }
        self.route_pending();
        if let Some(r) = self.rechunker.as_mut() {
            r.flush(&mut self.ready);
        }
        self.emit_ready(sink);
        let usage = self.reported.unwrap_or(self.estimated_usage());
        sink.end(Ok(usage));
        if let Some(r) = self.reporter.take() {
            let tenant = self.tenant.as_deref().unwrap_or(crate::metrics::NONE);
            crate::metrics::record_usage(&r.model, tenant, &usage);
            r.succeeded(self.ttft, Some(usage.completion_tokens));
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

    /// Hands the ready events to the sink.
    fn emit_ready(&mut self, sink: &mut dyn EventSink) {
        for ev in self.ready.drain(..) {
            match &ev {
                StreamEvent::Text(t) | StreamEvent::Reasoning(t) => self.output_chars += t.len(),
                StreamEvent::Usage(u) => self.reported = Some(*u),
                _ => {}
            }
            sink.event(&ev);
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

    /// Ends the stream with an error: the sink is told, and writes its error event.
    fn fail(&mut self, mut e: UpstreamError, sink: &mut dyn EventSink) {
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
        sink.end(Err(&e));
    }
}
