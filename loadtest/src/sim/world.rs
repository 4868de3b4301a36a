//! The simulated world: for each circuit a producer, a source queue with its DLQ, an overflow
//! queue, the consumer and its downstream, and the circuit's alarms; one CloudWatch; and one
//! clock that only moves forward, in fixed steps.
//!
//! The world knows nothing of breakers: it runs what AWS would run, and hands the alarm
//! actions that CloudWatch sends (after the action's delivery delay) to whoever drives it
//! ([`World::take_actions`]). Every message is, at every step, in exactly one place: queued
//! (source or overflow, visible, hidden or delayed), held by a consumer lane, deleted after
//! processing, in the DLQ, or expired ([`World::accounting`]).

use std::collections::BTreeMap;
use std::time::Duration;

use alarms::AlarmState;
use floodgate_core::ports::MappingState;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::flood::schedule::Schedule;
use crate::sim::cloudwatch::{MetricKey, Metrics, SimAlarm};
use crate::sim::consumer::{Consumer, Spilled};
use crate::sim::downstream::Downstream;
use crate::sim::events::{AfterEvent, SimEvent};
use crate::sim::message::Msg;
use crate::sim::names::Names;
use crate::sim::params::Profile;
use crate::sim::queue::SimQueue;
use crate::sim::time::SimTime;

/// One alarm action on its way to the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmAction {
    /// The circuit whose alarm it is.
    pub circuit: usize,
    /// The alarm's index in the circuit.
    pub alarm: usize,
    /// The alarm's new state.
    pub state: AlarmState,
    /// When the alarm changed.
    pub changed: SimTime,
    /// When the action arrives.
    pub arrives: SimTime,
}

/// Where every message of one circuit is, each counted once, in the first of these places it
/// is found: consumed, still queued, dead-lettered, expired. A message can be in more than
/// one (processed but its batch failed, so it is also still queued; moved to overflow while
/// its original was not yet deleted): duplicates are counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accounting {
    /// Sent by the producer.
    pub sent: u64,
    /// Processed successfully at least once.
    pub consumed: u64,
    /// In the source queue (any state), in the overflow queue, or held by the consumer.
    pub still_queued: u64,
    /// In the source queue's DLQ.
    pub dead_lettered: u64,
    /// Deleted by SQS after the retention period.
    pub expired: u64,
    /// Successful processings beyond the first of a message.
    pub duplicates: u64,
    /// Sent, and in none of the places above: must be 0.
    pub lost: u64,
}

/// The producer of one circuit: the flood's schedule, replayed in virtual time.
#[derive(Debug)]
pub struct Producer {
    schedule: std::iter::Peekable<Schedule>,
    start: SimTime,
    sent: u64,
    stops_after: Option<AfterEvent>,
    stop: Option<SimTime>,
}

impl Producer {
    /// Sends `schedule` from `start` on.
    pub fn new(schedule: Schedule, start: SimTime) -> Self {
        Self {
            schedule: schedule.peekable(),
            start,
            sent: 0,
            stops_after: None,
            stop: None,
        }
    }

    /// Stops sending `stops_after` an event, once it has happened.
    #[must_use]
    pub fn stopping(mut self, stops_after: Option<AfterEvent>) -> Self {
        self.stops_after = stops_after;
        self
    }

    /// `event` happened `at`.
    pub fn on_event(&mut self, event: SimEvent, at: SimTime) {
        if let Some(after) = self.stops_after.filter(|a| a.event == event) {
            self.stop = Some(at + after.after);
            self.stops_after = None;
        }
    }

    /// Messages sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    fn send_until(&mut self, now: SimTime, queue: &mut SimQueue<Msg>) {
        while let Some(&(seq, offset)) = self.schedule.peek() {
            let at = self.start + offset;
            if at > now || self.stop.is_some_and(|stop| at >= stop) {
                break;
            }
            self.schedule.next();
            queue.send(at, Msg::new(seq), Duration::ZERO);
            self.sent += 1;
        }
    }
}

/// Which processing of which message happened, for duplicates.
#[derive(Debug, Clone, Default)]
struct Ledger {
    processed: Vec<u8>,
    distinct: u64,
    total: u64,
}

impl Ledger {
    fn record(&mut self, seq: u64) {
        let index = usize::try_from(seq).unwrap_or(usize::MAX);
        if self.processed.len() <= index {
            self.processed.resize(index + 1, 0);
        }
        if self.processed[index] == 0 {
            self.distinct += 1;
        }
        self.processed[index] = self.processed[index].saturating_add(1);
        self.total += 1;
    }
}

