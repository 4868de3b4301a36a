//! Overflow: while a circuit is tripped, move its source's excess over a ceiling to an overflow
//! queue; once it has been Closed long enough, replay the overflow back — both at a limited
//! rate, and never losing a message.
//!
//! The step runs at the end of every reconcile of a circuit with an `overflow` block (see
//! [`crate::config`]), after the state was decided, applied and recorded, so it sees the state
//! this invocation settled on: a trip moves at once, and a trip stops replay at once.
//!
//! - [`plan()`] (pure) decides: move in Open, Throttled and `HalfOpen` when the source's
//!   visible depth is over the ceiling (the excess, at most `max_moves_per_invocation`);
//!   feed a `HalfOpen` probe whose source is nearly empty with up to [`PROBE_FEED`] messages
//!   from the overflow (a probe with no traffic cannot pass);
//!   replay in Closed after `replay_after_secs`, while the source is under its ceiling (at
//!   most `max_replays_per_invocation` and the headroom below the ceiling); nothing in
//!   Ramping or dry-run.
//! - Before acting, the queues' configuration is read ([`Limits`]): redrive policies, size
//!   limits, retention, and the circuit's DLQ.
//! - [`transfer()`] carries it out in batches of up to 10, paced by a `governor` limiter at
//!   `move_rate_per_sec` / `replay_rate_per_sec`.
//! - [`batch`] (pure) is the bookkeeping of one batch.
//!
//! Guarantees:
//!
//! - **Send first, delete only what was sent.** A message is deleted from the queue it was
//!   received from only after SQS confirmed its copy; so delivery is at-least-once: a crash or
//!   a failed delete between the two leaves a duplicate, never a loss. Failed deletes are
//!   counted (`delete_failed`) and logged, and the undeleted original is held like a message
//!   that stays (below), not received again at once.
//! - **Nothing is dropped.** A copy carries the original's body, message attributes and
//!   trace header, plus one attribute saying where, when and why it moved
//!   ([`batch::MOVED_ATTRIBUTE`] / [`batch::REPLAYED_ATTRIBUTE`], JSON [`batch::Provenance`]).
//!   A send that fails leaves the original where it was: made visible again at once when SQS
//!   failed (and the transfer stops for this invocation), held back for
//!   [`transfer::UNMOVABLE_HOLD`] when it would fail again.
//! - **Receive-count aware.** SQS moves a message to its queue's DLQ when a receive would
//!   take its `ApproximateReceiveCount` past the redrive policy's `maxReceiveCount` (SQS
//!   Developer Guide, dead-letter queues), and every receive counts, the controller's
//!   included. Before each transfer the controller reads the queues' `RedrivePolicy`
//!   (`GetQueueAttributes`). A message it received but cannot send to its target stays in its
//!   queue with at least one delivery left, and that delivery is its consumer's: with one
//!   left, it is hidden for [`batch::LAST_DELIVERY_HOLD`] (11 h: SQS caps a visibility
//!   timeout at 12 h from the receive, `ChangeMessageVisibility`), so the controller does not
//!   receive it again first. When the controller's receive was its last delivery (the message
//!   had already failed `maxReceiveCount - 1` times), leaving it would let SQS move it to the
//!   DLQ at its next receive without a word; it goes to the DLQ now, with its reason.
//! - **Size aware.** SQS refuses a message larger than the queue's `MaximumMessageSize`,
//!   body and every part of every message attribute counted (1 MiB = 1,048,576 bytes at
//!   most, SQS message quotas); the trace header, a system attribute, does not count. A copy
//!   is measured with its provenance against the target's limit (read before the transfer)
//!   and not sent when over it: a move leaves it in the source (`unmovable`); a replay, whose
//!   message would otherwise wait in the overflow queue until it expires, sends it to the
//!   DLQ. A message that already has SQS's 10 message attributes has no room for a
//!   provenance and is `unmovable` too.
//! - **Replay never refills the source past its ceiling**: it starts only under the ceiling
//!   ([`plan()`]), and before each batch it checks the room `ceiling - visible` left in the
//!   source (the depth read again every [`REPLAY_RECHECK`], less what it replayed since),
//!   sending no more than that and waiting for the consumer to make room when there is
//!   none; so a replay cannot push the source back over the level that trips moves, and
//!   the circuit does not flap, while a consumer that keeps up gets the replay at its full
//!   rate for the whole invocation.
//! - **Replay checks provenance.** A message is replayed only to the source its
//!   [`batch::MOVED_ATTRIBUTE`] names, and only if that is this circuit's source; the
//!   configuration also refuses overflow queues shared between circuits or used as another
//!   circuit's source. A message without provenance, or from another source, has no source
//!   it may go to: it goes to the DLQ with its reason.
//! - **Replay hop limit, and no fresh attempts for a failing message.** SQS gives a message
//!   sent to a queue a fresh receive count, so every replay would give a failing message
//!   `maxReceiveCount` new attempts. The provenance counts replays and the deliveries the
//!   message had in the source (its receive count when moved, less the controller's own
//!   receive); a message replayed `max_replays_per_message` times, or whose consumer already
//!   had the source's `maxReceiveCount` deliveries, goes to the DLQ with its reason.
//! - **Nothing expires silently in the overflow queue.** SQS deletes a message
//!   `MessageRetentionPeriod` after it was sent to a queue (60 s to 14 days, default 4 days,
//!   SQS message quotas). A move waits, with its reason, while the overflow queue keeps
//!   messages for less time than the source (the copy would expire sooner than the original);
//!   a hold never runs into the last hour of a message's retention; and every message a
//!   replay cannot send to the source goes to the DLQ rather than wait in the overflow queue.
//! - **The DLQ only with a reason.** The circuit's DLQ is the source's `deadLetterTargetArn`,
//!   turned into a URL with `GetQueueUrl` (`QueueOwnerAWSAccountId` from the ARN). The
//!   controller sends a message there only for a [`batch::DeadLetterCause`], recorded in
//!   [`batch::DEAD_LETTER_ATTRIBUTE`] with its provenance; it is deleted from its queue only
//!   once the DLQ confirmed it, and counted (`dead_lettered`, metric `DeadLettered`). An
//!   operator moves it back with a DLQ redrive (`StartMessageMoveTask`) once fixed. A message
//!   that cannot carry the reason (10 attributes of its own) or when the DLQ is unknown or
//!   refuses it stays where it is, held for [`batch::LAST_DELIVERY_HOLD`]; if that was its
//!   last delivery, SQS's own redrive eventually takes it — the one way left for a message to
//!   reach the DLQ without Floodgate's reason, and still no loss.
//! - **Replay stops when the circuit trips.** Replay only starts in Closed, the state is
//!   decided afresh every invocation, and within an invocation the circuit's alarms are read
//!   again at least every [`REPLAY_RECHECK`] of replaying: one in ALARM ends the replay at
//!   once. The per-invocation budget bounds what a trip can still let through.
//! - **Standard queues only**: FIFO queues are refused by the configuration.
//!
//! Each step is reported in [`CircuitStatus::overflow`](crate::protocol::CircuitStatus), in
//! one log line, and in one EMF line (metrics `Moved`, `Replayed`, `SendFailed`,
//! `DeleteFailed`, `Unmovable`, `DeadLettered`, and `OverflowDepth` when known).

