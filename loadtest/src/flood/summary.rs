//! What a flood reports: the JSON summary, its per-second counts and its histograms.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::FloodConfig;
use super::sender::SendFailure;
use super::stats::{Latency, Percentiles};
use crate::seqset::SeqSet;

/// Messages per second of one second of the flood.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the start.
    pub second: u64,
    /// Messages due in it.
    pub target: u64,
    /// Messages acknowledged in it.
    pub acked: u64,
}

/// The outcome of a flood: the JSON summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloodSummary {
    /// What was asked.
    pub config: FloodConfig,
    /// The rate profile in its text form (`profile` in JSON).
    #[serde(rename = "profile")]
    pub rate_profile: String,
    /// Wall-clock start.
    pub started_at: DateTime<Utc>,
    /// Messages scheduled (due before the end or the stop).
    pub planned: u64,
    /// Acknowledged by the queue.
    pub acked: u64,
    /// Refused for good.
    pub failed: u64,
    /// Fate unknown.
    pub uncertain: u64,
    /// Dropped by the in-flight cap.
    pub dropped: u64,
    /// Sent later than `late_after`.
    pub late: u64,
    /// Requests made.
    pub requests: u64,
    /// Requests after the first of a batch.
    pub retries: u64,
    /// Errors by class (per failed request, or per failed entry).
    pub errors: BTreeMap<SendFailure, u64>,
    /// Whether the flood was stopped before its schedule ended.
    pub stopped_early: bool,
    /// Length of the schedule (to its end or to the stop), seconds.
    pub span_s: f64,
    /// From the start to the last acknowledgement, seconds (at least the span).
    pub elapsed_s: f64,
    /// `planned / span_s`.
    pub target_rate: f64,
    /// `acked / elapsed_s`: slowness stretches the elapsed time and lowers this.
    pub achieved_rate: f64,
    /// `achieved_rate / target_rate - 1`.
    pub rate_error: f64,
    /// Intended send time → acknowledgement, per message.
    pub response_time: Percentiles,
    /// Request → response, per request.
    pub service_time: Percentiles,
    /// Batch due → request start, per batch.
    pub schedule_lag: Percentiles,
    /// Per-second target and acknowledged counts.
    pub per_second: Vec<Second>,
    /// Sequence numbers acknowledged.
    pub sent: SeqSet,
    /// Sequence numbers refused for good.
    pub failed_seqs: SeqSet,
    /// Sequence numbers whose fate is unknown.
    pub uncertain_seqs: SeqSet,
    /// Sequence numbers dropped.
    pub dropped_seqs: SeqSet,
    /// Histograms, for merging floods (not serialized).
    #[serde(skip)]
    pub histograms: Histograms,
}

/// The three histograms of a flood.
#[derive(Debug, Clone, Default)]
pub struct Histograms {
    /// Response times.
    pub response: Latency,
    /// Service times.
    pub service: Latency,
    /// Schedule lags.
    pub lag: Latency,
}

impl PartialEq for Histograms {
    fn eq(&self, other: &Self) -> bool {
        self.response.summary() == other.response.summary()
            && self.service.summary() == other.service.summary()
            && self.lag.summary() == other.lag.summary()
    }
}

impl FloodSummary {
    /// Whether every planned message was acknowledged.
    pub fn all_acked(&self) -> bool {
        self.acked == self.planned
    }

    /// One line for people.
    pub fn headline(&self) -> String {
        format!(
            "{} of {} acked ({:.1}/s for a target of {:.1}/s, {:+.2}%), {} failed, {} uncertain, {} dropped, {} late; \
             response p50 {:.1} ms p99 {:.1} ms, lag p99 {:.2} ms",
            self.acked,
            self.planned,
            self.achieved_rate,
            self.target_rate,
            self.rate_error * 100.0,
            self.failed,
            self.uncertain,
            self.dropped,
            self.late,
            self.response_time.p50_ms,
            self.response_time.p99_ms,
            self.schedule_lag.p99_ms,
        )
    }
}
