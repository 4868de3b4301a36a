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

use alarms::AlarmSignal;
use chrono::{DateTime, Utc};

use crate::config::Circuit;
use crate::error::{AwsFault, Error};
use crate::metrics::{CircuitMetrics, Recorder};
use crate::policy::tags::TAG_STATE;
use crate::policy::{
    Actuation, AlarmReading, Cause, CircuitState, Command, Decision, Observed, PolicyError,
    Signals, Step, decide, plan,
};
use crate::ports::{Mapping, MappingUpdate, Ports};
use crate::protocol::{
    AlarmStatus, CircuitStatus, EsmStatus, OverflowReport, QueueStatus, TransitionRecord,
};
use crate::retry::{RetryPolicy, retry};

/// The actor of transitions caused by alarms, timers and expiries.
pub const SYSTEM_ACTOR: &str = "floodgate";

/// What a reconcile needs besides the circuit: the AWS ports, the retry policy, and where
/// metrics go.
pub struct Context<'a, P> {
    /// The AWS capabilities.
    pub ports: &'a P,
    /// The one retry policy.
    pub retry: &'a RetryPolicy,
    /// Where EMF lines go.
    pub recorder: &'a dyn Recorder,
}

// By hand: a derive would demand `P: Copy`, but only references are copied.
impl<P> Clone for Context<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Context<'_, P> {}

impl<P> std::fmt::Debug for Context<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("retry", self.retry)
            .finish_non_exhaustive()
    }
}

/// Why the reconcile runs. Only a command changes what is decided; an alarm is a hint.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trigger<'a> {
    /// The operator command, if any.
    pub command: Option<&'a Command>,
    /// The alarm event that woke the controller, if any.
    pub alarm: Option<&'a AlarmSignal>,
}

/// What one observation found.
#[derive(Debug, Clone)]
struct Observation {
    mapping: Mapping,
    tags: BTreeMap<String, String>,
    reserved: Option<u32>,
    alarms: Vec<AlarmStatus>,
    queue: Option<QueueStatus>,
}

impl Observation {
    fn observed(&self) -> Observed {
        Observed {
            esm_enabled: self.mapping.state.may_consume(),
            maximum_concurrency: self.mapping.maximum_concurrency,
            reserved_concurrency: self.reserved,
        }
    }

    fn has_state(&self) -> bool {
        self.tags.get(TAG_STATE).is_some_and(|v| !v.is_empty())
    }

    /// The readings `decide` needs: alarms `DescribeAlarms` did not return are left out.
    fn readings(&self) -> Vec<AlarmReading> {
        self.alarms
            .iter()
            .filter_map(|a| Some(AlarmReading::new(&a.name, a.kind, a.state?, a.since?)))
            .collect()
    }

    fn esm_status(&self) -> EsmStatus {
        EsmStatus {
            uuid: self.mapping.uuid.clone(),
            state: self.mapping.state.to_string(),
            enabled: self.observed().esm_enabled,
            maximum_concurrency: self.mapping.maximum_concurrency,
        }
    }
}

/// Whether to wait for a transitional mapping to settle before going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    Wait,
    AsIs,
}

