//! The demo stack, deployed through the SDK with the resource shapes of the infra modules:
//! a source queue redriving to a DLQ, an overflow queue, the victim consumer behind an SQS
//! event source mapping, the consumer's `Errors` alarm with the controller as its ALARM and OK
//! action, and the controller itself (`breaker`'s `bootstrap`, reserved concurrency 1, the
//! circuit in `FLOODGATE_CONFIG` with an `overflow` block).
//!
//! LocalStack cannot run the CDK construct's template here (a `Lambda::Function` from S3
//! needs a runtime download), so the stack is made call by call; the names and settings are
//! the same ones the construct and the Terraform module write.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Environment, FunctionCode, FunctionResponseType, Runtime, State as FunctionState,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::victim::ENV_LEDGER;
use breaker::aws::fault::AwsCall;

/// The role every function is created with. LocalStack does not enforce IAM; against real
/// AWS the stack comes from the CDK construct or the Terraform module instead.
const LOCAL_ROLE: &str = "arn:aws:iam::000000000000:role/floodgate-local-drill";
/// The victim's timeout. The source queue's visibility timeout is [`VISIBILITY`], so a failed
/// message comes back only every 30 s and cannot burn its receive count into the DLQ before
/// the breaker opens.
const VICTIM_TIMEOUT: Duration = Duration::from_secs(5);
/// Visibility timeout of the source queue.
const VISIBILITY: Duration = Duration::from_secs(30);
/// The controller's timeout: room for a full move or replay of one invocation.
const CONTROLLER_TIMEOUT: Duration = Duration::from_mins(1);
/// Receives before a message goes to the DLQ (the design's minimum).
const MAX_RECEIVE_COUNT: u32 = 5;
/// Messages per batch. LocalStack's poller takes one batch per second, so batches of 100
/// drain a drill's backlog in seconds (AWS polls with many pollers instead).
const BATCH_SIZE: i32 = 100;
/// How long creating a function or a mapping may take to settle.
const SETTLE: Duration = Duration::from_mins(1);

/// What to deploy: the two Lambda zips and the circuit's overflow ceiling.
#[derive(Debug, Clone)]
pub struct StackPlan {
    /// Name prefix of every resource; make it unique per run so a second run never meets the
    /// first one's resources.
    pub prefix: String,
    /// `breaker`'s `bootstrap`, zipped (`scripts/lambda-zip breaker bootstrap`).
    pub controller_zip: PathBuf,
    /// `loadtest`'s `victim`, zipped (`scripts/lambda-zip loadtest victim`).
    pub victim_zip: PathBuf,
    /// Visible messages the source may keep while the circuit is tripped.
    pub overflow_ceiling: u64,
}

impl StackPlan {
    /// A plan with a prefix from the current time and an overflow ceiling of 200.
    pub fn new(controller_zip: PathBuf, victim_zip: PathBuf) -> Self {
        Self {
            prefix: format!("fgd{}", chrono::Utc::now().format("%H%M%S%3f")),
            controller_zip,
            victim_zip,
            overflow_ceiling: 200,
        }
    }
}

/// One queue of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackQueue {
    /// Queue URL.
    pub url: String,
    /// Queue ARN.
    pub arn: String,
}

/// The deployed stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The source queue the drill floods.
    pub source: StackQueue,
    /// Its dead-letter queue.
    pub dlq: StackQueue,
    /// The circuit's overflow queue.
    pub overflow: StackQueue,
    /// Where the victim records what it processed.
    pub ledger: StackQueue,
    /// The victim function's name.
    pub victim: String,
    /// The protected mapping.
    pub esm_uuid: String,
    /// The controller function's name.
    pub controller: String,
    /// The controller function's ARN.
    pub controller_arn: String,
    /// The circuit's errors alarm.
    pub errors_alarm: String,
    /// Prefix of every alarm of the circuit (the drill follows them by it).
    pub alarm_prefix: String,
    /// The controller's configuration (`FLOODGATE_CONFIG`).
    pub config: Value,
}

/// Timings that take a circuit around in about a minute: Open waits 30 s (the flood goes on
/// meanwhile, so the overflow move can be seen), then a 10 s probe and two 5 s ramp steps.
fn drill_timings() -> Value {
    json!({
        "open_wait_secs": 30,
        "open_wait_cap_secs": 120,
        "jitter": 0.0,
        "healthy_dwell_secs": 10,
        "min_dwell_secs": 5,
        "probe_window_secs": 10,
        "ramp_step_secs": 5,
        "throttle_step_secs": 5,
    })
}

