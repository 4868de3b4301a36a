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
//! | `receive_interval` | 0 s | 1 s | How long a poller rests after a poll that got messages (and after their invocation). AWS: long polling returns as soon as messages are available (SQS Developer Guide, "Amazon SQS short and long polling"); LocalStack: `LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC`, default 1 (LocalStack 2026.3.0, `services/lambda_/event_source_mapping/esm_worker.py`: `poll_events()`, which receives and invokes, then a wait of this interval) |
//! | `empty_poll_backoff` | none | 1 s × 1.5 per empty poll, at most 10 s, ±50 % | How long a poller rests after a receive that got nothing. AWS: none, long polling; LocalStack: the same `esm_worker.py`: `ExponentialBackoff(initial_interval=1, max_interval=LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC)` (default 10) with `localstack/utils/backoff.py`'s defaults, multiplier 1.5 and randomization 0.5, reset by a poll that got messages |
//! | `retention` | 4 days | 4 days | SQS API reference, `SetQueueAttributes` `MessageRetentionPeriod`: default 345,600 s |
//! | `max_concurrency_bounds` | 2 to 1000 | 2 to 1000 | Lambda API reference, `ScalingConfig.MaximumConcurrency`: minimum 2, maximum 1000 |
//! | `mapping_update_delay` | 10 s | 1 s | How long an `UpdateEventSourceMapping` takes to take effect (`Enabling`, `Disabling`, `Updating` meanwhile). Not documented by AWS: this model's assumption. LocalStack: its poller shows `Disabled` when the poll under way ends (`esm_worker.py`: `stop()` sets the shutdown event, the loop ends after `poll_events()` returns), and a poll is a receive of at most the 1 s batching window plus the invoke; measured on the short local drill (`loadtest/drills/local-drill-short.toml`, 1 s samples): `Disabled` in the first sample after the controller's call, within 1.05 s (three runs, see BENCHMARKS.md "Simulator calibration") |
//! | `sqs_age_metric` | published | not published | Whether SQS publishes `ApproximateAgeOfOldestMessage` (the `age` alarm's metric), once a minute with the other `AWS/SQS` metrics. AWS: SQS Developer Guide, "Available CloudWatch metrics for Amazon SQS": "the approximate age of the oldest non-deleted message in the queue" (so messages in flight count too), "reported if the queue contains at least one active message" (no datapoint for an empty queue), and its note: a message received three times or more is left out "until the poison-pill message is consumed successfully" (`crate::sim::queue`, `AGE_RECEIVE_LIMIT`). LocalStack: not published (LocalStack 2026.3, `services/sqs/provider.py`, `CloudwatchPublishWorker.publish_approximate_cloudwatch_metrics`: "TODO ApproximateAgeOfOldestMessage is missing"; it publishes only the visible, not-visible and delayed counts), so under that profile the `age` alarm stays, as on LocalStack, without data: `OK` from its first evaluation (`notBreaching`), never `ALARM` |
//! | `service_metric_delay` | 60 s | 0 s | How long after its period ends an `AWS/Lambda` or `AWS/SQS` datapoint reaches alarms. AWS documents the 1-minute interval ("Lambda sends metric data to CloudWatch in 1-minute intervals", Lambda Developer Guide, "Using CloudWatch metrics with Lambda") but not the delay; 60 s is this model's assumption. LocalStack: measured, none |
//! | `provisioned.invokes_per_poller` | 10 | not modelled | Provisioned mode (`ProvisionedPollerConfig`): Lambda Developer Guide, "Configuring scaling behavior for SQS event source mappings", provisioned mode: "each event poller can handle up to 1 MB/s of throughput, up to 10 concurrent invokes, or up to 10 SQS polling API calls per second" (the core's `INVOKES_PER_POLLER`); the mapping's concurrent batches are its pollers × 10. LocalStack: not measured, so a provisioned scenario is refused under that profile |
//! | `provisioned.scale_up_per_minute` | 1000 | not modelled | concurrent invokes added per minute while messages wait: AWS News Blog, "AWS Lambda enhances event processing with provisioned mode for SQS event-source mapping": "event pollers can auto scale up to 1000 per concurrent executions per minute"; the Developer Guide page above: "3 times faster scaling" than standard mode's 300 |
//! | `provisioned.minimum_pollers` | 2 to 200 | not modelled | Lambda API reference, `ProvisionedPollerConfig.MinimumPollers`: "For Amazon SQS events source mappings, default is 2, and minimum 2 required", valid range up to 200. The mapping never has fewer pollers ("the minimum number of event pollers this event source can scale down to"): with no message waiting it keeps `MinimumPollers` × 10 batches ready, and starts from there |
//! | `provisioned.maximum_pollers` | 2 to 2000 | not modelled | Lambda API reference, `ProvisionedPollerConfig.MaximumPollers`: "For Amazon SQS events source mappings, default is 200, and minimum value allowed is 2", valid range up to 2,000 (a newer version of the page gives 2 to 10,000 for SQS; 2,000 × 10 matches the News Blog's "up to 20,000 concurrency"). "The maximum number of event pollers this event source can scale up to": the mapping's batches never exceed `MaximumPollers` × 10, and standard mode's 1,000-batch limit does not apply. `ScalingConfig.MaximumConcurrency` is refused with it ("These are mutually exclusive options", the Developer Guide page above) |
//! | `custom_metric_delay` | 5 s | 0 s | The same for high-resolution custom metrics put by a function: "a few seconds" (not documented as a figure); LocalStack: measured, none |
//! | `metric_resolution` | 10 s | 1 s | The finest slice samples are kept in. AWS: the shortest period a high-resolution alarm can have (CloudWatch User Guide, "High-resolution alarms"); LocalStack: its metric store keeps timestamps in whole seconds (`services/cloudwatch/cloudwatch_database_helper.py`, `_convert_timestamp_to_unix`: `int(timestamp.timestamp())`) |
//! | `alarm_evaluation` | `Aws` | `LocalStack` | How alarms are evaluated (`crate::sim::cloudwatch`): AWS's documented schedule over aligned periods; LocalStack: `services/cloudwatch/alarm_scheduler.py`, every `EvaluationPeriods × Period` from the alarm's creation over sliding windows |
//! | `alarm_action_delay` | 500 ms | 0 s | How long an alarm action takes to reach its Lambda function. AWS invokes it asynchronously (CloudWatch User Guide, "Lambda alarm actions"), how long that takes is not documented: this model's assumption. LocalStack: `services/cloudwatch/provider_v2.py`, `set_alarm_state` invokes the function synchronously (`Invoke` with the default `RequestResponse`) within the evaluation |

