//! `decide`: the pure function from (now, state, signals, config) to the next state and the
//! desired actuation.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::config::CircuitConfig;
use super::error::PolicyError;
use super::signals::{Action, AlarmKind, AlarmReading, AlarmState, Command, Signals};
use super::state::{Actuation, CircuitState, Edge, Override, OverrideKind, Phase};
use super::tags::sanitize;

/// Which timer allowed a relaxing transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timer {
    /// Open → `HalfOpen`: the open wait passed and alarms were healthy for the healthy dwell.
    OpenWait,
    /// Throttled → Ramping or Closed: alarms were healthy for the healthy dwell.
    HealthyDwell,
    /// `HalfOpen` → Ramping or Closed: the probe window passed healthy.
    ProbeWindow,
    /// Ramping → a doubled level or Closed: a ramp step passed healthy.
    RampStep,
}

/// Why the circuit state changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum Cause {
    /// An alarm in ALARM tightened the circuit.
    Alarm {
        /// The alarm's name.
        alarm: String,
        /// The alarm's kind.
        kind: AlarmKind,
    },
    /// Alarms stayed healthy long enough to relax.
    Timer {
        /// The timer that ran out.
        timer: Timer,
    },
    /// An operator set or changed an override.
    Override {
        /// Which way.
        kind: OverrideKind,
        /// Why (sanitized).
        reason: String,
        /// Who (sanitized).
        actor: String,
        /// When it lapses by itself.
        until: Option<DateTime<Utc>>,
    },
    /// An override reached its expiry.
    OverrideExpired {
        /// The lapsed override's kind.
        kind: OverrideKind,
        /// Who had set it.
        actor: String,
    },
    /// An operator released the override.
    Released {
        /// The released override's kind.
        kind: OverrideKind,
        /// Who released it (sanitized).
        actor: String,
    },
    /// An operator turned dry-run on or off.
    DryRun {
        /// The new setting.
        enabled: bool,
        /// Who (sanitized).
        actor: String,
    },
}

/// One change of the persisted circuit state. Override and dry-run changes are transitions
/// too (possibly with `from == to`), so every change is logged with its cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The phase before.
    pub from: Phase,
    /// The phase after.
    pub to: Phase,
    /// Why.
    pub cause: Cause,
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The decision time.
    pub at: DateTime<Utc>,
    /// The state to persist.
    pub state: CircuitState,
    /// What changed, in order (at most an override change followed by a phase change).
    pub transitions: Vec<Transition>,
    /// What the event source mapping and the function should look like.
    pub actuation: Actuation,
    /// Record the decision but apply nothing.
    pub dry_run: bool,
}

impl Decision {
    /// Whether the phase changed (as opposed to nothing, or only override or dry-run bookkeeping).
    pub fn phase_changed(&self) -> bool {
        self.transitions.iter().any(|t| t.from != t.to)
    }
}

/// Decides the circuit's next state and desired actuation.
///
/// Order: a lapsed override is released, then the operator command is applied, then — unless
/// an override is active — the alarms move the phase along at most one edge. Tightening
/// (toward Open or a lower level) happens at once; relaxing waits for the minimum dwell in the
/// phase, for healthy alarms and for the phase's own timer.
///
/// # Errors
/// [`PolicyError::MissingActor`] or [`PolicyError::OverrideAlreadyExpired`] for a bad command;
/// [`PolicyError::IllegalTransition`] if the state machine is asked for an edge it lacks,
/// which the edge choice here never does.
pub fn decide(
    now: DateTime<Utc>,
    state: &CircuitState,
    signals: &Signals,
    config: &CircuitConfig,
) -> Result<Decision, PolicyError> {
    let mut next = state.clone();
    next.phase = next.phase.clamped(config);
    let mut transitions = Vec::new();

    if let Some(lapsed) = next
        .override_
        .take_if(|o| o.until.is_some_and(|until| now >= until))
    {
        transitions.push(Transition {
            from: next.phase,
            to: next.phase,
            cause: Cause::OverrideExpired {
                kind: lapsed.kind,
                actor: lapsed.actor,
            },
        });
    }
    if let Some(command) = &signals.command
        && let Some(transition) = apply_command(now, &mut next, command, config)?
    {
        transitions.push(transition);
    }
    if next.override_.is_none() {
        let health = Health::assess(&signals.alarms, config);
        if let Some((edge, cause)) = choose_edge(now, next.phase, &health, config) {
            let to = next.phase.follow(edge, now, config)?;
            transitions.push(Transition {
                from: next.phase,
                to,
                cause,
            });
            next.phase = to;
        }
    }
    Ok(Decision {
        at: now,
        actuation: next.phase.actuation(config),
        dry_run: next.dry_run,
        state: next,
        transitions,
    })
}

