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
//!     "seed": 0,
//!     "overflow": {"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders-overflow",
//!                  "ceiling": 1000, "move_rate_per_sec": 100, "max_moves_per_invocation": 1000,
//!                  "replay_after_secs": 120, "replay_rate_per_sec": 50,
//!                  "max_replays_per_invocation": 2000, "max_replays_per_message": 3}
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
//! | `circuits[].overflow` | optional; needs `queue_url`. See [`crate::overflow`] for what it does |
//! | `overflow.queue_url` | the circuit's overflow queue: a standard queue other than the source, used by no other circuit (as overflow queue or as source), so every message in it is this circuit's |
//! | `overflow.ceiling` | default [`DEFAULT_OVERFLOW_CEILING`], at least 1: visible messages the source may hold while the circuit is tripped (the excess is moved), and the level replay refills it to at most |
//! | `overflow.move_rate_per_sec` | default [`DEFAULT_MOVE_RATE`], 1 to [`MAX_TRANSFER_RATE`] |
//! | `overflow.max_moves_per_invocation` | default [`DEFAULT_MAX_MOVES`], at least 1, and at most [`MAX_TRANSFER_SECS`] seconds' worth at `move_rate_per_sec` |
//! | `overflow.replay_after_secs` | default [`DEFAULT_REPLAY_AFTER_SECS`], at most [`MAX_REPLAY_AFTER_SECS`]: how long the circuit must have been Closed before the overflow is replayed |
//! | `overflow.replay_rate_per_sec` | default [`DEFAULT_REPLAY_RATE`], 1 to [`MAX_TRANSFER_RATE`] |
//! | `overflow.max_replays_per_invocation` | default [`DEFAULT_MAX_REPLAYS`], at least 1, and at most [`MAX_TRANSFER_SECS`] seconds' worth at `replay_rate_per_sec`; a replay stops within a second of one of the circuit's alarms going to ALARM, and an invocation replays for at most 45 s |
//! | `overflow.max_replays_per_message` | default [`DEFAULT_MAX_REPLAYS_PER_MESSAGE`], 1 to [`MAX_REPLAYS_PER_MESSAGE`]: a message replayed this often goes to the circuit's DLQ, with the reason, instead of cycling between source and overflow |
//!
//! FIFO queues (`.fifo`) are refused as source or overflow queue when `overflow` is set:
//! moving messages out and back would break their order and deduplication.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::Error;
use crate::policy::{Action, AlarmKind, CircuitConfig, CircuitConfigSpec, PolicyError};

/// The environment variable holding the configuration JSON.
pub const CONFIG_ENV: &str = "FLOODGATE_CONFIG";
/// Default Lambda control-plane calls per second, all circuits together: a third of Lambda's
/// per-account limit, leaving the rest to deployments and other tools.
pub const DEFAULT_CONTROL_PLANE_RATE: u32 = 5;
/// Lambda's control-plane limit per account; a higher rate could only be throttled.
pub const MAX_CONTROL_PLANE_RATE: u32 = 15;
/// Most alarms per circuit: what one `DescribeAlarms` call accepts.
pub const MAX_ALARMS_PER_CIRCUIT: usize = 100;
/// Default overflow ceiling: visible messages a tripped circuit's source may keep.
pub const DEFAULT_OVERFLOW_CEILING: u64 = 1000;
/// Default messages moved to the overflow queue per second.
pub const DEFAULT_MOVE_RATE: u32 = 100;
/// Default most messages moved per invocation (10 s at the default rate).
pub const DEFAULT_MAX_MOVES: u32 = 1000;
/// Default time a circuit must have been Closed before its overflow is replayed.
pub const DEFAULT_REPLAY_AFTER_SECS: u64 = 120;
/// Default messages replayed to the source per second: slower than moves, so a recovering
/// consumer is not flooded again by its own backlog.
pub const DEFAULT_REPLAY_RATE: u32 = 50;
/// Default most messages replayed per invocation: 40 s at the default rate, within the
/// controller's replay budget (`DEFAULT_REPLAY_BUDGET`, 45 s). A trip does not have to wait
/// for it to end: a replay reads the circuit's alarms every second and stops at the first
/// in ALARM, and keeps the source under its ceiling as it goes.
pub const DEFAULT_MAX_REPLAYS: u32 = 2000;
/// Default replays of one message before it goes to the circuit's DLQ: a message that came
/// back to the overflow queue three times is flooding its consumer, not waiting for it.
pub const DEFAULT_MAX_REPLAYS_PER_MESSAGE: u32 = 3;
/// Highest `max_replays_per_message`.
pub const MAX_REPLAYS_PER_MESSAGE: u32 = 100;
/// Highest move or replay rate: what one controller moving batches of 10 one after another
/// sustains (SQS's own limits are far higher).
pub const MAX_TRANSFER_RATE: u32 = 3000;
/// Longest a move or replay may take within one invocation, at its configured rate: the
/// controller serves every circuit one after another, within one Lambda timeout.
pub const MAX_TRANSFER_SECS: u32 = 60;
/// Longest `replay_after_secs`: a week.
pub const MAX_REPLAY_AFTER_SECS: u64 = 7 * 24 * 3600;

