//! Loading and validating a circuit's config, and the open wait it implies.

mod policy_support;

use std::time::Duration;

use floodgate_core::policy::config::{
    DEFAULT_HEALTHY_DWELL, DEFAULT_JITTER, DEFAULT_MIN_DWELL, DEFAULT_OPEN_WAIT,
    DEFAULT_OPEN_WAIT_CAP, DEFAULT_PROBE, DEFAULT_PROBE_WINDOW, DEFAULT_RAMP_STEP,
    DEFAULT_THROTTLE_STEP,
};
use floodgate_core::policy::{
    Action, AlarmKind, CircuitConfig, CircuitConfigSpec, PolicyError, ReservedConcurrency,
};
use policy_support::{config_with, spec};

fn load(json: &str) -> Result<CircuitConfig, PolicyError> {
    let spec: CircuitConfigSpec = serde_json::from_str(json).expect("well-formed spec");
    CircuitConfig::try_from(spec)
}

fn rejection(change: impl FnOnce(&mut CircuitConfigSpec)) -> String {
    let mut s = spec();
    change(&mut s);
    s.validate_at("circuits[0]")
        .expect_err("rejected")
        .to_string()
}

#[test]
fn loads_a_minimal_json_config_with_named_defaults() {
    let cfg = load(r#"{"name": "orders", "levels": {"max": 50, "safe": 10}}"#).expect("valid");
    assert_eq!(cfg.name(), "orders");
    assert_eq!(cfg.levels().probe, DEFAULT_PROBE);
    assert_eq!(
        cfg.reserved_concurrency(),
        ReservedConcurrency::Managed { headroom: 0 }
    );
    assert!(!cfg.kill_switch());
    let t = cfg.timings();
    assert_eq!(
        (t.open_wait, t.open_wait_cap, t.jitter, t.healthy_dwell),
        (
            DEFAULT_OPEN_WAIT,
            DEFAULT_OPEN_WAIT_CAP,
            DEFAULT_JITTER,
            DEFAULT_HEALTHY_DWELL
        )
    );
    assert_eq!(
        (t.min_dwell, t.probe_window, t.ramp_step, t.throttle_step),
        (
            DEFAULT_MIN_DWELL,
            DEFAULT_PROBE_WINDOW,
            DEFAULT_RAMP_STEP,
            DEFAULT_THROTTLE_STEP
        )
    );
    assert_eq!(cfg.action_for(AlarmKind::Throttles), Action::Throttle);
    assert_eq!(cfg.action_for(AlarmKind::Errors), Action::Open);
}

#[test]
fn loads_every_field_from_json() {
    let cfg = load(
        r#"{
            "name": "payments",
            "levels": {"max": 100, "safe": 20, "probe": 4},
            "reserved_concurrency": {"mode": "managed", "headroom": 5},
            "kill_switch": true,
            "actions": {"throttles": "throttle", "depth": "open", "age": "open"},
            "timings": {
                "open_wait_secs": 30, "open_wait_cap_secs": 600, "jitter": 0.5,
                "healthy_dwell_secs": 90, "min_dwell_secs": 15, "probe_window_secs": 45,
                "ramp_step_secs": 20, "throttle_step_secs": 15
            },
            "seed": 7
        }"#,
    )
    .expect("valid");
    assert_eq!(cfg.levels().probe, 4);
    assert_eq!(
        cfg.reserved_concurrency(),
        ReservedConcurrency::Managed { headroom: 5 }
    );
    assert!(cfg.kill_switch());
    assert_eq!(cfg.action_for(AlarmKind::Depth), Action::Open);
    assert_eq!(
        cfg.action_for(AlarmKind::Custom(Action::Throttle)),
        Action::Throttle
    );
    assert_eq!(cfg.timings().ramp_step, Duration::from_secs(20));
    assert_eq!(cfg.spec().seed, 7);
    // What is logged at start-up reads back as the same config.
    let json = serde_json::to_string(&cfg).expect("serializes");
    assert_eq!(load(&json), Ok(cfg));
}

