//! The controller configuration: the documented schema parses, and every bad value is an
//! error that names its field.

mod controller_support;

use controller_support::*;
use floodgate_core::config::DEFAULT_CONTROL_PLANE_RATE;
use floodgate_core::policy::{Action, AlarmKind};
use floodgate_core::{ControllerConfig, Error, ErrorClass};
use serde_json::{Value, json};

/// The example from the `config` module docs.
const DOCUMENTED: &str = r#"{
  "account_id": "123456789012",
  "region": "us-east-1",
  "control_plane_rate_per_sec": 5,
  "circuits": [{
    "name": "orders",
    "event_source_mapping_uuid": "14e0db71-5d35-4eb5-b481-8945cf9d10c2",
    "function_name": "orders-consumer",
    "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
    "alarms": [
      {"name": "orders-errors", "kind": "errors"},
      {"name": "orders-depth", "kind": "depth"},
      {"name": "orders-latency", "kind": "custom", "action": "open"}
    ],
    "levels": {"max": 50, "safe": 10, "probe": 2},
    "reserved_concurrency": {"mode": "managed", "headroom": 0},
    "kill_switch": false,
    "actions": {"throttles": "throttle", "depth": "throttle", "age": "open"},
    "timings": {"open_wait_secs": 60, "open_wait_cap_secs": 900, "jitter": 0.2,
                "healthy_dwell_secs": 120, "min_dwell_secs": 30, "probe_window_secs": 60,
                "ramp_step_secs": 60, "throttle_step_secs": 60},
    "seed": 0
  }]
}"#;

#[test]
fn the_documented_example_parses_into_its_values() {
    let config = ControllerConfig::from_json(DOCUMENTED).unwrap();
    assert_eq!(config.account_id(), "123456789012");
    assert_eq!(config.region(), "us-east-1");
    assert_eq!(config.control_plane_rate_per_sec().get(), 5);
    let orders = config.circuit("orders").unwrap();
    assert_eq!(orders.event_source_mapping_uuid(), UUID);
    assert_eq!(orders.function_name(), FUNCTION);
    assert_eq!(orders.queue_url(), Some(QUEUE_URL));
    assert_eq!(orders.policy().levels().max, 50);
    assert_eq!(
        orders.alarms().iter().map(|a| a.kind).collect::<Vec<_>>(),
        [
            AlarmKind::Errors,
            AlarmKind::Depth,
            AlarmKind::Custom(Action::Open)
        ]
    );
    assert_eq!(
        orders.policy().action_for(AlarmKind::Age),
        Action::Open,
        "actions reach the policy"
    );
    assert_eq!(
        config.owner_of_alarm("orders-latency").unwrap().name(),
        "orders"
    );
    assert!(config.owner_of_alarm("orders-throttles").is_none());
}

#[test]
fn optional_fields_take_their_named_defaults() {
    let config = config();
    assert_eq!(
        config.control_plane_rate_per_sec().get(),
        DEFAULT_CONTROL_PLANE_RATE
    );
    let orders = config.circuit("orders").unwrap();
    assert!(!orders.policy().kill_switch());
    assert_eq!(orders.policy().spec().seed, 0);
}

/// `config_json()` with `edit` applied.
fn edited(edit: impl FnOnce(&mut Value)) -> String {
    let mut doc = config_json();
    edit(&mut doc);
    doc.to_string()
}

fn second_circuit(doc: &mut Value, edit: impl FnOnce(&mut Value)) {
    let mut other = payments_circuit_json();
    edit(&mut other);
    doc["circuits"]
        .as_array_mut()
        .expect("circuits is a list")
        .push(other);
}

type Edit = Box<dyn FnOnce(&mut Value)>;

/// Each edit must fail with an error whose message starts with its expectation.
fn assert_named(cases: Vec<(&str, Edit)>) {
    for (expected, edit) in cases {
        let error = ControllerConfig::from_json(&edited(edit)).expect_err(expected);
        assert!(
            matches!(error, Error::Config { .. }),
            "{expected}: not a config error: {error:?}"
        );
        assert_eq!(error.class(), ErrorClass::Failed);
        let message = error.to_string();
        assert!(
            message.starts_with(expected),
            "expected `{expected}…`, got `{message}`"
        );
    }
}

#[test]
fn invalid_top_level_values_are_errors_naming_their_field() {
    assert_named(vec![
        (
            "account_id: must be 12 digits",
            Box::new(|d| d["account_id"] = json!("12345")),
        ),
        (
            "region: must be a region code",
            Box::new(|d| d["region"] = json!("mars")),
        ),
        (
            "control_plane_rate_per_sec: must be between 1 and 15, got 0",
            Box::new(|d| d["control_plane_rate_per_sec"] = json!(0)),
        ),
        (
            "control_plane_rate_per_sec: must be between 1 and 15, got 16",
            Box::new(|d| d["control_plane_rate_per_sec"] = json!(16)),
        ),
        (
            "circuits: must name at least one circuit",
            Box::new(|d| d["circuits"] = json!([])),
        ),
        (
            "(root): missing field `account_id`",
            Box::new(|d| {
                d.as_object_mut().expect("an object").remove("account_id");
            }),
        ),
    ]);
}

