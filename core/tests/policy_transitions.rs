//! Behaviour of `decide`: each transition, overrides, dry-run and each rejection.

mod policy_support;

use chrono::TimeDelta;
use floodgate_core::policy::{
    Action, Actuation, AlarmKind, AlarmState, Cause, CircuitState, Command, Decision, Edge, Forced,
    OverrideKind, Phase, PhaseName, PolicyError, ReservedConcurrency, Signals, Timer, decide,
};
use policy_support::{at, config, config_with, decide_at, firing, ok, phase, reading, state};

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).expect("small duration")
}

fn command(
    config: &floodgate_core::policy::CircuitConfig,
    s: &CircuitState,
    now: i64,
    c: Command,
) -> Decision {
    decide(at(now), s, &Signals::alarms(vec![]).with_command(c), config).expect("command accepted")
}

fn force_open(until: Option<i64>) -> Command {
    Command::Force {
        to: Forced::Open,
        reason: "downstream maintenance".into(),
        actor: "alice".into(),
        until: until.map(at),
    }
}

fn force_close(until: Option<i64>) -> Command {
    Command::Force {
        to: Forced::Closed,
        reason: "errors are a known false alarm".into(),
        actor: "bob".into(),
        until: until.map(at),
    }
}

// --- Closed ---

#[test]
fn closed_trips_open_at_once_when_errors_alarm_fires() {
    let cfg = config();
    let d = decide_at(
        &cfg,
        &state(phase::closed(0)),
        1,
        vec![firing(AlarmKind::Errors, 1)],
    );
    assert_eq!(d.state.phase, phase::open(1, 1));
    assert_eq!(
        d.actuation,
        Actuation {
            esm_enabled: false,
            maximum_concurrency: 2,
            reserved_concurrency: Some(2)
        }
    );
    assert_eq!(
        d.transitions[0].cause,
        Cause::Alarm {
            alarm: "orders-errors".into(),
            kind: AlarmKind::Errors
        }
    );
}

#[test]
fn closed_throttles_to_safe_level_when_throttles_alarm_fires() {
    let cfg =
        config_with(|s| s.reserved_concurrency = ReservedConcurrency::Managed { headroom: 3 });
    let d = decide_at(
        &cfg,
        &state(phase::closed(0)),
        5,
        vec![firing(AlarmKind::Throttles, 5)],
    );
    assert_eq!(d.state.phase, phase::throttled(5, 8, 0));
    assert_eq!(
        d.actuation,
        Actuation {
            esm_enabled: true,
            maximum_concurrency: 8,
            reserved_concurrency: Some(11)
        }
    );
}

#[test]
fn depth_and_age_alarms_throttle_by_default() {
    let cfg = config();
    for kind in [AlarmKind::Depth, AlarmKind::Age] {
        let d = decide_at(&cfg, &state(phase::closed(0)), 35, vec![firing(kind, 5)]);
        assert_eq!(d.state.phase.name(), PhaseName::Throttled, "{kind:?}");
    }
}

#[test]
fn depth_alarm_opens_when_configured_to_open() {
    let cfg = config_with(|s| s.actions.depth = Action::Open);
    let d = decide_at(
        &cfg,
        &state(phase::closed(0)),
        35,
        vec![firing(AlarmKind::Depth, 5)],
    );
    assert_eq!(d.state.phase, phase::open(35, 1));
}

#[test]
fn custom_alarm_follows_its_configured_action() {
    let cfg = config();
    let closed = state(phase::closed(0));
    let open = decide_at(
        &cfg,
        &closed,
        5,
        vec![firing(AlarmKind::Custom(Action::Open), 5)],
    );
    let throttle = decide_at(
        &cfg,
        &closed,
        5,
        vec![firing(AlarmKind::Custom(Action::Throttle), 5)],
    );
    assert_eq!(open.state.phase.name(), PhaseName::Open);
    assert_eq!(throttle.state.phase.name(), PhaseName::Throttled);
}

#[test]
fn errors_alarm_outranks_throttle_alarms() {
    let cfg = config();
    let alarms = vec![
        firing(AlarmKind::Throttles, 1),
        firing(AlarmKind::Errors, 3),
    ];
    let d = decide_at(&cfg, &state(phase::closed(0)), 3, alarms);
    assert_eq!(d.state.phase.name(), PhaseName::Open);
}

