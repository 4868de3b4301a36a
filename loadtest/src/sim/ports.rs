//! The core's ports over the simulated world: what the shipped controller calls when it runs
//! in the simulator. Every call takes the world's API latency (time moves on meanwhile);
//! Lambda control-plane calls also take a token from the account's budget and are refused
//! with `TooManyRequestsException` when it is empty; sleeping runs the world forward.
//!
//! The answers are what AWS answers (same fields, same errors): a mapping in transition
//! refuses updates (`ResourceInUseException`), a stale receipt handle fails its entry, a
//! receive past `maxReceiveCount` dead-letters the message, and so on; see the models in
//! [`crate::sim`].

use std::collections::BTreeMap;
use std::future::{Future, ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use floodgate_core::Operation;
use floodgate_core::clock::Clock;
use floodgate_core::error::{AwsFault, Error};
use floodgate_core::policy::{AlarmReading, ProbeOutcome, ProbeTraffic};
use floodgate_core::ports::{
    AlarmDescription, Alarms, Concurrency, EntryError, EntryResult, EventSourceMappings, Mapping,
    MappingUpdate, OutgoingMessage, QueueAttributes, QueueStatus, Queues, ReceivedMessage,
    RedrivePolicy,
};

use crate::sim::cloudwatch::{AlarmSource, MetricKey};
use crate::sim::mapping::UpdateRefused;
use crate::sim::message::Msg;
use crate::sim::names::Names;
use crate::sim::queue::{Receipt, SimQueue};
use crate::sim::time::SimTime;
use crate::sim::world::{QueueRole, World};

/// Wall-clock time of the simulation's start: a fixed instant, so runs are reproducible.
pub fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default() // 2026-01-01T00:00:00Z
}

/// The wall-clock time of `at`.
pub fn wall(at: SimTime) -> DateTime<Utc> {
    epoch() + TimeDelta::milliseconds(i64::try_from(at.as_millis()).unwrap_or(i64::MAX))
}

