//! What the policy observes: the circuit's alarms and an optional operator command.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a tripping alarm does to the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Stop consuming: go to Open.
    Open,
    /// Keep consuming at a lower concurrency: go to Throttled.
    Throttle,
}

/// Which signal an alarm watches; decides its [`Action`] together with the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// Function errors or error rate; always opens the circuit.
    Errors,
    /// Function throttles.
    Throttles,
    /// Queue depth (`ApproximateNumberOfMessagesVisible`).
    Depth,
    /// Age of the oldest message (`ApproximateAgeOfOldestMessage`).
    Age,
    /// Any other alarm, with the action configured for it.
    Custom(Action),
}

/// The `CloudWatch` state of an alarm, shared with the `alarms` crate.
///
/// The policy counts `InsufficientData` as healthy: an open circuit has its event source
/// mapping disabled, so the function produces no error datapoints and its alarms drift there.
/// Were it unhealthy, an open circuit could never close again.
pub use alarms::AlarmState;

/// One alarm as read now (level-triggered: the current state, not the event that woke us).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmReading {
    /// The alarm name.
    pub name: String,
    /// What the alarm watches.
    pub kind: AlarmKind,
    /// Its current state.
    pub state: AlarmState,
    /// When it entered that state (`StateUpdatedTimestamp` of `DescribeAlarms`).
    pub since: DateTime<Utc>,
}

impl AlarmReading {
    /// A reading of alarm `name` of `kind`, in `state` since `since`.
    pub fn new(
        name: impl Into<String>,
        kind: AlarmKind,
        state: AlarmState,
        since: DateTime<Utc>,
    ) -> Self {
        Self {
            name: name.into(),
            kind,
            state,
            since,
        }
    }
}

/// An operator command, applied before the alarms are considered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Command {
    /// Stop consuming whatever the alarms say, until released or `until`.
    ForceOpen {
        /// Why; stored on the event source mapping (sanitized for tags).
        reason: String,
        /// Who; stored on the event source mapping (sanitized for tags).
        actor: String,
        /// When the override lapses by itself.
        until: Option<DateTime<Utc>>,
    },
    /// Consume at full concurrency whatever the alarms say, until released or `until`.
    ForceClose {
        /// Why; stored on the event source mapping (sanitized for tags).
        reason: String,
        /// Who; stored on the event source mapping (sanitized for tags).
        actor: String,
        /// When the override lapses by itself.
        until: Option<DateTime<Utc>>,
    },
    /// End the override and return to automatic control.
    Release {
        /// Who.
        actor: String,
    },
    /// Turn dry-run on or off: decide and record, but actuate nothing.
    DryRun {
        /// The new setting.
        enabled: bool,
        /// Who.
        actor: String,
    },
}

/// Everything the policy observes in one decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signals {
    /// The current readings of all of the circuit's alarms.
    pub alarms: Vec<AlarmReading>,
    /// The operator command of this invocation, if any.
    pub command: Option<Command>,
}

impl Signals {
    /// Alarm readings without a command.
    pub fn alarms(alarms: Vec<AlarmReading>) -> Self {
        Self {
            alarms,
            command: None,
        }
    }

    /// The same readings with `command`.
    #[must_use]
    pub fn with_command(mut self, command: Command) -> Self {
        self.command = Some(command);
        self
    }
}
