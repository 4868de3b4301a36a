//! [`Limited`]: every Lambda control-plane call of the wrapped ports waits on one shared rate
//! limiter first; [`Pace`]: a `governor` limiter paced on a [`Clock`].

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::{
    AlarmDescription, Alarms, Clock, Concurrency, EntryResult, EventSourceMappings, Mapping,
    MappingUpdate, OutgoingMessage, QueueAttributes, QueueStatus, Queues, ReceivedMessage,
};
use crate::error::Error;
use crate::policy::ProbeTraffic;

/// `governor`'s clock, reading the last time [`Pace::wait`] took from a [`Clock`] port: the
/// limiter's arithmetic (GCRA) is `governor`'s, its time is the port's.
#[derive(Debug, Clone, Default)]
struct Reading(Arc<AtomicU64>);

impl Reading {
    fn set(&self, at: Duration) {
        let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        self.0.store(nanos, Ordering::SeqCst);
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
            let now = clock.monotonic();
            self.reading.set(now);
            match self.limiter.check_n(n) {
                Ok(Err(not_until)) => {
                    clock
                        .sleep(not_until.wait_time_from(Nanos::from(now)))
                        .await;
                }
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

impl<P: Clock> Clock for Limited<P> {
    fn monotonic(&self) -> Duration {
        self.inner.monotonic()
    }

    async fn sleep(&self, span: Duration) {
        self.inner.sleep(span).await;
    }
}

impl<P: EventSourceMappings + Clock> EventSourceMappings for Limited<P> {
    async fn get_mapping(&self, uuid: &str) -> Result<Mapping, Error> {
        self.turn().await;
        self.inner.get_mapping(uuid).await
    }

    async fn update_mapping(&self, uuid: &str, update: MappingUpdate) -> Result<(), Error> {
        self.turn().await;
        self.inner.update_mapping(uuid, update).await
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, Error> {
        self.turn().await;
        self.inner.tags(arn).await
    }

    async fn tag(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), Error> {
        self.turn().await;
        self.inner.tag(arn, tags).await
    }
}

impl<P: Concurrency + Clock> Concurrency for Limited<P> {
    async fn reserved_concurrency(&self, function: &str) -> Result<Option<u32>, Error> {
        self.turn().await;
        self.inner.reserved_concurrency(function).await
    }

    async fn set_reserved_concurrency(&self, function: &str, reserved: u32) -> Result<(), Error> {
        self.turn().await;
        self.inner
            .set_reserved_concurrency(function, reserved)
            .await
    }
}

impl<P: Alarms> Alarms for Limited<P> {
    async fn describe_alarms(&self, names: &[String]) -> Result<Vec<AlarmDescription>, Error> {
        self.inner.describe_alarms(names).await
    }

    async fn function_outcome(
        &self,
        function: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ProbeTraffic, Error> {
        self.inner.function_outcome(function, from, to).await
    }
}

impl<P: Queues> Queues for Limited<P> {
    async fn queue_depth(&self, queue_url: &str) -> Result<QueueStatus, Error> {
        self.inner.queue_depth(queue_url).await
    }

    async fn queue_attributes(&self, queue_url: &str) -> Result<QueueAttributes, Error> {
        self.inner.queue_attributes(queue_url).await
    }

    async fn queue_url(&self, name: &str, owner: &str) -> Result<String, Error> {
        self.inner.queue_url(name, owner).await
    }

    async fn receive_messages(
        &self,
        queue_url: &str,
        max: usize,
        visibility_timeout: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        self.inner
            .receive_messages(queue_url, max, visibility_timeout, wait)
            .await
    }

    async fn send_messages(
        &self,
        queue_url: &str,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<EntryResult>, Error> {
        self.inner.send_messages(queue_url, messages).await
    }

    async fn delete_messages(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<EntryResult>, Error> {
        self.inner.delete_messages(queue_url, receipt_handles).await
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
        timeout: Duration,
    ) -> Result<Vec<EntryResult>, Error> {
        self.inner
            .change_visibility(queue_url, receipt_handles, timeout)
            .await
    }
}
