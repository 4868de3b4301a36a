//! The CloudWatch metric-alarm evaluation model, as a pure function: no clock, no I/O, no
//! allocation per evaluation. The simulator aggregates raw samples into one datapoint per
//! period ([`Aggregate`]), keeps the most recent [`AlarmConfig::evaluation_range`] of them,
//! and asks [`evaluate`] for the next state.
//!
//! It follows "Configuring how CloudWatch alarms treat missing data" in the CloudWatch user
//! guide: M out of N datapoints, an evaluation range wider than N so that gaps are bridged
//! with older real data, missing data filled only as often as needed, and the "premature
//! alarm" rule for sparse breaching data. `tests/eval_aws_table.rs` encodes the guide's
//! tables row by row.
//!
//! Not modelled: the anomaly-detection operators (`LessThanLowerOrGreaterThanUpperThreshold`,
//! `LessThanLowerThreshold`, `GreaterThanUpperThreshold`), extended statistics (percentiles)
//! and `EvaluateLowSampleCountPercentile`, metric-math expressions, and the `AWS/DynamoDB`
//! namespace quirk (such alarms always ignore missing data). Alarms in this project use none
//! of them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{AlarmError, bounded};
use crate::signal::AlarmState;

/// CloudWatch's default when an alarm does not say how to treat missing data.
pub const DEFAULT_TREAT_MISSING_DATA: TreatMissingData = TreatMissingData::Missing;

/// Statistic used when none is given. CloudWatch itself has no default (the API requires one);
/// this is the CDK's.
pub const DEFAULT_STATISTIC: Statistic = Statistic::Average;

/// Periods below a minute that CloudWatch accepts (high-resolution alarms).
pub const HIGH_RESOLUTION_PERIODS: [u32; 3] = [10, 20, 30];

/// `period × evaluation_periods` may not exceed seven days…
pub const MAX_EVALUATION_SECONDS: u64 = 7 * 24 * 3600;

/// …nor one day when the period is shorter than an hour.
pub const MAX_SHORT_PERIOD_EVALUATION_SECONDS: u64 = 24 * 3600;

/// How many periods older than N the simulator should keep for [`evaluate`]. AWS does not
/// publish its evaluation-range formula; its worked examples use N = 3 with a range of 5, so
/// this models the range as N + 2.
pub const EXTRA_EVALUATION_PERIODS: usize = 2;

/// Implements `as_str`, `Display` and exact-match `FromStr` from one list of AWS spellings, so
/// the three enums below cannot drift between parsing and printing.
macro_rules! aws_spelling {
    ($ty:ident, $field:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// CloudWatch's spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = AlarmError;

            /// Exact match on CloudWatch's spelling.
            ///
            /// # Errors
            /// [`AlarmError::InvalidConfig`] naming the config field.
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(AlarmError::InvalidConfig {
                        field: $field,
                        reason: format!("{} is not a value CloudWatch accepts", bounded(text)),
                    }),
                }
            }
        }
    };
}

/// How a datapoint is compared with the threshold (datapoint on the left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComparisonOperator {
    /// `value > threshold` breaches.
    GreaterThanThreshold,
    /// `value >= threshold` breaches.
    GreaterThanOrEqualToThreshold,
    /// `value < threshold` breaches.
    LessThanThreshold,
    /// `value <= threshold` breaches.
    LessThanOrEqualToThreshold,
}

aws_spelling!(ComparisonOperator, "comparison", {
    GreaterThanThreshold => "GreaterThanThreshold",
    GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
    LessThanThreshold => "LessThanThreshold",
    LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
});

/// What a period without data counts as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissingData {
    /// Neither breaching nor not; all missing leads to `INSUFFICIENT_DATA` (AWS default).
    #[default]
    Missing,
    /// Keep the current state when the data cannot decide.
    Ignore,
    /// Missing periods breach.
    Breaching,
    /// Missing periods are within the threshold.
    NotBreaching,
}

aws_spelling!(TreatMissingData, "treat_missing_data", {
    Missing => "missing",
    Ignore => "ignore",
    Breaching => "breaching",
    NotBreaching => "notBreaching",
});

/// How the samples of one period become its datapoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Statistic {
    /// Number of samples.
    SampleCount,
    /// Sum of samples.
    Sum,
    /// Mean of samples.
    Average,
    /// Smallest sample.
    Minimum,
    /// Largest sample.
    Maximum,
}

