//! The sliding window of record outcomes: one bucket per second, so memory is O(window).
//!
//! An outcome recorded at monotonic time `t` counts at time `now` while
//! `floor(now) - floor(t) < window` (whole seconds): the window is the current, partial
//! second and the `window - 1` seconds before it. It therefore covers between `window - 1`
//! and `window` seconds of history, never more.

use std::time::Duration;

/// Records and failed records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Records handled.
    pub records: u64,
    /// Of those, records that failed.
    pub failed: u64,
}

impl Counts {
    fn add(&mut self, other: Self) {
        self.records = self.records.saturating_add(other.records);
        self.failed = self.failed.saturating_add(other.failed);
    }

    /// Whether failed / records is strictly above `ratio_ppm` parts per million with at least
    /// `min_records` records.
    pub(crate) fn exceeds(self, min_records: u64, ratio_ppm: u64) -> bool {
        self.records >= min_records
            && u128::from(self.failed) * 1_000_000
                > u128::from(ratio_ppm) * u128::from(self.records)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    second: u64,
    counts: Counts,
}

/// Counts of the last `window` seconds.
#[derive(Debug, Clone)]
pub struct Window {
    buckets: Vec<Bucket>,
}

impl Window {
    /// A window of `seconds` (at least 1) one-second buckets.
    pub fn new(seconds: u64) -> Self {
        let len = usize::try_from(seconds.max(1)).unwrap_or(usize::MAX);
        Self {
            buckets: vec![Bucket::default(); len],
        }
    }

    /// The window's length in seconds.
    pub fn seconds(&self) -> u64 {
        self.buckets.len() as u64
    }

    fn slot(&self, second: u64) -> usize {
        // The remainder is below the length, a usize.
        #[allow(clippy::cast_possible_truncation)]
        let slot = (second % self.seconds()) as usize;
        slot
    }

    /// Adds `counts` at monotonic time `now`. Times must not go back (a monotonic clock).
    pub fn add(&mut self, now: Duration, counts: Counts) {
        let second = now.as_secs();
        let slot = self.slot(second);
        let bucket = &mut self.buckets[slot];
        if bucket.second != second {
            *bucket = Bucket {
                second,
                counts: Counts::default(),
            };
        }
        bucket.counts.add(counts);
    }

    /// The counts within the window at monotonic time `now`.
    pub fn counts(&self, now: Duration) -> Counts {
        let second = now.as_secs();
        let mut total = Counts::default();
        for bucket in &self.buckets {
            if bucket.second <= second && second - bucket.second < self.seconds() {
                total.add(bucket.counts);
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn counts(records: u64, failed: u64) -> Counts {
        Counts { records, failed }
    }

    #[test]
    fn outcomes_leave_the_window_after_it_passes() {
        let mut window = Window::new(10);
        window.add(at(0.5), counts(5, 1));
        window.add(at(9.9), counts(3, 3));
        assert_eq!(window.counts(at(9.99)), counts(8, 4));
        assert_eq!(window.counts(at(10.0)), counts(3, 3));
        assert_eq!(window.counts(at(19.0)), counts(0, 0));
    }

    #[test]
    fn a_reused_bucket_starts_empty() {
        let mut window = Window::new(2);
        window.add(at(0.0), counts(7, 7));
        window.add(at(2.0), counts(1, 0));
        assert_eq!(window.counts(at(2.0)), counts(1, 0));
    }

    #[test]
    fn the_threshold_is_strict_and_needs_the_volume() {
        assert!(!counts(20, 10).exceeds(20, 500_000));
        assert!(counts(20, 11).exceeds(20, 500_000));
        assert!(!counts(19, 19).exceeds(20, 500_000));
        assert!(counts(1, 1).exceeds(1, 0));
        assert!(!counts(1, 0).exceeds(1, 0));
        assert!(!counts(5, 5).exceeds(1, 1_000_000));
    }

    proptest! {
        /// For any nondecreasing sequence of (time, records, failed), the window holds exactly
        /// the outcomes whose whole second is within the last `window` seconds of now.
        #[test]
        fn the_window_counts_exactly_the_last_seconds(
            seconds in 1u64..=12,
            steps in prop::collection::vec((0u64..4_000, 0u64..100, 0u64..100), 0..60),
        ) {
            let mut window = Window::new(seconds);
            let mut now = Duration::ZERO;
            let mut seen: Vec<(Duration, Counts)> = Vec::new();
            for (gap_ms, records, failed) in steps {
                now += Duration::from_millis(gap_ms);
                let failed = failed.min(records);
                window.add(now, counts(records, failed));
                seen.push((now, counts(records, failed)));
                let expected = seen
                    .iter()
                    .filter(|(t, _)| now.as_secs() - t.as_secs() < seconds)
                    .fold(Counts::default(), |mut sum, (_, c)| { sum.add(*c); sum });
                prop_assert_eq!(window.counts(now), expected);
                // And a reading later, without new outcomes, drops exactly the expired ones.
                let later = now + Duration::from_millis(gap_ms);
                let expected_later = seen
                    .iter()
                    .filter(|(t, _)| later.as_secs() - t.as_secs() < seconds)
                    .fold(Counts::default(), |mut sum, (_, c)| { sum.add(*c); sum });
                prop_assert_eq!(window.counts(later), expected_later);
            }
        }
    }
}
