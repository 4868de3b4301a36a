//! Issue 9: the controller under real AWS conditions, against the in-memory AWS with Lambda's
//! delays modelled (updates that take effect calls later, pollers that keep the old level
//! meanwhile) and the reserved-concurrency rule watched at every call. Each test names the
//! finding it pins down; each fails on the controller before issue 9.

mod controller_support;

use floodgate_core::Operation;
use std::time::Duration;

use controller_support::*;
use floodgate_core::error::AwsFault;
use floodgate_core::policy::{
    AlarmState, Cause, MANUAL_DISABLE_REASON, OverrideKind, Phase, PhaseName, ProbeOutcome,
    ProbeTraffic,
};
use floodgate_core::ports::Pollers;
use floodgate_core::{ControllerConfig, Error};
use floodgate_testkit::{Call, FakeAws};
use proptest::prelude::*;
use serde_json::json;

/// The world of the tests: Lambda applies mapping updates `delay` calls late, and every
/// breach of "reserved concurrency covers what the mappings may consume" is kept.
fn slow_world(delay: u32) -> FakeAws {
    let aws = world().with_update_delay(delay).watching_invariant();
    aws.set_reserved(FUNCTION, Some(MAX));
    aws.edit_mapping(UUID, |m| m.maximum_concurrency = Some(MAX));
    aws
}

async fn settled_in(aws: FakeAws, config: ControllerConfig) -> Harness {
    let h = Harness::with(config, aws);
    h.tick(t0()).await;
    h.calls();
    h.metrics();
    h
}

// --- Finding 3: the rule holds for effect, not for call order ---

