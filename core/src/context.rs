//! What a reconcile and an overflow step work with besides the circuit: the ports (retried)
//! with the recorder ([`Context`]), and the time they may take ([`Budget`]).

use std::time::Duration;

use crate::metrics::Recorder;
use crate::ports::{Clock, Retrying};

/// What a reconcile needs besides the circuit: the ports, every call of which runs under the
/// retry policy ([`Retrying`]; the controller also puts the control-plane limiter,
/// [`crate::ports::Limited`], inside it), and where metrics go.
pub struct Context<'a, P> {
    /// The ports, retried.
    pub ports: &'a Retrying<P>,
    /// Where EMF lines go.
    pub recorder: &'a dyn Recorder,
}

// By hand: a derive would demand `P: Copy`, but only references are copied.
impl<P> Clone for Context<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Context<'_, P> {}

impl<P> std::fmt::Debug for Context<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("retry", self.ports.policy())
            .finish_non_exhaustive()
    }
}

/// How long an invocation may keep working: the Lambda deadline less a margin to answer.
/// Waiting for a mapping to settle and moving overflow stop at it; what is left over is
/// finished by the next invocation. Times are readings of the ports' [`Clock`].
///
/// A replay may go on longer ([`Budget::for_replay`]): it is the one piece of work that
/// watches the circuit's alarms as it goes (every second, so a trip ends it at once) and
/// keeps the source under its ceiling, and the time it gets decides how fast a backlog
/// drains after an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    deadline: Duration,
    replay_deadline: Duration,
}

impl Budget {
    /// Work may go on until `clock` reads `deadline` (a replay too).
    pub fn until(deadline: Duration) -> Self {
        Self {
            deadline,
            replay_deadline: deadline,
        }
    }

    /// The same budget, with a replay allowed to go on for `span` from now on `clock` (never
    /// less than other work).
    #[must_use]
    pub fn with_replay<C: Clock + ?Sized>(mut self, clock: &C, span: Duration) -> Self {
        self.replay_deadline = self.deadline.max(clock.monotonic().saturating_add(span));
        self
    }

    /// The budget a replay works within.
    #[must_use]
    pub fn for_replay(&self) -> Self {
        Self::until(self.replay_deadline)
    }

    /// The `n`-th part of what is left, for one of `n` pieces of work run one after another
    /// (a replay's part of what is left for replays).
    #[must_use]
    pub fn share<C: Clock + ?Sized>(&self, clock: &C, n: u32) -> Self {
        let now = clock.monotonic();
        let n = n.max(1);
        Self {
            deadline: now.saturating_add(self.remaining(clock) / n),
            replay_deadline: now.saturating_add(self.replay_deadline.saturating_sub(now) / n),
        }
    }

    /// Work may go on for `span` from now on `clock`.
    pub fn for_next<C: Clock + ?Sized>(clock: &C, span: Duration) -> Self {
        Self::until(clock.monotonic().saturating_add(span))
    }

    /// The deadline, as a reading of the clock.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Time left on `clock`.
    pub fn remaining<C: Clock + ?Sized>(&self, clock: &C) -> Duration {
        self.deadline.saturating_sub(clock.monotonic())
    }

    /// The earlier of this budget and `span` from now on `clock` (for a replay too).
    #[must_use]
    pub fn at_most<C: Clock + ?Sized>(&self, clock: &C, span: Duration) -> Self {
        let limit = clock.monotonic().saturating_add(span);
        Self {
            deadline: self.deadline.min(limit),
            replay_deadline: self.replay_deadline.min(limit),
        }
    }
}
