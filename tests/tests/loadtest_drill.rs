//! `loadtest drill` against LocalStack with the victim Lambda: a drill that breaks the victim
//! mid-flood and heals it loses nothing and writes its reports; a drill whose assertion
//! fails exits 1.

mod loadtest_support;

use std::time::Duration;

use loadtest::drill::{DrillReport, EXIT_FAILED, EXIT_PASSED, Verdict};
use loadtest::report::read_json;
use loadtest_support::{DrillRig, drill_spec, loadtest};

/// A finished drill run.
struct Drilled {
    code: Option<i32>,
    report: DrillReport,
    html: String,
}

/// Runs a shipped drill spec against `rig`. The reports stay in `target/tmp/drill-reports/`
/// for a person to look at; the drill's own output goes to the test's stderr.
async fn drill(rig: &DrillRig, spec: &str) -> Drilled {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("drill-reports");
    let spec = drill_spec(spec);
    let mut args: Vec<String> = vec![
        "drill".into(),
        spec.to_str().expect("UTF-8 path").into(),
        "--out".into(),
        out.to_str().expect("UTF-8 path").into(),
        "--quiet".into(),
    ];
    args.extend(rig.vars());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = loadtest(&args).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // stdout: the JSON report's path, then the HTML page's.
    let mut paths = stdout.lines();
    let (Some(json), Some(html)) = (paths.next(), paths.next()) else {
        panic!(
            "no report paths (exit {:?}):\n{stderr}",
            output.status.code()
        );
    };
    eprintln!("{stderr}drill report: {html}");
    Drilled {
        code: output.status.code(),
        report: read_json(std::path::Path::new(json)).expect("JSON report"),
        html: std::fs::read_to_string(html).expect("HTML report"),
    }
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_drill_where_the_victim_fails_mid_flood_loses_nothing_and_writes_its_reports() {
    let rig = DrillRig::new("drill-heal", 4, Duration::from_secs(3)).await;

    let Drilled { code, report, html } = drill(&rig, "victim-fails-mid-flood.toml").await;

    let accounting = report.accounting.as_ref().expect("accounting");
    assert_eq!(accounting.lost, 0, "lost {}", accounting.lost_seqs);
    assert_eq!(
        code,
        Some(EXIT_PASSED),
        "{:#?}\n{:?}",
        report.assertions,
        report.verdict
    );
    assert_eq!(report.verdict, Verdict::Passed);
    assert!(report.assertions.iter().all(|a| a.passed));
    // Every acknowledged message was consumed or dead-lettered; the victim really failed.
    assert_eq!(
        accounting.consumed + accounting.dead_lettered + accounting.still_queued,
        accounting.sent
    );
    assert!(accounting.sent > 1000, "{} sent", accounting.sent);
    assert!(accounting.failed_attempts > 0, "the victim never failed");
    // The timeline saw the mapping disabled and enabled again, and the breakdown has it.
    assert!(
        report
            .samples
            .iter()
            .any(|s| s.observed.esm_state == Some(floodgate_core::ports::MappingState::Disabled))
    );
    assert!(report.reaction.disabled.is_some() && report.reaction.closed.is_some());
    assert!(
        report.samples.len() > 30,
        "{} samples",
        report.samples.len()
    );
    // The page a person reads: self-contained, with the charts and the accounting.
    assert!(
        html.contains("<svg") && html.contains("Message accounting") && html.contains("PASSED")
    );
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_drill_whose_assertion_fails_exits_1_and_says_which() {
    let rig = DrillRig::new("drill-nobreaker", 3, Duration::from_secs(2)).await;

    let Drilled { code, report, html } = drill(&rig, "without-breaker.toml").await;

    assert_eq!(code, Some(EXIT_FAILED), "{:?}", report.verdict);
    assert_eq!(report.verdict, Verdict::Failed { failed: 1 });
    let failed: Vec<_> = report.assertions.iter().filter(|a| !a.passed).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].assertion, "time_to_disabled < 20s");
    assert!(
        failed[0].detail.contains("never happened"),
        "{}",
        failed[0].detail
    );
    assert!(report.reaction.disabled.is_none());
    assert!(html.contains("FAILED"));
}
