//! What the overflow step of one invocation should do, without I/O: move, replay, or nothing,
//! and how many messages.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::OverflowConfig;
use crate::policy::{CircuitState, Phase, PhaseName};

/// Why the step does nothing this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Dry-run: the circuit decides and records, but moves nothing.
    DryRun,
    /// Ramping: the consumer is healthy and speeding up; the backlog is left to it, and
    /// replay waits for Closed.
    Ramping,
    /// Tripped, but the source's depth is unknown (unreadable this time).
    SourceUnknown {
        /// The tripped phase.
        phase: PhaseName,
    },
    /// Tripped, with the source at or under its ceiling.
    UnderCeiling {
        /// The tripped phase.
        phase: PhaseName,
        /// Visible messages in the source.
        visible: u64,
        /// The ceiling.
        ceiling: u64,
    },
    /// Closed, but not yet for `replay_after`.
    ReplayPending {
        /// When replay may start.
        from: DateTime<Utc>,
    },
    /// Closed long enough, but the overflow queue's depth is unknown.
    OverflowUnknown,
    /// Closed long enough, and the overflow queue is empty.
    OverflowEmpty,
    /// Closed long enough, but the source holds its ceiling or more: replay waits for the
    /// consumer to catch up rather than feed the backlog that made it trip.
    SourceOverCeiling {
        /// Visible messages in the source (`None` when unreadable).
        visible: Option<u64>,
        /// The ceiling.
        ceiling: u64,
    },
}

/// What the overflow step does this invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Nothing.
    Idle(Idle),
    /// Move `count` messages from the source to the overflow queue.
    Move {
        /// How many: the excess over the ceiling, at most the per-invocation budget.
        count: u64,
        /// The tripped phase.
        phase: PhaseName,
        /// Visible messages in the source.
        visible: u64,
        /// The ceiling.
        ceiling: u64,
    },
    /// Replay `count` messages from the overflow queue to the source.
    Replay {
        /// How many: the overflow queue's depth, at most the per-invocation budget (and the
        /// room below [`PROBE_FEED`] for a probe); the replay also keeps the source under
        /// its ceiling as it goes.
        count: u64,
        /// Visible messages in the overflow queue.
        overflow: u64,
        /// Why now.
        reason: ReplayFor,
    },
}

/// Why a replay happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFor {
    /// The circuit has been Closed since then, for at least `replay_after`.
    Closed {
        /// When the circuit closed.
        since: DateTime<Utc>,
    },
    /// The circuit is `HalfOpen` and its source is (nearly) empty: a probe needs traffic to
    /// judge, and the overflow holds the traffic that waits.
    Probe,
}

/// The source depth a `HalfOpen` circuit keeps for its probe from the overflow queue: one
/// batch at Lambda's default SQS batch size (10, `CreateEventSourceMapping` `BatchSize`).
///
/// A probe with no traffic is not a pass (it cannot tell), so a probe whose source is empty
/// would wait for new messages while the overflow queue holds the ones that wait already.
/// Feeding it one batch at a time keeps what a failing probe can touch to a batch per
/// invocation, and every feed counts as a replay (the hop limit applies).
pub const PROBE_FEED: u64 = 10;

impl Plan {
    /// How many messages the plan moves or replays.
    pub fn count(&self) -> u64 {
        match *self {
            Self::Idle(_) => 0,
            Self::Move { count, .. } | Self::Replay { count, .. } => count,
        }
    }
}

