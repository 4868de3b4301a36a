//! `loadtest`: floods SQS on an open-model schedule and runs chaos drills. See
//! `loadtest --help`; the work happens in `loadtest::cli`.

use std::process::ExitCode;

use clap::Parser;
use loadtest::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let code = run(Cli::parse()).await;
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}
