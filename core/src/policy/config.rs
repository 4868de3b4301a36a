//! A circuit's policy configuration: a validated, immutable value with named defaults.

use std::time::Duration;

use chrono::TimeDelta;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::error::PolicyError;
use super::signals::{Action, AlarmKind};

/// The lowest `MaximumConcurrency` an SQS event source mapping accepts.
pub const MIN_LEVEL: u32 = 2;
/// The highest `MaximumConcurrency` an SQS event source mapping accepts.
pub const MAX_LEVEL: u32 = 1000;
/// Default probe level: the SQS minimum, so a probe risks as little as possible.
pub const DEFAULT_PROBE: u32 = MIN_LEVEL;
/// Default reserved concurrency above the event source mapping's share.
pub const DEFAULT_HEADROOM: u32 = 0;
/// Default open wait after the first trip.
pub const DEFAULT_OPEN_WAIT: Duration = Duration::from_mins(1);
/// Default ceiling of the open wait, however often the circuit re-trips.
pub const DEFAULT_OPEN_WAIT_CAP: Duration = Duration::from_mins(15);
/// Default jitter: the open wait is stretched by up to this fraction.
pub const DEFAULT_JITTER: f64 = 0.2;
/// Default time alarms must be healthy before the circuit leaves Open or Throttled.
pub const DEFAULT_HEALTHY_DWELL: Duration = Duration::from_mins(2);
/// Default minimum time in any state before relaxing out of it.
pub const DEFAULT_MIN_DWELL: Duration = Duration::from_secs(30);
/// Default healthy time in `HalfOpen` before ramping.
pub const DEFAULT_PROBE_WINDOW: Duration = Duration::from_mins(1);
/// Default interval between doublings while ramping.
pub const DEFAULT_RAMP_STEP: Duration = Duration::from_mins(1);
/// Default interval between halvings while a throttle alarm stays in ALARM.
pub const DEFAULT_THROTTLE_STEP: Duration = Duration::from_mins(1);
/// Default highest share of failed invocations a probe may see and still pass: the errors
/// rate the infra modules' errors alarm fires at (50 %). The two must agree: a probe stricter
/// than the trip would keep a circuit open behind a failure rate that never trips it (a few
/// poison messages fail whole batches, and each is retried up to `maxReceiveCount` times),
/// which the simulator's `poison` scenario shows.
pub const DEFAULT_PROBE_MAX_ERROR_RATIO: f64 = 0.5;
/// Shortest accepted timing: shorter ones would let a flapping alarm flap the mapping.
pub const MIN_TIMING: Duration = Duration::from_secs(1);
/// Longest accepted timing.
pub const MAX_TIMING: Duration = Duration::from_hours(24);
/// Longest accepted circuit name.
pub const MAX_NAME_LEN: usize = 256;

/// The concurrency levels of a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    /// Normal `MaximumConcurrency` (at least `probe`).
    #[schemars(range(min = MIN_LEVEL, max = MAX_LEVEL))]
    pub max: u32,
    /// `MaximumConcurrency` when a throttle alarm first fires (the flood level; from `probe`
    /// to `max`).
    #[schemars(range(min = MIN_LEVEL, max = MAX_LEVEL))]
    pub safe: u32,
    /// `MaximumConcurrency` while probing.
    #[serde(default = "default_probe")]
    #[schemars(range(min = MIN_LEVEL, max = MAX_LEVEL))]
    pub probe: u32,
}

fn default_probe() -> u32 {
    DEFAULT_PROBE
}

impl Levels {
    /// `max` and `safe` with the default probe level.
    pub fn new(max: u32, safe: u32) -> Self {
        Self {
            max,
            safe,
            probe: DEFAULT_PROBE,
        }
    }

    /// Clamps `level` into `probe..=max`.
    pub fn clamp(&self, level: u32) -> u32 {
        level.clamp(self.probe, self.max)
    }
}

