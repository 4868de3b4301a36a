//! The reaction-time breakdown, derived from the timeline. Pure.
//!
//! flood start → first alarm → disable call → Disabled → half-open → closed.
//!
//! - **flood start**: the start of the `flood` phase.
//! - **first alarm**: the first sample after it with an alarm in `ALARM`.
//! - **disable call**: the drill's own disable (manual stand-in), or else the breaker's
//!   `floodgate:since` when its state tag first reads `open`, or else the first sample in
//!   which the mapping was `Disabling` or `Disabled` (an upper bound).
//! - **disabled**: the first sample with the mapping `Disabled`.
//! - **half-open**: after that, the first sample whose state tag reads `half-open`; without a
//!   breaker (no tags), the first sample with the mapping enabled again.
//! - **closed**: after that, the first sample whose state tag reads `closed`; without tags,
//!   the first sample with the mapping `Enabled` at the concurrency it had at flood start.

use floodgate_core::ports::MappingState;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use floodgate_core::policy::PhaseName;
use serde::{Deserialize, Serialize};

use super::metric::Metric;
use super::spec::PhaseKind;
use super::timeline::{Event, EventKind, Sample};

/// When each step happened, in seconds since the drill started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    /// The flood phase began.
    pub flood_start: Option<f64>,
    /// First alarm in `ALARM`.
    pub first_alarm: Option<f64>,
    /// The mapping was told to disable.
    pub disable_call: Option<f64>,
    /// The mapping was `Disabled`.
    pub disabled: Option<f64>,
    /// The breaker probed again.
    pub half_open: Option<f64>,
    /// The breaker closed again.
    pub closed: Option<f64>,
}

impl Reaction {
    /// The steps as `time_to_*` metrics: seconds since flood start, for those that happened.
    pub fn metrics(&self) -> BTreeMap<Metric, f64> {
        let Some(start) = self.flood_start else {
            return BTreeMap::new();
        };
        [
            (Metric::TimeToFirstAlarm, self.first_alarm),
            (Metric::TimeToDisableCall, self.disable_call),
            (Metric::TimeToDisabled, self.disabled),
            (Metric::TimeToHalfOpen, self.half_open),
            (Metric::TimeToClosed, self.closed),
        ]
        .into_iter()
        .filter_map(|(metric, at)| at.map(|at| (metric, at - start)))
        .collect()
    }

    /// The steps in order with their times, for tables and charts.
    pub fn steps(&self) -> [(&'static str, Option<f64>); 6] {
        [
            ("flood start", self.flood_start),
            ("first alarm", self.first_alarm),
            ("disable call", self.disable_call),
            ("Disabled", self.disabled),
            ("half-open", self.half_open),
            ("closed", self.closed),
        ]
    }
}

fn first_after(samples: &[Sample], after: f64, test: impl Fn(&Sample) -> bool) -> Option<&Sample> {
    samples.iter().find(|s| s.t >= after && test(s))
}

/// Derives the breakdown from the timeline; `started_at` converts the breaker's wall-clock
/// `since` tags to drill time.
pub fn derive(samples: &[Sample], events: &[Event], started_at: DateTime<Utc>) -> Reaction {
    let Some(flood_start) = events
        .iter()
        .find(|e| e.kind == EventKind::PhaseStarted && e.phase == PhaseKind::Flood)
        .map(|e| e.t)
    else {
        return Reaction::default();
    };
    let state_is = |s: &Sample, name: PhaseName| s.observed.breaker_state() == Some(name.as_str());
    let esm_is = |s: &Sample, state: MappingState| s.observed.esm_state.as_ref() == Some(&state);
    let has_tags = samples.iter().any(|s| s.observed.breaker_state().is_some());

    let first_alarm = first_after(samples, flood_start, |s| s.observed.any_alarm()).map(|s| s.t);
    let manual = events
        .iter()
        .find(|e| e.kind == EventKind::ManualDisable && e.t >= flood_start)
        .map(|e| e.t);
    let from_tag = first_after(samples, flood_start, |s| state_is(s, PhaseName::Open)).map(|s| {
        s.observed
            .breaker_since()
            .and_then(|since| DateTime::parse_from_rfc3339(since).ok())
            .map(|since| (since.with_timezone(&Utc) - started_at).as_seconds_f64())
            .filter(|t| *t >= flood_start && *t <= s.t)
            .unwrap_or(s.t)
    });
    let disabling = first_after(samples, flood_start, |s| {
        esm_is(s, MappingState::Disabling) || esm_is(s, MappingState::Disabled)
    })
    .map(|s| s.t);
    let disable_call = manual.or(from_tag).or(disabling);
    let disabled =
        first_after(samples, flood_start, |s| esm_is(s, MappingState::Disabled)).map(|s| s.t);

    let baseline_concurrency = samples
        .iter()
        .rfind(|s| s.t <= flood_start)
        .or(samples.first())
        .and_then(|s| s.observed.max_concurrency);
    let half_open = disabled.and_then(|after| {
        first_after(samples, after, |s| {
            if has_tags {
                state_is(s, PhaseName::HalfOpen)
            } else {
                esm_is(s, MappingState::Enabling) || esm_is(s, MappingState::Enabled)
            }
        })
        .map(|s| s.t)
    });
    let closed = half_open.and_then(|after| {
        first_after(samples, after, |s| {
            if has_tags {
                state_is(s, PhaseName::Closed)
            } else {
                esm_is(s, MappingState::Enabled)
                    && s.observed.max_concurrency == baseline_concurrency
            }
        })
        .map(|s| s.t)
    });
    Reaction {
        flood_start: Some(flood_start),
        first_alarm,
        disable_call,
        disabled,
        half_open,
        closed,
    }
}

#[cfg(test)]
// The expected values are exact in binary floating point (small integers and halves).
#[allow(clippy::float_cmp)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::drill::timeline::Observation;

