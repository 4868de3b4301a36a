//! Properties of the evaluation model that must hold for every config and every history,
//! plus the config validation and the per-period statistics.

use alarms::AlarmState;
use alarms::eval::{
    Aggregate, AlarmConfig, ComparisonOperator, Statistic, TreatMissingData, evaluate,
};
use proptest::prelude::*;

const THRESHOLD: f64 = 50.0;

fn operator() -> impl Strategy<Value = ComparisonOperator> {
    prop::sample::select(vec![
        ComparisonOperator::GreaterThanThreshold,
        ComparisonOperator::GreaterThanOrEqualToThreshold,
        ComparisonOperator::LessThanThreshold,
        ComparisonOperator::LessThanOrEqualToThreshold,
    ])
}

fn treatment() -> impl Strategy<Value = TreatMissingData> {
    prop::sample::select(vec![
        TreatMissingData::Missing,
        TreatMissingData::Ignore,
        TreatMissingData::Breaching,
        TreatMissingData::NotBreaching,
    ])
}

fn state() -> impl Strategy<Value = AlarmState> {
    prop::sample::select(vec![
        AlarmState::Ok,
        AlarmState::Alarm,
        AlarmState::InsufficientData,
    ])
}

/// Any valid "M out of N" alarm around [`THRESHOLD`].
fn config() -> impl Strategy<Value = AlarmConfig> {
    (1u32..=6, operator(), treatment())
        .prop_flat_map(|(n, op, treatment)| (Just(n), 1..=n, Just(op), Just(treatment)))
        .prop_map(|(n, m, op, treatment)| {
            AlarmConfig::new(60, n, m, op, THRESHOLD)
                .expect("1 <= m <= n <= 6 at a 60 s period is valid")
                .with_treat_missing_data(treatment)
        })
}

/// Histories with gaps; values cluster around the threshold so both sides and equality occur.
fn history() -> impl Strategy<Value = Vec<Option<f64>>> {
    proptest::collection::vec(
        prop_oneof![
            1 => Just(None),
            3 => (0.0..100.0f64).prop_map(Some),
            1 => Just(Some(THRESHOLD)),
        ],
        0..10,
    )
}

fn non_empty_history() -> impl Strategy<Value = Vec<Option<f64>>> {
    history().prop_filter("needs a period to change", |points| !points.is_empty())
}

