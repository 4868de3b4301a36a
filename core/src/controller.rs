//! The controller Lambda's entry point: route one invocation to the circuits it concerns.
//!
//! Inputs ([`route`]):
//!
//! 1. A CloudWatch alarm in any delivery shape (direct alarm action, SNS, `EventBridge`
//!    "CloudWatch Alarm State Change"): the circuit owning the alarm is reconciled.
//! 2. A tick — `{"floodgate": "tick"}` or an `EventBridge` `"Scheduled Event"` from
//!    `aws.events` — reconciles every circuit.
//! 3. An operator command ([`crate::protocol::OperatorCommand`]): `status` reads, the others
//!    reconcile their circuit with the command.
//!
//! Anything else — oversized (over [`MAX_EVENT_BYTES`]), not JSON, malformed, an unknown
//! alarm or circuit, another account or region — is rejected before any AWS call with a
//! non-retryable [`Error`], logged with its size, kind and reason, never its body.
//!
//! The Lambda program around it (logs, SDK clients, the runtime loop) is `breaker::lambda`.

use std::sync::Arc;

use alarms::{AlarmSignal, MAX_EVENT_BYTES};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

use std::time::Duration;

use futures_util::StreamExt;

use crate::config::{Circuit, ControllerConfig};
use crate::error::{CircuitFailure, Error, ErrorClass, bounded};
use crate::metrics::{EmfLine, Recorder, StdoutRecorder, Unit};
use crate::policy::{Command, Forced};
use crate::ports::{Limited, Pace, Ports, Retrying};
use crate::protocol::{CircuitStatus, FailedCircuit, OperatorCommand, Request, Response};
use crate::reconcile::{
    Budget, Context, Reconciled, Trigger, decide_and_apply, inspect, reconcile,
};
use crate::retry::RetryPolicy;

/// How long one invocation works at most, whatever the Lambda timeout. The controller runs
/// with reserved concurrency 1, so while a tick works an operator's synchronous Invoke is
/// throttled (`TooManyRequestsException`); keeping every invocation this short lets a command
/// through within seconds (the CLI retries for longer than this).
pub const DEFAULT_WORK_BUDGET: Duration = Duration::from_secs(10);
/// How long one invocation may keep replaying a circuit's overflow, within the Lambda
/// deadline: most of the minute between two ticks, so a backlog drains at the replay rate
/// rather than at a sixth of it. A replay reads the circuit's alarms every second and stops
/// at the first in ALARM, so a trip is not held up: the alarm's own invocation, throttled
/// meanwhile (reserved concurrency 1), is retried by Lambda's asynchronous invocation within
/// seconds ("Lambda returns the event to the queue and attempts to run the function again",
/// Lambda Developer Guide, "How Lambda handles errors and retries with asynchronous
/// invocation"). An operator command may wait as long: the CLI's patience covers it.
pub const DEFAULT_REPLAY_BUDGET: Duration = Duration::from_secs(45);
/// Time kept back from the Lambda deadline to log and answer.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
/// Circuits a tick reconciles at once. Every Lambda control-plane call still passes the one
/// limiter, so this spreads waiting, not load: a slow circuit (a mapping settling) does not
/// hold up the others.
pub const TICK_CONCURRENCY: usize = 4;
/// A circuit is only started with at least this much of the budget left; later ones are
/// deferred to the next tick, which starts with them.
pub const MIN_CIRCUIT_SLICE: Duration = Duration::from_millis(500);

/// What an invocation asks for, once validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Reconcile every circuit.
    Tick,
    /// An operator command naming a configured circuit (or none, for `status`).
    Command(OperatorCommand),
    /// An alarm owned by a configured circuit, from the configured account and region.
    Alarm(AlarmSignal),
}

