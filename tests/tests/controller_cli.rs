//! The operator CLI against the controller running as a real Lambda: force-open with a TTL
//! and its expiry, force-close and release, dry-run, and refusals.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use floodgate_core::policy::{AlarmState, Cause, OverrideKind, PhaseName, Step, Timer};
use floodgate_core::protocol::Response;
use floodgate_tests::{CliRun, Rig, RigSpec};

const REACT: Duration = Duration::from_secs(30);

#[track_caller]
fn succeeded(run: &CliRun) {
    assert_eq!(run.code, Some(0), "floodgate failed: {run:#?}");
}

#[track_caller]
fn json_answer(run: &CliRun) -> Response {
    succeeded(run);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("--json printed no Response ({e}): {}", run.stdout))
}

async fn settled_rig(prefix: &str) -> Rig {
    let rig = Rig::deploy(RigSpec::new(prefix)).await.expect("rig");
    rig.adopt().await.expect("adopted");
    rig
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn force_open_from_the_cli_holds_the_circuit_open_until_its_ttl_lapses() {
    let rig = settled_rig("cli-ttl").await;
    let circuit = rig.circuit.as_str();

    let before = Utc::now();
    let forced = json_answer(
        &rig.cli(&[
            "force-open",
            circuit,
            "--reason",
            "downstream outage",
            "--ttl",
            "10s",
            "--json",
        ])
        .await
        .expect("cli"),
    );
    let status = &forced.circuits[0];
    assert_eq!(status.state, PhaseName::Open);
    assert_eq!(status.override_, Some(OverrideKind::ForceOpen));
    assert_eq!(status.reason.as_deref(), Some("downstream outage"));
    assert_eq!(status.actor.as_deref(), Some("e2e-test"));
    let until = status.override_until.expect("a TTL sets an expiry");
    // Long enough to outlast the trip itself, which waits for the mapping to finish
    // Disabling before it lowers reserved concurrency.
    assert!(
        until >= before + TimeDelta::seconds(10) && until <= Utc::now() + TimeDelta::seconds(11),
        "expiry {until} is not 10 s after {before}"
    );
    let open = rig
        .wait_for_phase(PhaseName::Open, REACT)
        .await
        .expect("forced open");
    assert_eq!(open.mapping_state, "Disabled");
    assert_eq!(open.reserved_concurrency, Some(2));
    assert_eq!(open.tag("override"), Some("force-open"));
    assert_eq!(open.tag("reason"), Some("downstream outage"));
    assert_eq!(open.tag("actor"), Some("e2e-test"));
    assert!(open.tag("until").is_some());

    // The human view names the override.
    let shown = rig.cli(&["status", circuit]).await.expect("cli");
    succeeded(&shown);
    assert!(
        shown.stdout.contains(&format!("{circuit}: open since")),
        "{}",
        shown.stdout
    );
    assert!(
        shown
            .stdout
            .contains("override: force-open by e2e-test (until "),
        "{}",
        shown.stdout
    );

    // Held while the override lasts, although the alarms are healthy and the open wait (2 s)
    // has passed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = rig.tick().await.expect("tick").response();
    assert_eq!(held.circuits[0].state, PhaseName::Open);
    assert!(held.circuits[0].transitions.is_empty());
    assert_eq!(rig.observe().await.expect("observe"), open);

    // Lapsed: the tick drops the override and the automatic policy takes over at once.
    let wait = (until - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(300);
    tokio::time::sleep(wait).await;
    let lapsed = rig.tick().await.expect("tick").response();
    let status = &lapsed.circuits[0];
    assert_eq!(status.override_, None);
    let [expired, probe] = status.transitions.as_slice() else {
        panic!("expiry then probe expected: {:#?}", status.transitions);
    };
    assert_eq!(
        expired.cause,
        Cause::OverrideExpired {
            kind: OverrideKind::ForceOpen,
            actor: "e2e-test".to_owned()
        }
    );
    assert_eq!(expired.actor, "floodgate");
    assert_eq!(
        (probe.from, probe.to),
        (PhaseName::Open, PhaseName::HalfOpen)
    );
    assert_eq!(
        probe.cause,
        Cause::Timer {
            timer: Timer::OpenWait
        }
    );
    let half_open = rig
        .wait_for_phase(PhaseName::HalfOpen, REACT)
        .await
        .expect("half-open");
    assert_eq!(half_open.mapping_state, "Enabled");
    assert_eq!(half_open.tag("override"), None);
    assert_eq!(half_open.tag("until"), None);
    rig.delete().await.expect("delete the rig");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn force_close_overrides_a_firing_alarm_until_release_returns_to_automatic_control() {
    let rig = settled_rig("cli-close").await;
    let circuit = rig.circuit.as_str();
    rig.trip("errors", PhaseName::Open).await.expect("open");

    let closed = json_answer(
        &rig.cli(&[
            "force-close",
            circuit,
            "--reason",
            "drain the backlog",
            "--actor",
            "alice",
            "--json",
        ])
        .await
        .expect("cli"),
    );
    let status = &closed.circuits[0];
    assert_eq!(status.state, PhaseName::Closed);
    assert_eq!(status.override_, Some(OverrideKind::ForceClose));
    assert_eq!(status.actor.as_deref(), Some("alice"));
    assert_eq!(status.override_until, None);
    // Raising from probe: reserved concurrency first, the mapping enabled last.
    assert_eq!(
        status.steps,
        [
            Step::SetReservedConcurrency(8),
            Step::SetMaximumConcurrency(8),
            Step::EnableEsm
        ]
    );
    let forced = rig
        .wait_for_phase(PhaseName::Closed, REACT)
        .await
        .expect("forced closed");
    assert_eq!(forced.resources(), ("Enabled", Some(8), Some(8)));

    // The errors alarm is still in ALARM, and a tick does not trip the overridden circuit.
    let tick = rig.tick().await.expect("tick").response();
    assert_eq!(tick.circuits[0].state, PhaseName::Closed);
    assert!(tick.circuits[0].transitions.is_empty());

    let released = json_answer(
        &rig.cli(&["release", circuit, "--actor", "alice", "--json"])
            .await
            .expect("cli"),
    );
    let status = &released.circuits[0];
    assert_eq!(status.override_, None);
    let phases: Vec<(PhaseName, PhaseName)> =
        status.transitions.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(
        phases,
        [
            (PhaseName::Closed, PhaseName::Closed),
            (PhaseName::Closed, PhaseName::Open)
        ],
        "release, then the firing alarm trips it: {:#?}",
        status.transitions
    );
    let reopened = rig
        .wait_for_phase(PhaseName::Open, REACT)
        .await
        .expect("open again");
    assert_eq!(reopened.mapping_state, "Disabled");
    assert_eq!(reopened.tag("override"), None);
    rig.delete().await.expect("delete the rig");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn dry_run_decides_and_reports_but_changes_no_resource() {
    let rig = settled_rig("cli-dry").await;
    let circuit = rig.circuit.as_str();

    succeeded(&rig.cli(&["dry-run", "on", circuit]).await.expect("cli"));
    let before = rig.observe().await.expect("observe");
    assert_eq!(before.tag("dry-run"), Some("true"));

    // The alarm action decides Open and records it, but the mapping keeps consuming.
    rig.set_alarm("errors", AlarmState::Alarm)
        .await
        .expect("alarm");
    let decided = rig
        .wait_until("the dry-run decision to be recorded", REACT, |seen| {
            seen.phase() == Some(PhaseName::Open)
        })
        .await
        .expect("recorded");
    assert_eq!(decided.resources(), before.resources());

    // A tick reports what it would do.
    let tick = rig.tick().await.expect("tick").response();
    let status = &tick.circuits[0];
    assert_eq!(status.state, PhaseName::Open);
    assert!(status.dry_run);
    assert!(!status.applied);
    assert!(
        !status.drift,
        "resources that dry-run left alone are not drift"
    );
    assert_eq!(
        status.steps,
        [
            Step::DisableEsm,
            Step::SetMaximumConcurrency(2),
            Step::SetReservedConcurrency(2)
        ]
    );
    let after_tick = rig.observe().await.expect("observe");
    assert_eq!(after_tick.resources(), ("Enabled", Some(8), Some(8)));

    // Off: the recorded decision is applied.
    let off = json_answer(
        &rig.cli(&["dry-run", "off", circuit, "--json"])
            .await
            .expect("cli"),
    );
    assert!(off.circuits[0].applied);
    assert!(!off.circuits[0].dry_run);
    let open = rig
        .wait_for_phase(PhaseName::Open, REACT)
        .await
        .expect("applied");
    assert_eq!(open.mapping_state, "Disabled");
    assert_eq!(open.reserved_concurrency, Some(2));
    assert_eq!(open.tag("dry-run"), Some("false"));
    rig.delete().await.expect("delete the rig");
}

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn the_cli_exits_1_with_the_controllers_reason_when_it_refuses_a_command() {
    let rig = Rig::deploy(RigSpec::new("cli-refuse")).await.expect("rig");
    let refused = rig
        .cli(&["force-open", "no-such-circuit", "--reason", "typo"])
        .await
        .expect("cli");
    assert_eq!(refused.code, Some(1), "{refused:#?}");
    assert!(
        refused
            .stderr
            .contains("Rejected: unknown-circuit: no circuit named no-such-circuit"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty());
    // Nothing was adopted: the mapping carries no state yet.
    assert!(rig.observe().await.expect("observe").tags.is_empty());
    rig.delete().await.expect("delete the rig");
}
