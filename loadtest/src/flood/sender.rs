//! Sending batches: the [`Sink`] trait (SQS in [`crate::aws`], in memory here), the error
//! classes, the one retry policy, and [`deliver`], which sends one batch until every entry is
//! acknowledged, refused for good, or out of attempts.
//!
//! A failed entry is retried with the same entry id and body (and, on FIFO queues, the same
//! deduplication id), so a response always maps back to its message.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use floodgate_core::error::ServiceFault;
pub use floodgate_core::retry::RetryPolicy;

use crate::error::{Error, Result};

/// Why a request or an entry failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendFailure {
    /// SQS throttled the request (`ThrottlingException`, `RequestThrottled`, HTTP 429).
    Throttling,
    /// KMS throttled the data key request of an encrypted queue (`KmsThrottled`).
    KmsThrottling,
    /// A limit of the queue was reached (`OverLimit`).
    OverLimit,
    /// The service failed (HTTP 5xx, `InternalError`, `ServiceUnavailable`).
    ServerError,
    /// The request was wrong (missing queue, bad entry, access denied): retrying cannot help.
    ClientError,
    /// No answer in time; the request may or may not have been applied.
    Timeout,
    /// The connection failed or broke; the request may or may not have been applied.
    Connection,
}

impl SendFailure {
    /// Every class, in report order.
    pub const ALL: [Self; 7] = [
        Self::Throttling,
        Self::KmsThrottling,
        Self::OverLimit,
        Self::ServerError,
        Self::ClientError,
        Self::Timeout,
        Self::Connection,
    ];

    /// Whether the same request may succeed later.
    pub fn is_retryable(self) -> bool {
        !matches!(self, Self::ClientError)
    }

    /// Whether a request that failed this way may still have been applied, so its messages
    /// may arrive even though the sender never saw them acknowledged.
    pub fn is_uncertain(self) -> bool {
        matches!(self, Self::Timeout | Self::ServerError | Self::Connection)
    }

    /// Classifies an error code (SQS JSON `__type` suffix, query error code, or a batch
    /// entry's `Code`) and HTTP status.
    pub fn classify(code: Option<&str>, status: Option<u16>) -> Self {
        match ServiceFault::classify(code, status) {
            ServiceFault::Throttled => Self::Throttling,
            ServiceFault::KmsThrottled => Self::KmsThrottling,
            ServiceFault::OverLimit => Self::OverLimit,
            ServiceFault::Server => Self::ServerError,
            ServiceFault::InUse | ServiceFault::NotFound | ServiceFault::Client => {
                Self::ClientError
            }
        }
    }

    /// The snake-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttling => "throttling",
            Self::KmsThrottling => "kms_throttling",
            Self::OverLimit => "over_limit",
            Self::ServerError => "server_error",
            Self::ClientError => "client_error",
            Self::Timeout => "timeout",
            Self::Connection => "connection",
        }
    }
}

impl fmt::Display for SendFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message of a batch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Entry id, unique in the batch (the sequence number; see [`crate::flood::batch::entry_id`]).
    pub id: String,
    /// Message body.
    pub body: String,
    /// FIFO message group.
    pub group_id: Option<String>,
    /// FIFO deduplication id.
    pub dedup_id: Option<String>,
}

/// An entry the service refused while accepting the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    /// The entry's id.
    pub id: String,
    /// Its class.
    pub class: SendFailure,
    /// The service's code.
    pub code: String,
}

/// A request that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// Its class.
    pub class: SendFailure,
    /// What happened, for the log.
    pub message: String,
}

/// Where batches go.
pub trait Sink: Send + Sync + 'static {
    /// Sends one batch; returns the entries that failed (every other entry succeeded).
    fn send_batch(
        &self,
        entries: &[Entry],
    ) -> impl Future<Output = Result<Vec<EntryFailure>, CallError>> + Send;
}

impl<S: Sink> Sink for Arc<S> {
    fn send_batch(
        &self,
        entries: &[Entry],
    ) -> impl Future<Output = Result<Vec<EntryFailure>, CallError>> + Send {
        S::send_batch(self, entries)
    }
}

/// The flooder's retries of failed requests and entries: 5 attempts, 50 ms doubling up to 2 s,
/// each wait jittered ([`RetryPolicy::jittered`]).
pub const FLOOD_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    base_delay: Duration::from_millis(50),
    max_delay: Duration::from_secs(2),
};

/// Checks a flood's retry policy.
///
/// # Errors
/// [`Error::Invalid`] naming `max_attempts` when it is 0.
pub fn validate_retry(policy: &RetryPolicy) -> Result<()> {
    if policy.max_attempts == 0 {
        return Err(Error::invalid("max_attempts", "must be at least 1"));
    }
    Ok(())
}

