//! Canonical request → Gemini `GenerateContentRequest` (shared/reference/providers.md §4.2).
//!
//! Roles become `user`/`model` with consecutive same-role turns merged (tool results
//! are `functionResponse` parts of a user turn, so consecutive tool messages form one
//! turn); system and developer text goes to `systemInstruction`. Function responses are
//! keyed by *name*, which is looked up from the assistant call with the same id, and
//! must be JSON objects. Wire structs borrow from the canonical request.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;
use serde_json::value::RawValue;

use super::call_id;
use crate::canonical::params::{Accepts, ExtraParams};
use crate::canonical::{
    ChatRequest, Content, ContentPart, Message, ResponseFormat, Role, Tool, ToolCall, ToolChoice,
};
use crate::error::GatewayError;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireRequest<'a> {
    contents: Vec<WireContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<WireSystem<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<[WireTools<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<WireToolConfig<'a>>,
    #[serde(skip_serializing_if = "WireGenerationConfig::is_empty")]
    generation_config: WireGenerationConfig<'a>,
}

#[derive(Serialize)]
struct WireContent<'a> {
    role: &'static str,
    parts: Vec<WirePart<'a>>,
}

#[derive(Serialize)]
struct WireSystem<'a> {
    parts: Vec<WirePart<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WirePart<'a> {
    #[serde(flatten)]
    data: PartData<'a>,
    /// Replayed on the function-call part it came with (Gemini 3 requires it).
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<String>,
}

impl<'a> From<PartData<'a>> for WirePart<'a> {
    fn from(data: PartData<'a>) -> Self {
        Self {
            data,
            thought_signature: None,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum PartData<'a> {
    Text(&'a str),
    InlineData(WireBlob<'a>),
    FileData(WireFile<'a>),
    FunctionCall(WireFunctionCall<'a>),
    FunctionResponse(WireFunctionResponse<'a>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireBlob<'a> {
    mime_type: &'a str,
    data: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireFile<'a> {
    mime_type: &'static str,
    file_uri: &'a str,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    args: Cow<'a, RawValue>,
}

#[derive(Serialize)]
struct WireFunctionResponse<'a> {
    name: &'a str,
    response: ToolResult<'a>,
}

/// A tool message's content as Gemini's `response` object.
#[derive(Serialize)]
#[serde(untagged)]
enum ToolResult<'a> {
    /// The content already is a JSON object.
    Object(Cow<'a, RawValue>),
    /// Anything else, as `{"result": "<content>"}`.
    Wrapped { result: Cow<'a, str> },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireTools<'a> {
    function_declarations: Vec<WireDeclaration<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireDeclaration<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    /// Plain JSON Schema, passed through unchanged (unlike `parameters`, which takes
    /// Google's OpenAPI subset and rejects `additionalProperties`, `$ref`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters_json_schema: Option<&'a RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireToolConfig<'a> {
    function_calling_config: WireFunctionCallingConfig<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireFunctionCallingConfig<'a> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_function_names: Option<[&'a str; 1]>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireGenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    /// Penalties only when the client gave them: some models reject them outright
    /// (400 "Penalty is not enabled for models/gemini-2.5-flash").
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<WireThinkingConfig>,
}

impl WireGenerationConfig<'_> {
    fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.top_p.is_none()
            && self.top_k.is_none()
            && self.max_output_tokens.is_none()
            && self.stop_sequences.is_none()
            && self.seed.is_none()
            && self.presence_penalty.is_none()
            && self.frequency_penalty.is_none()
            && self.response_mime_type.is_none()
            && self.thinking_config.is_none()
    }
}

#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct WireThinkingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_budget: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_level: Option<&'static str>,
    include_thoughts: bool,
}

/// Builds the request body. Fails on history Gemini cannot express: a tool message
/// answering no known call, tool-call arguments that are not a JSON object, an image
/// that is neither a `data:` nor an `http(s):` URL.
pub(super) fn wire_request<'a>(
    req: &'a ChatRequest,
    upstream_model: &str,
) -> Result<WireRequest<'a>, GatewayError> {
    let (contents, system) = contents(req)?;
    let tools = req.tools.as_deref().filter(|t| !t.is_empty());
    Ok(WireRequest {
        contents,
        system_instruction: (!system.is_empty()).then_some(WireSystem { parts: system }),
        tools: tools.map(declarations),
        tool_config: tools.and(req.tool_choice.as_ref()).map(tool_config),
        generation_config: generation_config(req, upstream_model),
    })
}

/// The conversation as `(contents, systemInstruction parts)`: turns of `user` and
/// `model`, consecutive same-role turns merged, system and developer text set apart.
fn contents<'a>(
    req: &'a ChatRequest,
) -> Result<(Vec<WireContent<'a>>, Vec<WirePart<'a>>), GatewayError> {
    let mut contents: Vec<WireContent<'a>> = Vec::new();
    let mut system: Vec<WirePart<'a>> = Vec::new();
    let mut call_names: HashMap<&'a str, &'a str> = HashMap::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => {
                content_parts(i, m.content.as_ref(), &mut system)?;
                continue;
            }
            Role::User => {
                let mut parts = Vec::new();
                content_parts(i, m.content.as_ref(), &mut parts)?;
                ("user", parts)
            }
            Role::Assistant => {
                let mut parts = Vec::new();
                content_parts(i, m.content.as_ref(), &mut parts)?;
                for (j, call) in m.tool_calls.iter().flatten().enumerate() {
                    call_names.insert(&call.id, &call.function.name);
                    parts.push(function_call(i, j, call)?);
                }
                ("model", parts)
            }
            Role::Tool => ("user", vec![function_response(i, m, &call_names)?]),
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last.role == role => last.parts.extend(parts),
            _ => contents.push(WireContent { role, parts }),
        }
    }
    Ok((contents, system))
}