/// A circuit's overflow: where the excess of its source goes while it is tripped, and how
/// fast it goes there and comes back. See [`crate::overflow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverflowConfig {
    queue_url: String,
    ceiling: u64,
    move_rate_per_sec: NonZeroU32,
    max_moves_per_invocation: NonZeroU32,
    replay_after: Duration,
    replay_rate_per_sec: NonZeroU32,
    max_replays_per_invocation: NonZeroU32,
    max_replays_per_message: NonZeroU32,
}

impl OverflowConfig {
    /// Replays of one message before it goes to the circuit's DLQ.
    pub fn max_replays_per_message(&self) -> NonZeroU32 {
        self.max_replays_per_message
    }

    /// The overflow queue.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Visible messages the source may keep while the circuit is tripped.
    pub fn ceiling(&self) -> u64 {
        self.ceiling
    }

    /// Messages moved per second.
    pub fn move_rate_per_sec(&self) -> NonZeroU32 {
        self.move_rate_per_sec
    }

    /// Most messages moved per invocation.
    pub fn max_moves_per_invocation(&self) -> NonZeroU32 {
        self.max_moves_per_invocation
    }

    /// How long the circuit must have been Closed before the overflow is replayed.
    pub fn replay_after(&self) -> Duration {
        self.replay_after
    }

    /// Messages replayed per second.
    pub fn replay_rate_per_sec(&self) -> NonZeroU32 {
        self.replay_rate_per_sec
    }

