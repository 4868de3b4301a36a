//! `sqs-sink`: a minimal SQS-compatible endpoint that accepts every `SendMessageBatch` at
//! once, so a benchmark measures the flooder rather than an emulator.
//!
//! ```sh
//! sqs-sink --listen 127.0.0.1:9324      # prints its endpoint URL, serves until Ctrl-C
//! ```

use std::sync::atomic::Ordering;

use clap::Parser;
use loadtest::flood::sqs_sink::{SinkOptions, start};

/// A minimal SQS-compatible sink.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Fail every N-th entry with `InternalError` (to exercise retries).
    #[arg(long)]
    fail_every: Option<u64>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    let sink = start(
        listener,
        SinkOptions {
            fail_every: args.fail_every,
        },
    )?;
    // The first line is the endpoint, for scripts that start the sink on port 0.
    println!("{}", sink.endpoint());
    tokio::signal::ctrl_c().await?;
    eprintln!(
        "sqs-sink: {} requests, {} entries accepted, {} failed on purpose",
        sink.stats.requests.load(Ordering::Relaxed),
        sink.stats.accepted.load(Ordering::Relaxed),
        sink.stats.failed.load(Ordering::Relaxed)
    );
    Ok(())
}
