//! `probe-lambda`: the Lambda function the integration tests deploy into LocalStack.
//!
//! It reports what reached it on a ledger queue (`LEDGER_QUEUE_URL`) so tests can check from
//! the outside, and obeys a few commands that exercise the runtime executor:
//!
//! | event | what it does |
//! | --- | --- |
//! | SQS batch (`Records[].eventSource == "aws:sqs"`) | records each message as `Processed`; if any body is JSON with `"fail": true` (or env `FAIL_ALL=1`), records them all as `Failed` and fails the batch |
//! | CloudWatch alarm delivery | `alarms::parse_value`, records the `AlarmSignal`, returns it |
//! | `{"echo": x}` | returns `x` |
//! | `{"sleep_ms": n}` | sleeps `n` ms, returns `{"slept_ms": n}` |
//! | `{"crash": true}` | aborts the process (no answer, no unwinding) |
//! | `{"fail": "msg"}` | returns an error with message `msg` |
//!
//! Every invocation prints one `probe:` line, so tests can see the function's logs.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use floodgate_tests::{HarnessError, LEDGER_QUEUE_URL_ENV, LedgerEntry, sdk_config};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// Errors the probe returns on purpose or because an event was not what it expected.
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error("{0}")]
    Requested(String),
    #[error("batch failed on purpose: messages {0:?}")]
    BatchFailed(Vec<String>),
    #[error("not an SQS event: {0}")]
    SqsEvent(serde_json::Error),
    #[error("alarm payload rejected: {0}")]
    Alarm(#[from] alarms::AlarmError),
    #[error("unknown command {0}")]
    UnknownCommand(String),
    #[error("{LEDGER_QUEUE_URL_ENV} is not set, so there is nowhere to record this event")]
    NoLedger,
    #[error(transparent)]
    Harness(#[from] HarnessError),
}

impl From<ProbeError> for Diagnostic {
    fn from(err: ProbeError) -> Self {
        let error_type = match &err {
            ProbeError::Requested(_) => "Probe.Requested",
            ProbeError::BatchFailed(_) => "Probe.BatchFailed",
            ProbeError::SqsEvent(_) => "Probe.SqsEvent",
            ProbeError::Alarm(_) => "Probe.Alarm",
            ProbeError::UnknownCommand(_) => "Probe.UnknownCommand",
            ProbeError::NoLedger => "Probe.NoLedger",
            ProbeError::Harness(_) => "Probe.Aws",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: err.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
struct Probe {
    sqs: aws_sdk_sqs::Client,
    ledger_url: Option<String>,
    fail_all: bool,
}

impl Probe {
    async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, ProbeError> {
        let payload = event.payload;
        if payload["Records"][0]["eventSource"] == "aws:sqs" {
            let batch = serde_json::from_value(payload).map_err(ProbeError::SqsEvent)?;
            self.sqs_batch(batch).await
        } else if alarms::looks_like_alarm(&payload) {
            self.alarm(&payload).await
        } else {
            command(&payload).await
        }
    }

    async fn sqs_batch(&self, batch: SqsEvent) -> Result<Value, ProbeError> {
        let fail = self.fail_all || batch.records.iter().any(wants_failure);
        println!("probe: sqs batch of {} (fail: {fail})", batch.records.len());
        let ids: Vec<String> = batch
            .records
            .iter()
            .map(|record| record.message_id.clone().unwrap_or_default())
            .collect();
        for record in batch.records {
            let message_id = record.message_id.unwrap_or_default();
            let body = record.body.unwrap_or_default();
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|count| count.parse().ok())
                .unwrap_or(0);
            let entry = if fail {
                LedgerEntry::Failed {
                    message_id,
                    body,
                    receive_count,
                }
            } else {
                LedgerEntry::Processed {
                    message_id,
                    body,
                    receive_count,
                }
            };
            self.record(&entry).await?;
        }
        if fail {
            Err(ProbeError::BatchFailed(ids))
        } else {
            Ok(json!({ "processed": ids.len() }))
        }
    }

    async fn alarm(&self, payload: &Value) -> Result<Value, ProbeError> {
        let signal = alarms::parse_value(payload)?;
        println!("probe: alarm {} is {}", signal.alarm_name, signal.state);
        let response = json!({ "alarm_name": signal.alarm_name, "state": signal.state });
        self.record(&LedgerEntry::Alarm { signal }).await?;
        Ok(response)
    }

    async fn record(&self, entry: &LedgerEntry) -> Result<(), ProbeError> {
        let url = self.ledger_url.as_deref().ok_or(ProbeError::NoLedger)?;
        Ok(entry.record(&self.sqs, url).await?)
    }
}

fn wants_failure(record: &SqsMessage) -> bool {
    record
        .body
        .as_deref()
        .and_then(|body| serde_json::from_str::<Value>(body).ok())
        .is_some_and(|body| body["fail"] == true)
}

async fn command(payload: &Value) -> Result<Value, ProbeError> {
    if let Some(echo) = payload.get("echo") {
        println!("probe: echo");
        Ok(echo.clone())
    } else if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        println!("probe: sleeping {ms} ms");
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(json!({ "slept_ms": ms }))
    } else if payload["crash"] == true {
        eprintln!("probe: crashing on request");
        // abort, not panic: lambda_runtime catches panics and would report a tidy error.
        std::process::abort();
    } else if let Some(message) = payload.get("fail").and_then(Value::as_str) {
        eprintln!("probe: failing on request: {message}");
        Err(ProbeError::Requested(message.to_owned()))
    } else {
        let shown: String = payload.to_string().chars().take(200).collect();
        Err(ProbeError::UnknownCommand(shown))
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = sdk_config().await;
    let probe = Probe {
        sqs: aws_sdk_sqs::Client::new(&config),
        ledger_url: std::env::var(LEDGER_QUEUE_URL_ENV).ok(),
        fail_all: std::env::var("FAIL_ALL").is_ok_and(|value| value == "1"),
    };
    lambda_runtime::run(service_fn(move |event| {
        let probe = probe.clone();
        async move { probe.handle(event).await }
    }))
    .await
}
