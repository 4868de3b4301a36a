//! The names, URLs and ARNs of a simulated circuit's resources, all derived from the
//! circuit's name and index, in one made-up account and region.

/// The simulated account.
pub const ACCOUNT: &str = "123456789012";
/// The simulated region.
pub const REGION: &str = "us-east-1";

/// The resource names of one circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The circuit's name.
    pub circuit: String,
    /// The consumer function.
    pub function: String,
    /// The source queue.
    pub source: String,
    /// The source's dead-letter queue.
    pub dlq: String,
    /// The overflow queue.
    pub overflow: String,
    /// The mapping's UUID.
    pub uuid: String,
}

impl Names {
    /// The names of circuit number `index`, called `circuit`.
    pub fn new(circuit: &str, index: usize) -> Self {
        Self {
            circuit: circuit.to_owned(),
            function: format!("{circuit}-consumer"),
            source: format!("{circuit}-source"),
            dlq: format!("{circuit}-dlq"),
            overflow: format!("{circuit}-overflow"),
            uuid: format!("00000000-0000-4000-8000-{index:012}"),
        }
    }

    /// The URL of queue `name`.
    pub fn queue_url(name: &str) -> String {
        format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}")
    }

    /// The ARN of queue `name`.
    pub fn queue_arn(name: &str) -> String {
        format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
    }

    /// The consumer function's ARN.
    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}",
            self.function
        )
    }

    /// The mapping's ARN.
    pub fn mapping_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{}",
            self.uuid
        )
    }

    /// The ARN of alarm `name`.
    pub fn alarm_arn(name: &str) -> String {
        format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_derives_from_the_circuit() {
        let n = Names::new("orders", 7);
        assert_eq!(n.function, "orders-consumer");
        assert_eq!(n.uuid, "00000000-0000-4000-8000-000000000007");
        assert_eq!(
            Names::queue_url(&n.source),
            "https://sqs.us-east-1.amazonaws.com/123456789012/orders-source"
        );
        assert!(
            n.mapping_arn()
                .ends_with(":event-source-mapping:00000000-0000-4000-8000-000000000007")
        );
    }
}
