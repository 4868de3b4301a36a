//! Packing scheduled messages into `SendMessageBatch` requests. Pure.
//!
//! SQS takes at most 10 entries per batch and at most 1 MiB (the sum of the message sizes)
//! per request. A batch is also closed when its next message is due more than the linger
//! time after its first one, so at a low rate a message does not wait long for company.
//! Because the schedule is known in advance, a batch never waits for a message that will
//! not fit: it is due when its last message is due.

use std::iter::Peekable;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Most entries SQS accepts in one `SendMessageBatch`.
pub const MAX_ENTRIES: usize = 10;
/// Most bytes (sum of message sizes) SQS accepts in one `SendMessageBatch`, and the largest
/// single message.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// Default linger: how much later than a batch's first message its last may be due.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(5);

/// One scheduled message, before its body exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Sequence number.
    pub seq: u64,
    /// Intended send time, from the start of the flood.
    pub intended: Duration,
    /// Size of the body in bytes (an upper bound of it).
    pub size: usize,
}

/// Messages sent in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBatch {
    /// The messages, in sequence order.
    pub entries: Vec<Planned>,
    /// When the batch is complete and due: the intended time of its last message.
    pub due: Duration,
    /// Sum of the entries' sizes.
    pub bytes: usize,
}

/// How messages are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPolicy {
    /// Entries per request, 1 to 10.
    pub max_entries: usize,
    /// Longest wait of a batch's first message for the others.
    #[serde(with = "crate::units::duration")]
    pub linger: Duration,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self {
            max_entries: MAX_ENTRIES,
            linger: DEFAULT_LINGER,
        }
    }
}

impl BatchPolicy {
    /// Checks the entry count.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `batch_size` when it is not 1 to 10.
    pub fn validate(&self) -> Result<()> {
        if (1..=MAX_ENTRIES).contains(&self.max_entries) {
            Ok(())
        } else {
            Err(Error::invalid(
                "batch_size",
                format!(
                    "{} is not 1 to {MAX_ENTRIES} (the SQS limit)",
                    self.max_entries
                ),
            ))
        }
    }

    /// Groups `messages` (in schedule order) into batches.
    pub fn pack<I: Iterator<Item = Planned>>(self, messages: I) -> Batches<I> {
        Batches {
            messages: messages.peekable(),
            policy: self,
        }
    }
}

/// The batches of a schedule, in order (see [`BatchPolicy::pack`]).
#[derive(Debug)]
pub struct Batches<I: Iterator<Item = Planned>> {
    messages: Peekable<I>,
    policy: BatchPolicy,
}

impl<I: Iterator<Item = Planned>> Iterator for Batches<I> {
    type Item = PlannedBatch;

    fn next(&mut self) -> Option<PlannedBatch> {
        let first = self.messages.next()?;
        let mut entries = vec![first];
        let mut bytes = first.size;
        while entries.len() < self.policy.max_entries {
            let Some(next) = self.messages.next_if(|m| {
                bytes + m.size <= MAX_BATCH_BYTES
                    && m.intended <= first.intended + self.policy.linger
            }) else {
                break;
            };
            bytes += next.size;
            entries.push(next);
        }
        let due = entries.last().map_or(first.intended, |m| m.intended);
        Some(PlannedBatch {
            entries,
            due,
            bytes,
        })
    }
}

/// The `Id` of a batch entry: its sequence number, so a retried entry keeps its id and a
/// response entry maps back to its message.
pub fn entry_id(seq: u64) -> String {
    seq.to_string()
}

/// The sequence number of an entry id made by [`entry_id`].
pub fn seq_of_entry_id(id: &str) -> Option<u64> {
    id.parse().ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn planned(seq: u64, micros: u64, size: usize) -> Planned {
        Planned {
            seq,
            intended: Duration::from_micros(micros),
            size,
        }
    }

    fn pack(policy: BatchPolicy, messages: Vec<Planned>) -> Vec<PlannedBatch> {
        policy.pack(messages.into_iter()).collect()
    }

    #[test]
    fn fills_batches_of_ten_when_messages_come_close_together() {
        let messages = (0..25).map(|i| planned(i, i * 100, 200)).collect();
        let batches = pack(BatchPolicy::default(), messages);
        assert_eq!(
            batches.iter().map(|b| b.entries.len()).collect::<Vec<_>>(),
            [10, 10, 5]
        );
        assert_eq!(batches[0].due, Duration::from_micros(900));
        assert_eq!(batches[2].bytes, 1000);
    }

    #[test]
    fn a_slow_rate_sends_each_message_alone_instead_of_waiting() {
        // 10 msg/s: the next message is 100 ms away, far beyond the 5 ms linger.
        let messages = (0..3).map(|i| planned(i, i * 100_000, 200)).collect();
        let batches = pack(BatchPolicy::default(), messages);
        assert_eq!(batches.len(), 3);
        assert_eq!(batches[1].due, Duration::from_millis(100));
    }

    #[test]
    fn a_batch_never_exceeds_one_mebibyte() {
        let messages = (0..4).map(|i| planned(i, 0, 400_000)).collect();
        let batches = pack(BatchPolicy::default(), messages);
        assert_eq!(
            batches.iter().map(|b| b.entries.len()).collect::<Vec<_>>(),
            [2, 2]
        );
    }

    #[test]
    fn entry_ids_are_sequence_numbers() {
        assert_eq!(seq_of_entry_id(&entry_id(1_234_567)), Some(1_234_567));
        assert_eq!(seq_of_entry_id("x"), None);
    }

    #[test]
    fn a_batch_size_outside_one_to_ten_is_refused() {
        for max_entries in [0, 11] {
            let policy = BatchPolicy {
                max_entries,
                ..BatchPolicy::default()
            };
            assert!(
                policy
                    .validate()
                    .unwrap_err()
                    .to_string()
                    .contains("batch_size")
            );
        }
    }

    proptest! {

        #[test]
        fn packing_keeps_every_message_once_in_order_within_the_limits(
            gaps in proptest::collection::vec(0u64..10_000, 0..200),
            sizes in proptest::collection::vec(1usize..MAX_BATCH_BYTES, 200),
            max_entries in 1usize..=10,
            linger_us in 0u64..20_000,
        ) {
            let policy = BatchPolicy { max_entries, linger: Duration::from_micros(linger_us) };
            let mut t = 0;
            let messages: Vec<Planned> = gaps.iter().enumerate().map(|(i, gap)| {
                t += gap;
                planned(i as u64, t, sizes[i] / (1 + i % 50))
            }).collect();
            let batches = pack(policy, messages.clone());
            let flat: Vec<Planned> = batches.iter().flat_map(|b| b.entries.clone()).collect();
            prop_assert_eq!(&flat, &messages);
            for batch in &batches {
                prop_assert!(!batch.entries.is_empty() && batch.entries.len() <= max_entries);
                prop_assert!(batch.bytes <= MAX_BATCH_BYTES);
                prop_assert_eq!(batch.bytes, batch.entries.iter().map(|m| m.size).sum::<usize>());
                let first = batch.entries[0].intended;
                prop_assert_eq!(batch.due, batch.entries.last().unwrap().intended);
                prop_assert!(batch.due.checked_sub(first).is_some_and(|wait| wait <= policy.linger));
            }
            // Batches are due in order, so the pacer never has to look back.
            prop_assert!(batches.windows(2).all(|w| w[0].due <= w[1].entries[0].intended));
        }
    }
}
