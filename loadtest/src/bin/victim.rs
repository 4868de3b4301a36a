//! `victim`: the drill's consumer Lambda (see `loadtest::victim` for its settings).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use loadtest::aws::{AwsOptions, Queues, sdk_config};
use loadtest::victim::{ENV_LEDGER, Record, Settings, Victim};

/// Attempts per ledger write: a transient SQS error should not fail a whole batch.
const LEDGER_ATTEMPTS: u32 = 3;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Read once per process: the drill changes settings with UpdateFunctionConfiguration,
    // which starts fresh environments.
    let settings = Settings::from_env(|key| std::env::var(key).ok())?;
    let ledger = std::env::var(ENV_LEDGER)
        .map_err(|_| format!("{ENV_LEDGER} is not set: the victim has nowhere to record"))?;
    println!("victim: starting with {settings:?}");
    let sdk = sdk_config(&AwsOptions::default()).await;
    let victim = Victim::new(
        Queues::with_retries(&sdk, LEDGER_ATTEMPTS),
        ledger,
        settings,
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let victim = victim.clone();
        async move {
            let records: Vec<Record> = event
                .payload
                .records
                .into_iter()
                .map(|r| Record {
                    receive_count: r
                        .attributes
                        .get("ApproximateReceiveCount")
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0),
                    message_id: r.message_id.unwrap_or_default(),
                    body: r.body.unwrap_or_default(),
                })
                .collect();
            victim.handle(&records, &event.context.request_id).await
        }
    }))
    .await
}
