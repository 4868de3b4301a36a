//! Helpers shared by the `policy_*` test files. Each test binary uses a different subset.
#![allow(dead_code)]

use chrono::{DateTime, TimeDelta, Utc};
use floodgate_core::policy::{
    AlarmKind, AlarmReading, AlarmState, CircuitConfig, CircuitConfigSpec, Levels,
};

/// A fixed origin, so tests read in seconds from it.
pub fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("valid origin") + TimeDelta::seconds(secs)
}

/// Levels 16 / 8 / 2 and default everything else.
pub fn spec() -> CircuitConfigSpec {
    CircuitConfigSpec::new("orders", Levels::new(16, 8))
}

/// The default test config.
pub fn config() -> CircuitConfig {
    config_with(|_| {})
}

/// The default test spec, changed by `change`, validated.
pub fn config_with(change: impl FnOnce(&mut CircuitConfigSpec)) -> CircuitConfig {
    let mut spec = spec();
    change(&mut spec);
    CircuitConfig::try_from(spec).expect("test config is valid")
}

pub fn reading(kind: AlarmKind, state: AlarmState, since: i64) -> AlarmReading {
    let name = match kind {
        AlarmKind::Errors => "orders-errors",
        AlarmKind::Throttles => "orders-throttles",
        AlarmKind::Depth => "orders-depth",
        AlarmKind::Age => "orders-age",
        AlarmKind::Custom(_) => "orders-custom",
    };
    AlarmReading::new(name, kind, state, at(since))
}

/// An alarm in ALARM since `since`.
pub fn firing(kind: AlarmKind, since: i64) -> AlarmReading {
    reading(kind, AlarmState::Alarm, since)
}

/// An alarm in OK since `since`.
pub fn ok(kind: AlarmKind, since: i64) -> AlarmReading {
    reading(kind, AlarmState::Ok, since)
}

/// A state with no override and dry-run off.
pub fn state(phase: floodgate_core::policy::Phase) -> floodgate_core::policy::CircuitState {
    floodgate_core::policy::CircuitState {
        phase,
        override_: None,
        dry_run: false,
        pending: false,
    }
}

/// Decides at `now` seconds with `alarms` and no command; a decision error fails the test.
pub fn decide_at(
    config: &CircuitConfig,
    state: &floodgate_core::policy::CircuitState,
    now: i64,
    alarms: Vec<AlarmReading>,
) -> floodgate_core::policy::Decision {
    floodgate_core::policy::decide(
        at(now),
        state,
        &floodgate_core::policy::Signals::alarms(alarms),
        config,
    )
    .expect("decision succeeds")
}

/// Phases entered at `since` seconds, for short assertions.
pub mod phase {
    use floodgate_core::policy::Phase;

    use super::at;

    pub fn closed(since: i64) -> Phase {
        Phase::closed(at(since))
    }

    pub fn throttled(since: i64, level: u32, trips: u32) -> Phase {
        Phase::Throttled {
            since: at(since),
            level,
            trips,
        }
    }

    pub fn open(since: i64, trips: u32) -> Phase {
        Phase::Open {
            since: at(since),
            trips,
        }
    }

    pub fn half_open(since: i64, trips: u32) -> Phase {
        Phase::HalfOpen {
            since: at(since),
            trips,
        }
    }

    pub fn ramping(since: i64, level: u32, trips: u32) -> Phase {
        Phase::Ramping {
            since: at(since),
            level,
            trips,
        }
    }
}