pub mod batch;
mod plan;
pub mod transfer;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use batch::{DeadLetterCause, Direction, Limits, Provenance, Tally, Transfer};
pub use plan::{Idle, PROBE_FEED, Plan, ReplayFor, plan};
pub use transfer::{Pacer, transfer};

use crate::config::Circuit;
use crate::context::{Budget, Context};
use crate::metrics::{EmfLine, Unit};
use crate::operation::Operation;
use crate::policy::{AlarmState, CircuitState};
use crate::ports::{Alarms, Clock, Ports, QueueAttributes, QueueStatus, Queues};
use crate::protocol::{OverflowAction, OverflowReport};

/// During a replay, the circuit's alarms are read again whenever this much time has passed
/// since the last reading: a trip stops the replay within about this long, for one
/// `DescribeAlarms` call per interval.
pub const REPLAY_RECHECK: Duration = Duration::from_secs(1);

/// The overflow step of one reconcile of `circuit`, which settled on `state` at `now`;
/// `source` is the source's depth as observed. `None` when the circuit has no overflow.
/// Never fails: what went wrong is in the report's `stopped` and in the log. Stops when
/// `budget` runs out (what is left is moved by the next invocation).
pub async fn run<P: Ports>(
    ctx: Context<'_, P>,
    circuit: &Circuit,
    state: &CircuitState,
    source: Option<QueueStatus>,
    now: DateTime<Utc>,
    budget: Budget,
) -> Option<OverflowReport> {
    let config = circuit.overflow()?;
    // The configuration requires a source queue with an overflow block.
    let source_url = circuit.queue_url()?;
    let overflow_depth = overflow_depth(ctx, circuit, config.queue_url()).await;
    let plan = plan(
        state,
        now,
        source.map(|q| q.visible),
        overflow_depth,
        config,
    );
    let mut report = OverflowReport {
        action: OverflowAction::Idle,
        reason: plan.to_string(),
        planned: plan.count(),
        overflow_depth,
        ..OverflowReport::default()
    };
    let (direction, from, to, pacer) = match plan {
        Plan::Idle(_) => {
            finish(ctx, circuit, &report, now);
            return Some(report);
        }
        Plan::Move { .. } => (
            Direction::Move,
            source_url,
            config.queue_url(),
            Pacer::per_second(config.move_rate_per_sec()),
        ),
        Plan::Replay { .. } => (
            Direction::Replay,
            config.queue_url(),
            source_url,
            Pacer::per_second(config.replay_rate_per_sec()),
        ),
    };
    let limits = match read_limits(ctx, circuit, source_url, config.queue_url(), direction).await {
        Ok(Ok(limits)) => limits,
        Ok(Err(refusal)) => {
            report.reason = format!("{}, but {refusal}", report.reason);
            finish(ctx, circuit, &report, now);
            return Some(report);
        }
        Err(error) => {
            report.stopped = Some(format!("queue attributes unreadable: {error}"));
            finish(ctx, circuit, &report, now);
            return Some(report);
        }
    };
    let job = Transfer {
        circuit: circuit.name().to_owned(),
        direction,
        from: from.to_owned(),
        to: to.to_owned(),
        reason: report.reason.clone(),
        in_flight: transfer::IN_FLIGHT_VISIBILITY,
        hold: transfer::UNMOVABLE_HOLD,
        limits,
    };
    // Only a replay watches the alarms (a move happens because the circuit is tripped) and
    // the source's room below its ceiling.
    let budget = match direction {
        Direction::Move => budget,
        Direction::Replay => budget.for_replay(),
    };
    let mut guard = (direction == Direction::Replay).then(|| ReplayGuard {
        alarms: AlarmWatch::new(ctx.ports, circuit.alarm_names()),
        room: SourceRoom::new(
            ctx.ports,
            source_url,
            config.ceiling(),
            source.map_or(0, |q| q.visible),
        ),
        budget,
    });
    let tally = transfer(
        ctx.ports,
        &pacer,
        &job,
        plan.count(),
        now,
        async |transferred| match &mut guard {
            Some(guard) => guard.allow(transferred).await,
            None if budget.remaining(ctx.ports).is_zero() => Err(BUDGET_USED.to_owned()),
            None => Ok(u64::MAX),
        },
    )
    .await;
    tallied(&mut report, direction, tally);
    finish(ctx, circuit, &report, now);
    Some(report)
}

