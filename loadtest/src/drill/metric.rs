//! The drill's metrics: the one list of the names an assertion may use (`lost`,
//! `time_to_disabled`, ...), with what each measures. The runner computes them (see
//! [`super::reaction::Reaction::metrics`] for the reaction times), assertions name them, and
//! the report lists them by these names.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A metric of a finished drill; [`Metric::description`] says what each measures. Times are
/// in seconds, rates in messages per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    // Sending, over every flood of the drill.
    Sent,
    Planned,
    FailedSends,
    UncertainSends,
    Dropped,
    Late,

    // Accounting, after the last phase.
    Consumed,
    Lost,
    Duplicated,
    DeadLettered,
    Overflowed,
    StillQueued,
    Unexpected,
    FailedAttempts,

    // The flood phase.
    AchievedRate,
    Target,
    RateError,

    // Latency, over every flood of the drill.
    ResponseP99,
    ServiceP99,
    LagP99,

    // Reaction times: seconds from the start of the flood phase.
    TimeToFirstAlarm,
    TimeToDisableCall,
    TimeToDisabled,
    TimeToHalfOpen,
    TimeToClosed,

    // The timeline.
    MaxDepth,
    MaxInFlight,
    MaxDlqDepth,
    Duration,
}

impl Metric {
    /// Every metric: sending, accounting, the flood phase, latency, reaction times, timeline.
    pub const ALL: [Self; 29] = [
        Self::Sent,
        Self::Planned,
        Self::FailedSends,
        Self::UncertainSends,
        Self::Dropped,
        Self::Late,
        Self::Consumed,
        Self::Lost,
        Self::Duplicated,
        Self::DeadLettered,
        Self::Overflowed,
        Self::StillQueued,
        Self::Unexpected,
        Self::FailedAttempts,
        Self::AchievedRate,
        Self::Target,
        Self::RateError,
        Self::ResponseP99,
        Self::ServiceP99,
        Self::LagP99,
        Self::TimeToFirstAlarm,
        Self::TimeToDisableCall,
        Self::TimeToDisabled,
        Self::TimeToHalfOpen,
        Self::TimeToClosed,
        Self::MaxDepth,
        Self::MaxInFlight,
        Self::MaxDlqDepth,
        Self::Duration,
    ];

    /// The name assertions and reports use.
    pub fn as_str(self) -> &'static str {
        self.name_and_description().0
    }

    /// What the metric measures, in words.
    pub fn description(self) -> &'static str {
        self.name_and_description().1
    }

    /// One row per metric: the only place its name is written.
    fn name_and_description(self) -> (&'static str, &'static str) {
        match self {
            Self::Sent => ("sent", "messages acknowledged by SQS, all phases"),
            Self::Planned => ("planned", "messages scheduled, all phases"),
            Self::FailedSends => ("failed_sends", "messages SQS refused for good"),
            Self::UncertainSends => (
                "uncertain_sends",
                "messages whose send timed out or failed with 5xx after the last retry",
            ),
            Self::Dropped => ("dropped", "messages dropped by the in-flight cap"),
            Self::Late => ("late", "messages sent later than the late threshold"),
            Self::Consumed => (
                "consumed",
                "sent messages the victim processed at least once",
            ),
            Self::Lost => (
                "lost",
                "sent messages neither consumed, queued, dead-lettered nor in overflow",
            ),
            Self::Duplicated => ("duplicated", "messages processed more than once"),
            Self::DeadLettered => (
                "dead_lettered",
                "sent messages found in the DLQ and never consumed",
            ),
            Self::Overflowed => (
                "overflowed",
                "sent messages found in the overflow queue and never consumed",
            ),
            Self::StillQueued => ("still_queued", "sent messages still in the source queue"),
            Self::Unexpected => (
                "unexpected",
                "processed messages that were never acknowledged as sent",
            ),
            Self::FailedAttempts => ("failed_attempts", "deliveries the victim failed on purpose"),
            Self::AchievedRate => (
                "achieved_rate",
                "acknowledged messages/s of the flood phase",
            ),
            Self::Target => ("target", "target messages/s of the flood phase"),
            Self::RateError => (
                "rate_error",
                "achieved_rate / target - 1 of the flood phase",
            ),
            Self::ResponseP99 => (
                "response_p99",
                "99th percentile response time (intended send → ack), all phases",
            ),
            Self::ServiceP99 => (
                "service_p99",
                "99th percentile SendMessageBatch time, all phases",
            ),
            Self::LagP99 => ("lag_p99", "99th percentile schedule lag, all phases"),
            Self::TimeToFirstAlarm => ("time_to_first_alarm", "flood start → first alarm in ALARM"),
            Self::TimeToDisableCall => (
                "time_to_disable_call",
                "flood start → the mapping was told to disable",
            ),
            Self::TimeToDisabled => ("time_to_disabled", "flood start → mapping Disabled"),
            Self::TimeToHalfOpen => ("time_to_half_open", "flood start → half-open (probing)"),
            Self::TimeToClosed => ("time_to_closed", "flood start → closed again"),
            Self::MaxDepth => ("max_depth", "most messages visible in the source queue"),
            Self::MaxInFlight => (
                "max_in_flight",
                "most messages in flight in the source queue",
            ),
            Self::MaxDlqDepth => ("max_dlq_depth", "most messages in the DLQ"),
            Self::Duration => ("duration", "length of the drill"),
        }
    }

    /// The metric named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Why `name` is not a metric, with the names that are.
    pub fn unknown(name: &str) -> String {
        let known: Vec<&str> = Self::ALL.iter().map(|m| m.as_str()).collect();
        format!("unknown metric {name:?}; known: {}", known.join(", "))
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Ordered by name, so a report lists its metrics alphabetically, as it did when they were
// plain strings.
impl Ord for Metric {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Metric {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| serde::de::Error::custom(Metric::unknown(&name)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn every_metric_has_its_own_name_and_parses_back_from_it() {
        for metric in Metric::ALL {
            assert_eq!(Metric::parse(metric.as_str()), Some(metric));
            assert!(!metric.description().is_empty(), "{metric}");
        }
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
        assert_eq!(Metric::parse("lots"), None);
    }

    #[test]
    fn metric_values_serialize_by_name_in_alphabetical_order_and_read_back() {
        let values = BTreeMap::from([
            (Metric::TimeToDisabled, 12.5),
            (Metric::Lost, 0.0),
            (Metric::AchievedRate, 99.0),
        ]);
        let json = serde_json::to_string(&values).unwrap();
        assert_eq!(
            json,
            r#"{"achieved_rate":99.0,"lost":0.0,"time_to_disabled":12.5}"#
        );
        assert_eq!(
            serde_json::from_str::<BTreeMap<Metric, f64>>(&json).unwrap(),
            values
        );
        let err = serde_json::from_str::<BTreeMap<Metric, f64>>(r#"{"lots":1.0}"#).unwrap_err();
        assert!(err.to_string().contains("unknown metric \"lots\""), "{err}");
    }
}
