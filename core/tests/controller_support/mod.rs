//! Shared scaffolding of the controller tests: one circuit "orders" over an in-memory AWS,
//! real alarm payload fixtures, and builders for the exact AWS calls a scenario expects.

#![allow(dead_code)] // each test file uses a different part

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use floodgate_core::policy::{AlarmState, CircuitState, Override, OverrideKind, Phase};
use floodgate_core::protocol::Response;
use floodgate_core::{Controller, ControllerConfig, Error};
use floodgate_testkit::{Call, FakeAws, MemoryRecorder};
use serde_json::{Value, json};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const UUID: &str = "14e0db71-5d35-4eb5-b481-8945cf9d10c2";
pub const FUNCTION: &str = "orders-consumer";
pub const QUEUE_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/orders";
pub const ESM_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:14e0db71-5d35-4eb5-b481-8945cf9d10c2";
pub const ERRORS: &str = "orders-errors";
pub const THROTTLES: &str = "orders-throttles";
pub const DEPTH: &str = "orders-depth";
pub const ALARMS: [&str; 3] = [ERRORS, THROTTLES, DEPTH];
/// The circuit's levels.
pub const MAX: u32 = 16;
pub const SAFE: u32 = 8;
pub const PROBE: u32 = 2;

/// 2026-11-21T12:00:00Z, where every scenario starts.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
        .expect("a valid time")
        .with_timezone(&Utc)
}

/// `t0` plus `secs` seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(secs)
}

/// The "orders" circuit, with default timings: open wait 60 s (+ up to 20 % jitter), healthy
/// dwell 120 s, minimum dwell 30 s, probe window, ramp step and throttle step 60 s.
pub fn circuit_json() -> Value {
    json!({
        "name": "orders",
        "event_source_mapping_uuid": UUID,
        "function_name": FUNCTION,
        "queue_url": QUEUE_URL,
        "alarms": [
            {"name": ERRORS, "kind": "errors"},
            {"name": THROTTLES, "kind": "throttles"},
            {"name": DEPTH, "kind": "depth"}
        ],
        "levels": {"max": MAX, "safe": SAFE, "probe": PROBE}
    })
}

/// The UUID of the second circuit's mapping, "payments".
pub const PAYMENTS_UUID: &str = "0b7a4e4c-2d8f-4a51-9d3e-6f1c2b3a4d5e";

/// A second circuit, "payments", with one errors alarm and no queue.
pub fn payments_circuit_json() -> Value {
    json!({
        "name": "payments",
        "event_source_mapping_uuid": PAYMENTS_UUID,
        "function_name": "payments-consumer",
        "alarms": [{"name": "payments-errors", "kind": "errors"}],
        "levels": {"max": MAX, "safe": SAFE, "probe": PROBE}
    })
}

/// Both circuits, payments first.
pub fn two_circuits_config() -> ControllerConfig {
    let mut doc = config_json();
    doc["circuits"] = json!([payments_circuit_json(), circuit_json()]);
    ControllerConfig::from_json(&doc.to_string()).expect("the test config is valid")
}

pub fn config_json() -> Value {
    json!({
        "account_id": ACCOUNT,
        "region": REGION,
        "circuits": [circuit_json()]
    })
}

pub fn config() -> ControllerConfig {
    ControllerConfig::from_json(&config_json().to_string()).expect("the test config is valid")
}

/// A controller over an in-memory AWS holding the circuit's resources: the mapping enabled
/// with no `MaximumConcurrency` and no tags, no reserved concurrency, every alarm OK for an
/// hour, 42 messages visible.
pub struct Harness {
    pub controller: Controller<FakeAws>,
    pub metrics: Arc<MemoryRecorder>,
}

pub fn world() -> FakeAws {
    let aws = FakeAws::new();
    aws.add_mapping(UUID, REGION, ACCOUNT, FUNCTION);
    for alarm in ALARMS {
        aws.set_alarm(alarm, AlarmState::Ok, at(-3600));
    }
    aws.set_queue(QUEUE_URL, 42, 3);
    aws
}

