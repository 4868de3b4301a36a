//! The timeline: what the drill saw, sampled every second or faster, and the events it
//! caused (phase boundaries, injections).

use floodgate_core::ports::MappingState;
use std::collections::BTreeMap;

use floodgate_core::policy::tags::{TAG_SINCE, TAG_STATE};
use serde::{Deserialize, Serialize};

use super::spec::PhaseKind;

/// One look at the target. Every field is optional: a read that failed leaves its field
/// empty and adds a line to `errors`, and the drill goes on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// The mapping's `State`.
    pub esm_state: Option<MappingState>,
    /// The mapping's `MaximumConcurrency`.
    pub max_concurrency: Option<i32>,
    /// The breaker's `floodgate:*` tags on the mapping.
    pub breaker: BTreeMap<String, String>,
    /// The function's reserved concurrency.
    pub reserved_concurrency: Option<i32>,
    /// Source queue: messages visible.
    pub visible: Option<u64>,
    /// Source queue: messages in flight.
    pub in_flight: Option<u64>,
    /// DLQ: messages (visible, in flight and delayed).
    pub dlq: Option<u64>,
    /// Overflow queue: messages.
    pub overflow: Option<u64>,
    /// Alarm name → `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub alarms: BTreeMap<String, String>,
    /// Reads that failed.
    pub errors: Vec<String>,
}

impl Observation {
    /// The breaker's state tag (`closed`, `throttled`, `open`, `half-open`, `ramping`).
    pub fn breaker_state(&self) -> Option<&str> {
        self.breaker
            .get(TAG_STATE)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The breaker's `since` tag.
    pub fn breaker_since(&self) -> Option<&str> {
        self.breaker
            .get(TAG_SINCE)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Whether any alarm is in `ALARM`.
    pub fn any_alarm(&self) -> bool {
        self.alarms.values().any(|s| s == "ALARM")
    }
}

/// One sample of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the drill started.
    pub t: f64,
    /// The phase at the time.
    pub phase: PhaseKind,
    /// What was seen.
    #[serde(flatten)]
    pub observed: Observation,
    /// Messages acknowledged so far (all phases).
    pub sent: u64,
    /// Acknowledged messages/s since the previous sample.
    pub send_rate: f64,
    /// The target messages/s at the time.
    pub target_rate: f64,
}

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A phase began.
    PhaseStarted,
    /// A phase ended.
    PhaseEnded,
    /// The victim's settings changed.
    Victim,
    /// The drill disabled the mapping itself (stand-in for the breaker).
    ManualDisable,
    /// The drill enabled the mapping itself.
    ManualEnable,
    /// Anything else worth a line in the report.
    Note,
}

/// Something the drill did or noticed, at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the drill started.
    pub t: f64,
    /// Kind.
    pub kind: EventKind,
    /// Phase it belongs to.
    pub phase: PhaseKind,
    /// Details, for people.
    pub detail: String,
}
