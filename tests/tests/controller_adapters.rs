//! `breaker`'s SDK adapters (`breaker::aws::AwsPorts`), called in-process against LocalStack
//! with the product's own client settings: every port method reads or writes the real
//! resource, including `GetMetricData` of the probe's own traffic; and LocalStack's own errors
//! are classified.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::Region;
use aws_sdk_sqs::config::Credentials;
use breaker::aws::AwsPorts;
use chrono::DurationRound;
use floodgate_core::error::AwsFault;
use floodgate_core::policy::{AlarmState, ProbeOutcome, ProbeTraffic};
use floodgate_core::ports::{
    Alarms, Concurrency, EventSourceMappings, MappingState, MappingUpdate, Queues,
};
use floodgate_tests::{
    AlarmSource, Check, HarnessError, LocalAws, Probes as _, Watched, endpoint_url, put_alarm,
    unique_name, wait_for,
};

async fn ports() -> AwsPorts {
    let sdk = breaker::aws::config_loader()
        .endpoint_url(endpoint_url())
        .region(Region::new(floodgate_tests::REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "adapters"))
        .load()
        .await;
    AwsPorts::new(&sdk)
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn the_mapping_adapters_read_update_and_tag_the_real_mapping() {
    let aws = LocalAws::connect().await.expect("LocalStack");
    let (source, _dlq) = aws
        .create_queue_with_dlq("adapt-src", 5, Duration::from_secs(5))
        .await
        .expect("queue");
    let consumer = aws
        .deploy_probe("adapt-consumer", |f| f)
        .await
        .expect("consumer");
    let uuid = aws
        .create_sqs_trigger(&consumer.name, &source, 10)
        .await
        .expect("mapping");
    let ports = ports().await;

    let mapping = ports
        .get_mapping(&uuid)
        .await
        .expect("GetEventSourceMapping");
    assert_eq!(mapping.uuid, uuid);
    assert_eq!(mapping.state, MappingState::Enabled);
    assert!(mapping.last_modified.is_some(), "LastModified is read");
    assert_eq!(mapping.provisioned, None, "standard mode");
    assert_eq!(mapping.function_arn, consumer.arn);
    assert!(
        mapping
            .arn
            .ends_with(&format!(":event-source-mapping:{uuid}")),
        "{}",
        mapping.arn
    );
    assert_eq!(mapping.maximum_concurrency, None);

    ports
        .update_mapping(
            &uuid,
            MappingUpdate {
                enabled: Some(false),
                maximum_concurrency: Some(5),
                pollers: None,
            },
        )
        .await
        .expect("UpdateEventSourceMapping");
    let disabled = wait_for(
        "the mapping to settle Disabled",
        Duration::from_secs(30),
        || async {
            let m = ports
                .get_mapping(&uuid)
                .await
                .map_err(|e| HarnessError::Aws {
                    call: "GetEventSourceMapping",
                    cause: e.to_string(),
                })?;
            Ok(if m.state == MappingState::Disabled {
                Check::Done(m)
            } else {
                Check::NotYet(m.state.to_string())
            })
        },
    )
    .await
    .expect("disabled");
    assert_eq!(disabled.maximum_concurrency, Some(5));

    let tags = BTreeMap::from([
        ("floodgate:state".to_owned(), "open".to_owned()),
        ("floodgate:trips".to_owned(), "1".to_owned()),
    ]);
    ports.tag(&mapping.arn, &tags).await.expect("TagResource");
    let read = ports.tags(&mapping.arn).await.expect("ListTags");
    assert_eq!(read, tags);
    // TagResource adds and overwrites; keys it does not name stay.
    let more = BTreeMap::from([("floodgate:trips".to_owned(), "2".to_owned())]);
    ports.tag(&mapping.arn, &more).await.expect("TagResource");
    let read = ports.tags(&mapping.arn).await.expect("ListTags");
    assert_eq!(
        read.get("floodgate:state").map(String::as_str),
        Some("open")
    );
    assert_eq!(read.get("floodgate:trips").map(String::as_str), Some("2"));

    let missing = ports
        .get_mapping("00000000-0000-4000-8000-000000000000")
        .await
        .expect_err("no such mapping");
    assert_eq!(missing.aws_fault(), Some(AwsFault::NotFound), "{missing}");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn the_concurrency_adapters_put_and_read_a_reservation() {
    let aws = LocalAws::connect().await.expect("LocalStack");
    let consumer = aws
        .deploy_probe("adapt-reserved", |f| f)
        .await
        .expect("consumer");
    let ports = ports().await;
    let function = consumer.name.as_str();
    let reserved = || async { ports.reserved_concurrency(function).await.expect("Get") };
    assert_eq!(reserved().await, None);
    ports
        .set_reserved_concurrency(function, 3)
        .await
        .expect("PutFunctionConcurrency");
    assert_eq!(reserved().await, Some(3));

    let missing = ports
        .reserved_concurrency(&unique_name("adapt-missing"))
        .await
        .expect_err("no such function");
    assert_eq!(missing.aws_fault(), Some(AwsFault::NotFound), "{missing}");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn the_alarm_and_queue_adapters_read_metric_and_composite_alarms_and_queue_depth() {
    let aws = LocalAws::connect().await.expect("LocalStack");
    let metric = unique_name("adapt-metric");
    put_alarm(&aws, &metric, AlarmSource::Manual, Watched::default(), None)
        .await
        .expect("PutMetricAlarm");
    let composite = unique_name("adapt-composite");
    aws.cloudwatch
        .put_composite_alarm()
        .alarm_name(&composite)
        .alarm_rule(format!(
            "ALARM(\"arn:aws:cloudwatch:{}:{}:alarm:{metric}\")",
            floodgate_tests::REGION,
            floodgate_tests::ACCOUNT
        ))
        .send()
        .await
        .expect("PutCompositeAlarm");
    aws.cloudwatch
        .set_alarm_state()
        .alarm_name(&metric)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("adapter test")
        .send()
        .await
        .expect("SetAlarmState");
    let ports = ports().await;

    let names = vec![
        metric.clone(),
        composite.clone(),
        unique_name("adapt-missing"),
    ];
    let described = ports.describe_alarms(&names).await.expect("DescribeAlarms");
    let by_name: BTreeMap<&str, AlarmState> = described
        .iter()
        .map(|d| (d.name.as_str(), d.state))
        .collect();
    assert_eq!(
        by_name.len(),
        2,
        "the missing alarm is absent: {described:?}"
    );
    assert_eq!(by_name.get(metric.as_str()), Some(&AlarmState::Alarm));
    assert!(
        by_name.contains_key(composite.as_str()),
        "composite alarms are asked for too: {described:?}"
    );
    let metric_since = described
        .iter()
        .find(|d| d.name == metric)
        .expect("metric")
        .since;
    let age = chrono::Utc::now() - metric_since;
    assert!(
        age >= chrono::TimeDelta::zero() && age < chrono::TimeDelta::seconds(30),
        "the state's time is when SetAlarmState moved it: {metric_since}"
    );

    let detection = |name: &str| {
        described
            .iter()
            .find(|d| d.name == name)
            .and_then(|d| d.detection)
    };
    assert!(
        detection(&metric).is_some(),
        "a metric alarm's detection latency is read from its period and datapoints"
    );
    assert_eq!(
        detection(&composite),
        None,
        "composite alarms name no period"
    );

    let queue = aws
        .create_queue(&unique_name("adapt-depth"), &[])
        .await
        .expect("queue");
    let bodies: Vec<String> = (0..3).map(|i| format!("m{i}")).collect();
    aws.send_bodies(&queue, &bodies).await.expect("send");
    let depth = ports
        .queue_depth(&queue.url)
        .await
        .expect("GetQueueAttributes");
    assert_eq!((depth.visible, depth.in_flight), (3, 0));

    let gone = ports
        .queue_depth(&format!("{}-gone", queue.url))
        .await
        .expect_err("no such queue");
    assert_eq!(gone.aws_fault(), Some(AwsFault::NotFound), "{gone}");
}

/// Invocations and errors over the whole window, the opening minute included.
fn total(traffic: ProbeTraffic) -> (u64, u64) {
    (
        traffic.opening.invocations + traffic.after.invocations,
        traffic.opening.errors + traffic.after.errors,
    )
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn the_probe_outcome_adapter_reads_a_functions_invocations_and_errors() {
    let aws = LocalAws::connect().await.expect("LocalStack");
    let consumer = aws
        .deploy_probe("adapt-outcome", |f| f)
        .await
        .expect("consumer");
    let ports = ports().await;
    let from = chrono::Utc::now() - chrono::TimeDelta::minutes(1);
    let none = ports
        .function_outcome(&consumer.name, from, chrono::Utc::now())
        .await
        .expect("GetMetricData");
    assert_eq!(total(none), (0, 0), "no traffic yet");
    for event in [
        serde_json::json!({"echo": 1}),
        serde_json::json!({"echo": 2}),
        serde_json::json!({"fail": "on purpose"}),
    ] {
        // The failing one answers with a function error, which is the point.
        let _ = aws.invoke_json(&consumer.name, &event).await;
    }
    let outcome = wait_for(
        "the probe's invocations in GetMetricData",
        Duration::from_secs(30),
        || async {
            let outcome = ports
                .function_outcome(&consumer.name, from, chrono::Utc::now())
                .await
                .map_err(|e| HarnessError::Aws {
                    call: "GetMetricData",
                    cause: e.to_string(),
                })?;
            let (invocations, errors) = total(outcome);
            Ok::<_, HarnessError>(if invocations >= 3 && errors >= 1 {
                Check::Done(outcome)
            } else {
                Check::NotYet(format!("{outcome:?}"))
            })
        },
    )
    .await
    .expect("Lambda publishes Invocations");
    assert_eq!(total(outcome), (3, 1));
    // A window that begins on a whole minute has no opening minute.
    let whole = from
        .duration_trunc(chrono::TimeDelta::minutes(1))
        .expect("a minute");
    let aligned = ports
        .function_outcome(&consumer.name, whole, chrono::Utc::now())
        .await
        .expect("GetMetricData");
    assert_eq!(aligned.opening, ProbeOutcome::default(), "{aligned:?}");
    assert_eq!(total(aligned), (3, 1));
}
