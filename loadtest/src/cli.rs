//! The `loadtest` command line: `flood`, `drill`, `report` and `simulate`. The binary parses and calls
//! [`run`]; everything else is here so it can be tested.
//!
//! Exit codes: `flood` 0 when every planned message was acknowledged, 1 when some were not,
//! 2 on a usage or setup error, 3 when interrupted; `drill` 0 passed, 1 an assertion failed,
//! 2 infrastructure error, 3 aborted; `report` 0, or 2 when the report cannot be read;
//! `simulate` 0, 1 when a strategy lost messages (a fault of the model), 2 on a bad scenario.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::aws::{AwsOptions, AwsTarget, SqsSink, sdk_config};
use crate::drill::spec::DrillSpec;
use crate::drill::{EXIT_ABORTED, EXIT_FAILED, EXIT_INFRA, EXIT_PASSED};
use crate::error::{Error, Result};
use crate::flood::batch::BatchPolicy;
use crate::flood::payload::SizeDist;
use crate::flood::schedule::Limit;
use crate::flood::sender::{FLOOD_RETRY, RetryPolicy};
use crate::flood::{self, FloodConfig, Live};
use crate::rates::RateProfile;
use crate::sim::{self, Profile, report::SimReport, run::STRATEGIES, scenario::Scenario};
use crate::units::parse_duration;

/// Floodgate's load tester.
#[derive(Debug, Parser)]
#[command(name = "loadtest", version, about)]
pub struct Cli {
    /// Endpoint for every AWS service (LocalStack, or the benchmark sink).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AWS region (default: the SDK's usual chain, e.g. `AWS_REGION`).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Longest wait for one attempt of one AWS call.
    #[arg(long, global = true, value_parser = parse_duration, default_value = "5s")]
    pub timeout: Duration,
    /// No progress line.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Flood an SQS queue on an open-model schedule; prints a JSON summary.
    Flood(FloodArgs),
    /// Run a drill spec; writes a JSON and an HTML report.
    Drill(DrillArgs),
    /// Render the HTML page of a drill's JSON report again.
    Report(ReportArgs),
    /// Run a scenario in the simulator under each strategy; prints them side by side.
    Simulate(SimulateArgs),
}

/// `loadtest flood`.
#[derive(Debug, Args)]
pub struct FloodArgs {
    /// The queue (a URL ending in `.fifo` is a FIFO queue).
    #[arg(long)]
    pub queue_url: String,
    /// Constant rate, messages/s.
    #[arg(long, conflicts_with = "rate_profile")]
    pub rate: Option<f64>,
    /// Rate profile: 500, ramp:from=100,to=1000,over=30s, step:from=100,by=100,every=10s,to=500,
    /// spike:base=100,peak=2000,at=10s,for=5s, or `file:PATH` (CSV of seconds,rate).
    #[arg(long = "profile", value_name = "PROFILE")]
    pub rate_profile: Option<RateProfile>,
    /// Stop after this long.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many messages.
    #[arg(long)]
    pub count: Option<u64>,
    /// Entries per `SendMessageBatch` (1–10).
    #[arg(long, default_value_t = 10)]
    pub batch_size: usize,
    /// How much later than its first message a batch's last may be due.
    #[arg(long, value_parser = parse_duration, default_value = "5ms")]
    pub linger: Duration,
    /// Most requests in flight.
    #[arg(long, default_value_t = flood::DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,
    /// Most attempts per entry.
    #[arg(long, default_value_t = crate::flood::sender::FLOOD_RETRY.max_attempts)]
    pub max_attempts: u32,
    /// A batch starting this much after it was due counts as late.
    #[arg(long, value_parser = parse_duration, default_value = "10ms")]
    pub late_after: Duration,
    /// Drop (and count) a batch that could not start this long after it was due.
    #[arg(long, value_parser = parse_duration)]
    pub drop_after: Option<Duration>,
    /// Body sizes: 256, 100..1000, or 200*9,100000*1 (size*weight).
    #[arg(long, default_value = "256")]
    pub payload_size: SizeDist,
    /// Seed of bodies and jitter.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run id carried by every body (default: from the time).
    #[arg(long)]
    pub run_id: Option<String>,
    /// FIFO message groups (default 16 on a FIFO queue).
    #[arg(long)]
    pub groups: Option<u32>,
    /// Write the JSON summary here instead of stdout.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `loadtest drill`.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The drill spec (TOML).
    pub spec: PathBuf,
    /// A `${NAME}` of the spec: NAME=value (repeatable; the environment fills the rest).
    #[arg(long = "var", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Directory for the reports.
    #[arg(long, default_value = "drill-reports")]
    pub out: PathBuf,
    /// Run id carried by every body (default: from the time).
    #[arg(long)]
    pub run_id: Option<String>,
}

