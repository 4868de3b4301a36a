//! A CloudWatch metric alarm with a function as its alarm action: the function receives the
//! state change, and `alarms::parse_value` turns LocalStack's payload into the signal we expect.

use std::collections::BTreeMap;
use std::time::Duration;

use alarms::{AlarmState, AlarmType, Delivery};
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StateValue, Statistic};
use chrono::{TimeDelta, Utc};
use floodgate_tests::{ACCOUNT, LedgerEntry, LocalAws, Probes as _, REGION, unique_name};

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn an_alarm_action_delivers_the_state_change_to_the_function_as_a_parsed_signal() {
    let aws = LocalAws::connect().await.expect("LocalStack");
    let (probe, ledger) = aws
        .deploy_probe_with_ledger("alarm-probe", |spec| spec)
        .await
        .expect("deploy probe");
    let alarm_name = unique_name("alarm-errors");
    let alarm_arn = format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm_name}");
    // What the infra module grants in AWS; LocalStack does not enforce it, but the test sets
    // up what production needs.
    aws.lambda
        .add_permission()
        .function_name(&probe.name)
        .statement_id("cloudwatch-alarm")
        .action("lambda:InvokeFunction")
        .principal("lambda.alarms.cloudwatch.amazonaws.com")
        .source_arn(&alarm_arn)
        .send()
        .await
        .expect("AddPermission");
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm_name)
        .namespace("Floodgate/Tests")
        .metric_name("Errors")
        .dimensions(
            Dimension::builder()
                .name("FunctionName")
                .value(&probe.name)
                .build(),
        )
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .alarm_actions(&probe.arn)
        .send()
        .await
        .expect("PutMetricAlarm");

    let before = Utc::now();
    aws.cloudwatch
        .set_alarm_state()
        .alarm_name(&alarm_name)
        .state_value(StateValue::Alarm)
        .state_reason("floodgate integration test")
        .send()
        .await
        .expect("SetAlarmState");
    let entries = aws
        .read_ledger(&ledger, 1, Duration::from_secs(30))
        .await
        .expect("the alarm action should reach the function");
    let after = Utc::now();

    let [LedgerEntry::Alarm { signal }] = entries.as_slice() else {
        panic!("expected exactly one alarm delivery, got {entries:?}");
    };
    assert_eq!(signal.alarm_name, alarm_name);
    assert_eq!(signal.alarm_arn, alarm_arn);
    assert_eq!(signal.account, ACCOUNT);
    assert_eq!(signal.region, REGION);
    assert_eq!(signal.state, AlarmState::Alarm);
    // A new alarm without data starts in INSUFFICIENT_DATA, and SetAlarmState left that.
    assert_eq!(signal.previous_state, Some(AlarmState::InsufficientData));
    assert_eq!(signal.alarm_type, AlarmType::Metric);
    assert_eq!(signal.delivery, Delivery::LambdaAction);
    let slack = TimeDelta::seconds(2);
    assert!(
        before - slack <= signal.state_timestamp && signal.state_timestamp <= after + slack,
        "state timestamp {} is not between {before} and {after}",
        signal.state_timestamp
    );
    let [metric] = signal.metrics.as_slice() else {
        panic!("expected one metric, got {:?}", signal.metrics);
    };
    assert_eq!(metric.namespace.as_deref(), Some("Floodgate/Tests"));
    assert_eq!(metric.metric_name.as_deref(), Some("Errors"));
    assert_eq!(
        metric.dimensions,
        BTreeMap::from([("FunctionName".to_owned(), probe.name.clone())])
    );
    assert_eq!(metric.period_seconds, Some(60));
}
