//! [`Retrying`]: every call of the wrapped ports under the one retry policy.

use super::delegate::delegate;
use super::{Alarms, Clock, Concurrency, EventSourceMappings, Queues};
use crate::retry::{RetryPolicy, retry};

/// Ports whose every call is retried as `policy` says ([`retry`]), waiting on the ports' own
/// [`Clock`]. The reconcile loop only takes ports wrapped in it, so no call can go out
/// without the retry policy.
#[derive(Debug, Clone)]
pub struct Retrying<P> {
    inner: P,
    policy: RetryPolicy,
}

impl<P> Retrying<P> {
    /// `inner` under `policy`.
    pub fn new(inner: P, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }

    /// The ports inside.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The policy (also the backoff schedule for waiting out a mapping in transition).
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The same ports under another policy.
    #[must_use]
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }
}

delegate!(Clock for Retrying<P> where [P: Clock] => |this| this.inner);
delegate!(EventSourceMappings for Retrying<P> where [P: EventSourceMappings + Clock]
    => |this, call| this.inner, retry(&this.inner, &this.policy, call).await);
delegate!(Concurrency for Retrying<P> where [P: Concurrency + Clock]
    => |this, call| this.inner, retry(&this.inner, &this.policy, call).await);
delegate!(Alarms for Retrying<P> where [P: Alarms + Clock]
    => |this, call| this.inner, retry(&this.inner, &this.policy, call).await);
delegate!(Queues for Retrying<P> where [P: Queues + Clock]
    => |this, call| this.inner, retry(&this.inner, &this.policy, call).await);
