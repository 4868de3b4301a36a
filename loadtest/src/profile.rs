//! Rate profiles: how many messages per second to send, as a function of the time since the
//! flood started.
//!
//! Every profile is a piecewise-linear rate function (see [`RateProfile::segments`]), which is
//! what [`crate::flood::schedule`] integrates and inverts to get each message's intended send time.
//! On the command line a profile is `KIND:key=value,...` (or a bare number for a constant
//! rate); in a drill spec it is a TOML table with the same keys and a `kind`:
//!
//! | kind | keys | shape |
//! | --- | --- | --- |
//! | `constant` | `rate` | flat |
//! | `ramp` | `from`, `to`, `over` | linear from `from` to `to` over `over`, then holds `to` |
//! | `step` | `from`, `by`, `every`, `to` | starts at `from`, changes by `by` every `every` until it reaches `to`, then holds |
//! | `spike` | `base`, `peak`, `at`, `for` | `base`, then `peak` from `at` for `for`, then `base` again |
//! | `points` | `points = [[t, rate], ...]` | linear between points (two points at one time make a step), holds the last rate; `file:PATH` reads them from a CSV of `seconds,rate` lines |

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

/// One linear piece of a rate function: the rate goes from `rate_start` at `start` to
/// `rate_end` at `end` (seconds since the start of the flood; `end` may be infinite).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Start, in seconds.
    pub start: f64,
    /// End, in seconds (`f64::INFINITY` for the last segment).
    pub end: f64,
    /// Rate at `start`.
    pub rate_start: f64,
    /// Rate at `end` (equal to `rate_start` when the segment is infinite).
    pub rate_end: f64,
}

impl Segment {
    fn flat(start: f64, end: f64, rate: f64) -> Self {
        Self {
            start,
            end,
            rate_start: rate,
            rate_end: rate,
        }
    }

    /// Rate change per second within the segment.
    pub fn slope(&self) -> f64 {
        if self.end.is_finite() && self.end > self.start {
            (self.rate_end - self.rate_start) / (self.end - self.start)
        } else {
            0.0
        }
    }

    /// The rate at `t` (clamped into the segment).
    pub fn rate_at(&self, t: f64) -> f64 {
        let tau = (t.min(self.end) - self.start).max(0.0);
        self.rate_start + self.slope() * tau
    }

    /// Messages due between `start` and `t` (clamped into the segment).
    pub fn count_until(&self, t: f64) -> f64 {
        let tau = (t.min(self.end) - self.start).max(0.0);
        if tau == 0.0 {
            return 0.0;
        }
        self.rate_start * tau + self.slope() * tau * tau / 2.0
    }

    /// Messages due in the whole segment (infinite unless the rate is 0).
    pub fn count(&self) -> f64 {
        if self.end.is_finite() {
            self.count_until(self.end)
        } else if self.rate_start > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    }

    /// Seconds after `start` at which `count` messages have come due (the inverse of
    /// [`Segment::count_until`]); `None` if that never happens in this segment.
    pub fn time_of(&self, count: f64) -> Option<f64> {
        if count <= 0.0 {
            return Some(0.0);
        }
        if count > self.count() {
            return None;
        }
        let a = self.slope();
        let r0 = self.rate_start;
        // Roots of r0·τ + a·τ²/2 = count in the form that stays exact when a is tiny or 0.
        let root = r0.mul_add(r0, 2.0 * a * count).max(0.0).sqrt();
        let denominator = r0 + root;
        (denominator > 0.0).then(|| 2.0 * count / denominator)
    }
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

    /// Reads a `points` profile from a CSV file of `seconds,rate` lines (`#` starts a
    /// comment; blank lines are skipped).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; [`Error::Invalid`] naming the line that does
    /// not parse, or the point that is out of order.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            what: "reading",
            path: path.to_owned(),
            source,
        })?;
        let mut points = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let field = format!("{}:{}", path.display(), number + 1);
            let parse = |value: Option<&str>| {
                value
                    .map(str::trim)
                    .and_then(|v| v.parse::<f64>().ok())
                    .ok_or_else(|| {
                        Error::invalid(&field, format!("{line:?} is not `seconds,rate`"))
                    })
            };
            let mut values = line.split(',');
            let t = parse(values.next())?;
            let rate = parse(values.next())?;
            if values.next().is_some() {
                return Err(Error::invalid(
                    &field,
                    format!("{line:?} has more than two values"),
                ));
            }
            points.push((t, rate));
        }
        let profile = Self::Points { points };
        profile.validate()?;
        Ok(profile)
    }
}

impl fmt::Display for RateProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::units::format_duration as d;
        match self {
            Self::Constant { rate } => write!(f, "constant:rate={rate}"),
            Self::Ramp { from, to, over } => {
                write!(f, "ramp:from={from},to={to},over={}", d(*over))
            }
            Self::Step {
                from,
                by,
                every,
                to,
            } => write!(f, "step:from={from},by={by},every={},to={to}", d(*every)),
            Self::Spike {
                base,
                peak,
                at,
                length,
            } => write!(
                f,
                "spike:base={base},peak={peak},at={},for={}",
                d(*at),
                d(*length)
            ),
            Self::Points { points } => write!(f, "points:{} points", points.len()),
        }
    }
}

