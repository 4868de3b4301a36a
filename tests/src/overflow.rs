//! A test bed for the overflow against LocalStack: a source queue with a DLQ, an overflow
//! queue, a manual CloudWatch alarm, and a controller configuration naming them — driven in
//! process through `breaker`'s real SDK adapters ([`breaker::aws::AwsPorts`]), optionally
//! wrapped in [`floodgate_testkit::Faulty`] to fail chosen batch entries.
//!
//! With [`BedSpec::consumer`], the bed also deploys the `probe-lambda` consumer on the source
//! through an event source mapping, so whole reconciles (trip, close, replay) run against the
//! real mapping and the consumer's ledger shows what it processed.

use breaker::aws::fault::AwsCall;
use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeNameForSends,
    MessageSystemAttributeValue, QueueAttributeName,
};
use breaker::aws::AwsPorts;
use chrono::{DateTime, Utc};
use floodgate_core::config::Circuit;
use floodgate_core::overflow::batch::MOVED_ATTRIBUTE;
use floodgate_core::overflow::{
    Direction, Limits, Pacer, Provenance, Tally, Transfer, run, transfer,
};
use floodgate_core::policy::{CircuitState, Phase};
use floodgate_core::ports::{Clock, MessageAttribute, OutgoingMessage, Ports, Queues, Retrying};
use floodgate_core::protocol::OverflowReport;
use floodgate_core::reconcile::Context;
use floodgate_core::retry::RetryPolicy;
use floodgate_core::{Controller, ControllerConfig};
use floodgate_testkit::MemoryRecorder;
use floodgate_testkit::localstack::{ConsumerSpec, Names, Stack, StackSpec};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    AlarmSource, AlarmSpec, HarnessError, LEDGER_QUEUE_URL_ENV, LocalAws, PROBE_BIN, PROBE_PACKAGE,
    Queue,
};

pub use floodgate_testkit::localstack::Consumer;

/// The mapping UUID of a bed without a consumer: never called, since only the overflow step
/// runs there.
const NO_MAPPING: &str = "00000000-0000-4000-8000-000000000000";

/// The `breaker` adapters for LocalStack, configured as the controller configures them (SDK
/// retries off: the crate's own policy retries).
pub async fn breaker_ports() -> AwsPorts {
    let sdk = crate::for_localstack(breaker::aws::config_loader())
        .load()
        .await;
    AwsPorts::new(&sdk)
}

/// What [`OverflowBed::deploy`] builds.
#[derive(Debug, Clone)]
pub struct BedSpec {
    prefix: String,
    overflow: Value,
    overflow_queue: Vec<(QueueAttributeName, String)>,
    consumer: bool,
}

impl BedSpec {
    /// Queues named from `prefix` (at most 20 characters), ceiling 10, rates of 500 per
    /// second, replay after 60 s, no consumer.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            overflow: json!({
                "ceiling": 10,
                "move_rate_per_sec": 500,
                "max_moves_per_invocation": 1000,
                "replay_after_secs": 60,
                "replay_rate_per_sec": 500,
                "max_replays_per_invocation": 1000,
            }),
            overflow_queue: Vec::new(),
            consumer: false,
        }
    }

    /// Sets a field of the overflow block.
    #[must_use]
    pub fn overflow(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.overflow[field] = value.into();
        self
    }

    /// Adds an attribute of the overflow queue (e.g. a small `MaximumMessageSize`).
    #[must_use]
    pub fn overflow_queue_attribute(mut self, name: QueueAttributeName, value: &str) -> Self {
        self.overflow_queue.push((name, value.to_owned()));
        self
    }

    /// Also deploys the consumer and its event source mapping.
    #[must_use]
    pub fn consumer(mut self) -> Self {
        self.consumer = true;
        self
    }
}

