//! Scenarios: what a simulation runs (TOML, documented field by field in
//! `loadtest/README.md`), and the world and controller configuration built from one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alarms::eval::{AlarmConfig, ComparisonOperator, Statistic, TreatMissingData};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::flood::schedule::{Limit, Schedule};
use crate::rates::RateProfile;
use crate::sim::cloudwatch::{AlarmSource, MetricKey, SimAlarm};
use crate::sim::consumer::{Consumer, FunctionSettings};
use crate::sim::downstream::{Downstream, FaultKind, FaultWindow};
use crate::sim::events::AfterEvent;
use crate::sim::mapping::SimMapping;
use crate::sim::names::{ACCOUNT, Names, REGION};
use crate::sim::params::Profile;
use crate::sim::queue::{QueueSettings, SimQueue};
use crate::sim::time::SimTime;
use crate::sim::world::{CircuitParts, CircuitWorld, Producer, World};

/// One scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// How long it runs (the load may end earlier).
    #[serde(with = "crate::units::duration")]
    pub duration: Duration,
    /// The seed of every random draw.
    #[serde(default)]
    pub seed: u64,
    /// The world's time step.
    #[serde(default = "default_step", with = "crate::units::duration")]
    pub step: Duration,
    /// Identical circuits sharing one controller and one control-plane budget.
    #[serde(default = "one")]
    pub circuits: usize,
    /// The consumer of each circuit.
    #[serde(default)]
    pub consumer: ConsumerSpec,
    /// Messages per second into each circuit's source queue.
    pub load: RateProfile,
    /// When the load stops (default: the whole scenario).
    #[serde(default, with = "crate::units::option_duration")]
    pub load_for: Option<Duration>,
    /// Or: the load stops this long after an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_until: Option<AfterEvent>,
    /// How often the controller is ticked (the infra modules' schedule: every minute,
    /// EventBridge Scheduler's shortest rate; a local drill ticks faster).
    #[serde(default = "default_tick", with = "crate::units::duration")]
    pub tick_every: Duration,
    /// What each consumer calls.
    pub downstream: DownstreamSpec,
    /// Each circuit's alarms (default: what the infra modules create).
    #[serde(default)]
    pub alarms: AlarmsSpec,
    /// Settings of the alternatives.
    #[serde(default)]
    pub strategies: StrategiesSpec,
    /// The controller's circuit configuration, merged over the generated one (levels,
    /// timings, overflow, …; resource names are the simulator's).
    #[serde(default)]
    pub floodgate: toml::Table,
    /// A controller configuration (`FLOODGATE_CONFIG` as the modules render it) whose
    /// circuits' policies are replayed on the simulated circuits (relative to the scenario
    /// file; not with `floodgate`). See [`crate::sim::config_file`].
    #[serde(default)]
    pub config_file: Option<PathBuf>,
    /// `config_file`, read and mapped onto the simulated circuits.
    #[serde(skip)]
    pub replayed: Option<crate::sim::config_file::Replayed>,
}

fn default_step() -> Duration {
    Duration::from_millis(100)
}

fn default_tick() -> Duration {
    Duration::from_mins(1)
}

fn one() -> usize {
    1
}

/// The consumer: its queue, mapping and function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerSpec {
    /// Messages per batch.
    pub batch_size: usize,
    /// The source queue's visibility timeout.
    #[serde(with = "crate::units::duration")]
    pub visibility_timeout: Duration,
    /// The source queue's `maxReceiveCount`.
    pub max_receive_count: u32,
    /// The function timeout.
    #[serde(with = "crate::units::duration")]
    pub function_timeout: Duration,
    /// Time per invocation besides the downstream calls.
    #[serde(with = "crate::units::duration")]
    pub overhead: Duration,
    /// The function's reserved concurrency as deployed.
    pub reserved_concurrency: Option<u32>,
    /// The mapping's `MaximumConcurrency` as deployed.
    pub maximum_concurrency: Option<u32>,
    /// Whether the mapping reports batch item failures.
    pub partial_batch: bool,
    /// Concurrency available to the function without a reservation.
    pub unreserved_concurrency: u32,
    /// Every message whose sequence number is a multiple of this fails, always (poison).
    pub poison_every: Option<u64>,
    /// The mapping's `MaximumBatchingWindowInSeconds`: a receive waits this long for a full
    /// batch.
    #[serde(with = "crate::units::duration")]
    pub batching_window: Duration,
    /// The mapping in provisioned mode (`ProvisionedPollerConfig`) as deployed; not with
    /// `maximum_concurrency`.
    pub provisioned: Option<ProvisionedSpec>,
}

