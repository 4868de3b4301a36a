//! The text forms of a rate profile: `KIND:key=value,...` on the command line (or a bare
//! number for a constant rate), `file:PATH` for a CSV of `seconds,rate` points, and the
//! `Display` form, which parses back to the same profile.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;

use super::RateProfile;
use crate::error::{Error, Result};

impl RateProfile {
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
    use std::time::Duration;

    use super::*;
    use crate::rates::tests::parse;

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
