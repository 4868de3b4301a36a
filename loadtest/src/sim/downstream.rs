//! The downstream the consumer calls once per message: a database or API with a capacity.
//!
//! This is not AWS: it is the scenario's stand-in for what a breaker protects, so its shape
//! is this model's choice, stated here. Each second it serves up to `capacity_per_sec` calls;
//! a call beyond that fails at once (overloaded), and that second counts as overloaded. Below
//! capacity, latency grows with utilisation `u` as `base / (1 - u)` (a single-server queue),
//! capped at 20 × base. Fault windows change it for a while: an outage fails every call
//! after `base` latency; an error ratio fails that share of calls; a brownout cuts capacity
//! to a share of itself; a latency spike adds a fixed delay.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::sim::time::SimTime;

/// What a fault window does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Every call fails.
    Outage,
    /// This share of calls fails (0 to 1).
    ErrorRatio {
        /// The failing share.
        ratio: f64,
    },
    /// Capacity drops to this share of itself (0 to 1).
    Brownout {
        /// The remaining share of capacity.
        capacity: f64,
    },
    /// Every call takes this much longer.
    Latency {
        /// The added latency.
        #[serde(with = "crate::units::duration")]
        added: Duration,
    },
}

/// A fault during `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultWindow {
    /// When it begins.
    pub start: SimTime,
    /// When it ends.
    pub end: SimTime,
    /// What it does.
    pub kind: FaultKind,
}

/// The outcome of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// Whether it succeeded.
    pub ok: bool,
    /// How long it took.
    pub latency: Duration,
}

/// The downstream.
#[derive(Debug, Clone)]
pub struct Downstream {
    capacity_per_sec: f64,
    base_latency: Duration,
    faults: Vec<FaultWindow>,
    second: u64,
    calls_this_second: u64,
    overloaded_this_second: bool,
    overloaded_seconds: u64,
    failed_calls: u64,
    calls: u64,
}

impl Downstream {
    /// A downstream serving `capacity_per_sec` calls a second in `base_latency` each when
    /// idle, with `faults`.
    pub fn new(capacity_per_sec: f64, base_latency: Duration, faults: Vec<FaultWindow>) -> Self {
        Self {
            capacity_per_sec,
            base_latency,
            faults,
            second: 0,
            calls_this_second: 0,
            overloaded_this_second: false,
            overloaded_seconds: 0,
            failed_calls: 0,
            calls: 0,
        }
    }

    /// Whether a fault window covers `now`.
    pub fn faulty_at(&self, now: SimTime) -> bool {
        self.faults.iter().any(|f| f.start <= now && now < f.end)
    }

    /// One call at `now`.
    pub fn call(&mut self, now: SimTime, rng: &mut impl Rng) -> Call {
        let second = now.as_millis() / 1000;
        if second != self.second {
            self.second = second;
            self.calls_this_second = 0;
            self.overloaded_this_second = false;
        }
        self.calls += 1;
        self.calls_this_second += 1;
        let mut capacity = self.capacity_per_sec;
        let mut added = Duration::ZERO;
        let mut fail_ratio: f64 = 0.0;
        for fault in self.faults.iter().filter(|f| f.start <= now && now < f.end) {
            match fault.kind {
                FaultKind::Outage => fail_ratio = 1.0,
                FaultKind::ErrorRatio { ratio } => fail_ratio = fail_ratio.max(ratio),
                FaultKind::Brownout { capacity: share } => capacity *= share.clamp(0.0, 1.0),
                FaultKind::Latency { added: extra } => added += extra,
            }
        }
        #[allow(clippy::cast_precision_loss)] // calls per second stay far below 2^52
        let load = self.calls_this_second as f64;
        let outcome = if load > capacity {
            if !self.overloaded_this_second {
                self.overloaded_this_second = true;
                self.overloaded_seconds += 1;
            }
            Call {
                ok: false,
                latency: self.base_latency,
            }
        } else {
            let utilisation = if capacity > 0.0 { load / capacity } else { 1.0 };
            let stretch = (1.0 / (1.0 - utilisation.min(0.95))).min(20.0);
            let failed = fail_ratio > 0.0 && rng.random::<f64>() < fail_ratio;
            Call {
                ok: !failed,
                latency: self.base_latency.mul_f64(stretch) + added,
            }
        };
        if !outcome.ok {
            self.failed_calls += 1;
        }
        outcome
    }

    /// Seconds in which more calls came than the downstream could serve.
    pub fn overloaded_seconds(&self) -> u64 {
        self.overloaded_seconds
    }

    /// Calls that failed, for any reason.
    pub fn failed_calls(&self) -> u64 {
        self.failed_calls
    }

    /// Every call made.
    pub fn calls(&self) -> u64 {
        self.calls
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn calls_beyond_capacity_fail_and_count_the_second_as_overloaded() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut d = Downstream::new(10.0, Duration::from_millis(20), vec![]);
        let results: Vec<Call> = (0..15)
            .map(|_| d.call(SimTime::from_millis(500), &mut rng))
            .collect();
        assert_eq!(results.iter().filter(|c| c.ok).count(), 10);
        assert_eq!(d.overloaded_seconds(), 1);
        assert!(
            results[9].latency > results[0].latency,
            "latency grows with load"
        );
        assert!(d.call(SimTime::from_secs(1), &mut rng).ok, "a new second");
        assert_eq!(d.failed_calls(), 5);
    }

    #[test]
    fn an_outage_fails_every_call_in_its_window_only() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let outage = FaultWindow {
            start: SimTime::from_secs(10),
            end: SimTime::from_secs(20),
            kind: FaultKind::Outage,
        };
        let mut d = Downstream::new(100.0, Duration::from_millis(20), vec![outage]);
        assert!(d.call(SimTime::from_secs(9), &mut rng).ok);
        assert!(!d.call(SimTime::from_secs(10), &mut rng).ok);
        assert!(!d.call(SimTime::from_millis(19_999), &mut rng).ok);
        assert!(d.call(SimTime::from_secs(20), &mut rng).ok);
        assert!(d.faulty_at(SimTime::from_secs(15)));
    }

    #[test]
    fn a_brownout_cuts_capacity_and_an_error_ratio_fails_its_share() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let faults = vec![
            FaultWindow {
                start: SimTime::ZERO,
                end: SimTime::from_secs(1),
                kind: FaultKind::Brownout { capacity: 0.3 },
            },
            FaultWindow {
                start: SimTime::from_secs(1),
                end: SimTime::from_secs(100),
                kind: FaultKind::ErrorRatio { ratio: 0.3 },
            },
        ];
        let mut d = Downstream::new(100.0, Duration::from_millis(5), faults);
        let ok = (0..100)
            .filter(|_| d.call(SimTime::ZERO, &mut rng).ok)
            .count();
        assert_eq!(ok, 30);
        let failed = (1..=90u64)
            .flat_map(|s| (0..10).map(move |_| s))
            .filter(|&s| !d.call(SimTime::from_secs(s), &mut rng).ok)
            .count();
        assert!(
            (200..=340).contains(&failed),
            "about 30 % of 900, got {failed}"
        );
    }
}
