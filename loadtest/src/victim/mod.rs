//! The victim: a consumer Lambda for drills. It processes SQS batches, records every sequence
//! number it processed on a ledger queue the drill reads back, reports partial batch
//! failures, and injects failures, latency and crashes as its configuration says, so a drill
//! can break it mid-flood and heal it.
//!
//! Its settings are environment variables (the drill changes them with
//! `UpdateFunctionConfiguration`, which replaces the running environments):
//!
//! | variable | meaning |
//! | --- | --- |
//! | `VICTIM_LEDGER_URL` | the ledger queue (required) |
//! | `VICTIM_MODE` | `healthy` (default), `fail` (report messages as batch item failures), `error` (fail the whole invocation, which counts in the function's `Errors`), `crash` (abort the process mid-batch) |
//! | `VICTIM_RATIO` | share of messages (`fail`) or batches (`error`, `crash`) affected, 0–1, default 1 |
//! | `VICTIM_LATENCY_MS` | extra time spent on every batch, default 0 |
//!
//! The ESM must have `FunctionResponseTypes = ["ReportBatchItemFailures"]` for `fail` to
//! retry only the failed messages. Processed messages are recorded *before* the function
//! answers, so a crash after recording can only duplicate a record, never lose one.
//!
//! The handler writes through a [`LedgerQueue`]; the `victim` binary gives it SQS
//! ([`crate::aws::Queues`]).

pub mod ledger;

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use ledger::{LedgerKind, LedgerRecord};

/// The ledger queue URL.
pub const ENV_LEDGER: &str = "VICTIM_LEDGER_URL";
/// The fault mode.
pub const ENV_MODE: &str = "VICTIM_MODE";
/// Share of messages or batches affected.
pub const ENV_RATIO: &str = "VICTIM_RATIO";
/// Extra latency per batch, in milliseconds.
pub const ENV_LATENCY_MS: &str = "VICTIM_LATENCY_MS";
/// Longest latency the victim accepts (a Lambda runs at most 15 minutes).
pub const MAX_LATENCY: Duration = Duration::from_mins(15);

/// How the victim misbehaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Processes everything.
    #[default]
    Healthy,
    /// Reports a share of the messages as batch item failures.
    Fail,
    /// Fails a share of the invocations as a whole (a function error).
    Error,
    /// Aborts the process in a share of the invocations.
    Crash,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Self; 4] = [Self::Healthy, Self::Fail, Self::Error, Self::Crash];

    /// The name in `VICTIM_MODE` and in drill specs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Fail => "fail",
            Self::Error => "error",
            Self::Crash => "crash",
        }
    }

    /// The mode named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

fn full_ratio() -> f64 {
    1.0
}

/// The victim's fault settings; a drill injects them at phase boundaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Fault mode.
    #[serde(default)]
    pub mode: Mode,
    /// Share affected, 0–1.
    #[serde(default = "full_ratio")]
    pub ratio: f64,
    /// Extra time per batch.
    #[serde(default, with = "crate::units::duration")]
    pub latency: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Healthy,
            ratio: 1.0,
            latency: Duration::ZERO,
        }
    }
}

