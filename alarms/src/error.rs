//! The crate's one error type.
//!
//! Every variant names the field that was wrong. Nothing here ever carries the event body:
//! values copied from the input are short, bounded and escaped (see [`bounded`]) so an error
//! can be logged as-is without leaking a payload or letting it forge log lines.

/// Longest input-derived text an error will carry, in characters.
const MAX_ECHO_CHARS: usize = 96;

/// Why an event could not become an [`AlarmSignal`](crate::AlarmSignal), or why an alarm
/// evaluation config was rejected.
///
/// None of these are retryable: the same bytes will fail the same way, so a caller should
/// drop (or dead-letter) the event rather than ask for redelivery. See
/// [`AlarmError::is_retryable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlarmError {
    /// The raw event is larger than [`MAX_EVENT_BYTES`](crate::MAX_EVENT_BYTES); it was not parsed.
    #[error("event is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Size of the rejected event in bytes.
        size: usize,
        /// The limit it exceeded.
        limit: usize,
    },

    /// The raw event is not JSON at all.
    #[error("event is not valid JSON: {reason}")]
    NotJson {
        /// Where parsing stopped (line and column), never the input itself.
        reason: String,
    },

    /// Valid JSON, but not any CloudWatch alarm delivery shape (Lambda alarm action, SNS
    /// notification or EventBridge "CloudWatch Alarm State Change").
    #[error("event is not a CloudWatch alarm delivery: {hint}")]
    UnknownShape {
        /// What was seen instead, in words chosen by this crate (never input text).
        hint: &'static str,
    },

    /// An SNS-shaped event that does not carry exactly one record. Lambda delivers SNS
    /// notifications one record per invocation, so anything else was not sent by SNS.
    #[error("SNS event must carry exactly one record, found {found}")]
    RecordCount {
        /// Number of records in the event.
        found: usize,
    },

    /// A field is missing, has the wrong type, or has a value this crate refuses.
    #[error("field `{field}` is malformed: {reason}")]
    Malformed {
        /// Path of the field, e.g. `alarmData.state.value` or `Records[0].Sns.Message`.
        field: String,
        /// What was wrong with it.
        reason: String,
    },

    /// An alarm state that is not `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    #[error("field `{field}` holds {value}, which is not OK, ALARM or INSUFFICIENT_DATA")]
    InvalidState {
        /// Path of the field.
        field: String,
        /// The rejected value, bounded and escaped.
        value: String,
    },

    /// A timestamp that is not RFC 3339 or CloudWatch's `2026-11-21T12:00:00.000+0000` form.
    #[error("field `{field}` holds {value}, which is not a timestamp CloudWatch sends")]
    InvalidTimestamp {
        /// Path of the field.
        field: String,
        /// The rejected value, bounded and escaped.
        value: String,
    },

    /// A value that should be a CloudWatch alarm ARN
    /// (`arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>`) but is not.
    #[error("field `{field}` is not a CloudWatch alarm ARN: {reason}")]
    InvalidArn {
        /// Path of the field.
        field: String,
        /// Which part of the ARN is wrong.
        reason: &'static str,
    },

    /// Two parts of one event disagree, e.g. the envelope's account or region differs from the
    /// alarm ARN's, or the ARN names a different alarm than `alarmName`.
    #[error("field `{field}` is {found} but the alarm ARN says {expected}")]
    Inconsistent {
        /// Path of the field that disagrees with the ARN.
        field: String,
        /// What the ARN says (bounded and escaped).
        expected: String,
        /// What the field says (bounded and escaped).
        found: String,
    },

    /// An [`AlarmConfig`](crate::eval::AlarmConfig) value that CloudWatch itself would refuse.
    #[error("alarm config field `{field}` is invalid: {reason}")]
    InvalidConfig {
        /// Name of the config field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
}

impl AlarmError {
    /// Whether retrying the same input could succeed. Always `false`: every variant is a
    /// property of the input itself, so a retry would fail identically. Kept as a function
    /// (not a doc sentence) so the controller's single retry policy can ask.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::TooLarge { .. }
            | Self::NotJson { .. }
            | Self::UnknownShape { .. }
            | Self::RecordCount { .. }
            | Self::Malformed { .. }
            | Self::InvalidState { .. }
            | Self::InvalidTimestamp { .. }
            | Self::InvalidArn { .. }
            | Self::Inconsistent { .. }
            | Self::InvalidConfig { .. } => false,
        }
    }

    /// The field path this error is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Malformed { field, .. }
            | Self::InvalidState { field, .. }
            | Self::InvalidTimestamp { field, .. }
            | Self::InvalidArn { field, .. }
            | Self::Inconsistent { field, .. } => Some(field),
            Self::InvalidConfig { field, .. } => Some(field),
            Self::TooLarge { .. }
            | Self::NotJson { .. }
            | Self::UnknownShape { .. }
            | Self::RecordCount { .. } => None,
        }
    }

    pub(crate) fn malformed(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Malformed {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Input text made safe to carry in an error: at most [`MAX_ECHO_CHARS`] characters, quoted,
/// with control characters and quotes escaped so it cannot break a log line.
pub(crate) fn bounded(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_ECHO_CHARS) + 8);
    out.push('"');
    for (taken, ch) in text.chars().enumerate() {
        if taken == MAX_ECHO_CHARS {
            out.push('…');
            break;
        }
        out.extend(ch.escape_debug());
    }
    out.push('"');
    out
}

/// A serde error message with any quoted input removed. serde quotes offending values
/// (`invalid type: string "…", expected u32`); field names it reports are ours.
pub(crate) fn scrub_serde_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(200));
    let mut in_quotes = false;
    let mut escaped = false;
    for ch in message.chars() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_quotes = false;
                out.push_str("\"…\"");
            }
            continue;
        }
        if ch == '"' {
            in_quotes = true;
        } else if !ch.is_control() {
            out.push(ch);
        }
    }
    if in_quotes {
        out.push_str("\"…");
    }
    if out.chars().count() > 200 {
        out = out.chars().take(200).collect();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_is_truncated_and_escaped() {
        let long = format!("line\nbreak\"{}", "x".repeat(500));
        let shown = bounded(&long);
        assert!(shown.starts_with("\"line\\nbreak\\\""));
        assert!(shown.chars().count() < MAX_ECHO_CHARS + 16);
        assert!(!shown.contains('\n'));
    }

    #[test]
    fn serde_messages_lose_quoted_input() {
        let scrubbed =
            scrub_serde_message(r#"invalid type: string "secret \"payload\"", expected u32"#);
        assert_eq!(scrubbed, "invalid type: string \"…\", expected u32");
    }

    #[test]
    fn missing_field_names_survive_scrubbing() {
        assert_eq!(
            scrub_serde_message("missing field `alarmName`"),
            "missing field `alarmName`"
        );
    }
}
