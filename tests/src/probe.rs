//! The `probe-lambda` test function (see `src/bin/probe_lambda.rs`) deployed into LocalStack,
//! and its ledger read back.

use std::time::Duration;

use floodgate_testkit::localstack::{Function, FunctionSpec, LocalAws, Queue, unique_name};

use crate::{HarnessError, LEDGER_QUEUE_URL_ENV, LedgerEntry};

/// Package of the test function.
pub const PROBE_PACKAGE: &str = "floodgate-tests";
/// Binary name of the test function.
pub const PROBE_BIN: &str = "probe-lambda";

/// `probe-lambda` on [`LocalAws`]: import it (`use floodgate_tests::Probes as _`) to deploy the
/// test function and read its ledger.
#[allow(async_fn_in_trait)] // used in this workspace's tests only, never across threads
pub trait Probes {
    /// Deploys `probe-lambda` (built by [`crate::lambda_zip`]) under a unique name from
    /// `prefix`; `configure` adjusts the spec (timeout, environment).
    ///
    /// Building the zip blocks the calling thread the first time in a test process.
    ///
    /// # Errors
    /// As [`crate::lambda_zip`] and [`LocalAws::create_function`].
    async fn deploy_probe(
        &self,
        prefix: &str,
        configure: impl FnOnce(FunctionSpec) -> FunctionSpec,
    ) -> Result<Function, HarnessError>;

    /// [`Probes::deploy_probe`] with a fresh ledger queue (named from `prefix`) passed in
    /// `LEDGER_QUEUE_URL`, for tests that check what reached the function.
    ///
    /// # Errors
    /// As [`LocalAws::create_queue`] and [`Probes::deploy_probe`].
    async fn deploy_probe_with_ledger(
        &self,
        prefix: &str,
        configure: impl FnOnce(FunctionSpec) -> FunctionSpec,
    ) -> Result<(Function, Queue), HarnessError>;

    /// Reads the ledger: [`LocalAws::drain_queue`] with each message parsed as an entry.
    ///
    /// # Errors
    /// As [`LocalAws::drain_queue`], and [`HarnessError::Ledger`] for a message that is not
    /// an entry.
    async fn read_ledger(
        &self,
        ledger: &Queue,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<LedgerEntry>, HarnessError>;
}

impl Probes for LocalAws {
    async fn deploy_probe(
        &self,
        prefix: &str,
        configure: impl FnOnce(FunctionSpec) -> FunctionSpec,
    ) -> Result<Function, HarnessError> {
        let zip = crate::lambda_zip(PROBE_PACKAGE, PROBE_BIN)?;
        let name = unique_name(prefix);
        let arn = self
            .create_function(&configure(FunctionSpec::new(&name, zip)))
            .await?;
        Ok(Function { name, arn })
    }

    async fn deploy_probe_with_ledger(
        &self,
        prefix: &str,
        configure: impl FnOnce(FunctionSpec) -> FunctionSpec,
    ) -> Result<(Function, Queue), HarnessError> {
        let ledger = self
            .create_queue(&unique_name(&format!("{prefix}-ledger")), &[])
            .await?;
        let probe = self
            .deploy_probe(prefix, |spec| {
                configure(spec.env(LEDGER_QUEUE_URL_ENV, &ledger.url))
            })
            .await?;
        Ok((probe, ledger))
    }

    async fn read_ledger(
        &self,
        ledger: &Queue,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<LedgerEntry>, HarnessError> {
        self.drain_queue(ledger, expected, timeout)
            .await?
            .iter()
            .map(|message| {
                let body = message.body().unwrap_or_default();
                serde_json::from_str(body).map_err(|source| HarnessError::Ledger {
                    body: body.to_owned(),
                    source,
                })
            })
            .collect()
    }
}
