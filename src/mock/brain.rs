//! The simulated model: a deterministic answer from a format-neutral prompt.
//!
//! Every simulated wire format parses its own request into a [`Prompt`] and renders the
//! [`Answer`] in its own shape. Same input, same answer, so tests can assert content.
//!
//! Behaviour a test can rely on:
//! - plain prompts get `Hello from {model}. You said: {last user text}`;
//! - when the conversation ends with tool results: `The tool returned: {r1}; {r2}.`;
//! - when tools are offered and `tool_choice` is required/named, or the prompt mentions
//!   a tool's name or the word "tool", the model calls a tool with arguments valid for
//!   its JSON schema, one call per capitalised name in the prompt ("Paris and Rome" →
//!   two parallel calls) unless parallel calls are off;
//! - a prompt containing `[[blocked]]` is refused by the provider's safety system;
//! - `max_tokens` below the answer's length cuts it and reports `length`.

use serde_json::{Map, Value, json};

/// What tool use the request allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolMode {
    Auto,
    None,
    Required,
    Named(String),
}

/// A declared tool.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: String,
    /// JSON Schema of the arguments (`{}` when absent).
    pub parameters: Value,
}

/// The request, format-neutral.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub model: String,
    /// Text of the last user message.
    pub last_user: String,
    /// Total characters of all message text, for prompt-token counts.
    pub text_chars: usize,
    pub messages: usize,
    pub tools: Vec<ToolSpec>,
    pub tool_mode: ToolMode,
    pub parallel_tool_calls: bool,
    /// Tool results at the end of the conversation, in order.
    pub tool_results: Vec<String>,
    pub max_tokens: Option<u32>,
    pub json_mode: bool,
    /// The schema a structured-output request gave: the answer is an instance of it.
    pub json_schema: Option<Value>,
    /// Whether the request switched thinking on.
    pub thinking: bool,
}

impl Prompt {
    /// A prompt with nothing but a model name and user text.
    pub fn new(model: &str, last_user: &str) -> Self {
        Self {
            model: model.to_owned(),
            last_user: last_user.to_owned(),
            text_chars: last_user.len(),
            messages: 1,
            tools: Vec::new(),
            tool_mode: ToolMode::Auto,
            parallel_tool_calls: true,
            tool_results: Vec::new(),
            max_tokens: None,
            json_mode: false,
            json_schema: None,
            thinking: false,
        }
    }
}

/// A simulated tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct MockCall {
    pub name: String,
    /// Arguments as a JSON object.
    pub arguments: Value,
}

/// Why the simulated model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
    ToolCalls,
    /// The safety system refused the prompt.
    Blocked,
}

/// The simulated model's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Answer text split into tokens (each with its leading space).
    pub tokens: Vec<String>,
    /// Thinking text tokens, when thinking was on.
    pub reasoning: Vec<String>,
    pub calls: Vec<MockCall>,
    pub finish: Finish,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub reasoning_tokens: u64,
    /// A stable hash of the prompt, for deterministic ids.
    pub seed: u64,
}

impl Answer {
    /// The whole answer text.
    pub fn text(&self) -> String {
        self.tokens.concat()
    }
}

/// Answers a prompt.
pub fn answer(p: &Prompt) -> Answer {
    let seed = fnv(&format!(
        "{}|{}|{}",
        p.model,
        p.last_user,
        p.tool_results.join("|")
    ));
    let prompt_tokens = (p.text_chars as u64).div_ceil(4) + 3 * p.messages as u64;
    let reasoning = if p.thinking {
        split_tokens("Let me think about what the user needs before answering.")
    } else {
        Vec::new()
    };
    let reasoning_tokens = reasoning.len() as u64;
    if p.last_user.contains("[[blocked]]") {
        return Answer {
            tokens: Vec::new(),
            reasoning: Vec::new(),
            calls: Vec::new(),
            finish: Finish::Blocked,
            prompt_tokens,
            completion_tokens: 0,
            reasoning_tokens: 0,
            seed,
        };
    }
    if p.tool_results.is_empty() && wants_tool(p) {
        let calls = tool_calls(p);
        let args_chars: usize = calls.iter().map(|c| c.arguments.to_string().len()).sum();
        return Answer {
            tokens: Vec::new(),
            reasoning,
            completion_tokens: (args_chars as u64).div_ceil(4)
                + 5 * calls.len() as u64
                + reasoning_tokens,
            calls,
            finish: Finish::ToolCalls,
            prompt_tokens,
            reasoning_tokens,
            seed,
        };
    }
    let text = if !p.tool_results.is_empty() {
        format!("The tool returned: {}.", p.tool_results.join("; "))
    } else {
        format!("Hello from {}. You said: {}", p.model, p.last_user.trim())
    };
    let text = match &p.json_schema {
        Some(schema) => value_for(schema, "example").to_string(),
        None if p.json_mode => json!({ "answer": text }).to_string(),
        None => text,
    };
    let mut tokens = split_tokens(&text);
    let mut finish = Finish::Stop;
    if let Some(max) = p.max_tokens {
        let room = (max as usize).saturating_sub(reasoning.len());
        if tokens.len() > room {
            tokens.truncate(room);
            finish = Finish::Length;
        }
    }
    Answer {
        completion_tokens: tokens.len() as u64 + reasoning_tokens,
        tokens,
        reasoning,
        calls: Vec::new(),
        finish,
        prompt_tokens,
        reasoning_tokens,
        seed,
    }
}

