//! Lambda: what the timeline reads of the event source mapping and the function, and the
//! drill's actions on them (the victim's fault settings, the manual stand-in for the breaker).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::types::{Environment, LastUpdateStatus};
use tokio::time::Instant;

use crate::error::{Error, Result};
use breaker::aws::fault::AwsCall;

/// How long a configuration update may take to apply.
const UPDATE_TIMEOUT: Duration = Duration::from_mins(1);
/// Pause between polls of a configuration update.
const UPDATE_POLL: Duration = Duration::from_millis(250);

/// What the timeline reads of an event source mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EsmView {
    /// `Creating`, `Enabling`, `Enabled`, `Disabling`, `Disabled`, `Updating`, `Deleting`.
    pub state: Option<String>,
    /// `ScalingConfig.MaximumConcurrency` (unset means Lambda's default).
    pub max_concurrency: Option<i32>,
    /// The mapping's ARN (for its tags).
    pub arn: Option<String>,
    /// The function's ARN.
    pub function_arn: Option<String>,
    /// The source's ARN.
    pub source_arn: Option<String>,
}

/// Lambda reads and actions.
#[derive(Debug, Clone)]
pub struct Lambda {
    client: aws_sdk_lambda::Client,
}

impl Lambda {
    /// Lambda access from `sdk`.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: aws_sdk_lambda::Client::new(sdk),
        }
    }

    /// The mapping `uuid`.
    ///
    /// # Errors
    /// [`Error::Aws`] when `GetEventSourceMapping` fails.
    pub async fn esm(&self, uuid: &str) -> Result<EsmView> {
        let esm = self
            .client
            .get_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .call("GetEventSourceMapping")?;
        Ok(EsmView {
            state: esm.state().map(str::to_owned),
            max_concurrency: esm
                .scaling_config()
                .and_then(aws_sdk_lambda::types::ScalingConfig::maximum_concurrency),
            arn: esm.event_source_mapping_arn().map(str::to_owned),
            function_arn: esm.function_arn().map(str::to_owned),
            source_arn: esm.event_source_arn().map(str::to_owned),
        })
    }

    /// The UUID of the mapping from `source_arn` to `function`, if there is exactly one.
    ///
    /// # Errors
    /// [`Error::Aws`] when the listing fails; [`Error::Invalid`] naming `target.esm_uuid` when
    /// there is none or more than one.
    pub async fn find_esm(&self, function: &str, source_arn: &str) -> Result<String> {
        let listed = self
            .client
            .list_event_source_mappings()
            .function_name(function)
            .event_source_arn(source_arn)
            .send()
            .await
            .call("ListEventSourceMappings")?;
        let uuids: Vec<&str> = listed
            .event_source_mappings()
            .iter()
            .filter_map(|m| m.uuid())
            .collect();
        match uuids.as_slice() {
            [uuid] => Ok((*uuid).to_owned()),
            other => Err(Error::invalid(
                "target.esm_uuid",
                format!(
                    "{} mappings connect {source_arn} to {function}; name one with esm_uuid",
                    other.len()
                ),
            )),
        }
    }

    /// The tags of a resource (the breaker keeps a circuit's state in `floodgate:*` tags on
    /// the mapping).
    ///
    /// # Errors
    /// [`Error::Aws`] when `ListTags` fails.
    pub async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let output = self
            .client
            .list_tags()
            .resource(arn)
            .send()
            .await
            .call("ListTags")?;
        Ok(output
            .tags()
            .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    /// The function's reserved concurrency (`None`: not reserved).
    ///
    /// # Errors
    /// [`Error::Aws`] when `GetFunctionConcurrency` fails.
    pub async fn reserved_concurrency(&self, function: &str) -> Result<Option<i32>> {
        Ok(self
            .client
            .get_function_concurrency()
            .function_name(function)
            .send()
            .await
            .call("GetFunctionConcurrency")?
            .reserved_concurrent_executions())
    }

    /// Enables or disables the mapping (the drill's manual stand-in for the breaker).
    ///
    /// # Errors
    /// [`Error::Aws`] when `UpdateEventSourceMapping` fails.
    pub async fn set_esm_enabled(&self, uuid: &str, enabled: bool) -> Result<()> {
        self.client
            .update_event_source_mapping()
            .uuid(uuid)
            .enabled(enabled)
            .send()
            .await
            .call("UpdateEventSourceMapping")?;
        Ok(())
    }

    async fn configuration(&self, function: &str) -> Result<GetFunctionConfigurationOutput> {
        Ok(self
            .client
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .call("GetFunctionConfiguration")?)
    }

    /// Sets (`Some`) or removes (`None`) environment variables of `function`, keeping the
    /// others, and waits until the update has applied.
    ///
    /// # Errors
    /// [`Error::Aws`] when a call fails or the update ends `Failed`; [`Error::Timeout`] when it
    /// does not finish within a minute.
    pub async fn update_env(
        &self,
        function: &str,
        changes: &[(String, Option<String>)],
    ) -> Result<()> {
        let current = self.configuration(function).await?;
        let mut variables: HashMap<String, String> = current
            .environment()
            .and_then(|env| env.variables())
            .cloned()
            .unwrap_or_default();
        for (key, value) in changes {
            match value {
                Some(value) => variables.insert(key.clone(), value.clone()),
                None => variables.remove(key),
            };
        }
        self.client
            .update_function_configuration()
            .function_name(function)
            .environment(
                Environment::builder()
                    .set_variables(Some(variables))
                    .build(),
            )
            .send()
            .await
            .call("UpdateFunctionConfiguration")?;
        let deadline = Instant::now() + UPDATE_TIMEOUT;
        loop {
            let config = self.configuration(function).await?;
            match config.last_update_status() {
                Some(LastUpdateStatus::Successful) | None => return Ok(()),
                Some(LastUpdateStatus::Failed) => {
                    return Err(Error::Aws {
                        call: "UpdateFunctionConfiguration",
                        retryable: false,
                        cause: format!(
                            "update of {function} failed: {}",
                            config
                                .last_update_status_reason()
                                .unwrap_or("no reason given")
                        ),
                    });
                }
                Some(_) if Instant::now() >= deadline => {
                    return Err(Error::Timeout {
                        what: format!("the configuration update of {function}"),
                        after: UPDATE_TIMEOUT,
                    });
                }
                Some(_) => tokio::time::sleep(UPDATE_POLL).await,
            }
        }
    }
}
