//! The only module that imports the AWS SDK: the SDK config, the flood's SQS
//! [`Sink`](crate::flood::sender::Sink), the victim's
//! [`LedgerQueue`](crate::victim::LedgerQueue), queue reads for the drill, the Lambda and
//! CloudWatch reads and actions of the timeline, and [`AwsTarget`], the drill's
//! [`Target`](crate::drill::Target) on a real (or LocalStack) deployment.
//!
//! The other modules define the traits; this one implements them, so it depends on them and
//! none of them depends on it (the binaries and [`crate::local`] wire the two together).
//!
//! - **HTTP client.** The config comes from `breaker::aws::config_loader()`, which carries the
//!   explicit rustls (ring) client the SDK crates need: they are built without default
//!   features, so without it every call would fail at run time.
//! - **Retries.** The SDK's own retries stay off: the flooder retries per
//!   [`crate::flood::sender::FLOOD_RETRY`] and counts every attempt; the drill's reads are repeated
//!   every sample anyway.
//! - **Endpoint.** `--endpoint-url`, else `AWS_ENDPOINT_URL`, applies to every client.

mod cloudwatch;
mod lambda;
mod sqs;
mod target;

use breaker::aws::fault::{SdkCallError, SdkFailure};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{Region, SdkConfig};

pub use cloudwatch::Alarms;
pub use lambda::{EsmView, Lambda};
pub use sqs::{Depth, Queues, SqsSink};
pub use target::AwsTarget;

use crate::error::Error;
use crate::flood::sender::SendFailure;

/// Environment variable naming an endpoint for every AWS service (LocalStack).
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL";
/// Default time one attempt of one call may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to reach AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsOptions {
    /// Endpoint for every service (`None`: `AWS_ENDPOINT_URL`, else the real AWS endpoints).
    pub endpoint_url: Option<String>,
    /// Region (`None`: the SDK's usual chain, e.g. `AWS_REGION`).
    pub region: Option<String>,
    /// Longest wait for one attempt of one call.
    pub timeout: Duration,
}

impl Default for AwsOptions {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            region: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The SDK config for `options`.
pub async fn sdk_config(options: &AwsOptions) -> SdkConfig {
    let mut loader = breaker::aws::config_loader().timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(breaker::aws::CONNECT_TIMEOUT)
            .operation_attempt_timeout(options.timeout)
            .build(),
    );
    let endpoint = options
        .endpoint_url
        .clone()
        .or_else(|| std::env::var(ENDPOINT_ENV).ok())
        .filter(|url| !url.is_empty());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    loader.load().await
}

/// The controller's reading of a failed SDK call (one for the workspace), in the flooder's
/// terms: what may have been applied matters for its accounting.
impl From<&SdkFailure> for SendFailure {
    fn from(failure: &SdkFailure) -> Self {
        match failure {
            SdkFailure::Service { code, status } => Self::classify(code.as_deref(), Some(*status)),
            SdkFailure::Timeout => Self::Timeout,
            SdkFailure::Connection => Self::Connection,
            SdkFailure::Response => Self::ServerError,
            SdkFailure::Local => Self::ClientError,
        }
    }
}

impl From<SdkCallError> for Error {
    fn from(error: SdkCallError) -> Self {
        Self::Aws {
            call: error.call,
            retryable: SendFailure::from(&error.failure).is_retryable(),
            cause: error.detail,
        }
    }
}

/// A request that could not be built (a required field missing): our bug, not AWS's.
pub(crate) fn build_error(call: &'static str, err: &impl std::fmt::Display) -> Error {
    Error::Aws {
        call,
        retryable: false,
        cause: format!("request not built: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use aws_sdk_sqs::config::Credentials;
    use tokio::net::TcpListener;

    use super::*;
    use crate::flood::schedule::Limit;
    use crate::flood::sqs_sink::{SinkOptions, start};
    use crate::flood::{self, FloodConfig};
    use crate::rates::RateProfile;

    async fn config_for(endpoint: String) -> SdkConfig {
        breaker::aws::config_loader()
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "loadtest-tests",
            ))
            .load()
            .await
    }

    #[tokio::test]
    async fn a_flood_goes_through_the_sdk_and_retries_the_entries_the_service_failed() {
        let sink = start(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            SinkOptions {
                fail_every: Some(7),
            },
        )
        .unwrap();
        let sdk = config_for(sink.endpoint()).await;
        let sqs = Arc::new(SqsSink::new(&sdk, "http://127.0.0.1/000000000000/orders"));
        let config = FloodConfig::new(
            "sdk-round-trip",
            RateProfile::constant(2000.0),
            Limit::count(300),
        );
        let summary = flood::run(sqs, &config, Arc::default(), pending())
            .await
            .unwrap();
        assert_eq!(summary.acked, 300, "{}", summary.headline());
        assert_eq!(summary.failed + summary.uncertain, 0);
        let failed_on_purpose = sink.stats.failed.load(Ordering::Relaxed);
        assert!(failed_on_purpose >= 300 / 7, "{failed_on_purpose}");
        assert_eq!(
            summary.errors.get(&SendFailure::ServerError),
            Some(&failed_on_purpose)
        );
        assert_eq!(sink.stats.accepted.load(Ordering::Relaxed), 300);
        assert!(summary.retries > 0);
    }

    #[tokio::test]
    async fn an_operation_the_endpoint_refuses_is_a_client_error_and_not_retryable() {
        let sink = start(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            SinkOptions::default(),
        )
        .unwrap();
        let queues = Queues::new(&config_for(sink.endpoint()).await);
        let err = queues
            .depth("http://127.0.0.1/000000000000/orders")
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert!(err.to_string().contains("UnsupportedOperation"), "{err}");
    }

    #[tokio::test]
    async fn nothing_listening_is_a_connection_error_counted_as_uncertain_after_retries() {
        // Bind and release a port, so nothing listens there.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let sdk = config_for(format!("http://{addr}")).await;
        let sqs = Arc::new(SqsSink::new(&sdk, "http://127.0.0.1/000000000000/orders"));
        let mut config =
            FloodConfig::new("no-listener", RateProfile::constant(100.0), Limit::count(3));
        config.retry.max_attempts = 2;
        config.retry.base_delay = std::time::Duration::from_millis(1);
        let summary = flood::run(sqs, &config, Arc::default(), pending())
            .await
            .unwrap();
        assert_eq!(summary.acked, 0);
        assert_eq!(summary.uncertain, 3);
        assert!(
            summary.errors.contains_key(&SendFailure::Connection),
            "{:?}",
            summary.errors
        );
    }
}
