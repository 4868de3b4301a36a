//! Moving a tripped circuit's excess to its overflow queue, against the in-memory AWS: the
//! exact SQS calls, what ends up where, and what happens when SQS fails part of a batch.

mod overflow_support;

use floodgate_core::Operation;
use floodgate_core::error::AwsFault;
use floodgate_core::overflow::batch::{MOVED_ATTRIBUTE, REPLAYED_ATTRIBUTE};
use floodgate_core::overflow::transfer::UNMOVABLE_HOLD;
use floodgate_core::policy::PhaseName;
use floodgate_core::protocol::OverflowAction;
use floodgate_testkit::{Call, EntryFault};
use overflow_support::*;

fn sqs_calls(calls: &[Call]) -> Vec<Call> {
    calls
        .iter()
        .filter(|c| {
            matches!(
                c,
                Call::ReceiveMessage { .. }
                    | Call::SendMessageBatch { .. }
                    | Call::DeleteMessageBatch { .. }
                    | Call::ChangeMessageVisibilityBatch { .. }
            )
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_trip_moves_exactly_the_excess_over_the_ceiling_with_its_provenance() {
    let h = Harness::settled().await;
    let sent = bodies("flood", 35);
    let ids = h.aws().push_bodies(SOURCE, sent.clone());

    let response = h.trip(600).await;

    assert_eq!(response.circuits[0].state, PhaseName::Open);
    let overflow = report(&response);
    assert_eq!(overflow.action, OverflowAction::Move);
    assert_eq!((overflow.planned, overflow.moved), (15, 15));
    assert_eq!(
        (
            overflow.send_failed,
            overflow.delete_failed,
            overflow.unmovable
        ),
        (0, 0, 0)
    );
    assert_eq!(overflow.overflow_depth, Some(0));
    assert_eq!(overflow.stopped, None);
    assert_eq!(overflow.reason, "open: 35 visible over ceiling 20");

    assert_eq!(h.aws().all_messages(SOURCE).len(), 20);
    let moved = h.aws().all_messages(OVERFLOW);
    assert_eq!(moved.len(), 15);
    let mut everything = h.bodies_in(SOURCE);
    everything.extend(h.bodies_in(OVERFLOW));
    assert_eq!(
        sorted(everything),
        sorted(sent),
        "every message is somewhere, once"
    );
    for message in &moved {
        let record = provenance(message, MOVED_ATTRIBUTE);
        assert_eq!(record.circuit, "orders");
        assert_eq!(
            (record.from.as_str(), record.to.as_str()),
            (SOURCE, OVERFLOW)
        );
        assert_eq!(record.at, at(600));
        assert_eq!(record.reason, "open: 35 visible over ceiling 20");
        assert_eq!(record.hops, 1);
        assert!(ids.contains(&record.message_id), "{record:?}");
    }

    // Two receives (10 + 5), each batch sent and deleted; nothing released or held.
    let calls = sqs_calls(&h.aws().take_calls());
    let shape: Vec<(&str, usize)> = calls
        .iter()
        .map(|c| match c {
            Call::ReceiveMessage { max, .. } => ("receive", *max),
            Call::SendMessageBatch { bodies, .. } => ("send", bodies.len()),
            Call::DeleteMessageBatch {
                receipt_handles, ..
            } => ("delete", receipt_handles.len()),
            other => (other.operation().as_str(), 0),
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("receive", 10),
            ("send", 10),
            ("delete", 10),
            ("receive", 5),
            ("send", 5),
            ("delete", 5)
        ]
    );

    let line = h.overflow_metrics();
    assert_eq!(line["Moved"], 15);
    assert_eq!(line["Replayed"], 0);
    assert_eq!(line["OverflowDepth"], 0);
    assert_eq!(line["Circuit"], "orders");
}

#[tokio::test]
async fn original_attributes_and_trace_header_travel_with_the_moved_copy() {
    let h = Harness::settled().await;
    let mut special = with_attributes("{\"special\":true}", 9);
    special.trace_header = Some("Root=1-5759e988-bd862e3fe1be46a994272793".into());
    // The fake receives oldest first, so this is the one message over the ceiling to move.
    h.aws().push_messages(SOURCE, [special.clone()]);
    h.aws().push_bodies(SOURCE, bodies("base", 20));

    let response = h.trip(600).await;
    assert_eq!(report(&response).moved, 1);
    let moved = h.only_message(OVERFLOW);
    assert_eq!(moved.body, special.body);
    assert_eq!(moved.trace_header, special.trace_header);
    for (name, value) in &special.attributes {
        assert_eq!(moved.attributes.get(name), Some(value), "{name}");
    }
    assert_eq!(
        moved.attributes.len(),
        10,
        "nine of its own and its provenance"
    );
}

#[tokio::test]
async fn moves_are_bounded_by_the_per_invocation_budget_and_continue_next_tick() {
    let h = Harness::settled_with(config_with(|o| o["max_moves_per_invocation"] = 12.into())).await;
    h.aws().push_bodies(SOURCE, bodies("flood", 50));

    let first = h.trip(600).await;
    assert_eq!((report(&first).planned, report(&first).moved), (12, 12));
    let second = h.tick(at(660)).await;
    assert_eq!(report(&second).moved, 12);
    let third = h.tick(at(720)).await;
    assert_eq!(report(&third).moved, 6, "only the excess is left to move");
    let fourth = h.tick(at(780)).await;
    assert_eq!(report(&fourth).action, OverflowAction::Idle);
    assert_eq!(
        report(&fourth).reason,
        "open: 20 visible, within ceiling 20"
    );
    assert_eq!(h.aws().all_messages(SOURCE).len(), 20);
    assert_eq!(h.aws().all_messages(OVERFLOW).len(), 30);
}

#[tokio::test]
async fn a_closed_circuit_moves_nothing_however_deep_its_source() {
    let h = Harness::settled().await;
    h.aws().push_bodies(SOURCE, bodies("deep", 100));

    let response = h.tick(at(60)).await;

    let overflow = report(&response);
    assert_eq!(overflow.action, OverflowAction::Idle);
    assert!(
        overflow.reason.starts_with("closed: replay starts at"),
        "{}",
        overflow.reason
    );
    assert!(sqs_calls(&h.aws().take_calls()).is_empty());
    assert_eq!(h.aws().all_messages(SOURCE).len(), 100);
}

#[tokio::test]
async fn a_throttled_circuit_moves_its_excess_too() {
    let h = Harness::settled().await;
    h.aws().push_bodies(SOURCE, bodies("flood", 25));
    h.aws()
        .set_alarm(DEPTH, floodgate_core::policy::AlarmState::Alarm, at(595));

    let response = h.tick(at(600)).await;

    assert_eq!(response.circuits[0].state, PhaseName::Throttled);
    assert_eq!(report(&response).moved, 5);
    assert_eq!(
        report(&response).reason,
        "throttled: 25 visible over ceiling 20"
    );
}

#[tokio::test]
async fn dry_run_moves_nothing() {
    let h = Harness::settled().await;
    h.controller
        .handle(
            br#"{"floodgate":"command","command":"dry-run","circuit":"orders","enabled":true,"actor":"alice"}"#,
            at(10),
        )
        .await
        .expect("dry-run on");
    h.aws().push_bodies(SOURCE, bodies("flood", 40));

    let response = h.trip(600).await;

    assert_eq!(response.circuits[0].state, PhaseName::Open);
    assert_eq!(report(&response).action, OverflowAction::Idle);
    assert_eq!(report(&response).reason, "dry-run: nothing is moved");
    assert!(h.aws().all_messages(OVERFLOW).is_empty());
}

#[tokio::test]
async fn a_status_read_reports_the_overflow_depth_and_moves_nothing() {
    let h = Harness::settled().await;
    h.trip(600).await;
    h.aws().push_bodies(OVERFLOW, bodies("parked", 7));
    h.aws().push_bodies(SOURCE, bodies("flood", 40));
    h.aws().take_calls();

    let response = h
        .controller
        .handle(br#"{"floodgate":"command","command":"status"}"#, at(610))
        .await
        .expect("status");

    let overflow = report(&response);
    assert_eq!(overflow.action, OverflowAction::Idle);
    assert_eq!(overflow.overflow_depth, Some(7));
    assert!(h.aws().take_calls().iter().all(|c| !c.is_write()));
}

#[tokio::test]
async fn a_send_entry_failing_on_sqs_side_is_released_at_once_and_ends_the_move() {
    let h = Harness::settled().await;
    let sent = bodies("flood", 50);
    h.aws().push_bodies(SOURCE, sent.clone());
    h.aws().fail_entries(
        Operation::SendMessageBatch,
        [
            EntryFault::Succeed,
            EntryFault::Transient,
            EntryFault::Succeed,
        ],
    );

    let response = h.trip(600).await;

    let overflow = report(&response);
    assert_eq!((overflow.moved, overflow.send_failed), (9, 1));
    assert_stopped(overflow, "1 of 10 sends failed");
    // Only what was sent was deleted; the failed one is visible again, nothing in flight.
    let calls = sqs_calls(&h.aws().take_calls());
    let Call::DeleteMessageBatch {
        receipt_handles: deleted,
        ..
    } = &calls[2]
    else {
        panic!("the third call deletes: {calls:?}");
    };
    assert_eq!(deleted.len(), 9);
    let Call::ChangeMessageVisibilityBatch {
        receipt_handles: released,
        timeout_secs,
        ..
    } = &calls[3]
    else {
        panic!("the fourth call releases: {calls:?}");
    };
    assert_eq!((released.len(), *timeout_secs), (1, 0));
    assert!(!deleted.contains(&released[0]));
    assert_eq!(calls.len(), 4, "the move stops after the failed batch");
    assert!(h.aws().in_flight_messages(SOURCE).is_empty());
    assert_eq!(h.aws().visible_messages(SOURCE).len(), 41);
    let mut everything = h.bodies_in(SOURCE);
    everything.extend(h.bodies_in(OVERFLOW));
    assert_eq!(sorted(everything), sorted(sent));
}

#[tokio::test]
async fn an_entry_refused_as_the_senders_fault_is_held_back_and_the_move_goes_on() {
    let h = Harness::settled().await;
    let sent = bodies("flood", 40);
    h.aws().push_bodies(SOURCE, sent.clone());
    h.aws()
        .fail_entries(Operation::SendMessageBatch, [EntryFault::Rejected]);

    let response = h.trip(600).await;

    let overflow = report(&response);
    assert_eq!((overflow.moved, overflow.send_failed), (19, 1));
    assert_eq!(
        overflow.stopped, None,
        "a refused entry does not stop the move"
    );
    let held = h.aws().in_flight_messages(SOURCE);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].1, UNMOVABLE_HOLD);
    let mut everything = h.bodies_in(SOURCE);
    everything.extend(h.bodies_in(OVERFLOW));
    assert_eq!(sorted(everything), sorted(sent));
}

#[tokio::test]
async fn a_failed_delete_leaves_a_counted_duplicate_never_a_loss() {
    let h = Harness::settled().await;
    let sent = bodies("flood", 30);
    h.aws().push_bodies(SOURCE, sent.clone());
    h.aws().fail_entries(
        Operation::DeleteMessageBatch,
        [EntryFault::Succeed, EntryFault::Transient],
    );

    let response = h.trip(600).await;

    let overflow = report(&response);
    assert_eq!((overflow.moved, overflow.delete_failed), (10, 1));
    // The undeleted original is held like a message that stays (not received again at
    // once, each receive raising its count), and comes back when that runs out.
    let stuck = h.aws().in_flight_messages(SOURCE);
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].1, UNMOVABLE_HOLD);
    h.aws().expire_in_flight(SOURCE);
    assert_eq!(h.aws().all_messages(SOURCE).len(), 21);
    assert_eq!(h.aws().all_messages(OVERFLOW).len(), 10);
    let overflow_bodies = h.bodies_in(OVERFLOW);
    assert!(
        overflow_bodies.contains(&stuck[0].0.body),
        "the duplicate was sent"
    );
    let mut distinct = h.bodies_in(SOURCE);
    distinct.extend(overflow_bodies);
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct, sorted(sent));
}

