//! How many batches an SQS event source mapping processes at once, in standard mode and in
//! provisioned mode.
//!
//! The model (sources in [`crate::sim::params`]): a mapping whose queue has messages starts at
//! `initial_batches` and adds up to `scale_up_per_minute` batches per minute, spread evenly
//! over the minute, for as long as messages keep waiting; it never exceeds `max_batches` or
//! the mapping's `MaximumConcurrency`. When its queue is empty it goes back to
//! `idle_batches` at once (AWS says only that it "scales back"; how fast is not documented,
//! and scaling down sooner only makes a breaker's job easier, never harder).
//!
//! Provisioned mode (`ProvisionedPollerConfig`, sources in [`crate::sim::params`]): each
//! event poller drives up to `invokes_per_poller` (10) concurrent invokes. The mapping keeps
//! its `MinimumPollers` ready, so it starts (and scales back) at `MinimumPollers` × 10
//! batches; while messages wait it adds up to `scale_up_per_minute` (1,000) batches per
//! minute, spread over the minute, up to `MaximumPollers` × 10. Neither standard mode's
//! 1,000-batch limit nor `MaximumConcurrency` applies (the two modes are exclusive).

use floodgate_core::ports::Pollers;

use crate::sim::params::{Profile, ProvisionedParams};
use crate::sim::time::SimTime;

/// Milliseconds in a minute: growth is counted in batch-milliseconds per minute.
const MINUTE_MS: u64 = 60_000;

/// One mapping's number of concurrent batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scaler {
    initial: u32,
    idle: u32,
    per_minute: u64,
    max_batches: u32,
    maximum_concurrency: Option<u32>,
    /// Provisioned mode: its parameters and the mapping's pollers.
    provisioned: Option<(ProvisionedParams, Pollers)>,
    batches: u32,
    /// Growth earned but not yet a whole batch, in batch × milliseconds / minute.
    credit: u64,
    last: SimTime,
    scaled_up: bool,
}

impl Scaler {
    /// A mapping that has not seen a message yet.
    pub fn new(profile: &Profile) -> Self {
        Self {
            initial: profile.initial_batches,
            idle: profile.idle_batches,
            per_minute: u64::from(profile.scale_up_per_minute),
            max_batches: profile.max_batches,
            maximum_concurrency: None,
            provisioned: None,
            batches: profile.idle_batches,
            credit: 0,
            last: SimTime::ZERO,
            scaled_up: false,
        }
    }

    /// Sets (or clears) the mapping's `MaximumConcurrency`; a lower one takes effect at once.
    pub fn set_maximum_concurrency(&mut self, maximum: Option<u32>) {
        self.maximum_concurrency = maximum;
        self.batches = self.batches.min(self.cap());
    }

    /// The mapping's `MaximumConcurrency`.
    pub fn maximum_concurrency(&self) -> Option<u32> {
        self.maximum_concurrency
    }

    /// Puts the mapping in provisioned mode with `pollers` (or back in standard mode with
    /// `None`), scaling as `params` say. A lower `MaximumPollers` takes effect at once, a
    /// higher `MinimumPollers` too.
    pub fn set_pollers(&mut self, params: ProvisionedParams, pollers: Option<Pollers>) {
        let now = pollers.map(|p| (params, p));
        if now == self.provisioned {
            return;
        }
        self.provisioned = now;
        self.batches = self.batches.max(self.floor()).min(self.cap());
    }

    /// The fewest batches: `MinimumPollers`' reach in provisioned mode, else the idle level.
    fn floor(&self) -> u32 {
        match self.provisioned {
            Some((params, p)) => p.minimum.saturating_mul(params.invokes_per_poller),
            None => self.idle,
        }
        .min(self.cap())
    }

    /// Advances to `now`. `waiting` says whether messages waited in the queue all the time
    /// since the last call (the caller advances at least at every change of that).
    pub fn advance(&mut self, now: SimTime, waiting: bool) {
        let elapsed = now.as_millis().saturating_sub(self.last.as_millis());
        self.last = self.last.max(now);
        if !waiting {
            self.batches = self.floor();
            self.credit = 0;
            self.scaled_up = false;
            return;
        }
        if !self.scaled_up {
            // Messages arrived: start at the initial batches (the growth clock starts now).
            self.scaled_up = true;
            let initial = match self.provisioned {
                Some(_) => self.floor(),
                None => self.initial,
            };
            self.batches = initial.max(self.batches).min(self.cap());
            self.credit = 0;
            return;
        }
        let per_minute = self.provisioned.map_or(self.per_minute, |(params, _)| {
            u64::from(params.scale_up_per_minute)
        });
        self.credit += elapsed * per_minute;
        let whole = self.credit / MINUTE_MS;
        self.credit %= MINUTE_MS;
        let grown = u64::from(self.batches).saturating_add(whole);
        self.batches = u32::try_from(grown).unwrap_or(u32::MAX).min(self.cap());
        if self.batches == self.cap() {
            self.credit = 0;
        }
    }

    /// Batches the mapping may process at once now.
    pub fn batches(&self) -> u32 {
        self.batches
    }