/// One circuit's part of the world.
#[derive(Debug)]
pub struct CircuitWorld {
    /// The resources' names.
    pub names: Names,
    /// The source queue.
    pub source: SimQueue<Msg>,
    /// The source's dead-letter queue (nothing consumes it).
    pub dlq: Vec<Msg>,
    /// The overflow queue (only a breaker uses it).
    pub overflow: SimQueue<Msg>,
    /// The consumer.
    pub consumer: Consumer,
    /// What the consumer calls.
    pub downstream: Downstream,
    /// The circuit's alarms.
    pub alarms: Vec<SimAlarm>,
    /// The mapping's tags (where a breaker keeps its state).
    pub tags: BTreeMap<String, String>,
    producer: Producer,
    ledger: Ledger,
    expired: Vec<u64>,
    depth_metric: MetricKey,
    age_metric: MetricKey,
    disabled_at: Option<SimTime>,
}

/// What a circuit's part of the world is made of.
#[derive(Debug)]
pub struct CircuitParts {
    /// The resources' names.
    pub names: Names,
    /// The source queue.
    pub source: SimQueue<Msg>,
    /// The overflow queue.
    pub overflow: SimQueue<Msg>,
    /// The consumer.
    pub consumer: Consumer,
    /// What it calls.
    pub downstream: Downstream,
    /// What feeds the source.
    pub producer: Producer,
    /// The circuit's alarms.
    pub alarms: Vec<SimAlarm>,
}

impl CircuitWorld {
    /// A circuit made of `parts`.
    pub fn new(parts: CircuitParts) -> Self {
        Self {
            depth_metric: MetricKey::new(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "QueueName",
                &parts.names.source,
            ),
            age_metric: MetricKey::new(
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                "QueueName",
                &parts.names.source,
            ),
            names: parts.names,
            source: parts.source,
            dlq: Vec::new(),
            overflow: parts.overflow,
            consumer: parts.consumer,
            downstream: parts.downstream,
            alarms: parts.alarms,
            tags: BTreeMap::new(),
            producer: parts.producer,
            ledger: Ledger::default(),
            expired: Vec::new(),
            disabled_at: None,
        }
    }

    /// When its mapping first showed `Disabled`.
    pub fn disabled_at(&self) -> Option<SimTime> {
        self.disabled_at
    }

    /// Tells what is timed from events that one happened: the mapping's first `Disabled`.
    fn watch_events(&mut self, now: SimTime) {
        if self.disabled_at.is_none() && self.consumer.mapping.state(now) == MappingState::Disabled
        {
            self.disabled_at = Some(now);
            self.downstream.on_event(SimEvent::MappingDisabled, now);
            self.producer.on_event(SimEvent::MappingDisabled, now);
        }
    }

    /// Where its messages are now.
    pub fn accounting(&self) -> Accounting {
        const CONSUMED: u8 = 1;
        const QUEUED: u8 = 2;
        const DEAD: u8 = 4;
        const EXPIRED: u8 = 8;
        let sent = self.producer.sent();
        let mut places = vec![0u8; usize::try_from(sent).unwrap_or(usize::MAX)];
        let mut mark = |seq: u64, place: u8| {
            if let Some(slot) = usize::try_from(seq).ok().and_then(|i| places.get_mut(i)) {
                *slot |= place;
            }
        };
        for (seq, &count) in self.ledger.processed.iter().enumerate() {
            if count > 0 {
                mark(seq as u64, CONSUMED);
            }
        }
        self.source
            .payloads()
            .chain(self.overflow.payloads())
            .chain(self.consumer.held_messages())
            .for_each(|m| mark(m.seq, QUEUED));
        self.dlq.iter().for_each(|m| mark(m.seq, DEAD));
        self.expired.iter().for_each(|&seq| mark(seq, EXPIRED));
        let mut a = Accounting {
            sent,
            duplicates: self.ledger.total - self.ledger.distinct,
            ..Accounting::default()
        };
        for place in places {
            match place {
                0 => a.lost += 1,
                p if p & CONSUMED != 0 => a.consumed += 1,
                p if p & QUEUED != 0 => a.still_queued += 1,
                p if p & DEAD != 0 => a.dead_lettered += 1,
                _ => a.expired += 1,
            }
        }
        a
    }

    /// Counts messages SQS expired on a breaker's receive.
    pub fn note_expired(&mut self, messages: &[Msg]) {
        self.expired.extend(messages.iter().map(|m| m.seq));
    }

    /// Puts dead-lettered messages in the DLQ (a breaker's receives can dead-letter too).
    pub fn note_dead_lettered(&mut self, messages: Vec<Msg>) {
        self.dlq.extend(messages);
    }
}

