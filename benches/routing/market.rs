//! The simulated market: four candidates with different prices and speeds, and the
//! scripted phases that move them (a slowdown, an outage, jitter, errors, a 429 storm,
//! weight changes, a price change through reload, long prompts, fast-TTFT slow-token
//! answers). Each phase states the true behaviour of every provider, from which the
//! simulator draws outcomes and the objective computes every policy's expected cost.

use switchyard::config::weights::Weights;

/// The candidates, in config order (one provider and one model each).
pub const NAMES: [&str; 4] = ["thrifty", "steady", "twin", "swift"];
/// The candidate the degradation phases degrade: the steady-state optimum.
pub const DEGRADED: usize = 1;
/// Static cheapest (by list price) and static fastest (by steady-state speed).
pub const CHEAPEST: usize = 0;
pub const FASTEST: usize = 3;

/// List prices per million tokens (input, output) at the start.
pub const PRICES: [(f64, f64); 4] = [(0.15, 0.60), (0.60, 2.40), (0.60, 2.40), (3.00, 15.00)];
/// `swift`'s prices after the price-change reload.
pub const SWIFT_REPRICED: (f64, f64) = (0.90, 4.50);

/// How one provider truly behaves during a phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    /// Mean time to the first token for an empty prompt, ms.
    pub ttft_ms: f64,
    /// Added to the first token per 1000 prompt tokens, ms.
    pub prefill_ms_per_ktok: f64,
    /// Mean time per output token, ms.
    pub ms_per_token: f64,
    /// Log-normal jitter (sigma) of every latency; the mean stays the same.
    pub jitter: f64,
    /// Share of requests that fail with a server error.
    pub error_rate: f64,
    /// Connection refused, heartbeats too.
    pub outage: bool,
    /// Every request answered with 429 and `Retry-After`.
    pub rate_limited: bool,
}

impl Truth {
    const fn new(ttft_ms: f64, prefill_ms_per_ktok: f64, ms_per_token: f64) -> Self {
        Self {
            ttft_ms,
            prefill_ms_per_ktok,
            ms_per_token,
            jitter: 0.25,
            error_rate: 0.0,
            outage: false,
            rate_limited: false,
        }
    }

    /// Mean time to first token for a prompt of `prompt_tokens`.
    pub fn ttft(&self, prompt_tokens: f64) -> f64 {
        self.ttft_ms + self.prefill_ms_per_ktok * prompt_tokens / 1000.0
    }

    /// Mean whole-request time for `output_tokens`.
    pub fn latency(&self, prompt_tokens: f64, output_tokens: f64) -> f64 {
        self.ttft(prompt_tokens) + self.ms_per_token * output_tokens
    }

    /// Probability that an attempt fails.
    pub fn p_fail(&self) -> f64 {
        if self.outage || self.rate_limited {
            1.0
        } else {
            self.error_rate
        }
    }
}

/// The steady-state market.
pub const BASE: [Truth; 4] = [
    Truth::new(700.0, 100.0, 20.0),
    Truth::new(400.0, 50.0, 10.0),
    Truth::new(420.0, 50.0, 10.5),
    Truth::new(200.0, 20.0, 4.0),
];

/// What a phase is, for the adaptation figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Steady,
    /// `DEGRADED` is slowed, failing or rate limited: time to leave it.
    Degraded,
    /// `DEGRADED` is healthy again: time to win back its earlier share.
    Recovery,
    /// Weights or prices changed: time until 80 % follow the new optimum.
    Shift,
}

/// One scripted phase.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: &'static str,
    pub kind: Kind,
    pub seconds: f64,
    pub truth: [Truth; 4],
    pub weights: Weights,
    /// `swift` repriced (a config reload at the phase's start).
    pub repriced: bool,
    /// Prompts of 8k to 30k tokens instead of 200 to 2000.
    pub long_prompts: bool,
}

fn phase(name: &'static str, kind: Kind, seconds: f64) -> Phase {
    Phase {
        name,
        kind,
        seconds,
        truth: BASE,
        weights: Weights::default(),
        repriced: false,
        long_prompts: false,
    }
}

fn degraded(name: &'static str, seconds: f64, f: impl Fn(&mut Truth)) -> Phase {
    let mut p = phase(name, Kind::Degraded, seconds);
    f(&mut p.truth[DEGRADED]);
    p
}

/// The standard script: 435 s of market.
pub fn standard() -> Vec<Phase> {
    let weights = |price, latency| Weights {
        price,
        latency,
        errors: 1.0,
    };
    let mut all_price = phase("all_price", Kind::Shift, 30.0);
    all_price.weights = weights(1.0, 0.0);
    let mut mostly_latency = phase("mostly_latency", Kind::Shift, 30.0);
    mostly_latency.weights = weights(0.1, 0.9);
    let mut repriced = phase("price_change", Kind::Shift, 30.0);
    repriced.repriced = true;
    let mut long = phase("long_prompts", Kind::Shift, 30.0);
    long.repriced = true;
    long.long_prompts = true;
    let mut jitter = phase("jitter", Kind::Steady, 30.0);
    for t in &mut jitter.truth {
        t.jitter = 0.8;
    }
    let mut ttft = phase("fast_ttft_slow_tokens", Kind::Shift, 30.0);
    ttft.repriced = true;
    ttft.truth[DEGRADED] = Truth::new(100.0, 20.0, 30.0);
    vec![
        phase("steady", Kind::Steady, 40.0),
        degraded("slowed_5x", 30.0, |t| {
            t.ttft_ms *= 5.0;
            t.ms_per_token *= 5.0;
            t.prefill_ms_per_ktok *= 5.0;
        }),
        phase("recovery", Kind::Recovery, 30.0),
        degraded("outage", 30.0, |t| t.outage = true),
        phase("after_outage", Kind::Recovery, 25.0),
        jitter,
        degraded("error_rate", 30.0, |t| t.error_rate = 0.3),
        phase("after_errors", Kind::Recovery, 20.0),
        degraded("rate_limit_storm", 30.0, |t| t.rate_limited = true),
        phase("after_storm", Kind::Recovery, 20.0),
        all_price,
        mostly_latency,
        repriced,
        long,
        ttft,
    ]
}

/// Prices (input, output per million) of every candidate during `p`.
pub fn prices(p: &Phase) -> [(f64, f64); 4] {
    let mut out = PRICES;
    if p.repriced {
        out[3] = SWIFT_REPRICED;
    }
    out
}

/// The gateway config of the market: one provider per candidate, route `auto`, after
/// `extra` (`[health]` / `[scheduler]` settings to try).
pub fn config_toml(prices: &[(f64, f64); 4], extra: &str) -> String {
    let mut text = format!("{extra}\n");
    for (i, name) in NAMES.iter().enumerate() {
        let (input, output) = prices[i];
        text.push_str(&format!(
            "[providers.{name}]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\n\
             [[models]]\nname = \"{name}-model\"\nprovider = \"{name}\"\n\
             input_per_mtok_usd = {input}\noutput_per_mtok_usd = {output}\n\
             context_window = 128000\n\n"
        ));
    }
    let names: Vec<String> = NAMES.iter().map(|n| format!("\"{n}-model\"")).collect();
    text.push_str(&format!(
        "[routes.auto]\ncandidates = [{}]\n",
        names.join(", ")
    ));
    text
}
