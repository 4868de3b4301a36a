//! The controller as a real Lambda, with the infra modules' default alarm set (errors, depth,
//! age): a failing consumer trips the circuit, the open circuit builds a backlog past the depth
//! and age thresholds, the consumer heals — and the circuit must probe, ramp and close by
//! itself while the backlog alarms are still in ALARM, then drain the backlog without losing a
//! message.
//!
//! Depth and age measure the backlog the open circuit itself creates, so they must never keep
//! a tripped circuit from probing: a controller that treats them as failure stays Open for as
//! long as the backlog exists, and the backlog exists for as long as it stays Open.
//!
//! What moves each alarm here:
//! - errors: the consumer's real `AWS/Lambda` `Errors` metric (LocalStack publishes it);
//! - depth: the source queue's real `ApproximateNumberOfMessagesVisible` (LocalStack publishes
//!   it every 10 s with the project's settings);
//! - age: LocalStack does not publish `ApproximateAgeOfOldestMessage`, so the test moves the
//!   alarm with `SetAlarmState` as the metric would: ALARM once the oldest message has waited
//!   past the threshold, OK only once the queue is empty. (On AWS it clears as soon as the
//!   oldest message left is younger than the threshold; holding it until the queue is empty
//!   is the harder case for the controller.)
//!
//! Thresholds are the modules' defaults scaled down by ten (depth 1000 → 100, age 300 s →
//! 30 s). Scheduler does not run locally, so the test sends the ticks; it holds them back until
//! the backlog alarms have fired, so that the circuit is still tripped when they do, as on AWS,
//! where the age alarm fires minutes into an open circuit.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use floodgate_core::config::ControllerConfig;
use floodgate_core::policy::{AlarmKind, AlarmState, PhaseName};
use floodgate_core::protocol::AlarmStatus;
use floodgate_tests::{
    AlarmSource, AlarmSpec, LedgerEntry, Probes as _, Rig, RigSpec, fast_timings,
};
use serde_json::json;
use tokio::time::{Instant, sleep};

/// The modules' default depth threshold (1000 visible), scaled down.
const DEPTH_THRESHOLD: u32 = 100;
/// The modules' default age threshold (300 s), scaled down.
const AGE_THRESHOLD: Duration = Duration::from_secs(30);
/// Sent while the consumer fails: one batch, enough for the errors alarm.
const EARLY: usize = 10;
/// Sent while the circuit is open: past the depth threshold with the early ones.
const BACKLOG: usize = 150;
/// Long enough that the early messages are received at most twice before the circuit opens,
/// far from the DLQ's `maxReceiveCount` of 5.
const VISIBILITY: Duration = Duration::from_secs(20);
/// From the first failed batch to Open: the 10 s errors alarm evaluates every 10 s.
const TRIP_TIMEOUT: Duration = Duration::from_secs(90);
/// From Open to depth and age in ALARM and errors out of it: SQS metrics every 10 s, alarms
/// looking back three 10 s periods, the age threshold.
const BUILD_TIMEOUT: Duration = Duration::from_mins(2);
/// The pause between ticks.
const TICK_EVERY: Duration = Duration::from_secs(1);
/// How far apart decisions may be: the pause, plus a tick's invocation through LocalStack on
/// a shared machine.
const TICK_SLACK: Duration = Duration::from_secs(3);
/// What the local mapping consumes: one batch of 10 per second, whatever the concurrency.
const LOCAL_DRAIN_PER_SEC: u64 = 10;
/// How long the depth alarm may stay in ALARM once the depth is below its threshold: it looks
/// back three 10 s periods and is evaluated every 10 s.
const DEPTH_ALARM_LAG: Duration = Duration::from_secs(40);

/// The age alarm as `ApproximateAgeOfOldestMessage` would move it (see the module docs).
struct AgeAlarm {
    oldest_sent: Instant,
    state: AlarmState,
}

impl AgeAlarm {
    /// Moves the alarm if the queue calls for it; returns its state.
    async fn follow(&mut self, rig: &Rig) -> AlarmState {
        let (visible, in_flight) = rig.aws.queue_depth(&rig.source).await.expect("depth");
        let wanted = if visible + in_flight == 0 {
            AlarmState::Ok
        } else if self.oldest_sent.elapsed() >= AGE_THRESHOLD {
            AlarmState::Alarm
        } else {
            self.state
        };
        if wanted != self.state {
            rig.set_alarm("age", wanted).await.expect("SetAlarmState");
            self.state = wanted;
        }
        self.state
    }
}

fn bodies(phase: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|seq| json!({"phase": phase, "seq": seq}).to_string())
        .collect()
}