#[test]
fn closed_stays_closed_while_alarms_are_ok_or_insufficient_data() {
    let cfg = config();
    let alarms = vec![
        ok(AlarmKind::Errors, 10),
        reading(AlarmKind::Throttles, AlarmState::InsufficientData, 20),
    ];
    let d = decide_at(&cfg, &state(phase::closed(0)), 30, alarms);
    assert!(d.transitions.is_empty());
    assert_eq!(d.state.phase, phase::closed(0));
    assert_eq!(
        d.actuation,
        Actuation {
            esm_enabled: true,
            maximum_concurrency: 16,
            reserved_concurrency: Some(16)
        }
    );
}

#[test]
fn unmanaged_reserved_concurrency_is_left_alone_in_every_phase() {
    let cfg = config_with(|s| s.reserved_concurrency = ReservedConcurrency::Unmanaged);
    for phase in [
        phase::closed(0),
        phase::throttled(0, 4, 0),
        phase::open(0, 1),
        phase::half_open(0, 1),
        phase::ramping(0, 4, 1),
    ] {
        assert_eq!(
            phase.actuation(&cfg).reserved_concurrency,
            None,
            "{phase:?}"
        );
    }
}

// --- Throttled ---

#[test]
fn throttled_halves_once_per_throttle_step_while_alarm_stays() {
    let cfg = config();
    let alarms = || vec![firing(AlarmKind::Throttles, 0)];
    let s = state(phase::throttled(0, 8, 0));
    assert!(decide_at(&cfg, &s, 59, alarms()).transitions.is_empty());
    let halved = decide_at(&cfg, &s, 60, alarms());
    assert_eq!(halved.state.phase, phase::throttled(60, 4, 0));
    assert!(
        decide_at(&cfg, &halved.state, 119, alarms())
            .transitions
            .is_empty()
    );
    let floor = decide_at(&cfg, &halved.state, 120, alarms());
    assert_eq!(floor.state.phase, phase::throttled(120, 2, 0));
    // At the probe level there is nothing left to halve.
    assert!(
        decide_at(&cfg, &floor.state, 1000, alarms())
            .transitions
            .is_empty()
    );
}

#[test]
fn throttled_opens_with_one_more_trip_when_errors_alarm_fires() {
    let cfg = config();
    let s = state(phase::throttled(0, 8, 1));
    let d = decide_at(&cfg, &s, 1, vec![firing(AlarmKind::Errors, 1)]);
    assert_eq!(d.state.phase, phase::open(1, 2));
}

#[test]
fn throttled_ramps_after_healthy_dwell() {
    let cfg = config();
    let s = state(phase::throttled(0, 4, 0));
    let alarms = || vec![ok(AlarmKind::Throttles, 10), ok(AlarmKind::Errors, -500)];
    assert!(decide_at(&cfg, &s, 129, alarms()).transitions.is_empty());
    let d = decide_at(&cfg, &s, 130, alarms());
    assert_eq!(d.state.phase, phase::ramping(130, 8, 0));
    assert_eq!(
        d.transitions[0].cause,
        Cause::Timer {
            timer: Timer::HealthyDwell
        }
    );
}

#[test]
fn throttled_closes_when_doubled_level_reaches_max() {
    let cfg = config();
    let s = state(phase::throttled(0, 8, 0));
    let d = decide_at(&cfg, &s, 500, vec![ok(AlarmKind::Throttles, 0)]);
    assert_eq!(d.state.phase, phase::closed(500));
}

// --- Open ---

#[test]
fn open_waits_for_its_open_wait_before_probing() {
    let cfg = config();
    let wait = secs(cfg.open_wait(1));
    assert!((60..72).contains(&wait), "jittered wait {wait}");
    let s = state(phase::open(0, 1));
    let alarms = || vec![ok(AlarmKind::Errors, -1000)];
    let exact = at(0) + TimeDelta::from_std(cfg.open_wait(1)).expect("small");
    let before = decide(
        exact - TimeDelta::milliseconds(1),
        &s,
        &Signals::alarms(alarms()),
        &cfg,
    )
    .expect("decides");
    assert!(before.transitions.is_empty());
    let after = decide(exact, &s, &Signals::alarms(alarms()), &cfg).expect("decides");
    assert_eq!(
        after.state.phase,
        Phase::HalfOpen {
            since: exact,
            trips: 1
        }
    );
    assert_eq!(
        after.transitions[0].cause,
        Cause::Timer {
            timer: Timer::OpenWait
        }
    );
    assert_eq!(
        after.actuation,
        Actuation {
            esm_enabled: true,
            maximum_concurrency: 2,
            reserved_concurrency: Some(2)
        }
    );
}