/// How long to wait before attempt `attempt + 1` after attempt `attempt` (from 1) failed with
/// `class`; `None` when it must not be retried. `jitter` is uniform in `[0, 1)`.
pub fn retry_delay(
    policy: &RetryPolicy,
    class: SendFailure,
    attempt: u32,
    jitter: f64,
) -> Option<Duration> {
    (class.is_retryable() && attempt < policy.max_attempts)
        .then(|| policy.jittered(attempt, jitter))
}

/// What became of one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delivery {
    /// Acknowledged entry ids, with when.
    pub acked: Vec<(String, Instant)>,
    /// Entries refused for good (client error, or retries exhausted on an error the service
    /// reported before applying anything).
    pub failed: Vec<(String, SendFailure)>,
    /// Entries whose last attempt ended in a timeout, 5xx or broken connection: they may have
    /// arrived.
    pub uncertain: Vec<(String, SendFailure)>,
    /// Duration of every request.
    pub service: Vec<Duration>,
    /// Every error seen (per failed request, or per failed entry), by class.
    pub errors: BTreeMap<SendFailure, u64>,
    /// Requests after the first.
    pub retries: u64,
}

/// Sends `entries` to `sink`, retrying what may succeed later per `policy`; `seed` makes the
/// jitter reproducible.
pub async fn deliver<S: Sink>(
    sink: &S,
    entries: Vec<Entry>,
    policy: &RetryPolicy,
    seed: u64,
) -> Delivery {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut delivery = Delivery::default();
    let mut pending = entries;
    let mut attempt = 1;
    while !pending.is_empty() {
        let started = Instant::now();
        let result = sink.send_batch(&pending).await;
        let now = Instant::now();
        delivery.service.push(now - started);
        // The class that decides the backoff: the worst of this attempt.
        let mut retry_class = None;
        let mut retry = Vec::new();
        match result {
            Ok(failures) => {
                let mut failed: BTreeMap<&str, &EntryFailure> =
                    failures.iter().map(|f| (f.id.as_str(), f)).collect();
                for entry in pending.drain(..) {
                    match failed.remove(entry.id.as_str()) {
                        None => delivery.acked.push((entry.id, now)),
                        Some(failure) => {
                            *delivery.errors.entry(failure.class).or_default() += 1;
                            if retry_delay(policy, failure.class, attempt, 0.0).is_some() {
                                retry_class = Some(failure.class);
                                retry.push(entry);
                            } else {
                                delivery.failed.push((entry.id, failure.class));
                            }
                        }
                    }
                }
            }
            Err(error) => {
                *delivery.errors.entry(error.class).or_default() += 1;
                tracing::debug!(class = %error.class, attempt, "SendMessageBatch failed: {}", error.message);
                if retry_delay(policy, error.class, attempt, 0.0).is_some() {
                    retry_class = Some(error.class);
                    retry = std::mem::take(&mut pending);
                } else {
                    let target = if error.class.is_uncertain() {
                        &mut delivery.uncertain
                    } else {
                        &mut delivery.failed
                    };
                    target.extend(pending.drain(..).map(|e| (e.id, error.class)));
                }
            }
        }
        if let Some(class) = retry_class
            && let Some(delay) = retry_delay(policy, class, attempt, rng.random::<f64>())
        {
            tokio::time::sleep(delay).await;
            delivery.retries += 1;
            attempt += 1;
        }
        pending = retry;
    }
    delivery
}

/// What a [`MemorySink`] does with one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scripted {
    /// Accept every entry.
    Accept,
    /// Fail the whole call.
    FailCall(SendFailure),
    /// Refuse the entries at these positions of the batch, accept the rest.
    FailEntries(Vec<(usize, SendFailure)>),
}

#[derive(Debug, Default)]
struct MemoryState {
    received: Vec<Entry>,
    calls: u64,
    script: VecDeque<Scripted>,
}

/// An in-memory sink for tests and benchmarks: keeps every accepted entry, answers after an
/// optional delay, and follows a script of failures (then accepts everything).
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    state: Arc<Mutex<MemoryState>>,
    delay: Duration,
}

impl MemorySink {
    /// A sink that accepts everything at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers every call after `delay`.
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Queues what the next calls do, in order.
    #[must_use]
    pub fn with_script(self, script: impl IntoIterator<Item = Scripted>) -> Self {
        self.lock().script.extend(script);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every accepted entry, in arrival order.
    pub fn received(&self) -> Vec<Entry> {
        self.lock().received.clone()
    }

    /// Number of calls so far.
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }
}

