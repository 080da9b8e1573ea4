//! Bucket arithmetic on paused time.

use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::providers::ratelimit_headers::Window;

fn limits(rpm: Option<u32>, tpm: Option<u32>) -> RateLimits {
    RateLimits {
        rpm,
        tpm,
        ..RateLimits::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_bucket_admits_its_limit_then_spaces_requests() {
    let now = Instant::now();
    let l = KeyLimiter::new(&limits(Some(60), None), now);
    for _ in 0..60 {
        assert_eq!(l.reserve(0, Duration::ZERO, now), Ok(Duration::ZERO));
    }
    // Empty: 60 per minute refills one per second.
    assert_eq!(
        l.reserve(0, Duration::ZERO, now),
        Err(Duration::from_secs(1))
    );
    assert_eq!(
        l.reserve(0, Duration::from_secs(2), now),
        Ok(Duration::from_secs(1))
    );
    // The queued one owns the next slot: the one after waits two seconds.
    assert_eq!(l.wait_for(0, now), Duration::from_secs(2));
    l.refund(0, now);
    assert_eq!(l.wait_for(0, now), Duration::from_secs(1));
    assert_eq!(l.wait_for(0, now + Duration::from_secs(1)), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn tokens_are_reserved_and_reconciled() {
    let now = Instant::now();
    let l = KeyLimiter::new(&limits(None, Some(6000)), now);
    assert_eq!(l.reserve(5000, Duration::ZERO, now), Ok(Duration::ZERO));
    assert_eq!(l.available(now).tokens, Some(1000.0));
    assert_eq!(l.available(now).requests, None);
    // The answer used 1000 tokens, not 5000.
    l.reconcile(5000, 1000, now);
    assert_eq!(l.available(now).tokens, Some(5000.0));
    // 100 tokens per second refill: 2000 more need 10 s... after 5000 are spent.
    assert_eq!(l.reserve(5000, Duration::ZERO, now), Ok(Duration::ZERO));
    assert_eq!(l.wait_for(1000, now), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn unlimited_keys_never_wait_but_follow_headers_and_429s() {
    let now = Instant::now();
    let l = KeyLimiter::new(&RateLimits::default(), now);
    assert_eq!(
        l.reserve(1_000_000, Duration::ZERO, now),
        Ok(Duration::ZERO)
    );
    l.observe(
        &Observed {
            requests: Window {
                limit: Some(120),
                remaining: Some(0),
                reset: Some(Duration::from_secs(3)),
            },
            tokens: Window::default(),
        },
        now,
    );
    assert_eq!(l.wait_for(0, now), Duration::from_secs(3));
    let later = now + Duration::from_secs(3);
    // Learned 120/min from the header: after the block, the refill is 2 per second.
    assert_eq!(l.available(later).requests, Some(6.0));
    l.block_until(later + Duration::from_secs(20), later);
    assert_eq!(l.wait_for(0, later), Duration::from_secs(20));
}

#[tokio::test(start_paused = true)]
async fn headers_only_tighten_a_configured_limit() {
    let now = Instant::now();
    let l = KeyLimiter::new(&limits(Some(10), None), now);
    let seen = |remaining| Observed {
        requests: Window {
            limit: Some(1000),
            remaining: Some(remaining),
            reset: None,
        },
        tokens: Window::default(),
    };
    l.observe(&seen(999), now);
    assert_eq!(l.available(now).requests, Some(10.0));
    l.observe(&seen(2), now);
    assert_eq!(l.available(now).requests, Some(2.0));
}

#[tokio::test(start_paused = true)]
async fn a_request_larger_than_the_bucket_waits_for_a_full_bucket() {
    let now = Instant::now();
    let l = KeyLimiter::new(&limits(None, Some(600)), now);
    assert_eq!(l.reserve(10_000, Duration::ZERO, now), Ok(Duration::ZERO));
    assert_eq!(l.wait_for(10_000, now), Duration::from_secs(60));
}