#[test]
fn open_waits_for_healthy_dwell_after_alarm_clears() {
    let cfg = config();
    let s = state(phase::open(0, 1));
    assert!(
        decide_at(&cfg, &s, 619, vec![ok(AlarmKind::Errors, 500)])
            .transitions
            .is_empty()
    );
    let d = decide_at(&cfg, &s, 620, vec![ok(AlarmKind::Errors, 500)]);
    assert_eq!(d.state.phase.name(), PhaseName::HalfOpen);
}

#[test]
fn open_stays_open_while_a_failure_alarm_is_in_alarm() {
    let cfg = config();
    let s = state(phase::open(0, 1));
    for failing in [AlarmKind::Throttles, AlarmKind::Custom(Action::Throttle)] {
        let d = decide_at(
            &cfg,
            &s,
            10_000,
            vec![ok(AlarmKind::Errors, 0), firing(failing, 0)],
        );
        assert!(d.transitions.is_empty(), "{failing:?}");
        assert!(!d.actuation.esm_enabled);
    }
}

// Finding 1 of issue 9: the backlog an open circuit builds must not lock it open.
#[test]
fn open_probes_despite_the_depth_and_age_alarms_its_own_backlog_fires() {
    let cfg = config();
    let s = state(phase::open(0, 1));
    let backlog = vec![
        ok(AlarmKind::Errors, 0),
        firing(AlarmKind::Depth, 30),
        firing(AlarmKind::Age, 300),
    ];
    let d = decide_at(&cfg, &s, 10_000, backlog);
    assert_eq!(d.state.phase, phase::half_open(10_000, 1));
    assert!(d.actuation.esm_enabled);
}

#[test]
fn a_probe_is_not_failed_by_backlog_alarms_and_ramps_on() {
    let cfg = config();
    let s = state(phase::half_open(0, 1));
    let backlog = || {
        vec![
            ok(AlarmKind::Errors, -100),
            firing(AlarmKind::Depth, 10),
            firing(AlarmKind::Age, 20),
        ]
    };
    assert!(decide_at(&cfg, &s, 30, backlog()).transitions.is_empty());
    let d = decide_at(&cfg, &s, 60, backlog());
    assert_eq!(d.state.phase, phase::ramping(60, 4, 1));
}

#[test]
fn a_backlog_that_was_there_before_closing_does_not_throttle_the_closed_circuit_again() {
    let cfg = config();
    let s = state(phase::closed(100));
    let stale = vec![ok(AlarmKind::Errors, 0), firing(AlarmKind::Depth, 50)];
    assert!(decide_at(&cfg, &s, 200, stale).transitions.is_empty());
    // A backlog alarm that fires anew, a minimum dwell after closing, slows it down.
    let fresh = vec![ok(AlarmKind::Errors, 0), firing(AlarmKind::Depth, 150)];
    let d = decide_at(&cfg, &s, 200, fresh);
    assert_eq!(d.state.phase, phase::throttled(200, 8, 0));
}

#[test]
fn a_fresh_backlog_alarm_waits_for_the_minimum_dwell_before_throttling() {
    let cfg = config();
    let s = state(phase::closed(100));
    let fresh = || vec![ok(AlarmKind::Errors, 0), firing(AlarmKind::Depth, 105)];
    assert!(decide_at(&cfg, &s, 110, fresh()).transitions.is_empty());
    assert_eq!(
        decide_at(&cfg, &s, 130, fresh()).state.phase,
        phase::throttled(130, 8, 0)
    );
}

#[test]
fn a_throttled_circuit_recovers_while_its_backlog_alarm_still_fires() {
    let cfg = config();
    let s = state(phase::throttled(0, 8, 0));
    let alarms = vec![ok(AlarmKind::Errors, -500), firing(AlarmKind::Depth, -10)];
    let d = decide_at(&cfg, &s, 200, alarms);
    assert_eq!(d.state.phase, phase::closed(200));
}

