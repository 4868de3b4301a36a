//! The controller's one error type (the pure [`policy`](crate::policy) has its own).
//!
//! Every variant is classified ([`Error::class`]): an input the controller refuses
//! ([`ErrorClass::Rejected`]), a transient failure worth retrying ([`ErrorClass::Retryable`]),
//! or a permanent failure that is not the input's fault ([`ErrorClass::Failed`]). The Lambda
//! entry point reports the class as the function error's `errorType`, and the single retry
//! policy ([`crate::retry`]) asks [`Error::is_retryable`]. No variant ever carries an event
//! body: input-derived text is bounded and escaped with [`bounded`].

use std::fmt;

use alarms::AlarmError;

use crate::operation::Operation;
use crate::policy::PolicyError;

/// Longest input-derived text an error carries, in characters.
const MAX_ECHO_CHARS: usize = 160;

/// `errorType` of an input the controller refuses; sending it again fails the same way.
pub const ERROR_TYPE_REJECTED: &str = "Rejected";
/// `errorType` of a transient failure (throttling, a busy mapping, a 5xx); retrying may work.
pub const ERROR_TYPE_RETRYABLE: &str = "Retryable";
/// `errorType` of a permanent failure that is not the input's fault (permissions, a mapping
/// that does not exist, state tags edited into something unreadable).
pub const ERROR_TYPE_FAILED: &str = "Failed";

/// How an [`Error`] should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The input is refused; the same input fails the same way.
    Rejected,
    /// Transient: the same call may succeed later.
    Retryable,
    /// Permanent, and not the input's fault (configuration, permissions, unreadable state).
    Failed,
}

impl ErrorClass {
    /// The Lambda `errorType` for this class.
    pub const fn error_type(self) -> &'static str {
        match self {
            Self::Rejected => ERROR_TYPE_REJECTED,
            Self::Retryable => ERROR_TYPE_RETRYABLE,
            Self::Failed => ERROR_TYPE_FAILED,
        }
    }
}

/// What went wrong with one AWS call, as far as deciding to retry it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AwsFault {
    /// `TooManyRequestsException`, `ThrottlingException`, `Throttling`,
    /// `RequestLimitExceeded`: the control plane's rate limit.
    Throttled,
    /// `ResourceInUseException`: the mapping is Enabling, Disabling or Updating. The
    /// controller also uses it for a mapping observed in such a transitional state.
    InUse,
    /// A 5xx, a timeout or a connection failure.
    Transient,
    /// `ResourceNotFoundException` (or a 404): the mapping, function or queue does not exist.
    NotFound,
    /// Anything else (access denied, validation, a request that could not be built).
    Other,
}

impl AwsFault {
    /// Whether the same call may succeed later.
    pub const fn is_retryable(self) -> bool {
        match self {
            Self::Throttled | Self::InUse | Self::Transient => true,
            Self::NotFound | Self::Other => false,
        }
    }

    /// Kebab-case name for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::InUse => "in-use",
            Self::Transient => "transient",
            Self::NotFound => "not-found",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for AwsFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an AWS service's error code says about a failed request, or, for a code the table
/// does not know, its HTTP status. The workspace's one table of error codes: the controller
/// reads it as an [`AwsFault`] (to retry or not), the flooder as its send-failure classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceFault {
    /// The service's request rate limit.
    Throttled,
    /// AWS KMS throttled the data key request of an encrypted SQS queue.
    KmsThrottled,
    /// A limit of the resource was reached (SQS `OverLimit`: too many in-flight messages).
    OverLimit,
    /// The resource is busy with another change.
    InUse,
    /// The resource does not exist.
    NotFound,
    /// The service failed.
    Server,
    /// The request was wrong (validation, access denied, a bad entry): retrying cannot help.
    Client,
}

