//! Running a scenario under one strategy, and what came out of it.
//!
//! The strategies, side by side on the same seeded world:
//! - `none`: nothing protects the consumer.
//! - `reserved-only`: a fixed reserved concurrency on the consumer (the common practice).
//! - `toggle`: disables the mapping on the errors alarm's ALARM and enables it on OK, as the
//!   public ESM breaker samples do; a refused update is retried like an asynchronous Lambda
//!   invocation, twice, a minute and then two minutes later (Lambda Developer Guide,
//!   "Error handling and automatic retries in Lambda").
//! - `floodgate`: the shipped controller (`floodgate_core::Controller`) over the world's
//!   ports, invoked with the real alarm-action payloads and a tick every `tick_every` (by
//!   default a minute, EventBridge Scheduler's shortest rate).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use alarms::AlarmState;
use alarms::eval::Statistic;
use floodgate_core::metrics::Recorder;
use floodgate_core::{Controller, ControllerConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::sim::cloudwatch::{AlarmSource, MetricKey, SimAlarm};
use crate::sim::names::{ACCOUNT, Names, REGION};
use crate::sim::params::Profile;
use crate::sim::ports::{SimPorts, epoch, wall};
use crate::sim::reaction::Reaction;
use crate::sim::scenario::Scenario;
use crate::sim::time::SimTime;
use crate::sim::timeline::{PhaseSpans, Sampler, Timeline};
use crate::sim::world::{AlarmAction, World};

/// The strategies, in report order.
pub const STRATEGIES: [&str; 4] = ["none", "reserved-only", "toggle", "floodgate"];

/// How often the world is sampled for the report.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// What one strategy did in one scenario (all circuits together).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyResult {
    /// The strategy.
    pub strategy: String,
    /// Messages sent.
    pub sent: u64,
    /// Messages processed successfully.
    pub consumed: u64,
    /// Messages in the DLQs.
    pub dead_lettered: u64,
    /// Messages SQS deleted after the retention period.
    pub expired: u64,
    /// Messages in none of the other places: must be 0.
    pub lost: u64,
    /// Successful processings beyond the first of a message.
    pub duplicates: u64,
    /// Messages still in a source or overflow queue, or held by a consumer, at the end.
    pub still_queued: u64,
    /// Most messages an overflow queue held at once.
    pub overflow_peak: u64,
    /// Fault start → the first moment every failing consumer stopped taking new batches or
    /// was held at the probe level; `None` if never.
    pub time_to_protect_s: Option<f64>,
    /// Fault end → back to normal (every mapping enabled at its deployed
    /// `MaximumConcurrency`, every overflow queue empty) and the backlog back to its level at
    /// the fault's start; `None` if never.
    pub time_to_recover_s: Option<f64>,
    /// Downstream calls that failed.
    pub downstream_failed_calls: u64,
    /// Seconds the downstream was asked for more than its capacity.
    pub downstream_overload_s: u64,
    /// Invocations of the consumers that failed (function errors and timeouts).
    pub failed_invocations: u64,
    /// Invokes of the consumers refused for lack of concurrency.
    pub throttled_invocations: u64,
    /// Lambda control-plane requests made.
    pub control_plane_calls: u64,
    /// Mapping updates accepted.
    pub transitions: u64,
    /// The state at the end (`floodgate`: the circuit phase; others: the mapping's).
    pub final_state: String,
    /// `floodgate`: changes of circuit phase.
    pub phase_changes: Option<u64>,
    /// `floodgate`: how the controller's invocations ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<ControllerStats>,
    /// `floodgate`: every change of a circuit's phase, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phase_log: Vec<PhaseChange>,
    /// `floodgate`: the first circuit's reaction, step by step, as a drill measures it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<Reaction>,
    /// The world over time, for the HTML report (not in the JSON).
    #[serde(skip)]
    pub timeline: Timeline,
}

/// How the controller's invocations ended, over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerStats {
    /// Invocations (alarm actions and ticks).
    pub invocations: u64,
    /// Invocations that failed as a whole, by the error's kind.
    pub failed: std::collections::BTreeMap<String, u64>,
    /// The first failure of each kind, in words.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub first_failure: std::collections::BTreeMap<String, String>,
    /// Circuits a tick reported failed, by the error's kind.
    pub circuits_failed: std::collections::BTreeMap<String, u64>,
    /// Circuits a tick did not reach in its time budget.
    pub circuits_deferred: u64,
}

