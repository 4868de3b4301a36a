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
//!   replay in Closed after `replay_after_secs`, while the source is within its ceiling (at
//!   most `max_replays_per_invocation`); nothing in Ramping or dry-run.
//! - [`transfer()`] carries it out in batches of up to 10, paced by a `governor` limiter at
//!   `move_rate_per_sec` / `replay_rate_per_sec`.
//! - [`batch`] (pure) is the bookkeeping of one batch.
//!
//! Guarantees:
//!
//! - **Send first, delete only what was sent.** A message is deleted from the queue it was
//!   received from only after SQS confirmed its copy; so delivery is at-least-once: a crash or
//!   a failed delete between the two leaves a duplicate, never a loss. Failed deletes are
//!   counted (`delete_failed`) and logged.
//! - **Nothing is dropped.** A copy carries the original's body, message attributes and
//!   trace header, plus one attribute saying where, when and why it moved
//!   ([`batch::MOVED_ATTRIBUTE`] / [`batch::REPLAYED_ATTRIBUTE`], JSON [`batch::Provenance`]).
//!   A message already at SQS's limit of 10 attributes has no room for it and stays where it
//!   is (`unmovable`). A send that fails leaves the original where it was: made visible again
//!   at once when SQS failed (and the transfer stops for this invocation), held back for
//!   [`transfer::UNMOVABLE_HOLD`] when SQS refused it as the sender's fault.
//! - **Replay stops when the circuit trips.** Replay only starts in Closed, the state is
//!   decided afresh every invocation, and within an invocation the circuit's alarms are read
//!   again at least every [`REPLAY_RECHECK`] of replaying: one in ALARM ends the replay at
//!   once. The per-invocation budget bounds what a trip can still let through.
//! - **Standard queues only**: FIFO queues are refused by the configuration.
//!
//! Each step is reported in [`CircuitStatus::overflow`](crate::protocol::CircuitStatus), in
//! one log line, and in one EMF line (metrics `Moved`, `Replayed`, `SendFailed`,
//! `DeleteFailed`, `Unmovable`, and `OverflowDepth` when known).

pub mod batch;
mod plan;
pub mod transfer;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

pub use batch::{Direction, Provenance, Tally, Transfer};
pub use plan::{Idle, Plan, plan};
pub use transfer::{Pacer, transfer};

use crate::config::Circuit;
use crate::metrics::NAMESPACE;
use crate::policy::{AlarmState, CircuitState};
use crate::ports::{Alarms, Ports};
use crate::protocol::{OverflowAction, OverflowReport, QueueStatus};
use crate::reconcile::{Budget, Context};
use crate::retry::{RetryPolicy, retry};

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
    let job = Transfer {
        circuit: circuit.name().to_owned(),
        direction,
        from: from.to_owned(),
        to: to.to_owned(),
        reason: report.reason.clone(),
        in_flight: transfer::IN_FLIGHT_VISIBILITY,
        hold: transfer::UNMOVABLE_HOLD,
    };
    // Only a replay watches the alarms: a move happens because the circuit is tripped.
    let mut watch = (direction == Direction::Replay)
        .then(|| AlarmWatch::new(ctx.ports, ctx.retry, circuit.alarm_names()));
    let tally = transfer(
        ctx.ports,
        ctx.retry,
        &pacer,
        &job,
        plan.count(),
        now,
        async || {
            if budget.remaining().is_zero() {
                return Some("the invocation's time budget is used up".to_owned());
            }
            match &mut watch {
                Some(watch) => watch.tripped().await,
                None => None,
            }
        },
    )
    .await;
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
    report.stopped = tally.stopped;
    finish(ctx, circuit, &report, now);
    Some(report)
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
    match retry(ctx.retry, || ctx.ports.queue_depth(url)).await {
        Ok(depth) => Some(depth.visible),
        Err(error) => {
            tracing::warn!(circuit = circuit.name(), error = %error, "overflow queue depth unreadable");
            None
        }
    }
}

/// Reads the circuit's alarms again during a replay, at most once per [`REPLAY_RECHECK`].
struct AlarmWatch<'a, A: ?Sized> {
    alarms: &'a A,
    retry: &'a RetryPolicy,
    names: &'a [String],
    last: tokio::time::Instant,
}

impl<'a, A: Alarms + ?Sized> AlarmWatch<'a, A> {
    fn new(alarms: &'a A, retry: &'a RetryPolicy, names: &'a [String]) -> Self {
        Self {
            alarms,
            retry,
            names,
            last: tokio::time::Instant::now(),
        }
    }

    /// Why the replay must stop, if it must: an alarm of the circuit in ALARM, or alarms
    /// that cannot be read (a replay that cannot see a trip does not go on blind).
    async fn tripped(&mut self) -> Option<String> {
        if self.last.elapsed() < REPLAY_RECHECK {
            return None;
        }
        self.last = tokio::time::Instant::now();
        match retry(self.retry, || self.alarms.describe_alarms(self.names)).await {
            Ok(alarms) => alarms
                .iter()
                .find(|a| a.state == AlarmState::Alarm)
                .map(|a| format!("alarm {} is in ALARM: the circuit is tripping", a.name)),
            Err(error) => Some(format!("alarms unreadable, replay paused: {error}")),
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
            overflow_depth = report.overflow_depth,
            stopped = report.stopped.as_deref(),
            "overflow"
        );
    }
    ctx.recorder.record(&emf(circuit.name(), report, now));
}

/// The step's EMF line: namespace [`NAMESPACE`], dimension `Circuit`.
pub fn emf(circuit: &str, report: &OverflowReport, at: DateTime<Utc>) -> String {
    let mut metrics = vec![
        json!({"Name": "Moved", "Unit": "Count"}),
        json!({"Name": "Replayed", "Unit": "Count"}),
        json!({"Name": "SendFailed", "Unit": "Count"}),
        json!({"Name": "DeleteFailed", "Unit": "Count"}),
        json!({"Name": "Unmovable", "Unit": "Count"}),
    ];
    let mut line = json!({
        "Circuit": circuit,
        "OverflowAction": report.action.as_str(),
        "Moved": report.moved,
        "Replayed": report.replayed,
        "SendFailed": report.send_failed,
        "DeleteFailed": report.delete_failed,
        "Unmovable": report.unmovable,
    });
    if let Some(depth) = report.overflow_depth {
        metrics.push(json!({"Name": "OverflowDepth", "Unit": "Count"}));
        line["OverflowDepth"] = json!(depth);
    }
    line["_aws"] = json!({
        "Timestamp": at.timestamp_millis(),
        "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": [["Circuit"]],
            "Metrics": metrics,
        }],
    });
    line.to_string()
}