/// The simulated time of wall-clock `at` (the start, for anything earlier).
pub fn sim_time(at: DateTime<Utc>) -> SimTime {
    let ms = (at - epoch()).num_milliseconds();
    SimTime::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The world behind the core's ports.
#[derive(Debug, Clone)]
pub struct SimPorts {
    world: Arc<Mutex<World>>,
}

fn not_found(operation: Operation, what: &str) -> Error {
    Error::aws(
        operation,
        AwsFault::NotFound,
        Some("ResourceNotFoundException".to_owned()),
        &format!("{what} does not exist"),
    )
}

impl SimPorts {
    /// Ports over `world`.
    pub fn new(world: Arc<Mutex<World>>) -> Self {
        Self { world }
    }

    /// The shared world.
    pub fn world(&self) -> &Arc<Mutex<World>> {
        &self.world
    }

    /// Runs `call` on the world after one API latency.
    fn call<R>(&self, call: impl FnOnce(&mut World) -> R) -> R {
        let mut world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        let arrives = world.now() + world.api_latency;
        world.run_until(arrives);
        call(&mut world)
    }

    /// Runs a Lambda control-plane call: one token of the budget, or throttled.
    fn control<R>(
        &self,
        operation: Operation,
        call: impl FnOnce(&mut World) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.call(|world| {
            let now = world.now();
            if world.control_plane.admit(now) {
                call(world)
            } else {
                Err(Error::aws(
                    operation,
                    AwsFault::Throttled,
                    Some("TooManyRequestsException".to_owned()),
                    "Rate exceeded",
                ))
            }
        })
    }

    fn queue_call<R>(
        &self,
        operation: Operation,
        url: &str,
        call: impl FnOnce(&mut World, usize, QueueRole) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.call(|world| {
            let (circuit, role) = world.queue_by_url(url).ok_or_else(|| {
                Error::aws(
                    operation,
                    AwsFault::NotFound,
                    Some("AWS.SimpleQueueService.NonExistentQueue".to_owned()),
                    "The specified queue does not exist",
                )
            })?;
            call(world, circuit, role)
        })
    }
}

impl SimPorts {
    /// A batch call over receipt handles: `apply` to each message, an entry error with
    /// `stale_code` when it says `false` (the receipt is not the message's latest).
    fn each_receipt(
        &self,
        operation: Operation,
        url: &str,
        handles: &[String],
        mut apply: impl FnMut(&mut SimQueue<Msg>, SimTime, Receipt) -> bool,
        stale_code: &str,
    ) -> Result<Vec<EntryResult>, Error> {
        self.queue_call(operation, url, |world, c, role| {
            let now = world.now();
            let mut queue = queue_of(world, c, role);
            Ok(handles
                .iter()
                .map(|handle| {
                    let invalid = |why| entry_error("ReceiptHandleIsInvalid", why, true);
                    let receipt = Receipt::parse(handle).ok_or_else(|| invalid("malformed"))?;
                    let queue = queue.as_deref_mut().ok_or_else(|| invalid("no receipt"))?;
                    if apply(queue, now, receipt) {
                        Ok(())
                    } else {
                        Err(entry_error(stale_code, "stale receipt", true))
                    }
                })
                .collect())
        })
    }
}

impl Clock for SimPorts {
    fn monotonic(&self) -> Duration {
        let world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        Duration::from_millis(world.now().as_millis())
    }

    fn sleep(&self, span: Duration) -> impl Future<Output = ()> + Send {
        let mut world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        // Virtual time counts whole milliseconds: a shorter wait is rounded up, or a waiter
        // asking for a fraction again and again (a rate limiter) would never see time pass.
        let span = Duration::from_millis(
            u64::try_from(span.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX),
        );
        let until = world.now() + span;
        world.run_until(until);
        ready(())
    }
}

impl EventSourceMappings for SimPorts {
    fn get_mapping(&self, uuid: &str) -> impl Future<Output = Result<Mapping, Error>> + Send {
        const OP: Operation = Operation::GetEventSourceMapping;
        ready(self.control(OP, |world| {
            let now = world.now();
            let index = world
                .circuit_by_uuid(uuid)
                .ok_or_else(|| not_found(OP, "the mapping"))?;
            let circuit = &mut world.circuits[index];
            let mapping = &mut circuit.consumer.mapping;
            Ok(Mapping {
                uuid: uuid.to_owned(),
                arn: circuit.names.mapping_arn(),
                function_arn: circuit.names.function_arn(),
                state: mapping.state(now),
                maximum_concurrency: mapping.shown_maximum_concurrency(),
                provisioned: mapping.shown_pollers(),
                last_modified: Some(wall(mapping.last_modified())),
            })
        }))
    }

    fn update_mapping(
        &self,
        uuid: &str,
        update: MappingUpdate,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        const OP: Operation = Operation::UpdateEventSourceMapping;
        ready(self.control(OP, |world| {
            let now = world.now();
            let index = world
                .circuit_by_uuid(uuid)
                .ok_or_else(|| not_found(OP, "the mapping"))?;
            let invalid = |message: &str| {
                Error::aws(
                    OP,
                    AwsFault::Other,
                    Some("InvalidParameterValueException".to_owned()),
                    message,
                )
            };
            world.circuits[index]
                .consumer
                .mapping
                .update_with_pollers(
                    now,
                    update.enabled,
                    update.maximum_concurrency,
                    update.pollers,
                )
                .map_err(|refused| match refused {
                    UpdateRefused::InUse => Error::aws(
                        OP,
                        AwsFault::InUse,
                        Some("ResourceInUseException".to_owned()),
                        "the mapping is being updated",
                    ),
                    UpdateRefused::InvalidMaximumConcurrency => {
                        invalid("MaximumConcurrency must be between 2 and 1000")
                    }
                    UpdateRefused::MaximumConcurrencyInProvisionedMode => invalid(
                        "ScalingConfig and ProvisionedPollerConfig are mutually exclusive",
                    ),
                    UpdateRefused::InvalidPollers => invalid(
                        "MinimumPollers must be 2 to 200, MaximumPollers 2 to 2000 and no lower",
                    ),
                    UpdateRefused::NotProvisioned => invalid(
                        "the simulated mapping is in standard mode (switching modes is not modelled)",
                    ),
                })
        }))
    }

    fn tags(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, Error>> + Send {
        const OP: Operation = Operation::ListTags;
        ready(self.control(OP, |world| {
            let index = world
                .circuit_by_mapping_arn(arn)
                .ok_or_else(|| not_found(OP, "the resource"))?;
            Ok(world.circuits[index].tags.clone())
        }))
    }

    fn tag(
        &self,
        arn: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        const OP: Operation = Operation::TagResource;
        ready(self.control(OP, |world| {
            let index = world
                .circuit_by_mapping_arn(arn)
                .ok_or_else(|| not_found(OP, "the resource"))?;
            world.circuits[index]
                .tags
                .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            Ok(())
        }))
    }
}

impl Concurrency for SimPorts {
    fn reserved_concurrency(
        &self,
        function: &str,
    ) -> impl Future<Output = Result<Option<u32>, Error>> + Send {
        const OP: Operation = Operation::GetFunctionConcurrency;
        ready(self.control(OP, |world| {
            let index = world
                .circuit_by_function(function)
                .ok_or_else(|| not_found(OP, "the function"))?;
            Ok(world.circuits[index].consumer.reserved)
        }))
    }

    fn set_reserved_concurrency(
        &self,
        function: &str,
        reserved: u32,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        const OP: Operation = Operation::PutFunctionConcurrency;
        ready(self.control(OP, |world| {
            let index = world
                .circuit_by_function(function)
                .ok_or_else(|| not_found(OP, "the function"))?;
            world.circuits[index].consumer.reserved = Some(reserved);
            Ok(())
        }))
    }
}

impl Alarms for SimPorts {
    fn describe_alarms(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AlarmDescription>, Error>> + Send {
        ready(self.call(|world| {
            Ok(world
                .circuits
                .iter()
                .flat_map(|c| c.alarms.iter())
                .filter(|a| names.contains(&a.name))
                .map(|a| {
                    let period = Duration::from_secs(u64::from(a.config.period_seconds()));
                    let aws = match &a.source {
                        AlarmSource::Metric(key) => key.namespace.starts_with("AWS/"),
                        AlarmSource::ErrorRate { .. } => true,
                    };
                    // What the controller's CloudWatch adapter reports from DescribeAlarms
                    // (`breaker/src/aws/cloudwatch.rs`, `detection`): it knows the alarm's
                    // configuration, not the world's delays.
                    let delay = AlarmReading::publish_delay(period, aws);
                    AlarmDescription {
                        name: a.name.clone(),
                        state: a.state(),
                        since: wall(a.transitions().last().map_or(SimTime::ZERO, |t| t.0)),
                        detection: Some(AlarmReading::detection(
                            period,
                            a.config.datapoints_to_alarm(),
                            delay,
                        )),
                    }
                })
                .collect())
        }))
    }

    fn function_outcome(
        &self,
        function: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<ProbeTraffic, Error>> + Send {
        ready(self.call(|world| {
            // Per minute, as GetMetricData answers for Lambda's metrics, counting only the
            // minutes already published; the minute `from` falls in is kept apart.
            let now = world.now();
            let published = now - world.profile.service_metric_delay;
            let minute = 60_000;
            let from = sim_time(from).as_millis();
            let to = sim_time(to).as_millis().min(published.as_millis());
            let first = from / minute * minute;
            let whole = from.div_ceil(minute) * minute;
            let key = |name| MetricKey::new("AWS/Lambda", name, "FunctionName", function);
            let (invocations, errors) = (key("Invocations"), key("Errors"));
            let mut traffic = ProbeTraffic::default();
            let mut start = first;
            while start < to {
                let at = SimTime::from_millis(start);
                let sum = |k: &MetricKey| {
                    world
                        .metrics
                        .datapoint(k, at, Duration::from_mins(1), alarms::eval::Statistic::Sum)
                        .unwrap_or(0.0)
                };
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let outcome = ProbeOutcome {
                    invocations: sum(&invocations) as u64,
                    errors: sum(&errors) as u64,
                };
                let part = if start < whole {
                    &mut traffic.opening
                } else {
                    &mut traffic.after
                };
                part.invocations += outcome.invocations;
                part.errors += outcome.errors;
                start += minute;
            }
            Ok(traffic)
        }))
    }
}

fn depth_of(world: &mut World, circuit: usize, role: QueueRole) -> QueueStatus {
    let now = world.now();
    let c = &mut world.circuits[circuit];
    match role {
        QueueRole::Source | QueueRole::Overflow => {
            let queue = if role == QueueRole::Source {
                &mut c.source
            } else {
                &mut c.overflow
            };
            let depth = queue.depth(now);
            QueueStatus {
                visible: depth.visible,
                in_flight: depth.in_flight,
            }
        }
        QueueRole::Dlq => QueueStatus {
            visible: c.dlq.len() as u64,
            in_flight: 0,
        },
    }
}

fn queue_of(world: &mut World, circuit: usize, role: QueueRole) -> Option<&mut SimQueue<Msg>> {
    let c = &mut world.circuits[circuit];
    match role {
        QueueRole::Source => Some(&mut c.source),
        QueueRole::Overflow => Some(&mut c.overflow),
        QueueRole::Dlq => None,
    }
}

fn entry_error(code: &str, message: &str, sender_fault: bool) -> EntryError {
    EntryError {
        code: code.to_owned(),
        message: message.to_owned(),
        sender_fault,
    }
}

impl Queues for SimPorts {
    fn queue_depth(
        &self,
        queue_url: &str,
    ) -> impl Future<Output = Result<QueueStatus, Error>> + Send {
        ready(self.queue_call(
            Operation::GetQueueAttributes,
            queue_url,
            |world, c, role| Ok(depth_of(world, c, role)),
        ))
    }

    fn queue_attributes(
        &self,
        queue_url: &str,
    ) -> impl Future<Output = Result<QueueAttributes, Error>> + Send {
        ready(self.queue_call(
            Operation::GetQueueAttributes,
            queue_url,
            |world, c, role| {
                let circuit = &world.circuits[c];
                let settings = match role {
                    QueueRole::Source => Some(*circuit.source.settings()),
                    QueueRole::Overflow => Some(*circuit.overflow.settings()),
                    QueueRole::Dlq => None,
                };
                Ok(QueueAttributes {
                    retention: settings.map_or(world.profile.retention, |s| s.retention),
                    redrive: settings
                        .and_then(|s| s.max_receive_count)
                        .map(|max| RedrivePolicy {
                            dead_letter_target_arn: Names::queue_arn(&circuit.names.dlq),
                            max_receive_count: max,
                        }),
                    ..QueueAttributes::default()
                })
            },
        ))
    }

    fn queue_url(
        &self,
        name: &str,
        owner: &str,
    ) -> impl Future<Output = Result<String, Error>> + Send {
        const OP: Operation = Operation::GetQueueUrl;
        ready(self.call(|world| {
            let url = Names::queue_url(name);
            if owner == crate::sim::names::ACCOUNT && world.queue_by_url(&url).is_some() {
                Ok(url)
            } else {
                Err(Error::aws(
                    OP,
                    AwsFault::NotFound,
                    Some("AWS.SimpleQueueService.NonExistentQueue".to_owned()),
                    "The specified queue does not exist",
                ))
            }
        }))
    }

    fn receive_messages(
        &self,
        queue_url: &str,
        max: usize,
        visibility_timeout: Duration,
        _wait: Duration,
    ) -> impl Future<Output = Result<Vec<ReceivedMessage>, Error>> + Send {
        ready(
            self.queue_call(Operation::ReceiveMessage, queue_url, |world, c, role| {
                let now = world.now();
                let Some(queue) = queue_of(world, c, role) else {
                    return Ok(Vec::new());
                };
                let got = queue.receive_hidden_for(now, max, visibility_timeout);
                let circuit = &mut world.circuits[c];
                circuit.note_expired(&got.expired);
                circuit.note_dead_lettered(got.dead_lettered);
                Ok(got
                    .delivered
                    .into_iter()
                    .map(|d| ReceivedMessage {
                        message_id: format!("m-{}", d.payload.seq),
                        receipt_handle: d.receipt.handle(),
                        body: d.payload.seq.to_string(),
                        attributes: d.payload.attributes.map(|a| *a).unwrap_or_default(),
                        trace_header: None,
                        sent_at: Some(wall(d.sent_at)),
                        receive_count: Some(d.receive_count),
                    })
                    .collect())
            }),
        )
    }

    fn send_messages(
        &self,
        queue_url: &str,
        messages: &[OutgoingMessage],
    ) -> impl Future<Output = Result<Vec<EntryResult>, Error>> + Send {
        ready(
            self.queue_call(Operation::SendMessageBatch, queue_url, |world, c, role| {
                let now = world.now();
                Ok(messages
                    .iter()
                    .map(|m| {
                        let seq: u64 = m.body.parse().map_err(|_| {
                            entry_error("InvalidMessageContents", "not a simulated message", true)
                        })?;
                        let message = Msg {
                            seq,
                            attributes: (!m.attributes.is_empty())
                                .then(|| Box::new(m.attributes.clone())),
                        };
                        match queue_of(world, c, role) {
                            Some(queue) => queue.send(now, message, Duration::ZERO),
                            None => world.circuits[c].dlq.push(message),
                        }
                        Ok(())
                    })
                    .collect())
            }),
        )
    }

    fn delete_messages(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> impl Future<Output = Result<Vec<EntryResult>, Error>> + Send {
        // SQS deletes with the latest receipt only; an older one "succeeds" without deleting
        // when the message was received again, which the caller cannot tell apart: here it
        // fails the entry, the stricter reading, so a move never counts a message it did not
        // delete.
        ready(self.each_receipt(
            Operation::DeleteMessageBatch,
            queue_url,
            receipt_handles,
            |queue, now, receipt| queue.delete(now, receipt).is_some(),
            "ReceiptHandleIsInvalid",
        ))
    }

    fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<EntryResult>, Error>> + Send {
        ready(self.each_receipt(
            Operation::ChangeMessageVisibilityBatch,
            queue_url,
            receipt_handles,
            |queue, now, receipt| queue.change_visibility(now, receipt, timeout),
            "MessageNotInflight",
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use floodgate_core::ports::Pollers;

    use super::*;
    use crate::sim::params::Profile;
    use crate::sim::scenario::Scenario;

    fn ports(consumer: &str) -> (SimPorts, String) {
        let text = format!(
            r#"
            name = "ports"
            duration = "1m"
            load = {{ kind = "constant", rate = 1 }}
            consumer = {consumer}
            downstream = {{ capacity_per_sec = 100, latency = "20ms" }}
            "#
        );
        let scenario = Scenario::from_toml(&text, Path::new("ports.toml")).expect("valid");
        let world = scenario.world(&Profile::aws(), None).expect("a world");
        (
            SimPorts::new(Arc::new(Mutex::new(world))),
            scenario.names(0).uuid,
        )
    }

    fn run<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("the simulated ports answer at once"),
        }
    }

    #[test]
    fn a_provisioned_mapping_reports_and_takes_its_pollers() {
        let (ports, uuid) =
            ports("{ provisioned = { minimum_pollers = 3, maximum_pollers = 30 } }");
        let mapping = run(ports.get_mapping(&uuid)).expect("found");
        assert_eq!(
            mapping.provisioned,
            Some(Pollers {
                minimum: 3,
                maximum: 30
            })
        );
        assert_eq!(mapping.maximum_concurrency, None);
        let err = run(ports.update_mapping(
            &uuid,
            MappingUpdate {
                maximum_concurrency: Some(10),
                ..MappingUpdate::default()
            },
        ))
        .expect_err("mutually exclusive");
        assert!(err.to_string().contains("mutually exclusive"), "{err}");
        let fewer = Pollers {
            minimum: 2,
            maximum: 2,
        };
        run(ports.update_mapping(
            &uuid,
            MappingUpdate {
                pollers: Some(fewer),
                ..MappingUpdate::default()
            },
        ))
        .expect("accepted");
        let mapping = run(ports.get_mapping(&uuid)).expect("found");
        assert_eq!(
            mapping.provisioned,
            Some(fewer),
            "the requested pollers show at once"
        );
        assert_eq!(mapping.state, floodgate_core::ports::MappingState::Updating);
    }

    #[test]
    fn a_standard_mapping_refuses_pollers() {
        let (ports, uuid) = ports("{ maximum_concurrency = 20 }");
        assert_eq!(
            run(ports.get_mapping(&uuid)).expect("found").provisioned,
            None
        );
        let err = run(ports.update_mapping(
            &uuid,
            MappingUpdate {
                pollers: Some(Pollers {
                    minimum: 2,
                    maximum: 4,
                }),
                ..MappingUpdate::default()
            },
        ))
        .expect_err("standard mode");
        assert!(err.to_string().contains("standard mode"), "{err}");
    }
}
