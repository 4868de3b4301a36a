//! Message bodies: seeded, of a configurable size distribution, each carrying the run id, its
//! sequence number and its intended send time, so a consumer (the victim) and the drill's
//! accounting can tell exactly which message they hold.
//!
//! A body is a JSON object, `{"run":"r1","seq":42,"t":1732212345678901,"pad":"..."}`, where
//! `t` is the intended send time in microseconds since the Unix epoch and `pad` fills the
//! body to its drawn size. The same seed and sequence number always give the same size and
//! padding, whichever task builds the body and whenever.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::batch::MAX_BATCH_BYTES;
use crate::error::{Error, Result};

/// Longest run id; it is also part of FIFO deduplication ids (at most 128 characters).
pub const MAX_RUN_ID_LEN: usize = 64;
/// Widest decimal `u64` / `i64`.
const MAX_NUMBER_LEN: usize = 20;
/// The body around the run id, numbers and padding.
const FRAME: &str = r#"{"run":"","seq":,"t":,"pad":""}"#;
/// Padding characters: URL-safe base64, so a body needs no escaping anywhere.
const PAD_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// How big bodies are. Text form: `256` (fixed), `100..1000` (uniform, inclusive), or
/// `200*9,100000*1` (sizes with weights: here 90 % of 200 B and 10 % of 100 kB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeDist {
    /// Every body this many bytes.
    Fixed(usize),
    /// Uniform between the bounds, inclusive.
    Uniform {
        /// Smallest.
        min: usize,
        /// Largest.
        max: usize,
    },
    /// One of the sizes, chosen with probability proportional to its weight.
    Weighted(Vec<(usize, u32)>),
}

impl Default for SizeDist {
    fn default() -> Self {
        Self::Fixed(256)
    }
}

impl SizeDist {
    fn draw(&self, rng: &mut impl Rng) -> usize {
        match self {
            Self::Fixed(size) => *size,
            Self::Uniform { min, max } => rng.random_range(*min..=*max),
            Self::Weighted(choices) => {
                let total: u64 = choices.iter().map(|(_, w)| u64::from(*w)).sum();
                let mut pick = rng.random_range(0..total.max(1));
                for (size, weight) in choices {
                    if pick < u64::from(*weight) {
                        return *size;
                    }
                    pick -= u64::from(*weight);
                }
                choices.last().map_or(0, |(size, _)| *size)
            }
        }
    }

    /// The largest size it can draw.
    pub fn max(&self) -> usize {
        match self {
            Self::Fixed(size) | Self::Uniform { max: size, .. } => *size,
            Self::Weighted(choices) => choices.iter().map(|(s, _)| *s).max().unwrap_or(0),
        }
    }

    fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::invalid("payload_size", reason));
        if let Self::Uniform { min, max } = self
            && min > max
        {
            return invalid(format!("{min}..{max} is empty"));
        }
        if let Self::Weighted(choices) = self
            && (choices.is_empty() || choices.iter().all(|(_, w)| *w == 0))
        {
            return invalid("needs at least one size with a weight above 0".to_owned());
        }
        if self.max() > MAX_BATCH_BYTES {
            return invalid(format!(
                "{} bytes is over the SQS message limit of {MAX_BATCH_BYTES}",
                self.max()
            ));
        }
        Ok(())
    }
}

