//! An alarm notification published to SNS and delivered to Lambda: a Lambda SNS event whose
//! single record's `Sns.Message` is CloudWatch's classic notification JSON (`AlarmName`,
//! `NewStateValue`, `StateChangeTime`, `Trigger`, … or `AlarmRule` for composite alarms).

use aws_lambda_events::event::sns::SnsEvent;
use serde::Deserialize;
use serde_json::Value;

use super::common::{self, DimensionsRaw, MetricEntryRaw, Transition, typed};
use crate::arn::AlarmArn;
use crate::error::{AlarmError, bounded};
use crate::region::region_code;
use crate::signal::{AlarmSignal, Delivery, MetricIdentity, expect_same};

const EVENT_SOURCE: &str = "aws:sns";
const NOTIFICATION: &str = "Notification";
const MESSAGE: &str = "Records[0].Sns.Message";

/// Whether one element of `Records` looks like an SNS record.
pub(super) fn is_sns_record(record: &Value) -> bool {
    record.get("EventSource").and_then(Value::as_str) == Some(EVENT_SOURCE)
        || record.get("Sns").is_some()
}

#[derive(Deserialize)]
struct NotificationRaw {
    #[serde(rename = "AlarmName")]
    alarm_name: String,
    #[serde(rename = "AWSAccountId")]
    account: String,
    #[serde(rename = "NewStateValue")]
    new_state: String,
    #[serde(rename = "OldStateValue")]
    old_state: Option<String>,
    #[serde(rename = "StateChangeTime")]
    state_change_time: String,
    #[serde(rename = "Region")]
    region: String,
    #[serde(rename = "AlarmArn")]
    alarm_arn: String,
    #[serde(rename = "AlarmRule")]
    alarm_rule: Option<String>,
    #[serde(rename = "Trigger")]
    trigger: Option<TriggerRaw>,
}

#[derive(Deserialize)]
struct TriggerRaw {
    #[serde(rename = "MetricName")]
    metric_name: Option<String>,
    #[serde(rename = "Namespace")]
    namespace: Option<String>,
    #[serde(rename = "Statistic")]
    statistic: Option<String>,
    #[serde(rename = "ExtendedStatistic")]
    extended_statistic: Option<String>,
    #[serde(rename = "Dimensions")]
    dimensions: Option<DimensionsRaw>,
    #[serde(rename = "Period")]
    period: Option<u32>,
    #[serde(rename = "Metrics")]
    metrics: Option<Vec<MetricEntryRaw>>,
}

pub(super) fn parse(value: &Value) -> Result<AlarmSignal, AlarmError> {
    // Counted before the typed parse so two perfectly good records still get the clear error.
    let found = value
        .get("Records")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if found != 1 {
        return Err(AlarmError::RecordCount { found });
    }
    let event: SnsEvent = typed(value, "")?;
    let Some(record) = event.records.into_iter().next() else {
        return Err(AlarmError::RecordCount { found: 0 });
    };
    if record.event_source != EVENT_SOURCE {
        return Err(AlarmError::malformed(
            "Records[0].EventSource",
            "is not aws:sns",
        ));
    }
    if record.sns.sns_message_type != NOTIFICATION {
        return Err(AlarmError::malformed(
            "Records[0].Sns.Type",
            "is not Notification",
        ));
    }
    let message: Value = serde_json::from_str(&record.sns.message)
        .map_err(|_| AlarmError::malformed(MESSAGE, "is not JSON"))?;
    let Some(object) = message.as_object() else {
        return Err(AlarmError::malformed(MESSAGE, "is not a JSON object"));
    };
    if !object.contains_key("AlarmArn") && !object.contains_key("AlarmName") {
        return Err(AlarmError::UnknownShape {
            hint: "an SNS notification that is not a CloudWatch alarm",
        });
    }
    let notification: NotificationRaw = typed(&message, MESSAGE)?;
    notification.into_signal()
}

impl NotificationRaw {
    fn into_signal(self) -> Result<AlarmSignal, AlarmError> {
        let field = |name: &str| format!("{MESSAGE}.{name}");
        let arn = AlarmArn::parse_field(&self.alarm_arn, &field("AlarmArn"))?;
        expect_same(&field("AlarmName"), &self.alarm_name, arn.name())?;
        common::account(&self.account, &field("AWSAccountId"), &arn)?;
        // `Region` is a display name; check it only when it can be read as a region.
        if let Some(code) = region_code(&self.region)
            && code != arn.region()
        {
            return Err(AlarmError::Inconsistent {
                field: field("Region"),
                expected: bounded(arn.region()),
                found: bounded(&self.region),
            });
        }
        let transition = Transition::read(
            (&self.new_state, &field("NewStateValue")),
            self.old_state
                .as_deref()
                .map(|old| (old, field("OldStateValue"))),
            (&self.state_change_time, &field("StateChangeTime")),
        )?;
        let kind = common::kind(
            MESSAGE,
            ("AlarmRule", self.alarm_rule),
            ("Trigger", self.trigger),
            TriggerRaw::identities,
        )?;
        Ok(common::signal(
            &arn,
            self.alarm_name,
            transition,
            kind,
            Delivery::Sns,
        ))
    }
}

impl TriggerRaw {
    /// Metric-math alarms list their queries under `Metrics`; single-metric alarms describe
    /// the metric in the trigger itself. LocalStack fills absent single-metric fields with
    /// `""`, which yields no identity rather than an empty one.
    fn identities(self, field: &str) -> Result<Vec<MetricIdentity>, AlarmError> {
        if let Some(entries) = self.metrics {
            return common::identities(entries, &format!("{field}.Metrics"));
        }
        let identity = MetricIdentity {
            id: None,
            namespace: common::non_empty(self.namespace),
            metric_name: common::non_empty(self.metric_name),
            dimensions: common::dimensions(self.dimensions, &format!("{field}.Dimensions"))?,
            statistic: common::statistic(
                common::non_empty(self.statistic).or(self.extended_statistic),
            ),
            period_seconds: self.period.filter(|&period| period > 0),
            expression: None,
        };
        if identity.metric_name.is_none() && identity.namespace.is_none() {
            return Ok(Vec::new());
        }
        Ok(vec![identity])
    }
}
