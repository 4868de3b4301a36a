//! The drill spec: a TOML file naming the target, the phases with their rates, waits and
//! fault injections, and the assertions. `${NAME}` in the file is replaced by a variable
//! given on the command line (`--var NAME=value`) or, failing that, from the environment, so
//! one spec serves any deployment.
//!
//! ```toml
//! name = "victim fails mid-flood"
//! sample_every = "500ms"
//! # Top-level keys come before the first [table]: TOML puts later keys inside it.
//! assertions = ["lost == 0", "time_to_disabled < 90s"]
//!
//! [target]
//! queue_url = "${QUEUE_URL}"
//! dlq_url = "${DLQ_URL}"
//! function = "${FUNCTION}"
//! ledger_url = "${LEDGER_URL}"
//! alarms = ["orders-errors"]
//!
//! [[phase]]
//! name = "baseline"
//! duration = "5s"
//! rate = 20
//!
//! [[phase]]
//! name = "flood"
//! duration = "15s"
//! rate = 200
//! inject = [{ victim = { mode = "error" } }]
//!
//! [[phase]]
//! name = "drain"
//! until = "queue_empty"
//! timeout = "2m"
//! inject = [{ victim = { mode = "healthy" } }]
//! ```

use floodgate_core::ports::MappingState;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::assertions::Assertion;
use crate::error::{Error, Result};
use crate::flood::DEFAULT_MAX_IN_FLIGHT;
use crate::flood::batch::{BatchPolicy, DEFAULT_LINGER, MAX_ENTRIES};
use crate::flood::payload::SizeDist;
use crate::rates::RateProfile;
use crate::victim::Settings;

/// Fastest sampling allowed (the timeline makes about seven reads per sample).
pub const MIN_SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Slowest sampling allowed (the issue asks for every second or faster).
pub const MAX_SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// The phases, in the only order they may come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// Normal load before the flood.
    Baseline,
    /// The flood starts (reaction times are measured from here).
    Flood,
    /// The flood goes on while the breaker holds.
    Hold,
    /// Sending stops.
    Stop,
    /// The backlog drains.
    Drain,
    /// The system returns to normal.
    Recover,
}

impl PhaseKind {
    /// Every phase, in order.
    pub const ALL: [Self; 6] = [
        Self::Baseline,
        Self::Flood,
        Self::Hold,
        Self::Stop,
        Self::Drain,
        Self::Recover,
    ];

    /// The name used in specs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Flood => "flood",
            Self::Hold => "hold",
            Self::Stop => "stop",
            Self::Drain => "drain",
            Self::Recover => "recover",
        }
    }
}

impl fmt::Display for PhaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition that ends a phase early, checked on every sample of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Until {
    /// The source queue has nothing visible and nothing in flight.
    QueueEmpty,
    /// The mapping's `State` equals this (`Enabled`, `Disabled`, ...).
    EsmState(MappingState),
    /// The breaker's `floodgate:state` tag equals this (`closed`, `open`, `half-open`, ...).
    Breaker(String),
    /// Some alarm is in `ALARM`.
    Alarm,
    /// Every alarm is `OK`.
    AlarmsOk,
    /// Every message sent so far is accounted as consumed (checked from the ledger).
    AllConsumed,
}

impl FromStr for Until {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        Ok(match text.split_once(':') {
            None if text == "queue_empty" => Self::QueueEmpty,
            None if text == "alarm" => Self::Alarm,
            None if text == "alarms_ok" => Self::AlarmsOk,
            None if text == "all_consumed" => Self::AllConsumed,
            Some(("esm", state)) if !state.is_empty() => Self::EsmState(MappingState::parse(state)),
            Some(("breaker", state)) if !state.is_empty() => Self::Breaker(state.to_owned()),
            _ => {
                return Err(Error::invalid(
                    "until",
                    format!(
                        "{text:?} is not queue_empty, all_consumed, alarm, alarms_ok, esm:STATE or breaker:STATE"
                    ),
                ));
            }
        })
    }
}

impl fmt::Display for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::QueueEmpty => f.write_str("queue_empty"),
            Self::EsmState(state) => write!(f, "esm:{state}"),
            Self::Breaker(state) => write!(f, "breaker:{state}"),
            Self::Alarm => f.write_str("alarm"),
            Self::AlarmsOk => f.write_str("alarms_ok"),
            Self::AllConsumed => f.write_str("all_consumed"),
        }
    }
}

