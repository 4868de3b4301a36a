//! The controller as a real Lambda repairs drift: a mapping enabled by hand while the circuit
//! is Open is reported by `status` (which changes nothing) and disabled again by the next
//! tick, which reports the drift in its answer, its log and its metric line.

use std::time::Duration;

use floodgate_core::policy::{PhaseName, Step};
use floodgate_core::protocol::OperatorCommand;
use floodgate_tests::{Rig, RigSpec};

const REACT: Duration = Duration::from_secs(30);

#[tokio::test]
#[ignore = "needs LocalStack: run with make test"]
async fn a_mapping_enabled_by_hand_while_open_is_disabled_again_and_the_drift_reported() {
    let rig = Rig::deploy(RigSpec::new("drift")).await.expect("rig");
    rig.adopt().await.expect("adopted");
    let open = rig.trip("errors", PhaseName::Open).await.expect("open");

    let tampered = rig.enable_mapping_by_hand().await.expect("enable by hand");

    let status = rig
        .command(OperatorCommand::Status { circuit: None })
        .await
        .expect("status")
        .response();
    let seen = &status.circuits[0];
    assert!(seen.drift, "status reports the drift: {seen:#?}");
    assert!(seen.esm.enabled);
    assert_eq!(seen.steps, [Step::DisableEsm], "what a reconcile would do");
    assert!(!seen.applied);
    assert_eq!(
        rig.observe().await.expect("observe"),
        tampered,
        "status changes nothing"
    );

    let reply = rig.tick().await.expect("tick");
    let log = reply.log_tail.clone();
    let tick = reply.response();
    let repaired = &tick.circuits[0];
    assert!(repaired.drift);
    assert!(repaired.applied);
    assert_eq!(repaired.state, PhaseName::Open);
    assert!(repaired.transitions.is_empty(), "drift is not a transition");
    assert_eq!(repaired.steps, [Step::DisableEsm]);
    assert!(
        log.contains("drift: resources were changed outside floodgate"),
        "{log}"
    );
    assert!(
        log.contains("\"Drift\":1"),
        "the EMF line counts it:\n{log}"
    );

    let disabled = rig
        .wait_until("the mapping to be disabled again", REACT, |seen| {
            seen.mapping_state == "Disabled"
        })
        .await
        .expect("re-disabled");
    assert_eq!(disabled, open, "back to exactly what Open asks for");

    // Repaired: the next tick finds nothing to do.
    let calm = rig.tick().await.expect("tick").response();
    assert!(!calm.circuits[0].drift);
    assert!(calm.circuits[0].steps.is_empty());
    rig.delete().await.expect("delete the rig");
}
