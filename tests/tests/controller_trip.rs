//! The controller as a real Lambda: an errors alarm trips the circuit (by `SetAlarmState`, and
//! by real Lambda `Errors` metric data from a failing consumer), and once the alarms clear,
//! ticks walk it back through `HalfOpen` and `Ramping` to `Closed`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use floodgate_core::policy::{AlarmState, Cause, PhaseName, Step, Timer};
use floodgate_core::protocol::{Response, TransitionRecord};
use floodgate_tests::{AlarmSource, AlarmSpec, Rig, RigSpec, Seen};
use serde_json::json;

/// Generous: LocalStack's alarm actions take ~0.5 s, but tests share it.
const REACT: Duration = Duration::from_secs(30);
/// How often `tick_until` ticks.
const TICK_EVERY: Duration = Duration::from_millis(500);
/// The healthy dwell of the fast timings, plus margin: long enough that the OK action's own
/// reconcile has come and gone (it is too early to relax anything) before the ticks start.
const QUIET: Duration = Duration::from_millis(2500);
/// Every window of the fast timings.
const TWO_SECONDS: TimeDelta = TimeDelta::seconds(2);

fn since(seen: &Seen) -> DateTime<Utc> {
    let text = seen.tag("since").expect("floodgate:since");
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// Ticks until the controller reports `phase`, keeping every answer; returns the resources
/// once the mapping has settled there.
async fn tick_to(rig: &Rig, phase: PhaseName, answers: &mut Vec<Response>) -> Seen {
    answers.extend(
        rig.tick_until(phase, TICK_EVERY, REACT)
            .await
            .unwrap_or_else(|e| panic!("ticking to {phase}: {e}")),
    );
    rig.wait_for_phase(phase, REACT)
        .await
        .unwrap_or_else(|e| panic!("{phase} settled: {e}"))
}

fn transitions(answers: &[Response]) -> Vec<TransitionRecord> {
    answers
        .iter()
        .flat_map(|r| r.circuits[0].transitions.clone())
        .collect()
}

fn assert_timer_transition(t: &TransitionRecord, from: PhaseName, to: PhaseName, timer: Timer) {
    assert_eq!((t.from, t.to), (from, to), "{t:?}");
    assert_eq!(t.cause, Cause::Timer { timer }, "{t:?}");
    assert_eq!(t.actor, "floodgate");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn an_errors_alarm_opens_the_circuit_and_ticks_probe_ramp_and_close_it() {
    let rig = Rig::deploy(RigSpec::new("trip")).await.expect("rig");

    // The first reconcile adopts the mapping: Closed, at max, reserved concurrency to match.
    let first = rig.tick().await.expect("tick").response();
    let status = &first.circuits[0];
    assert_eq!(status.state, PhaseName::Closed);
    assert!(status.transitions.is_empty());
    assert_eq!(
        status.steps,
        [
            Step::SetMaximumConcurrency(8),
            Step::SetReservedConcurrency(8)
        ]
    );
    assert!(status.applied && !status.drift);
    let closed = rig
        .wait_for_phase(PhaseName::Closed, REACT)
        .await
        .expect("closed");
    assert_eq!(closed.resources(), ("Enabled", Some(8), Some(8)));

    // ALARM: the alarm action reaches the controller, which disables the mapping.
    let open = rig
        .trip("errors", PhaseName::Open)
        .await
        .expect("the alarm action should open the circuit");
    // Probe level while Open, so reserved concurrency is never below MaximumConcurrency.
    assert_eq!(open.resources(), ("Disabled", Some(2), Some(2)));
    assert_eq!(open.tag("trips"), Some("1"));
    assert_eq!(open.tag("override"), None);
    assert_eq!(open.tag("dry-run"), Some("false"));

    // OK: nothing relaxes before the dwell; then ticks drive the timers.
    rig.set_alarm("errors", AlarmState::Ok).await.expect("ok");
    tokio::time::sleep(QUIET).await;
    let mut answers = Vec::new();
    let half_open = tick_to(&rig, PhaseName::HalfOpen, &mut answers).await;
    assert_eq!(half_open.resources(), ("Enabled", Some(2), Some(2)));
    assert!(since(&half_open) - since(&open) >= TWO_SECONDS, "open wait");
    // A probe passes only on traffic it saw (the consumer's own Invocations): give it some.
    rig.aws
        .send_bodies(&rig.source, &["probe-1".to_owned(), "probe-2".to_owned()])
        .await
        .expect("send");

    let ramping = tick_to(&rig, PhaseName::Ramping, &mut answers).await;
    assert_eq!(ramping.tag("level"), Some("4"));
    assert_eq!(ramping.resources(), ("Enabled", Some(4), Some(4)));
    assert!(
        since(&ramping) - since(&half_open) >= TWO_SECONDS,
        "probe window"
    );

    let reclosed = tick_to(&rig, PhaseName::Closed, &mut answers).await;
    assert_eq!(reclosed.resources(), ("Enabled", Some(8), Some(8)));
    assert_eq!(reclosed.tag("trips"), None);
    assert!(
        since(&reclosed) - since(&ramping) >= TWO_SECONDS,
        "ramp step"
    );

    let seen = transitions(&answers);
    assert_eq!(seen.len(), 3, "one transition per timer: {seen:#?}");
    assert_timer_transition(
        &seen[0],
        PhaseName::Open,
        PhaseName::HalfOpen,
        Timer::OpenWait,
    );
    assert_timer_transition(
        &seen[1],
        PhaseName::HalfOpen,
        PhaseName::Ramping,
        Timer::ProbeWindow,
    );
    assert_timer_transition(
        &seen[2],
        PhaseName::Ramping,
        PhaseName::Closed,
        Timer::RampStep,
    );
    // Raising: reserved concurrency first, then MaximumConcurrency.
    let closing_tick = answers.last().expect("answers");
    assert_eq!(
        closing_tick.circuits[0].steps,
        [
            Step::SetReservedConcurrency(8),
            Step::SetMaximumConcurrency(8)
        ]
    );
    rig.delete().await.expect("delete the rig");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_failing_consumer_trips_the_circuit_through_its_real_lambda_errors_metric() {
    let rig = Rig::deploy(RigSpec::new("errmetric").alarms([AlarmSpec {
        kind: "errors",
        source: AlarmSource::ConsumerErrors,
    }]))
    .await
    .expect("rig");
    rig.tick().await.expect("tick").response();

    // The consumer fails every batch holding this message; LocalStack publishes the
    // function's Errors metric, the 10 s alarm evaluates it, and its action invokes the
    // controller. Nothing in this test touches the alarm.
    rig.aws
        .send_bodies(&rig.source, &[json!({"fail": true}).to_string()])
        .await
        .expect("send");
    let open = rig
        .wait_for_phase(PhaseName::Open, Duration::from_secs(90))
        .await
        .expect("the errors alarm should open the circuit from metric data alone");
    assert_eq!(open.resources(), ("Disabled", Some(2), Some(2)));

    let status = rig
        .command(floodgate_core::protocol::OperatorCommand::Status { circuit: None })
        .await
        .expect("status")
        .response();
    let alarm = &status.circuits[0].alarms[0];
    assert_eq!(alarm.name, rig.alarm("errors"));
    assert_eq!(alarm.state, Some(AlarmState::Alarm), "{alarm:?}");
    rig.delete().await.expect("delete the rig");
}
