//! The fuse's configuration: in code ([`FuseConfig::new`] and its public fields) or from
//! `FLOODGATE_FUSE_*` environment variables ([`FuseConfig::from_env`]), validated either way
//! by [`FuseConfig::validate`].

use std::time::Duration;

/// Default [`FuseConfig::window`]: 10 s.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);
/// Default [`FuseConfig::min_records`]: 20.
pub const DEFAULT_MIN_RECORDS: u64 = 20;
/// Default [`FuseConfig::max_failure_ratio`]: 0.5, the controller's errors alarm default (50 %).
pub const DEFAULT_MAX_FAILURE_RATIO: f64 = 0.5;
/// Default [`FuseConfig::cool_down`]: 30 s.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(30);
/// Default [`FuseConfig::failure_back_off`]: 5 s.
pub const DEFAULT_FAILURE_BACK_OFF: Duration = Duration::from_secs(5);
/// Default [`FuseConfig::invoke_timeout`]: 300 ms.
pub const DEFAULT_INVOKE_TIMEOUT: Duration = Duration::from_millis(300);

/// Longest window: one bucket per second is kept, so memory is O(window).
pub const MAX_WINDOW: Duration = Duration::from_hours(1);
/// Longest [`FuseConfig::invoke_timeout`]: a signal holds up the batch that sends it.
pub const MAX_INVOKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Prefix of the fuse's environment variables.
pub const ENV_PREFIX: &str = "FLOODGATE_FUSE_";
/// The circuit's name; the fuse is off when unset or empty.
pub const ENV_CIRCUIT: &str = "FLOODGATE_FUSE_CIRCUIT";
/// The controller function (name, ARN or alias ARN); required when the circuit is set.
pub const ENV_CONTROLLER: &str = "FLOODGATE_FUSE_CONTROLLER";
/// [`FuseConfig::window`] in whole seconds.
pub const ENV_WINDOW_SECONDS: &str = "FLOODGATE_FUSE_WINDOW_SECONDS";
/// [`FuseConfig::min_records`].
pub const ENV_MIN_RECORDS: &str = "FLOODGATE_FUSE_MIN_RECORDS";
/// [`FuseConfig::max_failure_ratio`], e.g. `0.5`.
pub const ENV_MAX_FAILURE_RATIO: &str = "FLOODGATE_FUSE_MAX_FAILURE_RATIO";
/// [`FuseConfig::cool_down`] in whole seconds.
pub const ENV_COOL_DOWN_SECONDS: &str = "FLOODGATE_FUSE_COOL_DOWN_SECONDS";
/// [`FuseConfig::failure_back_off`] in whole seconds.
pub const ENV_FAILURE_BACK_OFF_SECONDS: &str = "FLOODGATE_FUSE_FAILURE_BACK_OFF_SECONDS";
/// [`FuseConfig::invoke_timeout`] in milliseconds.
pub const ENV_INVOKE_TIMEOUT_MS: &str = "FLOODGATE_FUSE_INVOKE_TIMEOUT_MS";
/// [`FuseConfig::emf`]: `true`/`false` (also `1`/`0`).
pub const ENV_EMF: &str = "FLOODGATE_FUSE_EMF";
/// Lambda's own variable naming the function; the signal's `sender.function`.
pub const ENV_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

const KNOWN: [&str; 9] = [
    ENV_CIRCUIT,
    ENV_CONTROLLER,
    ENV_WINDOW_SECONDS,
    ENV_MIN_RECORDS,
    ENV_MAX_FAILURE_RATIO,
    ENV_COOL_DOWN_SECONDS,
    ENV_FAILURE_BACK_OFF_SECONDS,
    ENV_INVOKE_TIMEOUT_MS,
    ENV_EMF,
];

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The circuit name is empty.
    #[error("the fuse's circuit name is empty")]
    EmptyCircuit,
    /// The controller function is empty.
    #[error("the fuse's controller function is empty (set {ENV_CONTROLLER})")]
    EmptyController,
    /// The window is not a whole number of seconds between 1 s and [`MAX_WINDOW`].
    #[error("the fuse's window must be a whole number of seconds from 1 to 3600, not {0:?}")]
    Window(Duration),
    /// `min_records` is zero.
    #[error("the fuse's min_records must be at least 1")]
    MinRecords,
    /// The ratio is not a number in `0..=1`.
    #[error("the fuse's max_failure_ratio must be between 0 and 1, not {0}")]
    Ratio(f64),
    /// The cool-down is zero.
    #[error("the fuse's cool_down must not be zero")]
    CoolDown,
    /// The back-off after a failed send is zero or longer than the cool-down.
    #[error(
        "the fuse's failure_back_off must be nonzero and at most the cool-down ({cool_down:?}), not {back_off:?}"
    )]
    FailureBackOff {
        /// The back-off given.
        back_off: Duration,
        /// The cool-down it must not exceed.
        cool_down: Duration,
    },
    /// The Invoke timeout is zero or longer than [`MAX_INVOKE_TIMEOUT`].
    #[error("the fuse's invoke_timeout must be from 1 ms to 5 s, not {0:?}")]
    InvokeTimeout(Duration),
    /// An environment variable does not parse.
    #[error("{name}={value:?} is not {expected}")]
    Parse {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// A `FLOODGATE_FUSE_*` variable the fuse does not know (a typo would otherwise be
    /// silently ignored).
    #[error(
        "unknown environment variable {0} (known: FLOODGATE_FUSE_CIRCUIT, _CONTROLLER, _WINDOW_SECONDS, _MIN_RECORDS, _MAX_FAILURE_RATIO, _COOL_DOWN_SECONDS, _FAILURE_BACK_OFF_SECONDS, _INVOKE_TIMEOUT_MS, _EMF)"
    )]
    UnknownVariable(String),
}

