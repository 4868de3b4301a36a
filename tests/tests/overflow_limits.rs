//! The overflow's limits against LocalStack, through `breaker`'s SDK adapters: the queue
//! configuration the controller reads (`GetQueueAttributes` of `RedrivePolicy`,
//! `MaximumMessageSize`, `MessageRetentionPeriod`; `GetQueueUrl` of the DLQ from its ARN),
//! and the messages it sends to the circuit's DLQ (`SendMessageBatch`) with their reason —
//! a replay over the hop limit, and a message received at its last delivery that does not
//! fit the overflow queue.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{TimeDelta, Utc};
use floodgate_core::overflow::batch::DEAD_LETTER_ATTRIBUTE;
use floodgate_core::policy::Phase;
use floodgate_core::ports::Queues;
use floodgate_core::protocol::OverflowAction;
use floodgate_tests::ACCOUNT;
use floodgate_tests::overflow::{BedSpec, OverflowBed, in_phase, provenance_of};
use serde_json::json;

const DRAIN: Duration = Duration::from_secs(30);

/// The one message in the bed's DLQ, and the `kind` of the cause it carries.
async fn the_dead_letter(bed: &OverflowBed) -> (aws_sdk_sqs::types::Message, String) {
    let [message] = bed
        .drain(&bed.dlq, DRAIN)
        .await
        .expect("drain DLQ")
        .try_into()
        .expect("one message in the DLQ");
    let record = provenance_of(&message, DEAD_LETTER_ATTRIBUTE).expect("a reason attribute");
    let kind = serde_json::to_value(record.cause.expect("a cause")).expect("JSON")["kind"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (message, kind)
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn the_adapter_reads_redrive_size_and_retention_and_finds_the_dlq_by_its_arn() {
    let bed = OverflowBed::deploy(
        BedSpec::new("ovf-attrs-read")
            .overflow_queue_attribute(QueueAttributeName::MaximumMessageSize, "2048")
            .overflow_queue_attribute(QueueAttributeName::MessageRetentionPeriod, "1209600"),
    )
    .await
    .expect("bed");

    let source = bed
        .ports
        .queue_attributes(&bed.source.url)
        .await
        .expect("source attributes");
    let redrive = source.redrive.expect("the source has a redrive policy");
    assert_eq!(redrive.max_receive_count, 5);
    assert_eq!(redrive.dead_letter_target_arn, bed.dlq.arn);
    let overflow = bed
        .ports
        .queue_attributes(&bed.overflow.url)
        .await
        .expect("overflow attributes");
    assert_eq!(overflow.maximum_message_size, 2048);
    assert_eq!(overflow.retention, Duration::from_hours(336));
    assert_eq!(overflow.redrive, None);
    let dlq = bed
        .ports
        .queue_url(&bed.dlq.name, ACCOUNT)
        .await
        .expect("GetQueueUrl");
    assert_eq!(dlq, bed.dlq.url);
    assert!(
        bed.ports
            .queue_url("no-such-queue-here", ACCOUNT)
            .await
            .is_err()
    );
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_message_replayed_too_often_goes_to_the_dlq_with_its_reason() {
    let bed = OverflowBed::deploy(
        BedSpec::new("ovf-hops")
            .overflow("max_replays_per_message", 2)
            .overflow("ceiling", 100),
    )
    .await
    .expect("bed");
    let cycled = bed.park(1, 2, 0).await.expect("park");
    let fresh = bed.park(3, 0, 0).await.expect("park");
    let now = Utc::now();
    let closed = in_phase(Phase::Closed {
        since: now - TimeDelta::hours(1),
    });

    let report = bed.run(&bed.ports, &closed, now).await;

    assert_eq!(report.action, OverflowAction::Replay, "{report:?}");
    assert_eq!(
        (report.replayed, report.dead_lettered),
        (3, 1),
        "{report:?}"
    );
    let (message, kind) = the_dead_letter(&bed).await;
    assert_eq!(message.body(), Some(cycled[0].as_str()));
    assert_eq!(kind, "replay-limit");
    let back = bed.drain(&bed.source, DRAIN).await.expect("drain source");
    let mut bodies: Vec<&str> = back.iter().filter_map(|m| m.body()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, fresh.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(bed.count(&bed.overflow).await.unwrap(), 0);
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_message_at_its_last_delivery_that_does_not_fit_the_overflow_goes_to_the_dlq_with_its_reason()
 {
    let bed = OverflowBed::deploy(
        BedSpec::new("ovf-last")
            .overflow("ceiling", 1)
            .overflow_queue_attribute(QueueAttributeName::MaximumMessageSize, "1024"),
    )
    .await
    .expect("bed");
    let big = json!({"big": "x".repeat(950)}).to_string();
    bed.aws
        .send_bodies(&bed.source, std::slice::from_ref(&big))
        .await
        .expect("send");
    // A consumer fails it four times (maxReceiveCount is 5): visible again at once each time.
    for _ in 0..4 {
        let got = bed
            .aws
            .sqs
            .receive_message()
            .queue_url(&bed.source.url)
            .visibility_timeout(0)
            .wait_time_seconds(2)
            .send()
            .await
            .expect("receive");
        assert_eq!(got.messages().len(), 1);
    }
    bed.aws
        .send_bodies(&bed.source, &[json!({"small": 1}).to_string()])
        .await
        .expect("send");
    let now = Utc::now();
    let open = in_phase(Phase::Open {
        since: now,
        trips: 1,
    });

    // The controller moves one message over the ceiling of 1; run until it has received the
    // big one (LocalStack does not promise which comes first).
    let mut dead_lettered = 0;
    for _ in 0..3 {
        let report = bed.run(&bed.ports, &open, now).await;
        dead_lettered += report.dead_lettered;
        if dead_lettered > 0 {
            break;
        }
    }

    assert_eq!(dead_lettered, 1);
    let (message, kind) = the_dead_letter(&bed).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(message.body().unwrap_or_default()).ok(),
        serde_json::from_str::<serde_json::Value>(&big).ok()
    );
    assert_eq!(kind, "last-delivery");
    let left: Vec<String> = bed
        .drain(&bed.source, DRAIN)
        .await
        .expect("drain source")
        .iter()
        .filter_map(|m| m.body().map(str::to_owned))
        .collect();
    assert!(!left.iter().any(|b| b.contains("xxxx")), "{left:?}");
}
