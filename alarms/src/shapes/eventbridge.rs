//! The EventBridge event CloudWatch emits on every alarm state change ("Alarm events and
//! EventBridge" in the CloudWatch user guide). Its `detail` has the same body as the Lambda
//! action's `alarmData`.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde_json::Value;

use super::common::{self, AlarmDataRaw, typed};
use crate::arn::AlarmArn;
use crate::error::AlarmError;
use crate::signal::{AlarmSignal, Delivery, expect_same};

/// `detail-type` of alarm state changes. Configuration changes use another detail-type and
/// are not signals.
pub(super) const DETAIL_TYPE: &str = "CloudWatch Alarm State Change";

const SOURCE: &str = "aws.cloudwatch";

pub(super) fn parse(value: &Value) -> Result<AlarmSignal, AlarmError> {
    let event: EventBridgeEvent<Value> = typed(value, "")?;
    if event.detail_type != DETAIL_TYPE {
        return Err(AlarmError::malformed(
            "detail-type",
            "is not CloudWatch Alarm State Change",
        ));
    }
    if event.source != SOURCE {
        return Err(AlarmError::malformed("source", "is not aws.cloudwatch"));
    }
    let arn = match event.resources.as_deref() {
        Some([only]) => AlarmArn::parse_field(only, "resources[0]")?,
        Some(other) => {
            return Err(AlarmError::malformed(
                "resources",
                format!(
                    "lists {} ARNs; an alarm state change lists exactly one",
                    other.len()
                ),
            ));
        }
        None => return Err(AlarmError::malformed("resources", "missing")),
    };
    let Some(account) = event.account.as_deref() else {
        return Err(AlarmError::malformed("account", "missing"));
    };
    common::account(account, "account", &arn)?;
    let Some(region) = event.region.as_deref() else {
        return Err(AlarmError::malformed("region", "missing"));
    };
    expect_same("region", region, arn.region())?;
    let detail: AlarmDataRaw = typed(&event.detail, "detail")?;
    detail.into_signal(&arn, "detail", Delivery::EventBridge)
}
