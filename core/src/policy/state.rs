//! The circuit's state: the phase of the state machine, its edges, and what each phase asks of
//! the event source mapping.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{CircuitConfig, ReservedConcurrency};
use super::error::PolicyError;
pub use super::names::{Edge, PhaseName};

/// The phase of the circuit. Each variant owns the data it needs; `trips` counts the trips
/// since the circuit last closed, so a failed probe re-opens with a longer wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Phase {
    /// Consuming at `max`.
    Closed {
        /// When it entered this phase.
        since: DateTime<Utc>,
    },
    /// Consuming at a reduced `level` because a throttle-kind alarm fired.
    Throttled {
        /// When it entered this phase or last changed level.
        since: DateTime<Utc>,
        /// The current `MaximumConcurrency`.
        level: u32,
        /// Trips since the circuit last closed (0 when throttled straight from Closed).
        trips: u32,
    },
    /// Not consuming.
    Open {
        /// When it entered this phase.
        since: DateTime<Utc>,
        /// Trips since the circuit last closed (at least 1).
        trips: u32,
    },
    /// Consuming at `probe` to test whether the trouble is over.
    HalfOpen {
        /// When it entered this phase.
        since: DateTime<Utc>,
        /// Trips since the circuit last closed.
        trips: u32,
    },
    /// Consuming at `level`, doubling every healthy ramp step until `max`.
    Ramping {
        /// When it entered this phase or last doubled.
        since: DateTime<Utc>,
        /// The current `MaximumConcurrency`.
        level: u32,
        /// Trips since the circuit last closed.
        trips: u32,
    },
}

impl Phase {
    /// The fresh state of a circuit never seen before.
    pub fn closed(since: DateTime<Utc>) -> Self {
        Self::Closed { since }
    }

    /// This phase's name.
    pub fn name(&self) -> PhaseName {
        match self {
            Self::Closed { .. } => PhaseName::Closed,
            Self::Throttled { .. } => PhaseName::Throttled,
            Self::Open { .. } => PhaseName::Open,
            Self::HalfOpen { .. } => PhaseName::HalfOpen,
            Self::Ramping { .. } => PhaseName::Ramping,
        }
    }

    /// When the circuit entered this phase (or last changed level within it).
    pub fn since(&self) -> DateTime<Utc> {
        match *self {
            Self::Closed { since }
            | Self::Throttled { since, .. }
            | Self::Open { since, .. }
            | Self::HalfOpen { since, .. }
            | Self::Ramping { since, .. } => since,
        }
    }

    /// Trips since the circuit last closed.
    pub fn trips(&self) -> u32 {
        match *self {
            Self::Closed { .. } => 0,
            Self::Throttled { trips, .. }
            | Self::Open { trips, .. }
            | Self::HalfOpen { trips, .. }
            | Self::Ramping { trips, .. } => trips,
        }
    }

    /// The same phase with its level clamped into the configured range: the config may have
    /// changed since the state was persisted, and stalling the circuit over it would be worse.
    #[must_use]
    pub fn clamped(self, config: &CircuitConfig) -> Self {
        let levels = config.levels();
        match self {
            Self::Throttled {
                since,
                level,
                trips,
            } => Self::Throttled {
                since,
                level: levels.clamp(level),
                trips,
            },
            Self::Ramping {
                since,
                level,
                trips,
            } => Self::Ramping {
                since,
                level: levels.clamp(level),
                trips,
            },
            Self::Closed { .. } | Self::Open { .. } | Self::HalfOpen { .. } => self,
        }
    }

