//! Scripted scenarios of one circuit against the in-memory AWS: each asserts the exact AWS
//! calls, in order, and any other call fails the test.

mod controller_support;

use controller_support::*;
use floodgate_core::policy::{AlarmState, Cause, OverrideKind, Phase, PhaseName, Step, Timer};
use floodgate_core::ports::{MappingState, QueueStatus};
use serde_json::json;

/// Trips the settled circuit with an errors alarm at `at(600)`.
async fn tripped() -> Harness {
    let h = Harness::settled().await;
    h.aws().set_alarm(ERRORS, AlarmState::Alarm, at(595));
    h.send_json(&alarm_action(ERRORS, AlarmState::Alarm, at(595)), at(600))
        .await
        .expect("the trip succeeds");
    h.calls();
    h.metrics();
    h
}

#[tokio::test]
async fn first_run_adopts_the_mapping_at_max_without_calling_it_drift() {
    let h = Harness::new();
    let response = h.tick(t0()).await;
    assert_eq!(
        h.calls(),
        reads_then([
            set_max(MAX),
            settle_read(),
            reserve(MAX),
            tag(&state(Phase::Closed { since: t0() }))
        ])
    );
    let status = &response.circuits[0];
    assert_eq!(status.state, PhaseName::Closed);
    assert!(!status.drift);
    assert!(status.applied);
    assert_eq!(
        status.steps,
        [
            Step::SetMaximumConcurrency(MAX),
            Step::SetReservedConcurrency(MAX)
        ]
    );
}

#[tokio::test]
async fn errors_alarm_disables_the_mapping_then_lowers_concurrency_and_records_open() {
    let h = Harness::settled().await;
    h.aws().set_alarm(ERRORS, AlarmState::Alarm, at(595));
    let response = h
        .send_json(&alarm_action(ERRORS, AlarmState::Alarm, at(595)), at(600))
        .await
        .unwrap();

    assert_eq!(h.calls(), trip_calls(&open(600)));
    let mapping = h.aws().mapping(UUID);
    assert!(!mapping.enabled);
    assert_eq!(mapping.maximum_concurrency, Some(PROBE));
    assert_eq!(h.aws().reserved(FUNCTION), Some(PROBE));

    let status = &response.circuits[0];
    assert_eq!(status.circuit, "orders");
    assert_eq!(
        (status.state, status.trips, status.level),
        (PhaseName::Open, 1, PROBE)
    );
    // The status shows the resources as they were found.
    assert!(status.esm.enabled);
    assert_eq!(status.esm.maximum_concurrency, Some(MAX));
    assert_eq!(
        status.queue,
        Some(QueueStatus {
            visible: 42,
            in_flight: 3
        })
    );
    let [transition] = status.transitions.as_slice() else {
        panic!("expected one transition, got {:?}", status.transitions);
    };
    assert_eq!(
        (transition.from, transition.to),
        (PhaseName::Closed, PhaseName::Open)
    );
    assert_eq!(transition.actor, "floodgate");
    assert!(matches!(&transition.cause, Cause::Alarm { alarm, .. } if alarm == ERRORS));

    let [metric] = h.metrics().try_into().unwrap();
    assert_eq!(metric["Circuit"], "orders");
    assert_eq!(metric["State"], 4);
    assert_eq!(metric["Level"], PROBE);
    assert_eq!(metric["Transitions"], 1);
    assert_eq!(metric["Drift"], 0);
}

