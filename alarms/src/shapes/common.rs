//! Pieces shared by the delivery shapes: typed deserialisation with exact field paths,
//! timestamps, states, and the `alarmData`/`detail` body that the Lambda action and
//! EventBridge shapes have in common.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::arn::AlarmArn;
use crate::error::{AlarmError, bounded, scrub_serde_message};
use crate::eval::Statistic;
use crate::signal::{AlarmSignal, AlarmState, AlarmType, Delivery, MetricIdentity, expect_same};

/// Longest field path an error will carry; paths can contain map keys from the input.
const MAX_PATH_CHARS: usize = 160;

/// Longest timestamp text worth trying to parse.
const MAX_TIMESTAMP_CHARS: usize = 40;

/// Deserialises `value` into `T`. On failure the error names the exact field, as
/// `prefix` + the path inside `value` (`alarmData.state.value`), never the value itself.
pub(crate) fn typed<T: DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, AlarmError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let inner = err.inner().to_string();
        let parent = err.path().to_string();
        let base = if parent == "." {
            prefix.to_owned()
        } else {
            join(prefix, &parent)
        };
        // serde reports a missing field at its parent; point at the field itself.
        let (field, reason) = match missing_field_name(&inner) {
            Some(name) => (join(&base, name), "missing".to_owned()),
            None => (join(&base, "."), scrub_serde_message(&inner)),
        };
        AlarmError::Malformed {
            field: clean_path(&field),
            reason,
        }
    })
}

/// `prefix.path`, treating `serde_path_to_error`'s `.` as "the value itself".
pub(crate) fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path) {
        // The whole event: there is no field name to give.
        (true, ".") => "event".to_owned(),
        (false, ".") => prefix.to_owned(),
        (true, _) => path.to_owned(),
        (false, _) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, _) => format!("{prefix}.{path}"),
    }
}

fn missing_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

