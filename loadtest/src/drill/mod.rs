//! Drills: flood a protected consumer on purpose, break and heal it at phase boundaries,
//! watch what the breaker does, then account for every message and check assertions.
//!
//! - [`spec`]: the TOML drill spec and its validation.
//! - [`timeline`]: samples and events.
//! - [`reaction`]: the reaction-time breakdown from the timeline (pure).
//! - [`accounting`]: consumed / queued / dead-lettered / overflowed / lost (pure).
//! - [`metric`]: the names of the drill's metrics (`lost`, `time_to_disabled`, ...), once.
//! - [`assertions`]: `lost == 0`, `time_to_disabled < 90s`, ... (pure).
//! - [`mod@run`]: the runner ([`run()`]), generic over a [`Target`] (AWS in [`crate::aws::AwsTarget`]).
//!
//! Exit codes: 0 passed, 1 an assertion failed, 2 infrastructure error, 3 aborted.

pub mod accounting;
pub mod assertions;
#[cfg(test)]
pub(crate) mod fake;
pub mod metric;
pub mod reaction;
pub mod run;
pub mod spec;
pub mod timeline;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::flood::FloodSummary;
use crate::flood::sender::Sink;
use crate::victim::ledger::LedgerRecord;
use accounting::Accounting;
use assertions::AssertionResult;
use metric::Metric;
use reaction::Reaction;
use spec::{Injection, PhaseKind, Until};
use timeline::{Event, Observation, Sample};

pub use run::run;

/// Exit code: every assertion held.
pub const EXIT_PASSED: i32 = 0;
/// Exit code: an assertion failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: the drill could not run (spec, AWS, resources).
pub const EXIT_INFRA: i32 = 2;
/// Exit code: the drill was interrupted or ran past its `max_duration`.
pub const EXIT_ABORTED: i32 = 3;

/// The queues the drill reads at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueRole {
    /// The protected source queue.
    Source,
    /// Its DLQ.
    Dlq,
    /// The breaker's overflow queue.
    Overflow,
}

/// What a drill needs from the world. [`crate::aws::AwsTarget`] is the real one.
pub trait Target: Send + Sync + 'static {
    /// Where the floods go.
    type Sink: Sink;

    /// The flood's sink (the source queue).
    fn sink(&self) -> Arc<Self::Sink>;

    /// One look at everything the timeline follows. Never fails: failed reads are listed in
    /// [`Observation::errors`].
    fn observe(&self) -> impl Future<Output = Observation> + Send;

    /// Applies an injection.
    ///
    /// # Errors
    /// When the change could not be made (an infrastructure error for the drill).
    fn inject(&self, injection: &Injection) -> impl Future<Output = Result<()>> + Send;

    /// Appends the ledger records that arrived since the last call (each exactly once).
    ///
    /// # Errors
    /// When the ledger cannot be read; what was read before the error stays in `out`.
    fn read_ledger(&self, out: &mut Vec<LedgerRecord>) -> impl Future<Output = Result<()>> + Send;

    /// The bodies in a queue, without consuming them; `Ok(None)` when the drill has no such
    /// queue.
    ///
    /// # Errors
    /// When the queue cannot be read.
    fn peek(&self, queue: QueueRole) -> impl Future<Output = Result<Option<Vec<String>>>> + Send;
}

/// How a drill ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Every assertion held.
    Passed,
    /// Some assertions failed.
    Failed {
        /// How many.
        failed: usize,
    },
    /// The drill could not run to the end.
    InfraError {
        /// What went wrong.
        error: String,
    },
    /// Interrupted, or past `max_duration`.
    Aborted {
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Passed => EXIT_PASSED,
            Self::Failed { .. } => EXIT_FAILED,
            Self::InfraError { .. } => EXIT_INFRA,
            Self::Aborted { .. } => EXIT_ABORTED,
        }
    }

    /// One word.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed { .. } => "failed",
            Self::InfraError { .. } => "infrastructure error",
            Self::Aborted { .. } => "aborted",
        }
    }
}

/// How a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// Its duration passed.
    Duration,
    /// Its `until` condition held.
    Condition,
    /// Its timeout passed before the condition held.
    Timeout,
    /// The drill was aborted during it.
    Aborted,
    /// An infrastructure error ended the drill during it.
    Error,
}

/// One phase as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// Which phase.
    pub kind: PhaseKind,
    /// Start, seconds since the drill started.
    pub start: f64,
    /// End, seconds since the drill started.
    pub end: f64,
    /// Why it ended.
    pub ended_by: EndedBy,
    /// Its `until`, if any.
    pub until: Option<Until>,
    /// The rate profile it sent with, if it sent (`profile` in JSON).
    #[serde(rename = "profile")]
    pub rate_profile: Option<String>,
}

/// Everything a drill produced: written as JSON, rendered as HTML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillReport {
    /// The spec's name.
    pub name: String,
    /// The spec's description.
    pub description: String,
    /// Run id of every message.
    pub run_id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Length, seconds.
    pub duration: f64,
    /// How it ended.
    pub verdict: Verdict,
    /// Its exit code.
    pub exit_code: i32,
    /// The phases that ran.
    pub phases: Vec<PhaseRecord>,
    /// Events.
    pub events: Vec<Event>,
    /// The timeline.
    pub samples: Vec<Sample>,
    /// One summary per phase that sent.
    pub floods: Vec<(PhaseKind, FloodSummary)>,
    /// Reaction times.
    pub reaction: Reaction,
    /// Message accounting (absent when the drill did not get that far).
    pub accounting: Option<Accounting>,
    /// Messages the victim processed per second of the drill (from the ledger).
    pub consumed_per_second: Vec<(u64, u64)>,
    /// Every metric assertions can use, by name (those of steps that never happened are
    /// absent).
    pub metrics: BTreeMap<Metric, f64>,
    /// Assertion results.
    pub assertions: Vec<AssertionResult>,
}