impl Stack {
    /// Creates every resource of `plan` and waits until the mapping is `Enabled` and both
    /// functions are `Active`.
    ///
    /// # Errors
    /// [`Error::Io`] when a zip cannot be read, [`Error::Aws`] when a call fails,
    /// [`Error::Timeout`] when a resource does not settle.
    pub async fn deploy(sdk: &SdkConfig, plan: &StackPlan) -> Result<Self> {
        let sdk = &super::long_calls(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let lambda = aws_sdk_lambda::Client::new(sdk);
        let cloudwatch = aws_sdk_cloudwatch::Client::new(sdk);
        let p = &plan.prefix;

        let dlq = create_queue(&sqs, &format!("{p}-dlq"), &[]).await?;
        let overflow = create_queue(&sqs, &format!("{p}-overflow"), &[]).await?;
        let ledger = create_queue(&sqs, &format!("{p}-ledger"), &[]).await?;
        let redrive = json!({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": MAX_RECEIVE_COUNT});
        let source = create_queue(
            &sqs,
            &format!("{p}-source"),
            &[
                (QueueAttributeName::RedrivePolicy, redrive.to_string()),
                (
                    QueueAttributeName::VisibilityTimeout,
                    VISIBILITY.as_secs().to_string(),
                ),
            ],
        )
        .await?;

        let victim = format!("{p}-victim");
        create_function(
            &lambda,
            &victim,
            &plan.victim_zip,
            VICTIM_TIMEOUT,
            [(ENV_LEDGER.to_owned(), ledger.url.clone())],
        )
        .await?;
        let esm_uuid = create_mapping(&lambda, &victim, &source.arn).await?;

        // The queue ARN names the account and region the controller must accept events from.
        let arn_parts: Vec<&str> = source.arn.split(':').collect();
        let (region, account) = match arn_parts.as_slice() {
            [_, _, _, region, account, _] => ((*region).to_owned(), (*account).to_owned()),
            _ => {
                return Err(Error::invalid(
                    "source queue ARN",
                    format!("{} is not arn:aws:sqs:REGION:ACCOUNT:NAME", source.arn),
                ));
            }
        };
        let alarm_prefix = format!("{p}-alarm-");
        let errors_alarm = format!("{alarm_prefix}errors");
        let config = json!({
            "account_id": account,
            "region": region,
            "circuits": [{
                "name": format!("{p}-circuit"),
                "event_source_mapping_uuid": esm_uuid,
                "function_name": victim,
                "queue_url": source.url,
                "alarms": [{"name": errors_alarm, "kind": "errors"}],
                "levels": {"max": 8, "safe": 4, "probe": 2},
                "reserved_concurrency": {"mode": "managed", "headroom": 0},
                "timings": drill_timings(),
                "seed": 7,
                "overflow": {
                    "queue_url": overflow.url,
                    "ceiling": plan.overflow_ceiling,
                    "move_rate_per_sec": 500,
                    "max_moves_per_invocation": 5000,
                    "replay_after_secs": 5,
                    "replay_rate_per_sec": 200,
                    "max_replays_per_invocation": 400,
                },
            }],
        });
        let controller = format!("{p}-controller");
        let controller_arn =
            create_controller(&lambda, &controller, &plan.controller_zip, &config).await?;
        lambda
            .add_permission()
            .function_name(&controller)
            .statement_id("cloudwatch-alarms")
            .action("lambda:InvokeFunction")
            .principal("lambda.alarms.cloudwatch.amazonaws.com")
            .source_arn(format!(
                "arn:aws:cloudwatch:{region}:{account}:alarm:{alarm_prefix}*"
            ))
            .send()
            .await
            .call("AddPermission")?;
        put_errors_alarm(&cloudwatch, &errors_alarm, &victim, &controller_arn).await?;

        Ok(Self {
            source,
            dlq,
            overflow,
            ledger,
            victim,
            esm_uuid,
            controller,
            controller_arn,
            errors_alarm,
            alarm_prefix,
            config,
        })
    }

    /// The `${NAME}` variables of `loadtest/drills/local-drill*.toml`.
    pub fn vars(&self) -> BTreeMap<String, String> {
        [
            ("QUEUE_URL", &self.source.url),
            ("DLQ_URL", &self.dlq.url),
            ("OVERFLOW_URL", &self.overflow.url),
            ("LEDGER_URL", &self.ledger.url),
            ("FUNCTION", &self.victim),
            ("ESM_UUID", &self.esm_uuid),
            ("ALARM_PREFIX", &self.alarm_prefix),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect()
    }

    /// Deletes every resource of the stack. Best effort: a resource already gone is fine, and
    /// every deletion is tried; the failures are returned as text.
    pub async fn teardown(&self, sdk: &SdkConfig) -> Vec<String> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let lambda = aws_sdk_lambda::Client::new(sdk);
        let cloudwatch = aws_sdk_cloudwatch::Client::new(sdk);
        let mut failures = Vec::new();
        let mut note = |result: Result<()>| {
            if let Err(err) = result {
                failures.push(err.to_string());
            }
        };
        note(
            cloudwatch
                .delete_alarms()
                .alarm_names(&self.errors_alarm)
                .send()
                .await
                .call("DeleteAlarms")
                .map_err(Error::from)
                .map(drop),
        );
        note(
            lambda
                .delete_event_source_mapping()
                .uuid(&self.esm_uuid)
                .send()
                .await
                .call("DeleteEventSourceMapping")
                .map_err(Error::from)
                .map(drop),
        );
        for function in [&self.victim, &self.controller] {
            note(
                lambda
                    .delete_function()
                    .function_name(function)
                    .send()
                    .await
                    .call("DeleteFunction")
                    .map_err(Error::from)
                    .map(drop),
            );
        }
        for queue in [&self.source, &self.dlq, &self.overflow, &self.ledger] {
            note(
                sqs.delete_queue()
                    .queue_url(&queue.url)
                    .send()
                    .await
                    .call("DeleteQueue")
                    .map_err(Error::from)
                    .map(drop),
            );
        }
        failures
    }
}

/// The controller function, with reserved concurrency 1: it is the single writer of the
/// circuit's state, as the infra modules deploy it.
async fn create_controller(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    zip: &std::path::Path,
    config: &Value,
) -> Result<String> {
    let arn = create_function(
        lambda,
        name,
        zip,
        CONTROLLER_TIMEOUT,
        [
            (
                floodgate_core::config::CONFIG_ENV.to_owned(),
                config.to_string(),
            ),
            ("RUST_LOG".to_owned(), "info".to_owned()),
        ],
    )
    .await?;
    lambda
        .put_function_concurrency()
        .function_name(name)
        .reserved_concurrent_executions(1)
        .send()
        .await
        .call("PutFunctionConcurrency")?;
    Ok(arn)
}

/// Sum of the victim's `Errors` ≥ 1 in a 10 s period; no data is not an error, so the alarm
/// returns to OK once the victim has healed. The controller is its ALARM and OK action.
async fn put_errors_alarm(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    name: &str,
    victim: &str,
    controller_arn: &str,
) -> Result<()> {
    cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .dimensions(
            Dimension::builder()
                .name("FunctionName")
                .value(victim)
                .build(),
        )
        .statistic(Statistic::Sum)
        .period(10)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("notBreaching")
        .alarm_actions(controller_arn)
        .ok_actions(controller_arn)
        .send()
        .await
        .call("PutMetricAlarm")?;
    Ok(())
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> Result<StackQueue> {
    let mut request = sqs.create_queue().queue_name(name);
    for (key, value) in attributes {
        request = request.attributes(key.clone(), value);
    }
    let url = request
        .send()
        .await
        .call("CreateQueue")?
        .queue_url()
        .ok_or_else(|| missing("CreateQueue", "QueueUrl"))?
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .call("GetQueueAttributes")?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .ok_or_else(|| missing("GetQueueAttributes", "QueueArn"))?
        .clone();
    Ok(StackQueue { url, arn })
}

async fn create_function(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    zip: &std::path::Path,
    timeout: Duration,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<String> {
    let code = tokio::fs::read(zip).await.map_err(|source| Error::Io {
        what: "reading",
        path: zip.to_owned(),
        source,
    })?;
    let created = lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(LOCAL_ROLE)
        .timeout(i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX))
        .environment(
            Environment::builder()
                .set_variables(Some(env.into_iter().collect()))
                .build(),
        )
        .code(FunctionCode::builder().zip_file(Blob::new(code)).build())
        .send()
        .await
        .call("CreateFunction")?;
    let arn = created
        .function_arn()
        .ok_or_else(|| missing("CreateFunction", "FunctionArn"))?
        .to_owned();
    settle(&format!("function {name} to be Active"), || async {
        let config = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .call("GetFunctionConfiguration")?;
        match config.state() {
            Some(FunctionState::Active) => Ok(true),
            Some(FunctionState::Failed) => Err(Error::invalid(
                format!("function {name}"),
                format!(
                    "ended in State=Failed: {}",
                    config.state_reason().unwrap_or("no reason given")
                ),
            )),
            _ => Ok(false),
        }
    })
    .await?;
    Ok(arn)
}

async fn create_mapping(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    queue_arn: &str,
) -> Result<String> {
    let uuid = lambda
        .create_event_source_mapping()
        .function_name(function)
        .event_source_arn(queue_arn)
        .batch_size(BATCH_SIZE)
        .maximum_batching_window_in_seconds(1)
        .function_response_types(FunctionResponseType::ReportBatchItemFailures)
        .send()
        .await
        .call("CreateEventSourceMapping")?
        .uuid()
        .ok_or_else(|| missing("CreateEventSourceMapping", "UUID"))?
        .to_owned();
    settle(&format!("mapping {uuid} to be Enabled"), || async {
        let mapping = lambda
            .get_event_source_mapping()
            .uuid(&uuid)
            .send()
            .await
            .call("GetEventSourceMapping")?;
        Ok(mapping.state() == Some("Enabled"))
    })
    .await?;
    Ok(uuid)
}

/// Polls `done` every 500 ms until it says `true`, for at most [`SETTLE`].
async fn settle<F, Fut>(what: &str, done: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + SETTLE;
    while !done().await? {
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                after: SETTLE,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

fn missing(call: &'static str, field: &str) -> Error {
    Error::Aws {
        call,
        retryable: false,
        cause: format!("the response has no {field}"),
    }
}
