//! Every delivery shape, from real-shaped fixtures, checked field by field.

mod common;

use alarms::{AlarmSignal, AlarmState, AlarmType, Delivery, MetricIdentity};
use common::{FIXTURES, at, computed, fetched, fixture_bytes, fixture_value, parse_fixture};

const ACCOUNT: &str = "123456789012";
const LOCALSTACK_ACCOUNT: &str = "000000000000";

/// The error-rate alarm's metric math, as both its Lambda action and its SNS notification
/// describe it.
fn error_rate_metrics() -> Vec<MetricIdentity> {
    let lambda_sum = |id: &str, name: &str| {
        fetched(
            Some(id),
            "AWS/Lambda",
            name,
            &[("FunctionName", "orders-consumer")],
            "Sum",
            300,
        )
    };
    vec![
        computed("e1", "100 * errors / MAX([errors, invocations])"),
        lambda_sum("errors", "Errors"),
        lambda_sum("invocations", "Invocations"),
    ]
}

#[test]
fn parses_the_lambda_action_of_a_metric_alarm() {
    assert_eq!(
        parse_fixture("lambda-metric.json"),
        AlarmSignal {
            alarm_name: "floodgate-orders-depth".into(),
            alarm_arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:floodgate-orders-depth"
                .into(),
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
            state: AlarmState::Alarm,
            previous_state: Some(AlarmState::Ok),
            state_timestamp: at("2026-11-21T12:00:05.123Z"),
            alarm_type: AlarmType::Metric,
            metrics: vec![fetched(
                Some("3b9d2c1e-5a4f-4e0b-9c7d-2f1e8a6b4c3d"),
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                &[("QueueName", "orders")],
                "Maximum",
                60,
            )],
            delivery: Delivery::LambdaAction,
        }
    );
}

#[test]
fn parses_the_lambda_action_of_a_composite_alarm_without_metrics() {
    assert_eq!(
        parse_fixture("lambda-composite.json"),
        AlarmSignal {
            alarm_name: "floodgate-orders-trip".into(),
            alarm_arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:floodgate-orders-trip"
                .into(),
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
            state: AlarmState::Alarm,
            previous_state: Some(AlarmState::Ok),
            state_timestamp: at("2026-11-21T12:01:10.450Z"),
            alarm_type: AlarmType::Composite,
            metrics: vec![],
            delivery: Delivery::LambdaAction,
        }
    );
}

#[test]
fn parses_metric_math_entries_that_have_an_expression_and_no_metric_stat() {
    assert_eq!(
        parse_fixture("lambda-metric-math.json"),
        AlarmSignal {
            alarm_name: "floodgate-orders-error-rate".into(),
            alarm_arn:
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:floodgate-orders-error-rate".into(),
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
            state: AlarmState::Ok,
            previous_state: Some(AlarmState::Alarm),
            state_timestamp: at("2026-11-21T12:05:00.617Z"),
            alarm_type: AlarmType::Metric,
            metrics: error_rate_metrics(),
            delivery: Delivery::LambdaAction,
        }
    );
}

#[test]
fn parses_a_one_day_period_and_insufficient_data() {
    assert_eq!(
        parse_fixture("lambda-long-period.json"),
        AlarmSignal {
            alarm_name: "floodgate-orders-dlq-daily".into(),
            alarm_arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:floodgate-orders-dlq-daily"
                .into(),
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
            state: AlarmState::InsufficientData,
            previous_state: Some(AlarmState::Ok),
            state_timestamp: at("2026-11-21T00:10:02.001Z"),
            alarm_type: AlarmType::Metric,
            metrics: vec![fetched(
                Some("9f0e6d2a-13c4-4b7e-8a55-0d6c1f2b3e4a"),
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                &[("QueueName", "orders-dlq")],
                "Maximum",
                86_400,
            )],
            delivery: Delivery::LambdaAction,
        }
    );
}

