//! The reconcile loop of one circuit: observe → decide → apply → record.
//!
//! Level-triggered: whatever woke the controller, [`reconcile`] reads the world — the mapping
//! (state, `MaximumConcurrency`), its `floodgate:*` state tags, the function's reserved
//! concurrency, the current state of every alarm of the circuit, the queue's depth — asks the
//! pure [`decide`] for the next state, and applies only the difference ([`plan`]) in the
//! order `plan` gives, which never leaves reserved concurrency below `MaximumConcurrency`
//! (adjacent mapping steps go out as one `UpdateEventSourceMapping`, without reordering).
//! Then it records: the state tags (one `TagResource`, only when they changed), one JSON log
//! line per transition and per drift, and one EMF line ([`crate::metrics`]). Last, for a
//! circuit with an overflow queue, the overflow step ([`crate::overflow`]) moves or replays
//! messages for the state just recorded; it never fails the reconcile, and reports in
//! [`CircuitStatus::overflow`].
//!
//! Properties the tests pin down:
//!
//! - **Idempotent.** A second run with the same world makes no write. A duplicate or
//!   out-of-order alarm event changes nothing: the event is only a hint, and a hint older than
//!   what `DescribeAlarms` reports is ignored. (A hint *newer* than `DescribeAlarms` is used
//!   for its alarm, so a read that lags the alarm's own notification cannot hide a trip.)
//! - **Drift is repaired and reported.** When the resources differ from what the persisted
//!   state asks for — the mapping re-enabled by hand while Open, concurrency changed in the
//!   console — the plan re-applies the state, and the drift is logged and counted.
//! - **Transitional mappings are waited out, not fought.** A mapping observed in `Creating`,
//!   `Enabling`, `Disabling`, `Updating` or `Deleting` is read again under the retry policy
//!   until it settles, and only then planned against; an update refused with
//!   `ResourceInUseException` is retried the same way. If the mapping does not settle within
//!   the retry budget, the reconcile fails with a retryable error *before* deciding, so
//!   nothing is recorded, and the next tick (or Lambda's async retry) picks it up.
//! - **State is recorded only after the actuation succeeded**, so a failed call never leaves
//!   tags claiming a state the resources are not in (which would read as drift next time).
//!   Dry-run records the decision and applies nothing.
//! - **Unreadable state tags stop the circuit** rather than guess (a guess could enable a
//!   mapping that must stay disabled), except for force-open and force-close, which start
//!   the circuit afresh from the operator's explicit word.

use std::collections::BTreeMap;
use std::time::Duration;

use alarms::AlarmSignal;
use chrono::{DateTime, Utc};

use crate::config::{Circuit, ControllerConfig};
pub use crate::context::{Budget, Context};
use crate::error::{Error, bounded};
use crate::metrics::CircuitMetrics;
use crate::policy::tags::TAG_STATE;
use crate::policy::{
    Actuation, AlarmReading, Cause, CircuitState, Command, Decision, MappingSignal, Observed,
    Phase, PolicyError, ProbeReading, SignalClass, Signals, Step, decide, plan,
};
use crate::ports::{
    Alarms, Clock, Concurrency, EventSourceMappings, INVOKES_PER_POLLER, Mapping, MappingUpdate,
    Pollers, Ports, QueueStatus, Queues,
};
use crate::protocol::{AlarmStatus, CircuitStatus, EsmStatus, OverflowReport, TransitionRecord};

/// The actor of transitions caused by alarms, timers and expiries.
pub const SYSTEM_ACTOR: &str = "floodgate";

/// Why the reconcile runs. Only a command changes what is decided; an alarm is a hint.
#[derive(Debug, Clone, Copy, Default)]
pub enum Trigger<'a> {
    /// A tick: reconcile with what the world shows.
    #[default]
    Tick,
    /// The alarm event that woke the controller (a hint, checked against `DescribeAlarms`).
    Alarm(&'a AlarmSignal),
    /// An operator command.
    Command(&'a Command),
}

impl<'a> Trigger<'a> {
    /// The alarm event, if an alarm woke the controller.
    pub fn alarm(self) -> Option<&'a AlarmSignal> {
        match self {
            Self::Alarm(signal) => Some(signal),
            Self::Tick | Self::Command(_) => None,
        }
    }

    /// The operator command, if a command woke the controller.
    pub fn command(self) -> Option<&'a Command> {
        match self {
            Self::Command(command) => Some(command),
            Self::Tick | Self::Alarm(_) => None,
        }
    }
}