/// `loadtest report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A drill's JSON report.
    pub json: PathBuf,
    /// Where to write the HTML page (default: next to the JSON).
    #[arg(long)]
    pub html: Option<PathBuf>,
}

/// `loadtest simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The scenario (TOML; see `loadtest/scenarios/`).
    pub scenario: PathBuf,
    /// `none`, `reserved-only`, `toggle`, `floodgate`, or `all`.
    #[arg(long, default_value = "all")]
    pub strategy: String,
    /// The model's parameters: `aws` (documented behaviour) or `localstack` (measured).
    #[arg(long, default_value = "aws")]
    pub profile: String,
    /// The seed (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where to write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where to write an HTML page with the table and, per strategy, charts over time.
    #[arg(long)]
    pub html: Option<PathBuf>,
}

fn parse_var(text: &str) -> std::result::Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not NAME=value"))
}

/// Writes log lines around the progress line instead of through it.
#[derive(Debug, Clone)]
struct AroundProgress(ProgressBar);

struct SuspendedStderr(ProgressBar);

impl std::io::Write for SuspendedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stderr().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for AroundProgress {
    type Writer = SuspendedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        SuspendedStderr(self.0.clone())
    }
}

fn progress_bar(quiet: bool, template: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

fn init_tracing(bar: &ProgressBar, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A second init (tests calling `run` twice) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(AroundProgress(bar.clone()))
        .with_target(false)
        .try_init();
}

/// Runs a parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> i32 {
    let options = AwsOptions {
        endpoint_url: cli.endpoint_url.clone(),
        region: cli.region.clone(),
        timeout: cli.timeout,
    };
    match cli.command {
        Command::Flood(args) => flood_command(&options, args, cli.quiet).await,
        Command::Drill(args) => drill_command(&options, args, cli.quiet).await,
        Command::Simulate(args) => match simulate_command(&args) {
            Ok(report) => {
                print!("{}", report.table());
                if report.strategies.iter().any(|r| r.lost > 0) {
                    eprintln!("loadtest simulate: messages were lost: a fault of the model");
                    EXIT_FAILED
                } else {
                    EXIT_PASSED
                }
            }
            Err(err) => {
                eprintln!("loadtest simulate: {err}");
                EXIT_INFRA
            }
        },
        Command::Report(args) => match report_command(&args) {
            Ok(path) => {
                println!("{}", path.display());
                EXIT_PASSED
            }
            Err(err) => {
                eprintln!("loadtest report: {err}");
                EXIT_INFRA
            }
        },
    }
}

/// The flood a command line asks for.
///
/// # Errors
/// [`Error::Invalid`] naming the flag.
pub fn flood_config(args: &FloodArgs) -> Result<FloodConfig> {
    let rate_profile = match (&args.rate_profile, args.rate) {
        (Some(rates), _) => rates.clone(),
        (None, Some(rate)) => RateProfile::constant(rate),
        (None, None) => return Err(Error::invalid("--rate", "give --rate or --profile")),
    };
    let fifo = flood::is_fifo_queue(&args.queue_url);
    let config = FloodConfig {
        batch: BatchPolicy {
            max_entries: args.batch_size,
            linger: args.linger,
        },
        payload_size: args.payload_size.clone(),
        seed: args.seed,
        fifo_groups: flood::default_fifo_groups(&args.queue_url)
            .map(|default| args.groups.unwrap_or(default)),
        max_in_flight: args.max_in_flight,
        retry: RetryPolicy {
            max_attempts: args.max_attempts,
            ..FLOOD_RETRY
        },
        late_after: args.late_after,
        drop_after: args.drop_after,
        ..FloodConfig::new(
            args.run_id.clone().unwrap_or_else(flood::default_run_id),
            rate_profile,
            Limit {
                duration: args.duration,
                count: args.count,
            },
        )
    };
    if args.groups.is_some() && !fifo {
        return Err(Error::invalid(
            "--groups",
            "applies to FIFO queues (URLs ending in .fifo) only",
        ));
    }
    config.validate()?;
    Ok(config)
}

