//! The chat request as clients send it (OpenAI Chat Completions) and its parsing; what
//! serde cannot check is in `validate`.
//!
//! Known fields are typed so a wrong type is a 400 naming the field. Top-level keys the
//! struct does not know (the OpenAI SDKs merge `extra_body` into the top level) are kept
//! in [`ChatRequest::extra`], not dropped: `params` says which optional parameters each
//! provider takes and which ones a request loses.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use super::validate::json_kind;
use crate::error::GatewayError;

/// `POST /v1/chat/completions` body.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChatRequest {
    /// A model name, `provider/model`, or a route name.
    pub model: String,
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// Stream the answer as SSE chunks.
    #[serde(default)]
    pub stream: bool,
    /// `{"include_usage": true}` adds a final usage chunk to a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Sample from the `k` likeliest tokens only (Anthropic `top_k`, Gemini `topK`);
    /// OpenAI-family providers have no such parameter and do not get it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Only 1 is supported; anything else is rejected with a 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Deprecated by OpenAI but still what most clients send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// End-user id; forwarded where the provider accepts it, never part of a cache key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `low|medium|high|…`; mapped to each provider's thinking switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Return the sampled tokens' log probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// How many alternatives per token `logprobs` lists (OpenAI 0–20, Qwen 0–5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u8>,
    /// Token id → bias (-100…100), forwarded as the client wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<serde_json::Map<String, serde_json::Value>>,
    /// `auto|default|flex|priority` (OpenAI only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Every other top-level key, as sent (`store`, `metadata`, a provider's own
    /// extensions such as Qwen's `enable_thinking`, or a typo). Forwarded only where
    /// the provider's [`Accepts::extra`](super::params::Accepts::extra) lets it through. Only unknown keys are
    /// buffered by the flatten: a body without any parses as fast as before.
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ChatRequest {
    /// The output cap the client asked for, whichever field it used.
    pub fn max_output_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// The prompt's tokens as the gateway estimates them before any provider counts:
    /// about four characters per token, plus three per message for its framing. The
    /// API computes it once per request; routing, rate-limit admission and the usage
    /// fallback all use that one number.
    pub fn prompt_tokens_estimate(&self) -> u64 {
        self.messages
            .iter()
            .map(|m| super::usage::estimate_tokens(&m.text()) + 3)
            .sum()
    }

    /// Whether a stream should end with a usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage.unwrap_or(false))
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

/// One message of the conversation.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Message {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Calls an assistant message made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// DeepSeek/Qwen thinking text, echoed back by clients that keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

impl Message {
    /// The message's text: the string content, or its text parts joined.
    pub fn text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(Content::Text(t)) => t.clone(),
            Some(Content::Parts(parts)) => {
                let mut out = String::new();
                for p in parts {
                    if let ContentPart::Text { text } = p {
                        out.push_str(text);
                    }
                }
                out
            }
        }
    }
}

/// A message's content: a plain string or typed parts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// One part of a multi-part message.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

/// An image by `https://` URL or `data:` URL.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ImageUrl {
    /// `(media type, base64 data)` when this is a `data:` URL.
    pub fn as_data(&self) -> Option<(&str, &str)> {
        let rest = self.url.strip_prefix("data:")?;
        let (media, data) = rest.split_once(";base64,")?;
        Some((media, data))
    }
}

/// A tool call made by the assistant.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_owned()
}

/// The function a tool call names, with its arguments as a JSON string.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Tool {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionDef,
}

/// A function declaration.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments, kept as raw JSON: the gateway only checks that it
    /// is an object (and, with the whole body, how deep it nests), then forwards it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`: `"none" | "auto" | "required"` or a named function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    None,
    Auto,
    Required,
    Function(String),
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Mode(String),
            Named { function: Named },
        }
        #[derive(Deserialize)]
        struct Named {
            name: String,
        }
        match Raw::deserialize(d)? {
            Raw::Mode(m) => match m.as_str() {
                "none" => Ok(Self::None),
                "auto" => Ok(Self::Auto),
                "required" => Ok(Self::Required),
                other => Err(serde::de::Error::custom(format!(
                    "unknown tool_choice '{other}', expected none, auto, required or an object naming a function"
                ))),
            },
            Raw::Named { function } => Ok(Self::Function(function.name)),
        }
    }
}

impl Serialize for ToolChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::None => s.serialize_str("none"),
            Self::Auto => s.serialize_str("auto"),
            Self::Required => s.serialize_str("required"),
            Self::Function(name) => {
                serde_json::json!({"type": "function", "function": {"name": name}}).serialize(s)
            }
        }
    }
}