/// Queues, an alarm and a configuration for one circuit with an overflow queue.
#[derive(Debug)]
pub struct OverflowBed {
    /// The harness clients.
    pub aws: LocalAws,
    /// `breaker`'s SDK adapters.
    pub ports: AwsPorts,
    /// The source queue (redrive to `dlq` after 5 receives).
    pub source: Queue,
    /// The source's DLQ.
    pub dlq: Queue,
    /// The overflow queue.
    pub overflow: Queue,
    /// The circuit's errors alarm (moved only by `SetAlarmState`).
    pub alarm: String,
    /// The consumer (`probe-lambda`), when deployed.
    pub consumer: Option<Consumer>,
    /// The controller configuration: one circuit over these resources.
    pub config: ControllerConfig,
}

impl OverflowBed {
    /// Creates the resources of `spec`, with the alarm in OK.
    ///
    /// # Errors
    /// Whatever creating a resource fails with; [`HarnessError::Aws`] for a configuration the
    /// controller refuses.
    pub async fn deploy(spec: BedSpec) -> Result<Self, HarnessError> {
        let aws = LocalAws::connect().await?;
        let mut stack = StackSpec::new(Names::unique(&spec.prefix))
            .visibility_timeout(Duration::from_secs(5))
            .overflow_queue(spec.overflow_queue)
            .alarms([AlarmSpec {
                kind: "errors",
                source: AlarmSource::ManualWithPeriod { period_secs: 60 },
            }])
            .circuit_field("levels", json!({"max": 4, "safe": 2, "probe": 2}))
            .circuit_field("timings", crate::fast_timings())
            .circuit_field("overflow", spec.overflow);
        stack = if spec.consumer {
            let probe = crate::lambda_zip(PROBE_PACKAGE, PROBE_BIN)?;
            stack.consumer(ConsumerSpec::new(probe, LEDGER_QUEUE_URL_ENV))
        } else {
            stack
                .circuit_field("event_source_mapping_uuid", json!(NO_MAPPING))
                .circuit_field("function_name", json!("none"))
        };
        let stack = Stack::deploy(&aws, &stack).await?;
        let config = ControllerConfig::from_json(&stack.config.to_string()).map_err(|e| {
            HarnessError::Aws {
                call: "ControllerConfig::from_json",
                cause: e.to_string(),
            }
        })?;
        let missing = |field| HarnessError::Missing {
            call: "Stack::deploy",
            field,
        };
        let bed = Self {
            aws,
            ports: breaker_ports().await,
            overflow: stack.overflow.ok_or(missing("overflow queue"))?,
            alarm: stack
                .alarms
                .into_iter()
                .next()
                .map(|alarm| alarm.name)
                .ok_or(missing("alarm"))?,
            source: stack.source,
            dlq: stack.dlq,
            consumer: stack.consumer,
            config,
        };
        bed.set_alarm(StateValue::Ok).await?;
        Ok(bed)
    }

    /// The circuit.
    pub fn circuit(&self) -> &Circuit {
        &self.config.circuits()[0]
    }

    /// A controller over the bed's resources (for beds with a consumer), metrics kept in
    /// memory.
    pub fn controller(&self) -> Controller<AwsPorts> {
        Controller::new(self.config.clone(), self.ports.clone())
            .with_recorder(std::sync::Arc::new(MemoryRecorder::default()))
    }

    /// Moves the circuit's alarm to `state`.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when CloudWatch refuses.
    pub async fn set_alarm(&self, state: StateValue) -> Result<(), HarnessError> {
        self.aws
            .cloudwatch
            .set_alarm_state()
            .alarm_name(&self.alarm)
            .state_value(state)
            .state_reason("floodgate overflow test")
            .send()
            .await
            .call("SetAlarmState")?;
        Ok(())
    }

