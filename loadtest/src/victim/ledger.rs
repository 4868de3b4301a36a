//! The ledger: one JSON record per run, kind and batch, on a queue the drill drains. The
//! victim writes it; the drill's accounting reads it. Both sides use these types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Record;
use crate::flood::payload::Stamp;

/// What happened to the messages of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// Processed: the victim is done with them (it reports success for them).
    Processed,
    /// Attempted and failed on purpose (they go back to the queue).
    Failed,
}

/// One ledger message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRecord {
    /// Run id of the messages.
    pub run: String,
    /// What happened to them.
    pub kind: LedgerKind,
    /// Their sequence numbers, once per delivery (a duplicate delivery in one batch appears
    /// twice).
    pub seqs: Vec<u64>,
    /// When the victim recorded them, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The Lambda request id.
    pub request_id: String,
}

impl LedgerRecord {
    /// The records for the messages of `records` at `positions`: one per run. Bodies that are
    /// not ours (no stamp) are left out.
    pub fn for_batch(
        records: &[Record],
        positions: &[usize],
        kind: LedgerKind,
        at_ms: i64,
        request_id: &str,
    ) -> Vec<Self> {
        let mut by_run: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for record in positions.iter().filter_map(|i| records.get(*i)) {
            if let Some(stamp) = Stamp::parse(&record.body) {
                by_run.entry(stamp.run).or_default().push(stamp.seq);
            }
        }
        by_run
            .into_iter()
            .map(|(run, seqs)| Self {
                run,
                kind,
                seqs,
                at_ms,
                request_id: request_id.to_owned(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flood::payload::{PayloadSpec, SizeDist};

    #[test]
    fn records_group_sequence_numbers_by_run_and_skip_foreign_bodies() {
        let a = PayloadSpec::new("a", 1, SizeDist::Fixed(100)).unwrap();
        let b = PayloadSpec::new("b", 1, SizeDist::Fixed(100)).unwrap();
        let bodies = [
            a.body(1, 0),
            b.body(7, 0),
            "not ours".to_owned(),
            a.body(2, 0),
            a.body(1, 0),
        ];
        let records: Vec<Record> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| Record {
                message_id: i.to_string(),
                body,
                receive_count: 1,
            })
            .collect();
        let ledger =
            LedgerRecord::for_batch(&records, &[0, 1, 2, 3, 4], LedgerKind::Processed, 5, "req");
        assert_eq!(ledger.len(), 2);
        assert_eq!(
            (ledger[0].run.as_str(), ledger[0].seqs.as_slice()),
            ("a", &[1, 2, 1][..])
        );
        assert_eq!(
            (ledger[1].run.as_str(), ledger[1].seqs.as_slice()),
            ("b", &[7][..])
        );
        let json = serde_json::to_string(&ledger[1]).unwrap();
        assert_eq!(
            serde_json::from_str::<LedgerRecord>(&json).unwrap(),
            ledger[1]
        );
    }
}
