//! What the policy observes: the circuit's alarms and an optional operator command.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a tripping alarm does to the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
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

/// The two kinds of signal the policy keeps apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalClass {
    /// The consumer or its downstream is failing: trips, fails a probe, judges recovery.
    Failure,
    /// Work is waiting. May slow a Closed circuit, never keeps a tripped one from probing
    /// and never fails a probe: an open circuit builds a backlog by design, so reading it as
    /// failure would lock the circuit open behind its own backlog.
    Backlog,
}

impl AlarmKind {
    /// Failure (errors, throttles, custom) or backlog (depth, age).
    ///
    /// Custom alarms count as failure whatever their action: they are the operator's own
    /// reading of "the downstream is in trouble" (latency, a dependency's error rate).
    pub fn class(self) -> SignalClass {
        match self {
            Self::Errors | Self::Throttles | Self::Custom(_) => SignalClass::Failure,
            Self::Depth | Self::Age => SignalClass::Backlog,
        }
    }
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
    /// How long the alarm needs, at worst, to show a failure that started now: its period
    /// times the datapoints it needs, plus the metric's publish delay (see
    /// [`AlarmReading::detection`]). `None` when unknown (composite alarms, or not read).
    pub detection: Option<Duration>,
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
            detection: None,
        }
    }

    /// The same reading with its detection latency known.
    #[must_use]
    pub fn with_detection(mut self, detection: Option<Duration>) -> Self {
        self.detection = detection;
        self
    }

    /// The worst-case time from the start of a failure to this alarm being in ALARM:
    /// `period × datapoints_to_alarm + publish_delay`.
    ///
    /// CloudWatch evaluates an alarm once a period's datapoint is in, and goes to ALARM when
    /// `DatapointsToAlarm` of the last `EvaluationPeriods` breach (CloudWatch User Guide,
    /// "Evaluating an alarm"); AWS service metrics such as Lambda's `Errors` are published
    /// per minute and arrive after a delay ([`AWS_METRIC_PUBLISH_DELAY`]).
    pub fn detection(
        period: Duration,
        datapoints_to_alarm: u32,
        publish_delay: Duration,
    ) -> Duration {
        period.saturating_mul(datapoints_to_alarm.max(1)) + publish_delay
    }

    /// The publish delay [`AlarmReading::detection`] assumes for a metric of `period`: AWS
    /// service metrics are per minute, so their delay is capped at
    /// [`AWS_METRIC_PUBLISH_DELAY`]; a shorter period (custom high-resolution metrics, or an
    /// emulator's 10 s AWS metrics) arrives within about two periods; a custom metric
    /// within one.
    pub fn publish_delay(period: Duration, aws_namespace: bool) -> Duration {
        if aws_namespace {
            AWS_METRIC_PUBLISH_DELAY.min(period * 2)
        } else {
            period
        }
    }
}

/// The delay with which an AWS service metric (Lambda `Errors`, SQS depth) reaches
/// CloudWatch after the minute it describes. Lambda sends its metrics to CloudWatch at
/// one-minute intervals (Lambda Developer Guide, "Types of metrics for Lambda functions");
/// one more minute covers the aggregation and ingestion delay AWS describes for
/// near-real-time metrics.
pub const AWS_METRIC_PUBLISH_DELAY: Duration = Duration::from_mins(2);

/// An operator command, applied before the alarms are considered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Command {
    /// Hold the circuit open (consuming nothing) or closed (at full concurrency) whatever
    /// the alarms say, until released or `until`.
    Force {
        /// Which way.
        to: Forced,
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

/// Which way an operator forces a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Forced {
    /// Open: consume nothing.
    Open,
    /// Closed: consume at `max`.
    Closed,
}

/// What the probe's own traffic showed: the consumer's `Invocations` and `Errors` while the
/// circuit was half-open (`GetMetricData` over the probe so far).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ProbeOutcome {
    /// Invocations of the consumer.
    pub invocations: u64,
    /// Of those, the ones that failed.
    pub errors: u64,
}

/// The probe's own traffic as the consumer's one-minute metrics show it, split where the probe
/// began.
///
/// Lambda's metrics are stored per minute, so the minute the probe began in (`opening`) also
/// holds what happened before it in that minute: in-flight batches that finished after the
/// disable, or the failures that tripped the circuit when it opened and probed within one
/// minute. So that minute is evidence only one way: its invocations show traffic when none of
/// them failed, and its errors are never held against the probe. The whole minutes after it
/// (`after`) are judged in full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeTraffic {
    /// The minute the probe began in (empty when it began on a whole minute).
    pub opening: ProbeOutcome,
    /// Every whole minute from the first one after the probe began.
    pub after: ProbeOutcome,
}

/// How much the policy knows about the probe's own traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
pub enum ProbeReading {
    /// The caller does not read the probe's traffic: a half-open circuit is judged by its
    /// alarms alone (pure uses of the policy; the controller always reads it).
    #[default]
    NotRead,
    /// The controller tried and could not read it: a half-open circuit does not move on
    /// blind, it stays half-open (probing at the lowest level) until it can see.
    Unreadable,
    /// What the consumer's metrics showed since the circuit went half-open.
    Seen(ProbeTraffic),
    /// No traffic since the circuit went half-open, and nothing waits for the consumer: its
    /// source and overflow queues are empty. There is nothing left to protect, so the probe
    /// passes (once its window has run, like any other); traffic that fails later trips the
    /// circuit again through its alarms. Without it a circuit that opened at the tail of a
    /// load (the last messages failing) would stay half-open on an empty queue for good.
    Idle,
}

/// What the live event source mapping shows, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingSignal {
    /// Whether the mapping consumes or is on its way to (Enabled, Enabling, Updating,
    /// Creating) as opposed to Disabled or Disabling.
    pub consuming: bool,
    /// When the mapping was last changed (`LastModified`), when known.
    pub last_modified: Option<DateTime<Utc>>,
}

/// Everything the policy observes in one decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signals {
    /// The current readings of all of the circuit's alarms.
    pub alarms: Vec<AlarmReading>,
    /// Failure alarms of the circuit that could not be read (deleted, or not returned by
    /// `DescribeAlarms`). Recovery cannot be judged without them, so they hold the circuit
    /// where it is; they never trip it.
    #[serde(default)]
    pub missing_failure_alarms: Vec<String>,
    /// The operator command of this invocation, if any.
    pub command: Option<Command>,
    /// The live mapping, when it was read (`None`: decide from the state alone).
    #[serde(default)]
    pub mapping: Option<MappingSignal>,
    /// The probe's traffic since the circuit went half-open. A half-open circuit the
    /// controller watches moves on only with a probe that saw traffic and few enough errors.
    #[serde(default)]
    pub probe: ProbeReading,
}

impl Signals {
    /// Alarm readings without a command.
    pub fn alarms(alarms: Vec<AlarmReading>) -> Self {
        Self {
            alarms,
            ..Self::default()
        }
    }

    /// The same signals with the live mapping.
    #[must_use]
    pub fn with_mapping(mut self, mapping: MappingSignal) -> Self {
        self.mapping = Some(mapping);
        self
    }

    /// The same signals with the probe's outcome.
    #[must_use]
    pub fn with_probe(mut self, probe: ProbeReading) -> Self {
        self.probe = probe;
        self
    }

    /// The same readings with `command`.
    #[must_use]
    pub fn with_command(mut self, command: Command) -> Self {
        self.command = Some(command);
        self
    }
}
