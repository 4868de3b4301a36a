//! An in-memory AWS for tests and benches: a test double of every [`floodgate_core::ports`] trait.
//!
//! [`FakeAws`] holds a small world (mappings with their tags, functions' reserved concurrency,
//! alarms, queues), records every call it receives as a [`Call`] named after the AWS
//! operation (failed attempts included, so retries are visible), and can inject faults: an
//! error class for the next N calls of an operation ([`FakeAws::fail`]), or a mapping stuck in
//! a transitional state for N reads ([`FakeAws::set_transitional`]), during which updates are
//! refused with `ResourceInUseException` as Lambda does. [`MemoryRecorder`] keeps EMF lines.
//!
//! Queues come in two kinds: depth-only ([`FakeAws::set_queue`]), which answer
//! `GetQueueAttributes` with fixed counts, and queues holding messages ([`FakeAws::add_queue`],
//! [`FakeAws::push_messages`]), which also serve the overflow's message calls: a receive
//! hides messages (in flight) until they are deleted, made visible again, or
//! [`FakeAws::expire_in_flight`] plays their visibility timeout out. Batch calls can be made
//! to fail entry by entry ([`FakeAws::fail_entries`]), and an alarm can be made to change
//! in the middle of a scenario ([`FakeAws::set_alarm_on_call`]).
//!
//! Message queues behave as SQS does where the overflow depends on it: each has its
//! [`QueueAttributes`] ([`FakeAws::configure_queue`], default as a queue created without
//! attributes); a send larger than its `MaximumMessageSize` (body plus message attributes)
//! is refused as the sender's fault; and with a redrive policy ([`FakeAws::set_redrive`]), a
//! receive that would take a message past `maxReceiveCount` moves it to the DLQ instead of
//! returning it (marked in [`FakeMessage::redriven_from`]). [`FakeAws::advance`] lets time
//! pass for visibility timeouts.
//!
//! [`Faulty`] wraps any implementation of the ports — the real SDK adapters included — and
//! fails chosen entries of SQS batch calls, for partial-failure tests against LocalStack.
//!
//! Time is tokio's ([`FakeAws`] is also the [`Clock`] port): under a paused test clock,
//! retries, settling and pacing run at once and exactly.
//!
//! With the `localstack` feature, [`localstack`] holds the clients for LocalStack and the one
//! stack builder the LocalStack tests and the local drill deploy through.
//!
//! This crate is a dev-dependency only (of `floodgate-core`'s tests and benches and of the
//! LocalStack tests): the controller's release binary does not contain it. Faults are named
//! by [`floodgate_core::Operation`], so a misspelt operation does not compile.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

mod faulty;
#[cfg(feature = "localstack")]
pub mod localstack;

pub use faulty::Faulty;

use floodgate_core::Operation;
use floodgate_core::error::{AwsFault, Error};
use floodgate_core::metrics::Recorder;
use floodgate_core::policy::{AlarmState, ProbeOutcome, ProbeTraffic};
use floodgate_core::ports::QueueStatus;
use floodgate_core::ports::{
    AlarmDescription, Alarms, Clock, Concurrency, EntryError, EntryResult, EventSourceMappings,
    INVOKES_PER_POLLER, MAX_BATCH_ENTRIES, Mapping, MappingState, MappingUpdate, MessageAttribute,
    OutgoingMessage, Pollers, QueueAttributes, Queues, ReceivedMessage, RedrivePolicy,
};

/// One AWS call the fake received, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `GetEventSourceMapping(UUID)`.
    GetEventSourceMapping {
        /// The mapping's UUID.
        uuid: String,
    },
    /// `UpdateEventSourceMapping(UUID, Enabled?, ScalingConfig.MaximumConcurrency?)`.
    UpdateEventSourceMapping {
        /// The mapping's UUID.
        uuid: String,
        /// The requested `Enabled`, if set.
        enabled: Option<bool>,
        /// The requested `MaximumConcurrency`, if set.
        maximum_concurrency: Option<u32>,
        /// The requested `ProvisionedPollerConfig`, if set.
        pollers: Option<Pollers>,
    },
    /// `ListTags(Resource)`.
    ListTags {
        /// The resource ARN.
        resource: String,
    },
    /// `TagResource(Resource, Tags)`.
    TagResource {
        /// The resource ARN.
        resource: String,
        /// The tags written.
        tags: BTreeMap<String, String>,
    },
    /// `GetFunctionConcurrency(FunctionName)`.
    GetFunctionConcurrency {
        /// The function.
        function: String,
    },
    /// `PutFunctionConcurrency(FunctionName, ReservedConcurrentExecutions)`.
    PutFunctionConcurrency {
        /// The function.
        function: String,
        /// The reservation.
        reserved: u32,
    },
    /// `DescribeAlarms(AlarmNames, AlarmTypes = metric + composite)`.
    DescribeAlarms {
        /// The names asked for.
        names: Vec<String>,
    },
    /// `GetMetricData(AWS/Lambda Invocations and Errors of FunctionName)`.
    GetMetricData {
        /// The function.
        function: String,
    },
    /// `GetQueueAttributes(QueueUrl, depth attributes)`.
    GetQueueAttributes {
        /// The queue.
        queue_url: String,
    },
    /// `GetQueueAttributes(QueueUrl, MaximumMessageSize + MessageRetentionPeriod +
    /// RedrivePolicy)`: the operation is `GetQueueAttributes`, as for the depth.
    GetQueueConfig {
        /// The queue.
        queue_url: String,
    },
    /// `GetQueueUrl(QueueName, QueueOwnerAWSAccountId)`.
    GetQueueUrl {
        /// The queue's name.
        name: String,
        /// Its owner's account.
        owner: String,
    },
    /// `ReceiveMessage(QueueUrl, MaxNumberOfMessages)`.
    ReceiveMessage {
        /// The queue.
        queue_url: String,
        /// `MaxNumberOfMessages`.
        max: usize,
    },
    /// `SendMessageBatch(QueueUrl, Entries)`.
    SendMessageBatch {
        /// The queue.
        queue_url: String,
        /// The entries' bodies, in order.
        bodies: Vec<String>,
    },
    /// `DeleteMessageBatch(QueueUrl, Entries)`.
    DeleteMessageBatch {
        /// The queue.
        queue_url: String,
        /// The entries' receipt handles, in order.
        receipt_handles: Vec<String>,
    },
    /// `ChangeMessageVisibilityBatch(QueueUrl, Entries)`.
    ChangeMessageVisibilityBatch {
        /// The queue.
        queue_url: String,
        /// The entries' receipt handles, in order.
        receipt_handles: Vec<String>,
        /// The `VisibilityTimeout` of every entry, in seconds.
        timeout_secs: u64,
    },
}

