//! Properties of the policy, each checked on 10,000 random cases by default (`.cargo/config.toml`; set
//! `PROPTEST_CASES` to change that).

mod policy_support;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use floodgate_core::policy::tags::is_valid_tag_value;
use floodgate_core::policy::{
    Action, Actions, AlarmKind, AlarmReading, AlarmState, CircuitConfig, CircuitConfigSpec,
    CircuitState, Command, Forced, Levels, Observed, Override, OverrideKind, Phase,
    ReservedConcurrency, SignalClass, Signals, Timings, decide, plan,
};
use policy_support::{at, state};
use proptest::prelude::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).expect("small duration")
}

fn actions() -> impl Strategy<Value = Action> {
    prop_oneof![Just(Action::Open), Just(Action::Throttle)]
}

fn levels() -> impl Strategy<Value = Levels> {
    (2u32..=8)
        .prop_flat_map(|probe| (Just(probe), probe..=200))
        .prop_flat_map(|(probe, max)| (Just(probe), Just(max), probe..=max))
        .prop_map(|(probe, max, safe)| Levels { max, safe, probe })
}

prop_compose! {
    fn timings()(
        min_dwell in 1u64..=60,
        healthy in 0u64..=300,
        probe_window in 0u64..=120,
        ramp_step in 0u64..=120,
        throttle_step in 0u64..=120,
        open_wait in 1u64..=120,
        cap in 0u64..=1800,
        jitter in 0.0f64..0.999,
    ) -> Timings {
        Timings {
            open_wait: secs(open_wait),
            open_wait_cap: secs(open_wait + cap),
            jitter,
            healthy_dwell: secs(min_dwell + healthy),
            min_dwell: secs(min_dwell),
            probe_window: secs(min_dwell + probe_window),
            ramp_step: secs(min_dwell + ramp_step),
            throttle_step: secs(min_dwell + throttle_step),
        }
    }
}

prop_compose! {
    fn configs()(
        name in "[a-z][a-z0-9-]{0,11}",
        levels in levels(),
        headroom in prop::option::of(0u32..=5),
        kill_switch in any::<bool>(),
        throttles in actions(),
        depth in actions(),
        age in actions(),
        timings in timings(),
        seed in any::<u64>(),
    ) -> CircuitConfig {
        let reserved_concurrency = headroom
            .map_or(ReservedConcurrency::Unmanaged, |headroom| ReservedConcurrency::Managed { headroom });
        let spec = CircuitConfigSpec {
            name,
            levels,
            reserved_concurrency,
            kill_switch: kill_switch && headroom.is_some(),
            actions: Actions { throttles, depth, age },
            timings,
            seed,
            probe_max_error_ratio: floodgate_core::policy::config::DEFAULT_PROBE_MAX_ERROR_RATIO,
        };
        CircuitConfig::try_from(spec).expect("generated config is valid")
    }
}

/// A phase valid for `levels`, entered at `since`.
fn phase(variant: u8, since: DateTime<Utc>, level: u32, trips: u32) -> Phase {
    match variant % 5 {
        0 => Phase::Closed { since },
        1 => Phase::Throttled {
            since,
            level,
            trips,
        },
        2 => Phase::Open {
            since,
            trips: trips.max(1),
        },
        3 => Phase::HalfOpen {
            since,
            trips: trips.max(1),
        },
        _ => Phase::Ramping {
            since,
            level,
            trips,
        },
    }
}

/// A config and a phase valid for it, entered up to `back` seconds before `at(0)`.
fn config_and_phase(back: i64) -> impl Strategy<Value = (CircuitConfig, Phase)> {
    configs().prop_flat_map(move |cfg| {
        let l = cfg.levels();
        (Just(cfg), any::<u8>(), 0..=back, l.probe..=l.max, 0u32..=30).prop_map(
            |(cfg, variant, ago, level, trips)| (cfg, phase(variant, at(-ago), level, trips)),
        )
    })
}

const KINDS: [AlarmKind; 5] = [
    AlarmKind::Errors,
    AlarmKind::Throttles,
    AlarmKind::Depth,
    AlarmKind::Age,
    AlarmKind::Custom(Action::Open),
];

