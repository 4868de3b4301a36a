//! Properties of the overflow, each checked on 10,000 random cases by default (`.cargo/config.toml`; set
//! `PROPTEST_CASES` to change that): the batch bookkeeping never deletes what was not sent and
//! accounts for every message; transfers over random failure patterns lose nothing; and
//! nothing is replayed unless the circuit is Closed.

mod overflow_support;

use std::collections::BTreeMap;
use std::time::Duration;

use breaker::error::AwsFault;
use breaker::fake::{EntryFault, FakeAws, MemoryRecorder};
use breaker::overflow::batch::{
    MAX_MESSAGE_ATTRIBUTES, MOVED_ATTRIBUTE, Prepared, Transfer, pack, prepare, settle,
};
use breaker::overflow::{Direction, Idle, Pacer, Plan, plan, transfer};
use breaker::policy::{CircuitState, Phase};
use breaker::ports::{
    EntryError, EntryResult, MAX_BATCH_ENTRIES, OutgoingMessage, ReceivedMessage,
};
use breaker::reconcile::Context;
use breaker::retry::RetryPolicy;
use chrono::{DateTime, TimeDelta, Utc};
use overflow_support::*;
use proptest::prelude::*;

/// A current-thread runtime on tokio's paused clock: retry backoffs and pacing take no real
/// time.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

/// Two attempts with a short backoff: retries happen, and a fault armed for one call is
/// absorbed while one armed for two is not.
const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 2,
    base_delay: Duration::from_millis(10),
    max_delay: Duration::from_millis(10),
};

fn entry_error() -> impl Strategy<Value = EntryError> {
    any::<bool>().prop_map(|sender_fault| EntryError {
        code: "E".into(),
        message: String::new(),
        sender_fault,
    })
}

fn send_result() -> impl Strategy<Value = Option<EntryResult>> {
    prop_oneof![
        3 => Just(Some(Ok(()))),
        1 => entry_error().prop_map(|e| Some(Err(e))),
        1 => Just(None),
    ]
}

fn prepared() -> impl Strategy<Value = Prepared> {
    prop_oneof![
        4 => "[a-z]{0,8}".prop_map(|b| Prepared::Send(OutgoingMessage::new(b))),
        1 => Just(Prepared::Unmovable),
    ]
}

fn entry_fault() -> impl Strategy<Value = EntryFault> {
    prop_oneof![
        8 => Just(EntryFault::Succeed),
        1 => Just(EntryFault::Transient),
        1 => Just(EntryFault::Rejected),
    ]
}

fn whole_call_fault() -> impl Strategy<Value = Option<(&'static str, AwsFault, u32)>> {
    let operation = prop_oneof![
        Just("ReceiveMessage"),
        Just("SendMessageBatch"),
        Just("DeleteMessageBatch"),
        Just("ChangeMessageVisibilityBatch"),
    ];
    let fault = prop_oneof![Just(AwsFault::Transient), Just(AwsFault::Other)];
    proptest::option::weighted(0.3, (operation, fault, 1u32..=3))
}

/// Own attributes per message: usually a few, sometimes the full ten.
fn attribute_count() -> impl Strategy<Value = usize> {
    prop_oneof![9 => 0usize..=3, 1 => Just(MAX_MESSAGE_ATTRIBUTES)]
}

fn phase(since: DateTime<Utc>) -> impl Strategy<Value = Phase> {
    prop_oneof![
        Just(Phase::Closed { since }),
        (2u32..=16, 0u32..=3).prop_map(move |(level, trips)| Phase::Throttled {
            since,
            level,
            trips
        }),
        (1u32..=3).prop_map(move |trips| Phase::Open { since, trips }),
        (1u32..=3).prop_map(move |trips| Phase::HalfOpen { since, trips }),
        (2u32..=16, 1u32..=3).prop_map(move |(level, trips)| Phase::Ramping {
            since,
            level,
            trips
        }),
    ]
}

fn received(
    i: usize,
    body: &str,
    attributes: BTreeMap<String, breaker::ports::MessageAttribute>,
) -> ReceivedMessage {
    ReceivedMessage {
        message_id: format!("m-{i}"),
        receipt_handle: format!("r-{i}"),
        body: body.to_owned(),
        attributes,
        trace_header: None,
        sent_at: None,
        receive_count: Some(1),
    }
}

fn job() -> Transfer {
    Transfer {
        circuit: "orders".into(),
        direction: Direction::Move,
        from: SOURCE.into(),
        to: OVERFLOW.into(),
        reason: "test".into(),
        in_flight: Duration::from_secs(30),
        hold: Duration::from_mins(1),
    }
}

