//! The Floodgate controller running as a real Lambda in LocalStack, and a protected consumer
//! around it: what the controller end-to-end tests and the reaction benchmark deploy.
//!
//! [`Rig::deploy`] creates, under unique names, through the test kit's stack builder
//! ([`floodgate_testkit::localstack::Stack`]):
//! - a source queue with a DLQ, and the `probe-lambda` consumer (with its ledger queue) fed by
//!   an SQS event source mapping;
//! - the controller: `breaker`'s `bootstrap` zipped by [`crate::lambda_zip`], with
//!   `FLOODGATE_CONFIG` describing one circuit over that mapping, reserved concurrency 1 (it
//!   is the single writer of the circuit's state, as in production), and optionally an
//!   `AWS_ENDPOINT_URL` of its own (a [`crate::FaultProxy`]);
//! - the circuit's CloudWatch alarms, with the controller as their ALARM and OK action.
//!
//! The rig then talks to the controller the ways the product does: alarm state changes
//! ([`Rig::set_alarm`]), ticks and operator commands by direct Invoke ([`Rig::tick`],
//! [`Rig::command`]), and the `floodgate` CLI ([`Rig::cli`]); and reads what it did straight
//! from LocalStack ([`Rig::observe`]).

use breaker::aws::fault::AwsCall;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_lambda::operation::get_event_source_mapping::GetEventSourceMappingOutput;
use aws_sdk_lambda::types::ScalingConfig;
use floodgate_core::policy::{AlarmState, PhaseName};
use floodgate_core::protocol::{OperatorCommand, Request, Response};
use floodgate_testkit::localstack::{ConsumerSpec, Names, Stack, StackSpec};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

use crate::{
    AlarmSpec, Check, Function, HarnessError, LEDGER_QUEUE_URL_ENV, LocalAws, PROBE_BIN,
    PROBE_PACKAGE, Queue, REGION, endpoint_url, wait_for,
};

/// Package of the controller binary.
pub const CONTROLLER_PACKAGE: &str = "breaker";
/// The controller Lambda binary.
pub const CONTROLLER_BIN: &str = "bootstrap";
/// The operator CLI binary.
pub const CLI_BIN: &str = "floodgate";
/// Prefix of the state tags the controller writes on the mapping.
pub const TAG_PREFIX: &str = "floodgate:";
/// How long a sync Invoke keeps being retried while the controller (reserved concurrency 1)
/// is busy with an alarm action.
const BUSY_TIMEOUT: Duration = Duration::from_mins(1);
/// How long an alarm action or a tick may take to settle the circuit: LocalStack delivers an
/// alarm action in well under a second, but tests share it.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Timings that let a circuit go around in seconds: every window 2 s (1 s minimum dwell), no
/// jitter, so the open wait is exactly 2 s after the first trip.
pub fn fast_timings() -> Value {
    json!({
        "open_wait_secs": 2,
        "open_wait_cap_secs": 8,
        "jitter": 0.0,
        "healthy_dwell_secs": 2,
        "min_dwell_secs": 1,
        "probe_window_secs": 2,
        "ramp_step_secs": 2,
        "throttle_step_secs": 2,
    })
}

/// What [`Rig::deploy`] builds.
#[derive(Debug, Clone)]
pub struct RigSpec {
    prefix: String,
    alarms: Vec<AlarmSpec>,
    levels: Value,
    timings: Value,
    endpoint: Option<String>,
    visibility_timeout: Duration,
}

impl RigSpec {
    /// A circuit named from `prefix` (at most 20 characters) with one manual `errors` alarm,
    /// levels 8 / 4 / 2, [`fast_timings`], and a source queue whose failed messages come back
    /// after 2 s.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            alarms: vec![AlarmSpec::manual("errors")],
            levels: json!({"max": 8, "safe": 4, "probe": 2}),
            timings: fast_timings(),
            endpoint: None,
            visibility_timeout: Duration::from_secs(2),
        }
    }

    /// Replaces the alarms.
    #[must_use]
    pub fn alarms(mut self, alarms: impl IntoIterator<Item = AlarmSpec>) -> Self {
        self.alarms = alarms.into_iter().collect();
        self
    }

    /// Sets the levels.
    #[must_use]
    pub fn levels(mut self, max: u32, safe: u32, probe: u32) -> Self {
        self.levels = json!({"max": max, "safe": safe, "probe": probe});
        self
    }

    /// Replaces the timings (the config's `timings` object).
    #[must_use]
    pub fn timings(mut self, timings: Value) -> Self {
        self.timings = timings;
        self
    }

    /// Gives the controller its own `AWS_ENDPOINT_URL` (a fault proxy in front of LocalStack).
    #[must_use]
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Sets the source queue's visibility timeout: how long a message of a failed batch stays
    /// hidden before its next receive (each receive counts toward the DLQ's
    /// `maxReceiveCount` of 5).
    #[must_use]
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }
}