fn wants_tool(p: &Prompt) -> bool {
    if p.tools.is_empty() {
        return false;
    }
    match &p.tool_mode {
        ToolMode::None => false,
        ToolMode::Required | ToolMode::Named(_) => true,
        ToolMode::Auto => {
            let lower = p.last_user.to_lowercase();
            lower.contains("tool") || p.tools.iter().any(|t| mentions(&lower, &t.name))
        }
    }
}

fn tool_calls(p: &Prompt) -> Vec<MockCall> {
    let tool = match &p.tool_mode {
        ToolMode::Named(name) => p.tools.iter().find(|t| &t.name == name),
        _ => {
            let lower = p.last_user.to_lowercase();
            p.tools.iter().find(|t| mentions(&lower, &t.name))
        }
    }
    .or(p.tools.first());
    let Some(tool) = tool else {
        return Vec::new();
    };
    let mut things = named_things(&p.last_user);
    if things.is_empty() {
        things.push(
            p.last_user
                .split_whitespace()
                .last()
                .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_owned())
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "example".to_owned()),
        );
    }
    if !p.parallel_tool_calls {
        things.truncate(1);
    }
    things
        .into_iter()
        .map(|thing| MockCall {
            name: tool.name.clone(),
            arguments: value_for(&tool.parameters, &thing),
        })
        .collect()
}

/// Whether lower-cased `text` mentions tool `name`: the name itself, or one of its
/// words that is not a generic verb (`get_weather` is mentioned by "weather").
fn mentions(text: &str, name: &str) -> bool {
    const VERBS: &[&str] = &[
        "get", "set", "list", "find", "search", "fetch", "make", "create", "lookup", "call",
    ];
    let name = name.to_lowercase();
    text.contains(&name)
        || name
            .split(['_', '-'])
            .any(|w| w.len() >= 4 && !VERBS.contains(&w) && text.contains(w))
}

/// Capitalised words that do not start a sentence: "weather in Paris and Rome" → Paris, Rome.
fn named_things(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut sentence_start = true;
    for raw in text.split_whitespace() {
        let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
        let capital = word.chars().next().is_some_and(char::is_uppercase);
        if capital && !sentence_start && word != "I" && !out.iter().any(|w| w == word) {
            out.push(word.to_owned());
        }
        sentence_start = raw.ends_with(['.', '?', '!']);
    }
    out
}

/// A value valid for `schema`, using `thing` for strings.
fn value_for(schema: &Value, thing: &str) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    let kind = schema
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| {
            if schema.get("properties").is_some() {
                "object"
            } else {
                "string"
            }
            .to_owned()
        });
    match kind.as_str() {
        "object" => {
            let mut obj = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for (name, prop) in props {
                    if required.is_empty() || required.contains(&name.as_str()) {
                        obj.insert(name.clone(), value_for(prop, thing));
                    }
                }
            }
            Value::Object(obj)
        }
        "array" => {
            let item = schema
                .get("items")
                .cloned()
                .unwrap_or(json!({"type": "string"}));
            json!([value_for(&item, thing)])
        }
        "integer" => json!(1),
        "number" => json!(1.5),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => json!(thing),
    }
}

/// Splits text into word tokens, each keeping its leading space.
pub fn split_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c == ' ' && !cur.is_empty() && !cur.ends_with(' ') {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// FNV-1a: a stable hash (std's hasher is randomised per process).
pub fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A deterministic alphanumeric id of `len` characters from `seed` and `salt`.
pub fn stable_id(seed: u64, salt: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut x = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % 62) as usize] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weather_tool() -> ToolSpec {
        ToolSpec {
            name: "get_weather".into(),
            parameters: json!({"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},"required":["city","unit"]}),
        }
    }

    #[test]
    fn plain_answer_is_deterministic() {
        let p = Prompt::new("m", "Hi there");
        assert_eq!(answer(&p).text(), "Hello from m. You said: Hi there");
        assert_eq!(answer(&p).seed, answer(&p).seed);
    }

    #[test]
    fn two_named_things_make_two_parallel_calls() {
        let mut p = Prompt::new("m", "What is the weather in Paris and Rome?");
        p.tools = vec![weather_tool()];
        let a = answer(&p);
        assert_eq!(a.finish, Finish::ToolCalls);
        assert_eq!(a.calls.len(), 2);
        assert_eq!(a.calls[0].arguments, json!({"city":"Paris","unit":"c"}));
        assert_eq!(a.calls[1].arguments["city"], "Rome");
        p.parallel_tool_calls = false;
        assert_eq!(answer(&p).calls.len(), 1);
    }

    #[test]
    fn tool_results_end_the_loop_and_max_tokens_cuts() {
        let mut p = Prompt::new("m", "What is the weather in Paris?");
        p.tools = vec![weather_tool()];
        p.tool_results = vec!["18C".into()];
        assert_eq!(answer(&p).text(), "The tool returned: 18C.");
        let mut q = Prompt::new("m", "one two three four five six");
        q.max_tokens = Some(2);
        let a = answer(&q);
        assert_eq!(a.finish, Finish::Length);
        assert_eq!(a.tokens.len(), 2);
    }
}