fn apply_command(
    now: DateTime<Utc>,
    next: &mut CircuitState,
    command: &Command,
    config: &CircuitConfig,
) -> Result<Option<Transition>, PolicyError> {
    let phase = next.phase;
    let unchanged = |cause| Transition {
        from: phase,
        to: phase,
        cause,
    };
    match command {
        Command::ForceOpen {
            reason,
            actor,
            until,
        }
        | Command::ForceClose {
            reason,
            actor,
            until,
        } => {
            let kind = if matches!(command, Command::ForceOpen { .. }) {
                OverrideKind::ForceOpen
            } else {
                OverrideKind::ForceClose
            };
            force(now, next, kind, reason, actor, *until, config)
        }
        Command::Release { actor } => {
            let actor = checked_actor(actor)?;
            // Releasing a circuit that is not overridden is a duplicate: nothing to do.
            Ok(next.override_.take().map(|o| {
                unchanged(Cause::Released {
                    kind: o.kind,
                    actor,
                })
            }))
        }
        Command::DryRun { enabled, actor } => {
            let actor = checked_actor(actor)?;
            if next.dry_run == *enabled {
                return Ok(None);
            }
            next.dry_run = *enabled;
            Ok(Some(unchanged(Cause::DryRun {
                enabled: *enabled,
                actor,
            })))
        }
    }
}

fn force(
    now: DateTime<Utc>,
    next: &mut CircuitState,
    kind: OverrideKind,
    reason: &str,
    actor: &str,
    until: Option<DateTime<Utc>>,
    config: &CircuitConfig,
) -> Result<Option<Transition>, PolicyError> {
    let actor = checked_actor(actor)?;
    if let Some(until) = until.filter(|until| *until <= now) {
        return Err(PolicyError::OverrideAlreadyExpired { until, now });
    }
    let wanted = Override {
        kind,
        reason: sanitize(reason),
        actor,
        until,
    };
    if next.override_.as_ref() == Some(&wanted) {
        return Ok(None);
    }
    let to = next.phase.follow(kind.edge(), now, config)?;
    let transition = Transition {
        from: next.phase,
        to,
        cause: Cause::Override {
            kind,
            reason: wanted.reason.clone(),
            actor: wanted.actor.clone(),
            until,
        },
    };
    next.phase = to;
    next.override_ = Some(wanted);
    Ok(Some(transition))
}

fn checked_actor(actor: &str) -> Result<String, PolicyError> {
    if actor.trim().is_empty() {
        return Err(PolicyError::MissingActor);
    }
    Ok(sanitize(actor))
}

/// The circuit's alarms boiled down to what the edges need.
#[derive(Debug)]
struct Health<'a> {
    /// The longest-firing alarm in ALARM whose action is Open.
    trip: Option<&'a AlarmReading>,
    /// The longest-firing alarm in ALARM whose action is Throttle.
    throttle: Option<&'a AlarmReading>,
    /// The latest state change of any alarm. Healthy time is measured from it: `DescribeAlarms`
    /// gives no history, and any change may have been the end of an ALARM we never saw.
    last_change: Option<DateTime<Utc>>,
}

