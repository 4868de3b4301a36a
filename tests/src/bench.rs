//! What the benchmark binaries (`reaction-bench`, `cold-start-bench`) report: nearest-rank
//! percentiles of a set of durations.

use std::time::Duration;

/// Median, 90th percentile and range of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// How many durations.
    pub count: usize,
    /// 50th percentile (nearest rank).
    pub median: Duration,
    /// 90th percentile (nearest rank).
    pub p90: Duration,
    /// Shortest.
    pub min: Duration,
    /// Longest.
    pub max: Duration,
}

impl Summary {
    /// Summarises `times`; `None` when there are none.
    pub fn of(times: &[Duration]) -> Option<Self> {
        let mut sorted = times.to_vec();
        sorted.sort();
        Some(Self {
            count: sorted.len(),
            median: nearest_rank(&sorted, 50)?,
            p90: nearest_rank(&sorted, 90)?,
            min: *sorted.first()?,
            max: *sorted.last()?,
        })
    }
}

/// The `percent`th percentile of `sorted` by the nearest-rank method: the smallest value with
/// at least `percent` % of the values at or below it.
fn nearest_rank(sorted: &[Duration], percent: usize) -> Option<Duration> {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Milliseconds with one decimal, for reports.
pub fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().copied().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank_percentiles_pick_observed_values() {
        let s = Summary::of(&ms(&[50, 10, 40, 20, 30, 60, 70, 80, 90, 100])).unwrap();
        assert_eq!(s.count, 10);
        assert_eq!(s.median, Duration::from_millis(50));
        assert_eq!(s.p90, Duration::from_millis(90));
        assert_eq!(s.min, Duration::from_millis(10));
        assert_eq!(s.max, Duration::from_millis(100));
        let one = Summary::of(&ms(&[7])).unwrap();
        assert_eq!(
            (one.median, one.p90),
            (Duration::from_millis(7), Duration::from_millis(7))
        );
        assert_eq!(Summary::of(&[]), None);
    }
}
