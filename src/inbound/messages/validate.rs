//! What serde cannot check about a Messages request, each a 400 naming the field in
//! the client's own terms (`messages[1].content[0].source.media_type`), before the
//! request is translated: the canonical checks would name OpenAI's fields instead.
//! The limits are those every provider behind the gateway accepts (Anthropic's own
//! where they are the strictest).

use super::request::{ImageSource, InBlock, InRole, InTool, InToolChoice, Thinking};
use super::request::{MessagesRequest, OutputFormat, ResultBlock, TextOr};
use crate::error::GatewayError;

/// The media types Anthropic accepts for base64 images.
const IMAGE_MEDIA_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u32 = 1024;

/// The most stop sequences every provider accepts (OpenAI's limit).
const MAX_STOP_SEQUENCES: usize = 4;

/// The longest tool name every provider accepts (OpenAI's limit; Anthropic's is 128).
const MAX_TOOL_NAME: usize = 64;

fn invalid(param: impl std::fmt::Display, why: impl std::fmt::Display) -> GatewayError {
    let param = param.to_string();
    GatewayError::InvalidRequest {
        message: format!("{param}: {why}"),
        param: Some(param),
        code: None,
    }
}

/// Checks a `POST /v1/messages` body (`count_tokens`: `needs_max_tokens` false).
pub fn check(req: &MessagesRequest, needs_max_tokens: bool) -> Result<(), GatewayError> {
    if req.model.is_empty() {
        return Err(invalid("model", "field required"));
    }
    match req.max_tokens {
        None if needs_max_tokens => return Err(invalid("max_tokens", "field required")),
        Some(0) => return Err(invalid("max_tokens", "must be at least 1")),
        _ => {}
    }
    if req.messages.is_empty() {
        return Err(invalid("messages", "at least one message is required"));
    }
    check_sampling(req)?;
    for (i, m) in req.messages.iter().enumerate() {
        if let TextOr::Blocks(blocks) = &m.content {
            for (j, block) in blocks.iter().enumerate() {
                check_block(m.role, block, At { i, j, k: None })?;
            }
        }
    }
    for (i, tool) in req.tools.iter().flatten().enumerate() {
        check_tool(tool, i)?;
    }
    check_tool_choice(req)?;
    check_thinking(req)?;
    check_output(req)
}

/// The efforts Anthropic accepts in `output_config.effort`.
const EFFORTS: [&str; 5] = ["low", "medium", "high", "xhigh", "max"];

/// `output_config`: a known effort, an object schema.
fn check_output(req: &MessagesRequest) -> Result<(), GatewayError> {
    let Some(out) = &req.output_config else {
        return Ok(());
    };
    if let Some(effort) = out.effort.as_deref()
        && !EFFORTS.contains(&effort)
    {
        return Err(invalid(
            "output_config.effort",
            "must be one of low, medium, high, xhigh, max",
        ));
    }
    if let Some(OutputFormat::JsonSchema { schema }) = &out.format
        && !schema.is_object()
    {
        return Err(invalid(
            "output_config.format.schema",
            "must be an object (a JSON Schema)",
        ));
    }
    Ok(())
}

/// `temperature`, `top_p`, `stop_sequences`.
fn check_sampling(req: &MessagesRequest) -> Result<(), GatewayError> {
    for (param, value) in [("temperature", req.temperature), ("top_p", req.top_p)] {
        if let Some(v) = value
            && !(0.0..=1.0).contains(&v)
        {
            let v = crate::error::echo_number(v);
            return Err(invalid(param, format!("{v} is out of range [0, 1]")));
        }
    }
    if let Some(stops) = &req.stop_sequences
        && stops.len() > MAX_STOP_SEQUENCES
    {
        return Err(invalid(
            "stop_sequences",
            format!("at most {MAX_STOP_SEQUENCES} sequences are supported"),
        ));
    }
    Ok(())
}

/// Where a block is: `messages[i].content[j]`, or block `k` of that `tool_result`.
/// Written out only when a check fails, so a valid request allocates nothing here.
#[derive(Debug, Clone, Copy)]
struct At {
    i: usize,
    j: usize,
    k: Option<usize>,
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "messages[{}].content[{}]", self.i, self.j)?;
        match self.k {
            Some(k) => write!(f, ".content[{k}]"),
            None => Ok(()),
        }
    }
}

