//! The open-model schedule: the intended send time of every message, from a rate profile and
//! a limit. Pure: no clock. The sender pins it to an absolute start time and measures every
//! latency from these intended times, so a slow system cannot hide its slowness by slowing
//! the generator down (coordinated omission).
//!
//! Message `k` (counting from 0) is due at the time `t` where the profile's integral reaches
//! `k`: `∫₀ᵗ rate = k`. At a constant rate `r` that is `k / r`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rates::{RateProfile, Segment};

/// When a flood ends: after a duration, after a number of messages, or whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// Send nothing due at or after this time.
    #[serde(default, with = "crate::units::option_duration")]
    pub duration: Option<Duration>,
    /// Send at most this many messages.
    #[serde(default)]
    pub count: Option<u64>,
}

impl Limit {
    /// A limit by duration only.
    pub fn duration(duration: Duration) -> Self {
        Self {
            duration: Some(duration),
            count: None,
        }
    }

    /// A limit by count only.
    pub fn count(count: u64) -> Self {
        Self {
            duration: None,
            count: Some(count),
        }
    }

    /// Checks that the flood ends at all.
    ///
    /// # Errors
    /// [`Error::Invalid`] when neither limit is set.
    pub fn validate(&self) -> Result<()> {
        if self.duration.is_none() && self.count.is_none() {
            return Err(Error::invalid(
                "limit",
                "give a duration, a count, or both (whichever comes first ends the flood)",
            ));
        }
        Ok(())
    }
}

/// The intended send times of a flood, in order, as offsets from its start.
#[derive(Debug, Clone)]
pub struct Schedule {
    segments: Vec<Segment>,
    limit: Limit,
    /// Index of the segment the next message falls in.
    segment: usize,
    /// Messages due before the start of that segment.
    before_segment: f64,
    /// Sequence number of the next message, counted from 0.
    next: u64,
}

impl Schedule {
    /// The schedule of `profile` until `limit`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if the profile or the limit is invalid.
    pub fn new(profile: &RateProfile, limit: Limit) -> Result<Self> {
        profile.validate()?;
        limit.validate()?;
        Ok(Self {
            segments: profile.segments(),
            limit,
            segment: 0,
            before_segment: 0.0,
            next: 0,
        })
    }

    /// Messages due until `end` — or the count limit, whichever is fewer. A schedule that
    /// ends by count alone reports that count.
    pub fn planned(profile: &RateProfile, limit: Limit) -> u64 {
        let by_duration = limit.duration.map(|d| {
            let due = profile.count_until(d);
            // Messages k with k < due: ceil(due). A hair of tolerance keeps 20 s × 500/s at
            // exactly 10,000 when floating point lands at 10,000.000000001.
            let count = (due - 1e-9).ceil().max(0.0);
            #[allow(clippy::cast_precision_loss)]
            let too_many = count >= u64::MAX as f64;
            if too_many {
                u64::MAX
            } else {
                // Non-negative and below u64::MAX, checked just above.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let count = count as u64;
                count
            }
        });
        match (by_duration, limit.count) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => 0,
        }
    }

    /// When message `seq` (from 0) is due, ignoring limits; `None` if the profile never
    /// reaches it.
    pub fn due(profile: &RateProfile, seq: u64) -> Option<Duration> {
        #[allow(clippy::cast_precision_loss)]
        let count = seq as f64;
        time_of(&profile.segments(), count, false)
    }

    /// When the schedule's span ends: the duration limit, or the time the count limit's last
    /// message would have been followed by the next (`count / rate` at a constant rate),
    /// whichever is earlier. `None` if the profile never reaches the count.
    pub fn span(profile: &RateProfile, limit: Limit) -> Option<Duration> {
        let by_count = limit.count.and_then(|count| {
            #[allow(clippy::cast_precision_loss)]
            let count = count as f64;
            time_of(&profile.segments(), count, true)
        });
        match (limit.duration, by_count) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (Some(a), None) => Some(a),
            (None, b) => b,
        }
    }
}

