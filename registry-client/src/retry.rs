//! Backoff arithmetic for retries: exponential, capped, with jitter.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

use crate::config::RetryPolicy;

/// The pause before retry number `retry` (1 = first retry): `initial * 2^(retry-1)` capped at
/// `max_backoff`, then "equal jitter": half fixed, half drawn from `jitter` (any u64).
pub(crate) fn backoff(policy: &RetryPolicy, retry: u32, jitter: u64) -> Duration {
    let exp = retry.saturating_sub(1).min(30);
    let base = policy
        .initial_backoff
        .saturating_mul(1u32 << exp)
        .min(policy.max_backoff);
    let half = base / 2;
    let half_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let extra = if half_nanos == 0 {
        0
    } else {
        jitter % (half_nanos + 1)
    };
    half + Duration::from_nanos(extra)
}

/// A fresh random number for jitter; std's `RandomState` is randomly keyed per instance,
/// which is plenty to spread retries of many clients apart.
pub(crate) fn jitter_seed(salt: u64) -> u64 {
    RandomState::new().hash_one(salt)
}

/// Whether an HTTP status is worth another attempt: 5xx and 429 only.
pub(crate) fn status_is_retryable(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
            max_elapsed: Duration::from_secs(5),
        }
    }

    #[test]
    fn backoff_doubles_and_caps_within_jitter_bounds() {
        let p = policy();
        for (retry, base_ms) in [(1u32, 100u64), (2, 200), (3, 400), (4, 700), (40, 700)] {
            let base = Duration::from_millis(base_ms);
            for jitter in [0u64, 1, 12345, u64::MAX] {
                let d = backoff(&p, retry, jitter);
                assert!(
                    d >= base / 2 && d <= base,
                    "retry {retry}: {d:?} vs {base:?}"
                );
            }
            assert_eq!(backoff(&p, retry, 0), base / 2);
        }
    }

    #[test]
    fn zero_backoff_stays_zero() {
        let p = RetryPolicy {
            initial_backoff: Duration::ZERO,
            ..policy()
        };
        assert_eq!(backoff(&p, 3, 999), Duration::ZERO);
    }

    #[test]
    fn jitter_varies() {
        let draws: std::collections::HashSet<u64> = (0..8).map(jitter_seed).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn only_5xx_and_429_retry() {
        assert!(status_is_retryable(500));
        assert!(status_is_retryable(503));
        assert!(status_is_retryable(429));
        assert!(!status_is_retryable(404));
        assert!(!status_is_retryable(401));
        assert!(!status_is_retryable(200));
    }
}
