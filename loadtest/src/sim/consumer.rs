//! The protected consumer: an SQS event source mapping's pollers feeding a Lambda function
//! that calls the downstream once per message.
//!
//! What it models (sources in [`crate::sim::params`] and the Lambda Developer Guide):
//! - Lanes: the mapping processes up to [`Scaler::batches`] batches at once; each lane
//!   receives up to `batch_size` visible messages and invokes the function with them. A
//!   receive waits until `batch_size` messages are visible or the batching window has passed
//!   since the poll began (`MaximumBatchingWindowInSeconds`); after an invocation the lane
//!   rests the profile's `receive_interval`, after an empty receive its `empty_poll_backoff`.
//! - "Event source mappings don't account for reserved concurrency and can process more
//!   messages off your queue than can be sent to your function" (AWS Knowledge Center,
//!   "Lambda SQS scaling"): a lane whose invoke is throttled keeps its batch and retries
//!   every `throttle_retry` until the batch's visibility timeout ends ("set the source queue's
//!   visibility timeout to at least six times the function timeout ... allows Lambda to retry
//!   if your function is throttled", "Creating and configuring an Amazon SQS event source
//!   mapping"); then the messages are visible again with their receive count raised.
//! - A function error fails the whole batch: "By default, if Lambda encounters an error at
//!   any point while processing a batch, all messages in that batch return to the queue"
//!   (same page); with partial batch responses only the failed messages return. A batch
//!   that runs past the function timeout fails whole.
//! - Metrics, sent "when your function finishes processing an event" (Lambda Developer
//!   Guide, "Using CloudWatch metrics with Lambda"): `Invocations` and `Errors` per
//!   invocation at its end, `Throttles` per throttled invoke, `ConcurrentExecutions` sampled.
//!
//! Left out: Lambda's backoff of a mapping's concurrency after invocation errors
//! ("Lambda throttles function scaling when invocation errors occur", not quantified by AWS),
//! cold starts, and the account's concurrency shared with other functions.

use std::time::Duration;

use rand::Rng;

use crate::sim::cloudwatch::{MetricKey, Metrics};
use crate::sim::downstream::Downstream;
use crate::sim::mapping::SimMapping;
use crate::sim::message::Msg;
use crate::sim::params::Profile;
use crate::sim::poller::Scaler;
use crate::sim::queue::{Delivery, SimQueue};
use crate::sim::time::SimTime;

/// How the consumer function is built and deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionSettings {
    /// Reserved concurrency, if any.
    pub reserved: Option<u32>,
    /// Concurrency available without a reservation (the account's unreserved pool).
    pub unreserved: u32,
    /// The function timeout.
    pub timeout: Duration,
    /// Time per invocation besides the downstream calls.
    pub overhead: Duration,
    /// Whether the mapping reports batch item failures (`ReportBatchItemFailures`).
    pub partial_batch: bool,
    /// Every message whose sequence number is a multiple of this is poison: it fails
    /// whatever the downstream does, without calling it.
    pub poison_every: Option<u64>,
    /// The mapping's `MaximumBatchingWindowInSeconds`.
    pub batching_window: Duration,
}

/// One batch in a lane.
#[derive(Debug, Clone)]
struct Batch {
    messages: Vec<Delivery<Msg>>,
    received: SimTime,
}

#[derive(Debug, Clone)]
enum Lane {
    Idle,
    /// Between two polls.
    Resting {
        until: SimTime,
    },
    /// A receive waiting for a full batch or the end of the batching window.
    Gathering {
        since: SimTime,
    },
    Throttled {
        batch: Batch,
        retry: SimTime,
    },
    Running {
        batch: Batch,
        until: SimTime,
        failed: Vec<bool>,
        error: bool,
    },
}

/// Messages a receive took out of the source without delivering them: the caller puts the
/// dead-lettered ones in the DLQ and counts the expired ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spilled {
    /// Received `maxReceiveCount` times already: for the dead-letter queue.
    pub dead_lettered: Vec<Msg>,
    /// Past the retention period: deleted by SQS.
    pub expired: Vec<Msg>,
}

/// What the consumer did, cumulatively.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerCounts {
    /// Invocations that ran.
    pub invocations: u64,
    /// Invocations that ended in a function error (or timed out).
    pub errors: u64,
    /// Invokes refused for lack of concurrency.
    pub throttles: u64,
    /// Messages processed successfully and deleted.
    pub deleted: u64,
}

