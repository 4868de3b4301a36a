//! Floodgate's load tester: floods an SQS queue on an open-model schedule, runs chaos drills
//! against a protected consumer and verifies that the breaker reacted in time and that every
//! message is accounted for.
//!
//! Where things live:
//!
//! - [`rates`]: rate profiles (constant, ramp, step, spike, points from a file).
//! - [`flood`]: the open-model flood: the schedule (rate profile + limit → intended send times,
//!   pure), batches, seeded bodies, the [`flood::sender::Sink`] trait with the retry policy,
//!   the pacer with a cap on requests in flight, the summary and its HDR histograms, and
//!   [`flood::sqs_sink`], a minimal SQS-compatible server for benchmarking the flood.
//! - [`seqset`]: sets of sequence numbers as ranges.
//! - [`victim`]: the drill's consumer Lambda: ledger records, fault modes.
//! - [`drill`]: drill specs, phases, the timeline, reaction times, accounting, assertions.
//! - [`report`]: the drill report as JSON and as a self-contained HTML page.
//! - [`aws`]: the only module that imports the AWS SDK, but for [`local`].
//! - [`local`]: the local drill: the demo stack deployed into LocalStack, the controller
//!   ticked, a drill run against it (`local-drill` binary, `make drill`).
//! - [`cli`]: the `loadtest` command line.
//! - [`error`]: the crate's classified error; [`units`]: duration parsing for specs and flags.
//!
//! Binaries: `loadtest` (the CLI: `flood`, `drill`, `report`), `victim` (the Lambda),
//! `sqs-sink` (the benchmark's sink), and `local-drill` (deploy + drill + teardown).
#![forbid(unsafe_code)]

pub mod aws;
pub mod cli;
pub mod drill;
pub mod error;
pub mod flood;
pub mod local;
pub mod rates;
pub mod report;
pub mod seqset;
pub mod units;
pub mod victim;

pub use error::{Error, Result};