async fn observe<P: Ports>(
    ctx: Context<'_, P>,
    circuit: &Circuit,
    hint: Option<&AlarmSignal>,
    settle: Settle,
) -> Result<Observation, Error> {
    let uuid = circuit.event_source_mapping_uuid();
    let mapping = retry(ctx.retry, || async {
        let mapping = ctx.ports.get_mapping(uuid).await?;
        if settle == Settle::Wait && mapping.state.settled_enabled().is_none() {
            return Err(Error::aws(
                "GetEventSourceMapping",
                AwsFault::InUse,
                None,
                &format!("mapping {uuid} is {}", mapping.state),
            ));
        }
        Ok(mapping)
    })
    .await?;
    let tags = retry(ctx.retry, || ctx.ports.tags(&mapping.arn)).await?;
    let function = circuit.function_name();
    let reserved = retry(ctx.retry, || ctx.ports.reserved_concurrency(function)).await?;
    let described = retry(ctx.retry, || {
        ctx.ports.describe_alarms(circuit.alarm_names())
    })
    .await?;
    let alarms = circuit
        .alarms()
        .iter()
        .map(|alarm| {
            let read = described.iter().find(|d| d.name == alarm.name);
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
                    "alarm not found by DescribeAlarms; deciding without it"
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
        Some(url) => match retry(ctx.retry, || ctx.ports.queue_depth(url)).await {
            Ok(depth) => Some(depth),
            Err(error) => {
                tracing::warn!(circuit = circuit.name(), error = %error, "queue depth unreadable");
                None
            }
        },
        None => None,
    };
    Ok(Observation {
        mapping,
        tags,
        reserved,
        alarms,
        queue,
    })
}

/// Reconciles one circuit at `now`.
///
/// # Errors
/// [`Error::Command`] for a command the policy refuses, [`Error::State`] for unreadable state
/// tags, [`Error::Aws`] when a call fails beyond the retry policy (retryable for throttling, a
/// mapping that does not settle, 5xx). On error nothing is recorded.
pub async fn reconcile<P: Ports>(
    ctx: Context<'_, P>,
    circuit: &Circuit,
    trigger: Trigger<'_>,
    now: DateTime<Utc>,
) -> Result<CircuitStatus, Error> {
    let name = circuit.name();
    let config = circuit.policy();
    let seen = observe(ctx, circuit, trigger.alarm, Settle::Wait).await?;
    let (state, has_state) = persisted_state(circuit, &seen, trigger.command, now)?;
    let observed = seen.observed();
    // Drift: the resources are not what the persisted state asks for. Not on the first run
    // (nothing was applied yet) nor after dry-run (nothing was meant to be applied).
    let expected = state.phase.actuation(config);
    let drift = has_state && !state.dry_run && !plan(&observed, &expected).is_empty();

    let signals = Signals {
        alarms: seen.readings(),
        command: trigger.command.cloned(),
    };
    let decision = decide(now, &state, &signals, config).map_err(|e| policy_error(name, e))?;
    let steps = plan(&observed, &decision.actuation);
    if drift {
        tracing::warn!(
            circuit = name,
            observed = ?observed,
            expected = ?expected,
            steps = ?steps,
            "drift: resources were changed outside floodgate; re-applying"
        );
    }
    let applied = !decision.dry_run;
    if applied {
        actuate(ctx, circuit, observed, &steps, &decision.actuation).await?;
    }
    let transitions = record(ctx, circuit, &seen, &decision, drift).await?;
    // After the record, so the step sees the state this invocation settled on.
    let overflow = crate::overflow::run(ctx, circuit, &decision.state, seen.queue, now).await;
    Ok(status(
        circuit,
        &decision.state,
        decision.actuation.maximum_concurrency,
        &seen,
        Outcome {
            transitions,
            steps,
            applied,
            drift,
            overflow,
        },
    ))
}

/// The state from the tags, and whether the tags held one.
fn persisted_state(
    circuit: &Circuit,
    seen: &Observation,
    command: Option<&Command>,
    now: DateTime<Utc>,
) -> Result<(CircuitState, bool), Error> {
    match CircuitState::from_tags(&seen.tags, now) {
        Ok(state) => Ok((state, seen.has_state())),
        Err(source)
            if matches!(
                command,
                Some(Command::ForceOpen { .. } | Command::ForceClose { .. })
            ) =>
        {
            tracing::warn!(
                circuit = circuit.name(),
                error = %source,
                "unreadable state tags replaced by an operator override"
            );
            Ok((CircuitState::fresh(now), false))
        }
        Err(source) => Err(Error::State {
            circuit: circuit.name().to_owned(),
            source,
        }),
    }
}

/// Applies `steps` in order, each call under the retry policy.
async fn actuate<P: Ports>(
    ctx: Context<'_, P>,
    circuit: &Circuit,
    mut observed: Observed,
    steps: &[Step],
    desired: &Actuation,
) -> Result<(), Error> {
    for call in calls(steps) {
        tracing::info!(circuit = circuit.name(), call = ?call, "applying");
        match call {
            ControlCall::UpdateMapping(update) => {
                let uuid = circuit.event_source_mapping_uuid();
                retry(ctx.retry, || ctx.ports.update_mapping(uuid, update)).await?;
            }
            ControlCall::PutReserved(n) => {
                let function = circuit.function_name();
                retry(ctx.retry, || {
                    ctx.ports.set_reserved_concurrency(function, n)
                })
                .await?;
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
    Ok(())
}

/// One control-plane call of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ControlCall {
    UpdateMapping(MappingUpdate),
    PutReserved(u32),
}

/// The calls that carry out `steps`, in the same order, with adjacent mapping steps in one
/// `UpdateEventSourceMapping`. Merging never reorders, so the order `plan` chose still keeps
/// reserved concurrency at or above `MaximumConcurrency`; and it spares a separate update
/// right after a disable, which Lambda would refuse while the mapping is still Disabling.
fn calls(steps: &[Step]) -> Vec<ControlCall> {
    let mut calls: Vec<ControlCall> = Vec::with_capacity(steps.len());
    for &step in steps {
        let (enabled, maximum_concurrency) = match step {
            Step::SetReservedConcurrency(n) => {
                calls.push(ControlCall::PutReserved(n));
                continue;
            }
            Step::DisableEsm => (Some(false), None),
            Step::EnableEsm => (Some(true), None),
            Step::SetMaximumConcurrency(n) => (None, Some(n)),
        };
        match calls.last_mut() {
            Some(ControlCall::UpdateMapping(update))
                if !(update.enabled.is_some() && enabled.is_some()
                    || update.maximum_concurrency.is_some() && maximum_concurrency.is_some()) =>
            {
                update.enabled = update.enabled.or(enabled);
                update.maximum_concurrency = update.maximum_concurrency.or(maximum_concurrency);
            }
            Some(ControlCall::UpdateMapping(_) | ControlCall::PutReserved(_)) | None => {
                calls.push(ControlCall::UpdateMapping(MappingUpdate {
                    enabled,
                    maximum_concurrency,
                }));
            }
        }
    }
    calls
}

/// Persists the state (only if it changed), logs each transition, writes the EMF line.
async fn record<P: Ports>(
    ctx: Context<'_, P>,
    circuit: &Circuit,
    seen: &Observation,
    decision: &Decision,
    drift: bool,
) -> Result<Vec<TransitionRecord>, Error> {
    let name = circuit.name();
    let tags = decision.state.to_tags();
    let changed = tags
        .iter()
        .any(|(k, v)| seen.tags.get(k).map_or("", String::as_str) != v);
    if changed {
        retry(ctx.retry, || ctx.ports.tag(&seen.mapping.arn, &tags)).await?;
    }
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
    Ok(transitions)
}

/// Reports one circuit without changing anything: the persisted state, the resources, and the
/// steps a reconcile would take to repair drift.
///
/// # Errors
/// [`Error::State`] for unreadable state tags, [`Error::Aws`] when a read fails beyond the
/// retry policy.
pub async fn inspect<P: Ports>(
    ctx: Context<'_, P>,
    circuit: &Circuit,
    now: DateTime<Utc>,
) -> Result<CircuitStatus, Error> {
    let seen = observe(ctx, circuit, None, Settle::AsIs).await?;
    let state = CircuitState::from_tags(&seen.tags, now).map_err(|source| Error::State {
        circuit: circuit.name().to_owned(),
        source,
    })?;
    let actuation = state.phase.actuation(circuit.policy());
    let steps = plan(&seen.observed(), &actuation);
    let drift = seen.has_state() && !state.dry_run && !steps.is_empty();
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
        Cause::Alarm { .. } | Cause::Timer { .. } | Cause::OverrideExpired { .. } => {
            SYSTEM_ACTOR.to_owned()
        }
    }
}

/// What a reconcile did, for the status.
#[derive(Debug)]
struct Outcome {
    transitions: Vec<TransitionRecord>,
    steps: Vec<Step>,
    applied: bool,
    drift: bool,
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
        })
    }

    #[test]
    fn adjacent_mapping_steps_become_one_update_in_the_same_order() {
        let trip = [
            Step::DisableEsm,
            Step::SetMaximumConcurrency(2),
            Step::SetReservedConcurrency(2),
        ];
        assert_eq!(
            calls(&trip),
            [update(Some(false), Some(2)), ControlCall::PutReserved(2)]
        );
        let close = [
            Step::SetReservedConcurrency(16),
            Step::SetMaximumConcurrency(16),
            Step::EnableEsm,
        ];
        assert_eq!(
            calls(&close),
            [ControlCall::PutReserved(16), update(Some(true), Some(16))]
        );
        let lower_then_reserve = [
            Step::SetMaximumConcurrency(8),
            Step::SetReservedConcurrency(8),
        ];
        assert_eq!(
            calls(&lower_then_reserve),
            [update(None, Some(8)), ControlCall::PutReserved(8)]
        );
        assert_eq!(calls(&[]), []);
    }

    #[test]
    fn a_reserved_concurrency_step_between_mapping_steps_keeps_them_apart() {
        let steps = [
            Step::DisableEsm,
            Step::SetReservedConcurrency(4),
            Step::SetMaximumConcurrency(4),
        ];
        assert_eq!(
            calls(&steps),
            [
                update(Some(false), None),
                ControlCall::PutReserved(4),
                update(None, Some(4))
            ]
        );
    }
}
