//! Shared by the `loadtest_*` tests: the `loadtest` binary, built once per test process, and
//! the drill rig (source queue with DLQ, ledger, victim function, event source mapping).

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use floodgate_testkit::localstack::{ConsumerSpec, Names, Stack, StackSpec};
use floodgate_tests::drill::VICTIM_TRIGGER;
use floodgate_tests::{LocalAws, Queue, lambda_zip};
use loadtest::victim::ENV_LEDGER;

/// Builds the `loadtest` binary (dev profile) and returns its path. The first caller builds;
/// the others wait for it.
pub fn loadtest_bin() -> PathBuf {
    static BUILT: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = built.as_ref() {
        return path.clone();
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cargo =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.current_dir(&workspace).args([
        "build",
        "--quiet",
        "--package",
        "loadtest",
        "--bin",
        "loadtest",
        "--message-format=json-render-diagnostics",
    ]);
    // The variables cargo sets for this test crate would make build scripts that watch them
    // (ring's) rebuild half the tree; `scripts/lambda-zip` drops them for the same reason.
    for (name, _) in std::env::vars() {
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                name.as_str(),
                "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
            )
        {
            cargo.env_remove(name);
        }
    }
    let output = cargo.output().expect("run cargo build");
    assert!(
        output.status.success(),
        "cargo build -p loadtest failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "loadtest")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported the loadtest executable");
    *built = Some(path.clone());
    path
}

/// Runs `loadtest` with `args` (the environment, with `AWS_ENDPOINT_URL`, is inherited).
pub async fn loadtest(args: &[&str]) -> Output {
    let bin = loadtest_bin();
    tokio::process::Command::new(bin)
        .args(args)
        .output()
        .await
        .expect("run loadtest")
}

/// What a drill needs: a source queue redriving to a DLQ, a ledger queue, the victim function
/// and a mapping that reports batch item failures.
pub struct DrillRig {
    pub aws: LocalAws,
    pub source: Queue,
    pub dlq: Queue,
    pub ledger: Queue,
    pub function: String,
    pub esm_uuid: String,
}

impl DrillRig {
    /// Builds the rig; `visibility` is also the victim's timeout (SQS requires the queue's
    /// visibility timeout to be at least the function's).
    pub async fn new(prefix: &str, max_receive_count: u32, visibility: Duration) -> Self {
        let aws = LocalAws::connect().await.expect("LocalStack");
        let zip = tokio::task::spawn_blocking(|| lambda_zip("loadtest", "victim"))
            .await
            .expect("build task")
            .expect("victim zip");
        let names = Names {
            source: prefix.to_owned(),
            dlq: format!("{prefix}-dlq"),
            consumer: format!("{prefix}-victim"),
            ledger: format!("{prefix}-ledger"),
            ..Names::unique(prefix)
        };
        let stack = Stack::deploy(
            &aws,
            &StackSpec::new(names)
                .max_receive_count(max_receive_count)
                .visibility_timeout(visibility)
                .consumer(
                    ConsumerSpec::new(zip, ENV_LEDGER)
                        .timeout(visibility)
                        .trigger(VICTIM_TRIGGER),
                ),
        )
        .await
        .expect("source queue with DLQ, victim and mapping");
        let consumer = stack.consumer.expect("the victim");
        Self {
            aws,
            source: stack.source,
            dlq: stack.dlq,
            ledger: consumer.ledger,
            function: consumer.function.name,
            esm_uuid: consumer.mapping.uuid,
        }
    }

    /// The `--var` arguments of the drill specs in `loadtest/drills/`.
    pub fn vars(&self) -> Vec<String> {
        [
            ("QUEUE_URL", self.source.url.as_str()),
            ("DLQ_URL", self.dlq.url.as_str()),
            ("FUNCTION", self.function.as_str()),
            ("ESM_UUID", self.esm_uuid.as_str()),
            ("LEDGER_URL", self.ledger.url.as_str()),
        ]
        .into_iter()
        .flat_map(|(name, value)| ["--var".to_owned(), format!("{name}={value}")])
        .collect()
    }
}

/// Path of a drill spec shipped in `loadtest/drills/`.
pub fn drill_spec(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../loadtest/drills")
        .join(name)
}
