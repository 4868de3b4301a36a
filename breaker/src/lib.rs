//! Floodgate's controller: an event-source circuit breaker for AWS Lambda.
//!
//! The heart of the crate is [`policy`], a pure state machine (no I/O, no clock reads) that
//! turns the observed alarms of a circuit into its next state and the desired settings of its
//! event source mapping. The reconcile loop, the AWS adapters and the entry points build on it.
//!
//! Where things live:
//!
//! - [`policy`]: states, transitions, the safe order of calls, tag persistence (pure).
//! - [`config`]: the controller's configuration, validated once at cold start.
//! - [`protocol`]: the request and response types of the controller Lambda, shared with the
//!   operator CLI.
//! - [`ports`]: the capabilities the controller needs from AWS, as small async traits.
//! - [`aws`]: their SDK implementations — the only module that imports the AWS SDK — with the
//!   shared control-plane rate limiter.
//! - [`fake`]: their in-memory implementations, for tests and benches.
//! - [`retry`]: the one retry policy.
//! - [`reconcile`]: observe → decide → apply → record, for one circuit.
//! - [`overflow`]: moving a tripped circuit's excess to its overflow queue and replaying it
//!   once the circuit has recovered.
//! - [`handler`]: the Lambda entry point: routing, rejection, [`handler::run`].
//! - [`metrics`]: Embedded Metric Format lines.
//! - [`error`]: the crate's classified error.
//!
//! The `bootstrap` binary is `handler::run`; the `floodgate` binary is the operator CLI.
#![forbid(unsafe_code)]

pub mod aws;
pub mod config;
pub mod error;
pub mod fake;
pub mod handler;
pub mod metrics;
pub mod overflow;
pub mod policy;
pub mod ports;
pub mod protocol;
pub mod reconcile;
pub mod retry;

pub use config::ControllerConfig;
pub use error::{Error, ErrorClass};
pub use handler::Controller;
