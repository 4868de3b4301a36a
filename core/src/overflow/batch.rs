//! The bookkeeping of one batch, without I/O: what to send for each received message (and
//! where: its target, or the circuit's DLQ with a reason), how to split the sends by size,
//! and — once SQS has answered — which originals to delete, which to make visible again,
//! which to hold back and for how long, and the counts.
//!
//! The rule every function here serves: **delete only what was sent.** A received message
//! whose send is not confirmed (failed, refused, unanswered, or never attempted) is never
//! deleted; it stays in the queue it came from.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ports::{
    AttributeValue, EntryResult, MAX_BATCH_ENTRIES, MAX_MESSAGE_SIZE, MessageAttribute,
    OutgoingMessage, ReceivedMessage,
};

/// The attribute a moved message carries: [`Provenance`] as JSON.
pub const MOVED_ATTRIBUTE: &str = "floodgate-moved";
/// The attribute a replayed message carries: [`Provenance`] as JSON.
pub const REPLAYED_ATTRIBUTE: &str = "floodgate-replayed";
/// The attribute a message the controller sent to the circuit's DLQ carries: [`Provenance`]
/// as JSON, with its [`Provenance::cause`].
pub const DEAD_LETTER_ATTRIBUTE: &str = "floodgate-dead-letter";
/// SQS's limit of message attributes per message.
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// Most bytes of one `SendMessageBatch`: SQS's original 256 KiB limit, which every queue
/// accepts whatever its `MaximumMessageSize`. A message bigger than this goes alone.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;
/// How long a message with one delivery left is kept hidden when it cannot be moved: as long
/// as SQS allows. SQS caps a message's visibility timeout at 12 hours counted from its
/// receive (SQS API Reference, `ChangeMessageVisibility`); an hour less leaves room for the
/// time the batch took. Its next receive must be its consumer's, not the controller's.
pub const LAST_DELIVERY_HOLD: Duration = Duration::from_hours(11);
/// A hold never runs into the last hour of a message's retention: it must be visible to its
/// consumer before SQS deletes it.
pub const RETENTION_MARGIN: Duration = Duration::from_hours(1);

/// Which way messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// From the source to the overflow queue.
    Move,
    /// From the overflow queue back to the source.
    Replay,
}

impl Direction {
    /// The attribute a message sent this way carries.
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Move => MOVED_ATTRIBUTE,
            Self::Replay => REPLAYED_ATTRIBUTE,
        }
    }

    /// `move` or `replay`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Move => "move",
            Self::Replay => "replay",
        }
    }
}

/// Why the controller sent a message to the circuit's DLQ. Each is a message that would
/// otherwise be lost to its consumer without a word: redriven by SQS without a reason,
/// replayed for fresh attempts it should not have, sent to the wrong consumer, or left to
/// expire in the overflow queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DeadLetterCause {
    /// The controller's receive was the message's last delivery in its queue (its receive
    /// count reached `maxReceiveCount`, so SQS would move it to the DLQ at its next receive)
    /// and it could not go to its target.
    LastDelivery {
        /// Its `ApproximateReceiveCount`.
        receive_count: u32,
        /// The queue's `maxReceiveCount`.
        max_receive_count: u32,
        /// Why it could not go to its target.
        why: String,
    },
    /// It was replayed as often as the circuit allows (`max_replays_per_message`).
    ReplayLimit {
        /// Replays so far.
        replays: u32,
        /// The limit.
        limit: u32,
    },
    /// Its consumer already had the source's `maxReceiveCount` deliveries, summed over its
    /// stays in the source: a replay would give a failing message fresh attempts.
    ReceivesUsed {
        /// Deliveries in the source so far.
        receives: u32,
        /// The source's `maxReceiveCount`.
        max_receive_count: u32,
    },
    /// It is in the overflow queue without a (readable) record of where it came from, so
    /// there is no source it may be replayed to.
    NoProvenance,
    /// It was moved from another queue than this circuit's source.
    ForeignSource {
        /// The queue it was moved from.
        moved_from: String,
    },
    /// With its provenance, it is larger than the source's `MaximumMessageSize`.
    TooLargeForSource {
        /// Its size in bytes.
        size: usize,
        /// The source's limit.
        max: usize,
    },
    /// The source refused it as the sender's fault: it would be refused again every time.
    RefusedBySource {
        /// SQS's error code.
        code: String,
    },
}