#[tokio::test(start_paused = true)]
async fn reserved_concurrency_is_lowered_only_once_the_disable_has_taken_effect() {
    let h = settled_in(slow_world(3), config()).await;
    // The trip disables at once and leaves the lowering to the next run rather than wait
    // for the disable to take effect (other circuits' trips would wait behind it).
    let response = trip(&h, 600).await.unwrap();
    assert!(
        response.circuits[0].pending,
        "the disable is still taking effect"
    );
    assert_eq!(h.aws().reserved(FUNCTION), Some(MAX), "not lowered yet");
    assert!(!h.aws().mapping(UUID).enabled);
    let response = h.tick(at(660)).await;
    assert!(!response.circuits[0].pending, "finished");
    assert_eq!(h.aws().reserved(FUNCTION), Some(PROBE));
    assert_eq!(h.aws().violations(), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_disable_that_does_not_settle_in_time_keeps_the_reservation_until_the_next_run() {
    let h = settled_in(slow_world(10_000), config()).await;
    let response = trip(&h, 600).await.unwrap();
    assert!(response.circuits[0].pending);
    assert_eq!(h.aws().reserved(FUNCTION), Some(MAX), "not lowered yet");
    assert!(h.persisted().pending);
    assert_eq!(h.aws().violations(), Vec::<String>::new());
}

// --- Finding 2: circuits sharing a function ---

const UUID_B: &str = "5d1f0a3e-7c44-4b9e-8f21-0a9b8c7d6e5f";

fn shared_config() -> ControllerConfig {
    let mut doc = config_json();
    doc["circuits"] = json!([
        circuit_json(),
        {
            "name": "orders-b",
            "event_source_mapping_uuid": UUID_B,
            "function_name": FUNCTION,
            "alarms": [{"name": "orders-b-errors", "kind": "errors"}],
            "levels": {"max": MAX, "safe": SAFE, "probe": PROBE}
        }
    ]);
    ControllerConfig::from_json(&doc.to_string()).expect("the shared config is valid")
}

#[tokio::test(start_paused = true)]
async fn circuits_sharing_a_function_reserve_for_each_other() {
    let aws = slow_world(2);
    aws.add_mapping(UUID_B, REGION, ACCOUNT, FUNCTION);
    aws.edit_mapping(UUID_B, |m| m.maximum_concurrency = Some(MAX));
    aws.set_reserved(FUNCTION, Some(2 * MAX));
    aws.set_alarm("orders-b-errors", AlarmState::Ok, at(-3600));
    let h = settled_in(aws, shared_config()).await;
    h.tick(at(10)).await;
    assert_eq!(h.aws().reserved(FUNCTION), Some(2 * MAX), "both at max");

    trip(&h, 600).await.unwrap();
    h.tick(at(620)).await;
    assert_eq!(
        h.aws().reserved(FUNCTION),
        Some(PROBE + MAX),
        "orders is held back, orders-b still consumes at max"
    );
    assert!(h.aws().mapping(UUID_B).enabled);
    let tick = h.tick(at(640)).await;
    assert!(tick.circuits.iter().all(|c| !c.drift), "no ping-pong");
    assert_eq!(h.aws().violations(), Vec::<String>::new());
}

#[test]
fn circuits_sharing_a_function_must_manage_its_reservation_alike() {
    let mut doc = config_json();
    let mut b = circuit_json();
    b["name"] = json!("orders-b");
    b["event_source_mapping_uuid"] = json!(UUID_B);
    b["alarms"] = json!([{"name": "orders-b-errors", "kind": "errors"}]);
    b["kill_switch"] = json!(true);
    doc["circuits"] = json!([circuit_json(), b]);
    let error = ControllerConfig::from_json(&doc.to_string()).unwrap_err();
    assert!(
        error.to_string().starts_with("circuits[1].kill_switch"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_mapping_that_invokes_another_function_is_refused_and_left_alone() {
    let h = Harness::settled().await;
    h.aws().edit_mapping(UUID, |m| {
        m.function_arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:someone-else");
    });
    let error = trip(&h, 600).await.unwrap_err();
    assert!(matches!(error, Error::WrongFunction { .. }), "{error}");
    assert!(h.calls().iter().all(|c| !c.is_write()), "nothing changed");
}

// --- Finding 4: people stay in charge ---

#[tokio::test(start_paused = true)]
async fn a_mapping_disabled_by_a_person_is_recorded_as_their_override_and_left_disabled() {
    let h = Harness::settled().await;
    h.aws().edit_mapping(UUID, |m| {
        m.enabled = false;
        m.last_modified = Some(at(100));
    });
    let response = h.tick(at(130)).await;
    let status = &response.circuits[0];
    assert_eq!(status.override_, Some(OverrideKind::ManualDisable));
    assert_eq!(status.reason.as_deref(), Some(MANUAL_DISABLE_REASON));
    assert!(!status.drift);
    assert_eq!(h.persisted().phase.since(), at(100), "when it was disabled");
    for now in [200, 4000] {
        h.tick(at(now)).await;
        assert!(!h.aws().mapping(UUID).enabled, "never re-enabled");
    }
    assert!(
        !h.calls()
            .iter()
            .any(|c| matches!(c, Call::UpdateEventSourceMapping { .. })),
        "hands off"
    );

    // The person turns it back on: automatic control resumes from what they left.
    h.aws().edit_mapping(UUID, |m| m.enabled = true);
    let response = h.tick(at(5000)).await;
    assert_eq!(response.circuits[0].state, PhaseName::Closed);
    assert_eq!(response.circuits[0].override_, None);
    assert!(matches!(
        response.circuits[0].transitions[0].cause,
        Cause::Released {
            kind: OverrideKind::ManualDisable,
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn a_new_circuit_adopts_a_disabled_mapping_without_enabling_it() {
    let aws = world();
    aws.edit_mapping(UUID, |m| m.enabled = false);
    aws.set_reserved(FUNCTION, Some(100));
    let h = Harness::with(config(), aws);
    let response = h.tick(t0()).await;
    assert_eq!(
        response.circuits[0].override_,
        Some(OverrideKind::ManualDisable)
    );
    assert!(!h.aws().mapping(UUID).enabled);
    assert_eq!(
        h.aws().reserved(FUNCTION),
        Some(100),
        "its reservation untouched"
    );
}

#[tokio::test(start_paused = true)]
async fn adopting_an_enabled_mapping_never_lowers_a_larger_reservation() {
    let aws = world();
    aws.set_reserved(FUNCTION, Some(100));
    let h = Harness::with(config(), aws);
    h.tick(t0()).await;
    assert_eq!(h.aws().reserved(FUNCTION), Some(100));
    assert_eq!(h.aws().mapping(UUID).maximum_concurrency, Some(MAX));
}

#[tokio::test(start_paused = true)]
async fn leaving_dry_run_never_enables_a_mapping_a_person_disabled_meanwhile() {
    let h = Harness::settled().await;
    h.command(
        json!({"command": "dry-run", "circuit": "orders", "enabled": true, "actor": "alice"}),
        at(10),
    )
    .await
    .unwrap();
    h.aws().edit_mapping(UUID, |m| m.enabled = false);
    h.command(
        json!({"command": "dry-run", "circuit": "orders", "enabled": false, "actor": "alice"}),
        at(20),
    )
    .await
    .unwrap();
    assert!(!h.aws().mapping(UUID).enabled);
    assert_eq!(
        h.persisted().override_.map(|o| o.kind),
        Some(OverrideKind::ManualDisable)
    );
}

// --- Finding 5: probes that can see ---

async fn half_open(h: &Harness) {
    trip(h, 600).await.expect("the trip succeeds");
    h.aws().set_alarm(ERRORS, AlarmState::Ok, at(630));
    h.tick(at(760)).await;
    assert_eq!(h.persisted().phase.name(), PhaseName::HalfOpen);
}

/// A half-open circuit whose consumer has had no invocation since.
async fn half_open_without_traffic() -> Harness {
    let h = Harness::settled().await;
    h.aws().set_function_outcome(
        FUNCTION,
        ProbeOutcome {
            invocations: 0,
            errors: 0,
        },
    );
    half_open(&h).await;
    h
}

#[tokio::test(start_paused = true)]
async fn a_probe_without_traffic_is_not_a_pass() {
    let h = half_open_without_traffic().await;
    for now in [900, 2000, 9000] {
        h.tick(at(now)).await;
        assert_eq!(h.persisted().phase.name(), PhaseName::HalfOpen, "at {now}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_probe_without_traffic_passes_once_nothing_waits_for_the_consumer() {
    let h = half_open_without_traffic().await;
    // Messages in flight still wait for the consumer: no pass.
    h.aws().set_queue(QUEUE_URL, 0, 1);
    h.tick(at(900)).await;
    assert_eq!(h.persisted().phase.name(), PhaseName::HalfOpen);
    // An empty source: nothing left to protect, the probe passes.
    h.aws().set_queue(QUEUE_URL, 0, 0);
    h.tick(at(960)).await;
    assert_eq!(h.persisted().phase.name(), PhaseName::Ramping);
}

#[tokio::test(start_paused = true)]
async fn the_minute_a_probe_began_in_shows_traffic_but_never_fails_it() {
    let h = Harness::settled().await;
    let opening = |invocations, errors| ProbeTraffic {
        opening: ProbeOutcome {
            invocations,
            errors,
        },
        after: ProbeOutcome::default(),
    };
    // Errors in the minute the probe began in may be the ones that tripped the circuit.
    h.aws().set_probe_traffic(FUNCTION, opening(8, 3));
    half_open(&h).await;
    for now in [900, 2000] {
        h.tick(at(now)).await;
        assert_eq!(h.persisted().phase.name(), PhaseName::HalfOpen, "at {now}");
    }
    // Traffic without a failure in that minute is traffic the probe saw.
    h.aws().set_probe_traffic(FUNCTION, opening(4, 0));
    h.tick(at(2100)).await;
    assert_eq!(h.persisted().phase.name(), PhaseName::Ramping);
}

#[tokio::test(start_paused = true)]
async fn a_probe_whose_own_traffic_fails_reopens_before_any_alarm_fires() {
    let h = Harness::settled().await;
    half_open(&h).await;
    h.aws().set_function_outcome(
        FUNCTION,
        ProbeOutcome {
            invocations: 8,
            errors: 5,
        },
    );
    let response = h.tick(at(780)).await;
    assert_eq!(response.circuits[0].state, PhaseName::Open);
    assert!(matches!(
        response.circuits[0].transitions[0].cause,
        Cause::ProbeFailed {
            invocations: 8,
            errors: 5
        }
    ));
    assert_eq!(h.persisted().phase.trips(), 2, "a longer wait next time");
}

#[tokio::test(start_paused = true)]
async fn the_probe_lasts_as_long_as_the_errors_alarm_needs_to_see_a_failure() {
    let h = Harness::settled().await;
    // Period 60 s, 3 datapoints to alarm, 2 min publish delay: 5 minutes to see a failure.
    h.aws().set_alarm_detection(ERRORS, Duration::from_mins(5));
    half_open(&h).await;
    h.tick(at(760 + 120)).await;
    assert_eq!(
        h.persisted().phase.name(),
        PhaseName::HalfOpen,
        "60 s probe window is too short to see"
    );
    h.tick(at(760 + 300)).await;
    assert_eq!(h.persisted().phase.name(), PhaseName::Ramping);
}

// --- Finding 6: bounded, fair ticks ---

#[tokio::test(start_paused = true)]
async fn a_tick_out_of_time_defers_circuits_instead_of_overrunning() {
    let aws = world();
    let controller =
        floodgate_core::Controller::new(config(), aws).with_work_budget(Duration::from_millis(100));
    let response = controller
        .handle(br#"{"floodgate":"tick"}"#, t0())
        .await
        .unwrap();
    assert_eq!(response.deferred, ["orders"]);
    assert!(controller.ports().calls().is_empty());
}

// --- Finding 8: intent survives a failure at any step ---

#[tokio::test(start_paused = true)]
async fn a_trip_interrupted_at_any_call_is_completed_next_time_counted_once_never_at_max() {
    for (operation, skip) in [
        (Operation::TagResource, 0),
        (Operation::UpdateEventSourceMapping, 0),
        (Operation::GetEventSourceMapping, 1),
        (Operation::PutFunctionConcurrency, 0),
        (Operation::TagResource, 1),
    ] {
        let h = settled_in(slow_world(2), config()).await;
        h.aws().fail_after(operation, skip, AwsFault::Other, 1);
        let _ = trip(&h, 600).await;
        // The errors alarm drifts to OK before the next run.
        h.aws().set_alarm(ERRORS, AlarmState::Ok, at(610));
        h.tick(at(620)).await;
        h.tick(at(640)).await;
        let s = h.persisted();
        let mapping = h.aws().mapping(UUID);
        if operation == Operation::TagResource && skip == 0 {
            // Nothing was applied or recorded: the alarm is OK now, so nothing is owed.
            assert_eq!(s.phase.name(), PhaseName::Closed, "{operation}");
            continue;
        }
        assert_eq!(
            s.phase,
            Phase::Open {
                since: at(600),
                trips: 1
            },
            "{operation}#{skip}"
        );
        assert!(!s.pending, "{operation}#{skip}: completed");
        assert!(
            !mapping.enabled,
            "{operation}#{skip}: never re-enabled at max"
        );
        assert_eq!(
            h.aws().reserved(FUNCTION),
            Some(PROBE),
            "{operation}#{skip}"
        );
        assert_eq!(h.aws().violations(), Vec::<String>::new());
    }
}

// --- Finding 9: provisioned mode ---

#[tokio::test(start_paused = true)]
async fn a_provisioned_mapping_is_driven_through_its_pollers_and_disabled_in_a_call_of_its_own() {
    let aws = world().watching_invariant();
    aws.edit_mapping(UUID, |m| {
        m.provisioned = Some(Pollers {
            minimum: 5,
            maximum: 50,
        });
    });
    let h = Harness::with(config(), aws);
    h.tick(t0()).await;
    let mapping = h.aws().mapping(UUID);
    assert_eq!(
        mapping.provisioned,
        Some(Pollers {
            minimum: 5,
            maximum: MAX
        })
    );
    assert_eq!(mapping.maximum_concurrency, None, "never a ScalingConfig");
    assert_eq!(
        h.aws().reserved(FUNCTION),
        Some(MAX * 10),
        "10 invokes per poller"
    );
    h.calls();

    trip(&h, 600).await.unwrap();
    let updates: Vec<Call> = h
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::UpdateEventSourceMapping { .. }))
        .collect();
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert!(matches!(
        updates[0],
        Call::UpdateEventSourceMapping {
            enabled: Some(false),
            pollers: None,
            maximum_concurrency: None,
            ..
        }
    ));
    let mapping = h.aws().mapping(UUID);
    assert!(!mapping.enabled);
    assert_eq!(
        mapping.provisioned,
        Some(Pollers {
            minimum: PROBE,
            maximum: PROBE
        })
    );
    assert_eq!(h.aws().reserved(FUNCTION), Some(PROBE * 10));
    assert_eq!(h.aws().violations(), Vec::<String>::new());
}

// --- The invariant over random alarms, delays and faults ---

#[derive(Debug, Clone)]
struct Step {
    advance: i64,
    errors: bool,
    throttles: bool,
    depth: bool,
    fault: Option<(usize, u32)>,
}

const OPERATIONS: [Operation; 4] = [
    Operation::UpdateEventSourceMapping,
    Operation::PutFunctionConcurrency,
    Operation::TagResource,
    Operation::GetEventSourceMapping,
];

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            5i64..=200,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::option::of((0..OPERATIONS.len(), 0u32..3)),
        )
            .prop_map(|(advance, errors, throttles, depth, fault)| Step {
                advance,
                errors,
                throttles,
                depth,
                fault,
            }),
        1..25,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Each case runs a whole controller; the default case count still applies.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Reserved concurrency covers what the mappings may consume at every instant of the
    /// world's timeline (every call), whatever the alarms, Lambda's delays and the faults.
    #[test]
    fn reserved_concurrency_covers_effective_consumption_at_every_instant(
        delay in 0u32..5,
        run in steps(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let h = settled_in(slow_world(delay), config()).await;
            let mut now = 0;
            for step in &run {
                now += step.advance;
                for (alarm, on) in [(ERRORS, step.errors), (THROTTLES, step.throttles), (DEPTH, step.depth)] {
                    let state = if on { AlarmState::Alarm } else { AlarmState::Ok };
                    h.aws().set_alarm(alarm, state, at(now - 1));
                }
                if let Some((op, times)) = step.fault {
                    h.aws().fail(OPERATIONS[op], AwsFault::Throttled, times);
                }
                let _ = h.send_json(&json!({"floodgate": "tick"}), at(now)).await;
            }
            assert_eq!(h.aws().violations(), Vec::<String>::new());
        });
    }
}
