//! [`Fuse`]: wraps a batch handler, counts, decides, signals.

use std::collections::HashSet;
use std::future::Future;
use std::io::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::clock::{Clock, TokioClock};
use crate::config::{ConfigError, ENV_LAMBDA_FUNCTION_NAME, FuseConfig};
use crate::signal::{
    SIGNAL_VERSION, Signal, SignalKind, SignalOrigin, SignalThreshold, SignalWindow, Tag,
};
use crate::tripwire::{FuseStats, Suppression, Tripwire, Verdict};
use crate::window::Counts;
use crate::{SendError, SignalSender, emf};

/// What the fuse did after one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The window is not over the threshold.
    Below,
    /// A signal was sent.
    Sent,
    /// A signal was due and could not be sent (logged and counted).
    SendFailed(SendError),
    /// A signal was due and held back.
    Suppressed(Suppression),
}

/// The window after one batch, and what the fuse did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The window's counts, this batch included.
    pub window: Counts,
    /// What the fuse did.
    pub action: Action,
}

/// The fuse of one consumer's execution environment. Build it once (in a `static` `OnceLock`
/// or owned by the handler) so its window outlives the batches; it is `Sync`, and a mutex
/// (never held across an `.await`) keeps its counts consistent if batches ever overlap.
#[derive(Debug)]
pub struct Fuse<S, C = TokioClock> {
    config: FuseConfig,
    sender: S,
    clock: C,
    function: Option<String>,
    state: Mutex<Tripwire>,
}

#[cfg(feature = "lambda")]
impl Fuse<crate::LambdaSender> {
    /// A fuse sending with `client` to `config.controller`.
    ///
    /// # Errors
    /// A configuration [`FuseConfig::validate`] refuses.
    pub fn with_lambda(
        config: FuseConfig,
        client: aws_sdk_lambda::Client,
    ) -> Result<Self, ConfigError> {
        let sender = crate::LambdaSender::new(client, config.controller.clone());
        Self::new(config, sender)
    }

    /// A fuse configured by the `FLOODGATE_FUSE_*` environment variables, sending with
    /// `client`; `Ok(None)` when `FLOODGATE_FUSE_CIRCUIT` is unset (the fuse is off).
    ///
    /// # Errors
    /// As [`FuseConfig::from_env`].
    pub fn from_env(client: aws_sdk_lambda::Client) -> Result<Option<Self>, ConfigError> {
        FuseConfig::from_env()?
            .map(|config| Self::with_lambda(config, client))
            .transpose()
    }
}

impl<S: SignalSender> Fuse<S> {
    /// A fuse sending with `sender`, on tokio's clock.
    ///
    /// # Errors
    /// A configuration [`FuseConfig::validate`] refuses.
    pub fn new(config: FuseConfig, sender: S) -> Result<Self, ConfigError> {
        Self::with_clock(config, sender, TokioClock::new())
    }
}

