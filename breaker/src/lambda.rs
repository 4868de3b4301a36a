//! The controller Lambda's program: JSON logs, the configuration loaded once (an invalid one
//! is an init error naming the field), the SDK ports behind the control-plane limiter and the
//! retry policy, then the runtime loop handing each payload to the core's [`Controller`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use floodgate_core::{Controller, ControllerConfig, Error};

use crate::aws::AwsPorts;

/// The Lambda diagnostic of a failed invocation: the error class as `errorType`, the kind
/// first in the message.
pub fn diagnostic(error: &Error) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: error.class().error_type().to_owned(),
        error_message: format!("{}: {error}", error.kind()),
    }
}

/// The time left to the invocation's deadline (`Lambda-Runtime-Deadline-Ms`, epoch
/// milliseconds).
fn time_left(context: &lambda_runtime::Context) -> Option<Duration> {
    let deadline = DateTime::<Utc>::from_timestamp_millis(i64::try_from(context.deadline).ok()?)?;
    Some((deadline - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

/// JSON logs for Lambda: one object per line, fields at the top level, level from `RUST_LOG`
/// or `AWS_LAMBDA_LOG_LEVEL` (default `info`). Does nothing if a subscriber is already set.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            EnvFilter::try_new(
                std::env::var("AWS_LAMBDA_LOG_LEVEL")
                    .map_or_else(|_| "info".to_owned(), |l| l.to_lowercase()),
            )
        })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .try_init();
}

/// The controller Lambda: logs, configuration, AWS clients, then the runtime loop.
///
/// # Errors
/// An invalid configuration (before the loop starts, so Lambda reports an init failure), or
/// a failure of the runtime itself.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{LambdaEvent, service_fn};
    use serde_json::value::RawValue;

    init_tracing();
    let config = ControllerConfig::from_env().inspect_err(|error| {
        tracing::error!(kind = error.kind(), reason = %error, "invalid controller configuration");
    })?;
    let sdk = crate::aws::load_sdk_config().await;
    let controller = Controller::new(config, AwsPorts::new(&sdk));
    let controller = &controller;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            // The clock is read here, at the edge, once per invocation. Boxed: the nested
            // reconcile futures are deep enough to overflow the compiler's layout query.
            let left = time_left(&event.context);
            Box::pin(controller.handle_within(event.payload.get().as_bytes(), Utc::now(), left))
                .await
                .map_err(|error| diagnostic(&error))
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_name_the_class_and_start_with_the_kind() {
        let d = diagnostic(&Error::UnknownCircuit {
            circuit: "nope".into(),
        });
        assert_eq!(d.error_type, "Rejected");
        assert_eq!(d.error_message, "unknown-circuit: no circuit named nope");
    }
}
