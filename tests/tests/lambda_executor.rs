//! The host-process runtime executor (`tests/localaws/floodgate_executor`) behaves like
//! Lambda's: outputs, function errors, timeouts, crashes and restarts come back through
//! `Invoke` the way AWS reports them.

use std::time::{Duration, Instant};

use aws_sdk_lambda::types::Architecture;
use floodgate_tests::{
    Function, FunctionSpec, HarnessError, LocalAws, PROBE_BIN, PROBE_PACKAGE, Probes as _,
    UNHANDLED, lambda_zip, unique_name,
};
use serde_json::json;

/// LocalStack clients and a freshly deployed probe function.
async fn deployed_probe(
    prefix: &str,
    configure: impl FnOnce(FunctionSpec) -> FunctionSpec,
) -> (LocalAws, Function) {
    let aws = LocalAws::connect().await.expect("LocalStack");
    let probe = aws
        .deploy_probe(prefix, configure)
        .await
        .expect("deploy probe");
    (aws, probe)
}

#[track_caller]
fn assert_contains(text: &str, expected: &str) {
    assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn invoking_the_probe_returns_its_output_and_its_logs() {
    let (aws, probe) = deployed_probe("exec-echo", |spec| spec).await;

    let event = json!({ "echo": { "hello": "floodgate", "n": 7 } });
    let invoked = aws.invoke_json(&probe.name, &event).await.expect("Invoke");

    assert_eq!(invoked.function_error, None, "payload: {}", invoked.payload);
    assert_eq!(invoked.payload, json!({ "hello": "floodgate", "n": 7 }));
    // The bootstrap's stdout is the function's log, framed like Lambda frames it.
    assert_contains(&invoked.log_tail, "probe: echo");
    assert_contains(&invoked.log_tail, "START RequestId: ");
    assert_contains(&invoked.log_tail, "REPORT RequestId: ");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_function_error_comes_back_as_unhandled_with_its_message() {
    let (aws, probe) = deployed_probe("exec-fail", |spec| spec).await;

    let invoked = aws
        .invoke_json(&probe.name, &json!({ "fail": "downstream is down" }))
        .await
        .expect("Invoke");

    assert_eq!(invoked.function_error.as_deref(), Some(UNHANDLED));
    assert_eq!(invoked.payload["errorMessage"], "downstream is down");
    assert_eq!(invoked.payload["errorType"], "Probe.Requested");
    // Printed to stderr, which belongs in the logs too.
    assert_contains(&invoked.log_tail, "probe: failing on request");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_function_past_its_timeout_gets_the_timeout_error_and_the_next_invoke_works() {
    let (aws, probe) =
        deployed_probe("exec-timeout", |spec| spec.timeout(Duration::from_secs(1))).await;

    let started = Instant::now();
    let invoked = aws
        .invoke_json(&probe.name, &json!({ "sleep_ms": 3000 }))
        .await
        .expect("Invoke");
    let took = started.elapsed();

    assert_eq!(invoked.function_error.as_deref(), Some(UNHANDLED));
    assert_contains(
        &invoked.payload["errorMessage"].to_string(),
        "Task timed out after 1.00 seconds",
    );
    assert!(
        took < Duration::from_millis(2500),
        "the timeout must cut the 3 s sleep short, took {took:?}"
    );

    let next = aws
        .invoke_json(&probe.name, &json!({ "echo": "still here" }))
        .await
        .expect("Invoke after timeout");
    assert_eq!(next.function_error, None, "payload: {}", next.payload);
    assert_eq!(next.payload, json!("still here"));
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_crash_is_reported_as_an_error_instead_of_a_hang() {
    let (aws, probe) = deployed_probe("exec-crash", |spec| spec).await;

    let invoked = tokio::time::timeout(
        Duration::from_secs(20),
        aws.invoke_json(&probe.name, &json!({ "crash": true })),
    )
    .await
    .expect("a crashed function must not leave Invoke waiting")
    .expect("Invoke");

    assert_eq!(invoked.function_error.as_deref(), Some(UNHANDLED));
    assert_eq!(invoked.payload["errorType"], "Runtime.ExitError");
    assert_contains(
        &invoked.payload["errorMessage"].to_string(),
        "signal: aborted",
    );
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn the_function_restarts_after_a_crash() {
    let (aws, probe) = deployed_probe("exec-restart", |spec| spec).await;

    let crashed = aws
        .invoke_json(&probe.name, &json!({ "crash": true }))
        .await
        .expect("Invoke that crashes");
    assert_eq!(crashed.function_error.as_deref(), Some(UNHANDLED));

    for attempt in 1..=2 {
        let invoked = aws
            .invoke_json(&probe.name, &json!({ "echo": attempt }))
            .await
            .expect("Invoke after crash");
        assert_eq!(invoked.function_error, None, "payload: {}", invoked.payload);
        assert_eq!(invoked.payload, json!(attempt));
    }
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_function_the_host_cannot_run_is_marked_failed_with_the_reason() {
    let aws = LocalAws::connect().await.expect("LocalStack");
    let zip = lambda_zip(PROBE_PACKAGE, PROBE_BIN).expect("probe zip");
    let spec = FunctionSpec::new(unique_name("exec-arm"), zip).architecture(Architecture::Arm64);

    let err = aws
        .create_function(&spec)
        .await
        .expect_err("arm64 cannot run here");

    match err {
        HarnessError::FunctionFailed { reason, .. } => assert_contains(&reason, "arm64"),
        other => panic!("expected FunctionFailed, got {other}"),
    }
}
