//! The one stack builder: a circuit's resources in LocalStack, made call by call with the
//! resource shapes of the infra modules, and deleted again.
//!
//! LocalStack cannot deploy the CDK construct's template here (a `Lambda::Function` from S3
//! needs a runtime download), so what the tests and the local drill need is made through the
//! SDK: a source queue redriving to a DLQ, an optional overflow queue, an optional consumer
//! (a zip, its ledger queue and an SQS event source mapping), the circuit's alarms, and an
//! optional controller function whose `FLOODGATE_CONFIG` names all of them. The zips are the
//! caller's; so are the parts of the circuit's config that are about behaviour (levels,
//! timings, overflow limits).

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Map, Value, json};

use super::alarm::{AlarmSpec, Watched, put_alarm};
use super::aws::{Function, FunctionSpec, LocalAws, Mapping, Queue, Trigger};
use breaker::aws::fault::{AwsCall, SdkCallError};

use super::{HarnessError, unique_name};

/// Receives before a message goes to the DLQ, unless the spec says otherwise (the design's
/// minimum).
const MAX_RECEIVE_COUNT: u32 = 5;

/// The names of a stack's resources.
///
/// With `unique`, each name is passed through [`unique_name`] when the stack is deployed
/// (tests share one LocalStack); without, it is used as is (a run that made its prefix unique
/// already, such as the local drill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The source queue.
    pub source: String,
    /// The source's dead-letter queue.
    pub dlq: String,
    /// The overflow queue.
    pub overflow: String,
    /// The consumer function.
    pub consumer: String,
    /// The consumer's ledger queue.
    pub ledger: String,
    /// The controller function.
    pub controller: String,
    /// The circuit in the controller's config.
    pub circuit: String,
    /// Alarms are named this followed by their kind.
    pub alarm_prefix: String,
    /// Whether every name is made unique at deployment.
    pub unique: bool,
}

impl Names {
    /// The tests' names, each made unique: `<prefix>-src`, `<prefix>-src-dlq`,
    /// `<prefix>-ovf`, `<prefix>-consumer`, `<prefix>-consumer-ledger`, `<prefix>-ctl`, the
    /// circuit `<prefix>` and the alarms `<prefix>-<kind>`. Keep `prefix` to 20 characters so
    /// every name fits.
    pub fn unique(prefix: &str) -> Self {
        Self {
            source: format!("{prefix}-src"),
            dlq: format!("{prefix}-src-dlq"),
            overflow: format!("{prefix}-ovf"),
            consumer: format!("{prefix}-consumer"),
            ledger: format!("{prefix}-consumer-ledger"),
            controller: format!("{prefix}-ctl"),
            circuit: prefix.to_owned(),
            alarm_prefix: format!("{prefix}-"),
            unique: true,
        }
    }

    fn of(&self, stem: &str) -> String {
        if self.unique {
            unique_name(stem)
        } else {
            stem.to_owned()
        }
    }
}

/// The consumer of a stack: a function from a zip that records what it processed on a
/// ledger queue, fed by the source through an event source mapping.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    zip: PathBuf,
    timeout: Duration,
    ledger_env: String,
    trigger: Trigger,
}

impl ConsumerSpec {
    /// `zip`, given its ledger queue's URL in the variable `ledger_env`, with a 2 s timeout and
    /// batches of 10 without a batching window.
    pub fn new(zip: impl AsRef<Path>, ledger_env: &str) -> Self {
        Self {
            zip: zip.as_ref().to_owned(),
            timeout: Duration::from_secs(2),
            ledger_env: ledger_env.to_owned(),
            trigger: Trigger::batches_of(10),
        }
    }

    /// Sets the function's timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how the mapping feeds the function.
    #[must_use]
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }
}

/// What [`Stack::deploy`] builds.
#[derive(Debug, Clone)]
pub struct StackSpec {
    names: Names,
    visibility_timeout: Duration,
    max_receive_count: u32,
    overflow_queue: Option<Vec<(QueueAttributeName, String)>>,
    consumer: Option<ConsumerSpec>,
    alarms: Vec<AlarmSpec>,
    controller: Option<(PathBuf, Vec<(String, String)>)>,
    circuit: Map<String, Value>,
}