#[tokio::test]
async fn ticks_walk_a_healed_circuit_through_half_open_and_ramping_back_to_closed() {
    let h = tripped().await;
    h.aws().set_alarm(ERRORS, AlarmState::Ok, at(630));

    // Healthy dwell (120 s since the alarm cleared at 630) not over yet.
    h.tick(at(700)).await;
    assert_eq!(h.calls(), reads());

    h.tick(at(750)).await;
    let half_open = state(Phase::HalfOpen {
        since: at(750),
        trips: 1,
    });
    assert_eq!(h.calls(), reads_then(applied(&half_open, [enable()])));

    // Probe window (60 s) not over yet.
    h.tick(at(800)).await;
    assert_eq!(h.calls(), probe_reads());

    // Raising: reserved concurrency first, then MaximumConcurrency.
    for (now, level) in [(810, 4), (870, 8)] {
        h.tick(at(now)).await;
        let ramping = state(Phase::Ramping {
            since: at(now),
            level,
            trips: 1,
        });
        let mut expected = if level == 4 { probe_reads() } else { reads() };
        expected.extend(applied(&ramping, [reserve(level), set_max(level)]));
        assert_eq!(h.calls(), expected, "ramp to {level}");
    }
    let response = h.tick(at(930)).await;
    let closed = state(Phase::Closed { since: at(930) });
    assert_eq!(
        h.calls(),
        reads_then(applied(&closed, [reserve(MAX), set_max(MAX)]))
    );
    assert_eq!(response.circuits[0].state, PhaseName::Closed);
    assert!(matches!(
        response.circuits[0].transitions[0].cause,
        Cause::Timer {
            timer: Timer::RampStep
        }
    ));

    h.tick(at(990)).await;
    assert_eq!(h.calls(), reads());
}

#[tokio::test]
async fn a_lasting_throttles_alarm_halves_the_level_once_per_step_down_to_probe() {
    let h = Harness::settled().await;
    h.aws().set_alarm(THROTTLES, AlarmState::Alarm, at(595));

    h.tick(at(600)).await;
    let throttled = |since, level| {
        state(Phase::Throttled {
            since: at(since),
            level,
            trips: 0,
        })
    };
    // Lowering: MaximumConcurrency first, then reserved concurrency.
    assert_eq!(
        h.calls(),
        reads_then(applied(
            &throttled(600, SAFE),
            [set_max(SAFE), settle_read(), reserve(SAFE)]
        ))
    );

    h.tick(at(630)).await;
    assert_eq!(h.calls(), reads(), "halved before a full throttle step");

    h.tick(at(660)).await;
    assert_eq!(
        h.calls(),
        reads_then(applied(
            &throttled(660, 4),
            [set_max(4), settle_read(), reserve(4)]
        ))
    );
    h.tick(at(720)).await;
    assert_eq!(
        h.calls(),
        reads_then(applied(
            &throttled(720, PROBE),
            [set_max(PROBE), settle_read(), reserve(PROBE)]
        ))
    );
    h.tick(at(780)).await;
    assert_eq!(h.calls(), reads(), "never below probe");
    assert!(h.aws().mapping(UUID).enabled, "throttling keeps consuming");
}

#[tokio::test]
async fn force_open_with_a_ttl_holds_until_it_lapses_then_probes() {
    let h = Harness::settled().await;
    let response = h
        .command(
            json!({"command": "force-open", "circuit": "orders",
                   "reason": "downstream outage", "actor": "alice", "ttl_secs": 600}),
            at(100),
        )
        .await
        .unwrap();
    let forced = overridden(
        Phase::Open {
            since: at(100),
            trips: 1,
        },
        OverrideKind::ForceOpen,
        Some(at(700)),
    );
    assert_eq!(h.calls(), trip_calls(&forced));
    let status = &response.circuits[0];
    assert_eq!(status.override_, Some(OverrideKind::ForceOpen));
    assert_eq!(status.actor.as_deref(), Some("alice"));
    assert_eq!(status.reason.as_deref(), Some("downstream outage"));
    assert_eq!(status.override_until, Some(at(700)));
    assert_eq!(status.transitions[0].actor, "alice");

    h.tick(at(400)).await;
    assert_eq!(h.calls(), reads(), "the override holds");

    let response = h.tick(at(700)).await;
    let half_open = state(Phase::HalfOpen {
        since: at(700),
        trips: 1,
    });
    assert_eq!(h.calls(), reads_then(applied(&half_open, [enable()])));
    let causes: Vec<&Cause> = response.circuits[0]
        .transitions
        .iter()
        .map(|t| &t.cause)
        .collect();
    assert!(matches!(causes[0], Cause::OverrideExpired { .. }));
    assert!(matches!(
        causes[1],
        Cause::Timer {
            timer: Timer::OpenWait
        }
    ));
}

