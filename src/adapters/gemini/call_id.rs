//! Tool-call ids for Gemini, which returns function calls without ids and (Gemini 3)
//! with a `thoughtSignature` the next request must replay unchanged.
//!
//! OpenAI clients are stateless about tool calls: all they keep is the id. So the id
//! carries the signature: `call_<24 random alphanumerics>` when there is none, else
//! `call_<24 random alphanumerics>__ts_<base64url of the signature's bytes, unpadded>`.
//! Only `[A-Za-z0-9_-]` appear, which every provider's id rules accept (Anthropic
//! checks `^[a-zA-Z0-9_-]+$`), and `__` never occurs in ids the gateway or OpenAI mint.
//! An id that does not decode carries no signature: it came from another provider.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::canonical::ids;

/// Between the random part and the encoded signature.
const SEPARATOR: &str = "__ts_";

/// A fresh id for a call, carrying `signature` when Gemini sent one.
pub fn encode(signature: Option<&str>) -> String {
    let mut id = ids::tool_call_id();
    if let Some(sig) = signature.filter(|s| !s.is_empty()) {
        id.push_str(SEPARATOR);
        URL_SAFE_NO_PAD.encode_string(sig.as_bytes(), &mut id);
    }
    id
}

/// The signature an id carries, exactly as Gemini sent it.
pub fn signature(id: &str) -> Option<String> {
    let (_, encoded) = id.split_once(SEPARATOR)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_survives_the_id_and_only_safe_characters_appear() {
        let sig = "Ct8DAXLI2nw+/k9=Et8E…";
        let id = encode(Some(sig));
        assert!(id.starts_with("call_"));
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
        assert_eq!(signature(&id).as_deref(), Some(sig));
    }

    #[test]
    fn plain_and_foreign_ids_carry_no_signature() {
        let id = encode(None);
        assert_eq!(id.len(), 29);
        assert_eq!(signature(&id), None);
        assert_eq!(signature("call_00_abc"), None);
        assert_eq!(signature("toolu_01__ts_!!!"), None);
    }
}
