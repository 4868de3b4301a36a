//! The optional `overflow` block of a circuit: defaults, the documented example, and an error
//! naming the field for every bad value. Configurations without it still load.

mod overflow_support;

use std::time::Duration;

use floodgate_core::config::{
    DEFAULT_MAX_MOVES, DEFAULT_MAX_REPLAYS, DEFAULT_MAX_REPLAYS_PER_MESSAGE, DEFAULT_MOVE_RATE,
    DEFAULT_OVERFLOW_CEILING, DEFAULT_REPLAY_AFTER_SECS, DEFAULT_REPLAY_RATE,
};
use floodgate_core::{ControllerConfig, Error};
use overflow_support::*;
use serde_json::{Value, json};

fn load(doc: &Value) -> Result<ControllerConfig, Error> {
    ControllerConfig::from_json(&doc.to_string())
}

/// The field and reason of the config error `doc` fails with.
fn error_of(doc: &Value) -> (String, String) {
    match load(doc) {
        Err(Error::Config { field, reason }) => (field, reason),
        other => panic!("expected a config error, got {other:?}"),
    }
}

/// The error for the test config with the overflow block changed by `change`.
fn error_with(change: impl FnOnce(&mut Value)) -> (String, String) {
    error_of(&config_json_with(change))
}

#[test]
fn a_circuit_without_overflow_loads_as_before() {
    let mut doc = config_json_with(|_| {});
    doc["circuits"][0]
        .as_object_mut()
        .unwrap()
        .remove("overflow");
    let config = load(&doc).unwrap();
    assert!(config.circuits()[0].overflow().is_none());
}

#[test]
fn only_the_queue_url_is_required_and_the_rest_has_named_defaults() {
    let config = load(&config_json_with(|o| *o = json!({"queue_url": OVERFLOW}))).unwrap();
    let overflow = config.circuits()[0].overflow().unwrap();
    assert_eq!(overflow.queue_url(), OVERFLOW);
    assert_eq!(overflow.ceiling(), DEFAULT_OVERFLOW_CEILING);
    assert_eq!(overflow.move_rate_per_sec().get(), DEFAULT_MOVE_RATE);
    assert_eq!(overflow.max_moves_per_invocation().get(), DEFAULT_MAX_MOVES);
    assert_eq!(
        overflow.replay_after(),
        Duration::from_secs(DEFAULT_REPLAY_AFTER_SECS)
    );
    assert_eq!(overflow.replay_rate_per_sec().get(), DEFAULT_REPLAY_RATE);
    assert_eq!(
        overflow.max_replays_per_invocation().get(),
        DEFAULT_MAX_REPLAYS
    );
}

#[test]
fn the_documented_overflow_block_parses_into_its_values() {
    // As in the `config` module docs.
    let documented = json!({
        "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders-overflow",
        "ceiling": 1000, "move_rate_per_sec": 100, "max_moves_per_invocation": 1000,
        "replay_after_secs": 120, "replay_rate_per_sec": 50,
        "max_replays_per_invocation": 500, "max_replays_per_message": 3
    });
    let config = load(&config_json_with(|o| *o = documented)).unwrap();
    let overflow = config.circuits()[0].overflow().unwrap();
    assert_eq!(overflow.queue_url(), OVERFLOW);
    assert_eq!(overflow.ceiling(), 1000);
    assert_eq!(overflow.move_rate_per_sec().get(), 100);
    assert_eq!(overflow.max_moves_per_invocation().get(), 1000);
    assert_eq!(overflow.replay_after(), Duration::from_mins(2));
    assert_eq!(overflow.replay_rate_per_sec().get(), 50);
    assert_eq!(overflow.max_replays_per_invocation().get(), 500);
}

#[test]
fn a_ceiling_of_zero_leaves_replay_no_headroom_and_is_refused() {
    let config = load(&config_json_with(|o| o["ceiling"] = 1.into())).unwrap();
    assert_eq!(config.circuits()[0].overflow().unwrap().ceiling(), 1);
    let (field, reason) = error_with(|o| o["ceiling"] = 0.into());
    assert_eq!(field, "circuits[0].overflow.ceiling");
    assert!(reason.contains("at least 1"), "{reason}");
    let (field, _) = error_with(|o| o["ceiling"] = (-1).into());
    assert_eq!(field, "circuits[0].overflow.ceiling");
}

#[test]
fn a_message_may_be_replayed_three_times_by_default_and_one_to_a_hundred_times_at_most() {
    let config = load(&config_json_with(|_| {})).unwrap();
    assert_eq!(
        config.circuits()[0]
            .overflow()
            .unwrap()
            .max_replays_per_message()
            .get(),
        DEFAULT_MAX_REPLAYS_PER_MESSAGE
    );
    for bad in [0, 101] {
        let (field, reason) = error_with(|o| o["max_replays_per_message"] = bad.into());
        assert_eq!(field, "circuits[0].overflow.max_replays_per_message");
        assert!(reason.contains("between 1 and 100"), "{reason}");
    }
}

