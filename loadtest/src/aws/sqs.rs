//! SQS: the flooder's sink, and the drill's queue reads (depth, non-destructive peek, ledger
//! drain).

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    QueueAttributeName, SendMessageBatchRequestEntry,
};

use breaker::aws::fault::{AwsCall, SdkCallError};

use super::build_error;
use crate::error::{Error, Result};
use crate::flood::sender::{CallError, Entry, EntryFailure, SendFailure, Sink};
use crate::victim::LedgerQueue;

/// Most messages one `ReceiveMessage` returns.
const RECEIVE_MAX: i32 = 10;
/// Empty long polls in a row after which a queue counts as read to the end.
const EMPTY_POLLS_TO_STOP: u32 = 2;
/// Most messages a peek reads, so a huge queue cannot keep a drill busy forever.
const PEEK_LIMIT: usize = 200_000;

/// `SendMessageBatch` to one queue.
#[derive(Debug, Clone)]
pub struct SqsSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsSink {
    /// A sink for `queue_url`.
    pub fn new(sdk: &SdkConfig, queue_url: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_sqs::Client::new(sdk),
            queue_url: queue_url.into(),
        }
    }
}

impl Sink for SqsSink {
    fn send_batch(
        &self,
        entries: &[Entry],
    ) -> impl Future<Output = Result<Vec<EntryFailure>, CallError>> + Send {
        let built: Result<Vec<_>, _> = entries
            .iter()
            .map(|e| {
                SendMessageBatchRequestEntry::builder()
                    .id(&e.id)
                    .message_body(&e.body)
                    .set_message_group_id(e.group_id.clone())
                    .set_message_deduplication_id(e.dedup_id.clone())
                    .build()
            })
            .collect();
        let request = self.client.send_message_batch().queue_url(&self.queue_url);
        async move {
            let entries = built.map_err(|err| CallError {
                class: SendFailure::ClientError,
                message: format!("entry not built: {err}"),
            })?;
            let output = request
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|err| {
                    let read = SdkCallError::new("SendMessageBatch", &err);
                    CallError {
                        class: SendFailure::from(&read.failure),
                        message: read.detail,
                    }
                })?;
            Ok(output
                .failed()
                .iter()
                .map(|failure| {
                    let class = match SendFailure::classify(Some(failure.code()), None) {
                        // The service says the fault is its own: worth another try.
                        SendFailure::ClientError if !failure.sender_fault() => {
                            SendFailure::ServerError
                        }
                        class => class,
                    };
                    EntryFailure {
                        id: failure.id().to_owned(),
                        class,
                        code: failure.code().to_owned(),
                    }
                })
                .collect())
        }
    }
}