#[test]
fn unmanaged_reserved_concurrency_loads_from_json() {
    let cfg = load(r#"{"name": "o", "levels": {"max": 8, "safe": 4}, "reserved_concurrency": {"mode": "unmanaged"}}"#)
        .expect("valid");
    assert_eq!(cfg.reserved_concurrency(), ReservedConcurrency::Unmanaged);
}

#[test]
fn misspelled_fields_are_rejected_by_name() {
    let err = serde_json::from_str::<CircuitConfigSpec>(
        r#"{"name": "o", "levels": {"max": 8, "safe": 4}, "timings": {"open_wiat_secs": 5}}"#,
    )
    .expect_err("unknown field");
    assert!(err.to_string().contains("open_wiat_secs"), "{err}");
}

#[test]
fn names_the_field_of_a_safe_level_outside_probe_and_max() {
    let message = rejection(|s| {
        s.levels.max = 50;
        s.levels.safe = 60;
    });
    assert_eq!(
        message,
        "circuits[0].levels.safe must be between probe (2) and max (50), got 60"
    );
}

#[test]
fn each_invalid_value_is_rejected_naming_its_field() {
    type Change = fn(&mut CircuitConfigSpec);
    let cases: [(&str, Change); 21] = [
        ("name", |s| s.name = "  ".into()),
        ("name", |s| s.name = "x".repeat(257)),
        ("levels.probe", |s| s.levels.probe = 1),
        ("levels.probe", |s| s.levels.probe = 1001),
        ("levels.max", |s| s.levels.max = 1001),
        ("levels.max", |s| {
            s.levels.probe = 20;
            s.levels.safe = 20;
        }),
        ("levels.safe", |s| s.levels.safe = 1),
        ("levels.safe", |s| s.levels.safe = 17),
        ("reserved_concurrency.headroom", |s| {
            s.reserved_concurrency = ReservedConcurrency::Managed { headroom: 1001 };
        }),
        ("kill_switch", |s| {
            s.kill_switch = true;
            s.reserved_concurrency = ReservedConcurrency::Unmanaged;
        }),
        ("timings.open_wait_secs", |s| {
            s.timings.open_wait = Duration::ZERO;
        }),
        ("timings.open_wait_cap_secs", |s| {
            s.timings.open_wait_cap = Duration::from_hours(48);
        }),
        ("timings.open_wait_cap_secs", |s| {
            s.timings.open_wait_cap = Duration::from_secs(59);
        }),
        ("timings.jitter", |s| s.timings.jitter = 1.0),
        ("timings.jitter", |s| s.timings.jitter = -0.1),
        ("timings.jitter", |s| s.timings.jitter = f64::NAN),
        ("timings.min_dwell_secs", |s| {
            s.timings.min_dwell = Duration::ZERO;
        }),
        ("timings.healthy_dwell_secs", |s| {
            s.timings.healthy_dwell = Duration::from_secs(29);
        }),
        ("timings.probe_window_secs", |s| {
            s.timings.probe_window = Duration::from_secs(29);
        }),
        ("timings.ramp_step_secs", |s| {
            s.timings.ramp_step = Duration::from_secs(29);
        }),
        ("timings.throttle_step_secs", |s| {
            s.timings.throttle_step = Duration::from_secs(29);
        }),
    ];
    for (field, change) in cases {
        let message = rejection(change);
        assert!(
            message.starts_with(&format!("circuits[0].{field} ")),
            "{field}: {message}"
        );
    }
}

#[test]
fn config_errors_are_not_retryable() {
    let mut s = spec();
    s.levels.safe = 99;
    let err = CircuitConfig::try_from(s).expect_err("rejected");
    assert!(matches!(&err, PolicyError::InvalidConfig { field, .. } if field == "levels.safe"));
    assert!(!err.is_retryable());
}

#[test]
fn open_wait_without_jitter_doubles_per_trip_up_to_the_cap() {
    let cfg = config_with(|s| s.timings.jitter = 0.0);
    let waits: Vec<u64> = (1..=6)
        .map(|trips| cfg.open_wait(trips).as_secs())
        .collect();
    assert_eq!(waits, vec![60, 120, 240, 480, 900, 900]);
    assert_eq!(cfg.open_wait(u32::MAX), DEFAULT_OPEN_WAIT_CAP);
}

#[test]
fn open_wait_is_reproducible_and_differs_between_circuits() {
    let orders = config_with(|_| {});
    let again = config_with(|_| {});
    let payments = config_with(|s| s.name = "payments".into());
    let reseeded = config_with(|s| s.seed = 1);
    assert_eq!(orders.open_wait(1), again.open_wait(1));
    assert_ne!(orders.open_wait(1), payments.open_wait(1));
    assert_ne!(orders.open_wait(1), reseeded.open_wait(1));
}

#[test]
fn recovery_bound_adds_wait_probe_window_and_ramp_steps() {
    // Defaults, levels 16 / 8 / 2: cap 900 + probe window 60 + 2 more ramp steps (2 → 4 → 8
    // → 16) of 60 s, plus one tick of slack for each of the 4 transitions.
    let cfg = config_with(|_| {});
    assert_eq!(
        cfg.recovery_bound(Duration::from_secs(10)),
        Duration::from_secs(900 + 60 + 120 + 40)
    );
}