    /// The overflow step of one reconcile, as `reconcile` runs it: the source's depth read
    /// first, then [`floodgate_core::overflow::run`] for a circuit in `state` at `now`, through
    /// `ports`.
    ///
    /// # Panics
    /// If the bed's circuit has no overflow (it always has).
    pub async fn run<P: Ports>(
        &self,
        ports: &P,
        state: &CircuitState,
        now: DateTime<Utc>,
    ) -> OverflowReport {
        let recorder = MemoryRecorder::default();
        let ports = Retrying::new(ports, RetryPolicy::default());
        let ctx = Context {
            ports: &ports,
            recorder: &recorder,
        };
        let depth = ports.queue_depth(&self.source.url).await.ok();
        run(
            ctx,
            self.circuit(),
            state,
            depth,
            now,
            floodgate_core::reconcile::Budget::for_next(&ports, std::time::Duration::from_mins(10)),
        )
        .await
        .expect("the bed's circuit has an overflow queue")
    }

    /// A move from the source to the overflow queue as the step makes it, but with the given
    /// visibility timeouts (short ones let a test see the messages it left hidden again) and
    /// without the queues' limits (so SQS itself judges every send).
    pub fn move_job(&self, in_flight: Duration, hold: Duration) -> Transfer {
        Transfer {
            circuit: self.circuit().name().to_owned(),
            direction: Direction::Move,
            from: self.source.url.clone(),
            to: self.overflow.url.clone(),
            reason: "test".to_owned(),
            in_flight,
            hold,
            limits: Limits::default(),
        }
    }

    /// Puts `n` distinct messages into the overflow queue as a move from the source leaves
    /// them (their provenance recording `replays` replays and `receives` deliveries in the
    /// source), through `breaker`'s adapter; returns their bodies.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when SQS refuses.
    pub async fn park(
        &self,
        n: usize,
        replays: u32,
        receives: u32,
    ) -> Result<Vec<String>, HarnessError> {
        let parked = bodies(&format!("{}-parked", self.overflow.name), n);
        for chunk in parked.chunks(10) {
            let messages: Vec<OutgoingMessage> = chunk
                .iter()
                .map(|body| {
                    let provenance = Provenance {
                        circuit: self.circuit().name().to_owned(),
                        from: self.source.url.clone(),
                        to: self.overflow.url.clone(),
                        at: Utc::now(),
                        reason: "parked by the test".to_owned(),
                        message_id: "m-test".to_owned(),
                        sent_at: None,
                        hops: 1 + 2 * replays,
                        replays,
                        receives,
                        cause: None,
                    };
                    let mut message = OutgoingMessage::new(body.clone());
                    message.attributes.insert(
                        MOVED_ATTRIBUTE.to_owned(),
                        MessageAttribute::string(
                            serde_json::to_string(&provenance).unwrap_or_default(),
                        ),
                    );
                    message
                })
                .collect();
            let results = self
                .ports
                .send_messages(&self.overflow.url, &messages)
                .await
                .map_err(|e| HarnessError::Aws {
                    call: "SendMessageBatch",
                    cause: e.to_string(),
                })?;
            if let Some(Err(error)) = results.iter().find(|r| r.is_err()) {
                return Err(HarnessError::Aws {
                    call: "SendMessageBatch",
                    cause: format!("{error:?}"),
                });
            }
        }
        Ok(parked)
    }

    /// [`floodgate_core::overflow::transfer`] of up to `count` messages through `ports`, unpaced,
    /// under the default retry policy, never stopped early.
    pub async fn transfer<Q: Queues + Clock>(
        &self,
        ports: &Q,
        job: &Transfer,
        count: u64,
    ) -> Tally {
        transfer(
            &Retrying::new(ports, RetryPolicy::default()),
            &Pacer::unlimited(),
            job,
            count,
            Utc::now(),
            async |_| Ok(u64::MAX),
        )
        .await
    }

    /// Sends `n` distinct JSON bodies (see [`bodies`]) to `queue`; returns the bodies and
    /// their message ids.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when SQS refuses.
    pub async fn fill(
        &self,
        queue: &Queue,
        n: usize,
    ) -> Result<(Vec<String>, Vec<String>), HarnessError> {
        let sent = bodies(&queue.name, n);
        let ids = self.aws.send_bodies(queue, &sent).await?;
        Ok((sent, ids))
    }

