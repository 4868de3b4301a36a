//! CloudWatch in virtual time: metrics aggregated per period, published late, and metric
//! alarms evaluated on a schedule with the same evaluation code the project ships
//! ([`alarms::eval::evaluate`]).
//!
//! What it models (sources in [`crate::sim::params`]): samples are kept in slices of the
//! profile's `metric_resolution` (AWS: 10 seconds, the finest period a high-resolution alarm
//! can have) and rolled up to the alarm's period; a period becomes visible to alarms only
//! `delay` after it ends. How alarms are evaluated is the profile's `alarm_evaluation`:
//!
//! - [`AlarmEvaluation::Aws`]: an alarm whose period is under a minute is evaluated every 10
//!   seconds, any other every minute ("Using Amazon CloudWatch alarms": "If the alarm period
//!   is 10 seconds or 30 seconds, the alarm is evaluated every 10 seconds"); each evaluation
//!   reads the alarm's evaluation range of whole periods, newest last, and a new alarm starts
//!   in `INSUFFICIENT_DATA`.
//! - [`AlarmEvaluation::LocalStack`]: what LocalStack's `alarm_scheduler.py` does. Each alarm
//!   is evaluated every `EvaluationPeriods × Period` from its creation (the first time at
//!   once); an evaluation reads `N + max(⌊N/3⌋, 2)` windows of one period each, ending at the
//!   evaluation instant (not aligned to period boundaries); with every window empty, missing
//!   data decides; otherwise the alarm is in `ALARM` when at least `DatapointsToAlarm` of the
//!   non-empty windows (padded to N with missing ones, which `notBreaching` counts as not
//!   breaching) breach, and `OK` when fewer do.
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use alarms::AlarmState;
use alarms::eval::{Aggregate, AlarmConfig, Statistic, evaluate};

use crate::sim::time::SimTime;

/// How alarms are evaluated: by AWS's rules or by LocalStack's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmEvaluation {
    /// CloudWatch's documented schedule and evaluation range, periods aligned.
    Aws,
    /// LocalStack's alarm scheduler: sliding windows from the alarm's creation.
    LocalStack,
}

/// One metric: namespace, name and its one dimension (`FunctionName=…`, `QueueName=…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricKey {
    /// `AWS/Lambda`, `AWS/SQS`, …
    pub namespace: String,
    /// `Errors`, `ApproximateNumberOfMessagesVisible`, …
    pub name: String,
    /// `Name=Value`.
    pub dimension: String,
}

impl MetricKey {
    /// The metric `namespace`/`name` with dimension `dimension` = `value`.
    pub fn new(namespace: &str, name: &str, dimension: &str, value: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimension: format!("{dimension}={value}"),
        }
    }
}

/// Every metric's samples, by slice of the resolution.
#[derive(Debug, Clone)]
pub struct Metrics {
    series: HashMap<MetricKey, BTreeMap<u64, Aggregate>>,
    slice_ms: u64,
}

impl Default for Metrics {
    /// 10-second slices: the finest period a high-resolution alarm can have.
    fn default() -> Self {
        Self::with_resolution(Duration::from_secs(10))
    }
}

impl Metrics {
    /// No samples yet, kept in slices of `resolution` (at least a millisecond).
    pub fn with_resolution(resolution: Duration) -> Self {
        Self {
            series: HashMap::new(),
            slice_ms: u64::try_from(resolution.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
        }
    }

    /// Records one sample of `key` taken at `at`.
    pub fn put(&mut self, key: &MetricKey, at: SimTime, sample: f64) {
        let slice = at.as_millis() / self.slice_ms;
        if let Some(series) = self.series.get_mut(key) {
            series.entry(slice).or_default().push(sample);
        } else {
            let mut series = BTreeMap::new();
            series.insert(slice, Aggregate::from_iter([sample]));
            self.series.insert(key.clone(), series);
        }
    }

    /// The datapoint of `key` over `[start, start + period)` under `statistic`, `None` when no
    /// sample fell in it.
    pub fn datapoint(
        &self,
        key: &MetricKey,
        start: SimTime,
        period: Duration,
        statistic: Statistic,
    ) -> Option<f64> {
        let series = self.series.get(key)?;
        let first = start.as_millis() / self.slice_ms;
        let end = (start + period).as_millis() / self.slice_ms;
        let mut total = Aggregate::EMPTY;
        for slice in series.range(first..end).map(|(_, a)| a) {
            total.merge(slice);
        }
        total.value(statistic)
    }
}

/// What an alarm watches.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmSource {
    /// One metric, under the alarm's statistic.
    Metric(MetricKey),
    /// The infra modules' errors alarm, a metric-math rate:
    /// `IF(invocations >= min_invocations, 100 * errors / invocations, 0)` over the sums of a
    /// function's `Errors` and `Invocations`; no datapoint when there were no invocations.
    ErrorRate {
        /// The function's `Errors`.
        errors: MetricKey,
        /// The function's `Invocations`.
        invocations: MetricKey,
        /// Fewer invocations than this in a period give a rate of 0.
        min_invocations: f64,
    },
}