impl<S: SignalSender, C: Clock> Fuse<S, C> {
    /// A fuse on `clock`.
    ///
    /// # Errors
    /// A configuration [`FuseConfig::validate`] refuses.
    pub fn with_clock(config: FuseConfig, sender: S, clock: C) -> Result<Self, ConfigError> {
        config.validate()?;
        let function = config.sender_function.clone().or_else(|| {
            std::env::var(ENV_LAMBDA_FUNCTION_NAME)
                .ok()
                .filter(|f| !f.is_empty())
        });
        Ok(Self {
            state: Mutex::new(Tripwire::new(&config)),
            config,
            sender,
            clock,
            function,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FuseConfig {
        &self.config
    }

    /// The counters so far.
    pub fn stats(&self) -> FuseStats {
        self.lock().stats()
    }

    /// The window's counts now.
    pub fn window(&self) -> Counts {
        let now = self.clock.monotonic();
        self.lock().peek(now)
    }

    fn lock(&self) -> MutexGuard<'_, Tripwire> {
        // The state is counters; a panic elsewhere cannot leave them unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `handler` (the consumer's handling of `event`), counts its outcome, signals the
    /// controller if the window is over the threshold, and returns the handler's result
    /// unchanged: an `Err` stays that `Err`, a partial batch response stays as it was.
    ///
    /// `request_id` is the Lambda request id (`LambdaEvent::context.request_id`), carried in the
    /// signal. When a signal is sent, the batch waits for it at most `invoke_timeout`; when it
    /// fails, it is logged and counted, never returned.
    ///
    /// # Errors
    /// The handler's own error, untouched.
    pub async fn guard<E, F>(
        &self,
        event: &SqsEvent,
        request_id: Option<&str>,
        handler: F,
    ) -> Result<SqsBatchResponse, E>
    where
        F: Future<Output = Result<SqsBatchResponse, E>>,
    {
        let result = handler.await;
        let records = event.records.len() as u64;
        let failed = failed_records(event, &result);
        self.observe(records, failed, request_id).await;
        result
    }

    /// Counts a batch of `records` of which `failed` failed (at most `records`), and signals if
    /// due: [`Self::guard`] for handlers that do not fit its shape.
    pub async fn observe(
        &self,
        records: u64,
        failed: u64,
        request_id: Option<&str>,
    ) -> Observation {
        let batch = Counts {
            records,
            failed: failed.min(records),
        };
        let now = self.clock.monotonic();
        let (window, verdict, seconds) = {
            let mut state = self.lock();
            let (window, verdict) = state.observe(now, batch);
            (window, verdict, state.window_seconds())
        };
        if self.config.emf {
            let line = emf::render(&self.config.circuit, self.clock.wall(), batch, window);
            // A metric line that cannot be written is lost; the batch goes on.
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        let action = match verdict {
            Verdict::Below => Action::Below,
            Verdict::Suppressed(why) => {
                tracing::debug!(
                    circuit = %self.config.circuit,
                    records = window.records,
                    failed = window.failed,
                    suppressed_by = ?why,
                    "floodgate fuse: over the threshold, signal held back"
                );
                Action::Suppressed(why)
            }
            Verdict::Send => self.send(now, window, seconds, request_id).await,
        };
        Observation { window, action }
    }

    async fn send(
        &self,
        at: Duration,
        window: Counts,
        seconds: u64,
        request_id: Option<&str>,
    ) -> Action {
        // Settles the attempt as failed if this future is dropped mid-send, so a cancelled
        // batch cannot leave the fuse waiting for an answer forever.
        let mut pending = Pending {
            fuse: self,
            at,
            settled: false,
        };
        let signal = self.signal(window, seconds, request_id);
        let timeout = self.config.invoke_timeout;
        let outcome = match tokio::time::timeout(timeout, self.sender.send(&signal)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(SendError::Timeout(timeout)),
        };
        pending.settle(outcome.is_ok());
        match outcome {
            Ok(()) => {
                tracing::info!(
                    circuit = %self.config.circuit,
                    controller = %self.config.controller,
                    records = window.records,
                    failed = window.failed,
                    window_seconds = seconds,
                    "floodgate fuse: failures over the threshold, signal sent to the controller"
                );
                Action::Sent
            }
            Err(error) => {
                tracing::warn!(
                    circuit = %self.config.circuit,
                    controller = %self.config.controller,
                    records = window.records,
                    failed = window.failed,
                    error.kind = error.kind(),
                    error = %error,
                    retry_after_secs = self.config.failure_back_off.as_secs(),
                    "floodgate fuse: failures over the threshold, signal not sent"
                );
                Action::SendFailed(error)
            }
        }
    }

    fn signal(&self, window: Counts, seconds: u64, request_id: Option<&str>) -> Signal {
        let sent_at: DateTime<Utc> = self.clock.wall().into();
        Signal {
            floodgate: Tag::Signal,
            version: SIGNAL_VERSION,
            circuit: self.config.circuit.clone(),
            kind: SignalKind::RecordFailures,
            window: SignalWindow {
                seconds,
                records: window.records,
                failed: window.failed,
            },
            threshold: SignalThreshold {
                min_records: self.config.min_records,
                max_failure_ratio: self.config.max_failure_ratio,
            },
            sender: SignalOrigin {
                function: self.function.clone(),
                request_id: request_id.map(str::to_owned),
            },
            sent_at: sent_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

struct Pending<'a, S: SignalSender, C: Clock> {
    fuse: &'a Fuse<S, C>,
    at: Duration,
    settled: bool,
}

impl<S: SignalSender, C: Clock> Pending<'_, S, C> {
    fn settle(&mut self, sent: bool) {
        if !self.settled {
            self.settled = true;
            self.fuse.lock().settle(self.at, sent);
        }
    }
}

impl<S: SignalSender, C: Clock> Drop for Pending<'_, S, C> {
    fn drop(&mut self) {
        self.settle(false);
    }
}

/// The records of `event` that Lambda treats as failed after `result`, assuming the mapping
/// reports batch item failures (`ReportBatchItemFailures`):
///
/// - an `Err`: every record;
/// - an `Ok` with an empty `batch_item_failures`: none;
/// - an `Ok` naming message ids of the batch: those (each counted once);
/// - an `Ok` with an empty identifier or one that is not a message id of the batch: every
///   record, as Lambda then retries the whole batch.
pub fn failed_records<E>(event: &SqsEvent, result: &Result<SqsBatchResponse, E>) -> u64 {
    let all = event.records.len() as u64;
    let Ok(response) = result else {
        return all;
    };
    if response.batch_item_failures.is_empty() {
        return 0;
    }
    let ids: HashSet<&str> = event
        .records
        .iter()
        .filter_map(|r| r.message_id.as_deref())
        .collect();
    let mut failed = HashSet::new();
    for failure in &response.batch_item_failures {
        let id = failure.item_identifier.as_str();
        if id.is_empty() || !ids.contains(id) {
            return all;
        }
        failed.insert(id);
    }
    failed.len() as u64
}
