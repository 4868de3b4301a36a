//! The controller's configuration: JSON in the environment variable [`CONFIG_ENV`], validated
//! once at cold start into an immutable [`ControllerConfig`]. A bad value is an init error that
//! names the field (`circuits[1].alarms[0].kind: unknown kind "foo"`).
//!
//! # Schema
//!
//! Unknown fields are rejected at every level.
//!
//! ```json
//! {
//!   "account_id": "123456789012",
//!   "region": "us-east-1",
//!   "control_plane_rate_per_sec": 5,
//!   "circuits": [{
//!     "name": "orders",
//!     "event_source_mapping_uuid": "14e0db71-5d35-4eb5-b481-8945cf9d10c2",
//!     "function_name": "orders-consumer",
//!     "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
//!     "alarms": [
//!       {"name": "orders-errors", "kind": "errors"},
//!       {"name": "orders-depth", "kind": "depth"},
//!       {"name": "orders-latency", "kind": "custom", "action": "open"}
//!     ],
//!     "levels": {"max": 50, "safe": 10, "probe": 2},
//!     "reserved_concurrency": {"mode": "managed", "headroom": 0},
//!     "kill_switch": false,
//!     "actions": {"throttles": "throttle", "depth": "throttle", "age": "open"},
//!     "timings": {"open_wait_secs": 60, "open_wait_cap_secs": 900, "jitter": 0.2,
//!                 "healthy_dwell_secs": 120, "min_dwell_secs": 30, "probe_window_secs": 60,
//!                 "ramp_step_secs": 60, "throttle_step_secs": 60},
//!     "seed": 0
//!   }]
//! }
//! ```
//!
//! | field | meaning |
//! | --- | --- |
//! | `account_id` | 12 digits; events from any other account are rejected |
//! | `region` | e.g. `us-east-1`; events from any other region are rejected |
//! | `control_plane_rate_per_sec` | optional, default [`DEFAULT_CONTROL_PLANE_RATE`], at most [`MAX_CONTROL_PLANE_RATE`]: Lambda control-plane calls per second, all circuits together (Lambda allows 15/s per account, shared with everything else) |
//! | `circuits` | at least one |
//! | `circuits[].name` | unique |
//! | `circuits[].event_source_mapping_uuid` | the protected mapping (referenced, not owned); unique |
//! | `circuits[].function_name` | the function the mapping invokes (name or ARN) |
//! | `circuits[].queue_url` | optional: the source queue, read for its depth |
//! | `circuits[].alarms` | 1 to [`MAX_ALARMS_PER_CIRCUIT`]; `kind` is `errors`, `throttles`, `depth`, `age` or `custom`; `action` (`open` or `throttle`) is required for `custom` and refused otherwise; names unique across all circuits |
//! | `levels`, `reserved_concurrency`, `kill_switch`, `actions`, `timings`, `seed` | as [`CircuitConfigSpec`]; all but `levels` optional |

use std::collections::HashMap;
use std::num::NonZeroU32;

use serde::Deserialize;

use crate::error::Error;
use crate::policy::{
    Action, Actions, AlarmKind, CircuitConfig, CircuitConfigSpec, Levels, PolicyError,
    ReservedConcurrency, Timings,
};

/// The environment variable holding the configuration JSON.
pub const CONFIG_ENV: &str = "FLOODGATE_CONFIG";
/// Default Lambda control-plane calls per second, all circuits together: a third of Lambda's
/// per-account limit, leaving the rest to deployments and other tools.
pub const DEFAULT_CONTROL_PLANE_RATE: u32 = 5;
/// Lambda's control-plane limit per account; a higher rate could only be throttled.
pub const MAX_CONTROL_PLANE_RATE: u32 = 15;
/// Most alarms per circuit: what one `DescribeAlarms` call accepts.
pub const MAX_ALARMS_PER_CIRCUIT: usize = 100;

/// One alarm of a circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitAlarm {
    /// The alarm's name.
    pub name: String,
    /// What it watches (and, for custom alarms, what it does).
    pub kind: AlarmKind,
}

/// One circuit: a protected event source mapping, its function, its alarms and its policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Circuit {
    policy: CircuitConfig,
    event_source_mapping_uuid: String,
    function_name: String,
    queue_url: Option<String>,
    alarms: Vec<CircuitAlarm>,
    alarm_names: Vec<String>,
}

impl Circuit {
    /// The circuit's name.
    pub fn name(&self) -> &str {
        self.policy.name()
    }

    /// The validated policy configuration.
    pub fn policy(&self) -> &CircuitConfig {
        &self.policy
    }

    /// The protected mapping's UUID.
    pub fn event_source_mapping_uuid(&self) -> &str {
        &self.event_source_mapping_uuid
    }

    /// The function the mapping invokes.
    pub fn function_name(&self) -> &str {
        &self.function_name
    }

    /// The source queue, if configured.
    pub fn queue_url(&self) -> Option<&str> {
        self.queue_url.as_deref()
    }

    /// The circuit's alarms, in configuration order.
    pub fn alarms(&self) -> &[CircuitAlarm] {
        &self.alarms
    }

