//! `CloudWatch`: the current state of a circuit's alarms.

use std::str::FromStr;

use aws_sdk_cloudwatch::primitives::DateTime as SmithyTime;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use chrono::{DateTime, Utc};

use super::AwsPorts;
use super::fault::from_sdk;
use crate::error::Error;
use crate::policy::AlarmState;
use crate::ports::{AlarmDescription, Alarms};

fn to_chrono(at: Option<&SmithyTime>) -> DateTime<Utc> {
    // A missing or unrepresentable time reads as long ago: the alarm has been in its state
    // for as long as anyone can tell.
    at.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn description(
    name: Option<&str>,
    state: Option<&StateValue>,
    since: Option<&SmithyTime>,
) -> Option<AlarmDescription> {
    let name = name?;
    let Some(state) = state.and_then(|s| AlarmState::from_str(s.as_str()).ok()) else {
        tracing::warn!(alarm = name, "alarm has no state this version understands");
        return None;
    };
    Some(AlarmDescription {
        name: name.to_owned(),
        state,
        since: to_chrono(since),
    })
}

impl Alarms for AwsPorts {
    async fn describe_alarms(&self, names: &[String]) -> Result<Vec<AlarmDescription>, Error> {
        let mut found = Vec::with_capacity(names.len());
        let mut token: Option<String> = None;
        loop {
            let out = self
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(names.to_vec()))
                // Without AlarmTypes, DescribeAlarms returns metric alarms only.
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| from_sdk("DescribeAlarms", &e))?;
            // The transition time, not the last update: an alarm re-evaluated in the same
            // state has not become any less (or more) healthy.
            found.extend(out.metric_alarms().iter().filter_map(|a| {
                description(
                    a.alarm_name(),
                    a.state_value(),
                    a.state_transitioned_timestamp()
                        .or(a.state_updated_timestamp()),
                )
            }));
            found.extend(out.composite_alarms().iter().filter_map(|a| {
                description(
                    a.alarm_name(),
                    a.state_value(),
                    a.state_transitioned_timestamp()
                        .or(a.state_updated_timestamp()),
                )
            }));
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(found),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_the_state_and_its_time() {
        let at = SmithyTime::from_secs(1_795_000_000);
        let d = description(Some("orders-errors"), Some(&StateValue::Alarm), Some(&at)).unwrap();
        assert_eq!(d.state, AlarmState::Alarm);
        assert_eq!(d.since.timestamp(), 1_795_000_000);
        assert!(description(Some("x"), None, Some(&at)).is_none());
        assert!(description(None, Some(&StateValue::Ok), Some(&at)).is_none());
        let undated = description(Some("x"), Some(&StateValue::Ok), None).unwrap();
        assert_eq!(undated.since, DateTime::<Utc>::UNIX_EPOCH);
    }
}
