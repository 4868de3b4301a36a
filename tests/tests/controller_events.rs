//! The controller as a real Lambda facing events it must not act on: duplicates and
//! out-of-order alarm deliveries change nothing; malformed, foreign, unknown and oversized
//! events are rejected as `Rejected` function errors, logged without their body, and leave
//! every resource as it was.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use floodgate_core::policy::{AlarmState, PhaseName};
use floodgate_core::protocol::CircuitStatus;
use floodgate_testkit::localstack::{describe_alarm, to_chrono};
use floodgate_tests::{ACCOUNT, AlarmSpec, REGION, Rig, RigSpec};
use serde_json::{Value, json};

/// Every rejected body carries this marker; no log line may repeat it.
const MARKER: &str = "body-marker-7f3a";

/// A CloudWatch direct alarm action, as AWS sends it (the metric's dimensions as a map).
fn alarm_event(
    name: &str,
    account: &str,
    region: &str,
    state: AlarmState,
    at: DateTime<Utc>,
) -> Value {
    let time = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let previous = if state == AlarmState::Alarm {
        AlarmState::Ok
    } else {
        AlarmState::Alarm
    };
    json!({
        "source": "aws.cloudwatch",
        "alarmArn": format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}"),
        "accountId": account,
        "time": time,
        "region": region,
        "alarmData": {
            "alarmName": name,
            "state": {"value": state.as_str(), "reason": "end-to-end test", "timestamp": time},
            "previousState": {
                "value": previous.as_str(),
                "reason": "end-to-end test",
                "timestamp": (at - TimeDelta::minutes(5)).to_rfc3339_opts(SecondsFormat::Millis, true),
            },
            "configuration": {
                "description": "",
                "metrics": [{
                    "id": "m1",
                    "metricStat": {
                        "metric": {
                            "namespace": "Floodgate/Tests",
                            "name": "Signal",
                            "dimensions": {"Alarm": name},
                        },
                        "period": 60,
                        "stat": "Maximum",
                    },
                    "returnData": true,
                }],
            },
        },
    })
}

/// Invokes the controller with `event` and checks that it changed nothing: no transition, no
/// control-plane step, no drift.
async fn deliver_without_effect(rig: &Rig, event: &Value) -> CircuitStatus {
    let mut response = rig.invoke(event).await.expect("invoke").response();
    let status = response.circuits.remove(0);
    assert!(status.transitions.is_empty(), "{:#?}", status.transitions);
    assert!(status.steps.is_empty(), "{:?}", status.steps);
    assert!(!status.drift);
    status
}

