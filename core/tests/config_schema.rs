//! The configuration's JSON Schema is generated from the types that parse it; the committed
//! copy (`infra/config.schema.json`), which the infra modules' tests check their bounds
//! against, must be the generated one. A bound changed in Rust fails here until the copy is
//! regenerated, and then the infra tests until the modules follow.

use std::path::Path;

use floodgate_core::ControllerConfig;
use floodgate_core::config::{
    DEFAULT_CONTROL_PLANE_RATE, MAX_ALARMS_PER_CIRCUIT, MAX_CONTROL_PLANE_RATE, MAX_TRANSFER_RATE,
    schema,
};
use floodgate_core::policy::config::{MAX_LEVEL, MAX_TIMING, MIN_LEVEL, MIN_TIMING};
use serde_json::Value;

const REGENERATE: &str = "regenerate it: cargo run -q -p breaker --bin floodgate -- config schema > infra/config.schema.json";

fn committed() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/config.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; {REGENERATE}", path.display()));
    serde_json::from_str(&text).expect("the committed schema is JSON")
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    assert!(
        committed() == schema(),
        "infra/config.schema.json is stale; {REGENERATE}"
    );
}

#[test]
fn the_schema_carries_the_loaders_bounds_and_defaults() {
    let s = schema();
    let defs = &s["$defs"];
    let rate = &s["properties"]["control_plane_rate_per_sec"];
    assert_eq!(rate["maximum"], MAX_CONTROL_PLANE_RATE);
    assert_eq!(rate["default"], DEFAULT_CONTROL_PLANE_RATE);
    assert_eq!(
        defs["RawCircuit"]["properties"]["alarms"]["maxItems"],
        MAX_ALARMS_PER_CIRCUIT
    );
    let levels = &defs["Levels"]["properties"];
    for level in ["max", "safe", "probe"] {
        assert_eq!(levels[level]["minimum"], MIN_LEVEL, "{level}");
        assert_eq!(levels[level]["maximum"], MAX_LEVEL, "{level}");
    }
    let timings = &defs["Timings"]["properties"];
    assert_eq!(timings["open_wait_secs"]["minimum"], MIN_TIMING.as_secs());
    assert_eq!(
        timings["throttle_step_secs"]["maximum"],
        MAX_TIMING.as_secs()
    );
    assert_eq!(
        defs["RawOverflow"]["properties"]["move_rate_per_sec"]["maximum"],
        MAX_TRANSFER_RATE
    );
    assert_eq!(
        s["additionalProperties"], false,
        "unknown fields are refused"
    );
}

#[test]
fn the_schemas_defaults_are_what_the_loader_fills_in() {
    let minimal = serde_json::json!({
        "account_id": "123456789012",
        "region": "us-east-1",
        "circuits": [{
            "name": "orders",
            "event_source_mapping_uuid": "14e0db71-5d35-4eb5-b481-8945cf9d10c2",
            "function_name": "orders-consumer",
            "alarms": [{"name": "orders-errors", "kind": "errors"}],
            "levels": {"max": 50, "safe": 10},
        }],
    });
    let normalized = ControllerConfig::from_json(&minimal.to_string())
        .expect("valid")
        .normalized();
    let s = schema();
    let timings_default = &s["$defs"]["RawCircuit"]["properties"]["timings"]["default"];
    assert_eq!(&normalized["circuits"][0]["timings"], timings_default);
    assert_eq!(
        normalized["control_plane_rate_per_sec"],
        s["properties"]["control_plane_rate_per_sec"]["default"]
    );
}
