//! SDK errors → [`Error::Aws`], classified for the retry policy.
//!
//! [`sdk_failure`] is the workspace's one reading of an SDK error (the flooder classifies its
//! sends from it too); [`classify`] maps a service error's code and status to an
//! [`AwsFault`].

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use floodgate_core::Operation;
use floodgate_core::error::{AwsFault, Error, ServiceFault};

/// What a failed SDK call was, read once from the SDK's error: an answer from the service
/// (with its error code and HTTP status), or a failure on the way there or back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkFailure {
    /// The service answered with an error.
    Service {
        /// Its error code (`ThrottlingException`, `AWS.SimpleQueueService.NonExistentQueue`, …).
        code: Option<String>,
        /// The HTTP status.
        status: u16,
    },
    /// No answer in time; the request may or may not have been applied.
    Timeout,
    /// The connection failed or broke (including one closed before the answer came: hyper's
    /// `IncompleteMessage` is an `other` dispatch failure the SDK marks transient).
    Connection,
    /// An answer that could not be read.
    Response,
    /// The request could not be built or sent for a local reason (no HTTP client, a bad
    /// endpoint, no credentials): it fails the same way next time.
    Local,
}

/// Reads a failed SDK call (any service: the error type is the smithy runtime's).
pub fn sdk_failure<E>(error: &SdkError<E, HttpResponse>) -> SdkFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(service) => SdkFailure::Service {
            code: service.err().code().map(str::to_owned),
            status: service.raw().status().as_u16(),
        },
        SdkError::TimeoutError(_) => SdkFailure::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => SdkFailure::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.as_other().is_some() => {
            SdkFailure::Connection
        }
        SdkError::ResponseError(_) => SdkFailure::Response,
        _ => SdkFailure::Local,
    }
}

/// Converts a failed SDK call of `operation` into an [`Error::Aws`].
pub(super) fn from_sdk<E>(operation: Operation, error: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let read = SdkCallError::new(operation.as_str(), error);
    Error::aws(
        operation,
        read.fault(),
        error.code().map(str::to_owned),
        &read.detail,
    )
}

/// A failed SDK call outside the controller's ports (the flooder, the test kit): the call's
/// name, what failed, and the SDK's full text (the `Display` of an SDK error alone says only
/// "service error"). Callers convert it into their own error type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} failed: {detail}")]
pub struct SdkCallError {
    /// The API call (`SendMessageBatch`, `CreateFunction`, …).
    pub call: &'static str,
    /// What failed.
    pub failure: SdkFailure,
    /// The SDK's full error text.
    pub detail: String,
}

impl SdkCallError {
    /// Reads a failed SDK call named `call`.
    pub fn new<E>(call: &'static str, error: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self {
            call,
            failure: sdk_failure(error),
            detail: DisplayErrorContext(error).to_string(),
        }
    }

    /// The failure as the controller's retry policy reads it.
    pub fn fault(&self) -> AwsFault {
        match &self.failure {
            SdkFailure::Service { code, status } => classify(code.as_deref(), *status),
            SdkFailure::Timeout | SdkFailure::Connection | SdkFailure::Response => {
                AwsFault::Transient
            }
            SdkFailure::Local => AwsFault::Other,
        }
    }
}

/// Names the call of a failed SDK result: `client.create_queue()...send().await.call("CreateQueue")?`.
/// The workspace's one such adapter; the controller's own ports use [`Operation`]s instead.
pub trait AwsCall<T> {
    /// Maps an SDK error to an [`SdkCallError`] naming `call`.
    ///
    /// # Errors
    /// The [`SdkCallError`], when the call failed.
    fn call(self, call: &'static str) -> Result<T, SdkCallError>;
}

impl<T, E> AwsCall<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn call(self, call: &'static str) -> Result<T, SdkCallError> {
        self.map_err(|error| SdkCallError::new(call, &error))
    }
}

/// Classifies a service error by its code, falling back on the HTTP status (the core's one
/// table, [`ServiceFault::classify`]).
pub fn classify(code: Option<&str>, status: u16) -> AwsFault {
    ServiceFault::classify(code, Some(status)).into()
}

#[cfg(test)]
mod tests {
    use aws_sdk_lambda::error::ErrorMetadata;
    use aws_sdk_lambda::operation::update_event_source_mapping::UpdateEventSourceMappingError;
    use aws_sdk_lambda::primitives::SdkBody;
    use aws_sdk_lambda::types::error::ResourceInUseException;

    use super::*;

    #[test]
    fn every_throttling_code_is_throttled() {
        for code in [
            "TooManyRequestsException",
            "ThrottlingException",
            "Throttling",
            "RequestLimitExceeded",
        ] {
            assert_eq!(classify(Some(code), 400), AwsFault::Throttled, "{code}");
        }
    }

    #[test]
    fn unknown_codes_fall_back_on_the_status() {
        assert_eq!(classify(None, 503), AwsFault::Transient);
        assert_eq!(classify(Some("Mystery"), 500), AwsFault::Transient);
        assert_eq!(classify(None, 429), AwsFault::Throttled);
        assert_eq!(
            classify(Some("AccessDeniedException"), 403),
            AwsFault::Other
        );
        assert_eq!(
            classify(Some("InvalidParameterValueException"), 400),
            AwsFault::Other
        );
    }

    #[test]
    fn a_resource_in_use_response_is_retryable_in_use() {
        let exception = ResourceInUseException::builder()
            .message("Cannot update the event source mapping because it is in use")
            .meta(
                ErrorMetadata::builder()
                    .code("ResourceInUseException")
                    .build(),
            )
            .build();
        let response = HttpResponse::new(400.try_into().unwrap(), SdkBody::empty());
        let error = SdkError::service_error(
            UpdateEventSourceMappingError::ResourceInUseException(exception),
            response,
        );
        let converted = from_sdk(Operation::UpdateEventSourceMapping, &error);
        assert_eq!(converted.aws_fault(), Some(AwsFault::InUse));
        assert!(converted.is_retryable());
        assert!(matches!(
            converted,
            Error::Aws { code: Some(ref c), .. } if c == "ResourceInUseException"
        ));
    }

    #[test]
    fn a_timeout_is_transient() {
        let error: SdkError<UpdateEventSourceMappingError, HttpResponse> =
            SdkError::timeout_error("attempt timed out");
        assert_eq!(
            from_sdk(Operation::UpdateEventSourceMapping, &error).aws_fault(),
            Some(AwsFault::Transient)
        );
    }
}
