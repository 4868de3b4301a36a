//! The model's parameters, each named and sourced, in two profiles: `aws` (documented AWS
//! behaviour, the default) and `localstack` (what LocalStack measurably does, so the model can
//! be checked against real local drills).
//!
//! | Parameter | `aws` | `localstack` | Source |
//! |---|---|---|---|
//! | `initial_batches` | 5 | 1 | AWS Lambda Developer Guide, "Configuring scaling behavior for SQS event source mappings": "Lambda starts processing five batches at a time with five concurrent invocations"; LocalStack: measured, one poller per mapping |
//! | `scale_up_per_minute` | 300 | 0 | same page: "increases the number of processes that are reading batches by up to 300 more instances per minute"; LocalStack: measured, never more than one |
//! | `max_batches` | 1000 | 1 | same page: "The maximum number of batches that an event source mapping can process simultaneously is 1,000" (older versions of the page said 1,250) |
//! | `idle_batches` | 5 | 1 | same page: "When traffic is low, Lambda scales back the processing to five concurrent batches" |
//! | `receive_interval` | 0 s | 1 s | AWS: long polling returns as soon as messages are available (SQS Developer Guide, "Amazon SQS short and long polling"); LocalStack: measured, its poller takes one batch per second |
//! | `retention` | 4 days | 4 days | SQS API reference, `SetQueueAttributes` `MessageRetentionPeriod`: default 345,600 s |
//! | `max_concurrency_bounds` | 2 to 1000 | 2 to 1000 | Lambda API reference, `ScalingConfig.MaximumConcurrency`: minimum 2, maximum 1000 |
//! | `mapping_update_delay` | 10 s | 2 s | How long an `UpdateEventSourceMapping` takes to take effect (`Enabling`, `Disabling`, `Updating` meanwhile). Not documented by AWS: this model's assumption; LocalStack: measured on the local drill |
//! | `service_metric_delay` | 60 s | 0 s | How long after its period ends an `AWS/Lambda` or `AWS/SQS` datapoint reaches alarms. AWS documents the 1-minute interval ("Lambda sends metric data to CloudWatch in 1-minute intervals", Lambda Developer Guide, "Using CloudWatch metrics with Lambda") but not the delay; 60 s is this model's assumption. LocalStack: measured, none |
//! | `provisioned.invokes_per_poller` | 10 | not modelled | Provisioned mode (`ProvisionedPollerConfig`): Lambda Developer Guide, "Configuring scaling behavior for SQS event source mappings", provisioned mode: "each event poller can handle up to 1 MB/s of throughput, up to 10 concurrent invokes, or up to 10 SQS polling API calls per second" (the core's `INVOKES_PER_POLLER`); the mapping's concurrent batches are its pollers × 10. LocalStack: not measured, so a provisioned scenario is refused under that profile |
//! | `provisioned.scale_up_per_minute` | 1000 | not modelled | concurrent invokes added per minute while messages wait: AWS News Blog, "AWS Lambda enhances event processing with provisioned mode for SQS event-source mapping": "event pollers can auto scale up to 1000 per concurrent executions per minute"; the Developer Guide page above: "3 times faster scaling" than standard mode's 300 |
//! | `provisioned.minimum_pollers` | 2 to 200 | not modelled | Lambda API reference, `ProvisionedPollerConfig.MinimumPollers`: "For Amazon SQS events source mappings, default is 2, and minimum 2 required", valid range up to 200. The mapping never has fewer pollers ("the minimum number of event pollers this event source can scale down to"): with no message waiting it keeps `MinimumPollers` × 10 batches ready, and starts from there |
//! | `provisioned.maximum_pollers` | 2 to 2000 | not modelled | Lambda API reference, `ProvisionedPollerConfig.MaximumPollers`: "For Amazon SQS events source mappings, default is 200, and minimum value allowed is 2", valid range up to 2,000 (a newer version of the page gives 2 to 10,000 for SQS; 2,000 × 10 matches the News Blog's "up to 20,000 concurrency"). "The maximum number of event pollers this event source can scale up to": the mapping's batches never exceed `MaximumPollers` × 10, and standard mode's 1,000-batch limit does not apply. `ScalingConfig.MaximumConcurrency` is refused with it ("These are mutually exclusive options", the Developer Guide page above) |
//! | `custom_metric_delay` | 5 s | 0 s | The same for high-resolution custom metrics put by a function: "a few seconds" (not documented as a figure); LocalStack: measured, none |