impl Call {
    /// The AWS operation name.
    pub fn operation(&self) -> Operation {
        match self {
            Self::GetEventSourceMapping { .. } => Operation::GetEventSourceMapping,
            Self::UpdateEventSourceMapping { .. } => Operation::UpdateEventSourceMapping,
            Self::ListTags { .. } => Operation::ListTags,
            Self::TagResource { .. } => Operation::TagResource,
            Self::GetFunctionConcurrency { .. } => Operation::GetFunctionConcurrency,
            Self::PutFunctionConcurrency { .. } => Operation::PutFunctionConcurrency,
            Self::GetMetricData { .. } => Operation::GetMetricData,
            Self::DescribeAlarms { .. } => Operation::DescribeAlarms,
            Self::GetQueueAttributes { .. } | Self::GetQueueConfig { .. } => {
                Operation::GetQueueAttributes
            }
            Self::GetQueueUrl { .. } => Operation::GetQueueUrl,
            Self::ReceiveMessage { .. } => Operation::ReceiveMessage,
            Self::SendMessageBatch { .. } => Operation::SendMessageBatch,
            Self::DeleteMessageBatch { .. } => Operation::DeleteMessageBatch,
            Self::ChangeMessageVisibilityBatch { .. } => Operation::ChangeMessageVisibilityBatch,
        }
    }

    /// Whether the call changes something (as opposed to reading). A receive counts as a
    /// write: it hides the messages it returns and raises their receive count.
    pub fn is_write(&self) -> bool {
        match self {
            Self::UpdateEventSourceMapping { .. }
            | Self::TagResource { .. }
            | Self::PutFunctionConcurrency { .. }
            | Self::ReceiveMessage { .. }
            | Self::SendMessageBatch { .. }
            | Self::DeleteMessageBatch { .. }
            | Self::ChangeMessageVisibilityBatch { .. } => true,
            Self::GetEventSourceMapping { .. }
            | Self::ListTags { .. }
            | Self::GetFunctionConcurrency { .. }
            | Self::DescribeAlarms { .. }
            | Self::GetMetricData { .. }
            | Self::GetQueueAttributes { .. }
            | Self::GetQueueConfig { .. }
            | Self::GetQueueUrl { .. } => false,
        }
    }
}

/// A mapping in the fake world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeMapping {
    /// Its ARN.
    pub arn: String,
    /// The ARN of its function.
    pub function_arn: String,
    /// Whether it consumes (once settled).
    pub enabled: bool,
    /// `ScalingConfig.MaximumConcurrency`.
    pub maximum_concurrency: Option<u32>,
    /// `ProvisionedPollerConfig`, for a mapping in provisioned mode.
    pub provisioned: Option<Pollers>,
    /// `LastModified`.
    pub last_modified: Option<DateTime<Utc>>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// A transitional state reported for this many more reads.
    transition: Option<(MappingState, u32)>,
    /// An accepted update still taking effect (see [`FakeAws::with_update_delay`]).
    settling: Option<Settling>,
}

/// An update Lambda accepted that has not taken effect yet: until it has, the mapping's
/// pollers may still run with the settings it had before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settling {
    was_enabled: bool,
    was_limit: u64,
    calls_left: u32,
}

impl FakeMapping {
    /// The most concurrent invocations its settings allow (`u64::MAX`: no limit).
    fn limit(&self) -> u64 {
        match (self.provisioned, self.maximum_concurrency) {
            (Some(p), _) => u64::from(p.maximum) * u64::from(INVOKES_PER_POLLER),
            (None, Some(n)) => u64::from(n),
            (None, None) => u64::MAX,
        }
    }

    /// The most concurrent invocations its pollers may drive right now: while an update is
    /// taking effect, the larger of before and after.
    pub fn effective_concurrency(&self) -> u64 {
        let now = if self.enabled { self.limit() } else { 0 };
        match self.settling {
            Some(s) if s.was_enabled => now.max(s.was_limit),
            Some(_) | None => now,
        }
    }

    /// The state Lambda reports while an update takes effect.
    fn settling_state(&self) -> Option<MappingState> {
        let s = self.settling?;
        Some(match (s.was_enabled, self.enabled) {
            (true, false) => MappingState::Disabling,
            (false, true) => MappingState::Enabling,
            (true, true) | (false, false) => MappingState::Updating,
        })
    }