/// Whether Floodgate sets the function's reserved concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReservedConcurrency {
    /// Reserved concurrency follows the level, plus `headroom` for other invokers.
    Managed {
        /// Extra reserved concurrency above the mapping's `MaximumConcurrency`.
        #[serde(default)]
        #[schemars(range(max = MAX_LEVEL))]
        headroom: u32,
    },
    /// Never touched.
    Unmanaged,
}

impl Default for ReservedConcurrency {
    fn default() -> Self {
        Self::Managed {
            headroom: DEFAULT_HEADROOM,
        }
    }
}

/// The action of the configurable alarm kinds (`errors` always opens, `custom` carries its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Actions {
    /// Function throttles.
    pub throttles: Action,
    /// Queue depth.
    pub depth: Action,
    /// Age of the oldest message.
    pub age: Action,
}

impl Default for Actions {
    fn default() -> Self {
        Self {
            throttles: Action::Throttle,
            depth: Action::Throttle,
            age: Action::Throttle,
        }
    }
}

/// The timings of a circuit (JSON: whole seconds, fields suffixed `_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Timings {
    /// Open wait after the first trip; doubles with each re-trip.
    #[serde(rename = "open_wait_secs", with = "secs")]
    #[schemars(with = "u64", range(min = MIN_TIMING.as_secs(), max = MAX_TIMING.as_secs()))]
    pub open_wait: Duration,
    /// Ceiling of the open wait.
    #[serde(rename = "open_wait_cap_secs", with = "secs")]
    #[schemars(with = "u64", range(min = MIN_TIMING.as_secs(), max = MAX_TIMING.as_secs()))]
    pub open_wait_cap: Duration,
    /// The open wait is stretched by a deterministic fraction in `[0, jitter)` (below 1).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub jitter: f64,
    /// Alarms must be healthy this long before the circuit leaves Open or Throttled.
    #[serde(rename = "healthy_dwell_secs", with = "secs")]
    #[schemars(with = "u64", range(min = MIN_TIMING.as_secs(), max = MAX_TIMING.as_secs()))]
    pub healthy_dwell: Duration,
    /// Minimum time in every state before relaxing out of it (tightening is never delayed).
    #[serde(rename = "min_dwell_secs", with = "secs")]
    #[schemars(with = "u64", range(min = MIN_TIMING.as_secs(), max = MAX_TIMING.as_secs()))]
    pub min_dwell: Duration,
    /// Healthy time in `HalfOpen` before ramping.
    #[serde(rename = "probe_window_secs", with = "secs")]
    #[schemars(with = "u64", range(min = MIN_TIMING.as_secs(), max = MAX_TIMING.as_secs()))]
    pub probe_window: Duration,
    /// Ramping doubles the level after this long healthy.
    #[serde(rename = "ramp_step_secs", with = "secs")]
    #[schemars(with = "u64", range(min = MIN_TIMING.as_secs(), max = MAX_TIMING.as_secs()))]
    pub ramp_step: Duration,
    /// Throttled halves the level at most once per step while a throttle alarm stays in ALARM.
    #[serde(rename = "throttle_step_secs", with = "secs")]
    #[schemars(with = "u64", range(min = MIN_TIMING.as_secs(), max = MAX_TIMING.as_secs()))]
    pub throttle_step: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            open_wait: DEFAULT_OPEN_WAIT,
            open_wait_cap: DEFAULT_OPEN_WAIT_CAP,
            jitter: DEFAULT_JITTER,
            healthy_dwell: DEFAULT_HEALTHY_DWELL,
            min_dwell: DEFAULT_MIN_DWELL,
            probe_window: DEFAULT_PROBE_WINDOW,
            ramp_step: DEFAULT_RAMP_STEP,
            throttle_step: DEFAULT_THROTTLE_STEP,
        }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

