//! Key selection, disabling, reloads and queue bounds.

use std::time::Duration;

use super::*;
use crate::config::ModelConfig;
use crate::config::ProviderKind;

fn pool(keys: &[&str], limits: RateLimits) -> KeyPool {
    let m = ModelConfig::standalone(ProviderKind::Openai, "http://x", "m", 16);
    let mut p = Arc::into_inner(m.provider).unwrap();
    p.keys = keys.iter().map(|k| Secret::new(*k)).collect();
    p.limits = limits;
    KeyPool::new(&p)
}

fn go(a: Admission) -> (Duration, Lease) {
    match a {
        Admission::Go(w, l) => (w, l),
        other => panic!("expected Go, got {other:?}"),
    }
}

#[test]
fn fingerprints_are_short_and_never_the_key() {
    let f = fingerprint(&Secret::new("sk-secret-123"));
    assert_eq!(f.len(), 8);
    assert!(f.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(!"sk-secret-123".contains(&f));
}

#[tokio::test]
async fn requests_spread_over_keys_and_skip_disabled_ones() {
    let p = pool(&["k1", "k2"], RateLimits::default());
    let (_, a) = go(p.admit(10, Duration::ZERO));
    let (_, b) = go(p.admit(10, Duration::ZERO));
    assert_ne!(a.key().secret().expose(), b.key().secret().expose());
    p.disable(a.key());
    assert_eq!(p.enabled(), 1);
    for _ in 0..4 {
        let (_, l) = go(p.admit(10, Duration::ZERO));
        assert_eq!(l.key().secret().expose(), b.key().secret().expose());
    }
    p.disable(b.key());
    assert!(matches!(p.admit(10, Duration::ZERO), Admission::NoKeys));
    // A reload brings keys back; a held lease keeps its (old) key.
    p.replace(vec![Secret::new("k2"), Secret::new("k3")]);
    assert_eq!(p.enabled(), 2);
    assert_eq!(a.key().secret().expose(), "k1");
}

#[tokio::test(start_paused = true)]
async fn an_empty_bucket_queues_within_budget_then_saturates() {
    let limits = RateLimits {
        rpm: Some(60),
        max_queue: Duration::from_secs(5),
        max_queue_len: 2,
        ..RateLimits::default()
    };
    let p = pool(&["k1"], limits);
    let mut sent = Vec::new();
    for _ in 0..60 {
        let (w, mut l) = go(p.admit(0, Duration::from_secs(10)));
        assert_eq!(w, Duration::ZERO);
        l.sent();
        sent.push(l);
    }
    // Within the caller's budget: queued.
    let (w, q1) = go(p.admit(0, Duration::from_secs(10)));
    assert_eq!(w, Duration::from_secs(1));
    // Over the caller's budget: saturated, nothing reserved.
    assert!(matches!(
        p.admit(0, Duration::from_millis(500)),
        Admission::Saturated(_)
    ));
    let (_, _q2) = go(p.admit(0, Duration::from_secs(10)));
    // The queue holds two: the third is turned away.
    assert!(matches!(
        p.admit(0, Duration::from_secs(10)),
        Admission::Saturated(_)
    ));
    // Giving up a queued slot frees it and refunds the reservation.
    drop(q1);
    let (w, _q3) = go(p.admit(0, Duration::from_secs(10)));
    assert_eq!(w, Duration::from_secs(2));
}
