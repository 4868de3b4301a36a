//! Properties of the overflow, each checked on 10,000 random cases by default (`.cargo/config.toml`; set
//! `PROPTEST_CASES` to change that): the batch bookkeeping never deletes what was not sent and
//! accounts for every message; transfers over random failure patterns lose nothing; nothing
//! is replayed unless the circuit is Closed; and over random runs of moves and replays with
//! redrive policies, size limits, receive counts and faults, no message is lost and none is
//! pushed into the DLQ by the controller's own receives.

mod overflow_support;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use floodgate_core::Operation;
use floodgate_core::error::AwsFault;
use floodgate_core::overflow::batch::{
    DEAD_LETTER_ATTRIBUTE, Fate, MAX_MESSAGE_ATTRIBUTES, MOVED_ATTRIBUTE, Prepared, Transfer,
    Unmovable, pack, prepare, settle,
};
use floodgate_core::overflow::{
    Direction, Idle, Limits, PROBE_FEED, Pacer, Plan, ReplayFor, Tally, plan, transfer,
};
use floodgate_core::policy::{CircuitState, Phase};
use floodgate_core::ports::{
    EntryError, EntryResult, MAX_BATCH_ENTRIES, OutgoingMessage, ReceivedMessage, Retrying,
};
use floodgate_core::reconcile::Context;
use floodgate_core::retry::RetryPolicy;
use floodgate_testkit::{EntryFault, FakeAws, MemoryRecorder};
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

/// The overflow step of one reconcile, as `reconcile` runs it: the source's depth read
/// first, then [`floodgate_core::overflow::run`].
fn overflow_step(
    rt: &tokio::runtime::Runtime,
    ctx: Context<'_, &FakeAws>,
    circuit: &floodgate_core::config::Circuit,
    state: &CircuitState,
    now: DateTime<Utc>,
) -> floodgate_core::protocol::OverflowReport {
    rt.block_on(async {
        use floodgate_core::ports::Queues;
        let source = ctx.ports.queue_depth(SOURCE).await.ok();
        floodgate_core::overflow::run(
            ctx,
            circuit,
            state,
            source,
            now,
            floodgate_core::reconcile::Budget::for_next(
                ctx.ports,
                std::time::Duration::from_hours(1),
            ),
        )
        .await
        .expect("the circuit has overflow")
    })
}

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
        1 => Just(Prepared::Unmovable(Unmovable::NoRoom)),
    ]
}

fn entry_fault() -> impl Strategy<Value = EntryFault> {
    prop_oneof![
        8 => Just(EntryFault::Succeed),
        1 => Just(EntryFault::Transient),
        1 => Just(EntryFault::Rejected),
    ]
}