/// A mapping's `ProvisionedPollerConfig`; the defaults are the API's for SQS (Lambda API
/// reference, `ProvisionedPollerConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionedSpec {
    /// `MinimumPollers` (2 to 200).
    #[serde(default = "two")]
    pub minimum_pollers: u32,
    /// `MaximumPollers` (2 to 2000, at least `minimum_pollers`).
    #[serde(default = "two_hundred")]
    pub maximum_pollers: u32,
}

impl ProvisionedSpec {
    /// As the core's port type.
    pub fn pollers(self) -> floodgate_core::ports::Pollers {
        floodgate_core::ports::Pollers {
            minimum: self.minimum_pollers,
            maximum: self.maximum_pollers,
        }
    }
}

fn two_hundred() -> u32 {
    200
}

impl Default for ConsumerSpec {
    fn default() -> Self {
        Self {
            batch_size: 10,
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: 5,
            function_timeout: Duration::from_secs(5),
            overhead: Duration::from_millis(10),
            reserved_concurrency: None,
            maximum_concurrency: None,
            partial_batch: false,
            unreserved_concurrency: 1000,
            poison_every: None,
            batching_window: Duration::ZERO,
            provisioned: None,
        }
    }
}

/// The downstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownstreamSpec {
    /// Calls per second it serves.
    pub capacity_per_sec: f64,
    /// Latency of one call when idle.
    #[serde(with = "crate::units::duration")]
    pub latency: Duration,
    /// Its faults.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
}

/// One fault window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// When it starts.
    #[serde(with = "crate::units::duration")]
    pub start: Duration,
    /// How long it lasts.
    #[serde(
        rename = "for",
        default,
        with = "crate::units::option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub length: Option<Duration>,
    /// Or: it lasts until this long after an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<AfterEvent>,
    /// What it does.
    pub fault: FaultKind,
}

impl FaultSpec {
    /// When it ends, when that is known beforehand.
    pub fn end(&self) -> Option<Duration> {
        self.length.map(|length| self.start + length)
    }
}

/// One alarm's settings, as the infra modules take them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmSpec {
    /// The threshold (`errors`: a percentage of invocations).
    pub threshold: f64,
    /// The period, in seconds.
    #[serde(default = "sixty")]
    pub period_secs: u32,
    /// N.
    #[serde(default = "three")]
    pub evaluation_periods: u32,
    /// M.
    #[serde(default = "two")]
    pub datapoints_to_alarm: u32,
    /// `errors` only: fewer invocations in a period give a rate of 0.
    #[serde(default)]
    pub min_invocations: f64,
    /// `errors` only: alarm on the error rate (the infra modules' metric math); `false`
    /// alarms on the sum of `Errors` (the test kit's LocalStack alarm).
    #[serde(default = "yes")]
    pub rate: bool,
}

fn yes() -> bool {
    true
}

fn sixty() -> u32 {
    60
}
fn three() -> u32 {
    3
}
fn two() -> u32 {
    2
}

/// A circuit's alarms; the defaults are the infra modules' (`infra/terraform/variables.tf`).
/// `None` (`false` in TOML) leaves an alarm out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmsSpec {
    /// The consumer's error rate.
    #[serde(with = "alarm_or_false")]
    pub errors: Option<AlarmSpec>,
    /// The consumer's throttles.
    #[serde(with = "alarm_or_false")]
    pub throttles: Option<AlarmSpec>,
    /// The source queue's visible messages.
    #[serde(with = "alarm_or_false")]
    pub depth: Option<AlarmSpec>,
    /// The age of the source queue's oldest message (`ApproximateAgeOfOldestMessage`, in
    /// seconds).
    #[serde(with = "alarm_or_false")]
    pub age: Option<AlarmSpec>,
    /// Where LocalStack's evaluation schedule stands: the first evaluation, after the start
    /// (LocalStack evaluates an alarm from its creation, every `N × period`; AWS aligns
    /// evaluations to the clock and ignores this).
    #[serde(with = "crate::units::duration")]
    pub first_evaluation: Duration,
}

