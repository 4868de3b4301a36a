//! The pacer: one loop walks the batches of the schedule on absolute time and hands each to
//! a bounded set of send tasks; a recorder collects what became of every message.
//!
//! The pacer sleeps until each batch is due (start + intended offset, never "previous send +
//! interval", so delays do not accumulate), then takes an in-flight slot. When all slots are
//! busy the batch goes out late, and is counted as late; with `drop_after` set, a batch that
//! could not start within that long after it was due is dropped and counted. Nothing is
//! skipped silently: every scheduled message ends acknowledged, failed, uncertain or dropped.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::FloodConfig;
use super::batch::{Planned, PlannedBatch, entry_id, seq_of_entry_id};
use super::payload::PayloadSpec;
use super::schedule::Schedule;
use super::sender::{Delivery, Entry, RetryPolicy, SendFailure, Sink, deliver};
use super::summary::{FloodSummary, Histograms, Second};
use crate::error::Result;
use crate::seqset::SeqSet;

/// Counters that a progress line or a drill's timeline reads while the flood runs.
#[derive(Debug, Default)]
pub struct Live {
    /// Messages whose batch the pacer has released (or dropped).
    pub scheduled: AtomicU64,
    /// Messages acknowledged.
    pub acked: AtomicU64,
    /// Messages refused for good.
    pub failed: AtomicU64,
    /// Messages whose fate is unknown (timeouts, 5xx after the last attempt).
    pub uncertain: AtomicU64,
    /// Messages dropped because their batch could not start in time.
    pub dropped: AtomicU64,
    /// Messages sent late.
    pub late: AtomicU64,
    /// Requests in flight now.
    pub in_flight: AtomicU64,
    /// Errors seen (requests or entries).
    pub errors: AtomicU64,
}

