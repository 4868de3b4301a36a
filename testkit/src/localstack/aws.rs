//! Config, clients and the resource primitives: queues, functions, SQS triggers, invokes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionResponseType, LogType, Runtime, State,
};
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::{
    Message, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::time::Instant;

use super::wait::{Check, wait_for};
use breaker::aws::fault::AwsCall;

use super::{HarnessError, unique_name};

/// `FunctionError` of an invocation that failed (what Lambda sends for every function error,
/// timeouts and crashes included).
pub const UNHANDLED: &str = "Unhandled";
/// Where LocalStack listens unless `AWS_ENDPOINT_URL` says otherwise.
const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4566";
/// Region every test resource lives in.
pub const REGION: &str = "us-east-1";
/// LocalStack's account id for the `test` credentials.
pub const ACCOUNT: &str = "000000000000";
/// LocalStack accepts any role; the ARN only has to be well-formed.
const FUNCTION_ROLE: &str = "arn:aws:iam::000000000000:role/floodgate-tests";
/// How long create-function and create-ESM may take to settle (a shared LocalStack under a
/// drill's load can take tens of seconds).
const SETTLE_TIMEOUT: Duration = Duration::from_mins(1);
/// The controller's timeout: room for a full retry budget (16 s of backoff) plus a stalled
/// attempt, or for a whole move or replay of one invocation.
const CONTROLLER_TIMEOUT: Duration = Duration::from_mins(1);

fn missing(call: &'static str, field: &'static str) -> HarnessError {
    HarnessError::Missing { call, field }
}

/// The endpoint the harness uses: `AWS_ENDPOINT_URL`, or LocalStack's default address.
pub fn endpoint_url() -> String {
    std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned())
}

/// SDK config for LocalStack: [`endpoint_url`], [`REGION`], static `test` credentials, and an
/// explicit rustls (ring) HTTP client. The SDK crates are built without default features, so
/// without that client every call would fail at run time with "no HTTP client".
pub async fn sdk_config() -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    for_localstack(aws_config::defaults(BehaviorVersion::latest()).http_client(http_client))
        .load()
        .await
}

/// Points `loader` at LocalStack: [`endpoint_url`], [`REGION`] and static `test` credentials.
pub fn for_localstack(loader: ConfigLoader) -> ConfigLoader {
    loader
        .endpoint_url(endpoint_url())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "floodgate-tests",
        ))
}

/// Clients for LocalStack, plus helpers that create test resources and wait until usable.
#[derive(Debug, Clone)]
pub struct LocalAws {
    /// The shared config (see [`sdk_config`]).
    pub config: SdkConfig,
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// Lambda client.
    pub lambda: aws_sdk_lambda::Client,
    /// CloudWatch client.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

/// An SQS queue created for a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    /// Queue name.
    pub name: String,
    /// Queue URL (pass it as `QueueUrl`; its host name may not resolve here).
    pub url: String,
    /// Queue ARN.
    pub arn: String,
}

/// What [`LocalAws::create_function`] deploys: a `provided.al2023` `x86_64` zip.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    name: String,
    zip: PathBuf,
    timeout: Duration,
    architecture: Architecture,
    env: HashMap<String, String>,
}

impl FunctionSpec {
    /// A function named `name` running `zip`, with a 10 s timeout and no extra environment.
    pub fn new(name: impl Into<String>, zip: impl AsRef<Path>) -> Self {
        Self {
            name: name.into(),
            zip: zip.as_ref().to_owned(),
            timeout: Duration::from_secs(10),
            architecture: Architecture::X8664,
            env: HashMap::new(),
        }
    }

    /// Sets the architecture (default `x86_64`, the only one the local executor runs).
    #[must_use]
    pub fn architecture(mut self, architecture: Architecture) -> Self {
        self.architecture = architecture;
        self
    }

    /// Sets the function timeout (whole seconds; Lambda has no finer unit).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds an environment variable.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }
}

/// A deployed function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Function name.
    pub name: String,
    /// Function ARN.
    pub arn: String,
}

/// How an SQS event source mapping feeds its function (see [`LocalAws::create_mapping`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// Messages per batch.
    pub batch_size: i32,
    /// `MaximumBatchingWindowInSeconds` (whole seconds).
    pub batching_window: Duration,
    /// Whether the function answers with `batchItemFailures` (`ReportBatchItemFailures`).
    pub report_batch_item_failures: bool,
}

impl Trigger {
    /// Batches of `batch_size`, no batching window, whole batches fail together.
    pub fn batches_of(batch_size: i32) -> Self {
        Self {
            batch_size,
            batching_window: Duration::ZERO,
            report_batch_item_failures: false,
        }
    }
}