/// Classifies and validates one raw invocation payload. Pure: no AWS call, no clock.
///
/// # Errors
/// A [rejection](ErrorClass::Rejected): [`Error::TooLarge`], [`Error::NotJson`],
/// [`Error::UnknownEvent`], [`Error::MalformedRequest`], [`Error::Alarm`],
/// [`Error::UnknownAlarm`], [`Error::UnknownCircuit`], [`Error::ForeignAccount`],
/// [`Error::ForeignRegion`].
pub fn route(body: &[u8], config: &ControllerConfig) -> Result<Input, Error> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(Error::TooLarge {
            size: body.len(),
            limit: MAX_EVENT_BYTES,
        });
    }
    // serde_json's syntax errors say where parsing stopped, never what it read.
    let value: Value = serde_json::from_slice(body).map_err(|e| Error::NotJson {
        reason: e.to_string(),
    })?;
    let Some(object) = value.as_object() else {
        return Err(Error::UnknownEvent {
            hint: "not a JSON object",
        });
    };
    if object.contains_key("floodgate") {
        let request: Request =
            serde_json::from_value(value).map_err(|e| Error::MalformedRequest {
                reason: bounded(&e.to_string()),
            })?;
        return match request {
            Request::Tick {} => Ok(Input::Tick),
            Request::Command(command) => check_command(command, config).map(Input::Command),
        };
    }
    if is_scheduled_event(object) {
        check_origin(
            object.get("account").and_then(Value::as_str),
            object.get("region").and_then(Value::as_str),
            config,
        )?;
        return Ok(Input::Tick);
    }
    if alarms::looks_like_alarm(&value) {
        let signal = alarms::parse_value(&value)?;
        check_origin(Some(&signal.account), Some(&signal.region), config)?;
        if config.owner_of_alarm(&signal.alarm_name).is_none() {
            return Err(Error::UnknownAlarm {
                alarm: bounded(&signal.alarm_name),
            });
        }
        return Ok(Input::Alarm(signal));
    }
    Err(Error::UnknownEvent {
        hint: "no `floodgate` key, not a scheduled event, not an alarm delivery",
    })
}

fn is_scheduled_event(object: &Map<String, Value>) -> bool {
    object.get("source").and_then(Value::as_str) == Some("aws.events")
        && object.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

fn check_origin(
    account: Option<&str>,
    region: Option<&str>,
    config: &ControllerConfig,
) -> Result<(), Error> {
    let present = |field: &str, value: Option<&str>| {
        value.map(bounded).ok_or_else(|| Error::MalformedRequest {
            reason: format!("event has no {field}"),
        })
    };
    let (account, region) = (present("account", account)?, present("region", region)?);
    if account != config.account_id() {
        let expected = config.account_id().to_owned();
        return Err(Error::ForeignAccount {
            found: account,
            expected,
        });
    }
    if region != config.region() {
        let expected = config.region().to_owned();
        return Err(Error::ForeignRegion {
            found: region,
            expected,
        });
    }
    Ok(())
}

/// Checks what can be checked without AWS, so a bad command costs no call.
fn check_command(
    command: OperatorCommand,
    config: &ControllerConfig,
) -> Result<OperatorCommand, Error> {
    if let Some(name) = command.circuit()
        && config.circuit(name).is_none()
    {
        return Err(Error::UnknownCircuit {
            circuit: bounded(name),
        });
    }
    let actor = match &command {
        OperatorCommand::Status { .. } => None,
        OperatorCommand::ForceOpen { actor, .. }
        | OperatorCommand::ForceClose { actor, .. }
        | OperatorCommand::Release { actor, .. }
        | OperatorCommand::DryRun { actor, .. } => Some(actor),
    };
    if actor.is_some_and(|a| a.trim().is_empty()) {
        return Err(Error::MalformedRequest {
            reason: "actor must not be empty".to_owned(),
        });
    }
    Ok(command)
}

/// The expiry `ttl_secs` from `now`.
fn expiry(now: DateTime<Utc>, ttl_secs: Option<u64>) -> Result<Option<DateTime<Utc>>, Error> {
    ttl_secs
        .map(|secs| {
            i64::try_from(secs)
                .ok()
                .and_then(TimeDelta::try_seconds)
                .and_then(|ttl| now.checked_add_signed(ttl))
                .ok_or_else(|| Error::MalformedRequest {
                    reason: format!("ttl_secs {secs} is out of range"),
                })
        })
        .transpose()
}

/// The controller: the configuration, the ports and the policies around them. Every call of
/// the ports waits on the control-plane limiter ([`Limited`], at the configured
/// `control_plane_rate_per_sec`) and runs under the retry policy ([`Retrying`]).
pub struct Controller<P> {
    config: ControllerConfig,
    ports: Retrying<Limited<P>>,
    recorder: Arc<dyn Recorder>,
    work_budget: Duration,
}

impl<P> std::fmt::Debug for Controller<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("config", &self.config)
            .field("retry", self.ports.policy())
            .finish_non_exhaustive()
    }
}