use std::time::Duration;

/// Which set of parameters a simulation runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `aws` or `localstack`.
    pub name: &'static str,
    /// Concurrent batches a mapping starts with when messages are available.
    pub initial_batches: u32,
    /// Batches added per minute while messages remain available.
    pub scale_up_per_minute: u32,
    /// Most batches one mapping processes at once, whatever its `MaximumConcurrency`.
    pub max_batches: u32,
    /// Batches a mapping scales back to when its queue is empty.
    pub idle_batches: u32,
    /// Least time between two receives of one poller.
    pub receive_interval: Duration,
    /// How long a message may stay in a queue before SQS deletes it.
    pub retention: Duration,
    /// The range `MaximumConcurrency` must lie in.
    pub max_concurrency_bounds: (u32, u32),
    /// How long an update of a mapping takes to take effect.
    pub mapping_update_delay: Duration,
    /// How long after its period ends an AWS service metric's datapoint reaches alarms.
    pub service_metric_delay: Duration,
    /// How long after its period ends a custom metric's datapoint reaches alarms.
    pub custom_metric_delay: Duration,
    /// Provisioned mode (`ProvisionedPollerConfig`), where modelled.
    pub provisioned: Option<ProvisionedParams>,
}

/// How a mapping in provisioned mode scales (sources in the table above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvisionedParams {
    /// Concurrent invokes (batches) one event poller drives.
    pub invokes_per_poller: u32,
    /// Concurrent invokes added per minute while messages wait.
    pub scale_up_per_minute: u32,
    /// The range `MinimumPollers` must lie in.
    pub minimum_pollers: (u32, u32),
    /// The range `MaximumPollers` must lie in.
    pub maximum_pollers: (u32, u32),
}

impl Profile {
    /// Documented AWS behaviour.
    pub fn aws() -> Self {
        Self {
            name: "aws",
            initial_batches: 5,
            scale_up_per_minute: 300,
            max_batches: 1000,
            idle_batches: 5,
            receive_interval: Duration::ZERO,
            retention: Duration::from_hours(96), // 345,600 s
            max_concurrency_bounds: (2, 1000),
            mapping_update_delay: Duration::from_secs(10),
            service_metric_delay: Duration::from_mins(1),
            custom_metric_delay: Duration::from_secs(5),
            provisioned: Some(ProvisionedParams {
                invokes_per_poller: floodgate_core::ports::INVOKES_PER_POLLER,
                scale_up_per_minute: 1000,
                minimum_pollers: (2, 200),
                maximum_pollers: (2, 2000),
            }),
        }
    }

    /// What LocalStack measurably does: one poller taking one batch per second.
    pub fn localstack() -> Self {
        Self {
            name: "localstack",
            initial_batches: 1,
            scale_up_per_minute: 0,
            max_batches: 1,
            idle_batches: 1,
            receive_interval: Duration::from_secs(1),
            mapping_update_delay: Duration::from_secs(2),
            service_metric_delay: Duration::ZERO,
            custom_metric_delay: Duration::ZERO,
            provisioned: None,
            ..Self::aws()
        }
    }

    /// The profile named `name`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "aws" => Some(Self::aws()),
            "localstack" => Some(Self::localstack()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_found_by_name() {
        assert_eq!(Profile::named("aws"), Some(Profile::aws()));
        assert_eq!(Profile::named("localstack").map(|p| p.max_batches), Some(1));
        assert_eq!(Profile::named("gcp"), None);
    }
}