/// What one observation found.
#[derive(Debug, Clone)]
struct Observation {
    mapping: Mapping,
    tags: BTreeMap<String, String>,
    reserved: Option<u32>,
    alarms: Vec<AlarmStatus>,
    detections: BTreeMap<String, Duration>,
    queue: Option<QueueStatus>,
    /// What the other circuits on the same function may consume (`None`: one of them has
    /// no limit, so no reservation can cover it).
    siblings: Option<u32>,
}

impl Observation {
    fn observed(&self) -> Observed {
        Observed {
            esm_enabled: self.mapping.state.may_consume(),
            maximum_concurrency: units(&self.mapping),
            reserved_concurrency: self.reserved,
        }
    }

    fn has_state(&self) -> bool {
        self.tags.get(TAG_STATE).is_some_and(|v| !v.is_empty())
    }

    /// The readings `decide` needs, and the failure alarms that could not be read.
    fn readings(&self) -> (Vec<AlarmReading>, Vec<String>) {
        let mut missing = Vec::new();
        let readings = self
            .alarms
            .iter()
            .filter_map(|a| {
                let (Some(state), Some(since)) = (a.state, a.since) else {
                    if a.kind.class() == SignalClass::Failure {
                        missing.push(a.name.clone());
                    }
                    return None;
                };
                Some(
                    AlarmReading::new(&a.name, a.kind, state, since)
                        .with_detection(self.detections.get(&a.name).copied()),
                )
            })
            .collect();
        (readings, missing)
    }

    fn mapping_signal(&self) -> MappingSignal {
        MappingSignal {
            consuming: self.mapping.state.may_consume(),
            last_modified: self.mapping.last_modified,
        }
    }

    fn esm_status(&self) -> EsmStatus {
        EsmStatus {
            uuid: self.mapping.uuid.clone(),
            state: self.mapping.state.clone(),
            enabled: self.observed().esm_enabled,
            maximum_concurrency: self.mapping.maximum_concurrency,
            maximum_pollers: self.mapping.provisioned.map(|p| p.maximum),
        }
    }

    /// What `phase` asks of the resources, in the mapping's own units, with the other
    /// circuits on the function counted in the reservation.
    ///
    /// Closed never lowers a reservation it finds above its own level: someone set it for
    /// a reason (other invokers), and a circuit at `max` needs no less. Floodgate lowers a
    /// reservation only to hold a tripped circuit back.
    fn desired(&self, phase: &Phase, actuation: Actuation) -> Actuation {
        let mut desired = self.in_units(actuation);
        if matches!(phase, Phase::Closed { .. })
            && let (Some(want), Some(found)) = (desired.reserved_concurrency, self.reserved)
            && found > want
        {
            desired.reserved_concurrency = Some(found);
        }
        desired
    }

    fn in_units(&self, actuation: Actuation) -> Actuation {
        let mut desired = actuation;
        if self.mapping.provisioned.is_some() {
            // Levels count pollers in provisioned mode; each reaches 10 concurrent invokes.
            let level = actuation.maximum_concurrency;
            desired.maximum_concurrency = level.saturating_mul(INVOKES_PER_POLLER);
            desired.reserved_concurrency = actuation.reserved_concurrency.map(|r| {
                if r == 0 {
                    0
                } else {
                    r.saturating_add(desired.maximum_concurrency - level)
                }
            });
        }
        desired.reserved_concurrency = match (desired.reserved_concurrency, self.siblings) {
            (Some(0) | None, _) => desired.reserved_concurrency,
            (Some(r), Some(others)) => Some(r.saturating_add(others)),
            // Another mapping of the function has no limit, or is changing: no reservation
            // can be computed, so leave it alone rather than throttle that mapping.
            (Some(_), None) => None,
        };
        desired
    }
}

/// A mapping's concurrency limit in invocations: `MaximumConcurrency`, or its maximum
/// pollers' reach in provisioned mode.
fn units(mapping: &Mapping) -> Option<u32> {
    match mapping.provisioned {
        Some(p) => Some(p.maximum.saturating_mul(INVOKES_PER_POLLER)),
        None => mapping.maximum_concurrency,
    }
}

