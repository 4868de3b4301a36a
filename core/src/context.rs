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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    deadline: Duration,
}

impl Budget {
    /// Work may go on until `clock` reads `deadline`.
    pub fn until(deadline: Duration) -> Self {
        Self { deadline }
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

    /// The earlier of this budget and `span` from now on `clock`.
    #[must_use]
    pub fn at_most<C: Clock + ?Sized>(&self, clock: &C, span: Duration) -> Self {
        Self::until(self.deadline.min(clock.monotonic().saturating_add(span)))
    }
}
