//! An in-memory AWS for tests and benches: a test double of every [`crate::ports`] trait.
//!
//! [`FakeAws`] holds a small world (mappings with their tags, functions' reserved concurrency,
//! alarms, queues), records every call it receives as a [`Call`] named after the AWS
//! operation (failed attempts included, so retries are visible), and can inject faults: an
//! error class for the next N calls of an operation ([`FakeAws::fail`]), or a mapping stuck in
//! a transitional state for N reads ([`FakeAws::set_transitional`]), during which updates are
//! refused with `ResourceInUseException` as Lambda does. [`MemoryRecorder`] keeps EMF lines.
//!
//! It is public (not test-only) so integration tests and benches can use it; nothing in the
//! controller's Lambda path refers to it.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use crate::error::{AwsFault, Error};
use crate::metrics::Recorder;
use crate::policy::AlarmState;
use crate::ports::{
    AlarmDescription, Alarms, Concurrency, EventSourceMappings, Mapping, MappingState,
    MappingUpdate, Queues,
};
use crate::protocol::QueueStatus;

/// One AWS call the fake received, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `GetEventSourceMapping(UUID)`.
    GetEventSourceMapping {
        /// The mapping's UUID.
        uuid: String,
    },
    /// `UpdateEventSourceMapping(UUID, Enabled?, ScalingConfig.MaximumConcurrency?)`.
    UpdateEventSourceMapping {
        /// The mapping's UUID.
        uuid: String,
        /// The requested `Enabled`, if set.
        enabled: Option<bool>,
        /// The requested `MaximumConcurrency`, if set.
        maximum_concurrency: Option<u32>,
    },
    /// `ListTags(Resource)`.
    ListTags {
        /// The resource ARN.
        resource: String,
    },
    /// `TagResource(Resource, Tags)`.
    TagResource {
        /// The resource ARN.
        resource: String,
        /// The tags written.
        tags: BTreeMap<String, String>,
    },
    /// `GetFunctionConcurrency(FunctionName)`.
    GetFunctionConcurrency {
        /// The function.
        function: String,
    },
    /// `PutFunctionConcurrency(FunctionName, ReservedConcurrentExecutions)`.
    PutFunctionConcurrency {
        /// The function.
        function: String,
        /// The reservation.
        reserved: u32,
    },
    /// `DeleteFunctionConcurrency(FunctionName)`.
    DeleteFunctionConcurrency {
        /// The function.
        function: String,
    },
    /// `DescribeAlarms(AlarmNames, AlarmTypes = metric + composite)`.
    DescribeAlarms {
        /// The names asked for.
        names: Vec<String>,
    },
    /// `GetQueueAttributes(QueueUrl, depth attributes)`.
    GetQueueAttributes {
        /// The queue.
        queue_url: String,
    },
}

impl Call {
    /// The AWS operation name.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::GetEventSourceMapping { .. } => "GetEventSourceMapping",
            Self::UpdateEventSourceMapping { .. } => "UpdateEventSourceMapping",
            Self::ListTags { .. } => "ListTags",
            Self::TagResource { .. } => "TagResource",
            Self::GetFunctionConcurrency { .. } => "GetFunctionConcurrency",
            Self::PutFunctionConcurrency { .. } => "PutFunctionConcurrency",
            Self::DeleteFunctionConcurrency { .. } => "DeleteFunctionConcurrency",
            Self::DescribeAlarms { .. } => "DescribeAlarms",
            Self::GetQueueAttributes { .. } => "GetQueueAttributes",
        }
    }

    /// Whether the call changes something (as opposed to reading).
    pub fn is_write(&self) -> bool {
        match self {
            Self::UpdateEventSourceMapping { .. }
            | Self::TagResource { .. }
            | Self::PutFunctionConcurrency { .. }
            | Self::DeleteFunctionConcurrency { .. } => true,
            Self::GetEventSourceMapping { .. }
            | Self::ListTags { .. }
            | Self::GetFunctionConcurrency { .. }
            | Self::DescribeAlarms { .. }
            | Self::GetQueueAttributes { .. } => false,
        }
    }
}