/// What a sibling mapping may consume now (`None`: unknown or unlimited, so no
/// reservation can be computed this time and it is left as it is). A mapping in transition
/// is unknown: its settings already show the new level while its pollers may still run at
/// the old one.
fn demand(mapping: &Mapping) -> Option<u32> {
    let enabled = mapping.state.settled_enabled()?;
    if enabled { units(mapping) } else { Some(0) }
}

async fn observe<P: Ports>(
    ctx: Context<'_, P>,
    config: &ControllerConfig,
    circuit: &Circuit,
    hint: Option<&AlarmSignal>,
    budget: Option<Budget>,
) -> Result<Observation, Error> {
    let uuid = circuit.event_source_mapping_uuid();
    let mut mapping = ctx.ports.get_mapping(uuid).await?;
    // Before anything is decided or changed: is this the configured function's mapping?
    if !circuit.invokes(&mapping.function_arn, config.account_id(), config.region()) {
        return Err(Error::WrongFunction {
            circuit: circuit.name().to_owned(),
            found: bounded(&mapping.function_arn),
            expected: circuit.function_name().to_owned(),
        });
    }
    // A mapping in transition is given the time there is to settle, so the decision is made
    // against what it will be; one that does not settle is decided on as it is, and only
    // changes that are safe meanwhile are made (see `actuate`).
    if let Some(budget) = budget
        && mapping.state.settled_enabled().is_none()
    {
        mapping = settle(ctx, uuid, mapping, budget).await?;
    }
    let tags = ctx.ports.tags(&mapping.arn).await?;
    let function = circuit.function_name();
    let reserved = ctx.ports.reserved_concurrency(function).await?;
    let described = ctx.ports.describe_alarms(circuit.alarm_names()).await?;
    let mut detections = BTreeMap::new();
    let alarms = circuit
        .alarms()
        .iter()
        .map(|alarm| {
            let read = described.iter().find(|d| d.name == alarm.name);
            if let Some(detection) = read.and_then(|d| d.detection) {
                detections.insert(alarm.name.clone(), detection);
            }
            let hinted = hint.filter(|s| s.alarm_name == alarm.name);
            let current = match (read, hinted) {
                (Some(d), Some(s)) if s.state_timestamp > d.since => {
                    Some((s.state, s.state_timestamp))
                }
                (Some(d), _) => Some((d.state, d.since)),
                (None, Some(s)) => Some((s.state, s.state_timestamp)),
                (None, None) => None,
            };
            if current.is_none() {
                tracing::warn!(
                    circuit = circuit.name(),
                    alarm = %alarm.name,
                    "alarm not found by DescribeAlarms: a failure alarm that cannot be read holds the circuit where it is"
                );
            }
            AlarmStatus {
                name: alarm.name.clone(),
                kind: alarm.kind,
                state: current.map(|c| c.0),
                since: current.map(|c| c.1),
            }
        })
        .collect();
    // The depth is for the operator's eyes; failing the reconcile over it would hold up a trip.
    let queue = match circuit.queue_url() {
        Some(url) => match ctx.ports.queue_depth(url).await {
            Ok(depth) => Some(depth),
            Err(error) => {
                tracing::warn!(circuit = circuit.name(), error = %error, "queue depth unreadable");
                None
            }
        },
        None => None,
    };
    let mut siblings = Some(0u32);
    for sibling in config.siblings(circuit) {
        let uuid = sibling.event_source_mapping_uuid();
        let theirs = ctx.ports.get_mapping(uuid).await?;
        siblings = match (siblings, demand(&theirs)) {
            (Some(sum), Some(d)) => Some(sum.saturating_add(d)),
            _ => None,
        };
    }
    Ok(Observation {
        mapping,
        tags,
        reserved,
        alarms,
        detections,
        queue,
        siblings,
    })
}

