//! `floodgate config check`: validate a `FLOODGATE_CONFIG` document exactly as the
//! controller's cold start does (the same code), before it is deployed.
//! `floodgate config schema`: print the configuration's JSON Schema (for editors, and the
//! committed copy the infra modules' tests check their bounds against).

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use floodgate_core::ControllerConfig;

/// Exit code when the document was read but is not a valid configuration.
const EXIT_INVALID: u8 = 1;
/// Exit code when the document could not be read at all.
const EXIT_IO: u8 = 2;
/// Largest document read: far above what a Lambda environment (4 KB) or an SSM parameter
/// (8 KB advanced) holds.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a controller configuration (the FLOODGATE_CONFIG JSON) as the controller's
    /// cold start does; print it normalized (every default filled in) as JSON, or every
    /// error with its field path and exit 1.
    Check {
        /// File holding the configuration JSON; `-` or nothing reads standard input.
        #[arg(value_name = "FILE|-")]
        file: Option<PathBuf>,
    },
    /// Print the configuration's JSON Schema (draft 2020-12), generated from the types the
    /// controller parses it with: every field, default and bound.
    Schema,
}

pub fn run(cmd: &ConfigCommand) -> ExitCode {
    match cmd {
        ConfigCommand::Check { file } => check(file.as_deref()),
        ConfigCommand::Schema => schema(),
    }
}

fn schema() -> ExitCode {
    print_json(&floodgate_core::config::schema(), "the schema")
}

/// Writes `value` to standard output, pretty; exit 2 when that fails.
fn print_json(value: &serde_json::Value, what: &str) -> ExitCode {
    let mut out = io::stdout().lock();
    match serde_json::to_writer_pretty(&mut out, value)
        .map_err(io::Error::from)
        .and_then(|()| writeln!(out))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: cannot write {what}: {err}");
            ExitCode::from(EXIT_IO)
        }
    }
}

fn check(file: Option<&std::path::Path>) -> ExitCode {
    let mut text = String::new();
    let read = match file {
        Some(path) if path.as_os_str() != "-" => std::fs::File::open(path)
            .and_then(|f| f.take(MAX_CONFIG_BYTES).read_to_string(&mut text)),
        _ => io::stdin()
            .lock()
            .take(MAX_CONFIG_BYTES)
            .read_to_string(&mut text),
    };
    if let Err(err) = read {
        eprintln!("error: cannot read the configuration: {err}");
        return ExitCode::from(EXIT_IO);
    }
    let Ok(config) = ControllerConfig::from_json(&text) else {
        for error in ControllerConfig::errors(&text) {
            eprintln!("invalid: {error}");
        }
        return ExitCode::from(EXIT_INVALID);
    };
    print_json(&config.normalized(), "the configuration")
}
