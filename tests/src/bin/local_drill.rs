//! `local-drill`: deploys the demo stack into LocalStack (or wherever `AWS_ENDPOINT_URL`
//! points), runs a drill spec against it with the real controller ticked every two seconds,
//! prints the timeline and the accounting, writes the reports, and deletes the stack again,
//! also on Ctrl-C. Exit codes as `loadtest drill`: 0 passed, 1 failed, 2 infrastructure
//! error, 3 aborted. `make drill` builds the zips and runs it; the work is in
//! `floodgate_tests::drill`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use floodgate_tests::drill::{self, StackPlan};
use loadtest::aws::{AwsOptions, sdk_config};
use loadtest::flood::default_run_id;

/// Deploy the demo stack, run a drill against the real controller, tear the stack down.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The drill spec.
    #[arg(long, default_value = "loadtest/drills/local-drill.toml")]
    spec: PathBuf,
    /// The controller's zip (`scripts/lambda-zip breaker bootstrap`).
    #[arg(long)]
    controller_zip: PathBuf,
    /// The victim's zip (`scripts/lambda-zip loadtest victim`).
    #[arg(long)]
    victim_zip: PathBuf,
    /// Directory for the reports.
    #[arg(long, default_value = "drill-reports")]
    out: PathBuf,
    /// Leave the stack deployed afterwards (to look at it).
    #[arg(long)]
    keep: bool,
    /// Endpoint for every service (default: `AWS_ENDPOINT_URL`).
    #[arg(long)]
    endpoint_url: Option<String>,
}

const EXIT_INFRA: u8 = 2;
const EXIT_ABORTED: u8 = 3;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let bar = indicatif::ProgressBar::new_spinner();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
    let sdk = sdk_config(&AwsOptions {
        endpoint_url: args.endpoint_url.clone(),
        ..AwsOptions::default()
    })
    .await;
    let plan = StackPlan::new(args.controller_zip.clone(), args.victim_zip.clone());
    eprintln!(
        "local-drill: deploying the demo stack {}-* ...",
        plan.prefix
    );
    // Ctrl-C during the deployment leaves what was made so far until `scripts/local-aws
    // down` (`make drill` runs it on exit); names are unique per run, so a next run never
    // meets them.
    let deployed = tokio::select! {
        deployed = drill::deploy(&sdk, &plan) => deployed,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("local-drill: interrupted while deploying");
            return ExitCode::from(EXIT_ABORTED);
        }
    };
    let stack = match deployed {
        Ok(stack) => stack,
        Err(err) => {
            eprintln!("local-drill: deploying the demo stack failed: {err}");
            return ExitCode::from(EXIT_INFRA);
        }
    };
    let vars = drill::vars(&stack);
    let var = |name: &str| vars.get(name).map_or("?", String::as_str);
    eprintln!(
        "local-drill: deployed: source {}, victim {}, controller {} (mapping {})",
        var("QUEUE_URL"),
        var("FUNCTION"),
        stack.controller.as_ref().map_or("?", |c| c.name.as_str()),
        var("ESM_UUID")
    );
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    let ran = drill::run(
        &sdk,
        &stack,
        &args.spec,
        &args.out,
        &default_run_id(),
        interrupt,
        &bar,
    )
    .await;
    bar.finish_and_clear();
    let code = match ran {
        Ok(drill) => {
            println!("{}", drill.summary());
            u8::try_from(drill.exit_code()).unwrap_or(EXIT_INFRA)
        }
        Err(err) => {
            eprintln!("local-drill: {err}");
            EXIT_INFRA
        }
    };
    if args.keep {
        eprintln!("local-drill: --keep: the stack stays deployed");
    } else {
        for failure in stack.teardown().await {
            eprintln!("local-drill: teardown: {failure}");
        }
    }
    ExitCode::from(code)
}