/// The unvalidated configuration of one circuit, as loaded from JSON or written in code.
///
/// Turn it into a [`CircuitConfig`] with `try_from` (or [`CircuitConfigSpec::validate_at`] to
/// name fields by their place in a larger document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitConfigSpec {
    /// The circuit's name, unique (also seeds its jitter).
    #[schemars(length(min = 1, max = MAX_NAME_LEN))]
    pub name: String,
    /// Concurrency levels.
    pub levels: Levels,
    /// Reserved concurrency management.
    #[serde(default)]
    pub reserved_concurrency: ReservedConcurrency,
    /// Open sets reserved concurrency to 0, so nothing can invoke the function at all.
    #[serde(default)]
    pub kill_switch: bool,
    /// Actions of the configurable alarm kinds.
    #[serde(default)]
    pub actions: Actions,
    /// Timings.
    #[serde(default)]
    pub timings: Timings,
    /// Seed of the open-wait jitter, so decisions are reproducible.
    #[serde(default)]
    pub seed: u64,
    /// Highest share (0 to 1) of the probe's invocations that may fail for the probe to
    /// pass; above it the probe fails and the circuit re-opens.
    #[serde(default = "default_probe_max_error_ratio")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub probe_max_error_ratio: f64,
}

pub(crate) fn default_probe_max_error_ratio() -> f64 {
    DEFAULT_PROBE_MAX_ERROR_RATIO
}

impl CircuitConfigSpec {
    /// A spec named `name` with `levels` and every other field at its default.
    pub fn new(name: impl Into<String>, levels: Levels) -> Self {
        Self {
            name: name.into(),
            levels,
            reserved_concurrency: ReservedConcurrency::default(),
            kill_switch: false,
            actions: Actions::default(),
            timings: Timings::default(),
            seed: 0,
            probe_max_error_ratio: DEFAULT_PROBE_MAX_ERROR_RATIO,
        }
    }

    /// Validates the spec, naming fields below `path` (e.g. `circuits[0]`) in errors.
    ///
    /// # Errors
    /// [`PolicyError::InvalidConfig`] naming the first offending field.
    pub fn validate_at(self, path: &str) -> Result<CircuitConfig, PolicyError> {
        let field = |name: &str| {
            if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        };
        let name = self.name.trim();
        if name.is_empty() {
            return Err(PolicyError::config(field("name"), "must not be empty"));
        }
        if name.chars().count() > MAX_NAME_LEN {
            return Err(PolicyError::config(
                field("name"),
                format!("must be at most {MAX_NAME_LEN} characters"),
            ));
        }
        check_levels(&self.levels, &field)?;
        match self.reserved_concurrency {
            ReservedConcurrency::Managed { headroom } if headroom > MAX_LEVEL => {
                return Err(PolicyError::config(
                    field("reserved_concurrency.headroom"),
                    format!("must be at most {MAX_LEVEL}, got {headroom}"),
                ));
            }
            ReservedConcurrency::Unmanaged if self.kill_switch => {
                return Err(PolicyError::config(
                    field("kill_switch"),
                    "requires managed reserved concurrency (reserved_concurrency.mode = managed)",
                ));
            }
            ReservedConcurrency::Managed { .. } | ReservedConcurrency::Unmanaged => {}
        }
        if !(0.0..=1.0).contains(&self.probe_max_error_ratio) {
            return Err(PolicyError::config(
                field("probe_max_error_ratio"),
                format!(
                    "must be between 0 and 1, got {}",
                    self.probe_max_error_ratio
                ),
            ));
        }
        let deltas = check_timings(&self.timings, &field)?;
        Ok(CircuitConfig { spec: self, deltas })
    }
}