    fn cap(&self) -> u32 {
        match self.provisioned {
            Some((params, p)) => p.maximum.saturating_mul(params.invokes_per_poller),
            None => self
                .maximum_concurrency
                .map_or(self.max_batches, |m| m.min(self.max_batches)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A scaler that has had messages waiting from t = 0 and is advanced every `step`.
    fn busy_for(profile: &Profile, maximum: Option<u32>, until: SimTime, step: Duration) -> Scaler {
        let mut scaler = Scaler::new(profile);
        scaler.set_maximum_concurrency(maximum);
        let mut now = SimTime::ZERO;
        scaler.advance(now, true);
        while now < until {
            now = now + step;
            scaler.advance(now, true);
        }
        scaler
    }

    #[test]
    fn starts_at_five_and_adds_three_hundred_a_minute() {
        let aws = Profile::aws();
        let at = |secs, step| busy_for(&aws, None, SimTime::from_secs(secs), step).batches();
        assert_eq!(at(0, Duration::from_secs(1)), 5);
        assert_eq!(at(60, Duration::from_secs(1)), 305);
        assert_eq!(at(120, Duration::from_secs(1)), 605);
        // Spread over the minute, whatever the step.
        assert_eq!(at(30, Duration::from_millis(100)), 155);
        assert_eq!(at(30, Duration::from_secs(30)), 155);
        // Never beyond the mapping limit.
        assert_eq!(at(600, Duration::from_secs(5)), 1000);
    }

    #[test]
    fn maximum_concurrency_caps_at_once_and_growth_resumes_from_there() {
        let aws = Profile::aws();
        let mut scaler = busy_for(&aws, None, SimTime::from_secs(60), Duration::from_secs(1));
        scaler.set_maximum_concurrency(Some(20));
        assert_eq!(scaler.batches(), 20);
        scaler.advance(SimTime::from_secs(70), true);
        assert_eq!(scaler.batches(), 20);
        scaler.set_maximum_concurrency(Some(1000));
        scaler.advance(SimTime::from_secs(76), true);
        assert_eq!(scaler.batches(), 50, "20 + 300/min × 6 s");
    }

    #[test]
    fn an_empty_queue_scales_back_to_idle() {
        let aws = Profile::aws();
        let mut scaler = busy_for(&aws, None, SimTime::from_secs(60), Duration::from_secs(1));
        scaler.advance(SimTime::from_secs(61), false);
        assert_eq!(scaler.batches(), 5);
        scaler.advance(SimTime::from_secs(62), true);
        assert_eq!(scaler.batches(), 5, "a new burst starts again at five");
    }

    fn provisioned(minimum: u32, maximum: u32) -> Scaler {
        let aws = Profile::aws();
        let mut scaler = Scaler::new(&aws);
        scaler.set_pollers(
            aws.provisioned.expect("modelled"),
            Some(Pollers { minimum, maximum }),
        );
        scaler
    }

    #[test]
    fn provisioned_pollers_keep_their_minimum_ready_and_start_from_it() {
        let mut scaler = provisioned(5, 100);
        assert_eq!(
            scaler.batches(),
            50,
            "5 pollers × 10 invokes, before any message"
        );
        scaler.advance(SimTime::ZERO, true);
        assert_eq!(
            scaler.batches(),
            50,
            "messages arrive: it starts from the minimum"
        );
        scaler.advance(SimTime::from_secs(60), false);
        assert_eq!(scaler.batches(), 50, "and never scales below it");
    }

    #[test]
    fn provisioned_pollers_add_a_thousand_invokes_a_minute_up_to_the_maximum() {
        let mut scaler = provisioned(2, 200);
        let mut now = SimTime::ZERO;
        scaler.advance(now, true);
        assert_eq!(scaler.batches(), 20);
        while now < SimTime::from_secs(30) {
            now = now + Duration::from_secs(1);
            scaler.advance(now, true);
        }
        assert_eq!(scaler.batches(), 520, "20 + 1,000/min × 30 s");
        while now < SimTime::from_secs(180) {
            now = now + Duration::from_secs(1);
            scaler.advance(now, true);
        }
        assert_eq!(
            scaler.batches(),
            2000,
            "200 pollers × 10: past standard mode's 1,000-batch limit"
        );
    }

    #[test]
    fn a_lower_maximum_pollers_caps_at_once_and_maximum_concurrency_does_not_apply() {
        let aws = Profile::aws();
        let params = aws.provisioned.expect("modelled");
        let mut scaler = provisioned(2, 200);
        scaler.set_maximum_concurrency(Some(3));
        let mut now = SimTime::ZERO;
        scaler.advance(now, true);
        while now < SimTime::from_secs(60) {
            now = now + Duration::from_secs(1);
            scaler.advance(now, true);
        }
        assert_eq!(scaler.batches(), 1020);
        scaler.set_pollers(
            params,
            Some(Pollers {
                minimum: 2,
                maximum: 3,
            }),
        );
        assert_eq!(scaler.batches(), 30, "3 pollers × 10");
        scaler.set_pollers(params, None);
        scaler.advance(now + Duration::from_secs(1), false);
        assert_eq!(
            scaler.batches(),
            3,
            "back in standard mode, MaximumConcurrency applies again"
        );
    }

    #[test]
    fn localstack_keeps_one_poller() {
        let local = Profile::localstack();
        let scaler = busy_for(
            &local,
            None,
            SimTime::from_secs(600),
            Duration::from_secs(1),
        );
        assert_eq!(scaler.batches(), 1);
    }
}
