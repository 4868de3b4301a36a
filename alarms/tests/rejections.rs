//! One test per way an event is refused, each checking the exact variant and field.

mod common;

use alarms::{AlarmError, AlarmSignal, MAX_EVENT_BYTES};
use common::{fixture_bytes, parse_fixture, parse_mutated, parse_with_sns_message, remove, set};
use serde_json::json;

fn malformed(field: &str, reason: &str) -> AlarmError {
    AlarmError::Malformed {
        field: field.into(),
        reason: reason.into(),
    }
}

fn field_of(result: Result<AlarmSignal, AlarmError>) -> (String, AlarmError) {
    let err = result.expect_err("should be rejected");
    (err.field().unwrap_or_default().to_owned(), err)
}

#[test]
fn refuses_an_event_over_the_size_limit_before_parsing_it() {
    // Not even JSON: the size check must come first.
    let huge = vec![b'x'; MAX_EVENT_BYTES + 1];
    assert_eq!(
        alarms::parse_event(&huge),
        Err(AlarmError::TooLarge {
            size: MAX_EVENT_BYTES + 1,
            limit: MAX_EVENT_BYTES
        })
    );
}

#[test]
fn accepts_an_event_of_exactly_the_size_limit() {
    let mut bytes = fixture_bytes("lambda-metric.json");
    bytes.resize(MAX_EVENT_BYTES, b' ');
    assert_eq!(
        alarms::parse_event(&bytes).unwrap(),
        parse_fixture("lambda-metric.json")
    );
}

#[test]
fn refuses_bytes_that_are_not_json() {
    let err = alarms::parse_event(b"ALARM: orders are on fire").unwrap_err();
    let AlarmError::NotJson { reason } = &err else {
        panic!("expected NotJson, got {err:?}");
    };
    assert!(reason.contains("line 1"), "{reason}");
}

#[test]
fn refuses_json_that_is_not_any_alarm_shape() {
    let cases = [
        json!({"command": "status"}),
        json!([{"alarmData": {}}]),
        json!("ALARM"),
        json!({"detail-type": "CloudWatch Alarm Configuration Change", "source": "aws.cloudwatch"}),
        json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}),
        json!({"Records": "not a list"}),
    ];
    for event in cases {
        assert!(
            matches!(
                alarms::parse_value(&event),
                Err(AlarmError::UnknownShape { .. })
            ),
            "{event}"
        );
    }
}