impl FromStr for RateProfile {
    type Err = Error;

    /// `500`, `constant:rate=500`, `ramp:from=100,to=1000,over=30s`,
    /// `step:from=100,by=100,every=10s,to=500`, `spike:base=100,peak=2000,at=10s,for=5s`,
    /// or `file:PATH`.
    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        if let Ok(rate) = text.parse::<f64>() {
            let profile = Self::constant(rate);
            profile.validate()?;
            return Ok(profile);
        }
        let (kind, args) = text.split_once(':').unwrap_or((text, ""));
        if kind == "file" {
            return Self::from_file(Path::new(args));
        }
        // The same keys as the TOML form: build the table and let serde check names and types.
        let mut table = toml::Table::new();
        table.insert("kind".to_owned(), toml::Value::String(kind.to_owned()));
        for pair in args.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                Error::invalid("profile", format!("{pair:?} is not key=value in {text:?}"))
            })?;
            let value = value.trim();
            let value = value.parse::<f64>().map_or_else(
                |_| toml::Value::String(value.to_owned()),
                toml::Value::Float,
            );
            table.insert(key.trim().to_owned(), value);
        }
        let profile = Self::deserialize(toml::Value::Table(table)).map_err(|err| {
            Error::invalid(
                "profile",
                format!(
                    "{text:?}: {}; expected e.g. 500, ramp:from=100,to=1000,over=30s, \
                     step:from=100,by=100,every=10s,to=500, spike:base=100,peak=2000,at=10s,for=5s \
                     or file:PATH",
                    err.message()
                ),
            )
        })?;
        profile.validate()?;
        Ok(profile)
    }
}

#[cfg(test)]
// The expected values are exact in binary floating point (small integers and halves).
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RateProfile {
        text.parse().unwrap_or_else(|err| panic!("{text}: {err}"))
    }

    #[test]
    fn a_bare_number_is_a_constant_rate() {
        assert_eq!(parse("500"), RateProfile::constant(500.0));
        assert_eq!(parse("constant:rate=500"), RateProfile::constant(500.0));
    }

    #[test]
    fn every_kind_parses_from_the_command_line_form() {
        assert_eq!(
            parse("ramp:from=100,to=1000,over=30s"),
            RateProfile::Ramp {
                from: 100.0,
                to: 1000.0,
                over: Duration::from_secs(30)
            }
        );
        assert_eq!(
            parse("spike:base=100,peak=2000,at=10s,for=5s"),
            RateProfile::Spike {
                base: 100.0,
                peak: 2000.0,
                at: Duration::from_secs(10),
                length: Duration::from_secs(5)
            }
        );
        assert_eq!(
            parse("step:from=100,by=100,every=10s,to=300"),
            RateProfile::Step {
                from: 100.0,
                by: 100.0,
                every: Duration::from_secs(10),
                to: 300.0
            }
        );
    }

    #[test]
    fn the_display_form_parses_back_to_the_same_profile() {
        for text in [
            "constant:rate=250",
            "ramp:from=0,to=1000,over=1m",
            "step:from=100,by=50,every=2s,to=400",
            "spike:base=10,peak=900,at=3s,for=500ms",
        ] {
            let profile = parse(text);
            assert_eq!(parse(&profile.to_string()), profile);
        }
    }

    #[test]
    fn unknown_keys_and_kinds_are_refused_with_the_accepted_forms() {
        for text in [
            "ramp:from=1,to=2,over=3s,extra=1",
            "wave:rate=3",
            "ramp:from=1",
        ] {
            let err = text.parse::<RateProfile>().unwrap_err().to_string();
            assert!(err.contains("expected e.g."), "{text}: {err}");
        }
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

    #[test]
    fn a_profile_file_gives_points_and_names_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("wave.csv");
        std::fs::write(
            &good,
            "# seconds,rate\n0,100\n10,500 # peak\n\n10,50\n20,50\n",
        )
        .unwrap();
        let profile = RateProfile::from_file(&good).unwrap();
        assert_eq!(profile.rate_at(Duration::from_secs(5)), 300.0);
        assert_eq!(profile.rate_at(Duration::from_secs(15)), 50.0);
        assert_eq!(parse(&format!("file:{}", good.display())), profile);

        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "0,100\n5;200\n").unwrap();
        let err = RateProfile::from_file(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.csv:2"), "{err}");

        let unordered = dir.path().join("unordered.csv");
        std::fs::write(&unordered, "0,1\n5,2\n4,3\n").unwrap();
        let err = RateProfile::from_file(&unordered).unwrap_err().to_string();
        assert!(err.contains("points[2]"), "{err}");
    }

    #[test]
    fn the_toml_form_uses_the_same_keys() {
        let profile: RateProfile =
            toml::from_str("kind = \"spike\"\nbase = 5\npeak = 50.5\nat = \"2s\"\nfor = 3")
                .unwrap();
        assert_eq!(
            profile,
            RateProfile::Spike {
                base: 5.0,
                peak: 50.5,
                at: Duration::from_secs(2),
                length: Duration::from_secs(3)
            }
        );
    }
}