#[tokio::test]
async fn a_send_call_that_fails_as_a_whole_deletes_nothing_and_releases_the_batch() {
    let h = Harness::settled().await;
    let sent = bodies("flood", 30);
    h.aws().push_bodies(SOURCE, sent.clone());
    h.aws()
        .fail(Operation::SendMessageBatch, AwsFault::Other, 1);

    let response = h.trip(600).await;

    let overflow = report(&response);
    assert_eq!((overflow.moved, overflow.send_failed), (0, 10));
    assert_stopped(overflow, "send failed: SendMessageBatch failed");
    let calls = sqs_calls(&h.aws().take_calls());
    assert!(
        !calls
            .iter()
            .any(|c| matches!(c, Call::DeleteMessageBatch { .. })),
        "{calls:?}"
    );
    assert_eq!(h.aws().visible_messages(SOURCE).len(), 30);
    assert!(h.aws().all_messages(OVERFLOW).is_empty());
}

#[tokio::test]
async fn a_receive_that_fails_leaves_everything_in_place_and_the_trip_still_recorded() {
    let h = Harness::settled().await;
    h.aws().push_bodies(SOURCE, bodies("flood", 30));
    h.aws()
        .fail(Operation::ReceiveMessage, AwsFault::Transient, 1);

    let response = h.trip(600).await;

    assert_eq!(response.circuits[0].state, PhaseName::Open);
    assert!(!h.aws().mapping(UUID).enabled);
    let overflow = report(&response);
    assert_eq!(overflow.moved, 0);
    assert_stopped(overflow, "receive failed");
    assert_eq!(h.aws().visible_messages(SOURCE).len(), 30);
}

