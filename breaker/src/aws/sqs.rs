//! SQS: the source queue's depth, the queue configuration the overflow relies on (size limit,
//! retention, redrive policy, and the DLQ's URL), and the message calls of the overflow
//! (receive, send, delete, change visibility — each in batches of up to 10, with per-entry
//! results).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_sqs::error::BuildError;
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry,
    DeleteMessageBatchRequestEntry, Message, MessageAttributeValue, MessageSystemAttributeName,
    MessageSystemAttributeNameForSends, MessageSystemAttributeValue, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use chrono::{DateTime, Utc};

use super::AwsPorts;
use super::fault::from_sdk;
use floodgate_core::Operation;
use floodgate_core::error::{AwsFault, Error, bounded};
use floodgate_core::ports::QueueStatus;
use floodgate_core::ports::{
    AttributeValue, EntryError, EntryResult, MAX_BATCH_ENTRIES, MessageAttribute, OutgoingMessage,
    QueueAttributes, Queues, ReceivedMessage, RedrivePolicy,
};

/// SQS's data type for X-Ray trace headers sent as a system attribute.
const TRACE_HEADER_TYPE: &str = "String";

impl Queues for AwsPorts {
    async fn queue_depth(&self, queue_url: &str) -> Result<QueueStatus, Error> {
        const OP: Operation = Operation::GetQueueAttributes;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| from_sdk(OP, &e))?;
        let count = |name: QueueAttributeName| -> Result<u64, Error> {
            let value = out.attributes().and_then(|a| a.get(&name)).ok_or_else(|| {
                Error::aws(OP, AwsFault::Other, None, &format!("no {}", name.as_str()))
            })?;
            value.parse().map_err(|_| {
                Error::aws(
                    OP,
                    AwsFault::Other,
                    None,
                    &format!("{} is not a count", name.as_str()),
                )
            })
        };
        Ok(QueueStatus {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages)?,
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?,
        })
    }

    async fn queue_attributes(&self, queue_url: &str) -> Result<QueueAttributes, Error> {
        const OP: Operation = Operation::GetQueueAttributes;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::MaximumMessageSize)
            .attribute_names(QueueAttributeName::MessageRetentionPeriod)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| from_sdk(OP, &e))?;
        let get = |name: QueueAttributeName| out.attributes().and_then(|a| a.get(&name));
        queue_attributes(
            get(QueueAttributeName::MaximumMessageSize).map(String::as_str),
            get(QueueAttributeName::MessageRetentionPeriod).map(String::as_str),
            get(QueueAttributeName::RedrivePolicy).map(String::as_str),
        )
        .map_err(|reason| Error::aws(OP, AwsFault::Other, None, &reason))
    }

    async fn queue_url(&self, name: &str, owner: &str) -> Result<String, Error> {
        const OP: Operation = Operation::GetQueueUrl;
        let out = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(owner)
            .send()
            .await
            .map_err(|e| from_sdk(OP, &e))?;
        out.queue_url()
            .map(str::to_owned)
            .ok_or_else(|| Error::aws(OP, AwsFault::Other, None, "no QueueUrl"))
    }

    async fn receive_messages(
        &self,
        queue_url: &str,
        max: usize,
        visibility_timeout: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        const OP: Operation = Operation::ReceiveMessage;
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(count_i32(max.clamp(1, MAX_BATCH_ENTRIES)))
            .visibility_timeout(secs_i32(visibility_timeout))
            .wait_time_seconds(secs_i32(wait))
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| from_sdk(OP, &e))?;
        out.messages().iter().map(received).collect()
    }

    async fn send_messages(
        &self,
        queue_url: &str,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<EntryResult>, Error> {
        const OP: Operation = Operation::SendMessageBatch;
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let entries = entries(OP, messages, outgoing)?;
        let out = self
            .sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| from_sdk(OP, &e))?;
        Ok(entry_results(
            messages.len(),
            out.successful()
                .iter()
                .map(aws_sdk_sqs::types::SendMessageBatchResultEntry::id),
            out.failed(),
        ))
    }

    async fn delete_messages(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<EntryResult>, Error> {
        const OP: Operation = Operation::DeleteMessageBatch;
        if receipt_handles.is_empty() {
            return Ok(Vec::new());
        }
        let entries = entries(OP, receipt_handles, |id, handle| {
            DeleteMessageBatchRequestEntry::builder()
                .id(id)
                .receipt_handle(handle)
                .build()
        })?;
        let out = self
            .sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| from_sdk(OP, &e))?;
        Ok(entry_results(
            receipt_handles.len(),
            out.successful()
                .iter()
                .map(aws_sdk_sqs::types::DeleteMessageBatchResultEntry::id),
            out.failed(),
        ))
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
        timeout: Duration,
    ) -> Result<Vec<EntryResult>, Error> {
        const OP: Operation = Operation::ChangeMessageVisibilityBatch;
        if receipt_handles.is_empty() {
            return Ok(Vec::new());
        }
        let entries = entries(OP, receipt_handles, |id, handle| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(id)
                .receipt_handle(handle)
                .visibility_timeout(secs_i32(timeout))
                .build()
        })?;
        let out = self
            .sqs
            .change_message_visibility_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| from_sdk(OP, &e))?;
        Ok(entry_results(
            receipt_handles.len(),
            out.successful()
                .iter()
                .map(aws_sdk_sqs::types::ChangeMessageVisibilityBatchResultEntry::id),
            out.failed(),
        ))
    }
}

