//! Replaying the overflow back to the source once the circuit has been Closed long enough,
//! stopping when it trips, and the pacing of moves and replays — against the in-memory AWS,
//! on tokio's paused clock where time matters.

mod overflow_support;

use floodgate_core::Operation;
use floodgate_core::overflow::REPLAY_RECHECK;
use floodgate_core::overflow::batch::{MOVED_ATTRIBUTE, REPLAYED_ATTRIBUTE};
use floodgate_core::policy::{AlarmState, PhaseName};
use floodgate_core::protocol::OverflowAction;
use floodgate_testkit::Call;
use overflow_support::*;
use tokio::time::Instant;

/// A circuit that tripped at `t0 + 600` and moved `n` messages to its overflow queue (the
/// fake receives oldest first, so exactly those); its consumer then took the ceiling's worth
/// of filler left in the source.
async fn with_parked(n: usize) -> (Harness, Vec<String>) {
    let h = Harness::settled().await;
    let parked = bodies("parked", n);
    h.aws().push_bodies(SOURCE, parked.clone());
    h.aws().push_bodies(SOURCE, bodies("filler", CEILING_COUNT));
    h.trip(600).await;
    assert_eq!(h.aws().consume_all(SOURCE).len(), CEILING_COUNT);
    assert_eq!(
        h.bodies_in(OVERFLOW),
        sorted(parked.clone()),
        "setup moved them"
    );
    h.aws().take_calls();
    h.metrics();
    (h, parked)
}

#[tokio::test]
async fn replay_waits_for_replay_after_in_closed_then_sends_the_overflow_back() {
    let (h, parked) = with_parked(15).await;
    // Force-close at t0 + 700: Closed since then.
    let closed = h
        .controller
        .handle(
            br#"{"floodgate":"command","command":"force-close","circuit":"orders","reason":"drill over","actor":"alice"}"#,
            at(700),
        )
        .await
        .expect("force-close");
    assert_eq!(closed.circuits[0].state, PhaseName::Closed);
    assert_eq!(report(&closed).action, OverflowAction::Idle);

    let early = h.tick(at(700 + REPLAY_AFTER_SECS - 1)).await;
    assert_eq!(report(&early).action, OverflowAction::Idle);
    assert_eq!(
        report(&early).reason,
        format!(
            "closed: replay starts at {}",
            at(700 + REPLAY_AFTER_SECS).to_rfc3339()
        )
    );
    assert_eq!(h.aws().all_messages(OVERFLOW).len(), 15);
    h.metrics();

    let due = h.tick(at(700 + REPLAY_AFTER_SECS)).await;
    let overflow = report(&due);
    assert_eq!(overflow.action, OverflowAction::Replay);
    assert_eq!((overflow.planned, overflow.replayed), (15, 15));
    assert_eq!(overflow.overflow_depth, Some(15));
    assert!(h.aws().all_messages(OVERFLOW).is_empty());
    let back = h.aws().all_messages(SOURCE);
    for body in &parked {
        assert!(back.iter().any(|m| &m.body == body), "{body} is back");
    }
    for message in back.iter().filter(|m| m.body.contains("parked")) {
        let record = provenance(message, REPLAYED_ATTRIBUTE);
        assert_eq!(
            (record.from.as_str(), record.to.as_str()),
            (OVERFLOW, SOURCE)
        );
        assert_eq!(record.hops, 2);
        assert!(!message.attributes.contains_key(MOVED_ATTRIBUTE));
    }
    assert_eq!(h.overflow_metrics()["Replayed"], 15);
}

