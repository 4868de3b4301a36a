//! Serde helpers for durations: specs and profiles say `"30s"` or `"1m 30s"` (humantime), or a
//! plain number of seconds; they are written back in the humantime form.

use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serializer};

/// Parses `"250ms"`, `"1m 30s"` or a decimal number of seconds (`"1.5"`).
///
/// # Errors
/// A message naming what was not understood.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|err| format!("{text:?}: {err}"));
    }
    humantime::parse_duration(text)
        .map_err(|err| format!("{text:?}: {err} (try \"500ms\", \"30s\" or \"2m\")"))
}

/// Formats a duration the way [`parse_duration`] reads it.
pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a duration such as \"30s\" or a number of seconds")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Duration::try_from_secs_f64(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(format!("a duration cannot be negative ({v})")))
    }
}

/// `#[serde(with = "crate::units::duration")]` for a [`Duration`].
pub mod duration {
    use super::{Deserializer, Duration, DurationVisitor, Serializer, format_duration};

    /// Writes the humantime form.
    ///
    /// # Errors
    /// As the serializer.
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(*value))
    }

    /// Reads a humantime string or a number of seconds.
    ///
    /// # Errors
    /// When the value is neither.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// `#[serde(default, with = "crate::units::option_duration")]` for an `Option<Duration>`.
pub mod option_duration {
    use super::{Deserialize, Deserializer, Duration, Serializer, format_duration};

    #[derive(Deserialize)]
    struct Wrapped(#[serde(with = "super::duration")] Duration);

    /// Writes the humantime form, or nothing.
    ///
    /// # Errors
    /// As the serializer.
    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_some(&format_duration(*duration)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads an optional humantime string or number of seconds.
    ///
    /// # Errors
    /// When the value is neither.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(d)| d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_humantime_and_plain_seconds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn formatted_durations_read_back_unchanged() {
        for d in [
            Duration::from_millis(1),
            Duration::from_secs(90),
            Duration::from_micros(1_500_250),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