/// One change of a circuit's phase, as the controller's metrics recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseChange {
    /// Seconds since the simulation's start.
    pub at_s: u64,
    /// The circuit.
    pub circuit: String,
    /// The phase before.
    pub from: String,
    /// The phase after.
    pub to: String,
}

/// Runs `scenario` under `strategy` with `profile`.
///
/// # Errors
/// [`Error::Invalid`] for an unknown strategy or a configuration the controller refuses.
pub fn run(scenario: &Scenario, profile: &Profile, strategy: &str) -> Result<StrategyResult> {
    let reserved =
        (strategy == "reserved-only").then_some(scenario.strategies.reserved_concurrency);
    let world = Arc::new(Mutex::new(scenario.world(profile, reserved)?));
    let mut driver = match strategy {
        "none" | "reserved-only" => Driver::Passive,
        "toggle" => Driver::Toggle {
            retries: Vec::new(),
        },
        "floodgate" => Driver::floodgate(scenario, &world)?,
        other => {
            return Err(Error::invalid(
                "strategy",
                format!("{other:?} is not one of {}", STRATEGIES.join(", ")),
            ));
        }
    };
    let end = SimTime::ZERO + scenario.duration;
    let mut observer = Observer::new(scenario, strategy);
    let mut sampler = Sampler::new(scenario.duration);
    let mut next_tick = SimTime::ZERO + scenario.tick_every;
    loop {
        let now = lock(&world).now();
        if now >= end {
            break;
        }
        let target = (now + SAMPLE_EVERY).min(end).min(next_tick.max(now));
        let actions = {
            let mut w = lock(&world);
            w.run_until(target);
            observer.sample(&mut w);
            sampler.observe(&mut w, || driver.phases());
            w.take_actions()
        };
        // One invocation at a time (the controller's reserved concurrency is 1), in the order
        // they arrived: a tick due before an alarm action runs first, so a controller busy
        // with alarm actions still gets every minute's tick, late. Lambda queues asynchronous
        // events a function has no concurrency for and retries them ("How Lambda handles
        // errors and retries with asynchronous invocation"); it documents no order, so
        // arrival order is this model's assumption.
        for action in actions {
            while next_tick <= action.arrives && next_tick < end {
                driver.on_tick(&world);
                next_tick = next_tick + scenario.tick_every;
            }
            driver.on_alarm(scenario, &world, &action);
        }
        while next_tick <= lock(&world).now() && next_tick < end {
            driver.on_tick(&world);
            next_tick = next_tick + scenario.tick_every;
        }
    }
    let w = lock(&world);
    let mut result = observer.result(strategy, &w, driver.final_state(&w));
    let mut spans = Vec::new();
    if let Driver::Floodgate { phases, stats, .. } = &driver {
        result.phase_changes = Some(phases.changes());
        result.phase_log = phases.log();
        spans = phases.spans(w.now());
        result.controller = Some(stats.clone());
        result.reaction = w
            .circuits
            .first()
            .map(|c| Reaction::of(c, &result.phase_log));
    }
    result.timeline = sampler.finish(w.now(), spans);
    Ok(result)
}

fn lock(world: &Arc<Mutex<World>>) -> std::sync::MutexGuard<'_, World> {
    world.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What drives the mapping besides AWS itself.
enum Driver {
    /// Nothing does.
    Passive,
    /// The toggle, with its pending retries: (when, circuit, enable).
    Toggle {
        retries: Vec<(SimTime, usize, bool, u32)>,
    },
    /// The real controller.
    Floodgate {
        controller: Box<Controller<SimPorts>>,
        phases: Arc<PhaseRecorder>,
        stats: ControllerStats,
        /// The alarms whose actions invoke the controller: those its configuration lists
        /// (a `config_file` may list fewer than the world has).
        alarms: std::collections::BTreeSet<String>,
    },
}

