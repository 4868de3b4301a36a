//! When a circuit reacted, as a drill measures it (`loadtest::drill::reaction`): the first
//! alarm in `ALARM`, the mapping first `Disabled`, then the first change to half-open, then
//! the first change to closed after it. A simulated run and a drill of the same scenario can
//! then be compared step by step.

use alarms::AlarmState;
use serde::{Deserialize, Serialize};

use crate::sim::run::PhaseChange;
use crate::sim::time::SimTime;
use crate::sim::world::CircuitWorld;

/// Seconds since the simulation's start of each step, for those that happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    /// The first of the circuit's alarms went to `ALARM`.
    pub first_alarm_s: Option<f64>,
    /// The mapping first showed `Disabled`.
    pub disabled_s: Option<f64>,
    /// After that, the circuit first went half-open.
    pub half_open_s: Option<f64>,
    /// After that, the circuit first closed.
    pub closed_s: Option<f64>,
}

impl Reaction {
    /// The steps of `circuit`, whose phase changes are among `log`.
    pub fn of(circuit: &CircuitWorld, log: &[PhaseChange]) -> Self {
        let first_alarm_s = circuit
            .alarms
            .iter()
            .filter_map(|a| {
                a.transitions()
                    .iter()
                    .find(|(_, state)| *state == AlarmState::Alarm)
                    .map(|(at, _)| at.since(SimTime::ZERO).as_secs_f64())
            })
            .min_by(f64::total_cmp);
        let disabled_s = circuit
            .disabled_at()
            .map(|at| at.since(SimTime::ZERO).as_secs_f64());
        #[allow(clippy::cast_precision_loss)] // seconds of a simulation
        let first_to = |phase: &str, after: Option<f64>| {
            let after = after?;
            log.iter()
                .filter(|c| c.circuit == circuit.names.circuit && c.to == phase)
                .map(|c| c.at_s as f64)
                .find(|at| *at >= after)
        };
        let half_open_s = first_to("half-open", disabled_s);
        let closed_s = first_to("closed", half_open_s);
        Self {
            first_alarm_s,
            disabled_s,
            half_open_s,
            closed_s,
        }
    }
}
