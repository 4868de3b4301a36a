//! The overflow's move against LocalStack, through `breaker`'s SDK adapters: a tripped
//! circuit's excess over its ceiling goes to the overflow queue — exactly the excess, with
//! every attribute and its provenance — and no message is lost.

use std::time::Duration;

use chrono::Utc;
use floodgate_core::overflow::batch::MOVED_ATTRIBUTE;
use floodgate_core::overflow::transfer::{IN_FLIGHT_VISIBILITY, UNMOVABLE_HOLD};
use floodgate_core::policy::{CircuitState, Phase};
use floodgate_core::protocol::OverflowAction;
use floodgate_tests::overflow::{
    BedSpec, OverflowBed, bodies, body_multiset, in_phase, provenance_of,
};

const DRAIN: Duration = Duration::from_secs(30);

fn open_since(since: chrono::DateTime<Utc>) -> CircuitState {
    in_phase(Phase::Open { since, trips: 1 })
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn an_open_circuit_moves_exactly_the_excess_and_loses_nothing() {
    let bed = OverflowBed::deploy(BedSpec::new("ovf-move"))
        .await
        .expect("bed");
    let (sent, ids) = bed.fill(&bed.source, 47).await.expect("send");
    let now = Utc::now();

    let report = bed.run(&bed.ports, &open_since(now), now).await;

    assert_eq!(report.action, OverflowAction::Move, "{report:?}");
    assert_eq!((report.planned, report.moved), (37, 37), "{report:?}");
    assert_eq!(
        (report.send_failed, report.delete_failed, report.unmovable),
        (0, 0, 0)
    );
    assert_eq!(report.overflow_depth, Some(0));
    assert_eq!(report.stopped, None);
    assert_eq!(
        bed.count(&bed.source).await.unwrap(),
        10,
        "the ceiling stays"
    );
    assert_eq!(bed.count(&bed.overflow).await.unwrap(), 37);

    let moved = bed
        .drain(&bed.overflow, DRAIN)
        .await
        .expect("drain overflow");
    let kept = bed.drain(&bed.source, DRAIN).await.expect("drain source");
    let dead = bed
        .drain(&bed.dlq, Duration::from_secs(3))
        .await
        .expect("drain DLQ");
    assert!(dead.is_empty(), "nothing reached the DLQ");
    assert_eq!(moved.len(), 37);
    assert_eq!(kept.len(), 10);
    let everything = body_multiset(moved.iter().chain(&kept).filter_map(|m| m.body()));
    assert_eq!(everything, body_multiset(sent.iter().map(String::as_str)));
    for message in &moved {
        let record = provenance_of(message, MOVED_ATTRIBUTE).expect("provenance");
        assert_eq!(record.circuit, bed.circuit().name());
        assert_eq!(record.from, bed.source.url);
        assert_eq!(record.to, bed.overflow.url);
        assert_eq!(record.hops, 1);
        assert!(ids.contains(&record.message_id), "{record:?}");
        assert!(
            record
                .reason
                .starts_with("open: 47 visible over ceiling 10"),
            "{}",
            record.reason
        );
        assert!(
            record.sent_at.is_some(),
            "the original's SentTimestamp is kept"
        );
    }
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn moved_messages_keep_their_string_number_and_binary_attributes_and_trace_header() {
    // Ceiling 1 and two such messages: one is moved (whichever SQS returns first).
    let bed = OverflowBed::deploy(BedSpec::new("ovf-attrs").overflow("ceiling", 1))
        .await
        .expect("bed");
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
    for _ in 0..2 {
        bed.send_with_attributes(
            r#"{"order":42}"#,
            &[
                ("kind", "String", "order"),
                ("amount", "Number", "12.50"),
                ("blob", "Binary", "\u{1}\u{2}\u{3}"),
                ("region", "String.custom", "eu"),
            ],
            Some(trace),
        )
        .await
        .expect("send");
    }
    let now = Utc::now();

    let report = bed.run(&bed.ports, &open_since(now), now).await;
    assert_eq!(report.moved, 1, "{report:?}");

    let [moved] = bed
        .drain(&bed.overflow, DRAIN)
        .await
        .expect("drain")
        .try_into()
        .expect("one message moved");
    assert_eq!(moved.body(), Some(r#"{"order":42}"#));
    let attributes = moved.message_attributes().expect("attributes");
    assert_eq!(attributes.len(), 5, "{attributes:?}");
    assert_eq!(attributes["kind"].string_value(), Some("order"));
    assert_eq!(attributes["amount"].data_type(), "Number");
    assert_eq!(attributes["amount"].string_value(), Some("12.50"));
    assert_eq!(
        attributes["blob"]
            .binary_value()
            .map(|b| b.as_ref().to_vec()),
        Some(vec![1, 2, 3])
    );
    assert_eq!(attributes["region"].data_type(), "String.custom");
    assert!(provenance_of(&moved, MOVED_ATTRIBUTE).is_some());
    assert_eq!(
        moved
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::AwsTraceHeader))
            .map(String::as_str),
        Some(trace)
    );
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_message_with_ten_attributes_of_its_own_stays_in_the_source() {
    let bed = OverflowBed::deploy(BedSpec::new("ovf-full"))
        .await
        .expect("bed");
    let own: Vec<(String, String)> = (0..10)
        .map(|i| (format!("a{i}"), format!("v{i}")))
        .collect();
    let attributes: Vec<(&str, &str, &str)> = own
        .iter()
        .map(|(n, v)| (n.as_str(), "String", v.as_str()))
        .collect();
    bed.send_with_attributes(r#"{"full":true}"#, &attributes, None)
        .await
        .expect("send");
    let sent = bodies("plain", 4);
    bed.aws.send_bodies(&bed.source, &sent).await.expect("send");
    // The production hold is ten minutes; a short one lets the test see the message again.
    let job = bed.move_job(IN_FLIGHT_VISIBILITY, Duration::from_secs(2));
    assert!(UNMOVABLE_HOLD > job.hold);

    let tally = bed.transfer(&bed.ports, &job, 5).await;

    assert_eq!(
        (tally.received, tally.transferred, tally.unmovable),
        (5, 4, 1),
        "{tally:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let [left] = bed
        .drain(&bed.source, DRAIN)
        .await
        .expect("drain")
        .try_into()
        .expect("only the full message is left");
    assert_eq!(left.body(), Some(r#"{"full":true}"#));
    assert_eq!(
        left.message_attributes()
            .map(std::collections::HashMap::len),
        Some(10)
    );
    let moved = bed.drain(&bed.overflow, DRAIN).await.expect("drain");
    assert_eq!(
        body_multiset(moved.iter().filter_map(|m| m.body())),
        body_multiset(sent.iter().map(String::as_str))
    );
}
