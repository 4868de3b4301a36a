//! Shared scaffolding of the overflow tests: one circuit "orders" with an overflow queue, over
//! an in-memory AWS whose source and overflow queues hold real messages.

#![allow(dead_code)] // each test file uses a different part

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use floodgate_core::overflow::Provenance;
use floodgate_core::policy::AlarmState;
use floodgate_core::ports::{AttributeValue, MessageAttribute, OutgoingMessage};
use floodgate_core::protocol::{OverflowReport, Response};
use floodgate_core::retry::RetryPolicy;
use floodgate_core::{Controller, ControllerConfig, Operation};
use floodgate_testkit::{FakeAws, FakeMessage, MemoryRecorder};
use serde_json::{Value, json};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const UUID: &str = "14e0db71-5d35-4eb5-b481-8945cf9d10c2";
pub const FUNCTION: &str = "orders-consumer";
pub const SOURCE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/orders";
pub const OVERFLOW: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-overflow";
/// The source's DLQ (its redrive policy's `deadLetterTargetArn`).
pub const DLQ: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq";
/// The source's `maxReceiveCount`.
pub const MAX_RECEIVES: u32 = 5;
pub const ERRORS: &str = "orders-errors";
pub const DEPTH: &str = "orders-depth";
/// The ceiling of the test circuit.
pub const CEILING: u64 = 20;
/// [`CEILING`] as a message count.
pub const CEILING_COUNT: usize = 20;
/// How long the test circuit waits in Closed before replaying.
pub const REPLAY_AFTER_SECS: i64 = 120;

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

/// The overflow block of the test circuit: ceiling 20, replay after 120 s, and rates high
/// enough that tests not about pacing do not wait on it.
pub fn overflow_json() -> Value {
    json!({
        "queue_url": OVERFLOW,
        "ceiling": CEILING,
        "move_rate_per_sec": 3000,
        "max_moves_per_invocation": 1000,
        "replay_after_secs": REPLAY_AFTER_SECS,
        "replay_rate_per_sec": 3000,
        "max_replays_per_invocation": 1000
    })
}

/// The whole configuration, with `change` applied to the overflow block.
pub fn config_json_with(change: impl FnOnce(&mut Value)) -> Value {
    let mut overflow = overflow_json();
    change(&mut overflow);
    json!({
        "account_id": ACCOUNT,
        "region": REGION,
        "circuits": [{
            "name": "orders",
            "event_source_mapping_uuid": UUID,
            "function_name": FUNCTION,
            "queue_url": SOURCE,
            "alarms": [
                {"name": ERRORS, "kind": "errors"},
                {"name": DEPTH, "kind": "depth"}
            ],
            "levels": {"max": 16, "safe": 8, "probe": 2},
            "overflow": overflow
        }]
    })
}

pub fn config_with(change: impl FnOnce(&mut Value)) -> ControllerConfig {
    ControllerConfig::from_json(&config_json_with(change).to_string())
        .expect("the test config is valid")
}

/// The mapping, every alarm OK for an hour, and three empty message queues: the source
/// (redrive to [`DLQ`] after [`MAX_RECEIVES`] receives), its DLQ and the overflow queue.
pub fn world() -> FakeAws {
    let aws = FakeAws::new();
    aws.add_mapping(UUID, REGION, ACCOUNT, FUNCTION);
    for alarm in [ERRORS, DEPTH] {
        aws.set_alarm(alarm, AlarmState::Ok, at(-3600));
    }
    aws.add_queue(SOURCE);
    aws.add_queue(OVERFLOW);
    aws.set_redrive(SOURCE, DLQ, MAX_RECEIVES);
    aws
}

/// `n` distinct JSON bodies tagged with `tag`.
pub fn bodies(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|seq| json!({"tag": tag, "seq": seq}).to_string())
        .collect()
}

/// A message with `attributes` string attributes of its own.
pub fn with_attributes(body: &str, attributes: usize) -> OutgoingMessage {
    let mut message = OutgoingMessage::new(body);
    message.attributes = (0..attributes)
        .map(|i| {
            (
                format!("attr{i}"),
                MessageAttribute::string(format!("v{i}")),
            )
        })
        .collect::<BTreeMap<_, _>>();
    message
}

/// A message as a move of the test circuit leaves it in the overflow queue: its provenance
/// says it came from `from`, after `replays` replays and `receives` deliveries in the source.
pub fn moved_from(body: &str, from: &str, replays: u32, receives: u32) -> OutgoingMessage {
    let mut message = OutgoingMessage::new(body);
    message.attributes.insert(
        "floodgate-moved".into(),
        MessageAttribute::string(
            json!({
                "circuit": "orders", "from": from, "to": OVERFLOW,
                "at": "2026-11-21T11:00:00Z", "reason": "open: test",
                "message_id": "m-original", "hops": 1 + 2 * replays,
                "replays": replays, "receives": receives,
            })
            .to_string(),
        ),
    );
    message
}

