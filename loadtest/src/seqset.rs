//! Sets of sequence numbers, stored as disjoint ranges: a flood's sent messages are mostly
//! one long run, so a million of them take a few entries, and reports list them as ranges.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of sequence numbers. Serialized as `[[first, last], ...]` (inclusive ranges).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqSet {
    /// Start → end (inclusive) of each maximal range.
    ranges: BTreeMap<u64, u64>,
    len: u64,
}

impl SeqSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of members.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `seq` is a member.
    pub fn contains(&self, seq: u64) -> bool {
        self.ranges
            .range(..=seq)
            .next_back()
            .is_some_and(|(_, end)| *end >= seq)
    }

    /// Adds `seq`; returns whether it was new.
    pub fn insert(&mut self, seq: u64) -> bool {
        self.insert_range(seq, seq) == 1
    }

    /// Adds `first..=last`; returns how many were new.
    pub fn insert_range(&mut self, first: u64, last: u64) -> u64 {
        if first > last {
            return 0;
        }
        let (mut start, mut end) = (first, last);
        let mut covered = 0;
        // Every range that overlaps or touches [first, last] merges into it.
        let touching: Vec<(u64, u64)> = self
            .ranges
            .range(..=last.saturating_add(1))
            .rev()
            .take_while(|(_, e)| first == 0 || **e >= first - 1)
            .map(|(s, e)| (*s, *e))
            .collect();
        for (s, e) in touching {
            self.ranges.remove(&s);
            covered += (u128::from(e.min(last)) + 1).saturating_sub(u128::from(s.max(first)));
            start = start.min(s);
            end = end.max(e);
        }
        self.ranges.insert(start, end);
        let added =
            u64::try_from(u128::from(last) - u128::from(first) + 1 - covered).unwrap_or(u64::MAX);
        self.len = self.len.saturating_add(added);
        added
    }

    /// The ranges, in order, inclusive.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(s, e)| (*s, *e))
    }

    /// Every member, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.ranges().flat_map(|(s, e)| s..=e)
    }

    /// Adds every member of `other`.
    pub fn extend_from(&mut self, other: &Self) {
        for (s, e) in other.ranges() {
            self.insert_range(s, e);
        }
    }

    /// Members of `self` that are not in `other`.
    #[must_use]
    pub fn difference(&self, other: &Self) -> Self {
        let mut out = Self::new();
        for (s, e) in self.ranges() {
            // The first number of [s, e] not yet known to be in `other`; None once past e.
            let mut next = Some(s);
            for (os, oe) in other.ranges.range(..=e).filter(|(_, oe)| **oe >= s) {
                let Some(n) = next else { break };
                if *os > n {
                    out.insert_range(n, os - 1);
                }
                next = oe.checked_add(1).filter(|after| *after <= e);
            }
            if let Some(n) = next {
                out.insert_range(n, e);
            }
        }
        out
    }

    /// Members of both.
    #[must_use]
    pub fn intersection(&self, other: &Self) -> Self {
        self.difference(&self.difference(other))
    }

    /// The first `limit` ranges as text (`0-9, 15, 20-30`), with a count of the rest.
    pub fn describe(&self, limit: usize) -> String {
        let mut parts: Vec<String> = self
            .ranges()
            .take(limit)
            .map(|(s, e)| {
                if s == e {
                    s.to_string()
                } else {
                    format!("{s}-{e}")
                }
            })
            .collect();
        let more = self.ranges.len().saturating_sub(limit);
        if more > 0 {
            parts.push(format!("… {more} more ranges"));
        }
        parts.join(", ")
    }
}

impl FromIterator<u64> for SeqSet {
    fn from_iter<T: IntoIterator<Item = u64>>(iter: T) -> Self {
        let mut set = Self::new();
        for seq in iter {
            set.insert(seq);
        }
        set
    }
}

impl fmt::Display for SeqSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(usize::MAX))
    }
}

impl Serialize for SeqSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.ranges().map(|(s, e)| [s, e]))
    }
}

impl<'de> Deserialize<'de> for SeqSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ranges = Vec::<[u64; 2]>::deserialize(deserializer)?;
        let mut set = Self::new();
        for [s, e] in ranges {
            if s > e {
                return Err(serde::de::Error::custom(format!(
                    "range [{s}, {e}] is backwards"
                )));
            }
            set.insert_range(s, e);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn adjacent_and_overlapping_inserts_merge_into_one_range() {
        let mut set = SeqSet::new();
        assert_eq!(set.insert_range(5, 9), 5);
        assert_eq!(set.insert_range(0, 4), 5);
        assert_eq!(set.insert_range(8, 12), 3);
        assert!(!set.insert(3));
        assert_eq!(set.ranges().collect::<Vec<_>>(), [(0, 12)]);
        assert_eq!(set.len(), 13);
    }

    #[test]
    fn describes_ranges_briefly() {
        let set: SeqSet = [0, 1, 2, 5, 9, 10].into_iter().collect();
        assert_eq!(set.describe(10), "0-2, 5, 9-10");
        assert_eq!(set.describe(1), "0-2, … 2 more ranges");
    }

    #[test]
    fn round_trips_through_json_as_ranges() {
        let set: SeqSet = [0, 1, 2, 7].into_iter().collect();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, "[[0,2],[7,7]]");
        assert_eq!(serde_json::from_str::<SeqSet>(&json).unwrap(), set);
        assert!(serde_json::from_str::<SeqSet>("[[3,1]]").is_err());
    }

    #[test]
    fn handles_the_extremes_of_u64() {
        let mut set = SeqSet::new();
        set.insert_range(u64::MAX - 2, u64::MAX);
        set.insert(0);
        let other: SeqSet = [u64::MAX].into_iter().collect();
        assert_eq!(
            set.difference(&other).ranges().collect::<Vec<_>>(),
            [(0, 0), (u64::MAX - 2, u64::MAX - 1)]
        );
        assert!(set.contains(u64::MAX));
    }

    fn small_sets() -> impl Strategy<Value = BTreeSet<u64>> {
        proptest::collection::btree_set(0u64..300, 0..120)
    }

    proptest! {

        #[test]
        fn behaves_like_a_set_of_numbers(a in small_sets(), b in small_sets()) {
            let sa: SeqSet = a.iter().copied().collect();
            let sb: SeqSet = b.iter().copied().collect();
            prop_assert_eq!(sa.len(), a.len() as u64);
            prop_assert_eq!(sa.iter().collect::<BTreeSet<_>>(), a.clone());
            for x in 0..300 {
                prop_assert_eq!(sa.contains(x), a.contains(&x));
            }
            prop_assert_eq!(sa.difference(&sb).iter().collect::<BTreeSet<_>>(), a.difference(&b).copied().collect());
            prop_assert_eq!(sa.intersection(&sb).iter().collect::<BTreeSet<_>>(), a.intersection(&b).copied().collect());
            let mut union = sa.clone();
            union.extend_from(&sb);
            prop_assert_eq!(union.iter().collect::<BTreeSet<_>>(), a.union(&b).copied().collect());
            prop_assert_eq!(union.len(), a.union(&b).count() as u64);
            // Ranges are maximal: no two touch.
            let ranges: Vec<_> = union.ranges().collect();
            prop_assert!(ranges.windows(2).all(|w| w[0].1 + 1 < w[1].0));
        }
    }
}
