//! Which optional OpenAI parameters each provider takes ([`Accepts`], stated by every
//! adapter), and which ones a request set ([`AskedParams`], taken before the request
//! moves into the dispatcher), so an answer can name in `x-switchyard-dropped-params`
//! what its provider did not receive. Parameters every adapter maps (sampling, stop,
//! tools, limits) are not listed.

use super::ChatRequest;

/// Which optional OpenAI parameters a provider kind takes. The OpenAI family's
/// request builder forwards by it; the other adapters map what they can and state it
/// here. Parameters every adapter maps (sampling, stop, tools, limits) are not listed.
#[derive(Debug, Clone, Copy)]
pub struct Accepts {
    pub seed: bool,
    /// `presence_penalty` and `frequency_penalty`.
    pub penalties: bool,
    /// `logprobs` and `top_logprobs`.
    pub logprobs: bool,
    pub logit_bias: bool,
    pub service_tier: bool,
    pub user: bool,
    pub parallel_tool_calls: bool,
    pub reasoning_effort: bool,
    /// `top_k` (not an OpenAI parameter: Anthropic, Gemini, Qwen, vLLM and the like).
    pub top_k: bool,
    /// Which keys of [`ChatRequest::extra`] are forwarded.
    pub extra: ExtraParams,
}

impl Accepts {
    /// Everything OpenAI's Chat Completions takes; unknown keys only if named.
    pub const OPENAI: Self = Self {
        seed: true,
        penalties: true,
        logprobs: true,
        logit_bias: true,
        service_tier: true,
        user: true,
        parallel_tool_calls: true,
        reasoning_effort: true,
        top_k: false,
        extra: ExtraParams::Only(OPENAI_EXTRA_PARAMS),
    };
}

/// OpenAI Chat Completions parameters the gateway does not type but forwards to
/// OpenAI itself (shared/reference/providers.md §2.2 "Other").
pub const OPENAI_EXTRA_PARAMS: &[&str] = &[
    "store",
    "metadata",
    "prediction",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "verbosity",
    "modalities",
    "audio",
    "web_search_options",
];

/// Which top-level keys outside the typed request a provider receives.
#[derive(Debug, Clone, Copy)]
pub enum ExtraParams {
    /// None: they are reported as dropped.
    None,
    /// The listed ones (documented parameters or extensions of that provider).
    Only(&'static [&'static str]),
    /// All of them: a generic openai-compatible server (vLLM's `top_k`,
    /// `chat_template_kwargs`, …) is what clients' `extra_body` is written for, so
    /// choosing that kind is the opt-in.
    All,
}

impl ExtraParams {
    /// Whether key `k` is forwarded.
    pub fn forwards(&self, k: &str) -> bool {
        match self {
            Self::None => false,
            Self::Only(names) => names.contains(&k),
            Self::All => true,
        }
    }
}

/// Whether an [`Accepts`] lets one parameter through.
type Switch = fn(&Accepts) -> bool;

/// The optional parameters of the reference that providers differ on, in its order,
/// with the [`Accepts`] switch that lets each through.
const KNOWN: [(&str, Switch); 11] = [
    ("seed", |a| a.seed),
    ("presence_penalty", |a| a.penalties),
    ("frequency_penalty", |a| a.penalties),
    ("logprobs", |a| a.logprobs),
    ("top_logprobs", |a| a.logprobs),
    ("logit_bias", |a| a.logit_bias),
    ("service_tier", |a| a.service_tier),
    ("user", |a| a.user),
    ("parallel_tool_calls", |a| a.parallel_tool_calls),
    ("reasoning_effort", |a| a.reasoning_effort),
    ("top_k", |a| a.top_k),
];

/// The optional parameters one request set: a bit per [`KNOWN`] entry and the keys
/// outside the typed request. Nothing is allocated for a request without extra keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AskedParams {
    known: u16,
    extra: Vec<Box<str>>,
}

impl AskedParams {
    /// Whether the request set none of them.
    pub fn is_empty(&self) -> bool {
        self.known == 0 && self.extra.is_empty()
    }

    /// What `req` set.
    pub fn of(req: &ChatRequest) -> Self {
        let set = [
            req.seed.is_some(),
            req.presence_penalty.is_some(),
            req.frequency_penalty.is_some(),
            req.logprobs.is_some(),
            req.top_logprobs.is_some(),
            req.logit_bias.is_some(),
            req.service_tier.is_some(),
            req.user.is_some(),
            req.parallel_tool_calls.is_some(),
            req.reasoning_effort.is_some(),
            req.top_k.is_some(),
        ];
        let known = set
            .iter()
            .enumerate()
            .fold(0, |bits, (i, &on)| bits | (u16::from(on) << i));
        Self {
            known,
            extra: req.extra.keys().map(|k| k.as_str().into()).collect(),
        }
    }

    /// The parameters a provider that accepts `a` does not receive: the known ones in
    /// the reference's order, then the extra keys in the order the map keeps them.
    pub fn dropped_by(&self, a: &Accepts) -> Vec<&str> {
        let known = KNOWN
            .iter()
            .enumerate()
            .filter(|&(i, (_, takes))| self.known & (1 << i) != 0 && !takes(a))
            .map(|(_, &(name, _))| name);
        let extra = self
            .extra
            .iter()
            .map(|k| &**k)
            .filter(|k| !a.extra.forwards(k));
        known.chain(extra).collect()
    }

    /// [`Self::dropped_by`], `None` when nothing was dropped (and nothing computed
    /// for a request that set none).
    pub fn dropped(&self, a: &Accepts) -> Option<Vec<&str>> {
        if self.is_empty() {
            return None;
        }
        Some(self.dropped_by(a)).filter(|d| !d.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::canonical::request::parse_request;

    fn asked(v: serde_json::Value) -> AskedParams {
        AskedParams::of(&parse_request(v.to_string().as_bytes()).unwrap())
    }

    /// A provider with no optional parameter at all.
    const NOTHING: Accepts = Accepts {
        seed: false,
        penalties: false,
        logprobs: false,
        logit_bias: false,
        service_tier: false,
        user: false,
        parallel_tool_calls: false,
        reasoning_effort: false,
        top_k: false,
        extra: ExtraParams::None,
    };

    #[test]
    fn dropped_params_follow_the_reference_order_then_the_extra_keys() {
        let a = asked(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "reasoning_effort": "low", "user": "u", "logit_bias": {"1": 1},
            "seed": 1, "store": true, "zeta": 1,
        }));
        assert_eq!(
            a.dropped_by(&NOTHING),
            [
                "seed",
                "logit_bias",
                "user",
                "reasoning_effort",
                "store",
                "zeta"
            ]
        );
        assert_eq!(a.dropped(&Accepts::OPENAI), Some(vec!["zeta"]));
        let only_known = Accepts {
            extra: ExtraParams::All,
            ..NOTHING
        };
        assert_eq!(
            a.dropped(&only_known),
            Some(vec!["seed", "logit_bias", "user", "reasoning_effort"])
        );
        let everything = Accepts {
            extra: ExtraParams::All,
            ..Accepts::OPENAI
        };
        assert_eq!(a.dropped(&everything), None);
    }

    #[test]
    fn a_request_without_optional_params_drops_nothing() {
        let a = asked(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2, "max_tokens": 5}),
        );
        assert_eq!(a, AskedParams::default());
        assert_eq!(a.dropped(&NOTHING), None);
    }
}
