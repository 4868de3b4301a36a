//! The overflow's replay against LocalStack: a circuit Closed long enough sends its overflow
//! back to the source; an alarm firing mid-replay stops it; and, end to end through reconcile
//! and a real event source mapping, a trip moves the excess away and a close brings it back to
//! the consumer — every message accounted for by body.

use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use chrono::{DateTime, TimeDelta, Utc};
use floodgate_core::overflow::batch::{MOVED_ATTRIBUTE, REPLAYED_ATTRIBUTE};
use floodgate_core::policy::{Phase, PhaseName};
use floodgate_core::protocol::{OverflowAction, OverflowReport, Response};
use floodgate_tests::overflow::{
    BedSpec, OverflowBed, body_multiset, body_set, in_phase, provenance_of,
};
use floodgate_tests::{Check, LedgerEntry, Probes as _, wait_for};
use serde_json::json;

const DRAIN: Duration = Duration::from_secs(30);

fn overflow_of(response: &Response) -> &OverflowReport {
    response.circuits[0]
        .overflow
        .as_ref()
        .expect("an overflow report")
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_circuit_closed_long_enough_replays_its_overflow_to_the_source() {
    // Ceiling 30: the excess of 53 is moved, and the consumer takes the 30 left, so the
    // replay has the headroom for all 23.
    let bed = OverflowBed::deploy(BedSpec::new("ovf-replay").overflow("ceiling", 30))
        .await
        .expect("bed");
    let (all, _) = bed.fill(&bed.source, 53).await.expect("send");
    let tripped_at = Utc::now();
    let moved = bed
        .run(
            &bed.ports,
            &in_phase(Phase::Open {
                since: tripped_at,
                trips: 1,
            }),
            tripped_at,
        )
        .await;
    assert_eq!(moved.moved, 23, "{moved:?}");
    let kept = bed
        .drain(&bed.source, DRAIN)
        .await
        .expect("the consumer's share");
    assert_eq!(kept.len(), 30);
    let kept = body_multiset(kept.iter().filter_map(|m| m.body()));
    let sent: Vec<String> = all
        .iter()
        .filter(|b| !kept.contains(&body_multiset([b.as_str()])[0]))
        .cloned()
        .collect();
    assert_eq!(sent.len(), 23);

    // Closed for 59 s: not yet (replay_after_secs is 60).
    let closed_at = Utc::now();
    let closed = in_phase(Phase::Closed { since: closed_at });
    let early = bed
        .run(&bed.ports, &closed, closed_at + TimeDelta::seconds(59))
        .await;
    assert_eq!(early.action, OverflowAction::Idle, "{early:?}");
    assert_eq!(bed.count(&bed.overflow).await.unwrap(), 23);

    let due = bed
        .run(&bed.ports, &closed, closed_at + TimeDelta::seconds(60))
        .await;
    assert_eq!(due.action, OverflowAction::Replay, "{due:?}");
    assert_eq!((due.planned, due.replayed), (23, 23), "{due:?}");
    assert_eq!(due.overflow_depth, Some(23));

    let back = bed.drain(&bed.source, DRAIN).await.expect("drain source");
    assert!(
        bed.drain(&bed.overflow, Duration::from_secs(3))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        body_multiset(back.iter().filter_map(|m| m.body())),
        body_multiset(sent.iter().map(String::as_str))
    );
    for message in &back {
        let record = provenance_of(message, REPLAYED_ATTRIBUTE).expect("replayed provenance");
        assert_eq!(
            (record.from.as_str(), record.to.as_str()),
            (bed.overflow.url.as_str(), bed.source.url.as_str())
        );
        assert_eq!(record.hops, 2);
        assert!(
            provenance_of(message, MOVED_ATTRIBUTE).is_none(),
            "one provenance attribute"
        );
    }
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn an_alarm_firing_mid_replay_stops_it_and_nothing_is_lost() {
    // 20 per second: 300 messages would take 15 s.
    let bed = OverflowBed::deploy(
        BedSpec::new("ovf-stop")
            .overflow("ceiling", 1000)
            .overflow("replay_rate_per_sec", 20)
            .overflow("max_replays_per_invocation", 300),
    )
    .await
    .expect("bed");
    let parked = bed.park(300, 0, 0).await.expect("park");
    let now = Utc::now();
    let closed = in_phase(Phase::Closed {
        since: now - TimeDelta::hours(1),
    });

    let started = tokio::time::Instant::now();
    let (report, fired_after) = tokio::join!(bed.run(&bed.ports, &closed, now), async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        bed.set_alarm(StateValue::Alarm).await.expect("alarm");
        started.elapsed()
    });
    let took = started.elapsed();

    assert_eq!(report.action, OverflowAction::Replay, "{report:?}");
    assert!(
        report
            .stopped
            .as_deref()
            .is_some_and(|s| s.contains(&bed.alarm) && s.contains("ALARM")),
        "{report:?}"
    );
    // Stopped within about one recheck interval (and one batch) of the alarm.
    assert!(
        took < fired_after + Duration::from_secs(3),
        "the replay ran {took:?}, the alarm fired after {fired_after:?}"
    );
    assert!(
        (20..300).contains(&report.replayed),
        "replayed {} of 300",
        report.replayed
    );

    let source = bed.drain(&bed.source, DRAIN).await.expect("drain source");
    let overflow = bed
        .drain(&bed.overflow, DRAIN)
        .await
        .expect("drain overflow");
    assert_eq!(source.len() as u64, report.replayed);
    let all = body_multiset(source.iter().chain(&overflow).filter_map(|m| m.body()));
    assert_eq!(all, body_multiset(parked.iter().map(String::as_str)));
}

async fn handle(
    controller: &floodgate_core::Controller<breaker::aws::AwsPorts>,
    body: serde_json::Value,
    now: DateTime<Utc>,
) -> Response {
    controller
        .handle(body.to_string().as_bytes(), now)
        .await
        .unwrap_or_else(|e| panic!("{body} failed: {e}"))
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn through_reconcile_a_trip_moves_the_excess_and_a_close_replays_it_to_the_consumer() {
    let bed = OverflowBed::deploy(BedSpec::new("ovf-e2e").overflow("ceiling", 25).consumer())
        .await
        .expect("bed");
    let consumer = bed.consumer.clone().expect("a consumer");
    let controller = bed.controller();
    let tick = json!({"floodgate": "tick"});

    let adopted = handle(&controller, tick.clone(), Utc::now()).await;
    assert_eq!(adopted.circuits[0].state, PhaseName::Closed);

    bed.set_alarm(StateValue::Alarm).await.expect("alarm");
    let tripped = handle(&controller, tick.clone(), Utc::now()).await;
    assert_eq!(tripped.circuits[0].state, PhaseName::Open);
    wait_for(
        "the mapping to be Disabled",
        Duration::from_secs(30),
        || async {
            let state = bed
                .aws
                .lambda
                .get_event_source_mapping()
                .uuid(&consumer.mapping.uuid)
                .send()
                .await
                .map(|m| m.state().unwrap_or_default().to_owned())
                .unwrap_or_default();
            Ok(if state == "Disabled" {
                Check::Done(())
            } else {
                Check::NotYet(state)
            })
        },
    )
    .await
    .expect("disabled");

    // A flood while the consumer is stopped: the next reconcile moves all but the ceiling.
    let (sent, _) = bed.fill(&bed.source, 50).await.expect("send");
    let moved = handle(&controller, tick.clone(), Utc::now()).await;
    let report = overflow_of(&moved);
    assert_eq!(report.action, OverflowAction::Move, "{report:?}");
    assert_eq!(report.moved, 25, "{report:?}");
    assert_eq!(bed.count(&bed.overflow).await.unwrap(), 25);

    // The operator closes the circuit; the consumer takes what was left in the source.
    bed.set_alarm(StateValue::Ok).await.expect("alarm");
    let closed_at = Utc::now();
    let closed = handle(
        &controller,
        json!({"floodgate": "command", "command": "force-close", "circuit": bed.circuit().name(),
               "reason": "overflow test", "actor": "tests"}),
        closed_at,
    )
    .await;
    assert_eq!(closed.circuits[0].state, PhaseName::Closed);
    assert_eq!(overflow_of(&closed).action, OverflowAction::Idle);

    // Replay refills the source only up to its ceiling: let the consumer take what it has.
    wait_for(
        "the consumer to empty the source",
        Duration::from_mins(1),
        || async {
            let (visible, _) = bed.aws.queue_depth(&bed.source).await?;
            Ok(if visible == 0 {
                Check::Done(())
            } else {
                Check::NotYet(format!("{visible} visible"))
            })
        },
    )
    .await
    .expect("source drained");

    // Once Closed for replay_after_secs (60, passed in as time), the overflow comes back.
    let replayed = handle(&controller, tick, closed_at + TimeDelta::seconds(61)).await;
    let report = overflow_of(&replayed);
    assert_eq!(report.action, OverflowAction::Replay, "{report:?}");
    assert_eq!(report.replayed, 25, "{report:?}");

    let processed = bed
        .aws
        .read_ledger(&consumer.ledger, 50, Duration::from_mins(2))
        .await
        .expect("the consumer processes every message");
    let processed_bodies: Vec<&str> = processed
        .iter()
        .filter_map(|e| match e {
            LedgerEntry::Processed { body, .. } => Some(body.as_str()),
            LedgerEntry::Failed { .. } | LedgerEntry::Alarm { .. } => None,
        })
        .collect();
    assert_eq!(
        body_set(processed_bodies),
        body_set(sent.iter().map(String::as_str)),
        "every message reached the consumer"
    );
    assert_eq!(bed.count(&bed.overflow).await.unwrap(), 0);
    assert!(
        bed.drain(&bed.dlq, Duration::from_secs(3))
            .await
            .unwrap()
            .is_empty()
    );
}