    /// Follows `edge` at `now`.
    ///
    /// # Errors
    /// [`PolicyError::IllegalTransition`] when the edge does not leave this phase (e.g. `Probe`
    /// from anything but Open, or `Throttle` when already at the probe level).
    pub fn follow(
        self,
        edge: Edge,
        now: DateTime<Utc>,
        config: &CircuitConfig,
    ) -> Result<Self, PolicyError> {
        let levels = config.levels();
        let illegal = PolicyError::IllegalTransition {
            from: self.name(),
            edge,
        };
        let next = match (self, edge) {
            (Self::Closed { .. }, Edge::Trip) => Self::Open {
                since: now,
                trips: 1,
            },
            (
                Self::Throttled { trips, .. }
                | Self::HalfOpen { trips, .. }
                | Self::Ramping { trips, .. },
                Edge::Trip,
            ) => Self::Open {
                since: now,
                trips: trips.saturating_add(1),
            },
            (Self::Closed { .. }, Edge::Throttle) => Self::Throttled {
                since: now,
                level: levels.safe,
                trips: 0,
            },
            (Self::Throttled { level, trips, .. }, Edge::Throttle) if level > levels.probe => {
                Self::Throttled {
                    since: now,
                    level: levels.clamp(level / 2),
                    trips,
                }
            }
            (Self::Ramping { level, trips, .. }, Edge::Throttle) => Self::Throttled {
                since: now,
                level: levels.clamp((level / 2).min(levels.safe)),
                trips,
            },
            (Self::Open { trips, .. }, Edge::Probe) => Self::HalfOpen { since: now, trips },
            (Self::HalfOpen { trips, .. }, Edge::Recover) => ramp(levels.probe, trips, now, config),
            (
                Self::Throttled { level, trips, .. } | Self::Ramping { level, trips, .. },
                Edge::Recover,
            ) => ramp(level, trips, now, config),
            // Forcing into the phase the circuit is already in keeps its `since` and trips.
            (Self::Open { .. }, Edge::ForceOpen) | (Self::Closed { .. }, Edge::ForceClose) => self,
            (
                Self::Closed { .. }
                | Self::Throttled { .. }
                | Self::HalfOpen { .. }
                | Self::Ramping { .. },
                Edge::ForceOpen,
            ) => Self::Open {
                since: now,
                trips: self.trips().max(1),
            },
            (
                Self::Throttled { .. }
                | Self::Open { .. }
                | Self::HalfOpen { .. }
                | Self::Ramping { .. },
                Edge::ForceClose,
            ) => Self::Closed { since: now },
            (Self::Open { .. }, Edge::Trip | Edge::Throttle | Edge::Recover)
            | (Self::Throttled { .. } | Self::HalfOpen { .. }, Edge::Throttle | Edge::Probe)
            | (Self::Closed { .. }, Edge::Probe | Edge::Recover)
            | (Self::Ramping { .. }, Edge::Probe) => return Err(illegal),
        };
        Ok(next)
    }

    /// What this phase asks of the event source mapping and the function.
    pub fn actuation(&self, config: &CircuitConfig) -> Actuation {
        let levels = config.levels();
        let (esm_enabled, level) = match *self {
            Self::Closed { .. } => (true, levels.max),
            Self::Throttled { level, .. } | Self::Ramping { level, .. } => {
                (true, levels.clamp(level))
            }
            // The design table leaves MaximumConcurrency unchanged while Open, but reserved
            // concurrency drops to probe + headroom, which would put it below
            // MaximumConcurrency: the very combination that makes Lambda throttle the poller
            // and burns receive counts into the DLQ once someone re-enables the mapping.
            // Lowering it to probe keeps the invariant and makes HalfOpen a pure enable.
            Self::Open { .. } => (false, levels.probe),
            Self::HalfOpen { .. } => (true, levels.probe),
        };
        let reserved_concurrency = match config.reserved_concurrency() {
            ReservedConcurrency::Unmanaged => None,
            ReservedConcurrency::Managed { .. } if !esm_enabled && config.kill_switch() => Some(0),
            ReservedConcurrency::Managed { headroom } => Some(level + headroom),
        };
        Actuation {
            esm_enabled,
            maximum_concurrency: level,
            reserved_concurrency,
        }
    }
}