/// The attributes as SQS spells them. A queue always has `MaximumMessageSize` and
/// `MessageRetentionPeriod`; `RedrivePolicy` is absent (or empty) when none is set.
fn queue_attributes(
    maximum_message_size: Option<&str>,
    retention: Option<&str>,
    redrive: Option<&str>,
) -> Result<QueueAttributes, String> {
    let maximum_message_size = maximum_message_size
        .ok_or("no MaximumMessageSize")?
        .parse()
        .map_err(|_| "MaximumMessageSize is not a byte count")?;
    let retention = retention
        .ok_or("no MessageRetentionPeriod")?
        .parse()
        .map(Duration::from_secs)
        .map_err(|_| "MessageRetentionPeriod is not a number of seconds")?;
    let redrive = match redrive.map(str::trim) {
        None | Some("") => None,
        Some(json) => Some(redrive_policy(json)?),
    };
    Ok(QueueAttributes {
        maximum_message_size,
        retention,
        redrive,
    })
}

/// `{"deadLetterTargetArn": "...", "maxReceiveCount": 5}`; SQS has been seen to write the
/// count as a number and as a string, so both are read.
fn redrive_policy(json: &str) -> Result<RedrivePolicy, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("RedrivePolicy is not JSON: {e}"))?;
    let arn = value["deadLetterTargetArn"]
        .as_str()
        .ok_or("RedrivePolicy has no deadLetterTargetArn")?;
    let count = match &value["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .and_then(|n| u32::try_from(n).ok())
    .ok_or("RedrivePolicy has no maxReceiveCount")?;
    Ok(RedrivePolicy {
        dead_letter_target_arn: arn.to_owned(),
        max_receive_count: count,
    })
}

fn count_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn secs_i32(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// The request entries of a batch call, each built from its item and its id: the item's
/// index, by which [`entry_results`] maps SQS's answers back.
fn entries<I, T>(
    operation: Operation,
    items: &[I],
    build: impl Fn(String, &I) -> Result<T, BuildError>,
) -> Result<Vec<T>, Error> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            build(i.to_string(), item)
                .map_err(|e| Error::aws(operation, AwsFault::Other, None, &e.to_string()))
        })
        .collect()
}

