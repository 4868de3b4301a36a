//! `reaction-bench`: how fast the controller, running as a real Lambda in LocalStack, stops a
//! consumer after its errors alarm fires.
//!
//! ```sh
//! scripts/local-aws up && eval "$(scripts/local-aws env)"
//! cargo run -p floodgate-tests --bin reaction-bench -- [ROUNDS]   # default 25
//! ```
//!
//! Each round starts from a Closed circuit with an enabled mapping and a quiet controller,
//! calls `SetAlarmState(ALARM)`, and measures from just before that call to:
//! - the controller's first AWS call (CloudWatch delivered the alarm action and the function
//!   started working on it);
//! - LocalStack answering the controller's `UpdateEventSourceMapping(Enabled=false)`, i.e. the
//!   disable call returning (seen at a pass-through proxy in front of LocalStack, see
//!   `FaultProxy`; it adds well under a millisecond per call);
//! - `GetEventSourceMapping` first reporting `State=Disabled`, polled back to back.
//!
//! LocalStack invokes an alarm's Lambda action synchronously, inside `SetAlarmState` (AWS
//! queues it as an asynchronous invocation), so here the call returns only once the
//! controller has reconciled; the clock starts before it either way.
//!
//! Between rounds the alarm goes back to OK and the circuit is forced closed and released.

use std::time::Duration;

use floodgate_core::policy::{AlarmState, PhaseName};
use floodgate_core::protocol::OperatorCommand;
use floodgate_tests::bench::{Summary, millis};
use floodgate_tests::{Exchange, FaultProxy, HarnessError, Rig, RigSpec, endpoint_url};
use tokio::time::{Instant, sleep};

const DEFAULT_ROUNDS: usize = 25;
const SETTLE: Duration = Duration::from_secs(30);
/// How long the proxy must see no request before the controller counts as idle.
const QUIET: Duration = Duration::from_millis(700);

/// One round's times from just before `SetAlarmState`.
#[derive(Debug, Clone, Copy)]
struct Round {
    first_call: Duration,
    update_returned: Duration,
    disabled_seen: Duration,
}

#[tokio::main]
async fn main() -> Result<(), HarnessError> {
    let rounds = std::env::args()
        .nth(1)
        .map(|n| n.parse::<usize>())
        .transpose()
        .map_err(|e| HarnessError::Aws {
            call: "arguments",
            cause: format!("ROUNDS must be a whole number: {e}"),
        })?
        .unwrap_or(DEFAULT_ROUNDS)
        .max(1);
    let proxy = FaultProxy::start(&endpoint_url()).await?;
    let rig = Rig::deploy(RigSpec::new("bench").endpoint(proxy.url())).await?;
    rig.adopt().await?;
    eprintln!("reaction-bench: controller {}", rig.controller.name);

    let mut results = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        quiet(&proxy).await;
        proxy.clear();
        results.push(trip(&rig, &proxy).await?);
        eprintln!("round {round}/{rounds}: {:?}", results.last());
        reset(&rig, &proxy).await?;
    }

    rig.delete().await?;
    println!("rounds: {rounds}");
    println!("| from SetAlarmState(ALARM) to | median | p90 | min | max |");
    println!("| --- | --- | --- | --- | --- |");
    let column = |pick: fn(&Round) -> Duration| results.iter().map(pick).collect::<Vec<_>>();
    let rows = [
        ("the controller's first AWS call", column(|r| r.first_call)),
        (
            "`UpdateEventSourceMapping(Enabled=false)` returned",
            column(|r| r.update_returned),
        ),
        (
            "`GetEventSourceMapping` reports `Disabled`",
            column(|r| r.disabled_seen),
        ),
    ];
    for (label, times) in rows {
        let summary = Summary::of(&times).ok_or_else(|| timeout("any round", "none"))?;
        println!(
            "| {label} | {} | {} | {} | {} |",
            millis(summary.median),
            millis(summary.p90),
            millis(summary.min),
            millis(summary.max)
        );
    }
    Ok(())
}

async fn trip(rig: &Rig, proxy: &FaultProxy) -> Result<Round, HarnessError> {
    let start = Instant::now();
    rig.set_alarm("errors", AlarmState::Alarm).await?;
    let deadline = start + SETTLE;
    let disabled_seen = loop {
        let state = rig.mapping().await?.state().unwrap_or_default().to_owned();
        if state == "Disabled" {
            break start.elapsed();
        }
        if Instant::now() > deadline {
            return Err(timeout("the mapping to be Disabled", &state));
        }
    };
    let log = proxy.exchanges();
    let first_call = log
        .first()
        .map(|e| e.received - start)
        .ok_or_else(|| timeout("the controller's first call", "no request"))?;
    let update_returned = log
        .iter()
        .find(|e| is_disable(e))
        .and_then(|e| e.answered)
        .map(|at| at - start)
        .ok_or_else(|| timeout("the disable call", &format!("{} requests", log.len())))?;
    Ok(Round {
        first_call,
        update_returned,
        disabled_seen,
    })
}

fn is_disable(exchange: &Exchange) -> bool {
    exchange.operation == "UpdateEventSourceMapping"
        && exchange.body.contains("\"Enabled\":false")
        && exchange.succeeded()
}

fn timeout(what: &str, last: &str) -> HarnessError {
    HarnessError::Timeout {
        what: what.to_owned(),
        after: SETTLE,
        last: last.to_owned(),
    }
}

/// Back to Closed with the mapping enabled and the alarm OK.
async fn reset(rig: &Rig, proxy: &FaultProxy) -> Result<(), HarnessError> {
    quiet(proxy).await;
    // The OK action's reconcile changes nothing; wait for it so it cannot collide with the
    // next round's ALARM (the controller runs one invocation at a time). LocalStack invokes
    // alarm actions synchronously, within SetAlarmState, so it may be over by the time that
    // returns; count from before.
    let described = || {
        proxy
            .exchanges()
            .iter()
            .filter(|e| e.operation == "DescribeAlarms")
            .count()
    };
    let before = described();
    rig.set_alarm("errors", AlarmState::Ok).await?;
    let deadline = Instant::now() + SETTLE;
    while described() == before && Instant::now() < deadline {
        sleep(Duration::from_millis(50)).await;
    }
    quiet(proxy).await;
    let reason = "reaction-bench reset".to_owned();
    let actor = "reaction-bench".to_owned();
    rig.command(OperatorCommand::ForceClose {
        circuit: rig.circuit.clone(),
        reason,
        actor: actor.clone(),
        ttl_secs: None,
    })
    .await?
    .response();
    rig.command(OperatorCommand::Release {
        circuit: rig.circuit.clone(),
        actor,
    })
    .await?
    .response();
    rig.wait_until("the mapping to be Enabled again", SETTLE, |seen| {
        seen.mapping_state == "Enabled" && seen.phase() == Some(PhaseName::Closed)
    })
    .await?;
    Ok(())
}

/// Waits until the controller has made no AWS call for [`QUIET`].
async fn quiet(proxy: &FaultProxy) {
    loop {
        let last = proxy
            .exchanges()
            .iter()
            .map(|e| e.answered.unwrap_or(e.received))
            .max();
        match last.and_then(|at| QUIET.checked_sub(at.elapsed())) {
            Some(left) if !left.is_zero() => sleep(left).await,
            _ => return,
        }
    }
}
