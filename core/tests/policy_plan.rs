//! The safe order of control-plane calls.

use floodgate_core::policy::{Actuation, Observed, Step, plan};

fn observed(esm_enabled: bool, max: Option<u32>, reserved: Option<u32>) -> Observed {
    Observed {
        esm_enabled,
        maximum_concurrency: max,
        reserved_concurrency: reserved,
    }
}

fn desired(esm_enabled: bool, max: u32, reserved: Option<u32>) -> Actuation {
    Actuation {
        esm_enabled,
        maximum_concurrency: max,
        reserved_concurrency: reserved,
    }
}

/// Applies the plan, checking the invariant after every step, and returns the end state.
fn run(from: Observed, to: &Actuation) -> (Vec<Step>, Observed) {
    let steps = plan(&from, to);
    let mut now = from;
    for step in &steps {
        now.apply(*step);
        assert!(now.is_safe(), "unsafe after {step:?}: {now:?}");
    }
    (steps, now)
}

#[test]
fn opening_disables_first_then_lowers_maximum_before_reserved() {
    let to = desired(false, 2, Some(2));
    let (steps, end) = run(observed(true, Some(16), Some(16)), &to);
    assert_eq!(
        steps,
        vec![
            Step::DisableEsm,
            Step::SetMaximumConcurrency(2),
            Step::SetReservedConcurrency(2)
        ]
    );
    assert!(end.matches(&to));
}

#[test]
fn probing_an_open_circuit_is_a_pure_enable() {
    let (steps, _) = run(
        observed(false, Some(2), Some(2)),
        &desired(true, 2, Some(2)),
    );
    assert_eq!(steps, vec![Step::EnableEsm]);
}

#[test]
fn enabling_comes_last_after_raising_reserved_before_maximum() {
    let (steps, _) = run(
        observed(false, Some(2), Some(0)),
        &desired(true, 16, Some(16)),
    );
    assert_eq!(
        steps,
        vec![
            Step::SetReservedConcurrency(16),
            Step::SetMaximumConcurrency(16),
            Step::EnableEsm
        ]
    );
}

#[test]
fn lowering_while_consuming_sets_maximum_before_reserved() {
    let (steps, _) = run(
        observed(true, Some(16), Some(16)),
        &desired(true, 8, Some(8)),
    );
    assert_eq!(
        steps,
        vec![
            Step::SetMaximumConcurrency(8),
            Step::SetReservedConcurrency(8)
        ]
    );
}

#[test]
fn raising_while_consuming_sets_reserved_before_maximum() {
    let (steps, _) = run(observed(true, Some(4), Some(4)), &desired(true, 8, Some(8)));
    assert_eq!(
        steps,
        vec![
            Step::SetReservedConcurrency(8),
            Step::SetMaximumConcurrency(8)
        ]
    );
}

#[test]
fn nothing_is_called_when_observed_matches_desired() {
    let to = desired(true, 8, Some(10));
    let from = observed(true, Some(8), Some(10));
    assert!(from.matches(&to));
    assert!(plan(&from, &to).is_empty());
}

#[test]
fn unset_maximum_concurrency_counts_as_unlimited() {
    let (steps, _) = run(observed(true, None, None), &desired(true, 8, Some(8)));
    assert_eq!(
        steps,
        vec![
            Step::SetMaximumConcurrency(8),
            Step::SetReservedConcurrency(8)
        ]
    );
    assert!(!observed(true, None, Some(8)).is_safe());
    assert!(observed(true, None, None).is_safe());
}

#[test]
fn unmanaged_reservation_is_never_touched() {
    let (steps, _) = run(
        observed(true, Some(16), Some(100)),
        &desired(false, 2, None),
    );
    assert_eq!(
        steps,
        vec![Step::DisableEsm, Step::SetMaximumConcurrency(2)]
    );
}

#[test]
fn unmanaged_reservation_below_the_desired_maximum_caps_it() {
    let to = desired(true, 16, None);
    let (steps, end) = run(observed(true, Some(4), Some(5)), &to);
    assert_eq!(steps, vec![Step::SetMaximumConcurrency(5)]);
    assert!(!end.matches(&to), "the shortfall is visible to the caller");
}

#[test]
fn unmanaged_reservation_below_the_sqs_minimum_keeps_the_mapping_disabled() {
    let (steps, end) = run(observed(false, Some(2), Some(0)), &desired(true, 2, None));
    assert!(steps.is_empty());
    assert!(!end.esm_enabled);
    let (steps, _) = run(observed(true, Some(2), Some(1)), &desired(true, 2, None));
    assert_eq!(steps, vec![Step::DisableEsm]);
}

#[test]
fn steps_serialize_for_logs() {
    let json = serde_json::to_value(vec![Step::DisableEsm, Step::SetMaximumConcurrency(2)])
        .expect("serializes");
    assert_eq!(
        json,
        serde_json::json!([{"step": "disable-esm"}, {"step": "set-maximum-concurrency", "value": 2}])
    );
}