aws_spelling!(Statistic, "statistic", {
    SampleCount => "SampleCount",
    Sum => "Sum",
    Average => "Average",
    Minimum => "Minimum",
    Maximum => "Maximum",
});

impl Statistic {
    /// Reads any casing and underscores (`SAMPLE_COUNT` from SNS, `Sum` from the API).
    /// `None` for anything else, including extended statistics such as `p99`.
    pub fn from_any_case(text: &str) -> Option<Self> {
        let folded: String = text
            .chars()
            .filter(|ch| *ch != '_')
            .map(|ch| ch.to_ascii_lowercase())
            .collect();
        match folded.as_str() {
            "samplecount" => Some(Self::SampleCount),
            "sum" => Some(Self::Sum),
            "average" => Some(Self::Average),
            "minimum" => Some(Self::Minimum),
            "maximum" => Some(Self::Maximum),
            _ => None,
        }
    }

    /// The datapoint for one period's samples; `None` (a missing datapoint) when there are none.
    pub fn of(self, samples: &[f64]) -> Option<f64> {
        samples.iter().copied().collect::<Aggregate>().value(self)
    }
}

/// Running summary of one period's samples: enough to answer every [`Statistic`] without
/// keeping the samples, the same summary CloudWatch stores (`StatisticSet`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aggregate {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Aggregate {
    /// No samples yet.
    pub const EMPTY: Self = Self {
        count: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    /// Adds one sample. NaN is skipped: CloudWatch refuses NaN in `PutMetricData`, so it can
    /// never be part of a real datapoint.
    pub fn push(&mut self, sample: f64) {
        if sample.is_nan() {
            return;
        }
        self.count += 1;
        self.sum += sample;
        self.min = self.min.min(sample);
        self.max = self.max.max(sample);
    }

    /// Folds in another period-slice (e.g. samples from a second publisher).
    pub fn merge(&mut self, other: &Self) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of samples so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The datapoint under `statistic`, or `None` when no sample arrived (missing data).
    #[allow(clippy::cast_precision_loss)] // counts above 2^53 samples per period do not occur
    pub fn value(&self, statistic: Statistic) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match statistic {
            Statistic::SampleCount => self.count as f64,
            Statistic::Sum => self.sum,
            Statistic::Average => self.sum / self.count as f64,
            Statistic::Minimum => self.min,
            Statistic::Maximum => self.max,
        })
    }
}

impl Default for Aggregate {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Extend<f64> for Aggregate {
    fn extend<I: IntoIterator<Item = f64>>(&mut self, samples: I) {
        for sample in samples {
            self.push(sample);
        }
    }
}

impl FromIterator<f64> for Aggregate {
    fn from_iter<I: IntoIterator<Item = f64>>(samples: I) -> Self {
        let mut aggregate = Self::EMPTY;
        aggregate.extend(samples);
        aggregate
    }
}

/// A metric alarm's evaluation settings, validated as CloudWatch's `PutMetricAlarm` would.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmConfig {
    period_seconds: u32,
    evaluation_periods: u32,
    datapoints_to_alarm: u32,
    comparison: ComparisonOperator,
    threshold: f64,
    treat_missing_data: TreatMissingData,
    statistic: Statistic,
}

