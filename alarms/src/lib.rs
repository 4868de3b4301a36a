//! CloudWatch alarms for Floodgate.
//!
//! Two jobs, both pure (no clock, no I/O):
//!
//! - **Parsing** ([`parse_event`], [`parse_value`], [`looks_like_alarm`]): every way a
//!   CloudWatch alarm reaches a Lambda function — the direct alarm action, an SNS
//!   notification, an EventBridge "CloudWatch Alarm State Change" — becomes one validated
//!   [`AlarmSignal`]. Parsing is strict where a wrong answer would be dangerous (required
//!   fields, state values, timestamps, ARN format, ARN vs. name/account/region, size) and
//!   lenient where real senders differ (AWS sends dimensions as a map, LocalStack as a list;
//!   metric-math entries have no `metricStat`; periods reach a day). Errors
//!   ([`AlarmError`]) name the field and never carry the body.
//! - **Evaluation** ([`eval`]): CloudWatch's metric-alarm state machine — M out of N,
//!   comparison operators, missing-data treatments, per-period statistics — for the
//!   simulator.
//!
//! ```
//! let event = br#"{
//!   "source": "aws.cloudwatch",
//!   "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-depth",
//!   "accountId": "123456789012",
//!   "time": "2026-11-21T12:00:00.000+0000",
//!   "region": "us-east-1",
//!   "alarmData": {
//!     "alarmName": "orders-depth",
//!     "state": {"value": "ALARM", "reason": "r", "timestamp": "2026-11-21T12:00:00.000+0000"},
//!     "configuration": {"alarmRule": "ALARM(orders-errors)"}
//!   }
//! }"#;
//! let signal = alarms::parse_event(event)?;
//! assert_eq!(signal.state, alarms::AlarmState::Alarm);
//! assert_eq!(signal.alarm_type, alarms::AlarmType::Composite);
//! # Ok::<(), alarms::AlarmError>(())
//! ```

#![forbid(unsafe_code)]

mod arn;
mod error;
pub mod eval;
mod region;
mod shapes;
mod signal;

pub use arn::{AlarmArn, is_account_id, is_region_code};
pub use error::AlarmError;
pub use shapes::{MAX_EVENT_BYTES, looks_like_alarm, parse_event, parse_value};
pub use signal::{AlarmSignal, AlarmState, AlarmType, Delivery, MetricIdentity};