impl Settings {
    /// Checks the ratio and latency.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `ratio` or `latency`.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.ratio) {
            return Err(Error::invalid(
                "ratio",
                format!("{} is not between 0 and 1", self.ratio),
            ));
        }
        if self.latency > MAX_LATENCY {
            return Err(Error::invalid(
                "latency",
                "is longer than a Lambda may run (15 min)",
            ));
        }
        Ok(())
    }

    /// The environment changes that apply these settings.
    pub fn to_env(&self) -> Vec<(String, Option<String>)> {
        vec![
            (ENV_MODE.to_owned(), Some(self.mode.as_str().to_owned())),
            (ENV_RATIO.to_owned(), Some(self.ratio.to_string())),
            (
                ENV_LATENCY_MS.to_owned(),
                Some(self.latency.as_millis().to_string()),
            ),
        ]
    }

    /// Reads the settings from an environment (`get` looks a variable up).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the variable that does not parse.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mode = match get(ENV_MODE).as_deref().map(str::trim) {
            None | Some("") => Mode::default(),
            Some(name) => Mode::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Mode::ALL.iter().map(|m| m.as_str()).collect();
                Error::invalid(
                    ENV_MODE,
                    format!("{name:?} is not one of {}", known.join(", ")),
                )
            })?,
        };
        let ratio = match get(ENV_RATIO).filter(|v| !v.trim().is_empty()) {
            None => 1.0,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| Error::invalid(ENV_RATIO, format!("{v:?} is not a number")))?,
        };
        let latency = match get(ENV_LATENCY_MS).filter(|v| !v.trim().is_empty()) {
            None => Duration::ZERO,
            Some(v) => Duration::from_millis(v.trim().parse().map_err(|_| {
                Error::invalid(ENV_LATENCY_MS, format!("{v:?} is not whole milliseconds"))
            })?),
        };
        let settings = Self {
            mode,
            ratio,
            latency,
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// One SQS record as the victim sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// SQS message id (the batch item failure identifier).
    pub message_id: String,
    /// Body.
    pub body: String,
    /// `ApproximateReceiveCount`.
    pub receive_count: u32,
}

/// What to do with a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answer, reporting the records at these positions as failed.
    Respond {
        /// Positions of the failed records.
        failed: Vec<usize>,
    },
    /// Fail the invocation.
    Error,
    /// Abort the process.
    Crash,
}

/// A number in `[0, 1)` that is the same for the same message and attempt, so a retried
/// decision is reproducible from the ledger and the logs.
fn chance(message_id: &str, receive_count: u32, salt: u64) -> f64 {
    // FNV-1a over the id: stable across builds, unlike `DefaultHasher`.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in message_id.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    ChaCha8Rng::seed_from_u64(hash ^ u64::from(receive_count) ^ salt).random()
}

/// Decides what happens to a batch under `settings`. Pure.
pub fn plan(settings: &Settings, records: &[Record]) -> Outcome {
    let hit = |record: &Record, salt| {
        chance(&record.message_id, record.receive_count, salt) < settings.ratio
    };
    match settings.mode {
        Mode::Healthy => Outcome::Respond { failed: Vec::new() },
        Mode::Fail => Outcome::Respond {
            failed: records
                .iter()
                .enumerate()
                .filter(|(_, r)| hit(r, 1))
                .map(|(i, _)| i)
                .collect(),
        },
        // One decision per batch, keyed on its first record.
        Mode::Error | Mode::Crash => match records.first() {
            Some(first) if hit(first, 2) => {
                if settings.mode == Mode::Error {
                    Outcome::Error
                } else {
                    Outcome::Crash
                }
            }
            _ => Outcome::Respond { failed: Vec::new() },
        },
    }
}