/// `report` with what a transfer `direction` did.
fn tallied(report: &mut OverflowReport, direction: Direction, tally: Tally) {
    report.action = match direction {
        Direction::Move => OverflowAction::Move,
        Direction::Replay => OverflowAction::Replay,
    };
    match direction {
        Direction::Move => report.moved = tally.transferred,
        Direction::Replay => report.replayed = tally.transferred,
    }
    report.send_failed = tally.send_failed;
    report.delete_failed = tally.delete_failed;
    report.unmovable = tally.unmovable;
    report.dead_lettered = tally.dead_lettered;
    report.stopped = tally.stopped;
}

/// The overflow part of a status read: the overflow queue's depth, nothing moved. `None`
/// when the circuit has no overflow.
pub async fn inspect<P: Ports>(ctx: Context<'_, P>, circuit: &Circuit) -> Option<OverflowReport> {
    let config = circuit.overflow()?;
    Some(OverflowReport {
        reason: "status: a status read moves nothing".to_owned(),
        overflow_depth: overflow_depth(ctx, circuit, config.queue_url()).await,
        ..OverflowReport::default()
    })
}

async fn overflow_depth<P: Ports>(
    ctx: Context<'_, P>,
    circuit: &Circuit,
    url: &str,
) -> Option<u64> {
    match ctx.ports.queue_depth(url).await {
        Ok(depth) => Some(depth.visible),
        Err(error) => {
            tracing::warn!(circuit = circuit.name(), error = %error, "overflow queue depth unreadable");
            None
        }
    }
}

