//! Invoking the controller Lambda: how the operator CLI sends a [`Request`], so that every
//! change of a circuit still goes through the controller, its single writer.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_lambda::primitives::Blob;
use serde::Deserialize;

use floodgate_core::protocol::{Request, Response};

/// Attempts per Invoke from the CLI (the SDK's standard retry mode, with backoff up to
/// [`INVOKE_MAX_BACKOFF`]): together about 80 s of patience, longer than the controller
/// replays in one invocation (45 s), so a command gets through a controller busy with a tick.
pub const INVOKE_ATTEMPTS: u32 = 20;
/// Longest wait between two Invoke attempts.
pub const INVOKE_MAX_BACKOFF: Duration = Duration::from_secs(5);
/// After this long without an answer the CLI says what it is waiting for.
pub const INVOKE_PATIENCE_NOTICE: Duration = Duration::from_secs(2);

/// Why an invocation of the controller did not produce a [`Response`].
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The Invoke call itself failed (no such function, no permission, network).
    #[error("invoking {function} failed: {message}")]
    Call {
        /// The function name or ARN.
        function: String,
        /// The SDK's error, with its service error code where there is one.
        message: String,
    },
    /// The controller ran and refused or failed the request.
    #[error("{error_type}: {message}")]
    Function {
        /// `Rejected`, `Retryable` or `Failed` (see [`floodgate_core::protocol`]).
        error_type: String,
        /// The controller's explanation.
        message: String,
    },
    /// The controller answered something that is not a [`Response`].
    #[error("the controller's answer is not a floodgate response: {0}")]
    BadResponse(String),
}

/// The shape of a Lambda function error payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FunctionErrorPayload {
    #[serde(default)]
    error_type: String,
    #[serde(default)]
    error_message: String,
}

/// Sends requests to one controller function (name, ARN or alias ARN).
#[derive(Debug, Clone)]
pub struct ControllerClient {
    lambda: aws_sdk_lambda::Client,
    function: String,
}

impl ControllerClient {
    /// A client for `function`, using the clients' settings from `sdk`.
    pub fn new(sdk: &SdkConfig, function: impl Into<String>) -> Self {
        Self {
            lambda: aws_sdk_lambda::Client::new(sdk),
            function: function.into(),
        }
    }

    /// A client configured the way an operator's shell is (the usual AWS configuration chain),
    /// with optional endpoint and region overrides, allowing `timeout` per Invoke: the
    /// controller may be retrying a busy mapping while the operator waits.
    pub async fn from_env(
        function: impl Into<String>,
        endpoint_url: Option<&str>,
        region: Option<&str>,
        timeout: Duration,
    ) -> Self {
        // Unlike the controller (which retries through its own policy), the CLI lets the SDK
        // retry throttling: a controller busy with an alarm storm answers 429 for a moment,
        // and repeating a command is safe because the policy ignores duplicates.
        let mut loader = super::config_loader()
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(INVOKE_ATTEMPTS)
                    .with_max_backoff(INVOKE_MAX_BACKOFF),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(super::CONNECT_TIMEOUT)
                    .operation_attempt_timeout(timeout)
                    .build(),
            );
        if let Some(endpoint) = endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_owned()));
        }
        Self::new(&loader.load().await, function)
    }

    /// Invokes the controller synchronously with `request` and returns its answer.
    ///
    /// # Errors
    /// [`InvokeError::Call`] when Invoke fails, [`InvokeError::Function`] when the controller
    /// reports a function error, [`InvokeError::BadResponse`] when its answer does not parse.
    pub async fn send(&self, request: &Request) -> Result<Response, InvokeError> {
        let payload =
            serde_json::to_vec(request).map_err(|e| InvokeError::BadResponse(e.to_string()))?;
        let call = self
            .lambda
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(payload))
            .send();
        tokio::pin!(call);
        let answered = tokio::select! {
            answered = &mut call => answered,
            () = tokio::time::sleep(INVOKE_PATIENCE_NOTICE) => {
                eprintln!(
                    "waiting for {}: the controller serves one invocation at a time and may be \
                     busy with a tick or an alarm; retrying for up to ~30 s",
                    self.function
                );
                call.await
            }
        };
        let output = answered.map_err(|err| InvokeError::Call {
            function: self.function.clone(),
            message: aws_sdk_lambda::error::DisplayErrorContext(&err).to_string(),
        })?;
        let body = output.payload().map(Blob::as_ref).unwrap_or_default();
        if output.function_error().is_some() {
            let error: FunctionErrorPayload =
                serde_json::from_slice(body).unwrap_or(FunctionErrorPayload {
                    error_type: output.function_error().unwrap_or_default().to_owned(),
                    error_message: String::from_utf8_lossy(body).into_owned(),
                });
            return Err(InvokeError::Function {
                error_type: error.error_type,
                message: error.error_message,
            });
        }
        serde_json::from_slice(body).map_err(|e| InvokeError::BadResponse(e.to_string()))
    }
}