impl AlarmConfig {
    /// An "M out of N" alarm: `datapoints_to_alarm` (M) breaching datapoints among
    /// `evaluation_periods` (N) periods of `period_seconds` each. Missing data is treated as
    /// [`DEFAULT_TREAT_MISSING_DATA`] and the statistic is [`DEFAULT_STATISTIC`] until set
    /// with [`with_treat_missing_data`](Self::with_treat_missing_data) and
    /// [`with_statistic`](Self::with_statistic).
    ///
    /// # Errors
    /// [`AlarmError::InvalidConfig`] naming the field when: the period is not 10, 20, 30 or a
    /// multiple of 60; N is 0; M is 0 or above N; `period × N` exceeds seven days (one day for
    /// periods under an hour); or the threshold is not finite.
    pub fn new(
        period_seconds: u32,
        evaluation_periods: u32,
        datapoints_to_alarm: u32,
        comparison: ComparisonOperator,
        threshold: f64,
    ) -> Result<Self, AlarmError> {
        let invalid = |field, reason: String| Err(AlarmError::InvalidConfig { field, reason });
        if period_seconds == 0
            || !(HIGH_RESOLUTION_PERIODS.contains(&period_seconds)
                || period_seconds.is_multiple_of(60))
        {
            return invalid(
                "period_seconds",
                format!("{period_seconds} is not 10, 20, 30 or a multiple of 60"),
            );
        }
        if evaluation_periods == 0 {
            return invalid("evaluation_periods", "must be at least 1".to_owned());
        }
        if datapoints_to_alarm == 0 || datapoints_to_alarm > evaluation_periods {
            return invalid(
                "datapoints_to_alarm",
                format!(
                    "{datapoints_to_alarm} is not between 1 and evaluation_periods ({evaluation_periods})"
                ),
            );
        }
        let span = u64::from(period_seconds) * u64::from(evaluation_periods);
        let limit = if period_seconds < 3600 {
            MAX_SHORT_PERIOD_EVALUATION_SECONDS
        } else {
            MAX_EVALUATION_SECONDS
        };
        if span > limit {
            return invalid(
                "evaluation_periods",
                format!("period × evaluation_periods is {span} s, over the {limit} s limit"),
            );
        }
        if !threshold.is_finite() {
            return invalid("threshold", "must be a finite number".to_owned());
        }
        Ok(Self {
            period_seconds,
            evaluation_periods,
            datapoints_to_alarm,
            comparison,
            threshold,
            treat_missing_data: DEFAULT_TREAT_MISSING_DATA,
            statistic: DEFAULT_STATISTIC,
        })
    }

    /// Same alarm, treating missing data as `treatment`.
    #[must_use]
    pub fn with_treat_missing_data(mut self, treatment: TreatMissingData) -> Self {
        self.treat_missing_data = treatment;
        self
    }

    /// Same alarm, aggregating each period with `statistic`.
    #[must_use]
    pub fn with_statistic(mut self, statistic: Statistic) -> Self {
        self.statistic = statistic;
        self
    }

    /// Period length in seconds.
    pub fn period_seconds(&self) -> u32 {
        self.period_seconds
    }

    /// N: how many periods are evaluated.
    pub fn evaluation_periods(&self) -> u32 {
        self.evaluation_periods
    }

    /// M: how many of them must breach.
    pub fn datapoints_to_alarm(&self) -> u32 {
        self.datapoints_to_alarm
    }

    /// Comparison operator.
    pub fn comparison(&self) -> ComparisonOperator {
        self.comparison
    }

    /// Threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Missing-data treatment.
    pub fn treat_missing_data(&self) -> TreatMissingData {
        self.treat_missing_data
    }

    /// Statistic.
    pub fn statistic(&self) -> Statistic {
        self.statistic
    }

    /// How many of the most recent datapoints to pass to [`evaluate`]: N plus
    /// [`EXTRA_EVALUATION_PERIODS`].
    pub fn evaluation_range(&self) -> usize {
        self.evaluation_periods as usize + EXTRA_EVALUATION_PERIODS
    }

    /// Whether one datapoint breaches the threshold.
    pub fn breaches(&self, value: f64) -> bool {
        match self.comparison {
            ComparisonOperator::GreaterThanThreshold => value > self.threshold,
            ComparisonOperator::GreaterThanOrEqualToThreshold => value >= self.threshold,
            ComparisonOperator::LessThanThreshold => value < self.threshold,
            ComparisonOperator::LessThanOrEqualToThreshold => value <= self.threshold,
        }
    }
}