    fn function(&self) -> &str {
        self.function_arn.rsplit(':').next().unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Fault {
    operation: Operation,
    kind: AwsFault,
    /// Calls of the operation that pass before the fault strikes.
    skip: u32,
    remaining: u32,
}

/// A message in a fake queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeMessage {
    /// Its `MessageId` (unique across the fake world).
    pub message_id: String,
    /// Its body.
    pub body: String,
    /// Its message attributes.
    pub attributes: BTreeMap<String, MessageAttribute>,
    /// Its `AWSTraceHeader`.
    pub trace_header: Option<String>,
    /// How often it was received.
    pub receive_count: u32,
    /// The queue SQS moved it from by its redrive policy, when it arrived that way.
    pub redriven_from: Option<String>,
}

/// How one entry of a batch call turns out, for [`FakeAws::fail_entries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryFault {
    /// The entry takes effect.
    Succeed,
    /// SQS fails the entry (`InternalError`, not the sender's fault); it takes no effect.
    Transient,
    /// SQS refuses the entry as the sender's fault (`InvalidParameterValue`); it takes no
    /// effect.
    Rejected,
}

impl EntryFault {
    fn error(self) -> Option<EntryError> {
        match self {
            Self::Succeed => None,
            Self::Transient => Some(EntryError {
                code: "InternalError".to_owned(),
                message: "injected".to_owned(),
                sender_fault: false,
            }),
            Self::Rejected => Some(EntryError {
                code: "InvalidParameterValue".to_owned(),
                message: "injected".to_owned(),
                sender_fault: true,
            }),
        }
    }
}