/// Reads the mapping until it leaves its transitional state or the budget runs out (then
/// returns it as last seen). Lambda refuses updates meanwhile (`ResourceInUseException`), and
/// its pollers may still run at the old settings.
async fn settle<P: Ports>(
    ctx: Context<'_, P>,
    uuid: &str,
    mut mapping: Mapping,
    budget: Budget,
) -> Result<Mapping, Error> {
    let mut attempt = 1;
    while mapping.state.settled_enabled().is_none() {
        let wait = ctx
            .ports
            .policy()
            .delay(attempt)
            .max(Duration::from_millis(1));
        if budget.remaining(ctx.ports) <= wait {
            break;
        }
        ctx.ports.sleep(wait).await;
        attempt += 1;
        mapping = ctx.ports.get_mapping(uuid).await?;
    }
    Ok(mapping)
}

/// What one reconcile of a circuit settled on, before the overflow step.
#[derive(Debug, Clone)]
pub struct Reconciled {
    /// The circuit's status (its `overflow` still empty).
    pub status: CircuitStatus,
    /// The state recorded.
    pub state: CircuitState,
    /// The source's depth as observed.
    pub queue: Option<QueueStatus>,
}

/// Reconciles one circuit at `now`, then runs its overflow step within `budget`.
///
/// # Errors
/// As [`decide_and_apply`].
pub async fn reconcile<P: Ports>(
    ctx: Context<'_, P>,
    config: &ControllerConfig,
    circuit: &Circuit,
    trigger: Trigger<'_>,
    now: DateTime<Utc>,
    budget: Budget,
) -> Result<CircuitStatus, Error> {
    let done = decide_and_apply(ctx, config, circuit, trigger, now, budget).await?;
    let mut status = done.status;
    status.overflow =
        crate::overflow::run(ctx, circuit, &done.state, done.queue, now, budget).await;
    Ok(status)
}

/// Observe → decide → apply → record for one circuit at `now` (no overflow step).
///
/// Write-ahead: when the decision needs control-plane calls, the decided state is tagged
/// first with `pending`, then applied, then tagged again without it once every call has taken
/// effect. A failure at any call leaves the intent on the mapping, and the next reconcile
/// completes it (the trip is counted once: the tags already hold it).
///
/// # Errors
/// [`Error::Command`] for a command the policy refuses, [`Error::State`] for unreadable state
/// tags, [`Error::WrongFunction`] when the mapping invokes another function, [`Error::Aws`]
/// when a call fails beyond the retry policy (retryable for throttling, 5xx).
pub async fn decide_and_apply<P: Ports>(
    ctx: Context<'_, P>,
    config: &ControllerConfig,
    circuit: &Circuit,
    trigger: Trigger<'_>,
    now: DateTime<Utc>,
    budget: Budget,
) -> Result<Reconciled, Error> {
    let name = circuit.name();
    let policy = circuit.policy();
    let seen = observe(ctx, config, circuit, trigger.alarm(), Some(budget)).await?;
    let state = persisted_state(circuit, &seen, trigger.command(), now)?;
    let has_state = seen.has_state();
    let observed = seen.observed();
    let (alarms, missing_failure_alarms) = seen.readings();
    let probe = probe_reading(ctx, circuit, &state, seen.queue, now).await;
    let signals = Signals {
        alarms,
        missing_failure_alarms,
        command: trigger.command().cloned(),
        mapping: Some(seen.mapping_signal()),
        probe,
    };
    let mut decision = decide(now, &state, &signals, policy).map_err(|e| policy_error(name, e))?;
    let hands_off = decision.state.hands_off();
    // Drift: the resources are not what the persisted state asks for, and not because a
    // transition of ours is still under way. Not on the first run (nothing was applied yet),
    // after dry-run (nothing was meant to be applied), or when a person took the mapping.
    let expected = seen.desired(&state.phase, state.phase.actuation(policy));
    let drift = has_state
        && !state.dry_run
        && !state.pending
        && !state.hands_off()
        && !hands_off
        && !plan(&observed, &expected).is_empty();
    let desired = seen.desired(&decision.state.phase, decision.actuation);
    let steps = if hands_off {
        Vec::new()
    } else {
        plan(&observed, &desired)
    };
    if drift {
        tracing::warn!(
            circuit = name,
            observed = ?observed,
            expected = ?expected,
            steps = ?steps,
            "drift: resources were changed outside floodgate; re-applying"
        );
    }
    if state.dry_run && !decision.dry_run && !steps.is_empty() {
        tracing::warn!(
            circuit = name,
            state = decision.state.label(),
            steps = ?steps,
            "dry-run ended: applying the state the dry run reached"
        );
    }
    let applied = !decision.dry_run;
    let mut pending = false;
    let mut held = seen.tags.clone();
    if applied && !steps.is_empty() {
        // Write-ahead only when the state changes: a repair of the same state needs no
        // marker (the tags already ask for it), and a pending one is marked already.
        let settled = |s: &CircuitState| CircuitState {
            pending: false,
            ..s.clone()
        };
        if settled(&decision.state) != settled(&state) {
            decision.state.pending = true;
            record_tags(ctx, &seen.mapping.arn, &mut held, &decision.state).await?;
        }
        let done = actuate(ctx, circuit, &seen, &steps, &desired, budget).await?;
        pending = !done;
    }
    decision.state.pending = pending;
    record_tags(ctx, &seen.mapping.arn, &mut held, &decision.state).await?;
    let transitions = record(ctx, circuit, &decision, drift);
    let status = status(
        circuit,
        &decision.state,
        decision.actuation.maximum_concurrency,
        &seen,
        Outcome {
            transitions,
            steps,
            applied,
            drift,
            pending,
            overflow: None,
        },
    );
    Ok(Reconciled {
        status,
        state: decision.state,
        queue: seen.queue,
    })
}