#[tokio::test]
async fn replay_is_bounded_per_invocation() {
    let config = config_with(|o| o["max_replays_per_invocation"] = 10.into());
    let h = Harness::settled_with(config).await;
    park(h.aws(), &bodies("parked", 25));

    let first = h.tick(at(REPLAY_AFTER_SECS)).await;
    assert_eq!((report(&first).planned, report(&first).replayed), (10, 10));
    assert_eq!(h.aws().all_messages(OVERFLOW).len(), 15);
    // The consumer keeps up: the source has its headroom again at every tick.
    let mut consumed = h.aws().consume_all(SOURCE).len();
    let second = h.tick(at(REPLAY_AFTER_SECS + 60)).await;
    assert_eq!(report(&second).replayed, 10);
    consumed += h.aws().consume_all(SOURCE).len();
    let third = h.tick(at(REPLAY_AFTER_SECS + 120)).await;
    assert_eq!(report(&third).replayed, 5);
    consumed += h.aws().consume_all(SOURCE).len();
    let fourth = h.tick(at(REPLAY_AFTER_SECS + 180)).await;
    assert_eq!(report(&fourth).reason, "closed: overflow queue empty");
    assert_eq!(consumed, 25);
}

#[tokio::test]
async fn replay_waits_while_the_source_is_over_its_ceiling() {
    let h = Harness::settled().await;
    park(h.aws(), &bodies("parked", 5));
    h.aws()
        .push_bodies(SOURCE, bodies("backlog", CEILING_COUNT + 1));

    let response = h.tick(at(REPLAY_AFTER_SECS)).await;

    assert_eq!(report(&response).action, OverflowAction::Idle);
    assert_eq!(
        report(&response).reason,
        "closed: replay waits, source has 21 visible over ceiling 20"
    );
    assert_eq!(h.aws().all_messages(OVERFLOW).len(), 5);
}

#[tokio::test]
async fn a_trip_in_the_same_invocation_moves_instead_of_replaying() {
    let h = Harness::settled().await;
    park(h.aws(), &bodies("parked", 5));
    h.aws().push_bodies(SOURCE, bodies("flood", 30));

    let response = h.trip(REPLAY_AFTER_SECS + 60).await;

    assert_eq!(response.circuits[0].state, PhaseName::Open);
    let overflow = report(&response);
    assert_eq!(overflow.action, OverflowAction::Move);
    assert_eq!(overflow.moved, 10);
    assert_eq!(overflow.replayed, 0);
    assert_eq!(h.aws().all_messages(OVERFLOW).len(), 15);
}

#[tokio::test]
async fn ramping_neither_moves_nor_replays() {
    let h = Harness::settled().await;
    h.trip(600).await;
    h.aws().set_alarm(ERRORS, AlarmState::Ok, at(610));
    park(h.aws(), &bodies("parked", 5));
    h.aws().push_bodies(SOURCE, bodies("flood", 40));
    // Walk the circuit forward until it ramps.
    let mut now = 620;
    let response = loop {
        let response = h.tick(at(now)).await;
        if response.circuits[0].state == PhaseName::Ramping {
            break response;
        }
        assert!(now < 3600, "the circuit never reached ramping");
        now += 30;
    };
    assert_eq!(report(&response).action, OverflowAction::Idle);
    assert_eq!(
        report(&response).reason,
        "ramping: the consumer drains the source; replay waits for closed"
    );
}