/// What the fuse watches, when it trips, and where it sends the signal.
#[derive(Debug, Clone, PartialEq)]
pub struct FuseConfig {
    /// The circuit this consumer belongs to, as the controller names it.
    pub circuit: String,
    /// The controller function: a name, an ARN or (preferably) an alias ARN.
    pub controller: String,
    /// How far back outcomes count, in whole seconds (1 s buckets, the current second
    /// included).
    pub window: Duration,
    /// Records the window must hold before its ratio means anything.
    pub min_records: u64,
    /// The fuse trips when failed / records in the window is strictly greater than this.
    /// `1.0` never trips; `0.0` trips on any failure once `min_records` are in the window.
    pub max_failure_ratio: f64,
    /// After a signal is sent, no other is sent for this long.
    pub cool_down: Duration,
    /// After a signal could not be sent, no other attempt for this long (at most the cool-down),
    /// so an unreachable controller costs at most one [`Self::invoke_timeout`] per back-off.
    pub failure_back_off: Duration,
    /// Longest wait for the Invoke call; the batch that sends a signal waits this long at most.
    pub invoke_timeout: Duration,
    /// Write one CloudWatch Embedded Metric Format line per batch on stdout.
    pub emf: bool,
    /// The signal's `sender.function`; `None` reads `AWS_LAMBDA_FUNCTION_NAME` when the fuse is
    /// built.
    pub sender_function: Option<String>,
}