/// Which queue of a circuit a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueRole {
    /// The source queue.
    Source,
    /// Its dead-letter queue.
    Dlq,
    /// The overflow queue.
    Overflow,
}

/// The Lambda control plane's request budget: a token bucket of `rate` requests per second
/// (Lambda quotas: 15 control-plane requests per second per account and Region, shared by
/// every caller), holding at most one second's worth.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    rate: f64,
    tokens: f64,
    last: SimTime,
    /// Requests made.
    pub calls: u64,
    /// Requests refused with `TooManyRequestsException`.
    pub throttled: u64,
}

impl ControlPlane {
    /// A full bucket of `rate` requests per second.
    pub fn new(rate: f64) -> Self {
        Self {
            rate,
            tokens: rate,
            last: SimTime::ZERO,
            calls: 0,
            throttled: 0,
        }
    }

    /// Takes one request at `now`; `false` when it is throttled.
    pub fn admit(&mut self, now: SimTime) -> bool {
        let elapsed = now.since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.calls += 1;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.throttled += 1;
            false
        }
    }
}

/// The whole world.
#[derive(Debug)]
pub struct World {
    /// The parameter profile.
    pub profile: Profile,
    /// CloudWatch's metrics.
    pub metrics: Metrics,
    /// The circuits.
    pub circuits: Vec<CircuitWorld>,
    /// How long an alarm action takes to reach its Lambda function.
    pub action_delay: Duration,
    /// How long one AWS API call takes.
    pub api_latency: Duration,
    /// The Lambda control plane's budget.
    pub control_plane: ControlPlane,
    now: SimTime,
    step: Duration,
    rng: ChaCha8Rng,
    actions: Vec<AlarmAction>,
    next_queue_metrics: SimTime,
}

impl World {
    /// A world of `circuits` at time zero, advancing in `step`s, seeded with `seed`.
    pub fn new(profile: Profile, circuits: Vec<CircuitWorld>, step: Duration, seed: u64) -> Self {
        Self {
            metrics: Metrics::with_resolution(profile.metric_resolution),
            circuits,
            action_delay: profile.alarm_action_delay,
            profile,
            // Not documented either: a typical in-Region API round trip, this model's assumption.
            api_latency: Duration::from_millis(20),
            control_plane: ControlPlane::new(15.0),
            now: SimTime::ZERO,
            step,
            rng: ChaCha8Rng::seed_from_u64(seed),
            actions: Vec::new(),
            next_queue_metrics: SimTime::ZERO,
        }
    }

    /// The current time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Runs every step up to `until`.
    pub fn run_until(&mut self, until: SimTime) {
        while self.now < until {
            let next = (self.now + self.step).min(until);
            self.step_to(next);
        }
    }

    /// Alarm actions that have arrived by now, oldest first.
    pub fn take_actions(&mut self) -> Vec<AlarmAction> {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.actions.drain(..).partition(|a| a.arrives <= now);
        self.actions = later;
        due
    }

    /// The circuit whose mapping has `uuid`.
    pub fn circuit_by_uuid(&self, uuid: &str) -> Option<usize> {
        self.circuits.iter().position(|c| c.names.uuid == uuid)
    }

    /// The circuit whose mapping's ARN is `arn`.
    pub fn circuit_by_mapping_arn(&self, arn: &str) -> Option<usize> {
        self.circuits
            .iter()
            .position(|c| c.names.mapping_arn() == arn)
    }

    /// The circuit whose consumer is `function` (a name or an ARN).
    pub fn circuit_by_function(&self, function: &str) -> Option<usize> {
        // `name`, `name:qualifier` or `arn:…:function:name[:qualifier]`.
        let name = function
            .split(":function:")
            .last()
            .and_then(|rest| rest.split(':').next())
            .unwrap_or(function);
        self.circuits.iter().position(|c| c.names.function == name)
    }

    /// The circuit and role of the queue at `url`.
    pub fn queue_by_url(&self, url: &str) -> Option<(usize, QueueRole)> {
        self.circuits.iter().enumerate().find_map(|(i, c)| {
            [
                (&c.names.source, QueueRole::Source),
                (&c.names.dlq, QueueRole::Dlq),
                (&c.names.overflow, QueueRole::Overflow),
            ]
            .into_iter()
            .find(|(name, _)| Names::queue_url(name) == url)
            .map(|(_, role)| (i, role))
        })
    }

    /// Where the messages of every circuit are.
    pub fn accounting(&self) -> Vec<Accounting> {
        self.circuits.iter().map(CircuitWorld::accounting).collect()
    }