#[tokio::test]
async fn force_close_overrides_a_firing_alarm_and_release_hands_back_to_it() {
    let h = Harness::settled().await;
    h.aws().set_alarm(ERRORS, AlarmState::Alarm, at(50));
    h.command(
        json!({"command": "force-close", "circuit": "orders",
               "reason": "downstream outage", "actor": "alice"}),
        at(100),
    )
    .await
    .unwrap();
    let forced = overridden(
        Phase::Closed { since: t0() },
        OverrideKind::ForceClose,
        None,
    );
    assert_eq!(
        h.calls(),
        reads_then([tag(&forced)]),
        "already closed: only the tags"
    );

    h.tick(at(200)).await;
    assert_eq!(h.calls(), reads(), "the alarm cannot trip a forced circuit");

    let response = h
        .command(
            json!({"command": "release", "circuit": "orders", "actor": "bob"}),
            at(300),
        )
        .await
        .unwrap();
    assert_eq!(h.calls(), trip_calls(&open(300)));
    assert_eq!(response.circuits[0].transitions[0].actor, "bob");
}

#[tokio::test]
async fn dry_run_decides_and_records_but_actuates_nothing() {
    let h = Harness::settled().await;
    h.command(
        json!({"command": "dry-run", "circuit": "orders", "enabled": true, "actor": "alice"}),
        at(100),
    )
    .await
    .unwrap();
    let mut dry = state(Phase::Closed { since: t0() });
    dry.dry_run = true;
    assert_eq!(h.calls(), reads_then([tag(&dry)]));

    h.aws().set_alarm(ERRORS, AlarmState::Alarm, at(595));
    let response = h
        .send_json(&alarm_action(ERRORS, AlarmState::Alarm, at(595)), at(600))
        .await
        .unwrap();
    let mut dry_open = state(Phase::Open {
        since: at(600),
        trips: 1,
    });
    dry_open.dry_run = true;
    assert_eq!(h.calls(), reads_then([tag(&dry_open)]), "tags only");
    let status = &response.circuits[0];
    assert!(!status.applied);
    assert!(status.dry_run);
    assert_eq!(
        status.steps,
        [
            Step::DisableEsm,
            Step::SetMaximumConcurrency(PROBE),
            Step::SetReservedConcurrency(PROBE)
        ],
        "reports what it would do"
    );
    let mapping = h.aws().mapping(UUID);
    assert!(mapping.enabled);
    assert_eq!(mapping.maximum_concurrency, Some(MAX));
    assert_eq!(h.aws().reserved(FUNCTION), Some(MAX));

    // Leaving dry-run applies the state decided meanwhile, and is not drift.
    let response = h
        .command(
            json!({"command": "dry-run", "circuit": "orders", "enabled": false, "actor": "alice"}),
            at(700),
        )
        .await
        .unwrap();
    assert_eq!(h.calls(), trip_calls(&open(600)));
    assert!(!response.circuits[0].drift);
}

#[tokio::test]
async fn duplicate_and_out_of_order_alarm_events_change_nothing() {
    let h = tripped().await;
    let before = h.aws().mapping(UUID);

    let duplicate = alarm_action(ERRORS, AlarmState::Alarm, at(595));
    let response = h.send_json(&duplicate, at(605)).await.unwrap();
    assert_eq!(h.calls(), reads());
    assert!(response.circuits[0].transitions.is_empty());

    // An OK from before the ALARM arrives late: DescribeAlarms knows better.
    let stale = alarm_action(ERRORS, AlarmState::Ok, at(500));
    let response = h.send_json(&stale, at(610)).await.unwrap();
    assert_eq!(h.calls(), reads());
    assert!(response.circuits[0].transitions.is_empty());
    assert_eq!(response.circuits[0].state, PhaseName::Open);
    assert_eq!(h.aws().mapping(UUID), before);
}

