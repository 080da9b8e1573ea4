//! Provider-neutral stream events and the encoder that turns them into OpenAI SSE.
//!
//! Every adapter's stream decoder emits [`StreamEvent`]s; one [`ChunkEncoder`] per client
//! stream writes them as `chat.completion.chunk` events with one stable `id` and
//! `created`, the assistant role first, tool-call deltas indexed from 0, the finish
//! reason on the last choice chunk, the usage chunk when asked for, then `[DONE]`.

use bytes::{BufMut, BytesMut};

use super::chunk::{ChunkChoice, Delta, FunctionDelta, ToolCallDelta};
use super::ids;
use super::response::FinishReason;
use super::usage::Usage;

/// One thing a provider stream said, in canonical terms.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Answer text to append.
    Text(String),
    /// Thinking text to append.
    Reasoning(String),
    /// A new tool call: `index` counts tool calls only, from 0.
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
    },
    /// A fragment of the JSON arguments of call `index`.
    ToolCallArgs { index: u32, arguments: String },
    /// The model finished.
    Finish(FinishReason),
    /// Token usage so far; a later event replaces an earlier one.
    Usage(Usage),
    /// Log probabilities of the tokens just sent (an OpenAI-family `logprobs` object,
    /// `{"content": [...]}`), passed to the client as the provider sent them.
    Logprobs(serde_json::Value),
}

/// Writes one client stream's SSE bytes.
///
/// Every chunk of a stream opens with the same `data: {"id":…,"object":
/// "chat.completion.chunk","created":…,"model":…,"choices":[`, so that head is
/// serialised once per stream; each chunk then writes only its choice (and the usage
/// field when the client asked for usage). That was ~40 % of a chunk's encoding cost.
#[derive(Debug)]
pub struct ChunkEncoder {
    id: String,
    head: Box<[u8]>,
    include_usage: bool,
    started: bool,
    finished: bool,
    usage: Option<Usage>,
}

impl ChunkEncoder {
    /// Output bytes to reserve per event before encoding a batch: one
    /// `chat.completion.chunk` with a token or two of text is ~200-300 bytes, and
    /// growing the buffer from empty cost a tenth of a chunk's encoding.
    pub const BYTES_PER_EVENT_HINT: usize = 384;

    /// A fresh stream answering as `model`.
    pub fn new(model: &str, include_usage: bool) -> Self {
        let id = ids::completion_id();
        Self {
            head: chunk_head(&id, ids::unix_now(), model),
            id,
            include_usage,
            started: false,
            finished: false,
            usage: None,
        }
    }

    /// The completion id every chunk carries.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The usage reported so far.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Whether any chunk has been written.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Whether a finish reason has been sent.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Writes the opening chunk (`role: assistant`) if it has not been written yet.
    pub fn start(&mut self, out: &mut BytesMut) {
        if !self.started {
            self.started = true;
            self.write(
                out,
                Delta {
                    role: Some("assistant"),
                    content: Some(""),
                    ..Delta::default()
                },
                None,
            );
        }
    }

    /// Writes what `event` adds to the stream (usage is held for the end).
    pub fn push(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        self.start(out);
        match event {
            StreamEvent::Text(t) if !t.is_empty() => self.write(
                out,
                Delta {
                    content: Some(t),
                    ..Delta::default()
                },
                None,
            ),
            StreamEvent::Reasoning(t) if !t.is_empty() => self.write(
                out,
                Delta {
                    reasoning_content: Some(t),
                    ..Delta::default()
                },
                None,
            ),
            StreamEvent::Text(_) | StreamEvent::Reasoning(_) => {}
            StreamEvent::ToolCallStart { index, id, name } => self.write(
                out,
                Delta {
                    tool_calls: Some([ToolCallDelta {
                        index: *index,
                        id: Some(id),
                        kind: Some("function"),
                        function: FunctionDelta {
                            name: Some(name),
                            arguments: "",
                        },
                    }]),
                    ..Delta::default()
                },
                None,
            ),
            StreamEvent::ToolCallArgs { index, arguments } if !arguments.is_empty() => self.write(
                out,
                Delta {
                    tool_calls: Some([ToolCallDelta {
                        index: *index,
                        id: None,
                        kind: None,
                        function: FunctionDelta {
                            name: None,
                            arguments,
                        },
                    }]),
                    ..Delta::default()
                },
                None,
            ),
            StreamEvent::ToolCallArgs { .. } => {}
            StreamEvent::Finish(reason) => {
                if !self.finished {
                    self.finished = true;
                    self.write(out, Delta::default(), Some(reason.as_str()));
                }
            }
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Logprobs(l) => self.write_choice(
                out,
                ChunkChoice {
                    index: 0,
                    delta: Delta::default(),
                    logprobs: Some(l),
                    finish_reason: None,
                },
            ),
        }
    }

