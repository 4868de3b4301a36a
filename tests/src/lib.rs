//! Harness for Floodgate's cross-crate tests against the local AWS emulator (LocalStack), and
//! the local drill.
//!
//! `scripts/local-aws up` starts LocalStack on the host with a runtime executor that runs
//! `provided.al2023` Lambda zips as host processes; `make test` wraps that around
//! `cargo test --workspace -- --include-ignored`. Tests that need LocalStack are marked
//! `#[ignore = "needs LocalStack: run with make test"]`, so a plain `cargo test` skips them.
//!
//! The clients, the resource primitives and the one stack builder are the test kit's
//! ([`floodgate_testkit::localstack`], re-exported here). What this crate adds is about this
//! repository's binaries and scenarios:
//! - [`lambda_zip`]: a workspace binary packaged as a Lambda zip, built once per process;
//! - [`Probes`]: the `probe-lambda` test function on [`LocalAws`] ([`Probes::deploy_probe`],
//!   [`Probes::read_ledger`]), and [`LedgerEntry`], what it reports on its ledger queue;
//! - [`Rig`]: the controller running as a real Lambda over a protected consumer, its alarms,
//!   and ways to drive it (alarm states, ticks, operator commands, the `floodgate` CLI);
//! - [`FaultProxy`]: a fault-injecting HTTP proxy in front of LocalStack, to give the
//!   controller throttling, `ResourceInUseException`, 5xx and timeouts on the wire;
//! - [`overflow::OverflowBed`]: source, overflow queue and alarm of one circuit, for driving
//!   the overflow step in process through `breaker`'s SDK adapters;
//! - [`drill`]: the local drill (the demo stack, the controller ticked, a drill spec run
//!   against it), behind the `local-drill` binary and `make drill`.

#![forbid(unsafe_code)]

pub mod bench;
mod controller;
pub mod drill;
mod ledger;
pub mod overflow;
mod probe;
mod proxy;
mod zip;

pub use controller::{
    CLI_BIN, CONTROLLER_BIN, CONTROLLER_PACKAGE, CliRun, ControllerError, Reply, Rig, RigSpec,
    Seen, TAG_PREFIX, cli_path, fast_timings,
};
pub use floodgate_testkit::localstack::{
    ACCOUNT, AlarmSource, AlarmSpec, Check, Function, FunctionSpec, HarnessError, Invoked,
    LocalAws, Queue, REGION, Trigger, UNHANDLED, Watched, endpoint_url, for_localstack, put_alarm,
    sdk_config, unique_name, wait_for,
};
pub use ledger::{LEDGER_QUEUE_URL_ENV, LedgerEntry};
pub use probe::{PROBE_BIN, PROBE_PACKAGE, Probes};
pub use proxy::{Exchange, Fault, FaultProxy, Outcome, operation_of};
pub use zip::lambda_zip;
