//! The controller Lambda's wire protocol: what the operator CLI (and a scheduler) sends, and
//! what the controller answers. Shared so both sides compile against the same types.
//!
//! Requests carry `"floodgate"` as their tag and reject unknown fields:
//!
//! ```json
//! {"floodgate": "tick"}
//! {"floodgate": "command", "command": "status"}
//! {"floodgate": "command", "command": "force-open", "circuit": "orders",
//!  "reason": "downstream outage", "actor": "alice", "ttl_secs": 600}
//! {"floodgate": "command", "command": "force-close", "circuit": "orders",
//!  "reason": "drill over", "actor": "alice"}
//! {"floodgate": "command", "command": "release", "circuit": "orders", "actor": "alice"}
//! {"floodgate": "command", "command": "dry-run", "circuit": "orders", "enabled": true,
//!  "actor": "alice"}
//! ```
//!
//! Every successful invocation (alarm events and ticks included) answers a [`Response`]: the
//! [`CircuitStatus`] of each circuit it looked at. A failed one is a Lambda function error whose
//! `errorType` is one of [`ERROR_TYPE_REJECTED`], [`ERROR_TYPE_RETRYABLE`] or
//! [`ERROR_TYPE_FAILED`], and whose `errorMessage` starts with a short kebab-case kind
//! (`unknown-circuit: …`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::{AlarmKind, AlarmState, Cause, OverrideKind, PhaseName, Step};
use crate::ports::{MappingState, QueueStatus};

pub use crate::error::{ERROR_TYPE_FAILED, ERROR_TYPE_REJECTED, ERROR_TYPE_RETRYABLE};

/// An invocation addressed to Floodgate itself (as opposed to an alarm or `EventBridge` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "floodgate", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Reconcile every circuit: drives time-based transitions and repairs what a lost event
    /// missed.
    Tick {},
    /// An operator command.
    Command(OperatorCommand),
}

/// An operator command (direct Invoke).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum OperatorCommand {
    /// Report circuits without changing anything (no control-plane writes).
    Status {
        /// Only this circuit; every circuit when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        circuit: Option<String>,
    },
    /// Stop consuming whatever the alarms say, until released or the TTL lapses.
    ForceOpen {
        /// The circuit's name.
        circuit: String,
        /// Why; stored on the mapping as a tag (sanitized).
        reason: String,
        /// Who; stored on the mapping as a tag (sanitized).
        actor: String,
        /// Seconds until the override lapses by itself; never when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl_secs: Option<u64>,
    },
    /// Consume at `max` whatever the alarms say, until released or the TTL lapses.
    ForceClose {
        /// The circuit's name.
        circuit: String,
        /// Why; stored on the mapping as a tag (sanitized).
        reason: String,
        /// Who; stored on the mapping as a tag (sanitized).
        actor: String,
        /// Seconds until the override lapses by itself; never when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl_secs: Option<u64>,
    },
    /// End the override and return to automatic control.
    Release {
        /// The circuit's name.
        circuit: String,
        /// Who.
        actor: String,
    },
    /// Turn dry-run on or off: decide, record and report, but actuate nothing.
    DryRun {
        /// The circuit's name.
        circuit: String,
        /// The new setting.
        enabled: bool,
        /// Who.
        actor: String,
    },
}

impl OperatorCommand {
    /// The circuit the command is about; `None` for a status of every circuit.
    pub fn circuit(&self) -> Option<&str> {
        match self {
            Self::Status { circuit } => circuit.as_deref(),
            Self::ForceOpen { circuit, .. }
            | Self::ForceClose { circuit, .. }
            | Self::Release { circuit, .. }
            | Self::DryRun { circuit, .. } => Some(circuit),
        }
    }
}

impl From<OperatorCommand> for Request {
    fn from(command: OperatorCommand) -> Self {
        Self::Command(command)
    }
}

/// The answer of every successful invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The circuits this invocation looked at, in configuration order.
    pub circuits: Vec<CircuitStatus>,
    /// Circuits of a tick that failed: reported here (and in the log and EMF) instead of
    /// failing the invocation, so Lambda does not retry the whole tick and repeat the other
    /// circuits' work. The next tick tries them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<FailedCircuit>,
    /// Circuits a tick did not reach before its time budget ran out; the next tick starts
    /// with them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<String>,
}

impl Response {
    /// An answer about `circuits`, with nothing failed or deferred.
    pub fn of(circuits: Vec<CircuitStatus>) -> Self {
        Self {
            circuits,
            failed: Vec::new(),
            deferred: Vec::new(),
        }
    }
}