impl Sink for MemorySink {
    fn send_batch(
        &self,
        entries: &[Entry],
    ) -> impl Future<Output = Result<Vec<EntryFailure>, CallError>> + Send {
        let entries = entries.to_vec();
        async move {
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            let mut state = self.lock();
            state.calls += 1;
            let failures = match state.script.pop_front().unwrap_or(Scripted::Accept) {
                Scripted::Accept => Vec::new(),
                Scripted::FailCall(class) => {
                    return Err(CallError {
                        class,
                        message: format!("scripted {class}"),
                    });
                }
                Scripted::FailEntries(positions) => positions
                    .into_iter()
                    .filter_map(|(i, class)| {
                        entries.get(i).map(|e| EntryFailure {
                            id: e.id.clone(),
                            class,
                            code: format!("Scripted{class}"),
                        })
                    })
                    .collect(),
            };
            let failed: Vec<&str> = failures.iter().map(|f| f.id.as_str()).collect();
            state.received.extend(
                entries
                    .iter()
                    .filter(|e| !failed.contains(&e.id.as_str()))
                    .cloned(),
            );
            Ok(failures)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry {
                id: i.to_string(),
                body: format!("body {i}"),
                group_id: None,
                dedup_id: None,
            })
            .collect()
    }

    fn ids(list: &[(String, SendFailure)]) -> Vec<&str> {
        list.iter().map(|(id, _)| id.as_str()).collect()
    }

    #[test]
    fn the_core_code_table_maps_onto_the_report_classes() {
        // The table itself is the core's (`ServiceFault::classify`); here, its classes.
        let cases = [
            ("RequestThrottled", SendFailure::Throttling),
            ("KMS.ThrottlingException", SendFailure::KmsThrottling),
            ("OverLimit", SendFailure::OverLimit),
            ("InternalError", SendFailure::ServerError),
            ("QueueDoesNotExist", SendFailure::ClientError),
            ("BatchRequestTooLong", SendFailure::ClientError),
        ];
        for (code, class) in cases {
            assert_eq!(SendFailure::classify(Some(code), None), class, "{code}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_stops_at_the_last_attempt() {
        let policy = RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let full = |attempt| retry_delay(&policy, SendFailure::Throttling, attempt, 1.0);
        assert_eq!(full(1), Some(Duration::from_millis(100)));
        assert_eq!(full(2), Some(Duration::from_millis(200)));
        assert_eq!(full(3), Some(Duration::from_millis(400)));
        assert_eq!(full(4), Some(Duration::from_millis(500)));
        assert_eq!(full(6), None);
        assert_eq!(retry_delay(&policy, SendFailure::ClientError, 1, 1.0), None);
        assert_eq!(
            retry_delay(&policy, SendFailure::Timeout, 1, 0.5),
            Some(Duration::from_millis(50))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failed_entries_are_retried_alone_with_their_ids_until_accepted() {
        let sink = MemorySink::new().with_script([
            Scripted::FailEntries(vec![
                (1, SendFailure::Throttling),
                (3, SendFailure::ServerError),
            ]),
            Scripted::FailEntries(vec![(0, SendFailure::KmsThrottling)]),
        ]);
        let delivery = deliver(&sink, entries(5), &RetryPolicy::default(), 1).await;
        assert_eq!(sink.calls(), 3);
        let mut acked: Vec<&str> = delivery.acked.iter().map(|(id, _)| id.as_str()).collect();
        acked.sort_unstable();
        assert_eq!(acked, ["0", "1", "2", "3", "4"]);
        // Entry "1" failed twice (positions 1, then 0 of the retry) and kept its body.
        let received = sink.received();
        assert_eq!(received.iter().filter(|e| e.id == "1").count(), 1);
        assert_eq!(
            received.iter().find(|e| e.id == "1").unwrap().body,
            "body 1"
        );
        assert_eq!(delivery.retries, 2);
        assert_eq!(
            delivery.errors,
            BTreeMap::from([
                (SendFailure::Throttling, 1),
                (SendFailure::KmsThrottling, 1),
                (SendFailure::ServerError, 1)
            ])
        );
        assert!(delivery.failed.is_empty() && delivery.uncertain.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn client_errors_are_not_retried() {
        let sink = MemorySink::new()
            .with_script([Scripted::FailEntries(vec![(0, SendFailure::ClientError)])]);
        let delivery = deliver(&sink, entries(2), &RetryPolicy::default(), 1).await;
        assert_eq!(sink.calls(), 1);
        assert_eq!(ids(&delivery.failed), ["0"]);
        assert_eq!(delivery.acked.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_that_keeps_timing_out_ends_uncertain_after_the_last_attempt() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let sink = MemorySink::new().with_script(vec![Scripted::FailCall(SendFailure::Timeout); 3]);
        let delivery = deliver(&sink, entries(2), &policy, 1).await;
        assert_eq!(sink.calls(), 3);
        assert_eq!(ids(&delivery.uncertain), ["0", "1"]);
        assert_eq!(delivery.errors, BTreeMap::from([(SendFailure::Timeout, 3)]));
        assert_eq!(delivery.service.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_that_outlasts_the_retries_fails_the_entries_for_good() {
        let policy = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        let sink =
            MemorySink::new().with_script(vec![Scripted::FailCall(SendFailure::Throttling); 2]);
        let delivery = deliver(&sink, entries(1), &policy, 1).await;
        assert_eq!(ids(&delivery.failed), ["0"]);
        assert!(delivery.uncertain.is_empty());
    }
}