/// The consumer of one source queue.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// The mapping.
    pub mapping: SimMapping,
    /// The function's reserved concurrency, changed by `PutFunctionConcurrency`.
    pub reserved: Option<u32>,
    settings: FunctionSettings,
    scaler: Scaler,
    lanes: Vec<Lane>,
    batch_size: usize,
    throttle_retry: Duration,
    receive_interval: Duration,
    empty_poll_backoff: Option<crate::sim::params::Backoff>,
    empty_polls: Vec<u32>,
    running: u32,
    counts: ConsumerCounts,
    invocations: MetricKey,
    errors: MetricKey,
    throttles: MetricKey,
    concurrency: MetricKey,
}

impl Consumer {
    /// The consumer `function` behind `mapping`.
    pub fn new(
        profile: &Profile,
        function: &str,
        mapping: SimMapping,
        settings: FunctionSettings,
        batch_size: usize,
    ) -> Self {
        let key = |name| MetricKey::new("AWS/Lambda", name, "FunctionName", function);
        Self {
            mapping,
            reserved: settings.reserved,
            settings,
            scaler: Scaler::new(profile),
            lanes: Vec::new(),
            batch_size,
            throttle_retry: Duration::from_secs(1),
            receive_interval: profile.receive_interval,
            empty_poll_backoff: profile.empty_poll_backoff,
            empty_polls: Vec::new(),
            running: 0,
            counts: ConsumerCounts::default(),
            invocations: key("Invocations"),
            errors: key("Errors"),
            throttles: key("Throttles"),
            concurrency: key("ConcurrentExecutions"),
        }
    }

    /// What it did so far.
    pub fn counts(&self) -> ConsumerCounts {
        self.counts
    }

    /// Invocations running now.
    pub fn running(&self) -> u32 {
        self.running
    }

    /// Batches the mapping processes at once now.
    pub fn batches(&self) -> u32 {
        self.scaler.batches()
    }

    /// Messages the consumer holds (received, not yet deleted or returned).
    pub fn held(&self) -> usize {
        self.held_messages().count()
    }

    /// The messages the consumer holds.
    pub fn held_messages(&self) -> impl Iterator<Item = &Msg> {
        self.lanes
            .iter()
            .flat_map(|lane| match lane {
                Lane::Idle | Lane::Resting { .. } | Lane::Gathering { .. } => [].iter(),
                Lane::Throttled { batch, .. } | Lane::Running { batch, .. } => {
                    batch.messages.iter()
                }
            })
            .map(|d| &d.payload)
    }

    fn limit(&self) -> u32 {
        self.reserved.unwrap_or(self.settings.unreserved)
    }

