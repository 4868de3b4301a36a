//! How a signal leaves the process: the [`SignalSender`] port, implemented by
//! [`crate::LambdaSender`] (feature `lambda`) and by fakes in tests.

use std::future::Future;
use std::time::Duration;

use crate::Signal;

/// Why a signal was not sent. Logged with its [`SendError::kind`] and counted; never
/// returned to the consumer's batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No answer within the fuse's `invoke_timeout` (the signal may still arrive).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The controller's Invoke was throttled.
    #[error("throttled ({code})")]
    Throttled {
        /// The service's error code.
        code: String,
    },
    /// Lambda refused the Invoke: access denied, no such function, bad request…
    #[error("refused ({code}): {message}")]
    Refused {
        /// The service's error code.
        code: String,
        /// The service's message.
        message: String,
    },
    /// Lambda could not be reached (DNS, connection, TLS, the SDK's own timeout).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// Anything else (an unexpected answer, a request that could not be built).
    #[error("{0}")]
    Other(String),
}

impl SendError {
    /// A short, stable name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Throttled { .. } => "throttled",
            Self::Refused { .. } => "refused",
            Self::Unreachable(_) => "unreachable",
            Self::Other(_) => "other",
        }
    }
}

/// Sends one signal to the controller. The fuse bounds every call with its `invoke_timeout`,
/// so an implementation need not (a call that never returns is cut short).
pub trait SignalSender: Send + Sync {
    /// Delivers `signal`, or says why not.
    fn send(&self, signal: &Signal) -> impl Future<Output = Result<(), SendError>> + Send;
}

impl<S: SignalSender> SignalSender for std::sync::Arc<S> {
    fn send(&self, signal: &Signal) -> impl Future<Output = Result<(), SendError>> + Send {
        (**self).send(signal)
    }
}