impl fmt::Display for DeadLetterCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LastDelivery {
                receive_count,
                max_receive_count,
                why,
            } => write!(
                f,
                "received for the {receive_count}th time (maxReceiveCount {max_receive_count}) \
                 and could not be moved ({why}): SQS would move it to the DLQ at its next receive"
            ),
            Self::ReplayLimit { replays, limit } => {
                write!(f, "replayed {replays} times, the limit is {limit}")
            }
            Self::ReceivesUsed {
                receives,
                max_receive_count,
            } => write!(
                f,
                "its consumer had {receives} deliveries in the source (maxReceiveCount \
                 {max_receive_count}): a replay would give it fresh ones"
            ),
            Self::NoProvenance => f.write_str("no record of the source it was moved from"),
            Self::ForeignSource { moved_from } => {
                write!(f, "moved from {moved_from}, not this circuit's source")
            }
            Self::TooLargeForSource { size, max } => write!(
                f,
                "{size} bytes with its provenance, over the source's MaximumMessageSize {max}"
            ),
            Self::RefusedBySource { code } => write!(f, "the source refused it ({code})"),
        }
    }
}

/// Where, when and why a message was moved, replayed or sent to the DLQ: the JSON value of
/// [`MOVED_ATTRIBUTE`], [`REPLAYED_ATTRIBUTE`] or [`DEAD_LETTER_ATTRIBUTE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The circuit that moved it.
    pub circuit: String,
    /// The queue it was received from.
    pub from: String,
    /// The queue it was sent to.
    pub to: String,
    /// When (the invocation's time).
    pub at: DateTime<Utc>,
    /// Why, in words.
    pub reason: String,
    /// Its `MessageId` in the queue it came from.
    pub message_id: String,
    /// Its `SentTimestamp` in the queue it came from: how old it really is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// How many moves and replays it has been through, this one included.
    pub hops: u32,
    /// How many times it was replayed, this one included.
    #[serde(default)]
    pub replays: u32,
    /// Deliveries it had in the source before being moved, summed over its stays there
    /// (receive counts when moved, less the controller's own receive).
    #[serde(default)]
    pub receives: u32,
    /// Why the controller sent it to the DLQ (only in [`DEAD_LETTER_ATTRIBUTE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<DeadLetterCause>,
}

/// The circuit's DLQ: the `deadLetterTargetArn` of its source's redrive policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterQueue {
    /// Its URL.
    pub url: String,
    /// Its `MaximumMessageSize`.
    pub maximum_message_size: usize,
}

/// What the queues of a transfer allow, as read from them before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `maxReceiveCount` of the `from` queue's redrive policy, if it has one.
    pub from_max_receives: Option<u32>,
    /// `MessageRetentionPeriod` of the `from` queue, if known: holds end before it does.
    pub from_retention: Option<Duration>,
    /// `MaximumMessageSize` of the `to` queue.
    pub to_max_size: usize,
    /// `maxReceiveCount` of the circuit's source: a replay does not give a message whose
    /// consumer had that many deliveries fresh ones.
    pub source_max_receives: Option<u32>,
    /// Most replays of one message.
    pub max_replays: u32,
    /// The circuit's DLQ, when the source has one.
    pub dead_letter: Option<DeadLetterQueue>,
}

impl Default for Limits {
    /// No redrive policies, no DLQ, SQS's largest messages, unlimited replays.
    fn default() -> Self {
        Self {
            from_max_receives: None,
            from_retention: None,
            to_max_size: MAX_MESSAGE_SIZE,
            source_max_receives: None,
            max_replays: u32::MAX,
            dead_letter: None,
        }
    }
}

/// One move or replay: the circuit, the queues, why, and what they allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The circuit's name.
    pub circuit: String,
    /// Which way.
    pub direction: Direction,
    /// The queue messages are received from (and deleted from once sent).
    pub from: String,
    /// The queue messages are sent to.
    pub to: String,
    /// Why, in words; recorded in each message's [`Provenance`].
    pub reason: String,
    /// How long received messages stay hidden while their batch is sent and deleted
    /// (normally [`IN_FLIGHT_VISIBILITY`](super::transfer::IN_FLIGHT_VISIBILITY)).
    pub in_flight: Duration,
    /// How long a message that cannot be moved is kept hidden (normally
    /// [`UNMOVABLE_HOLD`](super::transfer::UNMOVABLE_HOLD)).
    pub hold: Duration,
    /// What the queues allow.
    pub limits: Limits,
}

