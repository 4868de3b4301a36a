//! The circuit policy: a pure state machine.
//!
//! No I/O, no clock reads, no randomness but a seeded one: the caller passes the time in, and
//! the same inputs always give the same [`Decision`]. The reconcile loop reads the world
//! (state tags, alarms, the mapping and the function), calls [`decide`], persists
//! [`Decision::state`] with [`CircuitState::to_tags`], and unless [`Decision::dry_run`]
//! applies [`plan`]`(observed, &decision.actuation)` step by step.
//!
//! - [`config`]: the validated [`CircuitConfig`] and its defaults.
//! - [`signals`]: alarm readings and operator commands.
//! - [`state`]: the phases, their edges and their actuation.
//! - [`decide()`]: the decision.
//! - [`plan()`]: the safe order of control-plane calls.
//! - [`tags`]: persistence as tags on the event source mapping.

pub mod config;
mod decide;
mod error;
mod names;
mod plan;
pub mod signals;
pub mod state;
pub mod tags;

pub use config::{Actions, CircuitConfig, CircuitConfigSpec, Levels, ReservedConcurrency, Timings};
pub use decide::{
    Cause, Decision, MANUAL_DISABLE_REASON, OUTSIDE_ACTOR, Timer, Transition, decide,
};
pub use error::PolicyError;
pub use plan::{Observed, Step, plan};
pub use signals::{
    AWS_METRIC_PUBLISH_DELAY, Action, AlarmKind, AlarmReading, AlarmState, Command, Forced,
    MappingSignal, ProbeOutcome, ProbeReading, ProbeTraffic, SignalClass, Signals,
};
pub use state::{Actuation, CircuitState, Edge, Override, OverrideKind, Phase, PhaseName};