impl ServiceFault {
    /// Classifies an error `code` (the SDK's error code: a JSON `__type` without its
    /// namespace, a query error code, or an SQS batch entry's `Code`), falling back on the
    /// HTTP `status` when there is one.
    pub fn classify(code: Option<&str>, status: Option<u16>) -> Self {
        let code = code.unwrap_or_default();
        match code {
            // Lambda: TooManyRequestsException (Lambda API reference, "Errors" of each
            // action); SQS: RequestThrottled (query) or ThrottlingException (JSON protocol);
            // CloudWatch: Throttling; the others are the SDKs' common throttling codes.
            "TooManyRequestsException"
            | "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "RequestThrottled"
            | "RequestThrottledException" => Self::Throttled,
            // SQS SendMessage/SendMessageBatch: KmsThrottled ("AWS KMS throttles requests"),
            // KMS.ThrottlingException in its query-compatible form.
            "KmsThrottled" | "KMS.ThrottlingException" => Self::KmsThrottled,
            "OverLimit" => Self::OverLimit,
            // Lambda answers ResourceConflictException when another update is in progress,
            // ResourceInUseException while a mapping is Enabling, Disabling or Updating.
            "ResourceInUseException" | "ResourceConflictException" => Self::InUse,
            "ResourceNotFoundException"
            | "AWS.SimpleQueueService.NonExistentQueue"
            | "QueueDoesNotExist"
            | "ResourceNotFound" => Self::NotFound,
            "ServiceException"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "InternalFailure"
            | "InternalError"
            | "InternalServiceError"
            | "InternalServiceFault" => Self::Server,
            // A namespaced variant of a throttling code the table does not list.
            _ if code.to_ascii_lowercase().contains("throttl") => {
                if code.to_ascii_lowercase().contains("kms") {
                    Self::KmsThrottled
                } else {
                    Self::Throttled
                }
            }
            _ => match status {
                Some(429) => Self::Throttled,
                Some(404) => Self::NotFound,
                Some(500..=599) => Self::Server,
                _ => Self::Client,
            },
        }
    }
}

impl From<ServiceFault> for AwsFault {
    fn from(fault: ServiceFault) -> Self {
        match fault {
            ServiceFault::Throttled | ServiceFault::KmsThrottled => Self::Throttled,
            ServiceFault::InUse => Self::InUse,
            ServiceFault::NotFound => Self::NotFound,
            ServiceFault::Server => Self::Transient,
            ServiceFault::OverLimit | ServiceFault::Client => Self::Other,
        }
    }
}

/// One circuit's failure within an invocation that covered several.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitFailure {
    /// The circuit's name.
    pub circuit: String,
    /// What went wrong.
    pub error: Error,
}

