//! The crate's one error type, classified: what is the caller's mistake (invalid input), what
//! is the infrastructure's (an AWS call, a file), and what may succeed when retried.

use std::path::PathBuf;

/// Everything the load tester can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value, flag, profile or drill spec field is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, flag or key, as the user wrote it.
        field: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing").
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A TOML document (drill spec) did not parse.
    #[error("{path}: {source}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        source: toml::de::Error,
    },
    /// A JSON document (report, ledger record) did not parse or could not be written.
    #[error("{what}: {source}")]
    Json {
        /// What was being read or written.
        what: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// An AWS API call failed.
    #[error("{call} failed: {cause}")]
    Aws {
        /// The API operation, e.g. `GetEventSourceMapping`.
        call: &'static str,
        /// Whether trying again may succeed (throttling, 5xx, timeouts).
        retryable: bool,
        /// The SDK's error, with its sources.
        cause: String,
    },
    /// A condition did not hold in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: std::time::Duration,
    },
}

impl Error {
    /// An [`Error::Invalid`] for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Whether the same call may succeed when tried again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Aws { retryable, .. } => *retryable,
            Self::Timeout { .. } => true,
            Self::Invalid { .. } | Self::Io { .. } | Self::Toml { .. } | Self::Json { .. } => false,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
