//! `loadtest flood` against LocalStack: the rate holds, every acknowledged message is in the
//! queue with its stamp, and FIFO retries keep their deduplication ids.

mod loadtest_support;

use std::time::Duration;

use floodgate_tests::{Check, LocalAws, Queue, unique_name, wait_for};
use loadtest::flood::FloodSummary;
use loadtest::flood::payload::Stamp;
use loadtest_support::loadtest;

async fn flood(queue: &Queue, args: &[&str]) -> FloodSummary {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("summary.json");
    let json_arg = json.to_str().expect("UTF-8 path");
    let mut all = vec![
        "flood",
        "--queue-url",
        queue.url.as_str(),
        "--json",
        json_arg,
        "--quiet",
    ];
    all.extend_from_slice(args);
    let output = loadtest(&all).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "loadtest {all:?} failed:\n{stderr}"
    );
    serde_json::from_str(&std::fs::read_to_string(&json).expect("summary written"))
        .expect("summary is a FloodSummary")
}

async fn wait_for_depth(aws: &LocalAws, queue: &Queue, expected: u64) {
    wait_for(
        &format!("{expected} messages in {}", queue.name),
        Duration::from_secs(30),
        || async {
            Ok(match aws.queue_depth(queue).await? {
                (visible, 0) if visible == expected => Check::Done(()),
                depth => Check::NotYet(format!("(visible, in flight) = {depth:?}")),
            })
        },
    )
    .await
    .expect("queue depth");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_flood_holds_its_rate_within_two_percent_for_twenty_seconds() {
    let aws = LocalAws::connect().await.expect("LocalStack");
    let queue = aws
        .create_queue(&unique_name("flood-rate"), &[])
        .await
        .expect("queue");

    // 300 msg/s is well inside what LocalStack sustains here; a 40 ms linger packs batches of
    // ten, so LocalStack sees 30 requests/s rather than 150.
    let summary = flood(
        &queue,
        &[
            "--rate",
            "300",
            "--duration",
            "20s",
            "--linger",
            "40ms",
            "--payload-size",
            "200..2000",
        ],
    )
    .await;

    assert_eq!(summary.planned, 6000);
    assert_eq!(summary.acked, 6000, "{}", summary.headline());
    assert_eq!(
        (summary.failed, summary.uncertain, summary.dropped),
        (0, 0, 0)
    );
    assert!(summary.span_s >= 20.0);
    assert!(
        summary.rate_error.abs() <= 0.02,
        "achieved {:.1}/s for a target of {:.1}/s: {}",
        summary.achieved_rate,
        summary.target_rate,
        summary.headline()
    );
    assert_eq!(summary.sent.ranges().collect::<Vec<_>>(), [(0, 5999)]);
    assert!(summary.response_time.count == 6000 && summary.schedule_lag.count > 0);
    assert_eq!(
        summary.per_second.iter().map(|s| s.acked).sum::<u64>(),
        6000
    );

    // Every acknowledged message is in the queue, stamped with the run and its sequence number.
    wait_for_depth(&aws, &queue, 6000).await;
    let received = aws
        .sqs
        .receive_message()
        .queue_url(&queue.url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    let stamps: Vec<Stamp> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .filter_map(Stamp::parse)
        .collect();
    assert_eq!(stamps.len(), received.messages().len());
    assert!(!stamps.is_empty());
    for stamp in stamps {
        assert_eq!(stamp.run, summary.config.run_id);
        assert!(stamp.seq < 6000);
        let intended = summary.started_at.timestamp_micros()
            + i64::try_from(stamp.seq * 1_000_000 / 300).expect("small");
        assert!(
            (stamp.t - intended).abs() <= 1,
            "message {} intended at {} not {intended}",
            stamp.seq,
            stamp.t
        );
    }
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_fifo_flood_sent_twice_with_the_same_run_id_is_deduplicated() {
    let aws = LocalAws::connect().await.expect("LocalStack");
    let name = format!("{}.fifo", unique_name("flood-fifo"));
    let queue = aws
        .create_queue(
            &name,
            &[(
                aws_sdk_sqs::types::QueueAttributeName::FifoQueue,
                "true".to_owned(),
            )],
        )
        .await
        .expect("FIFO queue");
    let run_id = unique_name("fifo-run");
    let args = [
        "--rate",
        "200",
        "--count",
        "150",
        "--groups",
        "3",
        "--run-id",
        run_id.as_str(),
    ];

    let first = flood(&queue, &args).await;
    assert_eq!(first.acked, 150, "{}", first.headline());
    wait_for_depth(&aws, &queue, 150).await;

    // The same run again: the same deduplication ids, so SQS drops every message as a
    // duplicate (within its five-minute window), as it would drop a retried entry.
    let second = flood(&queue, &args).await;
    assert_eq!(second.acked, 150);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(aws.queue_depth(&queue).await.expect("depth"), (150, 0));
}
