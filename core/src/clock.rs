//! Time as a port ([`Clock`]): the one trait every part of the core waits and measures with.

use std::future::Future;
use std::time::Duration;

/// Time, as the core sees it: a monotonic reading and a way to wait. The core never reads a
/// clock or sleeps by itself (wall-clock `now` comes in with each invocation), so a simulator
/// can run it on virtual time and tests on a paused clock.
pub trait Clock: Sync {
    /// Time since this clock's own origin; never goes back.
    fn monotonic(&self) -> Duration;

    /// Waits until `span` has passed on this clock.
    fn sleep(&self, span: Duration) -> impl Future<Output = ()> + Send;
}