/// Seconds since the start at which `count` messages have come due. `at_end` picks the end
/// of a segment over the start of the next when `count` falls on the boundary (for a span,
/// which ends where the last message's interval ends); otherwise the boundary goes to the
/// next segment, as in the iterator, so both give the same times.
fn time_of(segments: &[Segment], count: f64, at_end: bool) -> Option<Duration> {
    let mut before = 0.0;
    for segment in segments {
        let in_segment = segment.count();
        let inside = if at_end {
            count <= before + in_segment
        } else {
            count < before + in_segment
        };
        if inside {
            let t = segment.start + segment.time_of(count - before)?;
            return Duration::try_from_secs_f64(t).ok();
        }
        before += in_segment;
    }
    None
}

impl Iterator for Schedule {
    /// `(sequence number from 0, intended offset from the start)`.
    type Item = (u64, Duration);

    fn next(&mut self) -> Option<Self::Item> {
        if self.limit.count.is_some_and(|count| self.next >= count) {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let k = self.next as f64;
        loop {
            let segment = self.segments.get(self.segment)?;
            let in_segment = segment.count();
            if k < self.before_segment + in_segment {
                let tau = segment.time_of(k - self.before_segment)?;
                let t = Duration::try_from_secs_f64(segment.start + tau).ok()?;
                if self.limit.duration.is_some_and(|end| t >= end) {
                    return None;
                }
                let item = (self.next, t);
                self.next += 1;
                return Some(item);
            }
            if !in_segment.is_finite() {
                // An endless segment always contains the next message; only rounding gets here.
                return None;
            }
            self.before_segment += in_segment;
            self.segment += 1;
        }
    }
}

#[cfg(test)]
// Counts in these tests stay far below 2^52, where u64 → f64 is exact.
#[allow(clippy::cast_precision_loss)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn times(profile: &RateProfile, limit: Limit) -> Vec<Duration> {
        Schedule::new(profile, limit)
            .unwrap()
            .map(|(_, t)| t)
            .collect()
    }

    #[test]
    fn a_constant_rate_spaces_messages_evenly_from_time_zero() {
        let t = times(
            &RateProfile::constant(4.0),
            Limit::duration(Duration::from_secs(1)),
        );
        assert_eq!(t, [0, 250, 500, 750].map(Duration::from_millis).to_vec());
    }

    #[test]
    fn a_count_limit_stops_after_that_many_messages() {
        let schedule = Schedule::new(&RateProfile::constant(1000.0), Limit::count(7)).unwrap();
        let items: Vec<_> = schedule.collect();
        assert_eq!(items.len(), 7);
        assert_eq!(
            items.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
            (0..7).collect::<Vec<_>>()
        );
        assert_eq!(
            Schedule::span(&RateProfile::constant(1000.0), Limit::count(7)),
            Some(Duration::from_millis(7))
        );
    }

    #[test]
    fn whichever_limit_comes_first_ends_the_schedule() {
        let both = Limit {
            duration: Some(Duration::from_secs(1)),
            count: Some(1_000_000),
        };
        assert_eq!(times(&RateProfile::constant(100.0), both).len(), 100);
        assert_eq!(Schedule::planned(&RateProfile::constant(100.0), both), 100);
        assert_eq!(
            Schedule::span(&RateProfile::constant(100.0), both),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_limit_with_neither_duration_nor_count_is_refused() {
        let limit = Limit {
            duration: None,
            count: None,
        };
        assert!(Schedule::new(&RateProfile::constant(1.0), limit).is_err());
    }

    #[test]
    fn a_pause_in_a_points_profile_sends_nothing_during_it() {
        let profile = RateProfile::Points {
            points: vec![
                (0.0, 10.0),
                (1.0, 10.0),
                (1.0, 0.0),
                (3.0, 0.0),
                (3.0, 10.0),
            ],
        };
        let t = times(&profile, Limit::duration(Duration::from_secs(4)));
        assert_eq!(t.len(), 20);
        assert!(
            t.iter()
                .all(|t| *t < Duration::from_secs(1) || *t >= Duration::from_secs(3))
        );
    }

    #[test]
    fn a_ramp_from_zero_starts_at_time_zero_and_speeds_up() {
        let profile = RateProfile::Ramp {
            from: 0.0,
            to: 100.0,
            over: Duration::from_secs(10),
        };
        let t = times(&profile, Limit::duration(Duration::from_secs(10)));
        // ∫ = 5 t², so 500 messages in 10 s; message k is due at sqrt(k / 5).
        assert_eq!(t.len(), 500);
        assert_eq!(t[0], Duration::ZERO);
        assert!((t[5].as_secs_f64() - 1.0).abs() < 1e-9);
        let gaps: Vec<_> = t
            .windows(2)
            .map(|w| w[1].checked_sub(w[0]).expect("in order"))
            .collect();
        assert!(
            gaps.windows(2)
                .all(|g| g[1] <= g[0] + Duration::from_nanos(1))
        );
    }

    fn profiles() -> impl Strategy<Value = RateProfile> {
        let rate = 0.0..2000.0_f64;
        let secs = (1u64..2_000).prop_map(Duration::from_millis);
        prop_oneof![
            (1.0..2000.0_f64).prop_map(RateProfile::constant),
            (rate.clone(), rate.clone(), secs.clone())
                .prop_map(|(from, to, over)| RateProfile::Ramp { from, to, over }),
            (rate.clone(), 1.0..500.0_f64, secs.clone(), rate.clone()).prop_map(
                |(from, by, every, to)| RateProfile::Step {
                    from,
                    by,
                    every,
                    to
                }
            ),
            (rate.clone(), rate, secs.clone(), secs).prop_map(|(base, peak, at, length)| {
                RateProfile::Spike {
                    base,
                    peak,
                    at,
                    length,
                }
            }),
        ]
    }

    proptest! {

        #[test]
        fn intended_times_never_go_backwards_and_stay_inside_the_duration(
            profile in profiles(),
            millis in 1u64..1_000,
        ) {
            let limit = Limit { duration: Some(Duration::from_millis(millis)), count: Some(5_000) };
            let mut previous = Duration::ZERO;
            for (i, (seq, t)) in Schedule::new(&profile, limit).unwrap().enumerate() {
                prop_assert_eq!(seq, i as u64);
                prop_assert!(t >= previous, "message {} at {:?} is before {:?}", seq, t, previous);
                prop_assert!(t < Duration::from_millis(millis));
                prop_assert_eq!(Some(t), Schedule::due(&profile, seq));
                previous = t;
            }
        }

        #[test]
        fn the_number_of_messages_due_by_any_time_matches_the_integral_of_the_rate(
            profile in profiles(),
            millis in 1u64..1_000,
        ) {
            let limit = Limit::duration(Duration::from_millis(millis));
            let sent = Schedule::new(&profile, limit).unwrap().count() as u64;
            prop_assert_eq!(sent, Schedule::planned(&profile, limit));
            let due = profile.count_until(Duration::from_millis(millis));
            prop_assert!((sent as f64 - due).abs() <= 1.0, "{} sent, {} due", sent, due);
        }

        #[test]
        fn a_constant_rate_is_exact_over_any_whole_number_of_seconds(
            rate in 1u32..100_000,
            secs in 1u64..3_600,
        ) {
            // Message k is due at k / rate: exactly rate × secs of them fall inside secs.
            let profile = RateProfile::constant(f64::from(rate));
            let n = u64::from(rate) * secs;
            prop_assert!(Schedule::due(&profile, n - 1).unwrap() < Duration::from_secs(secs));
            prop_assert!(Schedule::due(&profile, n).unwrap() >= Duration::from_secs(secs));
            prop_assert_eq!(Schedule::planned(&profile, Limit::duration(Duration::from_secs(secs))), n);
        }
    }
}