/// The [`Limits`] of a transfer `direction` between `source` and `overflow`, read from the
/// queues: their redrive policies, size limits and retention, and the circuit's DLQ (the
/// source's `deadLetterTargetArn`, turned into a URL with `GetQueueUrl`). `Ok(Err(why))`
/// when the queues forbid the transfer: a move into an overflow queue that keeps messages
/// for a shorter time than the source would make them expire sooner than if left alone.
///
/// A DLQ that cannot be found or read leaves `dead_letter` empty (logged): what would go
/// there then stays where it is, which loses nothing.
async fn read_limits<P: Ports>(
    ctx: Context<'_, P>,
    circuit: &Circuit,
    source: &str,
    overflow: &str,
    direction: Direction,
) -> Result<Result<Limits, String>, crate::Error> {
    let source_attributes = ctx.ports.queue_attributes(source).await?;
    let overflow_attributes = ctx.ports.queue_attributes(overflow).await?;
    if direction == Direction::Move && overflow_attributes.retention < source_attributes.retention {
        return Ok(Err(format!(
            "the overflow queue keeps messages {} s, less than the source's {} s \
             (MessageRetentionPeriod): moving them would make them expire sooner",
            overflow_attributes.retention.as_secs(),
            source_attributes.retention.as_secs()
        )));
    }
    let dead_letter = match &source_attributes.redrive {
        Some(redrive) => match dead_letter_queue(ctx, &redrive.dead_letter_target_arn).await {
            Ok(queue) => Some(queue),
            Err(error) => {
                tracing::warn!(
                    circuit = circuit.name(),
                    dlq = %redrive.dead_letter_target_arn,
                    error = %error,
                    "the source's DLQ cannot be read: messages bound for it stay where they are"
                );
                None
            }
        },
        None => None,
    };
    let receives = |a: &QueueAttributes| a.redrive.as_ref().map(|r| r.max_receive_count);
    let (from, to) = match direction {
        Direction::Move => (&source_attributes, &overflow_attributes),
        Direction::Replay => (&overflow_attributes, &source_attributes),
    };
    Ok(Ok(Limits {
        from_max_receives: receives(from),
        from_retention: Some(from.retention),
        to_max_size: to.maximum_message_size,
        source_max_receives: receives(&source_attributes),
        max_replays: circuit
            .overflow()
            .map_or(u32::MAX, |o| o.max_replays_per_message().get()),
        dead_letter,
    }))
}

/// The queue at `arn` (`arn:aws:sqs:<region>:<account>:<name>`) and its size limit.
async fn dead_letter_queue<P: Ports>(
    ctx: Context<'_, P>,
    arn: &str,
) -> Result<batch::DeadLetterQueue, crate::Error> {
    let parts: Vec<&str> = arn.split(':').collect();
    let [_, _, "sqs", _, account, name] = parts[..] else {
        return Err(crate::Error::aws(
            Operation::GetQueueUrl,
            crate::error::AwsFault::Other,
            None,
            &format!("{arn} is not an SQS queue ARN"),
        ));
    };
    let url = ctx.ports.queue_url(name, account).await?;
    let attributes = ctx.ports.queue_attributes(&url).await?;
    Ok(batch::DeadLetterQueue {
        url,
        maximum_message_size: attributes.maximum_message_size,
    })
}

/// Reads the circuit's alarms again during a replay, at most once per [`REPLAY_RECHECK`] of
/// the ports' clock.
struct AlarmWatch<'a, A: ?Sized> {
    alarms: &'a A,
    names: &'a [String],
    last: Duration,
}

impl<'a, A: Alarms + Clock + ?Sized> AlarmWatch<'a, A> {
    fn new(alarms: &'a A, names: &'a [String]) -> Self {
        Self {
            alarms,
            names,
            last: alarms.monotonic(),
        }
    }

    /// Why the replay must stop, if it must: an alarm of the circuit in ALARM, or alarms
    /// that cannot be read (a replay that cannot see a trip does not go on blind).
    async fn tripped(&mut self) -> Option<String> {
        let now = self.alarms.monotonic();
        if now.saturating_sub(self.last) < REPLAY_RECHECK {
            return None;
        }
        self.last = now;
        match self.alarms.describe_alarms(self.names).await {
            Ok(alarms) => alarms
                .iter()
                .find(|a| a.state == AlarmState::Alarm)
                .map(|a| format!("alarm {} is in ALARM: the circuit is tripping", a.name)),
            Err(error) => Some(format!("alarms unreadable, replay paused: {error}")),
        }
    }
}

/// The source's room below its ceiling during a replay: its visible depth as last read, less
/// what was replayed since. Read again at most once per [`REPLAY_RECHECK`] (one
/// `GetQueueAttributes`): the consumer drains the source meanwhile, so a replay can go on at
/// its rate for the whole invocation while the source stays under its ceiling, instead of
/// stopping at the room it saw when it started.
struct SourceRoom<'a, Q: ?Sized> {
    queues: &'a Q,
    url: &'a str,
    ceiling: u64,
    visible: u64,
    transferred_at_read: u64,
    last: Duration,
}

