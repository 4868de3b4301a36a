//! Routing of every input shape, and rejection of everything else before any AWS call.

mod controller_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use alarms::MAX_EVENT_BYTES;
use controller_support::*;
use floodgate_core::controller::{Input, route};
use floodgate_core::policy::{AlarmState, Phase, PhaseName};
use floodgate_core::{Error, ErrorClass};
use floodgate_testkit::Call;
use serde_json::{Value, json};

fn rejections() -> Vec<(&'static str, Vec<u8>)> {
    let mut oversized = json!({"floodgate": "tick", "pad": ""});
    oversized["pad"] = json!("x".repeat(MAX_EVENT_BYTES));
    let mut broken_state = alarm_action(ERRORS, AlarmState::Alarm, at(0));
    broken_state["alarmData"]["state"]["value"] = json!("BROKEN");
    let mut scheduled_elsewhere = fixture("scheduled-event.json");
    scheduled_elsewhere["account"] = json!("210987654321");
    let mut two_records = fixture("sns-depth.json");
    let record = two_records["Records"][0].clone();
    two_records["Records"]
        .as_array_mut()
        .expect("an SNS event has records")
        .push(record);
    let bytes = |v: Value| v.to_string().into_bytes();
    vec![
        ("not-json", b"{\"floodgate\": tick".to_vec()),
        ("too-large", bytes(oversized)),
        ("unknown-event", b"[1, 2, 3]".to_vec()),
        ("unknown-event", bytes(json!({"hello": "world"}))),
        ("malformed-request", bytes(json!({"floodgate": "reboot"}))),
        (
            "malformed-request",
            bytes(json!({"floodgate": "tick", "extra": 1})),
        ),
        (
            "malformed-request",
            bytes(json!({"floodgate": "command", "command": "force-open", "circuit": "orders"})),
        ),
        (
            "malformed-request",
            bytes(json!({"floodgate": "command", "command": "release",
                         "circuit": "orders", "actor": "  "})),
        ),
        (
            "unknown-circuit",
            bytes(json!({"floodgate": "command", "command": "release",
                         "circuit": "shipping", "actor": "alice"})),
        ),
        (
            "unknown-alarm",
            bytes(alarm_action(
                "someone-elses-alarm",
                AlarmState::Alarm,
                at(0),
            )),
        ),
        (
            "foreign-account",
            bytes(alarm_action_from(
                ERRORS,
                AlarmState::Alarm,
                at(0),
                "210987654321",
                REGION,
            )),
        ),
        (
            "foreign-region",
            bytes(alarm_action_from(
                ERRORS,
                AlarmState::Alarm,
                at(0),
                ACCOUNT,
                "eu-west-1",
            )),
        ),
        ("foreign-account", bytes(scheduled_elsewhere)),
        ("malformed-alarm", bytes(broken_state)),
        ("malformed-alarm", bytes(two_records)),
    ]
}

#[tokio::test]
async fn everything_else_is_rejected_before_any_aws_call() {
    let h = Harness::settled().await;
    for (kind, body) in rejections() {
        let error = h.send(&body, at(10)).await.unwrap_err();
        assert_eq!(error.kind(), kind, "{error}");
        assert_eq!(error.class(), ErrorClass::Rejected, "{kind}: {error}");
        // The Lambda diagnostic's errorType (`breaker::lambda::diagnostic`).
        assert_eq!(error.class().error_type(), "Rejected");
        assert_eq!(h.calls(), Vec::<Call>::new(), "{kind} made calls");
    }
    assert!(h.metrics().is_empty());
}

#[tokio::test]
async fn an_oversized_event_is_refused_by_its_size_alone() {
    let body = vec![b'{'; MAX_EVENT_BYTES + 1];
    let error = route(&body, &config()).unwrap_err();
    assert_eq!(
        error,
        Error::TooLarge {
            size: MAX_EVENT_BYTES + 1,
            limit: MAX_EVENT_BYTES
        }
    );
}

/// Collects what the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("no test panicked while logging")
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn rejected_events_are_logged_with_size_kind_and_reason_but_never_their_body() {
    let h = Harness::settled().await;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let secret = "SECRET-PAYLOAD-7f3a";
    let bodies = [
        json!({"floodgate": "tick", "note": secret}),
        json!({"hello": secret}),
        alarm_action(&format!("{secret}-alarm"), AlarmState::Alarm, at(0)),
    ];
    for body in &bodies {
        h.send_json(body, at(10)).await.unwrap_err();
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), bodies.len(), "{logs}");
    for (line, body) in lines.iter().zip(&bodies) {
        assert_eq!(line["message"], "event rejected");
        assert_eq!(line["size"], body.to_string().len());
        assert_eq!(line["class"], "Rejected");
        assert!(line["kind"].is_string() && line["reason"].is_string());
    }
    // The unknown alarm's own name is the reason, so that one may echo it; nothing else may.
    assert!(!lines[0].to_string().contains(secret), "{logs}");
    assert!(!lines[1].to_string().contains(secret), "{logs}");
    assert!(
        !logs.contains("Threshold Crossed"),
        "alarm body leaked: {logs}"
    );
}

#[test]
fn every_alarm_delivery_shape_routes_to_the_owning_circuit() {
    let config = config();
    let shapes = [
        ("alarm-action-errors.json", ERRORS),
        ("eventbridge-throttles.json", THROTTLES),
        ("sns-depth.json", DEPTH),
    ];
    for (file, alarm) in shapes {
        let body = fixture(file).to_string();
        let Input::Alarm(signal) = route(body.as_bytes(), &config).unwrap() else {
            panic!("{file} is not an alarm");
        };
        assert_eq!(signal.alarm_name, alarm, "{file}");
        assert_eq!(config.owner_of_alarm(alarm).unwrap().name(), "orders");
    }
}

#[test]
fn a_scheduled_event_and_a_floodgate_tick_are_ticks() {
    let config = config();
    let scheduled = fixture("scheduled-event.json").to_string();
    assert_eq!(route(scheduled.as_bytes(), &config).unwrap(), Input::Tick);
    assert_eq!(
        route(br#"{"floodgate": "tick"}"#, &config).unwrap(),
        Input::Tick
    );
}

#[tokio::test]
async fn an_sns_depth_alarm_throttles_its_circuit() {
    let h = Harness::settled().await;
    h.aws().set_alarm(DEPTH, AlarmState::Alarm, at(600));
    let response = h
        .send_json(&fixture("sns-depth.json"), at(605))
        .await
        .unwrap();
    let throttled = state(Phase::Throttled {
        since: at(605),
        level: SAFE,
        trips: 0,
    });
    assert_eq!(
        h.calls(),
        reads_then(applied(
            &throttled,
            [set_max(SAFE), settle_read(), reserve(SAFE)]
        ))
    );
    assert_eq!(response.circuits[0].state, PhaseName::Throttled);
}

#[tokio::test]
async fn an_alarm_reconciles_only_the_circuit_that_owns_it() {
    let h = Harness::with(two_circuits_config(), world());

    let response = h
        .send_json(&alarm_action(ERRORS, AlarmState::Ok, at(-3600)), t0())
        .await
        .unwrap();
    assert_eq!(response.circuits.len(), 1);
    assert_eq!(response.circuits[0].circuit, "orders");
    assert!(
        h.calls()
            .iter()
            .all(|c| !matches!(c, Call::GetEventSourceMapping { uuid } if uuid != UUID)),
        "payments was touched"
    );
}
