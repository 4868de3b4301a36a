//! [`LambdaSender`]: the signal as an asynchronous `Invoke` (`InvocationType=Event`) of the
//! controller function.
//!
//! Lambda queues an `Event` invocation and answers `202 Accepted` at once, so the consumer
//! waits for the queueing only, never for the controller's work. The call is made with the
//! SDK's retries off: the fuse's `invoke_timeout` is short, and a signal that fails is counted
//! and retried by the next batch over the threshold after the back-off.

use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use crate::{SendError, Signal, SignalSender};

/// Sends signals to one controller function (name, ARN or alias ARN) with the consumer's
/// Lambda client.
#[derive(Debug, Clone)]
pub struct LambdaSender {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LambdaSender {
    /// A sender invoking `function` with `client`.
    pub fn new(client: aws_sdk_lambda::Client, function: impl Into<String>) -> Self {
        Self {
            client,
            function: function.into(),
        }
    }

    /// The controller function.
    pub fn function(&self) -> &str {
        &self.function
    }
}

impl SignalSender for LambdaSender {
    async fn send(&self, signal: &Signal) -> Result<(), SendError> {
        let payload = serde_json::to_vec(signal).map_err(|e| SendError::Other(e.to_string()))?;
        let output = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .customize()
            .config_override(
                aws_sdk_lambda::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| classify(&e))?;
        match output.status_code() {
            202 => Ok(()),
            other => Err(SendError::Other(format!(
                "Invoke answered status {other}, not 202 Accepted"
            ))),
        }
    }
}

/// The SDK's error as a [`SendError`]: the service's code where there is one, never the payload.
fn classify(error: &SdkError<InvokeError>) -> SendError {
    match error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or("Unknown").to_owned();
            if matches!(
                code.as_str(),
                "TooManyRequestsException"
                    | "ThrottlingException"
                    | "Throttling"
                    | "RequestLimitExceeded"
            ) {
                SendError::Throttled { code }
            } else {
                SendError::Refused {
                    code,
                    message: inner.message().unwrap_or_default().to_owned(),
                }
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            SendError::Unreachable(DisplayErrorContext(error).to_string())
        }
        _ => SendError::Other(DisplayErrorContext(error).to_string()),
    }
}
