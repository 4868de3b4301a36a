//! Floodgate's load tester: floods an SQS queue on an open-model schedule, runs chaos drills
//! against a protected consumer and verifies that the breaker reacted in time and that every
//! message is accounted for.
//!
//! Where things live:
//!
//! - [`profile`]: rate profiles (constant, ramp, step, spike, points from a file).
//! - [`schedule`]: profile + limit → the intended send time of every message (pure).
//! - [`batch`]: packing messages into `SendMessageBatch` requests (≤ 10 entries, ≤ 1 MiB).
//! - [`payload`]: seeded bodies carrying run id, sequence number and intended send time.
//! - [`sender`]: the [`sender::Sink`] trait, error classes, the retry policy, one batch's delivery.
//! - [`flood`]: the pacer on absolute time with a cap on requests in flight; the summary.
//! - [`stats`]: HDR histograms of response time, service time and schedule lag.
//! - [`seqset`]: sets of sequence numbers as ranges.
//! - [`victim`]: the drill's consumer Lambda: ledger records, fault modes.
//! - [`drill`]: drill specs, phases, the timeline, reaction times, accounting, assertions.
//! - [`report`]: the drill report as JSON and as a self-contained HTML page.
//! - [`aws`]: the only module that imports the AWS SDK, but for [`local`].
//! - [`local`]: the local drill: the demo stack deployed into LocalStack, the controller
//!   ticked, a drill run against it (`local-drill` binary, `make drill`).
//! - [`cli`]: the `loadtest` command line.
//! - [`sink`]: a minimal SQS-compatible HTTP server for benchmarking the generator.
//! - [`error`]: the crate's classified error; [`units`]: duration parsing for specs and flags.
//!
//! Binaries: `loadtest` (the CLI: `flood`, `drill`, `report`), `victim` (the Lambda),
//! `sqs-sink` (the benchmark's sink), and `local-drill` (deploy + drill + teardown).
#![forbid(unsafe_code)]

pub mod aws;
pub mod batch;
pub mod cli;
pub mod drill;
pub mod error;
pub mod flood;
pub mod local;
pub mod payload;
pub mod profile;
pub mod report;
pub mod schedule;
pub mod sender;
pub mod seqset;
pub mod sink;
pub mod stats;
pub mod units;
pub mod victim;

pub use error::{Error, Result};