/// An alarm's settings, or `false` for none.
mod alarm_or_false {
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

    use super::AlarmSpec;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Off(bool),
        On(AlarmSpec),
    }

    #[allow(clippy::ref_option)] // the signature serde's `with` calls
    pub fn serialize<S: Serializer>(spec: &Option<AlarmSpec>, s: S) -> Result<S::Ok, S::Error> {
        match spec {
            Some(spec) => spec.serialize(s),
            None => s.serialize_bool(false),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AlarmSpec>, D::Error> {
        match Either::deserialize(d)? {
            Either::Off(false) => Ok(None),
            Either::Off(true) => Err(D::Error::custom(
                "an alarm is a table of settings, or false to leave it out",
            )),
            Either::On(spec) => Ok(Some(spec)),
        }
    }
}

impl Default for AlarmsSpec {
    fn default() -> Self {
        let spec = |threshold, min_invocations| AlarmSpec {
            threshold,
            period_secs: 60,
            evaluation_periods: 3,
            datapoints_to_alarm: 2,
            min_invocations,
            rate: true,
        };
        Self {
            errors: Some(spec(50.0, 10.0)),
            throttles: Some(spec(1.0, 0.0)),
            depth: Some(spec(1000.0, 0.0)),
            age: Some(spec(300.0, 0.0)),
            first_evaluation: Duration::ZERO,
        }
    }
}

/// Settings of the alternatives to Floodgate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StrategiesSpec {
    /// `reserved-only`: the reserved concurrency set on the consumer.
    pub reserved_concurrency: u32,
}

impl Default for StrategiesSpec {
    fn default() -> Self {
        Self {
            reserved_concurrency: 5,
        }
    }
}