    fn sample(t: f64, esm: &str, breaker: Option<(&str, &str)>, alarm: &str) -> Sample {
        let mut observed = Observation {
            esm_state: Some(MappingState::parse(esm)),
            max_concurrency: Some(10),
            alarms: BTreeMap::from([("errors".to_owned(), alarm.to_owned())]),
            ..Observation::default()
        };
        if let Some((state, since)) = breaker {
            observed
                .breaker
                .insert("floodgate:state".to_owned(), state.to_owned());
            observed
                .breaker
                .insert("floodgate:since".to_owned(), since.to_owned());
        }
        Sample {
            t,
            phase: PhaseKind::Flood,
            observed,
            sent: 0,
            send_rate: 0.0,
            target_rate: 0.0,
        }
    }

    fn event(t: f64, kind: EventKind, phase: PhaseKind) -> Event {
        Event {
            t,
            kind,
            phase,
            detail: String::new(),
        }
    }

    #[test]
    fn the_breakdown_follows_the_breaker_tags_and_uses_its_since_for_the_call() {
        let start: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().unwrap();
        let at = |secs: i64| (start + TimeDelta::seconds(secs)).to_rfc3339();
        let samples = vec![
            sample(9.0, "Enabled", Some(("closed", &at(0))), "OK"),
            sample(20.0, "Enabled", Some(("closed", &at(0))), "ALARM"),
            sample(21.0, "Disabling", Some(("open", &at(20))), "ALARM"),
            sample(22.0, "Disabled", Some(("open", &at(20))), "ALARM"),
            sample(60.0, "Enabled", Some(("half-open", &at(59))), "OK"),
            sample(70.0, "Enabled", Some(("closed", &at(69))), "OK"),
        ];
        let events = vec![event(10.0, EventKind::PhaseStarted, PhaseKind::Flood)];
        let reaction = derive(&samples, &events, start);
        assert_eq!(
            reaction,
            Reaction {
                flood_start: Some(10.0),
                first_alarm: Some(20.0),
                disable_call: Some(20.0),
                disabled: Some(22.0),
                half_open: Some(60.0),
                closed: Some(70.0),
            }
        );
        let metrics = reaction.metrics();
        assert_eq!(metrics[&Metric::TimeToDisabled], 12.0);
        assert_eq!(metrics[&Metric::TimeToClosed], 60.0);
    }

    #[test]
    fn without_a_breaker_the_manual_disable_and_mapping_states_give_the_steps() {
        let samples = vec![
            sample(1.0, "Enabled", None, "OK"),
            sample(6.0, "Disabling", None, "OK"),
            sample(7.0, "Disabled", None, "OK"),
            sample(15.0, "Enabling", None, "OK"),
            sample(16.0, "Enabled", None, "OK"),
        ];
        let events = vec![
            event(5.0, EventKind::PhaseStarted, PhaseKind::Flood),
            event(5.5, EventKind::ManualDisable, PhaseKind::Flood),
        ];
        let reaction = derive(&samples, &events, Utc::now());
        assert_eq!(reaction.first_alarm, None);
        assert_eq!(reaction.disable_call, Some(5.5));
        assert_eq!(reaction.disabled, Some(7.0));
        assert_eq!(reaction.half_open, Some(15.0));
        assert_eq!(reaction.closed, Some(16.0));
        assert!(!reaction.metrics().contains_key(&Metric::TimeToFirstAlarm));
    }

    #[test]
    fn a_drill_whose_mapping_never_disables_has_no_later_steps() {
        let samples = vec![
            sample(1.0, "Enabled", None, "ALARM"),
            sample(9.0, "Enabled", None, "ALARM"),
        ];
        let events = vec![event(0.5, EventKind::PhaseStarted, PhaseKind::Flood)];
        let reaction = derive(&samples, &events, Utc::now());
        assert_eq!(reaction.first_alarm, Some(1.0));
        assert_eq!(
            (reaction.disabled, reaction.half_open, reaction.closed),
            (None, None, None)
        );
    }
}