use std::time::Duration;

use crate::sim::cloudwatch::AlarmEvaluation;

/// Which set of parameters a simulation runs with.
#[derive(Debug, Clone, PartialEq)]
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
    /// Whether SQS publishes `ApproximateAgeOfOldestMessage`.
    pub sqs_age_metric: bool,
    /// How long after its period ends an AWS service metric's datapoint reaches alarms.
    pub service_metric_delay: Duration,
    /// How long after its period ends a custom metric's datapoint reaches alarms.
    pub custom_metric_delay: Duration,
    /// How long a poller rests after a receive that got nothing.
    pub empty_poll_backoff: Option<Backoff>,
    /// The finest slice metric samples are kept in.
    pub metric_resolution: Duration,
    /// How alarms are evaluated.
    pub alarm_evaluation: AlarmEvaluation,
    /// How long an alarm action takes to reach its function.
    pub alarm_action_delay: Duration,
    /// Provisioned mode (`ProvisionedPollerConfig`), where modelled.
    pub provisioned: Option<ProvisionedParams>,
}

/// An exponential backoff with randomization: the `n`-th wait in a row is about
/// `initial × multiplier^(n-1)`, at most `max`, drawn uniformly within ± `randomization` of
/// that.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// Growth per wait.
    pub multiplier: f64,
    /// The largest wait before randomization.
    pub max: Duration,
    /// Share of the wait drawn at random either way (0 to 1).
    pub randomization: f64,
}

impl Backoff {
    /// The `n`-th wait in a row (from 1).
    pub fn wait(&self, n: u32, rng: &mut impl rand::Rng) -> Duration {
        let grown = self.initial.as_secs_f64()
            * self
                .multiplier
                .powi(i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX));
        let base = grown.min(self.max.as_secs_f64());
        let spread = base * self.randomization.clamp(0.0, 1.0);
        let wait = if spread > 0.0 {
            rng.random_range(base - spread..=base + spread)
        } else {
            base
        };
        Duration::from_secs_f64(wait.max(0.0))
    }
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
            sqs_age_metric: true,
            service_metric_delay: Duration::from_mins(1),
            custom_metric_delay: Duration::from_secs(5),
            empty_poll_backoff: None,
            metric_resolution: Duration::from_secs(10),
            alarm_evaluation: AlarmEvaluation::Aws,
            alarm_action_delay: Duration::from_millis(500),
            provisioned: Some(ProvisionedParams {
                invokes_per_poller: floodgate_core::ports::INVOKES_PER_POLLER,
                scale_up_per_minute: 1000,
                minimum_pollers: (2, 200),
                maximum_pollers: (2, 2000),
            }),
        }
    }

    /// What LocalStack measurably does: one poller, resting a second between polls.
    pub fn localstack() -> Self {
        Self {
            name: "localstack",
            initial_batches: 1,
            scale_up_per_minute: 0,
            max_batches: 1,
            idle_batches: 1,
            receive_interval: Duration::from_secs(1),
            mapping_update_delay: Duration::from_secs(1),
            sqs_age_metric: false,
            service_metric_delay: Duration::ZERO,
            custom_metric_delay: Duration::ZERO,
            empty_poll_backoff: Some(Backoff {
                initial: Duration::from_secs(1),
                multiplier: 1.5,
                max: Duration::from_secs(10),
                randomization: 0.5,
            }),
            metric_resolution: Duration::from_secs(1),
            alarm_evaluation: AlarmEvaluation::LocalStack,
            alarm_action_delay: Duration::ZERO,
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

    #[test]
    fn localstacks_empty_poll_backoff_grows_to_its_cap_within_its_spread() {
        use rand::SeedableRng;
        let backoff = Profile::localstack().empty_poll_backoff.expect("a backoff");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            let first = backoff.wait(1, &mut rng).as_secs_f64();
            assert!((0.5..=1.5).contains(&first), "{first}");
            let third = backoff.wait(3, &mut rng).as_secs_f64();
            assert!((1.125..=3.375).contains(&third), "{third}");
            let late = backoff.wait(30, &mut rng).as_secs_f64();
            assert!((5.0..=15.0).contains(&late), "{late}");
        }
    }
}