/// The controller's answer to one invocation.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Its response, or the function error it failed with.
    pub result: Result<Response, ControllerError>,
    /// The last 4 KB of the invocation's log (the controller's JSON log lines).
    pub log_tail: String,
}

/// A function error of the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerError {
    /// `Rejected`, `Retryable` or `Failed`.
    pub error_type: String,
    /// Starts with the error's kebab-case kind, e.g. `unknown-alarm: …`.
    pub error_message: String,
}

impl Reply {
    /// The response.
    ///
    /// # Panics
    /// If the controller failed; the message carries its error and log tail.
    #[track_caller]
    pub fn response(self) -> Response {
        match self.result {
            Ok(response) => response,
            Err(error) => panic!(
                "the controller failed: {error:?}\n--- log tail ---\n{}",
                self.log_tail
            ),
        }
    }

    /// The function error.
    ///
    /// # Panics
    /// If the controller answered successfully.
    #[track_caller]
    pub fn error(self) -> ControllerError {
        match self.result {
            Err(error) => error,
            Ok(response) => {
                panic!("expected a function error, the controller answered {response:?}")
            }
        }
    }
}

/// The circuit's resources as LocalStack reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The mapping's `State` (`Enabled`, `Disabling`, …).
    pub mapping_state: String,
    /// `ScalingConfig.MaximumConcurrency`.
    pub maximum_concurrency: Option<i32>,
    /// The consumer's reserved concurrency.
    pub reserved_concurrency: Option<i32>,
    /// The mapping's `floodgate:*` tags.
    pub tags: BTreeMap<String, String>,
}

impl Seen {
    /// The phase in `floodgate:state`, if it holds one.
    pub fn phase(&self) -> Option<PhaseName> {
        let tag = self.tag("state")?;
        PhaseName::ALL.into_iter().find(|p| p.as_str() == tag)
    }

    /// The non-empty value of `floodgate:<key>`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .get(&format!("{TAG_PREFIX}{key}"))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `(mapping state, MaximumConcurrency, reserved concurrency)`, to compare in one line.
    pub fn resources(&self) -> (&str, Option<i32>, Option<i32>) {
        (
            self.mapping_state.as_str(),
            self.maximum_concurrency,
            self.reserved_concurrency,
        )
    }

    /// Whether the circuit's last transition has taken effect: the controller no longer marks
    /// it pending (it writes its decision ahead of the calls that apply it), and the mapping is
    /// settled in `Enabled` or `Disabled`.
    pub fn settled(&self) -> bool {
        self.tag("pending") != Some("true")
            && matches!(self.mapping_state.as_str(), "Enabled" | "Disabled")
    }
}

/// What the `floodgate` CLI printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliRun {
    /// The exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// A protected consumer, its circuit's alarms and the controller Lambda, in LocalStack.
#[derive(Debug, Clone)]
pub struct Rig {
    /// The clients.
    pub aws: LocalAws,
    /// The circuit's name in the controller's config.
    pub circuit: String,
    /// The consumer function (`probe-lambda`).
    pub consumer: Function,
    /// The consumer's source queue.
    pub source: Queue,
    /// Where the consumer reports what it processed.
    pub ledger: Queue,
    /// The source queue's dead-letter queue.
    pub dlq: Queue,
    /// The protected event source mapping.
    pub mapping_uuid: String,
    /// Its ARN (where the state tags live).
    pub mapping_arn: String,
    /// The controller function.
    pub controller: Function,
    /// The config given to the controller.
    pub config: Value,
    stack: Stack,
}