impl Harness {
    pub fn new() -> Self {
        Self::with(config(), world())
    }

    pub fn with(config: ControllerConfig, aws: FakeAws) -> Self {
        let metrics = Arc::new(MemoryRecorder::default());
        let controller = Controller::new(config, aws).with_recorder(metrics.clone());
        Self {
            controller,
            metrics,
        }
    }

    /// A circuit that has run once at `t0`: Closed, `MaximumConcurrency` and reserved
    /// concurrency at `max`, state tags written. Calls and metrics so far are forgotten.
    pub async fn settled() -> Self {
        let harness = Self::new();
        harness.tick(t0()).await;
        harness.aws().take_calls();
        harness.metrics.take();
        harness
    }

    pub fn aws(&self) -> &FakeAws {
        self.controller.ports()
    }

    pub async fn send(&self, body: &[u8], now: DateTime<Utc>) -> Result<Response, Error> {
        self.controller.handle(body, now).await
    }

    pub async fn send_json(&self, value: &Value, now: DateTime<Utc>) -> Result<Response, Error> {
        self.send(value.to_string().as_bytes(), now).await
    }

    pub async fn tick(&self, now: DateTime<Utc>) -> Response {
        self.send_json(&json!({"floodgate": "tick"}), now)
            .await
            .expect("the tick succeeds")
    }

    pub async fn command(&self, command: Value, now: DateTime<Utc>) -> Result<Response, Error> {
        let mut request = command;
        request["floodgate"] = json!("command");
        self.send_json(&request, now).await
    }

    /// The calls since the last look.
    pub fn calls(&self) -> Vec<Call> {
        self.aws().take_calls()
    }

    /// The EMF lines since the last look, parsed.
    pub fn metrics(&self) -> Vec<Value> {
        self.metrics
            .take()
            .iter()
            .map(|line| serde_json::from_str(line).expect("EMF lines are JSON"))
            .collect()
    }

    /// The circuit's state as its tags say.
    pub fn persisted(&self) -> CircuitState {
        CircuitState::from_tags(&self.aws().mapping(UUID).tags, t0()).expect("readable state tags")
    }
}

/// The five reads of every reconcile, in order.
pub fn reads() -> Vec<Call> {
    vec![
        Call::GetEventSourceMapping { uuid: UUID.into() },
        Call::ListTags {
            resource: ESM_ARN.into(),
        },
        Call::GetFunctionConcurrency {
            function: FUNCTION.into(),
        },
        Call::DescribeAlarms {
            names: ALARMS.iter().map(|&a| a.to_owned()).collect(),
        },
        Call::GetQueueAttributes {
            queue_url: QUEUE_URL.into(),
        },
    ]
}

/// The reads of a half-open circuit: the five, then the probe's traffic.
pub fn probe_reads() -> Vec<Call> {
    let mut calls = reads();
    calls.push(Call::GetMetricData {
        function: FUNCTION.into(),
    });
    calls
}

/// A read of the mapping, as a lowering waits for it to settle before lowering reserved
/// concurrency.
pub fn settle_read() -> Call {
    Call::GetEventSourceMapping { uuid: UUID.into() }
}

/// Write-ahead: the state tagged `pending`, then `calls`, then the state tagged done.
pub fn applied(state: &CircuitState, calls: impl IntoIterator<Item = Call>) -> Vec<Call> {
    let mut out = vec![tag(&pending(state))];
    out.extend(calls);
    out.push(tag(state));
    out
}

/// The reads followed by `writes`.
pub fn reads_then(writes: impl IntoIterator<Item = Call>) -> Vec<Call> {
    let mut calls = reads();
    calls.extend(writes);
    calls
}