// Finding 9 of issue 9: a failure alarm that can no longer be read holds the circuit.
#[test]
fn a_deleted_failure_alarm_keeps_an_open_circuit_from_probing() {
    let cfg = config();
    let s = state(phase::open(0, 1));
    let mut signals = Signals::alarms(vec![]);
    signals.missing_failure_alarms = vec!["orders-errors".into()];
    let d = decide(at(10_000), &s, &signals, &cfg).unwrap();
    assert!(d.transitions.is_empty());
    assert!(!d.actuation.esm_enabled);
}

#[test]
fn open_respects_min_dwell_when_its_wait_is_shorter() {
    let cfg = config_with(|s| {
        s.timings.open_wait = std::time::Duration::from_secs(10);
        s.timings.jitter = 0.0;
    });
    let s = state(phase::open(0, 1));
    let alarms = || vec![ok(AlarmKind::Errors, -1000)];
    assert!(decide_at(&cfg, &s, 29, alarms()).transitions.is_empty());
    assert_eq!(
        decide_at(&cfg, &s, 30, alarms()).state.phase.name(),
        PhaseName::HalfOpen
    );
}

#[test]
fn insufficient_data_counts_as_healthy() {
    let cfg = config();
    let s = state(phase::open(0, 1));
    let alarms = vec![reading(AlarmKind::Errors, AlarmState::InsufficientData, 0)];
    assert_eq!(
        decide_at(&cfg, &s, 300, alarms).state.phase.name(),
        PhaseName::HalfOpen
    );
}

#[test]
fn kill_switch_sets_reserved_concurrency_to_zero_while_open() {
    let cfg = config_with(|s| s.kill_switch = true);
    let open = phase::open(0, 1).actuation(&cfg);
    assert_eq!(
        open,
        Actuation {
            esm_enabled: false,
            maximum_concurrency: 2,
            reserved_concurrency: Some(0)
        }
    );
    let probing = phase::half_open(0, 1).actuation(&cfg);
    assert_eq!(probing.reserved_concurrency, Some(2));
}

// --- HalfOpen ---

#[test]
fn half_open_ramps_after_healthy_probe_window() {
    let cfg = config();
    let s = state(phase::half_open(0, 2));
    let alarms = || vec![ok(AlarmKind::Errors, -300)];
    assert!(decide_at(&cfg, &s, 59, alarms()).transitions.is_empty());
    let d = decide_at(&cfg, &s, 60, alarms());
    assert_eq!(d.state.phase, phase::ramping(60, 4, 2));
    assert_eq!(
        d.transitions[0].cause,
        Cause::Timer {
            timer: Timer::ProbeWindow
        }
    );
}

#[test]
fn reopens_with_longer_wait_after_failed_probe() {
    let cfg = config();
    let s = state(phase::half_open(0, 1));
    let d = decide_at(&cfg, &s, 20, vec![firing(AlarmKind::Errors, 20)]);
    assert_eq!(d.state.phase, phase::open(20, 2));
    assert!(cfg.open_wait(2) > cfg.open_wait(1));
}

#[test]
fn throttle_alarm_during_probe_reopens() {
    let cfg = config();
    let s = state(phase::half_open(0, 1));
    let d = decide_at(&cfg, &s, 20, vec![firing(AlarmKind::Throttles, 20)]);
    assert_eq!(d.state.phase, phase::open(20, 2));
}

#[test]
fn half_open_closes_when_doubled_probe_reaches_max() {
    let cfg = config_with(|s| s.levels = floodgate_core::policy::Levels::new(4, 2));
    let s = state(phase::half_open(0, 1));
    let d = decide_at(&cfg, &s, 60, vec![ok(AlarmKind::Errors, -300)]);
    assert_eq!(d.state.phase, phase::closed(60));
}

// --- Ramping ---

