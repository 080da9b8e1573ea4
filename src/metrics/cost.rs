//! `switchyard_cost_usd_total`: a counter of fractional dollars.
//!
//! The `metrics` facade's counters hold integers, and a typical answer costs a few
//! thousandths of a cent, so cost is summed here as `f64` per (provider, model,
//! tenant) and appended to the exposition as a counter family of its own. The lock is
//! held for one map lookup and an add; the lookup borrows the label strings, so only
//! the first answer of a new (provider, model, tenant) allocates.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use super::family_named;

/// The family this module renders.
pub const NAME: &str = "switchyard_cost_usd_total";

type Series = BTreeMap<String, BTreeMap<String, BTreeMap<String, f64>>>;

/// provider → model → tenant → USD.
static COST: Mutex<Series> = Mutex::new(BTreeMap::new());

/// Adds `usd` to the series of (`provider`, `model`, `tenant`).
pub fn add(provider: &str, model: &str, tenant: &str, usd: f64) {
    if !usd.is_finite() || usd < 0.0 {
        return;
    }
    let Ok(mut series) = COST.lock() else { return };
    if let Some(v) = series
        .get_mut(provider)
        .and_then(|m| m.get_mut(model))
        .and_then(|t| t.get_mut(tenant))
    {
        *v += usd;
        return;
    }
    series
        .entry(provider.to_owned())
        .or_default()
        .entry(model.to_owned())
        .or_default()
        .insert(tenant.to_owned(), usd);
}

/// Appends the family in the Prometheus text format (nothing before the first answer).
pub fn render_into(out: &mut String) {
    let Ok(series) = COST.lock() else { return };
    if series.is_empty() {
        return;
    }
    let help = family_named(NAME).map_or("", |f| f.help);
    let _ = writeln!(out, "# HELP {NAME} {help}");
    let _ = writeln!(out, "# TYPE {NAME} counter");
    for (provider, models) in series.iter() {
        for (model, tenants) in models {
            for (tenant, usd) in tenants {
                let _ = writeln!(
                    out,
                    "{NAME}{{provider=\"{}\",model=\"{}\",tenant=\"{}\"}} {usd}",
                    escape(provider),
                    escape(model),
                    escape(tenant)
                );
            }
        }
    }
    out.push('\n');
}

/// Escapes a label value as the text format requires.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_of_a_cent_add_up_and_render_as_a_counter() {
        add("p-cost-test", "m", "t", 0.000_125);
        add("p-cost-test", "m", "t", 0.000_125);
        add("p-cost-test", "m", "t", f64::NAN);
        let mut out = String::new();
        render_into(&mut out);
        assert!(out.contains("# TYPE switchyard_cost_usd_total counter\n"));
        assert!(
            out.contains("switchyard_cost_usd_total{provider=\"p-cost-test\",model=\"m\",tenant=\"t\"} 0.00025\n"),
            "{out}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
