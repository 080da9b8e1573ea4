//! What serde cannot check about a chat request: required values that are empty,
//! ranges, cross-references, and what a provider would reject anyway (image URLs,
//! tool declarations), each a 400 naming the parameter, before any provider is called.
//!
//! Valid requests pass without an allocation: messages are only built on failure.

use super::request::{
    ChatRequest, Content, ContentPart, ImageUrl, Message, Role, Stop, Tool, ToolChoice,
};
use crate::error::GatewayError;

impl ChatRequest {
    /// Checks what serde cannot: non-empty messages, n = 1, ranges, tool-message ids,
    /// image URLs, tool declarations. Nothing here allocates unless it fails.
    pub fn validate(&self) -> Result<(), GatewayError> {
        self.check_required()?;
        self.check_ranges()?;
        for (i, m) in self.messages.iter().enumerate() {
            check_message(i, m)?;
        }
        self.check_tools()
    }

    /// The model and at least one message.
    fn check_required(&self) -> Result<(), GatewayError> {
        if self.model.is_empty() {
            return Err(GatewayError::invalid(
                "you must provide a model parameter",
                "model",
            ));
        }
        if self.messages.is_empty() {
            return Err(GatewayError::invalid(
                "'messages' must contain at least one message",
                "messages",
            ));
        }
        Ok(())
    }

    /// `n`, `temperature`, `top_p`, `stop`, `max_tokens`, `max_completion_tokens`.
    fn check_ranges(&self) -> Result<(), GatewayError> {
        if let Some(n) = self.n
            && n != 1
        {
            return Err(GatewayError::invalid(
                format!("n={n} is not supported: Switchyard returns exactly one choice (n=1)"),
                "n",
            ));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(GatewayError::invalid(
                format!(
                    "{} is greater than the maximum of 2 or less than 0 - 'temperature'",
                    crate::error::echo_number(t)
                ),
                "temperature",
            ));
        }
        if let Some(p) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            return Err(GatewayError::invalid(
                format!(
                    "{} is out of range [0, 1] - 'top_p'",
                    crate::error::echo_number(p)
                ),
                "top_p",
            ));
        }
        if let Some(Stop::Many(stops)) = &self.stop
            && stops.len() > 4
        {
            return Err(GatewayError::invalid(
                "'stop' accepts at most 4 sequences",
                "stop",
            ));
        }
        for (param, value) in [
            ("max_tokens", self.max_tokens),
            ("max_completion_tokens", self.max_completion_tokens),
        ] {
            if value == Some(0) {
                return Err(invalid_as(
                    "integer_below_min_value",
                    format!("invalid '{param}': expected a value >= 1, but got 0 instead"),
                    param.to_owned(),
                ));
            }
        }
        Ok(())
    }

    /// Each tool declaration, and a `tool_choice` naming a declared tool.
    fn check_tools(&self) -> Result<(), GatewayError> {
        for (i, tool) in self.tools.iter().flatten().enumerate() {
            tool.check(i)?;
        }
        if let Some(ToolChoice::Function(name)) = &self.tool_choice {
            let declared = self
                .tools
                .iter()
                .flatten()
                .any(|t| t.function.name == *name);
            if !declared {
                return Err(GatewayError::invalid(
                    format!("tool_choice names '{name}', which is not among 'tools'"),
                    "tool_choice",
                ));
            }
        }
        Ok(())
    }
}

/// Message `i`: its image URLs, a tool message's call id, required content.
fn check_message(i: usize, m: &Message) -> Result<(), GatewayError> {
    if let Some(Content::Parts(parts)) = &m.content {
        for (j, part) in parts.iter().enumerate() {
            if let ContentPart::ImageUrl { image_url } = part
                && let Err(why) = image_url.check()
            {
                let param = format!("messages[{i}].content[{j}].image_url.url");
                return Err(invalid_as(
                    "invalid_image_url",
                    format!("invalid '{param}': {why}"),
                    param,
                ));
            }
        }
    }
    match m.role {
        Role::Tool if m.tool_call_id.as_deref().is_none_or(str::is_empty) => {
            Err(GatewayError::invalid(
                format!("messages[{i}]: a 'tool' message needs 'tool_call_id'"),
                format!("messages[{i}].tool_call_id"),
            ))
        }
        Role::User | Role::System | Role::Developer if m.content.is_none() => {
            Err(GatewayError::invalid(
                format!("messages[{i}]: missing required parameter 'content'"),
                format!("messages[{i}].content"),
            ))
        }
        _ => Ok(()),
    }
}

impl ImageUrl {
    /// Whether every adapter can pass this image on: an `https://` or `http://` URL, or
    /// `data:<media type>;base64,<data>` (the data itself is not decoded here; the
    /// provider does that). Schemes are matched as written, lower case, as the adapters
    /// match them. Anything else (`file://`, a bare path) is the client's mistake.
    pub fn check(&self) -> Result<(), &'static str> {
        let url = self.url.as_str();
        if url.starts_with("data:") {
            return match self.as_data() {
                Some((media, data)) if is_media_type(media) && !data.is_empty() => Ok(()),
                _ => Err("a data URL must read 'data:<media type>;base64,<data>'"),
            };
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match rest {
            Some(rest) if !rest.is_empty() => Ok(()),
            Some(_) => Err("the URL has no host"),
            None => Err("an image must be an https://, http:// or base64 data: URL"),
        }
    }
}