    /// Most messages replayed per invocation.
    pub fn max_replays_per_invocation(&self) -> NonZeroU32 {
        self.max_replays_per_invocation
    }
}

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
    /// The bare function name, whether configured as a name or an ARN: what mappings and
    /// circuits sharing the function are matched by.
    function_key: String,
    queue_url: Option<String>,
    alarms: Vec<CircuitAlarm>,
    alarm_names: Vec<String>,
    overflow: Option<OverflowConfig>,
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

    /// The bare name of the function (from a name or an ARN, without a qualifier).
    pub fn function_key(&self) -> &str {
        &self.function_key
    }

    /// Whether `function_arn` (a mapping's `FunctionArn`, possibly qualified with a version
    /// or alias) names this circuit's function, in `account` and `region`.
    pub fn invokes(&self, function_arn: &str, account: &str, region: &str) -> bool {
        let parts: Vec<&str> = function_arn.split(':').collect();
        // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
        matches!(parts.as_slice(),
            ["arn", _, "lambda", r, a, "function", name, ..]
                if *r == region && *a == account && *name == self.function_key)
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

    /// The overflow settings, if the circuit has an overflow queue.
    pub fn overflow(&self) -> Option<&OverflowConfig> {
        self.overflow.as_ref()
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
        let raw: RawConfig = read_at(&mut serde_json::Deserializer::from_str(json), "")?;
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

    /// Every error of a configuration document, each naming its field: the document's own
    /// (or the first cross-circuit one), then each circuit's, validated alone. Empty when
    /// the document is valid. What `floodgate config check` prints.
    pub fn errors(json: &str) -> Vec<Error> {
        let Err(first) = Self::from_json(json) else {
            return Vec::new();
        };
        let Ok(serde_json::Value::Object(doc)) = serde_json::from_str::<serde_json::Value>(json)
        else {
            return vec![first];
        };
        let Some(serde_json::Value::Array(circuits)) = doc.get("circuits") else {
            return vec![first];
        };
        let mut errors = Vec::new();
        for (i, circuit) in circuits.iter().enumerate() {
            let mut alone = doc.clone();
            alone.insert(
                "circuits".to_owned(),
                serde_json::Value::Array(vec![circuit.clone()]),
            );
            if let Err(Error::Config { field, reason }) =
                Self::from_json(&serde_json::Value::Object(alone).to_string())
            {
                let field = field
                    .strip_prefix("circuits[0]")
                    .map_or(field.clone(), |rest| format!("circuits[{i}]{rest}"));
                errors.push(Error::Config { field, reason });
            }
        }
        errors.dedup();
        if errors.is_empty() {
            // Nothing wrong with any circuit alone: the error is between circuits.
            errors.push(first);
        }
        errors
    }

    /// The configuration as the controller runs it, every default filled in.
    pub fn normalized(&self) -> serde_json::Value {
        let circuits: Vec<serde_json::Value> = self
            .circuits
            .iter()
            .map(|c| {
                let mut doc = serde_json::to_value(c.policy.spec()).unwrap_or_default();
                doc["event_source_mapping_uuid"] = c.event_source_mapping_uuid.clone().into();
                doc["function_name"] = c.function_name.clone().into();
                if let Some(url) = &c.queue_url {
                    doc["queue_url"] = url.clone().into();
                }
                doc["alarms"] = c
                    .alarms
                    .iter()
                    .map(|a| match a.kind {
                        AlarmKind::Custom(action) => serde_json::json!({
                            "name": a.name, "kind": "custom", "action": action
                        }),
                        kind => serde_json::json!({
                            "name": a.name,
                            "kind": serde_json::to_value(kind).unwrap_or_default()
                        }),
                    })
                    .collect();
                if let Some(o) = &c.overflow {
                    doc["overflow"] = serde_json::json!({
                        "queue_url": o.queue_url,
                        "ceiling": o.ceiling,
                        "move_rate_per_sec": o.move_rate_per_sec.get(),
                        "max_moves_per_invocation": o.max_moves_per_invocation.get(),
                        "replay_after_secs": o.replay_after.as_secs(),
                        "replay_rate_per_sec": o.replay_rate_per_sec.get(),
                        "max_replays_per_invocation": o.max_replays_per_invocation.get(),
                        "max_replays_per_message": o.max_replays_per_message.get(),
                    });
                }
                doc
            })
            .collect();
        serde_json::json!({
            "account_id": self.account_id,
            "region": self.region,
            "control_plane_rate_per_sec": self.control_plane_rate_per_sec.get(),
            "circuits": circuits,
        })
    }

    /// The other circuits whose mappings invoke the same function as `circuit`: their
    /// consumption counts toward the function's reserved concurrency too.
    pub fn siblings<'a>(&'a self, circuit: &'a Circuit) -> impl Iterator<Item = &'a Circuit> {
        self.circuits
            .iter()
            .filter(move |c| c.function_key == circuit.function_key && c.name() != circuit.name())
    }

    /// The circuit that owns the alarm named `alarm`.
    pub fn owner_of_alarm(&self, alarm: &str) -> Option<&Circuit> {
        self.alarm_owner.get(alarm).map(|&i| &self.circuits[i])
    }
}

/// The controller's configuration (`FLOODGATE_CONFIG`) as written. Its JSON Schema
/// ([`schema`]) is generated from these types, so the schema cannot drift from the parser.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Floodgate controller configuration (FLOODGATE_CONFIG)")]
struct RawConfig {
    /// The account (12 digits); events from any other account are rejected.
    #[schemars(regex(pattern = r"^[0-9]{12}$"))]
    account_id: String,
    /// The region code, e.g. `us-east-1`; events from any other region are rejected.
    region: String,
    /// Lambda control-plane calls per second, all circuits together (Lambda allows 15 per
    /// second per account, shared with everything else).
    #[serde(default = "default_rate")]
    #[schemars(range(min = 1, max = MAX_CONTROL_PLANE_RATE))]
    control_plane_rate_per_sec: u32,
    /// The circuits (at least one). Each is read by [`RawCircuit::from_object`].
    #[schemars(length(min = 1), with = "Vec<RawCircuit>")]
    circuits: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The configuration's JSON Schema (draft 2020-12), generated from the types that parse it:
/// every field, default and bound the controller accepts. Relations between fields (`safe`
/// between `probe` and `max`, unique names, …) are checked by the loader alone.
/// `floodgate config schema` prints it; the infra modules' tests check their bounds against
/// the committed copy (`infra/config.schema.json`).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawConfig)).unwrap_or_default()
}

fn default_rate() -> u32 {
    DEFAULT_CONTROL_PLANE_RATE
}

/// A circuit: its policy (name, levels, timings, actions) beside the AWS resources it
/// protects, in one object.
//
// The policy's fields are declared once, in `CircuitConfigSpec`, with their defaults and
// bounds. Serde cannot flatten two structs and refuse unknown fields at once (nor name the
// field of an error inside a flattened one), so `RawCircuit::from_object` splits the object
// by the field names of the two parts' schemas and reads each part on its own; the derive
// gives the JSON Schema the one merged object.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawCircuit {
    #[serde(flatten)]
    policy: CircuitConfigSpec,
    #[serde(flatten)]
    resources: RawResources,
}

