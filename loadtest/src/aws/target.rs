//! [`AwsTarget`]: the drill's [`Target`] on real AWS APIs (or LocalStack's).

use floodgate_core::ports::MappingState;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::SdkConfig;

use super::{Alarms, Lambda, Queues, SqsSink};
use crate::drill::spec::{DrillSpec, EsmAction, Injection, TargetSpec};
use crate::drill::timeline::Observation;
use crate::drill::{QueueRole, Target};
use crate::error::{Error, Result};
use crate::victim::ledger::LedgerRecord;

/// The deployment a drill runs against.
#[derive(Debug)]
pub struct AwsTarget {
    spec: TargetSpec,
    esm_uuid: String,
    esm_arn: Option<String>,
    peek_hold: Duration,
    queues: Queues,
    lambda: Lambda,
    alarms: Alarms,
    sink: Arc<SqsSink>,
    /// Ledger message ids already returned, so a message redelivered after a failed delete
    /// is not counted twice.
    ledger_seen: Mutex<HashSet<String>>,
}

impl AwsTarget {
    /// Checks that the drill's resources exist (queues, function, mapping) and finds the
    /// mapping when the spec does not name it.
    ///
    /// # Errors
    /// [`Error::Aws`] for a resource that cannot be read; [`Error::Invalid`] when the mapping
    /// cannot be found.
    pub async fn connect(sdk: &SdkConfig, spec: &DrillSpec) -> Result<Self> {
        let target = spec.target.clone();
        let queues = Queues::new(sdk);
        let lambda = Lambda::new(sdk);
        let source_arn = queues.arn(&target.queue_url).await?;
        for url in [&target.dlq_url, &target.overflow_url]
            .into_iter()
            .flatten()
        {
            queues.arn(url).await?;
        }
        queues.arn(&target.ledger_url).await?;
        let esm_uuid = match &target.esm_uuid {
            Some(uuid) => uuid.clone(),
            None => lambda.find_esm(&target.function, &source_arn).await?,
        };
        let esm = lambda.esm(&esm_uuid).await?;
        if esm
            .source_arn
            .as_deref()
            .is_some_and(|arn| arn != source_arn)
        {
            return Err(Error::invalid(
                "target.esm_uuid",
                format!(
                    "mapping {esm_uuid} reads {:?}, not {source_arn}",
                    esm.source_arn
                ),
            ));
        }
        lambda.reserved_concurrency(&target.function).await?;
        // Older emulators leave the mapping's ARN out; it follows from the function's.
        let esm_arn = esm.arn.clone().or_else(|| {
            esm.function_arn.as_deref().and_then(|function| {
                let parts: Vec<&str> = function.split(':').collect();
                (parts.len() >= 5).then(|| {
                    format!(
                        "arn:aws:lambda:{}:{}:event-source-mapping:{esm_uuid}",
                        parts[3], parts[4]
                    )
                })
            })
        });
        Ok(Self {
            sink: Arc::new(SqsSink::new(sdk, target.queue_url.clone())),
            spec: target,
            esm_uuid,
            esm_arn,
            peek_hold: spec.peek_hold,
            queues,
            lambda,
            alarms: Alarms::new(sdk),
            ledger_seen: Mutex::new(HashSet::new()),
        })
    }

    /// The mapping's UUID.
    pub fn esm_uuid(&self) -> &str {
        &self.esm_uuid
    }
}

fn keep<T>(errors: &mut Vec<String>, what: &str, result: Result<T>) -> Option<T> {
    result
        .map_err(|err| errors.push(format!("{what}: {err}")))
        .ok()
}

impl Target for AwsTarget {
    type Sink = SqsSink;

    fn sink(&self) -> Arc<SqsSink> {
        Arc::clone(&self.sink)
    }

    async fn observe(&self) -> Observation {
        let depth = |url: Option<String>| {
            let queues = self.queues.clone();
            async move {
                match url {
                    Some(url) => queues.depth(&url).await.map(Some),
                    None => Ok(None),
                }
            }
        };
        let tags = async {
            match &self.esm_arn {
                Some(arn) => self.lambda.tags(arn).await.map(Some),
                None => Ok(None),
            }
        };
        let (esm, tags, reserved, source, dlq, overflow, alarms) = tokio::join!(
            self.lambda.esm(&self.esm_uuid),
            tags,
            self.lambda.reserved_concurrency(&self.spec.function),
            depth(Some(self.spec.queue_url.clone())),
            depth(self.spec.dlq_url.clone()),
            depth(self.spec.overflow_url.clone()),
            async {
                if self.spec.alarms.is_empty() && self.spec.alarm_prefix.is_none() {
                    Ok(std::collections::BTreeMap::default())
                } else {
                    self.alarms
                        .states(&self.spec.alarms, self.spec.alarm_prefix.as_deref())
                        .await
                }
            },
        );
        let mut errors = Vec::new();
        let esm = keep(&mut errors, "mapping", esm);
        let tags = keep(&mut errors, "mapping tags", tags)
            .flatten()
            .unwrap_or_default();
        let source = keep(&mut errors, "source queue", source).flatten();
        Observation {
            esm_state: esm
                .as_ref()
                .and_then(|e| e.state.as_deref().map(MappingState::parse)),
            max_concurrency: esm.as_ref().and_then(|e| e.max_concurrency),
            breaker: tags
                .into_iter()
                .filter(|(k, _)| k.starts_with("floodgate:"))
                .collect(),
            reserved_concurrency: keep(&mut errors, "reserved concurrency", reserved).flatten(),
            visible: source.map(|d| d.visible),
            in_flight: source.map(|d| d.in_flight),
            dlq: keep(&mut errors, "DLQ", dlq).flatten().map(|d| d.total()),
            overflow: keep(&mut errors, "overflow queue", overflow)
                .flatten()
                .map(|d| d.total()),
            alarms: keep(&mut errors, "alarms", alarms).unwrap_or_default(),
            errors,
        }
    }

    fn inject(&self, injection: &Injection) -> impl Future<Output = Result<()>> + Send {
        let injection = injection.clone();
        async move {
            match injection {
                Injection::Victim(settings) => {
                    self.lambda
                        .update_env(&self.spec.function, &settings.to_env())
                        .await
                }
                Injection::Esm(action) => {
                    self.lambda
                        .set_esm_enabled(&self.esm_uuid, action == EsmAction::Enable)
                        .await
                }
            }
        }
    }

    async fn read_ledger(&self, out: &mut Vec<LedgerRecord>) -> Result<()> {
        let mut raw = Vec::new();
        let read = self
            .queues
            .drain_into(&self.spec.ledger_url, &mut raw)
            .await;
        let mut seen = self
            .ledger_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (id, body) in raw {
            if !seen.insert(id) {
                continue;
            }
            match serde_json::from_str::<LedgerRecord>(&body) {
                Ok(record) => out.push(record),
                Err(err) => {
                    tracing::warn!("skipping a ledger message that is not a record ({err})");
                }
            }
        }
        read
    }

    fn peek(&self, queue: QueueRole) -> impl Future<Output = Result<Option<Vec<String>>>> + Send {
        let url = match queue {
            QueueRole::Source => Some(self.spec.queue_url.clone()),
            QueueRole::Dlq => self.spec.dlq_url.clone(),
            QueueRole::Overflow => self.spec.overflow_url.clone(),
        };
        async move {
            match url {
                Some(url) => self.queues.peek(&url, self.peek_hold).await.map(Some),
                None => Ok(None),
            }
        }
    }
}