/// A created event source mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Its UUID.
    pub uuid: String,
    /// Its ARN (where the controller's state tags live).
    pub arn: String,
}

/// The outcome of [`LocalAws::invoke_json`].
#[derive(Debug, Clone, PartialEq)]
pub struct Invoked {
    /// `FunctionError` (`Some("Unhandled")` when the function failed, timed out or crashed).
    pub function_error: Option<String>,
    /// The response payload as JSON (a JSON string when it was not JSON).
    pub payload: serde_json::Value,
    /// The last 4 KB of the invocation's logs.
    pub log_tail: String,
}

impl LocalAws {
    /// Clients on `config` as it is (its endpoint, timeouts and credentials), without
    /// checking that anything answers.
    pub fn from_config(config: SdkConfig) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            config,
        }
    }

    /// Builds the clients and checks that LocalStack answers.
    ///
    /// # Errors
    /// [`HarnessError::Unreachable`] when it does not, with the command that starts it.
    pub async fn connect() -> Result<Self, HarnessError> {
        let local = Self::from_config(sdk_config().await);
        local
            .sqs
            .list_queues()
            .max_results(1)
            .send()
            .await
            .map_err(|err| HarnessError::Unreachable {
                endpoint: endpoint_url(),
                cause: aws_sdk_sqs::error::DisplayErrorContext(err).to_string(),
            })?;
        Ok(local)
    }

    /// Creates a standard queue with the given attributes.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when SQS refuses.
    pub async fn create_queue(
        &self,
        name: &str,
        attributes: &[(QueueAttributeName, String)],
    ) -> Result<Queue, HarnessError> {
        let created = self
            .sqs
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attributes.iter().cloned().collect()))
            .send()
            .await
            .call("CreateQueue")?;
        let url = created
            .queue_url()
            .ok_or(missing("CreateQueue", "QueueUrl"))?;
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .call("GetQueueAttributes")?
            .attributes()
            .and_then(|attrs| attrs.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or(missing("GetQueueAttributes", "QueueArn"))?;
        Ok(Queue {
            name: name.to_owned(),
            url: url.to_owned(),
            arn,
        })
    }

    /// Creates a source queue (uniquely named from `prefix`) whose messages move to a fresh
    /// DLQ after `max_receive_count` receives. Returns `(source, dlq)`.
    ///
    /// `visibility_timeout` is how long a failed message stays hidden before its next
    /// attempt; keep it short so retries happen within a test.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when SQS refuses.
    pub async fn create_queue_with_dlq(
        &self,
        prefix: &str,
        max_receive_count: u32,
        visibility_timeout: Duration,
    ) -> Result<(Queue, Queue), HarnessError> {
        self.create_source_queue(
            &unique_name(prefix),
            &unique_name(&format!("{prefix}-dlq")),
            max_receive_count,
            visibility_timeout,
        )
        .await
    }

    /// [`LocalAws::create_queue_with_dlq`] with the names given as they are.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when SQS refuses.
    pub async fn create_source_queue(
        &self,
        name: &str,
        dlq_name: &str,
        max_receive_count: u32,
        visibility_timeout: Duration,
    ) -> Result<(Queue, Queue), HarnessError> {
        let dlq = self.create_queue(dlq_name, &[]).await?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq.arn,
            "maxReceiveCount": max_receive_count,
        });
        let source = self
            .create_queue(
                name,
                &[
                    (QueueAttributeName::RedrivePolicy, redrive.to_string()),
                    (
                        QueueAttributeName::VisibilityTimeout,
                        visibility_timeout.as_secs().to_string(),
                    ),
                ],
            )
            .await?;
        Ok((source, dlq))
    }

    /// `ApproximateNumberOfMessages` plus `ApproximateNumberOfMessagesNotVisible`.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when SQS fails.
    pub async fn queue_depth(&self, queue: &Queue) -> Result<(u64, u64), HarnessError> {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .call("GetQueueAttributes")?;
        let count = |name| {
            attributes
                .attributes()
                .and_then(|attrs| attrs.get(&name))
                .and_then(|value| value.parse().ok())
                .unwrap_or(0)
        };
        Ok((
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    /// Sends one message per body (`SendMessageBatch`, 10 at a time); returns the message ids
    /// in the order of `bodies`.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when a call or any single entry fails.
    pub async fn send_bodies(
        &self,
        queue: &Queue,
        bodies: &[String],
    ) -> Result<Vec<String>, HarnessError> {
        let mut ids = Vec::with_capacity(bodies.len());
        for chunk in bodies.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(HarnessError::build("SendMessageBatchRequestEntry"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let sent = self
                .sqs
                .send_message_batch()
                .queue_url(&queue.url)
                .set_entries(Some(entries))
                .send()
                .await
                .call("SendMessageBatch")?;
            if let Some(failed) = sent.failed().first() {
                return Err(HarnessError::Aws {
                    call: "SendMessageBatch",
                    cause: format!("entry {} failed: {:?}", failed.id(), failed.message()),
                });
            }
            let mut successful = sent.successful().to_vec();
            successful.sort_by_key(|entry| entry.id().parse::<usize>().unwrap_or(usize::MAX));
            ids.extend(successful.iter().map(|entry| entry.message_id().to_owned()));
        }
        Ok(ids)
    }

    /// One long poll (1 s) of up to 10 messages of `queue`, with their message and system
    /// attributes, each deleted once received.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when SQS fails.
    pub async fn take(&self, queue: &Queue) -> Result<Vec<Message>, HarnessError> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .call("ReceiveMessage")?;
        let messages = received.messages().to_vec();
        for message in &messages {
            if let Some(handle) = message.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(&queue.url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .call("DeleteMessage")?;
            }
        }
        Ok(messages)
    }

    /// Receives (and deletes) messages until at least `expected` have arrived and the queue
    /// then stays empty for one more long poll, so unexpected extra messages are returned too
    /// instead of being left for nobody.
    ///
    /// # Errors
    /// [`HarnessError::Timeout`] (with what arrived so far) when fewer than `expected` arrive
    /// within `timeout`; [`HarnessError::Aws`] when SQS fails.
    pub async fn drain_queue(
        &self,
        queue: &Queue,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<Message>, HarnessError> {
        let deadline = Instant::now() + timeout;
        let mut drained = Vec::new();
        loop {
            let messages = self.take(queue).await?;
            if messages.is_empty() && drained.len() >= expected {
                return Ok(drained);
            }
            drained.extend(messages);
            if Instant::now() >= deadline && drained.len() < expected {
                let bodies: Vec<&str> = drained.iter().filter_map(Message::body).collect();
                return Err(HarnessError::Timeout {
                    what: format!("{expected} messages on {}", queue.name),
                    after: timeout,
                    last: format!("{} messages: {bodies:?}", drained.len()),
                });
            }
        }
    }

    /// Deploys a function and waits until it is `Active`; returns its ARN.
    ///
    /// # Errors
    /// [`HarnessError::Io`] if the zip cannot be read, [`HarnessError::Aws`] if Lambda refuses,
    /// [`HarnessError::FunctionFailed`] with LocalStack's reason if it ends `Failed`, and
    /// [`HarnessError::Timeout`] if it stays `Pending`.
    pub async fn create_function(&self, spec: &FunctionSpec) -> Result<String, HarnessError> {
        let zip = tokio::fs::read(&spec.zip)
            .await
            .map_err(|source| HarnessError::Io {
                what: format!("reading {}", spec.zip.display()),
                source,
            })?;
        let timeout_secs = i32::try_from(spec.timeout.as_secs().max(1)).unwrap_or(i32::MAX);
        let created = self
            .lambda
            .create_function()
            .function_name(&spec.name)
            .runtime(Runtime::Providedal2023)
            .architectures(spec.architecture.clone())
            .handler("bootstrap")
            .role(FUNCTION_ROLE)
            .timeout(timeout_secs)
            .environment(
                Environment::builder()
                    .set_variables(Some(spec.env.clone()))
                    .build(),
            )
            .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
            .send()
            .await
            .call("CreateFunction")?;
        let arn = created
            .function_arn()
            .ok_or(missing("CreateFunction", "FunctionArn"))?;
        wait_for(
            &format!("function {} to become Active", spec.name),
            SETTLE_TIMEOUT,
            || async {
                let config = self
                    .lambda
                    .get_function_configuration()
                    .function_name(&spec.name)
                    .send()
                    .await
                    .call("GetFunctionConfiguration")?;
                match config.state() {
                    Some(State::Active) => Ok(Check::Done(())),
                    Some(State::Failed) => Err(HarnessError::FunctionFailed {
                        name: spec.name.clone(),
                        reason: config
                            .state_reason()
                            .unwrap_or("no reason given")
                            .to_owned(),
                    }),
                    other => Ok(Check::NotYet(format!("state {other:?}"))),
                }
            },
        )
        .await?;
        Ok(arn.to_owned())
    }

    /// Invokes `function` synchronously with a JSON event, asking for the log tail.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] if the Invoke call itself fails (a function error does not: it is
    /// in [`Invoked::function_error`]).
    pub async fn invoke_json(
        &self,
        function: &str,
        event: &serde_json::Value,
    ) -> Result<Invoked, HarnessError> {
        let output = self
            .lambda
            .invoke()
            .function_name(function)
            .payload(Blob::new(event.to_string()))
            .log_type(LogType::Tail)
            .send()
            .await
            .call("Invoke")?;
        let raw = output.payload().map(Blob::as_ref).unwrap_or_default();
        let payload = serde_json::from_slice(raw).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(raw).into_owned())
        });
        let log_tail = output
            .log_result()
            .and_then(|tail| BASE64.decode(tail).ok())
            .map(|tail| String::from_utf8_lossy(&tail).into_owned())
            .unwrap_or_default();
        Ok(Invoked {
            function_error: output.function_error().map(str::to_owned),
            payload,
            log_tail,
        })
    }

    /// Connects `queue` to `function` with an event source mapping taking batches of
    /// `batch_size` without a batching window, and waits until it is `Enabled`; returns the
    /// mapping's UUID.
    ///
    /// # Errors
    /// As [`LocalAws::create_mapping`].
    pub async fn create_sqs_trigger(
        &self,
        function: &str,
        queue: &Queue,
        batch_size: i32,
    ) -> Result<String, HarnessError> {
        let mapping = self
            .create_mapping(function, queue, &Trigger::batches_of(batch_size))
            .await?;
        Ok(mapping.uuid)
    }

    /// Connects `queue` to `function` with an event source mapping as `trigger` says, and
    /// waits until it is `Enabled`.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] if Lambda refuses, [`HarnessError::Timeout`] if it never enables.
    pub async fn create_mapping(
        &self,
        function: &str,
        queue: &Queue,
        trigger: &Trigger,
    ) -> Result<Mapping, HarnessError> {
        let window = i32::try_from(trigger.batching_window.as_secs()).unwrap_or(i32::MAX);
        let response_types = trigger
            .report_batch_item_failures
            .then(|| vec![FunctionResponseType::ReportBatchItemFailures]);
        let created = self
            .lambda
            .create_event_source_mapping()
            .function_name(function)
            .event_source_arn(&queue.arn)
            .batch_size(trigger.batch_size)
            .maximum_batching_window_in_seconds(window)
            .set_function_response_types(response_types)
            .send()
            .await
            .call("CreateEventSourceMapping")?;
        let uuid = created
            .uuid()
            .ok_or(missing("CreateEventSourceMapping", "UUID"))?;
        let arn = wait_for(
            &format!("event source mapping {uuid} to become Enabled"),
            SETTLE_TIMEOUT,
            || async {
                let mapping = self
                    .lambda
                    .get_event_source_mapping()
                    .uuid(uuid)
                    .send()
                    .await
                    .call("GetEventSourceMapping")?;
                Ok(match mapping.state() {
                    Some("Enabled") => Check::Done(mapping.event_source_mapping_arn().map_or_else(
                        || format!("arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid}"),
                        str::to_owned,
                    )),
                    other => Check::NotYet(format!("state {other:?}")),
                })
            },
        )
        .await?;
        Ok(Mapping {
            uuid: uuid.to_owned(),
            arn,
        })
    }

    /// Deploys the Floodgate controller: `zip` with `config` in `FLOODGATE_CONFIG`, `info`
    /// logs, `env` besides, and reserved concurrency 1 (it is the single writer of its
    /// circuits' state, as the infra modules deploy it).
    ///
    /// # Errors
    /// As [`LocalAws::create_function`]; [`HarnessError::Aws`] when the reservation fails.
    pub async fn create_controller(
        &self,
        name: &str,
        zip: &Path,
        config: &serde_json::Value,
        env: &[(String, String)],
    ) -> Result<Function, HarnessError> {
        let spec = env.iter().fold(
            FunctionSpec::new(name, zip)
                .timeout(CONTROLLER_TIMEOUT)
                .env(floodgate_core::config::CONFIG_ENV, config.to_string())
                .env("RUST_LOG", "info"),
            |spec, (key, value)| spec.env(key, value),
        );
        let arn = self.create_function(&spec).await?;
        self.lambda
            .put_function_concurrency()
            .function_name(name)
            .reserved_concurrent_executions(1)
            .send()
            .await
            .call("PutFunctionConcurrency")?;
        Ok(Function {
            name: name.to_owned(),
            arn,
        })
    }
}