#[test]
fn duplicates_across_circuits_are_errors_naming_the_second() {
    assert_named(vec![
        (
            "circuits[1].alarms[0].kind: unknown kind \"foo\"",
            Box::new(|d| second_circuit(d, |c| c["alarms"][0]["kind"] = json!("foo"))),
        ),
        (
            "circuits[1].name: duplicate circuit \"orders\"",
            Box::new(|d| second_circuit(d, |c| c["name"] = json!("orders"))),
        ),
        (
            "circuits[1].event_source_mapping_uuid: duplicate mapping",
            Box::new(|d| second_circuit(d, |c| c["event_source_mapping_uuid"] = json!(UUID))),
        ),
        (
            "circuits[1].alarms[0].name: duplicate alarm \"orders-errors\" (also in circuits[0])",
            Box::new(|d| second_circuit(d, |c| c["alarms"][0]["name"] = json!(ERRORS))),
        ),
    ]);
}

#[test]
fn invalid_circuit_values_are_errors_naming_their_field() {
    assert_named(vec![
        (
            "circuits[0].alarms[1].name: duplicate alarm \"orders-errors\"",
            Box::new(|d| d["circuits"][0]["alarms"][1]["name"] = json!(ERRORS)),
        ),
        (
            "circuits[0].alarms[0].action: is required for kind \"custom\"",
            Box::new(|d| d["circuits"][0]["alarms"][0]["kind"] = json!("custom")),
        ),
        (
            "circuits[0].alarms[0].action: is only allowed for kind \"custom\"",
            Box::new(|d| d["circuits"][0]["alarms"][0]["action"] = json!("open")),
        ),
        (
            "circuits[0].alarms: must name 1 to 100 alarms, got 0",
            Box::new(|d| d["circuits"][0]["alarms"] = json!([])),
        ),
        (
            "circuits[0].levels.safe: must be between probe (2) and max (16), got 99",
            Box::new(|d| d["circuits"][0]["levels"]["safe"] = json!(99)),
        ),
        (
            "circuits[0].timings.jitter: must be at least 0 and below 1",
            Box::new(|d| d["circuits"][0]["timings"] = json!({"jitter": 1.5})),
        ),
        (
            "circuits[0].kill_switch: requires managed reserved concurrency",
            Box::new(|d| {
                d["circuits"][0]["kill_switch"] = json!(true);
                d["circuits"][0]["reserved_concurrency"] = json!({"mode": "unmanaged"});
            }),
        ),
        (
            "circuits[0].event_source_mapping_uuid: must be a UUID",
            Box::new(|d| d["circuits"][0]["event_source_mapping_uuid"] = json!("orders-esm")),
        ),
        (
            "circuits[0].queue_url: must be an SQS queue URL",
            Box::new(|d| d["circuits"][0]["queue_url"] = json!("orders")),
        ),
        (
            "circuits[0].function_name: must be a function name or ARN",
            Box::new(|d| d["circuits"][0]["function_name"] = json!(" ")),
        ),
        (
            "circuits[0].name: must not be empty",
            Box::new(|d| d["circuits"][0]["name"] = json!("")),
        ),
    ]);
}

#[test]
fn schema_violations_are_errors_naming_their_path() {
    assert_named(vec![
        (
            "circuits[0].colour: unknown field `colour`",
            Box::new(|d| d["circuits"][0]["colour"] = json!("red")),
        ),
        (
            "circuits[0].alarms[0].colour: unknown field `colour`",
            Box::new(|d| d["circuits"][0]["alarms"][0]["colour"] = json!("red")),
        ),
        (
            "circuits[0].levels.max: invalid type: string",
            Box::new(|d| d["circuits"][0]["levels"]["max"] = json!("fifty")),
        ),
        (
            "circuits[0].timings.open_wiat_secs: unknown field `open_wiat_secs`",
            Box::new(|d| d["circuits"][0]["timings"]["open_wiat_secs"] = json!(5)),
        ),
        (
            "circuits[0].alarms: invalid type: string",
            Box::new(|d| d["circuits"][0]["alarms"] = json!("errors")),
        ),
        (
            "circuits[0]: missing field `levels`",
            Box::new(|d| {
                d["circuits"][0]
                    .as_object_mut()
                    .expect("an object")
                    .remove("levels");
            }),
        ),
        (
            "circuits[0]: missing field `function_name`",
            Box::new(|d| {
                d["circuits"][0]
                    .as_object_mut()
                    .expect("an object")
                    .remove("function_name");
            }),
        ),
    ]);
}

#[test]
fn a_document_that_is_not_json_is_refused() {
    let error = ControllerConfig::from_json("circuits: []").unwrap_err();
    assert!(matches!(error, Error::Config { .. }), "{error:?}");
}