impl Driver {
    fn floodgate(scenario: &Scenario, world: &Arc<Mutex<World>>) -> Result<Self> {
        let config = ControllerConfig::from_json(&scenario.controller_config().to_string())
            .map_err(|e| Error::invalid("floodgate", e.to_string()))?;
        let phases = Arc::new(PhaseRecorder::default());
        let alarms = config
            .circuits()
            .iter()
            .flat_map(|c| c.alarm_names().iter().cloned())
            .collect();
        let controller = Controller::new(config, SimPorts::new(Arc::clone(world)))
            .with_recorder(Arc::clone(&phases) as Arc<dyn Recorder>);
        let mut driver = Self::Floodgate {
            controller: Box::new(controller),
            phases,
            stats: ControllerStats::default(),
            alarms,
        };
        // The first tick adopts the mappings, as after a deployment.
        driver.invoke(world, &json!({"floodgate": "tick"}));
        Ok(driver)
    }

    fn invoke(&mut self, world: &Arc<Mutex<World>>, event: &Value) {
        if let Self::Floodgate {
            controller, stats, ..
        } = self
        {
            let now = wall(lock(world).now());
            let body = event.to_string();
            stats.invocations += 1;
            // A failed invocation is what it is on AWS: logged, and the next tick repairs.
            match run_to_end(controller.handle(body.as_bytes(), now)) {
                Ok(response) => {
                    for failed in response.failed {
                        *stats.circuits_failed.entry(failed.kind).or_default() += 1;
                    }
                    stats.circuits_deferred += response.deferred.len() as u64;
                }
                Err(error) => {
                    let kind = error.kind().to_owned();
                    stats
                        .first_failure
                        .entry(kind.clone())
                        .or_insert_with(|| error.to_string());
                    *stats.failed.entry(kind).or_default() += 1;
                }
            }
        }
    }

    fn on_alarm(&mut self, scenario: &Scenario, world: &Arc<Mutex<World>>, action: &AlarmAction) {
        match self {
            Self::Passive => {}
            Self::Toggle { retries } => {
                let errors = scenario.alarm_name(action.circuit, "errors");
                let mut w = lock(world);
                if w.circuits[action.circuit].alarms[action.alarm].name != errors {
                    return;
                }
                let enable = action.state == AlarmState::Ok;
                if !toggle(&mut w, action.circuit, enable) {
                    let at = w.now() + Duration::from_mins(1);
                    retries.push((at, action.circuit, enable, 1));
                }
            }
            Self::Floodgate { alarms, .. } => {
                let event = {
                    let w = lock(world);
                    let name = &w.circuits[action.circuit].alarms[action.alarm].name;
                    if !alarms.contains(name) {
                        return;
                    }
                    alarm_event(&w, action)
                };
                self.invoke(world, &event);
            }
        }
    }

    fn on_tick(&mut self, world: &Arc<Mutex<World>>) {
        match self {
            Self::Passive => {}
            Self::Toggle { retries } => {
                let mut w = lock(world);
                let now = w.now();
                let due: Vec<_> = retries.iter().copied().filter(|r| r.0 <= now).collect();
                retries.retain(|r| r.0 > now);
                for (_, circuit, enable, attempt) in due {
                    if !toggle(&mut w, circuit, enable) && attempt < 2 {
                        retries.push((now + Duration::from_mins(2), circuit, enable, attempt + 1));
                    }
                }
            }
            Self::Floodgate { .. } => self.invoke(world, &json!({"floodgate": "tick"})),
        }
    }

    /// `floodgate`: each circuit's phase now.
    fn phases(&self) -> Option<std::collections::BTreeMap<String, String>> {
        match self {
            Self::Floodgate { phases, .. } => Some(phases.current()),
            _ => None,
        }
    }

    fn final_state(&self, world: &World) -> String {
        match self {
            Self::Floodgate { phases, .. } => phases.last(),
            _ => world.circuits.first().map_or_else(String::new, |c| {
                let mut mapping = c.consumer.mapping.clone();
                mapping.state(world.now()).to_string()
            }),
        }
    }
}

/// Reads the controller's EMF lines for the phase of each circuit: the last one seen, and how
/// often one changed.
#[derive(Debug, Default)]
struct PhaseRecorder {
    phases: Mutex<(std::collections::BTreeMap<String, String>, Vec<PhaseChange>)>,
    /// When each circuit's phase was first reported, and which it was.
    first: Mutex<std::collections::BTreeMap<String, (u64, String)>>,
}