#[tokio::test(start_paused = true)]
async fn an_alarm_firing_mid_replay_stops_it_at_the_next_recheck() {
    // 10 messages per second: one batch per second, so the alarms are read before each
    // batch after the first.
    let config = config_with(|o| {
        o["replay_rate_per_sec"] = 10.into();
        o["max_replays_per_invocation"] = 100.into();
        o["ceiling"] = 1000.into();
    });
    let h = Harness::settled_with(config).await;
    let parked = bodies("parked", 100);
    park(h.aws(), &parked);
    // The third send of the replay comes with the errors alarm firing.
    h.aws().set_alarm_on_call(
        Operation::SendMessageBatch,
        3,
        ERRORS,
        AlarmState::Alarm,
        at(REPLAY_AFTER_SECS),
    );

    let response = h.tick(at(REPLAY_AFTER_SECS)).await;

    let overflow = report(&response);
    assert_eq!(overflow.action, OverflowAction::Replay);
    assert_eq!(
        overflow.replayed, 30,
        "three batches, then the recheck sees the alarm"
    );
    assert_eq!(
        overflow.stopped.as_deref(),
        Some("alarm orders-errors is in ALARM: the circuit is tripping")
    );
    let describes = count_calls(&h.aws().take_calls(), Operation::DescribeAlarms);
    assert_eq!(
        describes,
        1 + 3,
        "one read for the decision, one per later batch"
    );
    assert_eq!(h.aws().all_messages(OVERFLOW).len(), 70);
    let mut everything = h.bodies_in(SOURCE);
    everything.extend(h.bodies_in(OVERFLOW));
    assert_eq!(sorted(everything), sorted(parked), "nothing lost");

    // The next invocation sees the alarm and trips: no replay.
    let next = h.tick(at(REPLAY_AFTER_SECS + 60)).await;
    assert_eq!(next.circuits[0].state, PhaseName::Open);
    assert_eq!(report(&next).replayed, 0);
}

#[tokio::test(start_paused = true)]
async fn alarms_are_reread_at_most_once_per_recheck_interval() {
    // 3000 per second: 100 messages take a third of a second, under one recheck interval.
    let h = Harness::settled_with(config_with(|o| o["ceiling"] = 1000.into())).await;
    park(h.aws(), &bodies("parked", 100));

    let response = h.tick(at(REPLAY_AFTER_SECS)).await;

    assert_eq!(report(&response).replayed, 100);
    let describes = count_calls(&h.aws().take_calls(), Operation::DescribeAlarms);
    assert!(REPLAY_RECHECK.as_millis() > 334);
    assert_eq!(describes, 1, "only the decision's read");
}

/// Trips the circuit with the source at its ceiling, lets the control-plane limiter's burst
/// refill (the ports' clock is paused, so the wait is instant), then pushes `excess` messages
/// over the ceiling: the next tick's time is the overflow pacing alone (its three reads fit
/// in the limiter's burst).
async fn tripped_then_flooded(h: &Harness, excess: usize) {
    h.aws().push_bodies(SOURCE, bodies("early", CEILING_COUNT));
    let response = h.trip(600).await;
    assert_eq!(report(&response).moved, 0);
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    h.aws().push_bodies(SOURCE, bodies("flood", excess));
}

#[tokio::test(start_paused = true)]
async fn moves_are_paced_at_the_configured_rate() {
    let config = config_with(|o| o["move_rate_per_sec"] = 20.into());
    let h = Harness::settled_with(config).await;
    tripped_then_flooded(&h, 100).await;
    let started = Instant::now();
    let response = h.tick(at(610)).await;
    let elapsed = started.elapsed();

    assert_eq!(report(&response).moved, 100);
    // A burst of one batch, then 9 batches of 10 at 20 per second: 4.5 s.
    assert!(
        (4_400..=4_600).contains(&elapsed.as_millis()),
        "100 moves at 20/s took {elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rate_below_ten_moves_smaller_batches() {
    let config = config_with(|o| {
        o["move_rate_per_sec"] = 4.into();
        o["max_moves_per_invocation"] = 12.into();
    });
    let h = Harness::settled_with(config).await;
    tripped_then_flooded(&h, 12).await;
    h.aws().take_calls();
    let started = Instant::now();
    let response = h.tick(at(610)).await;
    let elapsed = started.elapsed();

    assert_eq!(report(&response).moved, 12);
    let receives: Vec<usize> = h
        .aws()
        .take_calls()
        .iter()
        .filter_map(|c| match c {
            Call::ReceiveMessage { max, .. } => Some(*max),
            _ => None,
        })
        .collect();
    assert_eq!(receives, [4, 4, 4]);
    assert!(
        (1_900..=2_100).contains(&elapsed.as_millis()),
        "12 moves at 4/s took {elapsed:?}"
    );
}