impl AlarmSource {
    fn datapoint(
        &self,
        metrics: &Metrics,
        start: SimTime,
        period: Duration,
        statistic: Statistic,
    ) -> Option<f64> {
        match self {
            Self::Metric(key) => metrics.datapoint(key, start, period, statistic),
            Self::ErrorRate {
                errors,
                invocations,
                min_invocations,
            } => {
                let calls = metrics.datapoint(invocations, start, period, Statistic::Sum)?;
                let failed = metrics
                    .datapoint(errors, start, period, Statistic::Sum)
                    .unwrap_or(0.0);
                Some(if calls >= *min_invocations && calls > 0.0 {
                    100.0 * failed / calls
                } else {
                    0.0
                })
            }
        }
    }
}

/// A metric alarm.
#[derive(Debug, Clone)]
pub struct SimAlarm {
    /// Its name.
    pub name: String,
    /// What it watches.
    pub source: AlarmSource,
    /// How it evaluates.
    pub config: AlarmConfig,
    /// How long after a period ends its datapoint is visible.
    pub delay: Duration,
    evaluation: AlarmEvaluation,
    state: AlarmState,
    next_evaluation: SimTime,
    transitions: Vec<(SimTime, AlarmState)>,
}

impl SimAlarm {
    /// A new alarm (`INSUFFICIENT_DATA`), first evaluated at the first evaluation instant
    /// after `created`.
    pub fn new(
        name: impl Into<String>,
        source: AlarmSource,
        config: AlarmConfig,
        delay: Duration,
        created: SimTime,
    ) -> Self {
        let mut alarm = Self {
            name: name.into(),
            source,
            config,
            delay,
            evaluation: AlarmEvaluation::Aws,
            state: AlarmState::InsufficientData,
            next_evaluation: SimTime::ZERO,
            transitions: Vec::new(),
        };
        let every = alarm.every().as_millis();
        alarm.next_evaluation = SimTime::from_millis((created.as_millis() / every + 1) * every);
        alarm
    }

    /// The same alarm evaluated as LocalStack does, created at `created`: first evaluated
    /// then, and every `EvaluationPeriods × Period` after.
    #[must_use]
    pub fn evaluated_by(mut self, evaluation: AlarmEvaluation, created: SimTime) -> Self {
        self.evaluation = evaluation;
        if evaluation == AlarmEvaluation::LocalStack {
            self.next_evaluation = created;
        }
        self
    }

    /// How often it is evaluated.
    pub fn every(&self) -> SimTime {
        if self.evaluation == AlarmEvaluation::LocalStack {
            SimTime::from_secs(
                u64::from(self.config.period_seconds())
                    * u64::from(self.config.evaluation_periods()),
            )
        } else if self.config.period_seconds() < 60 {
            SimTime::from_secs(10)
        } else {
            SimTime::from_secs(60)
        }
    }

    /// Its state.
    pub fn state(&self) -> AlarmState {
        self.state
    }

    /// When it changed state, and to what.
    pub fn transitions(&self) -> &[(SimTime, AlarmState)] {
        &self.transitions
    }

    /// When it is next evaluated.
    pub fn next_evaluation(&self) -> SimTime {
        self.next_evaluation
    }

