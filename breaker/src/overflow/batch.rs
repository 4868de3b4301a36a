//! The bookkeeping of one batch, without I/O: what to send for each received message, how to
//! split the sends by size, and — once SQS has answered — which originals to delete, which to
//! make visible again, which to hold back, and the counts.
//!
//! The rule every function here serves: **delete only what was sent.** A received message
//! whose send is not confirmed (failed, refused, unanswered, or never attempted) is never
//! deleted; it stays in the queue it came from.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ports::{
    EntryResult, MAX_BATCH_ENTRIES, MessageAttribute, OutgoingMessage, ReceivedMessage,
};

/// The attribute a moved message carries: [`Provenance`] as JSON.
pub const MOVED_ATTRIBUTE: &str = "floodgate-moved";
/// The attribute a replayed message carries: [`Provenance`] as JSON.
pub const REPLAYED_ATTRIBUTE: &str = "floodgate-replayed";
/// SQS's limit of message attributes per message.
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// Most bytes of one `SendMessageBatch`: SQS's original 256 KiB limit, which every queue
/// accepts whatever its `MaximumMessageSize`. A message bigger than this goes alone.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

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

/// Where, when and why a message was moved or replayed: the JSON value of
/// [`MOVED_ATTRIBUTE`] or [`REPLAYED_ATTRIBUTE`].
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
}

/// One move or replay: the circuit, the queues, and why.
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
}

/// What to do with one received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// Send this copy.
    Send(OutgoingMessage),
    /// Leave it where it is: it already has [`MAX_MESSAGE_ATTRIBUTES`] attributes of its own,
    /// so there is no room for its provenance.
    Unmovable,
}

/// The copy of `message` to send for `transfer` at `at`: the same body, the same message
/// attributes and trace header, plus its provenance. A provenance attribute from an earlier
/// move or replay is replaced (its hop count carried on), so a message that was moved can
/// always be replayed and moved again.
pub fn prepare(message: &ReceivedMessage, transfer: &Transfer, at: DateTime<Utc>) -> Prepared {
    let mut attributes: BTreeMap<String, MessageAttribute> = message.attributes.clone();
    let earlier_hops = [MOVED_ATTRIBUTE, REPLAYED_ATTRIBUTE]
        .iter()
        .filter_map(|name| attributes.remove(*name))
        .filter_map(|a| match a.value {
            crate::ports::AttributeValue::String(json) => {
                serde_json::from_str::<Provenance>(&json).ok()
            }
            crate::ports::AttributeValue::Binary(_) => None,
        })
        .map(|p| p.hops)
        .max()
        .unwrap_or(0);
    if attributes.len() >= MAX_MESSAGE_ATTRIBUTES {
        return Prepared::Unmovable;
    }
    let provenance = Provenance {
        circuit: transfer.circuit.clone(),
        from: transfer.from.clone(),
        to: transfer.to.clone(),
        at,
        reason: transfer.reason.clone(),
        message_id: message.message_id.clone(),
        sent_at: message.sent_at,
        hops: earlier_hops.saturating_add(1),
    };
    // Serializing a struct of strings, a time and an integer cannot fail.
    let json = serde_json::to_string(&provenance).unwrap_or_default();
    attributes.insert(
        transfer.direction.attribute().to_owned(),
        MessageAttribute::string(json),
    );
    Prepared::Send(OutgoingMessage {
        body: message.body.clone(),
        attributes,
        trace_header: message.trace_header.clone(),
    })
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

/// What becomes of each received message of a batch, by its index in the batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    /// Sent: delete the original.
    pub delete: Vec<usize>,
    /// The send failed on SQS's side, or was never confirmed: make the original visible
    /// again at once, so its consumer (or the next invocation) sees it without delay.
    pub release: Vec<usize>,
    /// Unmovable, or refused as the sender's fault (it would fail the same way again): keep
    /// the original hidden for a while, so it is not received over and over, each time
    /// raising its receive count toward the DLQ.
    pub hold: Vec<usize>,
    /// Messages sent.
    pub sent: u64,
    /// Messages whose send failed or was not confirmed.
    pub send_failed: u64,
    /// Messages left for want of room for their provenance.
    pub unmovable: u64,
    /// Whether some send failed on SQS's side: the transfer stops after this batch rather
    /// than keep receiving (and raising receive counts) while the target queue fails.
    pub transient_failure: bool,
}

