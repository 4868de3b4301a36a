//! An SQS standard queue in virtual time.
//!
//! What it models (SQS Developer Guide): a received message is hidden for the visibility
//! timeout and comes back when it is not deleted in time ("Amazon SQS visibility timeout");
//! every receive raises its `ApproximateReceiveCount`; a message received `maxReceiveCount`
//! times is moved to the dead-letter queue instead of being delivered again ("Using
//! dead-letter queues": "when the `ReceiveCount` for a message exceeds the `maxReceiveCount`");
//! a message older than the retention period is deleted; a delayed message is hidden until
//! its delay ends; deleting needs the receipt handle of the latest receive. Delivery order is
//! first in, first out with returned messages at the back: standard queues promise no order,
//! and this one is the simplest that never starves a message.
//!
//! The payload type is the caller's: the queue only moves it between its states, so every
//! message is in exactly one place at every step (see [`SimQueue::len`]).
//!
//! `ApproximateAgeOfOldestMessage` ([`SimQueue::age_of_oldest`]) follows the SQS Developer
//! Guide, "Available CloudWatch metrics for Amazon SQS": "the approximate age of the oldest
//! non-deleted message in the queue" (visible, in flight or delayed alike: none is deleted),
//! "reported if the queue contains at least one active message"; and its note: "After a
//! message is received three times (or more) and not processed, the message is moved to the
//! back of the queue and the `ApproximateAgeOfOldestMessage` metric points at the second-oldest
//! message that hasn't been received more than three times [...] Because a single poison-pill
//! message (received multiple times but never deleted) can distort this metric, the age of a
//! poison-pill message isn't included in the metric until the poison-pill message is consumed
//! successfully". The note says both "three times (or more)" and "more than three times";
//! this model leaves a message out from its third receive on ([`AGE_RECEIVE_LIMIT`]), which
//! is also when it can no longer come back into the metric (it is only ever deleted, dead-
//! lettered or expired after that).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use crate::sim::time::SimTime;

/// From this many receives on, a message no longer counts in `ApproximateAgeOfOldestMessage`
/// (see the module's documentation).
pub const AGE_RECEIVE_LIMIT: u32 = 3;

/// A queue's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// `VisibilityTimeout`: how long a received message stays hidden.
    pub visibility_timeout: Duration,
    /// `MessageRetentionPeriod`.
    pub retention: Duration,
    /// The redrive policy's `maxReceiveCount`, if the queue has a dead-letter queue.
    pub max_receive_count: Option<u32>,
}

/// The receipt handle of one receive of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Receipt {
    key: u64,
    receive: u32,
}

impl Receipt {
    /// The receipt as a `ReceiptHandle` string.
    pub fn handle(self) -> String {
        format!("{}:{}", self.key, self.receive)
    }

    /// Reads a `ReceiptHandle` string made by [`Receipt::handle`].
    pub fn parse(handle: &str) -> Option<Self> {
        let (key, receive) = handle.split_once(':')?;
        Some(Self {
            key: key.parse().ok()?,
            receive: receive.parse().ok()?,
        })
    }
}

/// One message handed out by [`SimQueue::receive`].
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery<T> {
    /// The handle that deletes it or changes its visibility.
    pub receipt: Receipt,
    /// `ApproximateReceiveCount`, this receive included.
    pub receive_count: u32,
    /// When it was sent.
    pub sent_at: SimTime,
    /// The message.
    pub payload: T,
}

/// What one [`SimQueue::receive`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Received<T> {
    /// The messages delivered.
    pub delivered: Vec<Delivery<T>>,
    /// Messages that had been received `maxReceiveCount` times: removed, for the caller to
    /// put in the dead-letter queue.
    pub dead_lettered: Vec<T>,
    /// Messages past the retention period: deleted by SQS.
    pub expired: Vec<T>,
}

