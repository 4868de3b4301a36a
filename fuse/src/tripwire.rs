//! The fuse's decisions without I/O: the window, the threshold, the cool-down and the back-off,
//! and the counters. [`crate::Fuse`] wraps it in a mutex and does the sending.

use std::time::Duration;

use crate::FuseConfig;
use crate::window::{Counts, Window};

/// Why a signal was due but not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppression {
    /// A signal was sent less than the cool-down ago.
    CoolDown,
    /// A send failed less than the back-off ago, or one is still under way.
    BackOff,
}

/// What the fuse counted since it was built. Every batch whose window is over the threshold
/// ends in exactly one of: sent, failed, suppressed by cool-down, suppressed by back-off (or
/// is still being sent), so whenever no send is under way
/// `over_threshold == signals_sent + send_failures + suppressed_cool_down + suppressed_back_off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FuseStats {
    /// Batches observed.
    pub batches: u64,
    /// Records observed.
    pub records: u64,
    /// Failed records observed.
    pub failed_records: u64,
    /// Batches after which the window was over the threshold.
    pub over_threshold: u64,
    /// Signals the controller accepted (Invoke answered 202).
    pub signals_sent: u64,
    /// Signals that could not be sent (timeout, throttling, access denied, unreachable…).
    pub send_failures: u64,
    /// Signals due but held back by the cool-down after a sent signal.
    pub suppressed_cool_down: u64,
    /// Signals due but held back by the back-off after a failed send (or a send under way).
    pub suppressed_back_off: u64,
}

/// The decision after one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The window is not over the threshold.
    Below,
    /// Send a signal now, then [`Tripwire::settle`] it.
    Send,
    /// Over the threshold, but not now.
    Suppressed(Suppression),
}

#[derive(Debug)]
pub(crate) struct Tripwire {
    window: Window,
    min_records: u64,
    ratio_ppm: u64,
    cool_down: Duration,
    back_off: Duration,
    /// No send before this (monotonic) time: the last sent signal's attempt plus the cool-down.
    cooling_until: Duration,
    /// No send before this time: the last attempt plus the back-off.
    backing_off_until: Duration,
    in_flight: bool,
    stats: FuseStats,
}

impl Tripwire {
    /// From a validated configuration.
    pub(crate) fn new(config: &FuseConfig) -> Self {
        Self {
            window: Window::new(config.window.as_secs()),
            min_records: config.min_records,
            ratio_ppm: config.ratio_ppm(),
            cool_down: config.cool_down,
            back_off: config.failure_back_off,
            cooling_until: Duration::ZERO,
            backing_off_until: Duration::ZERO,
            in_flight: false,
            stats: FuseStats::default(),
        }
    }

    pub(crate) fn window_seconds(&self) -> u64 {
        self.window.seconds()
    }

    pub(crate) fn stats(&self) -> FuseStats {
        self.stats
    }

    /// The window's counts at `now`, without counting anything.
    pub(crate) fn peek(&self, now: Duration) -> Counts {
        self.window.counts(now)
    }

    /// Counts one batch at `now` and decides. On [`Verdict::Send`] the attempt is reserved
    /// (no other until it is settled and the back-off has passed).
    pub(crate) fn observe(&mut self, now: Duration, batch: Counts) -> (Counts, Verdict) {
        let stats = &mut self.stats;
        stats.batches += 1;
        stats.records = stats.records.saturating_add(batch.records);
        stats.failed_records = stats.failed_records.saturating_add(batch.failed);
        self.window.add(now, batch);
        let window = self.window.counts(now);
        if !window.exceeds(self.min_records, self.ratio_ppm) {
            return (window, Verdict::Below);
        }
        stats.over_threshold += 1;
        if now < self.cooling_until {
            stats.suppressed_cool_down += 1;
            return (window, Verdict::Suppressed(Suppression::CoolDown));
        }
        if self.in_flight || now < self.backing_off_until {
            stats.suppressed_back_off += 1;
            return (window, Verdict::Suppressed(Suppression::BackOff));
        }
        self.in_flight = true;
        self.backing_off_until = now + self.back_off;
        (window, Verdict::Send)
    }

