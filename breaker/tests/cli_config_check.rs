//! `floodgate config check`: a configuration is validated by the controller's own loader
//! before it is deployed.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn check(stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["config", "check", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("floodgate binary runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("floodgate exits")
}

fn circuit(name: &str, uuid: &str) -> Value {
    json!({
        "name": name,
        "event_source_mapping_uuid": uuid,
        "function_name": format!("{name}-consumer"),
        "alarms": [{"name": format!("{name}-errors"), "kind": "errors"}],
        "levels": {"max": 16, "safe": 8}
    })
}

fn document(circuits: &[Value]) -> String {
    json!({"account_id": "123456789012", "region": "us-east-1", "circuits": circuits}).to_string()
}

#[test]
fn a_valid_configuration_prints_normalized_with_every_default() {
    let out = check(&document(&[circuit(
        "orders",
        "14e0db71-5d35-4eb5-b481-8945cf9d10c2",
    )]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let normalized: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let orders = &normalized["circuits"][0];
    assert_eq!(orders["levels"]["probe"], 2);
    assert_eq!(orders["timings"]["open_wait_secs"], 60);
    assert_eq!(orders["probe_max_error_ratio"], 0.5);
    assert_eq!(normalized["control_plane_rate_per_sec"], 5);
    // The normalized document is itself a valid configuration.
    assert!(check(&normalized.to_string()).status.success());
}

#[test]
fn every_invalid_circuit_is_reported_with_its_field_path() {
    let mut first = circuit("orders", "14e0db71-5d35-4eb5-b481-8945cf9d10c2");
    first["levels"]["safe"] = json!(99);
    let mut second = circuit("payments", "0b7a4e4c-2d8f-4a51-9d3e-6f1c2b3a4d5e");
    second["timings"] = json!({"probe_window_secs": 0});
    let out = check(&document(&[first, second]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("circuits[0].levels.safe"), "{stderr}");
    assert!(
        stderr.contains("circuits[1].timings.probe_window_secs"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unreadable_document_exits_2_and_garbage_exits_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["config", "check", "/nonexistent/floodgate.json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(check("{not json").status.code(), Some(1));
}

#[test]
fn config_schema_prints_the_schema_the_controller_parses_with() {
    let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["config", "schema"])
        .output()
        .expect("floodgate binary runs");
    assert!(out.status.success(), "{out:?}");
    let printed: Value = serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    assert_eq!(printed, floodgate_core::config::schema());
    assert_eq!(
        printed["properties"]["circuits"]["minItems"], 1,
        "{printed:#}"
    );
}