fn check_levels(levels: &Levels, field: &impl Fn(&str) -> String) -> Result<(), PolicyError> {
    let Levels { max, safe, probe } = *levels;
    if !(MIN_LEVEL..=MAX_LEVEL).contains(&probe) {
        return Err(PolicyError::config(
            field("levels.probe"),
            format!("must be between {MIN_LEVEL} and {MAX_LEVEL}, got {probe}"),
        ));
    }
    if !(probe..=MAX_LEVEL).contains(&max) {
        return Err(PolicyError::config(
            field("levels.max"),
            format!("must be between probe ({probe}) and {MAX_LEVEL}, got {max}"),
        ));
    }
    if !(probe..=max).contains(&safe) {
        return Err(PolicyError::config(
            field("levels.safe"),
            format!("must be between probe ({probe}) and max ({max}), got {safe}"),
        ));
    }
    Ok(())
}

fn check_timings(t: &Timings, field: &impl Fn(&str) -> String) -> Result<Deltas, PolicyError> {
    let named = [
        ("timings.open_wait_secs", t.open_wait),
        ("timings.open_wait_cap_secs", t.open_wait_cap),
        ("timings.healthy_dwell_secs", t.healthy_dwell),
        ("timings.min_dwell_secs", t.min_dwell),
        ("timings.probe_window_secs", t.probe_window),
        ("timings.ramp_step_secs", t.ramp_step),
        ("timings.throttle_step_secs", t.throttle_step),
    ];
    for (name, value) in named {
        if !(MIN_TIMING..=MAX_TIMING).contains(&value) {
            return Err(PolicyError::config(
                field(name),
                format!(
                    "must be between {} and {} seconds, got {}",
                    MIN_TIMING.as_secs(),
                    MAX_TIMING.as_secs(),
                    value.as_secs_f64()
                ),
            ));
        }
    }
    if t.open_wait_cap < t.open_wait {
        return Err(PolicyError::config(
            field("timings.open_wait_cap_secs"),
            format!(
                "must be at least open_wait_secs ({}), got {}",
                t.open_wait.as_secs_f64(),
                t.open_wait_cap.as_secs_f64()
            ),
        ));
    }
    // `jitter < 1` is what keeps the open wait from shrinking on a re-trip: the next wait is at
    // least twice the base of this one, and this one is at most `1 + jitter` times its base.
    if !(0.0..1.0).contains(&t.jitter) {
        return Err(PolicyError::config(
            field("timings.jitter"),
            format!("must be at least 0 and below 1, got {}", t.jitter),
        ));
    }
    // Every relaxing transition waits at least min_dwell; these windows must not promise less.
    let at_least_min_dwell = [
        ("timings.healthy_dwell_secs", t.healthy_dwell),
        ("timings.probe_window_secs", t.probe_window),
        ("timings.ramp_step_secs", t.ramp_step),
        ("timings.throttle_step_secs", t.throttle_step),
    ];
    for (name, value) in at_least_min_dwell {
        if value < t.min_dwell {
            return Err(PolicyError::config(
                field(name),
                format!(
                    "must be at least min_dwell_secs ({}), got {}",
                    t.min_dwell.as_secs_f64(),
                    value.as_secs_f64()
                ),
            ));
        }
    }
    let delta = |d: Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
    Ok(Deltas {
        healthy_dwell: delta(t.healthy_dwell),
        min_dwell: delta(t.min_dwell),
        probe_window: delta(t.probe_window),
        ramp_step: delta(t.ramp_step),
        throttle_step: delta(t.throttle_step),
    })
}

/// The timings as `chrono` deltas, converted once so deciding never has to fail on them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Deltas {
    pub(crate) healthy_dwell: TimeDelta,
    pub(crate) min_dwell: TimeDelta,
    pub(crate) probe_window: TimeDelta,
    pub(crate) ramp_step: TimeDelta,
    pub(crate) throttle_step: TimeDelta,
}

/// A validated, immutable circuit configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct CircuitConfig {
    spec: CircuitConfigSpec,
    #[serde(skip)]
    deltas: Deltas,
}

impl TryFrom<CircuitConfigSpec> for CircuitConfig {
    type Error = PolicyError;

