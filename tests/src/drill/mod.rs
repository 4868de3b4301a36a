//! The local drill: the demo stack deployed into LocalStack through the test kit's stack
//! builder ([`deploy`]), the real controller ticked on a schedule ([`Ticker`]), and a drill
//! spec run against it ([`run`]) with the checks the drill runner cannot make on its own (the
//! overflow was used and replayed).
//!
//! What `make drill` runs (`local-drill` binary) and what `tests/tests/local_drill.rs` runs
//! with the shorter spec.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_lambda::primitives::Blob;
use floodgate_core::ports::MappingState;
use floodgate_testkit::localstack::{
    AlarmSource, AlarmSpec, ConsumerSpec, HarnessError, LocalAws, Names, Stack, StackSpec, Trigger,
};
/// Re-exported so that callers of [`run`] need no `indicatif` of their own.
pub use indicatif::ProgressBar;
use loadtest::aws::AwsTarget;
use loadtest::drill::spec::DrillSpec;
use loadtest::drill::{DrillReport, EXIT_FAILED, EXIT_PASSED};
use loadtest::victim::ENV_LEDGER;
use loadtest::{Error, Result};
use serde_json::{Value, json};

/// How often the controller is ticked: EventBridge Scheduler's stand-in. The infra modules
/// schedule a tick every minute; the drill's timings are in seconds, so it ticks faster.
pub const TICK_EVERY: Duration = Duration::from_secs(2);

/// Longest one call of the deployment or one tick may take: a zip upload, or a controller
/// invocation that moves a whole batch of overflow (its own timeout is a minute).
pub const LONG_CALL: Duration = Duration::from_secs(75);

/// The victim's timeout. The source queue's visibility timeout is [`VISIBILITY`], so a failed
/// message comes back only every 30 s and cannot burn its receive count into the DLQ before
/// the breaker opens.
const VICTIM_TIMEOUT: Duration = Duration::from_secs(5);
/// Visibility timeout of the source queue.
const VISIBILITY: Duration = Duration::from_secs(30);
/// How the victim is fed. LocalStack's poller takes one batch per second, so batches of 10
/// would cap consumption at 10 msg/s; batches of up to 100 drain a drill's backlog in seconds
/// (AWS polls with many pollers instead).
pub const VICTIM_TRIGGER: Trigger = Trigger {
    batch_size: 100,
    batching_window: Duration::from_secs(1),
    report_batch_item_failures: true,
};

/// What to deploy: the two Lambda zips and the circuit's overflow ceiling.
#[derive(Debug, Clone)]
pub struct StackPlan {
    /// Name prefix of every resource; make it unique per run so a second run never meets the
    /// first one's resources.
    pub prefix: String,
    /// `breaker`'s `bootstrap`, zipped (`scripts/lambda-zip breaker bootstrap`).
    pub controller_zip: PathBuf,
    /// `loadtest`'s `victim`, zipped (`scripts/lambda-zip loadtest victim`).
    pub victim_zip: PathBuf,
    /// Visible messages the source may keep while the circuit is tripped.
    pub overflow_ceiling: u64,
}

impl StackPlan {
    /// A plan with a prefix from the current time and an overflow ceiling of 200.
    pub fn new(controller_zip: PathBuf, victim_zip: PathBuf) -> Self {
        Self {
            prefix: format!("fgd{}", chrono::Utc::now().format("%H%M%S%3f")),
            controller_zip,
            victim_zip,
            overflow_ceiling: 200,
        }
    }