/// The probe's own traffic, read only while the circuit is half-open (and not overridden);
/// [`ProbeReading::Idle`] when it saw none and the source (`source`, as observed) and the
/// overflow queue are both empty.
async fn probe_reading<P: Ports>(
    ctx: Context<'_, P>,
    circuit: &Circuit,
    state: &CircuitState,
    source: Option<QueueStatus>,
    now: DateTime<Utc>,
) -> ProbeReading {
    let Phase::HalfOpen { since, .. } = state.phase else {
        return ProbeReading::NotRead;
    };
    if state.override_.is_some() {
        return ProbeReading::NotRead;
    }
    let function = circuit.function_key();
    match ctx.ports.function_outcome(function, since, now).await {
        Ok(outcome) if outcome.opening.invocations == 0 && outcome.after.invocations == 0 => {
            if nothing_waits(ctx, circuit, source).await {
                ProbeReading::Idle
            } else {
                ProbeReading::Seen(outcome)
            }
        }
        Ok(outcome) => ProbeReading::Seen(outcome),
        Err(error) => {
            tracing::warn!(circuit = circuit.name(), error = %error, "probe traffic unreadable: the probe waits until it can see");
            ProbeReading::Unreadable
        }
    }
}

/// Whether the circuit's source (`source`, as observed) holds no message, visible or in
/// flight, and its overflow queue (if it has one) none visible or in flight either. Unknown
/// counts as something waiting. SQS's counts are approximate (`ApproximateNumberOf*`, "the
/// approximate number", SQS API Reference, `GetQueueAttributes`): a momentary false zero can
/// only pass a probe early, and failing traffic then trips the circuit again.
async fn nothing_waits<P: Ports>(
    ctx: Context<'_, P>,
    circuit: &Circuit,
    source: Option<QueueStatus>,
) -> bool {
    let empty = |q: QueueStatus| q.visible == 0 && q.in_flight == 0;
    if !source.is_some_and(empty) {
        return false;
    }
    match circuit.overflow() {
        None => true,
        Some(overflow) => ctx
            .ports
            .queue_depth(overflow.queue_url())
            .await
            .is_ok_and(empty),
    }
}

/// The state from the tags.
fn persisted_state(
    circuit: &Circuit,
    seen: &Observation,
    command: Option<&Command>,
    now: DateTime<Utc>,
) -> Result<CircuitState, Error> {
    match CircuitState::from_tags(&seen.tags, now) {
        Ok(state) => Ok(state),
        Err(source) if matches!(command, Some(Command::Force { .. })) => {
            tracing::warn!(
                circuit = circuit.name(),
                error = %source,
                "unreadable state tags replaced by an operator override"
            );
            Ok(CircuitState::fresh(now))
        }
        Err(source) => Err(Error::State {
            circuit: circuit.name().to_owned(),
            source,
        }),
    }
}

