//! [`AlarmSignal`]: what the controller learns from one alarm delivery, whatever its shape.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::arn::AlarmArn;
use crate::error::{AlarmError, bounded};

/// State of a CloudWatch alarm. Serialised, parsed and displayed as CloudWatch spells it:
/// `OK`, `ALARM`, `INSUFFICIENT_DATA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlarmState {
    /// `OK`: the metric (or rule) is within its threshold.
    #[serde(rename = "OK")]
    Ok,
    /// `ALARM`: the metric (or rule) breaches its threshold.
    #[serde(rename = "ALARM")]
    Alarm,
    /// `INSUFFICIENT_DATA`: not enough data to decide.
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl AlarmState {
    /// CloudWatch's spelling of the state.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlarmState {
    type Err = AlarmError;

    /// Exact, case-sensitive match: CloudWatch never sends other spellings.
    ///
    /// # Errors
    /// [`AlarmError::InvalidState`] with field `state`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "OK" => Ok(Self::Ok),
            "ALARM" => Ok(Self::Alarm),
            "INSUFFICIENT_DATA" => Ok(Self::InsufficientData),
            _ => Err(AlarmError::InvalidState {
                field: "state".to_owned(),
                value: bounded(text),
            }),
        }
    }
}

/// Whether the alarm watches metrics or combines other alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlarmType {
    /// A metric alarm (one metric, or a metric-math expression over several).
    Metric,
    /// A composite alarm (an `AlarmRule` over other alarms); it has no metrics.
    Composite,
}

/// How the alarm reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Delivery {
    /// CloudWatch invoked the function directly as an alarm action.
    LambdaAction,
    /// CloudWatch published to an SNS topic the function subscribes to.
    Sns,
    /// An EventBridge rule matched "CloudWatch Alarm State Change".
    EventBridge,
}

/// One metric (or metric-math expression) an alarm watches, as far as the payload tells.
/// Every field is optional because each delivery shape omits different ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricIdentity {
    /// Query id (`m1`, `e1`, or a generated UUID for single-metric alarms).
    pub id: Option<String>,
    /// Metric namespace, e.g. `AWS/SQS`.
    pub namespace: Option<String>,
    /// Metric name, e.g. `ApproximateNumberOfMessagesVisible`.
    pub metric_name: Option<String>,
    /// Dimensions by name. AWS sends a map, LocalStack and SNS a list; both end up here.
    pub dimensions: BTreeMap<String, String>,
    /// Statistic in CloudWatch API spelling (`Sum`, `Average`, `SampleCount`, `Minimum`,
    /// `Maximum`, or an extended statistic such as `p99`), whatever case the payload used.
    pub statistic: Option<String>,
    /// Period in seconds (metric-math alarms can use up to a day, 86 400 s).
    pub period_seconds: Option<u32>,
    /// Metric-math expression, for entries that compute rather than fetch.
    pub expression: Option<String>,
}

/// A validated alarm state change, the same whichever way it was delivered.
///
/// Invariants, checked when parsed and again when deserialised: `alarm_arn` is a CloudWatch
/// alarm ARN whose name, account and region equal `alarm_name`, `account` and `region`, and a
/// composite alarm has no metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "UncheckedSignal")]
pub struct AlarmSignal {
    /// Alarm name.
    pub alarm_name: String,
    /// Alarm ARN.
    pub alarm_arn: String,
    /// 12-digit account id that owns the alarm.
    pub account: String,
    /// Region code of the alarm (taken from the ARN; SNS only gives a display name).
    pub region: String,
    /// State the alarm moved to.
    pub state: AlarmState,
    /// State it left, when the payload says.
    pub previous_state: Option<AlarmState>,
    /// When the alarm entered `state`.
    pub state_timestamp: DateTime<Utc>,
    /// Metric or composite alarm.
    pub alarm_type: AlarmType,
    /// Watched metrics; empty for composite alarms.
    pub metrics: Vec<MetricIdentity>,
    /// How the signal was delivered.
    pub delivery: Delivery,
}

/// Deserialisation target that is only turned into an [`AlarmSignal`] after the invariants
/// hold, so a stored or forwarded signal cannot smuggle in an inconsistent one.
#[derive(Deserialize)]
struct UncheckedSignal {
    alarm_name: String,
    alarm_arn: String,
    account: String,
    region: String,
    state: AlarmState,
    previous_state: Option<AlarmState>,
    state_timestamp: DateTime<Utc>,
    alarm_type: AlarmType,
    metrics: Vec<MetricIdentity>,
    delivery: Delivery,
}

impl TryFrom<UncheckedSignal> for AlarmSignal {
    type Error = AlarmError;

    fn try_from(raw: UncheckedSignal) -> Result<Self, Self::Error> {
        let arn = AlarmArn::parse_field(&raw.alarm_arn, "alarm_arn")?;
        expect_same("alarm_name", &raw.alarm_name, arn.name())?;
        expect_same("account", &raw.account, arn.account())?;
        expect_same("region", &raw.region, arn.region())?;
        if raw.alarm_type == AlarmType::Composite && !raw.metrics.is_empty() {
            return Err(AlarmError::malformed(
                "metrics",
                "a composite alarm has no metrics",
            ));
        }
        Ok(Self {
            alarm_name: raw.alarm_name,
            alarm_arn: raw.alarm_arn,
            account: raw.account,
            region: raw.region,
            state: raw.state,
            previous_state: raw.previous_state,
            state_timestamp: raw.state_timestamp,
            alarm_type: raw.alarm_type,
            metrics: raw.metrics,
            delivery: raw.delivery,
        })
    }
}

/// `Inconsistent` unless `found` equals what the ARN says.
pub(crate) fn expect_same(field: &str, found: &str, from_arn: &str) -> Result<(), AlarmError> {
    if found == from_arn {
        Ok(())
    } else {
        Err(AlarmError::Inconsistent {
            field: field.to_owned(),
            expected: bounded(from_arn),
            found: bounded(found),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_text_in_cloudwatch_spelling() {
        for state in [
            AlarmState::Ok,
            AlarmState::Alarm,
            AlarmState::InsufficientData,
        ] {
            assert_eq!(state.to_string().parse::<AlarmState>().unwrap(), state);
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
        }
    }

    #[test]
    fn state_text_is_case_sensitive() {
        assert!(matches!(
            "ok".parse::<AlarmState>(),
            Err(AlarmError::InvalidState { .. })
        ));
    }
}