/// The test config with a second circuit "payments" on its own mapping, function, queue and
/// alarm; `change` edits the second circuit.
fn two_circuits(change: impl FnOnce(&mut Value)) -> Value {
    let mut doc = config_json_with(|_| {});
    let mut second = doc["circuits"][0].clone();
    second["name"] = "payments".into();
    second["event_source_mapping_uuid"] = "24e0db71-5d35-4eb5-b481-8945cf9d10c2".into();
    second["function_name"] = "payments-consumer".into();
    second["queue_url"] = "https://sqs.us-east-1.amazonaws.com/123456789012/payments".into();
    second["alarms"] = json!([{"name": "payments-errors", "kind": "errors"}]);
    second["overflow"]["queue_url"] =
        "https://sqs.us-east-1.amazonaws.com/123456789012/payments-overflow".into();
    change(&mut second);
    doc["circuits"]
        .as_array_mut()
        .expect("circuits is a list")
        .push(second);
    doc
}

#[test]
fn two_circuits_with_their_own_overflow_queues_load() {
    let config = load(&two_circuits(|_| {})).unwrap();
    assert_eq!(config.circuits().len(), 2);
}

#[test]
fn two_circuits_may_not_share_an_overflow_queue() {
    let (field, reason) = error_of(&two_circuits(|c| {
        c["overflow"]["queue_url"] = OVERFLOW.into();
    }));
    assert_eq!(field, "circuits[1].overflow.queue_url");
    assert!(reason.contains("overflow queue of circuits[0]"), "{reason}");
    // The same queue written with the legacy host is the same queue.
    let legacy = "https://queue.amazonaws.com/123456789012/orders-overflow";
    let (field, _) = error_of(&two_circuits(|c| {
        c["overflow"]["queue_url"] = legacy.into();
    }));
    assert_eq!(field, "circuits[1].overflow.queue_url");
}

#[test]
fn an_overflow_queue_may_not_be_another_circuits_source_nor_the_other_way_round() {
    let (field, reason) = error_of(&two_circuits(|c| {
        c["overflow"]["queue_url"] = SOURCE.into();
    }));
    assert_eq!(field, "circuits[1].overflow.queue_url");
    assert!(reason.contains("source queue of circuits[0]"), "{reason}");
    let (field, reason) = error_of(&two_circuits(|c| c["queue_url"] = OVERFLOW.into()));
    assert_eq!(field, "circuits[1].queue_url");
    assert!(reason.contains("overflow queue of circuits[0]"), "{reason}");
}

#[test]
fn rates_must_be_between_1_and_3000() {
    for name in ["move_rate_per_sec", "replay_rate_per_sec"] {
        for bad in [0, 3001] {
            let (field, reason) = error_with(|o| o[name] = bad.into());
            assert_eq!(field, format!("circuits[0].overflow.{name}"));
            assert!(reason.contains("between 1 and 3000"), "{reason}");
        }
        load(&config_json_with(|o| {
            o[name] = 1.into();
            o["max_moves_per_invocation"] = 60.into();
            o["max_replays_per_invocation"] = 60.into();
        }))
        .unwrap();
    }
}

#[test]
fn a_budget_must_be_done_within_a_minute_at_its_rate() {
    let (field, reason) = error_with(|o| {
        o["move_rate_per_sec"] = 10.into();
        o["max_moves_per_invocation"] = 601.into();
    });
    assert_eq!(field, "circuits[0].overflow.max_moves_per_invocation");
    assert!(reason.contains("between 1 and 600"), "{reason}");
    let (field, _) = error_with(|o| o["max_replays_per_invocation"] = 0.into());
    assert_eq!(field, "circuits[0].overflow.max_replays_per_invocation");
}

#[test]
fn replay_after_is_at_most_a_week() {
    let (field, _) = error_with(|o| o["replay_after_secs"] = (7 * 24 * 3600 + 1).into());
    assert_eq!(field, "circuits[0].overflow.replay_after_secs");
    load(&config_json_with(|o| o["replay_after_secs"] = 0.into())).unwrap();
}

#[test]
fn fifo_queues_are_refused_on_either_side() {
    let (field, reason) = error_with(|o| o["queue_url"] = format!("{OVERFLOW}.fifo").into());
    assert_eq!(field, "circuits[0].overflow.queue_url");
    assert!(reason.contains("FIFO"), "{reason}");

    let mut doc = config_json_with(|_| {});
    doc["circuits"][0]["queue_url"] = format!("{SOURCE}.fifo").into();
    let (field, reason) = error_of(&doc);
    assert_eq!(field, "circuits[0].queue_url");
    assert!(reason.contains("standard queues only"), "{reason}");
}

#[test]
fn the_overflow_queue_must_be_a_url_and_not_the_source() {
    let (field, _) = error_with(|o| o["queue_url"] = "orders-overflow".into());
    assert_eq!(field, "circuits[0].overflow.queue_url");
    let (field, reason) = error_with(|o| o["queue_url"] = SOURCE.into());
    assert_eq!(field, "circuits[0].overflow.queue_url");
    assert!(reason.contains("must differ"), "{reason}");
}

#[test]
fn overflow_needs_a_source_queue() {
    let mut doc = config_json_with(|_| {});
    doc["circuits"][0]
        .as_object_mut()
        .unwrap()
        .remove("queue_url");
    let (field, reason) = error_of(&doc);
    assert_eq!(field, "circuits[0].queue_url");
    assert!(reason.contains("required when overflow is set"), "{reason}");
}

#[test]
fn unknown_and_missing_overflow_fields_name_the_field() {
    let (field, reason) = error_with(|o| o["celing"] = 5.into());
    assert_eq!(field, "circuits[0].overflow.celing");
    assert!(reason.contains("celing"), "{reason}");
    let (field, reason) = error_with(|o| *o = json!({"ceiling": 5}));
    assert_eq!(field, "circuits[0].overflow");
    assert!(reason.contains("queue_url"), "{reason}");
}
