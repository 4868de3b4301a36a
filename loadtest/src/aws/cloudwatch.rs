//! CloudWatch: the states of a circuit's alarms, for the timeline.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::AlarmType;

use crate::error::Result;
use breaker::aws::fault::AwsCall;

/// Alarm reads.
#[derive(Debug, Clone)]
pub struct Alarms {
    client: aws_sdk_cloudwatch::Client,
}

impl Alarms {
    /// Alarm access from `sdk`.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: aws_sdk_cloudwatch::Client::new(sdk),
        }
    }

    /// State (`OK`, `ALARM`, `INSUFFICIENT_DATA`) of each metric or composite alarm named in
    /// `names` or starting with `prefix`.
    ///
    /// # Errors
    /// [`crate::Error::Aws`] when `DescribeAlarms` fails.
    pub async fn states(
        &self,
        names: &[String],
        prefix: Option<&str>,
    ) -> Result<BTreeMap<String, String>> {
        let mut states = BTreeMap::new();
        // DescribeAlarms takes names or a prefix, not both; at most 100 names per call.
        for chunk in names.chunks(100) {
            self.describe(Some(chunk.to_vec()), None, &mut states)
                .await?;
        }
        if let Some(prefix) = prefix {
            self.describe(None, Some(prefix), &mut states).await?;
        }
        Ok(states)
    }

    async fn describe(
        &self,
        names: Option<Vec<String>>,
        prefix: Option<&str>,
        states: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        let mut token = None;
        loop {
            let page = self
                .client
                .describe_alarms()
                .set_alarm_names(names.clone())
                .set_alarm_name_prefix(prefix.map(str::to_owned))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .set_next_token(token)
                .send()
                .await
                .call("DescribeAlarms")?;
            for alarm in page.metric_alarms() {
                if let (Some(name), Some(state)) = (alarm.alarm_name(), alarm.state_value()) {
                    states.insert(name.to_owned(), state.as_str().to_owned());
                }
            }
            for alarm in page.composite_alarms() {
                if let (Some(name), Some(state)) = (alarm.alarm_name(), alarm.state_value()) {
                    states.insert(name.to_owned(), state.as_str().to_owned());
                }
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(());
            }
        }
    }
}
