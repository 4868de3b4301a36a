//! The capabilities the core needs from the world, as small async traits: AWS
//! ([`EventSourceMappings`], [`Concurrency`], [`Alarms`], [`Queues`]) and time ([`Clock`]).
//!
//! The reconcile loop is generic over them; the controller (`breaker::aws`) implements them
//! with the AWS SDK, the test kit (`floodgate-testkit`) in memory, the simulator on virtual
//! time. Each AWS method is one call of one [`Operation`] and returns the crate [`Error`] (an
//! [`Error::Aws`] classified by [`crate::error::AwsFault`]).
//!
//! Two decorators make the call-site habits properties of the ports, so no call can skip
//! them: [`Limited`] makes every Lambda control-plane call wait on one shared rate limiter,
//! and [`Retrying`] runs every call under the one retry policy ([`crate::retry`]). The
//! reconcile loop and the overflow step only accept ports wrapped in [`Retrying`]
//! ([`crate::reconcile::Context`]).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::policy::{AlarmState, ProbeTraffic};

mod borrowed;
mod delegate;
mod limited;
mod retrying;

pub use crate::clock::Clock;
pub use limited::{Limited, Pace};
pub use retrying::Retrying;

/// A queue's depth, as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStatus {
    /// `ApproximateNumberOfMessages` (visible).
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible` (in flight).
    pub in_flight: u64,
}

/// Lambda's `State` of an event source mapping; serialized as Lambda spells it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum MappingState {
    /// `Creating`.
    Creating,
    /// `Enabling`.
    Enabling,
    /// `Enabled`.
    Enabled,
    /// `Disabling`.
    Disabling,
    /// `Disabled`.
    Disabled,
    /// `Updating`.
    Updating,
    /// `Deleting`.
    Deleting,
    /// A state this version does not know.
    Other(String),
}

impl MappingState {
    /// Parses Lambda's spelling; unknown values are kept in [`MappingState::Other`].
    pub fn parse(text: &str) -> Self {
        match text {
            "Creating" => Self::Creating,
            "Enabling" => Self::Enabling,
            "Enabled" => Self::Enabled,
            "Disabling" => Self::Disabling,
            "Disabled" => Self::Disabled,
            "Updating" => Self::Updating,
            "Deleting" => Self::Deleting,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Lambda's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Creating => "Creating",
            Self::Enabling => "Enabling",
            Self::Enabled => "Enabled",
            Self::Disabling => "Disabling",
            Self::Disabled => "Disabled",
            Self::Updating => "Updating",
            Self::Deleting => "Deleting",
            Self::Other(other) => other,
        }
    }

    /// Whether the mapping consumes, once it is settled; `None` while it is in transition (or
    /// in a state this version does not know), when the answer cannot be read from the state
    /// and Lambda refuses updates anyway.
    pub fn settled_enabled(&self) -> Option<bool> {
        match self {
            Self::Enabled => Some(true),
            Self::Disabled => Some(false),
            Self::Creating
            | Self::Enabling
            | Self::Disabling
            | Self::Updating
            | Self::Deleting
            | Self::Other(_) => None,
        }
    }
}

impl MappingState {
    /// Whether the mapping may be consuming. Only a settled mapping is ever planned against;
    /// for the others (seen by `status`) anything that may be polling counts, the cautious
    /// reading for the rule that reserved concurrency must not drop below
    /// `MaximumConcurrency` while it consumes.
    pub fn may_consume(&self) -> bool {
        match self {
            Self::Enabled | Self::Enabling | Self::Updating | Self::Creating | Self::Other(_) => {
                true
            }
            Self::Disabled | Self::Disabling | Self::Deleting => false,
        }
    }
}

impl From<String> for MappingState {
    fn from(text: String) -> Self {
        Self::parse(&text)
    }
}

impl From<MappingState> for String {
    fn from(state: MappingState) -> Self {
        state.as_str().to_owned()
    }
}

impl fmt::Display for MappingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many concurrent invocations one provisioned event poller can drive: "each event poller
/// can handle up to 1 MB/s of throughput, up to 10 concurrent invokes, or up to 10 SQS polling
/// API calls per second" (Lambda Developer Guide, "Configuring scaling behavior for SQS event
/// source mappings", provisioned mode).
pub const INVOKES_PER_POLLER: u32 = 10;

/// A provisioned-mode mapping's pollers (`ProvisionedPollerConfig`). Mutually exclusive with
/// `ScalingConfig.MaximumConcurrency`; for SQS both are at least 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pollers {
    /// `MinimumPollers`.
    pub minimum: u32,
    /// `MaximumPollers`.
    pub maximum: u32,
}

/// An event source mapping as `GetEventSourceMapping` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Its UUID.
    pub uuid: String,
    /// Its ARN (the resource its state tags live on).
    pub arn: String,
    /// The ARN of the function it invokes.
    pub function_arn: String,
    /// Its state.
    pub state: MappingState,
    /// `ScalingConfig.MaximumConcurrency`; `None` = not set.
    pub maximum_concurrency: Option<u32>,
    /// `ProvisionedPollerConfig`, when the mapping is in provisioned mode.
    pub provisioned: Option<Pollers>,
    /// `LastModified`.
    pub last_modified: Option<DateTime<Utc>>,
}

/// What one `UpdateEventSourceMapping` call changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MappingUpdate {
    /// `Enabled`.
    pub enabled: Option<bool>,
    /// `ScalingConfig.MaximumConcurrency`.
    pub maximum_concurrency: Option<u32>,
    /// `ProvisionedPollerConfig` (provisioned mode only).
    pub pollers: Option<Pollers>,
}

/// One alarm as `DescribeAlarms` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmDescription {
    /// The alarm's name.
    pub name: String,
    /// Its state.
    pub state: AlarmState,
    /// When its state last changed.
    pub since: DateTime<Utc>,
    /// The worst-case time it needs to show a failure (metric alarms: period × datapoints
    /// to alarm + publish delay, see [`crate::policy::AlarmReading::detection`]); `None` for
    /// composite alarms.
    pub detection: Option<Duration>,
}

/// Lambda event source mappings: state, concurrency and tags. Every call is a Lambda
/// control-plane call.
pub trait EventSourceMappings: Sync {
    /// `GetEventSourceMapping`.
    ///
    /// # Errors
    /// [`Error::Aws`].
    fn get_mapping(&self, uuid: &str) -> impl Future<Output = Result<Mapping, Error>> + Send;

    /// `UpdateEventSourceMapping` with the fields of `update` that are set.
    ///
    /// # Errors
    /// [`Error::Aws`]; `InUse` while the mapping is in transition.
    fn update_mapping(
        &self,
        uuid: &str,
        update: MappingUpdate,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// `ListTags` of a resource ARN (all its tags, not only Floodgate's).
    ///
    /// # Errors
    /// [`Error::Aws`].
    fn tags(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, Error>> + Send;

    /// `TagResource`: adds or overwrites `tags` on a resource ARN.
    ///
    /// # Errors
    /// [`Error::Aws`].
    fn tag(
        &self,
        arn: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// A function's reserved concurrency. Every call is a Lambda control-plane call.
pub trait Concurrency: Sync {
    /// `GetFunctionConcurrency`; `None` = no reservation.
    ///
    /// # Errors
    /// [`Error::Aws`].
    fn reserved_concurrency(
        &self,
        function: &str,
    ) -> impl Future<Output = Result<Option<u32>, Error>> + Send;

    /// `PutFunctionConcurrency`.
    ///
    /// # Errors
    /// [`Error::Aws`].
    fn set_reserved_concurrency(
        &self,
        function: &str,
        reserved: u32,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// `CloudWatch` alarms.
pub trait Alarms: Sync {
    /// `DescribeAlarms` of metric and composite alarms by name. Alarms that do not exist are
    /// absent from the answer.
    ///
    /// # Errors
    /// [`Error::Aws`].
    fn describe_alarms(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AlarmDescription>, Error>> + Send;

    /// `GetMetricData`: the sums of `function`'s `AWS/Lambda` `Invocations` and `Errors`
    /// (dimension `FunctionName`) from `from` to `to`, in one-minute periods — the probe's
    /// own traffic — with the minute `from` falls in apart ([`ProbeTraffic`]). Datapoints not
    /// yet published count as nothing.
    ///
    /// # Errors
    /// [`Error::Aws`].
    fn function_outcome(
        &self,
        function: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<ProbeTraffic, Error>> + Send;
}

/// Most entries of one SQS batch call (and most messages one `ReceiveMessage` returns).
pub const MAX_BATCH_ENTRIES: usize = 10;

/// The value of one SQS message attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    /// `StringValue`: for the `String` and `Number` data types and their custom subtypes.
    String(String),
    /// `BinaryValue`: for the `Binary` data type and its custom subtypes.
    Binary(Vec<u8>),
}

/// One SQS message attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageAttribute {
    /// `DataType`: `String`, `Number`, `Binary`, or one of those with a custom suffix
    /// (`Number.int`).
    pub data_type: String,
    /// The value.
    pub value: AttributeValue,
}

impl MessageAttribute {
    /// A `String` attribute.
    pub fn string(value: impl Into<String>) -> Self {
        Self {
            data_type: "String".to_owned(),
            value: AttributeValue::String(value.into()),
        }
    }

    /// Bytes this attribute counts toward SQS's message size limit (name excluded).
    pub fn size(&self) -> usize {
        self.data_type.len()
            + match &self.value {
                AttributeValue::String(s) => s.len(),
                AttributeValue::Binary(b) => b.len(),
            }
    }
}

/// A message as `ReceiveMessage` returns it (with all message attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// `MessageId`.
    pub message_id: String,
    /// `ReceiptHandle`: what deleting it or changing its visibility takes.
    pub receipt_handle: String,
    /// `Body`.
    pub body: String,
    /// `MessageAttributes`, by name.
    pub attributes: BTreeMap<String, MessageAttribute>,
    /// The `AWSTraceHeader` system attribute (X-Ray), when set.
    pub trace_header: Option<String>,
    /// The `SentTimestamp` system attribute.
    pub sent_at: Option<DateTime<Utc>>,
    /// The `ApproximateReceiveCount` system attribute.
    pub receive_count: Option<u32>,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// `MessageBody`.
    pub body: String,
    /// `MessageAttributes`, by name (at most 10).
    pub attributes: BTreeMap<String, MessageAttribute>,
    /// The `AWSTraceHeader` system attribute to carry over, if any.
    pub trace_header: Option<String>,
}

impl OutgoingMessage {
    /// A message with `body` and no attributes.
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            attributes: BTreeMap::new(),
            trace_header: None,
        }
    }

    /// Bytes the message counts toward SQS's size limits: the body, and each attribute's
    /// name, data type and value.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(name, a)| name.len() + a.size())
                .sum::<usize>()
    }
}

/// Why one entry of a batch call failed (`BatchResultErrorEntry`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntryError {
    /// SQS's error code, e.g. `InvalidParameterValue`.
    pub code: String,
    /// SQS's message (bounded).
    pub message: String,
    /// `SenderFault`: the request for this entry was wrong (e.g. too large), so sending it
    /// again fails the same way; `false` means SQS failed and a retry may succeed.
    pub sender_fault: bool,
}

/// The outcome of one entry of a batch call.
pub type EntryResult = Result<(), EntryError>;

/// A queue's redrive policy (`RedrivePolicy`): where SQS moves a message, and after how many
/// receives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedrivePolicy {
    /// `deadLetterTargetArn`: the DLQ.
    pub dead_letter_target_arn: String,
    /// `maxReceiveCount`: SQS moves a message to the DLQ when a receive would take its
    /// `ApproximateReceiveCount` past this (SQS Developer Guide, dead-letter queues).
    pub max_receive_count: u32,
}

/// The configuration of a queue the overflow relies on, as `GetQueueAttributes` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueAttributes {
    /// `MaximumMessageSize` in bytes: SQS refuses a message (body plus message attributes)
    /// larger than this. 1,024 to 1,048,576.
    pub maximum_message_size: usize,
    /// `MessageRetentionPeriod`: SQS deletes a message this long after it was sent to the
    /// queue, received or not. 60 s to 14 days.
    pub retention: Duration,
    /// `RedrivePolicy`, when set.
    pub redrive: Option<RedrivePolicy>,
}

/// SQS's largest `MaximumMessageSize` (1 MiB), also the default of a new queue.
pub const MAX_MESSAGE_SIZE: usize = 1_048_576;
/// SQS's default `MessageRetentionPeriod`: 4 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_hours(4 * 24);

impl Default for QueueAttributes {
    /// What SQS gives a queue created without attributes.
    fn default() -> Self {
        Self {
            maximum_message_size: MAX_MESSAGE_SIZE,
            retention: DEFAULT_RETENTION,
            redrive: None,
        }
    }
}

/// SQS queues.
pub trait Queues: Sync {
    /// `GetQueueAttributes` of the visible and in-flight message counts.
    ///
    /// # Errors
    /// [`Error::Aws`].
    fn queue_depth(
        &self,
        queue_url: &str,
    ) -> impl Future<Output = Result<QueueStatus, Error>> + Send;

    /// `GetQueueAttributes` of `MaximumMessageSize`, `MessageRetentionPeriod` and
    /// `RedrivePolicy`.
    ///
    /// # Errors
    /// [`Error::Aws`], also when an attribute is missing or malformed.
    fn queue_attributes(
        &self,
        queue_url: &str,
    ) -> impl Future<Output = Result<QueueAttributes, Error>> + Send;

    /// `GetQueueUrl` of queue `name` owned by account `owner` (its ARN's account).
    ///
    /// # Errors
    /// [`Error::Aws`]; `NotFound` when there is no such queue.
    fn queue_url(
        &self,
        name: &str,
        owner: &str,
    ) -> impl Future<Output = Result<String, Error>> + Send;

    /// `ReceiveMessage` of up to `max` (1 to [`MAX_BATCH_ENTRIES`]) messages with all their
    /// message attributes, hidden from other consumers for `visibility_timeout`, waiting up
    /// to `wait` (whole seconds) for the first.
    ///
    /// # Errors
    /// [`Error::Aws`].
    fn receive_messages(
        &self,
        queue_url: &str,
        max: usize,
        visibility_timeout: Duration,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<ReceivedMessage>, Error>> + Send;

    /// `SendMessageBatch` of up to [`MAX_BATCH_ENTRIES`] messages; one result per message,
    /// in order. An entry SQS reports neither sent nor failed counts as failed: only a
    /// confirmed send may lead to deleting the original.
    ///
    /// # Errors
    /// [`Error::Aws`] when the call as a whole fails (then nothing is known to be sent).
    fn send_messages(
        &self,
        queue_url: &str,
        messages: &[OutgoingMessage],
    ) -> impl Future<Output = Result<Vec<EntryResult>, Error>> + Send;

    /// `DeleteMessageBatch` of up to [`MAX_BATCH_ENTRIES`] receipt handles; one result per
    /// handle, in order.
    ///
    /// # Errors
    /// [`Error::Aws`] when the call as a whole fails.
    fn delete_messages(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> impl Future<Output = Result<Vec<EntryResult>, Error>> + Send;

    /// `ChangeMessageVisibilityBatch` of up to [`MAX_BATCH_ENTRIES`] receipt handles to
    /// `timeout` (whole seconds; zero makes them visible at once); one result per handle, in
    /// order.
    ///
    /// # Errors
    /// [`Error::Aws`] when the call as a whole fails.
    fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<EntryResult>, Error>> + Send;
}

/// Everything the controller needs, in one bound.
pub trait Ports: EventSourceMappings + Concurrency + Alarms + Queues + Clock {}

impl<T: EventSourceMappings + Concurrency + Alarms + Queues + Clock> Ports for T {}