impl Scenario {
    /// Reads a scenario from the TOML `text` of file `path`.
    ///
    /// # Errors
    /// [`Error::Toml`] when it does not parse, [`Error::Invalid`] when a value is out of range.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self> {
        let scenario: Self = toml::from_str(text).map_err(|source| Error::Toml {
            path: path.to_owned(),
            source,
        })?;
        let mut scenario = scenario;
        scenario.validate()?;
        if let Some(file) = &scenario.config_file {
            scenario.replayed = Some(crate::sim::config_file::load(file, path, &scenario)?);
        }
        Ok(scenario)
    }

    /// Checks what the types cannot.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field.
    pub fn validate(&self) -> Result<()> {
        self.load.validate()?;
        if self.duration.is_zero() {
            return Err(Error::invalid("duration", "must be longer than 0 s"));
        }
        if self.step.is_zero() || self.step > Duration::from_secs(1) {
            return Err(Error::invalid("step", "must be between 1 ms and 1 s"));
        }
        if self.tick_every < self.step {
            return Err(Error::invalid("tick_every", "must be at least one step"));
        }
        if self.load_for.is_some() && self.load_until.is_some() {
            return Err(Error::invalid(
                "load_until",
                "give load_for or load_until, not both",
            ));
        }
        for (index, fault) in self.downstream.faults.iter().enumerate() {
            if fault.length.is_some() == fault.until.is_some() {
                return Err(Error::invalid(
                    format!("downstream.faults[{index}]"),
                    "give one of for and until",
                ));
            }
        }
        if !(1..=1000).contains(&self.circuits) {
            return Err(Error::invalid("circuits", "must be 1 to 1000"));
        }
        if !(1..=10_000).contains(&self.consumer.batch_size) {
            return Err(Error::invalid("consumer.batch_size", "must be 1 to 10000"));
        }
        if self.consumer.function_timeout > self.consumer.visibility_timeout {
            // Lambda refuses such a mapping (Lambda Developer Guide, "Creating and
            // configuring an Amazon SQS event source mapping").
            return Err(Error::invalid(
                "consumer.function_timeout",
                "must not exceed consumer.visibility_timeout",
            ));
        }
        if !self.downstream.capacity_per_sec.is_finite() || self.downstream.capacity_per_sec <= 0.0
        {
            return Err(Error::invalid(
                "downstream.capacity_per_sec",
                "must be above 0",
            ));
        }
        for (kind, spec) in self.alarm_specs() {
            Self::alarm_config(kind, &spec)?;
        }
        if let Some(p) = self.consumer.provisioned {
            if self.consumer.maximum_concurrency.is_some() {
                // "These are mutually exclusive options" (Lambda Developer Guide,
                // "Configuring scaling behavior for SQS event source mappings").
                return Err(Error::invalid(
                    "consumer.provisioned",
                    "a mapping has either `maximum_concurrency` or `provisioned` pollers, not both",
                ));
            }
            Self::provisioned_mapping(&Profile::aws(), p)?;
        }
        if self.config_file.is_some() && !self.floodgate.is_empty() {
            return Err(Error::invalid(
                "config_file",
                "give the controller's configuration either inline (`[floodgate]`) or as a \
                 file (`config_file`), not both",
            ));
        }
        Ok(())
    }

    /// The kinds of alarm each simulated circuit has (`errors`, `throttles`, `depth`, `age`).
    pub fn alarm_kinds(&self) -> Vec<&'static str> {
        self.alarm_specs()
            .into_iter()
            .map(|(kind, _)| kind)
            .collect()
    }

    fn alarm_specs(&self) -> Vec<(&'static str, AlarmSpec)> {
        [
            ("errors", self.alarms.errors),
            ("throttles", self.alarms.throttles),
            ("depth", self.alarms.depth),
            ("age", self.alarms.age),
        ]
        .into_iter()
        .filter_map(|(kind, spec)| spec.map(|s| (kind, s)))
        .collect()
    }

    fn alarm_config(kind: &str, spec: &AlarmSpec) -> Result<AlarmConfig> {
        // The modules' statistics (`infra/terraform/main.tf`, `threshold_metrics`): Maximum
        // for the queue's metrics, Sum for the function's.
        let statistic = if matches!(kind, "depth" | "age") {
            Statistic::Maximum
        } else {
            Statistic::Sum
        };
        Ok(AlarmConfig::new(
            spec.period_secs,
            spec.evaluation_periods,
            spec.datapoints_to_alarm,
            ComparisonOperator::GreaterThanOrEqualToThreshold,
            spec.threshold,
        )
        .map_err(|e| Error::invalid(format!("alarms.{kind}"), e.to_string()))?
        .with_statistic(statistic)
        .with_treat_missing_data(TreatMissingData::NotBreaching))
    }

    /// The downstream's fault windows.
    fn fault_windows(&self) -> Vec<FaultWindow> {
        self.downstream
            .faults
            .iter()
            .map(|f| {
                let start = SimTime::ZERO + f.start;
                match (f.end(), f.until) {
                    (_, Some(until)) => FaultWindow::until(start, until, f.fault),
                    (end, None) => {
                        FaultWindow::new(start, SimTime::ZERO + end.unwrap_or_default(), f.fault)
                    }
                }
            })
            .collect()
    }

    /// A mapping in provisioned mode with `spec`'s pollers, under `profile`.
    fn provisioned_mapping(profile: &Profile, spec: ProvisionedSpec) -> Result<SimMapping> {
        let params = profile.provisioned.ok_or_else(|| {
            Error::invalid(
                "consumer.provisioned",
                format!(
                    "provisioned mode is not modelled under the {} profile (not measured)",
                    profile.name
                ),
            )
        })?;
        SimMapping::new(
            None,
            profile.mapping_update_delay,
            profile.max_concurrency_bounds,
        )
        .provisioned(params, spec.pollers())
        .map_err(|_| {
            Error::invalid(
                "consumer.provisioned",
                format!(
                    "minimum_pollers must be {} to {}, maximum_pollers {} to {} and at least \
                     minimum_pollers",
                    params.minimum_pollers.0,
                    params.minimum_pollers.1,
                    params.maximum_pollers.0,
                    params.maximum_pollers.1
                ),
            )
        })
    }

    /// The names of circuit `index`.
    pub fn names(&self, index: usize) -> Names {
        Names::new(&format!("{}-{index}", self.name), index)
    }

    /// The name of circuit `index`'s alarm of `kind`.
    pub fn alarm_name(&self, index: usize, kind: &str) -> String {
        format!("{}-{kind}", self.names(index).circuit)
    }

    /// The world of this scenario under `profile`, with the consumers as deployed and
    /// `reserved` overriding their reserved concurrency.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a load that cannot be scheduled.
    pub fn world(&self, profile: &Profile, reserved: Option<u32>) -> Result<World> {
        let limit = Limit::duration(self.load_for.unwrap_or(self.duration));
        let mut circuits = Vec::with_capacity(self.circuits);
        for index in 0..self.circuits {
            let names = self.names(index);
            let c = &self.consumer;
            let source = SimQueue::new(QueueSettings {
                visibility_timeout: c.visibility_timeout,
                retention: profile.retention,
                max_receive_count: Some(c.max_receive_count),
            });
            let overflow = SimQueue::new(QueueSettings {
                visibility_timeout: c.visibility_timeout,
                retention: profile.retention,
                max_receive_count: None,
            });
            let mapping = match c.provisioned {
                Some(spec) => Self::provisioned_mapping(profile, spec)?,
                None => SimMapping::new(
                    c.maximum_concurrency,
                    profile.mapping_update_delay,
                    profile.max_concurrency_bounds,
                ),
            };
            let consumer = Consumer::new(
                profile,
                &names.function,
                mapping,
                FunctionSettings {
                    reserved: reserved.or(c.reserved_concurrency),
                    unreserved: c.unreserved_concurrency,
                    timeout: c.function_timeout,
                    overhead: c.overhead,
                    partial_batch: c.partial_batch,
                    poison_every: c.poison_every,
                    batching_window: c.batching_window,
                },
                c.batch_size,
            );
            let faults = self.fault_windows();
            let downstream = Downstream::new(
                self.downstream.capacity_per_sec,
                self.downstream.latency,
                faults,
            );
            let producer = Producer::new(Schedule::new(&self.load, limit)?, SimTime::ZERO)
                .stopping(self.load_until);
            let lambda = |name| MetricKey::new("AWS/Lambda", name, "FunctionName", &names.function);
            let queue = |name| MetricKey::new("AWS/SQS", name, "QueueName", &names.source);
            let mut alarms = Vec::new();
            for (kind, spec) in self.alarm_specs() {
                let source = match kind {
                    "errors" if !spec.rate => AlarmSource::Metric(lambda("Errors")),
                    "errors" => AlarmSource::ErrorRate {
                        errors: lambda("Errors"),
                        invocations: lambda("Invocations"),
                        min_invocations: spec.min_invocations,
                    },
                    "throttles" => AlarmSource::Metric(lambda("Throttles")),
                    "age" => AlarmSource::Metric(queue("ApproximateAgeOfOldestMessage")),
                    _ => AlarmSource::Metric(queue("ApproximateNumberOfMessagesVisible")),
                };
                alarms.push(
                    SimAlarm::new(
                        self.alarm_name(index, kind),
                        source,
                        Self::alarm_config(kind, &spec)?,
                        profile.service_metric_delay,
                        SimTime::ZERO,
                    )
                    .evaluated_by(
                        profile.alarm_evaluation,
                        SimTime::ZERO + self.alarms.first_evaluation,
                    ),
                );
            }
            circuits.push(CircuitWorld::new(CircuitParts {
                names,
                source,
                overflow,
                consumer,
                downstream,
                producer,
                alarms,
            }));
        }
        Ok(World::new(profile.clone(), circuits, self.step, self.seed))
    }

    /// The controller's configuration (`FLOODGATE_CONFIG`) for this scenario's circuits: each
    /// names its resources and alarms, with levels from the consumer, managed reserved
    /// concurrency and an overflow queue, then `floodgate` merged over it; or `config_file`'s
    /// circuits, replayed on the simulated ones.
    pub fn controller_config(&self) -> Value {
        if let Some(replayed) = &self.replayed {
            return replayed.config.clone();
        }
        // In provisioned mode the controller's levels count pollers.
        let max = self
            .consumer
            .provisioned
            .map(|p| p.maximum_pollers)
            .or(self.consumer.maximum_concurrency)
            .unwrap_or(100)
            .clamp(2, 1000);
        let safe = (max / 4).max(2);
        let circuits: Vec<Value> = (0..self.circuits)
            .map(|index| {
                let names = self.names(index);
                let alarms: Vec<Value> = self
                    .alarm_specs()
                    .iter()
                    .map(|(kind, _)| json!({"name": self.alarm_name(index, kind), "kind": kind}))
                    .collect();
                let mut circuit = json!({
                    "name": names.circuit,
                    "event_source_mapping_uuid": names.uuid,
                    "function_name": names.function,
                    "queue_url": Names::queue_url(&names.source),
                    "alarms": alarms,
                    "levels": {"max": max, "safe": safe, "probe": 2},
                    "reserved_concurrency": {"mode": "managed", "headroom": 0},
                    "seed": self.seed,
                    "overflow": {"queue_url": Names::queue_url(&names.overflow)},
                });
                merge(&mut circuit, &toml_to_json(&self.floodgate));
                circuit
            })
            .collect();
        json!({"account_id": ACCOUNT, "region": REGION, "circuits": circuits})
    }
}

