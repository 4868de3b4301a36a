//! The controller as a real Lambda: throttles and depth alarms throttle the mapping instead of
//! stopping it, halving the level on each repeat down to the probe level, and the circuit
//! ramps back to `max` once they clear.

use std::time::Duration;

use floodgate_core::policy::{AlarmKind, AlarmState, Cause, PhaseName, Step};
use floodgate_tests::{AlarmSpec, Rig, RigSpec};

const REACT: Duration = Duration::from_secs(30);
/// The throttle step of the fast timings (2 s), plus margin.
const STEP: Duration = Duration::from_millis(2500);

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_throttles_alarm_throttles_at_the_safe_level_and_halves_on_repeats_down_to_probe() {
    let rig = Rig::deploy(
        RigSpec::new("throttle")
            .levels(16, 8, 2)
            .alarms([AlarmSpec::manual("throttles"), AlarmSpec::manual("depth")]),
    )
    .await
    .expect("rig");
    rig.adopt().await.expect("adopted");

    let safe = rig
        .trip("throttles", PhaseName::Throttled)
        .await
        .expect("the throttles alarm should throttle the circuit");
    assert_eq!(safe.tag("level"), Some("8"));
    // Throttled, not stopped.
    assert_eq!(safe.resources(), ("Enabled", Some(8), Some(8)));

    // A new signal after a throttle step halves the level.
    tokio::time::sleep(STEP).await;
    rig.set_alarm("depth", AlarmState::Alarm)
        .await
        .expect("depth alarm");
    let halved = rig
        .wait_until("the depth alarm to halve the level", REACT, |seen| {
            seen.tag("level") == Some("4") && seen.settled()
        })
        .await
        .expect("halved");
    assert_eq!(halved.phase(), Some(PhaseName::Throttled));
    assert_eq!(halved.resources(), ("Enabled", Some(4), Some(4)));

    // Alarms still in ALARM a step later: the tick halves again, lowering MaximumConcurrency
    // before reserved concurrency.
    tokio::time::sleep(STEP).await;
    let tick = rig.tick().await.expect("tick").response();
    let status = &tick.circuits[0];
    assert_eq!(status.state, PhaseName::Throttled);
    assert_eq!(status.level, 2);
    let [transition] = status.transitions.as_slice() else {
        panic!("one halving expected: {:#?}", status.transitions);
    };
    assert_eq!(
        (transition.from, transition.to),
        (PhaseName::Throttled, PhaseName::Throttled)
    );
    assert!(
        matches!(&transition.cause, Cause::Alarm { kind, .. } if matches!(kind, AlarmKind::Throttles | AlarmKind::Depth)),
        "{transition:?}"
    );
    assert_eq!(
        status.steps,
        [
            Step::SetMaximumConcurrency(2),
            Step::SetReservedConcurrency(2)
        ]
    );
    let probe = rig.observe().await.expect("observe");
    assert_eq!(probe.resources(), ("Enabled", Some(2), Some(2)));

    // Never below probe.
    tokio::time::sleep(STEP).await;
    let floor = rig.tick().await.expect("tick").response();
    assert_eq!(floor.circuits[0].level, 2);
    assert!(floor.circuits[0].transitions.is_empty());
    assert!(floor.circuits[0].steps.is_empty());
    assert_eq!(rig.observe().await.expect("observe"), probe);

    // Both clear: after the healthy dwell the level doubles per ramp step up to max.
    rig.set_alarm("throttles", AlarmState::Ok)
        .await
        .expect("ok");
    rig.set_alarm("depth", AlarmState::Ok).await.expect("ok");
    tokio::time::sleep(STEP).await;
    let answers = rig
        .tick_until(PhaseName::Closed, Duration::from_millis(500), REACT)
        .await
        .expect("closed again");
    let path: Vec<(PhaseName, u32)> = answers
        .iter()
        .filter(|r| !r.circuits[0].transitions.is_empty())
        .map(|r| (r.circuits[0].state, r.circuits[0].level))
        .collect();
    assert_eq!(
        path,
        [
            (PhaseName::Ramping, 4),
            (PhaseName::Ramping, 8),
            (PhaseName::Closed, 16)
        ]
    );
    let closed = rig
        .wait_for_phase(PhaseName::Closed, REACT)
        .await
        .expect("closed");
    assert_eq!(closed.resources(), ("Enabled", Some(16), Some(16)));
    rig.delete().await.expect("delete the rig");
}
