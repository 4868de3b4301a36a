//! The names of the state machine's phases and edges: what errors, tags, logs and metrics call
//! them (no dependency on the rest of the policy, so every part of it can name them).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The name of a phase, for errors, tags and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseName {
    /// [`Phase::Closed`](super::state::Phase::Closed).
    Closed,
    /// [`Phase::Throttled`](super::state::Phase::Throttled).
    Throttled,
    /// [`Phase::Open`](super::state::Phase::Open).
    Open,
    /// [`Phase::HalfOpen`](super::state::Phase::HalfOpen).
    HalfOpen,
    /// [`Phase::Ramping`](super::state::Phase::Ramping).
    Ramping,
}

impl PhaseName {
    /// Every phase name.
    pub const ALL: [Self; 5] = [
        Self::Closed,
        Self::Throttled,
        Self::Open,
        Self::HalfOpen,
        Self::Ramping,
    ];

    /// The kebab-case name used in tags, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Throttled => "throttled",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
            Self::Ramping => "ramping",
        }
    }
}

impl fmt::Display for PhaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The named edges of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Edge {
    /// An open-action alarm (or a throttle alarm during a probe) fired: go to Open.
    Trip,
    /// A throttle-action alarm fired: enter Throttled, or halve its level.
    Throttle,
    /// The open wait is over and alarms are healthy: start probing.
    Probe,
    /// Healthy long enough: double the level, or close at `max`.
    Recover,
    /// An operator forced the circuit open.
    ForceOpen,
    /// An operator forced the circuit closed.
    ForceClose,
}