/// The resources of a circuit as written: what it protects and where its excess goes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawResources {
    /// The protected event source mapping (referenced, not owned), unique.
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    event_source_mapping_uuid: String,
    /// The function the mapping invokes (name or ARN).
    #[schemars(length(min = 1))]
    function_name: String,
    /// The source queue, read for its depth; required with `overflow`.
    #[serde(default)]
    queue_url: Option<String>,
    /// The circuit's alarms; names unique across all circuits.
    #[schemars(length(min = 1, max = MAX_ALARMS_PER_CIRCUIT))]
    alarms: Vec<RawAlarm>,
    /// Where a tripped circuit's excess goes (needs `queue_url`; standard queues only).
    #[serde(default)]
    overflow: Option<RawOverflow>,
}

/// The field names of one circuit of the configuration: its policy's (`CircuitConfigSpec`)
/// and its resources' (the mapping, the function, the queues, the alarms, the overflow). The
/// loader splits a circuit by them; a field of neither is refused.
pub fn circuit_fields() -> &'static (Vec<String>, Vec<String>) {
    static FIELDS: std::sync::OnceLock<(Vec<String>, Vec<String>)> = std::sync::OnceLock::new();
    FIELDS.get_or_init(|| {
        (
            schema_fields::<CircuitConfigSpec>(),
            schema_fields::<RawResources>(),
        )
    })
}

/// The top-level field names of a type's JSON Schema.
fn schema_fields<T: JsonSchema>() -> Vec<String> {
    schemars::schema_for!(T)
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

/// Reads `value` as a `T`, naming the offending field below `path` (`(root)` for the
/// document itself) in the error.
fn read_at<'de, T, D>(deserializer: D, path: &str) -> Result<T, Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
    D::Error: std::fmt::Display,
{
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let inner = e.path().to_string();
        let field = match (path.is_empty(), inner.as_str()) {
            (true, ".") => "(root)".to_owned(),
            (true, _) => inner,
            (false, ".") => path.to_owned(),
            (false, _) => format!("{path}.{inner}"),
        };
        Error::config(field, e.into_inner().to_string())
    })
}