impl StackSpec {
    /// A source queue (visibility timeout 30 s, to the DLQ after 5 receives) and its DLQ,
    /// nothing else.
    pub fn new(names: Names) -> Self {
        Self {
            names,
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: MAX_RECEIVE_COUNT,
            overflow_queue: None,
            consumer: None,
            alarms: Vec::new(),
            controller: None,
            circuit: Map::new(),
        }
    }

    /// Sets the source queue's visibility timeout: how long a message of a failed batch stays
    /// hidden before its next receive (each receive counts toward the DLQ's
    /// `maxReceiveCount` of 5).
    #[must_use]
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }

    /// Sets the receives after which a message goes to the DLQ (default 5).
    #[must_use]
    pub fn max_receive_count(mut self, count: u32) -> Self {
        self.max_receive_count = count;
        self
    }

    /// Adds an overflow queue with `attributes`; the circuit's `overflow` block gets its URL.
    #[must_use]
    pub fn overflow_queue(mut self, attributes: Vec<(QueueAttributeName, String)>) -> Self {
        self.overflow_queue = Some(attributes);
        self
    }

    /// Adds the consumer.
    #[must_use]
    pub fn consumer(mut self, consumer: ConsumerSpec) -> Self {
        self.consumer = Some(consumer);
        self
    }

    /// Sets the circuit's alarms.
    #[must_use]
    pub fn alarms(mut self, alarms: impl IntoIterator<Item = AlarmSpec>) -> Self {
        self.alarms = alarms.into_iter().collect();
        self
    }

    /// Adds the controller function from `zip` (see [`LocalAws::create_controller`]), with
    /// `env` besides its config; it becomes every alarm's ALARM and OK action.
    #[must_use]
    pub fn controller(mut self, zip: impl AsRef<Path>, env: &[(&str, &str)]) -> Self {
        let env = env
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        self.controller = Some((zip.as_ref().to_owned(), env));
        self
    }

    /// Sets a field of the circuit's config (`levels`, `timings`, `overflow`, `seed`, …),
    /// over what the stack fills in from its resources.
    #[must_use]
    pub fn circuit_field(mut self, key: &str, value: Value) -> Self {
        self.circuit.insert(key.to_owned(), value);
        self
    }
}

/// A deployed consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// The function.
    pub function: Function,
    /// Where it records what it processed.
    pub ledger: Queue,
    /// The event source mapping from the source queue.
    pub mapping: Mapping,
}

/// A deployed alarm of the circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// What it is.
    pub spec: AlarmSpec,
    /// Its name.
    pub name: String,
}

/// A circuit's resources in LocalStack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The clients it was made with.
    pub aws: LocalAws,
    /// The circuit's name in the config.
    pub circuit: String,
    /// The source queue.
    pub source: Queue,
    /// The source's dead-letter queue.
    pub dlq: Queue,
    /// The overflow queue, if asked for.
    pub overflow: Option<Queue>,
    /// The consumer, if asked for.
    pub consumer: Option<Consumer>,
    /// The circuit's alarms, in the order of the spec.
    pub alarms: Vec<Alarm>,
    /// The controller function, if asked for.
    pub controller: Option<Function>,
    /// The controller configuration: one circuit over these resources.
    pub config: Value,
}