#[test]
fn parses_localstacks_lambda_action_with_dimensions_as_a_list() {
    assert_eq!(
        parse_fixture("localstack-lambda-list-dimensions.json"),
        AlarmSignal {
            alarm_name: "floodgate-orders-errors".into(),
            alarm_arn: "arn:aws:cloudwatch:us-east-1:000000000000:alarm:floodgate-orders-errors"
                .into(),
            account: LOCALSTACK_ACCOUNT.into(),
            region: "us-east-1".into(),
            state: AlarmState::Alarm,
            previous_state: Some(AlarmState::InsufficientData),
            state_timestamp: at("2026-11-21T12:00:10.512Z"),
            alarm_type: AlarmType::Metric,
            metrics: vec![fetched(
                Some("0c4e5f0a-7d8b-4c2e-9f1a-6b3d5e7f9a1c"),
                "AWS/Lambda",
                "Errors",
                &[("FunctionName", "orders-consumer")],
                "Sum",
                10,
            )],
            delivery: Delivery::LambdaAction,
        }
    );
}

#[test]
fn parses_localstacks_pascal_case_metric_math_queries() {
    assert_eq!(
        parse_fixture("localstack-lambda-metric-math.json"),
        AlarmSignal {
            alarm_name: "floodgate-orders-backlog".into(),
            alarm_arn: "arn:aws:cloudwatch:us-east-1:000000000000:alarm:floodgate-orders-backlog"
                .into(),
            account: LOCALSTACK_ACCOUNT.into(),
            region: "us-east-1".into(),
            state: AlarmState::Alarm,
            previous_state: Some(AlarmState::Ok),
            state_timestamp: at("2026-11-21T12:03:20.004Z"),
            alarm_type: AlarmType::Metric,
            metrics: vec![
                computed("e1", "visible + inflight"),
                fetched(
                    Some("visible"),
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    &[("QueueName", "orders")],
                    "Maximum",
                    60,
                ),
                fetched(
                    Some("inflight"),
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesNotVisible",
                    &[("QueueName", "orders")],
                    "Maximum",
                    60,
                ),
            ],
            delivery: Delivery::LambdaAction,
        }
    );
}

#[test]
fn parses_an_sns_metric_notification_taking_the_region_from_the_arn() {
    assert_eq!(
        parse_fixture("sns-metric.json"),
        AlarmSignal {
            alarm_name: "floodgate-orders-throttles".into(),
            alarm_arn: "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:floodgate-orders-throttles"
                .into(),
            account: ACCOUNT.into(),
            region: "eu-west-1".into(),
            state: AlarmState::Alarm,
            previous_state: Some(AlarmState::Ok),
            state_timestamp: at("2026-11-21T12:02:31.118Z"),
            alarm_type: AlarmType::Metric,
            metrics: vec![fetched(
                None,
                "AWS/Lambda",
                "Throttles",
                &[("FunctionName", "orders-consumer")],
                "Sum",
                60,
            )],
            delivery: Delivery::Sns,
        }
    );
}

#[test]
fn parses_an_sns_composite_notification() {
    assert_eq!(
        parse_fixture("sns-composite.json"),
        AlarmSignal {
            alarm_name: "floodgate-orders-trip".into(),
            alarm_arn: "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:floodgate-orders-trip"
                .into(),
            account: ACCOUNT.into(),
            region: "eu-west-1".into(),
            state: AlarmState::Ok,
            previous_state: Some(AlarmState::Alarm),
            state_timestamp: at("2026-11-21T12:20:00.310Z"),
            alarm_type: AlarmType::Composite,
            metrics: vec![],
            delivery: Delivery::Sns,
        }
    );
}

#[test]
fn parses_an_sns_metric_math_notification_from_its_trigger_metrics() {
    // The same alarm as the Lambda-action fixture, at an earlier transition.
    assert_eq!(
        parse_fixture("sns-metric-math.json"),
        AlarmSignal {
            state: AlarmState::Alarm,
            previous_state: Some(AlarmState::InsufficientData),
            state_timestamp: at("2026-11-21T11:50:01.004Z"),
            delivery: Delivery::Sns,
            ..parse_fixture("lambda-metric-math.json")
        }
    );
    assert_eq!(
        parse_fixture("sns-metric-math.json").metrics,
        error_rate_metrics()
    );
}

