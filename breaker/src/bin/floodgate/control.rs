//! The commands that talk to the controller: `status`, `force-open`, `force-close`, `release`,
//! `dry-run`. Each one is a single synchronous Invoke of the controller function.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use breaker::aws::invoke::{ControllerClient, InvokeError};
use clap::{Args, Subcommand, ValueEnum};
use floodgate_core::protocol::{CircuitStatus, OperatorCommand, Request, Response};

/// Exit code when the controller refused or failed the request.
const EXIT_REFUSED: u8 = 1;
/// Exit code when the controller could not be reached or answered nonsense.
const EXIT_UNREACHABLE: u8 = 2;
/// How long one Invoke may take: the controller may be retrying a busy mapping.
const INVOKE_TIMEOUT: Duration = Duration::from_mins(2);

/// Where the controller is and how to print its answer.
#[derive(Debug, Args)]
pub struct Target {
    /// The controller function: name, ARN or alias ARN.
    #[arg(
        long,
        env = "FLOODGATE_FUNCTION",
        default_value = "floodgate-controller",
        global = true
    )]
    function: String,
    /// AWS endpoint URL, e.g. http://127.0.0.1:4566 for LocalStack.
    #[arg(long, env = "AWS_ENDPOINT_URL", global = true)]
    endpoint_url: Option<String>,
    /// AWS region (defaults to the usual AWS configuration chain).
    #[arg(long, global = true)]
    region: Option<String>,
    /// Print the controller's JSON answer instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

