//! `floodgate event check`: show how the controller reads one event.
//!
//! Operators use it to see why an alarm did or did not trip: it prints the normalized
//! `AlarmSignal` as JSON, or the exact reason the event was rejected.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

/// Exit code when the event was read but is not a valid alarm event.
const EXIT_REJECTED: u8 = 1;
/// Exit code when the event could not be read at all (missing file, I/O error).
const EXIT_IO: u8 = 2;

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Parse one event (CloudWatch alarm action, SNS delivery or EventBridge event) and print
    /// the normalized alarm signal as JSON; exit 1 with the reason if it is rejected.
    Check {
        /// File holding the event JSON; `-` or nothing reads standard input.
        #[arg(value_name = "FILE|-")]
        file: Option<PathBuf>,
    },
}

pub fn run(cmd: &EventCommand) -> ExitCode {
    match cmd {
        EventCommand::Check { file } => check(file.as_deref()),
    }
}

fn check(file: Option<&std::path::Path>) -> ExitCode {
    let source = match file {
        Some(path) if path.as_os_str() != "-" => path.display().to_string(),
        _ => "standard input".to_owned(),
    };
    let bytes = match read_input(file) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("error: cannot read {source}: {err}");
            return ExitCode::from(EXIT_IO);
        }
    };
    match alarms::parse_event(&bytes) {
        Ok(signal) => {
            let mut out = io::stdout().lock();
            let written = serde_json::to_writer_pretty(&mut out, &signal)
                .map_err(io::Error::from)
                .and_then(|()| writeln!(out));
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("error: cannot write the signal: {err}");
                    ExitCode::from(EXIT_IO)
                }
            }
        }
        Err(err) => {
            eprintln!("rejected: {err}");
            ExitCode::from(EXIT_REJECTED)
        }
    }
}

/// Reads at most one byte more than the parser accepts, so an endless stream cannot
/// exhaust memory and an oversized event is still reported as oversized by the parser.
fn read_input(file: Option<&std::path::Path>) -> io::Result<Vec<u8>> {
    let limit = u64::try_from(alarms::MAX_EVENT_BYTES).unwrap_or(u64::MAX) + 1;
    let mut buf = Vec::new();
    match file {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::File::open(path)?
                .take(limit)
                .read_to_end(&mut buf)?;
        }
        _ => {
            io::stdin().lock().take(limit).read_to_end(&mut buf)?;
        }
    }
    Ok(buf)
}
