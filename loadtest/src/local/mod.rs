//! The local drill: the demo stack deployed into LocalStack ([`Stack`]), the real controller
//! ticked on a schedule ([`Ticker`]), and a drill spec run against it ([`run`]) with the
//! checks the drill runner cannot make on its own (the overflow was used and replayed).
//!
//! What `make drill` runs (`local-drill` binary) and what `tests/tests/local_drill.rs` runs
//! with the shorter spec.

mod stack;

use floodgate_core::ports::MappingState;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_lambda::primitives::Blob;
/// Re-exported so that callers of [`run`] (the test crate) need no `indicatif` of their own.
pub use indicatif::ProgressBar;

pub use stack::{Stack, StackPlan, StackQueue};

use crate::aws::AwsTarget;
use crate::drill::spec::DrillSpec;
use crate::drill::{DrillReport, EXIT_FAILED, EXIT_PASSED};
use crate::error::Result;
use breaker::aws::fault::AwsCall;

/// How often the controller is ticked: EventBridge Scheduler's stand-in. The infra modules
/// schedule a tick every minute; the drill's timings are in seconds, so it ticks faster.
pub const TICK_EVERY: Duration = Duration::from_secs(2);

/// Longest one call of the deployment or one tick may take: a zip upload, or a controller
/// invocation that moves a whole batch of overflow (its own timeout is a minute).
pub const LONG_CALL: Duration = Duration::from_secs(75);

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
                    .await
                    .call("Invoke");
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
    let spec = DrillSpec::load(spec_path, &stack.vars())?;
    let target = Arc::new(AwsTarget::connect(sdk, &spec).await?);
    let ticker = Ticker::start(sdk, &stack.controller);
    let report = crate::drill::run(&spec, target, run_id, interrupt, progress).await;
    let ticks = ticker.counts();
    drop(ticker);
    let (json, html) = crate::report::report_paths(out, &spec.name, run_id);
    crate::report::write_json(&report, &json)?;
    crate::report::write_html(&report, &html)?;
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
        report.exit_code = crate::drill::EXIT_ABORTED;
        assert_eq!(drill(report).exit_code(), crate::drill::EXIT_ABORTED);
    }
}
