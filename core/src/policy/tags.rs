//! Persistence of [`CircuitState`] as tags on the event source mapping.
//!
//! Every key in [`TAG_KEYS`] is written on every save, empty when it does not apply, so one
//! `TagResource` call replaces the whole state and no stale key survives. Reading treats an
//! empty value as absent and ignores keys the state does not use.
//!
//! Tag values must be at most 256 characters of letters, digits, spaces and `_ . : / = + - @`.
//! Free text (override reason and actor) is sanitized when it enters the state: whitespace
//! becomes a space, any other character outside that set (including non-ASCII letters, to stay
//! on the safe side of every service's reading of "letters") becomes `_`, and the result is
//! cut to 256 characters. Timestamps are RFC 3339 in UTC, which stays inside the set.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

use super::config::{MAX_LEVEL, MIN_LEVEL};
use super::error::PolicyError;
use super::state::{CircuitState, Override, OverrideKind, Phase, PhaseName};

/// Phase name: `closed`, `throttled`, `open`, `half-open` or `ramping`.
pub const TAG_STATE: &str = "floodgate:state";
/// When the phase was entered (RFC 3339, UTC).
pub const TAG_SINCE: &str = "floodgate:since";
/// Trips since the circuit last closed.
pub const TAG_TRIPS: &str = "floodgate:trips";
/// Current level of Throttled or Ramping.
pub const TAG_LEVEL: &str = "floodgate:level";
/// Active override: `force-open`, `force-close` or `manual-disable`.
pub const TAG_OVERRIDE: &str = "floodgate:override";
/// Reason given for the override (sanitized).
pub const TAG_REASON: &str = "floodgate:reason";
/// Who set the override (sanitized).
pub const TAG_ACTOR: &str = "floodgate:actor";
/// When the override lapses (RFC 3339, UTC).
pub const TAG_UNTIL: &str = "floodgate:until";
/// `true` when the circuit decides and records but actuates nothing.
pub const TAG_DRY_RUN: &str = "floodgate:dry-run";
/// `true` while a transition Floodgate started has not been seen to take full effect.
pub const TAG_PENDING: &str = "floodgate:pending";
/// Every key the state uses.
pub const TAG_KEYS: [&str; 10] = [
    TAG_STATE,
    TAG_SINCE,
    TAG_TRIPS,
    TAG_LEVEL,
    TAG_OVERRIDE,
    TAG_REASON,
    TAG_ACTOR,
    TAG_UNTIL,
    TAG_DRY_RUN,
    TAG_PENDING,
];
/// The longest tag value AWS accepts.
pub const MAX_TAG_VALUE_LEN: usize = 256;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

/// Makes free text a valid tag value (see the module docs for the rule).
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if allowed(c) => c,
            c if c.is_whitespace() => ' ',
            _ => '_',
        })
        .take(MAX_TAG_VALUE_LEN)
        .collect()
}

/// Whether `value` satisfies the AWS tag value rules as this module reads them.
pub fn is_valid_tag_value(value: &str) -> bool {
    value.chars().count() <= MAX_TAG_VALUE_LEN && value.chars().all(allowed)
}

fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn invalid(key: &'static str, value: &str, reason: impl Into<String>) -> PolicyError {
    PolicyError::InvalidTag {
        key,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Read access to the tags, empty values counting as absent.
struct Tags<'a>(&'a BTreeMap<String, String>);

impl Tags<'_> {
    fn get(&self, key: &'static str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn required(&self, key: &'static str) -> Result<&str, PolicyError> {
        self.get(key).ok_or(PolicyError::MissingTag { key })
    }

    fn time(&self, key: &'static str) -> Result<Option<DateTime<Utc>>, PolicyError> {
        self.get(key)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| invalid(key, v, e.to_string()))
            })
            .transpose()
    }

    fn since(&self) -> Result<DateTime<Utc>, PolicyError> {
        self.time(TAG_SINCE)?
            .ok_or(PolicyError::MissingTag { key: TAG_SINCE })
    }

    fn number(
        &self,
        key: &'static str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, PolicyError> {
        let value = self.required(key)?;
        let n: u32 = value
            .parse()
            .map_err(|_| invalid(key, value, "not a whole number"))?;
        if range.contains(&n) {
            Ok(n)
        } else {
            Err(invalid(
                key,
                value,
                format!("must be between {} and {}", range.start(), range.end()),
            ))
        }
    }

    fn trips(&self, min: u32) -> Result<u32, PolicyError> {
        self.number(TAG_TRIPS, min..=u32::MAX)
    }

    fn level(&self) -> Result<u32, PolicyError> {
        self.number(TAG_LEVEL, MIN_LEVEL..=MAX_LEVEL)
    }

    fn phase(&self, name: &str) -> Result<Phase, PolicyError> {
        let name = PhaseName::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| invalid(TAG_STATE, name, "unknown state"))?;
        let since = self.since()?;
        Ok(match name {
            PhaseName::Closed => Phase::Closed { since },
            PhaseName::Throttled => Phase::Throttled {
                since,
                level: self.level()?,
                trips: self.trips(0)?,
            },
            PhaseName::Open => Phase::Open {
                since,
                trips: self.trips(1)?,
            },
            PhaseName::HalfOpen => Phase::HalfOpen {
                since,
                trips: self.trips(1)?,
            },
            PhaseName::Ramping => Phase::Ramping {
                since,
                level: self.level()?,
                trips: self.trips(0)?,
            },
        })
    }

    fn override_(&self, phase: Phase) -> Result<Option<Override>, PolicyError> {
        let Some(value) = self.get(TAG_OVERRIDE) else {
            return Ok(None);
        };
        let kind = OverrideKind::ALL
            .into_iter()
            .find(|k| k.as_str() == value)
            .ok_or_else(|| invalid(TAG_OVERRIDE, value, "unknown override"))?;
        // The phase mirrors an active override; anything else was edited by hand, and
        // guessing which of the two is right could start or stop consumption unasked.
        if kind.phase_name() != phase.name() {
            return Err(invalid(
                TAG_OVERRIDE,
                value,
                format!("contradicts state {}", phase.name()),
            ));
        }
        Ok(Some(Override {
            kind,
            reason: self.get(TAG_REASON).unwrap_or_default().to_owned(),
            actor: self.required(TAG_ACTOR)?.to_owned(),
            until: self.time(TAG_UNTIL)?,
        }))
    }

    fn flag(&self, key: &'static str) -> Result<bool, PolicyError> {
        match self.get(key) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(invalid(key, other, "must be true or false")),
        }
    }
}