#[test]
fn parses_localstacks_sns_notification_with_its_mangled_region_name() {
    assert_eq!(
        parse_fixture("localstack-sns-metric.json"),
        AlarmSignal {
            alarm_name: "floodgate-orders-depth".into(),
            alarm_arn: "arn:aws:cloudwatch:us-east-1:000000000000:alarm:floodgate-orders-depth"
                .into(),
            account: LOCALSTACK_ACCOUNT.into(),
            region: "us-east-1".into(),
            state: AlarmState::Alarm,
            previous_state: Some(AlarmState::InsufficientData),
            state_timestamp: at("2026-11-21T12:00:20.733Z"),
            alarm_type: AlarmType::Metric,
            metrics: vec![fetched(
                None,
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                &[("QueueName", "orders")],
                "Maximum",
                10,
            )],
            delivery: Delivery::Sns,
        }
    );
}

#[test]
fn parses_an_eventbridge_metric_state_change() {
    assert_eq!(
        parse_fixture("eventbridge-metric.json"),
        AlarmSignal {
            alarm_name: "floodgate-orders-age".into(),
            alarm_arn: "arn:aws:cloudwatch:us-west-2:123456789012:alarm:floodgate-orders-age"
                .into(),
            account: ACCOUNT.into(),
            region: "us-west-2".into(),
            state: AlarmState::Alarm,
            previous_state: Some(AlarmState::Ok),
            state_timestamp: at("2026-11-21T12:04:40.989Z"),
            alarm_type: AlarmType::Metric,
            metrics: vec![fetched(
                Some("30b6c6b2-a864-43a2-4877-c09a1afc3b87"),
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                &[("QueueName", "orders")],
                "Maximum",
                300,
            )],
            delivery: Delivery::EventBridge,
        }
    );
}

#[test]
fn parses_an_eventbridge_composite_state_change() {
    assert_eq!(
        parse_fixture("eventbridge-composite.json"),
        AlarmSignal {
            alarm_name: "floodgate-orders-trip".into(),
            alarm_arn: "arn:aws:cloudwatch:us-west-2:123456789012:alarm:floodgate-orders-trip"
                .into(),
            account: ACCOUNT.into(),
            region: "us-west-2".into(),
            state: AlarmState::Alarm,
            previous_state: Some(AlarmState::Ok),
            state_timestamp: at("2026-11-21T12:04:45.394Z"),
            alarm_type: AlarmType::Composite,
            metrics: vec![],
            delivery: Delivery::EventBridge,
        }
    );
}

#[test]
fn every_fixture_round_trips_through_json() {
    for name in FIXTURES {
        let signal = parse_fixture(name);
        let json = serde_json::to_string(&signal).unwrap();
        let back: AlarmSignal = serde_json::from_str(&json).unwrap();
        assert_eq!(back, signal, "{name}");
    }
}

#[test]
fn parsing_bytes_and_parsing_a_decoded_value_agree() {
    for name in FIXTURES {
        assert_eq!(
            alarms::parse_value(&fixture_value(name)).unwrap(),
            alarms::parse_event(&fixture_bytes(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn every_fixture_looks_like_an_alarm() {
    for name in FIXTURES {
        assert!(alarms::looks_like_alarm(&fixture_value(name)), "{name}");
    }
}

#[test]
fn controller_inputs_that_are_not_alarms_do_not_look_like_alarms() {
    let scheduled_tick = serde_json::json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.scheduler",
        "account": "123456789012", "time": "2026-11-21T12:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/floodgate-tick"],
        "detail": "{}"
    });
    let operator_command =
        serde_json::json!({"command": "force-open", "circuit": "orders", "reason": "drill"});
    let sqs_batch = serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]});
    for event in [
        scheduled_tick,
        operator_command,
        sqs_batch,
        serde_json::json!([1, 2]),
    ] {
        assert!(!alarms::looks_like_alarm(&event), "{event}");
    }
}