impl Serialize for Until {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Until {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What to do to the mapping (the manual stand-in for the breaker, until one runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EsmAction {
    /// `UpdateEventSourceMapping Enabled=false`.
    Disable,
    /// `UpdateEventSourceMapping Enabled=true`.
    Enable,
}

/// A fault injection (or manual step) at the start of a phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Injection {
    /// New victim settings (`{ victim = { mode = "error", ratio = 1.0, latency = "0s" } }`).
    Victim(Settings),
    /// Enable or disable the mapping (`{ esm = "disable" }`).
    Esm(EsmAction),
}

impl fmt::Display for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Victim(s) => write!(
                f,
                "victim mode={:?} ratio={} latency={}",
                s.mode,
                s.ratio,
                crate::units::format_duration(s.latency)
            ),
            Self::Esm(EsmAction::Disable) => f.write_str("manual ESM disable"),
            Self::Esm(EsmAction::Enable) => f.write_str("manual ESM enable"),
        }
    }
}

/// One phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// Which phase.
    pub name: PhaseKind,
    /// Fixed length (or give `until` and `timeout`).
    #[serde(default, with = "crate::units::option_duration")]
    pub duration: Option<Duration>,
    /// End as soon as this holds...
    #[serde(default)]
    pub until: Option<Until>,
    /// ...or after this long.
    #[serde(default, with = "crate::units::option_duration")]
    pub timeout: Option<Duration>,
    /// Send at this constant rate during the phase (messages/s).
    #[serde(default)]
    pub rate: Option<f64>,
    /// Or send with this rate profile (its time starts with the phase; `profile` in TOML).
    #[serde(default, rename = "profile")]
    pub rate_profile: Option<RateProfile>,
    /// Applied, in order, when the phase starts.
    #[serde(default)]
    pub inject: Vec<Injection>,
}

impl PhaseSpec {
    /// The rate profile the phase sends with, if it sends.
    pub fn send_rate(&self) -> Option<RateProfile> {
        self.rate_profile
            .clone()
            .or_else(|| self.rate.filter(|r| *r > 0.0).map(RateProfile::constant))
    }

    /// Longest the phase can last.
    pub fn max_length(&self) -> Duration {
        self.duration.or(self.timeout).unwrap_or_default()
    }
}

/// What the drill works on. URLs and names, as the deployment has them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// The protected source queue.
    pub queue_url: String,
    /// Its dead-letter queue.
    #[serde(default)]
    pub dlq_url: Option<String>,
    /// The breaker's overflow queue.
    #[serde(default)]
    pub overflow_url: Option<String>,
    /// The consumer function (the victim).
    pub function: String,
    /// The mapping from the queue to the function (found by listing when absent).
    #[serde(default)]
    pub esm_uuid: Option<String>,
    /// Where the victim records what it processed.
    pub ledger_url: String,
    /// Alarms to follow by name.
    #[serde(default)]
    pub alarms: Vec<String>,
    /// And every alarm whose name starts with this.
    #[serde(default)]
    pub alarm_prefix: Option<String>,
}

fn default_batch_size() -> usize {
    MAX_ENTRIES
}

fn default_max_in_flight() -> usize {
    DEFAULT_MAX_IN_FLIGHT
}

fn default_linger() -> Duration {
    DEFAULT_LINGER
}

/// How the drill's floods send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloodSettings {
    /// Entries per request.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Linger of a batch.
    #[serde(default = "default_linger", with = "crate::units::duration")]
    pub linger: Duration,
    /// Cap on requests in flight.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Body sizes.
    #[serde(default)]
    pub payload_size: SizeDist,
    /// Seed of the bodies.
    #[serde(default)]
    pub seed: u64,
    /// Message groups, for a FIFO queue.
    #[serde(default)]
    pub fifo_groups: Option<u32>,
}

impl Default for FloodSettings {
    fn default() -> Self {
        Self {
            batch_size: default_batch_size(),
            linger: default_linger(),
            max_in_flight: default_max_in_flight(),
            payload_size: SizeDist::default(),
            seed: 0,
            fifo_groups: None,
        }
    }
}

impl FloodSettings {
    /// The batch policy.
    pub fn batch(&self) -> BatchPolicy {
        BatchPolicy {
            max_entries: self.batch_size,
            linger: self.linger,
        }
    }
}

fn default_sample_every() -> Duration {
    MAX_SAMPLE_EVERY
}

fn default_settle() -> Duration {
    Duration::from_mins(1)
}

fn default_peek_hold() -> Duration {
    Duration::from_secs(30)
}

