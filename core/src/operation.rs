//! The AWS operations behind the ports, as one enum: errors, logs and fault injection name an
//! operation by value, so a misspelt one does not compile.

use std::fmt;

/// One AWS API operation the controller calls (each port method is one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Lambda `GetEventSourceMapping`.
    GetEventSourceMapping,
    /// Lambda `UpdateEventSourceMapping`.
    UpdateEventSourceMapping,
    /// Lambda `ListTags`.
    ListTags,
    /// Lambda `TagResource`.
    TagResource,
    /// Lambda `GetFunctionConcurrency`.
    GetFunctionConcurrency,
    /// Lambda `PutFunctionConcurrency`.
    PutFunctionConcurrency,
    /// Lambda `Invoke` (the operator CLI's call to the controller).
    Invoke,
    /// `CloudWatch` `DescribeAlarms`.
    DescribeAlarms,
    /// `CloudWatch` `GetMetricData`.
    GetMetricData,
    /// SQS `GetQueueAttributes`.
    GetQueueAttributes,
    /// SQS `GetQueueUrl`.
    GetQueueUrl,
    /// SQS `ReceiveMessage`.
    ReceiveMessage,
    /// SQS `SendMessageBatch`.
    SendMessageBatch,
    /// SQS `DeleteMessageBatch`.
    DeleteMessageBatch,
    /// SQS `ChangeMessageVisibilityBatch`.
    ChangeMessageVisibilityBatch,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Self; 15] = [
        Self::GetEventSourceMapping,
        Self::UpdateEventSourceMapping,
        Self::ListTags,
        Self::TagResource,
        Self::GetFunctionConcurrency,
        Self::PutFunctionConcurrency,
        Self::Invoke,
        Self::DescribeAlarms,
        Self::GetMetricData,
        Self::GetQueueAttributes,
        Self::GetQueueUrl,
        Self::ReceiveMessage,
        Self::SendMessageBatch,
        Self::DeleteMessageBatch,
        Self::ChangeMessageVisibilityBatch,
    ];

    /// The API's own name of the operation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::GetEventSourceMapping => "GetEventSourceMapping",
            Self::UpdateEventSourceMapping => "UpdateEventSourceMapping",
            Self::ListTags => "ListTags",
            Self::TagResource => "TagResource",
            Self::GetFunctionConcurrency => "GetFunctionConcurrency",
            Self::PutFunctionConcurrency => "PutFunctionConcurrency",
            Self::Invoke => "Invoke",
            Self::DescribeAlarms => "DescribeAlarms",
            Self::GetMetricData => "GetMetricData",
            Self::GetQueueAttributes => "GetQueueAttributes",
            Self::GetQueueUrl => "GetQueueUrl",
            Self::ReceiveMessage => "ReceiveMessage",
            Self::SendMessageBatch => "SendMessageBatch",
            Self::DeleteMessageBatch => "DeleteMessageBatch",
            Self::ChangeMessageVisibilityBatch => "ChangeMessageVisibilityBatch",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_its_own_name() {
        let names: std::collections::BTreeSet<&str> =
            Operation::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(names.len(), Operation::ALL.len());
    }
}
