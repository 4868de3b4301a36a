//! `decide`: the pure function from (now, state, signals, config) to the next state and the
//! desired actuation.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::config::CircuitConfig;
use super::error::PolicyError;
use super::signals::{
    Action, AlarmKind, AlarmReading, AlarmState, Command, Forced, ProbeOutcome, ProbeReading,
    ProbeTraffic, SignalClass, Signals,
};
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
    /// The probe's own traffic failed more often than `probe_max_error_ratio` allows.
    ProbeFailed {
        /// The consumer's invocations since the circuit went half-open.
        invocations: u64,
        /// Of those, the failed ones.
        errors: u64,
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
    if let Some(transition) = outside_change(now, &mut next, signals, config)? {
        transitions.push(transition);
    }
    if next.override_.is_none() {
        let health = Health::assess(signals, config);
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
        Command::Force {
            to,
            reason,
            actor,
            until,
        } => {
            let kind = match to {
                Forced::Open => OverrideKind::ForceOpen,
                Forced::Closed => OverrideKind::ForceClose,
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

/// The actor of changes made outside Floodgate: the mapping does not say who made them.
pub const OUTSIDE_ACTOR: &str = "outside-floodgate";
/// The reason recorded when a person is found to have disabled the mapping.
pub const MANUAL_DISABLE_REASON: &str = "mapping disabled outside floodgate";

/// People stay in charge: a mapping found disabled that the state wants consuming, with no
/// transition of Floodgate's own still pending, was disabled by a person (or a new circuit
/// adopts a mapping someone left disabled). That is recorded as a [`OverrideKind::ManualDisable`]
/// override, never undone. When a person enables the mapping again, the override ends and
/// the circuit starts Closed from what it finds. An operator's own override through
/// Floodgate is left alone: a console change against it is drift and is repaired.
fn outside_change(
    now: DateTime<Utc>,
    next: &mut CircuitState,
    signals: &Signals,
    config: &CircuitConfig,
) -> Result<Option<Transition>, PolicyError> {
    let Some(mapping) = signals.mapping else {
        return Ok(None);
    };
    let from = next.phase;
    match next.override_.as_ref().map(|o| o.kind) {
        Some(OverrideKind::ManualDisable) => {
            if !mapping.consuming {
                return Ok(None);
            }
            next.override_ = None;
            next.phase = from.follow(Edge::ForceClose, now, config)?;
            Ok(Some(Transition {
                from,
                to: next.phase,
                cause: Cause::Released {
                    kind: OverrideKind::ManualDisable,
                    actor: OUTSIDE_ACTOR.to_owned(),
                },
            }))
        }
        Some(OverrideKind::ForceOpen | OverrideKind::ForceClose) => Ok(None),
        None => {
            let wants_consuming = next.phase.actuation(config).esm_enabled;
            if mapping.consuming || next.pending || !wants_consuming {
                return Ok(None);
            }
            // The mapping's LastModified is the best "when" there is; never in the future.
            let since = mapping.last_modified.filter(|t| *t <= now).unwrap_or(now);
            next.phase = from.follow(Edge::ForceOpen, since, config)?;
            let reason = MANUAL_DISABLE_REASON.to_owned();
            next.override_ = Some(Override {
                kind: OverrideKind::ManualDisable,
                reason: reason.clone(),
                actor: OUTSIDE_ACTOR.to_owned(),
                until: None,
            });
            Ok(Some(Transition {
                from,
                to: next.phase,
                cause: Cause::Override {
                    kind: OverrideKind::ManualDisable,
                    reason,
                    actor: OUTSIDE_ACTOR.to_owned(),
                    until: None,
                },
            }))
        }
    }
}

fn checked_actor(actor: &str) -> Result<String, PolicyError> {
    if actor.trim().is_empty() {
        return Err(PolicyError::MissingActor);
    }
    Ok(sanitize(actor))
}

/// The circuit's signals boiled down to what the edges need.
///
/// Failure and backlog are kept apart (see [`SignalClass`]): failure alarms trip, fail a
/// probe and judge recovery; backlog alarms may only slow a Closed circuit, and only when
/// they fired after the circuit entered its phase ("fresh"): a backlog that was already
/// there is the one the circuit is draining, and reading it again would re-trip the circuit
/// behind the backlog its own trip built.
#[derive(Debug)]
struct Health<'a> {
    /// The longest-firing failure alarm in ALARM whose action is Open.
    trip: Option<&'a AlarmReading>,
    /// The longest-firing failure alarm in ALARM whose action is Throttle.
    throttle: Option<&'a AlarmReading>,
    /// Backlog alarms in ALARM whose action is Open.
    backlog_trip: Vec<&'a AlarmReading>,
    /// Backlog alarms in ALARM whose action is Throttle.
    backlog_throttle: Vec<&'a AlarmReading>,
    /// The latest state change of any failure alarm. Healthy time is measured from it:
    /// `DescribeAlarms` gives no history, and any change may have been the end of an ALARM
    /// we never saw.
    last_change: Option<DateTime<Utc>>,
    /// A failure alarm of the circuit could not be read: recovery cannot be judged.
    blind: bool,
    /// The longest time a failure alarm needs to show a failure (zero when unknown).
    detection: TimeDelta,
    /// The probe's own traffic.
    probe: ProbeReading,
}

impl<'a> Health<'a> {
    fn assess(signals: &'a Signals, config: &CircuitConfig) -> Self {
        let mut health = Self {
            trip: None,
            throttle: None,
            backlog_trip: Vec::new(),
            backlog_throttle: Vec::new(),
            last_change: None,
            blind: !signals.missing_failure_alarms.is_empty(),
            detection: TimeDelta::zero(),
            probe: signals.probe,
        };
        for alarm in &signals.alarms {
            let action = config.action_for(alarm.kind);
            if alarm.kind.class() == SignalClass::Backlog {
                match (alarm.state, action) {
                    (AlarmState::Alarm, Action::Open) => health.backlog_trip.push(alarm),
                    (AlarmState::Alarm, Action::Throttle) => health.backlog_throttle.push(alarm),
                    (
                        AlarmState::Ok | AlarmState::InsufficientData,
                        Action::Open | Action::Throttle,
                    ) => {}
                }
                continue;
            }
            health.last_change = health.last_change.max(Some(alarm.since));
            if let Some(detection) = alarm.detection.and_then(|d| TimeDelta::from_std(d).ok()) {
                health.detection = health.detection.max(detection);
            }
            let slot = match (alarm.state, action) {
                (AlarmState::Alarm, Action::Open) => &mut health.trip,
                (AlarmState::Alarm, Action::Throttle) => &mut health.throttle,
                (
                    AlarmState::Ok | AlarmState::InsufficientData,
                    Action::Open | Action::Throttle,
                ) => {
                    continue;
                }
            };
            if slot.is_none_or(|held| earlier(alarm, held)) {
                *slot = Some(alarm);
            }
        }
        health
    }

    /// No failure alarm in ALARM or unreadable, and none changed state within `window`
    /// before `now`. Backlog alarms do not count.
    fn healthy_for(&self, now: DateTime<Utc>, window: TimeDelta) -> bool {
        self.trip.is_none()
            && self.throttle.is_none()
            && !self.blind
            && self.last_change.is_none_or(|at| now - at >= window)
    }

    /// The longest-firing backlog alarm of `alarms` that fired after `since`.
    fn fresh(alarms: &[&'a AlarmReading], since: DateTime<Utc>) -> Option<&'a AlarmReading> {
        alarms
            .iter()
            .copied()
            .filter(|a| a.since > since)
            .reduce(|held, a| if earlier(a, held) { a } else { held })
    }

    /// What the probe's own traffic says.
    fn probe_verdict(&self, max_error_ratio: f64) -> Verdict {
        match self.probe {
            ProbeReading::NotRead | ProbeReading::Idle => Verdict::Pass,
            ProbeReading::Seen(ProbeTraffic { after, .. }) if after.invocations > 0 => {
                #[allow(clippy::cast_precision_loss)] // counts far below 2^52
                let ratio = after.errors as f64 / after.invocations as f64;
                if ratio <= max_error_ratio {
                    Verdict::Pass
                } else {
                    Verdict::Fail(after)
                }
            }
            // Only the minute the probe began in shows traffic: a pass if none of it failed;
            // its errors may predate the probe, so they only mean it cannot tell yet.
            ProbeReading::Seen(ProbeTraffic { opening, .. })
                if opening.invocations > 0 && opening.errors == 0 =>
            {
                Verdict::Pass
            }
            ProbeReading::Unreadable | ProbeReading::Seen(_) => Verdict::CannotTell,
        }
    }
}

/// The probe's verdict.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// Healthy traffic (or none read, for callers that do not read it).
    Pass,
    /// No traffic yet, or traffic that could not be read: wait.
    CannotTell,
    /// Too many of the probe's invocations failed.
    Fail(ProbeOutcome),
}

/// Picks by (since, name) rather than input order so the cause is reproducible.
fn earlier(a: &AlarmReading, b: &AlarmReading) -> bool {
    (a.since, &a.name) < (b.since, &b.name)
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
    // of healthy failure alarms; `healthy` may ask for more.
    let relax = |since: DateTime<Utc>, window: TimeDelta, healthy: TimeDelta, timer| {
        (now - since >= window.max(d.min_dwell) && health.healthy_for(now, healthy))
            .then_some((Edge::Recover, Cause::Timer { timer }))
    };
    // A probe must last long enough for the slowest failure alarm to see a failure that
    // starts with it; otherwise the circuit ramps past a failing probe.
    let seeing = |window: TimeDelta| window.max(health.detection);
    match phase {
        Phase::Closed { since } => {
            // Backlog is not an emergency: it waits out the minimum dwell like any other
            // change that is not a failure, so a flapping depth alarm cannot flap the mapping.
            let settled = now - since >= d.min_dwell;
            let fresh = |alarms| Health::fresh(alarms, since).filter(|_| settled);
            tighten(Edge::Trip, health.trip)
                .or_else(|| tighten(Edge::Throttle, health.throttle))
                .or_else(|| tighten(Edge::Trip, fresh(&health.backlog_trip)))
                .or_else(|| tighten(Edge::Throttle, fresh(&health.backlog_throttle)))
        }
        Phase::Throttled { since, level, .. } => {
            let settled = now - since >= d.min_dwell;
            let fresh_trip = Health::fresh(&health.backlog_trip, since).filter(|_| settled);
            let fresh_throttle = Health::fresh(&health.backlog_throttle, since);
            // A throttle alarm stays in ALARM while the backlog drains; halving on every
            // tick would drop straight to probe, so wait a full throttle step per halving.
            let due = level > config.levels().probe && now - since >= d.throttle_step;
            if health.trip.is_some() || fresh_trip.is_some() {
                tighten(Edge::Trip, health.trip.or(fresh_trip))
            } else if let Some(alarm) = health.throttle {
                // A failure alarm halves once per step while it lasts, and holds recovery.
                tighten(Edge::Throttle, Some(alarm).filter(|_| due))
            } else if let Some(alarm) = fresh_throttle.filter(|_| due) {
                // A fresh backlog alarm halves at most once (the halving moves `since` past
                // it) and never holds recovery: backlog is not failure.
                tighten(Edge::Throttle, Some(alarm))
            } else {
                relax(since, d.min_dwell, d.healthy_dwell, Timer::HealthyDwell)
            }
        }
        Phase::Open { since, trips } => {
            let wait = TimeDelta::from_std(config.open_wait(trips)).unwrap_or(TimeDelta::MAX);
            relax(since, wait, d.healthy_dwell, Timer::OpenWait)
                .map(|(_, cause)| (Edge::Probe, cause))
        }
        // Any failure during a probe means the trouble is not over: back to Open, longer wait.
        Phase::HalfOpen { since, .. } => {
            if let Some(trip) = tighten(Edge::Trip, health.trip.or(health.throttle)) {
                return Some(trip);
            }
            let window = seeing(d.probe_window);
            match health.probe_verdict(config.probe_max_error_ratio()) {
                Verdict::Fail(outcome) => Some((
                    Edge::Trip,
                    Cause::ProbeFailed {
                        invocations: outcome.invocations,
                        errors: outcome.errors,
                    },
                )),
                Verdict::Pass => relax(since, window, window, Timer::ProbeWindow),
                Verdict::CannotTell => None,
            }
        }
        // The probe was the gate that had to see; a failure at a ramp level still trips
        // the circuit from here when its alarm fires.
        Phase::Ramping { since, .. } => tighten(Edge::Trip, health.trip)
            .or_else(|| tighten(Edge::Throttle, health.throttle))
            .or_else(|| relax(since, d.ramp_step, d.ramp_step, Timer::RampStep)),
    }
}
