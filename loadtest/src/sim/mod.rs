//! The simulator (`loadtest simulate`, being built): a virtual-time model of the AWS behaviour
//! that decides whether a breaker protects anything, with the shipped controller in the loop.
//!
//! This first part holds the model's building blocks, each a plain state machine advanced by
//! the caller with a virtual time ([`SimTime`]), seeded where it draws, with no I/O:
//!
//! - [`params`]: every model parameter, named, with its source (an AWS documentation page,
//!   or "measured on LocalStack"), in two profiles, `aws` and `localstack`.
//! - [`queue`]: an SQS standard queue: visible, in-flight and delayed messages, visibility
//!   timeouts, `ApproximateReceiveCount`, redrive to a dead-letter queue at
//!   `maxReceiveCount`, retention expiry.
//! - [`poller`]: how many batches an SQS event source mapping processes at once: 5 to start,
//!   up to 300 more per minute while messages wait, capped by `MaximumConcurrency`; in
//!   provisioned mode, 10 per poller from `MinimumPollers` up to `MaximumPollers`, 1,000 more
//!   per minute.
//! - [`cloudwatch`]: metrics in 10-second slices rolled up to alarm periods, published late,
//!   and metric alarms evaluated every minute (every 10 s when high-resolution) with the
//!   shipped `alarms::eval`.
//!
//! Still to come (the list): Lambda concurrency and throttles, the downstream,
//! the control plane, the ports the core's
//! controller runs on, the strategies, scenarios and reports.

pub mod cloudwatch;
pub mod config_file;
pub mod consumer;
pub mod downstream;
pub mod events;
pub mod mapping;
pub mod message;
pub mod names;
pub mod params;
pub mod poller;
pub mod ports;
pub mod queue;
pub mod reaction;
pub mod report;
pub mod run;
pub mod scenario;
pub mod time;
pub mod timeline;
pub mod world;

pub use params::Profile;
pub use time::SimTime;