/// A value that breaches (or, with `breach = false`, does not breach) `cfg`.
fn value(cfg: &AlarmConfig, breach: bool) -> f64 {
    let candidates = [THRESHOLD - 10.0, THRESHOLD, THRESHOLD + 10.0];
    candidates
        .into_iter()
        .find(|v| cfg.breaches(*v) == breach)
        .expect("one side of every operator is reachable")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        // Integration tests have no lib.rs next to them for proptest to store regressions in.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn adding_a_breaching_datapoint_never_clears_an_alarm(
        cfg in config(), points in non_empty_history(), at in any::<prop::sample::Index>(), current in state(),
    ) {
        if evaluate(&cfg, &points, current) == AlarmState::Alarm {
            let mut worse = points.clone();
            worse[at.index(points.len())] = Some(value(&cfg, true));
            prop_assert_eq!(evaluate(&cfg, &worse, current), AlarmState::Alarm);
        }
    }

    #[test]
    fn adding_a_good_datapoint_never_raises_an_alarm(
        cfg in config(), points in non_empty_history(), at in any::<prop::sample::Index>(), current in state(),
    ) {
        if evaluate(&cfg, &points, current) != AlarmState::Alarm {
            let mut better = points.clone();
            better[at.index(points.len())] = Some(value(&cfg, false));
            prop_assert_ne!(evaluate(&cfg, &better, current), AlarmState::Alarm);
        }
    }

    #[test]
    fn one_out_of_one_is_a_threshold_check_on_the_newest_datapoint(
        op in operator(), treatment in treatment(), older in history(), newest in 0.0..100.0f64,
        current in state(),
    ) {
        let cfg = AlarmConfig::new(60, 1, 1, op, THRESHOLD).unwrap().with_treat_missing_data(treatment);
        let mut points = older;
        points.push(Some(newest));
        let expected = if cfg.breaches(newest) { AlarmState::Alarm } else { AlarmState::Ok };
        prop_assert_eq!(evaluate(&cfg, &points, current), expected);
    }

    #[test]
    fn missing_data_treatment_is_irrelevant_when_the_newest_n_periods_have_data(
        cfg in config(), older in history(), recent in proptest::collection::vec(0.0..100.0f64, 6),
        current in state(),
    ) {
        let mut points = older;
        points.extend(recent.iter().take(cfg.evaluation_periods() as usize).map(|v| Some(*v)));
        let verdicts: Vec<AlarmState> = [
            TreatMissingData::Missing,
            TreatMissingData::Ignore,
            TreatMissingData::Breaching,
            TreatMissingData::NotBreaching,
        ]
        .into_iter()
        .map(|t| evaluate(&cfg.with_treat_missing_data(t), &points, current))
        .collect();
        prop_assert!(verdicts.iter().all(|v| *v == verdicts[0]), "{:?}", verdicts);
        prop_assert_ne!(verdicts[0], AlarmState::InsufficientData);
    }

    #[test]
    fn only_ignore_ever_depends_on_the_current_state(cfg in config(), points in history()) {
        let from = |current| evaluate(&cfg, &points, current);
        if cfg.treat_missing_data() != TreatMissingData::Ignore {
            prop_assert_eq!(from(AlarmState::Ok), from(AlarmState::Alarm));
            prop_assert_eq!(from(AlarmState::Ok), from(AlarmState::InsufficientData));
        }
    }

    #[test]
    fn only_missing_ever_concludes_insufficient_data_by_itself(
        cfg in config(), points in history(),
    ) {
        // Ignore may keep INSUFFICIENT_DATA, so start it from OK to see what it concludes.
        let result = evaluate(&cfg, &points, AlarmState::Ok);
        if cfg.treat_missing_data() != TreatMissingData::Missing {
            prop_assert_ne!(result, AlarmState::InsufficientData);
        }
    }

    #[test]
    fn aggregate_statistics_agree_with_their_definitions(
        samples in proptest::collection::vec(-1.0e6..1.0e6f64, 1..50),
    ) {
        let aggregate: Aggregate = samples.iter().copied().collect();
        let min = aggregate.value(Statistic::Minimum).unwrap();
        let max = aggregate.value(Statistic::Maximum).unwrap();
        let avg = aggregate.value(Statistic::Average).unwrap();
        let sum = aggregate.value(Statistic::Sum).unwrap();
        #[allow(clippy::cast_precision_loss)]
        let count = samples.len() as f64;
        prop_assert_eq!(aggregate.value(Statistic::SampleCount), Some(count));
        prop_assert!(min <= avg + 1e-6 && avg <= max + 1e-6);
        prop_assert!((sum - avg * count).abs() <= 1e-6 * (1.0 + sum.abs()));
        // Minimum and maximum are copies of samples, so they must match bit for bit.
        let lowest = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        prop_assert_eq!(min.to_bits(), lowest.to_bits());
        prop_assert_eq!(max.to_bits(), highest.to_bits());
    }

    #[test]
    fn merging_aggregates_equals_aggregating_everything(
        left in proptest::collection::vec(-1.0e3..1.0e3f64, 0..20),
        right in proptest::collection::vec(-1.0e3..1.0e3f64, 0..20),
    ) {
        let mut merged: Aggregate = left.iter().copied().collect();
        merged.merge(&right.iter().copied().collect());
        let whole: Aggregate = left.iter().chain(&right).copied().collect();
        for stat in [Statistic::SampleCount, Statistic::Minimum, Statistic::Maximum] {
            prop_assert_eq!(merged.value(stat), whole.value(stat));
        }
        let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * (1.0 + a.abs()),
            (a, b) => a == b,
        };
        prop_assert!(close(merged.value(Statistic::Sum), whole.value(Statistic::Sum)));
        prop_assert!(close(merged.value(Statistic::Average), whole.value(Statistic::Average)));
    }
}

#[test]
fn a_period_without_samples_is_a_missing_datapoint() {
    for stat in [
        Statistic::SampleCount,
        Statistic::Sum,
        Statistic::Average,
        Statistic::Minimum,
        Statistic::Maximum,
    ] {
        assert_eq!(stat.of(&[]), None, "{stat}");
        assert_eq!(stat.of(&[f64::NAN]), None, "{stat} ignores NaN");
    }
}

#[test]
fn statistics_of_one_period() {
    let samples = [4.0, 1.0, 7.0, 2.0];
    assert_eq!(Statistic::SampleCount.of(&samples), Some(4.0));
    assert_eq!(Statistic::Sum.of(&samples), Some(14.0));
    assert_eq!(Statistic::Average.of(&samples), Some(3.5));
    assert_eq!(Statistic::Minimum.of(&samples), Some(1.0));
    assert_eq!(Statistic::Maximum.of(&samples), Some(7.0));
}