/// Puts `bodies` into the overflow queue as moved from [`SOURCE`].
pub fn park(aws: &FakeAws, bodies: &[String]) {
    aws.push_messages(OVERFLOW, bodies.iter().map(|b| moved_from(b, SOURCE, 0, 0)));
}

/// The controller under test, its in-memory AWS and its EMF lines.
pub struct Harness {
    pub controller: Controller<FakeAws>,
    pub metrics: Arc<MemoryRecorder>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(config_with(|_| {}))
    }

    pub fn with(config: ControllerConfig) -> Self {
        let metrics = Arc::new(MemoryRecorder::default());
        // No retries: a fault injected once stays visible in the outcome.
        let controller = Controller::new(config, world())
            .with_retry(RetryPolicy::NONE)
            .with_recorder(metrics.clone());
        Self {
            controller,
            metrics,
        }
    }

    /// A circuit that has run once at `t0` (Closed since then); calls and metrics forgotten.
    pub async fn settled() -> Self {
        Self::settled_with(config_with(|_| {})).await
    }

    pub async fn settled_with(config: ControllerConfig) -> Self {
        let harness = Self::with(config);
        harness.tick(t0()).await;
        harness.aws().take_calls();
        harness.metrics.take();
        harness
    }

    pub fn aws(&self) -> &FakeAws {
        self.controller.ports()
    }

    pub async fn tick(&self, now: DateTime<Utc>) -> Response {
        self.controller
            .handle(br#"{"floodgate":"tick"}"#, now)
            .await
            .expect("the tick succeeds")
    }

    /// The errors alarm fires at `secs - 5` and a tick at `secs` sees it.
    pub async fn trip(&self, secs: i64) -> Response {
        self.aws()
            .set_alarm(ERRORS, AlarmState::Alarm, at(secs - 5));
        self.tick(at(secs)).await
    }

    /// The EMF lines since the last look, parsed.
    pub fn metrics(&self) -> Vec<Value> {
        self.metrics
            .take()
            .iter()
            .map(|line| serde_json::from_str(line).expect("EMF lines are JSON"))
            .collect()
    }

    /// The overflow EMF line since the last look.
    pub fn overflow_metrics(&self) -> Value {
        let lines: Vec<Value> = self
            .metrics()
            .into_iter()
            .filter(|l| l.get("OverflowAction").is_some())
            .collect();
        assert_eq!(lines.len(), 1, "one overflow EMF line: {lines:?}");
        lines.into_iter().next().expect("one line")
    }

    /// The one message in queue `url`.
    ///
    /// # Panics
    /// If there is not exactly one.
    pub fn only_message(&self, url: &str) -> FakeMessage {
        let [message] = self
            .aws()
            .all_messages(url)
            .try_into()
            .unwrap_or_else(|all: Vec<FakeMessage>| panic!("expected one message, got {all:?}"));
        message
    }

    pub fn bodies_in(&self, url: &str) -> Vec<String> {
        let mut bodies: Vec<String> = self
            .aws()
            .all_messages(url)
            .into_iter()
            .map(|m| m.body)
            .collect();
        bodies.sort();
        bodies
    }
}

/// The overflow report of the only circuit in `response`.
pub fn report(response: &Response) -> &OverflowReport {
    response.circuits[0]
        .overflow
        .as_ref()
        .expect("the circuit has an overflow report")
}

/// Asserts that the step stopped early for a reason containing `why`.
pub fn assert_stopped(report: &OverflowReport, why: &str) {
    assert!(
        report.stopped.as_deref().is_some_and(|s| s.contains(why)),
        "expected a stop for {why:?}, got {:?}",
        report.stopped
    );
}

/// How many of `calls` are of `operation`.
pub fn count_calls(calls: &[floodgate_testkit::Call], operation: Operation) -> usize {
    calls.iter().filter(|c| c.operation() == operation).count()
}

/// The provenance a message carries in attribute `name`.
pub fn provenance(message: &FakeMessage, name: &str) -> Provenance {
    let attribute = message
        .attributes
        .get(name)
        .unwrap_or_else(|| panic!("{} has no {name}", message.body));
    assert_eq!(attribute.data_type, "String");
    match &attribute.value {
        AttributeValue::String(json) => serde_json::from_str(json).expect("provenance JSON"),
        AttributeValue::Binary(_) => panic!("provenance is a string attribute"),
    }
}

pub fn sorted(mut bodies: Vec<String>) -> Vec<String> {
    bodies.sort();
    bodies
}