fn whole_call_fault() -> impl Strategy<Value = Option<(Operation, AwsFault, u32)>> {
    let operation = prop_oneof![
        Just(Operation::ReceiveMessage),
        Just(Operation::SendMessageBatch),
        Just(Operation::DeleteMessageBatch),
        Just(Operation::ChangeMessageVisibilityBatch),
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
    attributes: BTreeMap<String, floodgate_core::ports::MessageAttribute>,
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

/// The source and the overflow queue, `messages` bodies waiting in the source.
fn queues_with(messages: usize) -> FakeAws {
    let aws = FakeAws::new();
    aws.add_queue(SOURCE);
    aws.add_queue(OVERFLOW);
    aws.push_bodies(SOURCE, bodies("m", messages));
    aws
}

/// [`job`] over `aws` for up to 1,000 messages, unpaced, `allow` asked before each batch.
fn transfer_all(aws: &FakeAws, allow: impl AsyncFnMut(u64) -> Result<u64, String>) -> Tally {
    runtime().block_on(transfer(
        &Retrying::new(aws, RETRY),
        &Pacer::unlimited(),
        &job(),
        1000,
        at(0),
        allow,
    ))
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
        limits: Limits::default(),
    }
}

proptest! {

    #[test]
    fn settling_never_deletes_a_message_whose_send_did_not_succeed(
        plans in prop::collection::vec(prepared(), 0..=10),
        results in prop::collection::vec(send_result(), 0..=10),
    ) {
        let received: Vec<ReceivedMessage> = (0..plans.len())
            .map(|i| received(i, "x", BTreeMap::new()))
            .collect();
        let settlement = settle(&plans, &results, &received, &job(), at(0));
        prop_assert_eq!(settlement.fates.len(), plans.len(), "one fate per message");
        for i in settlement.delete() {
            prop_assert!(matches!(plans[i], Prepared::Send(_)));
            prop_assert_eq!(results.get(i).cloned().flatten(), Some(Ok(())));
        }
        // Counted once.
        let mut tally = Tally::default();
        tally.add(&plans, &settlement);
        prop_assert_eq!(
            tally.transferred + tally.dead_lettered + tally.send_failed + tally.unmovable,
            plans.len() as u64
        );
        prop_assert_eq!(tally.transferred, settlement.delete().len() as u64);
        let transient = !settlement.indices(|f| *f == Fate::Release).is_empty();
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
        let (message, job) = match direction {
            Direction::Move => (received(0, &body, with_attributes(&body, own).attributes), job()),
            Direction::Replay => {
                // In the overflow queue, a message has room for its provenance.
                let mut attributes = with_attributes(&body, own.min(MAX_MESSAGE_ATTRIBUTES - 1))
                    .attributes;
                attributes.extend(moved_from(&body, SOURCE, 0, 0).attributes);
                let replay = Transfer {
                    direction,
                    from: OVERFLOW.into(),
                    to: SOURCE.into(),
                    ..job()
                };
                (received(0, &body, attributes), replay)
            }
        };
        match prepare(&message, &job, at(0)) {
            Prepared::Send(copy) => {
                prop_assert_eq!(&copy.body, &body);
                prop_assert!(copy.attributes.len() <= MAX_MESSAGE_ATTRIBUTES);
                for (name, value) in message.attributes.iter().filter(|(n, _)| !n.starts_with("floodgate-")) {
                    prop_assert_eq!(copy.attributes.get(name), Some(value));
                }
                prop_assert!(copy.attributes.contains_key(direction.attribute()));
            }
            Prepared::Unmovable(_) => {
                prop_assert_eq!(direction, Direction::Move);
                prop_assert_eq!(own, MAX_MESSAGE_ATTRIBUTES);
            }
            Prepared::DeadLetter(cause) => prop_assert!(false, "a provenanced copy goes through: {cause:?}"),
        }
    }

    #[test]
    fn nothing_is_replayed_unless_closed_past_replay_after_or_feeding_a_probe_and_moves_stay_within_bounds(
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
            Plan::Replay { count, reason: ReplayFor::Probe, .. } => {
                let half_open = matches!(phase, Phase::HalfOpen { .. });
                prop_assert!(half_open && !dry_run);
                let visible = source.expect("a feed knows the source depth");
                prop_assert!(visible < PROBE_FEED);
                prop_assert!(count >= 1 && count <= u64::from(budget).min(overflow.unwrap_or(0)));
                prop_assert!(count <= PROBE_FEED - visible, "a feed tops the probe up to one batch");
            }
            Plan::Replay { count, .. } => {
                let closed = matches!(phase, Phase::Closed { .. });
                prop_assert!(closed && !dry_run);
                prop_assert!(elapsed >= REPLAY_AFTER_SECS);
                let visible = source.unwrap_or(u64::MAX);
                prop_assert!(visible < CEILING);
                // The room below the ceiling is kept batch by batch as the replay goes
                // (`a_replay_never_fills_the_source_past_its_ceiling`), not by the plan.
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
        aws.fail_entries(Operation::SendMessageBatch, send_faults);
        aws.fail_entries(Operation::DeleteMessageBatch, delete_faults);
        aws.fail_entries(Operation::ChangeMessageVisibilityBatch, visibility_faults);
        if let Some((operation, fault, times)) = call_fault {
            aws.fail(operation, fault, times);
        }

        let tally = runtime().block_on(transfer(
            &Retrying::new(&aws, RETRY),
            &Pacer::unlimited(),
            &job(),
            count,
            at(0),
            async |_| Ok(u64::MAX),
        ));

        prop_assert_eq!(
            tally.received,
            tally.transferred + tally.send_failed + tally.unmovable + tally.dead_lettered
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
    fn a_transfer_never_takes_more_than_it_is_allowed(
        messages in 0usize..=60,
        room in 1u64..=12,
    ) {
        let aws = queues_with(messages);
        let mut asked_at = Vec::new();
        let tally = transfer_all(&aws, async |transferred| {
            asked_at.push(transferred);
            Ok(room)
        });
        // Each batch took at most `room` messages (what was transferred grows by at most
        // that from one ask to the next, and after the last), and everything went in the end.
        asked_at.push(tally.transferred);
        for pair in asked_at.windows(2) {
            prop_assert!(pair[1] - pair[0] <= room, "{asked_at:?}");
        }
        prop_assert_eq!(tally.transferred, messages as u64);
    }

    #[test]
    fn a_transfer_told_to_stop_starts_no_further_batch(
        messages in 0usize..=60,
        allowed in 0usize..=5,
    ) {
        let aws = queues_with(messages);
        let mut asked = 0;
        let tally = transfer_all(&aws, async |_| {
            asked += 1;
            if asked > allowed { Err("stop".to_owned()) } else { Ok(u64::MAX) }
        });
        // Every batch is asked for first, and runs only if allowed.
        let most = allowed * MAX_BATCH_ENTRIES;
        prop_assert!(tally.received <= most.min(messages) as u64);
        if messages > most {
            prop_assert_eq!(tally.stopped.as_deref(), Some("stop"));
            prop_assert_eq!(tally.received, most as u64);
        }
    }

    #[test]
    fn over_any_sequence_of_phases_replay_happens_only_in_closed_or_as_a_probe_feed_and_nothing_is_lost(
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
        park(&aws, &all);
        let recorder = MemoryRecorder::default();
        let ports = Retrying::new(&aws, RetryPolicy::NONE);
        let ctx = Context { ports: &ports, recorder: &recorder };
        let rt = runtime();
        let mut now = at(0);
        for (i, (phase, arrivals, gap)) in steps.into_iter().enumerate() {
            let arriving = bodies(&format!("step{i}"), arrivals);
            aws.push_bodies(SOURCE, arriving.clone());
            all.extend(arriving);
            now += TimeDelta::seconds(gap);
            let state = CircuitState { phase, override_: None, dry_run: false, pending: false };
            let report = overflow_step(&rt, ctx, circuit, &state, now);
            let closed_long_enough =
                matches!(phase, Phase::Closed { since } if now - since >= TimeDelta::seconds(REPLAY_AFTER_SECS));
            if matches!(phase, Phase::HalfOpen { .. }) {
                prop_assert!(report.replayed <= PROBE_FEED, "a probe feed is one batch at most");
            } else if !closed_long_enough {
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

/// One message of a random run: its body size, its own attributes, how often its consumer
/// already failed it, and where it starts.
#[derive(Debug, Clone)]
struct Seed {
    size: usize,
    own: usize,
    receives: u32,
    start: Start,
}

/// Where a message starts: the source, or the overflow queue with what a move recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Source,
    /// Moved from this circuit's source, replayed `replays` times, after `receives`
    /// deliveries in the source.
    Parked {
        replays: u32,
        receives: u32,
    },
    /// Moved from another circuit's source.
    Foreign,
    /// In the overflow queue without provenance.
    Bare,
}

fn seed(max_receives: u32) -> impl Strategy<Value = Seed> {
    let size = prop_oneof![4 => 20usize..200, 1 => 900usize..1100, 1 => 1900usize..2100];
    let start = prop_oneof![
        6 => Just(Start::Source),
        3 => (0u32..=4, 0u32..=max_receives + 1)
            .prop_map(|(replays, receives)| Start::Parked { replays, receives }),
        1 => Just(Start::Foreign),
        1 => Just(Start::Bare),
    ];
    // Receive counts a live message can have: below maxReceiveCount, or its next receive
    // would be redriven whoever made it.
    (size, attribute_count(), 0..max_receives, start).prop_map(|(size, own, receives, start)| {
        Seed {
            size,
            own,
            receives,
            start,
        }
    })
}

/// What happens between two invocations.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The circuit is Open: moves.
    Open,
    /// The circuit has been Closed long enough: replays.
    Closed,
    /// Its consumer takes everything in the source.
    Consume,
}

fn step() -> impl Strategy<Value = (Step, u64)> {
    let kind =
        prop_oneof![3 => Just(Step::Open), 3 => Just(Step::Closed), 1 => Just(Step::Consume)];
    // Minutes between invocations: one to an hour.
    (kind, prop_oneof![Just(1u64), Just(15), Just(60)])
}

const OTHER_SOURCE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/payments";

proptest! {
    /// Random runs of up to eight invocations (at most eight hours of virtual time) over a
    /// source with a redrive policy, queues with random size limits, messages of random sizes,
    /// attributes and receive counts, some parked in the overflow queue with any provenance or
    /// none, and random entry faults on every batch call: every message is in the source, the
    /// overflow queue, the DLQ or consumed — and every DLQ arrival was sent there by the
    /// controller with its reason; none was redriven by SQS because the controller received
    /// it. Messages tagged as moved from another source are never replayed to this one.
    ///
    /// The horizon is what the controller can promise: a message it cannot place at its last
    /// delivery, and that cannot carry a reason either (ten attributes of its own, or a DLQ
    /// send that failed too), is hidden for `LAST_DELIVERY_HOLD` (11 h) so its next receive
    /// is its consumer's; SQS then redrives it at that receive, and nothing is lost. Only a
    /// failed visibility change (the hold itself) can bring such a message back to the
    /// controller sooner; the property allows a redrive only then (and nothing is lost).
    #[test]
    fn over_random_moves_and_replays_nothing_is_lost_and_nothing_is_redriven_by_the_controller(
        (max_receives, seeds) in (2u32..=6)
            .prop_flat_map(|m| (Just(m), prop::collection::vec(seed(m), 0..=40))),
        overflow_max in prop_oneof![Just(1024usize), Just(2048), Just(floodgate_core::ports::MAX_MESSAGE_SIZE)],
        source_max in prop_oneof![Just(2048usize), Just(floodgate_core::ports::MAX_MESSAGE_SIZE)],
        steps in prop::collection::vec(step(), 1..=8),
        send_faults in prop::collection::vec(entry_fault(), 0..=30),
        delete_faults in prop::collection::vec(entry_fault(), 0..=20),
        visibility_faults in prop::collection::vec(entry_fault(), 0..=10),
    ) {
        let config = config_with(|o| {
            o["ceiling"] = 5.into();
            o["max_moves_per_invocation"] = 15.into();
            o["max_replays_per_invocation"] = 15.into();
            o["max_replays_per_message"] = 3.into();
        });
        let circuit = &config.circuits()[0];
        let aws = FakeAws::new();
        aws.add_queue(OVERFLOW);
        aws.set_redrive(SOURCE, DLQ, max_receives);
        let sized = |queue: &str, max: usize| floodgate_core::ports::QueueAttributes {
            maximum_message_size: max,
            ..aws.queue_config(queue)
        };
        aws.configure_queue(SOURCE, sized(SOURCE, source_max));
        aws.configure_queue(OVERFLOW, sized(OVERFLOW, overflow_max));
        let mut all = Vec::new();
        for (i, seed) in seeds.iter().enumerate() {
            let tag = format!("{i:03}{:?}", seed.start);
            let pad = seed.size.min(source_max.saturating_sub(400)).saturating_sub(tag.len());
            let body = format!("{tag}{}", "x".repeat(pad));
            let mut message = with_attributes(&body, seed.own);
            let provenance = match seed.start {
                Start::Source => {
                    aws.push_received(SOURCE, [message], seed.receives);
                    all.push(body);
                    continue;
                }
                Start::Parked { replays, receives } => Some((SOURCE, replays, receives)),
                Start::Foreign => Some((OTHER_SOURCE, 0, 0)),
                Start::Bare => None,
            };
            if let Some((from, replays, receives)) = provenance {
                if seed.own >= MAX_MESSAGE_ATTRIBUTES {
                    continue; // a move could not have given it a provenance
                }
                let moved = moved_from(&body, from, replays, receives);
                message.attributes.extend(moved.attributes);
            }
            aws.push_messages(OVERFLOW, [message]);
            all.push(body);
        }
        aws.fail_entries(Operation::SendMessageBatch, send_faults);
        aws.fail_entries(Operation::DeleteMessageBatch, delete_faults.clone());
        aws.fail_entries(Operation::ChangeMessageVisibilityBatch, visibility_faults.clone());
        let recorder = MemoryRecorder::default();
        let ports = Retrying::new(&aws, RETRY);
        let ctx = Context { ports: &ports, recorder: &recorder };
        let rt = runtime();
        let mut now = at(0);
        let mut consumed: Vec<String> = Vec::new();
        for (kind, minutes) in steps {
            let phase = match kind {
                Step::Open => Phase::Open { since: now, trips: 1 },
                Step::Closed => Phase::Closed { since: now - TimeDelta::hours(1) },
                Step::Consume => {
                    consumed.extend(aws.consume_all(SOURCE).into_iter().map(|m| m.body));
                    continue;
                }
            };
            let state = CircuitState { phase, override_: None, dry_run: false, pending: false };
            let report = overflow_step(&rt, ctx, circuit, &state, now);
            prop_assert!(report.replayed == 0 || matches!(kind, Step::Closed));
            prop_assert!(report.moved == 0 || matches!(kind, Step::Open));
            aws.advance(Duration::from_secs(minutes * 60));
            now += TimeDelta::minutes(i64::try_from(minutes).unwrap_or(0));
        }
        // Every hold runs out; nobody receives any more.
        aws.advance(Duration::from_hours(13));

        let dead = aws.all_messages(DLQ);
        let (redriven, tagged): (Vec<_>, Vec<_>) =
            dead.iter().partition(|m| m.redriven_from.is_some());
        for message in &tagged {
            prop_assert!(
                message.attributes.contains_key(DEAD_LETTER_ATTRIBUTE),
                "a DLQ arrival without its reason: {}", message.body
            );
        }
        // The one way the controller's receives can still end in a redrive: a message it
        // received at its last delivery and could neither place nor tag (ten attributes of
        // its own, or a copy whose original it failed to delete) is held for 11 h so its next
        // receive is its consumer's; when that hold itself fails, it reappears within minutes
        // and the next receive is the redrive. So a redrive needs a failed visibility change.
        let hold_failed = visibility_faults.iter().any(|f| *f != EntryFault::Succeed);
        prop_assert!(
            redriven.is_empty() || hold_failed,
            "redriven by the controller's receives: {:?}",
            redriven.iter().map(|m| &m.body).collect::<Vec<_>>()
        );
        let in_source = aws.all_messages(SOURCE);
        for message in in_source.iter().map(|m| &m.body).chain(&consumed) {
            prop_assert!(!message.contains("Foreign"), "replayed to the wrong source: {message}");
        }
        let mut everything: Vec<String> = in_source
            .into_iter()
            .chain(aws.all_messages(OVERFLOW))
            .chain(dead)
            .map(|m| m.body)
            .chain(consumed)
            .collect();
        everything.sort();
        everything.dedup();
        prop_assert_eq!(everything, sorted(all), "no message lost");
    }
}
