//! The world over simulated time, for the HTML report: sampled at a coarse, fixed step
//! (10 s, or longer so a run has at most [`MAX_POINTS`] points), all circuits summed, plus
//! the fault windows as the downstream saw them and each circuit's phases under `floodgate`.
//!
//! It stays out of the JSON (`StrategyResult::timeline` is skipped): the JSON is the lean,
//! byte-reproducible summary; this is what the charts draw.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::sim::time::SimTime;
use crate::sim::world::World;

/// Most points a timeline holds; the step grows past 10 s to stay within it.
pub const MAX_POINTS: u64 = 1000;
/// The shortest step.
const MIN_STEP_S: u64 = 10;

/// One sample, all circuits summed. Counts "in the interval" cover the time since the
/// previous sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Point {
    /// Seconds since the start.
    pub t: f64,
    /// Visible messages in the source queues.
    pub source_visible: u64,
    /// Messages in the overflow queues.
    pub overflow: u64,
    /// Messages in the DLQs.
    pub dlq: u64,
    /// Messages the consumers processed and deleted in the interval.
    pub consumed: u64,
    /// Downstream calls that failed in the interval.
    pub failed_calls: u64,
    /// The consumers' invocations running at the sample.
    pub running: u64,
    /// Batches the mappings' pollers may process at once.
    pub batches: u64,
    /// The consumers' concurrency limit (the mapping's and the reservation's, the lower),
    /// when every circuit has one.
    pub limit: Option<u64>,
    /// `floodgate`: circuits per phase (the phase last reported by the controller).
    pub phases: BTreeMap<String, u64>,
}

/// One circuit's phases, each from when the controller first reported it until the next.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseSpans {
    /// The circuit.
    pub circuit: String,
    /// `(from s, to s, phase)`, in order.
    pub spans: Vec<(f64, f64, String)>,
}

/// What the charts draw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Seconds between samples.
    pub step_s: f64,
    /// The run's length, seconds.
    pub duration_s: f64,
    /// The samples, in time order.
    pub points: Vec<Point>,
    /// When the downstream of the first circuit was faulty: `(from s, to s)` (every circuit
    /// gets the same faults), at the run loop's one-second resolution.
    pub faults: Vec<(f64, f64)>,
    /// `floodgate`: each circuit's phases (set at the end of the run).
    pub phase_spans: Vec<PhaseSpans>,
}

/// Samples the world into a [`Timeline`].
#[derive(Debug)]
pub struct Sampler {
    step: Duration,
    next: SimTime,
    consumed: u64,
    failed_calls: u64,
    fault_from: Option<SimTime>,
    timeline: Timeline,
}

impl Sampler {
    /// A sampler for a run of `duration`.
    pub fn new(duration: Duration) -> Self {
        let step_s = duration.as_secs().div_ceil(MAX_POINTS).max(MIN_STEP_S);
        let step_s = step_s.div_ceil(MIN_STEP_S) * MIN_STEP_S;
        Self {
            step: Duration::from_secs(step_s),
            next: SimTime::ZERO,
            consumed: 0,
            failed_calls: 0,
            fault_from: None,
            timeline: Timeline {
                #[allow(clippy::cast_precision_loss)] // whole seconds
                step_s: step_s as f64,
                duration_s: duration.as_secs_f64(),
                ..Timeline::default()
            },
        }
    }

    /// Looks at the world (called about every second): notes fault edges, and samples when
    /// a step is due. `phases` gives each circuit's phase (`floodgate` only); it is called
    /// only when a sample is taken.
    pub fn observe(
        &mut self,
        world: &mut World,
        phases: impl FnOnce() -> Option<BTreeMap<String, String>>,
    ) {
        let now = world.now();
        let faulty = world
            .circuits
            .first()
            .is_some_and(|c| c.downstream.faulty_at(now));
        match (faulty, self.fault_from) {
            (true, None) => self.fault_from = Some(now),
            (false, Some(from)) => {
                self.timeline.faults.push((secs(from), secs(now)));
                self.fault_from = None;
            }
            _ => {}
        }
        if now < self.next {
            return;
        }
        while self.next <= now {
            self.next = self.next + self.step;
        }
        let mut point = Point {
            t: secs(now),
            limit: Some(0),
            ..Point::default()
        };
        let (mut consumed, mut failed_calls) = (0, 0);
        for c in &mut world.circuits {
            point.source_visible += c.source.depth(now).visible;
            point.overflow += c.overflow.len() as u64;
            point.dlq += c.dlq.len() as u64;
            consumed += c.consumer.counts().deleted;
            failed_calls += c.downstream.failed_calls();
            point.running += u64::from(c.consumer.running());
            point.batches += u64::from(c.consumer.batches());
            let limit = [c.consumer.mapping.invocation_limit(), c.consumer.reserved]
                .into_iter()
                .flatten()
                .min();
            point.limit = point.limit.zip(limit).map(|(sum, l)| sum + u64::from(l));
        }
        point.consumed = consumed - self.consumed;
        point.failed_calls = failed_calls - self.failed_calls;
        (self.consumed, self.failed_calls) = (consumed, failed_calls);
        if let Some(phases) = phases() {
            for phase in phases.values() {
                *point.phases.entry(phase.clone()).or_default() += 1;
            }
        }
        self.timeline.points.push(point);
    }

    /// The timeline, with `phase_spans` for the circuits' phases.
    pub fn finish(mut self, end: SimTime, phase_spans: Vec<PhaseSpans>) -> Timeline {
        if let Some(from) = self.fault_from {
            self.timeline.faults.push((secs(from), secs(end)));
        }
        self.timeline.phase_spans = phase_spans;
        self.timeline
    }
}

#[allow(clippy::cast_precision_loss)] // milliseconds of a simulation stay far below 2^52
fn secs(at: SimTime) -> f64 {
    at.as_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_is_ten_seconds_or_longer_to_keep_a_thousand_points() {
        let step = |secs| Sampler::new(Duration::from_secs(secs)).step.as_secs();
        assert_eq!(step(600), 10);
        assert_eq!(step(10_000), 10);
        assert_eq!(step(10_001), 20, "rounded up to whole tens");
        assert_eq!(step(4 * 86_400), 350);
        assert!(4 * 86_400 / step(4 * 86_400) <= MAX_POINTS);
    }
}
