//! Harness for Floodgate's cross-crate tests against the local AWS emulator (LocalStack).
//!
//! `scripts/local-aws up` starts LocalStack on the host with a runtime executor that runs
//! `provided.al2023` Lambda zips as host processes; `make test` wraps that around
//! `cargo test --workspace -- --include-ignored`. Tests that need LocalStack are marked
//! `#[ignore = "needs LocalStack: run with make test"]`, so a plain `cargo test` skips them.
//!
//! What a test gets here:
//! - [`LocalAws::connect`]: an SDK config and clients pointed at LocalStack (endpoint from
//!   `AWS_ENDPOINT_URL`, default `http://127.0.0.1:4566`), with the explicit rustls HTTP
//!   client the SDK crates need because they are built without default features;
//! - resources: [`LocalAws::create_queue`], [`LocalAws::create_queue_with_dlq`],
//!   [`LocalAws::create_function`] (waits until `Active`), [`LocalAws::create_sqs_trigger`]
//!   (waits until `Enabled`), [`LocalAws::deploy_probe`] and [`LocalAws::invoke_json`];
//! - [`lambda_zip`]: a workspace binary packaged as a Lambda zip, built once per process;
//! - [`unique_name`]: resource names that cannot collide across parallel tests;
//! - [`wait_for`] and [`LocalAws::read_ledger`]: polling with deadlines and errors that say
//!   what was awaited and what was last seen;
//! - [`LedgerEntry`]: what the `probe-lambda` test function reports on its ledger queue;
//! - [`Rig`]: the controller running as a real Lambda over a protected consumer, its alarms,
//!   and ways to drive it (alarm states, ticks, operator commands, the `floodgate` CLI);
//! - [`FaultProxy`]: a fault-injecting HTTP proxy in front of LocalStack, to give the
//!   controller throttling, `ResourceInUseException`, 5xx and timeouts on the wire;
//! - [`overflow::OverflowBed`]: source, overflow queue and alarm of one circuit, for driving
//!   the overflow step in process through `breaker`'s SDK adapters.

#![forbid(unsafe_code)]

mod aws;
pub mod bench;
mod controller;
mod ledger;
mod names;
pub mod overflow;
mod proxy;
mod wait;
mod zip;

pub use aws::{
    ACCOUNT, Function, FunctionSpec, Invoked, LocalAws, PROBE_BIN, PROBE_PACKAGE, Queue, REGION,
    UNHANDLED, endpoint_url, for_localstack, sdk_config,
};
pub use controller::{
    AlarmSource, AlarmSpec, CLI_BIN, CONTROLLER_BIN, CONTROLLER_PACKAGE, CliRun, ControllerError,
    Reply, Rig, RigSpec, Seen, TAG_PREFIX, Watched, cli_path, fast_timings, put_alarm,
};
pub use ledger::{LEDGER_QUEUE_URL_ENV, LedgerEntry};
pub use names::unique_name;
pub use proxy::{Exchange, Fault, FaultProxy, Outcome, operation_of};
pub use wait::{Check, wait_for};
pub use zip::lambda_zip;

use std::time::Duration;

/// Everything the harness can fail with. Tests `expect` these; the message says what failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// LocalStack did not answer at all.
    #[error(
        "LocalStack is not reachable at {endpoint} ({cause}); start it with `scripts/local-aws up` or run `make test`"
    )]
    Unreachable {
        /// Endpoint that was tried.
        endpoint: String,
        /// The SDK's error, with its sources.
        cause: String,
    },
    /// An AWS API call failed.
    #[error("{call} failed: {cause}")]
    Aws {
        /// The API operation, e.g. `CreateQueue`.
        call: &'static str,
        /// The SDK's error, with its sources.
        cause: String,
    },
    /// A response lacked a field the harness relies on.
    #[error("{call} returned no {field}")]
    Missing {
        /// The API operation.
        call: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A created function ended in `State=Failed`.
    #[error("function {name} failed to become Active: {reason}")]
    FunctionFailed {
        /// Function name.
        name: String,
        /// LocalStack's `StateReason`.
        reason: String,
    },
    /// `scripts/lambda-zip` could not build or package a binary.
    #[error("scripts/lambda-zip {package} {bin} failed: {reason}")]
    Zip {
        /// Cargo package.
        package: String,
        /// Binary target.
        bin: String,
        /// Exit status and stderr, or the I/O error.
        reason: String,
    },
    /// Reading a zip, or another local I/O step, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A ledger message was not a [`LedgerEntry`].
    #[error("ledger message is not a LedgerEntry ({source}): {body}")]
    Ledger {
        /// The message body.
        body: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A condition did not hold before its deadline.
    #[error("timed out after {after:?} waiting for {what}; last seen: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the harness waited.
        after: Duration,
        /// The last observation, to tell "slow" from "stuck".
        last: String,
    },
}

/// Turns SDK results into [`HarnessError::Aws`], keeping the whole error chain in the message
/// (an SDK error's `Display` alone is just "service error").
trait AwsCall<T> {
    fn call(self, call: &'static str) -> Result<T, HarnessError>;
}

impl<T, E> AwsCall<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn call(self, call: &'static str) -> Result<T, HarnessError> {
        self.map_err(|err| HarnessError::Aws {
            call,
            cause: aws_sdk_sqs::error::DisplayErrorContext(err).to_string(),
        })
    }
}