/// Messages of a queue, by visibility.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    /// `ApproximateNumberOfMessages`.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible` (received, not yet deleted).
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`.
    pub delayed: u64,
}

impl Depth {
    /// All three.
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// Reads and writes of queues other than sending the flood.
#[derive(Debug, Clone)]
pub struct Queues {
    client: aws_sdk_sqs::Client,
}

impl Queues {
    /// Queue access from `sdk`.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: aws_sdk_sqs::Client::new(sdk),
        }
    }

    /// Queue access from `sdk` with the SDK's standard retries, up to `attempts` per call
    /// (for the victim's ledger writes, which nothing else retries).
    pub fn with_retries(sdk: &SdkConfig, attempts: u32) -> Self {
        let config = aws_sdk_sqs::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(attempts))
            .build();
        Self {
            client: aws_sdk_sqs::Client::from_conf(config),
        }
    }

    /// The approximate depth of `url`.
    ///
    /// # Errors
    /// [`Error::Aws`] when `GetQueueAttributes` fails (e.g. the queue does not exist).
    pub async fn depth(&self, url: &str) -> Result<Depth> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .call("GetQueueAttributes")?;
        let count = |name: QueueAttributeName| {
            output
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(Depth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        })
    }

    /// The queue's ARN (which also proves it exists).
    ///
    /// # Errors
    /// [`Error::Aws`] when `GetQueueAttributes` fails.
    pub async fn arn(&self, url: &str) -> Result<String> {
        self.client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .call("GetQueueAttributes")?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| Error::Aws {
                call: "GetQueueAttributes",
                retryable: false,
                cause: format!("no QueueArn for {url}"),
            })
    }

    async fn receive(&self, url: &str, visibility: Option<Duration>) -> Result<Vec<Message>> {
        let visibility = visibility.map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX));
        Ok(self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(RECEIVE_MAX)
            .wait_time_seconds(1)
            .set_visibility_timeout(visibility)
            .send()
            .await
            .call("ReceiveMessage")?
            .messages()
            .to_vec())
    }

    /// The bodies of the messages visible in `url`, without consuming them: each is received
    /// with a visibility timeout of `hold`, then made visible again at once. Messages in
    /// flight elsewhere (e.g. with a consumer) are not seen.
    ///
    /// # Errors
    /// [`Error::Aws`] when a call fails; messages already held become visible after `hold`.
    pub async fn peek(&self, url: &str, hold: Duration) -> Result<Vec<String>> {
        let mut seen = BTreeSet::new();
        let mut bodies = Vec::new();
        let mut handles = Vec::new();
        let mut empty = 0;
        while empty < EMPTY_POLLS_TO_STOP && bodies.len() < PEEK_LIMIT {
            let messages = self.receive(url, Some(hold)).await?;
            if messages.is_empty() {
                empty += 1;
            }
            for message in messages {
                let id = message.message_id().unwrap_or_default().to_owned();
                if let Some(handle) = message.receipt_handle() {
                    handles.push(handle.to_owned());
                }
                if seen.insert(id) {
                    bodies.push(message.body().unwrap_or_default().to_owned());
                }
            }
        }
        self.release(url, &handles).await?;
        Ok(bodies)
    }

    async fn release(&self, url: &str, handles: &[String]) -> Result<()> {
        for chunk in handles.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, handle)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|err| build_error("ChangeMessageVisibilityBatch", &err))
                })
                .collect::<Result<Vec<_>>>()?;
            self.client
                .change_message_visibility_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .call("ChangeMessageVisibilityBatch")?;
        }
        Ok(())
    }

    /// Receives and deletes every message of `url` until it stays empty, appending
    /// `(message id, body)` to `out` as it goes. For the ledger, which the drill owns.
    ///
    /// A message is appended before it is deleted, so an error loses nothing: what was not
    /// deleted comes back later, with the same message id for the caller to skip.
    ///
    /// # Errors
    /// [`Error::Aws`] when a call fails; `out` keeps what was read until then.
    pub async fn drain_into(&self, url: &str, out: &mut Vec<(String, String)>) -> Result<()> {
        let mut empty = 0;
        while empty < EMPTY_POLLS_TO_STOP {
            let messages = self.receive(url, None).await?;
            if messages.is_empty() {
                empty += 1;
                continue;
            }
            let entries = messages
                .iter()
                .enumerate()
                .filter_map(|(i, m)| m.receipt_handle().map(|h| (i, h)))
                .map(|(i, handle)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .build()
                        .map_err(|err| build_error("DeleteMessageBatch", &err))
                })
                .collect::<Result<Vec<_>>>()?;
            out.extend(messages.iter().map(|m| {
                (
                    m.message_id().unwrap_or_default().to_owned(),
                    m.body().unwrap_or_default().to_owned(),
                )
            }));
            self.client
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .call("DeleteMessageBatch")?;
        }
        Ok(())
    }
}

/// The victim's ledger writes: one `SendMessage` per record.
impl LedgerQueue for Queues {
    async fn send(&self, url: &str, body: String) -> Result<()> {
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .call("SendMessage")?;
        Ok(())
    }
}
