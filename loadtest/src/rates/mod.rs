//! Rate profiles: how many messages per second to send, as a function of the time since the
//! flood started. (A *rate* profile, not an AWS one; the `--profile` flag and the `profile` key
//! of drill specs and reports keep that short name.)
//!
//! Every profile is a piecewise-linear rate function (see [`RateProfile::segments`]), which is
//! what [`crate::flood::schedule`] integrates and inverts to get each message's intended send
//! time. On the command line a profile is `KIND:key=value,...` (or a bare number for a
//! constant rate); in a drill spec it is a TOML table with the same keys and a `kind`:
//!
//! | kind | keys | shape |
//! | --- | --- | --- |
//! | `constant` | `rate` | flat |
//! | `ramp` | `from`, `to`, `over` | linear from `from` to `to` over `over`, then holds `to` |
//! | `step` | `from`, `by`, `every`, `to` | starts at `from`, changes by `by` every `every` until it reaches `to`, then holds |
//! | `spike` | `base`, `peak`, `at`, `for` | `base`, then `peak` from `at` for `for`, then `base` again |
//! | `points` | `points = [[t, rate], ...]` | linear between points (two points at one time make a step), holds the last rate; `file:PATH` reads them from a CSV of `seconds,rate` lines |
//!
//! - [`RateProfile`]: the kinds, their validation, and the rate and message count at a time.
//! - [`segment`]: one linear piece of a rate function, and its inverse (pure).
//! - [`text`]: the command-line form (`ramp:from=100,...`), `file:PATH`, and `Display`.

pub mod segment;
pub mod text;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use segment::Segment;

/// The highest rate a profile may ask for, in messages per second. Far above what one process
/// can send; it only catches typos such as an extra zero or two.
pub const MAX_RATE: f64 = 10_000_000.0;
/// The most levels a `step` profile may have.
pub const MAX_STEPS: u32 = 100_000;

/// A rate profile (messages per second over time). Build with [`str::parse`], from TOML, or
/// directly, then call [`RateProfile::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RateProfile {
    /// A flat rate.
    Constant {
        /// Messages per second.
        rate: f64,
    },
    /// A linear ramp, then the final rate.
    Ramp {
        /// Rate at the start.
        from: f64,
        /// Rate at the end of the ramp and afterwards.
        to: f64,
        /// Length of the ramp.
        #[serde(with = "crate::units::duration")]
        over: Duration,
    },
    /// A staircase towards `to`.
    Step {
        /// First level.
        from: f64,
        /// Change per step (its sign is taken from the direction `from` → `to`).
        by: f64,
        /// Length of each level.
        #[serde(with = "crate::units::duration")]
        every: Duration,
        /// Last level, held once reached.
        to: f64,
    },
    /// A base rate with one burst.
    Spike {
        /// Rate outside the burst.
        base: f64,
        /// Rate during the burst.
        peak: f64,
        /// When the burst starts.
        #[serde(with = "crate::units::duration")]
        at: Duration,
        /// How long it lasts.
        #[serde(rename = "for", with = "crate::units::duration")]
        length: Duration,
    },
    /// Anything else: `(seconds, rate)` points, linear in between.
    Points {
        /// The points, in time order, the first at 0 s.
        points: Vec<(f64, f64)>,
    },
}

fn check_rate(field: &str, rate: f64) -> Result<()> {
    if rate.is_finite() && (0.0..=MAX_RATE).contains(&rate) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{rate} is not a rate between 0 and {MAX_RATE} messages/s"),
        ))
    }
}

fn check_positive(field: &str, duration: Duration) -> Result<()> {
    if duration.is_zero() {
        Err(Error::invalid(field, "must be longer than 0 s"))
    } else {
        Ok(())
    }
}

impl RateProfile {
    /// A constant rate.
    pub fn constant(rate: f64) -> Self {
        Self::Constant { rate }
    }

