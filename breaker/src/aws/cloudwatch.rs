//! `CloudWatch`: the current state of a circuit's alarms, and the probe's own traffic.

use std::str::FromStr;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime as SmithyTime;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, StateValue,
};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::AwsPorts;
use super::fault::from_sdk;
use floodgate_core::Operation;
use floodgate_core::error::Error;
use floodgate_core::policy::{AlarmReading, AlarmState, ProbeOutcome, ProbeTraffic};
use floodgate_core::ports::{AlarmDescription, Alarms};

/// The worst-case time a metric alarm needs to show a failure that starts now: its period
/// times the datapoints it needs, plus the publish delay of its metric — AWS's own
/// namespaces or one more period for custom metrics ([`AlarmReading::publish_delay`]).
/// Metric-math alarms name no period at the top level; their first query's period is used.
fn detection(alarm: &MetricAlarm) -> Option<Duration> {
    let period = alarm.period().or_else(|| {
        alarm
            .metrics()
            .iter()
            .find_map(|q| q.metric_stat().and_then(MetricStat::period).or(q.period()))
    })?;
    let period = Duration::from_secs(u64::try_from(period).ok()?);
    let needed = alarm
        .datapoints_to_alarm()
        .or(alarm.evaluation_periods())
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(1);
    let aws_namespace = alarm
        .namespace()
        .or_else(|| {
            alarm
                .metrics()
                .iter()
                .find_map(|q| q.metric_stat()?.metric()?.namespace())
        })
        .is_some_and(|ns| ns.starts_with("AWS/"));
    let delay = AlarmReading::publish_delay(period, aws_namespace);
    Some(AlarmReading::detection(period, needed, delay))
}

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
        detection: None,
    })
}

/// The sum of query `id`'s values whose timestamps (epoch seconds) `minutes` accepts.
fn sum_of(
    results: &[aws_sdk_cloudwatch::types::MetricDataResult],
    id: &str,
    minutes: &dyn Fn(i64) -> bool,
) -> u64 {
    results
        .iter()
        .filter(|r| r.id() == Some(id))
        .flat_map(|r| r.timestamps().iter().zip(r.values()))
        .filter(|(at, _)| minutes(at.secs()))
        .map(|(_, v)| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = v.max(0.0).round() as u64;
            n
        })
        .sum()
}

fn count_query(id: &str, metric: &str, function: &str) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace("AWS/Lambda")
        .metric_name(metric)
        .dimensions(
            Dimension::builder()
                .name("FunctionName")
                .value(function)
                .build(),
        )
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(60)
                .stat("Sum")
                .build(),
        )
        .return_data(true)
        .build()
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
                .map_err(|e| from_sdk(Operation::DescribeAlarms, &e))?;
            // The transition time, not the last update: an alarm re-evaluated in the same
            // state has not become any less (or more) healthy.
            found.extend(out.metric_alarms().iter().filter_map(|a| {
                description(
                    a.alarm_name(),
                    a.state_value(),
                    a.state_transitioned_timestamp()
                        .or(a.state_updated_timestamp()),
                )
                .map(|d| AlarmDescription {
                    detection: detection(a),
                    ..d
                })
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

    async fn function_outcome(
        &self,
        function: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ProbeTraffic, Error> {
        const OP: Operation = Operation::GetMetricData;
        // Lambda's metrics are stored per minute, and GetMetricData rounds a StartTime under
        // 15 days old down to the whole minute (GetMetricData API reference, StartTime): the
        // minute `from` falls in also holds what happened before `from`. Its datapoint is
        // kept apart (`opening`) from the whole minutes after it (`after`); the policy reads
        // it one way only (`ProbeTraffic`).
        let start = from.duration_trunc(TimeDelta::minutes(1)).unwrap_or(from);
        let whole = ceil_minute(from);
        let end = to.max(start) + TimeDelta::minutes(1);
        let smithy = |t: DateTime<Utc>| SmithyTime::from_secs(t.timestamp());
        let mut results = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .cloudwatch
                .get_metric_data()
                .metric_data_queries(count_query("invocations", "Invocations", function))
                .metric_data_queries(count_query("errors", "Errors", function))
                .start_time(smithy(start))
                .end_time(smithy(end))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| from_sdk(OP, &e))?;
            results.extend(out.metric_data_results().iter().cloned());
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        let outcome = |minutes: &dyn Fn(i64) -> bool| ProbeOutcome {
            invocations: sum_of(&results, "invocations", minutes),
            errors: sum_of(&results, "errors", minutes),
        };
        let whole = whole.timestamp();
        Ok(ProbeTraffic {
            opening: outcome(&|at| at < whole),
            after: outcome(&|at| at >= whole),
        })
    }
}

/// `at` rounded up to the next whole minute (unchanged when it is one already).
fn ceil_minute(at: DateTime<Utc>) -> DateTime<Utc> {
    let minute = TimeDelta::minutes(1);
    match at.duration_trunc(minute) {
        Ok(floor) if floor == at => at,
        Ok(floor) => floor + minute,
        Err(_) => at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_judges_whole_minutes_from_the_one_after_its_start() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(
            ceil_minute(at("2026-12-07T18:45:54.8Z")),
            at("2026-12-07T18:46:00Z")
        );
        assert_eq!(
            ceil_minute(at("2026-12-07T18:46:00Z")),
            at("2026-12-07T18:46:00Z")
        );
        assert_eq!(
            ceil_minute(at("2026-12-07T18:46:00.001Z")),
            at("2026-12-07T18:47:00Z")
        );
    }

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