/// One `UpdateEventSourceMapping` of the circuit's mapping.
pub fn update(enabled: Option<bool>, maximum_concurrency: Option<u32>) -> Call {
    Call::UpdateEventSourceMapping {
        uuid: UUID.into(),
        enabled,
        maximum_concurrency,
        pollers: None,
    }
}

pub fn enable() -> Call {
    update(Some(true), None)
}

pub fn disable() -> Call {
    update(Some(false), None)
}

/// Disable and lower `MaximumConcurrency` in one call, as a trip does.
pub fn disable_to(n: u32) -> Call {
    update(Some(false), Some(n))
}

pub fn set_max(n: u32) -> Call {
    update(None, Some(n))
}

pub fn reserve(n: u32) -> Call {
    Call::PutFunctionConcurrency {
        function: FUNCTION.into(),
        reserved: n,
    }
}

pub fn tag(state: &CircuitState) -> Call {
    Call::TagResource {
        resource: ESM_ARN.into(),
        tags: state.to_tags(),
    }
}

/// Fires the errors alarm 5 s before `at(now)` and delivers its alarm action then.
pub async fn trip(h: &Harness, now: i64) -> Result<Response, Error> {
    h.aws().set_alarm(ERRORS, AlarmState::Alarm, at(now - 5));
    h.send_json(
        &alarm_action(ERRORS, AlarmState::Alarm, at(now - 5)),
        at(now),
    )
    .await
}

/// `state` as written ahead of its calls: marked pending.
pub fn pending(state: &CircuitState) -> CircuitState {
    CircuitState {
        pending: true,
        ..state.clone()
    }
}

/// Open since `at(secs)` after a first trip.
pub fn open(secs: i64) -> CircuitState {
    state(Phase::Open {
        since: at(secs),
        trips: 1,
    })
}

/// The calls of a trip from Closed at `max`: the reads, disable and lower
/// `MaximumConcurrency` in one update, lower reserved concurrency, record `recorded`.
pub fn trip_calls(recorded: &CircuitState) -> Vec<Call> {
    reads_then(applied(
        recorded,
        [disable_to(PROBE), settle_read(), reserve(PROBE)],
    ))
}

pub fn state(phase: Phase) -> CircuitState {
    CircuitState {
        phase,
        override_: None,
        dry_run: false,
        pending: false,
    }
}

pub fn overridden(phase: Phase, kind: OverrideKind, until: Option<DateTime<Utc>>) -> CircuitState {
    CircuitState {
        phase,
        override_: Some(Override {
            kind,
            reason: "downstream outage".into(),
            actor: "alice".into(),
            until,
        }),
        dry_run: false,
        pending: false,
    }
}

pub fn fixture(name: &str) -> Value {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "controller_fixtures",
        name,
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path).expect("the fixture exists");
    serde_json::from_str(&text).expect("the fixture is JSON")
}

fn cloudwatch_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// The direct alarm action CloudWatch sends when `alarm` enters `state` at `since`.
pub fn alarm_action(alarm: &str, state: AlarmState, since: DateTime<Utc>) -> Value {
    alarm_action_from(alarm, state, since, ACCOUNT, REGION)
}

/// [`alarm_action`] from another account or region.
pub fn alarm_action_from(
    alarm: &str,
    state: AlarmState,
    since: DateTime<Utc>,
    account: &str,
    region: &str,
) -> Value {
    let mut event = fixture("alarm-action-errors.json");
    event["alarmArn"] = json!(format!(
        "arn:aws:cloudwatch:{region}:{account}:alarm:{alarm}"
    ));
    event["accountId"] = json!(account);
    event["region"] = json!(region);
    event["time"] = json!(cloudwatch_time(since));
    event["alarmData"]["alarmName"] = json!(alarm);
    event["alarmData"]["state"]["value"] = json!(state.as_str());
    event["alarmData"]["state"]["timestamp"] = json!(cloudwatch_time(since));
    event
}