/// Settles a batch: `prepared[i]` is what was planned for received message `i`, and
/// `results[i]` the outcome of its send — `None` when it was not sent or its call failed as a
/// whole (a missing entry of `results` counts as `None`).
pub fn settle(prepared: &[Prepared], results: &[Option<EntryResult>]) -> Settlement {
    let mut settlement = Settlement::default();
    for (i, plan) in prepared.iter().enumerate() {
        match (plan, results.get(i).and_then(Option::as_ref)) {
            (Prepared::Unmovable, _) => {
                settlement.hold.push(i);
                settlement.unmovable += 1;
            }
            (Prepared::Send(_), Some(Ok(()))) => {
                settlement.delete.push(i);
                settlement.sent += 1;
            }
            (Prepared::Send(_), Some(Err(error))) if error.sender_fault => {
                settlement.hold.push(i);
                settlement.send_failed += 1;
            }
            (Prepared::Send(_), Some(Err(_)) | None) => {
                settlement.release.push(i);
                settlement.send_failed += 1;
                settlement.transient_failure = true;
            }
        }
    }
    settlement
}

/// The counts of one transfer, summed over its batches.
///
/// Conservation: `received == transferred + send_failed + unmovable`. `delete_failed` is a
/// subset of `transferred` (sent, original still there: a duplicate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages received from the `from` queue.
    pub received: u64,
    /// Messages sent to the `to` queue.
    pub transferred: u64,
    /// Messages whose send failed; they stay in the `from` queue.
    pub send_failed: u64,
    /// Messages sent whose original could not be deleted.
    pub delete_failed: u64,
    /// Messages left for want of room for their provenance.
    pub unmovable: u64,
    /// Why the transfer ended before its count, if it did.
    pub stopped: Option<String>,
}

impl Tally {
    /// Adds a settled batch of `received` messages.
    pub fn add(&mut self, received: usize, settlement: &Settlement) {
        self.received += received as u64;
        self.transferred += settlement.sent;
        self.send_failed += settlement.send_failed;
        self.unmovable += settlement.unmovable;
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

    fn transfer(direction: Direction) -> Transfer {
        Transfer {
            circuit: "orders".into(),
            direction,
            from: "https://q/src".into(),
            to: "https://q/ovf".into(),
            reason: "open: 1500 visible over ceiling 1000".into(),
            in_flight: Duration::from_secs(30),
            hold: Duration::from_mins(1),
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

    #[test]
    fn a_moved_copy_keeps_body_attributes_and_trace_and_says_where_from() {
        let original = received("m-1", 3);
        let Prepared::Send(copy) = prepare(&original, &transfer(Direction::Move), at()) else {
            panic!("three attributes leave room");
        };
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
        assert_eq!(moved.hops, 1);
    }

    #[test]
    fn a_replay_replaces_the_moved_attribute_so_a_full_message_still_fits() {
        let original = received("m-1", 9);
        let Prepared::Send(moved) = prepare(&original, &transfer(Direction::Move), at()) else {
            panic!("nine attributes leave room for one");
        };
        assert_eq!(moved.attributes.len(), MAX_MESSAGE_ATTRIBUTES);
        let in_overflow = ReceivedMessage {
            attributes: moved.attributes.clone(),
            message_id: "m-2".into(),
            ..original
        };
        let Prepared::Send(replayed) = prepare(&in_overflow, &transfer(Direction::Replay), at())
        else {
            panic!("the moved attribute is replaced, not added to");
        };
        assert_eq!(replayed.attributes.len(), MAX_MESSAGE_ATTRIBUTES);
        assert!(!replayed.attributes.contains_key(MOVED_ATTRIBUTE));
        let record = provenance(&replayed, REPLAYED_ATTRIBUTE);
        assert_eq!((record.hops, record.message_id.as_str()), (2, "m-2"));
    }

    #[test]
    fn a_message_with_ten_attributes_of_its_own_is_unmovable() {
        assert_eq!(
            prepare(&received("m-1", 10), &transfer(Direction::Move), at()),
            Prepared::Unmovable
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
    fn settling_deletes_sent_releases_failed_and_holds_refused_and_unmovable() {
        let send = Prepared::Send(OutgoingMessage::new("x"));
        let failed = |sender_fault| {
            Some(Err(EntryError {
                code: "E".into(),
                message: String::new(),
                sender_fault,
            }))
        };
        let settlement = settle(
            &[
                send.clone(),
                send.clone(),
                send.clone(),
                Prepared::Unmovable,
                send.clone(),
                send,
            ],
            &[Some(Ok(())), failed(false), failed(true), None, None],
        );
        assert_eq!(settlement.delete, [0]);
        assert_eq!(settlement.release, [1, 4, 5]);
        assert_eq!(settlement.hold, [2, 3]);
        assert_eq!(
            (
                settlement.sent,
                settlement.send_failed,
                settlement.unmovable
            ),
            (1, 4, 1)
        );
        assert!(settlement.transient_failure);
    }
}
