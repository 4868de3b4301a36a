//! Floodgate's controller: the AWS SDK adapters of the core's ports, the Lambda entry point
//! and the operator CLI.
//!
//! Every decision and rule lives in [`floodgate_core`] (re-exported as [`core`]); this crate
//! connects it to the world:
//!
//! - [`aws`]: the SDK implementations of [`floodgate_core::ports`] — the only module that
//!   imports the AWS SDK — with the time port on tokio's clock, client construction and the
//!   CLI's client for the controller Lambda.
//! - [`lambda`]: the Lambda program ([`lambda::run`]): JSON logs, configuration, the ports
//!   wrapped in the control-plane limiter and the retry policy, the runtime loop.
//!
//! The `bootstrap` binary is `lambda::run`; the `floodgate` binary is the operator CLI.
#![forbid(unsafe_code)]

pub use floodgate_core as core;

pub mod aws;
pub mod lambda;