impl FuseConfig {
    /// A configuration for `circuit`, signalling `controller`, with the defaults.
    pub fn new(circuit: impl Into<String>, controller: impl Into<String>) -> Self {
        Self {
            circuit: circuit.into(),
            controller: controller.into(),
            window: DEFAULT_WINDOW,
            min_records: DEFAULT_MIN_RECORDS,
            max_failure_ratio: DEFAULT_MAX_FAILURE_RATIO,
            cool_down: DEFAULT_COOL_DOWN,
            failure_back_off: DEFAULT_FAILURE_BACK_OFF,
            invoke_timeout: DEFAULT_INVOKE_TIMEOUT,
            emf: false,
            sender_function: None,
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.circuit.trim().is_empty() {
            return Err(ConfigError::EmptyCircuit);
        }
        if self.controller.trim().is_empty() {
            return Err(ConfigError::EmptyController);
        }
        if self.window < Duration::from_secs(1)
            || self.window > MAX_WINDOW
            || self.window.subsec_nanos() != 0
        {
            return Err(ConfigError::Window(self.window));
        }
        if self.min_records == 0 {
            return Err(ConfigError::MinRecords);
        }
        if !(0.0..=1.0).contains(&self.max_failure_ratio) {
            return Err(ConfigError::Ratio(self.max_failure_ratio));
        }
        if self.cool_down.is_zero() {
            return Err(ConfigError::CoolDown);
        }
        if self.failure_back_off.is_zero() || self.failure_back_off > self.cool_down {
            return Err(ConfigError::FailureBackOff {
                back_off: self.failure_back_off,
                cool_down: self.cool_down,
            });
        }
        if self.invoke_timeout < Duration::from_millis(1)
            || self.invoke_timeout > MAX_INVOKE_TIMEOUT
        {
            return Err(ConfigError::InvokeTimeout(self.invoke_timeout));
        }
        Ok(())
    }

    /// The configuration from the process environment: `Ok(None)` when
    /// `FLOODGATE_FUSE_CIRCUIT` is unset or empty (the fuse is off).
    ///
    /// # Errors
    /// A variable that does not parse, an unknown `FLOODGATE_FUSE_*` variable, or a
    /// configuration [`FuseConfig::validate`] refuses.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// [`Self::from_env`] over given variables (tests, or another source of settings).
    ///
    /// # Errors
    /// As [`Self::from_env`].
    pub fn from_vars<K, V>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Option<Self>, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut circuit = None;
        let mut controller = None;
        let mut function = None;
        let mut rest = Vec::new();
        for (name, value) in vars {
            let (name, value) = (name.as_ref(), value.as_ref());
            match name {
                ENV_CIRCUIT => circuit = Some(value.to_owned()),
                ENV_CONTROLLER => controller = Some(value.to_owned()),
                ENV_LAMBDA_FUNCTION_NAME => function = Some(value.to_owned()),
                _ if name.starts_with(ENV_PREFIX) => {
                    if !KNOWN.contains(&name) {
                        return Err(ConfigError::UnknownVariable(name.to_owned()));
                    }
                    rest.push((name.to_owned(), value.trim().to_owned()));
                }
                _ => {}
            }
        }
        let Some(circuit) = circuit.filter(|c| !c.trim().is_empty()) else {
            return Ok(None);
        };
        let mut config = Self::new(circuit, controller.unwrap_or_default());
        config.sender_function = function.filter(|f| !f.is_empty());
        for (name, value) in rest {
            let bad = |expected| ConfigError::Parse {
                name: name.clone(),
                value: value.clone(),
                expected,
            };
            let seconds = || {
                value
                    .parse()
                    .map(Duration::from_secs)
                    .map_err(|_| bad("a whole number of seconds"))
            };
            match name.as_str() {
                ENV_WINDOW_SECONDS => config.window = seconds()?,
                ENV_MIN_RECORDS => {
                    config.min_records = value.parse().map_err(|_| bad("a whole number"))?;
                }
                ENV_MAX_FAILURE_RATIO => {
                    config.max_failure_ratio =
                        value.parse().map_err(|_| bad("a number between 0 and 1"))?;
                }
                ENV_COOL_DOWN_SECONDS => config.cool_down = seconds()?,
                ENV_FAILURE_BACK_OFF_SECONDS => config.failure_back_off = seconds()?,
                ENV_INVOKE_TIMEOUT_MS => {
                    config.invoke_timeout = value
                        .parse()
                        .map(Duration::from_millis)
                        .map_err(|_| bad("a whole number of milliseconds"))?;
                }
                ENV_EMF => {
                    config.emf = match value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" | "" => false,
                        _ => return Err(bad("true or false")),
                    };
                }
                _ => unreachable!("KNOWN lists every variable handled here"),
            }
        }
        config.validate()?;
        Ok(Some(config))
    }

    /// The threshold as parts per million (exact integer comparisons).
    pub(crate) fn ratio_ppm(&self) -> u64 {
        // Validated to 0..=1, so the product is within 0..=1e6.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ppm = (self.max_failure_ratio * 1_000_000.0).round() as u64;
        ppm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> FuseConfig {
        FuseConfig::new(
            "orders",
            "arn:aws:lambda:eu-west-1:123456789012:function:floodgate:fuse",
        )
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(valid().validate(), Ok(()));
    }

    type Case = (fn(&mut FuseConfig), fn(&ConfigError) -> bool);

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<Case> = vec![
            (
                |c| c.circuit = " ".into(),
                |e| *e == ConfigError::EmptyCircuit,
            ),
            (
                |c| c.controller = String::new(),
                |e| *e == ConfigError::EmptyController,
            ),
            (
                |c| c.window = Duration::ZERO,
                |e| matches!(e, ConfigError::Window(_)),
            ),
            (
                |c| c.window = Duration::from_millis(1500),
                |e| matches!(e, ConfigError::Window(_)),
            ),
            (
                |c| c.window = Duration::from_secs(3601),
                |e| matches!(e, ConfigError::Window(_)),
            ),
            (|c| c.min_records = 0, |e| *e == ConfigError::MinRecords),
            (
                |c| c.max_failure_ratio = 1.01,
                |e| matches!(e, ConfigError::Ratio(_)),
            ),
            (
                |c| c.max_failure_ratio = -0.1,
                |e| matches!(e, ConfigError::Ratio(_)),
            ),
            (
                |c| c.max_failure_ratio = f64::NAN,
                |e| matches!(e, ConfigError::Ratio(_)),
            ),
            (
                |c| c.cool_down = Duration::ZERO,
                |e| *e == ConfigError::CoolDown,
            ),
            (
                |c| c.failure_back_off = Duration::ZERO,
                |e| matches!(e, ConfigError::FailureBackOff { .. }),
            ),
            (
                |c| c.failure_back_off = Duration::from_secs(31),
                |e| matches!(e, ConfigError::FailureBackOff { .. }),
            ),
            (
                |c| c.invoke_timeout = Duration::ZERO,
                |e| matches!(e, ConfigError::InvokeTimeout(_)),
            ),
            (
                |c| c.invoke_timeout = Duration::from_secs(6),
                |e| matches!(e, ConfigError::InvokeTimeout(_)),
            ),
        ];
        for (i, (spoil, expect)) in cases.into_iter().enumerate() {
            let mut config = valid();
            spoil(&mut config);
            let error = config.validate().unwrap_err();
            assert!(expect(&error), "case {i}: {error}");
        }
    }

    #[test]
    fn the_ratio_bounds_are_inclusive() {
        for ratio in [0.0, 1.0] {
            let mut config = valid();
            config.max_failure_ratio = ratio;
            assert_eq!(config.validate(), Ok(()));
        }
    }

    #[test]
    fn without_a_circuit_the_fuse_is_off() {
        assert_eq!(FuseConfig::from_vars([("PATH", "/bin")]), Ok(None));
        assert_eq!(FuseConfig::from_vars([(ENV_CIRCUIT, "")]), Ok(None));
    }

    #[test]
    fn every_variable_is_read() {
        let config = FuseConfig::from_vars([
            (ENV_CIRCUIT, "orders"),
            (
                ENV_CONTROLLER,
                "arn:aws:lambda:eu-west-1:1:function:floodgate:fuse",
            ),
            (ENV_WINDOW_SECONDS, "20"),
            (ENV_MIN_RECORDS, "50"),
            (ENV_MAX_FAILURE_RATIO, "0.25"),
            (ENV_COOL_DOWN_SECONDS, "60"),
            (ENV_FAILURE_BACK_OFF_SECONDS, "10"),
            (ENV_INVOKE_TIMEOUT_MS, "250"),
            (ENV_EMF, "true"),
            (ENV_LAMBDA_FUNCTION_NAME, "orders-consumer"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.circuit, "orders");
        assert_eq!(config.window, Duration::from_secs(20));
        assert_eq!(config.min_records, 50);
        assert!((config.max_failure_ratio - 0.25).abs() < f64::EPSILON);
        assert_eq!(config.cool_down, Duration::from_mins(1));
        assert_eq!(config.failure_back_off, Duration::from_secs(10));
        assert_eq!(config.invoke_timeout, Duration::from_millis(250));
        assert!(config.emf);
        assert_eq!(config.sender_function.as_deref(), Some("orders-consumer"));
    }

    #[test]
    fn a_circuit_without_a_controller_is_an_error() {
        assert_eq!(
            FuseConfig::from_vars([(ENV_CIRCUIT, "orders")]),
            Err(ConfigError::EmptyController)
        );
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        let base = [(ENV_CIRCUIT, "orders"), (ENV_CONTROLLER, "floodgate")];
        let typo = FuseConfig::from_vars(base.into_iter().chain([("FLOODGATE_FUSE_WINDOW", "10")]));
        assert_eq!(
            typo,
            Err(ConfigError::UnknownVariable("FLOODGATE_FUSE_WINDOW".into()))
        );
        let bad = FuseConfig::from_vars(base.into_iter().chain([(ENV_WINDOW_SECONDS, "10s")]));
        assert!(matches!(bad, Err(ConfigError::Parse { .. })), "{bad:?}");
        let bad = FuseConfig::from_vars(base.into_iter().chain([(ENV_EMF, "yes")]));
        assert!(matches!(bad, Err(ConfigError::Parse { .. })), "{bad:?}");
        let invalid = FuseConfig::from_vars(base.into_iter().chain([(ENV_MAX_FAILURE_RATIO, "2")]));
        assert_eq!(invalid, Err(ConfigError::Ratio(2.0)));
    }

    #[test]
    fn ratio_in_parts_per_million() {
        let mut config = valid();
        for (ratio, ppm) in [
            (0.0, 0),
            (0.5, 500_000),
            (0.333_333_3, 333_333),
            (1.0, 1_000_000),
        ] {
            config.max_failure_ratio = ratio;
            assert_eq!(config.ratio_ppm(), ppm);
        }
    }
}
