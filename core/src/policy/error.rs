//! The one error type of the policy.

use chrono::{DateTime, Utc};

use super::names::{Edge, PhaseName};

/// Everything the policy can reject.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// A configuration value is out of range or contradicts another one.
    #[error("{field} {reason}")]
    InvalidConfig {
        /// Path of the offending field, e.g. `circuits[0].levels.safe`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The state machine has no such edge from this state.
    #[error("illegal transition: {edge:?} from {from}")]
    IllegalTransition {
        /// The state the edge was asked of.
        from: PhaseName,
        /// The edge that does not exist from it.
        edge: Edge,
    },
    /// An operator command did not say who sent it.
    #[error("operator command has no actor")]
    MissingActor,
    /// An override whose expiry is already past would be released the moment it is set.
    #[error("override expiry {until} is not after now ({now})")]
    OverrideAlreadyExpired {
        /// The requested expiry.
        until: DateTime<Utc>,
        /// The decision time.
        now: DateTime<Utc>,
    },
    /// A persisted tag the state needs is absent.
    #[error("tag {key} is missing")]
    MissingTag {
        /// The tag key.
        key: &'static str,
    },
    /// A persisted tag has a value the policy does not understand.
    #[error("tag {key} has an invalid value {value:?}: {reason}")]
    InvalidTag {
        /// The tag key.
        key: &'static str,
        /// The value found.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
}

impl PolicyError {
    /// Whether trying the same call again could succeed.
    ///
    /// Never: the policy is a pure function of its inputs, so a retry with the same inputs
    /// gives the same answer. Each arm is spelled out so a new variant has to decide.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::InvalidConfig { .. }
            | Self::IllegalTransition { .. }
            | Self::MissingActor
            | Self::OverrideAlreadyExpired { .. }
            | Self::MissingTag { .. }
            | Self::InvalidTag { .. } => false,
        }
    }

    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