/// Applies `steps` in order, each call under the retry policy; `Ok(false)` when it had to
/// stop early because the mapping had not settled: before an update, within the budget;
/// before lowering reserved concurrency, at once (the next invocation lowers it).
///
/// The rule holds for effect, not only for call order: an update that lowers or stops
/// consumption takes effect seconds later (the mapping reports `Updating` or `Disabling`,
/// and its pollers keep running at the old settings meanwhile). So reserved concurrency is
/// lowered only once the mapping has settled, and a mapping is updated only when settled
/// (Lambda refuses updates in transition with `ResourceInUseException`: "you tried to update
/// an event source mapping in the CREATING state", Lambda API reference). What cannot be done
/// in time is left to the next invocation, with the state still `pending`.
async fn actuate<P: Ports>(
    ctx: Context<'_, P>,
    circuit: &Circuit,
    seen: &Observation,
    steps: &[Step],
    desired: &Actuation,
    budget: Budget,
) -> Result<bool, Error> {
    let uuid = circuit.event_source_mapping_uuid();
    let mut mapping = seen.mapping.clone();
    let mut reserved = seen.reserved;
    let mut observed = seen.observed();
    let mut updated = false;
    for call in calls(steps, mapping.provisioned) {
        tracing::info!(circuit = circuit.name(), call = ?call, "applying");
        match call {
            ControlCall::UpdateMapping(update) => {
                if updated {
                    mapping = ctx.ports.get_mapping(uuid).await?;
                }
                if mapping.state.settled_enabled().is_none() {
                    mapping = settle(ctx, uuid, mapping, budget).await?;
                    if mapping.state.settled_enabled().is_none() {
                        return Ok(false);
                    }
                }
                ctx.ports.update_mapping(uuid, update).await?;
                // Lambda takes the update in and applies it asynchronously: until the mapping
                // is read back settled, it may still be taking effect.
                updated = true;
            }
            ControlCall::PutReserved(n) => {
                let lowering = reserved.is_none_or(|r| n < r);
                if lowering && updated {
                    mapping = ctx.ports.get_mapping(uuid).await?;
                    updated = false;
                }
                // Lowering waits for the mapping to settle, but not by polling here: when the
                // mapping is still taking an update in (this invocation's own, typically a
                // disable), the protective part is done, a higher reservation meanwhile costs
                // nothing, and the next invocation lowers it. Polling would hold every other
                // circuit's trip behind this one: the controller runs one invocation at a time,
                // and an update takes seconds to take effect (the simulator's `fleet-200`).
                if lowering && mapping.state.settled_enabled().is_none() {
                    return Ok(false);
                }
                let function = circuit.function_name();
                ctx.ports.set_reserved_concurrency(function, n).await?;
                reserved = Some(n);
            }
        }
    }
    for &step in steps {
        observed.apply(step);
    }
    if !observed.matches(desired) {
        tracing::warn!(
            circuit = circuit.name(),
            desired = ?desired,
            reached = ?observed,
            "an unmanaged reserved concurrency holds the circuit below its level"
        );
    }
    Ok(true)
}

/// One control-plane call of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ControlCall {
    UpdateMapping(MappingUpdate),
    PutReserved(u32),
}

/// The calls that carry out `steps`, in the same order. For a mapping in standard mode,
/// adjacent mapping steps go in one `UpdateEventSourceMapping`: merging never reorders, so
/// the order `plan` chose still holds. For a mapping in provisioned mode (`pollers` set), a
/// level is a `ProvisionedPollerConfig` (`MaximumPollers` = level / 10, `MinimumPollers` no
/// higher), never a `ScalingConfig` (the two are mutually exclusive), and enabling or
/// disabling is a call of its own.
fn calls(steps: &[Step], pollers: Option<Pollers>) -> Vec<ControlCall> {
    let mut calls: Vec<ControlCall> = Vec::with_capacity(steps.len());
    for &step in steps {
        let update = match (step, pollers) {
            (Step::SetReservedConcurrency(n), _) => {
                calls.push(ControlCall::PutReserved(n));
                continue;
            }
            (Step::DisableEsm, _) => MappingUpdate {
                enabled: Some(false),
                ..MappingUpdate::default()
            },
            (Step::EnableEsm, _) => MappingUpdate {
                enabled: Some(true),
                ..MappingUpdate::default()
            },
            (Step::SetMaximumConcurrency(n), None) => MappingUpdate {
                maximum_concurrency: Some(n),
                ..MappingUpdate::default()
            },
            (Step::SetMaximumConcurrency(n), Some(p)) => {
                let maximum = (n / INVOKES_PER_POLLER).max(crate::policy::config::MIN_LEVEL);
                MappingUpdate {
                    pollers: Some(Pollers {
                        minimum: p.minimum.min(maximum),
                        maximum,
                    }),
                    ..MappingUpdate::default()
                }
            }
        };
        match calls.last_mut() {
            Some(ControlCall::UpdateMapping(last))
                if pollers.is_none()
                    && !(last.enabled.is_some() && update.enabled.is_some()
                        || last.maximum_concurrency.is_some()
                            && update.maximum_concurrency.is_some()) =>
            {
                last.enabled = last.enabled.or(update.enabled);
                last.maximum_concurrency = last.maximum_concurrency.or(update.maximum_concurrency);
            }
            Some(ControlCall::UpdateMapping(_) | ControlCall::PutReserved(_)) | None => {
                calls.push(ControlCall::UpdateMapping(update));
            }
        }
    }
    calls
}