impl<P: Ports> Controller<P> {
    /// A controller with the default retry policy, writing metrics to standard output.
    pub fn new(config: ControllerConfig, ports: P) -> Self {
        let pace = Arc::new(Pace::per_second(config.control_plane_rate_per_sec()));
        Self {
            ports: Retrying::new(Limited::new(ports, pace), RetryPolicy::default()),
            config,
            recorder: Arc::new(StdoutRecorder),
            work_budget: DEFAULT_WORK_BUDGET,
        }
    }

    /// The same controller working at most `budget` per invocation.
    #[must_use]
    pub fn with_work_budget(mut self, budget: Duration) -> Self {
        self.work_budget = budget;
        self
    }

    /// The same controller with another retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.ports = self.ports.with_policy(retry);
        self
    }

    /// The same controller writing metrics to `recorder`.
    #[must_use]
    pub fn with_recorder(mut self, recorder: Arc<dyn Recorder>) -> Self {
        self.recorder = recorder;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// The ports, as given (without the limiter and the retry policy).
    pub fn ports(&self) -> &P {
        self.ports.inner().inner()
    }

    /// The budget of an invocation starting now: [`Controller::with_work_budget`], and
    /// [`DEFAULT_REPLAY_BUDGET`] for a replay (never less).
    fn budget(&self) -> Budget {
        Budget::for_next(&self.ports, self.work_budget)
            .with_replay(&self.ports, DEFAULT_REPLAY_BUDGET.max(self.work_budget))
    }

    fn context(&self) -> Context<'_, Limited<P>> {
        Context {
            ports: &self.ports,
            recorder: self.recorder.as_ref(),
        }
    }

    /// Handles one raw invocation payload at `now`; failures are logged (without the body).
    ///
    /// # Errors
    /// Whatever [`route`] rejects, and what [`Controller::dispatch`] fails with.
    pub async fn handle(&self, body: &[u8], now: DateTime<Utc>) -> Result<Response, Error> {
        self.handle_within(body, now, None).await
    }

    /// [`Controller::handle`], finishing before `time_left` (to the Lambda deadline) less
    /// [`DEADLINE_MARGIN`] has passed, and within the controller's work budget.
    ///
    /// # Errors
    /// As [`Controller::handle`].
    pub async fn handle_within(
        &self,
        body: &[u8],
        now: DateTime<Utc>,
        time_left: Option<Duration>,
    ) -> Result<Response, Error> {
        let mut budget = self.budget();
        if let Some(left) = time_left {
            budget = budget.at_most(&self.ports, left.saturating_sub(DEADLINE_MARGIN));
        }
        let result = match route(body, &self.config) {
            Ok(input) => self.dispatch_within(input, now, budget).await,
            Err(error) => Err(error),
        };
        if let Err(error) = &result {
            let class = error.class().error_type();
            if error.class() == ErrorClass::Rejected {
                tracing::warn!(size = body.len(), kind = error.kind(), class, reason = %error, "event rejected");
            } else {
                tracing::error!(size = body.len(), kind = error.kind(), class, reason = %error, "invocation failed");
            }
        }
        result
    }

    /// Carries out a routed input at `now`.
    ///
    /// # Errors
    /// For one circuit, the error of [`reconcile`] or [`inspect`]; for several (a tick, a
    /// status of all), [`Error::Circuits`] listing each failed circuit after all were tried.
    pub async fn dispatch(&self, input: Input, now: DateTime<Utc>) -> Result<Response, Error> {
        self.dispatch_within(input, now, self.budget()).await
    }

    /// [`Controller::dispatch`] within `budget`.
    ///
    /// # Errors
    /// As [`Controller::dispatch`]; a tick reports failed circuits in its answer instead.
    pub async fn dispatch_within(
        &self,
        input: Input,
        now: DateTime<Utc>,
        budget: Budget,
    ) -> Result<Response, Error> {
        let ctx = self.context();
        let config = &self.config;
        match input {
            Input::Tick => Ok(self.tick(now, budget).await),
            Input::Alarm(signal) => {
                let circuit = self.owner(&signal)?;
                let trigger = Trigger::Alarm(&signal);
                one(reconcile(ctx, config, circuit, trigger, now, budget).await)
            }
            Input::Command(OperatorCommand::Status { circuit }) => {
                let circuits = match circuit {
                    Some(name) => std::slice::from_ref(self.circuit(&name)?),
                    None => self.config.circuits(),
                };
                self.each(circuits, |c| inspect(ctx, config, c, now)).await
            }
            Input::Command(command) => {
                let (name, command) = policy_command(command, now)?;
                let circuit = self.circuit(&name)?;
                let trigger = Trigger::Command(&command);
                one(reconcile(ctx, config, circuit, trigger, now, budget).await)
            }
        }
    }

    /// Reconciles every circuit within `budget`, then gives each circuit's overflow step a
    /// fair share of what is left.
    ///
    /// - **Fair**: circuits run [`TICK_CONCURRENCY`] at a time, starting at a place that
    ///   moves on every minute, so no circuit always waits behind the others; circuits that
    ///   share a function run one after another (their reservation is one number).
    /// - **Bounded**: a circuit is started only with [`MIN_CIRCUIT_SLICE`] left; the rest are
    ///   reported as deferred. Overflow steps run after every decision, each within its
    ///   share of the remaining budget, so message moves never delay a trip.
    /// - **Never fails as a whole**: a circuit that fails is reported in
    ///   [`Response::failed`], logged and counted (EMF `CircuitErrors`), and the tick still
    ///   succeeds, so Lambda does not retry it and repeat the other circuits' moves.
    async fn tick(&self, now: DateTime<Utc>, budget: Budget) -> Response {
        let ctx = self.context();
        let config = &self.config;
        let circuits = config.circuits();
        let n = circuits.len();
        // Circuits on one function share its reservation, computed from each other's live
        // mappings: they run one after another, so one never plans against a sibling's
        // half-made change. Groups run TICK_CONCURRENCY at a time.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, circuit) in circuits.iter().enumerate() {
            match groups
                .iter_mut()
                .find(|g| circuits[g[0]].function_key() == circuit.function_key())
            {
                Some(group) => group.push(i),
                None => groups.push(vec![i]),
            }
        }
        let start =
            usize::try_from(now.timestamp().div_euclid(60)).unwrap_or(0) % groups.len().max(1);
        groups.rotate_left(start);
        let mut results: Vec<Outcome> = vec![None; n];
        let done: Vec<Vec<(usize, Outcome)>> = futures_util::stream::iter(groups)
            .map(|group| async move {
                let mut done = Vec::with_capacity(group.len());
                for i in group {
                    if budget.remaining(ctx.ports) < MIN_CIRCUIT_SLICE {
                        done.push((i, None));
                        continue;
                    }
                    let trigger = Trigger::Tick;
                    let circuit = &circuits[i];
                    let result = decide_and_apply(ctx, config, circuit, trigger, now, budget).await;
                    done.push((i, Some(result)));
                }
                done
            })
            .buffer_unordered(TICK_CONCURRENCY)
            .collect()
            .await;
        for (i, result) in done.into_iter().flatten() {
            results[i] = result;
        }
        // Overflow: each circuit that has work gets an equal share of what is left.
        let mut left = results
            .iter()
            .zip(circuits)
            .filter(|(r, c)| matches!(r, Some(Ok(_))) && c.overflow().is_some())
            .count();
        for (result, circuit) in results.iter_mut().zip(circuits) {
            let Some(Ok(done)) = result else { continue };
            if circuit.overflow().is_none() {
                continue;
            }
            let share = budget.share(ctx.ports, u32::try_from(left.max(1)).unwrap_or(u32::MAX));
            left = left.saturating_sub(1);
            done.status.overflow =
                crate::overflow::run(ctx, circuit, &done.state, done.queue, now, share).await;
        }
        let mut response = Response::of(Vec::with_capacity(n));
        for (circuit, result) in circuits.iter().zip(results) {
            match result {
                Some(Ok(done)) => response.circuits.push(done.status),
                Some(Err(error)) => {
                    tracing::error!(
                        circuit = circuit.name(),
                        kind = error.kind(),
                        class = error.class().error_type(),
                        reason = %error,
                        "circuit failed in a tick; the next tick tries again"
                    );
                    self.recorder.record(&failure_emf(circuit.name(), now));
                    response.failed.push(FailedCircuit {
                        circuit: circuit.name().to_owned(),
                        kind: error.kind().to_owned(),
                        retryable: error.is_retryable(),
                        message: bounded(&error.to_string()),
                    });
                }
                None => response.deferred.push(circuit.name().to_owned()),
            }
        }
        if !response.deferred.is_empty() {
            tracing::warn!(deferred = ?response.deferred, "tick ran out of time; deferred circuits go first next time");
        }
        response
    }

    /// Runs `each` over `circuits` one after another (they share one rate limit), trying
    /// every circuit even when one fails.
    async fn each<'c, F, Fut>(
        &self,
        circuits: &'c [Circuit],
        mut each: F,
    ) -> Result<Response, Error>
    where
        F: FnMut(&'c Circuit) -> Fut,
        Fut: Future<Output = Result<CircuitStatus, Error>>,
    {
        let mut statuses = Vec::with_capacity(circuits.len());
        let mut failures = Vec::new();
        for circuit in circuits {
            match each(circuit).await {
                Ok(status) => statuses.push(status),
                Err(error) => failures.push(CircuitFailure {
                    circuit: circuit.name().to_owned(),
                    error,
                }),
            }
        }
        if failures.is_empty() {
            Ok(Response::of(statuses))
        } else {
            Err(Error::Circuits(failures))
        }
    }

    fn owner(&self, signal: &AlarmSignal) -> Result<&Circuit, Error> {
        self.config
            .owner_of_alarm(&signal.alarm_name)
            .ok_or_else(|| Error::UnknownAlarm {
                alarm: bounded(&signal.alarm_name),
            })
    }

    fn circuit(&self, name: &str) -> Result<&Circuit, Error> {
        self.config
            .circuit(name)
            .ok_or_else(|| Error::UnknownCircuit {
                circuit: bounded(name),
            })
    }
}