/// Why a message cannot go to its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmovable {
    /// It already has [`MAX_MESSAGE_ATTRIBUTES`] attributes of its own: no room for its
    /// provenance.
    NoRoom,
    /// With its provenance it is larger than the target's `MaximumMessageSize`.
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The target's limit.
        max: usize,
    },
}

impl fmt::Display for Unmovable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRoom => f.write_str("no room for its provenance among 10 attributes"),
            Self::TooLarge { size, max } => {
                write!(
                    f,
                    "{size} bytes with its provenance, over the target's {max}"
                )
            }
        }
    }
}

/// What to do with one received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// Send this copy to the target.
    Send(OutgoingMessage),
    /// It cannot go to the target; it stays where it is (unless that was its last delivery).
    Unmovable(Unmovable),
    /// A replay that must not happen: it goes to the circuit's DLQ, for this reason.
    DeadLetter(DeadLetterCause),
}

/// A received message's own attributes (Floodgate's removed) and what Floodgate recorded
/// about it before.
struct History {
    attributes: BTreeMap<String, MessageAttribute>,
    moved: Option<Provenance>,
    hops: u32,
    replays: u32,
    receives: u32,
}

fn history(message: &ReceivedMessage) -> History {
    let mut attributes = message.attributes.clone();
    let mut take = |name: &str| {
        attributes.remove(name).and_then(|a| match a.value {
            AttributeValue::String(json) => serde_json::from_str::<Provenance>(&json).ok(),
            AttributeValue::Binary(_) => None,
        })
    };
    let moved = take(MOVED_ATTRIBUTE);
    let others = [take(REPLAYED_ATTRIBUTE), take(DEAD_LETTER_ATTRIBUTE)];
    let latest = moved
        .iter()
        .chain(others.iter().flatten())
        .max_by_key(|p| p.hops);
    History {
        hops: latest.map_or(0, |p| p.hops),
        replays: latest.map_or(0, |p| p.replays),
        receives: latest.map_or(0, |p| p.receives),
        moved,
        attributes,
    }
}

/// `message` with `attributes` and one more: `name` holding `provenance`.
fn tagged(
    message: &ReceivedMessage,
    mut attributes: BTreeMap<String, MessageAttribute>,
    name: &str,
    provenance: &Provenance,
) -> OutgoingMessage {
    // Serializing a struct of strings, times and integers cannot fail.
    let json = serde_json::to_string(provenance).unwrap_or_default();
    attributes.insert(name.to_owned(), MessageAttribute::string(json));
    OutgoingMessage {
        body: message.body.clone(),
        attributes,
        trace_header: message.trace_header.clone(),
    }
}

/// The copy of `message` to send for `transfer` at `at`: the same body, the same message
/// attributes and trace header, plus its provenance. A provenance attribute from an earlier
/// move or replay is replaced (its hop, replay and delivery counts carried on), so a message
/// that was moved can always be replayed and moved again.
///
/// A replay first checks the message's provenance: moved from this circuit's source, replayed
/// fewer than [`Limits::max_replays`] times, and its consumer not yet through the source's
/// `maxReceiveCount` deliveries; otherwise it goes to the DLQ ([`Prepared::DeadLetter`]). A
/// copy larger than the target's `MaximumMessageSize` is not sent: SQS would refuse it.
pub fn prepare(message: &ReceivedMessage, transfer: &Transfer, at: DateTime<Utc>) -> Prepared {
    let limits = &transfer.limits;
    let history = history(message);
    let (mut replays, mut receives) = (history.replays, history.receives);
    match transfer.direction {
        Direction::Move => {
            // The controller's own receive is one of the count, not a delivery to the consumer.
            receives =
                receives.saturating_add(message.receive_count.unwrap_or(1).saturating_sub(1));
        }
        Direction::Replay => {
            let Some(moved) = &history.moved else {
                return Prepared::DeadLetter(DeadLetterCause::NoProvenance);
            };
            if moved.from != transfer.to {
                return Prepared::DeadLetter(DeadLetterCause::ForeignSource {
                    moved_from: moved.from.clone(),
                });
            }
            if replays >= limits.max_replays {
                return Prepared::DeadLetter(DeadLetterCause::ReplayLimit {
                    replays,
                    limit: limits.max_replays,
                });
            }
            if let Some(max) = limits.source_max_receives
                && receives >= max
            {
                return Prepared::DeadLetter(DeadLetterCause::ReceivesUsed {
                    receives,
                    max_receive_count: max,
                });
            }
            replays += 1;
        }
    }
    if history.attributes.len() >= MAX_MESSAGE_ATTRIBUTES {
        return Prepared::Unmovable(Unmovable::NoRoom);
    }
    let provenance = Provenance {
        circuit: transfer.circuit.clone(),
        from: transfer.from.clone(),
        to: transfer.to.clone(),
        at,
        reason: transfer.reason.clone(),
        message_id: message.message_id.clone(),
        sent_at: message.sent_at,
        hops: history.hops.saturating_add(1),
        replays,
        receives,
        cause: None,
    };
    let copy = tagged(
        message,
        history.attributes,
        transfer.direction.attribute(),
        &provenance,
    );
    let (size, max) = (copy.size(), limits.to_max_size);
    if size <= max {
        return Prepared::Send(copy);
    }
    match transfer.direction {
        Direction::Move => Prepared::Unmovable(Unmovable::TooLarge { size, max }),
        Direction::Replay => Prepared::DeadLetter(DeadLetterCause::TooLargeForSource { size, max }),
    }
}