#[test]
fn ramping_doubles_every_healthy_ramp_step_until_closed() {
    let cfg = config();
    let alarms = || vec![ok(AlarmKind::Errors, -300)];
    let s = state(phase::ramping(0, 4, 1));
    assert!(decide_at(&cfg, &s, 59, alarms()).transitions.is_empty());
    let eight = decide_at(&cfg, &s, 60, alarms());
    assert_eq!(eight.state.phase, phase::ramping(60, 8, 1));
    assert_eq!(eight.actuation.maximum_concurrency, 8);
    let closed = decide_at(&cfg, &eight.state, 120, alarms());
    assert_eq!(closed.state.phase, phase::closed(120));
    assert_eq!(
        closed.transitions[0].cause,
        Cause::Timer {
            timer: Timer::RampStep
        }
    );
}

#[test]
fn alarm_that_changed_recently_holds_a_ramp_step() {
    let cfg = config();
    let s = state(phase::ramping(0, 4, 1));
    assert!(
        decide_at(&cfg, &s, 60, vec![ok(AlarmKind::Errors, 30)])
            .transitions
            .is_empty()
    );
    assert_eq!(
        decide_at(&cfg, &s, 90, vec![ok(AlarmKind::Errors, 30)])
            .state
            .phase,
        phase::ramping(90, 8, 1)
    );
}

#[test]
fn ramping_falls_back_to_throttled_at_half_its_level_capped_at_safe() {
    let cfg = config_with(|s| s.levels = floodgate_core::policy::Levels::new(64, 8));
    let alarm = || vec![firing(AlarmKind::Throttles, 5)];
    let high = state(phase::ramping(0, 32, 2));
    assert_eq!(
        decide_at(&cfg, &high, 5, alarm()).state.phase,
        phase::throttled(5, 8, 2)
    );
    let low = state(phase::ramping(0, 4, 2));
    assert_eq!(
        decide_at(&cfg, &low, 5, alarm()).state.phase,
        phase::throttled(5, 2, 2)
    );
}

#[test]
fn ramping_trips_open_with_one_more_trip_on_errors_alarm() {
    let cfg = config();
    let s = state(phase::ramping(0, 8, 2));
    let d = decide_at(&cfg, &s, 1, vec![firing(AlarmKind::Errors, 1)]);
    assert_eq!(d.state.phase, phase::open(1, 3));
}

#[test]
fn closing_forgets_trips() {
    let cfg = config();
    let s = state(phase::ramping(0, 8, 3));
    let closed = decide_at(&cfg, &s, 60, vec![ok(AlarmKind::Errors, -300)]);
    let tripped = decide_at(&cfg, &closed.state, 61, vec![firing(AlarmKind::Errors, 61)]);
    assert_eq!(tripped.state.phase, phase::open(61, 1));
}

#[test]
fn persisted_level_above_a_lowered_max_is_clamped() {
    let cfg = config();
    let s = state(phase::throttled(0, 40, 0));
    let d = decide_at(&cfg, &s, 1, vec![firing(AlarmKind::Throttles, 0)]);
    assert_eq!(d.state.phase, phase::throttled(0, 16, 0));
    assert_eq!(d.actuation.maximum_concurrency, 16);
}

// --- Overrides ---

#[test]
fn force_open_stops_consumption_and_ignores_healthy_alarms() {
    let cfg = config();
    let d = command(&cfg, &state(phase::closed(0)), 10, force_open(None));
    assert_eq!(d.state.phase, phase::open(10, 1));
    assert!(!d.actuation.esm_enabled);
    assert_eq!(
        d.transitions[0].cause,
        Cause::Override {
            kind: OverrideKind::ForceOpen,
            reason: "downstream maintenance".into(),
            actor: "alice".into(),
            until: None,
        }
    );
    let later = decide_at(&cfg, &d.state, 100_000, vec![ok(AlarmKind::Errors, -1000)]);
    assert!(later.transitions.is_empty());
    assert_eq!(later.state.label(), "force-open");
}

#[test]
fn force_close_keeps_consuming_through_an_errors_alarm() {
    let cfg = config();
    let d = command(&cfg, &state(phase::open(0, 2)), 10, force_close(None));
    assert_eq!(d.state.phase, phase::closed(10));
    let later = decide_at(&cfg, &d.state, 20, vec![firing(AlarmKind::Errors, 15)]);
    assert!(later.transitions.is_empty());
    assert!(later.actuation.esm_enabled);
    assert_eq!(later.actuation.maximum_concurrency, 16);
}