    /// The alarm names, in configuration order (what `DescribeAlarms` is asked for).
    pub fn alarm_names(&self) -> &[String] {
        &self.alarm_names
    }
}

/// The validated, immutable controller configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerConfig {
    account_id: String,
    region: String,
    control_plane_rate_per_sec: NonZeroU32,
    circuits: Vec<Circuit>,
    /// Alarm name → index into `circuits`.
    alarm_owner: HashMap<String, usize>,
}

impl ControllerConfig {
    /// Reads and validates the configuration from [`CONFIG_ENV`].
    ///
    /// # Errors
    /// [`Error::Config`] when the variable is unset or the configuration is invalid.
    pub fn from_env() -> Result<Self, Error> {
        let json = std::env::var(CONFIG_ENV)
            .map_err(|e| Error::config(CONFIG_ENV, format!("cannot be read: {e}")))?;
        Self::from_json(&json)
    }

    /// Parses and validates a configuration document.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first offending field.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let mut de = serde_json::Deserializer::from_str(json);
        let raw: RawConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "(root)".to_owned()
            } else {
                path
            };
            Error::config(field, e.into_inner().to_string())
        })?;
        raw.validate()
    }

    /// The account whose events are accepted.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The region whose events are accepted.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Lambda control-plane calls per second, all circuits together.
    pub fn control_plane_rate_per_sec(&self) -> NonZeroU32 {
        self.control_plane_rate_per_sec
    }

    /// Every circuit, in configuration order.
    pub fn circuits(&self) -> &[Circuit] {
        &self.circuits
    }

    /// The circuit named `name`.
    pub fn circuit(&self, name: &str) -> Option<&Circuit> {
        self.circuits.iter().find(|c| c.name() == name)
    }

    /// The circuit that owns the alarm named `alarm`.
    pub fn owner_of_alarm(&self, alarm: &str) -> Option<&Circuit> {
        self.alarm_owner.get(alarm).map(|&i| &self.circuits[i])
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    account_id: String,
    region: String,
    #[serde(default = "default_rate")]
    control_plane_rate_per_sec: u32,
    circuits: Vec<RawCircuit>,
}

fn default_rate() -> u32 {
    DEFAULT_CONTROL_PLANE_RATE
}

/// A circuit as written. It mirrors the optional fields of [`CircuitConfigSpec`] instead of
/// flattening it, because `flatten` and `deny_unknown_fields` do not work together.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCircuit {
    name: String,
    event_source_mapping_uuid: String,
    function_name: String,
    #[serde(default)]
    queue_url: Option<String>,
    alarms: Vec<RawAlarm>,
    levels: Levels,
    #[serde(default)]
    reserved_concurrency: ReservedConcurrency,
    #[serde(default)]
    kill_switch: bool,
    #[serde(default)]
    actions: Actions,
    #[serde(default)]
    timings: Timings,
    #[serde(default)]
    seed: u64,
}

/// An alarm as written: `kind` is a plain string so an unknown one can be named in the error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlarm {
    name: String,
    kind: String,
    #[serde(default)]
    action: Option<Action>,
}

impl RawConfig {
    fn validate(self) -> Result<ControllerConfig, Error> {
        if !(self.account_id.len() == 12 && self.account_id.bytes().all(|b| b.is_ascii_digit())) {
            return Err(Error::config(
                "account_id",
                format!("must be 12 digits, got {:?}", self.account_id),
            ));
        }
        if !is_region(&self.region) {
            return Err(Error::config(
                "region",
                format!(
                    "must be a region code such as us-east-1, got {:?}",
                    self.region
                ),
            ));
        }
        let rate = NonZeroU32::new(self.control_plane_rate_per_sec)
            .filter(|r| r.get() <= MAX_CONTROL_PLANE_RATE)
            .ok_or_else(|| {
                Error::config(
                    "control_plane_rate_per_sec",
                    format!(
                        "must be between 1 and {MAX_CONTROL_PLANE_RATE}, got {}",
                        self.control_plane_rate_per_sec
                    ),
                )
            })?;
        if self.circuits.is_empty() {
            return Err(Error::config("circuits", "must name at least one circuit"));
        }
        let mut circuits = Vec::with_capacity(self.circuits.len());
        let mut alarm_owner: HashMap<String, usize> = HashMap::new();
        for (i, raw) in self.circuits.into_iter().enumerate() {
            let path = format!("circuits[{i}]");
            let circuit = raw.validate(&path)?;
            if let Some(j) = circuits
                .iter()
                .position(|c: &Circuit| c.name() == circuit.name())
            {
                return Err(Error::config(
                    format!("{path}.name"),
                    format!(
                        "duplicate circuit {:?} (also circuits[{j}])",
                        circuit.name()
                    ),
                ));
            }
            if let Some(j) = circuits.iter().position(|c: &Circuit| {
                c.event_source_mapping_uuid == circuit.event_source_mapping_uuid
            }) {
                return Err(Error::config(
                    format!("{path}.event_source_mapping_uuid"),
                    format!("duplicate mapping (also circuits[{j}])"),
                ));
            }
            for (k, alarm) in circuit.alarms.iter().enumerate() {
                if let Some(&j) = alarm_owner.get(&alarm.name) {
                    return Err(Error::config(
                        format!("{path}.alarms[{k}].name"),
                        format!(
                            "duplicate alarm {:?} (also in circuits[{j}]): an alarm belongs to one circuit",
                            alarm.name
                        ),
                    ));
                }
                alarm_owner.insert(alarm.name.clone(), i);
            }
            circuits.push(circuit);
        }
        Ok(ControllerConfig {
            account_id: self.account_id,
            region: self.region,
            control_plane_rate_per_sec: rate,
            circuits,
            alarm_owner,
        })
    }
}

