//! The payload CloudWatch sends when it invokes a Lambda function as an alarm action
//! ("Invoke a Lambda function from an alarm" in the CloudWatch user guide). LocalStack sends
//! the same outline, with dimensions as a list and `…Z` timestamps.

use serde::Deserialize;
use serde_json::Value;

use super::common::{self, AlarmDataRaw, typed};
use crate::arn::AlarmArn;
use crate::error::AlarmError;
use crate::signal::{AlarmSignal, Delivery, expect_same};

/// The only `source` CloudWatch alarm actions carry.
const SOURCE: &str = "aws.cloudwatch";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaActionRaw {
    source: String,
    alarm_arn: String,
    account_id: String,
    time: String,
    region: String,
    alarm_data: AlarmDataRaw,
}

pub(super) fn parse(value: &Value) -> Result<AlarmSignal, AlarmError> {
    let raw: LambdaActionRaw = typed(value, "")?;
    if raw.source != SOURCE {
        return Err(AlarmError::malformed("source", "is not aws.cloudwatch"));
    }
    let arn = AlarmArn::parse_field(&raw.alarm_arn, "alarmArn")?;
    common::account(&raw.account_id, "accountId", &arn)?;
    expect_same("region", &raw.region, arn.region())?;
    common::timestamp(&raw.time, "time")?;
    raw.alarm_data
        .into_signal(&arn, "alarmData", Delivery::LambdaAction)
}
