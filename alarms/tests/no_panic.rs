//! The parser faces untrusted input: whatever arrives, it returns a value or an error, never
//! panics, and whatever it accepts holds the signal's invariants.

mod common;

use alarms::{AlarmArn, AlarmSignal, AlarmType};
use common::{FIXTURES, fixture_bytes, fixture_value};
use proptest::prelude::*;
use serde_json::Value;

/// Whatever parses must be self-consistent and survive a JSON round trip.
fn assert_sound(signal: &AlarmSignal) {
    let arn: AlarmArn = signal.alarm_arn.parse().expect("accepted ARN parses");
    assert_eq!(arn.name(), signal.alarm_name);
    assert_eq!(arn.account(), signal.account);
    assert_eq!(arn.region(), signal.region);
    if signal.alarm_type == AlarmType::Composite {
        assert!(signal.metrics.is_empty());
    }
    let json = serde_json::to_string(signal).expect("serialisable");
    let back: AlarmSignal = serde_json::from_str(&json).expect("round trip");
    assert_eq!(&back, signal);
}

fn check(bytes: &[u8]) {
    if let Ok(signal) = alarms::parse_event(bytes) {
        assert_sound(&signal);
    }
}

/// Every JSON pointer into `value`, so a mutation can target any node.
fn pointers(value: &Value, here: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{here}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{here}/{index}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

/// Replaces one node of `value` (any depth, including the root) with `new`.
fn replace_node(value: &mut Value, target: prop::sample::Index, new: Value) {
    let mut all = Vec::new();
    pointers(value, String::new(), &mut all);
    let pointer = &all[target.index(all.len())];
    if let Some(node) = value.pointer_mut(pointer) {
        *node = new;
    }
}

fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(Value::String("ALARM".into())),
        Just(Value::String("2026-11-21T12:00:00.000+0000".into())),
        Just(Value::String(
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:x".into()
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        // Integration tests have no lib.rs next to them for proptest to store regressions in.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,512}") {
        check(text.as_bytes());
    }

    #[test]
    fn byte_level_mutations_of_fixtures_never_panic(
        fixture in 0..FIXTURES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
    ) {
        let mut bytes = fixture_bytes(FIXTURES[fixture]);
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let index = at.index(bytes.len());
            match kind {
                0 => bytes[index] = byte,
                1 => { bytes.remove(index); }
                _ => bytes.insert(index, byte),
            }
        }
        check(&bytes);
    }

    #[test]
    fn replacing_any_json_node_of_a_fixture_never_panics(
        fixture in 0..FIXTURES.len(),
        target in any::<prop::sample::Index>(),
        new in replacement(),
    ) {
        let mut value = fixture_value(FIXTURES[fixture]);
        replace_node(&mut value, target, new);
        check(&serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn replacing_any_node_inside_an_sns_message_never_panics(
        fixture in prop::sample::select(vec![
            "sns-metric.json", "sns-composite.json", "sns-metric-math.json", "localstack-sns-metric.json",
        ]),
        target in any::<prop::sample::Index>(),
        new in replacement(),
    ) {
        let mut event = fixture_value(fixture);
        let slot = event.pointer_mut("/Records/0/Sns/Message").unwrap();
        let mut message: Value = serde_json::from_str(slot.as_str().unwrap()).unwrap();
        replace_node(&mut message, target, new);
        *slot = Value::String(message.to_string());
        check(&serde_json::to_vec(&event).unwrap());
    }

    #[test]
    fn deeply_nested_json_never_panics(depth in 1usize..5000) {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        check(text.as_bytes());
        let objects = format!("{}1{}", "{\"alarmData\":".repeat(depth), "}".repeat(depth));
        check(objects.as_bytes());
    }
}
