//! [`Retrying`]: every call of the wrapped ports under the one retry policy.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    AlarmDescription, Alarms, Clock, Concurrency, EntryResult, EventSourceMappings, Mapping,
    MappingUpdate, OutgoingMessage, QueueAttributes, QueueStatus, Queues, ReceivedMessage,
};
use crate::error::Error;
use crate::policy::ProbeTraffic;
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

impl<P: Clock> Clock for Retrying<P> {
    fn monotonic(&self) -> Duration {
        self.inner.monotonic()
    }

    async fn sleep(&self, span: Duration) {
        self.inner.sleep(span).await;
    }
}

impl<P: EventSourceMappings + Clock> EventSourceMappings for Retrying<P> {
    async fn get_mapping(&self, uuid: &str) -> Result<Mapping, Error> {
        retry(&self.inner, &self.policy, || self.inner.get_mapping(uuid)).await
    }

    async fn update_mapping(&self, uuid: &str, update: MappingUpdate) -> Result<(), Error> {
        retry(&self.inner, &self.policy, || {
            self.inner.update_mapping(uuid, update)
        })
        .await
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, Error> {
        retry(&self.inner, &self.policy, || self.inner.tags(arn)).await
    }

    async fn tag(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), Error> {
        retry(&self.inner, &self.policy, || self.inner.tag(arn, tags)).await
    }
}

impl<P: Concurrency + Clock> Concurrency for Retrying<P> {
    async fn reserved_concurrency(&self, function: &str) -> Result<Option<u32>, Error> {
        retry(&self.inner, &self.policy, || {
            self.inner.reserved_concurrency(function)
        })
        .await
    }

    async fn set_reserved_concurrency(&self, function: &str, reserved: u32) -> Result<(), Error> {
        retry(&self.inner, &self.policy, || {
            self.inner.set_reserved_concurrency(function, reserved)
        })
        .await
    }
}

impl<P: Alarms + Clock> Alarms for Retrying<P> {
    async fn describe_alarms(&self, names: &[String]) -> Result<Vec<AlarmDescription>, Error> {
        retry(&self.inner, &self.policy, || {
            self.inner.describe_alarms(names)
        })
        .await
    }

    async fn function_outcome(
        &self,
        function: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ProbeTraffic, Error> {
        retry(&self.inner, &self.policy, || {
            self.inner.function_outcome(function, from, to)
        })
        .await
    }
}

impl<P: Queues + Clock> Queues for Retrying<P> {
    async fn queue_depth(&self, queue_url: &str) -> Result<QueueStatus, Error> {
        retry(&self.inner, &self.policy, || {
            self.inner.queue_depth(queue_url)
        })
        .await
    }

    async fn queue_attributes(&self, queue_url: &str) -> Result<QueueAttributes, Error> {
        retry(&self.inner, &self.policy, || {
            self.inner.queue_attributes(queue_url)
        })
        .await
    }

    async fn queue_url(&self, name: &str, owner: &str) -> Result<String, Error> {
        retry(&self.inner, &self.policy, || {
            self.inner.queue_url(name, owner)
        })
        .await
    }

    async fn receive_messages(
        &self,
        queue_url: &str,
        max: usize,
        visibility_timeout: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        retry(&self.inner, &self.policy, || {
            self.inner
                .receive_messages(queue_url, max, visibility_timeout, wait)
        })
        .await
    }

    async fn send_messages(
        &self,
        queue_url: &str,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<EntryResult>, Error> {
        retry(&self.inner, &self.policy, || {
            self.inner.send_messages(queue_url, messages)
        })
        .await
    }

    async fn delete_messages(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<EntryResult>, Error> {
        retry(&self.inner, &self.policy, || {
            self.inner.delete_messages(queue_url, receipt_handles)
        })
        .await
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
        timeout: Duration,
    ) -> Result<Vec<EntryResult>, Error> {
        retry(&self.inner, &self.policy, || {
            self.inner
                .change_visibility(queue_url, receipt_handles, timeout)
        })
        .await
    }
}