/// A block in a turn of `role`: only the kinds that role may send, images well formed.
fn check_block(role: InRole, block: &InBlock, at: At) -> Result<(), GatewayError> {
    let allowed = match block {
        InBlock::Text { .. } => true,
        InBlock::Image { source } => {
            check_image(source, at)?;
            role == InRole::User
        }
        InBlock::ToolResult { content, .. } => {
            if let Some(TextOr::Blocks(blocks)) = content {
                for (k, b) in blocks.iter().enumerate() {
                    if let ResultBlock::Image { source } = b {
                        check_image(source, At { k: Some(k), ..at })?;
                    }
                }
            }
            role == InRole::User
        }
        InBlock::ToolUse { input, .. } => {
            if input.as_ref().is_some_and(|v| !v.is_object()) {
                return Err(invalid(format!("{at}.input"), "must be an object"));
            }
            role == InRole::Assistant
        }
        InBlock::Thinking { .. } | InBlock::RedactedThinking {} => role == InRole::Assistant,
    };
    if allowed {
        Ok(())
    } else {
        let role = match role {
            InRole::User => "user",
            InRole::Assistant => "assistant",
        };
        Err(invalid(
            format!("{at}.type"),
            format!("this block type is not allowed in a {role} turn"),
        ))
    }
}

fn check_image(source: &ImageSource, at: At) -> Result<(), GatewayError> {
    match source {
        ImageSource::Base64 { media_type, .. } if !IMAGE_MEDIA_TYPES.contains(&&**media_type) => {
            Err(invalid(
                format!("{at}.source.media_type"),
                "must be one of image/jpeg, image/png, image/gif, image/webp",
            ))
        }
        ImageSource::Base64 { data, .. } if data.is_empty() => {
            Err(invalid(format!("{at}.source.data"), "must not be empty"))
        }
        ImageSource::Url { url }
            if url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .is_none_or(str::is_empty) =>
        {
            Err(invalid(
                format!("{at}.source.url"),
                "must be an http:// or https:// URL",
            ))
        }
        ImageSource::Base64 { .. } | ImageSource::Url { .. } => Ok(()),
    }
}

/// A client tool with a name every provider accepts and an object schema.
fn check_tool(tool: &InTool, i: usize) -> Result<(), GatewayError> {
    if let Some(kind) = tool.kind.as_deref()
        && kind != "custom"
    {
        return Err(invalid(
            format!("tools[{i}].type"),
            format!(
                "server tools ('{}') are not supported by the gateway; declare client tools with a name and input_schema",
                crate::error::echo(kind)
            ),
        ));
    }
    let name = &tool.name;
    let well_formed = !name.is_empty()
        && name.len() <= MAX_TOOL_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !well_formed {
        return Err(invalid(
            format!("tools[{i}].name"),
            "must match ^[a-zA-Z0-9_-]{1,64}$",
        ));
    }
    match &tool.input_schema {
        None => Err(invalid(
            format!("tools[{i}].input_schema"),
            "field required",
        )),
        Some(schema) if !schema.get().starts_with('{') => Err(invalid(
            format!("tools[{i}].input_schema"),
            "must be an object (a JSON Schema)",
        )),
        Some(_) => Ok(()),
    }
}

/// A `tool` choice names a declared tool.
fn check_tool_choice(req: &MessagesRequest) -> Result<(), GatewayError> {
    if let Some(InToolChoice::Tool { name, .. }) = &req.tool_choice
        && !req.tools.iter().flatten().any(|t| t.name == *name)
    {
        return Err(invalid(
            "tool_choice.name",
            format!(
                "'{}' is not among the declared tools",
                crate::error::echo(name)
            ),
        ));
    }
    Ok(())
}

/// An enabled thinking budget is at least Anthropic's minimum and below `max_tokens`.
fn check_thinking(req: &MessagesRequest) -> Result<(), GatewayError> {
    if let Some(Thinking::Enabled { budget_tokens }) = req.thinking {
        if budget_tokens < MIN_THINKING_BUDGET {
            return Err(invalid(
                "thinking.budget_tokens",
                format!("must be at least {MIN_THINKING_BUDGET}"),
            ));
        }
        if req.max_tokens.is_some_and(|max| budget_tokens >= max) {
            return Err(invalid(
                "thinking.budget_tokens",
                "must be less than max_tokens",
            ));
        }
    }
    Ok(())
}