    /// The demo stack: the resource shapes of the CDK construct and the Terraform module. A
    /// source queue redriving to a DLQ, an overflow queue, the victim behind an SQS mapping
    /// that reports batch item failures, the victim's `Errors` alarm with the controller as its
    /// ALARM and OK action, and the controller with one circuit (levels 8 / 4 / 2,
    /// [`drill_timings`], an overflow block).
    pub fn spec(&self) -> StackSpec {
        let p = &self.prefix;
        let names = Names {
            source: format!("{p}-source"),
            dlq: format!("{p}-dlq"),
            overflow: format!("{p}-overflow"),
            consumer: format!("{p}-victim"),
            ledger: format!("{p}-ledger"),
            controller: format!("{p}-controller"),
            circuit: format!("{p}-circuit"),
            alarm_prefix: format!("{p}-alarm-"),
            unique: false,
        };
        StackSpec::new(names)
            .visibility_timeout(VISIBILITY)
            .overflow_queue(Vec::new())
            .consumer(
                ConsumerSpec::new(&self.victim_zip, ENV_LEDGER)
                    .timeout(VICTIM_TIMEOUT)
                    .trigger(VICTIM_TRIGGER),
            )
            .alarms([AlarmSpec {
                kind: "errors",
                source: AlarmSource::ConsumerErrors,
            }])
            .controller(&self.controller_zip, &[])
            .circuit_field("levels", json!({"max": 8, "safe": 4, "probe": 2}))
            .circuit_field("timings", drill_timings())
            .circuit_field("seed", json!(7))
            .circuit_field(
                "overflow",
                json!({
                    "ceiling": self.overflow_ceiling,
                    "move_rate_per_sec": 500,
                    "max_moves_per_invocation": 5000,
                    "replay_after_secs": 5,
                    "replay_rate_per_sec": 200,
                    "max_replays_per_invocation": 400,
                }),
            )
    }
}

/// Timings that take a circuit around in about a minute: Open waits 30 s (the flood goes on
/// meanwhile, so the overflow move can be seen), then a 10 s probe and two 5 s ramp steps.
pub fn drill_timings() -> Value {
    json!({
        "open_wait_secs": 30,
        "open_wait_cap_secs": 120,
        "jitter": 0.0,
        "healthy_dwell_secs": 10,
        "min_dwell_secs": 5,
        "probe_window_secs": 10,
        "ramp_step_secs": 5,
        "throttle_step_secs": 5,
    })
}

/// Deploys the demo stack of `plan` through `sdk` (with room for [`LONG_CALL`] per call) and
/// waits until the mapping is `Enabled` and both functions are `Active`.
///
/// # Errors
/// As [`Stack::deploy`].
pub async fn deploy(sdk: &SdkConfig, plan: &StackPlan) -> std::result::Result<Stack, HarnessError> {
    Stack::deploy(&LocalAws::from_config(long_calls(sdk)), &plan.spec()).await
}

/// The `${NAME}` variables of `loadtest/drills/local-drill*.toml`, for what `stack` has.
pub fn vars(stack: &Stack) -> BTreeMap<String, String> {
    let mut vars = vec![
        ("QUEUE_URL", stack.source.url.clone()),
        ("DLQ_URL", stack.dlq.url.clone()),
    ];
    if let Some(overflow) = &stack.overflow {
        vars.push(("OVERFLOW_URL", overflow.url.clone()));
    }
    if let Some(consumer) = &stack.consumer {
        vars.push(("LEDGER_URL", consumer.ledger.url.clone()));
        vars.push(("FUNCTION", consumer.function.name.clone()));
        vars.push(("ESM_UUID", consumer.mapping.uuid.clone()));
    }
    let alarm_prefix = stack.alarms.first().map(|alarm| {
        alarm
            .name
            .strip_suffix(alarm.spec.kind)
            .unwrap_or(&alarm.name)
            .to_owned()
    });
    if let Some(prefix) = alarm_prefix {
        vars.push(("ALARM_PREFIX", prefix));
    }
    vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `sdk` with room for [`LONG_CALL`] per attempt.
fn long_calls(sdk: &SdkConfig) -> SdkConfig {
    sdk.to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(breaker::aws::CONNECT_TIMEOUT)
                .operation_attempt_timeout(LONG_CALL)
                .build(),
        )
        .build()
}