#[tokio::test]
async fn an_alarm_event_newer_than_describe_alarms_is_believed() {
    let h = Harness::settled().await;
    // DescribeAlarms still says OK (since an hour ago): the read lags the notification.
    h.send_json(&alarm_action(ERRORS, AlarmState::Alarm, at(598)), at(600))
        .await
        .unwrap();
    assert_eq!(h.calls(), trip_calls(&open(600)));
}

#[tokio::test]
async fn a_mapping_re_enabled_by_hand_while_open_is_disabled_again_and_reported_as_drift() {
    let h = tripped().await;
    h.aws().edit_mapping(UUID, |m| m.enabled = true);

    let response = h.tick(at(620)).await;
    assert_eq!(
        h.calls(),
        reads_then([disable()]),
        "state unchanged: no tags"
    );
    assert!(!h.aws().mapping(UUID).enabled);
    let status = &response.circuits[0];
    assert!(status.drift);
    assert_eq!(status.state, PhaseName::Open);
    let [metric] = h.metrics().try_into().unwrap();
    assert_eq!(metric["Drift"], 1);

    h.tick(at(630)).await;
    assert_eq!(h.calls(), reads(), "repaired: nothing more to do");
}

#[tokio::test]
async fn concurrency_changed_by_hand_is_put_back_and_reported_as_drift() {
    let h = Harness::settled().await;
    h.aws()
        .edit_mapping(UUID, |m| m.maximum_concurrency = Some(100));
    h.aws().set_reserved(FUNCTION, None);

    let response = h.tick(at(60)).await;
    assert_eq!(
        h.calls(),
        reads_then([set_max(MAX), settle_read(), reserve(MAX)])
    );
    assert!(response.circuits[0].drift);
    assert_eq!(h.metrics()[0]["Drift"], 1);
}

#[tokio::test]
async fn status_reads_every_circuit_and_writes_nothing() {
    let h = tripped().await;
    let response = h
        .command(json!({"command": "status"}), at(610))
        .await
        .unwrap();
    assert_eq!(h.calls(), reads());
    assert!(h.metrics().is_empty());
    let [status] = response.circuits.as_slice() else {
        panic!("one circuit expected");
    };
    assert_eq!(status.state, PhaseName::Open);
    assert_eq!(status.since, at(600));
    assert_eq!(status.trips, 1);
    assert_eq!(status.level, PROBE);
    assert_eq!(status.esm.uuid, UUID);
    assert_eq!(status.esm.state, MappingState::Disabled);
    assert!(!status.esm.enabled);
    assert_eq!(status.reserved_concurrency, Some(PROBE));
    assert_eq!(status.alarms.len(), 3);
    assert_eq!(status.alarms[0].name, ERRORS);
    assert_eq!(status.alarms[0].state, Some(AlarmState::Alarm));
    assert_eq!(status.alarms[0].since, Some(at(595)));
    assert!(status.transitions.is_empty() && status.steps.is_empty());
    assert!(!status.applied && !status.drift);

    // The response is the wire format the CLI reads.
    let wire = serde_json::to_value(&response).unwrap();
    assert_eq!(wire["circuits"][0]["state"], "open");
    assert_eq!(wire["circuits"][0]["esm"]["maximum_concurrency"], PROBE);
    assert_eq!(wire["circuits"][0]["alarms"][0]["kind"], "errors");
}

#[tokio::test]
async fn a_second_run_over_an_unchanged_world_writes_nothing() {
    let h = Harness::settled().await;
    for secs in [10, 20, 3600] {
        h.tick(at(secs)).await;
        assert_eq!(h.calls(), reads(), "tick at +{secs}s");
    }
}
