//! Injected AWS faults: throttling, `ResourceInUseException`, 5xx, a mapping in transition,
//! unreadable state. The clock is paused, so backoff costs no real time and is exact.

mod controller_support;

use std::time::Duration;

use controller_support::*;
use floodgate_core::Operation;
use floodgate_core::error::AwsFault;
use floodgate_core::policy::tags::TAG_STATE;
use floodgate_core::policy::{AlarmState, OverrideKind, Phase, PhaseName};
use floodgate_core::ports::MappingState;
use floodgate_core::{ControllerConfig, ErrorClass};
use floodgate_testkit::Call;
use serde_json::json;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn throttled_and_failing_updates_are_retried_until_the_circuit_converges() {
    // The control-plane limiter at its highest rate (15 calls, a burst of 15), refilled
    // before the trip: the trip's 11 Lambda calls fit in the burst, so the only waits timed
    // are the retries'.
    let mut doc = config_json();
    doc["control_plane_rate_per_sec"] = 15.into();
    let config = ControllerConfig::from_json(&doc.to_string()).expect("valid");
    let h = Harness::with(config, world());
    h.tick(t0()).await;
    h.aws().take_calls();
    tokio::time::sleep(Duration::from_secs(2)).await;
    h.aws()
        .fail(Operation::UpdateEventSourceMapping, AwsFault::Throttled, 2);
    h.aws()
        .fail(Operation::PutFunctionConcurrency, AwsFault::Transient, 1);
    let started = Instant::now();
    trip(&h, 600).await.unwrap();

    assert_eq!(
        h.calls(),
        reads_then(applied(
            &open(600),
            [
                disable_to(PROBE),
                disable_to(PROBE),
                disable_to(PROBE),
                settle_read(),
                reserve(PROBE),
                reserve(PROBE),
            ]
        ))
    );
    // 200 ms + 400 ms for the two throttled disables, 200 ms for the 503.
    assert_eq!(started.elapsed(), Duration::from_millis(800));
    assert!(!h.aws().mapping(UUID).enabled);
    assert_eq!(h.aws().reserved(FUNCTION), Some(PROBE));
}

#[tokio::test(start_paused = true)]
async fn resource_in_use_is_waited_out() {
    let h = Harness::settled().await;
    h.aws()
        .fail(Operation::UpdateEventSourceMapping, AwsFault::InUse, 1);
    trip(&h, 600).await.unwrap();
    assert_eq!(
        h.calls(),
        reads_then(applied(
            &open(600),
            [
                disable_to(PROBE),
                disable_to(PROBE),
                settle_read(),
                reserve(PROBE)
            ]
        ))
    );
}

#[tokio::test(start_paused = true)]
async fn a_mapping_in_transition_is_read_again_until_it_settles_before_anything_is_planned() {
    let h = Harness::settled().await;
    h.aws().set_transitional(UUID, MappingState::Updating, 2);
    trip(&h, 600).await.unwrap();
    let get = Call::GetEventSourceMapping { uuid: UUID.into() };
    let mut expected = vec![get.clone(), get];
    expected.extend(trip_calls(&open(600)));
    assert_eq!(h.calls(), expected);
}