impl Tool {
    /// The checks OpenAI makes on `tools[i]`, so every provider gets a declaration it
    /// accepts: type `function`, a name matching `^[a-zA-Z0-9_-]{1,64}$`, parameters
    /// that are a JSON object (a schema).
    fn check(&self, i: usize) -> Result<(), GatewayError> {
        if self.kind != "function" {
            return Err(invalid_as(
                "invalid_value",
                format!("invalid value for 'tools[{i}].type': the supported value is 'function'"),
                format!("tools[{i}].type"),
            ));
        }
        if let Err((why, code)) = check_function_name(&self.function.name) {
            let param = format!("tools[{i}].function.name");
            return Err(invalid_as(code, format!("invalid '{param}': {why}"), param));
        }
        if let Some(schema) = &self.function.parameters {
            let first = schema.get().as_bytes().first().copied();
            if first != Some(b'{') {
                let param = format!("tools[{i}].function.parameters");
                let got = first.and_then(json_kind).unwrap_or("something else");
                return Err(invalid_as(
                    "invalid_type",
                    format!(
                        "invalid type for '{param}': expected an object, but got {got} instead"
                    ),
                    param,
                ));
            }
        }
        Ok(())
    }
}

/// The longest function name OpenAI accepts.
const MAX_FUNCTION_NAME: usize = 64;

/// `^[a-zA-Z0-9_-]{1,64}$`, or why not and the OpenAI code for it.
fn check_function_name(name: &str) -> Result<(), (&'static str, &'static str)> {
    if name.is_empty() {
        return Err(("a function name must not be empty", "empty_string"));
    }
    if name.len() > MAX_FUNCTION_NAME {
        return Err((
            "a function name may be at most 64 characters long",
            "string_above_max_length",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err((
            "a function name may only contain a-z, A-Z, 0-9, '_' and '-'",
            "invalid_value",
        ));
    }
    Ok(())
}

/// `type/subtype` with the characters RFC 6838 allows in each.
fn is_media_type(media: &str) -> bool {
    let restricted = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    media
        .split_once('/')
        .is_some_and(|(kind, sub)| restricted(kind) && restricted(sub))
}

/// The kind of JSON value that starts with byte `first`, as an error message names it.
pub(super) fn json_kind(first: u8) -> Option<&'static str> {
    Some(match first {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        b'-' | b'0'..=b'9' => "a number",
        _ => return None,
    })
}

/// A 400 naming `param`, with OpenAI's `code` for what is wrong with it.
fn invalid_as(code: &'static str, message: String, param: String) -> GatewayError {
    GatewayError::InvalidRequest {
        message,
        param: Some(param),
        code: Some(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::request::parse_request;

    fn image(url: &str) -> ImageUrl {
        ImageUrl {
            url: url.to_owned(),
            detail: None,
        }
    }

    #[test]
    fn image_urls_are_http_or_base64_data() {
        for ok in [
            "https://example.com/cat.png",
            "http://example.com/cat.png",
            "data:image/png;base64,iVBORw0KGgo=",
            "data:image/svg+xml;base64,PHN2Zz4=",
        ] {
            assert_eq!(image(ok).check(), Ok(()), "{ok}");
        }
        for bad in [
            "file:///etc/passwd",
            "/tmp/cat.png",
            "ftp://example.com/cat.png",
            "https://",
            "data:image/png,iVBORw0KGgo=",
            "data:;base64,iVBORw0KGgo=",
            "data:image;base64,iVBORw0KGgo=",
            "data:image/png;base64,",
            "data:image/png;charset=utf-8;base64,iVBORw0KGgo=",
            "",
        ] {
            assert!(image(bad).check().is_err(), "{bad}");
        }
    }

    #[test]
    fn function_names_follow_openai() {
        assert!(check_function_name("get_weather-v2").is_ok());
        assert!(check_function_name(&"a".repeat(64)).is_ok());
        assert_eq!(check_function_name("").unwrap_err().1, "empty_string");
        assert_eq!(
            check_function_name(&"a".repeat(65)).unwrap_err().1,
            "string_above_max_length"
        );
        for bad in ["get weather", "get.weather", "wetter_für_heute", "a/b"] {
            assert_eq!(check_function_name(bad).unwrap_err().1, "invalid_value");
        }
    }

    #[test]
    fn parameters_with_leading_whitespace_are_still_an_object() {
        let body = r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters":
              {"type": "object"}}}]}"#;
        parse_request(body.as_bytes()).unwrap().validate().unwrap();
    }

    #[test]
    fn the_body_must_be_an_object() {
        for (body, kind) in [
            (
                r#" ["gpt-4o-mini", [{"role": "user", "content": "hi"}]]"#,
                "array",
            ),
            (r#""hi""#, "string"),
            ("42", "number"),
            ("null", "null"),
        ] {
            let err = parse_request(body.as_bytes()).unwrap_err();
            let GatewayError::InvalidRequest { message, code, .. } = &err else {
                panic!("{err:?}");
            };
            assert_eq!(*code, Some("invalid_type"), "{body}");
            assert!(message.contains(kind), "{body}: {message}");
        }
        // Not JSON at all stays the parser's error.
        let err = parse_request(b"nope").unwrap_err();
        assert!(matches!(
            err,
            GatewayError::InvalidRequest {
                code: Some("invalid_json"),
                ..
            }
        ));
    }
}
