//! The short local drill (`loadtest/drills/local-drill-short.toml`) end to end against
//! LocalStack: the demo stack deployed through the SDK, the real controller ticked every two
//! seconds, the victim failing mid-flood. The controller, not the drill, must open the
//! circuit, shed the excess to the overflow queue, probe, ramp and close once the victim
//! heals, and replay the overflow; every message sent must be consumed.
//!
//! The same run calibrates the simulator: `loadtest/scenarios/local-drill-short.toml`,
//! simulated with the `localstack` profile, must predict the drill's first alarm, Disabled,
//! half-open and closed times within ±25 % or ±5 s each, whichever is wider.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use floodgate_testkit::localstack::{describe_alarm, to_chrono};
use floodgate_tests::drill::{self, StackPlan};
use floodgate_tests::{lambda_zip, sdk_config};
use loadtest::sim::Profile;
use loadtest::sim::run;
use loadtest::sim::scenario::Scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs LocalStack: run with make test"]
async fn the_controller_opens_sheds_recovers_and_replays_without_losing_a_message() {
    let (controller_zip, victim_zip) = tokio::task::spawn_blocking(|| {
        (
            lambda_zip("breaker", "bootstrap").expect("controller zip"),
            lambda_zip("loadtest", "victim").expect("victim zip"),
        )
    })
    .await
    .expect("build task");
    let sdk = sdk_config().await;
    let stack = drill::deploy(&sdk, &StackPlan::new(controller_zip, victim_zip))
        .await
        .expect("the demo stack deploys");
    let out = tempfile::tempdir().expect("report dir");
    let spec =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../loadtest/drills/local-drill-short.toml");
    let ran = drill::run(
        &sdk,
        &stack,
        &spec,
        out.path(),
        &loadtest::flood::default_run_id(),
        std::future::pending(),
        &drill::ProgressBar::hidden(),
    )
    .await;
    let alarm_created = alarm_created(&stack).await;
    let failures = stack.teardown().await;
    let drill = ran.expect("the drill runs");
    let summary = drill.summary();
    println!("{summary}");
    assert_eq!(drill.exit_code(), 0, "the drill failed:{summary}");
    let accounting = drill.report.accounting.as_ref().expect("accounting");
    assert_eq!(accounting.lost, 0, "{summary}");
    assert!(accounting.sent > 0, "{summary}");
    assert_eq!(accounting.consumed, accounting.sent, "{summary}");
    assert!(drill.overflow_peak > 0, "nothing was shed:{summary}");
    assert!(
        drill.html.is_file(),
        "no HTML report at {}",
        drill.html.display()
    );
    assert!(failures.is_empty(), "teardown failed: {failures:?}");
    let simulated = tokio::task::spawn_blocking(move || simulate(&drill.report, alarm_created))
        .await
        .expect("simulation task");
    let table = simulated.table();
    println!("{table}");
    assert!(
        simulated.all_agree(),
        "the simulator disagrees with the drill:\n{table}"
    );
}

/// When LocalStack created the drill's errors alarm: its evaluation schedule runs from then
/// (`PutMetricAlarm` sets `AlarmConfigurationUpdatedTimestamp` and schedules the alarm).
async fn alarm_created(stack: &floodgate_testkit::localstack::Stack) -> DateTime<Utc> {
    let name = &stack.alarms.first().expect("the drill's errors alarm").name;
    let alarm = describe_alarm(&stack.aws, name)
        .await
        .expect("DescribeAlarms");
    alarm
        .alarm_configuration_updated_timestamp()
        .and_then(to_chrono)
        .expect("the alarm's configuration time")
}

/// One step measured on the drill and simulated, in seconds since the flood started.
struct Step {
    name: &'static str,
    measured: Option<f64>,
    simulated: Option<f64>,
}

impl Step {
    /// ±25 % of the measured time or ±5 s, whichever is wider.
    fn tolerance(&self) -> Option<f64> {
        self.measured.map(|m| (0.25 * m.abs()).max(5.0))
    }

    fn agrees(&self) -> bool {
        match (self.measured, self.simulated, self.tolerance()) {
            (Some(m), Some(s), Some(t)) => (s - m).abs() <= t,
            _ => false,
        }
    }
}

struct Comparison {
    first_evaluation: Duration,
    steps: Vec<Step>,
}

impl Comparison {
    fn all_agree(&self) -> bool {
        self.steps.iter().all(Step::agrees)
    }

    fn table(&self) -> String {
        use std::fmt::Write as _;
        let secs = |t: Option<f64>| t.map_or_else(|| "-".to_owned(), |t| format!("{t:.1}"));
        let mut out = format!(
            "simulator calibration (s since flood start; alarm first evaluated {:.1} s after the drill's start)\n  {:<12} {:>9} {:>10} {:>10}  verdict\n",
            self.first_evaluation.as_secs_f64(),
            "step",
            "measured",
            "simulated",
            "tolerance"
        );
        for step in &self.steps {
            let _ = writeln!(
                out,
                "  {:<12} {:>9} {:>10} {:>10}  {}",
                step.name,
                secs(step.measured),
                secs(step.simulated),
                step.tolerance()
                    .map_or_else(|| "-".to_owned(), |t| format!("±{t:.1}")),
                if step.agrees() { "agrees" } else { "DISAGREES" }
            );
        }
        out
    }
}

/// Simulates `loadtest/scenarios/local-drill-short.toml` with the `localstack` profile, its
/// alarm evaluated on the drill's schedule, and sets its reaction beside the drill's.
fn simulate(report: &loadtest::drill::DrillReport, alarm_created: DateTime<Utc>) -> Comparison {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../loadtest/scenarios/local-drill-short.toml");
    let text = std::fs::read_to_string(&path).expect("the scenario");
    let mut scenario = Scenario::from_toml(&text, &path).expect("a valid scenario");
    // LocalStack evaluates the alarm every 10 s from its creation, before the drill started:
    // the first evaluation after the start, in the scenario's time.
    let period = 10.0;
    let offset = (alarm_created - report.started_at).as_seconds_f64();
    let first_evaluation = Duration::from_secs_f64(offset.rem_euclid(period));
    scenario.alarms.first_evaluation = first_evaluation;
    let result = run::run(&scenario, &Profile::localstack(), "floodgate").expect("simulates");
    let sim = result.reaction.expect("floodgate reports its reaction");
    // The scenario's flood, and the victim's fault, start where the drill's flood does.
    let sim_flood = scenario.downstream.faults[0].start.as_secs_f64();
    let since_sim = |t: Option<f64>| t.map(|t| t - sim_flood);
    let r = &report.reaction;
    let since_drill = |t: Option<f64>| t.zip(r.flood_start).map(|(t, start)| t - start);
    Comparison {
        first_evaluation,
        steps: vec![
            Step {
                name: "first alarm",
                measured: since_drill(r.first_alarm),
                simulated: since_sim(sim.first_alarm_s),
            },
            Step {
                name: "Disabled",
                measured: since_drill(r.disabled),
                simulated: since_sim(sim.disabled_s),
            },
            Step {
                name: "half-open",
                measured: since_drill(r.half_open),
                simulated: since_sim(sim.half_open_s),
            },
            Step {
                name: "closed",
                measured: since_drill(r.closed),
                simulated: since_sim(sim.closed_s),
            },
        ],
    }
}