/// A drill, as written in its TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillSpec {
    /// Name, for the report.
    pub name: String,
    /// What the drill shows.
    #[serde(default)]
    pub description: String,
    /// Timeline sampling interval (100 ms to 1 s).
    #[serde(default = "default_sample_every", with = "crate::units::duration")]
    pub sample_every: Duration,
    /// Abort (exit 3) if the drill runs longer than this.
    #[serde(default, with = "crate::units::option_duration")]
    pub max_duration: Option<Duration>,
    /// After the last phase, how long accounting may wait for stragglers (messages in
    /// flight, ledger records on their way).
    #[serde(default = "default_settle", with = "crate::units::duration")]
    pub settle: Duration,
    /// How long a peek holds queued messages invisible while it reads them.
    #[serde(default = "default_peek_hold", with = "crate::units::duration")]
    pub peek_hold: Duration,
    /// What to flood and watch.
    pub target: TargetSpec,
    /// How to send.
    #[serde(default)]
    pub flood: FloodSettings,
    /// The phases, in order.
    #[serde(rename = "phase")]
    pub phases: Vec<PhaseSpec>,
    /// Assertions, e.g. `lost == 0`.
    #[serde(default)]
    pub assertions: Vec<String>,
}

/// Replaces `${NAME}` with `vars[NAME]`, else the environment variable; `$$` is a `$`.
/// Values are escaped for TOML strings (they appear inside quotes).
///
/// # Errors
/// [`Error::Invalid`] naming a variable that is not set, or an unclosed `${`.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| Error::invalid("spec", "`${` without a closing `}`"))?;
            let name = &after[..end];
            let value = vars
                .get(name)
                .cloned()
                .or_else(|| std::env::var(name).ok())
                .ok_or_else(|| {
                    Error::invalid(
                        format!("${{{name}}}"),
                        "is not set: pass --var NAME=value or export it",
                    )
                })?;
            out.push_str(&value.replace('\\', "\\\\").replace('"', "\\\""));
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