/// One result per entry `0..len`, by the entry ids SQS answered with. An entry in neither list
/// is a failure: nothing says it took effect.
fn entry_results<'a>(
    len: usize,
    successful: impl Iterator<Item = &'a str>,
    failed: &[BatchResultErrorEntry],
) -> Vec<EntryResult> {
    let mut results: Vec<EntryResult> = vec![
        Err(EntryError {
            code: "NoResult".to_owned(),
            message: "SQS reported neither success nor failure for this entry".to_owned(),
            sender_fault: false,
        });
        len
    ];
    for id in successful {
        if let Some(slot) = id.parse::<usize>().ok().and_then(|i| results.get_mut(i)) {
            *slot = Ok(());
        }
    }
    for failure in failed {
        if let Some(slot) = failure
            .id()
            .parse::<usize>()
            .ok()
            .and_then(|i| results.get_mut(i))
        {
            *slot = Err(EntryError {
                code: failure.code().to_owned(),
                message: bounded(failure.message().unwrap_or_default()),
                sender_fault: failure.sender_fault(),
            });
        }
    }
    results
}

fn received(message: &Message) -> Result<ReceivedMessage, Error> {
    const OP: Operation = Operation::ReceiveMessage;
    let missing = |field: &str| Error::aws(OP, AwsFault::Other, None, &format!("no {field}"));
    let system = |name: MessageSystemAttributeName| {
        message
            .attributes()
            .and_then(|a| a.get(&name))
            .map(String::as_str)
    };
    let attributes = message
        .message_attributes()
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| attribute(value).map(|a| (name.clone(), a)))
        .collect::<BTreeMap<_, _>>();
    Ok(ReceivedMessage {
        message_id: message
            .message_id()
            .ok_or_else(|| missing("MessageId"))?
            .to_owned(),
        receipt_handle: message
            .receipt_handle()
            .ok_or_else(|| missing("ReceiptHandle"))?
            .to_owned(),
        body: message.body().unwrap_or_default().to_owned(),
        attributes,
        trace_header: system(MessageSystemAttributeName::AwsTraceHeader).map(str::to_owned),
        sent_at: system(MessageSystemAttributeName::SentTimestamp)
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(DateTime::<Utc>::from_timestamp_millis),
        receive_count: system(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|n| n.parse().ok()),
    })
}

/// A received attribute; `None` for the list types SQS reserves and never returns.
fn attribute(value: &MessageAttributeValue) -> Option<MessageAttribute> {
    let data_type = value.data_type().to_owned();
    let value = if let Some(bytes) = value.binary_value() {
        AttributeValue::Binary(bytes.as_ref().to_vec())
    } else {
        AttributeValue::String(value.string_value()?.to_owned())
    };
    Some(MessageAttribute { data_type, value })
}