    fn try_from(spec: CircuitConfigSpec) -> Result<Self, Self::Error> {
        spec.validate_at("")
    }
}

impl CircuitConfig {
    /// The circuit's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Concurrency levels.
    pub fn levels(&self) -> Levels {
        self.spec.levels
    }

    /// Reserved concurrency management.
    pub fn reserved_concurrency(&self) -> ReservedConcurrency {
        self.spec.reserved_concurrency
    }

    /// Whether Open sets reserved concurrency to 0.
    pub fn kill_switch(&self) -> bool {
        self.spec.kill_switch
    }

    /// Highest share of failed probe invocations that still passes the probe.
    pub fn probe_max_error_ratio(&self) -> f64 {
        self.spec.probe_max_error_ratio
    }

    /// Timings.
    pub fn timings(&self) -> &Timings {
        &self.spec.timings
    }

    /// The spec this config was validated from.
    pub fn spec(&self) -> &CircuitConfigSpec {
        &self.spec
    }

    pub(crate) fn deltas(&self) -> &Deltas {
        &self.deltas
    }

    /// What an alarm of `kind` does when it is in ALARM.
    pub fn action_for(&self, kind: AlarmKind) -> Action {
        let actions = &self.spec.actions;
        match kind {
            AlarmKind::Errors => Action::Open,
            AlarmKind::Throttles => actions.throttles,
            AlarmKind::Depth => actions.depth,
            AlarmKind::Age => actions.age,
            AlarmKind::Custom(action) => action,
        }
    }

    /// How long the circuit stays Open after its `trips`-th trip (counted since it last closed).
    ///
    /// `min(cap, base * 2^(trips-1) * (1 + jitter * u))`, where `u` in `[0, 1)` is drawn from
    /// the seed, the circuit name and `trips`: reproducible, different per circuit so circuits
    /// tripped together do not all probe at once, never shrinking as `trips` grows (see the
    /// jitter check in validation) and never above the cap.
    pub fn open_wait(&self, trips: u32) -> Duration {
        let t = &self.spec.timings;
        let doublings = i32::try_from(trips.saturating_sub(1).min(64)).unwrap_or(64);
        let stretch = 1.0 + t.jitter * jitter_unit(self.spec.seed, &self.spec.name, trips);
        let secs = t.open_wait.as_secs_f64() * 2f64.powi(doublings) * stretch;
        let cap = t.open_wait_cap;
        // The comparison keeps `from_secs_f64` away from values it cannot represent.
        if secs >= cap.as_secs_f64() {
            cap
        } else {
            Duration::from_secs_f64(secs).min(cap)
        }
    }

    /// An upper bound on the time from "every alarm healthy" to Closed when decisions run
    /// every `tick`, from any state and trip count (no override).
    ///
    /// The slowest path is Open at the capped wait, then the probe window, then one ramp step
    /// per doubling from `probe` to `max`; each of those transitions can land up to one tick
    /// after it becomes due.
    pub fn recovery_bound(&self, tick: Duration) -> Duration {
        let t = &self.spec.timings;
        let Levels { max, probe, .. } = self.spec.levels;
        let mut doublings = 1u32;
        while probe.saturating_mul(1 << doublings) < max {
            doublings += 1;
        }
        let leave_open = t.open_wait_cap.max(t.healthy_dwell).max(t.min_dwell);
        let probe_window = t.probe_window.max(t.min_dwell);
        let ramp_step = t.ramp_step.max(t.min_dwell);
        leave_open + probe_window + ramp_step * (doublings - 1) + tick * (doublings + 1)
    }
}

/// A reproducible draw in `[0, 1)` for (seed, circuit, trips).
fn jitter_unit(seed: u64, name: &str, trips: u32) -> f64 {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..12].copy_from_slice(&trips.to_le_bytes());
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(fnv1a(name.as_bytes()));
    rng.random::<f64>()
}

/// FNV-1a: a stable hash (unlike `std`'s, which may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