#[tokio::test]
async fn a_message_with_ten_attributes_of_its_own_stays_in_the_source_as_unmovable() {
    let h = Harness::settled().await;
    h.aws()
        .push_messages(SOURCE, [with_attributes("{\"full\":1}", 10)]);
    h.aws().push_bodies(SOURCE, bodies("flood", 25));

    let response = h.trip(600).await;

    let overflow = report(&response);
    assert_eq!(overflow.unmovable, 1);
    assert_eq!(
        overflow.moved, 5,
        "the budget counts every message received"
    );
    let held = h.aws().in_flight_messages(SOURCE);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].0.body, "{\"full\":1}");
    assert_eq!(held[0].1, UNMOVABLE_HOLD);
    assert!(
        h.aws()
            .all_messages(OVERFLOW)
            .iter()
            .all(|m| m.body != "{\"full\":1}")
    );
}

#[tokio::test]
async fn a_message_moved_again_after_a_replay_carries_one_provenance_with_its_hops() {
    let h = Harness::settled().await;
    h.aws().push_bodies(SOURCE, bodies("flood", 21));
    h.trip(600).await;
    let moved = h.only_message(OVERFLOW);

    // A replayed copy comes back to the source, then the circuit trips again.
    let h2 = Harness::settled().await;
    let mut replayed = floodgate_core::ports::OutgoingMessage::new(moved.body.clone());
    replayed.attributes = moved.attributes.clone();
    h2.aws().push_messages(SOURCE, [replayed]);
    h2.aws().push_bodies(SOURCE, bodies("more", 20));
    let response = h2.trip(600).await;
    assert_eq!(report(&response).moved, 1);
    let again = h2.only_message(OVERFLOW);
    assert_eq!(again.body, moved.body);
    assert_eq!(provenance(&again, MOVED_ATTRIBUTE).hops, 2);
    assert!(!again.attributes.contains_key(REPLAYED_ATTRIBUTE));
}
