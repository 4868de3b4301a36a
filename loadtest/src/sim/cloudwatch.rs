//! CloudWatch in virtual time: metrics aggregated per period, published late, and metric
//! alarms evaluated on a schedule with the same evaluation code the project ships
//! ([`alarms::eval::evaluate`]).
//!
//! What it models (sources in [`crate::sim::params`]): samples are kept in 10-second slices
//! (the finest period a high-resolution alarm can have) and rolled up to the alarm's period;
//! a period becomes visible to alarms only `delay` after it ends; an alarm whose period is
//! under a minute is evaluated every 10 seconds, any other every minute ("Using Amazon
//! CloudWatch alarms": "If the alarm period is 10 seconds or 30 seconds, the alarm is
//! evaluated every 10 seconds"); each evaluation reads the alarm's evaluation range of whole
//! periods, newest last, and a new alarm starts in `INSUFFICIENT_DATA`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use alarms::AlarmState;
use alarms::eval::{Aggregate, AlarmConfig, Statistic, evaluate};

use crate::sim::time::SimTime;

/// The finest resolution samples are kept at, in milliseconds.
const SLICE_MS: u64 = 10_000;

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

/// Every metric's samples, by 10-second slice.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    series: HashMap<MetricKey, BTreeMap<u64, Aggregate>>,
}

impl Metrics {
    /// Records one sample of `key` taken at `at`.
    pub fn put(&mut self, key: &MetricKey, at: SimTime, sample: f64) {
        let slice = at.as_millis() / SLICE_MS;
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
        let first = start.as_millis() / SLICE_MS;
        let end = (start + period).as_millis() / SLICE_MS;
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
            state: AlarmState::InsufficientData,
            next_evaluation: SimTime::ZERO,
            transitions: Vec::new(),
        };
        let every = alarm.every().as_millis();
        alarm.next_evaluation = SimTime::from_millis((created.as_millis() / every + 1) * every);
        alarm
    }

    /// How often it is evaluated.
    pub fn every(&self) -> SimTime {
        if self.config.period_seconds() < 60 {
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
            let next = evaluate(&self.config, &self.range(at, metrics), self.state);
            if next != self.state {
                self.state = next;
                self.transitions.push((at, next));
                changes.push((at, next));
            }
            self.next_evaluation = at + Duration::from_millis(self.every().as_millis());
        }
        changes
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
}