    /// Advances to `now`: finishes invocations that ended, lets the mapping scale, takes
    /// batches and invokes. Successfully processed messages are deleted from `source` and
    /// reported to `processed` (a message may be processed more than once); what its
    /// receives take out of the source otherwise goes to `spilled`.
    #[allow(clippy::too_many_arguments)] // the world's parts, lent for one step
    pub fn step(
        &mut self,
        now: SimTime,
        source: &mut SimQueue<Msg>,
        downstream: &mut Downstream,
        metrics: &mut Metrics,
        rng: &mut impl Rng,
        processed: &mut impl FnMut(&Msg, bool),
        spilled: &mut Spilled,
    ) {
        for lane in &mut self.lanes {
            let Lane::Running {
                batch,
                until,
                failed,
                error,
            } = lane
            else {
                continue;
            };
            if *until > now {
                continue;
            }
            let (until, error) = (*until, *error);
            for (message, &failed) in batch.messages.iter().zip(failed.iter()) {
                if !failed {
                    processed(&message.payload, error);
                    if !error && source.delete(until, message.receipt).is_some() {
                        self.counts.deleted += 1;
                    }
                }
            }
            self.running -= 1;
            self.counts.invocations += 1;
            metrics.put(&self.invocations, until, 1.0);
            metrics.put(&self.errors, until, if error { 1.0 } else { 0.0 });
            *lane = Lane::Resting {
                until: until + self.receive_interval,
            };
        }

        let polls = self.mapping.polls(now);
        let waiting = polls && source.depth(now).visible > 0;
        self.scaler
            .set_maximum_concurrency(self.mapping.maximum_concurrency());
        if let Some((params, pollers)) = self.mapping.provisioned_pollers() {
            self.scaler.set_pollers(params, Some(pollers));
        }
        self.scaler.advance(now, waiting);
        let batches = self.scaler.batches() as usize;
        if self.lanes.len() < batches {
            self.lanes.resize(batches, Lane::Idle);
            self.empty_polls.resize(batches, 0);
        }
        let visibility = source.settings().visibility_timeout;
        let polling = |index| polls && index < batches;
        for index in 0..self.lanes.len() {
            let batch = match std::mem::replace(&mut self.lanes[index], Lane::Idle) {
                Lane::Resting { until } if until > now => {
                    self.lanes[index] = Lane::Resting { until };
                    continue;
                }
                // A stopped poller starts no poll; a rest that is over is idle. A receive under
                // way still returns and its batch is invoked (LocalStack's poller loop checks
                // its shutdown event only between polls: `esm_worker.py`).
                Lane::Idle | Lane::Resting { .. } if !polling(index) => continue,
                Lane::Idle | Lane::Resting { .. } => {
                    match self.gather(index, now, now, source, spilled, rng) {
                        Some(batch) => batch,
                        None => continue,
                    }
                }
                Lane::Gathering { since } => {
                    match self.gather(index, since, now, source, spilled, rng) {
                        Some(batch) => batch,
                        None => continue,
                    }
                }
                Lane::Throttled { batch, retry } if retry <= now => batch,
                other => {
                    self.lanes[index] = other;
                    continue;
                }
            };
            if now.since(batch.received) >= visibility {
                // Its messages are visible again: the mapping gives the batch up.
                continue;
            }
            self.lanes[index] = self.invoke(now, batch, downstream, metrics, rng);
        }
        metrics.put(&self.concurrency, now, f64::from(self.running));
    }

    /// Lane `index`'s receive, begun at `since`: a batch once `batch_size` messages are
    /// visible or the batching window is over; meanwhile the lane keeps gathering, and an
    /// empty receive makes it rest.
    fn gather(
        &mut self,
        index: usize,
        since: SimTime,
        now: SimTime,
        source: &mut SimQueue<Msg>,
        spilled: &mut Spilled,
        rng: &mut impl Rng,
    ) -> Option<Batch> {
        let window = self.settings.batching_window;
        if now < since + window && source.depth(now).visible < self.batch_size as u64 {
            self.lanes[index] = Lane::Gathering { since };
            return None;
        }
        let got = source.receive(now, self.batch_size);
        spilled.dead_lettered.extend(got.dead_lettered);
        spilled.expired.extend(got.expired);
        if got.delivered.is_empty() {
            self.empty_polls[index] = self.empty_polls[index].saturating_add(1);
            if let Some(backoff) = self.empty_poll_backoff {
                self.lanes[index] = Lane::Resting {
                    until: now + backoff.wait(self.empty_polls[index], rng),
                };
            }
            return None;
        }
        self.empty_polls[index] = 0;
        Some(Batch {
            messages: got.delivered,
            received: now,
        })
    }

