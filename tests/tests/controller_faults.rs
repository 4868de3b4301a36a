//! The controller as a real Lambda, with a fault-injecting proxy between it and LocalStack:
//! throttling, `ResourceInUseException`, 5xx, a dropped connection and a stalled request
//! (the SDK's attempt timeout) on its AWS calls. The real SDK parses each injected error, the
//! controller classifies and retries it, and the circuit converges; a fault that outlasts the
//! retry budget fails the invocation as `Retryable` without recording anything, and the next
//! invocation converges.

use floodgate_core::Operation;
use std::collections::BTreeSet;
use std::time::Duration;

use floodgate_core::policy::{AlarmState, OverrideKind, PhaseName};
use floodgate_core::protocol::OperatorCommand;
use floodgate_tests::{Exchange, Fault, FaultProxy, Outcome, Rig, RigSpec, endpoint_url};

/// Room for the stalled attempt (the controller's attempt timeout is 10 s) and backoffs.
const CONVERGE: Duration = Duration::from_mins(1);

/// Every AWS operation the controller's reconcile uses.
const RECONCILE_OPERATIONS: [&str; 8] = [
    "GetEventSourceMapping",
    "ListTags",
    "GetFunctionConcurrency",
    "DescribeAlarms",
    "GetQueueAttributes",
    "UpdateEventSourceMapping",
    "PutFunctionConcurrency",
    "TagResource",
];

async fn rig_behind(proxy: &FaultProxy, prefix: &str) -> Rig {
    Rig::deploy(RigSpec::new(prefix).endpoint(proxy.url()))
        .await
        .expect("rig")
}