/// Everything the controller can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The controller configuration is invalid (an init error).
    #[error("{field}: {reason}")]
    Config {
        /// Path of the offending field, e.g. `circuits[1].alarms[0].kind`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The event is larger than the controller accepts; it was not parsed.
    #[error("event is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The event's size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The event is not JSON.
    #[error("event is not valid JSON: {reason}")]
    NotJson {
        /// Where parsing stopped.
        reason: String,
    },
    /// Valid JSON, but no input the controller knows.
    #[error("event is not an alarm, a schedule or a floodgate request: {hint}")]
    UnknownEvent {
        /// What was seen, in the controller's words.
        hint: &'static str,
    },
    /// A `{"floodgate": …}` request that does not match the protocol.
    #[error("malformed floodgate request: {reason}")]
    MalformedRequest {
        /// The first problem found (bounded).
        reason: String,
    },
    /// An alarm delivery that does not parse.
    #[error("malformed alarm event: {0}")]
    Alarm(#[from] AlarmError),
    /// An alarm no circuit owns.
    #[error("alarm {alarm} belongs to no circuit")]
    UnknownAlarm {
        /// The alarm name (bounded).
        alarm: String,
    },
    /// A command naming a circuit that is not configured.
    #[error("no circuit named {circuit}")]
    UnknownCircuit {
        /// The name asked for (bounded).
        circuit: String,
    },
    /// An event from an account other than the configured one.
    #[error("event is from account {found}, this controller serves {expected}")]
    ForeignAccount {
        /// The event's account (bounded).
        found: String,
        /// The configured account.
        expected: String,
    },
    /// An event from a region other than the configured one.
    #[error("event is from region {found}, this controller serves {expected}")]
    ForeignRegion {
        /// The event's region (bounded).
        found: String,
        /// The configured region.
        expected: String,
    },
    /// An operator command the policy refuses (no actor, an expiry in the past, a TTL that
    /// overflows).
    #[error("command refused: {0}")]
    Command(PolicyError),
    /// The circuit's state tags cannot be read (edited by hand?). Fix or delete the
    /// `floodgate:*` tags, or force the circuit open or closed, which starts it afresh.
    #[error("circuit {circuit}: unreadable state tags: {source}")]
    State {
        /// The circuit's name.
        circuit: String,
        /// Why the tags were refused.
        source: PolicyError,
    },
    /// The policy failed in a way its own checks should rule out.
    #[error("circuit {circuit}: policy failed: {source}")]
    Policy {
        /// The circuit's name.
        circuit: String,
        /// The policy's error.
        source: PolicyError,
    },
    /// The circuit's mapping invokes another function than the configured one: acting on
    /// it would set the wrong function's reserved concurrency.
    #[error(
        "circuit {circuit}: mapping invokes {found}, not the configured function {expected}; nothing was changed"
    )]
    WrongFunction {
        /// The circuit's name.
        circuit: String,
        /// The mapping's `FunctionArn` (bounded).
        found: String,
        /// The configured function.
        expected: String,
    },
    /// An AWS call failed.
    #[error("{operation} failed ({fault}): {message}")]
    Aws {
        /// The AWS operation.
        operation: Operation,
        /// Its classification.
        fault: AwsFault,
        /// The service's error code, when it gave one.
        code: Option<String>,
        /// What happened (bounded).
        message: String,
    },
    /// Several circuits of one invocation failed.
    #[error("{}", summarize(.0))]
    Circuits(Vec<CircuitFailure>),
}

fn summarize(failures: &[CircuitFailure]) -> String {
    let parts: Vec<String> = failures
        .iter()
        .map(|f| format!("{}: {}", f.circuit, f.error))
        .collect();
    format!("{} circuit(s) failed: {}", failures.len(), parts.join("; "))
}

