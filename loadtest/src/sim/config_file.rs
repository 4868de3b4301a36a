//! A scenario's `config_file`: the controller configuration an operator runs (the modules'
//! rendered `FLOODGATE_CONFIG`), replayed on the simulated circuits.
//!
//! Each circuit of the file gives its *policy* (what `floodgate_core`'s policy type,
//! `CircuitConfigSpec`, declares: name, levels, reserved concurrency, kill switch, actions,
//! timings, seed, …), its alarms' kinds and its overflow settings; the file's resources (the
//! mapping's UUID, the function, the queues' URLs, the alarms' names) are replaced by the
//! simulated circuit's at the same index. The split is the controller loader's own
//! (`floodgate_core::config::circuit_fields`), so a field the controller adds is carried or
//! refused, never silently dropped. The controller's loader then validates the result as it would
//! the file.
//!
//! The simulated world has the alarms the scenario's `[alarms]` give it (errors, throttles,
//! depth, age: the modules' set, by default); an alarm of the file of another kind
//! (`custom`), or of a kind the scenario turned off, is not simulated: it is left out of the
//! replayed configuration, and said so in the notes.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::sim::names::{ACCOUNT, Names, REGION};
use crate::sim::scenario::Scenario;

/// The resource fields of a circuit this module maps onto the simulated circuit.
const MAPPED: [&str; 5] = [
    "event_source_mapping_uuid",
    "function_name",
    "queue_url",
    "alarms",
    "overflow",
];

/// A controller configuration replayed on a scenario's circuits.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// The configuration (`FLOODGATE_CONFIG`) with the simulator's resources.
    pub config: Value,
    /// What of the file was left out, and why.
    pub notes: Vec<String>,
}

