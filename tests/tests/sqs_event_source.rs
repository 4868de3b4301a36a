//! An SQS event source mapping drives the probe function: what succeeds is consumed exactly
//! as sent, what fails returns to the queue and reaches the DLQ after `maxReceiveCount`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use floodgate_tests::{Check, FunctionSpec, LedgerEntry, LocalAws, Probes as _, Queue, wait_for};
use serde_json::{Value, json};

const DRAIN_TIMEOUT: Duration = Duration::from_mins(1);

fn json_body(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|err| panic!("body {body:?} is not JSON: {err}"))
}

/// A source queue with a DLQ, feeding the probe through an event source mapping; the probe
/// reports what it did on its ledger.
struct Pipeline {
    aws: LocalAws,
    source: Queue,
    dlq: Queue,
    ledger: Queue,
}

impl Pipeline {
    async fn new(
        prefix: &str,
        max_receive_count: u32,
        visibility_timeout: Duration,
        batch_size: i32,
        configure: impl FnOnce(FunctionSpec) -> FunctionSpec,
    ) -> Self {
        let aws = LocalAws::connect().await.expect("LocalStack");
        let (source, dlq) = aws
            .create_queue_with_dlq(
                &format!("{prefix}-source"),
                max_receive_count,
                visibility_timeout,
            )
            .await
            .expect("source queue with DLQ");
        let (probe, ledger) = aws
            .deploy_probe_with_ledger(prefix, configure)
            .await
            .expect("deploy probe");
        aws.create_sqs_trigger(&probe.name, &source, batch_size)
            .await
            .expect("event source mapping");
        Self {
            aws,
            source,
            dlq,
            ledger,
        }
    }

    /// Sends `count` JSON bodies to the source; returns the bodies and their message ids.
    async fn send(&self, count: usize) -> (Vec<String>, Vec<String>) {
        let bodies: Vec<String> = (0..count)
            .map(|seq| json!({ "run": self.source.name, "seq": seq }).to_string())
            .collect();
        let ids = self
            .aws
            .send_bodies(&self.source, &bodies)
            .await
            .expect("send");
        (bodies, ids)
    }
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn an_sqs_event_source_drains_every_message_through_the_function() {
    let pipeline = Pipeline::new("esm-drain", 5, Duration::from_secs(10), 10, |spec| spec).await;
    let aws = &pipeline.aws;

    let (sent, ids) = pipeline.send(25).await;

    let entries = aws
        .read_ledger(&pipeline.ledger, sent.len(), DRAIN_TIMEOUT)
        .await
        .expect("ledger");
    // Bodies are compared as JSON: LocalStack's SQS poller parses JSON bodies and re-serialises
    // them (`{"a":1}` arrives as `{"a": 1}`), where AWS delivers the bytes unchanged.
    let mut processed = BTreeMap::new();
    for entry in entries {
        match entry {
            LedgerEntry::Processed {
                message_id, body, ..
            } => {
                processed.insert(message_id, json_body(&body));
            }
            other => panic!("only successful processing was expected, got {other:?}"),
        }
    }
    let expected: BTreeMap<String, Value> = ids
        .into_iter()
        .zip(sent.iter().map(|body| json_body(body)))
        .collect();
    assert_eq!(processed, expected);

    wait_for("the source queue to be empty", DRAIN_TIMEOUT, || async {
        Ok(match aws.queue_depth(&pipeline.source).await? {
            (0, 0) => Check::Done(()),
            depth => Check::NotYet(format!("(visible, in flight) = {depth:?}")),
        })
    })
    .await
    .expect("drained");
    assert_eq!(
        aws.queue_depth(&pipeline.dlq).await.expect("DLQ depth"),
        (0, 0)
    );
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn messages_a_function_keeps_failing_reach_the_dlq_after_max_receive_count_attempts() {
    const MAX_RECEIVE_COUNT: u32 = 3;
    // A 1 s visibility timeout makes each retry come quickly; the function timeout may not
    // exceed it.
    let pipeline = Pipeline::new(
        "dlq-fail",
        MAX_RECEIVE_COUNT,
        Duration::from_secs(1),
        5,
        |spec| spec.timeout(Duration::from_secs(1)).env("FAIL_ALL", "1"),
    )
    .await;
    let aws = &pipeline.aws;

    let (sent, ids) = pipeline.send(4).await;

    let dead = aws
        .drain_queue(&pipeline.dlq, sent.len(), DRAIN_TIMEOUT)
        .await
        .expect("DLQ");
    let dead_bodies: BTreeSet<&str> = dead.iter().filter_map(|m| m.body()).collect();
    assert_eq!(dead_bodies, sent.iter().map(String::as_str).collect());

    // Every attempt was recorded before the function failed, so by now the ledger is complete:
    // each message was tried exactly MAX_RECEIVE_COUNT times, with counts 1, 2, 3.
    let attempts = usize::try_from(MAX_RECEIVE_COUNT).expect("small") * sent.len();
    let entries = aws
        .read_ledger(&pipeline.ledger, attempts, DRAIN_TIMEOUT)
        .await
        .expect("ledger");
    let mut counts: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for entry in entries {
        match entry {
            LedgerEntry::Failed {
                message_id,
                receive_count,
                ..
            } => {
                counts.entry(message_id).or_default().push(receive_count);
            }
            other => panic!("the function fails every batch, got {other:?}"),
        }
    }
    for receive_counts in counts.values_mut() {
        receive_counts.sort_unstable();
    }
    let expected: BTreeMap<String, Vec<u32>> = ids
        .into_iter()
        .map(|id| (id, (1..=MAX_RECEIVE_COUNT).collect()))
        .collect();
    assert_eq!(counts, expected);
    assert_eq!(
        aws.queue_depth(&pipeline.source)
            .await
            .expect("source depth"),
        (0, 0)
    );
}
