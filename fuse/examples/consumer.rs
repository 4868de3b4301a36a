//! A Rust SQS consumer with the fuse: configured by `FLOODGATE_FUSE_*` environment variables,
//! off when `FLOODGATE_FUSE_CIRCUIT` is unset. The event source mapping must report batch item
//! failures (`FunctionResponseTypes: ["ReportBatchItemFailures"]`).

use std::sync::OnceLock;

use aws_config::BehaviorVersion;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use floodgate_fuse::{Fuse, LambdaSender};
use lambda_runtime::{Error, LambdaEvent, service_fn};

/// One fuse per execution environment: its window outlives the batches.
static FUSE: OnceLock<Option<Fuse<LambdaSender>>> = OnceLock::new();

/// The consumer's own work: the ids of the records it could not handle.
#[allow(clippy::unused_async)] // a real consumer awaits its I/O here
async fn process(event: &SqsEvent) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        let handled = record.body.as_deref().is_some_and(|body| !body.is_empty());
        if !handled {
            response.add_failure(record.message_id.clone().unwrap_or_default());
        }
    }
    Ok(response)
}

async fn handler(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let (event, context) = (event.payload, event.context);
    match FUSE.get().and_then(Option::as_ref) {
        // The handler's result comes back unchanged; a signal waits at most invoke_timeout.
        Some(fuse) => {
            fuse.guard(&event, Some(&context.request_id), process(&event))
                .await
        }
        None => process(&event).await,
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The consumer's usual SDK configuration (with aws-config's default features, which bring
    // the HTTP client).
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let fuse = Fuse::from_env(aws_sdk_lambda::Client::new(&sdk)).unwrap_or_else(|error| {
        // A misconfigured fuse must not take the consumer down: run without it, loudly.
        eprintln!("floodgate fuse disabled: {error}");
        None
    });
    let _ = FUSE.set(fuse);
    lambda_runtime::run(service_fn(handler)).await
}