#[test]
fn statistics_are_read_in_any_case_the_payloads_use() {
    assert_eq!(
        Statistic::from_any_case("SAMPLE_COUNT"),
        Some(Statistic::SampleCount)
    );
    assert_eq!(
        Statistic::from_any_case("Average"),
        Some(Statistic::Average)
    );
    assert_eq!(Statistic::from_any_case("p99"), None);
    assert_eq!("Maximum".parse::<Statistic>().unwrap(), Statistic::Maximum);
    assert!("MAXIMUM".parse::<Statistic>().is_err());
}

#[test]
fn names_round_trip_in_cloudwatch_spelling() {
    for op in [
        ComparisonOperator::GreaterThanThreshold,
        ComparisonOperator::GreaterThanOrEqualToThreshold,
        ComparisonOperator::LessThanThreshold,
        ComparisonOperator::LessThanOrEqualToThreshold,
    ] {
        assert_eq!(op.to_string().parse::<ComparisonOperator>().unwrap(), op);
        assert_eq!(serde_json::to_string(&op).unwrap(), format!("\"{op}\""));
    }
    for t in [
        TreatMissingData::Missing,
        TreatMissingData::Ignore,
        TreatMissingData::Breaching,
        TreatMissingData::NotBreaching,
    ] {
        assert_eq!(t.to_string().parse::<TreatMissingData>().unwrap(), t);
        assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
    }
    assert_eq!(TreatMissingData::NotBreaching.as_str(), "notBreaching");
    assert_eq!(TreatMissingData::default(), TreatMissingData::Missing);
}

#[test]
fn accepts_the_periods_cloudwatch_accepts() {
    for period in [10, 20, 30, 60, 120, 300, 3600, 86_400] {
        assert!(
            AlarmConfig::new(period, 1, 1, ComparisonOperator::GreaterThanThreshold, 0.0).is_ok(),
            "{period}"
        );
    }
}

#[test]
fn rejects_each_invalid_setting_naming_its_field() {
    use ComparisonOperator::GreaterThanThreshold as Gt;
    let cases = [
        (AlarmConfig::new(0, 1, 1, Gt, 0.0), "period_seconds"),
        (AlarmConfig::new(15, 1, 1, Gt, 0.0), "period_seconds"),
        (AlarmConfig::new(90, 1, 1, Gt, 0.0), "period_seconds"),
        (AlarmConfig::new(60, 0, 0, Gt, 0.0), "evaluation_periods"),
        (AlarmConfig::new(60, 3, 0, Gt, 0.0), "datapoints_to_alarm"),
        (AlarmConfig::new(60, 3, 4, Gt, 0.0), "datapoints_to_alarm"),
        // Under an hour per period: at most one day in total.
        (AlarmConfig::new(60, 1441, 1, Gt, 0.0), "evaluation_periods"),
        // An hour or more per period: at most seven days in total.
        (
            AlarmConfig::new(3600, 169, 1, Gt, 0.0),
            "evaluation_periods",
        ),
        (AlarmConfig::new(60, 1, 1, Gt, f64::NAN), "threshold"),
        (AlarmConfig::new(60, 1, 1, Gt, f64::INFINITY), "threshold"),
    ];
    for (result, field) in cases {
        let err = result.unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }
    assert!(AlarmConfig::new(60, 1440, 1, Gt, 0.0).is_ok());
    assert!(AlarmConfig::new(3600, 168, 1, Gt, 0.0).is_ok());
}

#[test]
fn a_config_keeps_what_it_was_given() {
    let cfg = AlarmConfig::new(60, 5, 3, ComparisonOperator::LessThanThreshold, 1.5)
        .unwrap()
        .with_treat_missing_data(TreatMissingData::Breaching)
        .with_statistic(Statistic::Sum);
    assert_eq!(cfg.period_seconds(), 60);
    assert_eq!(cfg.evaluation_periods(), 5);
    assert_eq!(cfg.datapoints_to_alarm(), 3);
    assert_eq!(cfg.comparison(), ComparisonOperator::LessThanThreshold);
    assert!((cfg.threshold() - 1.5).abs() < f64::EPSILON);
    assert_eq!(cfg.treat_missing_data(), TreatMissingData::Breaching);
    assert_eq!(cfg.statistic(), Statistic::Sum);
    assert_eq!(cfg.evaluation_range(), 7);
}
