//! [`Faulty`]: a wrapper around any implementation of the ports — the real SDK adapters
//! included — that makes chosen entries of SQS batch calls fail, for tests of partial batch
//! failures against a real (emulated) SQS.
//!
//! A failing entry is withheld from the wrapped call and answered with the injected error, so
//! the queue's real state matches what the caller is told: a "failed" send was not sent, a
//! "failed" delete left its message in flight.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::EntryFault;
use floodgate_core::Operation;
use floodgate_core::error::Error;
use floodgate_core::ports::QueueStatus;
use floodgate_core::ports::{
    Alarms, Clock, Concurrency, EntryResult, EventSourceMappings, OutgoingMessage, QueueAttributes,
    Queues, ReceivedMessage,
};

/// Wraps `P`, failing batch entries as scripted with [`Faulty::fail_entries`]; everything
/// else passes through unchanged.
#[derive(Debug, Default)]
pub struct Faulty<P> {
    inner: P,
    faults: Mutex<BTreeMap<Operation, VecDeque<EntryFault>>>,
}

impl<P> Faulty<P> {
    /// `inner`, with no faults scripted.
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            faults: Mutex::new(BTreeMap::new()),
        }
    }

    /// The wrapped ports.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The next entries of `operation`'s batch calls (`SendMessageBatch`,
    /// `DeleteMessageBatch`, `ChangeMessageVisibilityBatch`) turn out as `faults` say, one per
    /// entry across calls; entries after them pass through.
    pub fn fail_entries(&self, operation: Operation, faults: impl IntoIterator<Item = EntryFault>) {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(operation)
            .or_default()
            .extend(faults);
    }

    /// For each of `len` entries, the injected error, or `None` to pass it through.
    fn script(&self, operation: Operation, len: usize) -> Vec<Option<EntryResult>> {
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        let queue = faults.entry(operation).or_default();
        (0..len)
            .map(|_| queue.pop_front().and_then(EntryFault::error).map(Err))
            .collect()
    }
}

/// Runs `call` on the entries the script lets through, and merges its answers with the
/// injected ones, in the original order.
async fn merged<T: Clone, F, Fut>(
    script: Vec<Option<EntryResult>>,
    entries: &[T],
    call: F,
) -> Result<Vec<EntryResult>, Error>
where
    F: FnOnce(Vec<T>) -> Fut,
    Fut: Future<Output = Result<Vec<EntryResult>, Error>>,
{
    let passed: Vec<T> = entries
        .iter()
        .zip(&script)
        .filter(|(_, injected)| injected.is_none())
        .map(|(entry, _)| entry.clone())
        .collect();
    let mut answers = if passed.is_empty() {
        Vec::new()
    } else {
        call(passed).await?
    }
    .into_iter();
    Ok(script
        .into_iter()
        .map(|injected| match injected {
            Some(result) => result,
            None => answers.next().unwrap_or(Ok(())),
        })
        .collect())
}

floodgate_core::delegate_port!(Clock for Faulty<P> where [P: Clock + Send] => |this| this.inner);
floodgate_core::delegate_port!(EventSourceMappings for Faulty<P> where [P: EventSourceMappings + Send]
    => |this, call| this.inner, call().await);
floodgate_core::delegate_port!(Concurrency for Faulty<P> where [P: Concurrency + Send]
    => |this, call| this.inner, call().await);
floodgate_core::delegate_port!(Alarms for Faulty<P> where [P: Alarms + Send]
    => |this, call| this.inner, call().await);

impl<P: Queues + Send> Queues for Faulty<P> {
    async fn queue_depth(&self, queue_url: &str) -> Result<QueueStatus, Error> {
        self.inner.queue_depth(queue_url).await
    }

    async fn queue_attributes(&self, queue_url: &str) -> Result<QueueAttributes, Error> {
        self.inner.queue_attributes(queue_url).await
    }

    async fn queue_url(&self, name: &str, owner: &str) -> Result<String, Error> {
        self.inner.queue_url(name, owner).await
    }

    async fn receive_messages(
        &self,
        queue_url: &str,
        max: usize,
        visibility_timeout: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        self.inner
            .receive_messages(queue_url, max, visibility_timeout, wait)
            .await
    }

    async fn send_messages(
        &self,
        queue_url: &str,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<EntryResult>, Error> {
        let script = self.script(Operation::SendMessageBatch, messages.len());
        merged(script, messages, async |passed| {
            self.inner.send_messages(queue_url, &passed).await
        })
        .await
    }

    async fn delete_messages(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<EntryResult>, Error> {
        let script = self.script(Operation::DeleteMessageBatch, receipt_handles.len());
        merged(script, receipt_handles, async |passed| {
            self.inner.delete_messages(queue_url, &passed).await
        })
        .await
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
        timeout: Duration,
    ) -> Result<Vec<EntryResult>, Error> {
        let script = self.script(
            Operation::ChangeMessageVisibilityBatch,
            receipt_handles.len(),
        );
        merged(script, receipt_handles, async |passed| {
            self.inner
                .change_visibility(queue_url, &passed, timeout)
                .await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeAws;

    const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/q";

    #[tokio::test]
    async fn a_failed_entry_is_withheld_and_the_others_pass_through_in_order() {
        let aws = FakeAws::new();
        aws.add_queue(QUEUE);
        let faulty = Faulty::new(aws);
        faulty.fail_entries(
            Operation::SendMessageBatch,
            [EntryFault::Succeed, EntryFault::Transient],
        );
        let messages: Vec<OutgoingMessage> = ["a", "b", "c"].map(OutgoingMessage::new).to_vec();

        let results = faulty.send_messages(QUEUE, &messages).await.unwrap();

        assert_eq!(results[0], Ok(()));
        assert!(matches!(&results[1], Err(e) if !e.sender_fault));
        assert_eq!(results[2], Ok(()));
        let bodies: Vec<String> = faulty
            .inner()
            .all_messages(QUEUE)
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert_eq!(bodies, ["a", "c"], "the failed entry was not sent");
    }

    #[tokio::test]
    async fn a_failed_delete_leaves_the_message_in_flight() {
        let aws = FakeAws::new();
        aws.push_bodies(QUEUE, ["a", "b"]);
        let faulty = Faulty::new(aws);
        let received = faulty
            .receive_messages(QUEUE, 10, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap();
        let handles: Vec<String> = received.iter().map(|m| m.receipt_handle.clone()).collect();
        faulty.fail_entries(Operation::DeleteMessageBatch, [EntryFault::Rejected]);

        let results = faulty.delete_messages(QUEUE, &handles).await.unwrap();

        assert!(results[0].is_err());
        assert_eq!(results[1], Ok(()));
        let left = faulty.inner().in_flight_messages(QUEUE);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0.body, received[0].body);
    }
}
