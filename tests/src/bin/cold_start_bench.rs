//! `cold-start-bench`: how long the controller's `bootstrap` takes from process start to its
//! first `GET /2018-06-01/runtime/invocation/next`, the moment it is ready for an event.
//!
//! ```sh
//! scripts/lambda-zip breaker bootstrap --release
//! cargo run -p floodgate-tests --bin cold-start-bench -- [BOOTSTRAP] [RUNS]
//! # defaults: target/release/bootstrap, 30 runs
//! ```
//!
//! A tiny fake Lambda Runtime API (a TCP listener on 127.0.0.1) records when the first
//! request arrives; the bootstrap gets the environment Lambda gives a function (and a valid
//! `FLOODGATE_CONFIG`), nothing else, and is killed once it has asked for an event. Init work
//! (logging, parsing and validating the config, building the SDK clients) is all inside the
//! measured time; no AWS call is made before the first poll.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use floodgate_tests::bench::{Summary, millis};

const DEFAULT_RUNS: usize = 30;
const NEXT: &str = "GET /2018-06-01/runtime/invocation/next ";
const GIVE_UP: Duration = Duration::from_secs(10);

fn config() -> String {
    serde_json::json!({
        "account_id": "123456789012",
        "region": "us-east-1",
        "circuits": [{
            "name": "orders",
            "event_source_mapping_uuid": "14e0db71-5d35-4eb5-b481-8945cf9d10c2",
            "function_name": "orders-consumer",
            "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
            "alarms": [
                {"name": "orders-errors", "kind": "errors"},
                {"name": "orders-throttles", "kind": "throttles"},
                {"name": "orders-depth", "kind": "depth"}
            ],
            "levels": {"max": 50, "safe": 10, "probe": 2}
        }]
    })
    .to_string()
}

/// Starts `bootstrap` against a fresh fake Runtime API; returns the time to its first poll.
fn one_run(bootstrap: &PathBuf, config: &str) -> Result<Duration, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let address = listener.local_addr().map_err(|e| format!("address: {e}"))?;
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let seen = listener
            .accept()
            .map_err(|e| format!("accept: {e}"))
            .and_then(|(stream, _)| {
                let mut line = String::new();
                BufReader::new(stream)
                    .read_line(&mut line)
                    .map_err(|e| format!("read: {e}"))?;
                Ok((Instant::now(), line))
            });
        let _ = sender.send(seen);
    });
    let started = Instant::now();
    let mut child = Command::new(bootstrap)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "floodgate-controller")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/floodgate-controller",
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start-bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("FLOODGATE_CONFIG", config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bootstrap.display()))?;
    let outcome = receiver.recv_timeout(GIVE_UP);
    let _ = child.kill();
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    match outcome {
        Ok(Ok((at, line))) if line.starts_with(NEXT) => Ok(at - started),
        Ok(Ok((_, line))) => Err(format!("first request was {line:?}, not {NEXT:?}")),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!(
            "no request within {GIVE_UP:?} (bootstrap exited with {status})"
        )),
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let bootstrap = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/release/bootstrap".to_owned()),
    );
    let runs = match args.next().map(|n| n.parse::<usize>()) {
        None => DEFAULT_RUNS,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: cold-start-bench [BOOTSTRAP] [RUNS]");
            return ExitCode::from(2);
        }
    };
    let config = config();
    let mut times = Vec::with_capacity(runs);
    for run in 1..=runs {
        match one_run(&bootstrap, &config) {
            Ok(time) => times.push(time),
            Err(e) => {
                eprintln!("run {run}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let Some(summary) = Summary::of(&times) else {
        return ExitCode::FAILURE;
    };
    println!("bootstrap: {}", bootstrap.display());
    println!(
        "runs: {runs}; process start -> first /runtime/invocation/next: median {}, p90 {}, min {}, max {}",
        millis(summary.median),
        millis(summary.p90),
        millis(summary.min),
        millis(summary.max)
    );
    ExitCode::SUCCESS
}
