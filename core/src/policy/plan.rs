//! The safe order of control-plane calls from what is observed to what is desired.

use serde::{Deserialize, Serialize};

use super::config::MIN_LEVEL;
use super::state::Actuation;

/// What the event source mapping and its function look like now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Whether the mapping may consume (Enabled, Enabling or Updating all count).
    pub esm_enabled: bool,
    /// `ScalingConfig.MaximumConcurrency`; `None` = not set (no limit).
    pub maximum_concurrency: Option<u32>,
    /// The function's reserved concurrency; `None` = no reservation (no limit).
    pub reserved_concurrency: Option<u32>,
}

/// One control-plane call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "step", content = "value", rename_all = "kebab-case")]
pub enum Step {
    /// `UpdateEventSourceMapping(Enabled=false)`.
    DisableEsm,
    /// `UpdateEventSourceMapping(ScalingConfig.MaximumConcurrency=n)`.
    SetMaximumConcurrency(u32),
    /// `PutFunctionConcurrency(ReservedConcurrentExecutions=n)`.
    SetReservedConcurrency(u32),
    /// `UpdateEventSourceMapping(Enabled=true)`.
    EnableEsm,
}

/// `None` means "no limit", which is above every number.
fn limit(value: Option<u32>) -> u64 {
    value.map_or(u64::MAX, u64::from)
}

impl Observed {
    /// The invariant: while the mapping may consume, reserved concurrency is not below its
    /// `MaximumConcurrency` (below it, Lambda throttles the poller's invokes and every
    /// throttled receive counts toward the DLQ).
    pub fn is_safe(&self) -> bool {
        !self.esm_enabled || limit(self.maximum_concurrency) <= limit(self.reserved_concurrency)
    }

    /// The observation after `step` succeeded.
    pub fn apply(&mut self, step: Step) {
        match step {
            Step::DisableEsm => self.esm_enabled = false,
            Step::SetMaximumConcurrency(n) => self.maximum_concurrency = Some(n),
            Step::SetReservedConcurrency(n) => self.reserved_concurrency = Some(n),
            Step::EnableEsm => self.esm_enabled = true,
        }
    }

    /// Whether this observation already is `desired` (an unmanaged reservation matches anything).
    pub fn matches(&self, desired: &Actuation) -> bool {
        self.esm_enabled == desired.esm_enabled
            && self.maximum_concurrency == Some(desired.maximum_concurrency)
            && desired
                .reserved_concurrency
                .is_none_or(|r| self.reserved_concurrency == Some(r))
    }
}

/// The calls that take `observed` to `desired`, only those that differ, in an order that keeps
/// [`Observed::is_safe`] after every call: disable first, enable last, and between them lower
/// `MaximumConcurrency` before reserved concurrency, or raise reserved concurrency first.
///
/// With an unmanaged reservation below the desired `MaximumConcurrency`, the plan stops at the
/// reservation instead (or keeps the mapping disabled if the reservation is below the SQS
/// minimum of 2): the operator owns that number, and going past it would throttle the
/// function. Compare the result with [`Observed::matches`] to report the shortfall.
pub fn plan(observed: &Observed, desired: &Actuation) -> Vec<Step> {
    let target = reachable(observed, desired);
    let mut steps = Vec::with_capacity(4);
    if observed.esm_enabled && !target.esm_enabled {
        steps.push(Step::DisableEsm);
    }
    let set_max = (observed.maximum_concurrency != Some(target.maximum_concurrency))
        .then_some(Step::SetMaximumConcurrency(target.maximum_concurrency));
    let set_reserved = target
        .reserved_concurrency
        .filter(|r| observed.reserved_concurrency != Some(*r))
        .map(Step::SetReservedConcurrency);
    if u64::from(target.maximum_concurrency) < limit(observed.maximum_concurrency) {
        steps.extend(set_max);
        steps.extend(set_reserved);
    } else {
        steps.extend(set_reserved);
        steps.extend(set_max);
    }
    if !observed.esm_enabled && target.esm_enabled {
        steps.push(Step::EnableEsm);
    }
    steps
}

/// `desired`, held back where an unmanaged reservation makes it unsafe.
fn reachable(observed: &Observed, desired: &Actuation) -> Actuation {
    let Some(reserved) = observed.reserved_concurrency else {
        return *desired;
    };
    let unmanaged = desired.reserved_concurrency.is_none();
    if !(unmanaged && desired.esm_enabled && desired.maximum_concurrency > reserved) {
        return *desired;
    }
    if reserved >= MIN_LEVEL {
        Actuation {
            maximum_concurrency: reserved,
            ..*desired
        }
    } else {
        Actuation {
            esm_enabled: false,
            ..*desired
        }
    }
}
