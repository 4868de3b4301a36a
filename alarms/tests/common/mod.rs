//! Helpers shared by the integration tests: fixtures, mutations of them, expected values.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use alarms::{AlarmError, AlarmSignal, MetricIdentity};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Every fixture under `tests/fixtures`, by file name.
pub const FIXTURES: [&str; 12] = [
    "lambda-metric.json",
    "lambda-composite.json",
    "lambda-metric-math.json",
    "lambda-long-period.json",
    "localstack-lambda-list-dimensions.json",
    "localstack-lambda-metric-math.json",
    "sns-metric.json",
    "sns-composite.json",
    "sns-metric-math.json",
    "localstack-sns-metric.json",
    "eventbridge-metric.json",
    "eventbridge-composite.json",
];

pub fn fixture_bytes(name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

pub fn fixture_value(name: &str) -> Value {
    serde_json::from_slice(&fixture_bytes(name)).expect("fixtures are JSON")
}

pub fn parse_fixture(name: &str) -> AlarmSignal {
    alarms::parse_event(&fixture_bytes(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// Parses `fixture` after `mutate` has edited its JSON.
pub fn parse_mutated(
    fixture: &str,
    mutate: impl FnOnce(&mut Value),
) -> Result<AlarmSignal, AlarmError> {
    let mut value = fixture_value(fixture);
    mutate(&mut value);
    alarms::parse_event(&serde_json::to_vec(&value).expect("serialisable"))
}

/// Parses an SNS fixture after `mutate` has edited the notification inside `Sns.Message`.
pub fn parse_with_sns_message(
    fixture: &str,
    mutate: impl FnOnce(&mut Value),
) -> Result<AlarmSignal, AlarmError> {
    parse_mutated(fixture, |event| {
        let slot = event
            .pointer_mut("/Records/0/Sns/Message")
            .expect("SNS fixture");
        let mut message: Value =
            serde_json::from_str(slot.as_str().expect("string")).expect("JSON");
        mutate(&mut message);
        *slot = Value::String(message.to_string());
    })
}

/// Sets the value at a JSON pointer that must exist.
pub fn set(value: &mut Value, pointer: &str, new: Value) {
    *value
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}")) = new;
}

/// Removes the key at a JSON pointer that must exist.
pub fn remove(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer with a key");
    value
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|object| object.remove(key))
        .unwrap_or_else(|| panic!("no {pointer}"));
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test timestamps are RFC 3339")
        .with_timezone(&Utc)
}

/// A metric the alarm fetches.
pub fn fetched(
    id: Option<&str>,
    namespace: &str,
    metric_name: &str,
    dimensions: &[(&str, &str)],
    statistic: &str,
    period_seconds: u32,
) -> MetricIdentity {
    MetricIdentity {
        id: id.map(str::to_owned),
        namespace: Some(namespace.to_owned()),
        metric_name: Some(metric_name.to_owned()),
        dimensions: dimensions
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        statistic: Some(statistic.to_owned()),
        period_seconds: Some(period_seconds),
        expression: None,
    }
}

/// A metric-math entry.
pub fn computed(id: &str, expression: &str) -> MetricIdentity {
    MetricIdentity {
        id: Some(id.to_owned()),
        expression: Some(expression.to_owned()),
        ..MetricIdentity::default()
    }
}
