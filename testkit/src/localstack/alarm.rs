//! The circuit's CloudWatch alarms: what moves them, and the permission that lets them
//! invoke the controller.

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic};
use chrono::{DateTime, Utc};

use breaker::aws::fault::AwsCall;

use super::{HarnessError, LocalAws};

/// The service principal of a CloudWatch alarm's Lambda action.
const ALARM_PRINCIPAL: &str = "lambda.alarms.cloudwatch.amazonaws.com";

/// What moves an alarm of the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmSource {
    /// A metric nobody publishes, with missing data ignored, so only `SetAlarmState` moves it.
    /// A 10 s (high-resolution) period, like the other test alarms: the controller stretches
    /// a probe to what its failure alarms need to see a failure, so a 60 s alarm would make
    /// every fast-timing probe last two minutes.
    Manual,
    /// [`AlarmSource::Manual`] with another period (seconds).
    ManualWithPeriod {
        /// `Period` of the alarm.
        period_secs: i32,
    },
    /// The consumer's `AWS/Lambda` `Errors`: Sum ≥ 1 in a 10 s period, missing data not
    /// breaching (so the alarm returns to OK once the consumer has healed).
    ConsumerErrors,
    /// The source queue's `AWS/SQS` `ApproximateNumberOfMessagesVisible` (LocalStack publishes
    /// it every `SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL`): Maximum ≥ `threshold` in a 10 s
    /// period, missing data not breaching, as the infra modules' depth alarm.
    SourceDepth {
        /// Visible messages that breach.
        threshold: u32,
    },
}

/// One alarm of the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmSpec {
    /// The config's `kind`: `errors`, `throttles`, `depth` or `age`.
    pub kind: &'static str,
    /// What moves it.
    pub source: AlarmSource,
}

impl AlarmSpec {
    /// An alarm of `kind` moved by `SetAlarmState`.
    pub fn manual(kind: &'static str) -> Self {
        Self {
            kind,
            source: AlarmSource::Manual,
        }
    }
}

/// What an alarm's metric can be about: the consumer function and its source queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watched<'a> {
    /// The consumer's name: the `FunctionName` of [`AlarmSource::ConsumerErrors`].
    pub consumer: &'a str,
    /// The source queue's name: the `QueueName` of [`AlarmSource::SourceDepth`].
    pub queue: &'a str,
}

/// Metric alarm `name` as `DescribeAlarms` reports it.
///
/// # Errors
/// [`HarnessError::Aws`] when CloudWatch fails; [`HarnessError::Missing`] when it returns
/// no metric alarm by that name.
pub async fn describe_alarm(aws: &LocalAws, name: &str) -> Result<MetricAlarm, HarnessError> {
    let described = aws
        .cloudwatch
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .call("DescribeAlarms")?;
    described
        .metric_alarms()
        .first()
        .cloned()
        .ok_or(HarnessError::Missing {
            call: "DescribeAlarms",
            field: "MetricAlarms",
        })
}

/// An SDK timestamp as a `chrono` time (`None` when it cannot be represented).
pub fn to_chrono(at: &aws_sdk_cloudwatch::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.secs(), at.subsec_nanos())
}

/// Creates (or replaces) alarm `name` on what `source` names, about the resources in
/// `watched`, with `action` (a function ARN) as its ALARM and OK action.
///
/// # Errors
/// [`HarnessError::Aws`] when CloudWatch refuses.
pub async fn put_alarm(
    aws: &LocalAws,
    name: &str,
    source: AlarmSource,
    watched: Watched<'_>,
    action: Option<&str>,
) -> Result<(), HarnessError> {
    let actions = action.map(|arn| vec![arn.to_owned()]);
    let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    let alarm = aws
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .evaluation_periods(1)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .set_alarm_actions(actions.clone())
        .set_ok_actions(actions);
    let manual = |period_secs| {
        alarm
            .clone()
            .namespace("Floodgate/Tests")
            .metric_name("Signal")
            .dimensions(dimension("Alarm", name))
            .statistic(Statistic::Maximum)
            .threshold(1.0)
            .period(period_secs)
            .treat_missing_data("ignore")
    };
    let alarm = match source {
        AlarmSource::Manual => manual(10),
        AlarmSource::ManualWithPeriod { period_secs } => manual(period_secs),
        AlarmSource::ConsumerErrors => alarm
            .namespace("AWS/Lambda")
            .metric_name("Errors")
            .dimensions(dimension("FunctionName", watched.consumer))
            .statistic(Statistic::Sum)
            .threshold(1.0)
            .period(10)
            .treat_missing_data("notBreaching"),
        AlarmSource::SourceDepth { threshold } => alarm
            .namespace("AWS/SQS")
            .metric_name("ApproximateNumberOfMessagesVisible")
            .dimensions(dimension("QueueName", watched.queue))
            .statistic(Statistic::Maximum)
            .threshold(f64::from(threshold))
            .period(10)
            .treat_missing_data("notBreaching"),
    };
    alarm.send().await.call("PutMetricAlarm")?;
    Ok(())
}

impl LocalAws {
    /// Lets the alarm `alarm_arn` invoke `function` (statement `statement_id`): what the infra
    /// modules grant in AWS; LocalStack does not enforce it.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when Lambda refuses.
    pub async fn allow_alarm(
        &self,
        function: &str,
        statement_id: &str,
        alarm_arn: &str,
    ) -> Result<(), HarnessError> {
        self.lambda
            .add_permission()
            .function_name(function)
            .statement_id(statement_id)
            .action("lambda:InvokeFunction")
            .principal(ALARM_PRINCIPAL)
            .source_arn(alarm_arn)
            .send()
            .await
            .call("AddPermission")?;
        Ok(())
    }
}
