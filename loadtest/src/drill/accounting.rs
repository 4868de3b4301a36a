//! Message accounting. Pure: every sequence number the flood saw acknowledged must be
//! consumed (in the victim's ledger), still queued in the source, dead-lettered, or in the
//! overflow queue. Whatever is none of these is lost.
//!
//! The categories partition the sent messages, in this order of precedence: consumed, then
//! dead-lettered, then overflowed, then still queued, then lost. (A message can be in two
//! places at once: consumed and then redelivered to the DLQ after a crash, say. It counts
//! once, in the first.) Duplicates are counted separately: messages processed more than once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::seqset::SeqSet;
use crate::victim::ledger::{LedgerKind, LedgerRecord};

/// What the drill found after the flood, for one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Times each sequence number was processed (from the ledger).
    pub processed: BTreeMap<u64, u32>,
    /// Deliveries the victim failed on purpose (from the ledger).
    pub failed_attempts: u64,
    /// Sequence numbers still in the source queue.
    pub queued: SeqSet,
    /// Sequence numbers in the DLQ.
    pub dead_lettered: SeqSet,
    /// Sequence numbers in the overflow queue.
    pub overflowed: SeqSet,
}

impl Observed {
    /// Adds the ledger records of run `run` (others are ignored).
    pub fn add_ledger(&mut self, run: &str, records: &[LedgerRecord]) {
        for record in records.iter().filter(|r| r.run == run) {
            match record.kind {
                LedgerKind::Processed => {
                    for seq in &record.seqs {
                        *self.processed.entry(*seq).or_default() += 1;
                    }
                }
                LedgerKind::Failed => self.failed_attempts += record.seqs.len() as u64,
            }
        }
    }
}

/// The verdict on every sent message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounting {
    /// Acknowledged by SQS.
    pub sent: u64,
    /// Of those, processed at least once.
    pub consumed: u64,
    /// Not consumed; in the DLQ.
    pub dead_lettered: u64,
    /// Not consumed; in the overflow queue.
    pub overflowed: u64,
    /// Not consumed; still in the source queue.
    pub still_queued: u64,
    /// None of the above.
    pub lost: u64,
    /// Processed more than once (any message of the run).
    pub duplicated: u64,
    /// Processed, though never acknowledged as sent nor of uncertain fate.
    pub unexpected: u64,
    /// Deliveries the victim failed on purpose.
    pub failed_attempts: u64,
    /// Messages in flight in the source queue (received by a consumer, not yet deleted) when
    /// accounting ended: lost messages among them may still be consumed. Set by the runner.
    #[serde(default)]
    pub in_flight_at_end: Option<u64>,
    /// Sequence numbers lost.
    pub lost_seqs: SeqSet,
    /// Sequence numbers processed more than once.
    pub duplicated_seqs: SeqSet,
    /// Sequence numbers dead-lettered.
    pub dead_lettered_seqs: SeqSet,
    /// Sequence numbers in the overflow queue.
    pub overflowed_seqs: SeqSet,
    /// Sequence numbers still queued.
    pub still_queued_seqs: SeqSet,
    /// Sequence numbers processed but never sent.
    pub unexpected_seqs: SeqSet,
}

