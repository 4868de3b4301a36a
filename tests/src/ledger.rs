//! The ledger: an SQS queue on which `probe-lambda` reports what it did, so a test can check
//! from the outside what reached the function.

use alarms::AlarmSignal;
use breaker::aws::fault::AwsCall;
use serde::{Deserialize, Serialize};

use crate::HarnessError;

/// Environment variable that gives `probe-lambda` its ledger queue URL.
pub const LEDGER_QUEUE_URL_ENV: &str = "LEDGER_QUEUE_URL";

/// One thing `probe-lambda` did, as JSON in one ledger message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LedgerEntry {
    /// An SQS record that was processed in a batch that succeeded.
    Processed {
        /// SQS message id.
        message_id: String,
        /// Message body.
        body: String,
        /// `ApproximateReceiveCount` when the function got it.
        receive_count: u32,
    },
    /// An SQS record in a batch the function failed on purpose (so the record goes back to
    /// the queue, and eventually to its DLQ).
    Failed {
        /// SQS message id.
        message_id: String,
        /// Message body.
        body: String,
        /// `ApproximateReceiveCount` when the function got it.
        receive_count: u32,
    },
    /// A CloudWatch alarm delivery, as `alarms::parse_value` understood it.
    Alarm {
        /// The parsed signal.
        signal: AlarmSignal,
    },
}

impl LedgerEntry {
    /// Sends this entry to the ledger queue.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when `SendMessage` fails.
    pub async fn record(
        &self,
        sqs: &aws_sdk_sqs::Client,
        ledger_url: &str,
    ) -> Result<(), HarnessError> {
        let body = serde_json::to_string(self).map_err(|source| HarnessError::Ledger {
            body: format!("{self:?}"),
            source,
        })?;
        sqs.send_message()
            .queue_url(ledger_url)
            .message_body(body)
            .send()
            .await
            .call("SendMessage")?;
        Ok(())
    }
}