    /// Runs every evaluation due by `now`; returns the state changes, oldest first.
    pub fn evaluate_until(
        &mut self,
        now: SimTime,
        metrics: &Metrics,
    ) -> Vec<(SimTime, AlarmState)> {
        let mut changes = Vec::new();
        while self.next_evaluation <= now {
            let at = self.next_evaluation;
            let next = match self.evaluation {
                AlarmEvaluation::Aws => {
                    evaluate(&self.config, &self.range(at, metrics), self.state)
                }
                AlarmEvaluation::LocalStack => {
                    localstack_evaluate(&self.config, &self.windows(at, metrics), self.state)
                }
            };
            if next != self.state {
                self.state = next;
                self.transitions.push((at, next));
                changes.push((at, next));
            }
            self.next_evaluation = at + Duration::from_millis(self.every().as_millis());
        }
        changes
    }

    /// LocalStack's evaluation range at `at`, oldest first: `N + max(⌊N/3⌋, 2)` windows of
    /// one period, the newest ending `delay` before `at`.
    fn windows(&self, at: SimTime, metrics: &Metrics) -> Vec<Option<f64>> {
        let period = Duration::from_secs(u64::from(self.config.period_seconds()));
        let n = u64::from(self.config.evaluation_periods());
        let count = n + (n / 3).max(2);
        let newest_end = (at - self.delay).as_millis();
        let period_ms = period.as_secs() * 1000;
        (1..=count)
            .rev()
            .map(|back| {
                // A window reaching back before the start holds only what came after it.
                let end = newest_end.checked_sub((back - 1) * period_ms)?;
                let start = end.saturating_sub(period_ms);
                self.source.datapoint(
                    metrics,
                    SimTime::from_millis(start),
                    Duration::from_millis(end - start),
                    self.config.statistic(),
                )
            })
            .collect()
    }

    /// The evaluation range at `at`, oldest first: whole periods that ended at least
    /// `delay` before `at`.
    fn range(&self, at: SimTime, metrics: &Metrics) -> Vec<Option<f64>> {
        let period_ms = u64::from(self.config.period_seconds()) * 1000;
        let period = Duration::from_millis(period_ms);
        let visible = (at - self.delay).as_millis();
        let newest_end = visible / period_ms * period_ms;
        let count = self.config.evaluation_range() as u64;
        (1..=count)
            .rev()
            .map(|back| {
                let start = newest_end.checked_sub(back * period_ms)?;
                self.source.datapoint(
                    metrics,
                    SimTime::from_millis(start),
                    period,
                    self.config.statistic(),
                )
            })
            .collect()
    }
}

/// LocalStack's decision (`calculate_alarm_state` in its `alarm_scheduler.py`) over
/// `windows`, oldest first: every window empty, missing data decides (`ignore` and `missing`
/// keep or lose the state as CloudWatch's do); otherwise ALARM when at least
/// `DatapointsToAlarm` of the non-empty windows, padded with missing ones to N, breach
/// (a missing one breaches only under `breaching`). LocalStack's "premature alarm" rule
/// applies only to `missing` and `ignore` with M > 1, which this simulator's alarms never
/// use; it is left out.
fn localstack_evaluate(
    cfg: &AlarmConfig,
    windows: &[Option<f64>],
    current: AlarmState,
) -> AlarmState {
    use alarms::eval::TreatMissingData;
    let missing = cfg.treat_missing_data();
    let real: Vec<f64> = windows.iter().flatten().copied().collect();
    if real.is_empty() {
        return match missing {
            TreatMissingData::Breaching => AlarmState::Alarm,
            TreatMissingData::NotBreaching => AlarmState::Ok,
            TreatMissingData::Missing => AlarmState::InsufficientData,
            TreatMissingData::Ignore => current,
        };
    }
    let padding = (cfg.evaluation_periods() as usize).saturating_sub(real.len());
    let padded_breaching = if missing == TreatMissingData::Breaching {
        padding
    } else {
        0
    };
    let breaching = real.iter().filter(|v| cfg.breaches(**v)).count() + padded_breaching;
    if breaching >= cfg.datapoints_to_alarm() as usize {
        AlarmState::Alarm
    } else {
        AlarmState::Ok
    }
}

#[cfg(test)]
mod tests {
    use alarms::eval::{ComparisonOperator, TreatMissingData};

    use super::*;

