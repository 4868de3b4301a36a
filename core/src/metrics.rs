//! Metrics as `CloudWatch` Embedded Metric Format (EMF) log lines.
//!
//! Every reconcile of a circuit writes one line: namespace [`NAMESPACE`], dimension `Circuit`,
//! metrics `State` (a gauge, see [`state_value`]), `Level` (the `MaximumConcurrency` the state
//! asks for), `Transitions` (state changes in this invocation) and `Drift` (1 when the
//! resources had been changed behind the controller's back). One line per reconcile, even
//! without a change, so every circuit has a continuous state series at the tick's resolution.
//!
//! Lines go through a [`Recorder`] so tests can read them; in Lambda, [`StdoutRecorder`]
//! prints them, and `CloudWatch` Logs turns them into metrics.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::policy::PhaseName;

/// The metric namespace.
pub const NAMESPACE: &str = "Floodgate";

/// Where EMF lines go.
pub trait Recorder: Send + Sync {
    /// Writes one complete EMF line (without a trailing newline).
    fn record(&self, line: &str);
}

/// Prints each line to standard output, where Lambda ships it to `CloudWatch` Logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdoutRecorder;

impl Recorder for StdoutRecorder {
    fn record(&self, line: &str) {
        // A metric line that cannot be written is lost either way; failing the reconcile over
        // it would stop the breaker for the sake of its telemetry.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// The `State` gauge: higher means less consumption, so a dashboard line going up is the
/// breaker stepping in. closed 0, ramping 1, throttled 2, half-open 3, open 4.
pub fn state_value(state: PhaseName) -> u32 {
    match state {
        PhaseName::Closed => 0,
        PhaseName::Ramping => 1,
        PhaseName::Throttled => 2,
        PhaseName::HalfOpen => 3,
        PhaseName::Open => 4,
    }
}

/// A metric's unit, as EMF spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// `Count`.
    Count,
    /// `None` (a gauge without a unit).
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::None => "None",
        }
    }
}

/// One EMF line of one circuit: namespace [`NAMESPACE`], dimension `Circuit`, each metric
/// declared with its unit and carried as a top-level value; other properties (not metrics)
/// may be added. The one place the EMF envelope is written.
#[derive(Debug, Clone)]
pub struct EmfLine {
    at: DateTime<Utc>,
    declared: Vec<serde_json::Value>,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl EmfLine {
    /// A line for `circuit` at `at`, with no metric yet.
    pub fn new(circuit: &str, at: DateTime<Utc>) -> Self {
        let mut fields = serde_json::Map::new();
        fields.insert("Circuit".to_owned(), json!(circuit));
        Self {
            at,
            declared: Vec::new(),
            fields,
        }
    }

    /// Adds metric `name` with `value` in `unit`.
    #[must_use]
    pub fn metric(mut self, name: &str, unit: Unit, value: impl Into<serde_json::Value>) -> Self {
        self.declared
            .push(json!({"Name": name, "Unit": unit.as_str()}));
        self.fields.insert(name.to_owned(), value.into());
        self
    }

    /// Adds a property that is not a metric (searchable in the log, not graphed).
    #[must_use]
    pub fn property(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.fields.insert(name.to_owned(), value.into());
        self
    }

    /// The JSON line.
    pub fn render(self) -> String {
        let mut line = self.fields;
        line.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": self.at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Circuit"]],
                    "Metrics": self.declared,
                }],
            }),
        );
        serde_json::Value::Object(line).to_string()
    }
}

/// One circuit's metrics for one reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitMetrics<'a> {
    /// The circuit's name (the `Circuit` dimension).
    pub circuit: &'a str,
    /// The decision time.
    pub at: DateTime<Utc>,
    /// The state after the reconcile.
    pub state: PhaseName,
    /// The `MaximumConcurrency` the state asks for.
    pub level: u32,
    /// State changes made.
    pub transitions: usize,
    /// Whether drift was found and repaired.
    pub drift: bool,
}

impl CircuitMetrics<'_> {
    /// The EMF line.
    pub fn to_emf(&self) -> String {
        EmfLine::new(self.circuit, self.at)
            .metric("State", Unit::None, state_value(self.state))
            .property("StateName", self.state.as_str())
            .metric("Level", Unit::Count, self.level)
            .metric("Transitions", Unit::Count, self.transitions)
            .metric("Drift", Unit::Count, u32::from(self.drift))
            .render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_declares_every_metric_it_carries() {
        let at = DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let line = CircuitMetrics {
            circuit: "orders",
            at,
            state: PhaseName::Open,
            level: 2,
            transitions: 1,
            drift: true,
        }
        .to_emf();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Floodgate");
        assert_eq!(directive["Dimensions"], json!([["Circuit"]]));
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(value[name].is_number(), "{name} has no value");
        }
        assert_eq!(value["_aws"]["Timestamp"], at.timestamp_millis());
        assert_eq!(value["Circuit"], "orders");
        assert_eq!(value["State"], 4);
        assert_eq!(value["Drift"], 1);
        assert!(!line.contains('\n'));
    }
}
