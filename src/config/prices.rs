//! A model's prices (USD per million tokens) and the one cost formula every part of
//! the gateway uses (usage records, the cost metric, what a cache hit saved):
//!
//! ```text
//! cost = (prompt - cached) × input + cached × cached_input + completion × output
//! ```
//! all divided by 1 000 000. Cached prompt tokens (OpenAI `cached_tokens`, Anthropic
//! `cache_read_input_tokens`, Gemini `cachedContentTokenCount`, DeepSeek
//! `prompt_cache_hit_tokens`) are billed at `cached_input_per_mtok_usd`, which defaults
//! to the input price. Cache-write tokens (Anthropic `cache_creation_input_tokens`) are
//! part of the prompt and billed at the input price: the config has no separate
//! write price. Reasoning tokens are part of the completion and billed as output.

use crate::canonical::Usage;

const PER_MILLION: f64 = 1_000_000.0;

/// Prices in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    pub input: f64,
    pub output: f64,
    pub cached_input: f64,
}

impl Prices {
    /// The provider's charge for `usage` at these prices, in USD.
    pub fn cost_usd(&self, usage: &Usage) -> f64 {
        let cached = usage.cached_tokens.min(usage.prompt_tokens);
        let uncached = usage.prompt_tokens - cached;
        (uncached as f64 * self.input
            + cached as f64 * self.cached_input
            + usage.completion_tokens as f64 * self.output)
            / PER_MILLION
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRICES: Prices = Prices {
        input: 3.0,
        output: 15.0,
        cached_input: 0.3,
    };

    #[test]
    fn plain_prompt_and_completion() {
        let u = Usage {
            prompt_tokens: 1_000,
            completion_tokens: 500,
            ..Usage::default()
        };
        // 1000 × 3 + 500 × 15 = 10 500 per million.
        assert!((PRICES.cost_usd(&u) - 0.0105).abs() < 1e-12);
    }

    #[test]
    fn cached_tokens_are_billed_at_the_cached_price() {
        let u = Usage {
            prompt_tokens: 1_000,
            cached_tokens: 800,
            completion_tokens: 100,
            ..Usage::default()
        };
        // 200 × 3 + 800 × 0.3 + 100 × 15 = 600 + 240 + 1500 = 2340 per million.
        assert!((PRICES.cost_usd(&u) - 0.002_34).abs() < 1e-12);
    }

    #[test]
    fn cached_beyond_prompt_is_capped() {
        let u = Usage {
            prompt_tokens: 10,
            cached_tokens: 50,
            ..Usage::default()
        };
        assert!((PRICES.cost_usd(&u) - 10.0 * 0.3 / 1e6).abs() < 1e-15);
    }

    #[test]
    fn cache_writes_and_reasoning_cost_their_base_price() {
        let u = Usage {
            prompt_tokens: 100,
            cache_write_tokens: 60,
            completion_tokens: 40,
            reasoning_tokens: 30,
            ..Usage::default()
        };
        assert!((PRICES.cost_usd(&u) - (100.0 * 3.0 + 40.0 * 15.0) / 1e6).abs() < 1e-15);
    }
}