impl Rig {
    /// Deploys everything in `spec` and waits until the consumer's mapping is `Enabled`.
    ///
    /// # Errors
    /// Whatever creating a resource fails with.
    pub async fn deploy(spec: RigSpec) -> Result<Self, HarnessError> {
        let aws = LocalAws::connect().await?;
        let probe = crate::lambda_zip(PROBE_PACKAGE, PROBE_BIN)?;
        let controller = crate::lambda_zip(CONTROLLER_PACKAGE, CONTROLLER_BIN)?;
        let endpoint: Vec<(&str, &str)> = spec
            .endpoint
            .iter()
            .map(|url| (breaker::aws::ENDPOINT_ENV, url.as_str()))
            .collect();
        let stack = Stack::deploy(
            &aws,
            &StackSpec::new(Names::unique(&spec.prefix))
                .visibility_timeout(spec.visibility_timeout)
                .consumer(ConsumerSpec::new(probe, LEDGER_QUEUE_URL_ENV))
                .alarms(spec.alarms)
                .controller(controller, &endpoint)
                .circuit_field("levels", spec.levels)
                .circuit_field("timings", spec.timings)
                .circuit_field("seed", json!(7)),
        )
        .await?;
        let missing = |field| HarnessError::Missing {
            call: "Stack::deploy",
            field,
        };
        let consumer = stack.consumer.clone().ok_or(missing("consumer"))?;
        let controller = stack.controller.clone().ok_or(missing("controller"))?;
        Ok(Self {
            aws,
            circuit: stack.circuit.clone(),
            consumer: consumer.function,
            source: stack.source.clone(),
            ledger: consumer.ledger,
            dlq: stack.dlq.clone(),
            mapping_uuid: consumer.mapping.uuid,
            mapping_arn: consumer.mapping.arn,
            controller,
            config: stack.config.clone(),
            stack,
        })
    }

    /// The first tick: the controller adopts the mapping (Closed, at `max`,
    /// reserved concurrency to match); returns the resources once the mapping has settled.
    ///
    /// # Errors
    /// As [`Rig::tick`] and [`Rig::wait_for_phase`]; [`HarnessError::Aws`] when the
    /// controller fails the tick.
    pub async fn adopt(&self) -> Result<Seen, HarnessError> {
        self.tick().await?.result.map_err(|e| HarnessError::Aws {
            call: "Invoke",
            cause: format!("the first tick failed: {e:?}"),
        })?;
        self.wait_for_phase(PhaseName::Closed, SETTLE_TIMEOUT).await
    }

    /// Moves the alarm of `kind` to ALARM and waits until its action has settled the circuit
    /// in `phase`.
    ///
    /// # Errors
    /// As [`Rig::set_alarm`] and [`Rig::wait_for_phase`].
    pub async fn trip(&self, kind: &str, phase: PhaseName) -> Result<Seen, HarnessError> {
        self.set_alarm(kind, AlarmState::Alarm).await?;
        self.wait_for_phase(phase, SETTLE_TIMEOUT).await
    }