#[test]
fn refuses_an_sns_notification_that_is_not_from_cloudwatch() {
    let result = parse_mutated("sns-metric.json", |event| {
        set(
            event,
            "/Records/0/Sns/Message",
            json!(r#"{"Records":[{"eventSource":"aws:s3"}]}"#),
        );
    });
    assert!(matches!(result, Err(AlarmError::UnknownShape { .. })));
}

#[test]
fn refuses_an_sns_event_with_no_records() {
    let result = parse_mutated("sns-metric.json", |event| set(event, "/Records", json!([])));
    assert_eq!(result, Err(AlarmError::RecordCount { found: 0 }));
}

#[test]
fn refuses_an_sns_event_with_two_records_even_if_both_are_valid() {
    let result = parse_mutated("sns-metric.json", |event| {
        let record = event["Records"][0].clone();
        event["Records"].as_array_mut().unwrap().push(record);
    });
    assert_eq!(result, Err(AlarmError::RecordCount { found: 2 }));
}

#[test]
fn names_the_missing_field_of_a_lambda_action() {
    for (pointer, field) in [
        ("/alarmData/state/value", "alarmData.state.value"),
        ("/alarmData/state/timestamp", "alarmData.state.timestamp"),
        ("/alarmData/alarmName", "alarmData.alarmName"),
        ("/alarmData/configuration", "alarmData.configuration"),
        ("/accountId", "accountId"),
        ("/alarmArn", "alarmArn"),
        ("/time", "time"),
    ] {
        let result = parse_mutated("lambda-metric.json", |event| remove(event, pointer));
        assert_eq!(result, Err(malformed(field, "missing")), "{pointer}");
    }
}

#[test]
fn names_the_missing_field_of_an_sns_notification() {
    let result = parse_with_sns_message("sns-metric.json", |message| {
        remove(message, "/NewStateValue");
    });
    assert_eq!(
        result,
        Err(malformed("Records[0].Sns.Message.NewStateValue", "missing"))
    );
}

#[test]
fn names_the_missing_field_of_the_sns_envelope() {
    let result = parse_mutated("sns-metric.json", |event| {
        remove(event, "/Records/0/Sns/Message");
    });
    assert_eq!(result, Err(malformed("Records[0].Sns.Message", "missing")));
}

#[test]
fn names_the_missing_field_of_an_eventbridge_event() {
    for (pointer, field) in [
        ("/detail/alarmName", "detail.alarmName"),
        ("/detail/state", "detail.state"),
        ("/account", "account"),
        ("/region", "region"),
        ("/resources", "resources"),
    ] {
        let result = parse_mutated("eventbridge-metric.json", |event| remove(event, pointer));
        assert_eq!(result, Err(malformed(field, "missing")), "{pointer}");
    }
}

#[test]
fn refuses_a_field_of_the_wrong_type_without_echoing_it() {
    let result = parse_mutated("lambda-metric.json", |event| {
        set(
            event,
            "/alarmData/configuration/metrics/0/metricStat/period",
            json!("sixty seconds of secret"),
        );
    });
    let (field, err) = field_of(result);
    assert_eq!(
        field,
        "alarmData.configuration.metrics[0].metricStat.period"
    );
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[test]
fn refuses_a_state_cloudwatch_never_sends() {
    let result = parse_mutated("lambda-metric.json", |event| {
        set(event, "/alarmData/state/value", json!("PANIC"));
    });
    assert_eq!(
        result,
        Err(AlarmError::InvalidState {
            field: "alarmData.state.value".into(),
            value: "\"PANIC\"".into()
        })
    );
    let lower = parse_with_sns_message("sns-metric.json", |message| {
        set(message, "/NewStateValue", json!("alarm"));
    });
    assert!(matches!(
        lower,
        Err(AlarmError::InvalidState { field, .. }) if field == "Records[0].Sns.Message.NewStateValue"
    ));
    let previous = parse_mutated("eventbridge-metric.json", |event| {
        set(event, "/detail/previousState/value", json!("UNKNOWN"));
    });
    assert!(matches!(
        previous,
        Err(AlarmError::InvalidState { field, .. }) if field == "detail.previousState.value"
    ));
}

#[test]
fn refuses_a_timestamp_cloudwatch_never_sends() {
    let result = parse_mutated("lambda-metric.json", |event| {
        set(
            event,
            "/alarmData/state/timestamp",
            json!("21/11/26 12:00:05"),
        );
    });
    assert!(matches!(
        result,
        Err(AlarmError::InvalidTimestamp { field, .. }) if field == "alarmData.state.timestamp"
    ));
    let spaced = parse_with_sns_message("sns-metric.json", |message| {
        set(
            message,
            "/StateChangeTime",
            json!("2026-11-21T12: 02: 31.118+0000"),
        );
    });
    assert!(matches!(
        spaced,
        Err(AlarmError::InvalidTimestamp { field, .. }) if field == "Records[0].Sns.Message.StateChangeTime"
    ));
}

#[test]
fn refuses_an_envelope_account_that_differs_from_the_arn() {
    let lambda = parse_mutated("lambda-metric.json", |event| {
        set(event, "/accountId", json!("210987654321"));
    });
    assert_eq!(
        lambda,
        Err(AlarmError::Inconsistent {
            field: "accountId".into(),
            expected: "\"123456789012\"".into(),
            found: "\"210987654321\"".into(),
        })
    );
    let eventbridge = parse_mutated("eventbridge-metric.json", |event| {
        set(event, "/account", json!("210987654321"));
    });
    assert!(
        matches!(eventbridge, Err(AlarmError::Inconsistent { field, .. }) if field == "account")
    );
    let sns = parse_with_sns_message("sns-metric.json", |message| {
        set(message, "/AWSAccountId", json!("210987654321"));
    });
    assert!(matches!(
        sns,
        Err(AlarmError::Inconsistent { field, .. }) if field == "Records[0].Sns.Message.AWSAccountId"
    ));
}

#[test]
fn refuses_an_account_that_is_not_twelve_digits() {
    let result = parse_mutated("lambda-metric.json", |event| {
        set(event, "/accountId", json!("12345"));
    });
    assert_eq!(
        result,
        Err(malformed("accountId", "not a 12-digit account id"))
    );
}

#[test]
fn refuses_an_envelope_region_that_differs_from_the_arn() {
    let lambda = parse_mutated("lambda-metric.json", |event| {
        set(event, "/region", json!("eu-west-1"));
    });
    assert!(matches!(lambda, Err(AlarmError::Inconsistent { field, .. }) if field == "region"));
    let eventbridge = parse_mutated("eventbridge-metric.json", |event| {
        set(event, "/region", json!("us-east-1"));
    });
    assert!(
        matches!(eventbridge, Err(AlarmError::Inconsistent { field, .. }) if field == "region")
    );
}

#[test]
fn refuses_an_sns_region_display_name_for_another_region() {
    let result = parse_with_sns_message("sns-metric.json", |message| {
        set(message, "/Region", json!("US West (Oregon)"));
    });
    assert!(matches!(
        result,
        Err(AlarmError::Inconsistent { field, .. }) if field == "Records[0].Sns.Message.Region"
    ));
}

#[test]
fn trusts_the_arn_when_the_sns_region_name_is_unknown() {
    let signal = parse_with_sns_message("sns-metric.json", |message| {
        set(message, "/Region", json!("Europe (Somewhere New)"));
    })
    .unwrap();
    assert_eq!(signal.region, "eu-west-1");
}

#[test]
fn refuses_an_alarm_name_that_differs_from_the_arn() {
    let result = parse_mutated("eventbridge-composite.json", |event| {
        set(event, "/detail/alarmName", json!("someone-elses-alarm"));
    });
    assert!(matches!(
        result,
        Err(AlarmError::Inconsistent { field, .. }) if field == "detail.alarmName"
    ));
}

#[test]
fn refuses_an_arn_that_is_not_a_cloudwatch_alarm() {
    let result = parse_mutated("lambda-metric.json", |event| {
        set(
            event,
            "/alarmArn",
            json!("arn:aws:lambda:us-east-1:123456789012:function:floodgate-orders-depth"),
        );
    });
    assert_eq!(
        result,
        Err(AlarmError::InvalidArn {
            field: "alarmArn".into(),
            reason: "service is not cloudwatch"
        })
    );
}

#[test]
fn refuses_an_eventbridge_event_naming_two_alarms() {
    let result = parse_mutated("eventbridge-metric.json", |event| {
        let arn = event["resources"][0].clone();
        event["resources"].as_array_mut().unwrap().push(arn);
    });
    assert!(matches!(result, Err(AlarmError::Malformed { field, .. }) if field == "resources"));
}

#[test]
fn refuses_a_source_other_than_cloudwatch() {
    let lambda = parse_mutated("lambda-metric.json", |event| {
        set(event, "/source", json!("custom.forged"));
    });
    assert_eq!(lambda, Err(malformed("source", "is not aws.cloudwatch")));
    let eventbridge = parse_mutated("eventbridge-metric.json", |event| {
        set(event, "/source", json!("custom.forged"));
    });
    assert_eq!(
        eventbridge,
        Err(malformed("source", "is not aws.cloudwatch"))
    );
}

#[test]
fn refuses_an_sns_record_that_is_not_a_notification() {
    let result = parse_mutated("sns-metric.json", |event| {
        set(
            event,
            "/Records/0/Sns/Type",
            json!("SubscriptionConfirmation"),
        );
    });
    assert_eq!(
        result,
        Err(malformed("Records[0].Sns.Type", "is not Notification"))
    );
}

#[test]
fn refuses_an_sns_message_that_is_not_json() {
    let result = parse_mutated("sns-metric.json", |event| {
        set(
            event,
            "/Records/0/Sns/Message",
            json!("ALARM: orders-depth"),
        );
    });
    assert_eq!(
        result,
        Err(malformed("Records[0].Sns.Message", "is not JSON"))
    );
}

#[test]
fn refuses_a_metric_entry_that_neither_fetches_nor_computes() {
    let result = parse_mutated("lambda-metric-math.json", |event| {
        remove(event, "/alarmData/configuration/metrics/0/expression");
    });
    assert_eq!(
        result,
        Err(malformed(
            "alarmData.configuration.metrics[0]",
            "has neither metricStat nor expression"
        ))
    );
}

#[test]
fn refuses_a_configuration_that_is_neither_metric_nor_composite() {
    let result = parse_mutated("lambda-composite.json", |event| {
        remove(event, "/alarmData/configuration/alarmRule");
    });
    let (field, _) = field_of(result);
    assert_eq!(field, "alarmData.configuration");
}

#[test]
fn refuses_a_configuration_that_is_both_metric_and_composite() {
    let result = parse_mutated("eventbridge-composite.json", |event| {
        event["detail"]["configuration"]["metrics"] = json!([{"id": "e1", "expression": "1"}]);
    });
    let (field, _) = field_of(result);
    assert_eq!(field, "detail.configuration");
}

#[test]
fn refuses_an_empty_composite_rule() {
    let result = parse_with_sns_message("sns-composite.json", |message| {
        set(message, "/AlarmRule", json!("  "));
    });
    assert_eq!(
        result,
        Err(malformed(
            "Records[0].Sns.Message.AlarmRule",
            "empty alarm rule"
        ))
    );
}

#[test]
fn refuses_a_metric_alarm_with_no_metrics() {
    let result = parse_mutated("lambda-metric.json", |event| {
        set(event, "/alarmData/configuration/metrics", json!([]));
    });
    assert_eq!(
        result,
        Err(malformed(
            "alarmData.configuration.metrics",
            "a metric alarm lists no metrics"
        ))
    );
}

#[test]
fn refuses_a_dimension_listed_twice() {
    let result = parse_mutated("localstack-lambda-list-dimensions.json", |event| {
        set(
            event,
            "/alarmData/configuration/metrics/0/metricStat/metric/dimensions",
            json!([
                {"Name": "FunctionName", "Value": "orders-consumer"},
                {"Name": "FunctionName", "Value": "payments-consumer"}
            ]),
        );
    });
    let (field, _) = field_of(result);
    assert_eq!(
        field,
        "alarmData.configuration.metrics[0].metricStat.metric.dimensions"
    );
}

#[test]
fn refuses_dimensions_given_as_non_empty_text() {
    let result = parse_with_sns_message("sns-metric.json", |message| {
        set(
            message,
            "/Trigger/Dimensions",
            json!("FunctionName=orders-consumer"),
        );
    });
    let (field, _) = field_of(result);
    assert_eq!(field, "Records[0].Sns.Message.Trigger.Dimensions");
}

#[test]
fn refuses_a_metric_sns_notification_without_a_trigger() {
    let result = parse_with_sns_message("sns-metric.json", |message| {
        remove(message, "/Trigger");
    });
    let (field, _) = field_of(result);
    assert_eq!(field, "Records[0].Sns.Message");
}

#[test]
fn errors_never_carry_the_payload() {
    let secret = "TOP-SECRET-".repeat(500);
    let cases = [
        ("/alarmData/state/value", json!(secret)),
        ("/alarmData/state/timestamp", json!(secret)),
        ("/alarmData/alarmName", json!(secret)),
        ("/region", json!(secret)),
        (
            "/alarmData/configuration/metrics/0/metricStat/period",
            json!(secret),
        ),
    ];
    for (pointer, new) in cases {
        let err =
            parse_mutated("lambda-metric.json", |event| set(event, pointer, new)).unwrap_err();
        let text = err.to_string();
        assert!(text.len() < 400, "{pointer}: {} chars: {text}", text.len());
        assert!(!text.contains(&secret[..200]), "{pointer}: {text}");
    }
}

#[test]
fn no_rejection_is_retryable() {
    let err = parse_mutated("lambda-metric.json", |event| {
        set(event, "/alarmData/state/value", json!("PANIC"));
    })
    .unwrap_err();
    assert!(!err.is_retryable());
    assert!(!AlarmError::TooLarge { size: 1, limit: 0 }.is_retryable());
}

#[test]
fn deserialising_a_signal_checks_it_against_its_arn() {
    let mut json = serde_json::to_value(parse_fixture("lambda-metric.json")).unwrap();
    json["account"] = json!("210987654321");
    let err = serde_json::from_value::<AlarmSignal>(json).unwrap_err();
    assert!(err.to_string().contains("account"), "{err}");

    let mut composite = serde_json::to_value(parse_fixture("lambda-composite.json")).unwrap();
    composite["metrics"] =
        serde_json::to_value(parse_fixture("lambda-metric.json").metrics).unwrap();
    assert!(serde_json::from_value::<AlarmSignal>(composite).is_err());
}
