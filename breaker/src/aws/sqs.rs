//! SQS: the source queue's depth.

use aws_sdk_sqs::types::QueueAttributeName;

use super::AwsPorts;
use super::fault::from_sdk;
use crate::error::{AwsFault, Error};
use crate::ports::Queues;
use crate::protocol::QueueStatus;

impl Queues for AwsPorts {
    async fn queue_depth(&self, queue_url: &str) -> Result<QueueStatus, Error> {
        const OP: &str = "GetQueueAttributes";
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
}
