//! Time, injected: the window and the cool-down run on a monotonic clock, the signal's
//! `sent_at` on the wall clock.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// The fuse's source of time.
pub trait Clock: Send + Sync {
    /// Time since an arbitrary, fixed origin; never goes back.
    fn monotonic(&self) -> Duration;
    /// The current wall-clock time (only for the signal's `sent_at` and EMF timestamps).
    fn wall(&self) -> SystemTime;
}

/// Production time: tokio's clock (so a test with a paused runtime controls it) and the
/// system's wall clock.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told (tests, simulations). Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<Duration>>,
    wall_origin: SystemTime,
}

impl ManualClock {
    /// A clock at zero, whose wall time starts at `wall_origin`.
    pub fn new(wall_origin: SystemTime) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Duration::ZERO)),
            wall_origin,
        }
    }

    /// Moves the clock forward by `span`.
    pub fn advance(&self, span: Duration) {
        *self.inner.lock().unwrap_or_else(PoisonError::into_inner) += span;
    }

    /// Sets the clock to `at` if that is not earlier than now (the clock never goes back).
    pub fn set(&self, at: Duration) {
        let mut now = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *now = (*now).max(at);
    }
}

impl Clock for ManualClock {
    fn monotonic(&self) -> Duration {
        *self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wall(&self) -> SystemTime {
        self.wall_origin + self.monotonic()
    }
}
