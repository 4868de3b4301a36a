//! Floodgate's core: every decision and every rule of the controller, with no I/O of its own.
//!
//! Nothing here links the AWS SDK, the Lambda runtime, an HTTP or TLS stack or an async
//! runtime. What touches the world — the AWS APIs, and time itself — comes in through the
//! traits of [`ports`]; the controller (`breaker`) implements them with the SDK, the test kit
//! in memory, the simulator on virtual time. All of them run this code.
//!
//! Where things live:
//!
//! - [`policy`]: the state machine (pure: no I/O, no clock reads) — phases, transitions
//!   ([`policy::decide`]), the safe order of calls ([`policy::plan`]), the tag codec.
//! - [`config`]: the controller's configuration, validated once at cold start.
//! - [`protocol`]: the controller's wire protocol (requests, responses), shared with the CLI.
//! - [`ports`]: the capabilities the core needs from AWS and from time, as small async traits,
//!   and the decorators every call passes: [`ports::Retrying`] (the one retry policy) and
//!   [`ports::Limited`] (the Lambda control-plane rate limit).
//! - [`clock`]: time as a port.
//! - [`operation`]: the AWS operations the ports stand for, as one enum.
//! - [`context`]: what a reconcile works with: the retried ports, the recorder, the budget.
//! - [`reconcile`]: observe → decide → apply → record, for one circuit.
//! - [`overflow`]: moving a tripped circuit's excess to its overflow queue and replaying it.
//! - [`controller`]: routing one invocation (alarm, tick, operator command) to its circuits.
//! - [`metrics`]: Embedded Metric Format lines.
//! - [`retry`]: the retry policy (backoff schedule and what is retried).
//! - [`error`]: the classified error.
#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod context;
pub mod controller;
pub mod error;
pub mod metrics;
pub mod operation;
pub mod overflow;
pub mod policy;
pub mod ports;
pub mod protocol;
pub mod reconcile;
pub mod retry;

pub use config::ControllerConfig;
pub use controller::Controller;
pub use error::{Error, ErrorClass};
pub use operation::Operation;