/// A mapping in the fake world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeMapping {
    /// Its ARN.
    pub arn: String,
    /// The ARN of its function.
    pub function_arn: String,
    /// Whether it consumes (once settled).
    pub enabled: bool,
    /// `ScalingConfig.MaximumConcurrency`.
    pub maximum_concurrency: Option<u32>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// A transitional state reported for this many more reads.
    transition: Option<(MappingState, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Fault {
    operation: &'static str,
    kind: AwsFault,
    remaining: u32,
}

#[derive(Debug, Default)]
struct World {
    mappings: BTreeMap<String, FakeMapping>,
    reserved: BTreeMap<String, u32>,
    alarms: BTreeMap<String, (AlarmState, DateTime<Utc>)>,
    queues: BTreeMap<String, QueueStatus>,
    faults: Vec<Fault>,
    calls: Vec<Call>,
    quiet: bool,
}

/// The in-memory AWS. Cheap to build; `Sync`, so one instance serves a whole test.
#[derive(Debug, Default)]
pub struct FakeAws {
    world: Mutex<World>,
}

impl FakeAws {
    /// An empty world.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same world, but calls are not recorded (for benches, where the log would grow).
    #[must_use]
    pub fn quiet(self) -> Self {
        self.lock().quiet = true;
        self
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        // A panicking test thread poisons the lock; the world is still consistent.
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds an enabled mapping `uuid` in `region`/`account` for `function`, without
    /// `MaximumConcurrency` or tags.
    pub fn add_mapping(&self, uuid: &str, region: &str, account: &str, function: &str) {
        let mapping = FakeMapping {
            arn: format!("arn:aws:lambda:{region}:{account}:event-source-mapping:{uuid}"),
            function_arn: format!("arn:aws:lambda:{region}:{account}:function:{function}"),
            enabled: true,
            maximum_concurrency: None,
            tags: BTreeMap::new(),
            transition: None,
        };
        self.lock().mappings.insert(uuid.to_owned(), mapping);
    }

    /// A copy of mapping `uuid`.
    ///
    /// # Panics
    /// If there is no such mapping (a broken test).
    pub fn mapping(&self, uuid: &str) -> FakeMapping {
        self.lock()
            .mappings
            .get(uuid)
            .cloned()
            .unwrap_or_else(|| panic!("no fake mapping {uuid}"))
    }

    /// Changes mapping `uuid` directly, as someone in the console would (not recorded).
    ///
    /// # Panics
    /// If there is no such mapping (a broken test).
    pub fn edit_mapping(&self, uuid: &str, edit: impl FnOnce(&mut FakeMapping)) {
        let mut world = self.lock();
        let mapping = world
            .mappings
            .get_mut(uuid)
            .unwrap_or_else(|| panic!("no fake mapping {uuid}"));
        edit(mapping);
    }

    /// Makes mapping `uuid` report `state` for the next `reads` reads; updates are refused
    /// with `ResourceInUseException` meanwhile.
    pub fn set_transitional(&self, uuid: &str, state: MappingState, reads: u32) {
        self.edit_mapping(uuid, |m| m.transition = Some((state, reads)));
    }

    /// Sets (or with `None` removes) `function`'s reserved concurrency (not recorded).
    pub fn set_reserved(&self, function: &str, reserved: Option<u32>) {
        let mut world = self.lock();
        match reserved {
            Some(n) => world.reserved.insert(function.to_owned(), n),
            None => world.reserved.remove(function),
        };
    }

    /// `function`'s reserved concurrency.
    pub fn reserved(&self, function: &str) -> Option<u32> {
        self.lock().reserved.get(function).copied()
    }

    /// Puts alarm `name` into `state` at `since` (creating it if needed).
    pub fn set_alarm(&self, name: &str, state: AlarmState, since: DateTime<Utc>) {
        self.lock().alarms.insert(name.to_owned(), (state, since));
    }

    /// Sets queue `url`'s depth (creating it if needed).
    pub fn set_queue(&self, url: &str, visible: u64, in_flight: u64) {
        self.lock()
            .queues
            .insert(url.to_owned(), QueueStatus { visible, in_flight });
    }

    /// The next `times` calls of `operation` (an AWS operation name such as
    /// `UpdateEventSourceMapping`) fail with `fault`, without taking effect.
    pub fn fail(&self, operation: &'static str, fault: AwsFault, times: u32) {
        self.lock().faults.push(Fault {
            operation,
            kind: fault,
            remaining: times,
        });
    }

    /// The calls received so far, and forgets them.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut self.lock().calls)
    }

    /// The calls received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Records `call`, then fails it if a fault is armed for its operation.
    fn enter(&self, call: Call) -> Result<MutexGuard<'_, World>, Error> {
        let mut world = self.lock();
        let operation = call.operation();
        if !world.quiet {
            world.calls.push(call);
        }
        if let Some(fault) = world
            .faults
            .iter_mut()
            .find(|f| f.operation == operation && f.remaining > 0)
        {
            fault.remaining -= 1;
            return Err(injected(operation, fault.kind));
        }
        Ok(world)
    }
}

fn injected(operation: &'static str, fault: AwsFault) -> Error {
    let (code, message) = match fault {
        AwsFault::Throttled => ("TooManyRequestsException", "Rate exceeded"),
        AwsFault::InUse => (
            "ResourceInUseException",
            "Cannot update the event source mapping because it is in use",
        ),
        AwsFault::Transient => ("ServiceException", "HTTP 503"),
        AwsFault::NotFound => ("ResourceNotFoundException", "not found"),
        AwsFault::Other => ("AccessDeniedException", "not authorized"),
    };
    Error::aws(operation, fault, Some(code.to_owned()), message)
}

fn not_found(operation: &'static str, what: &str) -> Error {
    Error::aws(
        operation,
        AwsFault::NotFound,
        Some("ResourceNotFoundException".to_owned()),
        &format!("{what} not found"),
    )
}

impl World {
    fn mapping_mut(
        &mut self,
        operation: &'static str,
        uuid: &str,
    ) -> Result<&mut FakeMapping, Error> {
        self.mappings
            .get_mut(uuid)
            .ok_or_else(|| not_found(operation, uuid))
    }

