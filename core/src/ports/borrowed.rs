//! The ports through a shared reference, so decorators and tests can wrap a borrowed world.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    AlarmDescription, Alarms, Clock, Concurrency, EntryResult, EventSourceMappings, Mapping,
    MappingUpdate, OutgoingMessage, QueueAttributes, QueueStatus, Queues, ReceivedMessage,
};
use crate::error::Error;
use crate::policy::ProbeTraffic;

impl<P: Clock + ?Sized> Clock for &P {
    fn monotonic(&self) -> Duration {
        (**self).monotonic()
    }

    async fn sleep(&self, span: Duration) {
        (**self).sleep(span).await;
    }
}

impl<P: EventSourceMappings + ?Sized> EventSourceMappings for &P {
    async fn get_mapping(&self, uuid: &str) -> Result<Mapping, Error> {
        (**self).get_mapping(uuid).await
    }

    async fn update_mapping(&self, uuid: &str, update: MappingUpdate) -> Result<(), Error> {
        (**self).update_mapping(uuid, update).await
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, Error> {
        (**self).tags(arn).await
    }

    async fn tag(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), Error> {
        (**self).tag(arn, tags).await
    }
}

impl<P: Concurrency + ?Sized> Concurrency for &P {
    async fn reserved_concurrency(&self, function: &str) -> Result<Option<u32>, Error> {
        (**self).reserved_concurrency(function).await
    }

    async fn set_reserved_concurrency(&self, function: &str, reserved: u32) -> Result<(), Error> {
        (**self).set_reserved_concurrency(function, reserved).await
    }
}

impl<P: Alarms + ?Sized> Alarms for &P {
    async fn describe_alarms(&self, names: &[String]) -> Result<Vec<AlarmDescription>, Error> {
        (**self).describe_alarms(names).await
    }

    async fn function_outcome(
        &self,
        function: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ProbeTraffic, Error> {
        (**self).function_outcome(function, from, to).await
    }
}

impl<P: Queues + ?Sized> Queues for &P {
    async fn queue_depth(&self, queue_url: &str) -> Result<QueueStatus, Error> {
        (**self).queue_depth(queue_url).await
    }

    async fn queue_attributes(&self, queue_url: &str) -> Result<QueueAttributes, Error> {
        (**self).queue_attributes(queue_url).await
    }

    async fn queue_url(&self, name: &str, owner: &str) -> Result<String, Error> {
        (**self).queue_url(name, owner).await
    }

    async fn receive_messages(
        &self,
        queue_url: &str,
        max: usize,
        visibility_timeout: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        (**self)
            .receive_messages(queue_url, max, visibility_timeout, wait)
            .await
    }

    async fn send_messages(
        &self,
        queue_url: &str,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<EntryResult>, Error> {
        (**self).send_messages(queue_url, messages).await
    }

    async fn delete_messages(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<EntryResult>, Error> {
        (**self).delete_messages(queue_url, receipt_handles).await
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
        timeout: Duration,
    ) -> Result<Vec<EntryResult>, Error> {
        (**self)
            .change_visibility(queue_url, receipt_handles, timeout)
            .await
    }
}