    /// Sends `body` to the source with `attributes` (`(name, data type, value)`; `Binary`
    /// types take the value's bytes) and an optional X-Ray trace header.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when SQS refuses.
    pub async fn send_with_attributes(
        &self,
        body: &str,
        attributes: &[(&str, &str, &str)],
        trace_header: Option<&str>,
    ) -> Result<(), HarnessError> {
        let mut send = self
            .aws
            .sqs
            .send_message()
            .queue_url(&self.source.url)
            .message_body(body);
        for (name, data_type, value) in attributes {
            let attribute = MessageAttributeValue::builder().data_type(*data_type);
            let attribute = if data_type.starts_with("Binary") {
                attribute.binary_value(Blob::new(value.as_bytes()))
            } else {
                attribute.string_value(*value)
            };
            send = send.message_attributes(
                *name,
                attribute
                    .build()
                    .map_err(HarnessError::build("MessageAttributeValue"))?,
            );
        }
        if let Some(trace) = trace_header {
            send = send.message_system_attributes(
                MessageSystemAttributeNameForSends::AwsTraceHeader,
                MessageSystemAttributeValue::builder()
                    .data_type("String")
                    .string_value(trace)
                    .build()
                    .map_err(HarnessError::build("MessageSystemAttributeValue"))?,
            );
        }
        send.send().await.call("SendMessage")?;
        Ok(())
    }

    /// Receives and deletes everything in `queue` (message attributes and system attributes
    /// included) until it has been empty for two long polls in a row, or `timeout` passes.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when SQS fails.
    pub async fn drain(
        &self,
        queue: &Queue,
        timeout: Duration,
    ) -> Result<Vec<Message>, HarnessError> {
        let deadline = Instant::now() + timeout;
        let mut drained = Vec::new();
        let mut empty_polls = 0;
        while empty_polls < 2 && Instant::now() < deadline {
            let messages = self.aws.take(queue).await?;
            if messages.is_empty() {
                empty_polls += 1;
                continue;
            }
            empty_polls = 0;
            drained.extend(messages);
        }
        Ok(drained)
    }

    /// Visible plus in-flight messages of `queue`.
    ///
    /// # Errors
    /// [`HarnessError::Aws`] when SQS fails.
    pub async fn count(&self, queue: &Queue) -> Result<u64, HarnessError> {
        let (visible, in_flight) = self.aws.queue_depth(queue).await?;
        Ok(visible + in_flight)
    }
}

/// `n` distinct JSON bodies tagged with `tag`.
pub fn bodies(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|seq| json!({"tag": tag, "seq": seq}).to_string())
        .collect()
}

/// A live circuit (no override, no dry-run) in `phase`.
pub fn in_phase(phase: Phase) -> CircuitState {
    CircuitState {
        phase,
        override_: None,
        dry_run: false,
        pending: false,
    }
}

/// The provenance a message carries in attribute `name`, if it carries one.
pub fn provenance_of(message: &Message, name: &str) -> Option<Provenance> {
    message
        .message_attributes()
        .and_then(|a| a.get(name))
        .and_then(MessageAttributeValue::string_value)
        .and_then(|json| serde_json::from_str(json).ok())
}

/// The bodies of `messages`, parsed as JSON where they are (so a body re-serialised on the way
/// compares equal to the original), as a multiset.
pub fn body_multiset<'a>(bodies: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut all: Vec<String> = bodies
        .into_iter()
        .map(|b| serde_json::from_str::<Value>(b).map_or_else(|_| b.to_owned(), |v| v.to_string()))
        .collect();
    all.sort();
    all
}

/// The distinct bodies among `bodies`, parsed as JSON where they are.
pub fn body_set<'a>(bodies: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    body_multiset(bodies).into_iter().collect()
}
