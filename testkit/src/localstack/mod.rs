//! LocalStack, the local AWS emulator, for the tests and the local drill (feature
//! `localstack`): the one place in the workspace that deploys resources into it.
//!
//! `scripts/local-aws up` starts LocalStack on the host with a runtime executor that runs
//! `provided.al2023` Lambda zips as host processes.
//!
//! - [`LocalAws`]: an SDK config and clients pointed at LocalStack (endpoint from
//!   `AWS_ENDPOINT_URL`, default `http://127.0.0.1:4566`), with the explicit rustls HTTP
//!   client the SDK crates need because they are built without default features; and the
//!   primitives: queues ([`LocalAws::create_queue`], [`LocalAws::create_queue_with_dlq`]),
//!   functions ([`LocalAws::create_function`], waits until `Active`;
//!   [`LocalAws::create_controller`]), SQS triggers ([`LocalAws::create_mapping`] with a
//!   [`Trigger`], waits until `Enabled`), alarms ([`put_alarm`],
//!   [`LocalAws::allow_alarm`]), and [`LocalAws::invoke_json`];
//! - [`Stack`]: the one stack builder. A [`StackSpec`] names a source queue with its DLQ,
//!   an optional overflow queue, an optional consumer (a zip, its ledger queue and its
//!   mapping), the circuit's alarms and an optional controller function whose
//!   `FLOODGATE_CONFIG` describes those resources; [`Stack::teardown`] deletes them again;
//! - [`unique_name`]: resource names that cannot collide across parallel tests;
//! - [`wait_for`]: polling with a deadline and an error that says what was awaited and what
//!   was last seen;
//! - [`HarnessError`]: everything the above fails with.
//!
//! The zips themselves (building this workspace's binaries) are the caller's: the kit takes
//! their paths.

mod alarm;
mod aws;
mod names;
mod stack;
mod wait;

pub use alarm::{AlarmSource, AlarmSpec, Watched, describe_alarm, put_alarm, to_chrono};
pub use aws::{
    ACCOUNT, Function, FunctionSpec, Invoked, LocalAws, Mapping, Queue, REGION, Trigger, UNHANDLED,
    endpoint_url, for_localstack, sdk_config,
};
pub use names::unique_name;
pub use stack::{Alarm, Consumer, ConsumerSpec, Names, Stack, StackSpec};
pub use wait::{Check, wait_for};

use std::time::Duration;

use breaker::aws::fault::SdkCallError;

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
    /// A ledger message was not what the consumer writes.
    #[error("ledger message is not a ledger entry ({source}): {body}")]
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

impl HarnessError {
    /// For `map_err` on a request builder's result: a request that could not be built names
    /// what was being built.
    pub fn build<E>(what: &'static str) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error,
    {
        move |err| Self::Aws {
            call: what,
            cause: format!("not built: {err}"),
        }
    }
}

/// A failed SDK call, read by the workspace's one adapter (`breaker::aws::fault::AwsCall`).
impl From<SdkCallError> for HarnessError {
    fn from(error: SdkCallError) -> Self {
        Self::Aws {
            call: error.call,
            cause: error.detail,
        }
    }
}