#[test]
fn released_force_close_trips_at_once_when_errors_alarm_fires() {
    let cfg = config();
    let forced = command(&cfg, &state(phase::closed(0)), 10, force_close(None)).state;
    let release =
        Signals::alarms(vec![firing(AlarmKind::Errors, 15)]).with_command(Command::Release {
            actor: "carol".into(),
        });
    let d = decide(at(20), &forced, &release, &cfg).expect("release accepted");
    assert_eq!(d.state.override_, None);
    assert_eq!(d.state.phase, phase::open(20, 1));
    assert!(!d.actuation.esm_enabled);
    let causes: Vec<_> = d.transitions.iter().map(|t| t.cause.clone()).collect();
    assert_eq!(
        causes,
        vec![
            Cause::Released {
                kind: OverrideKind::ForceClose,
                actor: "carol".into()
            },
            Cause::Alarm {
                alarm: "orders-errors".into(),
                kind: AlarmKind::Errors
            },
        ]
    );
}

#[test]
fn override_lapses_at_its_expiry_and_alarms_take_over() {
    let cfg = config();
    let forced = command(&cfg, &state(phase::closed(0)), 10, force_close(Some(100))).state;
    let before = decide_at(&cfg, &forced, 99, vec![firing(AlarmKind::Errors, 50)]);
    assert!(before.actuation.esm_enabled);
    let d = decide_at(&cfg, &forced, 100, vec![firing(AlarmKind::Errors, 50)]);
    assert_eq!(d.state.override_, None);
    assert_eq!(d.state.phase.name(), PhaseName::Open);
    assert_eq!(
        d.transitions[0].cause,
        Cause::OverrideExpired {
            kind: OverrideKind::ForceClose,
            actor: "bob".into()
        }
    );
}

#[test]
fn released_force_open_probes_once_its_wait_is_over() {
    let cfg = config();
    let forced = command(&cfg, &state(phase::closed(0)), 0, force_open(None)).state;
    let released = command(
        &cfg,
        &forced,
        10,
        Command::Release {
            actor: "alice".into(),
        },
    );
    assert_eq!(released.state.phase, phase::open(0, 1));
    let d = decide_at(
        &cfg,
        &released.state,
        200,
        vec![ok(AlarmKind::Errors, -1000)],
    );
    assert_eq!(d.state.phase, phase::half_open(200, 1));
}

#[test]
fn force_open_keeps_an_open_circuit_and_its_trips() {
    let cfg = config();
    let s = state(phase::open(0, 3));
    let d = command(&cfg, &s, 10, force_open(None));
    assert_eq!(d.state.phase, phase::open(0, 3));
    assert_eq!(d.transitions.len(), 1);
}

#[test]
fn duplicate_commands_change_nothing() {
    let cfg = config();
    let forced = command(&cfg, &state(phase::closed(0)), 10, force_open(Some(500)));
    let again = command(&cfg, &forced.state, 20, force_open(Some(500)));
    assert!(again.transitions.is_empty());
    assert_eq!(again.state, forced.state);

    let plain = state(phase::closed(0));
    let release = command(
        &cfg,
        &plain,
        20,
        Command::Release {
            actor: "alice".into(),
        },
    );
    assert!(release.transitions.is_empty());
    let dry = command(
        &cfg,
        &plain,
        20,
        Command::DryRun {
            enabled: false,
            actor: "alice".into(),
        },
    );
    assert!(dry.transitions.is_empty());
    assert_eq!(dry.state, plain);
}

#[test]
fn force_open_with_new_reason_updates_the_override_but_not_the_phase() {
    let cfg = config();
    let forced = command(&cfg, &state(phase::closed(0)), 10, force_open(None));
    let changed = Command::Force {
        to: Forced::Open,
        reason: "still broken".into(),
        actor: "alice".into(),
        until: None,
    };
    let d = command(&cfg, &forced.state, 20, changed);
    assert_eq!(d.state.phase, forced.state.phase);
    assert!(!d.phase_changed());
    assert_eq!(d.state.override_.expect("override").reason, "still broken");
}