fn clean_path(path: &str) -> String {
    let mut out: String = path
        .chars()
        .take(MAX_PATH_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if path.chars().nth(MAX_PATH_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Parses the timestamp forms CloudWatch and LocalStack send: RFC 3339
/// (`2019-10-02T17:04:40Z`, LocalStack's `…40.123Z`) and CloudWatch's own
/// `2023-08-04T12:36:15.490+0000`. Whitespace is refused: chrono would skip it, but a real
/// payload never has any.
pub(crate) fn timestamp(text: &str, field: &str) -> Result<DateTime<Utc>, AlarmError> {
    let invalid = || AlarmError::InvalidTimestamp {
        field: field.to_owned(),
        value: bounded(text),
    };
    if text.len() > MAX_TIMESTAMP_CHARS || text.chars().any(char::is_whitespace) {
        return Err(invalid());
    }
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| invalid())
}

/// An alarm state field.
pub(crate) fn state(text: &str, field: &str) -> Result<AlarmState, AlarmError> {
    text.parse().map_err(|_| AlarmError::InvalidState {
        field: field.to_owned(),
        value: bounded(text),
    })
}

/// An account field that must be 12 digits and equal the ARN's.
pub(crate) fn account(found: &str, field: &str, arn: &AlarmArn) -> Result<(), AlarmError> {
    if !crate::arn::is_account_id(found) {
        return Err(AlarmError::malformed(field, "not a 12-digit account id"));
    }
    expect_same(field, found, arn.account())
}

/// `alarmData` (Lambda action) and `detail` (EventBridge) share this body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlarmDataRaw {
    alarm_name: String,
    state: StateRaw,
    previous_state: Option<StateRaw>,
    configuration: ConfigurationRaw,
}

#[derive(Deserialize)]
struct StateRaw {
    value: String,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigurationRaw {
    alarm_rule: Option<String>,
    metrics: Option<Vec<MetricEntryRaw>>,
}

impl AlarmDataRaw {
    /// Builds the signal for `arn` from the body found at `prefix`.
    pub(crate) fn into_signal(
        self,
        arn: &AlarmArn,
        prefix: &str,
        delivery: Delivery,
    ) -> Result<AlarmSignal, AlarmError> {
        expect_same(&format!("{prefix}.alarmName"), &self.alarm_name, arn.name())?;
        let stamp_field = format!("{prefix}.state.timestamp");
        let Some(stamp) = self.state.timestamp.as_deref() else {
            return Err(AlarmError::malformed(stamp_field, "missing"));
        };
        let previous_field = format!("{prefix}.previousState");
        if let Some(previous_stamp) = self
            .previous_state
            .as_ref()
            .and_then(|previous| previous.timestamp.as_deref())
        {
            timestamp(previous_stamp, &format!("{previous_field}.timestamp"))?;
        }
        let transition = Transition::read(
            (&self.state.value, &format!("{prefix}.state.value")),
            self.previous_state
                .as_ref()
                .map(|previous| (previous.value.as_str(), format!("{previous_field}.value"))),
            (stamp, &stamp_field),
        )?;
        let configuration = self.configuration;
        let kind = kind(
            &format!("{prefix}.configuration"),
            ("alarmRule", configuration.alarm_rule),
            ("metrics", configuration.metrics),
            identities,
        )?;
        Ok(signal(arn, self.alarm_name, transition, kind, delivery))
    }
}

/// The state change itself, as every shape reports it.
#[derive(Clone, Copy)]
pub(crate) struct Transition {
    state: AlarmState,
    previous_state: Option<AlarmState>,
    state_timestamp: DateTime<Utc>,
}

impl Transition {
    /// Reads the new state, the old one if given, and when the change happened; each part is
    /// `(text, field path)`.
    pub(crate) fn read(
        (current, current_field): (&str, &str),
        previous: Option<(&str, String)>,
        (stamp, stamp_field): (&str, &str),
    ) -> Result<Self, AlarmError> {
        Ok(Self {
            state: state(current, current_field)?,
            previous_state: previous
                .map(|(text, field)| state(text, &field))
                .transpose()?,
            state_timestamp: timestamp(stamp, stamp_field)?,
        })
    }
}

/// Metric or composite, from what the payload at `parent` carries: exactly one of a composite
/// rule and a metric description (each given as `(field name, value)`).
pub(crate) fn kind<M>(
    parent: &str,
    (rule_name, rule): (&str, Option<String>),
    (metrics_name, metrics): (&str, Option<M>),
    identities: impl FnOnce(M, &str) -> Result<Vec<MetricIdentity>, AlarmError>,
) -> Result<(AlarmType, Vec<MetricIdentity>), AlarmError> {
    match (rule, metrics) {
        (Some(_), Some(_)) => Err(AlarmError::malformed(
            parent,
            format!("has both {rule_name} (composite) and {metrics_name} (metric alarm)"),
        )),
        (Some(rule), None) => {
            non_empty_rule(&rule, &format!("{parent}.{rule_name}"))?;
            Ok((AlarmType::Composite, Vec::new()))
        }
        (None, Some(metrics)) => Ok((
            AlarmType::Metric,
            identities(metrics, &format!("{parent}.{metrics_name}"))?,
        )),
        (None, None) => Err(AlarmError::malformed(
            parent,
            format!("has neither {rule_name} (composite) nor {metrics_name} (metric alarm)"),
        )),
    }
}

/// Assembles the signal. Account and region come from the ARN, which the caller has already
/// checked every envelope field against.
pub(crate) fn signal(
    arn: &AlarmArn,
    alarm_name: String,
    transition: Transition,
    (alarm_type, metrics): (AlarmType, Vec<MetricIdentity>),
    delivery: Delivery,
) -> AlarmSignal {
    AlarmSignal {
        alarm_name,
        alarm_arn: arn.to_string(),
        account: arn.account().to_owned(),
        region: arn.region().to_owned(),
        state: transition.state,
        previous_state: transition.previous_state,
        state_timestamp: transition.state_timestamp,
        alarm_type,
        metrics,
        delivery,
    }
}

/// A composite alarm's rule must say something.
fn non_empty_rule(rule: &str, field: &str) -> Result<(), AlarmError> {
    if rule.trim().is_empty() {
        Err(AlarmError::malformed(field, "empty alarm rule"))
    } else {
        Ok(())
    }
}

/// The metric list of a metric alarm: at least one entry, each a fetch or an expression.
pub(crate) fn identities(
    entries: Vec<MetricEntryRaw>,
    field: &str,
) -> Result<Vec<MetricIdentity>, AlarmError> {
    if entries.is_empty() {
        return Err(AlarmError::malformed(
            field,
            "a metric alarm lists no metrics",
        ));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| entry.into_identity(&format!("{field}[{index}]")))
        .collect()
}

/// One metric query. AWS sends camelCase (`metricStat`), while LocalStack forwards the API's
/// PascalCase `MetricDataQuery` (`MetricStat`) and SNS also uses PascalCase; both are read.
#[derive(Deserialize)]
pub(crate) struct MetricEntryRaw {
    #[serde(alias = "Id")]
    id: Option<String>,
    #[serde(rename = "metricStat", alias = "MetricStat")]
    metric_stat: Option<MetricStatRaw>,
    #[serde(alias = "Expression")]
    expression: Option<String>,
}

#[derive(Deserialize)]
struct MetricStatRaw {
    #[serde(alias = "Metric")]
    metric: MetricRaw,
    #[serde(alias = "Period")]
    period: Option<u32>,
    #[serde(alias = "Stat")]
    stat: Option<String>,
}

#[derive(Deserialize)]
struct MetricRaw {
    #[serde(alias = "Namespace")]
    namespace: Option<String>,
    #[serde(alias = "MetricName")]
    name: Option<String>,
    #[serde(alias = "Dimensions")]
    dimensions: Option<DimensionsRaw>,
}

impl MetricEntryRaw {
    fn into_identity(self, field: &str) -> Result<MetricIdentity, AlarmError> {
        let expression = non_empty(self.expression);
        let Some(stat) = self.metric_stat else {
            if expression.is_none() {
                return Err(AlarmError::malformed(
                    field,
                    "has neither metricStat nor expression",
                ));
            }
            return Ok(MetricIdentity {
                id: non_empty(self.id),
                expression,
                ..MetricIdentity::default()
            });
        };
        Ok(MetricIdentity {
            id: non_empty(self.id),
            namespace: non_empty(stat.metric.namespace),
            metric_name: non_empty(stat.metric.name),
            dimensions: dimensions(
                stat.metric.dimensions,
                &format!("{field}.metricStat.metric.dimensions"),
            )?,
            statistic: statistic(stat.stat),
            period_seconds: stat.period,
            expression,
        })
    }
}

/// Dimensions as AWS sends them (`{"QueueName": "orders"}`), as LocalStack and SNS send them
/// (`[{"Name": "QueueName", "Value": "orders"}]`, either case), or as LocalStack's SNS
/// notification says "none" (`""`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum DimensionsRaw {
    Map(BTreeMap<String, String>),
    List(Vec<DimensionRaw>),
    Text(String),
}

#[derive(Deserialize)]
pub(crate) struct DimensionRaw {
    #[serde(alias = "Name")]
    name: String,
    #[serde(alias = "Value")]
    value: String,
}

/// Dimension map from any accepted form. A name given twice is refused: CloudWatch never does
/// that, and silently keeping one value would misidentify the metric.
pub(crate) fn dimensions(
    raw: Option<DimensionsRaw>,
    field: &str,
) -> Result<BTreeMap<String, String>, AlarmError> {
    match raw {
        None => Ok(BTreeMap::new()),
        Some(DimensionsRaw::Map(map)) => Ok(map),
        Some(DimensionsRaw::Text(text)) if text.is_empty() => Ok(BTreeMap::new()),
        Some(DimensionsRaw::Text(_)) => Err(AlarmError::malformed(
            field,
            "is text; expected a map or a list of name/value pairs",
        )),
        Some(DimensionsRaw::List(list)) => {
            let mut map = BTreeMap::new();
            for DimensionRaw { name, value } in list {
                if map.contains_key(&name) {
                    return Err(AlarmError::malformed(
                        field,
                        format!("dimension {} appears twice", bounded(&name)),
                    ));
                }
                map.insert(name, value);
            }
            Ok(map)
        }
    }
}

/// `None` for absent or empty text: LocalStack fills unknown fields with `""`.
pub(crate) fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.is_empty())
}