#[tokio::test(start_paused = true)]
async fn throttled_reads_are_retried_too() {
    let h = Harness::settled().await;
    h.aws().fail(Operation::ListTags, AwsFault::Throttled, 1);
    h.aws()
        .fail(Operation::DescribeAlarms, AwsFault::Transient, 1);
    h.tick(at(60)).await;
    let mut expected = reads();
    expected.insert(2, expected[1].clone());
    expected.insert(5, expected[4].clone());
    assert_eq!(h.calls(), expected);
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_fail_retryably_keep_the_intent_and_the_next_tick_completes_it() {
    let h = Harness::settled().await;
    h.aws()
        .fail(Operation::UpdateEventSourceMapping, AwsFault::Throttled, 8);
    let error = trip(&h, 600).await.unwrap_err();

    assert_eq!(error.class(), ErrorClass::Retryable);
    assert_eq!(error.class().error_type(), "Retryable");
    let pending = pending(&open(600));
    let mut expected = vec![tag(&pending)];
    expected.extend(vec![disable_to(PROBE); 8]);
    assert_eq!(h.calls(), reads_then(expected));
    assert_eq!(h.persisted(), pending, "the intent is on the mapping");
    assert!(h.metrics().is_empty());

    // The next tick finishes the same trip: same since, counted once, not drift.
    let response = h.tick(at(610)).await;
    assert_eq!(
        h.calls(),
        reads_then([
            disable_to(PROBE),
            settle_read(),
            reserve(PROBE),
            tag(&open(600))
        ])
    );
    assert!(!response.circuits[0].drift);
    assert_eq!(h.persisted(), open(600));
}

#[tokio::test(start_paused = true)]
async fn a_mapping_that_never_settles_gets_no_update_and_the_trip_is_finished_next_time() {
    let h = Harness::settled().await;
    h.aws().set_transitional(UUID, MappingState::Updating, 1000);
    let response = trip(&h, 600).await.unwrap();
    assert!(response.circuits[0].pending);
    let calls = h.calls();
    assert!(
        !calls
            .iter()
            .any(|c| matches!(c, Call::UpdateEventSourceMapping { .. })),
        "no update is attempted on a busy mapping: {calls:?}"
    );
    let pending = pending(&open(600));
    assert_eq!(h.persisted(), pending, "the decision is kept");

    h.aws().set_transitional(UUID, MappingState::Updating, 0);
    h.tick(at(660)).await;
    assert_eq!(
        h.calls(),
        reads_then([
            disable_to(PROBE),
            settle_read(),
            reserve(PROBE),
            tag(&open(600))
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_queue_depth_does_not_hold_up_a_trip() {
    let h = Harness::settled().await;
    h.aws()
        .fail(Operation::GetQueueAttributes, AwsFault::Other, 1);
    let response = trip(&h, 600).await.unwrap();
    assert_eq!(h.calls(), trip_calls(&open(600)));
    assert_eq!(response.circuits[0].queue, None);
}

#[tokio::test]
async fn access_denied_is_a_failure_that_is_not_retried() {
    let h = Harness::settled().await;
    h.aws()
        .fail(Operation::PutFunctionConcurrency, AwsFault::Other, 1);
    let error = trip(&h, 600).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Failed);
    let pending = pending(&open(600));
    assert_eq!(
        h.calls(),
        reads_then([
            tag(&pending),
            disable_to(PROBE),
            settle_read(),
            reserve(PROBE)
        ])
    );
}

#[tokio::test]
async fn unreadable_state_tags_stop_the_circuit_until_an_operator_forces_it() {
    let h = Harness::settled().await;
    h.aws().edit_mapping(UUID, |m| {
        m.tags.insert(TAG_STATE.into(), "sideways".into());
    });
    h.aws().set_alarm(ERRORS, AlarmState::Alarm, at(595));

    // A tick reports the broken circuit in its answer instead of failing as a whole.
    let response = h
        .send_json(&json!({"floodgate": "tick"}), at(600))
        .await
        .unwrap();
    let [failed] = response.failed.as_slice() else {
        panic!("one failed circuit expected: {response:?}");
    };
    assert_eq!(failed.kind, "unreadable-state");
    assert!(!failed.retryable);
    assert!(failed.message.contains("floodgate:state"), "{failed:?}");
    assert_eq!(h.calls(), reads(), "no guess, no write");
    let errors = h.metrics();
    assert_eq!(errors[0]["CircuitErrors"], 1, "{errors:?}");

    h.command(
        json!({"command": "force-open", "circuit": "orders",
               "reason": "downstream outage", "actor": "alice"}),
        at(610),
    )
    .await
    .unwrap();
    let forced = overridden(
        Phase::Open {
            since: at(610),
            trips: 1,
        },
        OverrideKind::ForceOpen,
        None,
    );
    assert_eq!(h.calls(), trip_calls(&forced));
}

#[tokio::test]
async fn a_tick_reconciles_every_circuit_even_when_one_fails() {
    // The payments mapping does not exist in this world.
    let h = Harness::with(two_circuits_config(), world());
    h.aws().set_alarm(ERRORS, AlarmState::Alarm, at(-5));

    let response = h
        .send_json(&json!({"floodgate": "tick"}), t0())
        .await
        .expect("a tick answers even when a circuit fails");
    let [failed] = response.failed.as_slice() else {
        panic!("one failed circuit expected: {response:?}");
    };
    assert_eq!(failed.circuit, "payments");
    assert_eq!(failed.kind, "aws");
    assert!(!failed.retryable);
    assert_eq!(response.circuits.len(), 1);

    let payments = Call::GetEventSourceMapping {
        uuid: PAYMENTS_UUID.into(),
    };
    let mut calls = h.calls();
    assert_eq!(calls.iter().filter(|c| **c == payments).count(), 1);
    calls.retain(|c| *c != payments);
    assert_eq!(calls, trip_calls(&open(0)), "orders was still reconciled");
    assert_eq!(h.persisted().phase.name(), PhaseName::Open);
}