/// One circuit a tick could not reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedCircuit {
    /// The circuit's name.
    pub circuit: String,
    /// The error's kind (`aws`, `unreadable-state`, …).
    pub kind: String,
    /// Whether a later attempt may succeed.
    pub retryable: bool,
    /// What went wrong (bounded, never an event body).
    pub message: String,
}

/// One circuit as the controller sees it after this invocation.
#[allow(clippy::struct_excessive_bools)] // independent facts of a wire format, not a state
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitStatus {
    /// The circuit's name.
    pub circuit: String,
    /// The phase of the state machine (an active override shows as `open` or `closed`, with
    /// [`CircuitStatus::override_`] saying why).
    pub state: PhaseName,
    /// When the circuit entered the phase (or last changed level within it).
    pub since: DateTime<Utc>,
    /// The `MaximumConcurrency` the phase asks for (`probe` while Open, where the mapping is
    /// disabled).
    pub level: u32,
    /// Trips since the circuit last closed.
    pub trips: u32,
    /// The active operator override, if any.
    #[serde(rename = "override")]
    pub override_: Option<OverrideKind>,
    /// The override's reason.
    pub reason: Option<String>,
    /// Who set the override.
    pub actor: Option<String>,
    /// When the override lapses by itself.
    pub override_until: Option<DateTime<Utc>>,
    /// Whether the circuit decides and records but actuates nothing.
    pub dry_run: bool,
    /// The event source mapping as observed before this invocation changed it.
    pub esm: EsmStatus,
    /// The function's reserved concurrency as observed before this invocation changed it;
    /// `None` = no reservation.
    pub reserved_concurrency: Option<u32>,
    /// The source queue's depth, when the circuit names a queue and it could be read.
    pub queue: Option<QueueStatus>,
    /// The circuit's alarms as read in this invocation.
    pub alarms: Vec<AlarmStatus>,
    /// The state changes made by this invocation, in order.
    pub transitions: Vec<TransitionRecord>,
    /// The control-plane calls this invocation made to converge, in order (in dry-run: the
    /// calls it would have made).
    pub steps: Vec<Step>,
    /// Whether [`CircuitStatus::steps`] were applied (`false` in dry-run and for `status`).
    pub applied: bool,
    /// Whether the resources differed from what the persisted state asks for, e.g. the mapping
    /// was enabled by hand while Open.
    pub drift: bool,
    /// Whether a transition Floodgate started has not yet been seen to take full effect
    /// (the mapping is still `Disabling` or `Updating`); the next invocation finishes it.
    #[serde(default)]
    pub pending: bool,
    /// What the overflow step did, for circuits with an `overflow` block; absent otherwise
    /// (and from answers of controllers that predate overflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<OverflowReport>,
}

/// Which way the overflow step of one invocation moved messages, if at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverflowAction {
    /// Nothing to do (see [`OverflowReport::reason`]).
    #[default]
    Idle,
    /// Moving the source's excess over its ceiling to the overflow queue.
    Move,
    /// Replaying the overflow queue back to the source.
    Replay,
}

impl OverflowAction {
    /// The kebab-case name used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Move => "move",
            Self::Replay => "replay",
        }
    }
}

/// What the overflow step of one invocation did. Every message it received is accounted for:
/// moved (or replayed), left in its queue after a failed send (`send_failed`), or left there
/// because it could not be moved (`unmovable`), or sent to the circuit's DLQ with its reason
/// (`dead_lettered`). `delete_failed` counts messages that were sent
/// but whose original could not be deleted: they exist in both queues (a duplicate, never a
/// loss), and are included in `moved` / `replayed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OverflowReport {
    /// What the step set out to do.
    pub action: OverflowAction,
    /// Why, in words (`"open: 1500 visible over ceiling 1000"`, `"under ceiling"`, …).
    pub reason: String,
    /// How many messages it set out to move or replay.
    pub planned: u64,
    /// Messages sent to the overflow queue (and deleted from the source, unless counted in
    /// `delete_failed`).
    pub moved: u64,
    /// Messages sent back to the source (and deleted from the overflow queue, unless counted
    /// in `delete_failed`).
    pub replayed: u64,
    /// Messages whose send failed; they stay in the queue they were received from.
    pub send_failed: u64,
    /// Messages sent whose original could not be deleted: they will be seen twice.
    pub delete_failed: u64,
    /// Messages left where they were because they cannot carry Floodgate's provenance
    /// attribute (already at SQS's limit of 10 message attributes, or too large for the
    /// target queue with it).
    pub unmovable: u64,
    /// Messages sent to the circuit's DLQ with a reason attribute (`floodgate-dead-letter`):
    /// replayed too often, out of deliveries, without provenance, or unreplayable.
    pub dead_lettered: u64,
    /// `ApproximateNumberOfMessages` of the overflow queue before the step, when readable.
    pub overflow_depth: Option<u64>,
    /// Why the step ended before doing all it planned, if it did.
    pub stopped: Option<String>,
}