/// Doubles `level`, or closes once the doubled level reaches `max`.
fn ramp(level: u32, trips: u32, now: DateTime<Utc>, config: &CircuitConfig) -> Phase {
    let doubled = level.saturating_mul(2);
    if doubled >= config.levels().max {
        Phase::Closed { since: now }
    } else {
        Phase::Ramping {
            since: now,
            level: doubled,
            trips,
        }
    }
}

/// The desired settings of the event source mapping and its function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actuation {
    /// Whether the mapping should be enabled (consuming).
    pub esm_enabled: bool,
    /// The mapping's `ScalingConfig.MaximumConcurrency`.
    pub maximum_concurrency: u32,
    /// The function's reserved concurrency; `None` = unmanaged, leave it as it is.
    pub reserved_concurrency: Option<u32>,
}

/// Which way an operator forced the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverrideKind {
    /// Not consuming, whatever the alarms say.
    ForceOpen,
    /// Consuming at `max`, whatever the alarms say.
    ForceClose,
    /// A person disabled the mapping outside Floodgate (console, CLI, infrastructure code).
    /// Floodgate never turns that consumption back on: the circuit holds Open and actuates
    /// nothing until a person enables the mapping again (the circuit then starts Closed from
    /// what it finds) or releases or overrides the circuit through Floodgate.
    ManualDisable,
}

impl OverrideKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::ForceOpen, Self::ForceClose, Self::ManualDisable];

    /// The kebab-case name used in tags and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ForceOpen => "force-open",
            Self::ForceClose => "force-close",
            Self::ManualDisable => "manual-disable",
        }
    }

    pub(crate) fn edge(self) -> Edge {
        match self {
            Self::ForceOpen | Self::ManualDisable => Edge::ForceOpen,
            Self::ForceClose => Edge::ForceClose,
        }
    }

    /// The phase the circuit mirrors while this override holds.
    pub fn phase_name(self) -> PhaseName {
        match self {
            Self::ForceOpen | Self::ManualDisable => PhaseName::Open,
            Self::ForceClose => PhaseName::Closed,
        }
    }
}

/// An operator override: while it is active, alarms do not move the circuit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// Which way.
    pub kind: OverrideKind,
    /// Why (sanitized for tags when it enters the state).
    pub reason: String,
    /// Who (sanitized for tags when it enters the state).
    pub actor: String,
    /// When it lapses by itself.
    pub until: Option<DateTime<Utc>>,
}

/// Everything persisted about a circuit between invocations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitState {
    /// The phase. While an override is active it mirrors the override (Open or Closed), so
    /// lifting the override never jumps the actuation.
    pub phase: Phase,
    /// The operator override, if any.
    #[serde(rename = "override")]
    pub override_: Option<Override>,
    /// Decide and record, but actuate nothing.
    pub dry_run: bool,
    /// Floodgate recorded this state and started applying it, but has not yet seen every
    /// call take effect. The next reconcile finishes the job instead of reading the
    /// difference as someone else's change. Written before the first call of a transition
    /// (write-ahead), cleared once the resources match.
    #[serde(default)]
    pub pending: bool,
}

impl CircuitState {
    /// A circuit never seen before: Closed since `now`, no override, live.
    pub fn fresh(now: DateTime<Utc>) -> Self {
        Self {
            phase: Phase::closed(now),
            override_: None,
            dry_run: false,
            pending: false,
        }
    }

    /// Whether a person disabled the mapping outside Floodgate and the circuit is holding
    /// off for them: Floodgate then changes nothing on the mapping or the function.
    pub fn hands_off(&self) -> bool {
        self.override_
            .as_ref()
            .is_some_and(|o| o.kind == OverrideKind::ManualDisable)
    }

    /// The label of the effective state for logs and metrics: the override when one is
    /// active, otherwise the phase.
    pub fn label(&self) -> &'static str {
        match &self.override_ {
            Some(o) => o.kind.as_str(),
            None => self.phase.name().as_str(),
        }
    }
}