/// Statistic in API spelling. SNS writes `SAMPLE_COUNT`/`AVERAGE`; extended statistics
/// (`p99`) pass through unchanged.
pub(crate) fn statistic(text: Option<String>) -> Option<String> {
    let text = non_empty(text)?;
    Some(match Statistic::from_any_case(&text) {
        Some(known) => known.as_str().to_owned(),
        None => text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_timestamp_forms_cloudwatch_and_localstack_send() {
        let expected = "2023-08-04T12:36:15.490Z";
        for text in [
            "2023-08-04T12:36:15.490+0000",
            "2023-08-04T12:36:15.490Z",
            "2023-08-04T12:36:15.490000000Z",
            "2023-08-04T12:36:15.490+00:00",
        ] {
            let parsed = timestamp(text, "t").unwrap();
            assert_eq!(
                parsed.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                expected,
                "{text}"
            );
        }
        assert_eq!(
            timestamp("2019-10-02T17:04:40Z", "t").unwrap().to_rfc3339(),
            "2019-10-02T17:04:40+00:00"
        );
        assert_eq!(
            timestamp("2023-08-04T14:36:15.490+0200", "t")
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            expected
        );
    }

    #[test]
    fn refuses_timestamps_with_spaces_or_without_a_zone() {
        for text in [
            "2023-08-04T12: 36: 15.490+0000",
            "2023-08-04T12:36:15.490",
            "2023-08-04",
            "",
            "yesterday",
        ] {
            assert!(
                matches!(
                    timestamp(text, "t"),
                    Err(AlarmError::InvalidTimestamp { .. })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn missing_fields_are_reported_at_the_field_itself() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            inner: Inner,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            value: String,
        }
        let err = typed::<Outer>(&serde_json::json!({"inner": {}}), "detail").unwrap_err();
        assert_eq!(
            err,
            AlarmError::Malformed {
                field: "detail.inner.value".into(),
                reason: "missing".into()
            }
        );
    }

    #[test]
    fn joins_paths_the_way_people_write_them() {
        assert_eq!(join("", "."), "event");
        assert_eq!(join("detail", "."), "detail");
        assert_eq!(join("", "alarmData.state"), "alarmData.state");
        assert_eq!(join("Records", "[0].Sns"), "Records[0].Sns");
        assert_eq!(join("detail", "state"), "detail.state");
    }
}