/// What an override says about itself.
#[derive(Debug, Args)]
pub struct OverrideArgs {
    /// The circuit's name.
    circuit: String,
    /// Why (stored on the event source mapping as a tag).
    #[arg(long)]
    reason: String,
    /// Lapse by itself after this long (e.g. 30m, 2h); never when absent.
    #[arg(long, value_parser = humantime::parse_duration)]
    ttl: Option<Duration>,
    /// Who (defaults to $FLOODGATE_ACTOR, then $USER).
    #[arg(long)]
    actor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum ControlCommand {
    /// Show every circuit (or one): state, level, override, mapping, concurrency, alarms.
    Status {
        /// Only this circuit.
        circuit: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Stop consumption whatever the alarms say, until released or the TTL lapses.
    ForceOpen {
        #[command(flatten)]
        args: OverrideArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Consume at the normal level whatever the alarms say, until released or the TTL lapses.
    ForceClose {
        #[command(flatten)]
        args: OverrideArgs,
        #[command(flatten)]
        target: Target,
    },
    /// End an override; the circuit returns to automatic control.
    Release {
        /// The circuit's name.
        circuit: String,
        /// Who (defaults to $FLOODGATE_ACTOR, then $USER).
        #[arg(long)]
        actor: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Turn dry-run on or off: the controller decides and reports but actuates nothing.
    DryRun {
        /// `on` or `off`.
        mode: OnOff,
        /// The circuit's name.
        circuit: String,
        /// Who (defaults to $FLOODGATE_ACTOR, then $USER).
        #[arg(long)]
        actor: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

pub fn run(cmd: ControlCommand) -> ExitCode {
    let (request, target) = request_of(cmd);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_UNREACHABLE);
        }
    };
    match runtime.block_on(send(&target, &request)) {
        Ok(response) => print(&response, target.json),
        Err(err @ InvokeError::Function { .. }) => {
            eprintln!("refused: {err}");
            ExitCode::from(EXIT_REFUSED)
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(EXIT_UNREACHABLE)
        }
    }
}

fn actor_or_default(actor: Option<String>) -> String {
    actor
        .or_else(|| std::env::var("FLOODGATE_ACTOR").ok())
        .or_else(|| std::env::var("USER").ok())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "floodgate-cli".to_owned())
}

fn request_of(cmd: ControlCommand) -> (Request, Target) {
    let (command, target) = match cmd {
        ControlCommand::Status { circuit, target } => (OperatorCommand::Status { circuit }, target),
        ControlCommand::ForceOpen { args, target } => (
            OperatorCommand::ForceOpen {
                circuit: args.circuit,
                reason: args.reason,
                actor: actor_or_default(args.actor),
                ttl_secs: args.ttl.map(|ttl| ttl.as_secs().max(1)),
            },
            target,
        ),
        ControlCommand::ForceClose { args, target } => (
            OperatorCommand::ForceClose {
                circuit: args.circuit,
                reason: args.reason,
                actor: actor_or_default(args.actor),
                ttl_secs: args.ttl.map(|ttl| ttl.as_secs().max(1)),
            },
            target,
        ),
        ControlCommand::Release {
            circuit,
            actor,
            target,
        } => (
            OperatorCommand::Release {
                circuit,
                actor: actor_or_default(actor),
            },
            target,
        ),
        ControlCommand::DryRun {
            mode,
            circuit,
            actor,
            target,
        } => (
            OperatorCommand::DryRun {
                circuit,
                enabled: mode == OnOff::On,
                actor: actor_or_default(actor),
            },
            target,
        ),
    };
    (Request::Command(command), target)
}

async fn send(target: &Target, request: &Request) -> Result<Response, InvokeError> {
    ControllerClient::from_env(
        &target.function,
        target.endpoint_url.as_deref(),
        target.region.as_deref(),
        INVOKE_TIMEOUT,
    )
    .await
    .send(request)
    .await
}

fn print(response: &Response, json: bool) -> ExitCode {
    let text = if json {
        match serde_json::to_string_pretty(response) {
            Ok(text) => text,
            Err(err) => {
                eprintln!("error: cannot print the answer: {err}");
                return ExitCode::from(EXIT_UNREACHABLE);
            }
        }
    } else {
        render(response)
    };
    println!("{text}");
    ExitCode::SUCCESS
}

/// The wire spelling of a unit-like enum (`half-open`, `force-open`, `errors`, ...).
fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

/// The human view: one block per circuit.
fn render(response: &Response) -> String {
    let mut out = String::new();
    for status in &response.circuits {
        render_circuit(&mut out, status);
    }
    if response.circuits.is_empty() {
        out.push_str("no circuits\n");
    }
    out.trim_end().to_owned()
}

fn render_circuit(out: &mut String, s: &CircuitStatus) {
    let opt = |v: Option<u32>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
    let _ = writeln!(
        out,
        "{}: {} since {} (level {}, trips {})",
        s.circuit,
        name(&s.state),
        s.since,
        s.level,
        s.trips
    );
    if let Some(kind) = &s.override_ {
        let until = s
            .override_until
            .map_or_else(|| "no expiry".to_owned(), |u| format!("until {u}"));
        let _ = writeln!(
            out,
            "  override: {} by {} ({until}): {}",
            name(kind),
            s.actor.as_deref().unwrap_or("?"),
            s.reason.as_deref().unwrap_or("")
        );
    }
    if s.dry_run {
        out.push_str("  dry-run: on (decisions are recorded, nothing is actuated)\n");
    }
    let _ = writeln!(
        out,
        "  mapping {}: {} (enabled: {}), MaximumConcurrency {}, reserved concurrency {}",
        s.esm.uuid,
        s.esm.state,
        s.esm.enabled,
        opt(s.esm.maximum_concurrency),
        opt(s.reserved_concurrency)
    );
    if let Some(queue) = &s.queue {
        let _ = writeln!(
            out,
            "  queue: {} visible, {} in flight",
            queue.visible, queue.in_flight
        );
    }
    if let Some(o) = &s.overflow {
        let depth = o
            .overflow_depth
            .map_or_else(|| "unknown".to_owned(), |d| d.to_string());
        let _ = writeln!(
            out,
            "  overflow: {} ({}), {depth} in the overflow queue; moved {}, replayed {}, send failed {}, delete failed {}, unmovable {}, sent to the DLQ {}",
            o.action.as_str(),
            o.reason,
            o.moved,
            o.replayed,
            o.send_failed,
            o.delete_failed,
            o.unmovable,
            o.dead_lettered
        );
        if let Some(stopped) = &o.stopped {
            let _ = writeln!(out, "  overflow stopped: {stopped}");
        }
    }
    for alarm in &s.alarms {
        let state = alarm
            .state
            .map_or_else(|| "unknown".to_owned(), |st| st.to_string());
        let since = alarm
            .since
            .map_or_else(String::new, |t| format!(" since {t}"));
        let _ = writeln!(
            out,
            "  alarm {} ({}): {state}{since}",
            alarm.name,
            name(&alarm.kind)
        );
    }
    for t in &s.transitions {
        let _ = writeln!(
            out,
            "  changed: {} -> {} by {}",
            name(&t.from),
            name(&t.to),
            t.actor
        );
    }
    if s.drift {
        out.push_str(
            "  drift: the resources differed from the circuit's state and were re-applied\n",
        );
    }
}