    /// The outcome of the attempt decided at `attempted_at`. A sent signal starts the
    /// cool-down; a failed one leaves only the (shorter) back-off.
    pub(crate) fn settle(&mut self, attempted_at: Duration, sent: bool) {
        self.in_flight = false;
        if sent {
            self.stats.signals_sent += 1;
            self.cooling_until = attempted_at + self.cool_down;
        } else {
            self.stats.send_failures += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config(
        window: u64,
        min_records: u64,
        ratio: f64,
        cool_down: u64,
        back_off: u64,
    ) -> FuseConfig {
        let mut config = FuseConfig::new("orders", "floodgate");
        config.window = Duration::from_secs(window);
        config.min_records = min_records;
        config.max_failure_ratio = ratio;
        config.cool_down = Duration::from_secs(cool_down);
        config.failure_back_off = Duration::from_secs(back_off);
        config.validate().unwrap();
        config
    }

    fn batch(records: u64, failed: u64) -> Counts {
        Counts { records, failed }
    }

    #[test]
    fn trips_once_then_cools_down() {
        let mut wire = Tripwire::new(&config(10, 20, 0.5, 30, 5));
        let s = Duration::from_secs;
        assert_eq!(
            wire.observe(s(0), batch(10, 10)).1,
            Verdict::Below,
            "below min_records"
        );
        assert_eq!(wire.observe(s(1), batch(10, 10)).1, Verdict::Send);
        wire.settle(s(1), true);
        assert_eq!(
            wire.observe(s(2), batch(10, 10)).1,
            Verdict::Suppressed(Suppression::CoolDown)
        );
        assert_eq!(wire.observe(s(31), batch(30, 30)).1, Verdict::Send);
        wire.settle(s(31), false);
        assert_eq!(
            wire.observe(s(32), batch(30, 30)).1,
            Verdict::Suppressed(Suppression::BackOff)
        );
        assert_eq!(wire.observe(s(36), batch(30, 30)).1, Verdict::Send);
        let stats = wire.stats();
        assert_eq!(stats.signals_sent, 1);
        assert_eq!(stats.send_failures, 1);
        assert_eq!(stats.suppressed_cool_down, 1);
        assert_eq!(stats.suppressed_back_off, 1);
        assert_eq!(stats.over_threshold, 5);
    }

    #[test]
    fn a_send_under_way_holds_back_others() {
        let mut wire = Tripwire::new(&config(10, 1, 0.0, 2, 1));
        let s = Duration::from_secs;
        assert_eq!(wire.observe(s(0), batch(1, 1)).1, Verdict::Send);
        // Not settled yet, and the back-off has passed: still held back.
        assert_eq!(
            wire.observe(s(5), batch(1, 1)).1,
            Verdict::Suppressed(Suppression::BackOff)
        );
        wire.settle(s(0), true);
        assert_eq!(wire.observe(s(5), batch(1, 1)).1, Verdict::Send);
    }

    /// One step of a run: a gap, a batch, and whether a send (if any) succeeds.
    fn steps() -> impl Strategy<Value = Vec<(u64, u64, u64, bool)>> {
        prop::collection::vec((0u64..3_000, 0u64..30, 0u64..30, any::<bool>()), 0..80)
    }

    proptest! {
        /// For any run: the fuse sends iff the window (counted independently here) is over the
        /// threshold and neither the cool-down since the last sent signal nor the back-off
        /// since the last attempt holds it back; two sent signals are at least a cool-down
        /// apart, two attempts at least a back-off apart; the counters add up.
        #[test]
        fn signals_iff_over_threshold_and_allowed(
            window in 1u64..=10,
            min_records in 1u64..=40,
            ratio_ppm in prop_oneof![Just(0u64), Just(500_000u64), Just(1_000_000u64), 0u64..=1_000_000],
            cool_down in 1u64..=20,
            back_off_fraction in 1u64..=4,
            steps in steps(),
        ) {
            let back_off = cool_down.div_ceil(back_off_fraction);
            #[allow(clippy::cast_precision_loss)]
            let ratio = ratio_ppm as f64 / 1e6;
            let config = config(window, min_records, ratio, cool_down, back_off);
            prop_assert_eq!(config.ratio_ppm(), ratio_ppm);
            let mut wire = Tripwire::new(&config);
            let (cool_down, back_off) = (Duration::from_secs(cool_down), Duration::from_secs(back_off));

            let mut now = Duration::ZERO;
            let mut seen: Vec<(Duration, u64, u64)> = Vec::new();
            let mut last_sent: Option<Duration> = None;
            let mut last_attempt: Option<Duration> = None;
            let (mut over, mut sent, mut failed_sends, mut cooled, mut backed) = (0, 0, 0, 0, 0);
            for (gap_ms, records, failed, succeeds) in steps {
                now += Duration::from_millis(gap_ms);
                let failed = failed.min(records);
                seen.push((now, records, failed));
                let (in_window_records, in_window_failed) = seen
                    .iter()
                    .filter(|(t, _, _)| now.as_secs() - t.as_secs() < window)
                    .fold((0u64, 0u64), |(r, f), (_, br, bf)| (r + br, f + bf));
                let over_threshold = in_window_records >= min_records
                    && u128::from(in_window_failed) * 1_000_000
                        > u128::from(ratio_ppm) * u128::from(in_window_records);
                let cooling = last_sent.is_some_and(|t| now < t + cool_down);
                let backing = last_attempt.is_some_and(|t| now < t + back_off);
                let expected = match (over_threshold, cooling, backing) {
                    (false, _, _) => Verdict::Below,
                    (true, true, _) => Verdict::Suppressed(Suppression::CoolDown),
                    (true, false, true) => Verdict::Suppressed(Suppression::BackOff),
                    (true, false, false) => Verdict::Send,
                };

                let (counts, verdict) = wire.observe(now, batch(records, failed));
                prop_assert_eq!(counts, batch(in_window_records, in_window_failed));
                prop_assert_eq!(verdict, expected);
                match verdict {
                    Verdict::Below => {}
                    Verdict::Suppressed(Suppression::CoolDown) => { over += 1; cooled += 1; }
                    Verdict::Suppressed(Suppression::BackOff) => { over += 1; backed += 1; }
                    Verdict::Send => {
                        over += 1;
                        if let Some(previous) = last_attempt {
                            prop_assert!(now >= previous + back_off);
                        }
                        last_attempt = Some(now);
                        wire.settle(now, succeeds);
                        if succeeds {
                            if let Some(previous) = last_sent {
                                prop_assert!(now >= previous + cool_down, "two signals within a cool-down");
                            }
                            last_sent = Some(now);
                            sent += 1;
                        } else {
                            failed_sends += 1;
                        }
                    }
                }
            }
            let stats = wire.stats();
            prop_assert_eq!(stats.batches, seen.len() as u64);
            prop_assert_eq!(stats.records, seen.iter().map(|s| s.1).sum::<u64>());
            prop_assert_eq!(stats.failed_records, seen.iter().map(|s| s.2).sum::<u64>());
            prop_assert_eq!(
                (stats.over_threshold, stats.signals_sent, stats.send_failures, stats.suppressed_cool_down, stats.suppressed_back_off),
                (over, sent, failed_sends, cooled, backed)
            );
            prop_assert_eq!(
                stats.over_threshold,
                stats.signals_sent + stats.send_failures + stats.suppressed_cool_down + stats.suppressed_back_off
            );
        }
    }
}