    /// Ends a successful stream: the usage chunk if asked for, then `[DONE]`.
    /// `fallback_usage` stands in when the provider reported none.
    pub fn finish(&mut self, fallback_usage: Usage, out: &mut BytesMut) {
        self.start(out);
        if self.include_usage {
            let usage = self.usage.unwrap_or(fallback_usage);
            out.extend_from_slice(&self.head);
            out.extend_from_slice(b"],\"usage\":");
            // Serialising our own plain structs into memory cannot fail.
            let _ = serde_json::to_writer(out.writer(), &usage);
            out.extend_from_slice(b"}\n\n");
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    fn write(&self, out: &mut BytesMut, delta: Delta<'_>, finish: Option<&'static str>) {
        let choice = ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason: finish,
        };
        self.write_choice(out, choice);
    }

    fn write_choice(&self, out: &mut BytesMut, choice: ChunkChoice<'_>) {
        out.extend_from_slice(&self.head);
        let _ = serde_json::to_writer(out.writer(), &choice);
        // Until the last chunk, `usage` is present and null when the client asked for it.
        out.extend_from_slice(if self.include_usage {
            b"],\"usage\":null}\n\n"
        } else {
            b"]}\n\n"
        });
    }
}

/// `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":[`
fn chunk_head(id: &str, created: u64, model: &str) -> Box<[u8]> {
    let mut head = Vec::with_capacity(96 + id.len() + model.len());
    head.extend_from_slice(b"data: {\"id\":");
    // Writing JSON strings into memory cannot fail; they escape what needs escaping.
    let _ = serde_json::to_writer(&mut head, id);
    head.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
    head.extend_from_slice(itoa::Buffer::new().format(created).as_bytes());
    head.extend_from_slice(b",\"model\":");
    let _ = serde_json::to_writer(&mut head, model);
    head.extend_from_slice(b",\"choices\":[");
    head.into_boxed_slice()
}

/// Writes `data: <json>\n\n`.
pub fn write_event<T: serde::Serialize>(out: &mut BytesMut, value: &T) {
    out.extend_from_slice(b"data: ");
    // Serialising our own plain structs into memory cannot fail.
    let _ = serde_json::to_writer(out.writer(), value);
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(out: &BytesMut) -> Vec<serde_json::Value> {
        std::str::from_utf8(out)
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty() && *e != "data: [DONE]")
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn text_stream_has_role_first_finish_last_and_done() {
        let mut enc = ChunkEncoder::new("m", false);
        let mut out = BytesMut::new();
        enc.push(&StreamEvent::Text("Hel".into()), &mut out);
        enc.push(&StreamEvent::Text("lo".into()), &mut out);
        enc.push(&StreamEvent::Finish(FinishReason::Stop), &mut out);
        enc.finish(Usage::default(), &mut out);
        assert!(out.ends_with(b"data: [DONE]\n\n"));
        let v = lines(&out);
        assert_eq!(v.len(), 4);
        assert_eq!(v[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(v[1]["choices"][0]["delta"]["content"], "Hel");
        assert_eq!(v[3]["choices"][0]["finish_reason"], "stop");
        assert!(
            v.iter()
                .all(|c| c["id"] == v[0]["id"] && c.get("usage").is_none())
        );
    }

    #[test]
    fn chunks_are_written_in_openai_field_order_with_usage_null_until_the_last() {
        let mut enc = ChunkEncoder::new("gpt-4o-mini", true);
        let mut out = BytesMut::new();
        enc.push(&StreamEvent::Text("Hi".into()), &mut out);
        enc.push(&StreamEvent::Finish(FinishReason::Stop), &mut out);
        enc.finish(
            Usage {
                prompt_tokens: 1,
                completion_tokens: 2,
                ..Usage::default()
            },
            &mut out,
        );
        let head = format!(
            "data: {{\"id\":\"{}\",\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":\"gpt-4o-mini\",\"choices\":[",
            enc.id(),
            lines(&out)[0]["created"]
        );
        let text = std::str::from_utf8(&out).unwrap();
        let events: Vec<&str> = text.split_inclusive("\n\n").collect();
        assert_eq!(events.len(), 5, "{text}");
        assert_eq!(
            events[0],
            format!(
                "{head}{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n"
            )
        );
        assert_eq!(
            events[1],
            format!(
                "{head}{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n"
            )
        );
        assert_eq!(
            events[2],
            format!(
                "{head}{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}],\"usage\":null}}\n\n"
            )
        );
        assert!(events[3].starts_with(&format!("{head}],\"usage\":{{\"prompt_tokens\":1,")));
        assert!(events[3].ends_with("}}\n\n"));
        assert_eq!(events[4], "data: [DONE]\n\n");
    }

    #[test]
    fn model_names_are_escaped_in_every_chunk() {
        let mut enc = ChunkEncoder::new("odd\"model\\name", false);
        let mut out = BytesMut::new();
        enc.push(&StreamEvent::Text("x".into()), &mut out);
        enc.finish(Usage::default(), &mut out);
        let v = lines(&out);
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|c| c["model"] == "odd\"model\\name"));
    }

    #[test]
    fn usage_chunk_comes_last_with_empty_choices() {
        let mut enc = ChunkEncoder::new("m", true);
        let mut out = BytesMut::new();
        enc.push(&StreamEvent::Finish(FinishReason::Stop), &mut out);
        let u = Usage {
            prompt_tokens: 3,
            completion_tokens: 4,
            ..Usage::default()
        };
        enc.push(&StreamEvent::Usage(u), &mut out);
        enc.finish(Usage::default(), &mut out);
        let v = lines(&out);
        assert!(v[0]["usage"].is_null());
        let last = v.last().unwrap();
        assert_eq!(last["choices"].as_array().unwrap().len(), 0);
        assert_eq!(last["usage"]["total_tokens"], 7);
    }

    #[test]
    fn tool_call_start_carries_id_and_name_then_fragments() {
        let mut enc = ChunkEncoder::new("m", false);
        let mut out = BytesMut::new();
        enc.push(
            &StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "f".into(),
            },
            &mut out,
        );
        enc.push(
            &StreamEvent::ToolCallArgs {
                index: 0,
                arguments: "{}".into(),
            },
            &mut out,
        );
        let v = lines(&out);
        let first = &v[1]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(first["id"], "call_1");
        assert_eq!(first["type"], "function");
        assert_eq!(first["function"]["name"], "f");
        let frag = &v[2]["choices"][0]["delta"]["tool_calls"][0];
        assert!(frag.get("id").is_none());
        assert_eq!(frag["function"]["arguments"], "{}");
    }
}