fn alarm_states() -> impl Strategy<Value = AlarmState> {
    prop_oneof![
        Just(AlarmState::Ok),
        Just(AlarmState::Alarm),
        Just(AlarmState::InsufficientData)
    ]
}

/// One step of a random run: time passes, some alarms change (at a point within the step),
/// and maybe an operator command arrives.
#[derive(Debug, Clone)]
struct Tick {
    advance: i64,
    /// (which alarm, its new state, where in the tick it changed, in thousandths).
    changes: Vec<(usize, AlarmState, i64)>,
    command: Option<Command>,
}

fn commands() -> impl Strategy<Value = Command> {
    let until = prop::option::of(1i64..=3600);
    prop_oneof![
        until.clone().prop_map(|u| Command::Force {
            to: Forced::Open,
            reason: "drill".into(),
            actor: "op".into(),
            until: u.map(at),
        }),
        until.prop_map(|u| Command::Force {
            to: Forced::Closed,
            reason: "drill".into(),
            actor: "op".into(),
            until: u.map(at),
        }),
        Just(Command::Release { actor: "op".into() }),
        any::<bool>().prop_map(|enabled| Command::DryRun {
            enabled,
            actor: "op".into()
        }),
    ]
}

fn ticks() -> impl Strategy<Value = Vec<Tick>> {
    let change = (0..KINDS.len(), alarm_states(), 0i64..=1000);
    let tick = (
        0i64..=600,
        prop::collection::vec(change, 0..=2),
        prop::option::weighted(0.15, commands()),
    )
        .prop_map(|(advance, changes, command)| Tick {
            advance,
            changes,
            command,
        });
    prop::collection::vec(tick, 1..40)
}

/// Moves `command`'s expiry (generated relative to `at(0)`) to be relative to `now`.
fn shifted(command: &Command, now: DateTime<Utc>) -> Command {
    let shift = |until: &Option<DateTime<Utc>>| until.map(|u| now + (u - at(0)));
    match command {
        Command::Force {
            to: Forced::Open,
            reason,
            actor,
            until,
        } => Command::Force {
            to: Forced::Open,
            reason: reason.clone(),
            actor: actor.clone(),
            until: shift(until),
        },
        Command::Force {
            to: Forced::Closed,
            reason,
            actor,
            until,
        } => Command::Force {
            to: Forced::Closed,
            reason: reason.clone(),
            actor: actor.clone(),
            until: shift(until),
        },
        Command::Release { .. } | Command::DryRun { .. } => command.clone(),
    }
}

fn valid_observed() -> impl Strategy<Value = Observed> {
    (
        any::<bool>(),
        prop::option::of(2u32..=1000),
        prop::option::of(0u32..=1100),
    )
        .prop_map(|(esm_enabled, maximum_concurrency, reserved)| {
            let mut o = Observed {
                esm_enabled,
                maximum_concurrency,
                reserved_concurrency: reserved,
            };
            if !o.is_safe() {
                // Enabled with reserved below maximum: lift the reservation to make it valid.
                o.reserved_concurrency = maximum_concurrency;
            }
            o
        })
}

fn overrides() -> impl Strategy<Value = Option<(OverrideKind, String, String, Option<i64>)>> {
    let text = |min| prop::collection::vec(any::<char>(), min..300).prop_map(String::from_iter);
    prop::option::of((
        prop_oneof![
            Just(OverrideKind::ForceOpen),
            Just(OverrideKind::ForceClose),
            Just(OverrideKind::ManualDisable)
        ],
        text(0),
        text(1),
        prop::option::of(0i64..=4_000_000_000),
    ))
}

