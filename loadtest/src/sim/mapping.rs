//! An SQS event source mapping's settings and state in virtual time: enabling, disabling and
//! updates that take effect after a delay, refused while one is under way.
//!
//! What it models: `UpdateEventSourceMapping` answers at once, and the mapping shows
//! `Enabling`, `Disabling` or `Updating` until the change takes effect (Lambda API reference,
//! `EventSourceMappingConfiguration.State`); another update meanwhile is refused with
//! `ResourceInUseException` (Lambda API reference, `UpdateEventSourceMapping`, Errors). How
//! long a change takes is not documented: `update_delay` is this model's assumption, set per
//! profile. While `Disabling` the pollers keep taking batches (nothing says they stop before
//! the mapping is `Disabled`); batches already taken run to the end.
//!
//! A mapping in provisioned mode has a `ProvisionedPollerConfig` instead of a
//! `MaximumConcurrency` (the two are "mutually exclusive options", Lambda Developer Guide,
//! "Configuring scaling behavior for SQS event source mappings"): an update setting
//! `MaximumConcurrency` on it is refused, and so is one whose pollers lie outside the API's
//! bounds (Lambda API reference, `ProvisionedPollerConfig`; see [`crate::sim::params`]) or
//! whose minimum exceeds its maximum. Switching a mapping between the modes is not modelled.

use std::time::Duration;

use floodgate_core::ports::{MappingState, Pollers};

use crate::sim::params::ProvisionedParams;
use crate::sim::time::SimTime;

/// Why an update was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateRefused {
    /// The mapping is in transition (`ResourceInUseException`).
    InUse,
    /// `MaximumConcurrency` outside 2 to 1000 (`InvalidParameterValueException`).
    InvalidMaximumConcurrency,
    /// `MaximumConcurrency` on a mapping in provisioned mode (`InvalidParameterValueException`).
    MaximumConcurrencyInProvisionedMode,
    /// Pollers outside their bounds, or a minimum above the maximum
    /// (`InvalidParameterValueException`).
    InvalidPollers,
    /// Pollers on a mapping in standard mode: switching modes is not modelled.
    NotProvisioned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    at: SimTime,
    enabled: bool,
    maximum_concurrency: Option<u32>,
    pollers: Option<Pollers>,
}

/// One mapping.
#[derive(Debug, Clone)]
pub struct SimMapping {
    enabled: bool,
    maximum_concurrency: Option<u32>,
    /// Provisioned mode: how it scales, and its pollers.
    provisioned: Option<(ProvisionedParams, Pollers)>,
    pending: Option<Pending>,
    update_delay: Duration,
    bounds: (u32, u32),
    last_modified: SimTime,
    updates: u64,
}

impl SimMapping {
    /// An enabled mapping with `maximum_concurrency`, whose changes take `update_delay`, and
    /// whose `MaximumConcurrency` must lie within `bounds`.
    pub fn new(
        maximum_concurrency: Option<u32>,
        update_delay: Duration,
        bounds: (u32, u32),
    ) -> Self {
        Self {
            enabled: true,
            maximum_concurrency,
            provisioned: None,
            pending: None,
            update_delay,
            bounds,
            last_modified: SimTime::ZERO,
            updates: 0,
        }
    }

    /// The mapping in provisioned mode with `pollers`, scaling as `params` say.
    ///
    /// # Errors
    /// [`UpdateRefused::InvalidPollers`] when the pollers are outside their bounds.
    pub fn provisioned(
        mut self,
        params: ProvisionedParams,
        pollers: Pollers,
    ) -> Result<Self, UpdateRefused> {
        check_pollers(&params, pollers)?;
        self.maximum_concurrency = None;
        self.provisioned = Some((params, pollers));
        Ok(self)
    }

    /// Applies a change that became due by `now`.
    pub fn advance(&mut self, now: SimTime) {
        if let Some(p) = self.pending.filter(|p| p.at <= now) {
            self.enabled = p.enabled;
            self.maximum_concurrency = p.maximum_concurrency;
            if let (Some(provisioned), Some(pollers)) = (&mut self.provisioned, p.pollers) {
                provisioned.1 = pollers;
            }
            self.pending = None;
        }
    }

    /// Provisioned mode: how it scales and the pollers in effect.
    pub fn provisioned_pollers(&self) -> Option<(ProvisionedParams, Pollers)> {
        self.provisioned
    }

    /// The `ProvisionedPollerConfig` `GetEventSourceMapping` shows (the requested one while
    /// an update is under way).
    pub fn shown_pollers(&self) -> Option<Pollers> {
        let current = self.provisioned.map(|(_, p)| p);
        self.pending.and_then(|p| p.pollers).or(current)
    }