/// Writes the state tags when they differ from `held` (what the mapping holds), and keeps
/// `held` up to date.
async fn record_tags<P: Ports>(
    ctx: Context<'_, P>,
    arn: &str,
    held: &mut BTreeMap<String, String>,
    state: &CircuitState,
) -> Result<(), Error> {
    let tags = state.to_tags();
    let changed = tags
        .iter()
        .any(|(k, v)| held.get(k).map_or("", String::as_str) != v);
    if changed {
        ctx.ports.tag(arn, &tags).await?;
        held.extend(tags);
    }
    Ok(())
}

/// Logs each transition and writes the EMF line (the tags are written by then).
fn record<P>(
    ctx: Context<'_, P>,
    circuit: &Circuit,
    decision: &Decision,
    drift: bool,
) -> Vec<TransitionRecord> {
    let name = circuit.name();
    let transitions: Vec<TransitionRecord> = decision
        .transitions
        .iter()
        .map(|t| TransitionRecord {
            at: decision.at,
            from: t.from.name(),
            to: t.to.name(),
            actor: actor(&t.cause),
            cause: t.cause.clone(),
        })
        .collect();
    for t in &transitions {
        tracing::info!(
            circuit = name,
            from = %t.from,
            to = %t.to,
            actor = %t.actor,
            cause = %serde_json::to_string(&t.cause).unwrap_or_default(),
            dry_run = decision.dry_run,
            "circuit transition"
        );
    }
    ctx.recorder.record(
        &CircuitMetrics {
            circuit: name,
            at: decision.at,
            state: decision.state.phase.name(),
            level: decision.actuation.maximum_concurrency,
            transitions: transitions.len(),
            drift,
        }
        .to_emf(),
    );
    transitions
}

/// Reports one circuit without changing anything: the persisted state, the resources, and the
/// steps a reconcile would take to repair drift.
///
/// # Errors
/// [`Error::State`] for unreadable state tags, [`Error::Aws`] when a read fails beyond the
/// retry policy.
pub async fn inspect<P: Ports>(
    ctx: Context<'_, P>,
    config: &ControllerConfig,
    circuit: &Circuit,
    now: DateTime<Utc>,
) -> Result<CircuitStatus, Error> {
    let seen = observe(ctx, config, circuit, None, None).await?;
    let state = CircuitState::from_tags(&seen.tags, now).map_err(|source| Error::State {
        circuit: circuit.name().to_owned(),
        source,
    })?;
    let actuation = seen.desired(&state.phase, state.phase.actuation(circuit.policy()));
    let steps = if state.hands_off() {
        Vec::new()
    } else {
        plan(&seen.observed(), &actuation)
    };
    let drift = seen.has_state() && !state.dry_run && !state.pending && !steps.is_empty();
    let overflow = crate::overflow::inspect(ctx, circuit).await;
    Ok(status(
        circuit,
        &state,
        actuation.maximum_concurrency,
        &seen,
        Outcome {
            transitions: Vec::new(),
            steps,
            applied: false,
            drift,
            pending: state.pending,
            overflow,
        },
    ))
}

fn policy_error(circuit: &str, error: PolicyError) -> Error {
    match error {
        PolicyError::MissingActor | PolicyError::OverrideAlreadyExpired { .. } => {
            Error::Command(error)
        }
        PolicyError::InvalidConfig { .. }
        | PolicyError::IllegalTransition { .. }
        | PolicyError::MissingTag { .. }
        | PolicyError::InvalidTag { .. } => Error::Policy {
            circuit: circuit.to_owned(),
            source: error,
        },
    }
}