    fn invoke(
        &mut self,
        now: SimTime,
        batch: Batch,
        downstream: &mut Downstream,
        metrics: &mut Metrics,
        rng: &mut impl Rng,
    ) -> Lane {
        if self.running >= self.limit() {
            self.counts.throttles += 1;
            metrics.put(&self.throttles, now, 1.0);
            return Lane::Throttled {
                batch,
                retry: now + self.throttle_retry,
            };
        }
        self.running += 1;
        let mut at = now + self.settings.overhead;
        let mut failed = Vec::with_capacity(batch.messages.len());
        for message in &batch.messages {
            let poison = self
                .settings
                .poison_every
                .is_some_and(|every| every > 0 && message.payload.seq % every == 0);
            if poison {
                failed.push(true);
                continue;
            }
            let call = downstream.call(at, self.running, rng);
            at = at + call.latency;
            failed.push(!call.ok);
        }
        let deadline = now + self.settings.timeout;
        let (until, error) = if at > deadline {
            failed.fill(true);
            (deadline, true)
        } else {
            let any = failed.iter().any(|&f| f);
            (at, any && !self.settings.partial_batch)
        };
        if error {
            self.counts.errors += 1;
        }
        Lane::Running {
            batch,
            until,
            failed,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::sim::downstream::{FaultKind, FaultWindow};
    use crate::sim::queue::QueueSettings;

    fn settings(reserved: Option<u32>) -> FunctionSettings {
        FunctionSettings {
            reserved,
            unreserved: 1000,
            timeout: Duration::from_secs(5),
            overhead: Duration::from_millis(10),
            partial_batch: false,
            poison_every: None,
            batching_window: Duration::ZERO,
        }
    }

    fn source() -> SimQueue<Msg> {
        SimQueue::new(QueueSettings {
            visibility_timeout: Duration::from_secs(30),
            retention: Duration::from_hours(96),
            max_receive_count: Some(3),
        })
    }

    struct Run {
        consumer: Consumer,
        source: SimQueue<Msg>,
        dead: Vec<Msg>,
        processed: u64,
    }

    fn run(reserved: Option<u32>, faults: Vec<FaultWindow>, messages: u64, secs: u64) -> Run {
        run_with(reserved, Duration::from_millis(50), faults, messages, secs)
    }

    fn run_with(
        reserved: Option<u32>,
        latency: Duration,
        faults: Vec<FaultWindow>,
        messages: u64,
        secs: u64,
    ) -> Run {
        let profile = Profile::aws();
        let mapping = SimMapping::new(None, Duration::from_secs(5), (2, 1000));
        let mut consumer = Consumer::new(&profile, "consumer", mapping, settings(reserved), 10);
        let mut source = source();
        let mut downstream = Downstream::new(1000.0, latency, faults);
        let mut metrics = Metrics::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for seq in 0..messages {
            source.send(SimTime::ZERO, Msg::new(seq), Duration::ZERO);
        }
        let mut processed = 0;
        let mut spilled = Spilled::default();
        let mut now = SimTime::ZERO;
        while now <= SimTime::from_secs(secs) {
            consumer.step(
                now,
                &mut source,
                &mut downstream,
                &mut metrics,
                &mut rng,
                &mut |_, _| processed += 1,
                &mut spilled,
            );
            now = now + Duration::from_millis(100);
        }
        Run {
            consumer,
            source,
            dead: spilled.dead_lettered,
            processed,
        }
    }

    #[test]
    fn a_healthy_consumer_drains_the_queue() {
        let r = run(None, vec![], 500, 30);
        assert!(r.source.is_empty());
        assert_eq!(r.consumer.counts().deleted, 500);
        assert_eq!(r.processed, 500);
        assert_eq!(r.consumer.counts().throttles, 0);
        assert_eq!(r.consumer.held(), 0);
    }

    #[test]
    fn reserved_concurrency_below_the_pollers_throttles_and_burns_receives() {
        // Five lanes, one reserved: four batches wait on throttles, and a failing
        // downstream sends each message round again until the DLQ.
        let outage = FaultWindow::new(SimTime::ZERO, SimTime::from_secs(3600), FaultKind::Outage);
        let r = run(Some(1), vec![outage], 50, 400);
        assert!(r.consumer.counts().throttles > 0);
        assert_eq!(r.consumer.counts().deleted, 0);
        assert!(r.consumer.counts().errors > 0);
        // Receives that ended in a throttle count as much as failed ones: 3 receives each,
        // 30 s apart, and every message is in the DLQ well within 400 s.
        assert_eq!(r.dead.len(), 50, "every message reached the DLQ");
        assert!(r.source.is_empty());
    }

    #[test]
    fn throttles_alone_send_healthy_messages_to_the_dlq() {
        // One reserved slot, batches of 10 taking 4 s: the other four lanes hold their
        // batches on throttles until the visibility timeout, and each such round raises the
        // receive count. No invocation ever fails, yet messages reach the DLQ.
        let r = run_with(Some(1), Duration::from_millis(400), vec![], 300, 900);
        assert_eq!(r.consumer.counts().errors, 0);
        assert!(r.consumer.counts().throttles > 0);
        assert!(!r.dead.is_empty(), "throttles burned receives into the DLQ");
        assert_eq!(
            r.dead.len() as u64 + r.consumer.counts().deleted + r.source.len() as u64,
            300
        );
    }
}
