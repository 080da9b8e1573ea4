//! How deeply a request body nests, checked on the raw bytes before it is parsed.
//!
//! serde_json stops its own recursion at 128 levels, but not when it skips a value:
//! tool `parameters` are kept as a `RawValue` and unknown fields are ignored, and both
//! accept any depth. A schema nested ten thousand levels deep would then reach every
//! provider (and anything that walks it). [`check`] bounds the whole body in one pass
//! that counts `[` and `{` outside strings, with no allocation. String contents, the
//! bulk of a body, are skipped with `memchr`: on a 170 KB conversation the pass costs
//! about a tenth of what parsing it does (under half when the text is dense with
//! escaped quotes, as JSON tool results are). Only a body that fails is scanned again,
//! to name the parameter that is too deep.

use std::fmt::Write as _;

use crate::error::GatewayError;

/// The deepest a body may nest, counting the body's own object as level 1.
///
/// The typed part of a request needs 6 levels at most (`messages[i].content[j].image_url`);
/// tool parameters start at level 5, a `response_format` schema at level 4. JSON Schema
/// spends two levels per nested object (`properties` and the property), so 64 leaves
/// room for schemas about 29 objects deep, three times what OpenAI's structured outputs
/// accept (10 levels). It is also below serde_json's own limit of 128, so a too-deep
/// `response_format` schema gets this error, which names it, instead of a bare
/// "recursion limit exceeded".
pub const MAX_DEPTH: usize = 64;

/// The JSON values whose content is the client's own, not part of the request's shape:
/// when nesting goes too deep inside one, the error names the value itself rather than
/// only the top-level field (`"*"` stands for any array index).
const FREE_FORM: &[&[&str]] = &[
    &["tools", "*", "function", "parameters"],
    &["response_format", "json_schema", "schema"],
];

/// A 400 when `body` nests deeper than [`MAX_DEPTH`], naming where.
pub fn check(body: &[u8]) -> Result<(), GatewayError> {
    match first_past(body, MAX_DEPTH) {
        None => Ok(()),
        Some(offset) => {
            let param = param_at(body, offset);
            let what = match &param {
                Some(p) => format!("'{p}'"),
                None => "the request body".to_owned(),
            };
            let message = format!(
                "{what} nests too deeply: a request may nest at most {MAX_DEPTH} levels of arrays and objects"
            );
            Err(GatewayError::InvalidRequest {
                message,
                param,
                code: Some("nesting_too_deep"),
            })
        }
    }
}

/// The offset of the first `[` or `{` that opens level `max + 1`, if any.
///
/// Tolerates malformed JSON (it only counts); the parser reports what is wrong with it.
fn first_past(body: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        match b {
            b'"' => {
                i = string_end(body, i + 1);
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The offset just past the `"` that closes the string whose content starts at `i`
/// (the body's length when it never closes).
///
/// Looks only for quotes (one SIMD scan for a whole string, however many `\n` it
/// holds); a quote after an odd run of backslashes is escaped. The run cannot reach
/// back past the string's opening quote, which is not a backslash.
fn string_end(body: &[u8], i: usize) -> usize {
    let Some(rest) = body.get(i..) else {
        return body.len();
    };
    for k in memchr::memchr_iter(b'"', rest) {
        let quote = i + k;
        let backslashes = body[..quote]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return quote + 1;
        }
    }
    body.len()
}

/// One step of the path to a position in the body.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    /// The member of an object under this key, as written (escapes left as they are).
    Key(&'a [u8]),
    Index(usize),
}

/// The parameter to name for the too-deep container opening at `offset`: the free-form
/// value it sits in when there is one, else the top-level field (none when the body
/// itself is not an object).
fn param_at(body: &[u8], offset: usize) -> Option<String> {
    let path = path_at(body, offset);
    if !matches!(path.first(), Some(Step::Key(_))) {
        return None;
    }
    let free_form = FREE_FORM.iter().find(|pattern| {
        pattern.len() <= path.len()
            && pattern.iter().zip(&path).all(|(want, step)| match step {
                Step::Key(k) => *want != "*" && want.as_bytes() == *k,
                Step::Index(_) => *want == "*",
            })
    });
    let len = free_form.map_or(1, |p| p.len());
    let path = path.get(..len)?;
    let mut param = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !param.is_empty() {
                    param.push('.');
                }
                param.push_str(&String::from_utf8_lossy(k));
            }
            Step::Index(n) => {
                let _ = write!(param, "[{n}]");
            }
        }
    }
    Some(param)
}