    fn mapping_by_arn(
        &mut self,
        operation: &'static str,
        arn: &str,
    ) -> Result<&mut FakeMapping, Error> {
        self.mappings
            .values_mut()
            .find(|m| m.arn == arn)
            .ok_or_else(|| not_found(operation, arn))
    }

    /// A mapping Lambda would accept an update for.
    fn updatable(&mut self, uuid: &str) -> Result<&mut FakeMapping, Error> {
        const OP: &str = "UpdateEventSourceMapping";
        let mapping = self.mapping_mut(OP, uuid)?;
        if let Some((state, _)) = &mapping.transition {
            return Err(Error::aws(
                OP,
                AwsFault::InUse,
                Some("ResourceInUseException".to_owned()),
                &format!("mapping is {state}"),
            ));
        }
        Ok(mapping)
    }
}

impl EventSourceMappings for FakeAws {
    async fn get_mapping(&self, uuid: &str) -> Result<Mapping, Error> {
        let mut world = self.enter(Call::GetEventSourceMapping {
            uuid: uuid.to_owned(),
        })?;
        let mapping = world.mapping_mut("GetEventSourceMapping", uuid)?;
        let settled = if mapping.enabled {
            MappingState::Enabled
        } else {
            MappingState::Disabled
        };
        let state = match mapping.transition.take() {
            Some((state, reads)) if reads > 0 => {
                mapping.transition = (reads > 1).then(|| (state.clone(), reads - 1));
                state
            }
            Some(_) | None => settled,
        };
        Ok(Mapping {
            uuid: uuid.to_owned(),
            arn: mapping.arn.clone(),
            function_arn: mapping.function_arn.clone(),
            state,
            maximum_concurrency: mapping.maximum_concurrency,
        })
    }

    async fn update_mapping(&self, uuid: &str, update: MappingUpdate) -> Result<(), Error> {
        let mut world = self.enter(Call::UpdateEventSourceMapping {
            uuid: uuid.to_owned(),
            enabled: update.enabled,
            maximum_concurrency: update.maximum_concurrency,
        })?;
        let mapping = world.updatable(uuid)?;
        if let Some(enabled) = update.enabled {
            mapping.enabled = enabled;
        }
        if let Some(maximum) = update.maximum_concurrency {
            mapping.maximum_concurrency = Some(maximum);
        }
        Ok(())
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, Error> {
        let mut world = self.enter(Call::ListTags {
            resource: arn.to_owned(),
        })?;
        Ok(world.mapping_by_arn("ListTags", arn)?.tags.clone())
    }

    async fn tag(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), Error> {
        let mut world = self.enter(Call::TagResource {
            resource: arn.to_owned(),
            tags: tags.clone(),
        })?;
        let mapping = world.mapping_by_arn("TagResource", arn)?;
        mapping
            .tags
            .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }
}

impl Concurrency for FakeAws {
    async fn reserved_concurrency(&self, function: &str) -> Result<Option<u32>, Error> {
        let world = self.enter(Call::GetFunctionConcurrency {
            function: function.to_owned(),
        })?;
        Ok(world.reserved.get(function).copied())
    }

    async fn set_reserved_concurrency(&self, function: &str, reserved: u32) -> Result<(), Error> {
        let mut world = self.enter(Call::PutFunctionConcurrency {
            function: function.to_owned(),
            reserved,
        })?;
        world.reserved.insert(function.to_owned(), reserved);
        Ok(())
    }

    async fn delete_reserved_concurrency(&self, function: &str) -> Result<(), Error> {
        let mut world = self.enter(Call::DeleteFunctionConcurrency {
            function: function.to_owned(),
        })?;
        world.reserved.remove(function);
        Ok(())
    }
}

impl Alarms for FakeAws {
    async fn describe_alarms(&self, names: &[String]) -> Result<Vec<AlarmDescription>, Error> {
        let world = self.enter(Call::DescribeAlarms {
            names: names.to_vec(),
        })?;
        Ok(names
            .iter()
            .filter_map(|name| {
                world
                    .alarms
                    .get(name)
                    .map(|&(state, since)| AlarmDescription {
                        name: name.clone(),
                        state,
                        since,
                    })
            })
            .collect())
    }
}

impl Queues for FakeAws {
    async fn queue_depth(&self, queue_url: &str) -> Result<QueueStatus, Error> {
        let world = self.enter(Call::GetQueueAttributes {
            queue_url: queue_url.to_owned(),
        })?;
        world.queues.get(queue_url).copied().ok_or_else(|| {
            Error::aws(
                "GetQueueAttributes",
                AwsFault::NotFound,
                Some("AWS.SimpleQueueService.NonExistentQueue".to_owned()),
                "queue does not exist",
            )
        })
    }
}

/// Keeps EMF lines in memory.
#[derive(Debug, Default)]
pub struct MemoryRecorder {
    lines: Mutex<Vec<String>>,
}

impl MemoryRecorder {
    /// The lines recorded so far, and forgets them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.lines.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Recorder for MemoryRecorder {
    fn record(&self, line: &str) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.to_owned());
    }
}