/// The fields of the configuration's top level, from its JSON Schema.
fn top_fields() -> Vec<String> {
    floodgate_core::config::schema()
        .get("properties")
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Reads `path` (relative paths from the scenario file's directory, `base`) and replays its
/// circuits on `scenario`'s.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Json`] when it is not JSON,
/// [`Error::Invalid`] naming the field (`config_file circuits[1].colour`) for an unknown
/// field, a circuit count other than the scenario's, or nothing left to alarm on.
pub fn load(path: &Path, base: &Path, scenario: &Scenario) -> Result<Replayed> {
    let full = if path.is_absolute() {
        path.to_owned()
    } else {
        base.parent().unwrap_or(Path::new("")).join(path)
    };
    let text = std::fs::read_to_string(&full).map_err(|source| Error::Io {
        what: "reading config_file",
        path: full.clone(),
        source,
    })?;
    let file: Value = serde_json::from_str(&text).map_err(|source| Error::Json {
        what: format!("config_file {} is not JSON", full.display()),
        source,
    })?;
    replay(&file, scenario)
}

fn invalid(field: impl std::fmt::Display, reason: impl Into<String>) -> Error {
    Error::invalid(format!("config_file {field}"), reason)
}

/// Replays the configuration `file` on `scenario`'s circuits.
///
/// # Errors
/// As [`load`].
pub fn replay(file: &Value, scenario: &Scenario) -> Result<Replayed> {
    let top_fields = top_fields();
    let (policy, resources) = floodgate_core::config::circuit_fields();
    let top = file
        .as_object()
        .ok_or_else(|| invalid("(root)", "must be a JSON object"))?;
    let mut config = Map::new();
    for (key, value) in top {
        match key.as_str() {
            "account_id" | "region" | "circuits" => {}
            k if top_fields.iter().any(|f| f == k) => {
                config.insert(key.clone(), value.clone());
            }
            _ => {
                return Err(invalid(
                    key,
                    format!("unknown field, expected one of {}", top_fields.join(", ")),
                ));
            }
        }
    }
    let circuits = top
        .get("circuits")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("circuits", "must be a list of circuits"))?;
    if circuits.len() != scenario.circuits {
        return Err(invalid(
            "circuits",
            format!(
                "the file has {} circuit(s) and the scenario {} (`circuits = {}`): each circuit \
                 of the file is replayed on the simulated circuit at the same index, so the \
                 counts must match",
                circuits.len(),
                scenario.circuits,
                scenario.circuits
            ),
        ));
    }
    let mut notes = Vec::new();
    let replayed = circuits
        .iter()
        .enumerate()
        .map(|(index, circuit)| {
            replay_circuit(circuit, index, scenario, (policy, resources), &mut notes)
        })
        .collect::<Result<Vec<_>>>()?;
    config.insert("account_id".to_owned(), json!(ACCOUNT));
    config.insert("region".to_owned(), json!(REGION));
    config.insert("circuits".to_owned(), Value::Array(replayed));
    Ok(Replayed {
        config: Value::Object(config),
        notes,
    })
}

fn replay_circuit(
    circuit: &Value,
    index: usize,
    scenario: &Scenario,
    (policy, resources): (&[String], &[String]),
    notes: &mut Vec<String>,
) -> Result<Value> {
    let at = format!("circuits[{index}]");
    let object = circuit
        .as_object()
        .ok_or_else(|| invalid(&at, "must be a JSON object"))?;
    let names = scenario.names(index);
    let mut out = Map::new();
    for (key, value) in object {
        if policy.contains(key) {
            out.insert(key.clone(), value.clone());
        } else if !resources.contains(key) {
            let mut expected: Vec<&str> =
                policy.iter().chain(resources).map(String::as_str).collect();
            expected.sort_unstable();
            return Err(invalid(
                format!("{at}.{key}"),
                format!("unknown field, expected one of {}", expected.join(", ")),
            ));
        } else if !MAPPED.contains(&key.as_str()) {
            return Err(invalid(
                format!("{at}.{key}"),
                "a resource field the simulator does not know how to map onto its circuits",
            ));
        }
    }
    out.insert("event_source_mapping_uuid".to_owned(), json!(names.uuid));
    out.insert("function_name".to_owned(), json!(names.function));
    out.insert(
        "queue_url".to_owned(),
        json!(Names::queue_url(&names.source)),
    );
    if let Some(overflow) = object.get("overflow") {
        let mut overflow = overflow
            .as_object()
            .ok_or_else(|| invalid(format!("{at}.overflow"), "must be a JSON object"))?
            .clone();
        overflow.insert(
            "queue_url".to_owned(),
            json!(Names::queue_url(&names.overflow)),
        );
        out.insert("overflow".to_owned(), Value::Object(overflow));
    }
    out.insert(
        "alarms".to_owned(),
        Value::Array(alarms(object, index, scenario, &at, notes)?),
    );
    Ok(Value::Object(out))
}

/// The file's alarms of `circuit`, each named as the simulated alarm of its kind.
fn alarms(
    circuit: &Map<String, Value>,
    index: usize,
    scenario: &Scenario,
    at: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<Value>> {
    let listed = circuit
        .get("alarms")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(format!("{at}.alarms"), "must be a list of alarms"))?;
    let simulated = scenario.alarm_kinds();
    let mut out: Vec<Value> = Vec::new();
    for (i, alarm) in listed.iter().enumerate() {
        let kind = alarm.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = alarm.get("name").and_then(Value::as_str).unwrap_or("");
        let sim_name = scenario.alarm_name(index, kind);
        if !simulated.contains(&kind) {
            notes.push(format!(
                "config_file {at}.alarms[{i}] ({kind} alarm {name:?}) is left out: the \
                 scenario simulates only {} alarms",
                simulated.join(", ")
            ));
        } else if out.iter().any(|a| a["name"] == json!(sim_name)) {
            notes.push(format!(
                "config_file {at}.alarms[{i}] ({kind} alarm {name:?}) is left out: the \
                 scenario has one {kind} alarm per circuit, already listed"
            ));
        } else {
            let mut alarm = alarm
                .as_object()
                .ok_or_else(|| invalid(format!("{at}.alarms[{i}]"), "must be a JSON object"))?
                .clone();
            alarm.insert("name".to_owned(), json!(sim_name));
            out.push(Value::Object(alarm));
        }
    }
    if out.is_empty() {
        return Err(invalid(
            format!("{at}.alarms"),
            format!(
                "none of its alarms is simulated: the scenario simulates {} alarms (its \
                 `[alarms]`)",
                simulated.join(", ")
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"
        name = "replay"
        duration = "10m"
        circuits = 2
        load = { kind = "constant", rate = 20 }
        downstream = { capacity_per_sec = 100, latency = "20ms" }
        config_file = "CONFIG"
    "#;

    fn shipped() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/configs/orders-payments.json")
    }

    fn scenario(config: &Path, circuits: usize) -> Result<Scenario> {
        let text = SCENARIO
            .replace("CONFIG", &config.display().to_string())
            .replace("circuits = 2", &format!("circuits = {circuits}"));
        Scenario::from_toml(&text, Path::new("replay.toml"))
    }

    fn write(dir: &Path, json: &Value) -> std::path::PathBuf {
        let path = dir.join("config.json");
        std::fs::write(&path, json.to_string()).expect("written");
        path
    }

    #[test]
    fn a_rendered_config_is_replayed_with_the_simulators_resources() {
        let scenario = scenario(&shipped(), 2).expect("valid");
        let replayed = scenario.replayed.clone().expect("read");
        let config = scenario.controller_config();
        assert_eq!(config, replayed.config);
        floodgate_core::ControllerConfig::from_json(&config.to_string())
            .expect("the controller accepts it");
        let payments = &config["circuits"][1];
        // The policy is the file's...
        assert_eq!(payments["name"], json!("payments"));
        assert_eq!(
            payments["levels"],
            json!({"max": 20, "probe": 4, "safe": 8})
        );
        assert_eq!(payments["timings"]["open_wait_secs"], json!(30));
        assert_eq!(payments["seed"], json!(7));
        assert_eq!(payments["overflow"]["ceiling"], json!(200));
        assert_eq!(config["control_plane_rate_per_sec"], json!(4));
        // ...the resources the simulator's.
        let names = scenario.names(1);
        assert_eq!(payments["event_source_mapping_uuid"], json!(names.uuid));
        assert_eq!(payments["function_name"], json!(names.function));
        assert_eq!(
            payments["overflow"]["queue_url"],
            json!(Names::queue_url(&names.overflow))
        );
        assert_eq!(
            payments["alarms"],
            json!([
                {"kind": "errors", "name": scenario.alarm_name(1, "errors")},
                {"kind": "depth", "name": scenario.alarm_name(1, "depth")},
                {"kind": "age", "name": scenario.alarm_name(1, "age")},
            ])
        );
        assert_eq!(config["account_id"], json!(ACCOUNT));
        // Every alarm of the file is simulated, the age alarms too.
        assert!(replayed.notes.is_empty(), "{:?}", replayed.notes);
        assert_eq!(
            config["circuits"][0]["alarms"][3],
            json!({"kind": "age", "name": scenario.alarm_name(0, "age")})
        );
    }

    #[test]
    fn an_alarm_of_a_kind_the_scenario_turned_off_is_left_out_with_a_note() {
        let text = SCENARIO.replace("CONFIG", &shipped().display().to_string())
            + "[alarms]\nage = false\n";
        let scenario = Scenario::from_toml(&text, Path::new("replay.toml")).expect("valid");
        let replayed = scenario.replayed.clone().expect("read");
        assert_eq!(replayed.notes.len(), 2, "{:?}", replayed.notes);
        assert!(replayed.notes[0].contains("circuits[0].alarms[3]"));
        assert!(replayed.notes[0].contains("age"));
        assert_eq!(
            replayed.config["circuits"][1]["alarms"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = scenario(Path::new("no-such-config.json"), 2).expect_err("missing");
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("no-such-config.json"), "{err}");
    }

    #[test]
    fn the_circuit_counts_must_match() {
        let err = scenario(&shipped(), 3).expect_err("three circuits, two in the file");
        let text = err.to_string();
        assert!(text.contains("config_file circuits"), "{text}");
        assert!(
            text.contains("has 2 circuit(s) and the scenario 3"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut json: Value =
            serde_json::from_str(&std::fs::read_to_string(shipped()).expect("shipped"))
                .expect("json");
        json["circuits"][1]["colour"] = json!("red");
        let err = scenario(&write(dir.path(), &json), 2).expect_err("unknown field");
        assert!(
            err.to_string()
                .contains("config_file circuits[1].colour: unknown field"),
            "{err}"
        );
        json["circuits"][1]
            .as_object_mut()
            .expect("object")
            .remove("colour");
        json["flavour"] = json!(1);
        let err = scenario(&write(dir.path(), &json), 2).expect_err("unknown field");
        assert!(
            err.to_string()
                .contains("config_file flavour: unknown field"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_policy_is_refused_by_the_controllers_loader() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut json: Value =
            serde_json::from_str(&std::fs::read_to_string(shipped()).expect("shipped"))
                .expect("json");
        json["circuits"][0]["levels"]["safe"] = json!(500);
        let scenario = scenario(&write(dir.path(), &json), 2).expect("read");
        let err =
            floodgate_core::ControllerConfig::from_json(&scenario.controller_config().to_string())
                .expect_err("safe above max");
        assert!(err.to_string().contains("circuits[0].levels"), "{err}");
    }

    #[test]
    fn a_circuit_with_no_simulated_alarm_is_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut json: Value =
            serde_json::from_str(&std::fs::read_to_string(shipped()).expect("shipped"))
                .expect("json");
        json["circuits"][0]["alarms"] = json!([{"kind": "custom", "name": "a"}]);
        let err = scenario(&write(dir.path(), &json), 2).expect_err("nothing to alarm on");
        assert!(
            err.to_string().contains("config_file circuits[0].alarms"),
            "{err}"
        );
    }

    #[test]
    fn inline_floodgate_and_a_config_file_together_are_refused() {
        let text = SCENARIO.replace("CONFIG", &shipped().display().to_string())
            + "[floodgate]\nlevels = { max = 10, safe = 4 }\n";
        let err = Scenario::from_toml(&text, Path::new("both.toml")).expect_err("both");
        assert!(err.to_string().contains("not both"), "{err}");
    }

    #[test]
    fn a_relative_path_is_read_from_the_scenarios_directory() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir(dir.path().join("configs")).expect("dir");
        std::fs::copy(shipped(), dir.path().join("configs/c.json")).expect("copied");
        let text = SCENARIO.replace("CONFIG", "configs/c.json");
        Scenario::from_toml(&text, &dir.path().join("replay.toml")).expect("found");
    }
}
