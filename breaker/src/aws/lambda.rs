//! Lambda: event source mappings, their tags, and reserved concurrency. Every call waits on
//! the shared control-plane limiter first.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_lambda::types::{ProvisionedPollerConfig, ScalingConfig};
use chrono::DateTime;

use super::AwsPorts;
use super::fault::from_sdk;
use floodgate_core::Operation;
use floodgate_core::error::{AwsFault, Error};
use floodgate_core::ports::{
    Concurrency, EventSourceMappings, Mapping, MappingState, MappingUpdate, Pollers,
};

fn to_i32(operation: Operation, value: u32) -> Result<i32, Error> {
    i32::try_from(value).map_err(|_| {
        Error::aws(
            operation,
            AwsFault::Other,
            None,
            &format!("{value} is out of range"),
        )
    })
}

fn to_u32(value: i32) -> Option<u32> {
    u32::try_from(value).ok()
}

/// The mapping's ARN from its function's ARN, for services that do not return it: both share
/// the `arn:partition:lambda:region:account` prefix.
fn mapping_arn(function_arn: &str, uuid: &str) -> Option<String> {
    let prefix: Vec<&str> = function_arn.splitn(6, ':').take(5).collect();
    (prefix.len() == 5 && prefix[0] == "arn")
        .then(|| format!("{}:event-source-mapping:{uuid}", prefix.join(":")))
}

impl EventSourceMappings for AwsPorts {
    async fn get_mapping(&self, uuid: &str) -> Result<Mapping, Error> {
        const OP: Operation = Operation::GetEventSourceMapping;
        let out = self
            .lambda
            .get_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .map_err(|e| from_sdk(OP, &e))?;
        let function_arn = out.function_arn().unwrap_or_default().to_owned();
        let arn = out
            .event_source_mapping_arn()
            .map(str::to_owned)
            .or_else(|| mapping_arn(&function_arn, uuid))
            .ok_or_else(|| Error::aws(OP, AwsFault::Other, None, "response has no ARN"))?;
        Ok(Mapping {
            uuid: uuid.to_owned(),
            arn,
            function_arn,
            state: MappingState::parse(out.state().unwrap_or_default()),
            maximum_concurrency: out
                .scaling_config()
                .and_then(ScalingConfig::maximum_concurrency)
                .and_then(to_u32),
            // Lambda answers an unset ProvisionedPollerConfig as absent or all-empty.
            provisioned: out.provisioned_poller_config().and_then(|p| {
                let maximum = p.maximum_pollers().and_then(to_u32)?;
                Some(Pollers {
                    minimum: p.minimum_pollers().and_then(to_u32).unwrap_or(2),
                    maximum,
                })
            }),
            last_modified: out
                .last_modified()
                .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
        })
    }

    async fn update_mapping(&self, uuid: &str, update: MappingUpdate) -> Result<(), Error> {
        const OP: Operation = Operation::UpdateEventSourceMapping;
        let scaling = update
            .maximum_concurrency
            .map(|n| to_i32(OP, n))
            .transpose()?
            .map(|n| ScalingConfig::builder().maximum_concurrency(n).build());
        let pollers = match update.pollers {
            Some(p) => Some(
                ProvisionedPollerConfig::builder()
                    .minimum_pollers(to_i32(OP, p.minimum)?)
                    .maximum_pollers(to_i32(OP, p.maximum)?)
                    .build(),
            ),
            None => None,
        };
        self.lambda
            .update_event_source_mapping()
            .uuid(uuid)
            .set_enabled(update.enabled)
            .set_scaling_config(scaling)
            .set_provisioned_poller_config(pollers)
            .send()
            .await
            .map_err(|e| from_sdk(OP, &e))?;
        Ok(())
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, Error> {
        let out = self
            .lambda
            .list_tags()
            .resource(arn)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::ListTags, &e))?;
        Ok(out
            .tags()
            .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    async fn tag(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), Error> {
        let tags: HashMap<String, String> =
            tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        self.lambda
            .tag_resource()
            .resource(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| from_sdk(Operation::TagResource, &e))?;
        Ok(())
    }
}

impl Concurrency for AwsPorts {
    async fn reserved_concurrency(&self, function: &str) -> Result<Option<u32>, Error> {
        let out = self
            .lambda
            .get_function_concurrency()
            .function_name(function)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::GetFunctionConcurrency, &e))?;
        Ok(out.reserved_concurrent_executions().and_then(to_u32))
    }

    async fn set_reserved_concurrency(&self, function: &str, reserved: u32) -> Result<(), Error> {
        const OP: Operation = Operation::PutFunctionConcurrency;
        self.lambda
            .put_function_concurrency()
            .function_name(function)
            .reserved_concurrent_executions(to_i32(OP, reserved)?)
            .send()
            .await
            .map_err(|e| from_sdk(OP, &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_arn_is_derived_from_the_function_arn() {
        assert_eq!(
            mapping_arn(
                "arn:aws:lambda:us-east-1:123456789012:function:orders",
                "u-1"
            )
            .as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:event-source-mapping:u-1")
        );
        assert_eq!(mapping_arn("orders", "u-1"), None);
    }
}
