//! Partial batch failures of the overflow against LocalStack: an entry SQS refuses (over the
//! overflow queue's size limit), and send and delete entries failed on purpose through
//! `breaker`'s fault wrapper around the real SDK adapters. In each, every message is counted
//! by body across the source, the overflow queue and the DLQ: duplicates are allowed (a failed
//! delete), losses are not.

use floodgate_core::Operation;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use floodgate_core::overflow::Transfer;
use floodgate_testkit::{EntryFault, Faulty};
use floodgate_tests::overflow::{BedSpec, OverflowBed, bodies, body_multiset, body_set};
use serde_json::json;

const DRAIN: Duration = Duration::from_secs(30);
/// Short visibility timeouts, so what the transfer left hidden is back within the test.
const IN_FLIGHT: Duration = Duration::from_secs(4);
const HOLD: Duration = Duration::from_secs(2);

fn move_job(bed: &OverflowBed) -> Transfer {
    bed.move_job(IN_FLIGHT, HOLD)
}

/// Every message of the bed, by body, once the hidden ones are visible again.
async fn everything(bed: &OverflowBed) -> (Vec<String>, Vec<String>, Vec<String>) {
    tokio::time::sleep(IN_FLIGHT + Duration::from_secs(1)).await;
    let source = bed.drain(&bed.source, DRAIN).await.expect("drain source");
    let overflow = bed
        .drain(&bed.overflow, DRAIN)
        .await
        .expect("drain overflow");
    let dlq = bed
        .drain(&bed.dlq, Duration::from_secs(3))
        .await
        .expect("drain DLQ");
    let bodies = |messages: &[aws_sdk_sqs::types::Message]| {
        messages
            .iter()
            .filter_map(|m| m.body().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    (bodies(&source), bodies(&overflow), bodies(&dlq))
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn an_entry_over_the_overflow_queues_size_limit_stays_in_the_source() {
    // The overflow queue takes at most 1 KiB; one message of 900 bytes fits the source but not
    // the overflow queue once its provenance is added.
    let bed = OverflowBed::deploy(
        BedSpec::new("ovf-size")
            .overflow_queue_attribute(QueueAttributeName::MaximumMessageSize, "1024"),
    )
    .await
    .expect("bed");
    let big = json!({"big": "x".repeat(880)}).to_string();
    assert!(big.len() > 880 && big.len() < 1024);
    let mut sent = bodies("small", 19);
    sent.insert(7, big.clone());
    bed.aws.send_bodies(&bed.source, &sent).await.expect("send");

    let tally = bed.transfer(&bed.ports, &move_job(&bed), 20).await;

    assert_eq!(tally.received, 20, "{tally:?}");
    assert_eq!((tally.transferred, tally.send_failed), (19, 1), "{tally:?}");
    assert_eq!(tally.delete_failed, 0);
    let (source, overflow, dlq) = everything(&bed).await;
    assert_eq!(
        body_multiset(source.iter().map(String::as_str)),
        body_multiset([big.as_str()])
    );
    assert_eq!(overflow.len(), 19);
    assert!(dlq.is_empty());
    let mut all = source;
    all.extend(overflow);
    assert_eq!(
        body_multiset(all.iter().map(String::as_str)),
        body_multiset(sent.iter().map(String::as_str))
    );
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn injected_send_and_delete_failures_leave_duplicates_at_most_never_a_loss() {
    let bed = OverflowBed::deploy(BedSpec::new("ovf-inject"))
        .await
        .expect("bed");
    let (sent, _) = bed.fill(&bed.source, 45).await.expect("send");
    let faulty = Faulty::new(bed.ports.clone());
    // First batch: entry 3 fails on SQS's side, entry 6 is refused; of the 8 sent, the second
    // delete fails.
    faulty.fail_entries(
        Operation::SendMessageBatch,
        [
            EntryFault::Succeed,
            EntryFault::Succeed,
            EntryFault::Succeed,
            EntryFault::Transient,
            EntryFault::Succeed,
            EntryFault::Succeed,
            EntryFault::Rejected,
        ],
    );
    faulty.fail_entries(
        Operation::DeleteMessageBatch,
        [EntryFault::Succeed, EntryFault::Transient],
    );

    let first = bed.transfer(&faulty, &move_job(&bed), 45).await;

    assert_eq!(
        first.received, 10,
        "a failure on SQS's side ends the transfer: {first:?}"
    );
    assert_eq!(
        (first.transferred, first.send_failed, first.delete_failed),
        (8, 2, 1),
        "{first:?}"
    );
    assert!(first.stopped.is_some());

    // Once the hidden messages are back, a second transfer without faults moves the rest.
    tokio::time::sleep(IN_FLIGHT + Duration::from_secs(1)).await;
    let second = bed.transfer(&bed.ports, &move_job(&bed), 100).await;
    assert_eq!(second.send_failed + second.delete_failed, 0, "{second:?}");
    assert_eq!(
        second.transferred,
        45 - 8 + 1,
        "the rest, and the undeleted duplicate"
    );

    let (source, overflow, dlq) = everything(&bed).await;
    assert!(source.is_empty(), "{source:?}");
    assert!(dlq.is_empty(), "{dlq:?}");
    assert_eq!(overflow.len(), 46, "45 messages and one duplicate");
    assert_eq!(
        body_set(overflow.iter().map(String::as_str)),
        body_set(sent.iter().map(String::as_str)),
        "every message arrived"
    );
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_failed_visibility_change_loses_nothing_either() {
    let bed = OverflowBed::deploy(BedSpec::new("ovf-vis"))
        .await
        .expect("bed");
    let (sent, _) = bed.fill(&bed.source, 10).await.expect("send");
    let faulty = Faulty::new(bed.ports.clone());
    faulty.fail_entries(
        Operation::SendMessageBatch,
        [EntryFault::Transient, EntryFault::Transient],
    );
    faulty.fail_entries(
        Operation::ChangeMessageVisibilityBatch,
        [EntryFault::Transient],
    );

    let tally = bed.transfer(&faulty, &move_job(&bed), 10).await;

    assert_eq!((tally.transferred, tally.send_failed), (8, 2), "{tally:?}");
    let (source, overflow, dlq) = everything(&bed).await;
    assert_eq!(
        source.len(),
        2,
        "one released at once, one back after its timeout"
    );
    assert_eq!(overflow.len(), 8);
    assert!(dlq.is_empty());
    let mut all = source;
    all.extend(overflow);
    assert_eq!(
        body_multiset(all.iter().map(String::as_str)),
        body_multiset(sent.iter().map(String::as_str))
    );
}
