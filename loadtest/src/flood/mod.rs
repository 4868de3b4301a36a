//! The open-model flood: messages on an absolute schedule, packed into batches, sent by a
//! bounded set of tasks, every outcome counted.
//!
//! - [`FloodConfig`]: everything a flood needs, validated; the FIFO and run-id defaults.
//! - [`schedule`]: rate profile + limit → the intended send time of every message (pure).
//! - [`batch`]: packing messages into `SendMessageBatch` requests (≤ 10 entries, ≤ 1 MiB).
//! - [`payload`]: seeded bodies carrying run id, sequence number and intended send time.
//! - [`sender`]: the [`Sink`](sender::Sink) trait, error classes, the retry policy, one
//!   batch's delivery.
//! - [`run`] and [`Live`]: the pacer on absolute time with a cap on requests in flight.
//! - [`FloodSummary`]: the outcome; [`stats`]: its HDR histograms.
//! - [`sqs_sink`]: a minimal SQS-compatible HTTP server for benchmarking the flood.

pub mod batch;
mod pacer;
pub mod payload;
pub mod schedule;
pub mod sender;
pub mod sqs_sink;
pub mod stats;
mod summary;

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rates::RateProfile;
use batch::BatchPolicy;
use payload::{PayloadSpec, SizeDist};
use schedule::{Limit, Schedule};
use sender::{FLOOD_RETRY, RetryPolicy};

pub use pacer::{Live, run};
pub use summary::{FloodSummary, Histograms, Second};

/// Default cap on requests in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
/// Default lag after which a batch counts as late (the timer's granularity is 1 ms).
pub const DEFAULT_LATE_AFTER: Duration = Duration::from_millis(10);
/// Message groups of a FIFO flood unless told otherwise: enough for SQS to spread the
/// messages, few enough that each group still sees an ordered stream.
pub const DEFAULT_FIFO_GROUPS: u32 = 16;
/// Whether `queue_url` names a FIFO queue: the controller's own check (SQS queue names are
/// case-sensitive, so `orders.FIFO` is a standard queue).
pub use floodgate_core::config::is_fifo_queue;

/// The message groups a flood of `queue_url` gets when none are asked for:
/// [`DEFAULT_FIFO_GROUPS`] on a FIFO queue, none on a standard one.
pub fn default_fifo_groups(queue_url: &str) -> Option<u32> {
    is_fifo_queue(queue_url).then_some(DEFAULT_FIFO_GROUPS)
}

/// A run id from the current time: `run-20261121T101500123`.
pub fn default_run_id() -> String {
    format!("run-{}", Utc::now().format("%Y%m%dT%H%M%S%3f"))
}

/// Everything a flood needs. Build it, then [`run`] it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloodConfig {
    /// Run id carried by every body (and FIFO deduplication ids).
    pub run_id: String,
    /// Rate over time (`profile` in JSON).
    #[serde(rename = "profile")]
    pub rate_profile: RateProfile,
    /// When to stop.
    pub limit: Limit,
    /// Entries per request and linger.
    pub batch: BatchPolicy,
    /// Body sizes.
    pub payload_size: SizeDist,
    /// Seed of the bodies and of the retry jitter.
    pub seed: u64,
    /// `Some(n)`: the queue is FIFO; spread messages over `n` message groups.
    pub fifo_groups: Option<u32>,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    /// Retries of failed requests and entries.
    pub retry: RetryPolicy,
    /// Lag beyond which a batch counts as late.
    #[serde(with = "crate::units::duration")]
    pub late_after: Duration,
    /// Lag beyond which a batch that has not started is dropped (counted); `None`: never.
    #[serde(default, with = "crate::units::option_duration")]
    pub drop_after: Option<Duration>,
    /// Sequence number of the first message (a drill continues numbering across phases).
    pub first_seq: u64,
}

impl FloodConfig {
    /// A constant-rate flood with the defaults.
    pub fn new(run_id: impl Into<String>, rate_profile: RateProfile, limit: Limit) -> Self {
        Self {
            run_id: run_id.into(),
            rate_profile,
            limit,
            batch: BatchPolicy::default(),
            payload_size: SizeDist::default(),
            seed: 0,
            fifo_groups: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            retry: FLOOD_RETRY,
            late_after: DEFAULT_LATE_AFTER,
            drop_after: None,
            first_seq: 0,
        }
    }

    /// Checks every field and builds the payload generator.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first bad field.
    pub fn validate(&self) -> Result<PayloadSpec> {
        self.rate_profile.validate()?;
        self.limit.validate()?;
        self.batch.validate()?;
        sender::validate_retry(&self.retry)?;
        if self.max_in_flight == 0 {
            return Err(Error::invalid("max_in_flight", "must be at least 1"));
        }
        if self.fifo_groups == Some(0) {
            return Err(Error::invalid(
                "groups",
                "a FIFO flood needs at least one message group",
            ));
        }
        PayloadSpec::new(self.run_id.clone(), self.seed, self.payload_size.clone())
    }

    /// Messages the flood plans to send (before any stop).
    pub fn planned(&self) -> u64 {
        Schedule::planned(&self.rate_profile, self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_fifo_only_when_its_name_ends_in_exactly_dot_fifo() {
        assert!(is_fifo_queue("http://q/000000000000/orders.fifo"));
        for standard in [
            "http://q/000000000000/orders",
            "http://q/000000000000/orders.FIFO",
            "http://q/000000000000/orders.Fifo",
            "http://q/000000000000/fifo",
        ] {
            assert!(!is_fifo_queue(standard), "{standard}");
            assert_eq!(default_fifo_groups(standard), None, "{standard}");
        }
        assert_eq!(
            default_fifo_groups("http://q/000000000000/orders.fifo"),
            Some(DEFAULT_FIFO_GROUPS)
        );
    }
}