impl PhaseRecorder {
    /// The phases at the end: the one phase every circuit is in, or each count.
    fn last(&self) -> String {
        let guard = self.phases.lock().unwrap_or_else(PoisonError::into_inner);
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for phase in guard.0.values() {
            *counts.entry(phase).or_default() += 1;
        }
        match counts.len() {
            0 => "unknown".to_owned(),
            1 => counts
                .keys()
                .next()
                .map(ToString::to_string)
                .unwrap_or_default(),
            _ => counts
                .iter()
                .map(|(phase, n)| format!("{n} {phase}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Phase changes seen.
    fn changes(&self) -> u64 {
        self.phases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .len() as u64
    }

    /// Each circuit's phase now.
    fn current(&self) -> std::collections::BTreeMap<String, String> {
        self.phases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    /// Each circuit's phases from its first report to `end`.
    fn spans(&self, end: SimTime) -> Vec<PhaseSpans> {
        let first = self.first.lock().unwrap_or_else(PoisonError::into_inner);
        let log = self.log();
        #[allow(clippy::cast_precision_loss)] // whole seconds
        let end = end.as_millis() as f64 / 1000.0;
        first
            .iter()
            .map(|(circuit, (at, phase))| {
                #[allow(clippy::cast_precision_loss)]
                let mut spans = vec![(*at as f64, end, phase.clone())];
                for change in log.iter().filter(|c| &c.circuit == circuit) {
                    #[allow(clippy::cast_precision_loss)]
                    let at = change.at_s as f64;
                    if let Some(last) = spans.last_mut() {
                        last.1 = at;
                    }
                    spans.push((at, end, change.to.clone()));
                }
                PhaseSpans {
                    circuit: circuit.clone(),
                    spans,
                }
            })
            .collect()
    }

    /// The changes, in order.
    fn log(&self) -> Vec<PhaseChange> {
        self.phases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clone()
    }
}

impl Recorder for PhaseRecorder {
    fn record(&self, line: &str) {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            return;
        };
        let (Some(circuit), Some(phase)) = (
            value.get("Circuit").and_then(Value::as_str),
            value.get("StateName").and_then(Value::as_str),
        ) else {
            return;
        };
        let at = value["_aws"]["Timestamp"].as_i64().unwrap_or_default();
        let at_s = u64::try_from((at - epoch().timestamp_millis()) / 1000).unwrap_or(0);
        {
            let mut first = self.first.lock().unwrap_or_else(PoisonError::into_inner);
            if !first.contains_key(circuit) {
                first.insert(circuit.to_owned(), (at_s, phase.to_owned()));
            }
        }
        let mut guard = self.phases.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = guard.0.insert(circuit.to_owned(), phase.to_owned());
        if let Some(from) = previous.filter(|p| p != phase) {
            guard.1.push(PhaseChange {
                at_s,
                circuit: circuit.to_owned(),
                from,
                to: phase.to_owned(),
            });
        }
    }
}

/// Runs an invocation of the controller to its end. Every port of the simulator answers at
/// once (waiting runs the world forward instead), so the future never waits on anything
/// outside itself: it is polled until it is ready, with no async runtime.
fn run_to_end<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..1_000_000 {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
    panic!("a controller invocation waited on something outside the simulated world");
}

/// The toggle's one call: `UpdateEventSourceMapping Enabled=…` through the control plane;
/// `false` when it was refused.
fn toggle(world: &mut World, circuit: usize, enable: bool) -> bool {
    let now = world.now();
    if !world.control_plane.admit(now) {
        return false;
    }
    world.circuits[circuit]
        .consumer
        .mapping
        .update(now, Some(enable), None)
        .is_ok()
}

/// The payload CloudWatch sends a Lambda alarm action (CloudWatch User Guide, "Lambda alarm
/// actions"), for `action`.
fn alarm_event(world: &World, action: &AlarmAction) -> Value {
    let alarm = &world.circuits[action.circuit].alarms[action.alarm];
    let time = wall(action.changed)
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string();
    let previous = match action.state {
        AlarmState::Alarm => "OK",
        _ => "ALARM",
    };
    json!({
        "source": "aws.cloudwatch",
        "alarmArn": Names::alarm_arn(&alarm.name),
        "accountId": ACCOUNT,
        "time": time,
        "region": REGION,
        "alarmData": {
            "alarmName": alarm.name,
            "state": {"value": action.state.as_str(), "reason": "simulated", "timestamp": time},
            "previousState": {"value": previous, "reason": "simulated", "timestamp": time},
            "configuration": {"metrics": alarm_metrics(alarm)},
        }
    })
}

/// The `configuration.metrics` of `alarm`'s payload, as `DescribeAlarms` would list its
/// `Metrics` (CloudWatch User Guide, "Lambda alarm actions": one `metricStat` for a metric
/// alarm; the expression and its inputs for a metric-math alarm).
fn alarm_metrics(alarm: &SimAlarm) -> Value {
    let period = alarm.config.period_seconds();
    let stat = |id: &str, key: &MetricKey, statistic: Statistic, data: bool| {
        let (name, value) = key
            .dimension
            .split_once('=')
            .unwrap_or((&key.dimension, ""));
        json!({
            "id": id,
            "metricStat": {
                "metric": {"namespace": key.namespace, "name": key.name, "dimensions": {name: value}},
                "period": period,
                "stat": statistic,
            },
            "returnData": data,
        })
    };
    match &alarm.source {
        AlarmSource::Metric(key) => json!([stat("m1", key, alarm.config.statistic(), true)]),
        AlarmSource::ErrorRate {
            errors,
            invocations,
            min_invocations,
        } => json!([
            {
                "id": "rate",
                "expression": format!(
                    "IF(invocations >= {min_invocations}, 100 * errors / invocations, 0)"
                ),
                "label": "Error rate",
                "returnData": true,
            },
            stat("errors", errors, Statistic::Sum, false),
            stat("invocations", invocations, Statistic::Sum, false),
        ]),
    }
}

/// Per circuit, in invocations: the level a tripped circuit probes at (the controller's own
/// `levels.probe`), and the mapping's limit when back to normal: under `floodgate` its
/// `levels.max`, otherwise the mapping's as deployed. In provisioned mode levels count
/// pollers, each driving 10 invocations.
fn circuit_levels(scenario: &Scenario, strategy: &str) -> Vec<(u32, Option<u32>)> {
    let config = scenario.controller_config();
    let level = |index: usize, name: &str| {
        config["circuits"][index]["levels"][name]
            .as_u64()
            .and_then(|l| u32::try_from(l).ok())
    };
    (0..scenario.circuits)
        .map(|index| {
            let probe =
                level(index, "probe").unwrap_or(floodgate_core::policy::config::DEFAULT_PROBE);
            let deployed = match scenario.consumer.provisioned {
                Some(p) => Some(p.maximum_pollers),
                None => scenario.consumer.maximum_concurrency,
            };
            let normal = if strategy == "floodgate" {
                level(index, "max")
            } else {
                deployed
            };
            let unit = if scenario.consumer.provisioned.is_some() {
                floodgate_core::ports::INVOKES_PER_POLLER
            } else {
                1
            };
            (probe * unit, normal.map(|n| n * unit))
        })
        .collect()
}

/// Follows the world for the report.
struct Observer {
    fault_start: Option<SimTime>,
    fault_end: Option<SimTime>,
    /// Per circuit: the level a tripped circuit probes at, and the `MaximumConcurrency` of a
    /// circuit back to normal.
    levels: Vec<(u32, Option<u32>)>,
    backlog_at_fault: Option<u64>,
    protected_at: Option<SimTime>,
    recovered_at: Option<SimTime>,
    overflow_peak: u64,
}

impl Observer {
    fn new(scenario: &Scenario, strategy: &str) -> Self {
        let fault_start = scenario.downstream.faults.iter().map(|f| f.start).min();
        // A window that ends after an event has its end once the event happened (`sample`).
        let fault_end = scenario
            .downstream
            .faults
            .iter()
            .map(super::scenario::FaultSpec::end)
            .collect::<Option<Vec<_>>>()
            .and_then(|ends| ends.into_iter().max());
        Self {
            fault_start: fault_start.map(|d| SimTime::ZERO + d),
            fault_end: fault_end.map(|d| SimTime::ZERO + d),
            levels: circuit_levels(scenario, strategy),
            backlog_at_fault: None,
            protected_at: None,
            recovered_at: None,
            overflow_peak: 0,
        }
    }

    fn sample(&mut self, world: &mut World) {
        let now = world.now();
        if self.fault_end.is_none() && self.fault_start.is_some() {
            self.fault_end = world
                .circuits
                .iter()
                .map(|c| c.downstream.faults_end())
                .collect::<Option<Vec<_>>>()
                .and_then(|ends| ends.into_iter().max());
        }
        let mut backlog = 0;
        let mut all_protected = true;
        let mut all_normal = true;
        for (c, &(probe, normal)) in world.circuits.iter_mut().zip(&self.levels) {
            let depth = c.source.depth(now);
            backlog += depth.visible;
            let overflow = c.overflow.len() as u64;
            self.overflow_peak = self.overflow_peak.max(overflow);
            let polls = c.consumer.mapping.polls(now);
            let limit = [c.consumer.mapping.invocation_limit(), c.consumer.reserved]
                .into_iter()
                .flatten()
                .min();
            all_protected &= !polls || limit.is_some_and(|l| l <= probe);
            all_normal &= polls && c.consumer.mapping.invocation_limit() == normal && overflow == 0;
        }
        if let Some(start) = self.fault_start
            && now >= start
        {
            self.backlog_at_fault.get_or_insert(backlog);
            if all_protected && self.protected_at.is_none() {
                self.protected_at = Some(now);
            }
        }
        if let Some(end) = self.fault_end
            && now >= end
            && self.recovered_at.is_none()
            && all_normal
            && backlog <= self.backlog_at_fault.unwrap_or(0)
        {
            self.recovered_at = Some(now);
        }
    }

    fn result(&self, strategy: &str, world: &World, final_state: String) -> StrategyResult {
        let mut r = StrategyResult {
            strategy: strategy.to_owned(),
            sent: 0,
            consumed: 0,
            dead_lettered: 0,
            expired: 0,
            lost: 0,
            duplicates: 0,
            still_queued: 0,
            overflow_peak: self.overflow_peak,
            time_to_protect_s: self
                .fault_start
                .zip(self.protected_at)
                .map(|(start, at)| at.since(start).as_secs_f64()),
            time_to_recover_s: self
                .fault_end
                .zip(self.recovered_at)
                .map(|(end, at)| at.since(end).as_secs_f64()),
            downstream_failed_calls: 0,
            downstream_overload_s: 0,
            failed_invocations: 0,
            throttled_invocations: 0,
            control_plane_calls: world.control_plane.calls,
            transitions: 0,
            final_state,
            phase_changes: None,
            controller: None,
            phase_log: Vec::new(),
            reaction: None,
            timeline: Timeline::default(),
        };
        for (c, a) in world.circuits.iter().zip(world.accounting()) {
            r.sent += a.sent;
            r.consumed += a.consumed;
            r.dead_lettered += a.dead_lettered;
            r.expired += a.expired;
            r.lost += a.lost;
            r.duplicates += a.duplicates;
            r.still_queued += a.still_queued;
            r.downstream_failed_calls += c.downstream.failed_calls();
            r.downstream_overload_s += c.downstream.overloaded_seconds();
            r.failed_invocations += c.consumer.counts().errors;
            r.throttled_invocations += c.consumer.counts().throttles;
            r.transitions += c.consumer.mapping.updates();
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const OUTAGE: &str = r#"
        name = "outage"
        duration = "40m"
        load = { kind = "constant", rate = 20 }
        load_for = "30m"
        consumer = { maximum_concurrency = 20 }
        [downstream]
        capacity_per_sec = 200
        latency = "20ms"
        [[downstream.faults]]
        start = "5m"
        for = "10m"
        fault = { kind = "outage" }
        [floodgate]
        levels = { max = 20, safe = 5 }
    "#;

    #[test]
    fn every_strategy_loses_nothing_and_floodgate_protects() {
        let scenario = Scenario::from_toml(OUTAGE, Path::new("outage.toml")).expect("valid");
        let profile = Profile::aws();
        let none = run(&scenario, &profile, "none").expect("runs");
        let floodgate = run(&scenario, &profile, "floodgate").expect("runs");
        for r in [&none, &floodgate] {
            assert_eq!(r.lost, 0, "{r:#?}");
            assert_eq!(r.sent, 36_000, "{r:#?}");
        }
        assert!(
            none.dead_lettered > 0,
            "an outage with nothing in front burns the DLQ: {none:#?}"
        );
        assert!(none.time_to_protect_s.is_none());
        // Every alarm action reached the controller as a payload it accepts.
        let stats = floodgate
            .controller
            .as_ref()
            .expect("floodgate's invocations");
        assert!(stats.failed.is_empty(), "{stats:#?}");
        assert!(
            stats.invocations > 40,
            "ticks and alarm actions: {stats:#?}"
        );
        assert!(
            floodgate.time_to_protect_s.is_some(),
            "the controller opened the circuit: {floodgate:#?}"
        );
        assert!(
            floodgate.dead_lettered < none.dead_lettered,
            "{floodgate:#?}"
        );
    }

    /// A consumer too slow for its load (two invocations of a second each, 20 msg/s in):
    /// nothing fails, the backlog only ages.
    const SLOW: &str = r#"
        name = "slow"
        duration = "15m"
        load = { kind = "constant", rate = 20 }
        consumer = { maximum_concurrency = 2, batch_size = 1 }
        downstream = { capacity_per_sec = 100, latency = "1s" }
        [alarms]
        depth = false
    "#;

    #[test]
    fn the_age_alarm_reaches_the_controller_as_a_metric_alarm_and_throttles() {
        let scenario = Scenario::from_toml(SLOW, Path::new("slow.toml")).expect("valid");
        let world = scenario.world(&Profile::aws(), None).expect("a world");
        let action = AlarmAction {
            circuit: 0,
            alarm: 2,
            state: AlarmState::Alarm,
            changed: SimTime::from_secs(300),
            arrives: SimTime::from_secs(300),
        };
        let event = alarm_event(&world, &action);
        assert_eq!(event["alarmData"]["alarmName"], json!("slow-0-age"));
        assert_eq!(
            event["alarmData"]["configuration"]["metrics"],
            json!([{
                "id": "m1",
                "metricStat": {
                    "metric": {
                        "namespace": "AWS/SQS",
                        "name": "ApproximateAgeOfOldestMessage",
                        "dimensions": {"QueueName": scenario.names(0).source},
                    },
                    "period": 60,
                    "stat": "Maximum",
                },
                "returnData": true,
            }])
        );
        let floodgate = run(&scenario, &Profile::aws(), "floodgate").expect("runs");
        let stats = floodgate.controller.as_ref().expect("invocations");
        assert!(stats.failed.is_empty(), "{stats:#?}");
        assert_eq!(floodgate.failed_invocations, 0, "{floodgate:#?}");
        // Backlog class: it throttles the Closed circuit, it does not trip it.
        assert!(
            floodgate.phase_log.iter().any(|c| c.to == "throttled"),
            "{:#?}",
            floodgate.phase_log
        );
        assert!(
            floodgate.phase_log.iter().all(|c| c.to != "open"),
            "{:#?}",
            floodgate.phase_log
        );
    }

    #[test]
    fn the_same_scenario_and_seed_give_byte_identical_results() {
        let scenario = Scenario::from_toml(OUTAGE, Path::new("outage.toml")).expect("valid");
        let profile = Profile::aws();
        for strategy in STRATEGIES {
            let a = run(&scenario, &profile, strategy).expect("runs");
            let b = run(&scenario, &profile, strategy).expect("runs");
            assert_eq!(
                serde_json::to_string(&a).expect("json"),
                serde_json::to_string(&b).expect("json"),
                "{strategy}"
            );
        }
    }

    #[test]
    fn floodgate_drives_a_provisioned_mapping_through_its_pollers() {
        let text = OUTAGE
            .replace(
                "consumer = { maximum_concurrency = 20 }",
                "consumer = { provisioned = { minimum_pollers = 2, maximum_pollers = 10 } }",
            )
            .replace(
                "levels = { max = 20, safe = 5 }",
                "levels = { max = 10, safe = 3 }",
            );
        let scenario = Scenario::from_toml(&text, Path::new("provisioned.toml")).expect("valid");
        let profile = Profile::aws();
        let none = run(&scenario, &profile, "none").expect("runs");
        let floodgate = run(&scenario, &profile, "floodgate").expect("runs");
        for r in [&none, &floodgate] {
            assert_eq!(r.lost, 0, "{r:#?}");
        }
        // Two pollers always ready: never fewer than 20 batches (standard mode idles at 5),
        // and never more than 10 pollers × 10 invokes.
        let batches = || none.timeline.points.iter().map(|p| p.batches);
        assert_eq!(batches().min(), Some(20));
        assert_eq!(batches().max(), Some(100));
        assert!(
            floodgate.transitions > 0 && floodgate.time_to_protect_s.is_some(),
            "the controller set MaximumPollers down to its probe level: {floodgate:#?}"
        );
        assert!(
            floodgate
                .timeline
                .points
                .iter()
                .any(|p| p.limit.is_some_and(|l| l <= 20)),
            "held at 2 pollers (20 invocations) or fewer at some point"
        );
        assert!(
            floodgate.dead_lettered < none.dead_lettered,
            "{floodgate:#?}"
        );
    }

    #[test]
    fn provisioned_mode_is_refused_under_the_localstack_profile() {
        let text = OUTAGE.replace(
            "consumer = { maximum_concurrency = 20 }",
            "consumer = { provisioned = { minimum_pollers = 2, maximum_pollers = 10 } }",
        );
        let scenario = Scenario::from_toml(&text, Path::new("provisioned.toml")).expect("valid");
        let err = run(&scenario, &Profile::localstack(), "none").expect_err("not modelled");
        assert!(err.to_string().contains("consumer.provisioned"), "{err}");
        let both = OUTAGE.replace(
            "consumer = { maximum_concurrency = 20 }",
            "consumer = { maximum_concurrency = 20, provisioned = { maximum_pollers = 10 } }",
        );
        let err = Scenario::from_toml(&both, Path::new("both.toml")).expect_err("exclusive");
        assert!(err.to_string().contains("not both"), "{err}");
        let low = text.replace("minimum_pollers = 2", "minimum_pollers = 1");
        let err = Scenario::from_toml(&low, Path::new("low.toml")).expect_err("below 2");
        assert!(
            err.to_string().contains("minimum_pollers must be 2 to 200"),
            "{err}"
        );
    }

    fn short_scenario(rate: u32, start_s: u64, length_s: u64, ratio: f64, seed: u64) -> Scenario {
        let text = format!(
            r#"
            name = "prop"
            duration = "12m"
            seed = {seed}
            load = {{ kind = "constant", rate = {rate} }}
            load_for = "10m"
            consumer = {{ maximum_concurrency = 10, visibility_timeout = "10s", max_receive_count = 3 }}
            [downstream]
            capacity_per_sec = 100
            latency = "20ms"
            [[downstream.faults]]
            start = "{start_s}s"
            for = "{length_s}s"
            fault = {{ kind = "error_ratio", ratio = {ratio} }}
            [floodgate]
            levels = {{ max = 10, safe = 4 }}
            timings = {{ open_wait_secs = 30, min_dwell_secs = 10, healthy_dwell_secs = 30, probe_window_secs = 30, ramp_step_secs = 10, throttle_step_secs = 10 }}
            overflow = {{ ceiling = 50, replay_after_secs = 10 }}
            "#
        );
        Scenario::from_toml(&text, Path::new("prop.toml")).expect("valid")
    }

    /// Whatever the load, the fault and the strategy, every message sent is somewhere at the
    /// end: consumed, queued, dead-lettered or expired. 16 cases: each runs a simulation, and
    /// `PROPTEST_CASES` (set for the fast properties) must not multiply them, so the runner is
    /// built here rather than by `proptest!`, which applies that variable.
    #[test]
    fn no_strategy_ever_loses_a_message() {
        use proptest::prelude::*;
        let config = ProptestConfig {
            cases: 16,
            max_shrink_iters: 32,
            ..ProptestConfig::default()
        };
        let cases = (
            1u32..80,
            0u64..300,
            1u64..400,
            0.0f64..1.0,
            0u64..1000,
            proptest::sample::select(STRATEGIES.to_vec()),
        );
        proptest::test_runner::TestRunner::new(config)
            .run(
                &cases,
                |(rate, start_s, length_s, ratio, seed, strategy)| {
                    let scenario = short_scenario(rate, start_s, length_s, ratio, seed);
                    let r = run(&scenario, &Profile::aws(), strategy).expect("runs");
                    prop_assert_eq!(r.lost, 0, "{:#?}", r);
                    prop_assert_eq!(
                        r.consumed + r.still_queued + r.dead_lettered + r.expired,
                        r.sent
                    );
                    Ok(())
                },
            )
            .unwrap_or_else(|failure| panic!("{failure}"));
    }
}