fn one(result: Result<CircuitStatus, Error>) -> Result<Response, Error> {
    result.map(|status| Response::of(vec![status]))
}

/// A circuit's result in a tick: `None` when it was deferred for lack of time.
type Outcome = Option<Result<Reconciled, Error>>;

/// The EMF line of a circuit that failed in a tick: metric `CircuitErrors`, dimension
/// `Circuit`, so an alarm can watch for circuits the controller cannot reconcile.
fn failure_emf(circuit: &str, at: DateTime<Utc>) -> String {
    EmfLine::new(circuit, at)
        .metric("CircuitErrors", Unit::Count, 1)
        .render()
}

/// The circuit and the policy's command for an operator command other than `status`.
fn policy_command(
    command: OperatorCommand,
    now: DateTime<Utc>,
) -> Result<(String, Command), Error> {
    let force = |to, circuit, reason, actor, ttl_secs| -> Result<(String, Command), Error> {
        Ok((
            circuit,
            Command::Force {
                to,
                reason,
                actor,
                until: expiry(now, ttl_secs)?,
            },
        ))
    };
    Ok(match command {
        OperatorCommand::Status { .. } => {
            return Err(Error::MalformedRequest {
                reason: "status carries no policy command".to_owned(),
            });
        }
        OperatorCommand::ForceOpen {
            circuit,
            reason,
            actor,
            ttl_secs,
        } => force(Forced::Open, circuit, reason, actor, ttl_secs)?,
        OperatorCommand::ForceClose {
            circuit,
            reason,
            actor,
            ttl_secs,
        } => force(Forced::Closed, circuit, reason, actor, ttl_secs)?,
        OperatorCommand::Release { circuit, actor } => (circuit, Command::Release { actor }),
        OperatorCommand::DryRun {
            circuit,
            enabled,
            actor,
        } => (circuit, Command::DryRun { enabled, actor }),
    })
}
