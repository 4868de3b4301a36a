//! The only module that imports the AWS SDK: client construction and the SDK implementations
//! of [`floodgate_core::ports`].
//!
//! - **HTTP client.** The SDK crates are compiled without default features, so they carry no
//!   HTTP client of their own; without the explicit rustls (ring) client set here every call
//!   would fail at run time. A test makes a real call to prove it.
//! - **Endpoint.** `AWS_ENDPOINT_URL` (LocalStack sets it for the functions it runs) is
//!   honoured explicitly, for every client.
//! - **Retries.** The SDK's own retries are off: every call is retried by the core's one
//!   policy ([`floodgate_core::ports::Retrying`]), so each attempt is visible there and passes
//!   the rate limiter.
//! - **Rate limit.** Every Lambda control-plane call waits on the core's shared limiter
//!   ([`floodgate_core::ports::Limited`]) first: Lambda allows 15 control-plane requests per
//!   second per account, shared with everything else in it.
//! - **Time.** [`AwsPorts`] is also the time port, on tokio's clock.
//! - [`invoke`]: the operator CLI's client for the controller Lambda (Invoke is not a
//!   control-plane call of the protected resources, and runs in another process).

mod cloudwatch;
pub mod fault;
pub mod invoke;
mod lambda;
mod sqs;

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use floodgate_core::ports::Clock;

/// Environment variable naming an endpoint for every AWS service (LocalStack).
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL";
/// Longest wait for a TCP/TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for one attempt of one call; a slower one counts as transient and is retried.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SDK config loader with the crate's settings: the explicit HTTP client, SDK retries
/// off, connect and attempt timeouts. Callers add region, credentials or an endpoint.
pub fn config_loader() -> ConfigLoader {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
}

/// The SDK config from the environment (region and credentials as Lambda provides them),
/// with [`ENDPOINT_ENV`] applied when set.
pub async fn load_sdk_config() -> SdkConfig {
    let mut loader = config_loader();
    if let Some(endpoint) = std::env::var(ENDPOINT_ENV).ok().filter(|e| !e.is_empty()) {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// The SDK implementation of every port, with time on tokio's clock. The controller wraps it
/// in the core's [`floodgate_core::ports::Limited`] (the control-plane limiter) and
/// [`floodgate_core::ports::Retrying`] (the retry policy).
#[derive(Debug, Clone)]
pub struct AwsPorts {
    lambda: aws_sdk_lambda::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    sqs: aws_sdk_sqs::Client,
    origin: tokio::time::Instant,
}

impl AwsPorts {
    /// Clients from `sdk`.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            lambda: aws_sdk_lambda::Client::new(sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for AwsPorts {
    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }

    async fn sleep(&self, span: Duration) {
        tokio::time::sleep(span).await;
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::Instant;

    use aws_sdk_lambda::config::{Credentials, Region};
    use aws_sdk_lambda::error::SdkError;

    use std::num::NonZeroU32;
    use std::sync::Arc;

    use super::*;
    use floodgate_core::Operation;
    use floodgate_core::error::{AwsFault, Error};
    use floodgate_core::ports::{EventSourceMappings, Limited, Pace};

    /// An address nothing listens on: bind a free port, then let it go.
    fn closed_endpoint() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    }

    async fn sdk_config(endpoint: &str) -> SdkConfig {
        config_loader()
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "unit-test"))
            .load()
            .await
    }

    #[tokio::test]
    async fn a_real_call_fails_to_connect_rather_than_for_want_of_an_http_client() {
        let sdk = sdk_config(&closed_endpoint()).await;
        let client = aws_sdk_lambda::Client::new(&sdk);
        let error = client
            .get_event_source_mapping()
            .uuid("14e0db71-5d35-4eb5-b481-8945cf9d10c2")
            .send()
            .await
            .unwrap_err();
        match &error {
            SdkError::DispatchFailure(failure) => assert!(
                failure.is_io(),
                "expected a connect (io) error, got {:?}",
                failure.as_connector_error()
            ),
            other => panic!("expected a dispatch failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_classified_transient_through_the_port() {
        let sdk = sdk_config(&closed_endpoint()).await;
        let ports = AwsPorts::new(&sdk);
        let error = ports
            .get_mapping("14e0db71-5d35-4eb5-b481-8945cf9d10c2")
            .await
            .unwrap_err();
        assert_eq!(error.aws_fault(), Some(AwsFault::Transient), "{error}");
        assert!(matches!(
            error,
            Error::Aws {
                operation: Operation::GetEventSourceMapping,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn lambda_calls_wait_on_the_shared_limiter() {
        let sdk = sdk_config(&closed_endpoint()).await;
        // 2 per second with a burst of 2: the third and fourth calls wait ~0.5 s each.
        let pace = Arc::new(Pace::per_second(NonZeroU32::new(2).unwrap()));
        let ports = Limited::new(AwsPorts::new(&sdk), pace);
        let started = Instant::now();
        for _ in 0..4 {
            let _ = ports
                .tags("arn:aws:lambda:us-east-1:000000000000:event-source-mapping:x")
                .await;
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(900),
            "4 calls at 2/s took only {elapsed:?}"
        );
    }
}