/// Invokes the controller with `{"floodgate":"tick"}` every [`TICK_EVERY`] until dropped,
/// standing in for the EventBridge Scheduler schedule the infra modules create.
#[derive(Debug)]
pub struct Ticker {
    task: tokio::task::JoinHandle<()>,
    counts: Arc<TickCounts>,
}

/// What the ticker did.
#[derive(Debug, Default)]
pub struct TickCounts {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Ticker {
    /// Starts ticking `controller`.
    pub fn start(sdk: &SdkConfig, controller: &str) -> Self {
        let lambda = aws_sdk_lambda::Client::new(&long_calls(sdk));
        let controller = controller.to_owned();
        let counts = Arc::new(TickCounts::default());
        let shared = Arc::clone(&counts);
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(TICK_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let answer = lambda
                    .invoke()
                    .function_name(&controller)
                    .payload(Blob::new(br#"{"floodgate":"tick"}"#.to_vec()))
                    .send()
                    .await;
                match answer {
                    Ok(out) if out.function_error().is_none() => {
                        shared.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(out) => {
                        shared.failed.fetch_add(1, Ordering::Relaxed);
                        let body = out
                            .payload()
                            .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
                            .unwrap_or_default();
                        tracing::warn!(%body, "a tick of the controller failed");
                    }
                    // Busy with an alarm action (reserved concurrency 1): the next tick
                    // comes in two seconds, as a missed schedule would.
                    Err(err) => {
                        shared.failed.fetch_add(1, Ordering::Relaxed);
                        let err = aws_sdk_lambda::error::DisplayErrorContext(err);
                        tracing::debug!(%err, "a tick was not delivered");
                    }
                }
            }
        });
        Self { task, counts }
    }

    /// Ticks answered and ticks failed or refused so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counts.ok.load(Ordering::Relaxed),
            self.counts.failed.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A finished local drill.
#[derive(Debug, Clone)]
pub struct LocalDrill {
    /// The drill runner's report.
    pub report: DrillReport,
    /// Where its JSON went.
    pub json: PathBuf,
    /// Where its HTML page went.
    pub html: PathBuf,
    /// Most messages seen in the overflow queue.
    pub overflow_peak: u64,
    /// Messages in the overflow queue at the last sample.
    pub overflow_at_end: u64,
    /// The breaker states the timeline saw, in order, without repeats.
    pub breaker_states: Vec<String>,
    /// Ticks answered, ticks failed or refused.
    pub ticks: (u64, u64),
}

impl LocalDrill {
    /// What the timeline of `report` says about the overflow queue and the breaker's states.
    pub fn from_report(
        report: DrillReport,
        json: PathBuf,
        html: PathBuf,
        ticks: (u64, u64),
    ) -> Self {
        let overflow_peak = report
            .samples
            .iter()
            .filter_map(|s| s.observed.overflow)
            .max()
            .unwrap_or_default();
        let overflow_at_end = report
            .samples
            .iter()
            .rev()
            .find_map(|s| s.observed.overflow)
            .unwrap_or_default();
        let mut breaker_states: Vec<String> = Vec::new();
        for state in report
            .samples
            .iter()
            .filter_map(|s| s.observed.breaker_state())
        {
            if breaker_states.last().map(String::as_str) != Some(state) {
                breaker_states.push(state.to_owned());
            }
        }
        Self {
            report,
            json,
            html,
            overflow_peak,
            overflow_at_end,
            breaker_states,
            ticks,
        }
    }

    /// The local drill's own checks, beyond the spec's assertions: `(passed, what)`.
    pub fn checks(&self) -> Vec<(bool, String)> {
        let went_through = |state: &str| self.breaker_states.iter().any(|s| s == state);
        vec![
            (
                self.overflow_peak > 0,
                format!(
                    "the controller moved the excess to the overflow queue (peak {})",
                    self.overflow_peak
                ),
            ),
            (
                self.overflow_at_end == 0,
                format!(
                    "the overflow was replayed ({} left at the end)",
                    self.overflow_at_end
                ),
            ),
            (
                ["open", "half-open", "ramping", "closed"]
                    .iter()
                    .all(|s| went_through(s)),
                format!(
                    "the breaker went open → half-open → ramping → closed (saw {})",
                    self.breaker_states.join(" → ")
                ),
            ),
        ]
    }

    /// The exit code: the drill's, else 1 when a local check failed.
    pub fn exit_code(&self) -> i32 {
        if self.report.exit_code != EXIT_PASSED {
            self.report.exit_code
        } else if self.checks().iter().all(|(passed, _)| *passed) {
            EXIT_PASSED
        } else {
            EXIT_FAILED
        }
    }

    /// The timeline (phases, injections and breaker transitions), the reaction times, the
    /// accounting and the checks, for a terminal.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let report = &self.report;
        let mut out = format!("\n== {} ({}) ==\n", report.name, report.run_id);
        let mut lines: Vec<(f64, String)> = report
            .events
            .iter()
            .map(|e| (e.t, format!("[{}] {}", e.phase, e.detail)))
            .collect();
        let mut last: Option<&str> = None;
        let mut overflow_was = 0;
        for sample in &report.samples {
            let overflow = sample.observed.overflow.unwrap_or(overflow_was);
            if overflow_was == 0 && overflow > 0 {
                lines.push((
                    sample.t,
                    format!("overflow queue holds {overflow}: the controller is shedding"),
                ));
            } else if overflow_was > 0 && overflow == 0 {
                lines.push((sample.t, "overflow queue empty: replayed".to_owned()));
            }
            overflow_was = overflow;
            let state = sample.observed.breaker_state();
            if state.is_some() && state != last {
                lines.push((
                    sample.t,
                    format!(
                        "breaker {} (mapping {}, depth {}, overflow {})",
                        state.unwrap_or_default(),
                        sample
                            .observed
                            .esm_state
                            .as_ref()
                            .map_or("?", MappingState::as_str),
                        sample.observed.visible.unwrap_or_default(),
                        sample.observed.overflow.unwrap_or_default()
                    ),
                ));
                last = state;
            }
        }
        lines.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.push_str("timeline:\n");
        for (t, line) in lines {
            let _ = writeln!(out, "  {t:7.1}s  {line}");
        }
        out.push_str("reaction (seconds since the drill started):\n");
        for (step, t) in report.reaction.steps() {
            let _ = writeln!(
                out,
                "  {step:<13} {}",
                t.map_or_else(|| "-".to_owned(), |t| format!("{t:.1}"))
            );
        }
        if let Some(a) = &report.accounting {
            let _ = writeln!(
                out,
                "accounting: sent {} consumed {} dead-lettered {} overflow {} queued {} lost {} duplicated {}",
                a.sent,
                a.consumed,
                a.dead_lettered,
                a.overflowed,
                a.still_queued,
                a.lost,
                a.duplicated
            );
        } else {
            out.push_str("accounting: none (the drill ended before it)\n");
        }
        for result in &report.assertions {
            let _ = writeln!(
                out,
                "  {} {} {}",
                if result.passed { "pass" } else { "FAIL" },
                result.assertion,
                result.detail
            );
        }
        for (passed, what) in self.checks() {
            let _ = writeln!(out, "  {} {what}", if passed { "pass" } else { "FAIL" });
        }
        let _ = writeln!(
            out,
            "ticks: {} answered, {} failed or refused",
            self.ticks.0, self.ticks.1
        );
        let _ = writeln!(out, "report: {}", self.html.display());
        out
    }
}

/// Runs the drill `spec_path` against `stack`, ticking its controller meanwhile, and writes
/// the JSON and HTML reports under `out`. `interrupt` aborts the drill (Ctrl-C).
///
/// # Errors
/// When the spec cannot be loaded, the drill's resources cannot be read, or a report cannot
/// be written. A drill that ran and failed is not an error: see [`LocalDrill::exit_code`].
pub async fn run(
    sdk: &SdkConfig,
    stack: &Stack,
    spec_path: &Path,
    out: &Path,
    run_id: &str,
    interrupt: impl Future<Output = ()> + Send + 'static,
    progress: &ProgressBar,
) -> Result<LocalDrill> {
    let controller = stack
        .controller
        .as_ref()
        .ok_or_else(|| Error::invalid("stack", "has no controller to tick"))?;
    let spec = DrillSpec::load(spec_path, &vars(stack))?;
    let target = Arc::new(AwsTarget::connect(sdk, &spec).await?);
    let ticker = Ticker::start(sdk, &controller.name);
    let report = loadtest::drill::run(&spec, target, run_id, interrupt, progress).await;
    let ticks = ticker.counts();
    drop(ticker);
    let (json, html) = loadtest::report::report_paths(out, &spec.name, run_id);
    loadtest::report::write_json(&report, &json)?;
    loadtest::report::write_html(&report, &html)?;
    Ok(LocalDrill::from_report(report, json, html, ticks))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report of a real run of `local-drill-short.toml` against LocalStack, with the
    /// timeline cut down to the samples where the breaker's state or the overflow changed.
    fn fixture() -> DrillReport {
        serde_json::from_str(include_str!("fixtures/short-drill-report.json")).unwrap()
    }

    fn drill(report: DrillReport) -> LocalDrill {
        LocalDrill::from_report(report, "r.json".into(), "r.html".into(), (48, 0))
    }

    #[test]
    fn a_run_that_shed_recovered_and_replayed_passes_every_check() {
        let drill = drill(fixture());
        assert_eq!(
            drill.breaker_states,
            ["closed", "open", "half-open", "ramping", "closed"]
        );
        assert_eq!(drill.overflow_peak, 486);
        assert_eq!(drill.overflow_at_end, 0);
        assert!(drill.checks().iter().all(|(passed, _)| *passed));
        assert_eq!(drill.exit_code(), EXIT_PASSED);
        let summary = drill.summary();
        for line in [
            "breaker open (mapping Disabled",
            "overflow queue holds 25: the controller is shedding",
            "overflow queue empty: replayed",
            "lost 0",
        ] {
            assert!(summary.contains(line), "no {line:?} in:\n{summary}");
        }
    }

    #[test]
    fn a_run_whose_overflow_was_never_replayed_fails() {
        let mut report = fixture();
        for sample in &mut report.samples {
            sample.observed.overflow = sample.observed.overflow.map(|n| n.max(486));
        }
        let drill = drill(report);
        assert_eq!(drill.overflow_at_end, 486);
        assert_eq!(drill.exit_code(), EXIT_FAILED);
        assert!(
            drill
                .summary()
                .contains("FAIL the overflow was replayed (486 left")
        );
    }

    #[test]
    fn a_run_that_never_shed_fails_even_when_its_assertions_pass() {
        let mut report = fixture();
        for sample in &mut report.samples {
            sample.observed.overflow = Some(0);
        }
        let drill = drill(report);
        assert_eq!(drill.report.exit_code, EXIT_PASSED);
        assert_eq!(drill.exit_code(), EXIT_FAILED);
    }

    #[test]
    fn a_breaker_that_never_closed_again_fails() {
        let mut report = fixture();
        report.samples.retain(|s| {
            !matches!(s.observed.breaker_state(), Some("ramping" | "half-open")) && s.t < 62.0
        });
        let drill = drill(report);
        assert_eq!(drill.breaker_states, ["closed", "open"]);
        assert_eq!(drill.exit_code(), EXIT_FAILED);
    }

    #[test]
    fn an_aborted_drill_keeps_the_runners_exit_code() {
        let mut report = fixture();
        report.exit_code = loadtest::drill::EXIT_ABORTED;
        assert_eq!(drill(report).exit_code(), loadtest::drill::EXIT_ABORTED);
    }
}
