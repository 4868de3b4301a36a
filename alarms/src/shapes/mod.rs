//! The three ways a CloudWatch alarm reaches a Lambda function, and how to tell them apart.
//!
//! | shape | outline | module |
//! | --- | --- | --- |
//! | alarm action | `{"source": "aws.cloudwatch", "alarmArn", "alarmData": {…}}` | [`lambda_action`] |
//! | SNS | `{"Records": [{"Sns": {"Message": "<notification JSON>"}}]}` | [`sns`] |
//! | EventBridge | `{"detail-type": "CloudWatch Alarm State Change", "detail": {…}}` | [`eventbridge`] |

use serde_json::Value;

use crate::error::AlarmError;
use crate::signal::AlarmSignal;

mod common;
mod eventbridge;
mod lambda_action;
mod sns;

/// The delivery shape of an event, decided from its top-level keys only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    LambdaAction,
    Sns,
    EventBridge,
}

/// Decides the shape without looking below the top level (plus `EventSource` of records).
pub(crate) fn detect(value: &Value) -> Result<Shape, AlarmError> {
    let unknown = |hint| Err(AlarmError::UnknownShape { hint });
    let Some(object) = value.as_object() else {
        return unknown("not a JSON object");
    };
    if let Some(detail_type) = object.get("detail-type") {
        return if detail_type.as_str() == Some(eventbridge::DETAIL_TYPE) {
            Ok(Shape::EventBridge)
        } else {
            unknown("an EventBridge event of another detail-type")
        };
    }
    if object.contains_key("alarmData") {
        return Ok(Shape::LambdaAction);
    }
    if let Some(records) = object.get("Records") {
        let Some(records) = records.as_array() else {
            return unknown("Records is not a list");
        };
        // An empty list is reported as an SNS record-count error rather than "unknown":
        // no other Lambda source invokes with zero records either, and the count is the
        // more useful thing to log.
        return if records.is_empty() || records.iter().any(sns::is_sns_record) {
            Ok(Shape::Sns)
        } else {
            unknown("records from an event source other than SNS")
        };
    }
    unknown("no alarmData, detail-type or Records")
}

/// Detects the shape and parses accordingly.
pub(crate) fn parse(value: &Value) -> Result<AlarmSignal, AlarmError> {
    match detect(value)? {
        Shape::LambdaAction => lambda_action::parse(value),
        Shape::Sns => sns::parse(value),
        Shape::EventBridge => eventbridge::parse(value),
    }
}
