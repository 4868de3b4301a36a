"""Static tests of the Terraform module: the parsed HCL of its resources, IAM statements,
variables, outputs and examples (terraform validate cannot run here: see conftest)."""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from conftest import MODULE, Module, one

ALIAS_ARN = "${aws_lambda_alias.live.arn}"
KEY_ARN = "${aws_kms_key.this.arn}"


def jsonencoded(expression: str) -> Any:
    """The value inside `${jsonencode(...)}` as python-hcl2 prints it (a Python literal)."""
    match = re.fullmatch(r"\$\{jsonencode\((.*)\)\}", expression, re.S)
    assert match, f"not a jsonencode expression: {expression}"
    return ast.literal_eval(match.group(1))


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of an aws_iam_policy_document, dynamic ones included (their content)."""
    found = list(document.get("statement", []))
    for dynamic in document.get("dynamic", []):
        found.extend(dynamic["statement"]["content"])
    return found


def listed(value: Any) -> list[Any]:
    value = one(value)
    return value if isinstance(value, list) else [value]


# Versions and inputs.


def test_pins_terraform_and_the_aws_provider(module: Module) -> None:
    (block,) = module.terraform
    assert one(block["required_version"]) == ">= 1.9"
    aws = one(one(block["required_providers"])["aws"])
    assert aws == {"source": "hashicorp/aws", "version": ">= 6.0, < 7.0"}


def test_every_variable_is_typed_and_described(module: Module) -> None:
    for name, variable in module.variables.items():
        assert one(variable.get("description", "")).strip(), f"variable {name} has no description"
        assert "type" in variable, f"variable {name} has no type"


def test_circuits_are_a_typed_list_of_objects_with_optional_fields(module: Module) -> None:
    kind = one(module.variables["circuits"]["type"])
    assert kind.startswith("${list(object(")
    for optional in ("consumer_role_arn", "headroom", "kill_switch", "seed", "actions", "timings", "alarms", "overflow", "manage_reserved_concurrency"):
        assert re.search(rf"['\"]{optional}['\"]: ['\"]\$\{{optional\(", kind), f"circuits[].{optional} is not optional()"


def test_every_validation_has_a_condition_and_a_message_naming_its_field(module: Module) -> None:
    for name, variable in module.variables.items():
        for validation in variable.get("validation", []):
            assert one(validation["condition"]).startswith("${")
            # A message with interpolations parses as `${"..."}`.
            message = one(validation["error_message"]).removeprefix('${"')
            assert message.split(":")[0].split("[")[0] == name, f"message of {name} names another field: {message}"


@pytest.mark.parametrize(
    "field",
    [
        "circuits",
        "circuits[*].name",
        ".name: must be 1 to 64",
        ".event_source_mapping_uuid: must be a UUID",
        "event_source_mapping_uuid: must be unique",
        "function_name",
        "source_queue_arn",
        "consumer_role_arn",
        "levels.probe",
        "levels.max",
        "levels.safe",
        "headroom: must be an integer",
        "headroom: only applies",
        "kill_switch",
        "actions",
        "timings: every *_secs",
        "open_wait_cap_secs",
        "timings.jitter",
        "min_dwell_secs",
        "seed",
        "threshold",
        "period_secs",
        "evaluation_periods",
        "datapoints_to_alarm",
        "min_invocations",
        "alarm_name",
        "custom[*].action",
        "at least one alarm",
        "at most 100 alarms",
        "unique across all circuits",
        "overflow.ceiling",
        "move_rate_per_sec and replay_rate_per_sec",
        "max_moves_per_invocation",
        "replay_after_secs",
    ],
)
def test_circuits_validate_every_rule_of_the_controller(module: Module, field: str) -> None:
    messages = [one(v["error_message"]) for v in module.variables["circuits"]["validation"]]
    assert any(field in message for message in messages), f"no validation of {field}"


def test_every_output_is_described(module: Module) -> None:
    for name, output in module.outputs.items():
        assert one(output.get("description", "")).strip(), f"output {name} has no description"


def test_the_readme_documents_every_input_and_output(module: Module) -> None:
    readme = (MODULE / "README.md").read_text()
    for name in [*module.variables, *module.outputs]:
        assert re.search(rf"^\| `{re.escape(name)}` \|", readme, re.M), f"README.md does not document {name}"


def test_the_config_is_computed_without_any_provider(module: Module) -> None:
    text = module.files["config.tf"]
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"\b(data\.|aws_[a-z_]+\.)", code), "config.tf must use variables and locals only"


# The key and the queues.


def test_the_key_is_customer_managed_with_rotation(module: Module) -> None:
    key = module.resource("aws_kms_key", "this")
    assert one(key["enable_key_rotation"]) is True
    assert one(key["policy"]) == "${data.aws_iam_policy_document.key.json}"


def test_only_the_account_root_may_do_everything_with_the_key_and_every_other_grant_is_conditioned(module: Module) -> None:
    for statement in statements(module.data[("aws_iam_policy_document", "key")]):
        principal = one(statement["principals"])
        identifiers = listed(principal["identifiers"])
        if identifiers == ["arn:${local.partition}:iam::${local.account_id}:root"]:
            continue
        assert "kms:*" not in listed(statement["actions"]), "only the account root may do everything with the key"
        condition = one(statement["condition"])
        assert one(condition["variable"]) in ("kms:EncryptionContext:aws:logs:arn", "kms:ViaService")


def test_the_logs_service_may_use_the_key_only_for_the_controller_log_group(module: Module) -> None:
    (logs,) = [s for s in statements(module.data[("aws_iam_policy_document", "key")]) if one(s["sid"]).startswith("CloudWatchLogs")]
    condition = one(logs["condition"])
    assert one(condition["test"]) == "ArnEquals"
    assert listed(condition["values"]) == ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"]


def test_consumer_roles_may_use_the_key_only_through_sqs(module: Module) -> None:
    (consumer,) = [s for s in statements(module.data[("aws_iam_policy_document", "key")]) if "Consumer" in one(s["sid"])]
    assert listed(consumer["actions"]) == ["kms:GenerateDataKey", "kms:Decrypt"]
    condition = one(consumer["condition"])
    assert (one(condition["test"]), one(condition["variable"]), listed(condition["values"])) == (
        "StringEquals",
        "kms:ViaService",
        ["sqs.${local.region}.${local.dns_suffix}"],
    )


def test_every_queue_is_encrypted_with_the_key_and_gets_the_tls_only_policy(module: Module) -> None:
    assert set(module.of_type("aws_sqs_queue")) == {"this"}
    queue = module.resource("aws_sqs_queue", "this")
    assert one(queue["for_each"]) == "${local.queues}"
    assert one(queue["kms_master_key_id"]) == KEY_ARN
    assert one(queue["redrive_allow_policy"]) == "${each.value.redrive_allow_policy}"
    policy = module.resource("aws_sqs_queue_policy", "tls_only")
    assert one(policy["for_each"]) == "${aws_sqs_queue.this}"
    assert jsonencoded(one(policy["policy"]))["Statement"] == [
        {
            "Sid": "DenyRequestsWithoutTls",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "sqs:*",
            "Resource": "${each.value.arn}",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


# The controller.


def test_the_controller_runs_bootstrap_on_provided_al2023_with_reserved_concurrency_1_and_tracing(module: Module) -> None:
    function = module.resource("aws_lambda_function", "controller")
    assert one(function["runtime"]) == "provided.al2023"
    assert one(function["handler"]) == "bootstrap"
    assert one(function["architectures"]) == ["${var.architecture}"]
    assert one(module.variables["architecture"]["default"]) == "arm64"
    assert one(function["reserved_concurrent_executions"]) == 1
    assert one(one(function["tracing_config"])["mode"]) == "Active"
    assert one(function["kms_key_arn"]) == KEY_ARN
    assert one(function["source_code_hash"]) == "${filebase64sha256(var.controller_zip)}"


def test_the_controller_reads_its_config_from_the_environment_the_loader_expects(module: Module) -> None:
    function = module.resource("aws_lambda_function", "controller")
    variables = one(one(function["environment"])["variables"])
    assert variables == {"FLOODGATE_CONFIG": "${local.controller_config_json}"}


def test_the_controller_logs_to_its_own_encrypted_log_group_with_retention(module: Module) -> None:
    logging = one(module.resource("aws_lambda_function", "controller")["logging_config"])
    assert one(logging["log_group"]) == "${aws_cloudwatch_log_group.controller.name}"
    group = module.resource("aws_cloudwatch_log_group", "controller")
    assert one(group["retention_in_days"]) == "${var.log_retention_days}"
    assert one(module.variables["log_retention_days"]["default"]) == 365
    assert one(group["kms_key_id"]) == KEY_ARN


def test_failed_asynchronous_invocations_of_the_alias_go_to_the_failure_queue(module: Module) -> None:
    assert one(module.resource("aws_lambda_alias", "live")["function_version"]) == "${aws_lambda_function.controller.version}"
    config = module.resource("aws_lambda_function_event_invoke_config", "live")
    assert one(config["qualifier"]) == "${aws_lambda_alias.live.name}"
    on_failure = one(one(one(config["destination_config"])["on_failure"])["destination"])
    assert on_failure == "${local.failure_queue.arn}"


# Alarms and invoke permissions.


@pytest.mark.parametrize("name", ["errors", "threshold"])
def test_every_alarm_invokes_the_alias_on_alarm_and_on_ok(module: Module, name: str) -> None:
    alarm = module.resource("aws_cloudwatch_metric_alarm", name)
    assert one(alarm["alarm_actions"]) == [ALIAS_ARN]
    assert one(alarm["ok_actions"]) == [ALIAS_ARN]
    assert one(alarm["treat_missing_data"]) == "notBreaching"


def test_the_errors_alarm_is_a_metric_math_rate_over_a_minimum_volume(module: Module) -> None:
    queries = {one(q["id"]): q for q in module.resource("aws_cloudwatch_metric_alarm", "errors")["metric_query"]}
    assert one(queries["rate"]["expression"]) == "IF(invocations >= ${each.value.options.min_invocations}, 100 * errors / invocations, 0)"
    assert one(queries["rate"]["return_data"]) is True
    for query, metric in (("errors", "Errors"), ("invocations", "Invocations")):
        stat = one(queries[query]["metric"])
        assert (one(stat["namespace"]), one(stat["metric_name"]), one(stat["stat"])) == ("AWS/Lambda", metric, "Sum")


def test_threshold_alarms_watch_throttles_queue_depth_and_message_age(module: Module) -> None:
    metrics = one(module.locals["threshold_metrics"])
    assert metrics == {
        "throttles": {"namespace": "AWS/Lambda", "metric": "Throttles", "statistic": "Sum"},
        "depth": {"namespace": "AWS/SQS", "metric": "ApproximateNumberOfMessagesVisible", "statistic": "Maximum"},
        "age": {"namespace": "AWS/SQS", "metric": "ApproximateAgeOfOldestMessage", "statistic": "Maximum"},
    }


def test_only_cloudwatch_alarms_of_this_account_may_invoke_the_alias_each_by_its_arn(module: Module) -> None:
    assert set(module.of_type("aws_lambda_permission")) == {"alarm"}
    permission = module.resource("aws_lambda_permission", "alarm")
    assert one(permission["for_each"]) == "${local.alarm_arns}"
    assert one(permission["principal"]) == "lambda.alarms.cloudwatch.amazonaws.com"
    assert one(permission["action"]) == "lambda:InvokeFunction"
    assert one(permission["qualifier"]) == "${aws_lambda_alias.live.name}"
    assert one(permission["source_account"]) == "${local.account_id}"
    assert one(permission["source_arn"]) == "${each.value}"


# IAM.


def controller_statements(module: Module) -> dict[str, dict[str, Any]]:
    return {one(s["sid"]): s for s in statements(module.data[("aws_iam_policy_document", "controller")])}


def test_the_controller_role_is_assumable_by_lambda_only_and_has_no_managed_policy(module: Module) -> None:
    (trust,) = statements(module.data[("aws_iam_policy_document", "controller_trust")])
    assert listed(one(trust["principals"])["identifiers"]) == ["lambda.amazonaws.com"]
    assert "managed_policy_arns" not in module.resource("aws_iam_role", "controller")
    assert module.of_type("aws_iam_role_policy_attachment") == {}


# Actions that define no resource type in the Service Authorization Reference, so they can
# only be granted on "*": X-Ray's trace upload and CloudWatch's GetMetricData.
WITHOUT_RESOURCE_TYPES = {"SendTraces": "xray:", "ReadProbeTraffic": "cloudwatch:GetMetricData"}


def test_the_controller_policy_has_no_wildcard_action_and_no_wildcard_resource_but_x_ray(module: Module) -> None:
    for sid, statement in controller_statements(module).items():
        for action in listed(statement["actions"]):
            assert action != "*" and not action.endswith(":*"), f"{sid} allows {action}"
        resources = listed(statement["resources"])
        if "*" in resources:
            assert sid in WITHOUT_RESOURCE_TYPES, f"{sid} is granted on *"
            assert all(a.startswith(WITHOUT_RESOURCE_TYPES[sid]) for a in listed(statement["actions"]))


@pytest.mark.parametrize(
    ("sid", "actions", "resources"),
    [
        ("ReadAndActuateTheProtectedMappings", ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"], ["${local.mapping_arn_list}"]),
        ("KeepCircuitStateInMappingTags", ["lambda:ListTags", "lambda:TagResource"], ["${local.mapping_arn_list}"]),
        ("ReadConsumerReservedConcurrency", ["lambda:GetFunctionConcurrency"], ["${local.consumer_arn_list}"]),
        ("SetConsumerReservedConcurrency", ["lambda:PutFunctionConcurrency"], ["${local.managed_consumer_arns}"]),
        ("ReadProbeTraffic", ["cloudwatch:GetMetricData"], ["*"]),
        ("DeadLetterWithAReason", ["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SendMessage"], ["${local.dead_letter_arn_list}"]),
        ("ReadAlarmStates", ["cloudwatch:DescribeAlarms"], ["${values(local.alarm_arns)}"]),
        ("ReadSourceQueueDepth", ["sqs:GetQueueAttributes"], ["${local.source_queue_arn_list}"]),
        ("SendFailedInvocationsToTheFailureQueue", ["sqs:SendMessage"], ["${local.failure_queue.arn}"]),
        ("UseTheFloodgateKey", ["kms:GenerateDataKey", "kms:Decrypt"], [KEY_ARN]),
        ("WriteTheControllerLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], ["${aws_cloudwatch_log_group.controller.arn}:*"]),
    ],
)
def test_each_controller_permission_names_its_exact_resources(module: Module, sid: str, actions: list[str], resources: list[str]) -> None:
    statement = controller_statements(module)[sid]
    assert listed(statement["actions"]) == actions
    assert listed(statement["resources"]) == resources


def test_the_arns_the_controller_may_touch_are_built_from_the_circuits(module: Module) -> None:
    text = module.files["config.tf"]
    assert ":event-source-mapping:${c.event_source_mapping_uuid}" in text
    assert ":function:${local.consumer_names[c.name]}" in text
    assert ":alarm:${a.name}" in text
    assert "if c.manage_reserved_concurrency" in one(module.locals["managed_consumer_arns"])


def test_the_scheduler_role_is_for_this_account_s_schedule_and_may_only_invoke_the_alias(module: Module) -> None:
    (trust,) = statements(module.data[("aws_iam_policy_document", "scheduler_trust")])
    assert listed(one(trust["principals"])["identifiers"]) == ["scheduler.amazonaws.com"]
    conditions = {one(c["variable"]): listed(c["values"]) for c in trust["condition"]}
    assert conditions["aws:SourceAccount"] == ["${local.account_id}"]
    assert conditions["aws:SourceArn"] == ["arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule/default/${var.name}-tick"]
    policy = statements(module.data[("aws_iam_policy_document", "scheduler")])
    assert [(listed(s["actions"]), listed(s["resources"])) for s in policy] == [
        (["lambda:InvokeFunction"], [ALIAS_ARN]),
        (["kms:Decrypt"], [KEY_ARN]),
    ]


def test_the_schedule_ticks_the_alias_with_the_tick_request(module: Module) -> None:
    schedule = module.resource("aws_scheduler_schedule", "tick")
    target = one(schedule["target"])
    assert one(target["arn"]) == ALIAS_ARN
    assert one(target["input"]) == "${local.tick_input}"
    assert jsonencoded(one(module.locals["tick_input"])) == {"floodgate": "tick"}
    assert one(schedule["kms_key_arn"]) == KEY_ARN
    assert one(one(target["retry_policy"])["maximum_retry_attempts"]) == 0


def test_every_checkov_skip_gives_a_reason() -> None:
    for path in MODULE.rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip=" in line:
                assert re.search(r"checkov:skip=CKV2?_AWS_\d+:\S.{20,}", line), f"{path.name}: skip without a reason: {line.strip()}"


# Examples.


@pytest.mark.parametrize("example", ["basic", "multi-circuit"])
def test_each_example_calls_the_module_with_known_inputs_and_every_required_one(module: Module, examples: dict[str, Module], example: str) -> None:
    call = examples[example].modules["floodgate"]
    assert one(call["source"]) == "../.."
    given = {k for k in call if k != "source" and not k.startswith("__")}
    assert given <= set(module.variables), f"unknown inputs: {given - set(module.variables)}"
    required = {name for name, variable in module.variables.items() if "default" not in variable}
    assert required <= given, f"missing inputs: {required - given}"


def test_the_multi_circuit_example_lets_floodgate_own_the_mapping_s_enabled_and_scaling_config(examples: dict[str, Module]) -> None:
    mapping = examples["multi-circuit"].resource("aws_lambda_event_source_mapping", "consumer")
    assert one(one(mapping["lifecycle"])["ignore_changes"]) == ["${enabled}", "${scaling_config}"]


def test_the_multi_circuit_example_sends_dead_letters_to_the_floodgate_queue(examples: dict[str, Module]) -> None:
    redrive = jsonencoded(one(examples["multi-circuit"].resource("aws_sqs_queue_redrive_policy", "source")["redrive_policy"]))
    assert redrive == {"deadLetterTargetArn": "${module.floodgate.circuits[each.key].dead_letter_queue_arn}", "maxReceiveCount": 5}