#[derive(Debug, Default)]
struct FakeQueue {
    attributes: QueueAttributes,
    visible: VecDeque<FakeMessage>,
    /// Receipt handle → the message and its remaining visibility timeout.
    in_flight: BTreeMap<String, (FakeMessage, Duration)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AlarmChange {
    operation: Operation,
    remaining: u32,
    alarm: String,
    state: AlarmState,
    since: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct World {
    mappings: BTreeMap<String, FakeMapping>,
    reserved: BTreeMap<String, u32>,
    alarms: BTreeMap<String, (AlarmState, DateTime<Utc>)>,
    detections: BTreeMap<String, Duration>,
    outcomes: BTreeMap<String, ProbeTraffic>,
    update_delay: u32,
    watch_invariant: bool,
    violations: Vec<String>,
    queues: BTreeMap<String, QueueStatus>,
    message_queues: BTreeMap<String, FakeQueue>,
    next_id: u64,
    faults: Vec<Fault>,
    entry_faults: BTreeMap<Operation, VecDeque<EntryFault>>,
    alarm_changes: Vec<AlarmChange>,
    calls: Vec<Call>,
    quiet: bool,
}

/// The in-memory AWS. Cheap to build; `Sync`, so one instance serves a whole test.
#[derive(Debug, Default)]
pub struct FakeAws {
    world: Mutex<World>,
    origin: Origin,
}

/// When the fake was made, on tokio's clock (paused in most tests).
#[derive(Debug, Clone, Copy)]
struct Origin(tokio::time::Instant);

impl Default for Origin {
    fn default() -> Self {
        Self(tokio::time::Instant::now())
    }
}

/// Time is tokio's: a paused test clock advances by itself when every task waits, so
/// retries, settling and pacing run at once and exactly.
impl Clock for FakeAws {
    fn monotonic(&self) -> Duration {
        self.origin.0.elapsed()
    }

    async fn sleep(&self, span: Duration) {
        tokio::time::sleep(span).await;
    }
}

impl FakeAws {
    /// An empty world.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same world, but calls are not recorded (for benches, where the log would grow).
    #[must_use]
    pub fn quiet(self) -> Self {
        self.lock().quiet = true;
        self
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        // A panicking test thread poisons the lock; the world is still consistent.
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Accepted mapping updates take effect only after `calls` more calls to the fake, as
    /// Lambda's do seconds later: meanwhile the mapping reports `Updating`, `Disabling` or
    /// `Enabling`, refuses further updates with `ResourceInUseException`, and its pollers
    /// may still consume at the old settings ([`FakeMapping::effective_concurrency`]).
    #[must_use]
    pub fn with_update_delay(self, calls: u32) -> Self {
        self.lock().update_delay = calls;
        self
    }

    /// Checks, before every call, that each function's reserved concurrency covers the
    /// effective concurrency of all its mappings (the rule whose breach makes Lambda
    /// throttle a mapping's invokes and burn receive counts); breaches are kept for
    /// [`FakeAws::violations`].
    #[must_use]
    pub fn watching_invariant(self) -> Self {
        self.lock().watch_invariant = true;
        self
    }

    /// Every breach of the reserved-concurrency rule seen so far (see
    /// [`FakeAws::watching_invariant`]).
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// What `GetMetricData` reports for `function`'s invocations and errors, whatever the
    /// window. Unset, a function reports 10 invocations and no errors: a healthy consumer
    /// that receives traffic.
    pub fn set_function_outcome(&self, function: &str, outcome: ProbeOutcome) {
        self.set_probe_traffic(
            function,
            ProbeTraffic {
                opening: ProbeOutcome::default(),
                after: outcome,
            },
        );
    }

    /// What `GetMetricData` reports for `function`, the minute the window began in apart.
    pub fn set_probe_traffic(&self, function: &str, traffic: ProbeTraffic) {
        self.lock().outcomes.insert(function.to_owned(), traffic);
    }

    /// Alarm `name`'s detection latency as `DescribeAlarms` reports it.
    pub fn set_alarm_detection(&self, name: &str, detection: Duration) {
        self.lock().detections.insert(name.to_owned(), detection);
    }

    /// Adds an enabled mapping `uuid` in `region`/`account` for `function`, without
    /// `MaximumConcurrency` or tags.
    pub fn add_mapping(&self, uuid: &str, region: &str, account: &str, function: &str) {
        let mapping = FakeMapping {
            arn: format!("arn:aws:lambda:{region}:{account}:event-source-mapping:{uuid}"),
            function_arn: format!("arn:aws:lambda:{region}:{account}:function:{function}"),
            enabled: true,
            maximum_concurrency: None,
            provisioned: None,
            last_modified: None,
            tags: BTreeMap::new(),
            transition: None,
            settling: None,
        };
        self.lock().mappings.insert(uuid.to_owned(), mapping);
    }

    /// A copy of mapping `uuid`.
    ///
    /// # Panics
    /// If there is no such mapping (a broken test).
    pub fn mapping(&self, uuid: &str) -> FakeMapping {
        self.lock()
            .mappings
            .get(uuid)
            .cloned()
            .unwrap_or_else(|| panic!("no fake mapping {uuid}"))
    }

    /// Changes mapping `uuid` directly, as someone in the console would (not recorded).
    ///
    /// # Panics
    /// If there is no such mapping (a broken test).
    pub fn edit_mapping(&self, uuid: &str, edit: impl FnOnce(&mut FakeMapping)) {
        let mut world = self.lock();
        let mapping = world
            .mappings
            .get_mut(uuid)
            .unwrap_or_else(|| panic!("no fake mapping {uuid}"));
        edit(mapping);
    }

    /// Makes mapping `uuid` report `state` for the next `reads` reads; updates are refused
    /// with `ResourceInUseException` meanwhile.
    pub fn set_transitional(&self, uuid: &str, state: MappingState, reads: u32) {
        self.edit_mapping(uuid, |m| m.transition = Some((state, reads)));
    }

    /// Sets (or with `None` removes) `function`'s reserved concurrency (not recorded).
    pub fn set_reserved(&self, function: &str, reserved: Option<u32>) {
        let mut world = self.lock();
        match reserved {
            Some(n) => world.reserved.insert(function.to_owned(), n),
            None => world.reserved.remove(function),
        };
    }

    /// `function`'s reserved concurrency.
    pub fn reserved(&self, function: &str) -> Option<u32> {
        self.lock().reserved.get(function).copied()
    }

    /// Puts alarm `name` into `state` at `since` (creating it if needed).
    pub fn set_alarm(&self, name: &str, state: AlarmState, since: DateTime<Utc>) {
        self.lock().alarms.insert(name.to_owned(), (state, since));
    }

    /// Sets queue `url`'s depth (creating it if needed).
    pub fn set_queue(&self, url: &str, visible: u64, in_flight: u64) {
        self.lock()
            .queues
            .insert(url.to_owned(), QueueStatus { visible, in_flight });
    }

    /// Adds an empty queue that holds messages (a no-op if it exists). Its depth is counted
    /// from its messages.
    pub fn add_queue(&self, url: &str) {
        self.lock()
            .message_queues
            .entry(url.to_owned())
            .or_default();
    }

    /// Sets the attributes of message queue `url` (creating it if needed). Not recorded.
    pub fn configure_queue(&self, url: &str, attributes: QueueAttributes) {
        self.lock()
            .message_queues
            .entry(url.to_owned())
            .or_default()
            .attributes = attributes;
    }

    /// Gives queue `url` (created if needed) a redrive policy to `dead_letter_url` (also
    /// created if needed) after `max_receive_count` receives. Not recorded.
    pub fn set_redrive(&self, url: &str, dead_letter_url: &str, max_receive_count: u32) {
        let mut world = self.lock();
        world
            .message_queues
            .entry(dead_letter_url.to_owned())
            .or_default();
        world
            .message_queues
            .entry(url.to_owned())
            .or_default()
            .attributes
            .redrive = Some(RedrivePolicy {
            dead_letter_target_arn: queue_arn(dead_letter_url),
            max_receive_count,
        });
    }

    /// The attributes of message queue `url`.
    ///
    /// # Panics
    /// If there is no such queue (a broken test).
    pub fn queue_config(&self, url: &str) -> QueueAttributes {
        self.lock()
            .message_queues
            .get(url)
            .map_or_else(|| panic!("no fake queue {url}"), |q| q.attributes.clone())
    }

    /// Adds `messages` to queue `url` as [`FakeAws::push_messages`] does, each as if received
    /// `receive_count` times already (by a consumer that failed them).
    pub fn push_received(
        &self,
        url: &str,
        messages: impl IntoIterator<Item = OutgoingMessage>,
        receive_count: u32,
    ) -> Vec<String> {
        let mut world = self.lock();
        let ids: Vec<String> = messages.into_iter().map(|m| world.push(url, m)).collect();
        if let Some(queue) = world.message_queues.get_mut(url) {
            for message in queue
                .visible
                .iter_mut()
                .filter(|m| ids.contains(&m.message_id))
            {
                message.receive_count = receive_count;
            }
        }
        ids
    }

    /// Takes every message out of queue `url`, visible or in flight, as a consumer that
    /// processed and deleted them would. Not recorded.
    pub fn consume_all(&self, url: &str) -> Vec<FakeMessage> {
        let mut world = self.lock();
        let Some(queue) = world.message_queues.get_mut(url) else {
            return Vec::new();
        };
        let mut all: Vec<FakeMessage> = queue.visible.drain(..).collect();
        all.extend(
            std::mem::take(&mut queue.in_flight)
                .into_values()
                .map(|(m, _)| m),
        );
        all
    }

    /// Lets `elapsed` pass for every visibility timeout: in-flight messages whose timeout runs
    /// out become visible again, the others stay hidden for what is left of theirs.
    pub fn advance(&self, elapsed: Duration) {
        let mut world = self.lock();
        for queue in world.message_queues.values_mut() {
            let in_flight = std::mem::take(&mut queue.in_flight);
            for (handle, (message, left)) in in_flight {
                match left.checked_sub(elapsed) {
                    Some(rest) if !rest.is_zero() => {
                        queue.in_flight.insert(handle, (message, rest));
                    }
                    Some(_) | None => queue.visible.push_back(message),
                }
            }
        }
    }

    /// Adds `messages` to queue `url` (creating it if needed), visible at once; returns their
    /// message ids. Not recorded.
    pub fn push_messages(
        &self,
        url: &str,
        messages: impl IntoIterator<Item = OutgoingMessage>,
    ) -> Vec<String> {
        let mut world = self.lock();
        messages.into_iter().map(|m| world.push(url, m)).collect()
    }

    /// [`FakeAws::push_messages`] of messages with these bodies and no attributes.
    pub fn push_bodies<S: Into<String>>(
        &self,
        url: &str,
        bodies: impl IntoIterator<Item = S>,
    ) -> Vec<String> {
        self.push_messages(url, bodies.into_iter().map(OutgoingMessage::new))
    }

    /// Takes (deletes) up to `n` of the oldest visible messages of queue `url`, as a consumer
    /// that processed them; returns how many it took. Not recorded.
    pub fn consume(&self, url: &str, n: usize) -> usize {
        let mut world = self.lock();
        let Some(queue) = world.message_queues.get_mut(url) else {
            return 0;
        };
        let taken = n.min(queue.visible.len());
        queue.visible.drain(..taken);
        taken
    }

    /// The visible messages of queue `url`, oldest first.
    pub fn visible_messages(&self, url: &str) -> Vec<FakeMessage> {
        self.lock()
            .message_queues
            .get(url)
            .map(|q| q.visible.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The in-flight messages of queue `url`, with their visibility timeouts.
    pub fn in_flight_messages(&self, url: &str) -> Vec<(FakeMessage, Duration)> {
        self.lock()
            .message_queues
            .get(url)
            .map(|q| q.in_flight.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every message of queue `url`, visible or in flight.
    pub fn all_messages(&self, url: &str) -> Vec<FakeMessage> {
        let mut all = self.visible_messages(url);
        all.extend(self.in_flight_messages(url).into_iter().map(|(m, _)| m));
        all
    }

    /// Lets every visibility timeout of queue `url` run out: in-flight messages become
    /// visible again, as SQS does for a receiver that never deletes them.
    pub fn expire_in_flight(&self, url: &str) {
        let mut world = self.lock();
        if let Some(queue) = world.message_queues.get_mut(url) {
            let expired = std::mem::take(&mut queue.in_flight);
            queue.visible.extend(expired.into_values().map(|(m, _)| m));
        }
    }

    /// The next entries of `operation`'s batch calls (`SendMessageBatch`,
    /// `DeleteMessageBatch`, `ChangeMessageVisibilityBatch`) turn out as `faults` say, one
    /// per entry across calls; entries after them succeed.
    pub fn fail_entries(&self, operation: Operation, faults: impl IntoIterator<Item = EntryFault>) {
        self.lock()
            .entry_faults
            .entry(operation)
            .or_default()
            .extend(faults);
    }

    /// When the `nth` call (1-based) of `operation` arrives, alarm `name` enters `state` at
    /// `since` before the call is served: an alarm firing in the middle of a scenario.
    pub fn set_alarm_on_call(
        &self,
        operation: Operation,
        nth: u32,
        name: &str,
        state: AlarmState,
        since: DateTime<Utc>,
    ) {
        self.lock().alarm_changes.push(AlarmChange {
            operation,
            remaining: nth,
            alarm: name.to_owned(),
            state,
            since,
        });
    }

    /// The next `times` calls of `operation` (an AWS operation name such as
    /// `UpdateEventSourceMapping`) fail with `fault`, without taking effect.
    pub fn fail(&self, operation: Operation, fault: AwsFault, times: u32) {
        self.fail_after(operation, 0, fault, times);
    }

    /// Like [`FakeAws::fail`], but the first `skip` calls of `operation` succeed.
    pub fn fail_after(&self, operation: Operation, skip: u32, fault: AwsFault, times: u32) {
        self.lock().faults.push(Fault {
            operation,
            kind: fault,
            skip,
            remaining: times,
        });
    }

    /// The calls received so far, and forgets them.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut self.lock().calls)
    }

    /// The calls received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Records `call`, then fails it if a fault is armed for its operation.
    fn enter(&self, call: Call) -> Result<MutexGuard<'_, World>, Error> {
        let mut world = self.lock();
        world.tick();
        let operation = call.operation();
        if !world.quiet {
            world.calls.push(call);
        }
        let mut fired = Vec::new();
        for change in world
            .alarm_changes
            .iter_mut()
            .filter(|c| c.operation == operation && c.remaining > 0)
        {
            change.remaining -= 1;
            if change.remaining == 0 {
                fired.push((change.alarm.clone(), change.state, change.since));
            }
        }
        for (alarm, state, since) in fired {
            world.alarms.insert(alarm, (state, since));
        }
        if let Some(fault) = world
            .faults
            .iter_mut()
            .find(|f| f.operation == operation && f.remaining > 0)
        {
            if fault.skip > 0 {
                fault.skip -= 1;
            } else {
                fault.remaining -= 1;
                return Err(injected(operation, fault.kind));
            }
        }
        Ok(world)
    }
}

/// The ARN of the queue at `url` (`https://sqs.<region>.amazonaws.com/<account>/<name>`), as
/// SQS forms it: `arn:aws:sqs:<region>:<account>:<name>`.
pub fn queue_arn(url: &str) -> String {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts.next().unwrap_or_default();
    let host = url
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    let region = host.split('.').nth(1).unwrap_or("us-east-1");
    format!("arn:aws:sqs:{region}:{account}:{name}")
}

fn injected(operation: Operation, fault: AwsFault) -> Error {
    let (code, message) = match fault {
        AwsFault::Throttled => ("TooManyRequestsException", "Rate exceeded"),
        AwsFault::InUse => (
            "ResourceInUseException",
            "Cannot update the event source mapping because it is in use",
        ),
        AwsFault::Transient => ("ServiceException", "HTTP 503"),
        AwsFault::NotFound => ("ResourceNotFoundException", "not found"),
        AwsFault::Other => ("AccessDeniedException", "not authorized"),
    };
    Error::aws(operation, fault, Some(code.to_owned()), message)
}

fn not_found(operation: Operation, what: &str) -> Error {
    Error::aws(
        operation,
        AwsFault::NotFound,
        Some("ResourceNotFoundException".to_owned()),
        &format!("{what} not found"),
    )
}

fn no_queue(operation: Operation, url: &str) -> Error {
    Error::aws(
        operation,
        AwsFault::NotFound,
        Some("AWS.SimpleQueueService.NonExistentQueue".to_owned()),
        &format!("queue {url} does not exist"),
    )
}

/// SQS refuses an empty batch and one of more than ten entries as a whole.
fn check_batch(operation: Operation, len: usize) -> Result<(), Error> {
    match len {
        0 => Err(Error::aws(
            operation,
            AwsFault::Other,
            Some("AWS.SimpleQueueService.EmptyBatchRequest".to_owned()),
            "the batch request contains no entries",
        )),
        n if n > MAX_BATCH_ENTRIES => Err(Error::aws(
            operation,
            AwsFault::Other,
            Some("AWS.SimpleQueueService.TooManyEntriesInBatchRequest".to_owned()),
            &format!("{n} entries, at most {MAX_BATCH_ENTRIES}"),
        )),
        _ => Ok(()),
    }
}

fn stale_handle() -> EntryError {
    EntryError {
        code: "ReceiptHandleIsInvalid".to_owned(),
        message: "the receipt handle is not in flight".to_owned(),
        sender_fault: true,
    }
}

impl World {
    /// One instant passes: updates take effect, and the invariant is checked.
    fn tick(&mut self) {
        for mapping in self.mappings.values_mut() {
            if let Some(s) = &mut mapping.settling {
                s.calls_left = s.calls_left.saturating_sub(1);
                if s.calls_left == 0 {
                    mapping.settling = None;
                }
            }
        }
        if !self.watch_invariant {
            return;
        }
        let mut demand: BTreeMap<&str, u64> = BTreeMap::new();
        for mapping in self.mappings.values() {
            let d = demand.entry(mapping.function()).or_default();
            *d = d.saturating_add(mapping.effective_concurrency());
        }
        let breaches: Vec<String> = demand
            .into_iter()
            .filter_map(|(function, demand)| {
                let reserved = self.reserved.get(function)?;
                (demand > u64::from(*reserved)).then(|| {
                    format!(
                        "call {}: {function} reserved {reserved} < effective concurrency {demand}",
                        self.calls.len()
                    )
                })
            })
            .collect();
        self.violations.extend(breaches);
    }

    fn push(&mut self, url: &str, message: OutgoingMessage) -> String {
        self.next_id += 1;
        let message_id = format!("m-{:06}", self.next_id);
        self.message_queues
            .entry(url.to_owned())
            .or_default()
            .visible
            .push_back(FakeMessage {
                message_id: message_id.clone(),
                body: message.body,
                attributes: message.attributes,
                trace_header: message.trace_header,
                receive_count: 0,
                redriven_from: None,
            });
        message_id
    }

    /// The URL of the queue whose ARN is `arn`.
    fn url_of_arn(&self, arn: &str) -> Option<String> {
        self.message_queues
            .keys()
            .find(|url| queue_arn(url) == arn)
            .cloned()
    }

    fn next_entry_fault(&mut self, operation: Operation) -> Option<EntryError> {
        self.entry_faults
            .get_mut(&operation)
            .and_then(VecDeque::pop_front)
            .and_then(EntryFault::error)
    }

    /// A batch call on in-flight messages by receipt handle: each entry takes its scripted
    /// fault, or takes its message out of flight and hands it to `settle` (which may put it
    /// back, visible or in flight); an unknown handle fails its entry.
    fn each_in_flight(
        &mut self,
        operation: Operation,
        url: &str,
        handles: &[String],
        mut settle: impl FnMut(&mut FakeQueue, &str, FakeMessage),
    ) -> Result<Vec<EntryResult>, Error> {
        check_batch(operation, handles.len())?;
        self.queue_mut(operation, url)?;
        Ok(handles
            .iter()
            .map(|handle| {
                if let Some(error) = self.next_entry_fault(operation) {
                    return Err(error);
                }
                let queue = self.queue_mut(operation, url).map_err(|_| stale_handle())?;
                let (message, _) = queue.in_flight.remove(handle).ok_or_else(stale_handle)?;
                settle(queue, handle, message);
                Ok(())
            })
            .collect())
    }

    fn queue_mut(&mut self, operation: Operation, url: &str) -> Result<&mut FakeQueue, Error> {
        self.message_queues
            .get_mut(url)
            .ok_or_else(|| no_queue(operation, url))
    }

    fn mapping_mut(&mut self, operation: Operation, uuid: &str) -> Result<&mut FakeMapping, Error> {
        self.mappings
            .get_mut(uuid)
            .ok_or_else(|| not_found(operation, uuid))
    }

    fn mapping_by_arn(
        &mut self,
        operation: Operation,
        arn: &str,
    ) -> Result<&mut FakeMapping, Error> {
        self.mappings
            .values_mut()
            .find(|m| m.arn == arn)
            .ok_or_else(|| not_found(operation, arn))
    }

    /// A mapping Lambda would accept an update for.
    fn updatable(&mut self, uuid: &str) -> Result<&mut FakeMapping, Error> {
        const OP: Operation = Operation::UpdateEventSourceMapping;
        let mapping = self.mapping_mut(OP, uuid)?;
        let busy = mapping
            .transition
            .as_ref()
            .map(|(state, _)| state.clone())
            .or_else(|| mapping.settling_state());
        if let Some(state) = busy {
            return Err(Error::aws(
                OP,
                AwsFault::InUse,
                Some("ResourceInUseException".to_owned()),
                &format!("mapping is {state}"),
            ));
        }
        Ok(mapping)
    }
}

impl EventSourceMappings for FakeAws {
    async fn get_mapping(&self, uuid: &str) -> Result<Mapping, Error> {
        let mut world = self.enter(Call::GetEventSourceMapping {
            uuid: uuid.to_owned(),
        })?;
        let mapping = world.mapping_mut(Operation::GetEventSourceMapping, uuid)?;
        let settled = if mapping.enabled {
            MappingState::Enabled
        } else {
            MappingState::Disabled
        };
        let settled = mapping.settling_state().unwrap_or(settled);
        let state = match mapping.transition.take() {
            Some((state, reads)) if reads > 0 => {
                mapping.transition = (reads > 1).then(|| (state.clone(), reads - 1));
                state
            }
            Some(_) | None => settled,
        };
        Ok(Mapping {
            uuid: uuid.to_owned(),
            arn: mapping.arn.clone(),
            function_arn: mapping.function_arn.clone(),
            state,
            maximum_concurrency: mapping.maximum_concurrency,
            provisioned: mapping.provisioned,
            last_modified: mapping.last_modified,
        })
    }

    async fn update_mapping(&self, uuid: &str, update: MappingUpdate) -> Result<(), Error> {
        const OP: Operation = Operation::UpdateEventSourceMapping;
        let mut world = self.enter(Call::UpdateEventSourceMapping {
            uuid: uuid.to_owned(),
            enabled: update.enabled,
            maximum_concurrency: update.maximum_concurrency,
            pollers: update.pollers,
        })?;
        let delay = world.update_delay;
        let mapping = world.updatable(uuid)?;
        // Lambda: ScalingConfig.MaximumConcurrency and ProvisionedPollerConfig are mutually
        // exclusive; a mapping in provisioned mode refuses a MaximumConcurrency.
        let provisioned = update.pollers.is_some() || mapping.provisioned.is_some();
        if provisioned && update.maximum_concurrency.is_some() {
            return Err(Error::aws(
                OP,
                AwsFault::Other,
                Some("InvalidParameterValueException".to_owned()),
                "MaximumConcurrency cannot be set on a mapping in provisioned mode",
            ));
        }
        let before = Settling {
            was_enabled: mapping.enabled,
            was_limit: mapping.limit(),
            calls_left: delay,
        };
        if let Some(enabled) = update.enabled {
            mapping.enabled = enabled;
        }
        if let Some(maximum) = update.maximum_concurrency {
            mapping.maximum_concurrency = Some(maximum);
        }
        if let Some(pollers) = update.pollers {
            mapping.provisioned = Some(pollers);
        }
        if delay > 0 {
            mapping.settling = Some(before);
        }
        Ok(())
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, Error> {
        let mut world = self.enter(Call::ListTags {
            resource: arn.to_owned(),
        })?;
        Ok(world.mapping_by_arn(Operation::ListTags, arn)?.tags.clone())
    }

    async fn tag(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), Error> {
        let mut world = self.enter(Call::TagResource {
            resource: arn.to_owned(),
            tags: tags.clone(),
        })?;
        let mapping = world.mapping_by_arn(Operation::TagResource, arn)?;
        mapping
            .tags
            .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }
}

impl Concurrency for FakeAws {
    async fn reserved_concurrency(&self, function: &str) -> Result<Option<u32>, Error> {
        let world = self.enter(Call::GetFunctionConcurrency {
            function: function.to_owned(),
        })?;
        Ok(world.reserved.get(function).copied())
    }

    async fn set_reserved_concurrency(&self, function: &str, reserved: u32) -> Result<(), Error> {
        let mut world = self.enter(Call::PutFunctionConcurrency {
            function: function.to_owned(),
            reserved,
        })?;
        world.reserved.insert(function.to_owned(), reserved);
        Ok(())
    }
}

impl Alarms for FakeAws {
    async fn describe_alarms(&self, names: &[String]) -> Result<Vec<AlarmDescription>, Error> {
        let world = self.enter(Call::DescribeAlarms {
            names: names.to_vec(),
        })?;
        Ok(names
            .iter()
            .filter_map(|name| {
                world
                    .alarms
                    .get(name)
                    .map(|&(state, since)| AlarmDescription {
                        name: name.clone(),
                        state,
                        since,
                        detection: world.detections.get(name).copied(),
                    })
            })
            .collect())
    }

    async fn function_outcome(
        &self,
        function: &str,
        _from: DateTime<Utc>,
        _to: DateTime<Utc>,
    ) -> Result<ProbeTraffic, Error> {
        let world = self.enter(Call::GetMetricData {
            function: function.to_owned(),
        })?;
        Ok(world
            .outcomes
            .get(function)
            .copied()
            .unwrap_or(ProbeTraffic {
                opening: ProbeOutcome::default(),
                after: ProbeOutcome {
                    invocations: 10,
                    errors: 0,
                },
            }))
    }
}

impl Queues for FakeAws {
    async fn queue_depth(&self, queue_url: &str) -> Result<QueueStatus, Error> {
        let world = self.enter(Call::GetQueueAttributes {
            queue_url: queue_url.to_owned(),
        })?;
        if let Some(queue) = world.message_queues.get(queue_url) {
            return Ok(QueueStatus {
                visible: queue.visible.len() as u64,
                in_flight: queue.in_flight.len() as u64,
            });
        }
        world
            .queues
            .get(queue_url)
            .copied()
            .ok_or_else(|| no_queue(Operation::GetQueueAttributes, queue_url))
    }

    async fn queue_attributes(&self, queue_url: &str) -> Result<QueueAttributes, Error> {
        let world = self.enter(Call::GetQueueConfig {
            queue_url: queue_url.to_owned(),
        })?;
        world
            .message_queues
            .get(queue_url)
            .map(|q| q.attributes.clone())
            .ok_or_else(|| no_queue(Operation::GetQueueAttributes, queue_url))
    }

    async fn queue_url(&self, name: &str, owner: &str) -> Result<String, Error> {
        let world = self.enter(Call::GetQueueUrl {
            name: name.to_owned(),
            owner: owner.to_owned(),
        })?;
        world
            .message_queues
            .keys()
            .find(|url| url.ends_with(&format!("/{owner}/{name}")))
            .cloned()
            .ok_or_else(|| no_queue(Operation::GetQueueUrl, name))
    }

    async fn receive_messages(
        &self,
        queue_url: &str,
        max: usize,
        visibility_timeout: Duration,
        _wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        const OP: Operation = Operation::ReceiveMessage;
        let mut world = self.enter(Call::ReceiveMessage {
            queue_url: queue_url.to_owned(),
            max,
        })?;
        if !(1..=MAX_BATCH_ENTRIES).contains(&max) {
            return Err(Error::aws(
                OP,
                AwsFault::Other,
                Some("InvalidParameterValue".to_owned()),
                &format!("MaxNumberOfMessages {max} is not between 1 and 10"),
            ));
        }
        let world = &mut *world;
        let redrive = world
            .message_queues
            .get(queue_url)
            .ok_or_else(|| no_queue(OP, queue_url))?
            .attributes
            .redrive
            .clone();
        let dead_letter_url = redrive
            .as_ref()
            .and_then(|r| world.url_of_arn(&r.dead_letter_target_arn));
        let mut redriven = Vec::new();
        let queue = world
            .message_queues
            .get_mut(queue_url)
            .ok_or_else(|| no_queue(OP, queue_url))?;
        let mut received = Vec::new();
        while received.len() < max {
            let Some(mut message) = queue.visible.pop_front() else {
                break;
            };
            message.receive_count += 1;
            // SQS: a message is moved to the DLQ when its ReceiveCount exceeds
            // maxReceiveCount (SQS Developer Guide, dead-letter queues); it is not returned.
            if let (Some(policy), Some(_)) = (&redrive, &dead_letter_url)
                && message.receive_count > policy.max_receive_count
            {
                redriven.push(message);
                continue;
            }
            world.next_id += 1;
            let handle = format!("{}/r{}", message.message_id, world.next_id);
            received.push(ReceivedMessage {
                message_id: message.message_id.clone(),
                receipt_handle: handle.clone(),
                body: message.body.clone(),
                attributes: message.attributes.clone(),
                trace_header: message.trace_header.clone(),
                sent_at: None,
                receive_count: Some(message.receive_count),
            });
            queue
                .in_flight
                .insert(handle, (message, visibility_timeout));
        }
        if let Some(url) = dead_letter_url {
            let dead_letter = world.message_queues.entry(url).or_default();
            for mut message in redriven {
                message.receive_count = 0;
                message.redriven_from = Some(queue_url.to_owned());
                dead_letter.visible.push_back(message);
            }
        }
        Ok(received)
    }

    async fn send_messages(
        &self,
        queue_url: &str,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<EntryResult>, Error> {
        const OP: Operation = Operation::SendMessageBatch;
        let mut world = self.enter(Call::SendMessageBatch {
            queue_url: queue_url.to_owned(),
            bodies: messages.iter().map(|m| m.body.clone()).collect(),
        })?;
        check_batch(OP, messages.len())?;
        let limit = world
            .queue_mut(OP, queue_url)?
            .attributes
            .maximum_message_size;
        Ok(messages
            .iter()
            .map(|message| {
                if let Some(error) = world.next_entry_fault(OP) {
                    return Err(error);
                }
                if message.attributes.len() > MAX_BATCH_ENTRIES {
                    return Err(EntryError {
                        code: "InvalidParameterValue".to_owned(),
                        message: format!(
                            "{} message attributes, at most 10",
                            message.attributes.len()
                        ),
                        sender_fault: true,
                    });
                }
                // SQS: the body and every part of every message attribute count toward
                // MaximumMessageSize; a larger message is refused.
                if message.size() > limit {
                    return Err(EntryError {
                        code: "InvalidParameterValue".to_owned(),
                        message: format!(
                            "message of {} bytes is longer than the queue's limit of {limit}",
                            message.size()
                        ),
                        sender_fault: true,
                    });
                }
                world.push(queue_url, message.clone());
                Ok(())
            })
            .collect())
    }

    async fn delete_messages(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<EntryResult>, Error> {
        let mut world = self.enter(Call::DeleteMessageBatch {
            queue_url: queue_url.to_owned(),
            receipt_handles: receipt_handles.to_vec(),
        })?;
        world.each_in_flight(
            Operation::DeleteMessageBatch,
            queue_url,
            receipt_handles,
            |_, _, _| {},
        )
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
        timeout: Duration,
    ) -> Result<Vec<EntryResult>, Error> {
        let mut world = self.enter(Call::ChangeMessageVisibilityBatch {
            queue_url: queue_url.to_owned(),
            receipt_handles: receipt_handles.to_vec(),
            timeout_secs: timeout.as_secs(),
        })?;
        world.each_in_flight(
            Operation::ChangeMessageVisibilityBatch,
            queue_url,
            receipt_handles,
            |queue, handle, message| {
                if timeout.is_zero() {
                    queue.visible.push_back(message);
                } else {
                    queue
                        .in_flight
                        .insert(handle.to_owned(), (message, timeout));
                }
            },
        )
    }
}

/// Keeps EMF lines in memory.
#[derive(Debug, Default)]
pub struct MemoryRecorder {
    lines: Mutex<Vec<String>>,
}

impl MemoryRecorder {
    /// The lines recorded so far, and forgets them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.lines.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Recorder for MemoryRecorder {
    fn record(&self, line: &str) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.to_owned());
    }
}