impl DrillSpec {
    /// Reads, substitutes and validates a spec file.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Toml`] with line and column, or [`Error::Invalid`] naming the
    /// field.
    pub fn load(path: &Path, vars: &BTreeMap<String, String>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            what: "reading",
            path: path.to_owned(),
            source,
        })?;
        let spec: Self =
            toml::from_str(&substitute(&text, vars)?).map_err(|source| Error::Toml {
                path: path.to_owned(),
                source,
            })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks everything that can be checked without AWS; the error names the field.
    ///
    /// # Errors
    /// [`Error::Invalid`].
    pub fn validate(&self) -> Result<()> {
        if !(MIN_SAMPLE_EVERY..=MAX_SAMPLE_EVERY).contains(&self.sample_every) {
            return Err(Error::invalid(
                "sample_every",
                "must be between 100ms and 1s",
            ));
        }
        if self.phases.is_empty() {
            return Err(Error::invalid(
                "phase",
                "a drill needs at least a flood phase",
            ));
        }
        if !self.phases.iter().any(|p| p.name == PhaseKind::Flood) {
            return Err(Error::invalid(
                "phase",
                "a drill needs a phase named \"flood\"",
            ));
        }
        for pair in self.phases.windows(2) {
            if pair[0].name >= pair[1].name {
                return Err(Error::invalid(
                    format!("phase {:?}", pair[1].name.as_str()),
                    "phases come once each, in the order baseline, flood, hold, stop, drain, recover",
                ));
            }
        }
        for phase in &self.phases {
            let field = |key: &str| format!("phase {:?}: {key}", phase.name.as_str());
            match (phase.duration, &phase.until, phase.timeout) {
                (Some(_), None, None) | (None, Some(_), Some(_)) => {}
                (None, None, None) if phase.name == PhaseKind::Stop => {}
                _ => {
                    return Err(Error::invalid(
                        field("duration"),
                        "give either duration, or until with a timeout",
                    ));
                }
            }
            if phase.rate.is_some() && phase.rate_profile.is_some() {
                return Err(Error::invalid(
                    field("rate"),
                    "give rate or profile, not both",
                ));
            }
            if let Some(rate_profile) = phase.send_rate() {
                rate_profile
                    .validate()
                    .map_err(|err| Error::invalid(field("profile"), err.to_string()))?;
            }
            if phase.rate.is_some_and(|r| !(r.is_finite() && r >= 0.0)) {
                return Err(Error::invalid(
                    field("rate"),
                    "must be a number of messages/s ≥ 0",
                ));
            }
            for injection in &phase.inject {
                if let Injection::Victim(settings) = injection {
                    settings
                        .validate()
                        .map_err(|err| Error::invalid(field("inject"), err.to_string()))?;
                }
            }
        }
        self.flood.batch().validate()?;
        if self.flood.max_in_flight == 0 {
            return Err(Error::invalid("flood.max_in_flight", "must be at least 1"));
        }
        for text in &self.assertions {
            Assertion::parse(text)?;
        }
        Ok(())
    }

    /// The parsed assertions.
    ///
    /// # Errors
    /// [`Error::Invalid`] for one that does not parse (never after [`DrillSpec::validate`]).
    pub fn parsed_assertions(&self) -> Result<Vec<Assertion>> {
        self.assertions
            .iter()
            .map(|a| Assertion::parse(a))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
        name = "t"
        assertions = ["lost == 0", "time_to_disabled < 90s"]

        [target]
        queue_url = "${Q}"
        function = "victim"
        ledger_url = "http://ledger"

        [[phase]]
        name = "baseline"
        duration = "2s"
        rate = 10

        [[phase]]
        name = "flood"
        duration = "5s"
        profile = { kind = "ramp", from = 10, to = 100, over = "5s" }
        inject = [{ victim = { mode = "error" } }, { esm = "disable" }]

        [[phase]]
        name = "stop"

        [[phase]]
        name = "drain"
        until = "queue_empty"
        timeout = "1m"
    "#;

    fn parse(text: &str) -> Result<DrillSpec> {
        let vars = BTreeMap::from([("Q".to_owned(), "http://queue".to_owned())]);
        let spec: DrillSpec =
            toml::from_str(&substitute(text, &vars)?).map_err(|source| Error::Toml {
                path: "spec.toml".into(),
                source,
            })?;
        spec.validate()?;
        Ok(spec)
    }

    #[test]
    fn a_spec_parses_with_variables_substituted_and_defaults_filled() {
        let spec = parse(SPEC).unwrap();
        assert_eq!(spec.target.queue_url, "http://queue");
        assert_eq!(spec.sample_every, Duration::from_secs(1));
        assert_eq!(spec.phases.len(), 4);
        assert_eq!(spec.phases[1].inject.len(), 2);
        assert_eq!(spec.phases[1].inject[1], Injection::Esm(EsmAction::Disable));
        assert_eq!(spec.phases[3].until, Some(Until::QueueEmpty));
        assert_eq!(
            spec.phases[0].send_rate(),
            Some(RateProfile::constant(10.0))
        );
        assert_eq!(spec.phases[2].send_rate(), None);
        assert_eq!(spec.parsed_assertions().unwrap().len(), 2);
    }

    #[test]
    fn a_missing_variable_is_named() {
        let err = substitute("url = \"${NOPE_NOT_SET_ANYWHERE}\"", &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("NOPE_NOT_SET_ANYWHERE"), "{err}");
        assert_eq!(
            substitute("cost = \"$$5\"", &BTreeMap::new()).unwrap(),
            "cost = \"$5\""
        );
        let quoted = BTreeMap::from([("V".to_owned(), "a\"b".to_owned())]);
        assert_eq!(substitute("\"${V}\"", &quoted).unwrap(), "\"a\\\"b\"");
    }

    #[test]
    fn phases_out_of_order_or_repeated_are_refused() {
        let swapped = SPEC.replacen("name = \"baseline\"", "name = \"hold\"", 1);
        let err = parse(&swapped).unwrap_err().to_string();
        assert!(err.contains("in the order"), "{err}");
    }

    #[test]
    fn a_phase_needs_a_duration_or_an_until_with_a_timeout() {
        let err = parse(&SPEC.replace("timeout = \"1m\"", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("phase \"drain\": duration"), "{err}");
    }

    #[test]
    fn unknown_keys_bad_conditions_and_bad_assertions_are_refused() {
        let err = parse(&SPEC.replace("rate = 10", "rate = 10\nspeed = 3"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("speed"), "{err}");
        let err = parse(&SPEC.replace("queue_empty", "empty_queue"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("queue_empty, all_consumed"), "{err}");
        let err = parse(&SPEC.replace("lost == 0", "lots == 0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lots"), "{err}");
        let err = parse(&SPEC.replace("mode = \"error\"", "mode = \"error\", ratio = 3"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ratio"), "{err}");
    }

    #[test]
    fn the_specs_shipped_in_the_drills_folder_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("drills");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                // Every ${VAR} gets a placeholder, so only the structure is checked.
                let vars: BTreeMap<String, String> = text
                    .match_indices("${")
                    .filter_map(|(i, _)| {
                        text[i + 2..]
                            .split_once('}')
                            .map(|(name, _)| (name.to_owned(), "x".to_owned()))
                    })
                    .collect();
                DrillSpec::load(&path, &vars)
                    .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
                checked += 1;
            }
        }
        assert!(checked >= 2, "only {checked} specs in {}", dir.display());
    }
}