impl RawCircuit {
    /// Splits a circuit object into its policy and its resources and reads both, naming
    /// fields below `path` (`circuits[0]`). A field of neither part is refused by name.
    fn from_object(
        object: serde_json::Map<String, serde_json::Value>,
        path: &str,
    ) -> Result<Self, Error> {
        let (policy_fields, resource_fields) = circuit_fields();
        let mut policy = serde_json::Map::new();
        let mut resources = serde_json::Map::new();
        for (key, value) in object {
            let part = if policy_fields.contains(&key) {
                &mut policy
            } else if resource_fields.contains(&key) {
                &mut resources
            } else {
                let expected: Vec<String> = policy_fields
                    .iter()
                    .chain(resource_fields)
                    .map(|f| format!("`{f}`"))
                    .collect();
                return Err(Error::config(
                    format!("{path}.{key}"),
                    format!(
                        "unknown field `{}`, expected one of {}",
                        crate::error::bounded(&key),
                        expected.join(", ")
                    ),
                ));
            };
            part.insert(key, value);
        }
        Ok(Self {
            policy: read_at(serde_json::Value::Object(policy), path)?,
            resources: read_at(serde_json::Value::Object(resources), path)?,
        })
    }
}

/// An overflow block as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawOverflow {
    /// The circuit's overflow queue: a standard queue of its own.
    queue_url: String,
    /// Visible messages the source may hold while the circuit is tripped.
    #[serde(default = "default_ceiling")]
    #[schemars(range(min = 1))]
    ceiling: u64,
    /// Messages moved to the overflow queue per second.
    #[serde(default = "default_move_rate")]
    #[schemars(range(min = 1, max = MAX_TRANSFER_RATE))]
    move_rate_per_sec: u32,
    /// Most messages moved per invocation (at most `MAX_TRANSFER_SECS` seconds' worth).
    #[serde(default = "default_max_moves")]
    #[schemars(range(min = 1))]
    max_moves_per_invocation: u32,
    /// How long the circuit must have been Closed before the overflow is replayed.
    #[serde(default = "default_replay_after")]
    #[schemars(range(max = MAX_REPLAY_AFTER_SECS))]
    replay_after_secs: u64,
    /// Messages replayed to the source per second.
    #[serde(default = "default_replay_rate")]
    #[schemars(range(min = 1, max = MAX_TRANSFER_RATE))]
    replay_rate_per_sec: u32,
    /// Most messages replayed per invocation (at most `MAX_TRANSFER_SECS` seconds' worth).
    #[serde(default = "default_max_replays")]
    #[schemars(range(min = 1))]
    max_replays_per_invocation: u32,
    /// Replays of one message before it goes to the circuit's DLQ with the reason.
    #[serde(default = "default_max_replays_per_message")]
    #[schemars(range(min = 1, max = MAX_REPLAYS_PER_MESSAGE))]
    max_replays_per_message: u32,
}

fn default_max_replays_per_message() -> u32 {
    DEFAULT_MAX_REPLAYS_PER_MESSAGE
}

fn default_ceiling() -> u64 {
    DEFAULT_OVERFLOW_CEILING
}

fn default_move_rate() -> u32 {
    DEFAULT_MOVE_RATE
}

fn default_max_moves() -> u32 {
    DEFAULT_MAX_MOVES
}

fn default_replay_after() -> u64 {
    DEFAULT_REPLAY_AFTER_SECS
}

fn default_replay_rate() -> u32 {
    DEFAULT_REPLAY_RATE
}

fn default_max_replays() -> u32 {
    DEFAULT_MAX_REPLAYS
}

/// An alarm as written: `kind` is a plain string so an unknown one can be named in the error.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawAlarm {
    /// The alarm's name.
    #[schemars(length(min = 1))]
    name: String,
    /// What it watches: `errors`, `throttles`, `depth`, `age` or `custom`.
    #[schemars(extend("enum" = ["errors", "throttles", "depth", "age", "custom"]))]
    kind: String,
    /// `open` or `throttle`: required for `custom`, refused otherwise.
    #[serde(default)]
    action: Option<Action>,
}