    /// The most invocations the mapping runs at once by its own settings: its
    /// `MaximumConcurrency`, or its maximum pollers' reach in provisioned mode.
    pub fn invocation_limit(&self) -> Option<u32> {
        match self.provisioned {
            Some((params, p)) => Some(p.maximum.saturating_mul(params.invokes_per_poller)),
            None => self.maximum_concurrency,
        }
    }

    /// The state `GetEventSourceMapping` shows at `now`.
    pub fn state(&mut self, now: SimTime) -> MappingState {
        self.advance(now);
        match self.pending {
            None if self.enabled => MappingState::Enabled,
            None => MappingState::Disabled,
            Some(p) if p.enabled && !self.enabled => MappingState::Enabling,
            Some(p) if !p.enabled && self.enabled => MappingState::Disabling,
            Some(_) => MappingState::Updating,
        }
    }

    /// Whether pollers take batches at `now`: enabled, or still disabling.
    pub fn polls(&mut self, now: SimTime) -> bool {
        self.advance(now);
        self.enabled
    }

    /// The `MaximumConcurrency` in effect.
    pub fn maximum_concurrency(&self) -> Option<u32> {
        self.maximum_concurrency
    }

    /// The `MaximumConcurrency` `GetEventSourceMapping` shows (the requested one while an
    /// update is under way).
    pub fn shown_maximum_concurrency(&self) -> Option<u32> {
        self.pending
            .map_or(self.maximum_concurrency, |p| p.maximum_concurrency)
    }

    /// When it was last changed.
    pub fn last_modified(&self) -> SimTime {
        self.last_modified
    }

    /// Updates accepted so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// `UpdateEventSourceMapping` at `now`; `None` fields stay as they are.
    ///
    /// # Errors
    /// [`UpdateRefused`] as Lambda would refuse it; nothing changes then.
    pub fn update(
        &mut self,
        now: SimTime,
        enabled: Option<bool>,
        maximum_concurrency: Option<u32>,
    ) -> Result<(), UpdateRefused> {
        self.update_with_pollers(now, enabled, maximum_concurrency, None)
    }

    /// `UpdateEventSourceMapping` at `now` that may also set `ProvisionedPollerConfig`;
    /// `None` fields stay as they are.
    ///
    /// # Errors
    /// [`UpdateRefused`] as Lambda would refuse it; nothing changes then.
    pub fn update_with_pollers(
        &mut self,
        now: SimTime,
        enabled: Option<bool>,
        maximum_concurrency: Option<u32>,
        pollers: Option<Pollers>,
    ) -> Result<(), UpdateRefused> {
        self.advance(now);
        if self.pending.is_some() {
            return Err(UpdateRefused::InUse);
        }
        if maximum_concurrency.is_some() && self.provisioned.is_some() {
            return Err(UpdateRefused::MaximumConcurrencyInProvisionedMode);
        }
        if let Some(m) = maximum_concurrency
            && !(self.bounds.0..=self.bounds.1).contains(&m)
        {
            return Err(UpdateRefused::InvalidMaximumConcurrency);
        }
        if let Some(p) = pollers {
            let (params, _) = self.provisioned.ok_or(UpdateRefused::NotProvisioned)?;
            check_pollers(&params, p)?;
        }
        self.pending = Some(Pending {
            at: now + self.update_delay,
            enabled: enabled.unwrap_or(self.enabled),
            maximum_concurrency: maximum_concurrency.or(self.maximum_concurrency),
            pollers,
        });
        self.last_modified = now;
        self.updates += 1;
        self.advance(now);
        Ok(())
    }
}