fn outgoing(
    id: String,
    message: &OutgoingMessage,
) -> Result<SendMessageBatchRequestEntry, BuildError> {
    let attributes = message
        .attributes
        .iter()
        .map(|(name, a)| {
            let value = MessageAttributeValue::builder().data_type(&a.data_type);
            let value = match &a.value {
                AttributeValue::String(s) => value.string_value(s),
                AttributeValue::Binary(b) => value.binary_value(Blob::new(b.clone())),
            };
            value.build().map(|v| (name.clone(), v))
        })
        .collect::<Result<HashMap<_, _>, _>>()?;
    let mut entry = SendMessageBatchRequestEntry::builder()
        .id(id)
        .message_body(&message.body);
    if !attributes.is_empty() {
        entry = entry.set_message_attributes(Some(attributes));
    }
    if let Some(trace) = &message.trace_header {
        entry = entry.message_system_attributes(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder()
                .data_type(TRACE_HEADER_TYPE)
                .string_value(trace)
                .build()?,
        );
    }
    entry.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(id: &str, sender_fault: bool) -> BatchResultErrorEntry {
        BatchResultErrorEntry::builder()
            .id(id)
            .code("InternalError")
            .sender_fault(sender_fault)
            .build()
            .unwrap()
    }

    #[test]
    fn queue_attributes_read_size_retention_and_either_spelling_of_the_redrive_count() {
        let arn = "arn:aws:sqs:us-east-1:123456789012:orders-dlq";
        let number = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":5}}"#);
        let got = queue_attributes(Some("1048576"), Some("1209600"), Some(&number)).unwrap();
        assert_eq!(got.maximum_message_size, 1_048_576);
        assert_eq!(got.retention, Duration::from_hours(336));
        assert_eq!(
            got.redrive,
            Some(RedrivePolicy {
                dead_letter_target_arn: arn.to_owned(),
                max_receive_count: 5
            })
        );
        let string = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"7"}}"#);
        let got = queue_attributes(Some("1024"), Some("60"), Some(&string)).unwrap();
        assert_eq!(got.redrive.map(|r| r.max_receive_count), Some(7));
        assert_eq!(
            queue_attributes(Some("1024"), Some("60"), None)
                .unwrap()
                .redrive,
            None
        );
        assert!(queue_attributes(None, Some("60"), None).is_err());
        assert!(queue_attributes(Some("1024"), Some("60"), Some("{}")).is_err());
    }

    #[test]
    fn entries_sqs_does_not_mention_count_as_failed() {
        let results = entry_results(3, ["0"].into_iter(), &[failure("2", true)]);
        assert_eq!(results[0], Ok(()));
        assert!(matches!(&results[1], Err(e) if e.code == "NoResult" && !e.sender_fault));
        assert!(matches!(&results[2], Err(e) if e.code == "InternalError" && e.sender_fault));
    }

    #[test]
    fn an_answer_naming_unknown_entries_changes_nothing() {
        let results = entry_results(1, ["7", "x"].into_iter(), &[failure("9", false)]);
        assert!(results[0].is_err());
    }

    #[test]
    fn outgoing_entries_carry_every_attribute_and_the_trace_header() {
        let mut message = OutgoingMessage::new("{\"n\":1}");
        message
            .attributes
            .insert("kind".into(), MessageAttribute::string("order"));
        message.attributes.insert(
            "blob".into(),
            MessageAttribute {
                data_type: "Binary.gz".into(),
                value: AttributeValue::Binary(vec![0, 1, 2]),
            },
        );
        message.trace_header = Some("Root=1-5759e988-bd862e3fe1be46a994272793".into());
        let entry = outgoing("4".to_owned(), &message).unwrap();
        assert_eq!(entry.id(), "4");
        assert_eq!(entry.message_body(), "{\"n\":1}");
        let attributes = entry.message_attributes().unwrap();
        assert_eq!(attributes["kind"].string_value(), Some("order"));
        assert_eq!(attributes["blob"].data_type(), "Binary.gz");
        assert_eq!(
            attributes["blob"].binary_value().map(Blob::as_ref),
            Some(&[0u8, 1, 2][..])
        );
        let system = entry.message_system_attributes().unwrap();
        assert_eq!(
            system[&MessageSystemAttributeNameForSends::AwsTraceHeader].string_value(),
            message.trace_header.as_deref()
        );
    }

    #[test]
    fn received_messages_keep_attributes_and_system_attributes() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body("hello")
            .attributes(MessageSystemAttributeName::SentTimestamp, "1763726400000")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "3")
            .message_attributes(
                "n",
                MessageAttributeValue::builder()
                    .data_type("Number")
                    .string_value("42")
                    .build()
                    .unwrap(),
            )
            .build();
        let got = received(&message).unwrap();
        assert_eq!(got.message_id, "m-1");
        assert_eq!(got.receipt_handle, "r-1");
        assert_eq!(got.body, "hello");
        assert_eq!(got.receive_count, Some(3));
        assert_eq!(
            got.sent_at.map(|t| t.timestamp_millis()),
            Some(1_763_726_400_000)
        );
        assert_eq!(
            got.attributes["n"],
            MessageAttribute {
                data_type: "Number".into(),
                value: AttributeValue::String("42".into())
            }
        );
        assert_eq!(got.trace_header, None);
    }
}
