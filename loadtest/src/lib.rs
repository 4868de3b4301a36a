//! Floodgate's load tester: floods an SQS queue on an open-model schedule, runs chaos drills
//! against a protected consumer and verifies that the breaker reacted in time and that every
//! message is accounted for.
//!
//! Where things live (each folder's `mod.rs` lists its files):
//!
//! - [`rates`]: rate profiles (constant, ramp, step, spike, points from a file) and their
//!   command-line and TOML forms.
//! - [`flood`]: the open-model flood: the schedule (rate profile + limit → intended send
//!   times, pure), batches, seeded bodies, the [`flood::sender::Sink`] trait with the retry
//!   policy, the pacer with a cap on requests in flight, the summary and its HDR histograms,
//!   the FIFO and run-id defaults, and [`flood::sqs_sink`], a minimal SQS-compatible server
//!   for benchmarking the flood.
//! - [`victim`]: the drill's consumer Lambda: fault modes, the ledger records it writes
//!   through a [`victim::LedgerQueue`].
//! - [`drill`]: drill specs, phases, the timeline, reaction times, accounting, the
//!   [`drill::metric::Metric`]s and the assertions over them, the runner over a
//!   [`drill::Target`].
//! - [`report`]: the drill report as JSON and as a self-contained HTML page, and where they go.
//! - [`aws`]: the only module that imports the AWS SDK: it implements the traits above
//!   (`Sink`, `LedgerQueue`, `Target`) on SQS, Lambda and CloudWatch.
//! - [`sim`]: the simulator (`loadtest simulate`): a virtual-time model of AWS with the
//!   shipped controller in the loop, and the alternatives it is measured against.
//! - [`cli`]: the `loadtest` command line (nothing else in the crate uses it).
//! - Shared helpers: [`seqset`] (sets of sequence numbers as ranges), [`units`] (duration
//!   parsing for specs and flags), [`error`] (the crate's classified error).
//!
//! Modules depend on each other in one direction only: `rates` ← `flood` ← `victim` ← `drill`
//! ← `report`, with `aws`, `sim` and `cli` on top (`sim` uses `rates` and `flood`'s schedule).
//!
//! Binaries: `loadtest` (the CLI: `flood`, `drill`, `report`), `victim` (the Lambda) and
//! `sqs-sink` (the benchmark's sink). The local drill (deploy the demo stack into LocalStack,
//! drill, tear down) is `floodgate-tests`' `local-drill`: it deploys through the test kit's
//! stack builder.
#![forbid(unsafe_code)]

pub mod aws;
pub mod cli;
pub mod drill;
pub mod error;
pub mod flood;
pub mod rates;
pub mod report;
pub mod seqset;
pub mod sim;
pub mod units;
pub mod victim;

pub use error::{Error, Result};