/// The copy of `message` for the circuit's DLQ: its body, own attributes and trace header,
/// plus [`DEAD_LETTER_ATTRIBUTE`] saying why. `None` when there is no DLQ, or the copy does
/// not fit it (no room for the attribute, or too large).
pub fn dead_letter_copy(
    message: &ReceivedMessage,
    transfer: &Transfer,
    cause: &DeadLetterCause,
    at: DateTime<Utc>,
) -> Option<OutgoingMessage> {
    let dead_letter = transfer.limits.dead_letter.as_ref()?;
    let history = history(message);
    if history.attributes.len() >= MAX_MESSAGE_ATTRIBUTES {
        return None;
    }
    let provenance = Provenance {
        circuit: transfer.circuit.clone(),
        from: transfer.from.clone(),
        to: dead_letter.url.clone(),
        at,
        reason: cause.to_string(),
        message_id: message.message_id.clone(),
        sent_at: message.sent_at,
        hops: history.hops.saturating_add(1),
        replays: history.replays,
        receives: history.receives,
        cause: Some(cause.clone()),
    };
    let copy = tagged(
        message,
        history.attributes,
        DEAD_LETTER_ATTRIBUTE,
        &provenance,
    );
    (copy.size() <= dead_letter.maximum_message_size).then_some(copy)
}

/// Splits entries of these sizes, in order, into consecutive batches of at most
/// [`MAX_BATCH_ENTRIES`] entries and `limit` bytes; an entry bigger than `limit` goes alone
/// (SQS then judges it against the queue's own limit).
pub fn pack(sizes: &[usize], limit: usize) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        let full = i - start == MAX_BATCH_ENTRIES || (i > start && bytes + size > limit);
        if full {
            batches.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        batches.push(start..sizes.len());
    }
    batches
}

/// What becomes of one received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Sent to the target: delete the original.
    Sent,
    /// To be sent to the circuit's DLQ with this reason (then deleted once SQS confirmed).
    DeadLetter(DeadLetterCause),
    /// Sent to the circuit's DLQ: delete the original.
    DeadLettered,
    /// Left in its queue, visible again at once: its send failed on SQS's side, so its
    /// consumer (or the next invocation) may have it without delay.
    Release,
    /// Left in its queue, hidden this long: it would fail the same way again, and every
    /// receive raises its receive count toward the DLQ.
    Hold(Duration),
}

/// The fates of one batch's messages, by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    /// One per received message.
    pub fates: Vec<Fate>,
    /// Whether some send failed on SQS's side: the transfer stops after this batch rather
    /// than keep receiving (and raising receive counts) while a queue fails.
    pub transient_failure: bool,
}

impl Settlement {
    /// The indices whose fate satisfies `which`.
    pub fn indices(&self, which: impl Fn(&Fate) -> bool) -> Vec<usize> {
        (0..self.fates.len())
            .filter(|&i| which(&self.fates[i]))
            .collect()
    }

    /// The originals to delete: sent to the target or to the DLQ.
    pub fn delete(&self) -> Vec<usize> {
        self.indices(|f| matches!(f, Fate::Sent | Fate::DeadLettered))
    }

    /// The messages waiting for their DLQ send, with their causes.
    pub fn dead_letters(&self) -> Vec<(usize, DeadLetterCause)> {
        self.fates
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match f {
                Fate::DeadLetter(cause) => Some((i, cause.clone())),
                _ => None,
            })
            .collect()
    }

    /// Records the outcome of message `i`'s DLQ send (`None`: not sent). A message the DLQ
    /// did not take stays where it is, hidden as long as a message with one delivery left.
    pub fn dead_letter_sent(&mut self, i: usize, result: Option<&EntryResult>, hold: Duration) {
        self.fates[i] = match result {
            Some(Ok(())) => Fate::DeadLettered,
            Some(Err(error)) => {
                self.transient_failure |= !error.sender_fault;
                Fate::Hold(hold)
            }
            None => Fate::Hold(hold),
        };
    }
}