/// The alarm's next state.
///
/// `datapoints` is the evaluation range, oldest first, one entry per period, `None` where the
/// period has no data (NaN counts as missing too). `current` is the state before this
/// evaluation; only [`TreatMissingData::Ignore`] ever returns it unchanged for lack of data.
///
/// With N = evaluation periods and M = datapoints to alarm:
/// 1. If the range holds at least N real datapoints, the newest N real ones decide: ALARM when
///    at least M breach, else OK. The missing-data treatment plays no part.
/// 2. Otherwise every real datapoint in the range counts, and only the shortfall up to N is
///    filled per the treatment:
///    - `breaching`: ALARM when real breaching + shortfall ≥ M, else OK;
///    - `notBreaching`: ALARM when real breaching ≥ M, else OK;
///    - `missing` / `ignore`: ALARM when real breaching ≥ M; else OK when some real datapoint
///      is within the threshold; else (all real datapoints breach, or there are none)
///      `ignore` keeps `current`, and `missing` goes to ALARM only by the premature-alarm rule
///      (the oldest breaching datapoint among the newest N periods is at least M periods old),
///      otherwise to `INSUFFICIENT_DATA`.
pub fn evaluate(cfg: &AlarmConfig, datapoints: &[Option<f64>], current: AlarmState) -> AlarmState {
    let needed = cfg.evaluation_periods as usize;
    let to_alarm = cfg.datapoints_to_alarm as usize;
    let real = |point: &Option<f64>| point.filter(|value| !value.is_nan());
    let verdict = |alarm: bool| {
        if alarm {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        }
    };

    let real_count = datapoints.iter().filter_map(real).count();
    if real_count >= needed {
        let breaching = datapoints
            .iter()
            .rev()
            .filter_map(real)
            .take(needed)
            .filter(|value| cfg.breaches(*value))
            .count();
        return verdict(breaching >= to_alarm);
    }

    let breaching_real = datapoints
        .iter()
        .filter_map(real)
        .filter(|value| cfg.breaches(*value))
        .count();
    let shortfall = needed - real_count;
    // What `missing` and `ignore` conclude from real data alone, when it is enough to conclude.
    let decided_by_real_data = || {
        if breaching_real >= to_alarm {
            Some(AlarmState::Alarm)
        } else if real_count > breaching_real {
            Some(AlarmState::Ok)
        } else {
            None
        }
    };
    match cfg.treat_missing_data {
        TreatMissingData::Breaching => verdict(breaching_real + shortfall >= to_alarm),
        TreatMissingData::NotBreaching => verdict(breaching_real >= to_alarm),
        TreatMissingData::Ignore => decided_by_real_data().unwrap_or(current),
        TreatMissingData::Missing => decided_by_real_data().unwrap_or_else(|| {
            if premature_alarm(datapoints, needed, to_alarm) {
                AlarmState::Alarm
            } else {
                AlarmState::InsufficientData
            }
        }),
    }
}

/// AWS's rule against waiting forever on sparse breaching data: ALARM when the oldest breaching
/// datapoint among the newest N periods is at least M periods old (the newest period is 1 old)
/// and everything newer is breaching or missing. Only called when no real datapoint is within
/// the threshold, so the second half holds already.
fn premature_alarm(datapoints: &[Option<f64>], needed: usize, to_alarm: usize) -> bool {
    datapoints
        .iter()
        .rev()
        .take(needed)
        .enumerate()
        .filter(|(_, point)| point.is_some_and(|value| !value.is_nan()))
        .map(|(newer, _)| newer + 1)
        .max()
        .is_some_and(|age| age >= to_alarm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt(threshold: f64) -> AlarmConfig {
        AlarmConfig::new(
            60,
            3,
            3,
            ComparisonOperator::GreaterThanThreshold,
            threshold,
        )
        .unwrap()
    }

    #[test]
    fn each_operator_compares_the_datapoint_on_the_left() {
        let at = |op| AlarmConfig::new(60, 1, 1, op, 5.0).unwrap();
        assert!(at(ComparisonOperator::GreaterThanThreshold).breaches(5.1));
        assert!(!at(ComparisonOperator::GreaterThanThreshold).breaches(5.0));
        assert!(at(ComparisonOperator::GreaterThanOrEqualToThreshold).breaches(5.0));
        assert!(at(ComparisonOperator::LessThanThreshold).breaches(4.9));
        assert!(!at(ComparisonOperator::LessThanThreshold).breaches(5.0));
        assert!(at(ComparisonOperator::LessThanOrEqualToThreshold).breaches(5.0));
    }

    #[test]
    fn nan_datapoints_count_as_missing() {
        let cfg = gt(1.0);
        let points = [Some(f64::NAN), Some(f64::NAN), Some(f64::NAN)];
        assert_eq!(
            evaluate(&cfg, &points, AlarmState::Ok),
            AlarmState::InsufficientData
        );
    }

    #[test]
    fn the_evaluation_range_is_n_plus_two() {
        assert_eq!(gt(0.0).evaluation_range(), 5);
    }
}