impl Stack {
    /// Creates every resource of `spec` through `aws`, and waits until the consumer's mapping
    /// is `Enabled` and the functions are `Active`. The circuit's config has the account and
    /// region of the source queue's ARN, `reserved_concurrency` managed without headroom, and
    /// the spec's fields over those; an `overflow` field gets the overflow queue's URL.
    ///
    /// # Errors
    /// Whatever creating a resource fails with; [`HarnessError::Missing`] when the source
    /// queue's ARN names no account and region.
    pub async fn deploy(aws: &LocalAws, spec: &StackSpec) -> Result<Self, HarnessError> {
        let names = &spec.names;
        let (source, dlq) = aws
            .create_source_queue(
                &names.of(&names.source),
                &names.of(&names.dlq),
                spec.max_receive_count,
                spec.visibility_timeout,
            )
            .await?;
        let overflow = match &spec.overflow_queue {
            Some(attributes) => Some(
                aws.create_queue(&names.of(&names.overflow), attributes)
                    .await?,
            ),
            None => None,
        };
        let consumer = match &spec.consumer {
            Some(consumer) => Some(deploy_consumer(aws, names, consumer, &source).await?),
            None => None,
        };
        // The queue ARN names the account and region the controller must accept events from.
        let (region, account) = match source.arn.split(':').collect::<Vec<_>>().as_slice() {
            [_, _, _, region, account, _] => ((*region).to_owned(), (*account).to_owned()),
            _ => {
                return Err(HarnessError::Missing {
                    call: "GetQueueAttributes",
                    field: "QueueArn of the form arn:aws:sqs:REGION:ACCOUNT:NAME",
                });
            }
        };
        let alarms: Vec<Alarm> = spec
            .alarms
            .iter()
            .map(|alarm| Alarm {
                spec: *alarm,
                name: names.of(&format!("{}{}", names.alarm_prefix, alarm.kind)),
            })
            .collect();
        let circuit = names.of(&names.circuit);
        let config = json!({
            "account_id": account,
            "region": region,
            "circuits": [circuit_config(spec, &circuit, &source, overflow.as_ref(), consumer.as_ref(), &alarms)],
        });
        let controller = match &spec.controller {
            Some((zip, env)) => Some(
                aws.create_controller(&names.of(&names.controller), zip, &config, env)
                    .await?,
            ),
            None => None,
        };
        let watched = Watched {
            consumer: consumer.as_ref().map_or("", |c| c.function.name.as_str()),
            queue: &source.name,
        };
        for alarm in &alarms {
            if let Some(controller) = &controller {
                let arn = format!("arn:aws:cloudwatch:{region}:{account}:alarm:{}", alarm.name);
                aws.allow_alarm(&controller.name, &alarm.name, &arn).await?;
            }
            let action = controller.as_ref().map(|c| c.arn.as_str());
            put_alarm(aws, &alarm.name, alarm.spec.source, watched, action).await?;
        }
        Ok(Self {
            aws: aws.clone(),
            circuit,
            source,
            dlq,
            overflow,
            consumer,
            alarms,
            controller,
            config,
        })
    }

    /// Deletes every resource of the stack. Every deletion is tried, whatever failed before;
    /// the failures are returned (none when everything is gone). A stack left behind holds
    /// reserved concurrency, and Lambda refuses new reservations once less than 100 of the
    /// account's 1000 would be left unreserved, so a LocalStack that stays up between runs
    /// needs this.
    pub async fn teardown(&self) -> Vec<HarnessError> {
        let aws = &self.aws;
        let mut failures = Vec::new();
        let mut note = |result: Result<(), SdkCallError>| {
            if let Err(err) = result {
                failures.push(err.into());
            }
        };
        if !self.alarms.is_empty() {
            let names = self.alarms.iter().map(|a| a.name.clone()).collect();
            note(
                aws.cloudwatch
                    .delete_alarms()
                    .set_alarm_names(Some(names))
                    .send()
                    .await
                    .call("DeleteAlarms")
                    .map(drop),
            );
        }
        if let Some(consumer) = &self.consumer {
            note(
                aws.lambda
                    .delete_event_source_mapping()
                    .uuid(&consumer.mapping.uuid)
                    .send()
                    .await
                    .call("DeleteEventSourceMapping")
                    .map(drop),
            );
        }
        let functions = self
            .controller
            .iter()
            .chain(self.consumer.as_ref().map(|c| &c.function));
        for function in functions {
            note(
                aws.lambda
                    .delete_function()
                    .function_name(&function.name)
                    .send()
                    .await
                    .call("DeleteFunction")
                    .map(drop),
            );
        }
        let queues = [Some(&self.source), Some(&self.dlq), self.overflow.as_ref()]
            .into_iter()
            .flatten()
            .chain(self.consumer.as_ref().map(|c| &c.ledger));
        for queue in queues {
            note(
                aws.sqs
                    .delete_queue()
                    .queue_url(&queue.url)
                    .send()
                    .await
                    .call("DeleteQueue")
                    .map(drop),
            );
        }
        failures
    }
}

async fn deploy_consumer(
    aws: &LocalAws,
    names: &Names,
    spec: &ConsumerSpec,
    source: &Queue,
) -> Result<Consumer, HarnessError> {
    let ledger = aws.create_queue(&names.of(&names.ledger), &[]).await?;
    let name = names.of(&names.consumer);
    let arn = aws
        .create_function(
            &FunctionSpec::new(&name, &spec.zip)
                .timeout(spec.timeout)
                .env(&spec.ledger_env, &ledger.url),
        )
        .await?;
    let mapping = aws.create_mapping(&name, source, &spec.trigger).await?;
    Ok(Consumer {
        function: Function { name, arn },
        ledger,
        mapping,
    })
}

