//! `floodgate`: the operator CLI.
//!
//! Thin on purpose: it parses arguments and hands each subcommand to its module. Commands that
//! change a circuit go through the controller Lambda (Invoke), so it stays the single writer.

// Doc comments on the clap types are the CLI's help text, shown as written: backticks and
// angle brackets that rustdoc wants would show up verbatim in `--help`.
#![allow(clippy::doc_markdown)]

mod config;
mod control;
mod event;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Operate Floodgate circuit breakers.
#[derive(Debug, Parser)]
#[command(name = "floodgate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with the events the controller receives.
    #[command(subcommand)]
    Event(event::EventCommand),
    /// Work with the controller's configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    #[command(flatten)]
    Control(control::ControlCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Event(cmd) => event::run(&cmd),
        Command::Config(cmd) => config::run(&cmd),
        Command::Control(cmd) => control::run(cmd),
    }
}
