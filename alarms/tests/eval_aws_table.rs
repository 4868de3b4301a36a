//! The worked examples of "How alarm state is evaluated when data is missing" in the AWS
//! user guide page "Configuring how `CloudWatch` alarms treat missing data", row by row.
//!
//! Notation as in the guide: the evaluation range oldest first, `0` a datapoint within the
//! threshold, `X` a breaching one, `-` a missing one. Each row lists the state under the
//! treatments MISSING, IGNORE, BREACHING, NOT BREACHING. "Retain current state" is checked by
//! evaluating from both ALARM and OK.

use alarms::AlarmState::{self, Alarm, InsufficientData, Ok};
use alarms::eval::{AlarmConfig, ComparisonOperator, TreatMissingData, evaluate};

const TREATMENTS: [TreatMissingData; 4] = [
    TreatMissingData::Missing,
    TreatMissingData::Ignore,
    TreatMissingData::Breaching,
    TreatMissingData::NotBreaching,
];

/// Marks the IGNORE column's "Retain current state".
const RETAIN: Option<AlarmState> = None;

fn datapoints(pattern: &str) -> Vec<Option<f64>> {
    pattern
        .split_whitespace()
        .map(|cell| match cell {
            "0" => Some(0.0),
            "X" => Some(10.0),
            "-" => None,
            other => panic!("unknown cell {other}"),
        })
        .collect()
}

/// The state under each treatment, evaluating from `current`.
fn row(pattern: &str, to_alarm: u32, current: AlarmState) -> [AlarmState; 4] {
    let points = datapoints(pattern);
    TREATMENTS.map(|treatment| {
        let cfg = AlarmConfig::new(
            300,
            3,
            to_alarm,
            ComparisonOperator::GreaterThanThreshold,
            5.0,
        )
        .expect("the guide's alarm is valid")
        .with_treat_missing_data(treatment);
        evaluate(&cfg, &points, current)
    })
}

/// Checks one row of the guide's table; `ignore = None` means "retain current state".
fn assert_row(
    pattern: &str,
    to_alarm: u32,
    missing: AlarmState,
    ignore: Option<AlarmState>,
    breaching: AlarmState,
    not_breaching: AlarmState,
) {
    for current in [Alarm, Ok, InsufficientData] {
        let expected = [missing, ignore.unwrap_or(current), breaching, not_breaching];
        assert_eq!(
            row(pattern, to_alarm, current),
            expected,
            "{pattern} with M={to_alarm}, N=3, from {current}"
        );
    }
}

// Table 1: Datapoints to Alarm 3, Evaluation Periods 3, evaluation range 5.

#[test]
fn three_of_three_bridges_gaps_with_older_real_data() {
    assert_row("0 - X - X", 3, Ok, Some(Ok), Ok, Ok);
}

#[test]
fn one_good_point_keeps_three_of_three_ok_even_when_missing_counts_as_breaching() {
    assert_row("0 - - - -", 3, Ok, Some(Ok), Ok, Ok);
}

#[test]
fn all_missing_follows_each_treatment() {
    assert_row("- - - - -", 3, InsufficientData, RETAIN, Alarm, Ok);
}

#[test]
fn three_newest_real_breaches_alarm_whatever_the_treatment() {
    assert_row("0 X X - X", 3, Alarm, Some(Alarm), Alarm, Alarm);
}

#[test]
fn a_lone_breach_three_periods_old_alarms_prematurely_when_missing() {
    assert_row("- - X - -", 3, Alarm, RETAIN, Alarm, Ok);
}

#[test]
fn a_lone_newest_breach_is_not_yet_enough_for_three_of_three() {
    // `- - - - X` is a row of the guide's earlier version of table 1. For `- - - X -` the
    // "premature alarm" section only says it does not go to ALARM; INSUFFICIENT_DATA is this
    // model's reading, the same as for `- - - - X`.
    assert_row("- - - - X", 3, InsufficientData, RETAIN, Alarm, Ok);
    assert_row("- - - X -", 3, InsufficientData, RETAIN, Alarm, Ok);
}

#[test]
fn breaching_fills_alarm_once_the_good_point_leaves_the_range() {
    // The guide on row 2: "The next time this alarm is evaluated, if the data is still
    // missing it will go to ALARM, as that non-breaching data point will no longer be in
    // the evaluation range."
    let [_, _, before, _] = row("0 - - - -", 3, Ok);
    let [_, _, after, _] = row("- - - - -", 3, before);
    assert_eq!((before, after), (Ok, Alarm));
}

// Table 2: Datapoints to Alarm 2, Evaluation Periods 3 (2 out of 3), evaluation range 5.

#[test]
fn two_of_three_counts_older_real_points_across_gaps() {
    assert_row("0 - X - X", 2, Alarm, Some(Alarm), Alarm, Alarm);
}

#[test]
fn two_of_three_looks_only_at_the_newest_three_when_none_are_missing() {
    assert_row("0 0 X 0 X", 2, Alarm, Some(Alarm), Alarm, Alarm);
}

#[test]
fn one_breaching_fill_completes_two_of_three() {
    assert_row("0 - X - -", 2, Ok, Some(Ok), Alarm, Ok);
}

#[test]
fn two_breaching_fills_alarm_despite_a_good_point() {
    assert_row("- - - - 0", 2, Ok, Some(Ok), Alarm, Ok);
}

#[test]
fn a_breach_two_periods_old_alarms_prematurely_for_two_of_three() {
    assert_row("- - - X -", 2, Alarm, RETAIN, Alarm, Ok);
}

#[test]
fn a_lone_newest_breach_is_insufficient_data_for_two_of_three() {
    // From the guide's earlier version of table 2.
    assert_row("- - - - X", 2, InsufficientData, RETAIN, Alarm, Ok);
}