impl<'a, Q: Queues + Clock + ?Sized> SourceRoom<'a, Q> {
    fn new(queues: &'a Q, url: &'a str, ceiling: u64, visible: u64) -> Self {
        Self {
            queues,
            url,
            ceiling,
            visible,
            transferred_at_read: 0,
            last: queues.monotonic(),
        }
    }

    /// The room left below the ceiling, `transferred` having gone so far; the depth is read
    /// again when [`REPLAY_RECHECK`] has passed since the last reading. `Err` when it cannot
    /// be read: a replay that cannot see the source does not go on blind.
    async fn room(&mut self, transferred: u64) -> Result<u64, String> {
        let now = self.queues.monotonic();
        if now.saturating_sub(self.last) >= REPLAY_RECHECK {
            self.last = now;
            let depth = self
                .queues
                .queue_depth(self.url)
                .await
                .map_err(|error| format!("source depth unreadable: {error}"))?;
            self.visible = depth.visible;
            self.transferred_at_read = transferred;
        }
        let queued = self
            .visible
            .saturating_add(transferred.saturating_sub(self.transferred_at_read));
        Ok(self.ceiling.saturating_sub(queued))
    }

    /// How long until the depth is read again.
    fn next_reading_in(&self) -> Duration {
        REPLAY_RECHECK.saturating_sub(self.queues.monotonic().saturating_sub(self.last))
    }
}

/// Why a transfer ends when its time is up.
const BUDGET_USED: &str = "the invocation's time budget is used up";

/// What a replay checks before each batch: its budget, the circuit's alarms and the
/// source's room.
struct ReplayGuard<'a, P: ?Sized> {
    alarms: AlarmWatch<'a, P>,
    room: SourceRoom<'a, P>,
    budget: Budget,
}

impl<P: Alarms + Queues + Clock + ?Sized> ReplayGuard<'_, P> {
    /// How many messages may go next, `transferred` having gone so far: at least one, once
    /// the consumer has made room. While the source holds its ceiling it waits, reading the
    /// alarms and the depth every [`REPLAY_RECHECK`] (a trip still ends the replay within
    /// about a second); `Err` with the reason when the replay must end.
    async fn allow(&mut self, transferred: u64) -> Result<u64, String> {
        loop {
            if self.budget.remaining(self.room.queues).is_zero() {
                return Err(BUDGET_USED.to_owned());
            }
            if let Some(reason) = self.alarms.tripped().await {
                return Err(reason);
            }
            let room = self.room.room(transferred).await?;
            if room > 0 {
                return Ok(room);
            }
            let wait = self.room.next_reading_in();
            if self.budget.remaining(self.room.queues) <= wait {
                return Err(format!(
                    "the source holds its ceiling ({}) and the budget ends before the consumer makes room",
                    self.room.ceiling
                ));
            }
            self.room.queues.sleep(wait).await;
        }
    }
}

/// Logs the step and writes its EMF line.
fn finish<P>(ctx: Context<'_, P>, circuit: &Circuit, report: &OverflowReport, now: DateTime<Utc>) {
    let action = report.action.as_str();
    if report.action == OverflowAction::Idle {
        tracing::debug!(circuit = circuit.name(), reason = %report.reason, "overflow idle");
    } else {
        tracing::info!(
            circuit = circuit.name(),
            action,
            reason = %report.reason,
            planned = report.planned,
            moved = report.moved,
            replayed = report.replayed,
            send_failed = report.send_failed,
            delete_failed = report.delete_failed,
            unmovable = report.unmovable,
            dead_lettered = report.dead_lettered,
            overflow_depth = report.overflow_depth,
            stopped = report.stopped.as_deref(),
            "overflow"
        );
    }
    ctx.recorder.record(&emf(circuit.name(), report, now));
}

/// The step's EMF line: namespace [`crate::metrics::NAMESPACE`], dimension `Circuit`.
pub fn emf(circuit: &str, report: &OverflowReport, at: DateTime<Utc>) -> String {
    let mut line = EmfLine::new(circuit, at)
        .property("OverflowAction", report.action.as_str())
        .metric("Moved", Unit::Count, report.moved)
        .metric("Replayed", Unit::Count, report.replayed)
        .metric("SendFailed", Unit::Count, report.send_failed)
        .metric("DeleteFailed", Unit::Count, report.delete_failed)
        .metric("Unmovable", Unit::Count, report.unmovable)
        .metric("DeadLettered", Unit::Count, report.dead_lettered);
    if let Some(depth) = report.overflow_depth {
        line = line.metric("OverflowDepth", Unit::Count, depth);
    }
    line.render()
}
