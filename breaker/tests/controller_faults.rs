//! Injected AWS faults: throttling, `ResourceInUseException`, 5xx, a mapping in transition,
//! unreadable state. The clock is paused, so backoff costs no real time and is exact.

mod controller_support;

use std::time::Duration;

use breaker::error::AwsFault;
use breaker::fake::Call;
use breaker::policy::tags::TAG_STATE;
use breaker::policy::{AlarmState, OverrideKind, Phase, PhaseName};
use breaker::ports::MappingState;
use breaker::{Error, ErrorClass};
use controller_support::*;
use serde_json::json;
use tokio::time::Instant;

async fn trip(h: &Harness, now: i64) -> Result<breaker::protocol::Response, Error> {
    h.aws().set_alarm(ERRORS, AlarmState::Alarm, at(now - 5));
    h.send_json(
        &alarm_action(ERRORS, AlarmState::Alarm, at(now - 5)),
        at(now),
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn throttled_and_failing_updates_are_retried_until_the_circuit_converges() {
    let h = Harness::settled().await;
    h.aws()
        .fail("UpdateEventSourceMapping", AwsFault::Throttled, 2);
    h.aws()
        .fail("PutFunctionConcurrency", AwsFault::Transient, 1);
    let started = Instant::now();
    trip(&h, 600).await.unwrap();

    assert_eq!(
        h.calls(),
        reads_then([
            disable_to(PROBE),
            disable_to(PROBE),
            disable_to(PROBE),
            reserve(PROBE),
            reserve(PROBE),
            tag(&open(600)),
        ])
    );
    // 200 ms + 400 ms for the two throttled disables, 200 ms for the 503.
    assert_eq!(started.elapsed(), Duration::from_millis(800));
    assert!(!h.aws().mapping(UUID).enabled);
    assert_eq!(h.aws().reserved(FUNCTION), Some(PROBE));
}

#[tokio::test(start_paused = true)]
async fn resource_in_use_is_waited_out() {
    let h = Harness::settled().await;
    h.aws().fail("UpdateEventSourceMapping", AwsFault::InUse, 1);
    trip(&h, 600).await.unwrap();
    assert_eq!(
        h.calls(),
        reads_then([
            disable_to(PROBE),
            disable_to(PROBE),
            reserve(PROBE),
            tag(&open(600))
        ])
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
    h.aws().fail("ListTags", AwsFault::Throttled, 1);
    h.aws().fail("DescribeAlarms", AwsFault::Transient, 1);
    h.tick(at(60)).await;
    let mut expected = reads();
    expected.insert(2, expected[1].clone());
    expected.insert(5, expected[4].clone());
    assert_eq!(h.calls(), expected);
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_fail_retryably_record_nothing_and_the_next_tick_converges() {
    let h = Harness::settled().await;
    h.aws()
        .fail("UpdateEventSourceMapping", AwsFault::Throttled, 8);
    let error = trip(&h, 600).await.unwrap_err();

    assert_eq!(error.class(), ErrorClass::Retryable);
    let diagnostic: lambda_runtime::Diagnostic = error.into();
    assert_eq!(diagnostic.error_type, "Retryable");
    assert_eq!(h.calls(), reads_then(vec![disable_to(PROBE); 8]));
    assert_eq!(
        h.persisted().phase,
        Phase::Closed { since: t0() },
        "nothing recorded"
    );
    assert!(h.metrics().is_empty());

    h.tick(at(610)).await;
    assert_eq!(h.calls(), trip_calls(&open(610)));
}

#[tokio::test(start_paused = true)]
async fn a_mapping_that_never_settles_is_left_for_the_next_tick_without_a_decision() {
    let h = Harness::settled().await;
    h.aws().set_transitional(UUID, MappingState::Disabling, 100);
    let error = trip(&h, 600).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    let get = Call::GetEventSourceMapping { uuid: UUID.into() };
    assert_eq!(
        h.calls(),
        vec![get; 8],
        "no update is attempted on a busy mapping"
    );
    assert_eq!(h.persisted().phase, Phase::Closed { since: t0() });
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_queue_depth_does_not_hold_up_a_trip() {
    let h = Harness::settled().await;
    h.aws().fail("GetQueueAttributes", AwsFault::Other, 1);
    let response = trip(&h, 600).await.unwrap();
    assert_eq!(h.calls(), trip_calls(&open(600)));
    assert_eq!(response.circuits[0].queue, None);
}

#[tokio::test]
async fn access_denied_is_a_failure_that_is_not_retried() {
    let h = Harness::settled().await;
    h.aws().fail("PutFunctionConcurrency", AwsFault::Other, 1);
    let error = trip(&h, 600).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Failed);
    assert_eq!(h.calls(), reads_then([disable_to(PROBE), reserve(PROBE)]));
}

#[tokio::test]
async fn unreadable_state_tags_stop_the_circuit_until_an_operator_forces_it() {
    let h = Harness::settled().await;
    h.aws().edit_mapping(UUID, |m| {
        m.tags.insert(TAG_STATE.into(), "sideways".into());
    });
    h.aws().set_alarm(ERRORS, AlarmState::Alarm, at(595));

    let error = h
        .send_json(&json!({"floodgate": "tick"}), at(600))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Failed);
    assert!(error.to_string().contains("floodgate:state"), "{error}");
    assert_eq!(h.calls(), reads(), "no guess, no write");

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

    let error = h
        .send_json(&json!({"floodgate": "tick"}), t0())
        .await
        .unwrap_err();
    let Error::Circuits(failures) = &error else {
        panic!("expected per-circuit failures, got {error}");
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].circuit, "payments");
    assert_eq!(failures[0].error.aws_fault(), Some(AwsFault::NotFound));
    assert_eq!(error.class(), ErrorClass::Failed);

    let mut expected = vec![Call::GetEventSourceMapping {
        uuid: PAYMENTS_UUID.into(),
    }];
    expected.extend(trip_calls(&open(0)));
    assert_eq!(h.calls(), expected, "orders was still reconciled");
    assert_eq!(h.persisted().phase.name(), PhaseName::Open);
}