/// Whether `pollers` lie within `params`' bounds, the minimum no higher than the maximum.
fn check_pollers(params: &ProvisionedParams, pollers: Pollers) -> Result<(), UpdateRefused> {
    let within = |(low, high): (u32, u32), n: u32| (low..=high).contains(&n);
    if within(params.minimum_pollers, pollers.minimum)
        && within(params.maximum_pollers, pollers.maximum)
        && pollers.minimum <= pollers.maximum
    {
        Ok(())
    } else {
        Err(UpdateRefused::InvalidPollers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> SimMapping {
        SimMapping::new(Some(10), Duration::from_secs(5), (2, 1000))
    }

    #[test]
    fn disabling_takes_the_delay_and_the_pollers_keep_polling_meanwhile() {
        let mut m = mapping();
        m.update(SimTime::from_secs(10), Some(false), None)
            .expect("accepted");
        assert_eq!(m.state(SimTime::from_secs(12)), MappingState::Disabling);
        assert!(m.polls(SimTime::from_secs(12)));
        assert_eq!(m.state(SimTime::from_secs(15)), MappingState::Disabled);
        assert!(!m.polls(SimTime::from_secs(15)));
    }

    #[test]
    fn an_update_in_transition_is_refused_and_changes_nothing() {
        let mut m = mapping();
        m.update(SimTime::ZERO, None, Some(4)).expect("accepted");
        assert_eq!(m.state(SimTime::from_secs(1)), MappingState::Updating);
        assert_eq!(m.shown_maximum_concurrency(), Some(4));
        assert_eq!(m.maximum_concurrency(), Some(10), "not in effect yet");
        assert_eq!(
            m.update(SimTime::from_secs(1), Some(false), None),
            Err(UpdateRefused::InUse)
        );
        assert_eq!(m.state(SimTime::from_secs(5)), MappingState::Enabled);
        assert_eq!(m.maximum_concurrency(), Some(4));
        assert_eq!(m.updates(), 1);
    }

    #[test]
    fn maximum_concurrency_outside_its_bounds_is_refused() {
        let mut m = mapping();
        assert_eq!(
            m.update(SimTime::ZERO, None, Some(1)),
            Err(UpdateRefused::InvalidMaximumConcurrency)
        );
        assert_eq!(m.state(SimTime::ZERO), MappingState::Enabled);
    }

    fn provisioned(minimum: u32, maximum: u32) -> Result<SimMapping, UpdateRefused> {
        let params = crate::sim::params::Profile::aws()
            .provisioned
            .expect("modelled");
        SimMapping::new(None, Duration::from_secs(5), (2, 1000))
            .provisioned(params, Pollers { minimum, maximum })
    }

    #[test]
    fn provisioned_pollers_change_after_the_delay_and_reach_ten_invokes_each() {
        let mut m = provisioned(2, 20).expect("valid");
        assert_eq!(m.invocation_limit(), Some(200));
        assert_eq!(m.maximum_concurrency(), None);
        let fewer = Pollers {
            minimum: 2,
            maximum: 4,
        };
        m.update_with_pollers(SimTime::ZERO, None, None, Some(fewer))
            .expect("accepted");
        assert_eq!(m.state(SimTime::from_secs(1)), MappingState::Updating);
        assert_eq!(m.shown_pollers(), Some(fewer));
        assert_eq!(m.invocation_limit(), Some(200), "not in effect yet");
        assert_eq!(m.state(SimTime::from_secs(5)), MappingState::Enabled);
        assert_eq!(m.invocation_limit(), Some(40));
        assert_eq!(m.shown_pollers(), Some(fewer));
    }

    #[test]
    fn pollers_outside_their_bounds_and_maximum_concurrency_in_provisioned_mode_are_refused() {
        assert_eq!(
            provisioned(1, 20).err(),
            Some(UpdateRefused::InvalidPollers),
            "at least 2"
        );
        assert_eq!(
            provisioned(201, 300).err(),
            Some(UpdateRefused::InvalidPollers)
        );
        assert_eq!(
            provisioned(2, 2001).err(),
            Some(UpdateRefused::InvalidPollers)
        );
        assert_eq!(
            provisioned(10, 5).err(),
            Some(UpdateRefused::InvalidPollers)
        );
        assert!(provisioned(200, 2000).is_ok(), "the bounds themselves");
        let mut m = provisioned(2, 20).expect("valid");
        assert_eq!(
            m.update(SimTime::ZERO, None, Some(10)),
            Err(UpdateRefused::MaximumConcurrencyInProvisionedMode)
        );
        let bad = Pollers {
            minimum: 30,
            maximum: 20,
        };
        assert_eq!(
            m.update_with_pollers(SimTime::ZERO, None, None, Some(bad)),
            Err(UpdateRefused::InvalidPollers)
        );
        assert_eq!(m.updates(), 0, "nothing changed");
        let mut standard = mapping();
        assert_eq!(
            standard.update_with_pollers(
                SimTime::ZERO,
                None,
                None,
                Some(Pollers {
                    minimum: 2,
                    maximum: 4
                })
            ),
            Err(UpdateRefused::NotProvisioned)
        );
    }

    #[test]
    fn enabling_a_disabled_mapping() {
        let mut m = SimMapping::new(None, Duration::ZERO, (2, 1000));
        m.update(SimTime::ZERO, Some(false), None)
            .expect("accepted");
        assert_eq!(m.state(SimTime::ZERO), MappingState::Disabled, "no delay");
        m.update(SimTime::from_secs(1), Some(true), None)
            .expect("accepted");
        assert_eq!(m.state(SimTime::from_secs(1)), MappingState::Enabled);
    }
}