impl Live {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
struct Recorder {
    histograms: Histograms,
    sent: SeqSet,
    failed: SeqSet,
    uncertain: SeqSet,
    dropped: SeqSet,
    errors: BTreeMap<SendFailure, u64>,
    requests: u64,
    retries: u64,
    late: u64,
    target: Vec<u64>,
    acked: Vec<u64>,
    last_ack: Duration,
}

fn bump(buckets: &mut Vec<u64>, second: usize, n: u64) {
    if buckets.len() <= second {
        buckets.resize(second + 1, 0);
    }
    buckets[second] += n;
}

fn seq_of(id: &str) -> u64 {
    // Ids are made by `entry_id`; a foreign id cannot come back from our own requests.
    seq_of_entry_id(id).unwrap_or(u64::MAX)
}

impl Recorder {
    fn delivered(
        &mut self,
        batch: &PlannedBatch,
        delivery: &Delivery,
        start: Instant,
        live: &Live,
    ) {
        let intended: BTreeMap<u64, Duration> =
            batch.entries.iter().map(|m| (m.seq, m.intended)).collect();
        for (id, at) in &delivery.acked {
            let seq = seq_of(id);
            let due = intended.get(&seq).copied().unwrap_or(batch.due);
            let since_start = *at - start;
            self.histograms
                .response
                .record(since_start.saturating_sub(due));
            self.sent.insert(seq);
            self.last_ack = self.last_ack.max(since_start);
            bump(
                &mut self.acked,
                usize::try_from(since_start.as_secs()).unwrap_or(usize::MAX),
                1,
            );
        }
        for (id, _) in &delivery.failed {
            self.failed.insert(seq_of(id));
        }
        for (id, _) in &delivery.uncertain {
            self.uncertain.insert(seq_of(id));
        }
        for service in &delivery.service {
            self.histograms.service.record(*service);
        }
        for (class, n) in &delivery.errors {
            *self.errors.entry(*class).or_default() += n;
        }
        self.requests += delivery.service.len() as u64;
        self.retries += delivery.retries;
        Live::add(&live.acked, delivery.acked.len());
        Live::add(&live.failed, delivery.failed.len());
        Live::add(&live.uncertain, delivery.uncertain.len());
        live.errors
            .fetch_add(delivery.errors.values().sum(), Ordering::Relaxed);
    }
}

fn lock(recorder: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    recorder.lock().unwrap_or_else(PoisonError::into_inner)
}

fn micros_since_epoch(at: DateTime<Utc>, offset: Duration) -> i64 {
    at.timestamp_micros()
        .saturating_add(i64::try_from(offset.as_micros()).unwrap_or(i64::MAX))
}

/// Runs a flood until its schedule ends or `stop` completes; waits for the requests in
/// flight, then summarises. `live` is updated as it goes.
///
/// # Errors
/// [`Error::Invalid`](crate::Error::Invalid) if the config is invalid (nothing is sent then).
pub async fn run<S: Sink>(
    sink: Arc<S>,
    config: &FloodConfig,
    live: Arc<Live>,
    stop: impl Future<Output = ()>,
) -> Result<FloodSummary> {
    let payload = Arc::new(config.validate()?);
    let schedule = Schedule::new(&config.rate_profile, config.limit)?;
    let first_seq = config.first_seq;
    let sizes = Arc::clone(&payload);
    let batches = config.batch.pack(schedule.map(move |(k, intended)| {
        let seq = first_seq + k;
        Planned {
            seq,
            intended,
            size: sizes.size(seq),
        }
    }));
    let worker = Worker {
        sink,
        payload,
        recorder: Arc::new(Mutex::new(Recorder::default())),
        live,
        retry: config.retry,
        fifo_groups: config.fifo_groups,
        seed: config.seed,
        start: Instant::now(),
        started_at: Utc::now(),
    };
    let slots = Arc::new(Semaphore::new(config.max_in_flight));
    let mut tasks = JoinSet::new();
    let mut stopped_at = None;
    let mut planned = 0u64;
    tokio::pin!(stop);

    for batch in batches {
        let due = worker.start + batch.due;
        let stopped = tokio::select! {
            biased;
            () = &mut stop => true,
            () = tokio::time::sleep_until(due) => false,
        };
        if stopped {
            stopped_at = Some(worker.start.elapsed());
            break;
        }
        planned += batch.entries.len() as u64;
        let permit = slot(&slots, due, config.drop_after).await;
        let lag = Instant::now().saturating_duration_since(due);
        let permit = permit.filter(|_| config.drop_after.is_none_or(|limit| lag <= limit));
        let released = worker.released(&batch, lag, config.late_after, permit.is_some());
        if let (Some(permit), true) = (permit, released) {
            let worker = worker.clone();
            tasks.spawn(async move {
                let _permit = permit;
                worker.send(&batch).await;
            });
        }
        // Reap finished tasks so the set does not grow with the length of the flood.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}

    let recorder = std::mem::take(&mut *lock(&worker.recorder));
    let span = stopped_at
        .or_else(|| Schedule::span(&config.rate_profile, config.limit))
        .unwrap_or(recorder.last_ack);
    Ok(summarise(
        config,
        worker.started_at,
        planned,
        span,
        stopped_at.is_some(),
        recorder,
    ))
}

/// An in-flight slot for a batch due at `due`: at once if one is free, else the next one
/// to free up (the batch goes late), giving up at the drop deadline if there is one.
async fn slot(
    slots: &Arc<Semaphore>,
    due: Instant,
    drop_after: Option<Duration>,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(permit) = Arc::clone(slots).try_acquire_owned() {
        return Some(permit);
    }
    let acquire = Arc::clone(slots).acquire_owned();
    match drop_after {
        Some(limit) => tokio::time::timeout_at(due + limit, acquire)
            .await
            .ok()
            .and_then(std::result::Result::ok),
        None => acquire.await.ok(),
    }
}

/// What every send task shares.
#[derive(Debug)]
struct Worker<S> {
    sink: Arc<S>,
    payload: Arc<PayloadSpec>,
    recorder: Arc<Mutex<Recorder>>,
    live: Arc<Live>,
    retry: RetryPolicy,
    fifo_groups: Option<u32>,
    seed: u64,
    start: Instant,
    started_at: DateTime<Utc>,
}

impl<S> Clone for Worker<S> {
    fn clone(&self) -> Self {
        Self {
            sink: Arc::clone(&self.sink),
            payload: Arc::clone(&self.payload),
            recorder: Arc::clone(&self.recorder),
            live: Arc::clone(&self.live),
            retry: self.retry,
            fifo_groups: self.fifo_groups,
            seed: self.seed,
            start: self.start,
            started_at: self.started_at,
        }
    }
}

impl<S: Sink> Worker<S> {
    /// Records a batch the pacer let go: sent (`sending`) after `lag`, or dropped. Returns
    /// whether it is to be sent.
    fn released(
        &self,
        batch: &PlannedBatch,
        lag: Duration,
        late_after: Duration,
        sending: bool,
    ) -> bool {
        let n = batch.entries.len();
        let mut rec = lock(&self.recorder);
        for m in &batch.entries {
            bump(
                &mut rec.target,
                usize::try_from(m.intended.as_secs()).unwrap_or(usize::MAX),
                1,
            );
        }
        Live::add(&self.live.scheduled, n);
        if !sending {
            for m in &batch.entries {
                rec.dropped.insert(m.seq);
            }
            Live::add(&self.live.dropped, n);
            return false;
        }
        rec.histograms.lag.record(lag);
        if lag > late_after {
            rec.late += n as u64;
            Live::add(&self.live.late, n);
        }
        true
    }

    /// Builds the bodies (here, on the worker threads, not in the pacer), sends the batch
    /// with retries, and records what became of it.
    async fn send(&self, batch: &PlannedBatch) {
        self.live.in_flight.fetch_add(1, Ordering::Relaxed);
        let entries = batch
            .entries
            .iter()
            .map(|m| Entry {
                id: entry_id(m.seq),
                body: self
                    .payload
                    .body(m.seq, micros_since_epoch(self.started_at, m.intended)),
                group_id: self
                    .fifo_groups
                    .map(|groups| PayloadSpec::group_id(m.seq, groups)),
                dedup_id: self.fifo_groups.map(|_| self.payload.dedup_id(m.seq)),
            })
            .collect();
        let jitter_seed = self.seed ^ batch.entries.first().map_or(0, |m| m.seq);
        let delivery = deliver(&*self.sink, entries, &self.retry, jitter_seed).await;
        self.live.in_flight.fetch_sub(1, Ordering::Relaxed);
        lock(&self.recorder).delivered(batch, &delivery, self.start, &self.live);
    }
}

fn summarise(
    config: &FloodConfig,
    started_at: DateTime<Utc>,
    planned: u64,
    span: Duration,
    stopped_early: bool,
    rec: Recorder,
) -> FloodSummary {
    let span_s = span.as_secs_f64();
    let elapsed_s = span.max(rec.last_ack).as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = |n: u64, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let target_rate = rate(planned, span_s);
    let achieved_rate = rate(rec.sent.len(), elapsed_s);
    let seconds = rec.target.len().max(rec.acked.len());
    let per_second = (0..seconds)
        .map(|s| Second {
            second: s as u64,
            target: rec.target.get(s).copied().unwrap_or(0),
            acked: rec.acked.get(s).copied().unwrap_or(0),
        })
        .collect();
    FloodSummary {
        config: config.clone(),
        rate_profile: config.rate_profile.to_string(),
        started_at,
        planned,
        acked: rec.sent.len(),
        failed: rec.failed.len(),
        uncertain: rec.uncertain.len(),
        dropped: rec.dropped.len(),
        late: rec.late,
        requests: rec.requests,
        retries: rec.retries,
        errors: rec.errors,
        stopped_early,
        span_s,
        elapsed_s,
        target_rate,
        achieved_rate,
        rate_error: if target_rate > 0.0 {
            achieved_rate / target_rate - 1.0
        } else {
            0.0
        },
        response_time: rec.histograms.response.summary(),
        service_time: rec.histograms.service.summary(),
        schedule_lag: rec.histograms.lag.summary(),
        per_second,
        sent: rec.sent,
        failed_seqs: rec.failed,
        uncertain_seqs: rec.uncertain,
        dropped_seqs: rec.dropped,
        histograms: rec.histograms,
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;

    use super::*;
    use crate::flood::payload::Stamp;
    use crate::flood::schedule::Limit;
    use crate::flood::sender::{MemorySink, Scripted};
    use crate::rates::RateProfile;

    fn config(rate: f64, secs: u64) -> FloodConfig {
        FloodConfig::new(
            "test-run",
            RateProfile::constant(rate),
            Limit::duration(Duration::from_secs(secs)),
        )
    }

    async fn flood(sink: MemorySink, config: &FloodConfig) -> FloodSummary {
        run(Arc::new(sink), config, Arc::default(), pending())
            .await
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn sends_every_scheduled_message_once_at_the_target_rate() {
        let sink = MemorySink::new().with_delay(Duration::from_millis(3));
        let summary = flood(sink.clone(), &config(1000.0, 2)).await;
        assert_eq!(summary.planned, 2000);
        assert_eq!(summary.acked, 2000);
        assert_eq!(summary.sent.ranges().collect::<Vec<_>>(), [(0, 1999)]);
        let received = sink.received();
        assert_eq!(received.len(), 2000);
        // At 1000/s and a 5 ms linger, batches hold 6 messages (0–5 ms).
        assert_eq!(sink.calls(), 334);
        let stamp = Stamp::parse(&received[7].body).unwrap();
        assert_eq!((stamp.run.as_str(), stamp.seq), ("test-run", 7));
        assert!(summary.rate_error.abs() < 0.01, "{}", summary.headline());
        // The last acknowledgements land just after the second second.
        let targets: Vec<u64> = summary.per_second.iter().map(|s| s.target).collect();
        assert_eq!(targets[..2], [1000, 1000]);
        assert_eq!(
            summary.per_second.iter().map(|s| s.acked).sum::<u64>(),
            2000
        );
        assert_eq!(summary.late, 0);
        // Paused time: the 3 ms service time is exact and the response time includes the
        // linger of a batch's first messages.
        assert!(
            (summary.service_time.p50_ms - 3.0).abs() < 0.01,
            "{:?}",
            summary.service_time
        );
        assert!(
            summary.response_time.max_ms >= 8.0 && summary.response_time.max_ms < 8.1,
            "{:?}",
            summary.response_time
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_in_flight_cap_makes_batches_late_and_latency_counts_the_wait() {
        // One slot and a 50 ms service time: one batch per 50 ms can go out, while batches of
        // one message (no linger) are due every 5 ms.
        let sink = MemorySink::new().with_delay(Duration::from_millis(50));
        let mut config = config(200.0, 1);
        config.max_in_flight = 1;
        config.batch.linger = Duration::ZERO;
        let summary = flood(sink, &config).await;
        assert_eq!(summary.acked, 200);
        assert!(summary.late > 150, "{}", summary.headline());
        // The last message waited for ~199 batches of 50 ms: coordinated omission is not hidden.
        assert!(
            summary.response_time.max_ms > 9_000.0,
            "{:?}",
            summary.response_time
        );
        assert!(summary.achieved_rate < 25.0, "{}", summary.headline());
        assert!(summary.rate_error < -0.8);
    }

    #[tokio::test(start_paused = true)]
    async fn batches_that_cannot_start_in_time_are_dropped_and_counted() {
        let sink = MemorySink::new().with_delay(Duration::from_millis(50));
        let mut config = config(200.0, 1);
        config.max_in_flight = 1;
        config.batch.linger = Duration::ZERO;
        config.drop_after = Some(Duration::from_millis(20));
        let summary = flood(sink.clone(), &config).await;
        assert_eq!(summary.acked + summary.dropped, 200);
        assert!(summary.dropped > 150, "{}", summary.headline());
        assert_eq!(summary.dropped_seqs.len(), summary.dropped);
        assert_eq!(sink.received().len() as u64, summary.acked);
        assert!(summary.sent.intersection(&summary.dropped_seqs).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn entry_failures_are_retried_and_counted_by_class() {
        let sink = MemorySink::new().with_script([
            Scripted::FailEntries(vec![(0, SendFailure::Throttling)]),
            Scripted::FailCall(SendFailure::ServerError),
            Scripted::FailEntries(vec![(0, SendFailure::ClientError)]),
        ]);
        let summary = flood(sink.clone(), &config(100.0, 1)).await;
        assert_eq!(summary.planned, 100);
        assert_eq!(summary.acked, 99);
        assert_eq!(summary.failed, 1);
        assert_eq!(summary.errors.get(&SendFailure::Throttling), Some(&1));
        assert_eq!(summary.errors.get(&SendFailure::ServerError), Some(&1));
        assert_eq!(summary.errors.get(&SendFailure::ClientError), Some(&1));
        assert!(summary.retries >= 2);
        assert_eq!(sink.received().len(), 99);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_flood_early_and_the_span_with_it() {
        let stop = tokio::time::sleep(Duration::from_millis(500));
        let summary = run(
            Arc::new(MemorySink::new()),
            &config(100.0, 10),
            Arc::default(),
            stop,
        )
        .await
        .unwrap();
        assert!(summary.stopped_early);
        assert!((49..=51).contains(&summary.planned), "{}", summary.planned);
        assert_eq!(summary.acked, summary.planned);
        assert!((summary.span_s - 0.5).abs() < 0.01);
    }

    #[tokio::test(start_paused = true)]
    async fn fifo_floods_carry_groups_and_stable_deduplication_ids() {
        let sink = MemorySink::new();
        let mut config = config(50.0, 1);
        config.fifo_groups = Some(4);
        config.first_seq = 1000;
        flood(sink.clone(), &config).await;
        let received = sink.received();
        assert_eq!(received[0].group_id.as_deref(), Some("g0"));
        assert_eq!(received[0].dedup_id.as_deref(), Some("test-run-1000"));
        assert_eq!(received[3].group_id.as_deref(), Some("g3"));
    }

    #[tokio::test]
    async fn an_invalid_config_sends_nothing() {
        let sink = MemorySink::new();
        let mut config = config(50.0, 1);
        config.max_in_flight = 0;
        let err = run(Arc::new(sink.clone()), &config, Arc::default(), pending())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("max_in_flight"));
        assert_eq!(sink.calls(), 0);
    }
}
