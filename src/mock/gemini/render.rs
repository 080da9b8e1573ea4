//! Renders the simulated model's answer as Gemini does (shared/reference/providers.md
//! §4.3, §4.4): the recorded `"key": value,"key2"` spacing, function calls without ids,
//! a deterministic `thoughtSignature` on the first call of a turn, `usageMetadata` on
//! every chunk (`candidatesTokenCount` omitted when 0, the prompt count changing on the
//! last chunk), and a blocked prompt as a response without candidates.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Value, json};

use crate::mock::batch;
use crate::mock::brain::{self, Answer, Finish};

/// serde_json's compact output with `": "` after keys: Gemini's `"key": value,"key2"`.
struct GeminiFormatter;

impl serde_json::ser::Formatter for GeminiFormatter {
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

fn to_gemini_json<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GeminiFormatter);
    // Serialising our own plain structs into memory cannot fail.
    let _ = value.serialize(&mut ser);
    String::from_utf8(out).unwrap_or_default()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    candidates: Option<[WireCandidate<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_feedback: Option<Value>,
    usage_metadata: WireUsage,
    model_version: &'a str,
    response_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate<'a> {
    content: WireContent<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    index: u32,
}

#[derive(Serialize)]
struct WireContent<'a> {
    parts: Vec<WirePart<'a>>,
    role: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WirePart<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        thought: bool,
    },
    Call {
        #[serde(rename = "functionCall")]
        function_call: WireCall<'a>,
        #[serde(rename = "thoughtSignature", skip_serializing_if = "Option::is_none")]
        thought_signature: Option<String>,
    },
}

#[derive(Serialize)]
struct WireCall<'a> {
    name: &'a str,
    args: &'a Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    prompt_token_count: u64,
    /// Omitted when 0, as recorded.
    #[serde(skip_serializing_if = "is_zero")]
    candidates_token_count: u64,
    total_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    thoughts_token_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens_details: Option<[Value; 1]>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One answer, ready to render.
pub(super) struct Render<'a> {
    pub(super) model: &'a str,
    pub(super) a: &'a Answer,
    pub(super) per_event: usize,
}

impl<'a> Render<'a> {
    fn response_id(&self) -> String {
        brain::stable_id(self.a.seed, 7, 20)
    }

    /// A deterministic opaque signature; standard base64, so it has `+`, `/` and `=`.
    fn signature(&self) -> String {
        let mut x = self.a.seed | 1;
        let bytes: Vec<u8> = (0..50)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        STANDARD.encode(bytes)
    }

    fn usage(&self, prompt: u64, candidates: u64, thoughts: u64, details: bool) -> WireUsage {
        WireUsage {
            prompt_token_count: prompt,
            candidates_token_count: candidates,
            total_token_count: prompt + candidates + thoughts,
            thoughts_token_count: thoughts,
            prompt_tokens_details: details
                .then(|| [json!({"modality": "TEXT", "tokenCount": prompt})]),
        }
    }

    fn final_usage(&self, details: bool) -> WireUsage {
        let a = self.a;
        let candidates = a.completion_tokens.saturating_sub(a.reasoning_tokens);
        self.usage(a.prompt_tokens, candidates, a.reasoning_tokens, details)
    }

    fn call_parts(&self) -> Vec<WirePart<'a>> {
        self.a
            .calls
            .iter()
            .enumerate()
            .map(|(i, c)| WirePart::Call {
                function_call: WireCall {
                    name: &c.name,
                    args: &c.arguments,
                },
                thought_signature: (i == 0).then(|| self.signature()),
            })
            .collect()
    }

    fn finish(&self) -> &'static str {
        match self.a.finish {
            Finish::Length => "MAX_TOKENS",
            Finish::Stop | Finish::ToolCalls | Finish::Blocked => "STOP",
        }
    }

    fn response(
        &self,
        parts: Vec<WirePart<'_>>,
        finish: Option<&'static str>,
        usage: WireUsage,
    ) -> String {
        let id = self.response_id();
        to_gemini_json(&WireResponse {
            candidates: Some([WireCandidate {
                content: WireContent {
                    parts,
                    role: "model",
                },
                finish_reason: finish,
                index: 0,
            }]),
            prompt_feedback: None,
            usage_metadata: usage,
            model_version: self.model,
            response_id: &id,
        })
    }

    /// A blocked prompt: HTTP 200, no candidates, `promptFeedback.blockReason`.
    fn blocked(&self) -> String {
        let id = self.response_id();
        to_gemini_json(&WireResponse {
            candidates: None,
            prompt_feedback: Some(json!({"blockReason": "SAFETY", "safetyRatings": [
                {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
                {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
            ]})),
            usage_metadata: self.usage(self.a.prompt_tokens, 0, 0, true),
            model_version: self.model,
            response_id: &id,
        })
    }

    /// The non-streamed answer.
    pub(super) fn whole(&self) -> String {
        if self.a.finish == Finish::Blocked {
            return self.blocked();
        }
        let reasoning = self.a.reasoning.concat();
        let text = self.a.text();
        let mut parts = Vec::new();
        if !reasoning.is_empty() {
            parts.push(WirePart::Text {
                text: &reasoning,
                thought: true,
            });
        }
        if self.a.calls.is_empty() {
            parts.push(WirePart::Text {
                text: &text,
                thought: false,
            });
        }
        parts.extend(self.call_parts());
        self.response(parts, Some(self.finish()), self.final_usage(true))
    }

    /// Stream chunks, each one whole `GenerateContentResponse`.
    pub(super) fn chunks(&self) -> Vec<String> {
        if self.a.finish == Finish::Blocked {
            return vec![self.blocked()];
        }
        // Before the last chunk Gemini reports a smaller prompt count (recorded: 55,
        // then 165 on the last chunk); only the last usage is right.
        let early_prompt = (self.a.prompt_tokens / 3).max(1);
        let (mut thoughts, mut candidates) = (0u64, 0u64);
        let mut out = Vec::new();
        let per = self.per_event.max(1);
        for r in batch(&self.a.reasoning, per) {
            thoughts = (thoughts + per as u64).min(self.a.reasoning_tokens);
            let part = WirePart::Text {
                text: &r,
                thought: true,
            };
            let usage = self.usage(early_prompt, candidates, thoughts, false);
            out.push(self.response(vec![part], None, usage));
        }
        for t in batch(&self.a.tokens, per) {
            candidates = (candidates + per as u64).min(self.a.tokens.len() as u64);
            let part = WirePart::Text {
                text: &t,
                thought: false,
            };
            let usage = self.usage(early_prompt, candidates, thoughts, false);
            out.push(self.response(vec![part], None, usage));
        }
        if !self.a.calls.is_empty() {
            let usage = self.final_usage(false);
            let usage = self.usage(
                early_prompt,
                usage.candidates_token_count,
                usage.thoughts_token_count,
                false,
            );
            out.push(self.response(self.call_parts(), None, usage));
        }
        let end = WirePart::Text {
            text: "",
            thought: false,
        };
        out.push(self.response(vec![end], Some(self.finish()), self.final_usage(false)));
        out
    }
}