    /// Checks every field; the error names the first bad one.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field (`profile.rate`, `profile.points[2]`, ...).
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Constant { rate } => check_rate("profile.rate", *rate),
            Self::Ramp { from, to, over } => {
                check_rate("profile.from", *from)?;
                check_rate("profile.to", *to)?;
                check_positive("profile.over", *over)
            }
            Self::Step {
                from,
                by,
                every,
                to,
            } => {
                check_rate("profile.from", *from)?;
                check_rate("profile.to", *to)?;
                check_positive("profile.every", *every)?;
                if !(by.is_finite() && *by != 0.0) {
                    return Err(Error::invalid("profile.by", "must be a non-zero number"));
                }
                if (to - from).abs() / by.abs() > f64::from(MAX_STEPS) {
                    return Err(Error::invalid(
                        "profile.by",
                        format!("makes more than {MAX_STEPS} steps from {from} to {to}"),
                    ));
                }
                Ok(())
            }
            Self::Spike {
                base,
                peak,
                at: _,
                length,
            } => {
                check_rate("profile.base", *base)?;
                check_rate("profile.peak", *peak)?;
                check_positive("profile.for", *length)
            }
            Self::Points { points } => {
                let Some(first) = points.first() else {
                    return Err(Error::invalid("profile.points", "needs at least one point"));
                };
                if first.0 != 0.0 {
                    return Err(Error::invalid("profile.points[0]", "must be at 0 s"));
                }
                let mut previous = 0.0;
                for (i, (t, rate)) in points.iter().enumerate() {
                    let field = format!("profile.points[{i}]");
                    if !t.is_finite() || *t < previous {
                        return Err(Error::invalid(
                            field,
                            format!("time {t} s is before the previous point ({previous} s)"),
                        ));
                    }
                    check_rate(&field, *rate)?;
                    previous = *t;
                }
                Ok(())
            }
        }
    }

    /// The profile as linear segments covering `[0, ∞)`, in order, without gaps.
    pub fn segments(&self) -> Vec<Segment> {
        match self {
            Self::Constant { rate } => vec![Segment::flat(0.0, f64::INFINITY, *rate)],
            Self::Ramp { from, to, over } => {
                let over = over.as_secs_f64();
                vec![
                    Segment {
                        start: 0.0,
                        end: over,
                        rate_start: *from,
                        rate_end: *to,
                    },
                    Segment::flat(over, f64::INFINITY, *to),
                ]
            }
            Self::Step {
                from,
                by,
                every,
                to,
            } => {
                let every = every.as_secs_f64();
                let by = by.abs().copysign(to - from);
                let mut segments = Vec::new();
                let mut level = *from;
                let mut start = 0.0;
                // Levels strictly before `to`; `to` itself is the final, endless level.
                while (to - level) * by.signum() > 0.0 && segments.len() < MAX_STEPS as usize {
                    segments.push(Segment::flat(start, start + every, level));
                    start += every;
                    level += by;
                }
                segments.push(Segment::flat(start, f64::INFINITY, *to));
                segments
            }
            Self::Spike {
                base,
                peak,
                at,
                length,
            } => {
                let at = at.as_secs_f64();
                let end = at + length.as_secs_f64();
                let mut segments = Vec::with_capacity(3);
                if at > 0.0 {
                    segments.push(Segment::flat(0.0, at, *base));
                }
                segments.push(Segment::flat(at, end, *peak));
                segments.push(Segment::flat(end, f64::INFINITY, *base));
                segments
            }
            Self::Points { points } => {
                let mut segments: Vec<Segment> = points
                    .windows(2)
                    .filter(|pair| pair[1].0 > pair[0].0)
                    .map(|pair| Segment {
                        start: pair[0].0,
                        end: pair[1].0,
                        rate_start: pair[0].1,
                        rate_end: pair[1].1,
                    })
                    .collect();
                let (last_t, last_rate) = points.last().copied().unwrap_or((0.0, 0.0));
                segments.push(Segment::flat(last_t, f64::INFINITY, last_rate));
                segments
            }
        }
    }

    /// The intended rate `t` after the start.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let segments = self.segments();
        segments
            .iter()
            .find(|s| t < s.end)
            .or(segments.last())
            .map_or(0.0, |s| s.rate_at(t))
    }

    /// Messages due in the first `t` (the integral of the rate).
    pub fn count_until(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        self.segments().iter().map(|s| s.count_until(t)).sum()
    }
}

#[cfg(test)]
// The expected values are exact in binary floating point (small integers and halves).
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    /// A profile from its text form; panics with the text when it does not parse.
    pub(super) fn parse(text: &str) -> RateProfile {
        text.parse().unwrap_or_else(|err| panic!("{text}: {err}"))
    }

    #[test]
    fn rates_outside_the_range_name_their_field() {
        let err = "ramp:from=-5,to=10,over=1s"
            .parse::<RateProfile>()
            .unwrap_err();
        assert!(err.to_string().contains("profile.from"), "{err}");
        let err = "spike:base=1,peak=1e9,at=1s,for=1s"
            .parse::<RateProfile>()
            .unwrap_err();
        assert!(err.to_string().contains("profile.peak"), "{err}");
    }

    #[test]
    fn a_step_profile_climbs_then_holds_its_last_level() {
        let profile = parse("step:from=100,by=100,every=10s,to=300");
        let at = |s| profile.rate_at(Duration::from_secs(s));
        assert_eq!(
            [at(0), at(9), at(10), at(19), at(20), at(500)],
            [100.0, 100.0, 200.0, 200.0, 300.0, 300.0]
        );
        // A step down works from a positive `by` too.
        let down = parse("step:from=300,by=100,every=1s,to=100");
        assert_eq!(down.rate_at(Duration::from_millis(1500)), 200.0);
        assert_eq!(down.rate_at(Duration::from_secs(9)), 100.0);
    }

    #[test]
    fn a_spike_returns_to_its_base_rate() {
        let profile = parse("spike:base=10,peak=1000,at=5s,for=2s");
        let at = |ms| profile.rate_at(Duration::from_millis(ms));
        assert_eq!(
            [at(4999), at(5000), at(6999), at(7000)],
            [10.0, 1000.0, 1000.0, 10.0]
        );
        assert!(
            (profile.count_until(Duration::from_secs(10)) - (8.0 * 10.0 + 2.0 * 1000.0)).abs()
                < 1e-9
        );
    }

    #[test]
    fn a_ramp_integrates_to_the_area_under_it() {
        let profile = parse("ramp:from=100,to=300,over=10s");
        assert!((profile.count_until(Duration::from_secs(10)) - 2000.0).abs() < 1e-9);
        assert!((profile.count_until(Duration::from_secs(12)) - 2600.0).abs() < 1e-9);
        assert_eq!(profile.rate_at(Duration::from_secs(5)), 200.0);
    }
}