proptest! {

    /// 1. Never consuming while an open-action alarm (errors, or another kind configured to
    ///    open) is in ALARM, unless an operator forced the circuit closed.
    #[test]
    fn never_consumes_while_an_errors_alarm_fires_unless_force_closed(
        (cfg, start) in config_and_phase(3600),
        custom in actions(),
        run in ticks(),
    ) {
        let kinds = KINDS.map(|k| if let AlarmKind::Custom(_) = k { AlarmKind::Custom(custom) } else { k });
        let alarms = kinds
            .iter()
            .map(|&kind| AlarmReading::new(format!("{kind:?}"), kind, AlarmState::Ok, at(-7200)))
            .collect();
        let mut signals = Signals::alarms(alarms);
        let mut s = state(start);
        let mut now = at(0);
        for tick in run {
            let before = now;
            now += TimeDelta::seconds(tick.advance);
            for &(index, to, permille) in &tick.changes {
                let alarm = &mut signals.alarms[index];
                if to != alarm.state {
                    alarm.state = to;
                    alarm.since = before + TimeDelta::seconds(tick.advance * permille / 1000);
                }
            }
            signals.command = tick.command.as_ref().map(|c| shifted(c, now));
            let d = decide(now, &s, &signals, &cfg).expect("generated inputs decide");
            let force = d.state.override_.as_ref().map(|o| o.kind);
            let firing = signals
                .alarms
                .iter()
                .any(|a| {
                    a.state == AlarmState::Alarm
                        && a.kind.class() == SignalClass::Failure
                        && cfg.action_for(a.kind) == Action::Open
                });
            if firing && force != Some(OverrideKind::ForceClose) {
                prop_assert!(!d.actuation.esm_enabled, "consuming with {:?} in {:?}", signals.alarms, d.state);
            }
            match force {
                Some(OverrideKind::ForceOpen | OverrideKind::ManualDisable) => prop_assert!(!d.actuation.esm_enabled),
                Some(OverrideKind::ForceClose) => prop_assert!(d.actuation.esm_enabled),
                None => {}
            }
            s = d.state;
        }
    }

    /// 2a. Every desired actuation keeps reserved concurrency at or above MaximumConcurrency,
    ///     except Open with the kill switch, where the mapping is disabled.
    #[test]
    fn desired_reserved_concurrency_is_never_below_maximum_concurrency(
        (cfg, phase) in config_and_phase(0),
    ) {
        let a = phase.actuation(&cfg);
        let l = cfg.levels();
        prop_assert!((l.probe..=l.max).contains(&a.maximum_concurrency));
        match (a.reserved_concurrency, cfg.kill_switch() && !a.esm_enabled) {
            (None, _) => prop_assert_eq!(cfg.reserved_concurrency(), ReservedConcurrency::Unmanaged),
            (Some(r), true) => prop_assert_eq!(r, 0),
            (Some(r), false) => prop_assert!(r >= a.maximum_concurrency, "{a:?}"),
        }
    }

    /// 2b. Applying `plan` step by step from any valid observation never passes through a
    ///     state where the mapping consumes with reserved below MaximumConcurrency.
    #[test]
    fn every_step_of_a_plan_keeps_reserved_at_or_above_maximum_concurrency(
        (cfg, phase) in config_and_phase(0),
        observed in valid_observed(),
    ) {
        let desired = phase.actuation(&cfg);
        let steps = plan(&observed, &desired);
        prop_assert!(steps.len() <= 4);
        let mut now = observed;
        for step in &steps {
            now.apply(*step);
            prop_assert!(now.is_safe(), "unsafe after {step:?} from {observed:?}: {now:?}");
        }
        let reachable = desired.reserved_concurrency.is_some()
            || !desired.esm_enabled
            || observed.reserved_concurrency.is_none_or(|r| r >= desired.maximum_concurrency);
        if reachable {
            prop_assert!(now.matches(&desired), "{observed:?} + {steps:?} = {now:?}, wanted {desired:?}");
            prop_assert!(plan(&now, &desired).is_empty());
        }
    }

    /// 3. Once every alarm is healthy, the circuit is Closed within the bound the config
    ///    gives, and stays Closed.
    #[test]
    fn returns_to_closed_within_the_configured_bound_after_alarms_clear(
        (cfg, start) in config_and_phase(3600),
        cleared_ago in prop::collection::vec((0i64..=600, prop::bool::ANY), KINDS.len()),
        tick in 10u64..=120,
    ) {
        let alarms: Vec<AlarmReading> = KINDS
            .iter()
            .zip(&cleared_ago)
            .map(|(&kind, &(ago, ok))| {
                let state = if ok { AlarmState::Ok } else { AlarmState::InsufficientData };
                AlarmReading::new(format!("{kind:?}"), kind, state, at(-ago))
            })
            .collect();
        let signals = Signals::alarms(alarms);
        let deadline = at(0) + delta(cfg.recovery_bound(secs(tick)));
        let mut s = state(start);
        let mut now = at(0);
        let mut closed_at = None;
        let mut ticks_after_closing = 0;
        while ticks_after_closing < 3 {
            now += delta(secs(tick));
            s = decide(now, &s, &signals, &cfg).expect("decides").state;
            match (closed_at, s.phase) {
                (None, Phase::Closed { .. }) => closed_at = Some(now),
                (None, _) => prop_assert!(now < deadline, "still {:?} at the bound", s.phase),
                (Some(_), Phase::Closed { .. }) => ticks_after_closing += 1,
                (Some(_), other) => prop_assert!(false, "left Closed for {other:?}"),
            }
        }
        prop_assert!(closed_at.is_some_and(|c| c <= deadline));
    }

    /// 3b. Once the failure alarms stay healthy, the circuit reaches Closed within the
    ///     configured bound (plus one throttle step per halving a fresh backlog alarm may
    ///     cause), whatever the depth and age alarms do meanwhile (issue 9, finding 1).
    #[test]
    fn reaches_closed_within_the_bound_whatever_the_backlog_alarms_do(
        (cfg, start) in config_and_phase(3600),
        cleared_ago in 0i64..=600,
        backlog in prop::collection::vec((any::<bool>(), any::<bool>(), 0i64..=1000), 1..400),
        tick in 10u64..=120,
    ) {
        let levels = cfg.levels();
        let mut halvings = 0u32;
        while levels.safe >> halvings > levels.probe {
            halvings += 1;
        }
        let t = cfg.timings();
        let slack = (t.throttle_step.max(t.min_dwell) + secs(tick)) * (halvings + 1);
        let deadline = at(0) + delta(cfg.recovery_bound(secs(tick)) + slack);
        let failure = |kind: AlarmKind| {
            AlarmReading::new(format!("{kind:?}"), kind, AlarmState::Ok, at(-cleared_ago))
        };
        let mut depth = AlarmReading::new("Depth", AlarmKind::Depth, AlarmState::Ok, at(-7200));
        let mut age = AlarmReading::new("Age", AlarmKind::Age, AlarmState::Ok, at(-7200));
        let mut s = state(start);
        let mut now = at(0);
        let mut i = 0;
        loop {
            now += delta(secs(tick));
            let (depth_on, age_on, permille) = backlog[i % backlog.len()];
            i += 1;
            let within = now - delta(secs(tick)) + TimeDelta::milliseconds(i64::try_from(tick).unwrap_or(0) * permille);
            for (alarm, on) in [(&mut depth, depth_on), (&mut age, age_on)] {
                let to = if on { AlarmState::Alarm } else { AlarmState::Ok };
                if alarm.state != to {
                    alarm.state = to;
                    alarm.since = within;
                }
            }
            let signals = Signals::alarms(vec![
                failure(AlarmKind::Errors),
                failure(AlarmKind::Throttles),
                depth.clone(),
                age.clone(),
            ]);
            s = decide(now, &s, &signals, &cfg).expect("decides").state;
            if matches!(s.phase, Phase::Closed { .. }) {
                break;
            }
            prop_assert!(now < deadline, "still {:?} at the bound", s.phase);
        }
    }

    /// 4. A single alarm flapping every tick (its changes land anywhere inside each tick)
    ///    moves the phase at most once per minimum dwell.
    #[test]
    fn a_flapping_alarm_moves_the_phase_at_most_once_per_min_dwell(
        (cfg, start) in config_and_phase(3600),
        kind in prop::sample::select(KINDS.to_vec()),
        custom in actions(),
        starts_firing in any::<bool>(),
        quiet in prop_oneof![Just(AlarmState::Ok), Just(AlarmState::InsufficientData)],
        tick_permille in 20i64..=2000,
        offsets in prop::collection::vec(0i64..1000, 30),
    ) {
        let kind = if let AlarmKind::Custom(_) = kind { AlarmKind::Custom(custom) } else { kind };
        let min_dwell = delta(cfg.timings().min_dwell);
        // From a fiftieth of the minimum dwell (but at least a second) to twice it.
        let tick = TimeDelta::milliseconds((min_dwell.num_milliseconds() * tick_permille / 1000).max(1000));
        let steady = AlarmReading::new("steady", AlarmKind::Errors, AlarmState::Ok, at(-100_000));
        let mut s = state(start);
        let mut last_move: Option<DateTime<Utc>> = None;
        for (k, offset) in (1..).zip(offsets) {
            let now = at(0) + tick * k;
            let firing = starts_firing == (k % 2 == 1);
            let alarm_state = if firing { AlarmState::Alarm } else { quiet };
            let changed = now - TimeDelta::milliseconds(tick.num_milliseconds() * offset / 1000);
            let flapping = AlarmReading::new("flapping", kind, alarm_state, changed);
            let d = decide(now, &s, &Signals::alarms(vec![steady.clone(), flapping]), &cfg)
                .expect("decides");
            if d.phase_changed() {
                if let Some(previous) = last_move {
                    prop_assert!(
                        now - previous >= min_dwell,
                        "moved at {previous} and {now} ({:?})", d.transitions
                    );
                }
                last_move = Some(now);
            }
            s = d.state;
        }
    }

    /// 5. The open wait never shrinks on a re-trip and never exceeds its cap, and a failed
    ///    probe re-opens with one more trip.
    #[test]
    fn open_wait_never_shrinks_on_a_retrip_and_never_exceeds_its_cap(
        cfg in configs(),
        trips in 1u32..=1000,
    ) {
        let cap = cfg.timings().open_wait_cap;
        let (this, next) = (cfg.open_wait(trips), cfg.open_wait(trips + 1));
        prop_assert!(this <= next, "{this:?} > {next:?}");
        prop_assert!(next <= cap);
        prop_assert!(this >= cfg.timings().open_wait);
        let probing = state(Phase::HalfOpen { since: at(0), trips });
        let failed = Signals::alarms(vec![AlarmReading::new("e", AlarmKind::Errors, AlarmState::Alarm, at(1))]);
        let reopened = decide(at(1), &probing, &failed, &cfg).expect("decides").state.phase;
        prop_assert_eq!(reopened, Phase::Open { since: at(1), trips: trips + 1 });
    }

    /// 6. Tags round-trip: reading back what was written gives the state with its free text
    ///    sanitized, and every value written is a valid AWS tag value.
    #[test]
    fn tags_round_trip_modulo_sanitization(
        variant in any::<u8>(),
        since_secs in 0i64..=4_102_444_800,
        nanos in 0u32..1_000_000_000,
        level in 2u32..=1000,
        trips in 0u32..=u32::MAX,
        forced in overrides(),
        dry_run in any::<bool>(),
    ) {
        let since = DateTime::from_timestamp(since_secs, nanos).expect("in range");
        let mut phase = phase(variant, since, level, trips);
        let override_ = forced.map(|(kind, reason, actor, until)| {
            // An active override is mirrored by the phase.
            phase = match kind {
                OverrideKind::ForceOpen | OverrideKind::ManualDisable => Phase::Open { since, trips: trips.max(1) },
                OverrideKind::ForceClose => Phase::Closed { since },
            };
            Override { kind, reason, actor, until: until.and_then(|u| DateTime::from_timestamp(u, 0)) }
        });
        let s = CircuitState { phase, override_, dry_run, pending: false };
        let tags = s.to_tags();
        for (key, value) in &tags {
            prop_assert!(key.starts_with("floodgate:") && key.len() <= 128);
            prop_assert!(is_valid_tag_value(value), "{key}={value:?}");
        }
        prop_assert_eq!(CircuitState::from_tags(&tags, at(0)), Ok(s.sanitized()));
    }
}
