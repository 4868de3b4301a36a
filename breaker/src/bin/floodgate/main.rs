//! `floodgate`: the operator CLI.
//!
//! Thin on purpose: it parses arguments and hands each subcommand to its module.

mod event;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Operate Floodgate circuit breakers.
#[derive(Debug, Parser)]
#[command(name = "floodgate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with the events the controller receives.
    #[command(subcommand)]
    Event(event::EventCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Event(cmd) => event::run(&cmd),
    }
}