/// When the alarm entered its current state, as `DescribeAlarms` says.
async fn alarm_since(rig: &Rig, name: &str) -> DateTime<Utc> {
    let alarm = describe_alarm(&rig.aws, name)
        .await
        .expect("DescribeAlarms");
    alarm
        .state_transitioned_timestamp()
        .or(alarm.state_updated_timestamp())
        .and_then(to_chrono)
        .expect("a state timestamp")
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn duplicate_and_out_of_order_alarm_events_change_nothing() {
    let rig = Rig::deploy(
        RigSpec::new("dupes").alarms([AlarmSpec::manual("errors"), AlarmSpec::manual("depth")]),
    )
    .await
    .expect("rig");
    let closed = rig.adopt().await.expect("adopted");

    // A stale ALARM of the depth alarm, from before it last went OK, does not throttle.
    let depth = rig.alarm("depth").to_owned();
    rig.set_alarm("depth", AlarmState::Ok).await.expect("ok");
    let depth_ok = alarm_since(&rig, &depth).await;
    let stale_alarm = alarm_event(
        &depth,
        ACCOUNT,
        REGION,
        AlarmState::Alarm,
        depth_ok - TimeDelta::seconds(30),
    );
    let status = deliver_without_effect(&rig, &stale_alarm).await;
    assert_eq!(status.state, PhaseName::Closed);
    let depth_status = status
        .alarms
        .iter()
        .find(|a| a.name == depth)
        .expect("depth alarm");
    assert_eq!(
        depth_status.state,
        Some(AlarmState::Ok),
        "DescribeAlarms wins"
    );
    assert_eq!(rig.observe().await.expect("observe"), closed);

    // Trip for real, then deliver the same ALARM again, twice.
    let open = rig.trip("errors", PhaseName::Open).await.expect("open");
    let errors = rig.alarm("errors").to_owned();
    let tripped_at = alarm_since(&rig, &errors).await;
    let duplicate = alarm_event(&errors, ACCOUNT, REGION, AlarmState::Alarm, tripped_at);
    for _ in 0..2 {
        let status = deliver_without_effect(&rig, &duplicate).await;
        assert_eq!(status.state, PhaseName::Open);
    }
    assert_eq!(
        rig.observe().await.expect("observe"),
        open,
        "nothing rewritten"
    );

    // An OK older than the trip arrives late: the alarm is still in ALARM, nothing relaxes.
    let late_ok = alarm_event(
        &errors,
        ACCOUNT,
        REGION,
        AlarmState::Ok,
        tripped_at - TimeDelta::seconds(10),
    );
    let status = deliver_without_effect(&rig, &late_ok).await;
    assert_eq!(status.state, PhaseName::Open);
    assert_eq!(rig.observe().await.expect("observe"), open);
    rig.delete().await.expect("delete the rig");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn malformed_foreign_and_unknown_events_are_rejected_without_touching_anything() {
    let rig = Rig::deploy(RigSpec::new("reject")).await.expect("rig");
    let settled = rig.adopt().await.expect("adopted");
    let errors = rig.alarm("errors").to_owned();
    let now = Utc::now();
    let mut truncated = alarm_event(&errors, ACCOUNT, REGION, AlarmState::Alarm, now);
    truncated["alarmData"]
        .as_object_mut()
        .expect("object")
        .remove("state");
    truncated["note"] = json!(MARKER);
    let marked = |mut event: Value| {
        if let Some(object) = event.as_object_mut() {
            object.entry("note").or_insert(json!(MARKER));
        }
        event
    };
    let cases: Vec<(&str, Value)> = vec![
        ("unknown-event", json!(MARKER)),
        ("unknown-event", marked(json!({"hello": "world"}))),
        ("malformed-request", marked(json!({"floodgate": "reboot"}))),
        (
            "malformed-request",
            json!({"floodgate": "command", "command": "force-open", "circuit": rig.circuit,
                   "actor": MARKER}),
        ),
        (
            "unknown-circuit",
            json!({"floodgate": "command", "command": "release",
                   "circuit": format!("{MARKER}-nope"), "actor": "ops"}),
        ),
        ("malformed-alarm", truncated),
        (
            "unknown-alarm",
            marked(alarm_event(
                &format!("{MARKER}-alarm"),
                ACCOUNT,
                REGION,
                AlarmState::Alarm,
                now,
            )),
        ),
        (
            "foreign-account",
            marked(alarm_event(
                &errors,
                "123456789012",
                REGION,
                AlarmState::Alarm,
                now,
            )),
        ),
        (
            "foreign-region",
            marked(alarm_event(
                &errors,
                ACCOUNT,
                "eu-west-1",
                AlarmState::Alarm,
                now,
            )),
        ),
        (
            "too-large",
            json!({"floodgate": "tick", "pad": MARKER.repeat(20_000)}),
        ),
    ];
    for (kind, event) in cases {
        let reply = rig.invoke(&event).await.expect("invoke");
        let log = reply.log_tail.clone();
        let error = reply.error();
        assert_eq!(error.error_type, "Rejected", "{kind}: {error:?}");
        assert!(
            error.error_message.starts_with(&format!("{kind}: ")),
            "expected {kind}, got {error:?}"
        );
        assert!(
            log.contains("event rejected"),
            "{kind}: no log line:\n{log}"
        );
        assert!(
            !log.contains(MARKER) || kind == "unknown-circuit" || kind == "unknown-alarm",
            "{kind}: the body leaked into the log:\n{log}"
        );
    }
    assert_eq!(
        rig.observe().await.expect("observe"),
        settled,
        "a rejected event changes nothing"
    );
    rig.delete().await.expect("delete the rig");
}