/// How many more deliveries SQS makes of a message received `receive_count` times from a
/// queue whose redrive policy allows `max`; `None` when unlimited or unknown.
pub fn deliveries_left(receive_count: Option<u32>, max: Option<u32>) -> Option<u32> {
    Some(max?.saturating_sub(receive_count?))
}

/// How long to hold back a message that stays in its queue: `hold`, or when it has one
/// delivery left (or none) [`LAST_DELIVERY_HOLD`] — so that its next receive is its
/// consumer's, not the controller's — but never past the last [`RETENTION_MARGIN`] of its
/// life in the queue, when that is known.
pub fn hold_for(
    left: Option<u32>,
    hold: Duration,
    message: &ReceivedMessage,
    retention: Option<Duration>,
    at: DateTime<Utc>,
) -> Duration {
    let wanted = if matches!(left, Some(0 | 1)) {
        LAST_DELIVERY_HOLD
    } else {
        hold
    };
    let remaining = message.sent_at.zip(retention).map(|(sent, retention)| {
        let age = (at - sent).to_std().unwrap_or_default();
        retention
            .saturating_sub(age)
            .saturating_sub(RETENTION_MARGIN)
    });
    remaining.map_or(wanted, |r| wanted.min(r))
}

/// Settles a batch: `prepared[i]` is what was planned for received message `received[i]`,
/// and `results[i]` the outcome of its send — `None` when it was not sent or its call failed
/// as a whole (a missing entry of `results` counts as `None`).
///
/// A message that stays behind keeps its place in its queue, except when the controller's
/// receive was its last delivery there: then SQS would move it to the DLQ at its next
/// receive without a word, so it goes to the DLQ now, with its reason
/// ([`DeadLetterCause::LastDelivery`]). A replay the source refuses as the sender's fault
/// goes to the DLQ too ([`DeadLetterCause::RefusedBySource`]): left in the overflow queue it
/// would only wait there to expire.
pub fn settle(
    prepared: &[Prepared],
    results: &[Option<EntryResult>],
    received: &[ReceivedMessage],
    transfer: &Transfer,
    at: DateTime<Utc>,
) -> Settlement {
    let limits = &transfer.limits;
    let mut settlement = Settlement::default();
    for (i, plan) in prepared.iter().enumerate() {
        let message = &received[i];
        let result = results.get(i).and_then(Option::as_ref);
        let why = match (plan, result) {
            (Prepared::Send(_), Some(Ok(()))) => {
                settlement.fates.push(Fate::Sent);
                continue;
            }
            (Prepared::DeadLetter(cause), _) => {
                settlement.fates.push(Fate::DeadLetter(cause.clone()));
                continue;
            }
            (Prepared::Send(_), Some(Err(error)))
                if error.sender_fault && transfer.direction == Direction::Replay =>
            {
                settlement
                    .fates
                    .push(Fate::DeadLetter(DeadLetterCause::RefusedBySource {
                        code: error.code.clone(),
                    }));
                continue;
            }
            (Prepared::Unmovable(why), _) => (why.to_string(), false),
            (Prepared::Send(_), Some(Err(error))) if error.sender_fault => {
                (format!("refused: {}", error.code), false)
            }
            (Prepared::Send(_), Some(Err(error))) => (format!("failed: {}", error.code), true),
            (Prepared::Send(_), None) => ("send not confirmed".to_owned(), true),
        };
        let (why, transient) = why;
        settlement.transient_failure |= transient;
        let left = deliveries_left(message.receive_count, limits.from_max_receives);
        let fate = match (left, limits.from_max_receives) {
            (Some(0), Some(max)) => Fate::DeadLetter(DeadLetterCause::LastDelivery {
                receive_count: message.receive_count.unwrap_or(max),
                max_receive_count: max,
                why,
            }),
            _ if transient && left != Some(1) => Fate::Release,
            _ => Fate::Hold(hold_for(
                left,
                transfer.hold,
                message,
                limits.from_retention,
                at,
            )),
        };
        settlement.fates.push(fate);
    }
    settlement
}

