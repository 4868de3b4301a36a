//! The limits SQS puts on moved messages, against the in-memory AWS (which enforces them as
//! SQS does): receive counts and the redrive policy, message sizes, retention, and the
//! replay's headroom, hop limit and provenance check. Every message ends up moved, replayed,
//! left where it was, or in the circuit's DLQ with a reason attribute — never in the DLQ by
//! SQS's redrive because of the controller's own receives.

mod overflow_support;

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::policy::AlarmState;
use floodgate_core::ports::{AttributeValue, OutgoingMessage, QueueAttributes};
use floodgate_core::protocol::OverflowAction;
use floodgate_testkit::FakeMessage;
use overflow_support::*;
use serde_json::{Value, json};

/// The attribute a message the controller sends to the DLQ carries.
const DEAD_LETTER: &str = "floodgate-dead-letter";

/// The dead-letter record of a message in the DLQ.
fn dead_letter_record(message: &FakeMessage) -> Value {
    let attribute = message
        .attributes
        .get(DEAD_LETTER)
        .unwrap_or_else(|| panic!("{} carries no {DEAD_LETTER}", message.body));
    match &attribute.value {
        AttributeValue::String(json) => serde_json::from_str(json).expect("JSON"),
        AttributeValue::Binary(_) => panic!("a string attribute"),
    }
}

/// The one message in the DLQ, sent there by the controller with its reason.
fn the_dead_letter(h: &Harness) -> (FakeMessage, Value) {
    let message = h.only_message(DLQ);
    assert_eq!(
        message.redriven_from, None,
        "sent by the controller, not redriven"
    );
    let record = dead_letter_record(&message);
    (message, record)
}

fn assert_no_redrive(h: &Harness) {
    let redriven: Vec<FakeMessage> = h
        .aws()
        .all_messages(DLQ)
        .into_iter()
        .filter(|m| m.redriven_from.is_some())
        .collect();
    assert!(
        redriven.is_empty(),
        "the controller's receives pushed messages into the DLQ: {redriven:?}"
    );
}

/// Sets queue `url`'s `MaximumMessageSize` to `max`.
fn limit_size(h: &Harness, url: &str, max: usize) {
    h.aws().configure_queue(
        url,
        QueueAttributes {
            maximum_message_size: max,
            ..h.aws().queue_config(url)
        },
    );
}

/// A JSON body of exactly `bytes` bytes.
fn sized(tag: &str, bytes: usize) -> String {
    let body = json!({"tag": tag, "pad": ""}).to_string();
    json!({"tag": tag, "pad": "x".repeat(bytes - body.len())}).to_string()
}

#[tokio::test]
async fn repeated_moves_never_push_an_unmovable_message_into_the_dlq() {
    // Ceiling 1 and two messages that cannot carry a provenance (ten attributes of their
    // own), each received twice already by a failing consumer: every tick that sees the
    // source over its ceiling receives one of them.
    let h = Harness::settled_with(config_with(|o| o["ceiling"] = 1.into())).await;
    let full = [
        with_attributes("{\"full\":\"a\"}", 10),
        with_attributes("{\"full\":\"b\"}", 10),
    ];
    h.aws().push_received(SOURCE, full, 2);

    h.trip(600).await;
    for tick in 1..=12 {
        // A quarter of an hour between ticks: longer than a hold of an unmovable message,
        // far shorter than the longest visibility timeout SQS allows (12 h).
        h.aws().advance(Duration::from_mins(15));
        h.tick(at(600 + tick * 900)).await;
    }

    assert_no_redrive(&h);
    assert!(h.aws().all_messages(DLQ).is_empty());
    assert_eq!(
        h.aws().all_messages(SOURCE).len(),
        2,
        "both stay for their consumer"
    );
    for message in h.aws().all_messages(SOURCE) {
        assert!(message.receive_count <= MAX_RECEIVES, "{message:?}");
    }
}

#[tokio::test]
async fn a_message_received_at_its_last_delivery_that_cannot_be_moved_goes_to_the_dlq_with_its_reason()
 {
    // The overflow queue takes 1 KiB; this message fits the source but not the overflow queue
    // once tagged. Its consumer failed it four times: the controller's receive is its fifth
    // and last delivery, so left in the source it would be redriven at the next receive.
    let h = Harness::settled().await;
    limit_size(&h, OVERFLOW, 1024);
    let big = sized("big", 1000);
    h.aws().push_received(
        SOURCE,
        [OutgoingMessage::new(big.clone())],
        MAX_RECEIVES - 1,
    );
    h.aws().push_bodies(SOURCE, bodies("filler", CEILING_COUNT));

    let response = h.trip(600).await;

    let overflow = report(&response);
    assert_eq!(overflow.moved, 0, "{overflow:?}");
    let (message, record) = the_dead_letter(&h);
    assert_eq!(message.body, big);
    assert_eq!(record["cause"]["kind"], "last-delivery", "{record}");
    assert_eq!(record["from"], SOURCE);
    assert!(
        h.aws().all_messages(SOURCE).iter().all(|m| m.body != big),
        "deleted from the source once the DLQ had it"
    );
    h.aws().advance(Duration::from_hours(13));
    h.tick(at(700)).await;
    assert_no_redrive(&h);
}