/// Makes the consumer fail every batch (`FAIL_ALL=1`, see `probe-lambda`), or heals it; the
/// next invocation runs with the change.
async fn fail_consumer(rig: &Rig, fail: bool) {
    let value = if fail { "1" } else { "0" };
    loadtest::aws::Lambda::new(&rig.aws.config)
        .update_env(
            &rig.consumer.name,
            &[("FAIL_ALL".to_owned(), Some(value.to_owned()))],
        )
        .await
        .expect("the consumer's configuration update");
}

/// One line on where the circuit is, for failure messages.
async fn situation(rig: &Rig, phases: &[PhaseName]) -> String {
    let alarms = rig.alarm_states().await.expect("DescribeAlarms");
    let (visible, in_flight) = rig.aws.queue_depth(&rig.source).await.expect("depth");
    let seen = rig.observe().await.expect("observe");
    format!(
        "state {:?} (trips {:?}), mapping {}; alarms {alarms:?}; source queue {visible} visible, \
         {in_flight} in flight; phases the ticks saw: {phases:?}",
        seen.phase(),
        seen.tag("trips"),
        seen.mapping_state,
    )
}

fn is_subsequence(wanted: &[PhaseName], seen: &[PhaseName]) -> bool {
    let mut seen = seen.iter();
    wanted.iter().all(|w| seen.any(|s| s == w))
}

/// The modules' default alarm set on one circuit, over a source queue whose failed messages
/// come back slowly.
async fn deploy() -> Rig {
    let mut timings = fast_timings();
    // HalfOpen and Ramping each last several ticks, so the ticks see every phase.
    timings["probe_window_secs"] = json!(4);
    timings["ramp_step_secs"] = json!(4);
    Rig::deploy(
        RigSpec::new("backlog")
            .alarms([
                AlarmSpec {
                    kind: "errors",
                    source: AlarmSource::ConsumerErrors,
                },
                AlarmSpec {
                    kind: "depth",
                    source: AlarmSource::SourceDepth {
                        threshold: DEPTH_THRESHOLD,
                    },
                },
                AlarmSpec::manual("age"),
            ])
            .timings(timings)
            .visibility_timeout(VISIBILITY),
    )
    .await
    .expect("rig")
}

/// Waits, without ticking, until depth and age are in ALARM and errors is not; returns the
/// alarm states.
async fn wait_for_backlog_alarms(rig: &Rig, age: &mut AgeAlarm) -> BTreeMap<&'static str, String> {
    let deadline = Instant::now() + BUILD_TIMEOUT;
    loop {
        age.follow(rig).await;
        let alarms = rig.alarm_states().await.expect("DescribeAlarms");
        if alarms["depth"] == "ALARM" && alarms["age"] == "ALARM" && alarms["errors"] != "ALARM" {
            return alarms;
        }
        assert!(
            Instant::now() < deadline,
            "the backlog alarms did not fire, or the errors alarm did not clear, within \
             {BUILD_TIMEOUT:?}: {}",
            situation(rig, &[]).await
        );
        sleep(TICK_EVERY).await;
    }
}

/// What the ticks saw on the way to Closed.
struct Recovery {
    /// Every phase a tick reported (passed through or ended in), in order.
    phases: Vec<PhaseName>,
    /// The alarms as the controller read them in the tick that first reported `HalfOpen`.
    alarms_at_probe: Vec<AlarmStatus>,
}

/// Ticks, as the schedule would, until the circuit is Closed with the queue empty and no alarm
/// in ALARM. It must probe within `probe_bound` and close within `close_bound`.
async fn tick_until_closed_and_drained(
    rig: &Rig,
    age: &mut AgeAlarm,
    probe_bound: Duration,
    close_bound: Duration,
) -> Recovery {
    let ticking = Instant::now();
    let mut phases: Vec<PhaseName> = Vec::new();
    let mut alarms_at_probe = Vec::new();
    loop {
        let response = rig.tick().await.expect("tick").response();
        let status = &response.circuits[0];
        for phase in status
            .transitions
            .iter()
            .map(|t| t.to)
            .chain([status.state])
        {
            if phase == PhaseName::HalfOpen && !phases.contains(&phase) {
                alarms_at_probe.clone_from(&status.alarms);
            }
            if phases.last() != Some(&phase) {
                phases.push(phase);
            }
        }
        let age_state = age.follow(rig).await;
        assert!(
            phases.contains(&PhaseName::HalfOpen) || ticking.elapsed() <= probe_bound,
            "the circuit did not probe within its recovery bound ({probe_bound:?} of ticks \
             after the errors alarm cleared): {}",
            situation(rig, &phases).await
        );
        if status.state == PhaseName::Closed && age_state == AlarmState::Ok {
            let alarms = rig.alarm_states().await.expect("DescribeAlarms");
            if alarms.values().all(|s| s != "ALARM") {
                return Recovery {
                    phases,
                    alarms_at_probe,
                };
            }
        }
        assert!(
            ticking.elapsed() <= close_bound,
            "the circuit did not close with its backlog drained within {close_bound:?} of \
             ticks: {}",
            situation(rig, &phases).await
        );
        sleep(TICK_EVERY).await;
    }
}