impl fmt::Display for SizeDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(size) => write!(f, "{size}"),
            Self::Uniform { min, max } => write!(f, "{min}..{max}"),
            Self::Weighted(choices) => {
                let parts: Vec<String> = choices.iter().map(|(s, w)| format!("{s}*{w}")).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

impl FromStr for SizeDist {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "payload_size",
                format!(
                    "{text:?} is not a size (256), a range (100..1000) or weighted sizes (200*9,100000*1)"
                ),
            )
        };
        let number = |s: &str| s.trim().parse::<usize>().map_err(|_| bad());
        let dist = if let Some((min, max)) = text.split_once("..") {
            Self::Uniform {
                min: number(min)?,
                max: number(max)?,
            }
        } else if text.contains('*') {
            let choices = text
                .split(',')
                .map(|part| {
                    let (size, weight) = part.split_once('*').ok_or_else(bad)?;
                    Ok((
                        number(size)?,
                        weight.trim().parse::<u32>().map_err(|_| bad())?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            Self::Weighted(choices)
        } else {
            Self::Fixed(number(text)?)
        };
        dist.validate()?;
        Ok(dist)
    }
}

impl Serialize for SizeDist {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SizeDist {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(usize),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(size) => Ok(Self::Fixed(size)),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// What every body carries (the padding aside).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Run id.
    pub run: String,
    /// Sequence number within the run.
    pub seq: u64,
    /// Intended send time, microseconds since the Unix epoch.
    pub t: i64,
}

impl Stamp {
    /// Reads the stamp of a body; `None` if it is not one of ours. Bodies are parsed as JSON,
    /// never compared as bytes (LocalStack's poller re-serialises JSON bodies).
    pub fn parse(body: &str) -> Option<Self> {
        serde_json::from_str(body).ok()
    }
}

/// Builds the bodies of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadSpec {
    run_id: String,
    seed: u64,
    sizes: SizeDist,
}

impl PayloadSpec {
    /// Bodies for run `run_id`, drawn from `seed`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if the run id is not 1 to 64 of `[A-Za-z0-9_-]` or the sizes are
    /// invalid.
    pub fn new(run_id: impl Into<String>, seed: u64, sizes: SizeDist) -> Result<Self> {
        let run_id = run_id.into();
        if run_id.is_empty()
            || run_id.len() > MAX_RUN_ID_LEN
            || !run_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::invalid(
                "run_id",
                format!("{run_id:?} is not 1 to {MAX_RUN_ID_LEN} of [A-Za-z0-9_-]"),
            ));
        }
        sizes.validate()?;
        Ok(Self {
            run_id,
            seed,
            sizes,
        })
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    fn rng(&self, seq: u64) -> ChaCha8Rng {
        // Spread consecutive sequence numbers apart before they become seeds.
        ChaCha8Rng::seed_from_u64(self.seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// The longest body without padding.
    fn frame_len(&self) -> usize {
        FRAME.len() + self.run_id.len() + 2 * MAX_NUMBER_LEN
    }

    /// An upper bound of the size of body `seq`, for packing batches before bodies exist.
    pub fn size(&self, seq: u64) -> usize {
        self.sizes.draw(&mut self.rng(seq)).max(self.frame_len())
    }

    /// The body of message `seq`, intended for `intended_unix_micros`: exactly its drawn size,
    /// unless that is smaller than the stamp itself.
    pub fn body(&self, seq: u64, intended_unix_micros: i64) -> String {
        let mut rng = self.rng(seq);
        let target = self.sizes.draw(&mut rng);
        let mut body = String::with_capacity(target.max(self.frame_len()));
        body.push_str(r#"{"run":""#);
        body.push_str(&self.run_id);
        body.push_str(r#"","seq":"#);
        body.push_str(&seq.to_string());
        body.push_str(r#","t":"#);
        body.push_str(&intended_unix_micros.to_string());
        body.push_str(r#","pad":""#);
        let mut pad = target.saturating_sub(body.len() + 2);
        while pad > 0 {
            // Ten characters of six bits from each draw.
            let mut bits = rng.next_u64();
            for _ in 0..pad.min(10) {
                body.push(char::from(PAD_ALPHABET[(bits & 63) as usize]));
                bits >>= 6;
            }
            pad = pad.saturating_sub(10);
        }
        body.push_str("\"}");
        body
    }

    /// FIFO message group of `seq` among `groups` groups.
    pub fn group_id(seq: u64, groups: u32) -> String {
        format!("g{}", seq % u64::from(groups.max(1)))
    }

    /// FIFO deduplication id of `seq`: unique per run, and the same on every retry, so SQS
    /// drops a retried entry that had in fact arrived.
    pub fn dedup_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.run_id)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn size_distributions_parse_from_text() {
        assert_eq!("256".parse::<SizeDist>().unwrap(), SizeDist::Fixed(256));
        assert_eq!(
            "100..1000".parse::<SizeDist>().unwrap(),
            SizeDist::Uniform {
                min: 100,
                max: 1000
            }
        );
        assert_eq!(
            "200*9,100000*1".parse::<SizeDist>().unwrap(),
            SizeDist::Weighted(vec![(200, 9), (100_000, 1)])
        );
        for bad in ["", "big", "5..1", "1*0", "2000000"] {
            assert!(bad.parse::<SizeDist>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_body_carries_run_sequence_and_intended_time_as_json() {
        let spec = PayloadSpec::new("run-1", 7, SizeDist::Fixed(300)).unwrap();
        let body = spec.body(42, 1_732_212_345_678_901);
        assert_eq!(body.len(), 300);
        let stamp = Stamp::parse(&body).unwrap();
        assert_eq!(
            stamp,
            Stamp {
                run: "run-1".into(),
                seq: 42,
                t: 1_732_212_345_678_901
            }
        );
        // LocalStack re-serialises JSON bodies; the stamp survives that.
        let reserialised = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        )
        .unwrap();
        assert_eq!(Stamp::parse(&reserialised), Some(stamp));
    }

    #[test]
    fn the_same_seed_gives_the_same_bodies_and_another_seed_does_not() {
        let a = PayloadSpec::new("r", 1, "100..5000".parse().unwrap()).unwrap();
        let b = PayloadSpec::new("r", 2, "100..5000".parse().unwrap()).unwrap();
        assert_eq!(a.body(9, 5), a.clone().body(9, 5));
        assert_ne!(a.body(9, 5), b.body(9, 5));
    }

    #[test]
    fn weighted_sizes_come_out_in_proportion() {
        let spec = PayloadSpec::new("r", 3, "200*9,1000*1".parse().unwrap()).unwrap();
        let large = (0..10_000)
            .filter(|seq| spec.body(*seq, 0).len() == 1000)
            .count();
        assert!((800..1200).contains(&large), "{large} of 10000 were large");
    }

    #[test]
    fn run_ids_that_would_need_escaping_are_refused() {
        for bad in ["", "a\"b", "x y", &"r".repeat(65)] {
            assert!(
                PayloadSpec::new(bad, 0, SizeDist::default()).is_err(),
                "{bad:?}"
            );
        }
    }

    proptest! {

        #[test]
        fn a_body_is_valid_json_and_never_larger_than_its_planned_size(
            seq in any::<u64>(),
            t in any::<i64>(),
            seed in any::<u64>(),
            min in 0usize..2000,
            extra in 0usize..2000,
        ) {
            let spec = PayloadSpec::new("run_Z-9", seed, SizeDist::Uniform { min, max: min + extra }).unwrap();
            let body = spec.body(seq, t);
            prop_assert!(body.len() <= spec.size(seq));
            let stamp = Stamp::parse(&body).unwrap();
            prop_assert_eq!((stamp.seq, stamp.t), (seq, t));
            if spec.size(seq) > spec.frame_len() {
                prop_assert_eq!(body.len(), spec.size(seq));
            }
        }
    }
}