impl<'a> Health<'a> {
    fn assess(alarms: &'a [AlarmReading], config: &CircuitConfig) -> Self {
        let mut health = Self {
            trip: None,
            throttle: None,
            last_change: None,
        };
        for alarm in alarms {
            health.last_change = health.last_change.max(Some(alarm.since));
            let slot = match (alarm.state, config.action_for(alarm.kind)) {
                (AlarmState::Alarm, Action::Open) => &mut health.trip,
                (AlarmState::Alarm, Action::Throttle) => &mut health.throttle,
                (
                    AlarmState::Ok | AlarmState::InsufficientData,
                    Action::Open | Action::Throttle,
                ) => {
                    continue;
                }
            };
            // Pick by (since, name) rather than input order so the cause is reproducible.
            if slot.is_none_or(|held| (alarm.since, &alarm.name) < (held.since, &held.name)) {
                *slot = Some(alarm);
            }
        }
        health
    }

    /// No alarm in ALARM, and none changed state within `window` before `now`.
    fn healthy_for(&self, now: DateTime<Utc>, window: TimeDelta) -> bool {
        self.trip.is_none()
            && self.throttle.is_none()
            && self.last_change.is_none_or(|at| now - at >= window)
    }
}

fn alarm_cause(alarm: &AlarmReading) -> Cause {
    Cause::Alarm {
        alarm: alarm.name.clone(),
        kind: alarm.kind,
    }
}

/// The edge the alarms and timers call for, if any, and why.
fn choose_edge(
    now: DateTime<Utc>,
    phase: Phase,
    health: &Health<'_>,
    config: &CircuitConfig,
) -> Option<(Edge, Cause)> {
    let d = config.deltas();
    let tighten = |edge, alarm: Option<&AlarmReading>| alarm.map(|a| (edge, alarm_cause(a)));
    // Relaxing needs `window` in the phase (never less than the minimum dwell) and `window`
    // of healthy alarms; `healthy` may ask for more.
    let relax = |since: DateTime<Utc>, window: TimeDelta, healthy: TimeDelta, timer| {
        (now - since >= window.max(d.min_dwell) && health.healthy_for(now, healthy))
            .then_some((Edge::Recover, Cause::Timer { timer }))
    };
    match phase {
        Phase::Closed { .. } => {
            tighten(Edge::Trip, health.trip).or_else(|| tighten(Edge::Throttle, health.throttle))
        }
        Phase::Throttled { since, level, .. } => {
            if health.trip.is_some() {
                tighten(Edge::Trip, health.trip)
            } else if health.throttle.is_some() {
                // A throttle alarm stays in ALARM while the backlog drains; halving on every
                // tick would drop straight to probe, so wait a full throttle step per halving.
                let due = level > config.levels().probe && now - since >= d.throttle_step;
                tighten(Edge::Throttle, health.throttle.filter(|_| due))
            } else {
                relax(since, d.min_dwell, d.healthy_dwell, Timer::HealthyDwell)
            }
        }
        Phase::Open { since, trips } => {
            let wait = TimeDelta::from_std(config.open_wait(trips)).unwrap_or(TimeDelta::MAX);
            relax(since, wait, d.healthy_dwell, Timer::OpenWait)
                .map(|(_, cause)| (Edge::Probe, cause))
        }
        // Any alarm during a probe means the trouble is not over: back to Open, longer wait.
        Phase::HalfOpen { since, .. } => tighten(Edge::Trip, health.trip.or(health.throttle))
            .or_else(|| relax(since, d.probe_window, d.probe_window, Timer::ProbeWindow)),
        Phase::Ramping { since, .. } => tighten(Edge::Trip, health.trip)
            .or_else(|| tighten(Edge::Throttle, health.throttle))
            .or_else(|| relax(since, d.ramp_step, d.ramp_step, Timer::RampStep)),
    }
}