async fn flood_command(options: &AwsOptions, args: FloodArgs, quiet: bool) -> i32 {
    let config = match flood_config(&args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("loadtest flood: {err}");
            return EXIT_INFRA;
        }
    };
    let bar = progress_bar(
        quiet,
        "{spinner} {elapsed_precise} [{bar:20}] {pos}/{len} {wide_msg}",
    );
    bar.set_length(config.planned());
    init_tracing(&bar, "warn");
    let sdk = sdk_config(options).await;
    let sink = Arc::new(SqsSink::new(&sdk, args.queue_url.clone()));
    let live = Arc::new(Live::default());
    let ticker = {
        let (bar, live) = (bar.clone(), Arc::clone(&live));
        let rates = config.rate_profile.clone();
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut interval = tokio::time::interval(Duration::from_millis(250));
            loop {
                interval.tick().await;
                let acked = Live::get(&live.acked);
                bar.set_position(acked);
                #[allow(clippy::cast_precision_loss)]
                let rate = acked as f64 / start.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!(
                    "{rate:.0}/s of {:.0}/s · in flight {} · late {} · dropped {} · failed {} · errors {}",
                    rates.rate_at(start.elapsed()),
                    Live::get(&live.in_flight),
                    Live::get(&live.late),
                    Live::get(&live.dropped),
                    Live::get(&live.failed),
                    Live::get(&live.errors),
                ));
            }
        })
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let interrupted = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(());
            true
        } else {
            false
        }
    });
    let result = flood::run(sink, &config, live, async move {
        // Only a Ctrl-C stops early; a dropped sender means the flood already ended.
        if stop_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await;
    ticker.abort();
    bar.finish_and_clear();
    let was_interrupted = interrupted.is_finished() && interrupted.await.unwrap_or(false);
    let summary = match result {
        Ok(summary) => summary,
        Err(err) => {
            eprintln!("loadtest flood: {err}");
            return EXIT_INFRA;
        }
    };
    eprintln!("loadtest flood: {}", summary.headline());
    let json = match serde_json::to_string_pretty(&summary) {
        Ok(json) => json,
        Err(err) => {
            eprintln!("loadtest flood: cannot write the summary: {err}");
            return EXIT_INFRA;
        }
    };
    match &args.json {
        Some(path) => {
            if let Err(err) = std::fs::write(path, json) {
                eprintln!("loadtest flood: writing {}: {err}", path.display());
                return EXIT_INFRA;
            }
        }
        None => println!("{json}"),
    }
    if was_interrupted {
        EXIT_ABORTED
    } else if summary.all_acked() {
        EXIT_PASSED
    } else {
        EXIT_FAILED
    }
}

async fn drill_command(options: &AwsOptions, args: DrillArgs, quiet: bool) -> i32 {
    let bar = progress_bar(quiet, "{spinner} {wide_msg}");
    init_tracing(&bar, "info");
    let vars: BTreeMap<String, String> = args.vars.into_iter().collect();
    let spec = match DrillSpec::load(&args.spec, &vars) {
        Ok(spec) => spec,
        Err(err) => {
            eprintln!("loadtest drill: {err}");
            return EXIT_INFRA;
        }
    };
    let run_id = args.run_id.unwrap_or_else(flood::default_run_id);
    let sdk = sdk_config(options).await;
    let target = match AwsTarget::connect(&sdk, &spec).await {
        Ok(target) => Arc::new(target),
        Err(err) => {
            eprintln!("loadtest drill: the drill's resources are not usable: {err}");
            return EXIT_INFRA;
        }
    };
    bar.enable_steady_tick(Duration::from_millis(250));
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let report = crate::drill::run(&spec, target, &run_id, interrupt, &bar).await;
    bar.finish_and_clear();
    let (json, html) = crate::report::report_paths(&args.out, &spec.name, &run_id);
    let written = crate::report::write_json(&report, &json)
        .and_then(|()| crate::report::write_html(&report, &html));
    if let Err(err) = written {
        eprintln!("loadtest drill: {err}");
        return EXIT_INFRA;
    }
    for result in &report.assertions {
        eprintln!(
            "  {} {}{}",
            if result.passed { "pass" } else { "FAIL" },
            result.assertion,
            if result.detail.is_empty() {
                String::new()
            } else {
                format!(" — {}", result.detail)
            }
        );
    }
    eprintln!(
        "loadtest drill: {} ({})",
        report.verdict.label(),
        html.display()
    );
    println!("{}", json.display());
    println!("{}", html.display());
    debug_assert!(matches!(
        report.exit_code,
        EXIT_PASSED | EXIT_FAILED | EXIT_INFRA | EXIT_ABORTED
    ));
    report.exit_code
}

/// Renders a JSON report's HTML page again; returns where it went.
///
/// # Errors
/// When the report cannot be read or the page written.
pub fn report_command(args: &ReportArgs) -> Result<PathBuf> {
    let report = crate::report::read_json(&args.json)?;
    let html = args
        .html
        .clone()
        .unwrap_or_else(|| args.json.with_extension("html"));
    crate::report::write_html(&report, &html)?;
    Ok(html)
}

/// Runs `loadtest simulate`; writes the JSON and the HTML page when asked.
///
/// # Errors
/// [`Error::Io`] or [`Error::Toml`] for the scenario file, [`Error::Invalid`] for a bad
/// strategy, profile or scenario, [`Error::Json`] when the JSON cannot be written.
pub fn simulate_command(args: &SimulateArgs) -> Result<SimReport> {
    let text = std::fs::read_to_string(&args.scenario).map_err(|source| Error::Io {
        what: "reading",
        path: args.scenario.clone(),
        source,
    })?;
    let mut scenario = Scenario::from_toml(&text, &args.scenario)?;
    for note in scenario.replayed.iter().flat_map(|r| &r.notes) {
        eprintln!("loadtest simulate: {note}");
    }
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let profile = Profile::named(&args.profile)
        .ok_or_else(|| Error::invalid("--profile", "must be aws or localstack"))?;
    let strategies: Vec<&str> = if args.strategy == "all" {
        STRATEGIES.to_vec()
    } else {
        vec![args.strategy.as_str()]
    };
    let report = SimReport {
        scenario: scenario.name.clone(),
        profile: profile.name.to_owned(),
        seed: scenario.seed,
        strategies: strategies
            .iter()
            .map(|s| sim::run::run(&scenario, &profile, s))
            .collect::<Result<_>>()?,
    };
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|source| Error::Json {
            what: format!("writing {}", path.display()),
            source,
        })?;
        std::fs::write(path, json + "\n").map_err(|source| Error::Io {
            what: "writing",
            path: path.clone(),
            source,
        })?;
    }
    if let Some(path) = &args.html {
        crate::report::sim_html::write(&report, path)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Cli {
        Cli::try_parse_from(line.split_whitespace()).unwrap_or_else(|err| panic!("{line}: {err}"))
    }

    fn flood_args(line: &str) -> FloodArgs {
        match parse(line).command {
            Command::Flood(args) => args,
            other => panic!("not a flood: {other:?}"),
        }
    }

    #[test]
    fn a_flood_command_line_becomes_a_validated_config() {
        let args = flood_args(
            "loadtest flood --queue-url http://q/orders --rate 500 --duration 20s --payload-size 100..200 --run-id r1",
        );
        let config = flood_config(&args).unwrap();
        assert_eq!(config.rate_profile, RateProfile::constant(500.0));
        assert_eq!(config.limit, Limit::duration(Duration::from_secs(20)));
        assert_eq!(config.fifo_groups, None);
        assert_eq!(config.planned(), 10_000);
        assert_eq!(config.run_id, "r1");
    }

    #[test]
    fn a_fifo_queue_gets_message_groups_and_a_standard_queue_refuses_them() {
        let args = flood_args(
            "loadtest flood --queue-url http://q/orders.fifo --profile spike:base=1,peak=5,at=1s,for=1s --count 10",
        );
        assert_eq!(flood_config(&args).unwrap().fifo_groups, Some(16));
        let args =
            flood_args("loadtest flood --queue-url http://q/orders --rate 5 --count 10 --groups 4");
        assert!(
            flood_config(&args)
                .unwrap_err()
                .to_string()
                .contains("--groups")
        );
    }

    #[test]
    fn a_flood_without_rate_or_limit_is_refused() {
        let args = flood_args("loadtest flood --queue-url http://q/x --duration 1s");
        assert!(
            flood_config(&args)
                .unwrap_err()
                .to_string()
                .contains("--rate")
        );
        let args = flood_args("loadtest flood --queue-url http://q/x --rate 1");
        assert!(
            flood_config(&args)
                .unwrap_err()
                .to_string()
                .contains("limit")
        );
        assert!(
            Cli::try_parse_from([
                "loadtest",
                "flood",
                "--queue-url",
                "q",
                "--rate",
                "1",
                "--profile",
                "2"
            ])
            .is_err()
        );
    }

    #[test]
    fn drill_variables_are_name_value_pairs() {
        let Command::Drill(args) = parse("loadtest drill d.toml --var A=1 --var B=x=y").command
        else {
            panic!("not a drill");
        };
        assert_eq!(
            args.vars,
            [
                ("A".to_owned(), "1".to_owned()),
                ("B".to_owned(), "x=y".to_owned())
            ]
        );
        assert!(Cli::try_parse_from(["loadtest", "drill", "d.toml", "--var", "novalue"]).is_err());
    }

    #[test]
    fn simulate_runs_a_shipped_scenario_and_writes_its_json() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let json = dir.path().join("poison.json");
        let line = format!(
            "loadtest simulate {}/scenarios/poison.toml --strategy none --seed 9 --json {}",
            env!("CARGO_MANIFEST_DIR"),
            json.display()
        );
        let Command::Simulate(args) = parse(&line).command else {
            panic!("not simulate");
        };
        let report = simulate_command(&args).expect("runs");
        assert_eq!(report.seed, 9);
        assert_eq!(report.strategies.len(), 1);
        let written = std::fs::read_to_string(&json).expect("written");
        assert_eq!(
            written,
            serde_json::to_string_pretty(&report).expect("json") + "\n"
        );
        assert!(
            !written.contains("timeline"),
            "the timeline stays out of the JSON"
        );
        assert!(report.table().contains("dead-lettered"));
    }

    #[test]
    fn every_shipped_scenario_is_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("scenarios") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue; // `configs/`: controller configurations the scenarios replay
            }
            let text = std::fs::read_to_string(&path).expect("readable");
            let scenario = Scenario::from_toml(&text, &path).expect("valid");
            floodgate_core::ControllerConfig::from_json(&scenario.controller_config().to_string())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
        assert!(seen >= 7, "the issue's seven scenarios ship");
    }

    #[test]
    fn simulate_refuses_an_unknown_profile() {
        let line = format!(
            "loadtest simulate {}/scenarios/poison.toml --profile gcp",
            env!("CARGO_MANIFEST_DIR")
        );
        let Command::Simulate(args) = parse(&line).command else {
            panic!("not simulate");
        };
        let err = simulate_command(&args).expect_err("no such profile");
        assert!(err.to_string().contains("--profile"), "{err}");
    }
}