/// Every message in `sent` was processed by the consumer (per its ledger), and none is left in
/// the source queue or its DLQ.
async fn assert_nothing_lost(rig: &Rig, sent: &[String]) {
    let ledger = rig
        .aws
        .read_ledger(&rig.ledger, sent.len(), Duration::from_secs(30))
        .await
        .expect("ledger");
    let processed: BTreeSet<&str> = ledger
        .iter()
        .filter_map(|entry| match entry {
            LedgerEntry::Processed { message_id, .. } => Some(message_id.as_str()),
            LedgerEntry::Failed { .. } | LedgerEntry::Alarm { .. } => None,
        })
        .collect();
    let dead = rig
        .aws
        .drain_queue(&rig.dlq, 0, Duration::from_secs(3))
        .await
        .expect("DLQ");
    let left = rig.aws.queue_depth(&rig.source).await.expect("depth");
    let lost: Vec<&String> = sent
        .iter()
        .filter(|id| !processed.contains(id.as_str()))
        .collect();
    assert_eq!(
        (lost.len(), dead.len(), left),
        (0, 0, (0, 0)),
        "(lost, dead-lettered, (visible, in flight) left) of {} sent; lost: {lost:?}",
        sent.len()
    );
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_circuit_tripped_on_errors_probes_and_closes_by_itself_while_its_backlog_alarms_fire() {
    let rig = deploy().await;
    let config = ControllerConfig::from_json(&rig.config.to_string()).expect("the rig's config");
    let policy = config.circuits()[0].policy();
    rig.adopt().await.expect("adopted");

    // 1. The consumer fails: its Errors metric alone opens the circuit.
    fail_consumer(&rig, true).await;
    let mut age = AgeAlarm {
        oldest_sent: Instant::now(),
        state: AlarmState::InsufficientData,
    };
    let mut sent = rig
        .aws
        .send_bodies(&rig.source, &bodies("early", EARLY))
        .await
        .expect("send");
    let open = rig
        .wait_for_phase(PhaseName::Open, TRIP_TIMEOUT)
        .await
        .expect("the errors alarm should open the circuit");
    assert_eq!(open.mapping_state, "Disabled");

    // 2. The downstream recovers while the circuit is open, and work keeps arriving: the
    // backlog passes the depth threshold and its oldest message the age threshold, while the
    // errors alarm, with no invocations left to fail, clears.
    fail_consumer(&rig, false).await;
    sent.extend(
        rig.aws
            .send_bodies(&rig.source, &bodies("backlog", BACKLOG))
            .await
            .expect("send"),
    );
    let alarms = wait_for_backlog_alarms(&rig, &mut age).await;
    assert_eq!(
        rig.observe().await.expect("observe").phase(),
        Some(PhaseName::Open),
        "the scenario needs the circuit still tripped when the backlog alarms fire: {alarms:?}"
    );

    // 3. Ticks. The failure signal has cleared, so the circuit must probe within its recovery
    // bound although depth and age are in ALARM, ramp, and close once the backlog has drained
    // and the backlog alarms have cleared: probing starts the drain, the depth alarm clears
    // some time after the queue is empty, and from there (every alarm healthy) the circuit has
    // its recovery bound again.
    let recovery = policy.recovery_bound(TICK_SLACK);
    let drain = Duration::from_secs(2 * sent.len() as u64 / LOCAL_DRAIN_PER_SEC);
    let close_bound = recovery + drain + DEPTH_ALARM_LAG + recovery;
    let seen = tick_until_closed_and_drained(&rig, &mut age, recovery, close_bound).await;
    assert!(
        is_subsequence(
            &[
                PhaseName::Open,
                PhaseName::HalfOpen,
                PhaseName::Ramping,
                PhaseName::Closed
            ],
            &seen.phases
        ),
        "open → half-open → ramping → closed: {:?}",
        seen.phases
    );
    let at_probe = |kind| {
        seen.alarms_at_probe
            .iter()
            .find(|a| a.kind == kind)
            .and_then(|a| a.state)
    };
    assert_eq!(
        (at_probe(AlarmKind::Depth), at_probe(AlarmKind::Age)),
        (Some(AlarmState::Alarm), Some(AlarmState::Alarm)),
        "the probe began while the backlog alarms were in ALARM: {:?}",
        seen.alarms_at_probe
    );
    let closed = rig
        .wait_for_phase(PhaseName::Closed, Duration::from_secs(30))
        .await
        .expect("closed and settled");
    assert_eq!(closed.resources(), ("Enabled", Some(8), Some(8)));
    assert_eq!(closed.tag("override"), None, "closed by itself");
    assert_eq!(closed.tag("trips"), None);

    // 4. Nothing lost.
    assert_nothing_lost(&rig, &sent).await;
    rig.delete().await.expect("delete the rig");
}