/// One line per exchange: when (ms after the first), what, and what became of it.
fn summary(log: &[Exchange]) -> String {
    let Some(first) = log.first() else {
        return "no requests".to_owned();
    };
    log.iter()
        .map(|e| {
            format!(
                "+{:>6} ms {:<26} {:?}",
                (e.received - first.received).as_millis(),
                e.operation,
                e.outcome
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The exchanges of `operation` since the log was cleared.
fn of<'a>(log: &'a [Exchange], operation: &str) -> Vec<&'a Exchange> {
    log.iter().filter(|e| e.operation == operation).collect()
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn every_aws_call_of_a_reconcile_goes_through_the_real_sdk_to_localstack() {
    let proxy = FaultProxy::start(&endpoint_url()).await.expect("proxy");
    let rig = rig_behind(&proxy, "calls").await;

    // Adopt (writes MaximumConcurrency, reserved concurrency, tags), then trip (disable).
    let adopted = rig.tick().await.expect("tick").response();
    assert!(
        adopted.circuits[0].queue.is_some(),
        "GetQueueAttributes read the depth"
    );
    rig.wait_for_phase(PhaseName::Closed, CONVERGE)
        .await
        .expect("closed");
    rig.trip("errors", PhaseName::Open).await.expect("open");

    let log = proxy.exchanges();
    let used: BTreeSet<&str> = log.iter().map(|e| e.operation.as_str()).collect();
    assert_eq!(
        used,
        RECONCILE_OPERATIONS.into_iter().collect(),
        "the controller used exactly these operations"
    );
    let failed: Vec<&Exchange> = log.iter().filter(|e| !e.succeeded()).collect();
    assert!(failed.is_empty(), "every call succeeded: {failed:#?}");
    let disable = of(&log, "UpdateEventSourceMapping")
        .into_iter()
        .find(|e| e.body.contains("\"Enabled\":false"))
        .expect("the trip disabled the mapping");
    assert!(
        disable.body.contains("\"MaximumConcurrency\":2"),
        "disable and probe level in one update: {}",
        disable.body
    );
    rig.delete().await.expect("delete the rig");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn throttling_in_use_5xx_drops_and_timeouts_are_retried_until_the_circuit_converges() {
    let proxy = FaultProxy::start(&endpoint_url()).await.expect("proxy");
    let rig = rig_behind(&proxy, "faults").await;
    rig.adopt().await.expect("adopted");

    let armed = [
        (
            Operation::GetEventSourceMapping,
            Fault::Stall(Duration::from_secs(15)),
        ),
        (Operation::ListTags, Fault::THROTTLED),
        (Operation::GetFunctionConcurrency, Fault::Drop),
        (
            Operation::DescribeAlarms,
            Fault::Error {
                status: 503,
                code: "ServiceUnavailable",
            },
        ),
        (Operation::UpdateEventSourceMapping, Fault::THROTTLED),
        (Operation::UpdateEventSourceMapping, Fault::RESOURCE_IN_USE),
        (Operation::PutFunctionConcurrency, Fault::UNAVAILABLE),
        (
            Operation::TagResource,
            Fault::Error {
                status: 409,
                code: "ResourceConflictException",
            },
        ),
    ];
    proxy.clear();
    for (operation, fault) in &armed {
        proxy.inject(*operation, fault.clone(), 1);
    }
    // The alarm action meets every fault on its way.
    rig.set_alarm("errors", AlarmState::Alarm)
        .await
        .expect("alarm");
    let open = rig
        .wait_for_phase(PhaseName::Open, CONVERGE)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the circuit should converge despite the faults: {e}\n{}",
                summary(&proxy.exchanges())
            )
        });
    assert_eq!(open.resources(), ("Disabled", Some(2), Some(2)));
    assert_eq!(proxy.pending(), [], "every fault was met");

    // Each fault was followed by a retry of the same call that succeeded.
    let log = proxy.exchanges();
    for operation in armed.iter().map(|(op, _)| *op).collect::<BTreeSet<_>>() {
        let calls = of(&log, operation.as_str());
        let injected = armed.iter().filter(|(op, _)| *op == operation).count();
        let outcomes: Vec<&Outcome> = calls.iter().map(|e| &e.outcome).collect();
        assert!(
            calls.len() > injected && calls[..injected].iter().all(|e| !e.succeeded()),
            "{operation}: faults first: {outcomes:?}"
        );
        assert!(
            calls[injected].succeeded(),
            "{operation}: then a successful retry: {outcomes:?}"
        );
    }
    rig.delete().await.expect("delete the rig");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_fault_outlasting_the_retry_budget_fails_retryably_keeps_the_intent_and_the_next_try_completes_it()
 {
    let proxy = FaultProxy::start(&endpoint_url()).await.expect("proxy");
    let rig = rig_behind(&proxy, "budget").await;
    let closed = rig.adopt().await.expect("adopted");

    // The controller tries each call 8 times (16.2 s of backoff in all).
    proxy.clear();
    proxy.inject(Operation::UpdateEventSourceMapping, Fault::THROTTLED, 8);
    let force_open = OperatorCommand::ForceOpen {
        circuit: rig.circuit.clone(),
        reason: "maintenance".to_owned(),
        actor: "ops".to_owned(),
        ttl_secs: None,
    };
    let error = rig
        .command(force_open.clone())
        .await
        .expect("invoke")
        .error();
    assert_eq!(error.error_type, "Retryable", "{error:?}");
    assert!(
        error
            .error_message
            .starts_with("aws: UpdateEventSourceMapping failed"),
        "{error:?}"
    );
    assert!(
        error.error_message.contains("TooManyRequestsException"),
        "{error:?}"
    );
    // Nothing applied, but the decision is on the mapping, marked pending (written ahead of
    // the calls), so the next run finishes this transition instead of deciding afresh.
    let seen = rig.observe().await.expect("observe");
    assert_eq!(
        (
            seen.mapping_state.as_str(),
            seen.maximum_concurrency,
            seen.reserved_concurrency
        ),
        (
            closed.mapping_state.as_str(),
            closed.maximum_concurrency,
            closed.reserved_concurrency
        ),
        "nothing applied"
    );
    assert_eq!(seen.phase(), Some(PhaseName::Open));
    assert_eq!(seen.tag("pending"), Some("true"));
    assert_eq!(seen.tag("override"), Some("force-open"));
    assert_eq!(of(&proxy.exchanges(), "TagResource").len(), 1);

    // The operator tries again: it goes through.
    let forced = rig.command(force_open).await.expect("invoke").response();
    assert_eq!(forced.circuits[0].override_, Some(OverrideKind::ForceOpen));
    let open = rig
        .wait_for_phase(PhaseName::Open, CONVERGE)
        .await
        .expect("open");
    assert_eq!(open.mapping_state, "Disabled");
    rig.delete().await.expect("delete the rig");
}