impl CircuitState {
    /// The state as tags: every key of [`TAG_KEYS`], empty where it does not apply.
    pub fn to_tags(&self) -> BTreeMap<String, String> {
        let phase = &self.phase;
        let (trips, level) = match *phase {
            Phase::Closed { .. } => (None, None),
            Phase::Open { trips, .. } | Phase::HalfOpen { trips, .. } => (Some(trips), None),
            Phase::Throttled { level, trips, .. } | Phase::Ramping { level, trips, .. } => {
                (Some(trips), Some(level))
            }
        };
        let o = self.override_.as_ref();
        let values = [
            (TAG_STATE, phase.name().as_str().to_owned()),
            (TAG_SINCE, format_time(phase.since())),
            (TAG_TRIPS, trips.map(|t| t.to_string()).unwrap_or_default()),
            (TAG_LEVEL, level.map(|l| l.to_string()).unwrap_or_default()),
            (
                TAG_OVERRIDE,
                o.map(|o| o.kind.as_str().to_owned()).unwrap_or_default(),
            ),
            (
                TAG_REASON,
                o.map(|o| sanitize(&o.reason)).unwrap_or_default(),
            ),
            (TAG_ACTOR, o.map(|o| sanitize(&o.actor)).unwrap_or_default()),
            (
                TAG_UNTIL,
                o.and_then(|o| o.until).map(format_time).unwrap_or_default(),
            ),
            (TAG_DRY_RUN, self.dry_run.to_string()),
            (TAG_PENDING, self.pending.to_string()),
        ];
        values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// Reads the state back from the mapping's tags (other tags are ignored).
    ///
    /// Without a `floodgate:state` tag the circuit is new: Closed since `now` (honouring a
    /// preset `floodgate:dry-run`, so a mapping can start in dry-run).
    ///
    /// # Errors
    /// [`PolicyError::MissingTag`] when a tag the state needs is absent (including state
    /// tags without `floodgate:state`), [`PolicyError::InvalidTag`] when a value cannot be
    /// read or contradicts another.
    pub fn from_tags(
        tags: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<Self, PolicyError> {
        let tags = Tags(tags);
        let dry_run = tags.flag(TAG_DRY_RUN)?;
        let pending = tags.flag(TAG_PENDING)?;
        let Some(name) = tags.get(TAG_STATE) else {
            if TAG_KEYS
                .iter()
                .any(|&key| key != TAG_DRY_RUN && key != TAG_PENDING && tags.get(key).is_some())
            {
                return Err(PolicyError::MissingTag { key: TAG_STATE });
            }
            return Ok(Self {
                dry_run,
                ..Self::fresh(now)
            });
        };
        let phase = tags.phase(name)?;
        Ok(Self {
            phase,
            override_: tags.override_(phase)?,
            dry_run,
            pending,
        })
    }

    /// The state as it reads back from its tags: override reason and actor sanitized.
    #[must_use]
    pub fn sanitized(&self) -> Self {
        Self {
            override_: self.override_.as_ref().map(|o| Override {
                reason: sanitize(&o.reason),
                actor: sanitize(&o.actor),
                ..o.clone()
            }),
            ..self.clone()
        }
    }
}
