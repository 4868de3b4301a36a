//! One config schema: the controller configuration the infra modules render is the one the
//! controller's own loader accepts.
//!
//! `infra/tests/rendered/cdk-example.json` and `terraform-example.json` are what the CDK
//! construct (synthesized under jest) and the Terraform module (its `config.tf` evaluated by
//! terraform) render for one known example; the modules' tests fail when these files are not
//! what the modules render today (`UPDATE_RENDERED=1` rewrites them). Here the loader reads
//! them, and refuses broken variants naming the field.

use std::path::PathBuf;

use floodgate_core::ControllerConfig;
use floodgate_core::config::{Circuit, CircuitAlarm};
use floodgate_core::policy::{Action, AlarmKind, ReservedConcurrency};
use serde_json::{Value, json};

fn rendered(module: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/tests/rendered")
        .join(format!("{module}-example.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn load(document: &Value) -> Result<ControllerConfig, floodgate_core::Error> {
    ControllerConfig::from_json(&document.to_string())
}

fn refusal(document: &Value) -> String {
    match load(document) {
        Ok(_) => panic!("the loader accepted a broken config: {document}"),
        Err(error) => error.to_string(),
    }
}

fn alarm(name: &str, kind: AlarmKind) -> CircuitAlarm {
    CircuitAlarm {
        name: name.to_owned(),
        kind,
    }
}

#[test]
fn the_cdk_construct_and_the_terraform_module_render_the_same_config() {
    assert_eq!(rendered("cdk"), rendered("terraform"));
}

#[test]
fn the_loader_accepts_what_each_module_renders_with_every_field_meant() {
    for module in ["cdk", "terraform"] {
        let config = load(&rendered(module)).unwrap_or_else(|e| panic!("{module}: {e}"));
        assert_eq!(config.account_id(), "123456789012", "{module}");
        assert_eq!(config.region(), "us-east-1", "{module}");
        assert_eq!(config.control_plane_rate_per_sec().get(), 4, "{module}");
        let names: Vec<&str> = config.circuits().iter().map(Circuit::name).collect();
        assert_eq!(names, ["orders", "payments", "audit"], "{module}");

        let orders = config.circuit("orders").expect("orders");
        assert_eq!(orders.function_name(), "orders-consumer");
        assert_eq!(
            orders.queue_url(),
            Some("https://sqs.us-east-1.amazonaws.com/123456789012/orders")
        );
        assert_eq!(
            orders.alarms(),
            [
                alarm("floodgate-orders-errors", AlarmKind::Errors),
                alarm("floodgate-orders-throttles", AlarmKind::Throttles),
                alarm("floodgate-orders-depth", AlarmKind::Depth),
                alarm("floodgate-orders-age", AlarmKind::Age),
                alarm("orders-latency", AlarmKind::Custom(Action::Open)),
            ]
        );
        // Unset fields keep the controller's defaults.
        assert_eq!(orders.policy().levels().probe, 2);
        assert_eq!(
            orders.policy().reserved_concurrency(),
            ReservedConcurrency::default()
        );

        // Every circuit overflows into the queue its module made for it.
        let overflow = orders.overflow().expect("orders overflow");
        assert_eq!(
            overflow.queue_url(),
            "https://sqs.us-east-1.amazonaws.com/123456789012/orders-overflow"
        );
        assert_eq!(
            overflow.ceiling(),
            floodgate_core::config::DEFAULT_OVERFLOW_CEILING
        );
        let overflow = config
            .circuit("payments")
            .and_then(Circuit::overflow)
            .expect("payments overflow");
        assert_eq!(
            (
                overflow.ceiling(),
                overflow.move_rate_per_sec().get(),
                overflow.max_moves_per_invocation().get(),
                overflow.replay_after().as_secs(),
                overflow.replay_rate_per_sec().get(),
                overflow.max_replays_per_invocation().get(),
            ),
            (200, 40, 400, 300, 20, 100)
        );

        let payments = config.circuit("payments").expect("payments").policy();
        assert_eq!(payments.levels().probe, 4);
        assert!(payments.kill_switch());
        assert_eq!(
            payments.reserved_concurrency(),
            ReservedConcurrency::Managed { headroom: 2 }
        );
        assert_eq!(payments.action_for(AlarmKind::Age), Action::Open);
        assert_eq!(payments.timings().open_wait.as_secs(), 30);
        assert_eq!(payments.timings().throttle_step.as_secs(), 40);
        assert!((payments.timings().jitter - 0.1).abs() < f64::EPSILON);
        assert_eq!(payments.spec().seed, 7);

        let audit = config.circuit("audit").expect("audit");
        assert_eq!(
            audit.policy().reserved_concurrency(),
            ReservedConcurrency::Unmanaged
        );
        assert_eq!(
            config
                .owner_of_alarm("floodgate-audit-errors")
                .map(Circuit::name),
            Some("audit")
        );
    }
}

/// What a case breaks, how, and the start of the loader's refusal.
type Breakage = (&'static str, fn(&mut Value), &'static str);

#[test]
fn a_broken_rendering_is_refused_naming_the_field() {
    let cases: [Breakage; 7] = [
        (
            "a safe level above max",
            |d| d["circuits"][0]["levels"]["safe"] = json!(80),
            "circuits[0].levels.safe: must be between probe (2) and max (50), got 80",
        ),
        (
            "an unknown alarm kind",
            |d| d["circuits"][1]["alarms"][0]["kind"] = json!("latency"),
            "circuits[1].alarms[0].kind: unknown kind \"latency\"",
        ),
        (
            "a mapping id that is not a UUID",
            |d| d["circuits"][2]["event_source_mapping_uuid"] = json!("audit"),
            "circuits[2].event_source_mapping_uuid: must be a UUID",
        ),
        (
            "a field the schema does not know",
            |d| d["circuits"][0]["dead_letter_queue_url"] = json!("https://example.invalid"),
            "circuits[0].dead_letter_queue_url: unknown field `dead_letter_queue_url`",
        ),
        (
            "a jitter of 1",
            |d| d["circuits"][1]["timings"]["jitter"] = json!(1.0),
            "circuits[1].timings.jitter: must be at least 0 and below 1, got 1",
        ),
        (
            "a move budget over a minute at the move rate",
            |d| d["circuits"][1]["overflow"]["max_moves_per_invocation"] = json!(2401),
            "circuits[1].overflow.max_moves_per_invocation: must be between 1 and 2400",
        ),
        (
            "an alarm owned by two circuits",
            |d| d["circuits"][2]["alarms"][0]["name"] = json!("floodgate-orders-errors"),
            "circuits[2].alarms[0].name: duplicate alarm \"floodgate-orders-errors\"",
        ),
    ];
    for module in ["cdk", "terraform"] {
        for (what, break_it, expected) in &cases {
            let mut document = rendered(module);
            break_it(&mut document);
            let message = refusal(&document);
            assert!(
                message.starts_with(expected),
                "{module}, {what}: expected {expected:?}, got {message:?}"
            );
        }
    }
}