    fn errors() -> MetricKey {
        MetricKey::new("AWS/Lambda", "Errors", "FunctionName", "consumer")
    }

    fn alarm(period: u32, n: u32, m: u32, delay: Duration) -> SimAlarm {
        let config = AlarmConfig::new(
            period,
            n,
            m,
            ComparisonOperator::GreaterThanOrEqualToThreshold,
            1.0,
        )
        .expect("valid")
        .with_statistic(Statistic::Sum)
        .with_treat_missing_data(TreatMissingData::NotBreaching);
        SimAlarm::new(
            "errors",
            AlarmSource::Metric(errors()),
            config,
            delay,
            SimTime::ZERO,
        )
    }

    #[test]
    fn samples_roll_up_to_the_period() {
        let mut metrics = Metrics::default();
        for s in [5, 15, 59, 61] {
            metrics.put(&errors(), SimTime::from_secs(s), 1.0);
        }
        let minute = Duration::from_mins(1);
        let sum =
            |start| metrics.datapoint(&errors(), SimTime::from_secs(start), minute, Statistic::Sum);
        assert_eq!(sum(0), Some(3.0));
        assert_eq!(sum(60), Some(1.0));
        assert_eq!(sum(120), None);
    }

    #[test]
    fn a_one_minute_alarm_sees_a_failure_only_after_its_period_ends_and_the_delay() {
        let mut metrics = Metrics::default();
        let mut a = alarm(60, 1, 1, Duration::from_secs(30));
        // Errors from t = 65 s: in the period [60, 120), visible from 150 s, evaluated at 180 s.
        metrics.put(&errors(), SimTime::from_secs(65), 1.0);
        let changes = a.evaluate_until(SimTime::from_secs(170), &metrics);
        assert_eq!(changes, vec![(SimTime::from_secs(60), AlarmState::Ok)]);
        let changes = a.evaluate_until(SimTime::from_secs(180), &metrics);
        assert_eq!(changes, vec![(SimTime::from_secs(180), AlarmState::Alarm)]);
    }

    #[test]
    fn m_of_n_needs_m_breaching_periods() {
        let mut metrics = Metrics::default();
        let mut a = alarm(10, 3, 2, Duration::ZERO);
        metrics.put(&errors(), SimTime::from_secs(12), 1.0);
        a.evaluate_until(SimTime::from_secs(30), &metrics);
        assert_eq!(a.state(), AlarmState::Ok, "one breaching period of three");
        metrics.put(&errors(), SimTime::from_secs(31), 1.0);
        a.evaluate_until(SimTime::from_secs(40), &metrics);
        assert_eq!(a.state(), AlarmState::Alarm, "two of three");
        assert_eq!(
            a.transitions().last(),
            Some(&(SimTime::from_secs(40), AlarmState::Alarm))
        );
        // With too few real datapoints among the newest N, CloudWatch looks back over the
        // evaluation range (N + 2 here): at 60 s both breaching periods still count.
        a.evaluate_until(SimTime::from_secs(60), &metrics);
        assert_eq!(a.state(), AlarmState::Alarm);
        a.evaluate_until(SimTime::from_secs(70), &metrics);
        assert_eq!(
            a.state(),
            AlarmState::Ok,
            "the first breaching period aged out"
        );
    }

    #[test]
    fn high_resolution_alarms_are_evaluated_every_ten_seconds() {
        assert_eq!(
            alarm(10, 1, 1, Duration::ZERO).every(),
            SimTime::from_secs(10)
        );
        assert_eq!(
            alarm(30, 1, 1, Duration::ZERO).every(),
            SimTime::from_secs(10)
        );
        assert_eq!(
            alarm(60, 1, 1, Duration::ZERO).every(),
            SimTime::from_secs(60)
        );
        assert_eq!(
            alarm(300, 1, 1, Duration::ZERO).every(),
            SimTime::from_secs(60)
        );
    }

