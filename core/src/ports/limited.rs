//! [`Limited`]: every Lambda control-plane call of the wrapped ports waits on one shared rate
//! limiter first; [`Pace`]: a `governor` limiter paced on a [`Clock`].

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::delegate::delegate;
use super::{Alarms, Clock, Concurrency, EventSourceMappings, Queues};

/// `governor`'s clock, reading the last time [`Pace::wait`] took from a [`Clock`] port: the
/// limiter's arithmetic (GCRA) is `governor`'s, its time is the port's.
#[derive(Debug, Clone, Default)]
struct Reading(Arc<AtomicU64>);

impl Reading {
    /// Moves the reading on to `at`, never back: circuits wait on one limiter concurrently,
    /// and one that read the clock earlier must not set the limiter's time back. Returns the
    /// reading the limiter will use.
    fn advance_to(&self, at: Duration) -> Nanos {
        let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        let before = self.0.fetch_max(nanos, Ordering::SeqCst);
        Nanos::from(Duration::from_nanos(before.max(nanos)))
    }
}

impl governor::clock::Clock for Reading {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(Duration::from_nanos(self.0.load(Ordering::SeqCst)))
    }
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, Reading, NoOpMiddleware<Nanos>>;

/// A rate limit paced on a [`Clock`] port, so it holds on virtual and paused clocks alike.
#[derive(Debug)]
pub struct Pace {
    limiter: Gcra,
    reading: Reading,
    burst: NonZeroU32,
}

impl Pace {
    /// A limit of `quota`.
    pub fn new(quota: Quota) -> Self {
        let reading = Reading::default();
        Self {
            burst: quota.burst_size(),
            limiter: RateLimiter::direct_with_clock(quota, reading.clone()),
            reading,
        }
    }

    /// At most `rate` per second, with a burst of one second's worth.
    pub fn per_second(rate: NonZeroU32) -> Self {
        Self::new(Quota::per_second(rate))
    }

    /// Waits on `clock` until `n` more may go (at most the burst; more count as the burst).
    pub async fn wait<C: Clock + ?Sized>(&self, clock: &C, n: NonZeroU32) {
        let n = n.min(self.burst);
        loop {
            let now = self.reading.advance_to(clock.monotonic());
            match self.limiter.check_n(n) {
                Ok(Err(not_until)) => clock.sleep(not_until.wait_time_from(now)).await,
                // Allowed, or (impossible: n is within the burst) never allowed.
                Ok(Ok(())) | Err(_) => return,
            }
        }
    }
}

/// Ports whose Lambda control-plane calls (`GetEventSourceMapping`,
/// `UpdateEventSourceMapping`, `ListTags`, `TagResource`, `Get`/`PutFunctionConcurrency`)
/// each wait on one shared [`Pace`] first: Lambda allows 15 control-plane requests per second
/// per account (Lambda quotas, "control plane API requests"), shared with everything else in
/// it. `CloudWatch` and SQS calls have limits of their own and pass straight through. Wrapped
/// inside [`super::Retrying`], every attempt waits.
#[derive(Debug, Clone)]
pub struct Limited<P> {
    inner: P,
    pace: Arc<Pace>,
}

impl<P> Limited<P> {
    /// `inner` behind `pace` (shared with whatever else holds it).
    pub fn new(inner: P, pace: Arc<Pace>) -> Self {
        Self { inner, pace }
    }

    /// The ports inside.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

impl<P: Clock> Limited<P> {
    async fn turn(&self) {
        self.pace.wait(&self.inner, NonZeroU32::MIN).await;
    }
}

delegate!(Clock for Limited<P> where [P: Clock] => |this| this.inner);
delegate!(EventSourceMappings for Limited<P> where [P: EventSourceMappings + Clock]
    => |this, call| this.inner, { this.turn().await; call().await });
delegate!(Concurrency for Limited<P> where [P: Concurrency + Clock]
    => |this, call| this.inner, { this.turn().await; call().await });
delegate!(Alarms for Limited<P> where [P: Alarms] => |this, call| this.inner, call().await);
delegate!(Queues for Limited<P> where [P: Queues] => |this, call| this.inner, call().await);