impl RawCircuit {
    fn validate(self, path: &str) -> Result<Circuit, Error> {
        let spec = CircuitConfigSpec {
            name: self.name,
            levels: self.levels,
            reserved_concurrency: self.reserved_concurrency,
            kill_switch: self.kill_switch,
            actions: self.actions,
            timings: self.timings,
            seed: self.seed,
        };
        let policy = spec.validate_at(path).map_err(|e| match e {
            PolicyError::InvalidConfig { field, reason } => Error::config(field, reason),
            other => Error::config(path, other.to_string()),
        })?;
        if !is_uuid(&self.event_source_mapping_uuid) {
            return Err(Error::config(
                format!("{path}.event_source_mapping_uuid"),
                format!("must be a UUID, got {:?}", self.event_source_mapping_uuid),
            ));
        }
        if self.function_name.trim().is_empty() {
            return Err(Error::config(
                format!("{path}.function_name"),
                "must not be empty",
            ));
        }
        if let Some(url) = &self.queue_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(Error::config(
                format!("{path}.queue_url"),
                format!("must be an SQS queue URL, got {url:?}"),
            ));
        }
        if self.alarms.is_empty() || self.alarms.len() > MAX_ALARMS_PER_CIRCUIT {
            return Err(Error::config(
                format!("{path}.alarms"),
                format!(
                    "must name 1 to {MAX_ALARMS_PER_CIRCUIT} alarms, got {}",
                    self.alarms.len()
                ),
            ));
        }
        let mut alarms: Vec<CircuitAlarm> = Vec::with_capacity(self.alarms.len());
        for (k, raw) in self.alarms.into_iter().enumerate() {
            let alarm = raw.validate(&format!("{path}.alarms[{k}]"))?;
            if let Some(j) = alarms.iter().position(|a| a.name == alarm.name) {
                return Err(Error::config(
                    format!("{path}.alarms[{k}].name"),
                    format!("duplicate alarm {:?} (also alarms[{j}])", alarm.name),
                ));
            }
            alarms.push(alarm);
        }
        Ok(Circuit {
            policy,
            event_source_mapping_uuid: self.event_source_mapping_uuid,
            function_name: self.function_name,
            queue_url: self.queue_url,
            alarm_names: alarms.iter().map(|a| a.name.clone()).collect(),
            alarms,
        })
    }
}

impl RawAlarm {
    fn validate(self, path: &str) -> Result<CircuitAlarm, Error> {
        // CloudWatch alarm names are 1 to 255 characters.
        if self.name.trim().is_empty() || self.name.chars().count() > 255 {
            return Err(Error::config(
                format!("{path}.name"),
                "must be 1 to 255 characters",
            ));
        }
        let kind = match (self.kind.as_str(), self.action) {
            ("custom", Some(action)) => AlarmKind::Custom(action),
            ("custom", None) => {
                return Err(Error::config(
                    format!("{path}.action"),
                    "is required for kind \"custom\" (\"open\" or \"throttle\")",
                ));
            }
            (kind @ ("errors" | "throttles" | "depth" | "age"), Some(_)) => {
                return Err(Error::config(
                    format!("{path}.action"),
                    format!(
                        "is only allowed for kind \"custom\"; set the circuit's actions.{kind} instead"
                    ),
                ));
            }
            ("errors", None) => AlarmKind::Errors,
            ("throttles", None) => AlarmKind::Throttles,
            ("depth", None) => AlarmKind::Depth,
            ("age", None) => AlarmKind::Age,
            (other, _) => {
                return Err(Error::config(
                    format!("{path}.kind"),
                    format!("unknown kind {other:?} (errors, throttles, depth, age or custom)"),
                ));
            }
        };
        Ok(CircuitAlarm {
            name: self.name,
            kind,
        })
    }
}

/// `xx-name-9` style region codes (`us-east-1`, `ap-southeast-2`, `us-gov-west-1`).
fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// The 8-4-4-4-12 hex form Lambda gives mapping UUIDs.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_and_uuid_shapes_are_checked() {
        assert!(is_region("us-east-1"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("us-east"));
        assert!(!is_region("US-EAST-1"));
        assert!(!is_region("us--1"));
        assert!(is_uuid("14e0db71-5d35-4eb5-b481-8945cf9d10c2"));
        assert!(!is_uuid("14e0db71-5d35-4eb5-b481"));
        assert!(!is_uuid("14e0db71-5d35-4eb5-b481-8945cf9d10cz"));
    }
}
