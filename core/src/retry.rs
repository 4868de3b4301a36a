//! The controller's one retry policy.
//!
//! Every AWS call the controller makes goes through [`retry`] (the ports are wrapped in
//! [`crate::ports::Retrying`]), and the SDK's own retries are switched off (`breaker::aws`),
//! so there is exactly one place that decides whether and when to try again, and every
//! attempt passes the shared control-plane rate limiter ([`crate::ports::Limited`]).
//!
//! Retried: what [`Error::is_retryable`] says — throttling, `ResourceInUseException` (and a
//! mapping observed in transition), 5xx, timeouts and connection failures. Backoff is
//! exponential (`base`, `2·base`, … capped at `cap`) without jitter: the controller runs with
//! reserved concurrency 1, so there is no herd of its own retries to spread out, and a
//! deterministic schedule keeps the paused-clock tests exact.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::Error;

/// Default number of attempts, the first included.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// Default wait before the second attempt.
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(200);
/// Default longest wait between attempts. With the defaults the waits add up to 16.2 s,
/// about what a mapping takes to finish Enabling or Disabling.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(5);

/// How often and how patiently to retry: the one retry policy of the workspace (the
/// controller's calls, and the flooder's sends with [`RetryPolicy::jittered`] waits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles after each retry.
    #[serde(rename = "base_delay_ms", with = "millis")]
    pub base_delay: Duration,
    /// Longest wait between attempts.
    #[serde(rename = "max_delay_ms", with = "millis")]
    pub max_delay: Duration,
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_delay: DEFAULT_BASE_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
        }
    }
}

impl RetryPolicy {
    /// No retries at all: the first error is final.
    pub const NONE: Self = Self {
        max_attempts: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// The wait after failed attempt number `attempt` (1-based), with "full jitter": a
    /// `jitter` share (uniform in `[0, 1)`) of [`RetryPolicy::delay`], so many senders
    /// retrying at once spread out.
    pub fn jittered(&self, attempt: u32, jitter: f64) -> Duration {
        self.delay(attempt).mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Runs `call` until it succeeds, fails with an error that is not retryable, or has been
/// attempted `policy.max_attempts` times, waiting on `clock` between attempts; returns the
/// last result.
///
/// # Errors
/// The first non-retryable error, or the last retryable one when attempts run out.
pub async fn retry<C, T, F, Fut>(clock: &C, policy: &RetryPolicy, mut call: F) -> Result<T, Error>
where
    C: Clock + ?Sized,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if error.is_retryable() && attempt < policy.max_attempts => {
                let delay = policy.delay(attempt);
                tracing::warn!(
                    attempt,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %error,
                    "retrying AWS call"
                );
                clock.sleep(delay).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::error::AwsFault;
    use crate::operation::Operation;

    /// Tokio's (paused) time as the port.
    struct Tokio(tokio::time::Instant);

    impl Clock for Tokio {
        fn monotonic(&self) -> Duration {
            self.0.elapsed()
        }

        async fn sleep(&self, span: Duration) {
            tokio::time::sleep(span).await;
        }
    }

    fn clock() -> Tokio {
        Tokio(tokio::time::Instant::now())
    }

    fn throttled() -> Error {
        Error::aws(
            Operation::UpdateEventSourceMapping,
            AwsFault::Throttled,
            None,
            "rate",
        )
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let delays: Vec<u64> = (1..=7)
            .map(|a| u64::try_from(policy.delay(a).as_millis()).unwrap())
            .collect();
        assert_eq!(delays, [200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(policy.delay(200), DEFAULT_MAX_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_throttling_until_it_succeeds_with_exponential_waits() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let result = retry(&clock(), &RetryPolicy::default(), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(throttled())
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(started.elapsed(), Duration::from_millis(200 + 400 + 800));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_last_attempt_with_the_last_error() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let result: Result<(), Error> = retry(&clock(), &policy, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(throttled())
        })
        .await;
        assert_eq!(result, Err(throttled()));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_what_cannot_succeed() {
        let calls = AtomicU32::new(0);
        let denied = Error::aws(Operation::ListTags, AwsFault::Other, None, "AccessDenied");
        let result: Result<(), Error> = retry(&clock(), &RetryPolicy::default(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(denied.clone())
        })
        .await;
        assert_eq!(result, Err(denied));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
