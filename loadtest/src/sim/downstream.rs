//! The downstream the consumer calls once per message: a database or API with a capacity.
//!
//! This is not AWS: it is the scenario's stand-in for what a breaker protects, so its shape
//! is this model's choice, stated here. It serves `capacity_per_sec` calls a second; each
//! caller (a running invocation) has one call in flight at a time, so with `n` callers a call
//! takes `max(base, n / capacity)` (Little's law for a saturated server): more callers than
//! `capacity × base` queue, and every call slows down — until the consumer's function times
//! out, which is how a flood turns into errors. A second in which calls took more than twice
//! the idle latency counts as overloaded. Fault windows change it for a while: an outage
//! fails every call; an error ratio fails that share of calls; a brownout cuts capacity to a
//! share of itself; a latency spike adds a fixed delay.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::sim::events::{AfterEvent, SimEvent};
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
    /// When it ends ([`FaultWindow::OPEN`] until `ends_after` has happened).
    pub end: SimTime,
    /// What it does.
    pub kind: FaultKind,
    /// Ends this long after an event instead, once the event has happened.
    pub ends_after: Option<AfterEvent>,
}

impl FaultWindow {
    /// The end of a window whose event has not happened yet.
    pub const OPEN: SimTime = SimTime::from_millis(u64::MAX);

    /// A window over `[start, end)`.
    pub fn new(start: SimTime, end: SimTime, kind: FaultKind) -> Self {
        Self {
            start,
            end,
            kind,
            ends_after: None,
        }
    }

    /// A window from `start` until `ends_after`.
    pub fn until(start: SimTime, ends_after: AfterEvent, kind: FaultKind) -> Self {
        Self {
            start,
            end: Self::OPEN,
            kind,
            ends_after: Some(ends_after),
        }
    }
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
    /// Which seconds were overloaded, by second since the start (a call's hot path: indexed,
    /// not hashed).
    overloaded: Vec<bool>,
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
            overloaded: Vec::new(),
            overloaded_seconds: 0,
            failed_calls: 0,
            calls: 0,
        }
    }

    /// `event` happened `at`: windows that end after it get their end.
    pub fn on_event(&mut self, event: SimEvent, at: SimTime) {
        for fault in &mut self.faults {
            if let Some(after) = fault.ends_after.filter(|a| a.event == event) {
                fault.end = at + after.after;
                fault.ends_after = None;
            }
        }
    }

    /// When the last fault window ends, once every window's end is known.
    pub fn faults_end(&self) -> Option<SimTime> {
        if self.faults.iter().any(|f| f.end == FaultWindow::OPEN) {
            return None;
        }
        self.faults.iter().map(|f| f.end).max()
    }

    /// Whether a fault window covers `now`.
    pub fn faulty_at(&self, now: SimTime) -> bool {
        self.faults.iter().any(|f| f.start <= now && now < f.end)
    }

    /// One call at `now`, with `callers` calls in flight (this one included).
    pub fn call(&mut self, now: SimTime, callers: u32, rng: &mut impl Rng) -> Call {
        self.calls += 1;
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
        let queued = if capacity > 0.0 {
            Duration::from_secs_f64((f64::from(callers.max(1)) / capacity).min(3600.0))
        } else {
            Duration::from_hours(1)
        };
        let latency = self.base_latency.max(queued);
        if latency > self.base_latency * 2 {
            let second = usize::try_from(now.as_millis() / 1000).unwrap_or(usize::MAX);
            if self.overloaded.len() <= second {
                self.overloaded.resize(second + 1, false);
            }
            if !std::mem::replace(&mut self.overloaded[second], true) {
                self.overloaded_seconds += 1;
            }
        }
        let failed = fail_ratio > 0.0 && rng.random::<f64>() < fail_ratio;
        if failed {
            self.failed_calls += 1;
        }
        Call {
            ok: !failed,
            latency: latency + added,
        }
    }

    /// Seconds in which calls took more than twice the idle latency.
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
    fn more_callers_than_it_serves_queue_and_slow_every_call() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut d = Downstream::new(100.0, Duration::from_millis(20), vec![]);
        // 100 calls/s at 20 ms each: two callers keep it busy without queueing.
        assert_eq!(
            d.call(SimTime::ZERO, 2, &mut rng).latency,
            Duration::from_millis(20)
        );
        assert_eq!(d.overloaded_seconds(), 0);
        // Fifty callers: each waits its turn, 0.5 s a call.
        let call = d.call(SimTime::from_secs(1), 50, &mut rng);
        assert!(call.ok);
        assert_eq!(call.latency, Duration::from_millis(500));
        d.call(SimTime::from_millis(1500), 50, &mut rng);
        assert_eq!(d.overloaded_seconds(), 1, "one second, counted once");
    }

    #[test]
    fn an_outage_fails_every_call_in_its_window_only() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let outage = FaultWindow::new(
            SimTime::from_secs(10),
            SimTime::from_secs(20),
            FaultKind::Outage,
        );
        let mut d = Downstream::new(100.0, Duration::from_millis(20), vec![outage]);
        assert!(d.call(SimTime::from_secs(9), 1, &mut rng).ok);
        assert!(!d.call(SimTime::from_secs(10), 1, &mut rng).ok);
        assert!(!d.call(SimTime::from_millis(19_999), 1, &mut rng).ok);
        assert!(d.call(SimTime::from_secs(20), 1, &mut rng).ok);
        assert!(d.faulty_at(SimTime::from_secs(15)));
    }

    #[test]
    fn a_brownout_cuts_capacity_and_an_error_ratio_fails_its_share() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let faults = vec![
            FaultWindow::new(
                SimTime::ZERO,
                SimTime::from_secs(1),
                FaultKind::Brownout { capacity: 0.1 },
            ),
            FaultWindow::new(
                SimTime::from_secs(1),
                SimTime::from_secs(100),
                FaultKind::ErrorRatio { ratio: 0.3 },
            ),
        ];
        let mut d = Downstream::new(100.0, Duration::from_millis(20), faults);
        assert_eq!(
            d.call(SimTime::ZERO, 5, &mut rng).latency,
            Duration::from_millis(500)
        );
        let failed = (0..900u64)
            .filter(|&i| !d.call(SimTime::from_secs(1 + i / 10), 1, &mut rng).ok)
            .count();
        assert!(
            (200..=340).contains(&failed),
            "about 30 % of 900, got {failed}"
        );
    }

    #[test]
    fn a_window_until_an_event_lasts_until_the_event_plus_its_delay() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let healed = AfterEvent {
            event: SimEvent::MappingDisabled,
            after: Duration::from_secs(10),
        };
        let outage = FaultWindow::until(SimTime::from_secs(5), healed, FaultKind::Outage);
        let mut d = Downstream::new(100.0, Duration::from_millis(20), vec![outage]);
        assert!(d.call(SimTime::from_secs(4), 1, &mut rng).ok);
        assert!(!d.call(SimTime::from_secs(500), 1, &mut rng).ok, "open");
        assert_eq!(d.faults_end(), None);
        d.on_event(SimEvent::MappingDisabled, SimTime::from_secs(600));
        assert_eq!(d.faults_end(), Some(SimTime::from_secs(610)));
        assert!(!d.call(SimTime::from_millis(609_999), 1, &mut rng).ok);
        assert!(d.call(SimTime::from_secs(610), 1, &mut rng).ok);
        // Only the first occurrence counts.
        d.on_event(SimEvent::MappingDisabled, SimTime::from_secs(700));
        assert_eq!(d.faults_end(), Some(SimTime::from_secs(610)));
    }
}