/// Decides the overflow step of a circuit in `state` at `now`, given the source's visible
/// depth and the overflow queue's (`None` when unreadable).
///
/// - **Moves** happen while the circuit is tripped: Open (not consuming), Throttled (consuming
///   at a reduced level) and `HalfOpen` (probing at the lowest level) — in each the consumer
///   is held back on purpose, so a source growing past the ceiling would otherwise only grow.
///   The count is the excess over the ceiling, at most `max_moves_per_invocation`.
/// - **Replay** happens once the circuit has been Closed for `replay_after`, and only while
///   the source is under its ceiling. The count is the overflow queue's depth, at most
///   `max_replays_per_invocation`; the replay itself keeps within the room below the ceiling
///   as the consumer drains the source (see [`crate::overflow`]), so it never refills the
///   source past the level that makes the circuit move messages out again and cannot flap
///   the circuit. Any other phase — including a trip in this very invocation — means no
///   replay.
/// - **A probe feed** in `HalfOpen`: when the source holds fewer than [`PROBE_FEED`]
///   visible messages and the overflow queue holds some, replay up to the difference (and
///   the per-invocation budget), so the probe has traffic to judge.
/// - **Nothing** in Ramping (recovering: the consumer drains the source itself, and replay
///   waits for Closed) and in dry-run (which actuates nothing, messages included).
pub fn plan(
    state: &CircuitState,
    now: DateTime<Utc>,
    source_visible: Option<u64>,
    overflow_visible: Option<u64>,
    config: &OverflowConfig,
) -> Plan {
    if state.dry_run {
        return Plan::Idle(Idle::DryRun);
    }
    let ceiling = config.ceiling();
    match state.phase {
        Phase::HalfOpen { .. } => match (source_visible, overflow_visible) {
            (Some(visible), Some(overflow)) if visible < PROBE_FEED && overflow > 0 => {
                Plan::Replay {
                    count: overflow
                        .min(u64::from(config.max_replays_per_invocation().get()))
                        .min(PROBE_FEED - visible)
                        .min(ceiling.saturating_sub(visible)),
                    overflow,
                    reason: ReplayFor::Probe,
                }
            }
            _ => move_excess(state, source_visible, config),
        },
        Phase::Open { .. } | Phase::Throttled { .. } => move_excess(state, source_visible, config),
        Phase::Ramping { .. } => Plan::Idle(Idle::Ramping),
        Phase::Closed { since } => {
            let wait = TimeDelta::from_std(config.replay_after()).unwrap_or(TimeDelta::MAX);
            let from = since
                .checked_add_signed(wait)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if now < from {
                return Plan::Idle(Idle::ReplayPending { from });
            }
            let Some(overflow) = overflow_visible else {
                return Plan::Idle(Idle::OverflowUnknown);
            };
            if overflow == 0 {
                return Plan::Idle(Idle::OverflowEmpty);
            }
            match source_visible {
                Some(visible) if visible < ceiling => Plan::Replay {
                    count: overflow.min(u64::from(config.max_replays_per_invocation().get())),
                    overflow,
                    reason: ReplayFor::Closed { since },
                },
                visible => Plan::Idle(Idle::SourceOverCeiling { visible, ceiling }),
            }
        }
    }
}

/// Moves the source's excess over the ceiling, if any (a tripped phase).
fn move_excess(state: &CircuitState, source_visible: Option<u64>, config: &OverflowConfig) -> Plan {
    let ceiling = config.ceiling();
    let phase = state.phase.name();
    let Some(visible) = source_visible else {
        return Plan::Idle(Idle::SourceUnknown { phase });
    };
    let excess = visible.saturating_sub(ceiling);
    if excess == 0 {
        return Plan::Idle(Idle::UnderCeiling {
            phase,
            visible,
            ceiling,
        });
    }
    Plan::Move {
        count: excess.min(u64::from(config.max_moves_per_invocation().get())),
        phase,
        visible,
        ceiling,
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Idle(Idle::DryRun) => f.write_str("dry-run: nothing is moved"),
            Self::Idle(Idle::Ramping) => {
                f.write_str("ramping: the consumer drains the source; replay waits for closed")
            }
            Self::Idle(Idle::SourceUnknown { phase }) => {
                write!(f, "{phase}: source depth unknown")
            }
            Self::Idle(Idle::UnderCeiling {
                phase,
                visible,
                ceiling,
            }) => write!(f, "{phase}: {visible} visible, within ceiling {ceiling}"),
            Self::Idle(Idle::ReplayPending { from }) => {
                write!(f, "closed: replay starts at {}", from.to_rfc3339())
            }
            Self::Idle(Idle::OverflowUnknown) => f.write_str("closed: overflow depth unknown"),
            Self::Idle(Idle::OverflowEmpty) => f.write_str("closed: overflow queue empty"),
            Self::Idle(Idle::SourceOverCeiling { visible, ceiling }) => match visible {
                Some(v) => write!(
                    f,
                    "closed: replay waits, source has {v} visible {} ceiling {ceiling}",
                    if v > ceiling { "over" } else { "at" }
                ),
                None => f.write_str("closed: replay waits, source depth unknown"),
            },
            Self::Move {
                phase,
                visible,
                ceiling,
                ..
            } => write!(f, "{phase}: {visible} visible over ceiling {ceiling}"),
            Self::Replay {
                overflow,
                reason: ReplayFor::Closed { since },
                ..
            } => write!(
                f,
                "closed since {}: {overflow} in overflow",
                since.to_rfc3339()
            ),
            Self::Replay {
                overflow,
                reason: ReplayFor::Probe,
                ..
            } => write!(
                f,
                "half-open: feeding the probe from {overflow} in overflow"
            ),
        }
    }
}