#[test]
fn command_without_actor_is_rejected() {
    let cfg = config();
    let s = state(phase::closed(0));
    for c in [
        Command::Force {
            to: Forced::Open,
            reason: "x".into(),
            actor: "  ".into(),
            until: None,
        },
        Command::Release {
            actor: String::new(),
        },
        Command::DryRun {
            enabled: true,
            actor: String::new(),
        },
    ] {
        let signals = Signals::default().with_command(c);
        assert_eq!(
            decide(at(1), &s, &signals, &cfg),
            Err(PolicyError::MissingActor)
        );
    }
}

#[test]
fn override_expiring_before_it_starts_is_rejected() {
    let cfg = config();
    let signals = Signals::default().with_command(force_close(Some(10)));
    let err = decide(at(10), &state(phase::closed(0)), &signals, &cfg).expect_err("rejected");
    assert_eq!(
        err,
        PolicyError::OverrideAlreadyExpired {
            until: at(10),
            now: at(10)
        }
    );
    assert!(!err.is_retryable());
}

#[test]
fn override_reason_and_actor_are_sanitized_for_tags() {
    let cfg = config();
    let c = Command::Force {
        to: Forced::Open,
        reason: "deploy #42\nrollback".into(),
        actor: "ops<bot>".into(),
        until: None,
    };
    let d = command(&cfg, &state(phase::closed(0)), 1, c);
    let o = d.state.override_.expect("override");
    assert_eq!(
        (o.reason.as_str(), o.actor.as_str()),
        ("deploy _42 rollback", "ops_bot_")
    );
}

// --- Dry-run ---

#[test]
fn dry_run_keeps_deciding_but_marks_the_decision_not_to_actuate() {
    let cfg = config();
    let on = command(
        &cfg,
        &state(phase::closed(0)),
        1,
        Command::DryRun {
            enabled: true,
            actor: "dana".into(),
        },
    );
    assert!(on.dry_run && on.state.dry_run);
    assert_eq!(
        on.transitions[0].cause,
        Cause::DryRun {
            enabled: true,
            actor: "dana".into()
        }
    );
    let tripped = decide_at(&cfg, &on.state, 2, vec![firing(AlarmKind::Errors, 2)]);
    assert!(tripped.dry_run);
    assert_eq!(tripped.state.phase.name(), PhaseName::Open);
    assert!(
        !tripped.actuation.esm_enabled,
        "the desired actuation is still reported"
    );
    let off = command(
        &cfg,
        &tripped.state,
        3,
        Command::DryRun {
            enabled: false,
            actor: "dana".into(),
        },
    );
    assert!(!off.dry_run);
}

// --- The edges themselves ---

#[test]
fn edges_that_do_not_leave_a_phase_are_illegal() {
    let cfg = config();
    let cases = [
        (phase::closed(0), Edge::Probe),
        (phase::closed(0), Edge::Recover),
        (phase::open(0, 1), Edge::Trip),
        (phase::open(0, 1), Edge::Throttle),
        (phase::open(0, 1), Edge::Recover),
        (phase::half_open(0, 1), Edge::Throttle),
        (phase::half_open(0, 1), Edge::Probe),
        (phase::throttled(0, 2, 0), Edge::Throttle),
        (phase::throttled(0, 8, 0), Edge::Probe),
        (phase::ramping(0, 4, 0), Edge::Probe),
    ];
    for (phase, edge) in cases {
        assert_eq!(
            phase.follow(edge, at(1), &cfg),
            Err(PolicyError::IllegalTransition {
                from: phase.name(),
                edge
            }),
            "{phase:?} {edge:?}"
        );
    }
}

// --- Serde ---

#[test]
fn decision_round_trips_through_json_for_logs() {
    let cfg = config();
    let d = command(
        &cfg,
        &state(phase::ramping(0, 4, 1)),
        5,
        force_open(Some(900)),
    );
    let json = serde_json::to_value(&d).expect("serializes");
    assert_eq!(json["transitions"][0]["from"]["state"], "ramping");
    assert_eq!(json["transitions"][0]["to"]["state"], "open");
    assert_eq!(json["transitions"][0]["cause"]["cause"], "override");
    assert_eq!(json["state"]["override"]["kind"], "force-open");
    assert_eq!(json["actuation"]["esm_enabled"], false);
    let back: Decision = serde_json::from_value(json).expect("deserializes");
    assert_eq!(back, d);
}