fn actor(cause: &Cause) -> String {
    match cause {
        Cause::Override { actor, .. }
        | Cause::Released { actor, .. }
        | Cause::DryRun { actor, .. } => actor.clone(),
        Cause::Alarm { .. }
        | Cause::Timer { .. }
        | Cause::ProbeFailed { .. }
        | Cause::OverrideExpired { .. } => SYSTEM_ACTOR.to_owned(),
    }
}

/// What a reconcile did, for the status.
#[derive(Debug)]
struct Outcome {
    transitions: Vec<TransitionRecord>,
    steps: Vec<Step>,
    applied: bool,
    drift: bool,
    pending: bool,
    overflow: Option<OverflowReport>,
}

fn status(
    circuit: &Circuit,
    state: &CircuitState,
    level: u32,
    seen: &Observation,
    outcome: Outcome,
) -> CircuitStatus {
    let o = state.override_.as_ref();
    CircuitStatus {
        circuit: circuit.name().to_owned(),
        state: state.phase.name(),
        since: state.phase.since(),
        level,
        trips: state.phase.trips(),
        override_: o.map(|o| o.kind),
        reason: o.map(|o| o.reason.clone()),
        actor: o.map(|o| o.actor.clone()),
        override_until: o.and_then(|o| o.until),
        dry_run: state.dry_run,
        esm: seen.esm_status(),
        reserved_concurrency: seen.reserved,
        queue: seen.queue,
        alarms: seen.alarms.clone(),
        transitions: outcome.transitions,
        steps: outcome.steps,
        applied: outcome.applied,
        drift: outcome.drift,
        pending: outcome.pending,
        overflow: outcome.overflow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(enabled: Option<bool>, maximum_concurrency: Option<u32>) -> ControlCall {
        ControlCall::UpdateMapping(MappingUpdate {
            enabled,
            maximum_concurrency,
            pollers: None,
        })
    }

    #[test]
    fn provisioned_mappings_get_pollers_and_enable_or_disable_in_a_call_of_its_own() {
        let pollers = Some(Pollers {
            minimum: 5,
            maximum: 50,
        });
        let trip = [
            Step::DisableEsm,
            Step::SetMaximumConcurrency(20),
            Step::SetReservedConcurrency(20),
        ];
        assert_eq!(
            calls(&trip, pollers),
            [
                update(Some(false), None),
                ControlCall::UpdateMapping(MappingUpdate {
                    pollers: Some(Pollers {
                        minimum: 2,
                        maximum: 2
                    }),
                    ..MappingUpdate::default()
                }),
                ControlCall::PutReserved(20)
            ]
        );
    }

    #[test]
    fn adjacent_mapping_steps_become_one_update_in_the_same_order() {
        let trip = [
            Step::DisableEsm,
            Step::SetMaximumConcurrency(2),
            Step::SetReservedConcurrency(2),
        ];
        assert_eq!(
            calls(&trip, None),
            [update(Some(false), Some(2)), ControlCall::PutReserved(2)]
        );
        let close = [
            Step::SetReservedConcurrency(16),
            Step::SetMaximumConcurrency(16),
            Step::EnableEsm,
        ];
        assert_eq!(
            calls(&close, None),
            [ControlCall::PutReserved(16), update(Some(true), Some(16))]
        );
        let lower_then_reserve = [
            Step::SetMaximumConcurrency(8),
            Step::SetReservedConcurrency(8),
        ];
        assert_eq!(
            calls(&lower_then_reserve, None),
            [update(None, Some(8)), ControlCall::PutReserved(8)]
        );
        assert_eq!(calls(&[], None), []);
    }

    #[test]
    fn a_reserved_concurrency_step_between_mapping_steps_keeps_them_apart() {
        let steps = [
            Step::DisableEsm,
            Step::SetReservedConcurrency(4),
            Step::SetMaximumConcurrency(4),
        ];
        assert_eq!(
            calls(&steps, None),
            [
                update(Some(false), None),
                ControlCall::PutReserved(4),
                update(None, Some(4))
            ]
        );
    }
}
