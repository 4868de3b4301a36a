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

/// Largest event [`parse_event`] will look at. Lambda's asynchronous invoke payload limit is
/// 256 KiB, and a real alarm delivery is a few KiB, so anything bigger is not from CloudWatch;
/// it is refused before any parsing work is spent on it.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Parses one raw Lambda event into an [`AlarmSignal`], detecting the delivery shape.
///
/// # Errors
/// [`AlarmError::TooLarge`] above [`MAX_EVENT_BYTES`] (checked first),
/// [`AlarmError::NotJson`], and everything [`parse_value`] returns.
pub fn parse_event(bytes: &[u8]) -> Result<AlarmSignal, AlarmError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(AlarmError::TooLarge {
            size: bytes.len(),
            limit: MAX_EVENT_BYTES,
        });
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|err| AlarmError::NotJson {
        // serde_json's syntax errors say where, never what, so they are safe to keep.
        reason: err.to_string(),
    })?;
    parse_value(&value)
}

/// Parses an already-decoded event (e.g. the `serde_json::Value` that `lambda_runtime` hands
/// over) into an [`AlarmSignal`]. The size cap is not applied here: the caller decoded it.
///
/// # Errors
/// [`AlarmError::UnknownShape`] if it is not an alarm delivery at all;
/// [`AlarmError::RecordCount`] for an SNS event without exactly one record; otherwise the
/// variant naming the first field that is missing, malformed or inconsistent.
pub fn parse_value(value: &Value) -> Result<AlarmSignal, AlarmError> {
    parse(value)
}

/// Cheap shape sniff for routing: `true` when `value` has the outline of a CloudWatch alarm
/// delivery (a Lambda alarm action, an SNS event, or an EventBridge "CloudWatch Alarm State
/// Change"). It reads a few top-level keys and never parses nested strings, so `true` does
/// not promise that [`parse_value`] succeeds; `false` does promise it returns
/// [`AlarmError::UnknownShape`].
pub fn looks_like_alarm(value: &Value) -> bool {
    detect(value).is_ok()
}
