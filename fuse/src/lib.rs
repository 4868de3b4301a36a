//! Floodgate's fuse: the fast path from a failing SQS consumer to the Floodgate controller.
//!
//! The controller opens a circuit from CloudWatch alarms, which take minutes. The fuse
//! notices within a batch: it wraps the consumer's batch handler ([`Fuse::guard`]), counts
//! record outcomes in a sliding window of this execution environment ([`window`]), and when
//! the share of failed records crosses a threshold over a minimum volume, sends the controller
//! a [`Signal`] with an asynchronous `Invoke` ([`LambdaSender`]), at most once per cool-down.
//!
//! It never blocks or fails the consumer's batch: the handler's result is returned unchanged,
//! a signal waits at most `invoke_timeout`, and a signal that cannot be sent is logged and
//! counted ([`Fuse::stats`]), then retried after a back-off by the next batch still over the
//! threshold. See the crate's README for the configuration, the wire format and an example.

pub mod clock;
pub mod config;
pub mod emf;
mod fuse;
#[cfg(feature = "lambda")]
mod lambda;
mod sender;
pub mod signal;
mod tripwire;
pub mod window;

pub use clock::{Clock, ManualClock, TokioClock};
pub use config::{ConfigError, FuseConfig};
pub use fuse::{Action, Fuse, Observation, failed_records};
#[cfg(feature = "lambda")]
pub use lambda::LambdaSender;
pub use sender::{SendError, SignalSender};
pub use signal::{Signal, SignalKind};
pub use tripwire::{FuseStats, Suppression};
pub use window::Counts;
