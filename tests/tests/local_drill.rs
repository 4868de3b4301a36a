//! The short local drill (`loadtest/drills/local-drill-short.toml`) end to end against
//! LocalStack: the demo stack deployed through the SDK, the real controller ticked every two
//! seconds, the victim failing mid-flood. The controller, not the drill, must open the
//! circuit, shed the excess to the overflow queue, probe, ramp and close once the victim
//! heals, and replay the overflow; every message sent must be consumed.

use std::path::Path;

use floodgate_tests::drill::{self, StackPlan};
use floodgate_tests::{lambda_zip, sdk_config};

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
    let failures = stack.teardown().await;
    let drill = ran.expect("the drill runs");
    let summary = drill.summary();
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
}
