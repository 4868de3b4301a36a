//! HDR histograms of the three times a flood measures, in microseconds:
//!
//! - **response time**: from a message's *intended* send time to the moment SQS acknowledged
//!   it. This is what a producer on the schedule would have seen, waiting included, so a
//!   stalled system shows up here instead of being hidden by a slowed generator.
//! - **service time**: from the start of a request to its response (one attempt).
//! - **schedule lag**: from the moment a batch was due to the moment its first request began
//!   (pacer wake-up, waiting for an in-flight slot).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Longest time a histogram records; longer values are clamped to it.
const MAX_MICROS: u64 = 3_600_000_000;

/// A latency histogram (1 µs to 1 h, three significant digits).
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty histogram.
    ///
    /// # Panics
    /// Never: the bounds are constants that `hdrhistogram` accepts.
    pub fn new() -> Self {
        #[allow(clippy::expect_used)]
        let histogram =
            Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant bounds are valid");
        Self(histogram)
    }

    /// Records one duration.
    pub fn record(&mut self, value: Duration) {
        self.record_n(value, 1);
    }

    /// Records the same duration `count` times.
    pub fn record_n(&mut self, value: Duration, count: u64) {
        let micros = u64::try_from(value.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_MICROS);
        self.0.saturating_record_n(micros, count);
    }

    /// Adds another histogram's values.
    pub fn merge(&mut self, other: &Self) {
        // Same bounds on both sides, so adding cannot fail; clamp instead of panicking anyway.
        let _ = self.0.add(&other.0);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The value at percentile `p` (0–100).
    pub fn percentile(&self, p: f64) -> Duration {
        Duration::from_micros(self.0.value_at_percentile(p))
    }

    /// The usual percentiles, in milliseconds.
    pub fn summary(&self) -> Percentiles {
        #[allow(clippy::cast_precision_loss)]
        let ms = |micros: u64| micros as f64 / 1000.0;
        if self.0.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: self.0.len(),
            min_ms: ms(self.0.min()),
            mean_ms: self.0.mean() / 1000.0,
            p50_ms: ms(self.0.value_at_quantile(0.5)),
            p90_ms: ms(self.0.value_at_quantile(0.9)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            p999_ms: ms(self.0.value_at_quantile(0.999)),
            max_ms: ms(self.0.max()),
        }
    }
}

/// Percentiles of a [`Latency`] histogram, in milliseconds (all 0 when it is empty).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_out_in_milliseconds_within_three_digits() {
        let mut latency = Latency::new();
        for ms in 1..=100 {
            latency.record(Duration::from_millis(ms));
        }
        let summary = latency.summary();
        assert_eq!(summary.count, 100);
        assert!((summary.p50_ms - 50.0).abs() < 0.1, "{summary:?}");
        assert!((summary.p99_ms - 99.0).abs() < 0.1, "{summary:?}");
        assert!((summary.max_ms - 100.0).abs() < 0.1, "{summary:?}");
    }

    #[test]
    fn merging_adds_the_counts_and_clamps_absurd_values() {
        let mut a = Latency::new();
        a.record_n(Duration::from_millis(5), 10);
        let mut b = Latency::new();
        b.record(Duration::from_secs(100_000));
        a.merge(&b);
        assert_eq!(a.count(), 11);
        let top = a.percentile(100.0);
        assert!(
            top >= Duration::from_secs(3599) && top <= Duration::from_secs(3605),
            "{top:?}"
        );
        assert_eq!(Latency::new().summary(), Percentiles::default());
    }
}