/// Errors the victim answers with.
#[derive(Debug, thiserror::Error)]
pub enum VictimError {
    /// The failure was injected on purpose.
    #[error("injected failure of a batch of {0} messages")]
    Injected(usize),
    /// The ledger could not be written, so the batch must be retried.
    #[error("ledger write failed, the batch will be retried: {0}")]
    Ledger(#[source] Error),
}

impl From<VictimError> for lambda_runtime::Diagnostic {
    fn from(err: VictimError) -> Self {
        let error_type = match &err {
            VictimError::Injected(_) => "Victim.Injected",
            VictimError::Ledger(_) => "Victim.Ledger",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// Where the victim writes its ledger: a queue it can send messages to
/// ([`crate::aws::Queues`] in the Lambda).
pub trait LedgerQueue: Send + Sync {
    /// Sends `body` as one message to the queue at `url`.
    ///
    /// # Errors
    /// When the message was not accepted (the victim then fails the batch, so it is retried).
    fn send(&self, url: &str, body: String) -> impl Future<Output = Result<()>> + Send;
}

/// The victim's handler state.
#[derive(Debug, Clone)]
pub struct Victim<Q> {
    queues: Q,
    ledger_url: String,
    settings: Settings,
}

impl<Q: LedgerQueue> Victim<Q> {
    /// A victim writing to `ledger_url` through `queues`.
    pub fn new(queues: Q, ledger_url: String, settings: Settings) -> Self {
        Self {
            queues,
            ledger_url,
            settings,
        }
    }

    /// Handles one SQS batch; returns the batch response (`batchItemFailures`).
    ///
    /// # Errors
    /// [`VictimError::Injected`] in `error` mode, [`VictimError::Ledger`] when the ledger
    /// cannot record what was processed.
    pub async fn handle(&self, records: &[Record], request_id: &str) -> Result<Value, VictimError> {
        if !self.settings.latency.is_zero() {
            tokio::time::sleep(self.settings.latency).await;
        }
        let outcome = plan(&self.settings, records);
        let at_ms = Utc::now().timestamp_millis();
        let all: Vec<usize> = (0..records.len()).collect();
        match outcome {
            Outcome::Crash => {
                eprintln!(
                    "victim: crashing on purpose in a batch of {}",
                    records.len()
                );
                // abort, not panic: lambda_runtime would catch a panic and answer tidily.
                std::process::abort();
            }
            Outcome::Error => {
                // Best effort: a lost "failed" record only makes the report less detailed.
                let failed =
                    LedgerRecord::for_batch(records, &all, LedgerKind::Failed, at_ms, request_id);
                if let Err(err) = self.write(failed).await {
                    eprintln!("victim: could not record failed attempts: {err}");
                }
                Err(VictimError::Injected(records.len()))
            }
            Outcome::Respond { failed } => {
                let processed: Vec<usize> = all
                    .iter()
                    .copied()
                    .filter(|i| !failed.contains(i))
                    .collect();
                let done = LedgerRecord::for_batch(
                    records,
                    &processed,
                    LedgerKind::Processed,
                    at_ms,
                    request_id,
                );
                self.write(done).await.map_err(VictimError::Ledger)?;
                if !failed.is_empty() {
                    let attempts = LedgerRecord::for_batch(
                        records,
                        &failed,
                        LedgerKind::Failed,
                        at_ms,
                        request_id,
                    );
                    if let Err(err) = self.write(attempts).await {
                        eprintln!("victim: could not record failed attempts: {err}");
                    }
                }
                println!(
                    "victim: processed {} of {} (mode {})",
                    processed.len(),
                    records.len(),
                    self.settings.mode.as_str()
                );
                let failures: Vec<Value> = failed
                    .iter()
                    .map(|i| json!({ "itemIdentifier": records[*i].message_id }))
                    .collect();
                Ok(json!({ "batchItemFailures": failures }))
            }
        }
    }

    async fn write(&self, records: Vec<LedgerRecord>) -> Result<()> {
        for record in records {
            let body = serde_json::to_string(&record).map_err(|source| Error::Json {
                what: "a ledger record".to_owned(),
                source,
            })?;
            self.queues.send(&self.ledger_url, body).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::flood::payload::{PayloadSpec, SizeDist, Stamp};

    /// Records of messages 0..n of run `run-1`, with the flood's real bodies.
    fn records(n: usize) -> Vec<Record> {
        let payload = PayloadSpec::new("run-1", 1, SizeDist::Fixed(100)).unwrap();
        (0..n)
            .map(|i| Record {
                message_id: format!("m-{i}"),
                body: payload.body(i as u64, 0),
                receive_count: 1,
            })
            .collect()
    }

    /// A ledger queue in memory that keeps what it is sent, or refuses everything.
    #[derive(Debug, Default)]
    struct MemoryLedger {
        sent: Mutex<Vec<(String, LedgerRecord)>>,
        refuse: bool,
    }

    impl LedgerQueue for MemoryLedger {
        async fn send(&self, url: &str, body: String) -> Result<()> {
            if self.refuse {
                return Err(Error::invalid("ledger", "refused by the test"));
            }
            let record = serde_json::from_str(&body).expect("a ledger record");
            self.sent.lock().unwrap().push((url.to_owned(), record));
            Ok(())
        }
    }

    fn settings(mode: Mode, ratio: f64) -> Settings {
        Settings {
            mode,
            ratio,
            latency: Duration::ZERO,
        }
    }

    #[test]
    fn settings_round_trip_through_the_environment() {
        let settings = Settings {
            mode: Mode::Fail,
            ratio: 0.25,
            latency: Duration::from_millis(150),
        };
        let env: std::collections::HashMap<String, String> = settings
            .to_env()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        assert_eq!(
            Settings::from_env(|k| env.get(k).cloned()).unwrap(),
            settings
        );
        assert_eq!(Settings::from_env(|_| None).unwrap(), Settings::default());
    }

    #[test]
    fn every_mode_has_one_name_in_the_environment_and_in_drill_specs() {
        for mode in Mode::ALL {
            assert_eq!(Mode::parse(mode.as_str()), Some(mode));
            let spec: Settings = toml::from_str(&format!("mode = {:?}", mode.as_str())).unwrap();
            assert_eq!(spec.mode, mode);
        }
    }

    #[test]
    fn bad_settings_name_the_variable() {
        let err =
            Settings::from_env(|k| (k == ENV_MODE).then(|| "explode".to_owned())).unwrap_err();
        assert!(err.to_string().contains(ENV_MODE), "{err}");
        let err = Settings::from_env(|k| (k == ENV_RATIO).then(|| "2".to_owned())).unwrap_err();
        assert!(err.to_string().contains("ratio"), "{err}");
    }

    #[test]
    fn a_healthy_victim_fails_nothing_and_full_ratios_hit_everything() {
        let batch = records(10);
        assert_eq!(
            plan(&Settings::default(), &batch),
            Outcome::Respond { failed: vec![] }
        );
        assert_eq!(
            plan(&settings(Mode::Fail, 1.0), &batch),
            Outcome::Respond {
                failed: (0..10).collect()
            }
        );
        assert_eq!(plan(&settings(Mode::Error, 1.0), &batch), Outcome::Error);
        assert_eq!(plan(&settings(Mode::Crash, 1.0), &batch), Outcome::Crash);
        assert_eq!(
            plan(&settings(Mode::Error, 0.0), &batch),
            Outcome::Respond { failed: vec![] }
        );
    }

    #[test]
    fn a_partial_ratio_fails_about_that_share_and_decides_the_same_way_twice() {
        let batch = records(2000);
        let Outcome::Respond { failed } = plan(&settings(Mode::Fail, 0.3), &batch) else {
            panic!("fail mode answers");
        };
        assert!(
            (500..700).contains(&failed.len()),
            "{} of 2000",
            failed.len()
        );
        assert_eq!(
            plan(&settings(Mode::Fail, 0.3), &batch),
            Outcome::Respond { failed }
        );
    }

    #[tokio::test]
    async fn a_failing_victim_records_both_kinds_on_the_ledger_and_reports_its_failures() {
        let victim = Victim::new(
            MemoryLedger::default(),
            "ledger".to_owned(),
            settings(Mode::Fail, 0.5),
        );
        let batch = records(20);
        let response = victim.handle(&batch, "req-1").await.unwrap();
        let reported: Vec<&str> = response["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap())
            .collect();
        assert!(!reported.is_empty() && reported.len() < 20, "{reported:?}");
        let sent = victim.queues.sent.lock().unwrap();
        let [(url, processed), (_, failed)] = sent.as_slice() else {
            panic!("expected a processed and a failed record: {sent:?}");
        };
        assert_eq!(url, "ledger");
        assert_eq!(
            (processed.kind, failed.kind),
            (LedgerKind::Processed, LedgerKind::Failed)
        );
        assert_eq!(processed.seqs.len() + failed.seqs.len(), 20);
        let failed_ids: Vec<String> = failed.seqs.iter().map(|s| format!("m-{s}")).collect();
        assert_eq!(failed_ids, reported);
        assert_eq!(Stamp::parse(&batch[0].body).unwrap().run, processed.run);
    }

    #[tokio::test]
    async fn a_ledger_that_refuses_the_record_fails_the_batch_so_it_is_retried() {
        let ledger = MemoryLedger {
            refuse: true,
            ..MemoryLedger::default()
        };
        let victim = Victim::new(ledger, "ledger".to_owned(), Settings::default());
        let err = victim.handle(&records(3), "req-1").await.unwrap_err();
        assert!(matches!(err, VictimError::Ledger(_)), "{err}");
    }
}
