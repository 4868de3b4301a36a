"""The module's inputs and its controller config, evaluated by real terraform (see conftest)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any
from collections.abc import Callable

import pytest

from conftest import Harness

# The rendered config of the known example, committed so the controller's loader can be run on
# it by `cargo test` (tests/tests/infra_config.rs). `UPDATE_RENDERED=1` rewrites it.
RENDERED = Path(__file__).resolve().parents[2] / "tests" / "rendered" / "terraform-example.json"


def canonical(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def test_renders_the_known_example_into_the_config_document_recorded_for_the_controller_loader(
    harness: Harness, example_vars: dict[str, Any], tmp_path: Path
) -> None:
    text = canonical(harness.render(example_vars, tmp_path))
    if os.environ.get("UPDATE_RENDERED") == "1":
        RENDERED.parent.mkdir(parents=True, exist_ok=True)
        RENDERED.write_text(text)
    assert text == RENDERED.read_text()


def test_writes_only_the_optional_fields_an_input_sets(harness: Harness, tmp_path: Path) -> None:
    config = harness.render(
        {
            "controller_zip": "bootstrap.zip",
            "circuits": [
                {
                    "name": "orders",
                    "event_source_mapping_uuid": "14e0db71-5d35-4eb5-b481-8945cf9d10c2",
                    "function_name": "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer",
                    "source_queue_arn": "arn:aws:sqs:us-east-1:123456789012:orders",
                    "levels": {"max": 50, "safe": 10},
                }
            ],
        },
        tmp_path,
    )
    assert config == {
        "account_id": "123456789012",
        "region": "us-east-1",
        "circuits": [
            {
                "name": "orders",
                "event_source_mapping_uuid": "14e0db71-5d35-4eb5-b481-8945cf9d10c2",
                "function_name": "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer",
                "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
                "alarms": [
                    {"name": "floodgate-orders-errors", "kind": "errors"},
                    {"name": "floodgate-orders-throttles", "kind": "throttles"},
                    {"name": "floodgate-orders-depth", "kind": "depth"},
                    {"name": "floodgate-orders-age", "kind": "age"},
                ],
                "levels": {"max": 50, "safe": 10},
                "overflow": {"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders-overflow"},
            }
        ],
    }


def test_each_circuit_gets_a_dead_letter_queue_for_its_source_only_and_an_overflow_queue_for_nobody(
    harness: Harness, example_vars: dict[str, Any], tmp_path: Path
) -> None:
    queues = harness.outputs(example_vars, tmp_path)["queues"]
    assert set(queues) == {f"{kind}/{c}" for kind in ("dead-letter", "overflow") for c in ("orders", "payments", "audit")} | {"failures"}
    for circuit in ("orders", "payments", "audit"):
        assert json.loads(queues[f"dead-letter/{circuit}"]["redrive_allow_policy"]) == {
            "redrivePermission": "byQueue",
            "sourceQueueArns": [f"arn:aws:sqs:us-east-1:123456789012:{circuit}"],
        }
        assert json.loads(queues[f"overflow/{circuit}"]["redrive_allow_policy"]) == {"redrivePermission": "denyAll"}
    assert json.loads(queues["failures"]["redrive_allow_policy"]) == {"redrivePermission": "denyAll"}
    # SQS names are at most 80 characters; the provider appends 26 to a name_prefix.
    assert all(len(q["name_prefix"]) + 26 <= 80 for q in queues.values())


def test_queue_names_stay_within_sqs_limits_for_the_longest_names(harness: Harness, example_vars: dict[str, Any], tmp_path: Path) -> None:
    example_vars["name"] = "f" * 32
    example_vars["circuits"][0]["name"] = "o" * 64
    queues = harness.outputs(example_vars, tmp_path)["queues"]
    assert max(len(q["name_prefix"]) for q in queues.values()) + 26 <= 80


Change = Callable[[dict[str, Any]], None]


def circuit(index: int, **fields: Any) -> Change:
    def change(variables: dict[str, Any]) -> None:
        variables["circuits"][index].update(fields)

    return change


def top(**fields: Any) -> Change:
    return lambda variables: variables.update(fields)


def timings(**fields: Any) -> Change:
    return lambda variables: variables["circuits"][0].setdefault("timings", {}).update(fields)


def alarm(kind: str, **fields: Any) -> Change:
    return lambda variables: variables["circuits"][0].setdefault("alarms", {}).setdefault(kind, {}).update(fields)


def custom(*alarms: dict[str, str], index: int = 0) -> Change:
    return lambda variables: variables["circuits"][index].setdefault("alarms", {}).update(custom=list(alarms))


# One case per validation rule: how to break the known example, and the message naming the field.
CASES: list[tuple[str, Change, str]] = [
    ("a name with a space", top(name="flood gate"), 'name: must be 1 to 32 letters, digits, "_" or "-", got "flood gate".'),
    ("a controller package that is not a zip", top(controller_zip="bootstrap"), 'controller_zip: must be the path of a .zip file, got "bootstrap".'),
    ("an unknown architecture", top(architecture="riscv64"), 'architecture: must be "arm64" or "x86_64", got "riscv64".'),
    ("memory below 128 MB", top(memory_size=64), "memory_size: must be an integer from 128 to 10240, got 64."),
    ("a timeout over 15 minutes", top(timeout_secs=901), "timeout_secs: must be an integer from 1 to 900, got 901."),
    ("a log retention CloudWatch refuses", top(log_retention_days=42), "log_retention_days: must be one of CloudWatch Logs' retention values"),
    ("a fractional tick interval", top(tick_interval_minutes=1.5), "tick_interval_minutes: must be a whole number of minutes, at least 1, got 1.5."),
    ("a control-plane rate over Lambda's limit", top(control_plane_rate_per_sec=16), "control_plane_rate_per_sec: must be an integer from 1 to 15"),
    (
        "a queue retention over 14 days",
        top(queue_retention_secs=1209601),
        "queue_retention_secs: must be an integer from 60 to 1209600 (14 days), got 1209601.",
    ),
    ("no circuit", top(circuits=[]), "circuits: must name at least one circuit."),
    ("a circuit name with a slash", circuit(1, name="payments/eu"), 'circuits[1].name: must be 1 to 64 letters, digits, ".", "_" or "-".'),
    ("two circuits with one name", circuit(2, name="orders"), "circuits[*].name: must be unique."),
    ("a mapping id that is not a UUID", circuit(0, event_source_mapping_uuid="orders-mapping"), "circuits[0].event_source_mapping_uuid: must be a UUID."),
    (
        "two circuits on one mapping",
        circuit(1, event_source_mapping_uuid="14E0DB71-5D35-4EB5-B481-8945CF9D10C2"),
        "circuits[*].event_source_mapping_uuid: must be unique",
    ),
    ("an empty function name", circuit(0, function_name=" "), "circuits[*].function_name: must not be empty."),
    (
        "a source that is not an SQS queue ARN",
        circuit(2, source_queue_arn="arn:aws:sns:us-east-1:123456789012:audit"),
        "circuits[2].source_queue_arn: must be the ARN of a standard SQS queue",
    ),
    (
        "a consumer role that is not a role ARN",
        circuit(0, consumer_role_arn="orders-consumer"),
        "circuits[*].consumer_role_arn: must be null or the ARN of an IAM role.",
    ),
    (
        "a probe level below the SQS minimum",
        circuit(0, levels={"max": 10, "safe": 5, "probe": 1}),
        "circuits[0].levels.probe: must be an integer from 2 to 1000.",
    ),
    ("a max level over the SQS maximum", circuit(0, levels={"max": 1001, "safe": 5}), "circuits[0].levels.max: must be an integer from levels.probe to 1000."),
    (
        "a max level below the probe level",
        circuit(1, levels={"max": 3, "safe": 3, "probe": 4}),
        "circuits[1].levels.max: must be an integer from levels.probe to 1000.",
    ),
    ("a safe level above max", circuit(0, levels={"max": 10, "safe": 20}), "circuits[0].levels.safe: must be an integer from levels.probe to levels.max."),
    ("headroom over 1000", circuit(1, headroom=1001), "circuits[*].headroom: must be an integer from 0 to 1000."),
    ("headroom without managed reserved concurrency", circuit(2, headroom=1), "circuits[2].headroom: only applies when manage_reserved_concurrency is true."),
    ("a kill switch without managed reserved concurrency", circuit(2, kill_switch=True), "circuits[2].kill_switch: requires manage_reserved_concurrency"),
    ("an unknown action", circuit(0, actions={"depth": "drop"}), 'circuits[*].actions: each of throttles, depth and age must be "open" or "throttle".'),
    ("a timing of zero seconds", timings(open_wait_secs=0), "circuits[*].timings: every *_secs must be an integer from 1 to 86400."),
    ("a timing over a day", timings(open_wait_cap_secs=86401), "circuits[*].timings: every *_secs must be an integer from 1 to 86400."),
    ("an open wait cap below the open wait", timings(open_wait_secs=1200), "circuits[0].timings.open_wait_cap_secs: must be at least open_wait_secs"),
    ("a jitter of 1", timings(jitter=1), "circuits[*].timings.jitter: must be at least 0 and below 1."),
    ("a healthy dwell below the minimum dwell", timings(healthy_dwell_secs=10), "must each be at least min_dwell_secs (default 30)."),
    ("a probe window below the minimum dwell", timings(min_dwell_secs=300), "must each be at least min_dwell_secs (default 30)."),
    ("a negative seed", circuit(0, seed=-1), "circuits[*].seed: must be a non-negative integer."),
    ("an error-rate threshold over 100 %", alarm("errors", threshold=150), "circuits[*].alarms.<kind>.threshold: must be above 0"),
    ("a zero threshold", alarm("depth", threshold=0), "circuits[*].alarms.<kind>.threshold: must be above 0"),
    ("an alarm period CloudWatch refuses", alarm("age", period_secs=45), "circuits[*].alarms.<kind>.period_secs: must be 10, 30 or a multiple of 60."),
    (
        "zero evaluation periods",
        alarm("throttles", evaluation_periods=0, datapoints_to_alarm=0),
        "circuits[*].alarms.<kind>.evaluation_periods: must be an integer from 1 to 100.",
    ),
    (
        "more datapoints to alarm than periods",
        alarm("throttles", evaluation_periods=2, datapoints_to_alarm=3),
        "circuits[*].alarms.<kind>.datapoints_to_alarm: must be an integer from 1 to evaluation_periods.",
    ),
    ("a negative minimum invocation count", alarm("errors", min_invocations=-1), "circuits[*].alarms.errors.min_invocations: must be a non-negative integer."),
    ("a custom alarm without a name", custom({"alarm_name": " ", "action": "open"}), "circuits[*].alarms.custom[*].alarm_name: must be 1 to 255 characters."),
    (
        "a custom alarm with an unknown action",
        custom({"alarm_name": "x", "action": "close"}),
        'circuits[*].alarms.custom[*].action: must be "open" or "throttle".',
    ),
    (
        "a circuit with no alarm at all",
        circuit(2, alarms={"errors": {"enabled": False}, "throttles": {"enabled": False}, "depth": {"enabled": False}, "age": {"enabled": False}}),
        "circuits[2].alarms: must create or name at least one alarm.",
    ),
    (
        "more than 100 alarms in a circuit",
        custom(*({"alarm_name": f"custom-{k}", "action": "open"} for k in range(100))),
        "circuits[*].alarms: must name at most 100 alarms per circuit",
    ),
    (
        "a FIFO source queue",
        circuit(0, source_queue_arn="arn:aws:sqs:us-east-1:123456789012:orders.fifo"),
        "circuits[0].source_queue_arn: must be the ARN of a standard SQS queue",
    ),
    ("a negative overflow ceiling", circuit(0, overflow={"ceiling": -1}), "circuits[*].overflow.ceiling: must be a non-negative integer."),
    (
        "a move rate over 3000 per second",
        circuit(0, overflow={"move_rate_per_sec": 3001}),
        "circuits[*].overflow: move_rate_per_sec and replay_rate_per_sec must be integers from 1 to 3000.",
    ),
    (
        "a zero replay rate",
        circuit(0, overflow={"replay_rate_per_sec": 0}),
        "circuits[*].overflow: move_rate_per_sec and replay_rate_per_sec must be integers from 1 to 3000.",
    ),
    (
        "more moves per invocation than a minute at the move rate",
        circuit(0, overflow={"move_rate_per_sec": 10, "max_moves_per_invocation": 601}),
        "circuits[*].overflow: max_moves_per_invocation (default 1000)",
    ),
    ("no replay per invocation", circuit(0, overflow={"max_replays_per_invocation": 0}), "circuits[*].overflow: max_moves_per_invocation (default 1000)"),
    (
        "a replay delay over a week",
        circuit(0, overflow={"replay_after_secs": 604801}),
        "circuits[*].overflow.replay_after_secs: must be an integer from 0 to 604800 (a week).",
    ),
    (
        "a custom alarm named like a created one",
        custom({"alarm_name": "floodgate-payments-errors", "action": "open"}),
        "circuits[*].alarms: alarm names must be unique across all circuits",
    ),
]


@pytest.mark.parametrize(("what", "change", "message"), CASES, ids=[case[0] for case in CASES])
def test_each_invalid_input_is_refused_naming_the_field(
    harness: Harness, example_vars: dict[str, Any], tmp_path: Path, what: str, change: Change, message: str
) -> None:
    variables = copy.deepcopy(example_vars)
    change(variables)
    assert message in harness.errors(variables, tmp_path), what


def test_every_invalid_input_is_reported_in_one_plan(harness: Harness, example_vars: dict[str, Any], tmp_path: Path) -> None:
    variables = copy.deepcopy(example_vars)
    variables["memory_size"] = 1
    variables["circuits"][0]["event_source_mapping_uuid"] = "not-a-uuid"
    variables["circuits"][0]["levels"] = {"max": 10, "safe": 20}
    variables["circuits"][2]["kill_switch"] = True
    errors = harness.errors(variables, tmp_path)
    for message in (
        "memory_size: must be an integer from 128 to 10240, got 1.",
        "circuits[0].event_source_mapping_uuid: must be a UUID.",
        "circuits[0].levels.safe: must be an integer from levels.probe to levels.max.",
        "circuits[2].kill_switch: requires manage_reserved_concurrency",
    ):
        assert message in errors


def test_the_known_example_is_valid(harness: Harness, example_vars: dict[str, Any], tmp_path: Path) -> None:
    var_file = tmp_path / "valid.tfvars.json"
    var_file.write_text(json.dumps(example_vars))
    planned = harness.run("plan", var_file=var_file)
    assert planned.returncode == 0, planned.stderr