    #[test]
    fn the_error_rate_needs_enough_invocations() {
        let invocations = MetricKey::new("AWS/Lambda", "Invocations", "FunctionName", "consumer");
        let source = AlarmSource::ErrorRate {
            errors: errors(),
            invocations: invocations.clone(),
            min_invocations: 10.0,
        };
        let mut metrics = Metrics::default();
        let minute = Duration::from_mins(1);
        let rate = |m: &Metrics, start| {
            source.datapoint(m, SimTime::from_secs(start), minute, Statistic::Sum)
        };
        assert_eq!(rate(&metrics, 0), None, "no invocations, no datapoint");
        for i in 0..5 {
            metrics.put(&invocations, SimTime::from_secs(i), 1.0);
            metrics.put(&errors(), SimTime::from_secs(i), 1.0);
        }
        assert_eq!(
            rate(&metrics, 0),
            Some(0.0),
            "5 failures of 5 are below the minimum"
        );
        for i in 0..15 {
            metrics.put(&invocations, SimTime::from_secs(60 + i), 1.0);
            metrics.put(
                &errors(),
                SimTime::from_secs(60 + i),
                if i < 3 { 1.0 } else { 0.0 },
            );
        }
        assert_eq!(rate(&metrics, 60), Some(20.0));
    }

    #[test]
    fn localstack_evaluates_sliding_windows_from_creation_and_looks_back_three_periods() {
        // 10 s, 1 of 1, notBreaching, created at 3 s: evaluated at 3, 13, 23, … over the
        // windows ending then, three of them (1 + max(0, 2)).
        let mut metrics = Metrics::with_resolution(Duration::from_secs(1));
        let mut a = alarm(10, 1, 1, Duration::ZERO)
            .evaluated_by(AlarmEvaluation::LocalStack, SimTime::from_secs(3));
        assert_eq!(a.every(), SimTime::from_secs(10));
        assert_eq!(a.next_evaluation(), SimTime::from_secs(3));
        metrics.put(&errors(), SimTime::from_secs(14), 1.0);
        assert_eq!(
            a.evaluate_until(SimTime::from_secs(22), &metrics),
            vec![(SimTime::from_secs(3), AlarmState::Ok)],
            "no datapoint at all: notBreaching"
        );
        assert_eq!(
            a.evaluate_until(SimTime::from_secs(23), &metrics),
            vec![(SimTime::from_secs(23), AlarmState::Alarm)],
            "[13, 23) holds the error"
        );
        // It stays in ALARM while the error is in any of the last three windows: [13, 23)
        // is the oldest at 43 s, gone at 53 s.
        assert!(
            a.evaluate_until(SimTime::from_secs(43), &metrics)
                .is_empty()
        );
        assert_eq!(
            a.evaluate_until(SimTime::from_secs(53), &metrics),
            vec![(SimTime::from_secs(53), AlarmState::Ok)]
        );
    }

    #[test]
    fn localstack_sees_errors_in_the_first_seconds_too() {
        // Evaluated at 9.9 s: the newest window, [-0.1 s, 9.9 s), holds what came after 0.
        let mut metrics = Metrics::with_resolution(Duration::from_secs(1));
        let mut a = alarm(10, 1, 1, Duration::ZERO)
            .evaluated_by(AlarmEvaluation::LocalStack, SimTime::from_millis(9_900));
        metrics.put(&errors(), SimTime::from_secs(6), 1.0);
        assert_eq!(
            a.evaluate_until(SimTime::from_millis(9_900), &metrics),
            vec![(SimTime::from_millis(9_900), AlarmState::Alarm)]
        );
    }

    #[test]
    fn localstack_counts_breaching_windows_among_all_it_read() {
        let config = |m| {
            AlarmConfig::new(
                60,
                3,
                m,
                ComparisonOperator::GreaterThanOrEqualToThreshold,
                1.0,
            )
            .expect("valid")
            .with_treat_missing_data(TreatMissingData::NotBreaching)
        };
        // Five windows read; two breaching ones count wherever they are.
        let windows = [Some(1.0), Some(0.0), None, Some(0.0), Some(1.0)];
        assert_eq!(
            localstack_evaluate(&config(2), &windows, AlarmState::Ok),
            AlarmState::Alarm
        );
        assert_eq!(
            localstack_evaluate(&config(3), &windows, AlarmState::Alarm),
            AlarmState::Ok
        );
        assert_eq!(
            localstack_evaluate(&config(1), &[None; 5], AlarmState::Alarm),
            AlarmState::Ok,
            "all missing, notBreaching"
        );
    }
}