/// `tools`: every function as one declaration, its schema passed through.
fn declarations(tools: &[Tool]) -> [WireTools<'_>; 1] {
    [WireTools {
        function_declarations: tools
            .iter()
            .map(|t| WireDeclaration {
                name: &t.function.name,
                description: t.function.description.as_deref(),
                parameters_json_schema: t.function.parameters.as_deref(),
            })
            .collect(),
    }]
}

/// `toolConfig` for a `tool_choice`: a named function is `ANY` limited to that name.
fn tool_config(choice: &ToolChoice) -> WireToolConfig<'_> {
    let (mode, allowed) = match choice {
        ToolChoice::Auto => ("AUTO", None),
        ToolChoice::None => ("NONE", None),
        ToolChoice::Required => ("ANY", None),
        ToolChoice::Function(name) => ("ANY", Some([name.as_str()])),
    };
    WireToolConfig {
        function_calling_config: WireFunctionCallingConfig {
            mode,
            allowed_function_names: allowed,
        },
    }
}

/// `generationConfig`: sampling, limits, structured output and thinking.
fn generation_config<'a>(req: &'a ChatRequest, upstream_model: &str) -> WireGenerationConfig<'a> {
    let (response_mime_type, response_json_schema) = match &req.response_format {
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            (Some("application/json"), json_schema.schema.as_ref())
        }
        Some(ResponseFormat::Text) | None => (None, None),
    };
    WireGenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        max_output_tokens: req.max_output_tokens(),
        stop_sequences: req.stop.as_ref().map(|s| s.as_slice()),
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        response_mime_type,
        response_json_schema,
        thinking_config: req
            .reasoning_effort
            .as_deref()
            .and_then(|e| thinking(e, upstream_model)),
    }
}

/// Text and image parts of a message; empty text is dropped (Gemini rejects it).
fn content_parts<'a>(
    i: usize,
    content: Option<&'a Content>,
    out: &mut Vec<WirePart<'a>>,
) -> Result<(), GatewayError> {
    match content {
        None => {}
        Some(Content::Text(t)) if t.is_empty() => {}
        Some(Content::Text(t)) => out.push(PartData::Text(t).into()),
        Some(Content::Parts(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                match p {
                    ContentPart::Text { text } if text.is_empty() => {}
                    ContentPart::Text { text } => out.push(PartData::Text(text).into()),
                    ContentPart::ImageUrl { image_url } => {
                        let data = if let Some((mime_type, data)) = image_url.as_data() {
                            PartData::InlineData(WireBlob { mime_type, data })
                        } else if image_url.url.starts_with("https://")
                            || image_url.url.starts_with("http://")
                        {
                            PartData::FileData(WireFile {
                                mime_type: guess_mime(&image_url.url),
                                file_uri: &image_url.url,
                            })
                        } else {
                            return Err(GatewayError::invalid(
                                "an image must be a base64 data: URL or an http(s) URL",
                                format!("messages[{i}].content[{j}].image_url.url"),
                            ));
                        };
                        out.push(data.into());
                    }
                }
            }
        }
    }
    Ok(())
}

/// A media type from the URL's file extension; JPEG when there is none we know,
/// since the part was sent as an image.
fn guess_mime(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => "image/jpeg",
    }
}

