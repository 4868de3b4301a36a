//! The signal's wire format: the JSON payload of the asynchronous Invoke of the controller.
//!
//! ```json
//! {"floodgate": "signal", "version": 1, "circuit": "orders", "kind": "record-failures",
//!  "window": {"seconds": 10, "records": 40, "failed": 31},
//!  "threshold": {"min_records": 20, "max_failure_ratio": 0.5},
//!  "sender": {"function": "orders-consumer", "request_id": "8f5e…"},
//!  "sent_at": "2026-11-21T12:00:00.123Z"}
//! ```

use serde::{Deserialize, Serialize};

/// The wire format's version; a change that an older controller would misread bumps it.
pub const SIGNAL_VERSION: u32 = 1;

/// The `floodgate` tag every request to the controller carries; for a signal, `"signal"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tag {
    /// `"signal"`.
    Signal,
}

/// What the sender observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalKind {
    /// `"record-failures"`: the share of failed records in the window crossed the threshold.
    RecordFailures,
}

/// The window's counts when the signal was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalWindow {
    /// The window's length in seconds.
    pub seconds: u64,
    /// Records handled in the window by this execution environment.
    pub records: u64,
    /// Of those, records that failed.
    pub failed: u64,
}

/// The threshold the window crossed (the sender's configuration, for the controller's log).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SignalThreshold {
    /// Records the window had to hold.
    pub min_records: u64,
    /// The ratio failed / records had to exceed.
    pub max_failure_ratio: f64,
}

/// Who sent the signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalOrigin {
    /// The consumer function (`AWS_LAMBDA_FUNCTION_NAME`); `null` outside Lambda.
    pub function: Option<String>,
    /// The Lambda request id of the batch that tripped the fuse; `null` when not given.
    pub request_id: Option<String>,
}

/// One signal to the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Always `"signal"`.
    pub floodgate: Tag,
    /// [`SIGNAL_VERSION`].
    pub version: u32,
    /// The circuit the consumer belongs to.
    pub circuit: String,
    /// What was observed.
    pub kind: SignalKind,
    /// The window's counts.
    pub window: SignalWindow,
    /// The threshold crossed.
    pub threshold: SignalThreshold,
    /// The sender.
    pub sender: SignalOrigin,
    /// When the signal was sent: RFC 3339, UTC, milliseconds.
    pub sent_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_wire_format_is_as_documented() {
        let signal = Signal {
            floodgate: Tag::Signal,
            version: SIGNAL_VERSION,
            circuit: "orders".into(),
            kind: SignalKind::RecordFailures,
            window: SignalWindow {
                seconds: 10,
                records: 40,
                failed: 31,
            },
            threshold: SignalThreshold {
                min_records: 20,
                max_failure_ratio: 0.5,
            },
            sender: SignalOrigin {
                function: Some("orders-consumer".into()),
                request_id: None,
            },
            sent_at: "2026-11-21T12:00:00.123Z".into(),
        };
        let value = serde_json::to_value(&signal).unwrap();
        assert_eq!(
            value,
            json!({
                "floodgate": "signal", "version": 1, "circuit": "orders", "kind": "record-failures",
                "window": {"seconds": 10, "records": 40, "failed": 31},
                "threshold": {"min_records": 20, "max_failure_ratio": 0.5},
                "sender": {"function": "orders-consumer", "request_id": null},
                "sent_at": "2026-11-21T12:00:00.123Z"
            })
        );
        let back: Signal = serde_json::from_value(value).unwrap();
        assert_eq!(back, signal);
    }
}