/// Accounts for every message of `sent`; `uncertain` holds messages whose send may or may
/// not have arrived (they are not expected, and not unexpected if they turn up).
pub fn account(sent: &SeqSet, uncertain: &SeqSet, observed: &Observed) -> Accounting {
    let consumed_all: SeqSet = observed.processed.keys().copied().collect();
    let consumed = sent.intersection(&consumed_all);
    let mut placed = consumed.clone();
    let mut place = |found: &SeqSet| {
        let here = sent.intersection(found).difference(&placed);
        placed.extend_from(&here);
        here
    };
    let dead_lettered = place(&observed.dead_lettered);
    let overflowed = place(&observed.overflowed);
    let still_queued = place(&observed.queued);
    let lost = sent.difference(&placed);
    let duplicated: SeqSet = observed
        .processed
        .iter()
        .filter(|(_, times)| **times > 1)
        .map(|(seq, _)| *seq)
        .collect();
    let mut known = sent.clone();
    known.extend_from(uncertain);
    let unexpected = consumed_all.difference(&known);
    Accounting {
        sent: sent.len(),
        consumed: consumed.len(),
        dead_lettered: dead_lettered.len(),
        overflowed: overflowed.len(),
        still_queued: still_queued.len(),
        lost: lost.len(),
        duplicated: duplicated.len(),
        unexpected: unexpected.len(),
        failed_attempts: observed.failed_attempts,
        in_flight_at_end: None,
        lost_seqs: lost,
        duplicated_seqs: duplicated,
        dead_lettered_seqs: dead_lettered,
        overflowed_seqs: overflowed,
        still_queued_seqs: still_queued,
        unexpected_seqs: unexpected,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn set(seqs: impl IntoIterator<Item = u64>) -> SeqSet {
        seqs.into_iter().collect()
    }

    fn record(run: &str, kind: LedgerKind, seqs: &[u64]) -> LedgerRecord {
        LedgerRecord {
            run: run.to_owned(),
            kind,
            seqs: seqs.to_vec(),
            at_ms: 0,
            request_id: "r".to_owned(),
        }
    }

    #[test]
    fn every_sent_message_lands_in_exactly_one_place_and_the_rest_is_lost() {
        let mut observed = Observed::default();
        observed.add_ledger(
            "run",
            &[
                record("run", LedgerKind::Processed, &[0, 1, 2, 3]),
                record("run", LedgerKind::Processed, &[3]),
                record("run", LedgerKind::Failed, &[4, 5]),
                record("other", LedgerKind::Processed, &[9]),
            ],
        );
        observed.dead_lettered = set([4, 2]);
        observed.queued = set([5, 6]);
        observed.overflowed = set([7]);
        let accounting = account(&set(0..10), &SeqSet::new(), &observed);
        assert_eq!(accounting.consumed, 4);
        assert_eq!(accounting.dead_lettered_seqs, set([4]));
        assert_eq!(accounting.still_queued_seqs, set([5, 6]));
        assert_eq!(accounting.overflowed_seqs, set([7]));
        assert_eq!(accounting.lost_seqs, set([8, 9]));
        assert_eq!(accounting.duplicated_seqs, set([3]));
        assert_eq!(accounting.failed_attempts, 2);
        assert_eq!(accounting.unexpected, 0);
    }

    #[test]
    fn a_message_of_uncertain_fate_that_arrives_is_not_unexpected() {
        let mut observed = Observed::default();
        observed.add_ledger("run", &[record("run", LedgerKind::Processed, &[0, 1, 2])]);
        let accounting = account(&set([0]), &set([1]), &observed);
        assert_eq!(accounting.unexpected_seqs, set([2]));
        assert_eq!(accounting.lost, 0);
    }

    proptest! {

        #[test]
        fn the_categories_partition_the_sent_messages(
            sent in proptest::collection::btree_set(0u64..200, 0..150),
            processed in proptest::collection::vec(0u64..220, 0..200),
            queued in proptest::collection::btree_set(0u64..220, 0..50),
            dlq in proptest::collection::btree_set(0u64..220, 0..50),
            overflow in proptest::collection::btree_set(0u64..220, 0..50),
        ) {
            let mut observed = Observed::default();
            observed.add_ledger("r", &[record("r", LedgerKind::Processed, &processed)]);
            observed.queued = queued.iter().copied().collect();
            observed.dead_lettered = dlq.iter().copied().collect();
            observed.overflowed = overflow.iter().copied().collect();
            let sent_set: SeqSet = sent.iter().copied().collect();
            let a = account(&sent_set, &SeqSet::new(), &observed);
            prop_assert_eq!(a.consumed + a.dead_lettered + a.overflowed + a.still_queued + a.lost, a.sent);
            let mut union = a.lost_seqs.clone();
            for part in [&a.dead_lettered_seqs, &a.overflowed_seqs, &a.still_queued_seqs] {
                prop_assert!(union.intersection(part).is_empty());
                union.extend_from(part);
            }
            let processed_set: BTreeSet<u64> = processed.iter().copied().collect();
            // Lost means found nowhere.
            for seq in a.lost_seqs.iter() {
                prop_assert!(sent.contains(&seq) && !processed_set.contains(&seq));
                prop_assert!(!queued.contains(&seq) && !dlq.contains(&seq) && !overflow.contains(&seq));
            }
            let dupes = processed_set.iter().filter(|s| processed.iter().filter(|p| p == s).count() > 1).count();
            prop_assert_eq!(a.duplicated, dupes as u64);
        }
    }
}