fn toml_to_json(table: &toml::Table) -> Value {
    serde_json::to_value(table).unwrap_or(Value::Null)
}

/// Merges `over` into `base`, objects key by key, anything else replaced.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                merge(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, over) => *base = over.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOD: &str = r#"
        name = "flood"
        duration = "10m"
        load = { kind = "constant", rate = 200 }
        downstream = { capacity_per_sec = 100, latency = "20ms" }
        [floodgate]
        levels = { max = 20, safe = 5 }
        overflow = { ceiling = 500 }
    "#;

    #[test]
    fn a_scenario_reads_with_its_defaults_and_configures_the_controller() {
        let scenario = Scenario::from_toml(FLOOD, Path::new("flood.toml")).expect("valid");
        assert_eq!(scenario.circuits, 1);
        assert_eq!(scenario.consumer.batch_size, 10);
        assert_eq!(scenario.alarms, AlarmsSpec::default());
        let config = scenario.controller_config();
        let circuit = &config["circuits"][0];
        assert_eq!(circuit["levels"], json!({"max": 20, "safe": 5, "probe": 2}));
        assert_eq!(circuit["overflow"]["ceiling"], json!(500));
        assert_eq!(
            circuit["overflow"]["queue_url"],
            json!("https://sqs.us-east-1.amazonaws.com/123456789012/flood-0-overflow")
        );
        floodgate_core::ControllerConfig::from_json(&config.to_string())
            .expect("the controller accepts it");
        let world = scenario.world(&Profile::aws(), None).expect("a world");
        assert_eq!(world.circuits[0].alarms.len(), 4);
    }

    #[test]
    #[allow(clippy::float_cmp)] // thresholds set from literals
    fn the_age_alarm_is_the_modules_and_can_be_turned_off() {
        let scenario = Scenario::from_toml(FLOOD, Path::new("flood.toml")).expect("valid");
        assert_eq!(
            scenario.alarm_kinds(),
            vec!["errors", "throttles", "depth", "age"]
        );
        // The controller is told its kind.
        let config = scenario.controller_config();
        assert_eq!(
            config["circuits"][0]["alarms"][3],
            json!({"name": "flood-0-age", "kind": "age"})
        );
        // As `infra/terraform/main.tf` and `variables.tf` create it.
        let world = scenario.world(&Profile::aws(), None).expect("a world");
        let age = &world.circuits[0].alarms[3];
        assert_eq!(
            age.source,
            AlarmSource::Metric(MetricKey::new(
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                "QueueName",
                &scenario.names(0).source
            ))
        );
        let c = &age.config;
        assert_eq!(
            (
                c.threshold(),
                c.period_seconds(),
                c.evaluation_periods(),
                c.datapoints_to_alarm()
            ),
            (300.0, 60, 3, 2)
        );
        assert_eq!(c.statistic(), Statistic::Maximum);
        assert_eq!(c.treat_missing_data(), TreatMissingData::NotBreaching);
        assert_eq!(
            c.comparison(),
            ComparisonOperator::GreaterThanOrEqualToThreshold
        );
        // `age = false` leaves it out; a table sets it.
        let off = FLOOD.replace(
            "[floodgate]",
            "[alarms]\nage = false\ndepth = { threshold = 10 }\n[floodgate]",
        );
        let off = Scenario::from_toml(&off, Path::new("off.toml")).expect("valid");
        assert_eq!(off.alarm_kinds(), vec!["errors", "throttles", "depth"]);
        let tuned = FLOOD.replace(
            "[floodgate]",
            "[alarms]\nage = { threshold = 120, evaluation_periods = 1, datapoints_to_alarm = 1 }\n[floodgate]",
        );
        let tuned = Scenario::from_toml(&tuned, Path::new("tuned.toml")).expect("valid");
        let world = tuned.world(&Profile::aws(), None).expect("a world");
        assert_eq!(world.circuits[0].alarms[3].config.threshold(), 120.0);
    }

    #[test]
    fn bad_scenarios_are_refused_by_field() {
        let bad = FLOOD.replace("duration = \"10m\"", "duration = \"10m\"\ncolour = 1");
        assert!(Scenario::from_toml(&bad, Path::new("bad.toml")).is_err());
        let bad = FLOOD.replace("capacity_per_sec = 100", "capacity_per_sec = 0");
        let err = Scenario::from_toml(&bad, Path::new("bad.toml")).expect_err("no capacity");
        assert!(
            err.to_string().contains("downstream.capacity_per_sec"),
            "{err}"
        );
    }

    const DRILL_LIKE: &str = r#"
        name = "drill-like"
        duration = "2m"
        tick_every = "2s"
        load = { kind = "constant", rate = 40 }
        load_until = { event = "mapping_disabled", after = "10s" }
        consumer = { batch_size = 100, batching_window = "1s" }
        [downstream]
        capacity_per_sec = 1000
        latency = "1ms"
        [[downstream.faults]]
        start = "5s"
        until = { event = "mapping_disabled", after = "10s" }
        fault = { kind = "outage" }
        [alarms]
        errors = { threshold = 1, period_secs = 10, evaluation_periods = 1, datapoints_to_alarm = 1, rate = false }
        throttles = false
        depth = false
        age = false
        first_evaluation = "3s"
    "#;

    #[test]
    fn a_drill_like_scenario_reads_its_tick_events_and_alarms() {
        let scenario = Scenario::from_toml(DRILL_LIKE, Path::new("d.toml")).expect("valid");
        assert_eq!(scenario.tick_every, Duration::from_secs(2));
        assert_eq!(scenario.downstream.faults[0].end(), None);
        assert!(scenario.alarms.throttles.is_none() && scenario.alarms.depth.is_none());
        assert!(!scenario.alarms.errors.expect("an errors alarm").rate);
        let config = scenario.controller_config();
        assert_eq!(
            config["circuits"][0]["alarms"].as_array().map(Vec::len),
            Some(1)
        );
        let world = scenario
            .world(&Profile::localstack(), None)
            .expect("a world");
        let alarm = &world.circuits[0].alarms[0];
        assert_eq!(
            alarm.source,
            AlarmSource::Metric(MetricKey::new(
                "AWS/Lambda",
                "Errors",
                "FunctionName",
                &scenario.names(0).function
            ))
        );
        assert_eq!(alarm.next_evaluation(), SimTime::from_secs(3));
        // The defaults: a tick a minute, every alarm, evaluated as AWS does.
        let plain = Scenario::from_toml(FLOOD, Path::new("flood.toml")).expect("valid");
        assert_eq!(plain.tick_every, Duration::from_mins(1));
        let text = toml::to_string(&scenario).expect("serializes");
        assert_eq!(
            Scenario::from_toml(&text, Path::new("again.toml")).expect("reads back"),
            scenario
        );
    }

    #[test]
    fn a_fault_needs_one_end_and_an_alarm_is_a_table_or_false() {
        let both = DRILL_LIKE.replace("start = \"5s\"", "start = \"5s\"\nfor = \"10s\"");
        let err = Scenario::from_toml(&both, Path::new("b.toml")).expect_err("two ends");
        assert!(err.to_string().contains("downstream.faults[0]"), "{err}");
        let neither = DRILL_LIKE.replace(
            "until = { event = \"mapping_disabled\", after = \"10s\" }\n        fault",
            "fault",
        );
        assert!(Scenario::from_toml(&neither, Path::new("n.toml")).is_err());
        let on = DRILL_LIKE.replace("throttles = false", "throttles = true");
        assert!(Scenario::from_toml(&on, Path::new("t.toml")).is_err());
        let slow = DRILL_LIKE.replace("tick_every = \"2s\"", "tick_every = \"10ms\"");
        assert!(
            Scenario::from_toml(&slow, Path::new("s.toml")).is_err(),
            "a tick shorter than a step"
        );
    }
}