/// The counts of one transfer, summed over its batches.
///
/// Conservation: `received == transferred + dead_lettered + send_failed + unmovable`.
/// `delete_failed` is a subset of `transferred + dead_lettered` (sent, original still there:
/// a duplicate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages received from the `from` queue.
    pub received: u64,
    /// Messages sent to the `to` queue.
    pub transferred: u64,
    /// Messages sent to the circuit's DLQ with their reason.
    pub dead_lettered: u64,
    /// Messages whose send failed; they stay in the `from` queue.
    pub send_failed: u64,
    /// Messages sent whose original could not be deleted.
    pub delete_failed: u64,
    /// Messages left because they cannot go to the target (no room for their provenance, or
    /// too large for it).
    pub unmovable: u64,
    /// Why the transfer ended before its count, if it did.
    pub stopped: Option<String>,
}

impl Tally {
    /// Adds a settled batch.
    pub fn add(&mut self, prepared: &[Prepared], settlement: &Settlement) {
        self.received += prepared.len() as u64;
        for (plan, fate) in prepared.iter().zip(&settlement.fates) {
            let count = match (fate, plan) {
                (Fate::Sent, _) => &mut self.transferred,
                (Fate::DeadLettered, _) => &mut self.dead_lettered,
                (_, Prepared::Unmovable(_)) => &mut self.unmovable,
                (_, Prepared::Send(_) | Prepared::DeadLetter(_)) => &mut self.send_failed,
            };
            *count += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{AttributeValue, EntryError};

    fn received(id: &str, attributes: usize) -> ReceivedMessage {
        ReceivedMessage {
            message_id: id.into(),
            receipt_handle: format!("{id}-handle"),
            body: format!("{{\"id\":\"{id}\"}}"),
            attributes: (0..attributes)
                .map(|i| (format!("a{i}"), MessageAttribute::string(i.to_string())))
                .collect(),
            trace_header: Some("Root=1-abc".into()),
            sent_at: None,
            receive_count: Some(1),
        }
    }

    /// A move from `q/src` to `q/ovf`, or the replay back.
    fn transfer(direction: Direction) -> Transfer {
        let (from, to) = match direction {
            Direction::Move => ("https://q/src", "https://q/ovf"),
            Direction::Replay => ("https://q/ovf", "https://q/src"),
        };
        Transfer {
            circuit: "orders".into(),
            direction,
            from: from.into(),
            to: to.into(),
            reason: "open: 1500 visible over ceiling 1000".into(),
            in_flight: Duration::from_secs(30),
            hold: Duration::from_mins(1),
            limits: Limits {
                from_max_receives: Some(5),
                source_max_receives: Some(5),
                max_replays: 3,
                dead_letter: Some(DeadLetterQueue {
                    url: "https://q/dlq".into(),
                    maximum_message_size: MAX_MESSAGE_SIZE,
                }),
                ..Limits::default()
            },
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn provenance(message: &OutgoingMessage, name: &str) -> Provenance {
        match &message.attributes[name].value {
            AttributeValue::String(json) => serde_json::from_str(json).unwrap(),
            AttributeValue::Binary(_) => panic!("provenance is a string"),
        }
    }

    fn sent(prepared: Prepared) -> OutgoingMessage {
        match prepared {
            Prepared::Send(copy) => copy,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    /// `copy` as received from the queue it was sent to, `receive_count` times.
    fn arrived(copy: &OutgoingMessage, id: &str, receive_count: u32) -> ReceivedMessage {
        ReceivedMessage {
            attributes: copy.attributes.clone(),
            message_id: id.into(),
            body: copy.body.clone(),
            receive_count: Some(receive_count),
            ..received(id, 0)
        }
    }

    #[test]
    fn a_moved_copy_keeps_body_attributes_and_trace_and_says_where_from() {
        let original = received("m-1", 3);
        let copy = sent(prepare(&original, &transfer(Direction::Move), at()));
        assert_eq!(copy.body, original.body);
        assert_eq!(copy.trace_header, original.trace_header);
        assert_eq!(copy.attributes.len(), 4);
        for (name, value) in &original.attributes {
            assert_eq!(&copy.attributes[name], value);
        }
        let moved = provenance(&copy, MOVED_ATTRIBUTE);
        assert_eq!(moved.circuit, "orders");
        assert_eq!(moved.from, "https://q/src");
        assert_eq!(moved.to, "https://q/ovf");
        assert_eq!(moved.message_id, "m-1");
        assert_eq!(moved.at, at());
        assert_eq!((moved.hops, moved.replays, moved.receives), (1, 0, 0));
    }

    #[test]
    fn a_replay_replaces_the_moved_attribute_so_a_full_message_still_fits() {
        let moved = sent(prepare(
            &received("m-1", 9),
            &transfer(Direction::Move),
            at(),
        ));
        assert_eq!(moved.attributes.len(), MAX_MESSAGE_ATTRIBUTES);
        let replayed = sent(prepare(
            &arrived(&moved, "m-2", 1),
            &transfer(Direction::Replay),
            at(),
        ));
        assert_eq!(replayed.attributes.len(), MAX_MESSAGE_ATTRIBUTES);
        assert!(!replayed.attributes.contains_key(MOVED_ATTRIBUTE));
        let record = provenance(&replayed, REPLAYED_ATTRIBUTE);
        assert_eq!((record.hops, record.message_id.as_str()), (2, "m-2"));
        assert_eq!(record.replays, 1);
    }

    #[test]
    fn deliveries_in_the_source_add_up_over_moves_and_replays() {
        // Failed three times, then received by the move: three deliveries.
        let first = sent(prepare(
            &ReceivedMessage {
                receive_count: Some(4),
                ..received("m-1", 0)
            },
            &transfer(Direction::Move),
            at(),
        ));
        assert_eq!(provenance(&first, MOVED_ATTRIBUTE).receives, 3);
        let back = sent(prepare(
            &arrived(&first, "m-2", 1),
            &transfer(Direction::Replay),
            at(),
        ));
        // Back in the source, it fails once more before the next move: 3 + 1.
        let again = sent(prepare(
            &arrived(&back, "m-3", 2),
            &transfer(Direction::Move),
            at(),
        ));
        let record = provenance(&again, MOVED_ATTRIBUTE);
        assert_eq!((record.receives, record.replays, record.hops), (4, 1, 3));
        // One more failure would use the source's five: no replay for fresh attempts.
        let used = sent(prepare(
            &arrived(
                &sent(prepare(
                    &arrived(&again, "m-4", 1),
                    &transfer(Direction::Replay),
                    at(),
                )),
                "m-5",
                2,
            ),
            &transfer(Direction::Move),
            at(),
        ));
        assert_eq!(
            prepare(
                &arrived(&used, "m-6", 1),
                &transfer(Direction::Replay),
                at()
            ),
            Prepared::DeadLetter(DeadLetterCause::ReceivesUsed {
                receives: 5,
                max_receive_count: 5
            })
        );
    }

    #[test]
    fn a_replay_checks_where_the_message_came_from_and_how_often_it_was_replayed() {
        let replay = transfer(Direction::Replay);
        assert_eq!(
            prepare(&received("m-1", 2), &replay, at()),
            Prepared::DeadLetter(DeadLetterCause::NoProvenance)
        );
        let other = Transfer {
            from: "https://q/other".into(),
            ..transfer(Direction::Move)
        };
        let foreign = sent(prepare(&received("m-1", 0), &other, at()));
        assert_eq!(
            prepare(&arrived(&foreign, "m-2", 1), &replay, at()),
            Prepared::DeadLetter(DeadLetterCause::ForeignSource {
                moved_from: "https://q/other".into()
            })
        );
        let mut message = sent(prepare(
            &received("m-1", 0),
            &transfer(Direction::Move),
            at(),
        ));
        for round in 1..=3 {
            let back = sent(prepare(&arrived(&message, "r", 1), &replay, at()));
            assert_eq!(provenance(&back, REPLAYED_ATTRIBUTE).replays, round);
            message = sent(prepare(
                &arrived(&back, "m", 1),
                &transfer(Direction::Move),
                at(),
            ));
        }
        assert_eq!(
            prepare(&arrived(&message, "m", 1), &replay, at()),
            Prepared::DeadLetter(DeadLetterCause::ReplayLimit {
                replays: 3,
                limit: 3
            })
        );
    }

    #[test]
    fn a_copy_over_the_targets_size_limit_is_not_sent() {
        let small_target = |direction| {
            let mut job = transfer(direction);
            job.limits.to_max_size = 100;
            job
        };
        let mut big = received("m-1", 0);
        big.body = "x".repeat(90);
        assert!(matches!(
            prepare(&big, &small_target(Direction::Move), at()),
            Prepared::Unmovable(Unmovable::TooLarge { max: 100, .. })
        ));
        let moved = sent(prepare(&big, &transfer(Direction::Move), at()));
        assert!(matches!(
            prepare(
                &arrived(&moved, "m-2", 1),
                &small_target(Direction::Replay),
                at()
            ),
            Prepared::DeadLetter(DeadLetterCause::TooLargeForSource { max: 100, .. })
        ));
    }

    #[test]
    fn a_message_with_ten_attributes_of_its_own_is_unmovable() {
        assert_eq!(
            prepare(&received("m-1", 10), &transfer(Direction::Move), at()),
            Prepared::Unmovable(Unmovable::NoRoom)
        );
    }

    #[test]
    fn a_dead_letter_copy_says_why_and_needs_room_and_a_dlq() {
        let job = transfer(Direction::Move);
        let cause = DeadLetterCause::NoProvenance;
        let copy = dead_letter_copy(&received("m-1", 9), &job, &cause, at()).unwrap();
        let record = provenance(&copy, DEAD_LETTER_ATTRIBUTE);
        assert_eq!(
            (record.to.as_str(), record.cause),
            ("https://q/dlq", Some(cause.clone()))
        );
        assert_eq!(
            dead_letter_copy(&received("m-1", 10), &job, &cause, at()),
            None
        );
        let no_dlq = Transfer {
            limits: Limits::default(),
            ..job
        };
        assert_eq!(
            dead_letter_copy(&received("m-1", 0), &no_dlq, &cause, at()),
            None
        );
    }

    #[test]
    fn batches_split_at_ten_entries_and_at_the_byte_limit() {
        assert_eq!(pack(&[1; 23], 1000), [0..10, 10..20, 20..23]);
        assert_eq!(pack(&[400, 400, 400, 100], 1000), [0..2, 2..4]);
        assert_eq!(pack(&[5000, 10, 10], 1000), [0..1, 1..3]);
        assert_eq!(pack(&[10, 5000, 10], 1000), [0..1, 1..2, 2..3]);
        assert!(pack(&[], 1000).is_empty());
    }

    #[test]
    fn settling_deletes_sent_releases_failed_holds_refused_and_dead_letters_the_last_delivery() {
        let send = Prepared::Send(OutgoingMessage::new("x"));
        let failed = |sender_fault| {
            Some(Err(EntryError {
                code: "E".into(),
                message: String::new(),
                sender_fault,
            }))
        };
        let counts = [1, 1, 1, 1, 1, 1, 5, 4];
        let received: Vec<ReceivedMessage> = counts
            .iter()
            .map(|&c| ReceivedMessage {
                receive_count: Some(c),
                ..received("m", 0)
            })
            .collect();
        let job = transfer(Direction::Move);
        let settlement = settle(
            &[
                send.clone(),
                send.clone(),
                send.clone(),
                Prepared::Unmovable(Unmovable::NoRoom),
                send.clone(),
                send.clone(),
                Prepared::Unmovable(Unmovable::NoRoom),
                send,
            ],
            &[
                Some(Ok(())),
                failed(false),
                failed(true),
                None,
                None,
                None,
                None,
                failed(false),
            ],
            &received,
            &job,
            at(),
        );
        assert_eq!(settlement.delete(), [0]);
        assert_eq!(settlement.indices(|f| *f == Fate::Release), [1, 4, 5]);
        assert_eq!(
            settlement.indices(|f| *f == Fate::Hold(job.hold)),
            [2, 3],
            "refused and unmovable, with deliveries to spare"
        );
        assert!(matches!(
            settlement.fates[6],
            Fate::DeadLetter(DeadLetterCause::LastDelivery {
                receive_count: 5,
                ..
            })
        ));
        assert_eq!(
            settlement.fates[7],
            Fate::Hold(LAST_DELIVERY_HOLD),
            "one delivery left: it is its consumer's"
        );
        assert!(settlement.transient_failure);
    }

    #[test]
    fn a_hold_ends_before_the_message_would_expire() {
        let mut message = received("m-1", 0);
        message.sent_at = Some(at() - chrono::TimeDelta::hours(90));
        let four_days = Duration::from_hours(96);
        assert_eq!(
            hold_for(
                Some(1),
                Duration::from_mins(10),
                &message,
                Some(four_days),
                at()
            ),
            Duration::from_hours(5),
            "six hours left, less the margin"
        );
        assert_eq!(
            hold_for(
                Some(3),
                Duration::from_mins(10),
                &message,
                Some(four_days),
                at()
            ),
            Duration::from_mins(10)
        );
        assert_eq!(
            hold_for(Some(1), Duration::from_mins(10), &message, None, at()),
            LAST_DELIVERY_HOLD
        );
    }
}