/// An assistant tool call as a `functionCall` part, its signature restored from the id.
fn function_call<'a>(i: usize, j: usize, call: &'a ToolCall) -> Result<WirePart<'a>, GatewayError> {
    let args = if call.function.arguments.trim().is_empty() {
        Cow::Owned(RawValue::from_string("{}".to_owned()).map_err(|_| GatewayError::Internal)?)
    } else {
        Cow::Borrowed(json_object(&call.function.arguments).ok_or_else(|| {
            GatewayError::invalid(
                "tool-call arguments must be a JSON object to be sent to Gemini",
                format!("messages[{i}].tool_calls[{j}].function.arguments"),
            )
        })?)
    };
    Ok(WirePart {
        data: PartData::FunctionCall(WireFunctionCall {
            name: &call.function.name,
            args,
        }),
        thought_signature: call_id::signature(&call.id),
    })
}

/// A tool message as a `functionResponse` part named after the call it answers.
fn function_response<'a>(
    i: usize,
    m: &'a Message,
    call_names: &HashMap<&'a str, &'a str>,
) -> Result<WirePart<'a>, GatewayError> {
    let id = m.tool_call_id.as_deref().unwrap_or_default();
    let name = call_names
        .get(id)
        .copied()
        .or(m.name.as_deref())
        .ok_or_else(|| {
            GatewayError::invalid(
                format!("tool_call_id '{id}' answers no tool call of an earlier assistant message"),
                format!("messages[{i}].tool_call_id"),
            )
        })?;
    let response = match &m.content {
        Some(Content::Text(t)) => match json_object(t) {
            Some(raw) => ToolResult::Object(Cow::Borrowed(raw)),
            None => ToolResult::Wrapped {
                result: Cow::Borrowed(t),
            },
        },
        _ => {
            let text = m.text();
            match json_object(&text).map(|r| r.to_owned()) {
                Some(raw) => ToolResult::Object(Cow::Owned(raw)),
                None => ToolResult::Wrapped {
                    result: Cow::Owned(text),
                },
            }
        }
    };
    Ok(PartData::FunctionResponse(WireFunctionResponse { name, response }).into())
}

/// `text` as raw JSON when it is a JSON object.
fn json_object(text: &str) -> Option<&RawValue> {
    serde_json::from_str::<&RawValue>(text)
        .ok()
        .filter(|raw| raw.get().trim_start().starts_with('{'))
}

/// `reasoning_effort` → `thinkingConfig`. Gemini 3 takes `thinkingLevel`; Gemini 2.5
/// takes a token `thinkingBudget` (0 = off; the -pro models cannot switch thinking off,
/// 128 is their minimum). `none`/`minimal` hide thoughts, anything stronger asks for
/// them (`includeThoughts`) so they come back as `reasoning_content`. Unknown efforts
/// leave the model's default.
fn thinking(effort: &str, upstream_model: &str) -> Option<WireThinkingConfig> {
    let model = upstream_model.trim_start_matches("models/");
    let pro = model.contains("-pro");
    let off = matches!(effort, "none" | "minimal");
    if model.starts_with("gemini-3") {
        let level = match effort {
            "none" | "minimal" if pro => "LOW",
            "none" | "minimal" => "MINIMAL",
            "low" => "LOW",
            "medium" if pro => "HIGH",
            "medium" => "MEDIUM",
            "high" | "xhigh" | "max" => "HIGH",
            _ => return None,
        };
        return Some(WireThinkingConfig {
            thinking_budget: None,
            thinking_level: Some(level),
            include_thoughts: !off,
        });
    }
    let budget = match effort {
        "none" | "minimal" if pro => 128,
        "none" | "minimal" => 0,
        "low" => 1024,
        "medium" => 8192,
        "high" => 24_576,
        "xhigh" | "max" => 32_768,
        _ => return None,
    };
    Some(WireThinkingConfig {
        thinking_budget: Some(budget),
        thinking_level: None,
        include_thoughts: !off,
    })
}

/// The optional OpenAI parameters `generationConfig` has a place for: seed, the
/// penalties and `reasoning_effort` (as `thinkingConfig`). Gemini's own
/// `responseLogprobs` is not mapped (the answer's logprobs would not be read back);
/// there is no user id, no logit bias, no service tier and no parallel-calls switch.
pub(super) const ACCEPTS: Accepts = Accepts {
    seed: true,
    penalties: true,
    logprobs: false,
    logit_bias: false,
    service_tier: false,
    user: false,
    parallel_tool_calls: false,
    reasoning_effort: true,
    top_k: true,
    extra: ExtraParams::None,
};