/// The event source mapping, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EsmStatus {
    /// Its UUID.
    pub uuid: String,
    /// Lambda's `State` (`Enabled`, `Disabled`, `Updating`, …).
    pub state: MappingState,
    /// Whether it may consume.
    pub enabled: bool,
    /// `ScalingConfig.MaximumConcurrency`; `None` = not set.
    pub maximum_concurrency: Option<u32>,
    /// `ProvisionedPollerConfig.MaximumPollers`, for a mapping in provisioned mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_pollers: Option<u32>,
}

/// One alarm of the circuit, as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmStatus {
    /// The alarm's name.
    pub name: String,
    /// What it watches.
    pub kind: AlarmKind,
    /// Its state; `None` when `DescribeAlarms` does not know it (deleted or never created),
    /// in which case the circuit decides without it.
    pub state: Option<AlarmState>,
    /// When it entered that state.
    pub since: Option<DateTime<Utc>>,
}

/// One state change, as logged and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionRecord {
    /// When it was decided.
    pub at: DateTime<Utc>,
    /// The phase before.
    pub from: PhaseName,
    /// The phase after (equal to `from` for override and dry-run bookkeeping).
    pub to: PhaseName,
    /// Who caused it: the operator for commands, `floodgate` for alarms and timers.
    pub actor: String,
    /// Why.
    pub cause: Cause,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Request, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn every_documented_request_parses() {
        let cases = [
            (r#"{"floodgate": "tick"}"#, Request::Tick {}),
            (
                r#"{"floodgate": "command", "command": "status"}"#,
                OperatorCommand::Status { circuit: None }.into(),
            ),
            (
                r#"{"floodgate": "command", "command": "force-open", "circuit": "orders",
                   "reason": "r", "actor": "alice", "ttl_secs": 600}"#,
                OperatorCommand::ForceOpen {
                    circuit: "orders".into(),
                    reason: "r".into(),
                    actor: "alice".into(),
                    ttl_secs: Some(600),
                }
                .into(),
            ),
            (
                r#"{"floodgate": "command", "command": "force-close", "circuit": "orders",
                   "reason": "r", "actor": "alice"}"#,
                OperatorCommand::ForceClose {
                    circuit: "orders".into(),
                    reason: "r".into(),
                    actor: "alice".into(),
                    ttl_secs: None,
                }
                .into(),
            ),
            (
                r#"{"floodgate": "command", "command": "release", "circuit": "orders",
                   "actor": "alice"}"#,
                OperatorCommand::Release {
                    circuit: "orders".into(),
                    actor: "alice".into(),
                }
                .into(),
            ),
            (
                r#"{"floodgate": "command", "command": "dry-run", "circuit": "orders",
                   "enabled": true, "actor": "alice"}"#,
                OperatorCommand::DryRun {
                    circuit: "orders".into(),
                    enabled: true,
                    actor: "alice".into(),
                }
                .into(),
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(parse(json).unwrap(), expected, "{json}");
        }
    }

    #[test]
    fn requests_round_trip_through_json() {
        let request: Request = OperatorCommand::ForceOpen {
            circuit: "orders".into(),
            reason: "outage".into(),
            actor: "alice".into(),
            ttl_secs: Some(60),
        }
        .into();
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(parse(&json).unwrap(), request);
        assert_eq!(parse(r#"{"floodgate":"tick"}"#).unwrap(), Request::Tick {});
        assert_eq!(
            serde_json::to_value(Request::Tick {}).unwrap(),
            serde_json::json!({"floodgate": "tick"})
        );
    }

    #[test]
    fn unknown_fields_and_commands_are_refused() {
        for json in [
            r#"{"floodgate": "tick", "extra": 1}"#,
            r#"{"floodgate": "command", "command": "status", "extra": 1}"#,
            r#"{"floodgate": "command", "command": "release", "circuit": "o", "actor": "a", "why": "x"}"#,
            r#"{"floodgate": "command", "command": "explode"}"#,
            r#"{"floodgate": "command", "command": "force-open", "circuit": "o", "actor": "a"}"#,
            r#"{"floodgate": "reboot"}"#,
        ] {
            assert!(parse(json).is_err(), "accepted {json}");
        }
    }
}