#[tokio::test]
async fn a_message_too_large_for_the_overflow_queue_once_tagged_is_not_sent_and_stays() {
    let h = Harness::settled().await;
    limit_size(&h, OVERFLOW, 1024);
    let big = sized("big", 1000);
    h.aws().push_bodies(SOURCE, [big.clone()]);
    h.aws().push_bodies(SOURCE, bodies("filler", CEILING_COUNT));

    let response = h.trip(600).await;

    let overflow = report(&response);
    assert_eq!(
        (overflow.moved, overflow.unmovable, overflow.send_failed),
        (0, 1, 0),
        "{overflow:?}"
    );
    let sent_bodies: Vec<String> = h
        .aws()
        .take_calls()
        .into_iter()
        .filter_map(|c| match c {
            floodgate_testkit::Call::SendMessageBatch { bodies, .. } => Some(bodies),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        !sent_bodies.contains(&big),
        "a send SQS must refuse is not made"
    );
    assert_eq!(h.aws().all_messages(SOURCE).len(), CEILING_COUNT + 1);
}

#[tokio::test]
async fn a_message_of_a_full_mebibyte_stays_in_the_source_rather_than_lose_its_provenance() {
    // SQS takes messages of up to 1 MiB (body and attributes together); one that size in
    // the source has no room left for its provenance in an overflow queue of the same limit.
    let h = Harness::settled().await;
    let huge = sized("huge", floodgate_core::ports::MAX_MESSAGE_SIZE - 8);
    let small = bodies("small", 3);
    h.aws().push_bodies(SOURCE, [huge.clone()]);
    h.aws().push_bodies(SOURCE, small.clone());
    h.aws()
        .push_bodies(SOURCE, bodies("filler", CEILING_COUNT - 3));

    let response = h.trip(600).await;

    let overflow = report(&response);
    assert_eq!(
        (overflow.unmovable, overflow.send_failed),
        (1, 0),
        "{overflow:?}"
    );
    assert!(h.aws().all_messages(SOURCE).iter().any(|m| m.body == huge));
    assert!(h.aws().all_messages(DLQ).is_empty());
}

#[tokio::test]
async fn a_message_that_fits_the_overflow_queue_but_not_the_source_goes_to_the_dlq_on_replay() {
    let h = Harness::settled().await;
    limit_size(&h, SOURCE, 1024);
    let big = sized("big", 1500);
    h.aws()
        .push_messages(OVERFLOW, [moved_from(&big, SOURCE, 0, 0)]);

    let response = h.tick(at(REPLAY_AFTER_SECS)).await;

    assert_eq!(report(&response).action, OverflowAction::Replay);
    assert!(
        h.aws().all_messages(OVERFLOW).is_empty(),
        "nothing left to expire"
    );
    let (message, record) = the_dead_letter(&h);
    assert_eq!(message.body, big);
    assert_eq!(record["cause"]["kind"], "too-large-for-source", "{record}");
}

#[tokio::test(start_paused = true)]
async fn a_replay_goes_on_as_the_consumer_makes_room_and_never_fills_the_source_past_its_ceiling() {
    let h = Arc::new(Harness::settled().await);
    h.aws().push_bodies(SOURCE, bodies("backlog", 15));
    park(h.aws(), &bodies("parked", 30));
    // A consumer taking 5 messages every 500 ms, noting the deepest source it saw.
    let consumer = {
        let h = Arc::clone(&h);
        tokio::spawn(async move {
            let mut deepest = 0;
            for _ in 0..40 {
                deepest = deepest.max(h.aws().visible_messages(SOURCE).len());
                h.aws().consume(SOURCE, 5);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            deepest
        })
    };

    let response = h.tick(at(REPLAY_AFTER_SECS)).await;

    let overflow = report(&response);
    assert_eq!(overflow.action, OverflowAction::Replay);
    assert_eq!(
        overflow.replayed, 30,
        "the whole overflow, not just the room seen at the start: {overflow:?}"
    );
    assert!(h.aws().all_messages(OVERFLOW).is_empty());
    let deepest = consumer.await.expect("the consumer ran");
    assert!(deepest <= CEILING_COUNT, "the source held {deepest}");
}

#[tokio::test(start_paused = true)]
async fn a_replay_waiting_at_the_ceiling_still_ends_within_seconds_of_a_trip() {
    let h = Arc::new(Harness::settled().await);
    h.aws().push_bodies(SOURCE, bodies("backlog", 15));
    park(h.aws(), &bodies("parked", 30));
    // Room for 5, then nobody consumes: the replay waits at the ceiling; 3 s in, the errors
    // alarm fires.
    let alarm = {
        let h = Arc::clone(&h);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            h.aws()
                .set_alarm(ERRORS, AlarmState::Alarm, at(REPLAY_AFTER_SECS + 3));
        })
    };
    let started = tokio::time::Instant::now();

    let response = h.tick(at(REPLAY_AFTER_SECS)).await;

    alarm.await.expect("the alarm fired");
    let overflow = report(&response);
    assert_eq!(overflow.replayed, 5, "{overflow:?}");
    assert!(
        overflow
            .stopped
            .as_deref()
            .is_some_and(|s| s.contains("in ALARM")),
        "{overflow:?}"
    );
    assert!(
        started.elapsed() <= Duration::from_secs(5),
        "ended {:?} after the start, not at the end of its budget",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn replay_fills_the_source_only_up_to_its_ceiling() {
    let h = Harness::settled().await;
    h.aws().push_bodies(SOURCE, bodies("backlog", 15));
    park(h.aws(), &bodies("parked", 30));

    let response = h.tick(at(REPLAY_AFTER_SECS)).await;

    let overflow = report(&response);
    assert_eq!(overflow.action, OverflowAction::Replay);
    // Planned: the whole overflow; replayed: the room below the ceiling, after which the
    // replay waits for the consumer to make room (here nobody consumes) until its budget ends.
    assert_eq!(
        (overflow.planned, overflow.replayed),
        (30, 5),
        "{overflow:?}"
    );
    assert!(
        overflow
            .stopped
            .as_deref()
            .is_some_and(|s| s.contains("holds its ceiling")),
        "{overflow:?}"
    );
    assert_eq!(h.aws().visible_messages(SOURCE).len(), CEILING_COUNT);
    assert_eq!(h.aws().all_messages(OVERFLOW).len(), 25);
}

#[tokio::test]
async fn a_message_replayed_too_often_goes_to_the_dlq_with_its_reason() {
    let h = Harness::settled().await;
    h.aws()
        .push_messages(OVERFLOW, [moved_from("{\"cycled\":3}", SOURCE, 3, 0)]);
    h.aws()
        .push_messages(OVERFLOW, [moved_from("{\"cycled\":2}", SOURCE, 2, 0)]);

    h.tick(at(REPLAY_AFTER_SECS)).await;

    let (message, record) = the_dead_letter(&h);
    assert_eq!(message.body, "{\"cycled\":3}");
    assert_eq!(record["cause"]["kind"], "replay-limit", "{record}");
    assert_eq!(record["replays"], 3);
    assert_eq!(
        h.bodies_in(SOURCE),
        ["{\"cycled\":2}"],
        "under the limit: replayed"
    );
}

#[tokio::test]
async fn a_message_whose_consumer_had_all_its_deliveries_is_not_replayed_for_fresh_ones() {
    let h = Harness::settled().await;
    h.aws().push_messages(
        OVERFLOW,
        [moved_from("{\"poison\":true}", SOURCE, 1, MAX_RECEIVES)],
    );

    h.tick(at(REPLAY_AFTER_SECS)).await;

    let (_, record) = the_dead_letter(&h);
    assert_eq!(record["cause"]["kind"], "receives-used", "{record}");
    assert!(h.aws().all_messages(SOURCE).is_empty());
}

#[tokio::test]
async fn replay_never_sends_a_message_to_a_source_it_was_not_moved_from() {
    let h = Harness::settled().await;
    let other = "https://sqs.us-east-1.amazonaws.com/123456789012/payments";
    h.aws().push_messages(
        OVERFLOW,
        [moved_from("{\"from\":\"payments\"}", other, 0, 0)],
    );
    h.aws().push_bodies(OVERFLOW, ["{\"no\":\"provenance\"}"]);

    h.tick(at(REPLAY_AFTER_SECS)).await;

    assert!(h.aws().all_messages(SOURCE).is_empty(), "nothing replayed");
    assert!(
        h.aws().all_messages(OVERFLOW).is_empty(),
        "nothing left to expire"
    );
    let mut causes: Vec<String> = h
        .aws()
        .all_messages(DLQ)
        .iter()
        .map(|m| {
            dead_letter_record(m)["cause"]["kind"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    causes.sort();
    assert_eq!(causes, ["foreign-source", "no-provenance"]);
}

#[tokio::test]
async fn moves_wait_while_the_overflow_queue_would_keep_messages_shorter_than_the_source() {
    let h = Harness::settled().await;
    h.aws().configure_queue(
        OVERFLOW,
        QueueAttributes {
            retention: Duration::from_hours(24),
            ..QueueAttributes::default()
        },
    );
    h.aws().push_bodies(SOURCE, bodies("flood", 30));

    let response = h.trip(600).await;

    let overflow = report(&response);
    assert_eq!(overflow.moved, 0, "{overflow:?}");
    assert!(
        overflow.reason.contains("MessageRetentionPeriod"),
        "the reason says why: {}",
        overflow.reason
    );
    assert!(h.aws().all_messages(OVERFLOW).is_empty());
}