impl RawConfig {
    fn validate(self) -> Result<ControllerConfig, Error> {
        if !alarms::is_account_id(&self.account_id) {
            return Err(Error::config(
                "account_id",
                format!("must be 12 digits, got {:?}", self.account_id),
            ));
        }
        if !alarms::is_region_code(&self.region) {
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
        for (i, object) in self.circuits.into_iter().enumerate() {
            let path = format!("circuits[{i}]");
            let circuit = RawCircuit::from_object(object, &path)?.validate(&path)?;
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
            check_overflow_not_shared(&path, &circuit, &circuits)?;
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
        check_shared_functions(&circuits)?;
        Ok(ControllerConfig {
            account_id: self.account_id,
            region: self.region,
            control_plane_rate_per_sec: rate,
            circuits,
            alarm_owner,
        })
    }
}

/// The bare function name of a function name or ARN (`name`, `name:qualifier`,
/// `arn:aws:lambda:region:account:function:name[:qualifier]`, `account:function:name`), or
/// `None` when it is not one. Lambda function names are 1 to 64 letters, digits, `-` and `_`
/// (Lambda API reference, `CreateFunction` `FunctionName`).
fn function_key(function: &str) -> Option<String> {
    let parts: Vec<&str> = function.split(':').collect();
    let name = match parts.as_slice() {
        [name]
        | [name, _]
        | ["arn", _, "lambda", _, _, "function", name, ..]
        | [_, "function", name, ..] => *name,
        _ => return None,
    };
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| name.to_owned())
}

/// Circuits whose mappings invoke one function share its reserved concurrency: Floodgate
/// sets it to the sum of their levels (Lambda: "make sure the reserved concurrency of your
/// function is greater than or equal to the total maximum concurrency of all Amazon SQS event
/// sources on the function", Lambda Developer Guide, "Configuring scaling behavior for SQS
/// event source mappings"). So they must manage it the same way, and none may use the kill
/// switch, which would set it to 0 under the others' feet.
fn check_shared_functions(circuits: &[Circuit]) -> Result<(), Error> {
    for (i, circuit) in circuits.iter().enumerate() {
        let Some(j) = circuits[..i]
            .iter()
            .position(|c| c.function_key == circuit.function_key)
        else {
            continue;
        };
        let first = &circuits[j];
        let path = format!("circuits[{i}]");
        if circuit.policy.reserved_concurrency() != first.policy.reserved_concurrency() {
            return Err(Error::config(
                format!("{path}.reserved_concurrency"),
                format!(
                    "must equal circuits[{j}].reserved_concurrency: both protect function {:?}, \
                     whose reserved concurrency covers them together",
                    circuit.function_key
                ),
            ));
        }
        if circuit.policy.kill_switch() || first.policy.kill_switch() {
            let k = if circuit.policy.kill_switch() { i } else { j };
            return Err(Error::config(
                format!("circuits[{k}].kill_switch"),
                format!(
                    "is not allowed when several circuits protect function {:?}: reserved \
                     concurrency 0 would stop the others too",
                    circuit.function_key
                ),
            ));
        }
    }
    Ok(())
}

impl RawCircuit {
    fn validate(self, path: &str) -> Result<Circuit, Error> {
        let Self {
            policy: spec,
            resources: this,
        } = self;
        let policy = spec.validate_at(path).map_err(|e| match e {
            PolicyError::InvalidConfig { field, reason } => Error::config(field, reason),
            other => Error::config(path, other.to_string()),
        })?;
        if !is_uuid(&this.event_source_mapping_uuid) {
            return Err(Error::config(
                format!("{path}.event_source_mapping_uuid"),
                format!("must be a UUID, got {:?}", this.event_source_mapping_uuid),
            ));
        }
        let Some(function_key) = function_key(&this.function_name) else {
            return Err(Error::config(
                format!("{path}.function_name"),
                format!(
                    "must be a function name or ARN (1 to 64 letters, digits, - or _), got {:?}",
                    crate::error::bounded(&this.function_name)
                ),
            ));
        };
        if let Some(url) = &this.queue_url {
            check_queue_url(&format!("{path}.queue_url"), url)?;
        }
        let overflow = match this.overflow {
            Some(raw) => Some(raw.validate(path, this.queue_url.as_deref())?),
            None => None,
        };
        if this.alarms.is_empty() || this.alarms.len() > MAX_ALARMS_PER_CIRCUIT {
            return Err(Error::config(
                format!("{path}.alarms"),
                format!(
                    "must name 1 to {MAX_ALARMS_PER_CIRCUIT} alarms, got {}",
                    this.alarms.len()
                ),
            ));
        }
        let mut alarms: Vec<CircuitAlarm> = Vec::with_capacity(this.alarms.len());
        for (k, raw) in this.alarms.into_iter().enumerate() {
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
            event_source_mapping_uuid: this.event_source_mapping_uuid,
            function_name: this.function_name,
            function_key,
            queue_url: this.queue_url,
            alarm_names: alarms.iter().map(|a| a.name.clone()).collect(),
            alarms,
            overflow,
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

impl RawOverflow {
    fn validate(self, circuit: &str, source: Option<&str>) -> Result<OverflowConfig, Error> {
        let path = format!("{circuit}.overflow");
        let Some(source) = source else {
            return Err(Error::config(
                format!("{circuit}.queue_url"),
                "is required when overflow is set: it is the queue the excess is moved from",
            ));
        };
        if is_fifo_queue(source) {
            return Err(Error::config(
                format!("{circuit}.queue_url"),
                "is a FIFO queue; overflow supports standard queues only (moving messages out \
                 and back would break their order and deduplication)",
            ));
        }
        let queue_path = format!("{path}.queue_url");
        check_queue_url(&queue_path, &self.queue_url)?;
        if is_fifo_queue(&self.queue_url) {
            return Err(Error::config(
                queue_path,
                "is a FIFO queue; overflow supports standard queues only",
            ));
        }
        if self.queue_url == source {
            return Err(Error::config(
                queue_path,
                "must differ from the circuit's queue_url",
            ));
        }
        let move_rate = rate(&format!("{path}.move_rate_per_sec"), self.move_rate_per_sec)?;
        let replay_rate = rate(
            &format!("{path}.replay_rate_per_sec"),
            self.replay_rate_per_sec,
        )?;
        let max_moves = budget(
            &format!("{path}.max_moves_per_invocation"),
            self.max_moves_per_invocation,
            move_rate,
            "move_rate_per_sec",
        )?;
        let max_replays = budget(
            &format!("{path}.max_replays_per_invocation"),
            self.max_replays_per_invocation,
            replay_rate,
            "replay_rate_per_sec",
        )?;
        if self.ceiling == 0 {
            return Err(Error::config(
                format!("{path}.ceiling"),
                "must be at least 1: replay refills the source up to the ceiling, so with 0 the \
                 overflow could never come back",
            ));
        }
        let max_replays_per_message = NonZeroU32::new(self.max_replays_per_message)
            .filter(|n| n.get() <= MAX_REPLAYS_PER_MESSAGE)
            .ok_or_else(|| {
                Error::config(
                    format!("{path}.max_replays_per_message"),
                    format!(
                        "must be between 1 and {MAX_REPLAYS_PER_MESSAGE}, got {}",
                        self.max_replays_per_message
                    ),
                )
            })?;
        if self.replay_after_secs > MAX_REPLAY_AFTER_SECS {
            return Err(Error::config(
                format!("{path}.replay_after_secs"),
                format!(
                    "must be at most {MAX_REPLAY_AFTER_SECS} (a week), got {}",
                    self.replay_after_secs
                ),
            ));
        }
        Ok(OverflowConfig {
            queue_url: self.queue_url,
            ceiling: self.ceiling,
            move_rate_per_sec: move_rate,
            max_moves_per_invocation: max_moves,
            replay_after: Duration::from_secs(self.replay_after_secs),
            replay_rate_per_sec: replay_rate,
            max_replays_per_invocation: max_replays,
            max_replays_per_message,
        })
    }
}

/// Refuses an overflow queue `circuit` (at `path`) shares with an earlier circuit, as
/// overflow queue or as source, and a source that is an earlier circuit's overflow queue.
/// Replay sends a message back to the source its provenance names; a shared queue would
/// mix the backlogs of two consumers, and one circuit's replay or moves would take the
/// other's messages.
fn check_overflow_not_shared(
    path: &str,
    circuit: &Circuit,
    earlier: &[Circuit],
) -> Result<(), Error> {
    let same = |a: &str, b: &str| queue_identity(a) == queue_identity(b);
    for (j, other) in earlier.iter().enumerate() {
        let other_overflow = other.overflow().map(OverflowConfig::queue_url);
        if let Some(overflow) = circuit.overflow().map(OverflowConfig::queue_url) {
            let field = format!("{path}.overflow.queue_url");
            if other_overflow.is_some_and(|o| same(o, overflow)) {
                return Err(Error::config(
                    field,
                    format!(
                        "is also the overflow queue of circuits[{j}]: overflow queues are not shared"
                    ),
                ));
            }
            if other.queue_url().is_some_and(|q| same(q, overflow)) {
                return Err(Error::config(
                    field,
                    format!(
                        "is the source queue of circuits[{j}]: an overflow queue holds only its own circuit's messages"
                    ),
                ));
            }
        }
        if let (Some(source), Some(o)) = (circuit.queue_url(), other_overflow)
            && same(source, o)
        {
            return Err(Error::config(
                format!("{path}.queue_url"),
                format!(
                    "is the overflow queue of circuits[{j}]: an overflow queue holds only its own circuit's messages"
                ),
            ));
        }
    }
    Ok(())
}

/// A queue URL's account and name (its last two path segments): the same queue may be
/// written with different hosts (`sqs.<region>.amazonaws.com`, `queue.amazonaws.com`).
fn queue_identity(url: &str) -> (&str, &str) {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts.next().unwrap_or_default();
    (account, name)
}

/// A move or replay rate: 1 to [`MAX_TRANSFER_RATE`] messages per second.
fn rate(field: &str, value: u32) -> Result<NonZeroU32, Error> {
    NonZeroU32::new(value)
        .filter(|r| r.get() <= MAX_TRANSFER_RATE)
        .ok_or_else(|| {
            Error::config(
                field,
                format!("must be between 1 and {MAX_TRANSFER_RATE}, got {value}"),
            )
        })
}

/// A per-invocation budget: at least 1, and done within [`MAX_TRANSFER_SECS`] at `rate`.
fn budget(field: &str, value: u32, rate: NonZeroU32, rate_name: &str) -> Result<NonZeroU32, Error> {
    let most = rate.get().saturating_mul(MAX_TRANSFER_SECS);
    NonZeroU32::new(value)
        .filter(|b| b.get() <= most)
        .ok_or_else(|| {
            Error::config(
                field,
                format!(
                    "must be between 1 and {most} ({MAX_TRANSFER_SECS} s at {rate_name} {rate}), got {value}"
                ),
            )
        })
}

fn check_queue_url(field: &str, url: &str) -> Result<(), Error> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(Error::config(
            field,
            format!("must be an SQS queue URL, got {url:?}"),
        ))
    }
}

/// Whether a queue URL (or name) is a FIFO queue's: FIFO queue names end in `.fifo`, and so
/// do their URLs. Queue names are case-sensitive, and so is the suffix (SQS Developer Guide,
/// "Amazon SQS FIFO queue names"). The one check of the workspace.
#[allow(clippy::case_sensitive_file_extension_comparisons)] // case-sensitive on purpose
pub fn is_fifo_queue(url: &str) -> bool {
    url.trim_end_matches('/').ends_with(".fifo")
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
    fn fifo_suffixes_are_case_sensitive_as_sqs_names_are() {
        assert!(is_fifo_queue(
            "https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo"
        ));
        assert!(is_fifo_queue("orders.fifo/"));
        assert!(!is_fifo_queue("orders.FIFO"));
        assert!(!is_fifo_queue("orders-fifo"));
    }

    #[test]
    fn uuid_shapes_are_checked() {
        assert!(is_uuid("14e0db71-5d35-4eb5-b481-8945cf9d10c2"));
        assert!(!is_uuid("14e0db71-5d35-4eb5-b481"));
        assert!(!is_uuid("14e0db71-5d35-4eb5-b481-8945cf9d10cz"));
    }
}