proptest! {

    #[test]
    fn settling_never_deletes_a_message_whose_send_did_not_succeed(
        plans in prop::collection::vec(prepared(), 0..=10),
        results in prop::collection::vec(send_result(), 0..=10),
    ) {
        let settlement = settle(&plans, &results);
        for &i in &settlement.delete {
            prop_assert!(matches!(plans[i], Prepared::Send(_)));
            prop_assert_eq!(results.get(i).cloned().flatten(), Some(Ok(())));
        }
        // Every received message is deleted, released or held: exactly one of them.
        let mut seen: Vec<usize> = settlement
            .delete
            .iter()
            .chain(&settlement.release)
            .chain(&settlement.hold)
            .copied()
            .collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..plans.len()).collect::<Vec<_>>());
        // And counted once.
        prop_assert_eq!(
            settlement.sent + settlement.send_failed + settlement.unmovable,
            plans.len() as u64
        );
        prop_assert_eq!(settlement.sent, settlement.delete.len() as u64);
        let transient = !settlement.release.is_empty();
        prop_assert_eq!(settlement.transient_failure, transient);
    }

    #[test]
    fn batches_cover_every_entry_in_order_within_the_limits(
        sizes in prop::collection::vec(0usize..=3000, 0..=40),
        limit in 1usize..=5000,
    ) {
        let batches = pack(&sizes, limit);
        let mut next = 0;
        for range in &batches {
            prop_assert_eq!(range.start, next);
            prop_assert!(!range.is_empty());
            prop_assert!(range.len() <= MAX_BATCH_ENTRIES);
            let bytes: usize = sizes[range.clone()].iter().sum();
            prop_assert!(bytes <= limit || range.len() == 1, "{range:?} holds {bytes} bytes");
            next = range.end;
        }
        prop_assert_eq!(next, sizes.len());
    }

    #[test]
    fn a_copy_keeps_body_and_own_attributes_or_the_message_is_unmovable(
        body in "\\PC{0,40}",
        own in attribute_count(),
        direction in prop_oneof![Just(Direction::Move), Just(Direction::Replay)],
    ) {
        let message = received(0, &body, with_attributes(&body, own).attributes);
        let job = Transfer { direction, ..job() };
        match prepare(&message, &job, at(0)) {
            Prepared::Send(copy) => {
                prop_assert!(own < MAX_MESSAGE_ATTRIBUTES);
                prop_assert_eq!(&copy.body, &body);
                prop_assert!(copy.attributes.len() <= MAX_MESSAGE_ATTRIBUTES);
                for (name, value) in &message.attributes {
                    prop_assert_eq!(copy.attributes.get(name), Some(value));
                }
                prop_assert!(copy.attributes.contains_key(direction.attribute()));
            }
            Prepared::Unmovable => prop_assert_eq!(own, MAX_MESSAGE_ATTRIBUTES),
        }
    }

    #[test]
    fn nothing_is_replayed_unless_closed_past_replay_after_and_moves_stay_within_bounds(
        phase in phase(at(0)),
        dry_run in any::<bool>(),
        elapsed in 0i64..=400,
        source in proptest::option::of(0u64..=200),
        overflow in proptest::option::of(0u64..=200),
        budget in 1u32..=50,
    ) {
        let config = config_with(|o| {
            o["max_moves_per_invocation"] = budget.into();
            o["max_replays_per_invocation"] = budget.into();
        });
        let overflow_config = config.circuits()[0].overflow().expect("overflow");
        let state = CircuitState { phase, override_: None, dry_run, pending: false };
        let now = at(elapsed);
        match plan(&state, now, source, overflow, overflow_config) {
            Plan::Replay { count, .. } => {
                let closed = matches!(phase, Phase::Closed { .. });
                prop_assert!(closed && !dry_run);
                prop_assert!(elapsed >= REPLAY_AFTER_SECS);
                prop_assert!(source.is_some_and(|s| s <= CEILING));
                prop_assert!(count >= 1 && count <= u64::from(budget).min(overflow.unwrap_or(0)));
            }
            Plan::Move { count, .. } => {
                let tripped = matches!(
                    phase,
                    Phase::Open { .. } | Phase::Throttled { .. } | Phase::HalfOpen { .. }
                );
                prop_assert!(tripped);
                prop_assert!(!dry_run);
                let excess = source.unwrap_or(0).saturating_sub(CEILING);
                prop_assert!(count >= 1 && count <= excess.min(u64::from(budget)));
            }
            Plan::Idle(idle) => {
                if dry_run {
                    prop_assert_eq!(idle, Idle::DryRun);
                }
            }
        }
    }

    #[test]
    fn a_transfer_over_random_failures_loses_nothing_and_counts_every_message(
        own in prop::collection::vec(attribute_count(), 0..=60),
        count in 0u64..=80,
        send_faults in prop::collection::vec(entry_fault(), 0..=40),
        delete_faults in prop::collection::vec(entry_fault(), 0..=40),
        visibility_faults in prop::collection::vec(entry_fault(), 0..=20),
        call_fault in whole_call_fault(),
    ) {
        let aws = FakeAws::new();
        aws.add_queue(SOURCE);
        aws.add_queue(OVERFLOW);
        let sent: Vec<String> = (0..own.len()).map(|i| format!("{{\"seq\":{i}}}")).collect();
        aws.push_messages(
            SOURCE,
            sent.iter().zip(&own).map(|(body, &n)| with_attributes(body, n)),
        );
        aws.fail_entries("SendMessageBatch", send_faults);
        aws.fail_entries("DeleteMessageBatch", delete_faults);
        aws.fail_entries("ChangeMessageVisibilityBatch", visibility_faults);
        if let Some((operation, fault, times)) = call_fault {
            aws.fail(operation, fault, times);
        }

        let tally = runtime().block_on(transfer(
            &aws,
            &RETRY,
            &Pacer::unlimited(),
            &job(),
            count,
            at(0),
            async || None,
        ));

        prop_assert_eq!(
            tally.received,
            tally.transferred + tally.send_failed + tally.unmovable
        );
        prop_assert!(tally.received <= count);
        prop_assert!(tally.delete_failed <= tally.transferred);
        let moved = aws.all_messages(OVERFLOW);
        prop_assert_eq!(moved.len() as u64, tally.transferred);
        prop_assert!(moved.iter().all(|m| m.attributes.contains_key(MOVED_ATTRIBUTE)));
        // Let every visibility timeout run out: whatever was held or not deleted is back.
        aws.expire_in_flight(SOURCE);
        let remaining = aws.all_messages(SOURCE);
        prop_assert_eq!(
            (remaining.len() + moved.len()) as u64,
            sent.len() as u64 + tally.delete_failed,
            "moved + remaining == original + duplicates"
        );
        let mut everything: Vec<String> = remaining
            .iter()
            .chain(&moved)
            .map(|m| m.body.clone())
            .collect();
        everything.sort();
        everything.dedup();
        prop_assert_eq!(everything, sorted(sent), "no message lost");
    }

    #[test]
    fn a_transfer_told_to_stop_starts_no_further_batch(
        messages in 0usize..=60,
        allowed in 0usize..=5,
    ) {
        let aws = FakeAws::new();
        aws.add_queue(SOURCE);
        aws.add_queue(OVERFLOW);
        aws.push_bodies(SOURCE, bodies("m", messages));
        let mut asked = 0;
        let tally = runtime().block_on(transfer(
            &aws,
            &RETRY,
            &Pacer::unlimited(),
            &job(),
            1000,
            at(0),
            async || {
                asked += 1;
                (asked > allowed).then(|| "stop".to_owned())
            },
        ));
        // The first batch runs unasked; each later one only if allowed.
        let most = (allowed + 1) * MAX_BATCH_ENTRIES;
        prop_assert!(tally.received <= most.min(messages) as u64);
        if messages > most {
            prop_assert_eq!(tally.stopped.as_deref(), Some("stop"));
            prop_assert_eq!(tally.received, most as u64);
        }
    }

    #[test]
    fn over_any_sequence_of_phases_replay_happens_only_in_closed_and_nothing_is_lost(
        steps in prop::collection::vec(
            (phase(at(0)), 0usize..=30, 0i64..=300),
            1..=6,
        ),
        parked in 0usize..=40,
    ) {
        let config = config_with(|o| {
            o["max_moves_per_invocation"] = 15.into();
            o["max_replays_per_invocation"] = 15.into();
        });
        let circuit = &config.circuits()[0];
        let aws = FakeAws::new();
        aws.add_queue(SOURCE);
        aws.add_queue(OVERFLOW);
        let mut all = bodies("parked", parked);
        aws.push_bodies(OVERFLOW, all.clone());
        let recorder = MemoryRecorder::default();
        let ctx = Context { ports: &aws, retry: &RetryPolicy::NONE, recorder: &recorder };
        let rt = runtime();
        let mut now = at(0);
        for (i, (phase, arrivals, gap)) in steps.into_iter().enumerate() {
            let arriving = bodies(&format!("step{i}"), arrivals);
            aws.push_bodies(SOURCE, arriving.clone());
            all.extend(arriving);
            now += TimeDelta::seconds(gap);
            let state = CircuitState { phase, override_: None, dry_run: false, pending: false };
            let source = rt.block_on(async {
                use breaker::ports::Queues;
                aws.queue_depth(SOURCE).await.ok()
            });
            let report = rt
                .block_on(breaker::overflow::run(ctx, circuit, &state, source, now, breaker::reconcile::Budget::for_next(std::time::Duration::from_hours(1))))
                .expect("the circuit has overflow");
            let closed_long_enough =
                matches!(phase, Phase::Closed { since } if now - since >= TimeDelta::seconds(REPLAY_AFTER_SECS));
            if !closed_long_enough {
                prop_assert_eq!(report.replayed, 0, "replayed in {:?}", phase);
            }
            if !matches!(phase, Phase::Open { .. } | Phase::Throttled { .. } | Phase::HalfOpen { .. }) {
                prop_assert_eq!(report.moved, 0, "moved in {:?}", phase);
            }
            prop_assert_eq!(report.send_failed + report.delete_failed + report.unmovable, 0);
        }
        let mut everything: Vec<String> = aws
            .all_messages(SOURCE)
            .into_iter()
            .chain(aws.all_messages(OVERFLOW))
            .map(|m| m.body)
            .collect();
        everything.sort();
        prop_assert_eq!(everything, sorted(all), "each message exactly once");
    }
}