    fn step_to(&mut self, now: SimTime) {
        self.now = now;
        let queue_metrics = now >= self.next_queue_metrics;
        if queue_metrics {
            // SQS sends its metrics once a minute (SQS Developer Guide, "Available
            // CloudWatch metrics for Amazon SQS").
            self.next_queue_metrics = now + Duration::from_mins(1);
        }
        for (index, circuit) in self.circuits.iter_mut().enumerate() {
            circuit.watch_events(now);
            circuit.producer.send_until(now, &mut circuit.source);
            let mut spilled = Spilled::default();
            let ledger = &mut circuit.ledger;
            circuit.consumer.step(
                now,
                &mut circuit.source,
                &mut circuit.downstream,
                &mut self.metrics,
                &mut self.rng,
                &mut |message, _| ledger.record(message.seq),
                &mut spilled,
            );
            circuit.dlq.extend(spilled.dead_lettered);
            circuit.note_expired(&spilled.expired);
            if queue_metrics {
                let depth = circuit.source.depth(now);
                #[allow(clippy::cast_precision_loss)] // depths stay far below 2^52
                self.metrics
                    .put(&circuit.depth_metric, now, depth.visible as f64);
                // The oldest non-deleted message, in whole seconds; nothing when no message
                // counts (`crate::sim::queue`, "ApproximateAgeOfOldestMessage"). LocalStack
                // does not publish it (`crate::sim::params`, `sqs_age_metric`).
                if self.profile.sqs_age_metric
                    && let Some(age) = circuit.source.age_of_oldest(now)
                {
                    #[allow(clippy::cast_precision_loss)] // seconds stay far below 2^52
                    self.metrics
                        .put(&circuit.age_metric, now, age.as_secs() as f64);
                }
            }
            for (alarm_index, alarm) in circuit.alarms.iter_mut().enumerate() {
                for (changed, state) in alarm.evaluate_until(now, &self.metrics) {
                    // The circuit's alarms have ALARM and OK actions, as the infra modules
                    // create them; INSUFFICIENT_DATA has none.
                    if state == AlarmState::InsufficientData {
                        continue;
                    }
                    self.actions.push(AlarmAction {
                        circuit: index,
                        alarm: alarm_index,
                        state,
                        changed,
                        arrives: changed + self.action_delay,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::sim::scenario::Scenario;

    /// Ten messages a second into a queue whose consumer is stopped from the start.
    const STALLED: &str = r#"
        name = "stalled"
        duration = "15m"
        load = { kind = "constant", rate = 10 }
        downstream = { capacity_per_sec = 100, latency = "20ms" }
        [alarms]
        errors = false
        throttles = false
        depth = false
    "#;

    fn stalled(profile: &Profile) -> World {
        let scenario = Scenario::from_toml(STALLED, Path::new("stalled.toml")).expect("valid");
        let mut world = scenario.world(profile, None).expect("a world");
        world.circuits[0]
            .consumer
            .mapping
            .update(SimTime::ZERO, Some(false), None)
            .expect("disabled");
        world
    }

    #[test]
    #[allow(clippy::float_cmp)] // thresholds set from literals
    fn the_age_alarm_fires_when_the_consumer_stalls() {
        let mut world = stalled(&Profile::aws());
        let alarm = &world.circuits[0].alarms[0];
        assert_eq!(alarm.name, "stalled-0-age");
        assert_eq!(alarm.config.threshold(), 300.0);
        world.run_until(SimTime::from_secs(15 * 60));
        // The mapping takes 10 s to show Disabled, so the oldest message left was sent at
        // about 10 s. One sample a minute: at least 300 s from the sample at the start of
        // minute 6 on. Minutes 6 and 7 breach (2 of 3), visible a minute after minute 7 ends
        // (at 9 min): ALARM at that evaluation.
        let alarm = &world.circuits[0].alarms[0];
        assert_eq!(
            alarm.transitions(),
            &[
                (SimTime::from_secs(60), AlarmState::Ok),
                (SimTime::from_secs(9 * 60), AlarmState::Alarm)
            ]
        );
        let actions = world.take_actions();
        assert_eq!(
            actions.last().map(|a| (a.alarm, a.state, a.changed)),
            Some((0, AlarmState::Alarm, SimTime::from_secs(9 * 60)))
        );
    }

    #[test]
    fn localstack_publishes_no_age_so_its_alarm_stays_ok() {
        let mut world = stalled(&Profile::localstack());
        world.run_until(SimTime::from_secs(15 * 60));
        let alarm = &world.circuits[0].alarms[0];
        assert_eq!(alarm.state(), AlarmState::Ok);
        assert!(
            alarm
                .transitions()
                .iter()
                .all(|(_, s)| *s == AlarmState::Ok),
            "{:?}",
            alarm.transitions()
        );
    }
}