/// The circuit over the stack's resources, with the spec's fields over them.
fn circuit_config(
    spec: &StackSpec,
    name: &str,
    source: &Queue,
    overflow: Option<&Queue>,
    consumer: Option<&Consumer>,
    alarms: &[Alarm],
) -> Value {
    let mut circuit = Map::new();
    circuit.insert("name".to_owned(), json!(name));
    if let Some(consumer) = consumer {
        circuit.insert(
            "event_source_mapping_uuid".to_owned(),
            json!(consumer.mapping.uuid),
        );
        circuit.insert("function_name".to_owned(), json!(consumer.function.name));
    }
    circuit.insert("queue_url".to_owned(), json!(source.url));
    circuit.insert(
        "alarms".to_owned(),
        alarms
            .iter()
            .map(|a| json!({"name": a.name, "kind": a.spec.kind}))
            .collect(),
    );
    circuit.insert(
        "reserved_concurrency".to_owned(),
        json!({"mode": "managed", "headroom": 0}),
    );
    circuit.extend(spec.circuit.clone());
    if let Some(overflow) = overflow {
        let block = circuit
            .entry("overflow")
            .or_insert_with(|| Value::Object(Map::new()));
        block["queue_url"] = json!(overflow.url);
    }
    Value::Object(circuit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::localstack::AlarmSource;

    fn queue(name: &str) -> Queue {
        Queue {
            name: name.to_owned(),
            url: format!("http://sqs.local/000000000000/{name}"),
            arn: format!("arn:aws:sqs:us-east-1:000000000000:{name}"),
        }
    }

    fn errors_alarm() -> Alarm {
        Alarm {
            spec: AlarmSpec {
                kind: "errors",
                source: AlarmSource::ConsumerErrors,
            },
            name: "d-alarm-errors".to_owned(),
        }
    }

    #[test]
    fn the_circuit_names_every_resource_and_the_overflow_block_gets_its_queue() {
        let spec = StackSpec::new(Names::unique("d"))
            .circuit_field("levels", json!({"max": 8, "safe": 4, "probe": 2}))
            .circuit_field("seed", json!(7))
            .circuit_field("overflow", json!({"ceiling": 200}));
        let consumer = Consumer {
            function: Function {
                name: "d-victim".to_owned(),
                arn: "arn:aws:lambda:us-east-1:000000000000:function:d-victim".to_owned(),
            },
            ledger: queue("d-ledger"),
            mapping: Mapping {
                uuid: "uuid-1".to_owned(),
                arn: "arn:mapping".to_owned(),
            },
        };
        let circuit = circuit_config(
            &spec,
            "d-circuit",
            &queue("d-source"),
            Some(&queue("d-overflow")),
            Some(&consumer),
            &[errors_alarm()],
        );
        assert_eq!(
            circuit,
            json!({
                "name": "d-circuit",
                "event_source_mapping_uuid": "uuid-1",
                "function_name": "d-victim",
                "queue_url": "http://sqs.local/000000000000/d-source",
                "alarms": [{"name": "d-alarm-errors", "kind": "errors"}],
                "levels": {"max": 8, "safe": 4, "probe": 2},
                "reserved_concurrency": {"mode": "managed", "headroom": 0},
                "seed": 7,
                "overflow": {
                    "ceiling": 200,
                    "queue_url": "http://sqs.local/000000000000/d-overflow",
                },
            })
        );
    }

    #[test]
    fn without_a_consumer_the_caller_names_the_mapping_and_its_fields_win() {
        let spec = StackSpec::new(Names::unique("d"))
            .circuit_field("event_source_mapping_uuid", json!("none-uuid"))
            .circuit_field("function_name", json!("none"))
            .circuit_field("reserved_concurrency", json!({"mode": "unmanaged"}));
        let circuit = circuit_config(&spec, "c", &queue("s"), None, None, &[]);
        assert_eq!(circuit["event_source_mapping_uuid"], "none-uuid");
        assert_eq!(circuit["function_name"], "none");
        assert_eq!(
            circuit["reserved_concurrency"],
            json!({"mode": "unmanaged"})
        );
        assert_eq!(circuit["alarms"], json!([]));
        assert!(circuit.get("overflow").is_none());
    }
}