impl Error {
    /// How the error should be handled.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::TooLarge { .. }
            | Self::NotJson { .. }
            | Self::UnknownEvent { .. }
            | Self::MalformedRequest { .. }
            | Self::Alarm(_)
            | Self::UnknownAlarm { .. }
            | Self::UnknownCircuit { .. }
            | Self::ForeignAccount { .. }
            | Self::ForeignRegion { .. }
            | Self::Command(_) => ErrorClass::Rejected,
            Self::Aws { fault, .. } if fault.is_retryable() => ErrorClass::Retryable,
            Self::Config { .. }
            | Self::State { .. }
            | Self::Policy { .. }
            | Self::WrongFunction { .. }
            | Self::Aws { .. } => ErrorClass::Failed,
            // Retrying the invocation re-runs every circuit; worth it if any might recover.
            Self::Circuits(failures) => {
                if failures.iter().any(|f| f.error.is_retryable()) {
                    ErrorClass::Retryable
                } else if failures
                    .iter()
                    .all(|f| f.error.class() == ErrorClass::Rejected)
                {
                    ErrorClass::Rejected
                } else {
                    ErrorClass::Failed
                }
            }
        }
    }

    /// Whether trying again could succeed.
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// A short kebab-case name of the variant, for logs and the start of `errorMessage`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Config { .. } => "config",
            Self::TooLarge { .. } => "too-large",
            Self::NotJson { .. } => "not-json",
            Self::UnknownEvent { .. } => "unknown-event",
            Self::MalformedRequest { .. } => "malformed-request",
            Self::Alarm(_) => "malformed-alarm",
            Self::UnknownAlarm { .. } => "unknown-alarm",
            Self::UnknownCircuit { .. } => "unknown-circuit",
            Self::ForeignAccount { .. } => "foreign-account",
            Self::ForeignRegion { .. } => "foreign-region",
            Self::Command(_) => "command-refused",
            Self::State { .. } => "unreadable-state",
            Self::Policy { .. } => "policy",
            Self::WrongFunction { .. } => "wrong-function",
            Self::Aws { .. } => "aws",
            Self::Circuits(_) => "circuits",
        }
    }

    /// An [`Error::Config`].
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Aws`] with `message` bounded.
    pub fn aws(operation: Operation, fault: AwsFault, code: Option<String>, message: &str) -> Self {
        Self::Aws {
            operation,
            fault,
            code,
            message: bounded(message),
        }
    }

    /// The AWS fault, if this is an AWS error.
    pub fn aws_fault(&self) -> Option<AwsFault> {
        match self {
            Self::Aws { fault, .. } => Some(*fault),
            _ => None,
        }
    }
}

/// Input text made safe to carry in an error and a log line: at most a few dozen characters,
/// with control characters and quotes escaped so it cannot forge a log line.
pub fn bounded(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_ECHO_CHARS) + 8);
    for (taken, ch) in text.chars().enumerate() {
        if taken == MAX_ECHO_CHARS {
            out.push('…');
            break;
        }
        out.extend(ch.escape_debug());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_code_table_serves_the_controller_and_the_flooder() {
        let c = |code: &str, status| ServiceFault::classify(Some(code), status);
        assert_eq!(
            c("TooManyRequestsException", Some(429)),
            ServiceFault::Throttled
        );
        assert_eq!(c("RequestThrottled", None), ServiceFault::Throttled);
        assert_eq!(
            c("AWS.SimpleQueueService.Throttled", None),
            ServiceFault::Throttled
        );
        assert_eq!(c("KmsThrottled", None), ServiceFault::KmsThrottled);
        assert_eq!(c("OverLimit", Some(403)), ServiceFault::OverLimit);
        assert_eq!(
            c("ResourceConflictException", Some(409)),
            ServiceFault::InUse
        );
        assert_eq!(c("QueueDoesNotExist", Some(400)), ServiceFault::NotFound);
        assert_eq!(c("InternalError", None), ServiceFault::Server);
        assert_eq!(c("Mystery", Some(502)), ServiceFault::Server);
        assert_eq!(c("AccessDeniedException", Some(403)), ServiceFault::Client);
        assert_eq!(
            ServiceFault::classify(None, Some(429)),
            ServiceFault::Throttled
        );
        assert_eq!(ServiceFault::classify(None, None), ServiceFault::Client);
        // The controller retries throttling of either kind, never an over-limit or a bad request.
        assert_eq!(
            AwsFault::from(ServiceFault::KmsThrottled),
            AwsFault::Throttled
        );
        assert!(!AwsFault::from(ServiceFault::OverLimit).is_retryable());
        assert!(AwsFault::from(ServiceFault::Server).is_retryable());
    }

    #[test]
    fn bounded_text_cannot_break_a_log_line() {
        let shown = bounded(&format!("a\nb\"{}", "x".repeat(1000)));
        assert!(shown.starts_with("a\\nb\\\""));
        assert!(!shown.contains('\n'));
        assert!(shown.chars().count() <= MAX_ECHO_CHARS + 4);
    }

    #[test]
    fn throttling_is_retryable_but_access_denied_is_not() {
        let throttled = Error::aws(Operation::ListTags, AwsFault::Throttled, None, "slow down");
        let denied = Error::aws(Operation::ListTags, AwsFault::Other, None, "denied");
        assert_eq!(throttled.class(), ErrorClass::Retryable);
        assert_eq!(denied.class(), ErrorClass::Failed);
    }

    #[test]
    fn a_tick_is_retryable_when_any_circuit_may_recover() {
        let failures = vec![
            CircuitFailure {
                circuit: "a".into(),
                error: Error::aws(
                    Operation::GetEventSourceMapping,
                    AwsFault::NotFound,
                    None,
                    "gone",
                ),
            },
            CircuitFailure {
                circuit: "b".into(),
                error: Error::aws(
                    Operation::GetEventSourceMapping,
                    AwsFault::Transient,
                    None,
                    "503",
                ),
            },
        ];
        let error = Error::Circuits(failures);
        assert!(error.is_retryable());
        assert!(error.to_string().starts_with("2 circuit(s) failed: a: "));
    }
}