impl<T> Default for Received<T> {
    fn default() -> Self {
        Self {
            delivered: Vec::new(),
            dead_lettered: Vec::new(),
            expired: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Visible,
    InFlight { until: SimTime },
    Delayed,
}

#[derive(Debug, Clone)]
struct Entry<T> {
    payload: T,
    sent_at: SimTime,
    receive_count: u32,
    place: Place,
    /// Sent no earlier than every message before it (see `SimQueue::age_cursor`).
    in_order: bool,
}

/// Message counts, as `GetQueueAttributes` reports them (exactly: the model has no
/// sampling error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Depth {
    /// `ApproximateNumberOfMessages`.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`.
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`.
    pub delayed: u64,
}

/// An SQS standard queue.
#[derive(Debug, Clone)]
pub struct SimQueue<T> {
    settings: QueueSettings,
    entries: HashMap<u64, Entry<T>>,
    visible: VecDeque<u64>,
    in_flight: BinaryHeap<Reverse<(SimTime, u64)>>,
    delayed: BinaryHeap<Reverse<(SimTime, u64)>>,
    /// For `ApproximateAgeOfOldestMessage`: keys are handed out in send order, so among the
    /// messages sent in time order (none earlier than one before it) the oldest that counts
    /// is the lowest key that counts. `age_cursor` is where the search for it starts: every
    /// key below it was deleted, left the queue, expired or was received
    /// [`AGE_RECEIVE_LIMIT`] times, none of which is ever undone, so it only moves forward.
    age_cursor: u64,
    /// The latest send time so far.
    latest_send: SimTime,
    /// Messages sent with an earlier time than one before them (not from the simulator's
    /// own clock, which never goes back): kept apart, by send time, cleaned lazily.
    late_sends: BinaryHeap<Reverse<(SimTime, u64)>>,
    in_flight_count: u64,
    next_key: u64,
    now: SimTime,
}

impl<T> SimQueue<T> {
    /// An empty queue.
    pub fn new(settings: QueueSettings) -> Self {
        Self {
            settings,
            entries: HashMap::new(),
            visible: VecDeque::new(),
            in_flight: BinaryHeap::new(),
            delayed: BinaryHeap::new(),
            age_cursor: 0,
            latest_send: SimTime::ZERO,
            late_sends: BinaryHeap::new(),
            in_flight_count: 0,
            next_key: 0,
            now: SimTime::ZERO,
        }
    }

    /// The queue's settings.
    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    /// Messages in the queue, in any state.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every message in the queue, in no particular order.
    pub fn payloads(&self) -> impl Iterator<Item = &T> {
        self.entries.values().map(|e| &e.payload)
    }

    /// Whether the queue holds no message at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sends `payload` at `now`, hidden for `delay`.
    pub fn send(&mut self, now: SimTime, payload: T, delay: Duration) {
        self.advance(now);
        let key = self.next_key;
        self.next_key += 1;
        let place = if delay.is_zero() {
            self.visible.push_back(key);
            Place::Visible
        } else {
            self.delayed.push(Reverse((now + delay, key)));
            Place::Delayed
        };
        let in_order = now >= self.latest_send;
        if in_order {
            self.latest_send = now;
        } else {
            self.late_sends.push(Reverse((now, key)));
        }
        self.entries.insert(
            key,
            Entry {
                payload,
                sent_at: now,
                receive_count: 0,
                place,
                in_order,
            },
        );
    }

    /// The counts at `now`.
    pub fn depth(&mut self, now: SimTime) -> Depth {
        self.advance(now);
        let in_flight = self.in_flight_count;
        let delayed = self.entries.len() as u64 - self.visible.len() as u64 - in_flight;
        Depth {
            visible: self.visible.len() as u64,
            in_flight,
            delayed,
        }
    }

    /// `ApproximateAgeOfOldestMessage` at `now`: how long ago the oldest message that counts
    /// (see the module's documentation) was sent; `None` when no message counts (SQS then
    /// reports nothing). Never a scan of the queue: each message is looked at once when the
    /// cursor passes it, so a sample costs the messages that left since the last one, O(1)
    /// each (messages sent out of time order, which the simulator does not make, O(log n)).
    pub fn age_of_oldest(&mut self, now: SimTime) -> Option<Duration> {
        self.advance(now);
        let now = self.now;
        let retention = self.settings.retention;
        let counts =
            |e: &Entry<T>| e.receive_count < AGE_RECEIVE_LIMIT && e.sent_at + retention > now;
        let mut oldest = None;
        while self.age_cursor < self.next_key {
            if let Some(e) = self.entries.get(&self.age_cursor)
                && e.in_order
                && counts(e)
            {
                oldest = Some(e.sent_at);
                break;
            }
            self.age_cursor += 1;
        }
        while let Some(&Reverse((sent_at, key))) = self.late_sends.peek() {
            if self.entries.get(&key).is_some_and(counts) {
                oldest = Some(oldest.map_or(sent_at, |o: SimTime| o.min(sent_at)));
                break;
            }
            self.late_sends.pop();
        }
        oldest.map(|sent_at| now.since(sent_at))
    }

    /// Receives up to `max` messages at `now`, hiding them for the queue's visibility timeout.
    pub fn receive(&mut self, now: SimTime, max: usize) -> Received<T>
    where
        T: Clone,
    {
        self.receive_hidden_for(now, max, self.settings.visibility_timeout)
    }

    /// Receives up to `max` messages at `now`, hiding them for `visibility` (a
    /// `ReceiveMessage` with its own `VisibilityTimeout`).
    pub fn receive_hidden_for(
        &mut self,
        now: SimTime,
        max: usize,
        visibility: Duration,
    ) -> Received<T>
    where
        T: Clone,
    {
        self.advance(now);
        let mut out = Received::default();
        while out.delivered.len() < max {
            let Some(key) = self.visible.pop_front() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&key) else {
                continue;
            };
            if entry.sent_at + self.settings.retention <= now {
                if let Some(gone) = self.entries.remove(&key) {
                    out.expired.push(gone.payload);
                }
                continue;
            }
            if self
                .settings
                .max_receive_count
                .is_some_and(|max| entry.receive_count >= max)
            {
                if let Some(gone) = self.entries.remove(&key) {
                    out.dead_lettered.push(gone.payload);
                }
                continue;
            }
            entry.receive_count += 1;
            let until = now + visibility;
            entry.place = Place::InFlight { until };
            self.in_flight.push(Reverse((until, key)));
            self.in_flight_count += 1;
            out.delivered.push(Delivery {
                receipt: Receipt {
                    key,
                    receive: entry.receive_count,
                },
                receive_count: entry.receive_count,
                sent_at: entry.sent_at,
                payload: entry.payload.clone(),
            });
        }
        out
    }

    /// Deletes the message of `receipt` at `now`: `Some` with it when the receipt is its
    /// latest and it is still hidden, `None` when it came back (or went) meanwhile.
    pub fn delete(&mut self, now: SimTime, receipt: Receipt) -> Option<T> {
        self.advance(now);
        self.current(receipt)?;
        self.in_flight_count -= 1;
        self.entries.remove(&receipt.key).map(|e| e.payload)
    }

    /// Changes the visibility of the message of `receipt` to `timeout` from `now` (zero makes
    /// it visible at once). `false` when the receipt is stale.
    pub fn change_visibility(&mut self, now: SimTime, receipt: Receipt, timeout: Duration) -> bool {
        self.advance(now);
        let Some(entry) = self.current(receipt) else {
            return false;
        };
        let until = now + timeout;
        entry.place = Place::InFlight { until };
        self.in_flight.push(Reverse((until, receipt.key)));
        self.advance(now);
        true
    }

    /// The entry of `receipt` if the receipt is its latest and it is hidden.
    fn current(&mut self, receipt: Receipt) -> Option<&mut Entry<T>> {
        self.entries.get_mut(&receipt.key).filter(|e| {
            e.receive_count == receipt.receive && matches!(e.place, Place::InFlight { .. })
        })
    }

    /// Returns hidden messages whose visibility timeout ended, and delayed ones whose delay
    /// ended, to the visible messages.
    fn advance(&mut self, now: SimTime) {
        self.now = self.now.max(now);
        while let Some(&Reverse((until, key))) = self.in_flight.peek() {
            if until > self.now {
                break;
            }
            self.in_flight.pop();
            // A stale heap entry (deleted, or its visibility changed) is skipped.
            if let Some(entry) = self.entries.get_mut(&key)
                && entry.place == (Place::InFlight { until })
            {
                entry.place = Place::Visible;
                self.in_flight_count -= 1;
                self.visible.push_back(key);
            }
        }
        while let Some(&Reverse((until, key))) = self.delayed.peek() {
            if until > self.now {
                break;
            }
            self.delayed.pop();
            if let Some(entry) = self.entries.get_mut(&key) {
                entry.place = Place::Visible;
                self.visible.push_back(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(max_receive_count: Option<u32>) -> SimQueue<u32> {
        SimQueue::new(QueueSettings {
            visibility_timeout: Duration::from_secs(30),
            retention: Duration::from_hours(1),
            max_receive_count,
        })
    }

    fn secs(s: u64) -> SimTime {
        SimTime::from_secs(s)
    }

    #[test]
    fn a_received_message_is_hidden_for_the_visibility_timeout_then_returns() {
        let mut q = queue(None);
        q.send(secs(0), 7, Duration::ZERO);
        let got = q.receive(secs(1), 10);
        assert_eq!(got.delivered.len(), 1);
        assert_eq!(got.delivered[0].receive_count, 1);
        assert_eq!(q.depth(secs(30)).in_flight, 1);
        assert!(q.receive(secs(30), 10).delivered.is_empty());
        let depth = q.depth(secs(31));
        assert_eq!((depth.visible, depth.in_flight), (1, 0));
        let again = q.receive(secs(31), 10);
        assert_eq!(again.delivered[0].receive_count, 2);
    }

    #[test]
    fn a_throttled_batch_burns_receives_until_the_dlq_at_max_receive_count() {
        // Every receive is followed by a throttled invoke: nothing deletes the message.
        let mut q = queue(Some(5));
        q.send(secs(0), 1, Duration::ZERO);
        let mut now = secs(0);
        for expected in 1..=5 {
            let got = q.receive(now, 10);
            assert_eq!(got.delivered.len(), 1, "receive {expected}");
            assert_eq!(got.delivered[0].receive_count, expected);
            now = now + Duration::from_secs(30);
        }
        let sixth = q.receive(now, 10);
        assert!(sixth.delivered.is_empty());
        assert_eq!(sixth.dead_lettered, vec![1]);
        assert!(q.is_empty());
    }

    #[test]
    fn receipts_round_trip_as_handles() {
        let receipt = Receipt {
            key: 12,
            receive: 3,
        };
        assert_eq!(Receipt::parse(&receipt.handle()), Some(receipt));
        assert_eq!(Receipt::parse("12"), None);
        assert_eq!(Receipt::parse("a:b"), None);
    }

    #[test]
    fn only_the_latest_receipt_deletes() {
        let mut q = queue(None);
        q.send(secs(0), 1, Duration::ZERO);
        let first = q.receive(secs(0), 1).delivered[0].receipt;
        let second = q.receive(secs(30), 1).delivered[0].receipt;
        assert_eq!(q.delete(secs(31), first), None);
        assert_eq!(q.delete(secs(31), second), Some(1));
        assert!(q.is_empty());
        assert_eq!(q.delete(secs(31), second), None, "already deleted");
    }

    #[test]
    fn changing_visibility_to_zero_returns_the_message_at_once() {
        let mut q = queue(None);
        q.send(secs(0), 1, Duration::ZERO);
        let receipt = q.receive(secs(0), 1).delivered[0].receipt;
        assert!(q.change_visibility(secs(2), receipt, Duration::ZERO));
        assert_eq!(q.receive(secs(2), 1).delivered[0].receive_count, 2);
        assert!(
            !q.change_visibility(secs(2), receipt, Duration::ZERO),
            "stale receipt"
        );
    }

    #[test]
    fn delayed_and_expired_messages() {
        let mut q = queue(None);
        q.send(secs(0), 1, Duration::from_secs(10));
        q.send(secs(0), 2, Duration::ZERO);
        assert_eq!(
            q.depth(secs(5)),
            Depth {
                visible: 1,
                in_flight: 0,
                delayed: 1
            }
        );
        let late = q.receive(secs(3600), 10);
        assert!(late.delivered.is_empty());
        assert_eq!(late.expired, vec![2, 1]);
        assert!(q.is_empty());
    }

    #[test]
    fn the_age_of_the_oldest_message_grows_while_it_waits_and_counts_it_in_flight() {
        let mut q = queue(None);
        assert_eq!(
            q.age_of_oldest(secs(0)),
            None,
            "an empty queue reports nothing"
        );
        q.send(secs(0), 1, Duration::ZERO);
        q.send(secs(10), 2, Duration::ZERO);
        assert_eq!(q.age_of_oldest(secs(100)), Some(Duration::from_secs(100)));
        // Received, not deleted: still the oldest non-deleted message.
        let first = q.receive(secs(100), 1).delivered[0].receipt;
        assert_eq!(q.age_of_oldest(secs(110)), Some(Duration::from_secs(110)));
        // Deleted: the next one is the oldest.
        assert_eq!(q.delete(secs(110), first), Some(1));
        assert_eq!(q.age_of_oldest(secs(110)), Some(Duration::from_secs(100)));
        // A delayed message counts from its send.
        let mut q = queue(None);
        q.send(secs(0), 1, Duration::from_mins(1));
        assert_eq!(q.age_of_oldest(secs(5)), Some(Duration::from_secs(5)));
    }

    #[test]
    fn a_message_received_three_times_leaves_the_age_until_it_is_gone() {
        let mut q = queue(Some(5));
        q.send(secs(0), 1, Duration::ZERO);
        // Hidden until 80 s, so that the first message is the only one received before.
        q.send(secs(20), 2, Duration::from_mins(1));
        // The first message fails twice: it still counts.
        q.receive(secs(0), 1);
        q.receive(secs(31), 1);
        assert_eq!(q.age_of_oldest(secs(60)), Some(Duration::from_mins(1)));
        // Its third receive: the metric points at the second-oldest message.
        let third = q.receive(secs(62), 1);
        assert_eq!(third.delivered[0].receive_count, 3);
        assert_eq!(q.age_of_oldest(secs(70)), Some(Duration::from_secs(50)));
        // Back in the queue, visible again: still left out.
        assert_eq!(q.depth(secs(93)).visible, 2);
        assert_eq!(q.age_of_oldest(secs(93)), Some(Duration::from_secs(73)));
        // Nothing else left: nothing reported, though the poison message is still queued.
        let rest = q.receive(secs(93), 10);
        let second = rest
            .delivered
            .iter()
            .find(|d| d.payload == 2)
            .expect("delivered");
        q.delete(secs(94), second.receipt);
        assert_eq!(q.len(), 1);
        assert_eq!(q.age_of_oldest(secs(94)), None);
    }

    #[test]
    fn the_age_is_kept_without_scanning_the_queue() {
        // A steady stream: the cursor passes each message once, so a sample costs the
        // messages that left since the last one, not the queue's length.
        let mut q = queue(None);
        let mut now = secs(0);
        let mut deleted = 0;
        for round in 0..100u32 {
            for i in 0..100 {
                q.send(now, round * 100 + i, Duration::ZERO);
            }
            // A backlog of 1,000 messages; the rest are received and deleted.
            if round >= 10 {
                for d in q.receive(now, 100).delivered {
                    q.delete(now, d.receipt);
                    deleted += 1;
                }
            }
            now = now + Duration::from_secs(1);
            let expected = u64::from(round + 1).min(10);
            assert_eq!(q.age_of_oldest(now), Some(Duration::from_secs(expected)));
            assert_eq!(q.age_cursor, deleted, "at the oldest message left");
            assert!(q.age_of_oldest(now).is_some());
            assert_eq!(q.age_cursor, deleted, "a second sample does no work");
        }
        assert_eq!(q.len(), 1000);
        assert!(q.late_sends.is_empty());
    }

    #[test]
    fn a_message_sent_earlier_than_the_one_before_still_counts() {
        let mut q = queue(None);
        q.send(secs(10), 1, Duration::ZERO);
        q.send(secs(5), 2, Duration::ZERO);
        assert_eq!(q.age_of_oldest(secs(20)), Some(Duration::from_secs(15)));
        let got = q.receive(secs(20), 10);
        let late = got.delivered.iter().find(|d| d.payload == 2).expect("one");
        q.delete(secs(20), late.receipt);
        assert_eq!(q.age_of_oldest(secs(20)), Some(Duration::from_secs(10)));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Send { delay_s: u8 },
        Receive { max: u8 },
        DeleteOldest,
        Release,
        Wait { secs: u8 },
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0u8..3).prop_map(|d| Op::Send { delay_s: d * 5 }),
            (1u8..11).prop_map(|max| Op::Receive { max }),
            Just(Op::DeleteOldest),
            Just(Op::Release),
            (1u8..40).prop_map(|secs| Op::Wait { secs }),
        ]
    }

    proptest::proptest! {
        /// Every message sent is, at every step, in exactly one place: in the queue (visible,
        /// hidden or delayed), deleted, dead-lettered or expired.
        #[test]
        fn every_message_is_in_exactly_one_place(ops in proptest::collection::vec(op(), 1..200)) {
            let mut q = SimQueue::new(QueueSettings {
                visibility_timeout: Duration::from_secs(30),
                retention: Duration::from_mins(10),
                max_receive_count: Some(3),
            });
            let mut now = SimTime::ZERO;
            let mut sent = 0u32;
            let mut held: Vec<Receipt> = Vec::new();
            let mut gone: Vec<u32> = Vec::new();
            for op in ops {
                match op {
                    Op::Send { delay_s } => {
                        q.send(now, sent, Duration::from_secs(u64::from(delay_s)));
                        sent += 1;
                    }
                    Op::Receive { max } => {
                        let got = q.receive(now, usize::from(max));
                        held.extend(got.delivered.iter().map(|d| d.receipt));
                        gone.extend(got.dead_lettered);
                        gone.extend(got.expired);
                    }
                    Op::DeleteOldest => {
                        if !held.is_empty() {
                            gone.extend(q.delete(now, held.remove(0)));
                        }
                    }
                    Op::Release => {
                        if let Some(receipt) = held.pop() {
                            q.change_visibility(now, receipt, Duration::ZERO);
                        }
                    }
                    Op::Wait { secs } => now = now + Duration::from_secs(u64::from(secs)),
                }
                let depth = q.depth(now);
                proptest::prop_assert_eq!(
                    depth.visible + depth.in_flight + depth.delayed,
                    q.len() as u64
                );
                proptest::prop_assert_eq!(q.len() + gone.len(), sent as usize);
                let mut seen = gone.clone();
                seen.sort_unstable();
                seen.dedup();
                proptest::prop_assert_eq!(seen.len(), gone.len(), "a message left twice");
                // The age kept incrementally is the one a scan of every message gives.
                let scanned = q
                    .entries
                    .values()
                    .filter(|e| {
                        e.receive_count < AGE_RECEIVE_LIMIT
                            && e.sent_at + q.settings.retention > now
                    })
                    .map(|e| now.since(e.sent_at))
                    .max();
                proptest::prop_assert_eq!(q.age_of_oldest(now), scanned);
            }
        }
    }
}