/// `stop`: one string or up to four.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    /// The sequences as a slice-like list.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Self::One(s) => std::slice::from_ref(s),
            Self::Many(v) => v,
        }
    }
}

/// `response_format`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaFormat },
}

/// The `json_schema` member of a `json_schema` response format.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct JsonSchemaFormat {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// Parses a request body, naming the offending field on failure.
pub fn parse_request(body: &[u8]) -> Result<ChatRequest, GatewayError> {
    parse_json(body)
}

/// Parses a JSON object body into any client API's request type (Chat Completions
/// here, Anthropic Messages in `crate::inbound`), naming the offending field on failure
/// and refusing bodies that nest too deep.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, GatewayError> {
    if let Some(err) = not_an_object(body) {
        return Err(err);
    }
    super::nesting::check(body)?;
    // Plain serde_json first: tracking the field path costs on every request, and only
    // a body that fails needs it for its error message.
    serde_json::from_slice(body).map_err(|first| explain_parse_error::<T>(body, first))
}

/// The 400 for a body that is JSON but not an object. serde reads a struct from an
/// array of its fields in order too (`["gpt-4o", [...]]`), which no client means.
/// A body that is not JSON at all is left to the parser's error.
fn not_an_object(body: &[u8]) -> Option<GatewayError> {
    let first = *body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
    if first == b'{' {
        return None;
    }
    let kind = json_kind(first)?;
    serde_json::from_slice::<serde::de::IgnoredAny>(body).ok()?;
    Some(GatewayError::InvalidRequest {
        message: format!("the request body must be a JSON object, but got {kind} instead"),
        param: None,
        code: Some("invalid_type"),
    })
}

/// The 400 for a body that did not parse, naming the offending field when there is one.
fn explain_parse_error<T: serde::de::DeserializeOwned>(
    body: &[u8],
    first: serde_json::Error,
) -> GatewayError {
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(de) {
        // The path-tracking parse stops after the value; what failed is what follows it.
        Ok(_) => GatewayError::InvalidRequest {
            message: format!("we could not parse the JSON body of your request: {first}"),
            param: None,
            code: Some("invalid_json"),
        },
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return GatewayError::InvalidRequest {
                    message: format!("we could not parse the JSON body of your request: {inner}"),
                    param: None,
                    code: Some("invalid_json"),
                };
            }
            let text = inner.to_string();
            // serde reports a missing field at the parent's path; name the field itself.
            if let Some(field) = missing_field(&text) {
                let param = if path == "." {
                    field.to_owned()
                } else {
                    format!("{path}.{field}")
                };
                return GatewayError::InvalidRequest {
                    message: format!("missing required parameter: '{param}'"),
                    param: Some(param),
                    code: Some("missing_required_parameter"),
                };
            }
            let text = text.split(" at line ").next().unwrap_or(&text).to_owned();
            let param = (path != ".").then_some(path);
            GatewayError::InvalidRequest {
                message: match &param {
                    Some(p) => format!("invalid value for '{p}': {text}"),
                    None => format!("invalid request body: {text}"),
                },
                param,
                code: Some("invalid_type"),
            }
        }
    }
}

fn missing_field(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("missing field `")?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: serde_json::Value) -> Result<ChatRequest, GatewayError> {
        parse_request(v.to_string().as_bytes())
    }

    #[test]
    fn unknown_keys_are_kept_beside_raw_tool_parameters() {
        let req = parse(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "top_k": 40, "chat_template_kwargs": {"x": [1, 2]}, "logprobs": true,
        }))
        .unwrap();
        assert_eq!(
            req.extra,
            *json!({"chat_template_kwargs": {"x": [1, 2]}})
                .as_object()
                .unwrap()
        );
        assert_eq!(req.logprobs, Some(true));
        let params = req.tools.unwrap()[0].function.parameters.take().unwrap();
        assert_eq!(params.get(), r#"{"type":"object"}"#);
    }

    #[test]
    fn the_new_typed_parameters_name_themselves_when_wrong() {
        for (body, param) in [
            (json!({"logprobs": "yes"}), "logprobs"),
            (json!({"top_logprobs": -1}), "top_logprobs"),
            (json!({"logit_bias": [1]}), "logit_bias"),
            (json!({"service_tier": 3}), "service_tier"),
        ] {
            let mut body = body;
            body["model"] = json!("m");
            body["messages"] = json!([{"role": "user", "content": "hi"}]);
            match parse(body) {
                Err(GatewayError::InvalidRequest { param: p, .. }) => {
                    assert_eq!(p.as_deref(), Some(param))
                }
                other => panic!("{param}: {other:?}"),
            }
        }
    }
}