/// The path from the body's root to the container opening at `offset`. Only run for a
/// body that failed [`first_past`], so its allocations cost nothing on the hot path.
fn path_at(body: &[u8], offset: usize) -> Vec<Step<'_>> {
    /// An open container: an object's current key (and whether one is expected next),
    /// or an array's current index.
    enum Open<'a> {
        Object { key: &'a [u8], at_key: bool },
        Array { index: usize },
    }
    let mut open: Vec<Open<'_>> = Vec::new();
    let mut i = 0;
    while i < offset {
        match body[i] {
            b'"' => {
                let end = string_end(body, i + 1);
                if let Some(Open::Object { key, at_key: true }) = open.last_mut() {
                    *key = body.get(i + 1..end - 1).unwrap_or_default();
                }
                i = end;
                continue;
            }
            b':' => {
                if let Some(Open::Object { at_key, .. }) = open.last_mut() {
                    *at_key = false;
                }
            }
            b',' => match open.last_mut() {
                Some(Open::Object { at_key, .. }) => *at_key = true,
                Some(Open::Array { index }) => *index += 1,
                None => {}
            },
            b'{' => open.push(Open::Object {
                key: &[],
                at_key: true,
            }),
            b'[' => open.push(Open::Array { index: 0 }),
            b']' | b'}' => {
                open.pop();
            }
            _ => {}
        }
        i += 1;
    }
    open.into_iter()
        .map(|o| match o {
            Open::Object { key, .. } => Step::Key(key),
            Open::Array { index } => Step::Index(index),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn counts_the_body_object_as_level_one() {
        assert_eq!(first_past(b"{}", 1), None);
        assert_eq!(first_past(b"{}", 0), Some(0));
        assert_eq!(first_past(br#"{"a":[{}]}"#, 3), None);
        assert_eq!(first_past(br#"{"a":[{}]}"#, 2), Some(6));
    }

    #[test]
    fn siblings_do_not_add_up() {
        let body = r#"{"a":[[1],[2],[3]],"b":{"c":{}},"d":[[[]]]}"#;
        assert_eq!(first_past(body.as_bytes(), 4), None);
        assert_eq!(
            first_past(body.as_bytes(), 3),
            body.find("[[]]").map(|i| i + 1)
        );
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let body = format!(r#"{{"a":"{}","b":"\"[[[","c":"\\"}}"#, nested(200));
        assert_eq!(first_past(body.as_bytes(), 1), None);
        // After an escaped backslash the quote closes the string: `[` counts again.
        assert_eq!(first_past(br#"{"a":"\\",[]}"#, 1), Some(10));
        // `\"` does not close it.
        assert_eq!(first_past(br#"{"a":"\"[]"}"#, 1), None);
        assert_eq!(first_past(br#"{"a":"\\\"[]"}"#, 1), None);
        assert_eq!(first_past(br#"{"a":"\\\\",[]}"#, 1), Some(12));
    }

    #[test]
    fn tolerates_what_the_parser_will_reject() {
        for body in [&b""[..], b"]]]}}", b"{\"open", b"{\"a\\", b"[[[", b"\"\\"] {
            assert_eq!(first_past(body, MAX_DEPTH), None, "{body:?}");
        }
        assert_eq!(first_past(b"]]][[", 1), Some(4));
    }

    #[test]
    fn the_limit_itself_passes_one_more_fails() {
        let ok = format!(r#"{{"x":{}}}"#, nested(MAX_DEPTH - 1));
        assert!(check(ok.as_bytes()).is_ok());
        let deep = format!(r#"{{"x":{}}}"#, nested(MAX_DEPTH));
        let err = check(deep.as_bytes()).unwrap_err();
        let GatewayError::InvalidRequest { param, code, .. } = err else {
            panic!("{err:?}");
        };
        assert_eq!(param.as_deref(), Some("x"));
        assert_eq!(code, Some("nesting_too_deep"));
    }

    #[test]
    fn names_tool_parameters_and_response_schemas() {
        let deep = format!(r#"{{"a":{}}}"#, "{\"a\":".repeat(10_000));
        let body = format!(
            r#"{{"model":"m","tools":[{{"type":"function","function":{{"name":"f"}}}},
               {{"type":"function","function":{{"name":"g","parameters":{deep}}}}}]}}"#
        );
        assert_eq!(
            param_at(
                body.as_bytes(),
                first_past(body.as_bytes(), MAX_DEPTH).unwrap()
            ),
            Some("tools[1].function.parameters".to_owned())
        );
        let body = format!(
            r#"{{"response_format":{{"type":"json_schema","json_schema":{{"name":"s","schema":{deep}}}}}}}"#
        );
        assert_eq!(
            param_at(
                body.as_bytes(),
                first_past(body.as_bytes(), MAX_DEPTH).unwrap()
            ),
            Some("response_format.json_schema.schema".to_owned())
        );
    }

    #[test]
    fn elsewhere_names_the_top_level_field() {
        let body = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"[{{"}}],"metadata":{}}}"#,
            nested(100)
        );
        assert_eq!(
            param_at(
                body.as_bytes(),
                first_past(body.as_bytes(), MAX_DEPTH).unwrap()
            ),
            Some("metadata".to_owned())
        );
        // A key that only starts like a free-form path is not one.
        let body = format!(
            r#"{{"tools":[{{"function":{{"params":{}}}}}]}}"#,
            nested(100)
        );
        assert_eq!(
            param_at(
                body.as_bytes(),
                first_past(body.as_bytes(), MAX_DEPTH).unwrap()
            ),
            Some("tools".to_owned())
        );
    }

    #[test]
    fn a_bare_array_has_no_parameter_to_name() {
        let body = nested(100);
        assert_eq!(param_at(body.as_bytes(), MAX_DEPTH), None);
    }
}
