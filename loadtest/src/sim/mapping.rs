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

use std::time::Duration;

use floodgate_core::ports::MappingState;

use crate::sim::time::SimTime;

/// Why an update was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateRefused {
    /// The mapping is in transition (`ResourceInUseException`).
    InUse,
    /// `MaximumConcurrency` outside 2 to 1000 (`InvalidParameterValueException`).
    InvalidMaximumConcurrency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    at: SimTime,
    enabled: bool,
    maximum_concurrency: Option<u32>,
}

/// One mapping.
#[derive(Debug, Clone)]
pub struct SimMapping {
    enabled: bool,
    maximum_concurrency: Option<u32>,
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
            pending: None,
            update_delay,
            bounds,
            last_modified: SimTime::ZERO,
            updates: 0,
        }
    }

    /// Applies a change that became due by `now`.
    pub fn advance(&mut self, now: SimTime) {
        if let Some(p) = self.pending.filter(|p| p.at <= now) {
            self.enabled = p.enabled;
            self.maximum_concurrency = p.maximum_concurrency;
            self.pending = None;
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
        self.advance(now);
        if self.pending.is_some() {
            return Err(UpdateRefused::InUse);
        }
        if let Some(m) = maximum_concurrency
            && !(self.bounds.0..=self.bounds.1).contains(&m)
        {
            return Err(UpdateRefused::InvalidMaximumConcurrency);
        }
        self.pending = Some(Pending {
            at: now + self.update_delay,
            enabled: enabled.unwrap_or(self.enabled),
            maximum_concurrency: maximum_concurrency.or(self.maximum_concurrency),
        });
        self.last_modified = now;
        self.updates += 1;
        self.advance(now);
        Ok(())
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