    /// Deletes what [`Rig::deploy`] created. Tests call it when they pass, so a LocalStack
    /// that stays up between runs does not fill up: each consumer holds reserved concurrency,
    /// and Lambda refuses new reservations once less than 100 of the account's 1000 would be
    /// left unreserved.
    ///
    /// # Errors
    /// The first deletion that failed ([`HarnessError::Aws`]); every deletion is tried.
    pub async fn delete(self) -> Result<(), HarnessError> {
        match self.stack.teardown().await.into_iter().next() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// The name of the circuit's alarm of `kind`.
    ///
    /// # Panics
    /// If the rig has no alarm of that kind (a broken test).
    pub fn alarm(&self, kind: &str) -> &str {
        self.stack
            .alarms
            .iter()
            .find(|a| a.spec.kind == kind)
            .map_or_else(
                || panic!("the rig has no {kind} alarm"),
                |a| a.name.as_str(),
            )
    }

    /// Moves the alarm of `kind` to `state` with `SetAlarmState`; CloudWatch then invokes the
    /// controller (ALARM and OK actions).
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when CloudWatch refuses.
    pub async fn set_alarm(&self, kind: &str, state: AlarmState) -> Result<(), HarnessError> {
        self.aws
            .cloudwatch
            .set_alarm_state()
            .alarm_name(self.alarm(kind))
            .state_value(StateValue::from(state.as_str()))
            .state_reason("floodgate end-to-end test")
            .send()
            .await
            .call("SetAlarmState")?;
        Ok(())
    }

    /// The state of each of the circuit's alarms (by kind), as `DescribeAlarms` reports it:
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`. Unlike a status command, it does not invoke the
    /// controller, so it cannot be the reconcile that moves the circuit.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when CloudWatch fails.
    pub async fn alarm_states(&self) -> Result<BTreeMap<&'static str, String>, HarnessError> {
        let described = self
            .aws
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(
                self.stack.alarms.iter().map(|a| a.name.clone()).collect(),
            ))
            .send()
            .await
            .call("DescribeAlarms")?;
        Ok(self
            .stack
            .alarms
            .iter()
            .map(|alarm| {
                let state = described
                    .metric_alarms()
                    .iter()
                    .find(|a| a.alarm_name() == Some(alarm.name.as_str()))
                    .and_then(|a| a.state_value())
                    .map_or("missing", StateValue::as_str);
                (alarm.spec.kind, state.to_owned())
            })
            .collect())
    }

    /// Invokes the controller synchronously with `event`, waiting out `TooManyRequests` while
    /// it is busy with an alarm action (it runs with reserved concurrency 1).
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when Invoke fails otherwise, [`HarnessError::Timeout`] when it
    /// stays busy for a minute.
    pub async fn invoke(&self, event: &Value) -> Result<Reply, HarnessError> {
        let invoked = wait_for(
            &format!(
                "controller {} to accept an invocation",
                self.controller.name
            ),
            BUSY_TIMEOUT,
            || async {
                match self.aws.invoke_json(&self.controller.name, event).await {
                    Err(HarnessError::Aws { cause, .. }) if cause.contains("TooManyRequests") => {
                        Ok(Check::NotYet(cause))
                    }
                    other => other.map(Check::Done),
                }
            },
        )
        .await?;
        let result = if invoked.function_error.is_some() {
            let text = |key: &str| invoked.payload[key].as_str().unwrap_or_default().to_owned();
            Err(ControllerError {
                error_type: text("errorType"),
                error_message: text("errorMessage"),
            })
        } else {
            Ok(
                serde_json::from_value(invoked.payload.clone()).map_err(|e| HarnessError::Aws {
                    call: "Invoke",
                    cause: format!(
                        "the controller's answer is not a Response ({e}): {}",
                        invoked.payload
                    ),
                })?,
            )
        };
        Ok(Reply {
            result,
            log_tail: invoked.log_tail,
        })
    }

    /// Sends a protocol request (see [`Rig::invoke`]).
    ///
    /// # Errors
    /// As [`Rig::invoke`].
    pub async fn request(&self, request: &Request) -> Result<Reply, HarnessError> {
        let event = serde_json::to_value(request).map_err(|e| HarnessError::Aws {
            call: "Invoke",
            cause: format!("request does not serialise: {e}"),
        })?;
        self.invoke(&event).await
    }

    /// `{"floodgate": "tick"}`.
    ///
    /// # Errors
    /// As [`Rig::invoke`].
    pub async fn tick(&self) -> Result<Reply, HarnessError> {
        self.request(&Request::Tick {}).await
    }

    /// An operator command by direct Invoke.
    ///
    /// # Errors
    /// As [`Rig::invoke`].
    pub async fn command(&self, command: OperatorCommand) -> Result<Reply, HarnessError> {
        self.request(&Request::Command(command)).await
    }

    /// `GetEventSourceMapping` of the protected mapping.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when the read fails.
    pub async fn mapping(&self) -> Result<GetEventSourceMappingOutput, HarnessError> {
        self.aws
            .lambda
            .get_event_source_mapping()
            .uuid(&self.mapping_uuid)
            .send()
            .await
            .call("GetEventSourceMapping")
            .map_err(HarnessError::from)
    }

    /// Reads the mapping, the consumer's reserved concurrency and the state tags.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when a read fails.
    pub async fn observe(&self) -> Result<Seen, HarnessError> {
        let mapping = self.mapping().await?;
        let reserved = self
            .aws
            .lambda
            .get_function_concurrency()
            .function_name(&self.consumer.name)
            .send()
            .await
            .call("GetFunctionConcurrency")?
            .reserved_concurrent_executions();
        let tags = self
            .aws
            .lambda
            .list_tags()
            .resource(&self.mapping_arn)
            .send()
            .await
            .call("ListTags")?
            .tags()
            .map(|tags| {
                tags.iter()
                    .filter(|(k, _)| k.starts_with(TAG_PREFIX))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Seen {
            mapping_state: mapping.state().unwrap_or_default().to_owned(),
            maximum_concurrency: mapping
                .scaling_config()
                .and_then(ScalingConfig::maximum_concurrency),
            reserved_concurrency: reserved,
            tags,
        })
    }

    /// Polls [`Rig::observe`] until `done` holds.
    ///
    /// # Errors
    /// [`HarnessError::Timeout`] with the last observation.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Seen) -> bool,
    ) -> Result<Seen, HarnessError> {
        wait_for(what, timeout, || async {
            let seen = self.observe().await?;
            Ok(if done(&seen) {
                Check::Done(seen)
            } else {
                Check::NotYet(format!("{seen:?}"))
            })
        })
        .await
    }

    /// Waits until the state tags say `phase` and the mapping has settled.
    ///
    /// # Errors
    /// As [`Rig::wait_until`].
    pub async fn wait_for_phase(
        &self,
        phase: PhaseName,
        timeout: Duration,
    ) -> Result<Seen, HarnessError> {
        self.wait_until(
            &format!("circuit {} to be {phase} and settled", self.circuit),
            timeout,
            |seen| seen.phase() == Some(phase) && seen.settled(),
        )
        .await
    }

    /// Ticks until the controller reports `phase`, at most once per `every`. Later phases
    /// need their timers to run out, and which tick is the first one late enough depends on
    /// how long LocalStack took; the transitions of every answer are returned, in order.
    ///
    /// # Errors
    /// [`HarnessError::Timeout`] when the phase is not reached in time; [`HarnessError::Aws`]
    /// when a tick fails (with the controller's error).
    pub async fn tick_until(
        &self,
        phase: PhaseName,
        every: Duration,
        timeout: Duration,
    ) -> Result<Vec<Response>, HarnessError> {
        let deadline = Instant::now() + timeout;
        let mut answers = Vec::new();
        loop {
            let reply = self.tick().await?;
            let response = reply.result.map_err(|e| HarnessError::Aws {
                call: "Invoke",
                cause: format!("tick failed: {e:?}\n{}", reply.log_tail),
            })?;
            let reached = response.circuits[0].state;
            answers.push(response);
            if reached == phase {
                return Ok(answers);
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: format!("a tick to report {phase}"),
                    after: timeout,
                    last: format!("{reached}"),
                });
            }
            sleep(every).await;
        }
    }

    /// Enables the mapping behind the controller's back, as someone in the console would,
    /// and waits until it is `Enabled`.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] or [`HarnessError::Timeout`].
    pub async fn enable_mapping_by_hand(&self) -> Result<Seen, HarnessError> {
        self.aws
            .lambda
            .update_event_source_mapping()
            .uuid(&self.mapping_uuid)
            .enabled(true)
            .send()
            .await
            .call("UpdateEventSourceMapping")?;
        self.wait_until(
            "the mapping to be Enabled by hand",
            Duration::from_secs(30),
            |seen| seen.mapping_state == "Enabled",
        )
        .await
    }

    /// Runs the `floodgate` CLI with `args`, pointed at this rig's controller through
    /// LocalStack (`--function`, `--endpoint-url`, `--region`), with test credentials and
    /// `FLOODGATE_ACTOR=e2e-test`.
    ///
    /// # Errors
    /// As [`cli_path`], and [`HarnessError::Io`] when it cannot be run.
    pub async fn cli(&self, args: &[&str]) -> Result<CliRun, HarnessError> {
        let path = cli_path()?;
        let output = tokio::process::Command::new(&path)
            .args(args)
            .args(["--function", &self.controller.name])
            .args(["--endpoint-url", &endpoint_url()])
            .args(["--region", REGION])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("FLOODGATE_ACTOR", "e2e-test")
            .env_remove("AWS_PROFILE")
            .output()
            .await
            .map_err(|source| HarnessError::Io {
                what: format!("running {}", path.display()),
                source,
            })?;
        Ok(CliRun {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// The `floodgate` CLI binary, built like the Lambda zips (dev profile, through
/// `scripts/lambda-zip`, which strips the cargo variables of the running test so the build
/// does not invalidate the test's own). The script leaves the executable next to its
/// `lambda/` folder.
///
/// # Errors
/// As [`crate::lambda_zip`], or [`HarnessError::Zip`] if the executable is not where the
/// script put it.
pub fn cli_path() -> Result<PathBuf, HarnessError> {
    let zip = crate::lambda_zip(CONTROLLER_PACKAGE, CLI_BIN)?;
    let path = zip
        .parent()
        .and_then(std::path::Path::parent)
        .map(|profile_dir| profile_dir.join(CLI_BIN))
        .filter(|path| path.is_file());
    path.ok_or_else(|| HarnessError::Zip {
        package: CONTROLLER_PACKAGE.to_owned(),
        bin: CLI_BIN.to_owned(),
        reason: format!("no executable next to {}", zip.display()),
    })
}
